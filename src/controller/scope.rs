//! Which namespaces the operator watches: all of them, or a list.
//!
//! With a list, one watch per namespace is merged into a single stream, so the operator needs
//! RBAC only in those namespaces (namespaced Roles instead of a ClusterRole for Secrets).

use futures::{Stream, StreamExt, stream};
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// Watched namespaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace.
    All,
    /// Only these namespaces.
    Namespaces(Vec<String>),
}

impl Scope {
    /// Parses a comma-separated list; empty or "*" means all namespaces.
    pub fn parse(s: &str) -> Self {
        let list: Vec<String> = s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        if list.is_empty() || list.iter().any(|n| n == "*") { Scope::All } else { Scope::Namespaces(list) }
    }

    /// Whether objects of this namespace are in scope.
    pub fn contains(&self, namespace: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Namespaces(list) => list.iter().any(|n| n == namespace),
        }
    }

    /// One Api per watched namespace, or one cluster-wide Api for all namespaces.
    pub fn apis<K>(&self, client: &Client) -> Vec<Api<K>>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match self {
            Scope::All => vec![Api::all(client.clone())],
            Scope::Namespaces(list) => list.iter().map(|ns| Api::namespaced(client.clone(), ns)).collect(),
        }
    }

    /// A watch of namespaced objects of kind `K` over the scope, each namespace listed in one
    /// response parsed while it arrives ([`super::listwatch`]).
    pub fn watch<K>(
        &self,
        client: &Client,
        config: watcher::Config,
    ) -> impl Stream<Item = watcher::Result<Event<K>>> + Send + 'static
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + Debug + Send + 'static,
        K::DynamicType: Default,
    {
        let apis = self.apis::<K>(client);
        let merged = apis.len() > 1;
        let streams: Vec<_> =
            apis.into_iter().map(|api| super::listwatch::watch(api, config.clone()).boxed()).collect();
        merge(streams, merged)
    }

    /// A metadata-only watch of namespaced objects of kind `K` over the scope.
    pub fn watch_metadata<K>(
        &self,
        client: &Client,
        config: watcher::Config,
    ) -> impl Stream<Item = watcher::Result<Event<PartialObjectMeta<K>>>> + Send + 'static
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + Debug + Send + 'static,
        K::DynamicType: Default,
    {
        self.watch_metadata_with::<K>(client, config, "", &[])
    }

    /// [`Scope::watch_metadata`] plus, with a namespace list, a watch of the objects `selector`
    /// selects in each of `extra_namespaces` outside the list (e.g. the operator's consumer
    /// copies in export target namespaces), merged into the same listing. With every namespace
    /// watched they add nothing and are not watched.
    pub fn watch_metadata_with<K>(
        &self,
        client: &Client,
        config: watcher::Config,
        selector: &str,
        extra_namespaces: &[String],
    ) -> impl Stream<Item = watcher::Result<Event<PartialObjectMeta<K>>>> + Send + 'static
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + Debug + Send + 'static,
        K::DynamicType: Default,
    {
        // An Api of PartialObjectMeta makes metadata-only list and watch requests.
        let mut streams: Vec<_> = self
            .apis::<PartialObjectMeta<K>>(client)
            .into_iter()
            .map(|api| watcher(api, config.clone()).boxed())
            .collect();
        if let Scope::Namespaces(list) = self {
            let mut extra: Vec<&String> = extra_namespaces.iter().filter(|n| !list.contains(n)).collect();
            extra.sort();
            extra.dedup();
            for ns in extra {
                let api: Api<PartialObjectMeta<K>> = Api::namespaced(client.clone(), ns);
                streams.push(watcher(api, config.clone().labels(selector)).boxed());
            }
        }
        let merged = streams.len() > 1;
        merge(streams, merged)
    }
}

