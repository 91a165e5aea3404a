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

    fn apis<K>(&self, client: &Client) -> Vec<Api<K>>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match self {
            Scope::All => vec![Api::all(client.clone())],
            Scope::Namespaces(list) => list.iter().map(|ns| Api::namespaced(client.clone(), ns)).collect(),
        }
    }

    /// A watch of namespaced objects of kind `K` over the scope.
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
        let streams: Vec<_> = apis.into_iter().map(|api| watcher(api, config.clone()).boxed()).collect();
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
        let apis: Vec<Api<PartialObjectMeta<K>>> = match self {
            Scope::All => vec![Api::all(client.clone())],
            Scope::Namespaces(list) => list.iter().map(|ns| Api::namespaced(client.clone(), ns)).collect(),
        };
        // An Api of PartialObjectMeta makes metadata-only list and watch requests.
        let streams: Vec<_> = apis.into_iter().map(|api| watcher(api, config.clone()).boxed()).collect();
        let merged = streams.len() > 1;
        merge(streams, merged)
    }
}

/// Merges per-namespace watches. A reflector treats `Init`..`InitDone` as "replace the whole
/// store", which would drop the other namespaces' objects, so merged streams turn relist events
/// into plain applies. Objects deleted while a watch was down then linger in the store until the
/// next event for them; reconciles of such objects find them gone and stop.
fn merge<K: Send + 'static>(
    streams: Vec<futures::stream::BoxStream<'static, watcher::Result<Event<K>>>>,
    merged: bool,
) -> impl Stream<Item = watcher::Result<Event<K>>> + Send + 'static {
    stream::select_all(streams).filter_map(move |ev| async move {
        if !merged {
            return Some(ev);
        }
        match ev {
            Ok(Event::Init) | Ok(Event::InitDone) => None,
            Ok(Event::InitApply(obj)) => Some(Ok(Event::Apply(obj))),
            other => Some(other),
        }
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

    #[test]
    fn parse_scope() {
        assert_eq!(Scope::parse(""), Scope::All);
        assert_eq!(Scope::parse("*"), Scope::All);
        assert_eq!(Scope::parse("a, b"), Scope::Namespaces(vec!["a".into(), "b".into()]));
        assert!(Scope::parse("a").contains("a"));
        assert!(!Scope::parse("a").contains("b"));
    }
}
