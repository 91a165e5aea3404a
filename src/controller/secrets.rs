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
use crate::api::Tagged;
use crate::mosip::renewal::SecretState;
use crate::mosip::tenancy::SealSubject;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What the Secret store keeps of a Secret: its identity, resourceVersion and controller owner,
/// and — of the operator's own Secrets and consumer copies — the operator's labels and
/// annotations (the managed-by label and those under `pms.mosip.io/`, the seal excepted), which
/// is all that plans and triggers read. A compact projection of the metadata watch's objects:
/// at 10,000 partners the store holds ~30,000 Secrets. An `ObjectMeta` with its two maps cost
/// ~2.5 KiB each, a struct of boxed strings ~470 bytes in ~12 allocations; this keeps every
/// text in one allocation and the tags in a second (none for a certificate Secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretMeta {
    /// name, namespace, uid, resourceVersion, the controller's uid and name, then each kept
    /// tag's key (when it is not one of [`KNOWN_KEYS`]) and value, one after another.
    text: Box<str>,
    /// Where each of the six fixed fields ends in `text`.
    ends: [u32; FIXED_FIELDS],
    controller: Controller,
    tags: Box<[TagAt]>,
}

const FIXED_FIELDS: usize = 6;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Controller {
    None,
    Other,
    Own(OwnKind),
}

/// A kept label or annotation: its key is `KNOWN_KEYS[known]`, or the text from the previous
/// entry's end to `split` when `known` is [`UNKNOWN_KEY`]; its value runs from `split` to `end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TagAt {
    known: u8,
    annotation: bool,
    split: u32,
    end: u32,
}

const UNKNOWN_KEY: u8 = u8::MAX;

/// The controller owner of a stored Secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControllerRef<'a> {
    pub uid: &'a str,
    pub name: &'a str,
    /// Its kind, when it is one of this operator's (group `pms.mosip.io`).
    pub kind: Option<OwnKind>,
}

/// The operator's kinds that own Secrets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnKind {
    Partner,
    MispLicense,
}

/// The label and annotation keys the operator writes: kept as an index, not as text.
const KNOWN_KEYS: &[&str] = &[
    MANAGED_BY_LABEL,
    super::PARTNER_LABEL,
    super::POLICY_LABEL,
    super::LICENSE_LABEL,
    super::SECRET_KIND_LABEL,
    CONTENT_HASH_ANNOTATION,
    super::ROTATED_FOR_ANNOTATION,
    super::ROTATE_ANNOTATION,
    super::apikeys::PREVIOUS_UNTIL_ANNOTATION,
    super::signing::SOURCE_ANNOTATION,
    super::signing::SIGNER_ANNOTATION,
    super::signing::NOT_AFTER_ANNOTATION,
    crate::pms::exports::EXPORT_SOURCE_UID_LABEL,
    crate::pms::exports::EXPORT_SOURCE_ANNOTATION,
    crate::pms::exports::EXPORT_CREATED_ANNOTATION,
];

/// Whether the store keeps a label or annotation: the operator's own (every key it writes is
/// the managed-by label or under `pms.mosip.io/`), except the seal, which only a read of the
/// content checks.
fn kept_tag(key: &str) -> bool {
    (key == MANAGED_BY_LABEL || key.starts_with("pms.mosip.io/")) && key != SEAL_ANNOTATION
}

/// An offset into the text. Objects are at most a few MiB (the API server's limit), so it
/// always fits; were it not to, the field would read as empty rather than wrong.
fn offset(text: &str) -> u32 {
    u32::try_from(text.len()).unwrap_or(u32::MAX)
}

