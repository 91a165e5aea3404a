//! Deleting Partners and MispLicenses in `mosip` mode: deletion reaches PMS.
//!
//! In `mosip` mode both kinds carry the finalizer [`PMS_FINALIZER`], added on their first
//! `mosip`-mode reconcile, before any PMS call (so no crash can leave something in PMS that a
//! deletion would skip). On deletion the operator does what `status.mosip` recorded as still
//! active in PMS ([`crate::pms::plan::partner_retirement`],
//! [`crate::pms::plan::license_retirement`]): a Partner's API keys and then the partner are set
//! De-Active, a MispLicense's licence is set De-Active; the outcome is recorded in status and an
//! Event, then the finalizer is removed. An object that never reached PMS (nothing recorded) is
//! released at once. While PMS is unreachable the finalizer stays, with `MosipSynced=False`
//! (e.g. `MosipUnavailable`) and per-object back-off.
//!
//! In `standalone` mode no finalizer is added, and one left from `mosip` mode is removed on
//! deletion without contacting PMS (with a log line): a standalone operator has no PMS to ask.

use super::error::{Error, Result};
use super::{Context, PMS_FINALIZER, events, finalizer, secrets, status};
use crate::api::{self, MispLicense, Partner};
use crate::pms::SecretString;
use crate::pms::plan::{license_retirement, partner_retirement};
use crate::pms::sync::{SyncError, retire_license, retire_partner};
use k8s_openapi::NamespaceResourceScope;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// Adds [`PMS_FINALIZER`] (`mosip` mode, before anything is sent to PMS). One write per object,
/// once.
pub async fn hold<K>(ctx: &Context, obj: &K) -> Result<()>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
{
    if finalizer::has(obj, PMS_FINALIZER) || obj.meta().deletion_timestamp.is_some() {
        return Ok(());
    }
    let namespace = obj.namespace().ok_or(Error::MissingObjectKey("namespace"))?;
    finalizer::add(&Api::<K>::namespaced(ctx.client.clone(), &namespace), obj, PMS_FINALIZER).await
}

/// Removes [`PMS_FINALIZER`] without contacting PMS, in `standalone` mode.
async fn release_standalone<K>(api: &Api<K>, obj: &K, kind: &str) -> Result<Action>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    tracing::info!(
        finalizer = PMS_FINALIZER,
        "{kind} set up in mosip mode is deleted while the operator runs in standalone mode: released without \
         contacting PMS (deactivate it in PMS by hand if it exists there)"
    );
    finalizer::remove(api, obj, PMS_FINALIZER).await?;
    Ok(Action::await_change())
}

fn waiting_message(what: &str, e: &SyncError) -> String {
    format!(
        "deletion waits until {what} is deactivated in PMS: {e}; retried with back-off. If PMS is gone for good, an \
         admin removes the finalizer {PMS_FINALIZER} by hand (docs/mosip-backend.md)"
    )
}

/// A Partner with a deletionTimestamp.
pub async fn partner_deleted(ctx: &Context, partner: &Partner) -> Result<Action> {
    if !finalizer::has(partner, PMS_FINALIZER) {
        // Owned Secrets go with the Partner through the garbage collector.
        return Ok(Action::await_change());
    }
    let namespace = partner.namespace().ok_or(Error::MissingObjectKey("namespace"))?;
    let api: Api<Partner> = Api::namespaced(ctx.client.clone(), &namespace);
    let Some(pms) = ctx.pms.as_ref() else { return release_standalone(&api, partner, "Partner").await };
    let previous = partner.status.clone().unwrap_or_default();
    let plan = partner_retirement(previous.mosip.as_ref());
    let Some(recorded) = previous.mosip.as_ref().filter(|_| !plan.is_done()) else {
        // Nothing of it is (still) active in PMS.
        finalizer::remove(&api, partner, PMS_FINALIZER).await?;
        return Ok(Action::await_change());
    };
    // The partnerId the operator recorded, never the spec's (an editor's word).
    let Some(partner_id) = previous.registered_partner_id.clone().or_else(|| recorded.keycloak_user.clone()) else {
        tracing::warn!(
            finalizer = PMS_FINALIZER,
            "no partnerId recorded in status: released without contacting PMS (deactivate it in PMS by hand)"
        );
        finalizer::remove(&api, partner, PMS_FINALIZER).await?;
        return Ok(Action::await_change());
    };
    // The partner's own user deactivates its keys; its password Secret is owned by the
    // Partner and still there unless something deleted it first (e.g. the whole namespace).
    let password = if plan.keys.is_empty() {
        None
    } else {
        let uid = partner.uid().ok_or(Error::MissingObjectKey("uid"))?;
        let name = super::mosip::password_secret_name(&partner.name_any());
        let slot = secrets::Slot::observe(ctx, &namespace, &name, &uid);
        slot.content(ctx)
            .await?
            .and_then(|s| secrets::read_text(&s, super::mosip::PASSWORD_KEY))
            .filter(|p| !p.is_empty())
            .map(SecretString::new)
    };
    let key = super::cache::object_key("Partner", partner);
    let now = super::now();
    let mut desired = super::partner::owned_projection(&previous);
    let (condition, requeue) = match retire_partner(pms, &partner_id, recorded, password.as_ref()).await {
        Ok(done) => {
            ctx.backoff.succeeded(&key);
            let mut message = format!(
                "partner {partner_id} deactivated in PMS before deletion ({} API key(s) deactivated",
                done.keys_deactivated
            );
            if done.keys_skipped > 0 {
                message.push_str(&format!(
                    ", {} not (the partner user's password Secret is gone; IDA refuses the keys of a deactivated \
                     partner)",
                    done.keys_skipped
                ));
            }
            message.push(')');
            desired.mosip = Some(done.status);
            (api::DesiredCondition::new(api::MOSIP_SYNCED, true, "Deactivated", message), None)
        }
        Err(e) => {
            tracing::warn!(reason = %e.reason(), "PMS, deleting partner: {e}");
            let message = waiting_message(&format!("partner {partner_id}"), &e);
            (api::DesiredCondition::new(api::MOSIP_SYNCED, false, &e.reason(), message), Some(ctx.backoff.failed(&key)))
        }
    };
    for c in api::merge_conditions(&previous.conditions, vec![condition], partner.metadata.generation, &now) {
        desired.conditions.retain(|x| x.type_ != c.type_);
        desired.conditions.push(c);
    }
    let unchanged = desired == super::partner::owned_projection(&previous);
    status::apply_status(&api, partner, &desired, unchanged).await?;
    let Some(requeue) = requeue else {
        if let Some(c) = api::find(&desired.conditions, api::MOSIP_SYNCED) {
            events::publish(ctx, partner, EventType::Normal, "DeactivatedInPms", &c.message, "Delete").await;
        }
        finalizer::remove(&api, partner, PMS_FINALIZER).await?;
        return Ok(Action::await_change());
    };
    if let Some(new) = api::find(&desired.conditions, api::MOSIP_SYNCED) {
        events::on_transition(ctx, partner, api::find(&previous.conditions, api::MOSIP_SYNCED), new, "Delete").await;
    }
    Ok(Action::requeue(requeue))
}

