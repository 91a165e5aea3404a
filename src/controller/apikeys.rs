//! API-key Secrets: one per (partner, policy, label), minted exactly once, rotated into the
//! same Secret before expiry, withdrawn while the partner or its request is not approved.
//!
//! When to do what is [`crate::mosip::plan_api_key`]'s decision; this module gathers its inputs
//! (what is recorded about the key) and applies its plan through the shared owned-Secret
//! lifecycle ([`super::secrets::Slot`]). The Secret is first written with `create`, so concurrent
//! reconciles or two replicas can never both mint a key for the same label.

use super::backend::KeyRequest;
use super::error::Result;
use super::events::Note;
use super::secrets::{self, DesiredSecret, Slot, WriteOutcome};
use super::{Context, PARTNER_LABEL, POLICY_LABEL, ROTATED_FOR_ANNOTATION, SECRET_KIND_LABEL};
use crate::api::{ApiKeyStatus, Partner};
use crate::mosip::{
    self,
    renewal::{KeyFacts, KeyPlan, Mint},
    tenancy::{self, FoundSecret, IssuedRecord, SecretTrust},
};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use std::collections::BTreeMap;

/// Secret kind label value for API keys.
pub const KIND: &str = "api-key";

/// Data keys of an API-key Secret.
pub const API_KEY: &str = "apiKey";
pub const PREVIOUS_API_KEY: &str = "previousApiKey";
pub const PREVIOUS_VALID_UNTIL: &str = "previousApiKeyValidUntil";
pub const VALID_UNTIL: &str = "validUntil";
/// Annotation on an API-key Secret: until when the rotated-out key stays (no value, no key).
pub const PREVIOUS_UNTIL_ANNOTATION: &str = "pms.mosip.io/previous-valid-until";

/// One wanted key.
#[derive(Debug, Clone)]
pub struct KeyTarget {
    pub policy: String,
    pub label: String,
    pub secret_name: String,
}

/// The labels of a key Secret.
pub fn labels(partner: &Partner, policy: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (PARTNER_LABEL.to_string(), mosip::label_value(&partner.name_any())),
        (POLICY_LABEL.to_string(), mosip::label_value(policy)),
        (SECRET_KIND_LABEL.to_string(), KIND.to_string()),
    ])
}

/// What is known about a key from the Secret's own content.
pub fn facts_from_secret(s: &Secret) -> KeyFacts {
    let has_key = secrets::read_text(s, API_KEY).is_some();
    let previous_present = secrets::read_text(s, PREVIOUS_API_KEY).is_some();
    KeyFacts {
        valid_until: if has_key { secrets::read_text(s, VALID_UNTIL) } else { None },
        previous_present,
        previous_until: if previous_present { secrets::read_text(s, PREVIOUS_VALID_UNTIL) } else { None },
        rotated_for: s.annotations().get(ROTATED_FOR_ANNOTATION).cloned(),
    }
}

/// What is known about the key in `slot` without reading the API server: the content the
/// operator wrote at the current resourceVersion, else its status record plus the Secret's
/// annotations, else content it read. None when the Secret exists but nothing is known.
pub fn known_facts(ctx: &Context, slot: &Slot, recorded: Option<&ApiKeyStatus>) -> Option<KeyFacts> {
    // What the operator wrote itself is newer than a status that may lag behind it.
    if let Some(content) = slot.own_write(ctx) {
        return Some(facts_from_secret(&content));
    }
    // Otherwise its status record, never values an editor may have changed in the Secret.
    let Some(recorded) = recorded else {
        return slot.known_content(ctx).map(|c| facts_from_secret(&c));
    };
    let previous_until = slot.observed.annotation(PREVIOUS_UNTIL_ANNOTATION).map(String::from);
    Some(KeyFacts {
        valid_until: recorded.secret_name.as_ref().and(recorded.valid_until.clone()),
        previous_present: previous_until.is_some(),
        previous_until,
        rotated_for: slot.observed.annotation(ROTATED_FOR_ANNOTATION).map(String::from),
    })
}

/// What gathering learnt about one key Secret (#10 finding 7).
#[derive(Debug, Default)]
pub struct Checked {
    /// What the plan takes; None when the Secret exists but nothing is known (it went away).
    pub facts: Option<KeyFacts>,
    /// The record of the key the Secret holds, when believed: fingerprint and issue time.
    pub issued: Option<(Option<String>, Option<String>)>,
    /// The resourceVersion at which the operator wrote or verified the Secret.
    pub verified: Option<String>,
    /// How the Secret compared with the record, when it was read because it changed.
    pub trust: Option<SecretTrust>,
    /// Rewrite the Secret around the believed key when the plan keeps it: restored data, or
    /// labels and annotations someone else changed.
    pub restamp: bool,
}

