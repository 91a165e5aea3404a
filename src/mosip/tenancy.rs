//! Tenant-safety rules (issue #10): who holds a partnerId, when a licence may be issued and for
//! how long, how often a key may be renewed. Pure: the reconcilers gather the inputs from their
//! stores and apply the verdicts.
//!
//! The principle: anything a namespace editor can write (specs, annotations, Secrets) is a
//! request; only what the operator recorded in status is believed.

use jiff::{SignedDuration, Timestamp};

/// One Partner as the partnerId rule sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimView {
    /// namespace/name, for messages and to order claimants.
    pub key: String,
    /// metadata.uid.
    pub uid: String,
    /// creationTimestamp, seconds (i64::MAX when unknown).
    pub created: i64,
    /// The partnerId the spec asks for (spec.partnerId or the name).
    pub requested: String,
    /// The partnerId the operator registered for it (status.registeredPartnerId), if any.
    pub registered: Option<String>,
    /// Being deleted: its claim is released.
    pub deleting: bool,
}

/// Who holds a partnerId.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimVerdict {
    /// This Partner holds (or now registers) the id; record it in status.registeredPartnerId.
    Holds(String),
    /// Another Partner holds it (namespace/name).
    TakenBy { id: String, holder: String },
    /// The spec asks for another id than the one registered: partnerId is immutable once
    /// registered. The registered id stays this Partner's.
    Immutable { registered: String, requested: String },
}

impl ClaimVerdict {
    /// The condition reason of a refusal.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            ClaimVerdict::Holds(_) => None,
            ClaimVerdict::TakenBy { .. } => Some("DuplicatePartnerId"),
            ClaimVerdict::Immutable { .. } => Some("ImmutableFieldChanged"),
        }
    }

    /// An actionable message for a refusal.
    pub fn message(&self) -> Option<String> {
        match self {
            ClaimVerdict::Holds(_) => None,
            ClaimVerdict::TakenBy { id, holder } => {
                Some(format!("partnerId {id:?} is registered by Partner {holder}; choose another spec.partnerId"))
            }
            ClaimVerdict::Immutable { registered, requested } => Some(format!(
                "spec.partnerId changed from {registered:?} to {requested:?}; partnerId is immutable once \
                 registered: restore {registered:?} or create a new Partner"
            )),
        }
    }
}

/// Who holds `me.requested`, given the other Partners of the cluster.
///
/// A claim belongs to the Partner that registered it first (recorded in its status) and never
/// moves while that Partner lives: age, a changed spec or another namespace cannot take it.
/// Only among Partners that registered the same id at the same moment (a race of two
/// reconciles) or that have not registered yet does the older one (creation time, then
/// namespace/name) win, so every reconcile agrees.
pub fn partner_id_claim(me: &ClaimView, others: &[ClaimView]) -> ClaimVerdict {
    if let Some(registered) = &me.registered
        && registered != &me.requested
    {
        return ClaimVerdict::Immutable { registered: registered.clone(), requested: me.requested.clone() };
    }
    let id = &me.requested;
    let order = |c: &ClaimView| (c.created, c.key.clone());
    let rivals = others.iter().filter(|o| o.uid != me.uid && !o.deleting);
    let registered_rivals: Vec<&ClaimView> = rivals.clone().filter(|o| o.registered.as_ref() == Some(id)).collect();
    let i_registered = me.registered.as_ref() == Some(id);
    let holder = if i_registered {
        // Two registrations of one id can only come from a race; the older keeps it.
        registered_rivals.into_iter().filter(|o| order(o) < order(me)).min_by_key(|o| order(o))
    } else if let Some(first) = registered_rivals.into_iter().min_by_key(|o| order(o)) {
        Some(first)
    } else {
        // Nobody registered it: the oldest unregistered claimant registers first.
        rivals.filter(|o| o.registered.is_none() && &o.requested == id && order(o) < order(me)).min_by_key(|o| order(o))
    };
    match holder {
        Some(h) => ClaimVerdict::TakenBy { id: id.clone(), holder: h.key.clone() },
        None => ClaimVerdict::Holds(id.clone()),
    }
}

/// The default `--max-license-validity`: one year.
pub const DEFAULT_MAX_LICENSE_VALIDITY: SignedDuration = SignedDuration::from_hours(365 * 24);

/// The shortest time between two renewals of one key, whatever the settings say: a backstop
/// against renewal loops (#10 finding 8).
pub const MIN_RENEW_INTERVAL: SignedDuration = SignedDuration::from_secs(10);

/// Why a licence validity cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidityError {
    /// The validity does not exceed the renew-before window: the key would be renewed on every
    /// pass.
    #[error(
        "validity {validity} is not longer than the renewal window {renew_before} (the key is renewed \
         that long before it expires), so it would be renewed continuously; use a validity longer than \
         {renew_before}"
    )]
    NotLongerThanRenewal {
        /// The validity asked for.
        validity: SignedDuration,
        /// The operator's renew-before setting.
        renew_before: SignedDuration,
    },
}

