//! When to issue, keep, rotate, renew or withdraw what the operator emits: API keys, MISP
//! licences and re-signed certificates. Pure functions of the time, the rules and what was
//! recorded; the controllers only gather those inputs and apply the plan.
//!
//! Recorded times come from places an editor can write (Secret values and annotations), so
//! every one is parsed and added to with checked arithmetic: an unreadable or out-of-range value
//! counts as absent or expired, never as a panic, and a recorded end of validity later than the
//! rules could have produced is not believed (an editor cannot extend a validity).

use jiff::{SignedDuration, Timestamp};

/// The shortest wait before looking again.
pub const MIN_RECHECK: SignedDuration = SignedDuration::from_secs(1);

/// `t + d`, or None when out of range.
pub fn checked_add(t: Timestamp, d: SignedDuration) -> Option<Timestamp> {
    t.checked_add(d).ok()
}

/// `t - d`, or None when out of range.
pub fn checked_sub(t: Timestamp, d: SignedDuration) -> Option<Timestamp> {
    t.checked_sub(d).ok()
}

/// `now + d`, saturating at the largest timestamp.
pub fn saturating_add(now: Timestamp, d: SignedDuration) -> Timestamp {
    checked_add(now, d).unwrap_or(Timestamp::MAX)
}

/// A recorded time, as far as it can be believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Nothing recorded.
    Absent,
    /// Unreadable, out of range, or later than the rules allow: treated as expired.
    Corrupt,
    /// A believable time.
    At(Timestamp),
}

impl Recorded {
    /// Reads `value` (RFC 3339) and believes it only when it is no later than `now + max`.
    pub fn read(value: Option<&str>, now: Timestamp, max: SignedDuration) -> Self {
        let Some(value) = value else { return Recorded::Absent };
        let Ok(t) = value.trim().parse::<Timestamp>() else { return Recorded::Corrupt };
        match checked_add(now, max) {
            Some(limit) if t <= limit => Recorded::At(t),
            // A later end than the rules produce was not written by the operator.
            _ => Recorded::Corrupt,
        }
    }

    /// The time, when believable.
    pub fn at(self) -> Option<Timestamp> {
        match self {
            Recorded::At(t) => Some(t),
            _ => None,
        }
    }
}

/// What is found under an emitted Secret's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretState {
    /// Nothing: it may be created.
    Missing,
    /// Someone else's: never touched.
    Foreign,
    /// The operator's (controlled by the owner object).
    Owned,
}

/// Why a new key is minted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mint {
    /// A first key, or a fresh one after withdrawal or an unreadable record.
    Issue,
    /// Replaces a key that is due or whose rotation was requested; the old one stays readable.
    Rotate,
}

/// API-key rules (command-line flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRules {
    pub validity: SignedDuration,
    pub renew_before: SignedDuration,
    pub grace: SignedDuration,
    pub rotation: bool,
}

/// What is recorded about an existing API key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFacts {
    /// End of validity of the current key; None when the Secret holds no key (withdrawn).
    pub valid_until: Option<String>,
    /// Whether a rotated-out key is still in the Secret.
    pub previous_present: bool,
    /// End of validity of the rotated-out key.
    pub previous_until: Option<String>,
    /// The rotate request already honoured.
    pub rotated_for: Option<String>,
}

/// Inputs of [`plan_api_key`].
#[derive(Debug, Clone, Copy)]
pub struct KeyInput<'a> {
    pub now: Timestamp,
    /// The request is approved and the partner may hold keys.
    pub wanted: bool,
    pub secret: SecretState,
    /// What is recorded; None when the Secret exists but nothing about it is known.
    pub facts: Option<&'a KeyFacts>,
    /// The owner's current rotate request (annotation value).
    pub rotate_token: Option<&'a str>,
    pub rules: &'a KeyRules,
}

