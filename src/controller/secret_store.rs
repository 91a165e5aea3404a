//! The Secret store: the metadata of the Secrets the operator needs, looked up by namespace and
//! name, and by the uid of their controller owner.
//!
//! The largest structure the operator holds (three Secrets per onboarded partner). kube's
//! reflector store keys each object by an `ObjectRef` that copies its name and namespace into a
//! ~100-byte hash bucket; here a bucket is one pointer to the shared [`SecretMeta`], hashed by
//! the namespace and name it carries, and the owner index lists the same entries. The watch
//! applies events in the order the API server sent them; a listing builds a new table beside
//! the current one and replaces it whole when it is complete (what kube's store does), so a
//! reader never sees half a listing.

use super::secrets::SecretMeta;
use hashbrown::HashTable;
use kube::runtime::watcher;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, PoisonError, RwLock};

/// Shared by every clone; written by the Secret watch only.
#[derive(Clone, Default)]
pub struct SecretStore {
    inner: Arc<RwLock<Inner>>,
}

#[derive(Default)]
struct Inner {
    hasher: RandomState,
    secrets: HashTable<Arc<SecretMeta>>,
    /// Owner uid → the stored Secrets it controls (a Partner's or MispLicense's few).
    by_owner: HashMap<Box<str>, Vec<Arc<SecretMeta>>>,
    /// The listing in progress, if any.
    listing: Option<HashTable<Arc<SecretMeta>>>,
}

fn hash(hasher: &RandomState, namespace: &str, name: &str) -> u64 {
    hasher.hash_one((namespace, name))
}

fn same(meta: &SecretMeta, namespace: &str, name: &str) -> bool {
    meta.namespace() == namespace && meta.name() == name
}

impl Inner {
    /// Puts `meta` into `table`, returning the entry it replaced.
    fn put(
        hasher: &RandomState,
        table: &mut HashTable<Arc<SecretMeta>>,
        meta: Arc<SecretMeta>,
    ) -> Option<Arc<SecretMeta>> {
        let h = hash(hasher, meta.namespace(), meta.name());
        let rehash = |m: &Arc<SecretMeta>| hash(hasher, m.namespace(), m.name());
        match table.entry(h, |m| same(m, meta.namespace(), meta.name()), rehash) {
            hashbrown::hash_table::Entry::Occupied(mut e) => Some(std::mem::replace(e.get_mut(), meta)),
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert(meta);
                None
            }
        }
    }

    fn index(&mut self, meta: &Arc<SecretMeta>) {
        if let Some(owner) = meta.controller() {
            self.by_owner.entry(owner.uid.into()).or_default().push(meta.clone());
        }
    }

    fn unindex(&mut self, meta: &Arc<SecretMeta>) {
        let Some(owner) = meta.controller() else { return };
        if let Some(owned) = self.by_owner.get_mut(owner.uid) {
            owned.retain(|m| !Arc::ptr_eq(m, meta));
            if owned.is_empty() {
                self.by_owner.remove(owner.uid);
            }
        }
    }

    fn apply(&mut self, meta: &SecretMeta) {
        let meta = Arc::new(meta.clone());
        if let Some(old) = Self::put(&self.hasher, &mut self.secrets, meta.clone()) {
            self.unindex(&old);
        }
        self.index(&meta);
    }

    fn delete(&mut self, meta: &SecretMeta) {
        let h = hash(&self.hasher, meta.namespace(), meta.name());
        if let Ok(e) = self.secrets.find_entry(h, |m| same(m, meta.namespace(), meta.name())) {
            let (old, _) = e.remove();
            self.unindex(&old);
        }
    }

    fn listed(&mut self) {
        let Some(listing) = self.listing.take() else { return };
        self.secrets = listing;
        self.by_owner = HashMap::new();
        let all: Vec<Arc<SecretMeta>> = self.secrets.iter().cloned().collect();
        for meta in &all {
            self.index(meta);
        }
    }
}

impl SecretStore {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Follows the Secret metadata watch.
    pub fn apply(&self, event: &watcher::Event<SecretMeta>) {
        let mut inner = self.write();
        match event {
            watcher::Event::Apply(meta) => inner.apply(meta),
            watcher::Event::Delete(meta) => inner.delete(meta),
            watcher::Event::Init => inner.listing = Some(HashTable::new()),
            watcher::Event::InitApply(meta) => {
                let Inner { hasher, listing, .. } = &mut *inner;
                if let Some(listing) = listing {
                    Inner::put(hasher, listing, Arc::new(meta.clone()));
                }
            }
            watcher::Event::InitDone => inner.listed(),
        }
    }