/// Merges per-namespace watches into one stream a reflector can consume.
///
/// A reflector treats `Init`..`InitDone` as "replace the whole store" and only reports ready
/// after `InitDone`, so the merged stream presents the first listing of all namespaces as one:
/// a single `Init`, every object as `InitApply`, and one `InitDone` once every namespace has
/// been listed. Later relists of a single namespace become plain applies; an object deleted
/// while that namespace's watch was down lingers in the store until its next event, and a
/// reconcile of it finds it gone and stops.
fn merge<K: Send + 'static>(
    streams: Vec<futures::stream::BoxStream<'static, watcher::Result<Event<K>>>>,
    merged: bool,
) -> impl Stream<Item = watcher::Result<Event<K>>> + Send + 'static {
    let count = streams.len();
    let tagged: Vec<_> = streams.into_iter().enumerate().map(|(i, s)| s.map(move |ev| (i, ev)).boxed()).collect();
    let mut listed = vec![false; count];
    let mut started = false;
    let mut synced = false;
    stream::select_all(tagged).flat_map(move |(i, ev)| {
        let mut out = Vec::new();
        if !merged {
            out.push(ev);
            return stream::iter(out);
        }
        match ev {
            Err(e) => out.push(Err(e)),
            Ok(Event::Delete(obj)) => out.push(Ok(Event::Delete(obj))),
            Ok(Event::Init) | Ok(Event::InitDone) | Ok(Event::InitApply(_)) | Ok(Event::Apply(_)) if synced => {
                if let Ok(Event::InitApply(obj)) | Ok(Event::Apply(obj)) = ev {
                    out.push(Ok(Event::Apply(obj)));
                }
            }
            Ok(Event::Init) => {
                if !started {
                    started = true;
                    out.push(Ok(Event::Init));
                }
            }
            Ok(Event::InitApply(obj)) | Ok(Event::Apply(obj)) => {
                if !started {
                    started = true;
                    out.push(Ok(Event::Init));
                }
                out.push(Ok(Event::InitApply(obj)));
            }
            Ok(Event::InitDone) => {
                if let Some(flag) = listed.get_mut(i) {
                    *flag = true;
                }
                if listed.iter().all(|l| *l) {
                    synced = true;
                    if !started {
                        out.push(Ok(Event::Init));
                    }
                    out.push(Ok(Event::InitDone));
                }
            }
        }
        stream::iter(out)
    })
}

fn watcher<K>(api: Api<K>, config: watcher::Config) -> impl Stream<Item = watcher::Result<Event<K>>> + Send
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    watcher::watcher(api, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(events: &[Event<u32>]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                Event::Init => "Init".to_string(),
                Event::InitApply(o) => format!("InitApply({o})"),
                Event::InitDone => "InitDone".to_string(),
                Event::Apply(o) => format!("Apply({o})"),
                Event::Delete(o) => format!("Delete({o})"),
            })
            .collect()
    }

    #[tokio::test]
    async fn merged_listing_is_one_listing() {
        let a = stream::iter(vec![Ok(Event::Init), Ok(Event::InitApply(1)), Ok(Event::InitDone), Ok(Event::Apply(2))]);
        let b = stream::iter(vec![Ok(Event::Init), Ok(Event::InitApply(10)), Ok(Event::InitDone)]);
        // Run a to completion first, then b: a's InitDone must not end the listing.
        let a = a.boxed();
        let b = stream::iter(Vec::new()).chain(b).boxed();
        let out: Vec<Event<u32>> =
            merge(vec![a, b], true).filter_map(|e| async move { e.ok() }).collect::<Vec<_>>().await;
        let k = kinds(&out);
        assert_eq!(k.iter().filter(|e| *e == "Init").count(), 1, "{k:?}");
        assert_eq!(k.iter().filter(|e| *e == "InitDone").count(), 1, "{k:?}");
        let done = k.iter().position(|e| e == "InitDone").expect("InitDone");
        // Both namespaces' objects are part of the listing, whatever the interleaving.
        for o in ["1", "10"] {
            let at = k.iter().position(|e| e.ends_with(&format!("({o})"))).expect("object");
            assert!(at < done, "{k:?}");
        }
        // After the listing, a relist of one namespace is only applies.
        let relist =
            stream::iter(vec![Ok(Event::Init), Ok(Event::InitApply(1)), Ok(Event::InitApply(3)), Ok(Event::InitDone)]);
        let first = stream::iter(vec![Ok(Event::Init), Ok(Event::InitDone)]);
        let other = stream::iter(vec![Ok(Event::Init), Ok(Event::InitDone)]).chain(relist);
        let out: Vec<Event<u32>> = merge(vec![first.boxed(), other.boxed()], true)
            .filter_map(|e| async move { e.ok() })
            .collect::<Vec<_>>()
            .await;
        let k = kinds(&out);
        let done = k.iter().position(|e| e == "InitDone").expect("InitDone");
        assert!(k[done + 1..].iter().all(|e| e.starts_with("Apply(")), "{k:?}");
    }

    #[test]
    fn parse_scope() {
        assert_eq!(Scope::parse(""), Scope::All);
        assert_eq!(Scope::parse("*"), Scope::All);
        assert_eq!(Scope::parse("a, b"), Scope::Namespaces(vec!["a".into(), "b".into()]));
        assert!(Scope::parse("a").contains("a"));
        assert!(!Scope::parse("a").contains("b"));
    }
}