/// What to do with one API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPlan {
    /// The name is taken by someone else's Secret.
    Conflict,
    /// Nothing there, nothing wanted.
    Absent,
    /// The Secret exists but nothing is recorded about it: read it, then plan again.
    ReadBack,
    /// Take the key out of the Secret (it stays, with why).
    Withdraw,
    /// Keep the key; `drop_previous` when a rotated-out key's grace period is over.
    Keep { valid_until: Timestamp, previous_until: Option<Timestamp>, drop_previous: bool, next_check: Timestamp },
    /// Mint a key.
    Mint { why: Mint, valid_until: Timestamp, previous_until: Option<Timestamp>, next_check: Timestamp },
}

/// Plans one API key.
pub fn plan_api_key(input: &KeyInput<'_>) -> KeyPlan {
    let KeyInput { now, wanted, secret, facts, rotate_token, rules } = *input;
    match (secret, wanted) {
        (SecretState::Foreign, _) => return KeyPlan::Conflict,
        (SecretState::Missing, false) => return KeyPlan::Absent,
        (SecretState::Owned, false) => return KeyPlan::Withdraw,
        (SecretState::Missing, true) => return mint_key(Mint::Issue, now, rules, None),
        (SecretState::Owned, true) => {}
    }
    let Some(facts) = facts else { return KeyPlan::ReadBack };
    let Some(until) = Recorded::read(facts.valid_until.as_deref(), now, rules.validity).at() else {
        // Withdrawn, unreadable or implausible: a fresh key.
        return mint_key(Mint::Issue, now, rules, None);
    };
    let rotation_requested = rotate_token.is_some_and(|t| Some(t) != facts.rotated_for.as_deref());
    // An unrepresentable renewal time means due now.
    let renew_at = checked_sub(until, rules.renew_before).unwrap_or(Timestamp::MIN);
    let due = rules.rotation && renew_at <= now;
    if due || rotation_requested {
        return mint_key(Mint::Rotate, now, rules, Some(saturating_add(now, rules.grace)));
    }
    let previous = if facts.previous_present {
        match Recorded::read(facts.previous_until.as_deref(), now, rules.grace) {
            Recorded::At(t) if t > now => Some(t),
            _ => None,
        }
    } else {
        None
    };
    let drop_previous = facts.previous_present && previous.is_none();
    let mut next = if rules.rotation { renew_at } else { until };
    if let Some(p) = previous {
        next = next.min(p);
    }
    KeyPlan::Keep { valid_until: until, previous_until: previous, drop_previous, next_check: not_before(next, now) }
}

fn mint_key(why: Mint, now: Timestamp, rules: &KeyRules, previous_until: Option<Timestamp>) -> KeyPlan {
    let valid_until = saturating_add(now, rules.validity);
    let renew_at = checked_sub(valid_until, rules.renew_before).unwrap_or(now);
    let mut next = if rules.rotation { renew_at } else { valid_until };
    if let Some(p) = previous_until {
        next = next.min(p);
    }
    KeyPlan::Mint { why, valid_until, previous_until, next_check: not_before(next, now) }
}

fn not_before(t: Timestamp, now: Timestamp) -> Timestamp {
    t.max(saturating_add(now, MIN_RECHECK))
}

/// What is recorded about an issued licence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LicenseFacts {
    /// Whether the Secret holds a key (it is withdrawn otherwise).
    pub has_key: bool,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub rotated_for: Option<String>,
}

/// Why a licence cannot be issued now, as far as the plan cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseWant {
    /// Issue or keep a licence of this validity.
    Issue(SignedDuration),
    /// Blocked: keep whatever was issued.
    Hold,
    /// Deactivated: withdraw the key.
    Withdraw,
}

/// Inputs of [`plan_license`].
#[derive(Debug, Clone, Copy)]
pub struct LicenseInput<'a> {
    pub now: Timestamp,
    pub want: LicenseWant,
    pub secret: SecretState,
    pub facts: Option<&'a LicenseFacts>,
    pub rotate_token: Option<&'a str>,
    pub renew_before: SignedDuration,
}

