//! Glue of the `mosip` backend that is not yet per-kind logic.
//!
//! CACertificates and PartnerPolicies are synchronised with PMS in their reconcilers. Partners
//! and MispLicenses are not wired yet (the sync exists in [`crate::pms::sync`], tested against
//! the fake PMS): in `mosip` mode they get `MosipSynced=False` (`MosipNotWired`) and are left
//! alone, so the operator never mints keys or licences of its own that IDA would reject.

use super::Context;
use super::error::Result;
use crate::api;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

const REASON: &str = "MosipNotWired";

/// Marks `obj` as not handled in `mosip` mode (once; later reconciles write nothing).
pub async fn not_wired<K>(ctx: &Context, obj: &K, conditions: &[api::Condition]) -> Result<Action>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    if api::find(conditions, api::MOSIP_SYNCED).is_some_and(|c| c.reason == REASON) {
        return Ok(Action::await_change());
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let now = super::now();
    let desired = api::DesiredCondition::new(
        api::MOSIP_SYNCED,
        false,
        REASON,
        format!(
            "{} objects are not yet synchronised with PMS in this build (--backend mosip); no key or licence is \
             issued locally",
            K::kind(&())
        ),
    );
    let merged = api::merge_conditions(conditions, vec![desired], obj.meta().generation, &now);
    let patch = serde_json::json!({"status": {"conditions": merged}});
    api.patch_status(&obj.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(Action::await_change())
}
