//! A list-then-watch whose listing is parsed while it arrives.
//!
//! Why: kube's client reads a response whole before parsing it (the body collected, copied into
//! one buffer, copied again into a `String`). Partners and MispLicenses are listed from the API
//! server's watch cache in one response (see `run::Stores::drive`); after a restart at 10,000
//! onboarded Partners that response is ~15 MB of JSON, status and managed fields included, and
//! holding it two to three times over was the operator's memory peak (~99 MiB, against ~64 MiB
//! converged). Here a blocking thread reads the body in 64 KiB pieces and parses one item at a
//! time; besides the read buffer only the item being parsed and the few handed over but not yet
//! consumed are held. (Kubernetes ≥ 1.27's streaming list, WatchList, serves the same end; this
//! works on every version the operator supports.)
//!
//! The events are those of `kube::runtime::watcher` with its list-then-watch strategy: `Init`,
//! one `InitApply` per listed object, `InitDone`, then `Apply`/`Delete` from a watch resumed at
//! the last resourceVersion or bookmark; a 410 Gone relists; errors are yielded for the caller's
//! back-off. A listing always comes in one response (`page_size` is not used).

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use kube::api::{Api, ListParams, VersionMatch, WatchEvent, WatchParams};
use kube::runtime::watcher::{self, Event, ListSemantic};
use kube::{Client, Resource, ResourceExt};
use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt::Debug;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::compat::FuturesAsyncReadCompatExt;
use tokio_util::io::SyncIoBridge;

/// Parsed objects handed over but not yet yielded: the parser waits beyond this.
const ITEMS_IN_FLIGHT: usize = 64;
/// Bytes of the response read at a time.
const READ_BUFFER: usize = 64 * 1024;

type Parsed = tokio::task::JoinHandle<Result<String, serde_json::Error>>;

enum State<K> {
    /// Nothing listed yet, or a relist is due.
    Empty,
    /// Objects of the listing arrive on `items`; `parsed` ends with the list's resourceVersion.
    Listing {
        items: mpsc::Receiver<K>,
        parsed: Parsed,
    },
    /// Listed (or a watch ended): watch from `resource_version`.
    Listed {
        resource_version: String,
    },
    Watching {
        resource_version: String,
        stream: BoxStream<'static, kube::Result<WatchEvent<K>>>,
    },
}

/// Lists and watches `api`'s objects (see the module documentation).
pub fn watch<K>(api: Api<K>, config: watcher::Config) -> impl Stream<Item = watcher::Result<Event<K>>> + Send
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    futures::stream::unfold((api, config, State::Empty), |(api, config, mut state)| async move {
        loop {
            let (event, next) = step(&api, &config, state).await;
            state = next;
            if let Some(event) = event {
                return Some((event, (api, config, state)));
            }
        }
    })
}

fn list_params(config: &watcher::Config) -> ListParams {
    let (resource_version, version_match) = match config.list_semantic {
        ListSemantic::Any => (Some("0".to_string()), Some(VersionMatch::NotOlderThan)),
        ListSemantic::MostRecent => (None, None),
    };
    ListParams {
        label_selector: config.label_selector.clone(),
        field_selector: config.field_selector.clone(),
        resource_version,
        version_match,
        ..Default::default()
    }
}

fn watch_params(config: &watcher::Config) -> WatchParams {
    WatchParams {
        label_selector: config.label_selector.clone(),
        field_selector: config.field_selector.clone(),
        timeout: config.timeout,
        bookmarks: config.bookmarks,
        send_initial_events: false,
    }
}

fn is_gone(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 410)
}