impl Checked {
    /// What was found wrong, for the Warning Event and the condition message.
    pub fn finding(&self, secret: &str) -> Option<String> {
        self.trust.and_then(|t| t.finding(secret, API_KEY))
    }
}

/// What is known about the key Secret in `slot`, and whether it is believed: the operator's own
/// write; else, while the Secret is at the resourceVersion status records, the status record
/// (no read); else the Secret's content, read and compared with the record
/// ([`tenancy::secret_trust`]): a key or validity that is not the one issued is never believed.
pub async fn check(
    ctx: &Context,
    slot: &Slot,
    recorded: Option<&ApiKeyStatus>,
    labels: &BTreeMap<String, String>,
) -> Result<Checked> {
    let record_fp = recorded.and_then(|k| k.key_fingerprint.clone());
    let record_from = recorded.and_then(|k| k.valid_from.clone());
    if slot.observed.meta().is_none() {
        let issued = Some((record_fp, record_from));
        return Ok(Checked { facts: known_facts(ctx, slot, recorded), issued, ..Default::default() });
    }
    if ctx.pms.is_some() {
        // mosip mode: PMS holds the keys; the Secret is compared with PMS there.
        let mut facts = known_facts(ctx, slot, recorded);
        if facts.is_none() {
            facts = slot.content(ctx).await?.map(|s| facts_from_secret(&s));
        }
        return Ok(Checked { facts, issued: Some((record_fp, record_from)), ..Default::default() });
    }
    if let Some(own) = slot.own_write(ctx) {
        // Written by this process at what the store shows (status may lag behind).
        let fp = secrets::read_text(&own, API_KEY).map(|k| mosip::key_fingerprint(&k));
        let from = if fp.is_some() && fp == record_fp {
            record_from
        } else {
            slot.sealed_at(ctx, &own).map(|t| t.to_string())
        };
        return Ok(Checked {
            facts: Some(facts_from_secret(&own)),
            issued: fp.is_some().then_some((fp, from)),
            verified: own.metadata.resource_version.clone(),
            ..Default::default()
        });
    }
    let recorded_rv = recorded.and_then(|k| k.secret_resource_version.clone());
    if tenancy::unchanged_since_recorded(recorded_rv.as_deref(), slot.seen_version()) {
        // As the operator wrote or verified it: believed without reading it.
        return Ok(Checked {
            facts: known_facts(ctx, slot, recorded),
            issued: record_fp.is_some().then_some((record_fp, record_from)),
            verified: recorded_rv,
            ..Default::default()
        });
    }
    // Changed since (or never recorded): read it and compare.
    let Some(content) = slot.content(ctx).await? else { return Ok(Checked::default()) };
    let parse = |v: Option<&String>| v.and_then(|v| v.parse::<jiff::Timestamp>().ok());
    let record = recorded.and_then(|k| {
        Some(IssuedRecord {
            fingerprint: k.key_fingerprint.clone()?,
            valid_from: parse(k.valid_from.as_ref()),
            valid_until: parse(k.valid_until.as_ref())?,
        })
    });
    let fp = secrets::read_text(&content, API_KEY).map(|k| mosip::key_fingerprint(&k));
    let until = secrets::read_text(&content, VALID_UNTIL);
    let sealed_at = slot.sealed_at(ctx, &content);
    let trust = tenancy::secret_trust(
        record.as_ref(),
        &FoundSecret { fingerprint: fp.as_deref(), valid_from: None, valid_until: until.as_deref(), sealed_at },
    );
    let mut facts = facts_from_secret(&content);
    let verified = content.metadata.resource_version.clone();
    let checked = match trust {
        SecretTrust::Matches => Checked {
            issued: Some((record_fp, record_from)),
            verified,
            restamp: !stamped(&content, labels),
            ..Default::default()
        },
        SecretTrust::Restore { .. } => {
            // The key and its validity are the record's; the rest is rebuilt, and a rotated-out
            // key nothing vouches for is dropped.
            facts.previous_present = false;
            facts.previous_until = None;
            facts.valid_until = recorded.and_then(|k| k.valid_until.clone());
            Checked { issued: Some((record_fp, record_from)), restamp: true, ..Default::default() }
        }
        SecretTrust::Adopt => {
            tracing::info!(secret = %slot.name, "adopting the operator's own sealed write that status did not record");
            Checked {
                issued: Some((fp, sealed_at.map(|t| t.to_string()))),
                verified,
                restamp: !stamped(&content, labels),
                ..Default::default()
            }
        }
        SecretTrust::NoKey => Checked { verified, ..Default::default() },
        SecretTrust::Tampered { .. } | SecretTrust::Unrecorded => {
            // Not believed: no key as far as the plan is concerned (a new one is issued, or the
            // Secret is rewritten without one).
            facts = KeyFacts { rotated_for: facts.rotated_for, ..Default::default() };
            Checked::default()
        }
    };
    Ok(Checked { facts: Some(facts), trust: Some(trust), ..checked })
}