impl ValidityError {
    /// The condition reason.
    pub fn reason(&self) -> &'static str {
        "InvalidValidity"
    }
}

/// The validity a licence is issued with: `requested` (or the default) capped at `max`, and
/// longer than `renew_before`. Returns the validity and whether it was capped.
pub fn license_validity(
    requested: Option<SignedDuration>,
    default: SignedDuration,
    max: SignedDuration,
    renew_before: SignedDuration,
) -> Result<(SignedDuration, bool), ValidityError> {
    let wanted = requested.unwrap_or(default);
    let (validity, capped) = if wanted > max { (max, true) } else { (wanted, false) };
    if validity <= renew_before {
        return Err(ValidityError::NotLongerThanRenewal { validity, renew_before });
    }
    Ok((validity, capped))
}

/// When a key issued at `issued_at`, valid until `valid_until`, is due for renewal: at
/// `valid_until - renew_before`, but never sooner than [`MIN_RENEW_INTERVAL`] after it was
/// issued. Overflow (an absurd `valid_until`) is treated as "due now": a corrupt record is
/// replaced, never trusted.
pub fn renew_at(issued_at: Timestamp, valid_until: Timestamp, renew_before: SignedDuration) -> Timestamp {
    let due = valid_until.checked_sub(renew_before).unwrap_or(Timestamp::MIN);
    let earliest = issued_at.checked_add(MIN_RENEW_INTERVAL).unwrap_or(Timestamp::MAX);
    due.max(earliest)
}

/// What the operator recorded about a key it issued (in status, which editors cannot write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedRecord {
    /// [`super::key_fingerprint`] of the key.
    pub fingerprint: String,
    /// When the operator issued it (None in records older than issue times).
    pub valid_from: Option<Timestamp>,
    /// End of validity as issued.
    pub valid_until: Timestamp,
}

/// What a Secret under an issued key's name says, as read (every value editor-writable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FoundSecret<'a> {
    /// [`super::key_fingerprint`] of the key it holds; None when it holds none.
    pub fingerprint: Option<&'a str>,
    /// Its `validFrom`, for Secrets that carry one (licences).
    pub valid_from: Option<&'a str>,
    /// Its `validUntil`.
    pub valid_until: Option<&'a str>,
    /// When the operator wrote exactly this data, if its seal ([`SealKey::open`]) proves it.
    pub sealed_at: Option<Timestamp>,
}

/// How a Secret found under an issued key's name compares with the operator's record: only
/// [`SecretTrust::Matches`], [`SecretTrust::Restore`] and [`SecretTrust::Adopt`] are believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretTrust {
    /// Holds exactly what the operator issued and wrote (the record's key and validity, sealed).
    Matches,
    /// Holds the record's key, but its validity (`validity`) or other data or the seal was
    /// changed: the key is the operator's (an editor who saw it owns the partner anyway); the
    /// Secret is rewritten around it from the record, as issued.
    Restore {
        /// The validity differs from the record.
        validity: bool,
    },
    /// Sealed by the operator later than the record was made: the operator's own write whose
    /// status update did not happen (a crash between the two writes, or a lost status). Its
    /// key and validity become the record.
    Adopt,
    /// Holds no key: nothing to believe or distrust (a withdrawn key).
    NoKey,
    /// The key differs from the record (`validity`: its validity too), and no seal of the
    /// operator's vouches for it: written by someone else. Never trusted: a new key is issued.
    Tampered {
        /// The validity differs from the record too.
        validity: bool,
    },
    /// No record and no seal: the operator never issued what it holds. Never trusted.
    Unrecorded,
}

/// Compares what a Secret says with the record (#10 finding 7). Times that cannot be parsed
/// never match.
pub fn secret_trust(record: Option<&IssuedRecord>, found: &FoundSecret<'_>) -> SecretTrust {
    let parse = |v: Option<&str>| v.and_then(|v| v.trim().parse::<Timestamp>().ok());
    if found.fingerprint.is_none() {
        return SecretTrust::NoKey;
    }
    let Some(record) = record else {
        return if found.sealed_at.is_some() { SecretTrust::Adopt } else { SecretTrust::Unrecorded };
    };
    let key = found.fingerprint == Some(record.fingerprint.as_str());
    let from_ok = found.valid_from.is_none_or(|_| parse(found.valid_from) == record.valid_from);
    let validity = parse(found.valid_until) == Some(record.valid_until) && from_ok;
    match (key, validity, found.sealed_at) {
        (true, true, Some(_)) => SecretTrust::Matches,
        (true, _, _) => SecretTrust::Restore { validity: !validity },
        // Sealed later than the record: the operator wrote it and then failed to record it. A
        // seal of an earlier write (an editor putting back a key the operator replaced since)
        // is not enough.
        (false, _, Some(at)) if record.valid_from.is_none_or(|from| at > from) => SecretTrust::Adopt,
        (false, _, _) => SecretTrust::Tampered { validity: !validity },
    }
}