/// What to do with a licence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicensePlan {
    Conflict,
    /// Nothing issued and nothing to issue.
    Absent,
    /// Keep what is there, whatever it is (blocked, not withdrawn).
    Hold,
    ReadBack,
    Withdraw,
    Keep {
        valid_from: Timestamp,
        valid_until: Timestamp,
        next_check: Timestamp,
    },
    /// Mint a licence; `Rotate` renews an existing one.
    Mint {
        why: Mint,
        valid_from: Timestamp,
        valid_until: Timestamp,
        next_check: Timestamp,
    },
}

/// Plans a licence.
pub fn plan_license(input: &LicenseInput<'_>) -> LicensePlan {
    let LicenseInput { now, want, secret, facts, rotate_token, renew_before } = *input;
    let validity = match (secret, want) {
        (SecretState::Foreign, _) => return LicensePlan::Conflict,
        (SecretState::Missing, LicenseWant::Hold | LicenseWant::Withdraw) => return LicensePlan::Absent,
        (SecretState::Owned, LicenseWant::Hold) => return LicensePlan::Hold,
        (SecretState::Owned, LicenseWant::Withdraw) => return LicensePlan::Withdraw,
        (SecretState::Missing, LicenseWant::Issue(v)) => return mint_license(Mint::Issue, now, v, renew_before),
        (SecretState::Owned, LicenseWant::Issue(v)) => v,
    };
    let Some(facts) = facts else { return LicensePlan::ReadBack };
    if !facts.has_key {
        return mint_license(Mint::Issue, now, validity, renew_before);
    }
    let from = Recorded::read(facts.valid_from.as_deref(), now, SignedDuration::ZERO).at();
    // A licence is never believed to last longer than the longest validity the spec allows.
    let max = SignedDuration::from_secs(i64::try_from(super::MAX_VALIDITY_SECS).unwrap_or(i64::MAX));
    let until = Recorded::read(facts.valid_until.as_deref(), now, max).at();
    let rotation_requested = rotate_token.is_some_and(|t| Some(t) != facts.rotated_for.as_deref());
    match (from, until) {
        (Some(from), Some(until)) if !rotation_requested => {
            // Never renewed twice within the minimum interval, whatever the settings (#10
            // finding 8).
            let renew_at = super::tenancy::renew_at(from, until, renew_before);
            if renew_at > now {
                LicensePlan::Keep { valid_from: from, valid_until: until, next_check: not_before(renew_at, now) }
            } else {
                mint_license(Mint::Rotate, now, validity, renew_before)
            }
        }
        (Some(_), Some(_)) => mint_license(Mint::Rotate, now, validity, renew_before),
        // A key with an unreadable validity is replaced.
        _ => mint_license(Mint::Rotate, now, validity, renew_before),
    }
}

fn mint_license(why: Mint, now: Timestamp, validity: SignedDuration, renew_before: SignedDuration) -> LicensePlan {
    let valid_until = saturating_add(now, validity);
    let renew_at = checked_sub(valid_until, renew_before).unwrap_or(now);
    LicensePlan::Mint { why, valid_from: now, valid_until, next_check: not_before(renew_at, now) }
}

/// Inputs of [`plan_resign`].
#[derive(Debug, Clone, Copy)]
pub struct ResignInput<'a> {
    pub now: Timestamp,
    pub secret: SecretState,
    /// Annotations of the existing re-signed Secret: source and signer fingerprints, notAfter.
    pub recorded_source: Option<&'a str>,
    pub recorded_signer: Option<&'a str>,
    pub recorded_not_after: Option<&'a str>,
    /// Fingerprints of the validated partner certificate and of the current signer.
    pub source: &'a str,
    pub signer: &'a str,
    pub validity: SignedDuration,
    pub renew_before: SignedDuration,
}

/// What to do with the re-signed certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResignPlan {
    Conflict,
    Keep {
        not_after: Timestamp,
        renew_at: Timestamp,
    },
    /// Re-sign: missing, another source or signer, near expiry, or an unbelievable record.
    Resign,
}

