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

fn labels(partner: &Partner, policy: &str) -> BTreeMap<String, String> {
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

/// The result of applying one key plan.
#[derive(Debug, Default)]
pub struct KeyResult {
    pub status: Option<ApiKeyStatus>,
    pub next_check: Option<jiff::Timestamp>,
    pub conflict: bool,
    /// A write race was lost: look again shortly.
    pub lost: bool,
    pub event: Option<Note>,
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
) -> Result<KeyResult> {
    let KeyTarget { policy, label, secret_name } = target;
    let Some(owner) = secrets::owner_reference(partner) else { return Ok(KeyResult::lost()) };
    // What the operator recorded about the key it issued (status, which editors cannot write):
    // kept while the key is kept, replaced when a key is minted (#10 finding 7).
    let recorded = partner
        .status
        .as_ref()
        .and_then(|s| s.policies.iter().find(|p| &p.name == policy))
        .and_then(|p| p.api_keys.iter().find(|k| &k.label == label));
    let record = (recorded.and_then(|k| k.key_fingerprint.clone()), recorded.and_then(|k| k.valid_from.clone()));
    let issued_with =
        |valid_until: jiff::Timestamp, (key_fingerprint, valid_from): (Option<String>, Option<String>)| ApiKeyStatus {
            label: label.clone(),
            secret_name: Some(secret_name.clone()),
            valid_until: Some(valid_until.to_string()),
            valid_from,
            key_fingerprint,
        };
    let issued = |valid_until: jiff::Timestamp| issued_with(valid_until, record.clone());
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
                    event: Some(Note::warning(
                        "ApiKeyWithdrawn",
                        format!("API key withdrawn from Secret {secret_name}: {why_withdrawn}"),
                        "WithdrawApiKey",
                    )),
                    ..Default::default()
                }),
            }
        }
        KeyPlan::Keep { valid_until, drop_previous: false, next_check, .. } => {
            Ok(KeyResult { status: Some(issued(valid_until)), next_check: Some(next_check), ..Default::default() })
        }
        KeyPlan::Keep { valid_until, drop_previous: true, next_check, .. } => {
            // The rotated-out key's grace period is over: rewrite without it.
            let Some(content) = slot.content(ctx).await? else { return Ok(KeyResult::lost()) };
            let Some(key) = secrets::read_text(&content, API_KEY) else { return Ok(KeyResult::lost()) };
            let mut data = common();
            data.insert(API_KEY.into(), secrets::text(key));
            data.insert(VALID_UNTIL.into(), secrets::text(valid_until.to_string()));
            let annotations = content
                .annotations()
                .get(ROTATED_FOR_ANNOTATION)
                .map(|v| BTreeMap::from([(ROTATED_FOR_ANNOTATION.to_string(), v.clone())]))
                .unwrap_or_default();
            match slot.write(ctx, &base(data, annotations)).await? {
                WriteOutcome::Lost => Ok(KeyResult::lost()),
                _ => Ok(KeyResult {
                    status: Some(issued(valid_until)),
                    next_check: Some(next_check),
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
                        ..Default::default()
                    })
                }
            }
        }
    }
}