impl SecretTrust {
    /// Whether the Secret's key is believed to be one the operator issued.
    pub fn believed(self) -> bool {
        matches!(self, SecretTrust::Matches | SecretTrust::Restore { .. } | SecretTrust::Adopt)
    }

    /// What was found, for the Warning Event and the condition message, naming the Secret's
    /// fields (`key_field`, validity) but never their values; None when nothing is wrong.
    pub fn finding(self, secret: &str, key_field: &str) -> Option<String> {
        match self {
            SecretTrust::Tampered { validity } => Some(format!(
                "Secret {secret} was changed outside the operator: its {key_field}{} no longer match what the \
                 operator issued (recorded in status); it is not trusted: a new key is issued or the key is withdrawn",
                if validity { " and validity" } else { "" }
            )),
            SecretTrust::Unrecorded => Some(format!(
                "Secret {secret} holds a key ({key_field}) the operator did not issue (no record in status, no seal); \
                 it is not trusted: a new key is issued or the key is withdrawn"
            )),
            SecretTrust::Restore { validity } => Some(format!(
                "Secret {secret} was changed outside the operator ({}); the issued key is kept and the Secret restored \
                 as issued",
                if validity { "its validity (validFrom/validUntil)" } else { "data other than the key and validity" }
            )),
            _ => None,
        }
    }

    /// The Event reason of a finding.
    pub fn reason(self) -> &'static str {
        match self {
            SecretTrust::Restore { .. } => "SecretRestored",
            _ => "SecretTampered",
        }
    }
}

/// Whether a Secret is believed without reading it: only at the resourceVersion the operator
/// recorded when it last wrote or verified it (resourceVersions are set by the API server and
/// change with every write, so no editor can bring an old one back).
pub fn unchanged_since_recorded(recorded: Option<&str>, seen: Option<&str>) -> bool {
    matches!((recorded, seen), (Some(r), Some(s)) if r == s)
}

/// Annotation on every Secret the operator writes: `v1;<written at>;<HMAC-SHA256>` over the
/// Secret's namespace, name, owner uid, the time and every data key and value.
pub const SEAL_VERSION: &str = "v1";

/// The key that seals what the operator writes into Secrets, so that a Secret it wrote is
/// provably its own even when its status does not say so yet (#10 finding 7): derived from key
/// material only the operator holds (the PMS signing key, in the operator's namespace) and
/// never stored.
pub struct SealKey(ring::hmac::Key);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

/// Whom a seal binds the data to.
#[derive(Debug, Clone, Copy)]
pub struct SealSubject<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub owner_uid: &'a str,
}

impl SealKey {
    /// Derives the seal key from secret `material` (HMAC-SHA256 with a fixed label: a key used
    /// for nothing else).
    pub fn derive(material: &[u8]) -> Self {
        let label = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"mosip-partner-operator/secret-seal/v1");
        let derived = ring::hmac::sign(&label, material);
        SealKey(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, derived.as_ref()))
    }

    fn message<'a>(
        subject: &SealSubject<'_>,
        at: &str,
        data: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut field = |b: &[u8]| {
            out.extend_from_slice(&(b.len() as u64).to_be_bytes());
            out.extend_from_slice(b);
        };
        field(SEAL_VERSION.as_bytes());
        field(subject.namespace.as_bytes());
        field(subject.name.as_bytes());
        field(subject.owner_uid.as_bytes());
        field(at.as_bytes());
        let mut entries: Vec<(&str, &[u8])> = data.into_iter().collect();
        entries.sort();
        field(&(entries.len() as u64).to_be_bytes());
        for (k, v) in entries {
            field(k.as_bytes());
            field(v);
        }
        out
    }

    /// The seal annotation value for `data` written at `at`.
    pub fn seal<'a>(
        &self,
        subject: &SealSubject<'_>,
        at: Timestamp,
        data: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> String {
        let at = at.to_string();
        let tag = ring::hmac::sign(&self.0, &Self::message(subject, &at, data));
        format!("{SEAL_VERSION};{at};{}", hex::encode(tag.as_ref()))
    }

    /// When the operator wrote exactly `data` into this Secret, if `seal` proves it; None for
    /// an absent, malformed or wrong seal (a changed value, key, name or owner).
    pub fn open<'a>(
        &self,
        subject: &SealSubject<'_>,
        seal: Option<&str>,
        data: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Option<Timestamp> {
        let mut parts = seal?.splitn(3, ';');
        let (version, at, tag) = (parts.next()?, parts.next()?, parts.next()?);
        if version != SEAL_VERSION {
            return None;
        }
        let tag = hex::decode(tag).ok()?;
        // Constant-time comparison.
        ring::hmac::verify(&self.0, &Self::message(subject, at, data), &tag).ok()?;
        at.parse::<Timestamp>().ok()
    }
}

/// Whether an Automatic policy's `spec.autoApprove` admits a namespace with `labels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoScope {
    /// The namespace is admitted: requests are approved automatically.
    Admitted,
    /// Not admitted: the request waits for an approver; the message says why.
    NotAdmitted(String),
}

