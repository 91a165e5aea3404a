//! Consumer copies (`spec.exports`): a key or licence written under the Secret name and key a
//! MOSIP chart reads, in another namespace. Whether a namespace accepts copies is decided by
//! [`super::plan::export_allowed`] from that namespace's own label (read from the reflector
//! store by the caller), and whether a copy is already current by
//! [`super::plan::copy_is_current`] (from the Secret metadata store and what the operator
//! remembers of its last read or write); this module only writes.
//!
//! Cross-namespace ownerReferences do not exist, so a copy is marked with the managed-by label,
//! the source object's uid and, when the operator created it, an annotation; only such copies
//! are ever deleted. An existing Secret (e.g. the empty placeholder eSignet's installer makes) is
//! updated in place, one key only.

use crate::api::{Export, Tagged};
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

/// What a copy holds after [`write_export_tracked`]: the object and resourceVersion, and the
/// SHA-256 of each data key (never the values), for the operator's memory of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyState {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub fingerprints: BTreeMap<String, String>,
}

impl CopyState {
    fn of(secret: &Secret) -> Self {
        CopyState {
            uid: secret.metadata.uid.clone(),
            resource_version: secret.metadata.resource_version.clone(),
            fingerprints: secret
                .data
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), super::plan::export_fingerprint(&v.0)))
                .collect(),
        }
    }
}

/// Writes `value` under `export.key` of Secret `export.secret_name` in `export.namespace`:
/// created when absent, updated in place when different, untouched when equal (no write).
pub async fn write_export(
    client: kube::Client,
    source: &ExportSource<'_>,
    export: &Export,
    value: &[u8],
) -> Result<ExportWrite, kube::Error> {
    write_export_tracked(client, source, export, value).await.map(|(w, _)| w)
}

/// [`write_export`], also returning what the copy holds afterwards. A copy the operator did
/// not create (e.g. an installer's placeholder) gets the source-uid label on its first update,
/// so that the operator's metadata watch sees it from then on; it is still never deleted.
pub async fn write_export_tracked(
    client: kube::Client,
    source: &ExportSource<'_>,
    export: &Export,
    value: &[u8],
) -> Result<(ExportWrite, CopyState), kube::Error> {
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
                    Ok(s) => return Ok((ExportWrite::Created, CopyState::of(&s))),
                    Err(kube::Error::Api(e)) if e.code == 409 => continue,
                    Err(e) => return Err(e),
                }
            }
            Some(existing) => {
                let current = existing.data.as_ref().and_then(|d| d.get(&export.key));
                let labelled =
                    existing.metadata.labels.as_ref().is_some_and(|l| l.contains_key(EXPORT_SOURCE_UID_LABEL));
                let same = current.is_some_and(|v| v.0 == value);
                if same && labelled {
                    return Ok((ExportWrite::Unchanged, CopyState::of(&existing)));
                }
                use base64::Engine;
                // Merge patch of one key, guarded by the resourceVersion that was read. The
                // source-uid label is set only where none is (a copy another source created
                // keeps its owner).
                let mut patch = serde_json::json!({
                    "metadata": {
                        "resourceVersion": existing.metadata.resource_version,
                        "annotations": {EXPORT_SOURCE_ANNOTATION: format!("{}/{}/{}", source.kind, source.namespace, source.name)},
                    },
                    "data": {export.key.clone(): base64::engine::general_purpose::STANDARD.encode(value)},
                });
                if !labelled {
                    patch["metadata"]["labels"] = serde_json::json!({EXPORT_SOURCE_UID_LABEL: source.uid});
                }
                match api.patch(&export.secret_name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                    Ok(s) => {
                        let outcome = if same { ExportWrite::Unchanged } else { ExportWrite::Updated };
                        return Ok((outcome, CopyState::of(&s)));
                    }
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
    if !created_copy_of(&s.metadata, source_uid) {
        return Ok(false);
    }
    // Only the object that was read: a Secret re-created meanwhile is left alone.
    let dp = DeleteParams {
        preconditions: Some(kube::api::Preconditions { uid: s.metadata.uid.clone(), resource_version: None }),
        ..DeleteParams::default()
    };
    match api.delete(&export.secret_name, &dp).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether a Secret is a copy the operator created for the source object `source_uid` (the only
/// copies it ever deletes): the source-uid label and the created annotation.
pub fn created_copy_of(meta: &impl Tagged, source_uid: &str) -> bool {
    meta.label(EXPORT_SOURCE_UID_LABEL) == Some(source_uid)
        && meta.annotation(EXPORT_CREATED_ANNOTATION) == Some("true")
}

/// The object a copy says it comes from (`kind`, `namespace`, `name`), from its annotation. Only
/// a hint of whom to reconcile when the copy changes: the reconcile decides from its own spec.
pub fn export_source_of(meta: &impl Tagged) -> Option<(&str, &str, &str)> {
    let v = meta.annotation(EXPORT_SOURCE_ANNOTATION)?;
    let mut parts = v.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(k), Some(ns), Some(name)) if !k.is_empty() && !ns.is_empty() && !name.is_empty() => Some((k, ns, name)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_copies_created_for_the_source_are_ours_and_the_source_hint_parses() {
        let meta = |uid: Option<&str>, created: bool| ObjectMeta {
            labels: uid.map(|u| BTreeMap::from([(EXPORT_SOURCE_UID_LABEL.to_string(), u.to_string())])),
            annotations: Some(BTreeMap::from([
                (EXPORT_SOURCE_ANNOTATION.to_string(), "Partner/ns-a/rp".to_string()),
                (EXPORT_CREATED_ANNOTATION.to_string(), created.to_string()),
            ])),
            ..Default::default()
        };
        assert!(created_copy_of(&meta(Some("u1"), true), "u1"));
        assert!(!created_copy_of(&meta(Some("u1"), false), "u1"), "a placeholder we only updated");
        assert!(!created_copy_of(&meta(Some("u2"), true), "u1"));
        assert!(!created_copy_of(&meta(None, true), "u1"));
        assert_eq!(export_source_of(&meta(None, true)), Some(("Partner", "ns-a", "rp")));
        let mut bad = meta(None, true);
        bad.annotations = Some(BTreeMap::from([(EXPORT_SOURCE_ANNOTATION.to_string(), "Partner/x".to_string())]));
        assert_eq!(export_source_of(&bad), None);
        assert_eq!(export_source_of(&ObjectMeta::default()), None);
    }
}