/// Plans the re-signed certificate.
pub fn plan_resign(input: &ResignInput<'_>) -> ResignPlan {
    match input.secret {
        SecretState::Foreign => return ResignPlan::Conflict,
        SecretState::Missing => return ResignPlan::Resign,
        SecretState::Owned => {}
    }
    if input.recorded_source != Some(input.source) || input.recorded_signer != Some(input.signer) {
        return ResignPlan::Resign;
    }
    let Some(not_after) = Recorded::read(input.recorded_not_after, input.now, input.validity).at() else {
        return ResignPlan::Resign;
    };
    match checked_sub(not_after, input.renew_before) {
        Some(renew_at) if renew_at > input.now => ResignPlan::Keep { not_after, renew_at },
        _ => ResignPlan::Resign,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }
    const DAY: i64 = 86_400;
    fn days(n: i64) -> SignedDuration {
        SignedDuration::from_secs(n * DAY)
    }
    fn rules() -> KeyRules {
        KeyRules { validity: days(90), renew_before: days(15), grace: days(7), rotation: true }
    }
    fn facts(until: Option<&str>) -> KeyFacts {
        KeyFacts { valid_until: until.map(String::from), ..Default::default() }
    }

    #[test]
    fn api_key_table() {
        let now = t("2026-06-01T00:00:00Z");
        let r = rules();
        let fresh_until = now + days(90);
        struct Case {
            name: &'static str,
            wanted: bool,
            secret: SecretState,
            facts: Option<KeyFacts>,
            token: Option<&'static str>,
            rules: KeyRules,
            expect: fn(KeyPlan, Timestamp) -> bool,
        }
        let cases = vec![
            Case {
                name: "first key",
                wanted: true,
                secret: SecretState::Missing,
                facts: None,
                token: None,
                rules: r,
                expect: |p, now| {
                    matches!(p, KeyPlan::Mint { why: Mint::Issue, valid_until, previous_until: None, next_check }
                        if valid_until == now + days(90) && next_check == now + days(75))
                },
            },
            Case {
                name: "foreign secret",
                wanted: true,
                secret: SecretState::Foreign,
                facts: None,
                token: None,
                rules: r,
                expect: |p, _| p == KeyPlan::Conflict,
            },
            Case {
                name: "not wanted, nothing there",
                wanted: false,
                secret: SecretState::Missing,
                facts: None,
                token: None,
                rules: r,
                expect: |p, _| p == KeyPlan::Absent,
            },
            Case {
                name: "not wanted, owned: withdraw",
                wanted: false,
                secret: SecretState::Owned,
                facts: Some(facts(Some("2026-08-01T00:00:00Z"))),
                token: None,
                rules: r,
                expect: |p, _| p == KeyPlan::Withdraw,
            },
            Case {
                name: "owned, nothing recorded: read back",
                wanted: true,
                secret: SecretState::Owned,
                facts: None,
                token: None,
                rules: r,
                expect: |p, _| p == KeyPlan::ReadBack,
            },
            Case {
                name: "keep: one second before the renewal time",
                wanted: true,
                secret: SecretState::Owned,
                facts: Some(facts(Some("2026-06-16T00:00:01Z"))),
                token: None,
                rules: r,
                expect: |p, _| matches!(p, KeyPlan::Keep { drop_previous: false, next_check, .. } if next_check == t("2026-06-01T00:00:01Z")),
            },
            Case {
                name: "rotate: exactly at the renewal time",
                wanted: true,
                secret: SecretState::Owned,
                facts: Some(facts(Some("2026-06-16T00:00:00Z"))),
                token: None,
                rules: r,
                expect: |p, now| matches!(p, KeyPlan::Mint { why: Mint::Rotate, previous_until: Some(g), .. } if g == now + days(7)),
            },
            Case {
                name: "expired with rotation off: kept until rotated on demand",
                wanted: true,
                secret: SecretState::Owned,
                facts: Some(facts(Some("2026-05-01T00:00:00Z"))),
                token: None,
                rules: KeyRules { rotation: false, ..r },
                expect: |p, _| matches!(p, KeyPlan::Keep { .. }),
            },
            Case {
                name: "rotation requested",
                wanted: true,
                secret: SecretState::Owned,
                facts: Some(KeyFacts { rotated_for: Some("a".into()), ..facts(Some("2026-08-01T00:00:00Z")) }),
                token: Some("b"),
                rules: r,
                expect: |p, _| matches!(p, KeyPlan::Mint { why: Mint::Rotate, .. }),
            },
            Case {
                name: "rotation request already honoured",
                wanted: true,
                secret: SecretState::Owned,
                facts: Some(KeyFacts { rotated_for: Some("b".into()), ..facts(Some("2026-08-01T00:00:00Z")) }),
                token: Some("b"),
                rules: r,
                expect: |p, _| matches!(p, KeyPlan::Keep { .. }),
            },
            Case {
                name: "withdrawn key, wanted again: fresh key",
                wanted: true,
                secret: SecretState::Owned,
                facts: Some(facts(None)),
                token: None,
                rules: r,
                expect: |p, _| matches!(p, KeyPlan::Mint { why: Mint::Issue, previous_until: None, .. }),
            },
            Case {
                name: "garbage validUntil: fresh key, no panic",
                wanted: true,
                secret: SecretState::Owned,
                facts: Some(facts(Some("not a time"))),
                token: None,
                rules: r,
                expect: |p, _| matches!(p, KeyPlan::Mint { why: Mint::Issue, .. }),
            },
            Case {
                name: "year 9999 validUntil is not believed",
                wanted: true,
                secret: SecretState::Owned,
                facts: Some(facts(Some("9999-12-31T23:59:59Z"))),
                token: None,
                rules: r,
                expect: |p, _| matches!(p, KeyPlan::Mint { why: Mint::Issue, .. }),
            },
            Case {
                name: "year 99999 validUntil is unreadable",
                wanted: true,
                secret: SecretState::Owned,
                facts: Some(facts(Some("99999-01-01T00:00:00Z"))),
                token: None,
                rules: r,
                expect: |p, _| matches!(p, KeyPlan::Mint { why: Mint::Issue, .. }),
            },
            Case {
                name: "grace running: previous kept, next check at its end",
                wanted: true,
                secret: SecretState::Owned,
                facts: Some(KeyFacts {
                    previous_present: true,
                    previous_until: Some("2026-06-03T00:00:00Z".into()),
                    ..facts(Some("2026-08-01T00:00:00Z"))
                }),
                token: None,
                rules: r,
                expect: |p, _| {
                    matches!(p, KeyPlan::Keep { drop_previous: false, previous_until: Some(g), next_check, .. }
                        if g == t("2026-06-03T00:00:00Z") && next_check == g)
                },
            },
            Case {
                name: "grace over: previous dropped",
                wanted: true,
                secret: SecretState::Owned,
                facts: Some(KeyFacts {
                    previous_present: true,
                    previous_until: Some("2026-06-01T00:00:00Z".into()),
                    ..facts(Some("2026-08-01T00:00:00Z"))
                }),
                token: None,
                rules: r,
                expect: |p, _| matches!(p, KeyPlan::Keep { drop_previous: true, previous_until: None, .. }),
            },
            Case {
                name: "grace beyond the rules: dropped",
                wanted: true,
                secret: SecretState::Owned,
                facts: Some(KeyFacts {
                    previous_present: true,
                    previous_until: Some("2030-01-01T00:00:00Z".into()),
                    ..facts(Some("2026-08-01T00:00:00Z"))
                }),
                token: None,
                rules: r,
                expect: |p, _| matches!(p, KeyPlan::Keep { drop_previous: true, .. }),
            },
        ];
        for c in cases {
            let plan = plan_api_key(&KeyInput {
                now,
                wanted: c.wanted,
                secret: c.secret,
                facts: c.facts.as_ref(),
                rotate_token: c.token,
                rules: &c.rules,
            });
            assert!((c.expect)(plan, now), "{}: {plan:?}", c.name);
        }
        let _ = fresh_until;
    }

    #[test]
    fn extreme_durations_do_not_panic() {
        let now = Timestamp::MAX;
        let r = KeyRules {
            validity: SignedDuration::MAX,
            renew_before: SignedDuration::MAX,
            grace: SignedDuration::MAX,
            rotation: true,
        };
        let f = facts(Some("9999-12-31T23:59:59Z"));
        for secret in [SecretState::Missing, SecretState::Owned] {
            let _ =
                plan_api_key(&KeyInput { now, wanted: true, secret, facts: Some(&f), rotate_token: None, rules: &r });
        }
        let lf = LicenseFacts {
            has_key: true,
            valid_from: Some("-009999-01-01T00:00:00Z".into()),
            valid_until: Some("9999-12-31T23:59:59Z".into()),
            rotated_for: None,
        };
        let _ = plan_license(&LicenseInput {
            now,
            want: LicenseWant::Issue(SignedDuration::MAX),
            secret: SecretState::Owned,
            facts: Some(&lf),
            rotate_token: None,
            renew_before: SignedDuration::MAX,
        });
        let _ = plan_resign(&ResignInput {
            now: Timestamp::MIN,
            secret: SecretState::Owned,
            recorded_source: Some("s"),
            recorded_signer: Some("k"),
            recorded_not_after: Some("-009999-01-01T00:00:00Z"),
            source: "s",
            signer: "k",
            validity: SignedDuration::MAX,
            renew_before: SignedDuration::MAX,
        });
    }

    fn lic(has_key: bool, from: &str, until: &str) -> LicenseFacts {
        LicenseFacts { has_key, valid_from: Some(from.into()), valid_until: Some(until.into()), rotated_for: None }
    }

    #[test]
    fn license_table() {
        let now = t("2026-06-01T00:00:00Z");
        let rb = days(15);
        let plan = |want, secret, facts: Option<&LicenseFacts>, token: Option<&str>| {
            plan_license(&LicenseInput { now, want, secret, facts, rotate_token: token, renew_before: rb })
        };
        let issue = LicenseWant::Issue(days(90));
        assert!(matches!(
            plan(issue, SecretState::Missing, None, None),
            LicensePlan::Mint { why: Mint::Issue, valid_from, valid_until, .. } if valid_from == now && valid_until == now + days(90)
        ));
        assert_eq!(plan(issue, SecretState::Foreign, None, None), LicensePlan::Conflict);
        assert_eq!(plan(issue, SecretState::Owned, None, None), LicensePlan::ReadBack);
        assert_eq!(plan(LicenseWant::Hold, SecretState::Owned, None, None), LicensePlan::Hold);
        assert_eq!(plan(LicenseWant::Hold, SecretState::Missing, None, None), LicensePlan::Absent);
        assert_eq!(plan(LicenseWant::Withdraw, SecretState::Owned, None, None), LicensePlan::Withdraw);
        let ok = lic(true, "2026-05-01T00:00:00Z", "2026-07-30T00:00:00Z");
        assert!(
            matches!(plan(issue, SecretState::Owned, Some(&ok), None), LicensePlan::Keep { next_check, .. } if next_check == t("2026-07-15T00:00:00Z"))
        );
        // At the renewal time: renewed.
        let due = lic(true, "2026-03-01T00:00:00Z", "2026-06-16T00:00:00Z");
        assert!(matches!(
            plan(issue, SecretState::Owned, Some(&due), None),
            LicensePlan::Mint { why: Mint::Rotate, .. }
        ));
        // One second before: kept.
        let almost = lic(true, "2026-03-01T00:00:00Z", "2026-06-16T00:00:01Z");
        assert!(matches!(plan(issue, SecretState::Owned, Some(&almost), None), LicensePlan::Keep { .. }));
        // Withdrawn, wanted again: a fresh licence.
        let withdrawn = lic(false, "2026-05-01T00:00:00Z", "2026-07-30T00:00:00Z");
        assert!(matches!(
            plan(issue, SecretState::Owned, Some(&withdrawn), None),
            LicensePlan::Mint { why: Mint::Issue, .. }
        ));
        // Rotation on demand.
        assert!(matches!(
            plan(issue, SecretState::Owned, Some(&ok), Some("x")),
            LicensePlan::Mint { why: Mint::Rotate, .. }
        ));
        // Garbage and out-of-range validity: replaced, no panic.
        for bad in ["garbage", "99999-01-01T00:00:00Z", ""] {
            let f = lic(true, "2026-05-01T00:00:00Z", bad);
            assert!(
                matches!(plan(issue, SecretState::Owned, Some(&f), None), LicensePlan::Mint { why: Mint::Rotate, .. }),
                "{bad}"
            );
        }
        // A validFrom in the future is not believed.
        let future = lic(true, "2027-01-01T00:00:00Z", "2026-07-30T00:00:00Z");
        assert!(matches!(plan(issue, SecretState::Owned, Some(&future), None), LicensePlan::Mint { .. }));
    }

    #[test]
    fn resign_table() {
        let now = t("2026-06-01T00:00:00Z");
        let base = ResignInput {
            now,
            secret: SecretState::Owned,
            recorded_source: Some("src"),
            recorded_signer: Some("sig"),
            recorded_not_after: Some("2027-01-01T00:00:00Z"),
            source: "src",
            signer: "sig",
            validity: days(365),
            renew_before: days(30),
        };
        assert!(
            matches!(plan_resign(&base), ResignPlan::Keep { renew_at, .. } if renew_at == t("2026-12-02T00:00:00Z"))
        );
        assert_eq!(plan_resign(&ResignInput { secret: SecretState::Missing, ..base }), ResignPlan::Resign);
        assert_eq!(plan_resign(&ResignInput { secret: SecretState::Foreign, ..base }), ResignPlan::Conflict);
        assert_eq!(plan_resign(&ResignInput { source: "other", ..base }), ResignPlan::Resign);
        assert_eq!(plan_resign(&ResignInput { signer: "new", ..base }), ResignPlan::Resign);
        // Renewal edge: exactly at renew-before → re-sign; a second earlier → keep.
        assert_eq!(
            plan_resign(&ResignInput { recorded_not_after: Some("2026-07-01T00:00:00Z"), ..base }),
            ResignPlan::Resign
        );
        assert!(matches!(
            plan_resign(&ResignInput { recorded_not_after: Some("2026-07-01T00:00:01Z"), ..base }),
            ResignPlan::Keep { .. }
        ));
        // Editor-written not-after: garbage, year 99999, beyond the validity, or so early that
        // subtracting renew-before leaves the representable range (this used to panic) → re-sign.
        assert!("-009999-01-03T00:00:00Z".parse::<Timestamp>().is_ok());
        for bad in ["garbage", "99999-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "-009999-01-03T00:00:00Z"] {
            assert_eq!(
                plan_resign(&ResignInput { recorded_not_after: Some(bad), ..base }),
                ResignPlan::Resign,
                "{bad}"
            );
        }
        assert_eq!(plan_resign(&ResignInput { recorded_not_after: None, ..base }), ResignPlan::Resign);
    }

    #[test]
    fn recorded_times() {
        let now = t("2026-06-01T00:00:00Z");
        assert_eq!(Recorded::read(None, now, days(1)), Recorded::Absent);
        assert_eq!(Recorded::read(Some("x"), now, days(1)), Recorded::Corrupt);
        assert_eq!(Recorded::read(Some("2026-06-02T00:00:00Z"), now, days(1)), Recorded::At(now + days(1)));
        assert_eq!(Recorded::read(Some("2026-06-02T00:00:01Z"), now, days(1)), Recorded::Corrupt);
        assert_eq!(
            Recorded::read(Some("2026-06-02T00:00:00Z"), Timestamp::MAX, SignedDuration::MAX),
            Recorded::Corrupt
        );
    }
}