/// Whether a key Secret carries the operator's labels and annotations for its data: the labels,
/// the content hash, the seal, and the rotated-out key's end as the data says.
fn stamped(secret: &Secret, labels: &BTreeMap<String, String>) -> bool {
    let mut labels = labels.clone();
    labels.insert(super::MANAGED_BY_LABEL.into(), super::MANAGED_BY.into());
    let have = secret.labels();
    let annotations = secret.annotations();
    let data = secret.data.clone().unwrap_or_default();
    labels.iter().all(|(k, v)| have.get(k) == Some(v))
        && annotations.get(super::CONTENT_HASH_ANNOTATION) == Some(&secrets::content_hash(&data, &labels))
        && annotations.contains_key(secrets::SEAL_ANNOTATION)
        && annotations.get(PREVIOUS_UNTIL_ANNOTATION) == secrets::read_text(secret, PREVIOUS_VALID_UNTIL).as_ref()
}

/// The result of applying one key plan.
#[derive(Debug, Default)]
pub struct KeyResult {
    pub status: Option<ApiKeyStatus>,
    pub next_check: Option<jiff::Timestamp>,
    pub conflict: bool,
    /// A write race was lost: look again shortly.
    pub lost: bool,
    pub event: Option<Note>,
    /// The Secret was written.
    pub written: bool,
}

impl KeyResult {
    fn lost() -> Self {
        Self { lost: true, ..Default::default() }
    }
}