impl SecretMeta {
    /// The projection of `meta`; `with_tags` keeps the operator's labels and annotations (for
    /// its own Secrets and consumer copies; a certificate Secret needs none).
    pub fn project(meta: &ObjectMeta, with_tags: bool) -> Self {
        let owner = meta.owner_references.iter().flatten().find(|o| o.controller == Some(true));
        let controller = match owner {
            None => Controller::None,
            Some(o) if o.api_version.starts_with("pms.mosip.io/") => match o.kind.as_str() {
                "Partner" => Controller::Own(OwnKind::Partner),
                "MispLicense" => Controller::Own(OwnKind::MispLicense),
                _ => Controller::Other,
            },
            Some(_) => Controller::Other,
        };
        fn text(s: &Option<String>) -> &str {
            s.as_deref().unwrap_or_default()
        }
        let fixed = [
            text(&meta.name),
            text(&meta.namespace),
            text(&meta.uid),
            text(&meta.resource_version),
            owner.map_or("", |o| o.uid.as_str()),
            owner.map_or("", |o| o.name.as_str()),
        ];
        let mut buf = String::with_capacity(fixed.iter().map(|f| f.len()).sum());
        let ends = fixed.map(|field| {
            buf.push_str(field);
            offset(&buf)
        });
        let mut tags = Vec::new();
        if with_tags {
            fn kept(
                map: Option<&BTreeMap<String, String>>,
                annotation: bool,
            ) -> impl Iterator<Item = (&String, &String, bool)> {
                map.into_iter().flatten().filter(|(k, _)| kept_tag(k)).map(move |(k, v)| (k, v, annotation))
            }
            for (key, value, annotation) in
                kept(meta.labels.as_ref(), false).chain(kept(meta.annotations.as_ref(), true))
            {
                let known = KNOWN_KEYS.iter().position(|k| k == key);
                let known = match known.and_then(|i| u8::try_from(i).ok()) {
                    Some(i) => i,
                    None => {
                        buf.push_str(key);
                        UNKNOWN_KEY
                    }
                };
                let split = offset(&buf);
                buf.push_str(value);
                tags.push(TagAt { known, annotation, split, end: offset(&buf) });
            }
        }
        SecretMeta { text: buf.into_boxed_str(), ends, controller, tags: tags.into_boxed_slice() }
    }

    fn slice(&self, start: u32, end: u32) -> &str {
        self.text.get(start as usize..end as usize).unwrap_or_default()
    }

    fn field(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.slice(start, self.ends[i])
    }

    pub fn name(&self) -> &str {
        self.field(0)
    }

    pub fn namespace(&self) -> &str {
        self.field(1)
    }

    pub fn uid(&self) -> &str {
        self.field(2)
    }

    pub fn resource_version(&self) -> &str {
        self.field(3)
    }