    /// The stored metadata of `namespace/name`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<SecretMeta>> {
        let inner = self.read();
        inner.secrets.find(hash(&inner.hasher, namespace, name), |m| same(m, namespace, name)).cloned()
    }

    /// The stored Secrets controlled by the object with `owner_uid`.
    pub fn owned_by(&self, owner_uid: &str) -> Vec<Arc<SecretMeta>> {
        self.read().by_owner.get(owner_uid).cloned().unwrap_or_default()
    }

    /// Every stored Secret.
    pub fn all(&self) -> Vec<Arc<SecretMeta>> {
        self.read().secrets.iter().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.read().secrets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    fn secret(ns: &str, name: &str, rv: &str, owner: Option<&str>) -> SecretMeta {
        let meta = ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            uid: Some(format!("uid-{ns}-{name}")),
            resource_version: Some(rv.into()),
            owner_references: owner
                .map(|o| vec![OwnerReference { uid: o.into(), controller: Some(true), ..Default::default() }]),
            ..Default::default()
        };
        SecretMeta::project(&meta, false)
    }

    fn owned(store: &SecretStore, uid: &str) -> Vec<String> {
        let mut v: Vec<String> = store.owned_by(uid).iter().map(|m| m.name().to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn lookups_by_namespace_and_name_see_the_latest_event() {
        let store = SecretStore::default();
        store.apply(&watcher::Event::Apply(secret("a", "s", "1", None)));
        store.apply(&watcher::Event::Apply(secret("b", "s", "2", None)));
        store.apply(&watcher::Event::Apply(secret("a", "s", "3", None)));
        assert_eq!(store.get("a", "s").map(|m| m.resource_version().to_string()), Some("3".into()));
        assert_eq!(store.get("b", "s").map(|m| m.resource_version().to_string()), Some("2".into()));
        assert!(store.get("a", "t").is_none());
        // Namespace and name are not one string: "a/b" + "c" is not "a" + "b/c".
        store.apply(&watcher::Event::Apply(secret("a/b", "c", "4", None)));
        assert!(store.get("a", "b/c").is_none());
        assert_eq!(store.len(), 3);
        store.apply(&watcher::Event::Delete(secret("a", "s", "3", None)));
        assert!(store.get("a", "s").is_none());
        store.apply(&watcher::Event::Delete(secret("a", "missing", "1", None)));
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn the_owner_index_follows_owner_changes_deletions_and_listings() {
        let store = SecretStore::default();
        store.apply(&watcher::Event::Apply(secret("a", "k1", "1", Some("p1"))));
        store.apply(&watcher::Event::Apply(secret("a", "k2", "1", Some("p1"))));
        store.apply(&watcher::Event::Apply(secret("a", "cert", "1", None)));
        assert_eq!(owned(&store, "p1"), ["k1", "k2"]);
        // An editor moves k2 to another owner: listed under that one only.
        store.apply(&watcher::Event::Apply(secret("a", "k2", "2", Some("p2"))));
        assert_eq!((owned(&store, "p1"), owned(&store, "p2")), (vec!["k1".to_string()], vec!["k2".to_string()]));
        store.apply(&watcher::Event::Apply(secret("a", "k2", "3", Some("p2"))));
        assert_eq!(owned(&store, "p2"), ["k2"]);
        store.apply(&watcher::Event::Delete(secret("a", "k1", "1", Some("p1"))));
        assert!(owned(&store, "p1").is_empty());
        // A listing replaces everything once it is complete; until then the old state holds.
        store.apply(&watcher::Event::Init);
        store.apply(&watcher::Event::InitApply(secret("a", "k3", "5", Some("p1"))));
        assert_eq!(owned(&store, "p2"), ["k2"]);
        assert!(store.get("a", "k3").is_none());
        store.apply(&watcher::Event::InitDone);
        assert_eq!((owned(&store, "p1"), owned(&store, "p2")), (vec!["k3".to_string()], Vec::<String>::new()));
        assert!(store.get("a", "k2").is_none() && store.get("a", "cert").is_none());
        assert_eq!(store.all().len(), 1);
    }

    #[test]
    fn an_entry_is_shared_by_the_table_and_the_owner_index() {
        let store = SecretStore::default();
        store.apply(&watcher::Event::Apply(secret("a", "k", "1", Some("p"))));
        let (Some(by_name), [by_owner]) = (store.get("a", "k"), &store.owned_by("p")[..]) else {
            panic!("the Secret is stored and indexed")
        };
        assert!(Arc::ptr_eq(&by_name, by_owner));
    }
}