/// Matches `spec.autoApprove.namespaceSelector` against a namespace's labels. Absent (no
/// autoApprove, or no selector) admits nobody; `{}` admits every namespace; an invalid
/// selector (unknown operator, In/NotIn without values) admits nobody.
pub fn auto_approve_scope(
    auto: Option<&crate::api::AutoApprove>,
    namespace: &str,
    labels: &std::collections::BTreeMap<String, String>,
) -> AutoScope {
    let Some(selector) = auto.and_then(|a| a.namespace_selector.as_ref()) else {
        return AutoScope::NotAdmitted(format!(
            "the policy is Automatic but has no spec.autoApprove.namespaceSelector, so it approves no namespace \
             by itself ({{}} admits all); an approver must decide for namespace {namespace}"
        ));
    };
    if selector_matches(selector, labels) {
        AutoScope::Admitted
    } else {
        AutoScope::NotAdmitted(format!(
            "the policy's spec.autoApprove.namespaceSelector does not admit namespace {namespace}; an approver \
             must decide"
        ))
    }
}

/// Kubernetes label-selector semantics (matchLabels AND matchExpressions).
pub fn selector_matches(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    let labels_ok = selector.match_labels.as_ref().is_none_or(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let expressions_ok = selector.match_expressions.as_ref().is_none_or(|exprs| {
        exprs.iter().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            let value = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => !values.is_empty() && value.is_some_and(|v| values.contains(v)),
                "NotIn" => !values.is_empty() && value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
    });
    labels_ok && expressions_ok
}

/// The denials to remember: those remembered already plus every current Denied decision
/// (an approver's Denied condition, bound to the request fingerprint it was made for).
pub fn remembered_denials(
    previous: &[crate::api::DeniedRequest],
    entries: &[crate::api::PolicyRequestStatus],
) -> Vec<crate::api::DeniedRequest> {
    let mut out = previous.to_vec();
    for entry in entries {
        let Some(hash) = entry.decided_request_hash.as_deref() else { continue };
        let Some(denied) = entry.conditions.iter().find(|c| c.type_ == crate::api::DENIED && c.status == "True") else {
            continue;
        };
        if !out.iter().any(|d| d.policy == entry.name && d.request_hash == hash) {
            out.push(crate::api::DeniedRequest {
                policy: entry.name.clone(),
                request_hash: hash.to_string(),
                reason: denied.reason.clone(),
                message: denied.message.clone(),
            });
        }
    }
    out
}

/// The remembered denial of this request, if any.
pub fn remembered_denial<'a>(
    denials: &'a [crate::api::DeniedRequest],
    policy: &str,
    request_hash: &str,
) -> Option<&'a crate::api::DeniedRequest> {
    denials.iter().find(|d| d.policy == policy && d.request_hash == request_hash)
}

/// What the licence rule knows about the MISP partner a MispLicense names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicensePartner {
    /// Being deleted.
    pub deleting: bool,
    /// spec.active.
    pub active: bool,
    /// Whether the partner type is MISP_Partner.
    pub is_misp: bool,
    /// Whether spec.policies requests the licence's policy.
    pub requested: bool,
    /// Whether the partner's request for the policy is approved now (by an approver for the
    /// current fingerprint, or automatically), as the Partner controller decided it.
    pub approved: bool,
}

/// Why no licence may be issued (each withdraws an issued one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenseRefusal {
    /// The named partner does not exist (any more).
    #[error(
        "Partner {partner:?} does not exist in this namespace; a licence needs a MISP_Partner that requested policy {policy:?} and was approved"
    )]
    PartnerNotFound { partner: String, policy: String },
    /// The partner is deactivated or being deleted.
    #[error("Partner {partner:?} is deactivated or being deleted; its licences are withdrawn")]
    PartnerInactive { partner: String },
    /// Not a MISP partner.
    #[error("Partner {partner:?} is not a MISP_Partner; only MISPs get licences")]
    NotMisp { partner: String },
    /// No approved request of that partner for that policy.
    #[error(
        "Partner {partner:?} has no approved request for policy {policy:?}: add it to the Partner's spec.policies and \
         have it approved (mosip-partner-operator approve {partner} --policy {policy})"
    )]
    NotApproved { partner: String, policy: String },
}

impl LicenseRefusal {
    /// The condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            LicenseRefusal::PartnerNotFound { .. } => "PartnerNotFound",
            LicenseRefusal::PartnerInactive { .. } => "PartnerInactive",
            LicenseRefusal::NotMisp { .. } => "NotMispPartner",
            LicenseRefusal::NotApproved { .. } => "NotApproved",
        }
    }
}

