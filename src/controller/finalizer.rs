//! Adding and removing one finalizer of an object: JSON patches guarded with `test`, so another
//! writer's finalizers are never clobbered and a stale copy of the object changes nothing.
//! Used for `pms.mosip.io/policy-in-use` (PartnerPolicy) and `pms.mosip.io/deactivate`
//! (Partner and MispLicense in `mosip` mode).

use super::error::Result;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// Whether `obj` carries `finalizer`.
pub fn has<K: Resource>(obj: &K, finalizer: &str) -> bool {
    obj.finalizers().iter().any(|f| f == finalizer)
}

/// Adds `finalizer` unless present. Guarded by the resourceVersion: a concurrent change makes
/// the patch fail (ignored), and the next event brings the fresh object.
pub async fn add<K>(api: &Api<K>, obj: &K, finalizer: &str) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    if has(obj, finalizer) {
        return Ok(());
    }
    let patch = if obj.finalizers().is_empty() {
        serde_json::json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": obj.resource_version()},
            {"op": "add", "path": "/metadata/finalizers", "value": [finalizer]}
        ])
    } else {
        serde_json::json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": obj.resource_version()},
            {"op": "add", "path": "/metadata/finalizers/-", "value": finalizer}
        ])
    };
    patch_json(api, obj, patch).await
}

/// Removes `finalizer` if present, guarded by its position holding exactly that name.
pub async fn remove<K>(api: &Api<K>, obj: &K, finalizer: &str) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let Some(index) = obj.finalizers().iter().position(|f| f == finalizer) else {
        return Ok(());
    };
    let patch = serde_json::json!([
        {"op": "test", "path": format!("/metadata/finalizers/{index}"), "value": finalizer},
        {"op": "remove", "path": format!("/metadata/finalizers/{index}")}
    ]);
    patch_json(api, obj, patch).await
}

async fn patch_json<K>(api: &Api<K>, obj: &K, patch: serde_json::Value) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let patch: json_patch::Patch = serde_json::from_value(patch)?;
    match api.patch(&obj.name_any(), &PatchParams::default(), &Patch::<()>::Json(patch)).await {
        Ok(_) => Ok(()),
        // Changed or gone meanwhile: the next event brings the fresh object.
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 || e.code == 422 => Ok(()),
        Err(e) => Err(e.into()),
    }
}