async fn step<K>(
    api: &Api<K>,
    config: &watcher::Config,
    state: State<K>,
) -> (Option<watcher::Result<Event<K>>>, State<K>)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    match state {
        State::Empty => {
            let request = match kube::core::Request::new(api.resource_url()).list(&list_params(config)) {
                Ok(r) => r,
                Err(e) => {
                    return (Some(Err(watcher::Error::InitialListFailed(kube::Error::BuildRequest(e)))), State::Empty);
                }
            };
            let client: Client = api.clone().into();
            match client.request_stream(request).await {
                Ok(body) => {
                    let reader = std::io::BufReader::with_capacity(READ_BUFFER, SyncIoBridge::new(body.compat()));
                    let (tx, items) = mpsc::channel(ITEMS_IN_FLIGHT);
                    let parsed = tokio::task::spawn_blocking(move || parse_list(reader, &tx));
                    (Some(Ok(Event::Init)), State::Listing { items, parsed })
                }
                Err(e) => (Some(Err(watcher::Error::InitialListFailed(e))), State::Empty),
            }
        }
        State::Listing { mut items, parsed } => match items.recv().await {
            Some(obj) => (Some(Ok(Event::InitApply(obj))), State::Listing { items, parsed }),
            None => match parsed.await {
                Ok(Ok(resource_version)) if !resource_version.is_empty() => {
                    (Some(Ok(Event::InitDone)), State::Listed { resource_version })
                }
                Ok(Ok(_)) => (Some(Err(watcher::Error::NoResourceVersion)), State::Empty),
                Ok(Err(e)) => (Some(Err(watcher::Error::InitialListFailed(kube::Error::SerdeError(e)))), State::Empty),
                Err(e) => {
                    (Some(Err(watcher::Error::InitialListFailed(kube::Error::Service(Box::new(e))))), State::Empty)
                }
            },
        },
        State::Listed { resource_version } => match api.watch(&watch_params(config), &resource_version).await {
            Ok(stream) => (None, State::Watching { resource_version, stream: stream.boxed() }),
            Err(e) if is_gone(&e) => (Some(Err(watcher::Error::WatchStartFailed(e))), State::Empty),
            Err(e) => (Some(Err(watcher::Error::WatchStartFailed(e))), State::Listed { resource_version }),
        },
        State::Watching { resource_version, mut stream } => {
            // The server ends a watch after `timeout` (290 s unless set); one that stays silent
            // well past it is a connection gone quiet, resumed like an ended watch. A timeout of
            // 0 waits for ever (as kube's watcher).
            let next = match config.timeout {
                Some(0) => stream.next().await,
                t => {
                    let idle = Duration::from_secs(u64::from(t.unwrap_or(290)) + 30);
                    match tokio::time::timeout(idle, stream.next()).await {
                        Ok(next) => next,
                        Err(_) => return (None, State::Listed { resource_version }),
                    }
                }
            };
            match next {
                Some(Ok(WatchEvent::Added(obj) | WatchEvent::Modified(obj))) => {
                    let rv = obj.resource_version();
                    resume_after(rv, Event::Apply(obj), stream)
                }
                Some(Ok(WatchEvent::Deleted(obj))) => {
                    let rv = obj.resource_version();
                    resume_after(rv, Event::Delete(obj), stream)
                }
                Some(Ok(WatchEvent::Bookmark(b))) => {
                    (None, State::Watching { resource_version: b.metadata.resource_version, stream })
                }
                Some(Ok(WatchEvent::Error(e))) => {
                    // 410 Gone: the resourceVersion is too old to resume from; list again.
                    let next = if e.code == 410 { State::Empty } else { State::Watching { resource_version, stream } };
                    (Some(Err(watcher::Error::WatchError(e))), next)
                }
                Some(Err(e)) => {
                    (Some(Err(watcher::Error::WatchFailed(e))), State::Watching { resource_version, stream })
                }
                None => (None, State::Listed { resource_version }),
            }
        }
    }
}

/// Yields a watched object's `event` and watches on from its resourceVersion; without one, lists
/// again.
fn resume_after<K>(
    resource_version: Option<String>,
    event: Event<K>,
    stream: BoxStream<'static, kube::Result<WatchEvent<K>>>,
) -> (Option<watcher::Result<Event<K>>>, State<K>) {
    match resource_version {
        Some(rv) if !rv.is_empty() => (Some(Ok(event)), State::Watching { resource_version: rv, stream }),
        _ => (Some(Err(watcher::Error::NoResourceVersion)), State::Empty),
    }
}

/// Parses a list response from `reader`, sending each item to `items` as soon as it is parsed;
/// returns the list's resourceVersion. Fails on malformed JSON, on a read error and when the
/// receiver is gone (the watch was dropped mid-listing).
fn parse_list<K: DeserializeOwned>(reader: impl std::io::Read, items: &mpsc::Sender<K>) -> serde_json::Result<String> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let resource_version = ListSeed { items }.deserialize(&mut de)?;
    de.end()?;
    Ok(resource_version)
}

