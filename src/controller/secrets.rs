//! The shared owned-Secret writer.
//!
//! Rules every emitted Secret follows:
//! - it carries the managed-by label and an ownerReference (controller) to its owner, so the
//!   garbage collector removes it with the owner;
//! - a same-named Secret that this owner does not control is never touched (`SecretConflict`);
//! - it is first written with `create`, so two concurrent reconciles (or two replicas) can never
//!   both generate a key: the loser gets AlreadyExists and re-reads;
//! - later writes are `replace` with the resourceVersion that was seen (optimistic locking), and
//!   only when the content hash differs;
//! - what exists is observed in the metadata-only store; content is read only for a planned
//!   write the operator cannot build from what it knows ([`Slot`]).

use super::cache::{Content, still_current, strip};
use super::error::Result;
use super::{CONTENT_HASH_ANNOTATION, Context, MANAGED_BY, MANAGED_BY_LABEL};
use crate::mosip::renewal::SecretState;
use crate::mosip::tenancy::SealSubject;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, PartialObjectMeta, PostParams};
use kube::core::PartialObjectMetaExt;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Metadata of a Secret, as the metadata-only reflector keeps it.
pub type SecretMeta = PartialObjectMeta<Secret>;

/// What was found under an emitted Secret's name, from the metadata store.
#[derive(Debug, Clone)]
pub enum Observed {
    /// Nothing: the Secret may be created.
    Missing,
    /// A Secret this owner controls.
    Owned(Arc<SecretMeta>),
    /// A Secret someone else made: never overwritten.
    Foreign,
}

impl Observed {
    /// The plan's view of it.
    pub fn state(&self) -> SecretState {
        match self {
            Observed::Missing => SecretState::Missing,
            Observed::Owned(_) => SecretState::Owned,
            Observed::Foreign => SecretState::Foreign,
        }
    }

    /// Metadata of an owned Secret.
    pub fn meta(&self) -> Option<&SecretMeta> {
        match self {
            Observed::Owned(m) => Some(m),
            _ => None,
        }
    }

    /// An annotation of an owned Secret.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.meta().and_then(|m| m.metadata.annotations.as_ref()?.get(key)).map(String::as_str)
    }
}

/// Outcome of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Already so; nothing written.
    Unchanged,
    /// Written.
    Written,
    /// Someone else wrote first (AlreadyExists or a resourceVersion conflict), or the Secret is
    /// not ours: look again shortly.
    Lost,
}

/// One emitted Secret of one owner: the single lifecycle of API-key, licence and re-signed
/// certificate Secrets. Observed from the metadata store; its content is read from the API
/// server only when a write is planned and the operator does not know it already (it keeps
/// what it wrote and read, at that resourceVersion); first written with `create`, later with
/// `replace` at the resourceVersion seen, and only when the content hash differs.
pub struct Slot {
    pub namespace: String,
    pub name: String,
    pub owner_uid: String,
    pub observed: Observed,
}

impl Slot {
    /// Looks `namespace/name` up in the metadata store.
    pub fn observe(ctx: &Context, namespace: &str, name: &str, owner_uid: &str) -> Slot {
        let meta = ctx.secrets.get(&ObjectRef::new(name).within(namespace)).or_else(|| {
            // Created by this process a moment ago; the watch has not delivered it yet.
            ctx.owned_contents
                .get(namespace, name)
                .map(|c| Arc::new(c.value.0.metadata.clone().into_response_partial::<Secret>()))
        });
        let observed = match meta {
            // Not ours and named by no Partner, so not in the store, but known to exist.
            None if ctx.foreign_secrets.get(namespace, name).is_some() => Observed::Foreign,
            None => Observed::Missing,
            Some(m) if meta_owned_by(&m.metadata, owner_uid) => Observed::Owned(m),
            Some(_) => Observed::Foreign,
        };
        Slot { namespace: namespace.to_string(), name: name.to_string(), owner_uid: owner_uid.to_string(), observed }
    }

