//! API-key Secrets: one per (partner, policy, label), generated exactly once, rotated into the
//! same Secret before expiry, withdrawn while the partner or its request is not approved.
//!
//! The Secret is the only record of a key. It is first written with `create`, so concurrent
//! reconciles or two replicas can never both mint a key for the same label; every later write
//! is a `replace` at the resourceVersion that was read.

use super::error::{Error, Result};
use super::secrets::{self, DesiredSecret, Existing, WriteOutcome};
use super::{
    Context, MANAGED_BY, MANAGED_BY_LABEL, PARTNER_LABEL, POLICY_LABEL, ROTATED_FOR_ANNOTATION, SECRET_KIND_LABEL,
};
use crate::api::Partner;
use crate::mosip;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::events::EventType;
use std::collections::BTreeMap;

/// Secret kind label value for API keys.
pub const KIND: &str = "api-key";

/// Data keys of an API-key Secret.
pub const API_KEY: &str = "apiKey";
pub const PREVIOUS_API_KEY: &str = "previousApiKey";
pub const PREVIOUS_VALID_UNTIL: &str = "previousApiKeyValidUntil";
pub const VALID_UNTIL: &str = "validUntil";

/// What happened to one key.
#[derive(Debug)]
pub enum KeyOutcome {
    /// A key is in the Secret.
    Issued { valid_until: jiff::Timestamp, next_check: jiff::Timestamp },
    /// The key was withdrawn (or there was none to withdraw).
    Suspended,
    /// No Secret exists and none is wanted now.
    Absent,
    /// A same-named Secret belongs to someone else.
    Conflict,
    /// Lost a write race; look again shortly.
    Retry,
}

fn labels(partner: &Partner, policy: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (PARTNER_LABEL.to_string(), mosip::label_value(&partner.name_any())),
        (POLICY_LABEL.to_string(), mosip::label_value(policy)),
        (SECRET_KIND_LABEL.to_string(), KIND.to_string()),
    ])
}

fn parse_time(secret: &Secret, key: &str) -> Option<jiff::Timestamp> {
    secrets::read_text(secret, key).and_then(|s| s.parse().ok())
}

/// Ensures the key Secret holds a usable key, creating or rotating it when due.
#[allow(clippy::too_many_arguments)]
pub async fn ensure(
    ctx: &Context,
    partner: &Partner,
    partner_id: &str,
    policy: &str,
    label: &str,
    secret_name: &str,
    rotate_token: Option<&str>,
    now: jiff::Timestamp,
) -> Result<KeyOutcome> {
    let namespace = partner.namespace().ok_or(Error::MissingObjectKey("namespace"))?;
    let uid = partner.uid().ok_or(Error::MissingObjectKey("uid"))?;
    let owner = secrets::owner_reference(partner).ok_or(Error::MissingObjectKey("ownerReference"))?;
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let cfg = &ctx.config;
    let new_key = || mosip::generate_api_key().map_err(|e| Error::KeyGeneration(e.to_string()));

    let existing = secrets::get(&api, secret_name, &uid).await?;
    let (current, previous, valid_until, rotated_for, existing_secret) = match existing {
        Existing::Foreign => return Ok(KeyOutcome::Conflict),
        Existing::Missing => (None, None, None, None, None),
        Existing::Owned(s) => (
            secrets::read_text(&s, API_KEY),
            secrets::read_text(&s, PREVIOUS_API_KEY).zip(parse_time(&s, PREVIOUS_VALID_UNTIL)),
            parse_time(&s, VALID_UNTIL),
            s.annotations().get(ROTATED_FOR_ANNOTATION).cloned(),
            Some(s),
        ),
    };

    // A rotation request only counts for a key that already exists.
    let rotation_requested =
        existing_secret.is_some() && rotate_token.is_some() && rotate_token.map(String::from) != rotated_for;
    let due = |until: jiff::Timestamp| cfg.api_key_rotation && until - cfg.api_key_renew_before <= now;
    let (key, valid_until, previous, change) = match (current, valid_until) {
        // Keep the key unless it is due or a rotation was asked for.
        (Some(key), Some(until)) if !due(until) && !rotation_requested => {
            (key, until, previous.filter(|(_, t)| *t > now), None)
        }
        // Rotate: the old key stays readable for the grace period.
        (Some(old), Some(_)) if cfg.api_key_rotation || rotation_requested => (
            new_key()?,
            now + cfg.api_key_validity,
            Some((old, now + cfg.api_key_grace)),
            Some(("ApiKeyRotated", "rotated")),
        ),
        // Expired with rotation off: keep it (MOSIP rejects it) until a rotation is requested.
        (Some(key), Some(until)) => (key, until, None, None),
        // New, re-activated or unreadable: a fresh key.
        _ => (new_key()?, now + cfg.api_key_validity, None, Some(("ApiKeyIssued", "issued"))),
    };

    let mut data = BTreeMap::from([
        (API_KEY.to_string(), secrets::text(key)),
        ("partnerId".to_string(), secrets::text(partner_id)),
        ("policy".to_string(), secrets::text(policy)),
        ("label".to_string(), secrets::text(label)),
        (VALID_UNTIL.to_string(), secrets::text(valid_until.to_string())),
    ]);
    if let Some((old, until)) = &previous {
        data.insert(PREVIOUS_API_KEY.into(), secrets::text(old.clone()));
        data.insert(PREVIOUS_VALID_UNTIL.into(), secrets::text(until.to_string()));
    }
    let mut annotations = BTreeMap::new();
    if let Some(token) = rotate_token {
        annotations.insert(ROTATED_FOR_ANNOTATION.to_string(), token.to_string());
    }
    let desired = DesiredSecret {
        name: secret_name.to_string(),
        namespace,
        owner,
        labels: labels(partner, policy),
        annotations,
        data,
    };
    let outcome = match &existing_secret {
        None => secrets::create(&api, &desired).await?,
        Some(s) => secrets::replace(&api, s, &desired).await?,
    };
    if outcome == WriteOutcome::Lost {
        return Ok(KeyOutcome::Retry);
    }
    if let Some((reason, verb)) = change {
        let note = format!(
            "API key {verb} for policy {policy:?}, label {label:?}, into Secret {secret_name}; valid until {valid_until}"
        );
        super::events::publish(ctx, partner, EventType::Normal, reason, &note, "IssueApiKey").await;
    }
    let mut next = if cfg.api_key_rotation { valid_until - cfg.api_key_renew_before } else { valid_until };
    if let Some((_, until)) = &previous {
        next = next.min(*until);
    }
    Ok(KeyOutcome::Issued { valid_until, next_check: next.max(now + jiff::SignedDuration::from_secs(1)) })
}

