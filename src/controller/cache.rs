//! What the reconcilers read instead of the API server: indexes over the reflector stores, the
//! compiled trust store, and the contents of the few Secrets whose data the operator needs.
//!
//! The design follows the informer/lister split of client-go (cert-manager, Linkerd's
//! policy-controller): one watch per kind feeds one store, shared by every controller; indexes
//! are maintained from the same event stream; derived data (the trust store) is compiled once
//! per change and shared as an immutable snapshot (`Arc`).

use super::packed::PackedPartner;
use super::secrets::SecretMeta;
use crate::api::{CACertificate, Partner, PartnerDomain, PartnerPolicy};
use crate::trust::{self, CaInput, CaVerdict};
use futures::channel::mpsc::UnboundedSender;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// kubectl's client-side-apply annotation: a full copy of the object, never needed here.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what no reconciler reads and that can be as large as the object itself:
/// `managedFields` and kubectl's last-applied annotation.
pub fn strip<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove(LAST_APPLIED);
        if a.is_empty() {
            meta.annotations = None;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// Partner index

/// What the index keeps per Partner (boxed strings: ~10,000 entries, each in four maps).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
struct Keys {
    policies: Box<[Box<str>]>,
    /// `namespace/name` (a namespace has no `/`).
    cert_secret: Option<Box<str>>,
    partner_id: Option<Box<str>>,
}

/// `namespace/name`: the key of a certificate Secret in the index and of a content cache entry.
/// Unambiguous, as a namespace (it comes from an object's metadata) never contains a `/`.
pub(crate) fn namespaced_key(namespace: &str, name: &str) -> String {
    let mut key = String::with_capacity(namespace.len() + 1 + name.len());
    key.push_str(namespace);
    key.push('/');
    key.push_str(name);
    key
}

/// The key of a certificate Secret in the index.
fn secret_key(namespace: &str, name: &str) -> Box<str> {
    namespaced_key(namespace, name).into()
}

impl Keys {
    fn of(p: &Partner) -> Self {
        let ns = p.namespace().unwrap_or_default();
        let cert_secret = p.spec.certificate.as_ref().map(|c| secret_key(&ns, &c.secret_name));
        if p.metadata.deletion_timestamp.is_some() {
            // A Partner being deleted uses no policy and claims no id, but its certificate
            // Secret still matters until it is gone.
            return Keys { policies: Box::default(), cert_secret, partner_id: None };
        }
        let mut policies: Vec<Box<str>> = p.spec.policies.iter().map(|r| r.name.as_str().into()).collect();
        policies.sort();
        policies.dedup();
        Keys { policies: policies.into(), cert_secret, partner_id: Some(p.partner_id().into()) }
    }
}

/// A Partner's name and namespace, shared by every index entry of that Partner (one allocation
/// per Partner, not one per entry; no resourceVersion or uid: they go stale and are not compared).
use super::recheck::PartnerRef;

fn partner_ref(p: &Partner) -> PartnerRef {
    let mut r = ObjectRef::new(p.metadata.name.as_deref().unwrap_or_default());
    r.namespace = p.metadata.namespace.clone();
    Arc::new(r)
}

/// The Partners under one index key: almost always one (a certificate Secret, a partnerId), so
/// a set is allocated only for a second one.
#[derive(Debug, PartialEq, Eq)]
// Boxed: the rare set would otherwise make every entry three times as large.
#[allow(clippy::box_collection)]
enum Refs {
    One(PartnerRef),
    Many(Box<HashSet<PartnerRef>>),
}

impl Refs {
    fn iter(&self) -> impl Iterator<Item = &PartnerRef> {
        let (one, many) = match self {
            Refs::One(r) => (Some(r), None),
            Refs::Many(set) => (None, Some(set.iter())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

#[derive(Default)]
struct IndexInner {
    keys: HashMap<PartnerRef, Keys>,
    by_policy: HashMap<Box<str>, Refs>,
    by_cert: HashMap<Box<str>, Refs>,
    by_id: HashMap<Box<str>, Refs>,
}

fn add(map: &mut HashMap<Box<str>, Refs>, k: &str, r: &PartnerRef) {
    let Some(entry) = map.get_mut(k) else {
        map.insert(k.into(), Refs::One(r.clone()));
        return;
    };
    match entry {
        Refs::One(one) if one == r => {}
        Refs::One(one) => {
            let both = HashSet::from([one.clone(), r.clone()]);
            *entry = Refs::Many(Box::new(both));
        }
        Refs::Many(set) => {
            set.insert(r.clone());
        }
    }
}

/// Removes `r` under `k`; a set left with one Partner becomes `One` again (a `Many` always holds
/// two or more), so entries compare equal whatever order they were built in.
fn del(map: &mut HashMap<Box<str>, Refs>, k: &str, r: &ObjectRef<PackedPartner>) {
    let Some(entry) = map.get_mut(k) else { return };
    match entry {
        Refs::One(one) if one.as_ref() == r => {
            map.remove(k);
        }
        Refs::One(_) => {}
        Refs::Many(set) => {
            set.remove(r);
            if let (1, Some(last)) = (set.len(), set.iter().next().cloned()) {
                *entry = Refs::One(last);
            }
        }
    }
}

impl IndexInner {
    fn insert(&mut self, r: &PartnerRef, k: Keys) {
        for p in &k.policies {
            add(&mut self.by_policy, p, r);
        }
        if let Some(c) = &k.cert_secret {
            add(&mut self.by_cert, c, r);
        }
        if let Some(id) = &k.partner_id {
            add(&mut self.by_id, id, r);
        }
        self.keys.insert(r.clone(), k);
    }

    fn remove(&mut self, r: &ObjectRef<PackedPartner>) -> Option<Keys> {
        let k = self.keys.remove(r)?;
        for p in &k.policies {
            del(&mut self.by_policy, p, r);
        }
        if let Some(c) = &k.cert_secret {
            del(&mut self.by_cert, c, r);
        }
        if let Some(id) = &k.partner_id {
            del(&mut self.by_id, id, r);
        }
        Some(k)
    }
}

/// Indexes over the Partner store: who requests a policy, who names a certificate Secret, who
/// claims a partnerId. Changes are pushed to the controllers that depend on them (a policy's
/// users, the other claimants of a partnerId), deletions included.
pub struct PartnerIndex {
    inner: RwLock<IndexInner>,
    policy_triggers: Option<UnboundedSender<ObjectRef<PartnerPolicy>>>,
    claim_triggers: Option<UnboundedSender<ObjectRef<PackedPartner>>>,
}

impl Default for PartnerIndex {
    fn default() -> Self {
        Self::new(None, None)
    }
}

impl PartnerIndex {
    pub fn new(
        policy_triggers: Option<UnboundedSender<ObjectRef<PartnerPolicy>>>,
        claim_triggers: Option<UnboundedSender<ObjectRef<PackedPartner>>>,
    ) -> Self {
        Self { inner: RwLock::new(IndexInner::default()), policy_triggers, claim_triggers }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, IndexInner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, IndexInner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Follows the Partner watch (after the store has applied the event).
    pub fn observe(&self, event: &watcher::Event<PackedPartner>, store: &Store<PackedPartner>) {
        match event {
            watcher::Event::Apply(p) => {
                if let Some(p) = p.unpack_or_skip() {
                    self.upsert(&p)
                }
            }
            watcher::Event::Delete(p) => self.delete(p),
            watcher::Event::InitDone => self.rebuild(store.state().iter().filter_map(|p| p.unpack_or_skip())),
            watcher::Event::Init | watcher::Event::InitApply(_) => {}
        }
    }

    /// The index's own shared reference to `p` (a new one if the index does not hold it).
    pub fn shared_ref(&self, p: &Partner) -> PartnerRef {
        let r = partner_ref(p);
        self.read().keys.get_key_value(&r).map_or(r, |(k, _)| k.clone())
    }

    fn upsert(&self, p: &Partner) {
        let r = partner_ref(p);
        let new = Keys::of(p);
        let old = {
            let mut inner = self.write();
            if inner.keys.get(&r) == Some(&new) {
                return;
            }
            let old = inner.remove(&r);
            inner.insert(&r, new.clone());
            old
        };
        self.notify(&r, old.as_ref(), Some(&new));
    }

    fn delete(&self, p: &PackedPartner) {
        let r = Arc::new(ObjectRef::from_obj(p));
        let old = self.write().remove(&r);
        self.notify(&r, old.as_ref(), None);
    }

    fn rebuild(&self, partners: impl Iterator<Item = Partner>) {
        let mut fresh = IndexInner::default();
        for p in partners {
            fresh.insert(&partner_ref(&p), Keys::of(&p));
        }
        let old = std::mem::replace(&mut *self.write(), fresh);
        // Whatever changed while the watch was down.
        let inner = self.read();
        if let Some(tx) = &self.policy_triggers {
            let names: HashSet<&Box<str>> = old.by_policy.keys().chain(inner.by_policy.keys()).collect();
            for name in names {
                if old.by_policy.get(name) != inner.by_policy.get(name) {
                    let _ = tx.unbounded_send(ObjectRef::new(name));
                }
            }
        }
        if let Some(tx) = &self.claim_triggers {
            let ids: HashSet<&Box<str>> = old.by_id.keys().chain(inner.by_id.keys()).collect();
            for id in ids {
                if old.by_id.get(id) != inner.by_id.get(id) {
                    for r in inner.by_id.get(id).into_iter().flat_map(Refs::iter) {
                        let _ = tx.unbounded_send(r.as_ref().clone());
                    }
                }
            }
        }
    }

    fn notify(&self, r: &ObjectRef<PackedPartner>, old: Option<&Keys>, new: Option<&Keys>) {
        let empty = Keys::default();
        let (old, new) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
        if let Some(tx) = &self.policy_triggers {
            for p in old.policies.iter().filter(|p| !new.policies.contains(p)) {
                let _ = tx.unbounded_send(ObjectRef::new(p));
            }
            for p in new.policies.iter().filter(|p| !old.policies.contains(p)) {
                let _ = tx.unbounded_send(ObjectRef::new(p));
            }
        }
        if let Some(tx) = &self.claim_triggers
            && old.partner_id != new.partner_id
        {
            let inner = self.read();
            for id in [&old.partner_id, &new.partner_id].into_iter().flatten() {
                for other in inner.by_id.get(id).into_iter().flat_map(Refs::iter).filter(|o| o.as_ref() != r) {
                    let _ = tx.unbounded_send(other.as_ref().clone());
                }
            }
        }
    }

    /// Partners (namespace/name, sorted) whose spec requests `policy`.
    pub fn policy_users(&self, policy: &str) -> Vec<String> {
        let mut users: Vec<String> = self
            .read()
            .by_policy
            .get(policy)
            .into_iter()
            .flat_map(Refs::iter)
            .map(|r| format!("{}/{}", r.namespace.as_deref().unwrap_or_default(), r.name))
            .collect();
        users.sort();
        users
    }

    /// Partners requesting `policy`.
    pub fn requesting(&self, policy: &str) -> Vec<ObjectRef<PackedPartner>> {
        self.read().by_policy.get(policy).into_iter().flat_map(Refs::iter).map(|r| r.as_ref().clone()).collect()
    }

    /// Partners naming `namespace/name` as their certificate Secret.
    pub fn naming_secret(&self, namespace: &str, name: &str) -> Vec<ObjectRef<PackedPartner>> {
        let inner = self.read();
        inner
            .by_cert
            .get(&secret_key(namespace, name))
            .into_iter()
            .flat_map(Refs::iter)
            .map(|r| r.as_ref().clone())
            .collect()
    }

    /// Whether some Partner names `namespace/name` as its certificate Secret.
    pub fn is_certificate_secret(&self, namespace: &str, name: &str) -> bool {
        self.read().by_cert.contains_key(&secret_key(namespace, name))
    }

    /// Partners claiming `partner_id`.
    pub fn claiming(&self, partner_id: &str) -> Vec<ObjectRef<PackedPartner>> {
        self.read().by_id.get(partner_id).into_iter().flat_map(Refs::iter).map(|r| r.as_ref().clone()).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Trust snapshot

/// DER certificates, shared.
pub type Ders = Arc<Vec<Vec<u8>>>;

/// The CACertificate set evaluated once: every CA's verdict and, per domain, the DER of the
/// Ready roots and intermediates partner certificates are validated against.
#[derive(Debug)]
pub struct TrustSnapshot {
    /// Changes whenever the snapshot is recompiled; part of every cached certificate verdict.
    pub id: u64,
    key: Vec<(String, String)>,
    pub inputs: Vec<CaInput>,
    pub verdicts: Vec<CaVerdict>,
    sets: BTreeMap<PartnerDomain, (Ders, Ders)>,
    /// The verdicts hold until this instant (inclusive); None: until the set changes.
    valid_through: Option<jiff::Timestamp>,
}

impl TrustSnapshot {
    /// Ready roots and intermediates of `domain`.
    pub fn trusted(&self, domain: PartnerDomain) -> (Ders, Ders) {
        self.sets.get(&domain).cloned().unwrap_or_default()
    }

    /// The verdict on the CA named `name`.
    pub fn verdict(&self, name: &str) -> Option<&CaVerdict> {
        self.verdicts.iter().find(|v| v.name == name)
    }
}

/// The current [`TrustSnapshot`], recompiled only when the CA set changed or time moved past
/// a verdict's next check.
#[derive(Default)]
pub struct TrustCache {
    current: Mutex<Option<Arc<TrustSnapshot>>>,
    ids: AtomicU64,
    compiles: AtomicU64,
}

impl TrustCache {
    /// How often the trust store was compiled (for tests and the benchmark).
    pub fn compiles(&self) -> u64 {
        self.compiles.load(Ordering::Relaxed)
    }

    /// The snapshot for the CAs in `store` at `now`.
    pub fn get(&self, store: &Store<CACertificate>, now: jiff::Timestamp) -> Arc<TrustSnapshot> {
        let cas: Vec<Arc<CACertificate>> =
            store.state().into_iter().filter(|ca| ca.metadata.deletion_timestamp.is_none()).collect();
        let mut key: Vec<(String, String)> =
            cas.iter().map(|ca| (ca.name_any(), ca.resource_version().unwrap_or_default())).collect();
        key.sort();
        let mut current = lock(&self.current);
        if let Some(s) = current.as_ref()
            && s.key == key
            && s.valid_through.is_none_or(|t| now <= t)
        {
            return s.clone();
        }
        let mut inputs: Vec<CaInput> = cas
            .iter()
            .map(|ca| CaInput { name: ca.name_any(), domain: ca.spec.domain, pem: ca.spec.certificate.clone() })
            .collect();
        inputs.sort_by(|a, b| a.name.cmp(&b.name));
        let verdicts = trust::evaluate_cas(&inputs, now);
        let domains: std::collections::BTreeSet<PartnerDomain> = inputs.iter().map(|i| i.domain).collect();
        let sets = domains
            .into_iter()
            .map(|d| {
                let (roots, intermediates) = trust::trusted_sets(&inputs, d, now);
                (d, (Arc::new(roots), Arc::new(intermediates)))
            })
            .collect();
        let valid_through = verdicts.iter().filter_map(|v| v.next_check).min();
        let snapshot = Arc::new(TrustSnapshot {
            id: self.ids.fetch_add(1, Ordering::Relaxed) + 1,
            key,
            inputs,
            verdicts,
            sets,
            valid_through,
        });
        self.compiles.fetch_add(1, Ordering::Relaxed);
        *current = Some(snapshot.clone());
        snapshot
    }
}

// ---------------------------------------------------------------------------------------------
// Secret contents

/// The content of a Secret as last read or written by the operator, at a resourceVersion.
#[derive(Clone, Debug)]
pub struct Content<T> {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub value: T,
}

impl<T> Content<T> {
    /// Whether `meta` (the Secret store's) shows exactly the Secret and version this content was
    /// read or written at: content at one resourceVersion never changes, so it is still current.
    pub fn shown_by(&self, meta: &SecretMeta) -> bool {
        !meta.uid().is_empty()
            && self.uid.as_deref() == Some(meta.uid())
            && !meta.resource_version().is_empty()
            && self.resource_version.as_deref() == Some(meta.resource_version())
    }
}

/// Contents of Secrets keyed by namespace/name; entries are believed while the metadata store
/// shows the same resourceVersion (or an older one: the store lags behind a write).
pub struct ContentCache<T> {
    /// Keyed by [`namespaced_key`]: one allocation per entry.
    entries: Mutex<HashMap<Box<str>, Content<T>>>,
}

impl<T> Default for ContentCache<T> {
    fn default() -> Self {
        Self { entries: Mutex::new(HashMap::new()) }
    }
}

/// Whether content read at `cached` still describes an object the store shows at `seen`.
pub fn still_current(cached: Option<&str>, seen: Option<&str>) -> bool {
    match (cached, seen) {
        (Some(c), Some(s)) if c == s => true,
        // resourceVersions are opaque, but the API server's are etcd revisions: a store that
        // shows an older one has not caught up with our own write yet.
        (Some(c), Some(s)) => matches!((c.parse::<u64>(), s.parse::<u64>()), (Ok(c), Ok(s)) if s < c),
        _ => false,
    }
}

impl<T: Clone> ContentCache<T> {
    pub fn get(&self, namespace: &str, name: &str) -> Option<Content<T>> {
        lock(&self.entries).get(namespaced_key(namespace, name).as_str()).cloned()
    }

    pub fn put(&self, namespace: &str, name: &str, content: Content<T>) {
        lock(&self.entries).insert(namespaced_key(namespace, name).into_boxed_str(), content);
    }

    pub fn evict(&self, namespace: &str, name: &str) {
        lock(&self.entries).remove(namespaced_key(namespace, name).as_str());
    }

    pub fn clear(&self) {
        lock(&self.entries).clear();
    }

    /// Keeps the entries `keep` accepts (given namespace, name and entry), drops the others.
    pub fn retain(&self, mut keep: impl FnMut(&str, &str, &Content<T>) -> bool) {
        lock(&self.entries).retain(|key, c| {
            let (namespace, name) = key.split_once('/').unwrap_or(("", key));
            keep(namespace, name, c)
        });
    }

    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A Secret's full content, for owned Secrets the operator wrote (true) or read (false).
pub type OwnedContents = ContentCache<(Arc<Secret>, bool)>;

// ---------------------------------------------------------------------------------------------
// Back-off

/// Per-object exponential back-off for failed reconciles: 1 s, doubling, at most 5 minutes;
/// forgotten on the next success.
#[derive(Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

/// First retry delay.
pub const BACKOFF_BASE: std::time::Duration = std::time::Duration::from_secs(1);
/// Longest retry delay.
pub const BACKOFF_MAX: std::time::Duration = std::time::Duration::from_secs(300);

impl Backoff {
    /// Records a failure of `key`; returns the delay before the next attempt.
    pub fn failed(&self, key: &str) -> std::time::Duration {
        let mut f = lock(&self.failures);
        let n = f.entry(key.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        delay(*n)
    }

    /// Forgets the failures of `key`.
    pub fn succeeded(&self, key: &str) {
        let mut f = lock(&self.failures);
        if !f.is_empty() {
            f.remove(key);
        }
    }
}

/// The delay after `failures` consecutive failures.
pub fn delay(failures: u32) -> std::time::Duration {
    let exp = failures.saturating_sub(1).min(16);
    BACKOFF_BASE.saturating_mul(1u32 << exp).min(BACKOFF_MAX)
}

/// The back-off key of an object.
pub fn object_key<K: kube::runtime::reflector::Lookup>(kind: &str, obj: &K) -> String {
    format!("{kind}/{}/{}", obj.namespace().unwrap_or_default(), obj.name().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{PartnerSpec, PartnerType, PolicyRequest};
    use std::time::Duration;

    #[test]
    fn content_is_shown_only_by_the_same_secret_at_the_same_version() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
        let meta = |uid: Option<&str>, rv: Option<&str>| {
            let meta =
                ObjectMeta { uid: uid.map(String::from), resource_version: rv.map(String::from), ..Default::default() };
            SecretMeta::project(&meta, false)
        };
        let c = Content { uid: Some("u1".to_string()), resource_version: Some("7".to_string()), value: () };
        assert!(c.shown_by(&meta(Some("u1"), Some("7"))));
        assert!(!c.shown_by(&meta(Some("u1"), Some("8"))));
        assert!(!c.shown_by(&meta(Some("u2"), Some("7"))));
        let missing = Content { uid: None, resource_version: None, value: () };
        assert!(!missing.shown_by(&meta(None, None)));
    }

    #[test]
    fn the_content_cache_keeps_namespace_and_name_apart() {
        let cache = ContentCache::default();
        let put =
            |ns: &str, name: &str, v: u8| cache.put(ns, name, Content { uid: None, resource_version: None, value: v });
        put("a", "x", 1);
        put("b", "x", 2);
        put("a", "y", 3);
        assert_eq!(cache.get("a", "x").map(|c| c.value), Some(1));
        assert_eq!(cache.get("b", "x").map(|c| c.value), Some(2));
        assert!(cache.get("a", "z").is_none());
        let mut seen = Vec::new();
        cache.retain(|ns, name, c| {
            seen.push((ns.to_string(), name.to_string()));
            c.value != 2
        });
        seen.sort();
        let pairs = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
        assert_eq!(seen, pairs(&[("a", "x"), ("a", "y"), ("b", "x")]));
        assert!(cache.get("b", "x").is_none());
        cache.evict("a", "x");
        assert_eq!((cache.len(), cache.get("a", "y").map(|c| c.value)), (1, Some(3)));
    }

    #[test]
    fn index_entries_hold_one_partner_inline_and_a_set_only_for_more() {
        let r = |n: &str| Arc::new(ObjectRef::<PackedPartner>::new(n).within("a"));
        let (a, b) = (r("a"), r("b"));
        let mut map = HashMap::new();
        add(&mut map, "k", &a);
        add(&mut map, "k", &a);
        assert_eq!(map.get("k"), Some(&Refs::One(a.clone())));
        add(&mut map, "k", &b);
        assert!(matches!(map.get("k"), Some(Refs::Many(set)) if set.len() == 2));
        // Back to one: the same shape as if only that one had been added, so that comparisons
        // of old and new entries (after a relist) see no change.
        del(&mut map, "k", &a);
        assert_eq!(map.get("k"), Some(&Refs::One(b.clone())));
        del(&mut map, "k", &a);
        assert_eq!(map.get("k"), Some(&Refs::One(b.clone())));
        del(&mut map, "k", &b);
        assert!(map.is_empty());
        del(&mut map, "missing", &b);
        assert!(map.is_empty());
    }

    #[test]
    fn backoff_doubles_to_five_minutes_and_resets() {
        let b = Backoff::default();
        let d: Vec<u64> = (0..12).map(|_| b.failed("x").as_secs()).collect();
        assert_eq!(d, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(b.failed("y"), Duration::from_secs(1));
        b.succeeded("x");
        assert_eq!(b.failed("x"), Duration::from_secs(1));
        assert_eq!(delay(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn strip_drops_managed_fields_and_last_applied() {
        let mut s = Secret::default();
        s.metadata.managed_fields = Some(vec![Default::default()]);
        s.metadata.annotations = Some(BTreeMap::from([(LAST_APPLIED.to_string(), "{}".to_string())]));
        strip(&mut s);
        assert!(s.metadata.managed_fields.is_none());
        assert!(s.metadata.annotations.is_none());
        s.metadata.annotations =
            Some(BTreeMap::from([(LAST_APPLIED.to_string(), "{}".to_string()), ("k".to_string(), "v".to_string())]));
        strip(&mut s);
        assert_eq!(s.metadata.annotations.map(|a| a.len()), Some(1));
    }

    #[test]
    fn resource_versions() {
        assert!(still_current(Some("5"), Some("5")));
        assert!(still_current(Some("7"), Some("5")), "store lags behind our write");
        assert!(!still_current(Some("5"), Some("7")), "changed since");
        assert!(!still_current(Some("a"), Some("b")));
        assert!(!still_current(None, Some("5")));
    }

    fn partner(ns: &str, name: &str, id: &str, policies: &[&str]) -> Partner {
        let mut p = Partner::new(
            name,
            PartnerSpec {
                partner_id: Some(id.into()),
                partner_type: PartnerType::AuthPartner,
                organization_name: "O".into(),
                contact: None,
                policy_group: None,
                certificate: Some(crate::api::CertificateRef {
                    secret_name: format!("{name}-cert"),
                    certificate_key: None,
                    chain_key: None,
                }),
                policies: policies
                    .iter()
                    .map(|n| PolicyRequest {
                        name: n.to_string(),
                        use_case: None,
                        credential_types: vec![],
                        biometric_extractors: vec![],
                        api_keys: vec![],
                    })
                    .collect(),
                active: None,
            },
        );
        p.metadata.namespace = Some(ns.into());
        p
    }

    #[test]
    fn index_follows_changes_and_pushes_triggers() {
        let (ptx, mut prx) = futures::channel::mpsc::unbounded();
        let (ctx, mut crx) = futures::channel::mpsc::unbounded();
        let idx = PartnerIndex::new(Some(ptx), Some(ctx));
        let a = partner("n", "a", "id1", &["p1", "p2"]);
        let b = partner("n", "b", "id1", &["p2"]);
        idx.upsert(&a);
        idx.upsert(&b);
        assert_eq!(idx.policy_users("p2"), vec!["n/a".to_string(), "n/b".to_string()]);
        assert_eq!(idx.policy_users("p1"), vec!["n/a".to_string()]);
        assert!(idx.is_certificate_secret("n", "a-cert"));
        assert!(!idx.is_certificate_secret("m", "a-cert"));
        assert_eq!(idx.claiming("id1").len(), 2);
        // b's arrival told a (the other claimant) and p2.
        let mut policies = Vec::new();
        while let Ok(r) = prx.try_recv() {
            policies.push(r.name);
        }
        assert!(policies.contains(&"p2".to_string()));
        let mut claims = Vec::new();
        while let Ok(r) = crx.try_recv() {
            claims.push(r.name);
        }
        assert!(claims.contains(&"a".to_string()));
        // Deleting a releases p1 and tells b.
        idx.delete(&PackedPartner::pack(&a).unwrap());
        assert!(idx.policy_users("p1").is_empty());
        let mut policies = Vec::new();
        while let Ok(r) = prx.try_recv() {
            policies.push(r.name);
        }
        assert!(policies.contains(&"p1".to_string()));
        let mut claims = Vec::new();
        while let Ok(r) = crx.try_recv() {
            claims.push(r.name);
        }
        assert_eq!(claims, vec!["b".to_string()]);
        // An unchanged object changes nothing and triggers nothing.
        idx.upsert(&b);
        assert!(prx.try_recv().is_err());
        // A Partner being deleted stops using its policies.
        let mut b2 = b.clone();
        b2.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH));
        idx.upsert(&b2);
        assert!(idx.policy_users("p2").is_empty());
        assert!(idx.is_certificate_secret("n", "b-cert"));
    }
}