/// Applies `plan` to the key Secret in `slot`.
#[allow(clippy::too_many_arguments)]
pub async fn apply(
    ctx: &Context,
    partner: &Partner,
    partner_id: &str,
    target: &KeyTarget,
    slot: &Slot,
    plan: KeyPlan,
    rotate_token: Option<&str>,
    why_withdrawn: &str,
    restamp: bool,
) -> Result<KeyResult> {
    let KeyTarget { policy, label, secret_name } = target;
    let Some(owner) = secrets::owner_reference(partner) else { return Ok(KeyResult::lost()) };
    // What the operator records about a minted key (#10 finding 7); a kept key's record is
    // the plan's.
    let issued_with =
        |valid_until: jiff::Timestamp, (key_fingerprint, valid_from): (Option<String>, Option<String>)| ApiKeyStatus {
            label: label.clone(),
            secret_name: Some(secret_name.clone()),
            valid_until: Some(valid_until.to_string()),
            valid_from,
            key_fingerprint,
            secret_resource_version: None,
        };
    let base = |data: BTreeMap<String, k8s_openapi::ByteString>, annotations: BTreeMap<String, String>| DesiredSecret {
        name: secret_name.clone(),
        namespace: slot.namespace.clone(),
        owner: owner.clone(),
        labels: labels(partner, policy),
        annotations,
        data,
    };
    let common = || {
        BTreeMap::from([
            ("partnerId".to_string(), secrets::text(partner_id)),
            ("policy".to_string(), secrets::text(policy.clone())),
            ("label".to_string(), secrets::text(label.clone())),
        ])
    };
    match plan {
        KeyPlan::Conflict => Ok(KeyResult { conflict: true, ..Default::default() }),
        KeyPlan::Absent => Ok(KeyResult::default()),
        // Gathering reads the Secret back before planning; reaching here means it changed.
        KeyPlan::ReadBack => Ok(KeyResult::lost()),
        KeyPlan::Withdraw => {
            let mut data = common();
            data.insert("suspended".into(), secrets::text(why_withdrawn));
            let annotations = slot
                .observed
                .annotation(ROTATED_FOR_ANNOTATION)
                .map(|v| BTreeMap::from([(ROTATED_FOR_ANNOTATION.to_string(), v.to_string())]))
                .unwrap_or_default();
            match slot.write(ctx, &base(data, annotations)).await? {
                WriteOutcome::Lost => Ok(KeyResult::lost()),
                WriteOutcome::Unchanged => Ok(KeyResult::default()),
                WriteOutcome::Written => Ok(KeyResult {
                    written: true,
                    event: Some(Note::warning(
                        "ApiKeyWithdrawn",
                        format!("API key withdrawn from Secret {secret_name}: {why_withdrawn}"),
                        "WithdrawApiKey",
                    )),
                    ..Default::default()
                }),
            }
        }
        KeyPlan::Keep { drop_previous: false, next_check, .. } if !restamp => {
            Ok(KeyResult { next_check: Some(next_check), ..Default::default() })
        }
        KeyPlan::Keep { valid_until, previous_until, drop_previous, next_check } => {
            // The rotated-out key's grace period is over, or the Secret is restored around the
            // believed key (#10 finding 7): rewrite it.
            let Some(content) = slot.content(ctx).await? else { return Ok(KeyResult::lost()) };
            let Some(key) = secrets::read_text(&content, API_KEY) else { return Ok(KeyResult::lost()) };
            let mut data = common();
            data.insert(API_KEY.into(), secrets::text(key));
            data.insert(VALID_UNTIL.into(), secrets::text(valid_until.to_string()));
            let mut annotations = content
                .annotations()
                .get(ROTATED_FOR_ANNOTATION)
                .map(|v| BTreeMap::from([(ROTATED_FOR_ANNOTATION.to_string(), v.clone())]))
                .unwrap_or_default();
            if !drop_previous
                && let Some(until) = previous_until
                && let Some(old) = secrets::read_text(&content, PREVIOUS_API_KEY)
            {
                data.insert(PREVIOUS_API_KEY.into(), secrets::text(old));
                data.insert(PREVIOUS_VALID_UNTIL.into(), secrets::text(until.to_string()));
                annotations.insert(PREVIOUS_UNTIL_ANNOTATION.to_string(), until.to_string());
            }
            match slot.write(ctx, &base(data, annotations)).await? {
                WriteOutcome::Lost => Ok(KeyResult::lost()),
                outcome => Ok(KeyResult {
                    next_check: Some(next_check),
                    written: outcome == WriteOutcome::Written,
                    ..Default::default()
                }),
            }
        }
        KeyPlan::Mint { why, valid_until, previous_until, next_check } => {
            // A rotation keeps the old key readable for the grace period.
            let previous = match (why, previous_until) {
                (Mint::Rotate, Some(until)) => match slot.content(ctx).await? {
                    Some(content) => secrets::read_text(&content, API_KEY).map(|k| (k, until)),
                    None => return Ok(KeyResult::lost()),
                },
                _ => None,
            };
            let request = KeyRequest::ApiKey {
                namespace: slot.namespace.clone(),
                partner_id: partner_id.to_string(),
                policy: policy.clone(),
                label: label.clone(),
            };
            let key = ctx.keys.mint(&request).await?;
            let minted = (Some(crate::mosip::key_fingerprint(&key)), Some(super::now().to_string()));
            let mut data = common();
            data.insert(API_KEY.into(), secrets::text(key));
            data.insert(VALID_UNTIL.into(), secrets::text(valid_until.to_string()));
            let mut annotations = BTreeMap::new();
            if let Some(token) = rotate_token {
                annotations.insert(ROTATED_FOR_ANNOTATION.to_string(), token.to_string());
            }
            if let Some((old, until)) = previous {
                data.insert(PREVIOUS_API_KEY.into(), secrets::text(old));
                data.insert(PREVIOUS_VALID_UNTIL.into(), secrets::text(until.to_string()));
                annotations.insert(PREVIOUS_UNTIL_ANNOTATION.to_string(), until.to_string());
            }
            match slot.write(ctx, &base(data, annotations)).await? {
                WriteOutcome::Lost => Ok(KeyResult::lost()),
                _ => {
                    let (reason, verb) = match why {
                        Mint::Issue => ("ApiKeyIssued", "issued"),
                        Mint::Rotate => ("ApiKeyRotated", "rotated"),
                    };
                    let note = format!(
                        "API key {verb} for policy {policy:?}, label {label:?}, into Secret {secret_name}; valid until {valid_until}"
                    );
                    Ok(KeyResult {
                        status: Some(issued_with(valid_until, minted)),
                        next_check: Some(next_check),
                        event: Some(Note::normal(reason, note, "IssueApiKey")),
                        written: true,
                        ..Default::default()
                    })
                }
            }
        }
    }
}