    /// Its controller owner.
    pub fn controller(&self) -> Option<ControllerRef<'_>> {
        let kind = match self.controller {
            Controller::None => return None,
            Controller::Other => None,
            Controller::Own(kind) => Some(kind),
        };
        Some(ControllerRef { uid: self.field(4), name: self.field(5), kind })
    }

    /// Whether the object with `owner_uid` controls it.
    pub fn controlled_by(&self, owner_uid: &str) -> bool {
        self.controller().is_some_and(|c| c.uid == owner_uid)
    }

    /// The store's reference to it.
    pub fn object_ref(&self) -> ObjectRef<SecretMeta> {
        ObjectRef::new(self.name()).within(self.namespace())
    }

    /// The kept labels (`annotation` false) or annotations, as key and value.
    fn tags(&self, annotation: bool) -> impl Iterator<Item = (&str, &str)> {
        let mut start = self.ends[FIXED_FIELDS - 1];
        self.tags.iter().filter_map(move |t| {
            let key = match KNOWN_KEYS.get(usize::from(t.known)) {
                Some(known) => known,
                None => self.slice(start, t.split),
            };
            let value = self.slice(t.split, t.end);
            start = t.end;
            (t.annotation == annotation).then_some((key, value))
        })
    }

    fn tag(&self, annotation: bool, key: &str) -> Option<&str> {
        self.tags(annotation).find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

impl crate::api::Tagged for SecretMeta {
    fn label(&self, key: &str) -> Option<&str> {
        self.tag(false, key)
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        self.tag(true, key)
    }
}

impl kube::runtime::reflector::Lookup for SecretMeta {
    type DynamicType = ();

    fn kind(_: &()) -> Cow<'_, str> {
        "Secret".into()
    }

    fn group(_: &()) -> Cow<'_, str> {
        "".into()
    }

    fn version(_: &()) -> Cow<'_, str> {
        "v1".into()
    }

    fn plural(_: &()) -> Cow<'_, str> {
        "secrets".into()
    }

    fn name(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(SecretMeta::name(self)))
    }

    fn namespace(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(SecretMeta::namespace(self)))
    }

    fn resource_version(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(SecretMeta::resource_version(self)))
    }

    fn uid(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(SecretMeta::uid(self)))
    }

    /// The store's key: name and namespace only. The default also copies resourceVersion and uid
    /// into the key (ignored by its comparisons): two more allocations per stored Secret.
    fn to_object_ref(&self, _: ()) -> ObjectRef<Self> {
        self.object_ref()
    }
}

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
        self.meta().and_then(|m| m.annotation(key))
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
        let meta = ctx.secrets.get(namespace, name).or_else(|| {
            // Created by this process a moment ago; the watch has not delivered it yet.
            ctx.owned_contents.get(namespace, name).map(|c| Arc::new(SecretMeta::project(&c.value.0.metadata, true)))
        });
        let observed = match meta {
            // Not ours and named by no Partner, so not in the store, but known to exist.
            None if ctx.foreign_secrets.get(namespace, name).is_some() => Observed::Foreign,
            None => Observed::Missing,
            Some(m) if m.controlled_by(owner_uid) => Observed::Owned(m),
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
        self.observed.meta().map(SecretMeta::resource_version)
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
        let same_object = cached.uid.as_deref() == Some(meta.uid());
        (same_object && still_current(cached.resource_version.as_deref(), Some(meta.resource_version())))
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
        let stored = ctx.secrets.get(&self.namespace, &self.name);
        if let Some(m) = stored
            && cached.shown_by(&m)
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
                    None => desired.matches_meta(meta),
                };
                if unchanged {
                    return Ok(WriteOutcome::Unchanged);
                }
                // Our own last write may be newer than what the store shows.
                let seen = Some(meta.resource_version().to_string());
                let rv = match ctx.owned_contents.get(&self.namespace, &self.name) {
                    Some(c)
                        if c.uid.as_deref() == Some(meta.uid())
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

    /// Whether a stored Secret already has this content hash, these annotations and labels.
    pub fn matches_meta(&self, meta: &SecretMeta) -> bool {
        let mut labels = self.labels.clone();
        labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
        let hash = content_hash(&self.data, &labels);
        meta.annotation(CONTENT_HASH_ANNOTATION) == Some(hash.as_str())
            && self.annotations.iter().all(|(k, v)| meta.annotation(k) == Some(v.as_str()))
            && labels.iter().all(|(k, v)| meta.label(k) == Some(v.as_str()))
    }
}

fn post_params() -> PostParams {
    PostParams { field_manager: Some(super::FIELD_MANAGER.into()), ..Default::default() }
}