/// Withdraws the key from an owned Secret (the Secret and its non-secret fields stay, so
/// consumers see why). Re-activation later issues a new key.
pub async fn suspend(ctx: &Context, partner: &Partner, secret_name: &str, why: &str) -> Result<KeyOutcome> {
    let namespace = partner.namespace().ok_or(Error::MissingObjectKey("namespace"))?;
    let uid = partner.uid().ok_or(Error::MissingObjectKey("uid"))?;
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let Existing::Owned(existing) = secrets::get(&api, secret_name, &uid).await? else {
        return Ok(KeyOutcome::Absent);
    };
    let Some(owner) = secrets::owner_reference(partner) else {
        return Err(Error::MissingObjectKey("ownerReference"));
    };
    let mut data = existing.data.clone().unwrap_or_default();
    data.remove(API_KEY);
    data.remove(PREVIOUS_API_KEY);
    data.remove(PREVIOUS_VALID_UNTIL);
    data.remove(VALID_UNTIL);
    data.insert("suspended".into(), secrets::text(why));
    let policy = secrets::read_text(&existing, "policy").unwrap_or_default();
    let desired = DesiredSecret {
        name: secret_name.to_string(),
        namespace,
        owner,
        labels: labels(partner, &policy),
        annotations: existing
            .annotations()
            .get(ROTATED_FOR_ANNOTATION)
            .map(|v| BTreeMap::from([(ROTATED_FOR_ANNOTATION.to_string(), v.clone())]))
            .unwrap_or_default(),
        data,
    };
    let had_key = existing.data.as_ref().is_some_and(|d| d.contains_key(API_KEY));
    match secrets::replace(&api, &existing, &desired).await? {
        WriteOutcome::Written => {
            if had_key {
                let note = format!("API key withdrawn from Secret {secret_name}: {why}");
                super::events::publish(ctx, partner, EventType::Warning, "ApiKeyWithdrawn", &note, "WithdrawApiKey")
                    .await;
            }
            Ok(KeyOutcome::Suspended)
        }
        WriteOutcome::Lost => Ok(KeyOutcome::Retry),
    }
}

/// Deletes this Partner's API-key Secrets whose label or request left the spec.
pub async fn delete_unwanted(ctx: &Context, partner: &Partner, wanted: &[String]) -> Result<()> {
    let namespace = partner.namespace().ok_or(Error::MissingObjectKey("namespace"))?;
    let uid = partner.uid().ok_or(Error::MissingObjectKey("uid"))?;
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let selector = format!(
        "{MANAGED_BY_LABEL}={MANAGED_BY},{SECRET_KIND_LABEL}={KIND},{PARTNER_LABEL}={}",
        mosip::label_value(&partner.name_any())
    );
    for s in api.list(&ListParams::default().labels(&selector)).await?.items {
        if secrets::is_owned_by(&s, &uid) && !wanted.contains(&s.name_any()) {
            tracing::info!(secret = %s.name_any(), "deleting API-key Secret no longer in the spec");
            secrets::delete(&api, &s).await?;
        }
    }
    Ok(())
}