    fn subject(&self) -> SealSubject<'_> {
        SealSubject { namespace: &self.namespace, name: &self.name, owner_uid: &self.owner_uid }
    }

    /// When the operator wrote exactly `secret`'s data and its own annotations into this Secret,
    /// if its seal ([`SEAL_ANNOTATION`]) proves it.
    pub fn sealed_at(&self, ctx: &Context, secret: &Secret) -> Option<jiff::Timestamp> {
        let seal = secret.annotations().get(SEAL_ANNOTATION).map(String::as_str);
        ctx.seal.open(&self.subject(), seal, sealed_entries(secret).iter().map(|(k, v)| (k.as_str(), *v)))
    }

    /// Reads the Secret from the API server without keeping its content (for Secrets planned
    /// from their annotations); None when it is gone or not this owner's.
    pub async fn read_unkept(&self, ctx: &Context) -> Result<Option<Secret>> {
        let Some(mut secret) = self.api(ctx).get_opt(&self.name).await? else { return Ok(None) };
        if !is_owned_by(&secret, &self.owner_uid) {
            return Ok(None);
        }
        strip(&mut secret);
        Ok(Some(secret))
    }

    /// The resourceVersion the store shows.
    pub fn seen_version(&self) -> Option<&str> {
        self.observed.meta().and_then(|m| m.metadata.resource_version.as_deref())
    }

    /// The resourceVersion of the content the operator knows (wrote or read), when current.
    pub fn known_version(&self, ctx: &Context) -> Option<String> {
        self.known_content(ctx).and_then(|c| c.metadata.resource_version.clone())
    }

    /// The resourceVersion of the operator's own last write, whatever the store shows yet.
    pub fn written_version(&self, ctx: &Context) -> Option<String> {
        ctx.owned_contents
            .get(&self.namespace, &self.name)
            .filter(|c| c.value.1)
            .and_then(|c| c.value.0.metadata.resource_version.clone())
    }

    /// `secret` with the operator's seal over its data, written now.
    fn sealed(&self, ctx: &Context, mut secret: Secret) -> Secret {
        let entries = sealed_entries(&secret);
        let seal = ctx.seal.seal(&self.subject(), super::now(), entries.iter().map(|(k, v)| (k.as_str(), *v)));
        secret.metadata.annotations.get_or_insert_with(Default::default).insert(SEAL_ANNOTATION.into(), seal);
        secret
    }

    fn api(&self, ctx: &Context) -> Api<Secret> {
        Api::namespaced(ctx.client.clone(), &self.namespace)
    }

    /// The content, when the operator knows it (wrote or read it) at the resourceVersion the
    /// store shows.
    pub fn known_content(&self, ctx: &Context) -> Option<Arc<Secret>> {
        self.known(ctx).map(|(s, _)| s)
    }

    /// The content, when the operator itself wrote what the store shows: believed over status,
    /// which may lag behind the write.
    pub fn own_write(&self, ctx: &Context) -> Option<Arc<Secret>> {
        self.known(ctx).filter(|(_, written)| *written).map(|(s, _)| s)
    }

    fn known(&self, ctx: &Context) -> Option<(Arc<Secret>, bool)> {
        let meta = self.observed.meta()?;
        let cached = ctx.owned_contents.get(&self.namespace, &self.name)?;
        let same_object = cached.uid.is_some() && cached.uid == meta.metadata.uid;
        (same_object && still_current(cached.resource_version.as_deref(), meta.metadata.resource_version.as_deref()))
            .then_some(cached.value)
    }

    /// The content: known, or read from the API server. None when it is gone or not ours.
    pub async fn content(&self, ctx: &Context) -> Result<Option<Arc<Secret>>> {
        if let Some(c) = self.known_content(ctx) {
            return Ok(Some(c));
        }
        let Some(mut secret) = self.api(ctx).get_opt(&self.name).await? else { return Ok(None) };
        if !is_owned_by(&secret, &self.owner_uid) {
            return Ok(None);
        }
        strip(&mut secret);
        let secret = Arc::new(secret);
        self.remember(ctx, secret.clone(), false);
        Ok(Some(secret))
    }

    fn remember(&self, ctx: &Context, mut secret: Arc<Secret>, written: bool) {
        // Re-signed certificates are planned from their annotations alone: keep no copy of their
        // data (the largest Secrets the operator writes).
        let kind = secret.metadata.labels.as_ref().and_then(|l| l.get(super::SECRET_KIND_LABEL));
        if kind.map(String::as_str) == Some(super::signing::KIND) {
            let mut meta_only = (*secret).clone();
            meta_only.data = None;
            secret = Arc::new(meta_only);
        }
        ctx.owned_contents.put(
            &self.namespace,
            &self.name,
            Content {
                uid: secret.metadata.uid.clone(),
                resource_version: secret.metadata.resource_version.clone(),
                value: (secret, written),
            },
        );
    }

    /// Forgets the content kept of this Secret once the metadata store shows exactly the
    /// version kept: from then on the store (and the owner's status record) say all a plan
    /// needs, as after a restart. Keeps memory flat in the number of Secrets written.
    pub fn settled(&self, ctx: &Context) {
        let Some(cached) = ctx.owned_contents.get(&self.namespace, &self.name) else { return };
        let stored = ctx.secrets.get(&ObjectRef::new(&self.name).within(&self.namespace));
        if let Some(m) = stored
            && cached.shown_by(&m.metadata)
        {
            ctx.owned_contents.evict(&self.namespace, &self.name);
        }
    }

    /// Writes `desired` unless the Secret already has exactly that content.
    pub async fn write(&self, ctx: &Context, desired: &DesiredSecret) -> Result<WriteOutcome> {
        let api = self.api(ctx);
        let result = match &self.observed {
            Observed::Foreign => return Ok(WriteOutcome::Lost),
            Observed::Missing => api.create(&post_params(), &self.sealed(ctx, desired.build(None))).await,
            Observed::Owned(meta) => {
                // With the content at hand compare it (an editor may change data and leave the
                // hash annotation alone) and require the operator's seal over it; otherwise the
                // hash annotation says (the callers verify a Secret whose resourceVersion changed
                // since they recorded it).
                let unchanged = match self.known_content(ctx) {
                    Some(current) => desired.matches(&current) && self.sealed_at(ctx, &current).is_some(),
                    None => desired.matches_meta(&meta.metadata),
                };
                if unchanged {
                    return Ok(WriteOutcome::Unchanged);
                }
                // Our own last write may be newer than what the store shows.
                let seen = meta.metadata.resource_version.clone();
                let rv = match ctx.owned_contents.get(&self.namespace, &self.name) {
                    Some(c)
                        if c.uid == meta.metadata.uid
                            && still_current(c.resource_version.as_deref(), seen.as_deref()) =>
                    {
                        c.resource_version
                    }
                    _ => seen,
                };
                api.replace(&desired.name, &post_params(), &self.sealed(ctx, desired.build(rv))).await
            }
        };
        match result {
            Ok(mut written) => {
                tracing::debug!(secret = %desired.name, "secret written");
                strip(&mut written);
                self.remember(ctx, Arc::new(written), true);
                Ok(WriteOutcome::Written)
            }
            Err(kube::Error::Api(e)) if e.code == 409 => {
                ctx.owned_contents.evict(&self.namespace, &self.name);
                if matches!(self.observed, Observed::Missing) {
                    // The name is taken by a Secret the store does not hold (the store keeps
                    // only the operator's own and certificate Secrets): look once, and remember
                    // a foreign one so the next pass reports the conflict without writing.
                    if let Some(mut existing) = api.get_opt(&self.name).await? {
                        if is_owned_by(&existing, &self.owner_uid) {
                            strip(&mut existing);
                            self.remember(ctx, Arc::new(existing), false);
                        } else {
                            ctx.foreign_secrets.put(
                                &self.namespace,
                                &self.name,
                                Content { uid: existing.metadata.uid.clone(), resource_version: None, value: () },
                            );
                        }
                    }
                }
                Ok(WriteOutcome::Lost)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Whether the object with `meta` is controlled by the object with `owner_uid`.
pub fn meta_owned_by(meta: &ObjectMeta, owner_uid: &str) -> bool {
    meta.owner_references.iter().flatten().any(|r| r.uid == owner_uid && r.controller == Some(true))
}

/// What the seal covers: every data key and value, and the operator's own annotations (those
/// under `pms.mosip.io/`, which plans read: validity ends, fingerprints, rotation tokens) but
/// neither the seal nor the content hash. Annotations enter as `annotation:<key>`, which no
/// data key can be (data keys have no `:`).
fn sealed_entries(secret: &Secret) -> Vec<(String, &[u8])> {
    let data = secret.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.as_slice()));
    let annotations = secret
        .annotations()
        .iter()
        .filter(|(k, _)| k.starts_with("pms.mosip.io/") && *k != SEAL_ANNOTATION && *k != CONTENT_HASH_ANNOTATION)
        .map(|(k, v)| (format!("annotation:{k}"), v.as_bytes()));
    data.chain(annotations).collect()
}

/// Annotation on every Secret the operator writes: its seal over the data
/// ([`crate::mosip::tenancy::SealKey`]), which proves a Secret the operator's own write.
pub const SEAL_ANNOTATION: &str = "pms.mosip.io/seal";

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

    /// Whether `existing` has exactly this content, labels and annotations.
    pub fn matches(&self, existing: &Secret) -> bool {
        let built = self.build(None);
        let labels = existing.metadata.labels.as_ref();
        let annotations = existing.metadata.annotations.as_ref();
        existing.data.as_ref() == built.data.as_ref()
            && built.annotations().iter().all(|(k, v)| annotations.and_then(|a| a.get(k)) == Some(v))
            && built.labels().iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
    }

    /// Whether an object with `meta` already has this content hash and these annotations.
    pub fn matches_meta(&self, meta: &ObjectMeta) -> bool {
        let mut labels = self.labels.clone();
        labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
        let hash = content_hash(&self.data, &labels);
        let annotations = meta.annotations.as_ref();
        let get = |k: &str| annotations.and_then(|a| a.get(k));
        get(CONTENT_HASH_ANNOTATION) == Some(&hash)
            && self.annotations.iter().all(|(k, v)| get(k) == Some(v))
            && meta.labels.as_ref().is_some_and(|l| labels.iter().all(|(k, v)| l.get(k) == Some(v)))
    }
}

fn post_params() -> PostParams {
    PostParams { field_manager: Some(super::FIELD_MANAGER.into()), ..Default::default() }
}

/// Deletes an owned Secret (by uid precondition, so a re-created one is left alone).
pub async fn delete(api: &Api<Secret>, existing: &ObjectMeta) -> Result<()> {
    let mut dp = DeleteParams::default();
    if let Some(uid) = existing.uid.clone() {
        dp = dp.preconditions(kube::api::Preconditions { uid: Some(uid), resource_version: None });
    }
    let name = existing.name.clone().unwrap_or_default();
    match api.delete(&name, &dp).await {
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
