//! The shared owned-Secret writer.
//!
//! Rules every emitted Secret follows:
//! - it carries the managed-by label and an ownerReference (controller) to its owner, so the
//!   garbage collector removes it with the owner;
//! - a same-named Secret that this owner does not control is never touched (`SecretConflict`);
//! - it is first written with `create`, so two concurrent reconciles (or two replicas) can never
//!   both generate a key: the loser gets AlreadyExists and re-reads;
//! - later writes are `replace` with the resourceVersion that was read (optimistic locking), and
//!   only when the content hash differs.

use super::error::Result;
use super::{CONTENT_HASH_ANNOTATION, MANAGED_BY, MANAGED_BY_LABEL};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// What was found under an emitted Secret's name.
#[derive(Debug)]
pub enum Existing {
    /// Nothing: the Secret may be created.
    Missing,
    /// A Secret this owner controls.
    Owned(Box<Secret>),
    /// A Secret someone else made: never overwritten.
    Foreign,
}

/// Outcome of a create or replace.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Written.
    Written,
    /// Someone else wrote first (AlreadyExists or a resourceVersion conflict); re-read and retry.
    Lost,
}

/// Condition reason when a same-named Secret belongs to someone else.
pub const CONFLICT_REASON: &str = "SecretConflict";

/// The message for [`CONFLICT_REASON`]: whose Secret it is not, and what a person can do.
pub fn conflict_message(secret_name: &str, owner_kind: &str) -> String {
    format!(
        "Secret {secret_name} exists and is not owned by this {owner_kind}; the operator never overwrites it: delete or rename it"
    )
}

/// A controller ownerReference to `owner`.
pub fn owner_reference<K: Resource<DynamicType = ()>>(owner: &K) -> Option<OwnerReference> {
    owner.controller_owner_ref(&())
}

/// Whether `secret` is controlled by the object with `owner_uid`.
pub fn is_owned_by(secret: &Secret, owner_uid: &str) -> bool {
    secret.owner_references().iter().any(|r| r.uid == owner_uid && r.controller == Some(true))
}

/// Reads the Secret `name` and classifies it relative to `owner_uid`.
pub async fn get(api: &Api<Secret>, name: &str, owner_uid: &str) -> Result<Existing> {
    match api.get_opt(name).await? {
        None => Ok(Existing::Missing),
        Some(s) if is_owned_by(&s, owner_uid) => Ok(Existing::Owned(Box::new(s))),
        Some(_) => Ok(Existing::Foreign),
    }
}

/// The hash stored in [`CONTENT_HASH_ANNOTATION`]: over data keys and values and labels.
pub fn content_hash(data: &BTreeMap<String, ByteString>, labels: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in data {
        h.update((k.len() as u64).to_be_bytes());
        h.update(k.as_bytes());
        h.update((v.0.len() as u64).to_be_bytes());
        h.update(&v.0);
    }
    h.update(b"\0labels\0");
    for (k, v) in labels {
        h.update((k.len() as u64).to_be_bytes());
        h.update(k.as_bytes());
        h.update((v.len() as u64).to_be_bytes());
        h.update(v.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The desired shape of an emitted Secret.
pub struct DesiredSecret {
    pub name: String,
    pub namespace: String,
    pub owner: OwnerReference,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub data: BTreeMap<String, ByteString>,
}

impl DesiredSecret {
    /// The Secret object, with the managed-by label and the content-hash annotation.
    pub fn build(&self, resource_version: Option<String>) -> Secret {
        let mut labels = self.labels.clone();
        labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
        let mut annotations = self.annotations.clone();
        annotations.insert(CONTENT_HASH_ANNOTATION.into(), content_hash(&self.data, &labels));
        Secret {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(labels),
                annotations: Some(annotations),
                owner_references: Some(vec![self.owner.clone()]),
                resource_version,
                ..Default::default()
            },
            type_: Some("Opaque".into()),
            data: Some(self.data.clone()),
            ..Default::default()
        }
    }

    /// Whether `existing` already has exactly this content and these annotations.
    pub fn matches(&self, existing: &Secret) -> bool {
        let built = self.build(None);
        let same_hash =
            existing.annotations().get(CONTENT_HASH_ANNOTATION) == built.annotations().get(CONTENT_HASH_ANNOTATION);
        let same_annotations = self.annotations.iter().all(|(k, v)| existing.annotations().get(k) == Some(v));
        same_hash && same_annotations && existing.data.as_ref() == built.data.as_ref()
    }
}

fn post_params() -> PostParams {
    PostParams { field_manager: Some(super::FIELD_MANAGER.into()), ..Default::default() }
}

/// A write's outcome: 409 (AlreadyExists or a stale resourceVersion) means someone else won.
fn outcome(result: kube::Result<Secret>, name: &str) -> Result<WriteOutcome> {
    match result {
        Ok(_) => {
            tracing::debug!(secret = %name, "secret written");
            Ok(WriteOutcome::Written)
        }
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(WriteOutcome::Lost),
        Err(e) => Err(e.into()),
    }
}

/// Creates the Secret; `Lost` when one with that name appeared meanwhile.
pub async fn create(api: &Api<Secret>, desired: &DesiredSecret) -> Result<WriteOutcome> {
    outcome(api.create(&post_params(), &desired.build(None)).await, &desired.name)
}

/// Replaces an owned Secret, guarded by the resourceVersion it was read at.
pub async fn replace(api: &Api<Secret>, existing: &Secret, desired: &DesiredSecret) -> Result<WriteOutcome> {
    if desired.matches(existing) {
        return Ok(WriteOutcome::Written);
    }
    let secret = desired.build(existing.resource_version());
    outcome(api.replace(&desired.name, &post_params(), &secret).await, &desired.name)
}

/// Deletes an owned Secret (by uid precondition, so a re-created one is left alone).
pub async fn delete(api: &Api<Secret>, existing: &Secret) -> Result<()> {
    let mut dp = DeleteParams::default();
    if let Some(uid) = existing.uid() {
        dp = dp.preconditions(kube::api::Preconditions { uid: Some(uid), resource_version: None });
    }
    match api.delete(&existing.name_any(), &dp).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A Secret data value from text.
pub fn text(s: impl Into<String>) -> ByteString {
    ByteString(s.into().into_bytes())
}

/// A Secret data value as text, if present and UTF-8.
pub fn read_text(secret: &Secret, key: &str) -> Option<String> {
    secret.data.as_ref()?.get(key).and_then(|v| String::from_utf8(v.0.clone()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_changes_with_data_and_labels() {
        let mut d = BTreeMap::new();
        d.insert("a".to_string(), text("1"));
        let l = BTreeMap::new();
        let h1 = content_hash(&d, &l);
        d.insert("a".to_string(), text("2"));
        assert_ne!(h1, content_hash(&d, &l));
        let mut l2 = BTreeMap::new();
        l2.insert("x".to_string(), "y".to_string());
        assert_ne!(content_hash(&d, &l), content_hash(&d, &l2));
        // Key/value boundaries are unambiguous.
        let mut e = BTreeMap::new();
        e.insert("ab".to_string(), text(""));
        let mut f = BTreeMap::new();
        f.insert("a".to_string(), text("b"));
        assert_ne!(content_hash(&e, &l), content_hash(&f, &l));
    }
}