/// A MispLicense with a deletionTimestamp.
pub async fn license_deleted(ctx: &Context, license: &MispLicense) -> Result<Action> {
    if !finalizer::has(license, PMS_FINALIZER) {
        return Ok(Action::await_change());
    }
    let namespace = license.namespace().ok_or(Error::MissingObjectKey("namespace"))?;
    let api: Api<MispLicense> = Api::namespaced(ctx.client.clone(), &namespace);
    let Some(pms) = ctx.pms.as_ref() else { return release_standalone(&api, license, "MispLicense").await };
    let previous = license.status.clone().unwrap_or_default();
    let Some(recorded) = previous.mosip.as_ref().filter(|m| license_retirement(Some(m))) else {
        finalizer::remove(&api, license, PMS_FINALIZER).await?;
        return Ok(Action::await_change());
    };
    let uid = license.uid().ok_or(Error::MissingObjectKey("uid"))?;
    let slot = secrets::Slot::observe(ctx, &namespace, &crate::mosip::license_secret_name(&license.name_any()), &uid);
    let key = slot
        .content(ctx)
        .await?
        .and_then(|s| secrets::read_text(&s, super::license::LICENSE_KEY))
        .filter(|k| !k.is_empty())
        .map(SecretString::new);
    let backoff_key = super::cache::object_key("MispLicense", license);
    let now = super::now();
    let mut desired = previous.clone();
    let what = format!("the licence of MISP {}", recorded.provider_id.as_deref().unwrap_or("?"));
    let (condition, requeue) = match retire_license(pms, recorded, key.as_ref()).await {
        Ok(st) => {
            ctx.backoff.succeeded(&backoff_key);
            desired.mosip = Some(st);
            let message = format!("{what} deactivated in PMS before deletion");
            (api::DesiredCondition::new(api::MOSIP_SYNCED, true, "Deactivated", message), None)
        }
        Err(e) => {
            tracing::warn!(reason = %e.reason(), "PMS, deleting licence: {e}");
            let message = waiting_message(&what, &e);
            (
                api::DesiredCondition::new(api::MOSIP_SYNCED, false, &e.reason(), message),
                Some(ctx.backoff.failed(&backoff_key)),
            )
        }
    };
    for c in api::merge_conditions(&previous.conditions, vec![condition], license.metadata.generation, &now) {
        desired.conditions.retain(|x| x.type_ != c.type_);
        desired.conditions.push(c);
    }
    status::apply_status(&api, license, &desired, desired == previous).await?;
    let Some(requeue) = requeue else {
        if let Some(c) = api::find(&desired.conditions, api::MOSIP_SYNCED) {
            events::publish(ctx, license, EventType::Normal, "DeactivatedInPms", &c.message, "Delete").await;
        }
        finalizer::remove(&api, license, PMS_FINALIZER).await?;
        return Ok(Action::await_change());
    };
    if let Some(new) = api::find(&desired.conditions, api::MOSIP_SYNCED) {
        events::on_transition(ctx, license, api::find(&previous.conditions, api::MOSIP_SYNCED), new, "Delete").await;
    }
    Ok(Action::requeue(requeue))
}