struct ListSeed<'a, K> {
    items: &'a mpsc::Sender<K>,
}

impl<'de, K: DeserializeOwned> DeserializeSeed<'de> for ListSeed<'_, K> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, K: DeserializeOwned> Visitor<'de> for ListSeed<'_, K> {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of objects")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<String, A::Error> {
        let mut resource_version = String::new();
        // The server writes the keys in any order (a custom resource's list in sorted order:
        // `items` before `metadata`).
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "metadata" => resource_version = map.next_value::<ListMeta>()?.resource_version.unwrap_or_default(),
                "items" => map.next_value_seed(Items { items: self.items })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(resource_version)
    }
}

struct Items<'a, K> {
    items: &'a mpsc::Sender<K>,
}

impl<'de, K: DeserializeOwned> DeserializeSeed<'de> for Items<'_, K> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, K: DeserializeOwned> Visitor<'de> for Items<'_, K> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of objects")
    }

    /// An empty list may come as `"items": null`.
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<K>()? {
            self.items.blocking_send(item).map_err(|_| de::Error::custom("the listing was abandoned"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Item {
        n: u32,
    }

    /// Parses `json` on a blocking thread as the watch does; the items received and the result.
    async fn parse(json: &'static str, keep: usize) -> (Vec<u32>, serde_json::Result<String>) {
        let (tx, mut rx) = mpsc::channel(2);
        let parsed = tokio::task::spawn_blocking(move || parse_list::<Item>(std::io::Cursor::new(json), &tx));
        let mut got = Vec::new();
        while got.len() < keep {
            match rx.recv().await {
                Some(i) => got.push(i.n),
                None => break,
            }
        }
        drop(rx);
        let result = parsed.await.expect("parser thread");
        (got, result)
    }

    #[tokio::test]
    async fn items_in_order_and_the_resource_version_wherever_it_comes() {
        let json = r#"{"apiVersion":"v1","items":[{"n":1,"extra":{"a":[1,2]}},{"n":2},{"n":3}],"kind":"L","metadata":{"resourceVersion":"42","continue":""}}"#;
        let (got, rv) = parse(json, usize::MAX).await;
        assert_eq!(got, vec![1, 2, 3]);
        assert_eq!(rv.expect("parsed"), "42");
        let json = r#"{"metadata":{"resourceVersion":"7"},"items":[{"n":5}]}"#;
        let (got, rv) = parse(json, usize::MAX).await;
        assert_eq!((got, rv.expect("parsed")), (vec![5], "7".to_string()));
    }

    #[tokio::test]
    async fn empty_and_null_item_lists() {
        let (got, rv) = parse(r#"{"items":null,"metadata":{"resourceVersion":"3"}}"#, usize::MAX).await;
        assert_eq!((got, rv.expect("parsed")), (vec![], "3".to_string()));
        let (got, rv) = parse(r#"{"items":[],"metadata":{}}"#, usize::MAX).await;
        assert_eq!((got, rv.expect("parsed")), (vec![], String::new()));
    }

    #[tokio::test]
    async fn malformed_or_truncated_responses_fail() {
        for json in [
            r#"{"items":[{"n":1},{"n":"two"}],"metadata":{"resourceVersion":"1"}}"#,
            r#"{"items":[{"n":1},{"n":2"#,
            r#"{"items":{"n":1}}"#,
            r#"[{"n":1}]"#,
            r#"{"items":[]} trailing"#,
        ] {
            let (_, rv) = parse(json, usize::MAX).await;
            assert!(rv.is_err(), "{json}");
        }
        // What was parsed before the fault was handed over; the listing is not complete.
        let (got, _) = parse(r#"{"items":[{"n":1},{"n":"two"}]}"#, usize::MAX).await;
        assert_eq!(got, vec![1]);
    }

    #[tokio::test]
    async fn a_dropped_receiver_stops_the_parser() {
        let json = r#"{"items":[{"n":1},{"n":2},{"n":3},{"n":4},{"n":5},{"n":6}],"metadata":{"resourceVersion":"1"}}"#;
        let (got, rv) = parse(json, 1).await;
        assert_eq!(got, vec![1]);
        let e = rv.expect_err("abandoned");
        assert!(e.to_string().contains("abandoned"), "{e}");
    }
}
