//! Consumer copies (`spec.exports`): a key or licence written under the Secret name and key a
//! MOSIP chart reads, in another namespace. Whether a namespace accepts copies is decided by
//! [`super::plan::export_allowed`] from that namespace's own label (read from the reflector
//! store by the caller); this module only writes.
//!
//! Cross-namespace ownerReferences do not exist, so a copy is marked with the managed-by label,
//! the source object's uid and, when the operator created it, an annotation; only such copies
//! are ever deleted. An existing Secret (e.g. the empty placeholder eSignet's installer makes) is
//! updated in place, one key only.

use crate::api::Export;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;

/// Label on a copy: the uid of the object it copies from.
pub const EXPORT_SOURCE_UID_LABEL: &str = "pms.mosip.io/export-source-uid";
/// Annotation on a copy: `<kind>/<namespace>/<name>` of the object it copies from.
pub const EXPORT_SOURCE_ANNOTATION: &str = "pms.mosip.io/export-source";
/// Annotation on a copy the operator created (and may therefore delete).
pub const EXPORT_CREATED_ANNOTATION: &str = "pms.mosip.io/export-created";

/// What [`write_export`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportWrite {
    Created,
    Updated,
    Unchanged,
}

/// The object a copy comes from.
#[derive(Clone, Debug)]
pub struct ExportSource<'a> {
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
}

/// Writes `value` under `export.key` of Secret `export.secret_name` in `export.namespace`:
/// created when absent, updated in place when different, untouched when equal (no write).
pub async fn write_export(
    client: kube::Client,
    source: &ExportSource<'_>,
    export: &Export,
    value: &[u8],
) -> Result<ExportWrite, kube::Error> {
    let api: Api<Secret> = Api::namespaced(client, &export.namespace);
    for _ in 0..3 {
        match api.get_opt(&export.secret_name).await? {
            None => {
                let secret = Secret {
                    metadata: ObjectMeta {
                        name: Some(export.secret_name.clone()),
                        namespace: Some(export.namespace.clone()),
                        labels: Some(BTreeMap::from([
                            (
                                crate::controller::MANAGED_BY_LABEL.to_string(),
                                crate::controller::MANAGED_BY.to_string(),
                            ),
                            (EXPORT_SOURCE_UID_LABEL.to_string(), source.uid.to_string()),
                        ])),
                        annotations: Some(BTreeMap::from([
                            (
                                EXPORT_SOURCE_ANNOTATION.to_string(),
                                format!("{}/{}/{}", source.kind, source.namespace, source.name),
                            ),
                            (EXPORT_CREATED_ANNOTATION.to_string(), "true".to_string()),
                        ])),
                        ..Default::default()
                    },
                    data: Some(BTreeMap::from([(export.key.clone(), ByteString(value.to_vec()))])),
                    type_: Some("Opaque".into()),
                    ..Default::default()
                };
                match api.create(&PostParams::default(), &secret).await {
                    Ok(_) => return Ok(ExportWrite::Created),
                    Err(kube::Error::Api(e)) if e.code == 409 => continue,
                    Err(e) => return Err(e),
                }
            }
            Some(existing) => {
                let current = existing.data.as_ref().and_then(|d| d.get(&export.key));
                if current.is_some_and(|v| v.0 == value) {
                    return Ok(ExportWrite::Unchanged);
                }
                use base64::Engine;
                // Merge patch of one key, guarded by the resourceVersion that was read.
                let patch = serde_json::json!({
                    "metadata": {
                        "resourceVersion": existing.metadata.resource_version,
                        "annotations": {EXPORT_SOURCE_ANNOTATION: format!("{}/{}/{}", source.kind, source.namespace, source.name)},
                    },
                    "data": {export.key.clone(): base64::engine::general_purpose::STANDARD.encode(value)},
                });
                match api.patch(&export.secret_name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                    Ok(_) => return Ok(ExportWrite::Updated),
                    Err(kube::Error::Api(e)) if e.code == 409 => continue,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Err(kube::Error::Api(
        kube::core::Status::failure("export Secret kept changing under the operator", "Conflict")
            .with_code(409)
            .boxed(),
    ))
}

/// Removes a copy the operator created for `source_uid`; any other Secret is left alone.
/// Returns whether it deleted.
pub async fn remove_export(client: kube::Client, source_uid: &str, export: &Export) -> Result<bool, kube::Error> {
    let api: Api<Secret> = Api::namespaced(client, &export.namespace);
    let Some(s) = api.get_opt(&export.secret_name).await? else { return Ok(false) };
    let ours = s.metadata.labels.as_ref().and_then(|l| l.get(EXPORT_SOURCE_UID_LABEL)).map(String::as_str)
        == Some(source_uid)
        && s.metadata.annotations.as_ref().and_then(|a| a.get(EXPORT_CREATED_ANNOTATION)).map(String::as_str)
            == Some("true");
    if !ours {
        return Ok(false);
    }
    api.delete(&export.secret_name, &DeleteParams::default()).await?;
    Ok(true)
}