/// Deletes an owned Secret (by uid precondition, so a re-created one is left alone).
pub async fn delete(api: &Api<Secret>, existing: &SecretMeta) -> Result<()> {
    let dp = DeleteParams::default()
        .preconditions(kube::api::Preconditions { uid: Some(existing.uid().to_string()), resource_version: None });
    match api.delete(existing.name(), &dp).await {
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

    fn desired() -> DesiredSecret {
        DesiredSecret {
            name: "rp-auth-key".into(),
            namespace: "ns".into(),
            owner: OwnerReference {
                api_version: "pms.mosip.io/v1alpha1".into(),
                kind: "Partner".into(),
                name: "rp".into(),
                uid: "u-rp".into(),
                controller: Some(true),
                ..Default::default()
            },
            labels: BTreeMap::from([
                (super::super::PARTNER_LABEL.to_string(), "rp".to_string()),
                (super::super::SECRET_KIND_LABEL.to_string(), "api-key".to_string()),
            ]),
            annotations: BTreeMap::from([(super::super::ROTATED_FOR_ANNOTATION.to_string(), "t1".to_string())]),
            data: BTreeMap::from([("apiKey".to_string(), text("k"))]),
        }
    }

    fn stored(secret: &Secret) -> SecretMeta {
        let mut meta = secret.metadata.clone();
        meta.uid = Some("u-secret".into());
        meta.resource_version = Some("42".into());
        SecretMeta::project(&meta, true)
    }

    #[test]
    fn the_store_projection_of_a_written_secret_matches_what_was_desired() {
        let d = desired();
        let mut written = d.build(None);
        // What others add is not kept and does not matter; the seal is not kept either.
        let labels = written.metadata.labels.get_or_insert_with(Default::default);
        labels.insert("argocd.argoproj.io/instance".into(), "x".into());
        let annotations = written.metadata.annotations.get_or_insert_with(Default::default);
        annotations.insert(SEAL_ANNOTATION.into(), "seal".into());
        annotations.insert("kubectl.kubernetes.io/restartedAt".into(), "now".into());
        let m = stored(&written);
        assert!(d.matches_meta(&m));
        assert_eq!(m.annotation(SEAL_ANNOTATION), None);
        assert_eq!(m.label("argocd.argoproj.io/instance"), None);
        assert_eq!(m.annotation(super::super::ROTATED_FOR_ANNOTATION), Some("t1"));
        assert_eq!((m.name(), m.namespace(), m.uid(), m.resource_version()), ("rp-auth-key", "ns", "u-secret", "42"));
        assert!(m.controlled_by("u-rp") && !m.controlled_by("u-other"));
        let c = m.controller().map(|c| (c.kind, c.name, c.uid));
        assert_eq!(c, Some((Some(OwnKind::Partner), "rp", "u-rp")));
        // Every key the operator writes is kept as an index, not as text.
        assert!(m.tags.iter().all(|t| t.known != UNKNOWN_KEY));
    }

    #[test]
    fn every_kept_tag_reads_back_in_its_own_map_whatever_its_key() {
        let map = |pairs: &[(&str, &str)]| Some(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        let meta = ObjectMeta {
            name: Some("n".into()),
            namespace: Some("ns".into()),
            labels: map(&[
                (MANAGED_BY_LABEL, MANAGED_BY),
                ("pms.mosip.io/editor-label", "é-unicode"),
                ("app", "not kept"),
                (super::super::PARTNER_LABEL, ""),
            ]),
            annotations: map(&[
                (super::super::PARTNER_LABEL, "as an annotation"),
                ("pms.mosip.io/other", "x"),
                (SEAL_ANNOTATION, "not kept"),
            ]),
            ..Default::default()
        };
        let m = SecretMeta::project(&meta, true);
        assert_eq!(m.label(MANAGED_BY_LABEL), Some(MANAGED_BY));
        assert_eq!(m.label("pms.mosip.io/editor-label"), Some("é-unicode"));
        assert_eq!(m.label(super::super::PARTNER_LABEL), Some(""));
        assert_eq!(m.annotation(super::super::PARTNER_LABEL), Some("as an annotation"));
        assert_eq!(m.annotation("pms.mosip.io/other"), Some("x"));
        assert_eq!((m.label("app"), m.annotation(SEAL_ANNOTATION), m.label("pms.mosip.io/other")), (None, None, None));
        assert_eq!((m.name(), m.namespace(), m.uid(), m.resource_version()), ("n", "ns", "", ""));
        assert_eq!(m.controller(), None);
        // Without tags nothing but the fixed fields is kept.
        let bare = SecretMeta::project(&meta, false);
        assert!(bare.tags.is_empty() && bare.label(MANAGED_BY_LABEL).is_none());
        assert_eq!(&*bare.text, "nns");
    }

    #[test]
    fn a_changed_hash_label_or_annotation_does_not_match() {
        let d = desired();
        let edit = |f: &dyn Fn(&mut ObjectMeta)| {
            let mut s = d.build(None);
            f(&mut s.metadata);
            d.matches_meta(&stored(&s))
        };
        assert!(edit(&|_| {}));
        assert!(!edit(&|m| {
            m.annotations.as_mut().map(|a| a.insert(CONTENT_HASH_ANNOTATION.into(), "0".into()));
        }));
        assert!(!edit(&|m| {
            m.labels.as_mut().map(|l| l.remove(super::super::PARTNER_LABEL));
        }));
        assert!(!edit(&|m| {
            m.annotations.as_mut().map(|a| a.insert(super::super::ROTATED_FOR_ANNOTATION.into(), "t2".into()));
        }));
        // A certificate Secret keeps no tags at all, and an owner of another group is no kind of ours.
        let mut s = d.build(None);
        s.metadata.owner_references =
            Some(vec![OwnerReference { api_version: "example.com/v1".into(), ..d.owner.clone() }]);
        let m = SecretMeta::project(&s.metadata, false);
        assert!(!d.matches_meta(&m));
        assert_eq!(m.controller().map(|c| c.kind), Some(None));
    }

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
