//! The shared status writer: server-side apply of the fields the operator owns, skipped when
//! nothing changed.

use super::FIELD_MANAGER;
use super::error::Result;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// Applies `status` to the status subresource of `obj` unless `unchanged` says it is already
/// there. Returns whether a write happened.
///
/// Server-side apply with a fixed field manager means the operator owns exactly the fields it
/// sends: an approver's conditions (another field manager) survive every write.
pub async fn apply_status<K, S>(api: &Api<K>, obj: &K, status: &S, unchanged: bool) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: Serialize,
{
    if unchanged {
        return Ok(false);
    }
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    match api.patch_status(&obj.name_any(), &params, &Patch::Apply(&patch)).await {
        Ok(_) => {
            tracing::debug!(name = %obj.name_any(), "status written");
            Ok(true)
        }
        // Deleted meanwhile: nothing left to report on.
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
        Err(e) => Err(e.into()),
    }
}