/// A licence for `policy` may be issued (or kept) only for an active MISP partner whose
/// request for that very policy is approved — the same decision as API keys.
pub fn license_allowed(
    partner_name: &str,
    policy: &str,
    partner: Option<&LicensePartner>,
) -> Result<(), LicenseRefusal> {
    let names = || (partner_name.to_string(), policy.to_string());
    let Some(p) = partner else {
        let (partner, policy) = names();
        return Err(LicenseRefusal::PartnerNotFound { partner, policy });
    };
    if p.deleting || !p.active {
        return Err(LicenseRefusal::PartnerInactive { partner: partner_name.to_string() });
    }
    if !p.is_misp {
        return Err(LicenseRefusal::NotMisp { partner: partner_name.to_string() });
    }
    if !(p.requested && p.approved) {
        let (partner, policy) = names();
        return Err(LicenseRefusal::NotApproved { partner, policy });
    }
    Ok(())
}

/// An approver's Approved/Denied condition that does not name the request fingerprint it was
/// made for (`decidedRequestHash`) is no decision (#10 finding 5): it could otherwise outlive
/// any later change of the request. Returns the message that tells the approver what to add.
pub fn unbound_decision_hint(entry: &crate::api::PolicyRequestStatus) -> Option<String> {
    if entry.decided_request_hash.is_some() {
        return None;
    }
    let decided = entry.conditions.iter().any(|c| {
        (c.type_ == crate::api::APPROVED || c.type_ == crate::api::DENIED)
            && c.status == "True"
            && c.reason != "AutoApproved"
    });
    decided.then(|| {
        let hash = entry.request_hash.as_deref().unwrap_or("<status.policies[].requestHash>");
        format!(
            "the {} decision on {:?} does not say which request it decided: set status.policies[].decidedRequestHash \
             to {hash} next to it (mosip-partner-operator approve/deny does)",
            if entry.conditions.iter().any(|c| c.type_ == crate::api::DENIED && c.status == "True") {
                "Denied"
            } else {
                "Approved"
            },
            entry.name
        )
    })
}

/// Whether a Partner of `partner_type` counts as a user of a policy of `policy_type` (and so
/// holds the policy's deletion finalizer): only types that may request that policy type. A
/// request another type cannot make is invalid and must not pin the policy (#10 finding 9).
pub fn counts_as_policy_user(partner_type: crate::api::PartnerType, policy_type: crate::api::PolicyType) -> bool {
    use super::PartnerTypeExt;
    partner_type.allowed_policy_types().contains(&policy_type)
}

/// Whether API keys may be issued for a partner type at all: MISP partners get licences
/// (MispLicense), never API keys, whatever their spec asks (#10 finding 9).
pub fn may_hold_api_keys(partner_type: crate::api::PartnerType) -> bool {
    use super::PartnerTypeExt;
    partner_type != crate::api::PartnerType::MispPartner && partner_type.issues_api_keys()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(key: &str, created: i64, requested: &str, registered: Option<&str>) -> ClaimView {
        ClaimView {
            key: key.into(),
            uid: key.into(),
            created,
            requested: requested.into(),
            registered: registered.map(String::from),
            deleting: false,
        }
    }

    #[test]
    fn a_registered_claim_never_moves() {
        let victim = claim("b/victim", 200, "acme", Some("acme"));
        // The thief is older and switches its spec to the victim's id: it was registered as
        // "thief" already, so the change is refused and the victim keeps its id.
        let thief = claim("a/thief", 100, "acme", Some("thief"));
        assert!(matches!(partner_id_claim(&thief, std::slice::from_ref(&victim)), ClaimVerdict::Immutable { .. }));
        assert_eq!(partner_id_claim(&victim, std::slice::from_ref(&thief)), ClaimVerdict::Holds("acme".into()));
        // An older Partner that never registered cannot take it either.
        let old = claim("a/old", 50, "acme", None);
        assert_eq!(
            partner_id_claim(&old, std::slice::from_ref(&victim)),
            ClaimVerdict::TakenBy { id: "acme".into(), holder: "b/victim".into() }
        );
        assert_eq!(partner_id_claim(&victim, &[old.clone(), thief]), ClaimVerdict::Holds("acme".into()));
        // Once the holder is being deleted, the id is free.
        let leaving = ClaimView { deleting: true, ..victim };
        assert_eq!(partner_id_claim(&old, &[leaving]), ClaimVerdict::Holds("acme".into()));
    }

    #[test]
    fn unregistered_and_racing_claimants_are_ordered_by_age() {
        let a = claim("x/a", 1, "id", None);
        let b = claim("y/b", 2, "id", None);
        assert_eq!(partner_id_claim(&a, std::slice::from_ref(&b)), ClaimVerdict::Holds("id".into()));
        assert!(matches!(partner_id_claim(&b, std::slice::from_ref(&a)), ClaimVerdict::TakenBy { .. }));
        // Both registered in a race: the older keeps it, everyone agrees.
        let a = claim("x/a", 1, "id", Some("id"));
        let b = claim("y/b", 2, "id", Some("id"));
        assert_eq!(partner_id_claim(&a, std::slice::from_ref(&b)), ClaimVerdict::Holds("id".into()));
        assert!(matches!(partner_id_claim(&b, std::slice::from_ref(&a)), ClaimVerdict::TakenBy { .. }));
        // Same time: namespace/name decides.
        let c = claim("a/c", 2, "id", None);
        let d = claim("b/d", 2, "id", None);
        assert_eq!(partner_id_claim(&c, std::slice::from_ref(&d)), ClaimVerdict::Holds("id".into()));
        let v = partner_id_claim(&d, std::slice::from_ref(&c));
        assert_eq!(v.reason(), Some("DuplicatePartnerId"));
        assert!(v.message().is_some_and(|m| m.contains("a/c")));
    }

    #[test]
    fn licence_validity_is_capped_and_must_exceed_the_renewal_window() {
        let d = |h: i64| SignedDuration::from_hours(h);
        let max = DEFAULT_MAX_LICENSE_VALIDITY;
        assert_eq!(license_validity(None, d(90 * 24), max, d(15 * 24)), Ok((d(90 * 24), false)));
        assert_eq!(license_validity(Some(d(100 * 365 * 24)), d(90 * 24), max, d(15 * 24)), Ok((max, true)));
        let err = license_validity(Some(SignedDuration::from_secs(60)), d(90 * 24), max, d(15 * 24)).unwrap_err();
        assert_eq!(err.reason(), "InvalidValidity");
        assert!(err.to_string().contains("renewed continuously"));
        assert!(license_validity(Some(d(15 * 24)), d(90 * 24), max, d(15 * 24)).is_err(), "equal is not longer");
    }

    #[test]
    fn renewals_are_never_closer_than_the_minimum_interval() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let day = SignedDuration::from_hours(24);
        assert_eq!(renew_at(t0, t0 + day * 90, day * 15), t0 + day * 75);
        // A window longer than the validity would be due at once; the floor holds it back.
        assert_eq!(renew_at(t0, t0 + SignedDuration::from_secs(1), day), t0 + MIN_RENEW_INTERVAL);
        // Absurd records do not panic.
        assert_eq!(renew_at(t0, Timestamp::MIN, day), t0 + MIN_RENEW_INTERVAL);
        assert_eq!(renew_at(Timestamp::MAX, Timestamp::MAX, day), Timestamp::MAX);
    }

    #[test]
    fn secrets_are_trusted_only_when_they_match_the_record() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let record = IssuedRecord {
            fingerprint: "abcd".into(),
            valid_from: Some(t("2026-01-01T00:00:00Z")),
            valid_until: t("2026-04-01T00:00:00Z"),
        };
        let r = Some(&record);
        let sealed = Some(t("2026-01-01T00:00:00Z"));
        let found = |fp: &'static str, until: &'static str, sealed_at| FoundSecret {
            fingerprint: Some(fp),
            valid_from: None,
            valid_until: Some(until),
            sealed_at,
        };
        // Exactly what was issued and written.
        assert_eq!(secret_trust(r, &found("abcd", "2026-04-01T00:00:00Z", sealed)), SecretTrust::Matches);
        // The record's key, other data or the seal changed: restored around the key.
        let restore = |validity| SecretTrust::Restore { validity };
        assert_eq!(secret_trust(r, &found("abcd", "2026-04-01T00:00:00Z", None)), restore(false));
        // The record's key with an extended or unreadable validity: restored as issued, never
        // believed as written.
        assert_eq!(secret_trust(r, &found("abcd", "9999-12-31T23:59:59Z", None)), restore(true));
        assert_eq!(secret_trust(r, &found("abcd", "garbage", None)), restore(true));
        // Another key: tampered, whatever else.
        let tampered = |validity| SecretTrust::Tampered { validity };
        assert_eq!(secret_trust(r, &found("ffff", "2026-04-01T00:00:00Z", None)), tampered(false));
        assert_eq!(secret_trust(r, &found("ffff", "9999-12-31T23:59:59Z", None)), tampered(true));
        // A seal of the record's own issue (or earlier) does not vouch for another key: an
        // editor putting back a key the operator replaced since.
        assert_eq!(secret_trust(r, &found("ffff", "2026-03-01T00:00:00Z", sealed)), tampered(true));
        assert_eq!(
            secret_trust(r, &found("ffff", "2026-03-01T00:00:00Z", Some(t("2025-12-01T00:00:00Z")))),
            tampered(true)
        );
        // Sealed after the record was made: the operator's own write, status not updated (crash).
        let later = Some(t("2026-02-01T00:00:00Z"));
        assert_eq!(secret_trust(r, &found("ffff", "2026-05-01T00:00:00Z", later)), SecretTrust::Adopt);
        // No record: only a seal makes it the operator's.
        assert_eq!(secret_trust(None, &found("abcd", "2026-04-01T00:00:00Z", None)), SecretTrust::Unrecorded);
        assert_eq!(secret_trust(None, &found("abcd", "2026-04-01T00:00:00Z", later)), SecretTrust::Adopt);
        // No key at all: nothing to believe.
        assert_eq!(secret_trust(r, &FoundSecret::default()), SecretTrust::NoKey);
        // Licences carry validFrom too; a changed one is a changed validity.
        let lic =
            FoundSecret { valid_from: Some("2025-01-01T00:00:00Z"), ..found("abcd", "2026-04-01T00:00:00Z", sealed) };
        assert_eq!(secret_trust(r, &lic), restore(true));
        let lic = FoundSecret { valid_from: Some("2026-01-01T00:00:00Z"), ..lic };
        assert_eq!(secret_trust(r, &lic), SecretTrust::Matches);
        // Messages name fields, never values.
        let m = tampered(false).finding("s", "apiKey").unwrap();
        assert!(m.contains("apiKey") && m.contains("Secret s") && !m.contains("ffff"), "{m}");
        assert!(restore(true).finding("s", "apiKey").unwrap().contains("validity"));
        assert_eq!(restore(true).reason(), "SecretRestored");
        assert_eq!(tampered(true).reason(), "SecretTampered");
        assert!(SecretTrust::Matches.finding("s", "apiKey").is_none());
        assert!(SecretTrust::Adopt.believed() && restore(true).believed() && !tampered(true).believed());
        assert!(!SecretTrust::Unrecorded.believed());
    }

    #[test]
    fn seals_bind_data_time_name_and_owner() {
        let key = SealKey::derive(b"operator secret");
        let subject = SealSubject { namespace: "ns", name: "s", owner_uid: "u1" };
        let at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let data = [("apiKey", b"k1".as_slice()), ("validUntil", b"2026-04-01T00:00:00Z".as_slice())];
        let seal = key.seal(&subject, at, data);
        assert!(seal.starts_with("v1;2026-01-01T00:00:00Z;"), "{seal}");
        assert_eq!(key.open(&subject, Some(&seal), data), Some(at));
        // Order of the data does not matter.
        assert_eq!(key.open(&subject, Some(&seal), [data[1], data[0]]), Some(at));
        // A changed value, an added key, another Secret, another owner, another time, another
        // operator key, a truncated or absent seal: no proof.
        assert_eq!(key.open(&subject, Some(&seal), [("apiKey", b"k2".as_slice()), data[1]]), None);
        assert_eq!(key.open(&subject, Some(&seal), [data[0], data[1], ("x", b"".as_slice())]), None);
        let other = SealSubject { name: "t", ..subject };
        assert_eq!(key.open(&other, Some(&seal), data), None);
        let other = SealSubject { owner_uid: "u2", ..subject };
        assert_eq!(key.open(&other, Some(&seal), data), None);
        let moved = seal.replace("2026-01-01", "2027-01-01");
        assert_eq!(key.open(&subject, Some(&moved), data), None);
        assert_eq!(SealKey::derive(b"another").open(&subject, Some(&seal), data), None);
        assert_eq!(key.open(&subject, Some(&seal[..seal.len() - 2]), data), None);
        assert_eq!(key.open(&subject, None, data), None);
        assert_eq!(key.open(&subject, Some("v1;garbage"), data), None);
        assert_eq!(key.open(&subject, Some("v2;2026-01-01T00:00:00Z;00"), data), None);
        // Length-prefixed: key/value boundaries are unambiguous.
        let a = key.seal(&subject, at, [("ab", b"".as_slice())]);
        assert_eq!(key.open(&subject, Some(&a), [("a", b"b".as_slice())]), None);
    }

    #[test]
    fn only_the_recorded_resource_version_is_believed_unread() {
        assert!(unchanged_since_recorded(Some("42"), Some("42")));
        assert!(!unchanged_since_recorded(Some("42"), Some("43")));
        assert!(!unchanged_since_recorded(None, Some("42")));
        assert!(!unchanged_since_recorded(Some("42"), None));
    }

    #[test]
    fn automatic_approval_is_scoped_by_namespace_labels() {
        use crate::api::AutoApprove;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
        let labels = std::collections::BTreeMap::from([("tier".to_string(), "sandbox".to_string())]);
        let none = std::collections::BTreeMap::new();
        assert!(matches!(auto_approve_scope(None, "ns", &labels), AutoScope::NotAdmitted(m) if m.contains("{}")));
        let unscoped = AutoApprove { namespace_selector: None };
        assert!(matches!(auto_approve_scope(Some(&unscoped), "ns", &labels), AutoScope::NotAdmitted(_)));
        let all = AutoApprove { namespace_selector: Some(LabelSelector::default()) };
        assert_eq!(auto_approve_scope(Some(&all), "ns", &none), AutoScope::Admitted);
        let sandbox = AutoApprove {
            namespace_selector: Some(LabelSelector { match_labels: Some(labels.clone()), ..Default::default() }),
        };
        assert_eq!(auto_approve_scope(Some(&sandbox), "ns", &labels), AutoScope::Admitted);
        assert!(
            matches!(auto_approve_scope(Some(&sandbox), "ns", &none), AutoScope::NotAdmitted(m) if m.contains("ns"))
        );
        let expr = |op: &str, values: Option<Vec<&str>>| LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: op.into(),
                values: values.map(|v| v.into_iter().map(String::from).collect()),
            }]),
            ..Default::default()
        };
        assert!(selector_matches(&expr("In", Some(vec!["sandbox", "dev"])), &labels));
        assert!(!selector_matches(&expr("In", Some(vec![])), &labels), "In without values matches nothing");
        assert!(!selector_matches(&expr("NotIn", Some(vec!["sandbox"])), &labels));
        assert!(selector_matches(&expr("NotIn", Some(vec!["prod"])), &none));
        assert!(selector_matches(&expr("Exists", None), &labels));
        assert!(selector_matches(&expr("DoesNotExist", None), &none));
        assert!(!selector_matches(&expr("Bogus", None), &labels));
    }

    #[test]
    fn denials_are_remembered_per_policy_and_fingerprint() {
        use crate::api::{Condition, DENIED, PolicyRequestStatus};
        let denied = PolicyRequestStatus {
            name: "p".into(),
            request_hash: Some("h1".into()),
            decided_request_hash: Some("h1".into()),
            conditions: vec![Condition {
                type_: DENIED.into(),
                status: "True".into(),
                reason: "Approver".into(),
                message: "no".into(),
                last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::UNIX_EPOCH),
                observed_generation: None,
            }],
            api_keys: vec![],
        };
        let remembered = remembered_denials(&[], std::slice::from_ref(&denied));
        assert_eq!(remembered.len(), 1);
        // The request left the spec (no entries): the memory stays.
        let kept = remembered_denials(&remembered, &[]);
        assert_eq!(kept, remembered);
        assert!(remembered_denial(&kept, "p", "h1").is_some());
        assert!(remembered_denial(&kept, "p", "h2").is_none(), "a different request is a new request");
        // Not duplicated; a Denied without the fingerprint is no decision.
        assert_eq!(remembered_denials(&kept, std::slice::from_ref(&denied)).len(), 1);
        let unbound = PolicyRequestStatus { decided_request_hash: None, ..denied };
        assert!(remembered_denials(&[], &[unbound]).is_empty());
    }

    #[test]
    fn licences_need_an_active_approved_misp_partner() {
        let ok = LicensePartner { deleting: false, active: true, is_misp: true, requested: true, approved: true };
        assert_eq!(license_allowed("m", "p", Some(&ok)), Ok(()));
        let reason = |p: Option<&LicensePartner>| license_allowed("m", "p", p).unwrap_err().reason();
        assert_eq!(reason(None), "PartnerNotFound");
        assert_eq!(reason(Some(&LicensePartner { deleting: true, ..ok.clone() })), "PartnerInactive");
        assert_eq!(reason(Some(&LicensePartner { active: false, ..ok.clone() })), "PartnerInactive");
        assert_eq!(reason(Some(&LicensePartner { is_misp: false, ..ok.clone() })), "NotMispPartner");
        assert_eq!(reason(Some(&LicensePartner { requested: false, ..ok.clone() })), "NotApproved");
        let err = license_allowed("m", "p", Some(&LicensePartner { approved: false, ..ok })).unwrap_err();
        assert!(err.to_string().contains("approve m --policy p"), "{err}");
    }

    #[test]
    fn a_decision_without_its_fingerprint_is_no_decision() {
        use crate::api::{APPROVED, Condition, PolicyRequestStatus};
        let cond = |reason: &str| Condition {
            type_: APPROVED.into(),
            status: "True".into(),
            reason: reason.into(),
            message: String::new(),
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::UNIX_EPOCH),
            observed_generation: None,
        };
        let entry = PolicyRequestStatus {
            name: "p".into(),
            request_hash: Some("h1".into()),
            decided_request_hash: None,
            conditions: vec![cond("Alice")],
            api_keys: vec![],
        };
        let hint = unbound_decision_hint(&entry).expect("no decision");
        assert!(hint.contains("decidedRequestHash") && hint.contains("h1"), "{hint}");
        let bound = PolicyRequestStatus { decided_request_hash: Some("h1".into()), ..entry.clone() };
        assert_eq!(unbound_decision_hint(&bound), None);
        let auto = PolicyRequestStatus { conditions: vec![cond("AutoApproved")], ..entry };
        assert_eq!(unbound_decision_hint(&auto), None, "the operator's own approval is not an approver's");
    }

    #[test]
    fn partner_type_rules_for_keys_and_policy_users() {
        use crate::api::{PartnerType, PolicyType};
        assert!(!may_hold_api_keys(PartnerType::MispPartner));
        assert!(may_hold_api_keys(PartnerType::AuthPartner));
        assert!(!may_hold_api_keys(PartnerType::DeviceProvider));
        assert!(!counts_as_policy_user(PartnerType::DeviceProvider, PolicyType::Auth));
        assert!(counts_as_policy_user(PartnerType::AuthPartner, PolicyType::Auth));
        assert!(counts_as_policy_user(PartnerType::MispPartner, PolicyType::Misp));
        assert!(!counts_as_policy_user(PartnerType::MispPartner, PolicyType::Auth));
    }
}
