//! The Partner controller's backlog: kept compact, handed to kube-runtime a few at a time.
//!
//! Why: kube-runtime's scheduler keeps every queued object as a full `ObjectRef` in a hash map,
//! in a delay queue's slab and, while a reconcile of it runs, in a set of pending messages —
//! ~700 bytes per object in three tables, none of which shrinks once drained. At a start with
//! 10,000 Partners every Partner is queued at once (by its listing, its domain's CAs and its
//! policy): ~7 MiB of tables at the peak, which the process then keeps (heaptrack;
//! docs/performance.md, tenth round). Here a waiting Partner is one `namespace/name` string, in
//! order and without duplicates; at most `limit` are handed to the controller at a time, and one
//! more each time a reconcile ends.
//!
//! A trigger for a Partner already handed over passes straight through: the scheduler merges it
//! with the queued request, or runs the Partner again after the running reconcile — what it does
//! without the backlog. A handed-over Partner whose end is never reported (it cannot happen with
//! kube-runtime's controller, which reports every run, a missing object and a failure alike) is
//! given up after [`GIVE_UP`], so that no lost report can stall the others.

use super::cache::namespaced_key;
use crate::metrics::BacklogGauges;
use futures::{Stream, StreamExt};
use kube::Resource;
use kube::runtime::reflector::ObjectRef;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long a handed-over Partner holds its place without a report of its reconcile.
pub const GIVE_UP: Duration = Duration::from_secs(600);
/// How long after its reconcile a Partner's next trigger goes to the head of the queue.
pub const FOLLOW_UP: Duration = Duration::from_secs(30);

#[derive(Default)]
struct State {
    /// Waiting, in arrival order; `queued` holds the same keys.
    waiting: VecDeque<Arc<str>>,
    queued: HashSet<Arc<str>>,
    /// Handed to the controller, since when.
    handed: HashMap<Arc<str>, Instant>,
    /// Reconciled within [`FOLLOW_UP`]: when, in that order (`ended` holds the latest of each).
    recent: VecDeque<(Arc<str>, Instant)>,
    ended: HashMap<Arc<str>, Instant>,
}

impl State {
    fn forget_before(&mut self, now: Instant) {
        while let Some((key, at)) = self.recent.front() {
            if now.duration_since(*at) < FOLLOW_UP {
                break;
            }
            if self.ended.get(key) == Some(at) {
                self.ended.remove(key);
            }
            self.recent.pop_front();
        }
        if self.recent.is_empty() {
            self.recent.shrink_to_fit();
            self.ended.shrink_to_fit();
        }
    }

    /// Whether `key`'s reconcile ended within [`FOLLOW_UP`].
    fn follows_up(&mut self, key: &Arc<str>, now: Instant) -> bool {
        self.forget_before(now);
        self.ended.contains_key(key)
    }
}

/// See the module documentation.
pub struct Backlog {
    state: Mutex<State>,
    room: Notify,
    limit: usize,
    gauges: BacklogGauges,
}

fn key(namespace: Option<&str>, name: &str) -> Arc<str> {
    namespaced_key(namespace.unwrap_or_default(), name).into()
}

fn object_ref<K>(key: &str) -> ObjectRef<K>
where
    K: Resource,
    K::DynamicType: Default,
{
    match key.split_once('/') {
        Some(("", name)) => ObjectRef::new(name),
        Some((namespace, name)) => ObjectRef::new(name).within(namespace),
        None => ObjectRef::new(key),
    }
}

impl Backlog {
    /// A backlog handing at most `limit` (at least 1) Partners to the controller at a time,
    /// reporting its lengths in `gauges`.
    pub fn new(limit: usize, gauges: BacklogGauges) -> Arc<Self> {
        Arc::new(Self { state: Mutex::new(State::default()), room: Notify::new(), limit: limit.max(1), gauges })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn report(&self, s: &State) {
        self.gauges.waiting.set(i64::try_from(s.waiting.len()).unwrap_or(i64::MAX));
        self.gauges.handed.set(i64::try_from(s.handed.len()).unwrap_or(i64::MAX));
    }

    /// A trigger arrived: whether to hand it over now (otherwise it waits, once).
    fn offer(&self, namespace: Option<&str>, name: &str, now: Instant) -> bool {
        let key = key(namespace, name);
        let mut s = self.lock();
        if s.handed.contains_key(&key) {
            return true;
        }
        if s.queued.contains(&key) {
            return false;
        }
        // The reaction to a reconcile's own writes (its Secrets and status coming back through
        // the watches) goes first: it settles what that reconcile kept of its writes, and must
        // not wait behind a start's whole sweep.
        let follow_up = s.follows_up(&key, now);
        let now_handed = (follow_up || s.waiting.is_empty()) && self.has_room(&mut s, now);
        if now_handed {
            s.handed.insert(key, now);
        } else {
            s.queued.insert(key.clone());
            if follow_up {
                s.waiting.push_front(key);
            } else {
                s.waiting.push_back(key);
            }
        }
        self.report(&s);
        now_handed
    }

    /// The next waiting Partner, when there is room for it.
    fn take(&self, now: Instant) -> Option<Arc<str>> {
        let mut s = self.lock();
        if s.waiting.is_empty() || !self.has_room(&mut s, now) {
            return None;
        }
        let key = s.waiting.pop_front()?;
        s.queued.remove(&key);
        if s.waiting.is_empty() {
            // A burst drained: give its memory back.
            s.waiting.shrink_to_fit();
            s.queued.shrink_to_fit();
        }
        s.handed.insert(key.clone(), now);
        self.report(&s);
        Some(key)
    }

    fn has_room(&self, s: &mut State, now: Instant) -> bool {
        if s.handed.len() >= self.limit {
            s.handed.retain(|_, since| now.duration_since(*since) < GIVE_UP);
        }
        s.handed.len() < self.limit
    }

    /// A reconcile of this Partner ended (successfully, with an error, or finding it gone).
    pub fn done(&self, namespace: Option<&str>, name: &str) {
        self.done_at(namespace, name, Instant::now());
    }

    fn done_at(&self, namespace: Option<&str>, name: &str, now: Instant) {
        let mut s = self.lock();
        let Some((key, _)) = s.handed.remove_entry(&key(namespace, name)) else { return };
        s.forget_before(now);
        s.ended.insert(key.clone(), now);
        s.recent.push_back((key, now));
        self.report(&s);
        drop(s);
        self.room.notify_one();
    }

    /// Partners waiting and handed over (what the gauges report).
    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        let s = self.lock();
        (s.waiting.len(), s.handed.len())
    }

    /// `triggers`, deduplicated and metered through the backlog.
    pub fn gate<K>(
        self: Arc<Self>,
        triggers: impl Stream<Item = ObjectRef<K>> + Send + 'static,
    ) -> impl Stream<Item = ObjectRef<K>> + Send + 'static
    where
        K: Resource + 'static,
        K::DynamicType: Default,
        ObjectRef<K>: Send,
    {
        let triggers = triggers.fuse().boxed();
        futures::stream::unfold((self, triggers), |(backlog, mut triggers)| async move {
            loop {
                if let Some(key) = backlog.take(Instant::now()) {
                    return Some((object_ref(&key), (backlog, triggers)));
                }
                tokio::select! {
                    next = triggers.next() => match next {
                        Some(r) => {
                            if backlog.offer(r.namespace.as_deref(), &r.name, Instant::now()) {
                                return Some((r, (backlog, triggers)));
                            }
                        }
                        // The triggers end only at shutdown.
                        None => return None,
                    },
                    // A reconcile ended (or a stale hand-over is due to be given up).
                    _ = backlog.room.notified() => {}
                    _ = tokio::time::sleep(GIVE_UP), if !backlog.lock().waiting.is_empty() => {}
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Partner;

    fn r(name: &str) -> ObjectRef<Partner> {
        ObjectRef::new(name).within("ns")
    }

    #[test]
    fn hands_over_up_to_the_limit_then_one_per_end() {
        let b = Backlog::new(2, Default::default());
        let t = Instant::now();
        assert!(b.offer(Some("ns"), "a", t));
        assert!(b.offer(Some("ns"), "b", t));
        assert!(!b.offer(Some("ns"), "c", t));
        assert!(!b.offer(Some("ns"), "d", t));
        assert_eq!(b.take(t), None, "no room");
        b.done(Some("ns"), "a");
        assert_eq!(b.take(t).as_deref(), Some("ns/c"));
        assert_eq!(b.take(t), None);
        b.done(Some("ns"), "b");
        assert_eq!(b.take(t).as_deref(), Some("ns/d"));
        assert_eq!(b.len(), (0, 2));
    }

    #[test]
    fn waiting_partners_are_not_queued_twice_and_handed_ones_pass_through() {
        let b = Backlog::new(1, Default::default());
        let t = Instant::now();
        assert!(b.offer(Some("ns"), "a", t));
        assert!(!b.offer(Some("ns"), "b", t));
        assert!(!b.offer(Some("ns"), "b", t), "already waiting");
        assert_eq!(b.len(), (1, 1));
        // `a` is with the controller: a new trigger for it goes straight there.
        assert!(b.offer(Some("ns"), "a", t));
        assert_eq!(b.len(), (1, 1));
        // The same name in another namespace is another Partner.
        assert!(!b.offer(Some("other"), "a", t));
        assert_eq!(b.len(), (2, 1));
    }

    #[test]
    fn arrival_order_is_kept_and_a_new_trigger_does_not_jump_the_queue() {
        let b = Backlog::new(1, Default::default());
        let t = Instant::now();
        assert!(b.offer(Some("ns"), "first", t));
        for n in ["x", "y", "z"] {
            assert!(!b.offer(Some("ns"), n, t));
        }
        b.done(Some("ns"), "first");
        // Room, but others wait: a newcomer queues behind them.
        assert!(!b.offer(Some("ns"), "late", t));
        let mut order = Vec::new();
        while let Some(k) = b.take(t) {
            order.push(k.to_string());
            b.done(Some("ns"), k.split_once('/').map(|(_, n)| n).unwrap_or_default());
        }
        assert_eq!(order, ["ns/x", "ns/y", "ns/z", "ns/late"]);
    }

    #[test]
    fn a_follow_up_goes_first_within_its_window() {
        let b = Backlog::new(1, Default::default());
        let t = Instant::now();
        assert!(b.offer(Some("ns"), "a", t));
        for n in ["x", "y"] {
            assert!(!b.offer(Some("ns"), n, t));
        }
        b.done_at(Some("ns"), "a", t);
        // `a`'s own writes come back: its next reconcile heads the queue.
        assert!(b.offer(Some("ns"), "a", t + Duration::from_secs(1)), "room, and a follow-up");
        assert!(!b.offer(Some("ns"), "y", t), "already waiting");
        b.done_at(Some("ns"), "a", t + Duration::from_secs(2));
        // The room goes to the queue, in order.
        assert_eq!(b.take(t + Duration::from_secs(2)).as_deref(), Some("ns/x"));
        // With no room, a follow-up waits at the head.
        assert!(!b.offer(Some("ns"), "a", t + Duration::from_secs(3)));
        b.done_at(Some("ns"), "x", t + Duration::from_secs(3));
        assert_eq!(b.take(t + Duration::from_secs(3)).as_deref(), Some("ns/a"));
        b.done_at(Some("ns"), "a", t + Duration::from_secs(4));
        // Long after its reconcile, a trigger is news: it queues at the back.
        let later = t + Duration::from_secs(4) + FOLLOW_UP;
        assert!(!b.offer(Some("ns"), "a", later));
        assert_eq!(b.take(later).as_deref(), Some("ns/y"));
        assert_eq!(b.take(later), None);
        b.done_at(Some("ns"), "y", later);
        assert_eq!(b.take(later).as_deref(), Some("ns/a"));
    }

    #[test]
    fn an_end_never_reported_is_given_up() {
        let b = Backlog::new(1, Default::default());
        let t = Instant::now();
        assert!(b.offer(Some("ns"), "lost", t));
        assert!(!b.offer(Some("ns"), "next", t));
        assert_eq!(b.take(t + GIVE_UP / 2), None);
        assert_eq!(b.take(t + GIVE_UP).as_deref(), Some("ns/next"));
        // An end reported for a Partner not handed over changes nothing.
        b.done(Some("ns"), "unknown");
        assert_eq!(b.len(), (0, 1));
    }

    #[test]
    fn keys_round_trip_to_references() {
        assert_eq!(object_ref::<Partner>("ns/a-b.c"), r("a-b.c"));
        assert_eq!(object_ref::<Partner>("/cluster"), ObjectRef::new("cluster"));
    }

    #[tokio::test]
    async fn the_gate_meters_a_burst_by_reported_ends() {
        let gauges = BacklogGauges::default();
        let b = Backlog::new(3, gauges.clone());
        let (tx, rx) = futures::channel::mpsc::unbounded();
        for i in 0..10 {
            tx.unbounded_send(r(&format!("p{i}"))).expect("send");
        }
        let mut gated = b.clone().gate(rx).boxed();
        let quiet = Duration::from_millis(50);
        let mut handed = Vec::new();
        for _ in 0..3 {
            handed.push(gated.next().await.expect("handed over").name);
        }
        assert_eq!(handed, ["p0", "p1", "p2"]);
        assert!(tokio::time::timeout(quiet, gated.next()).await.is_err(), "handed over beyond the limit");
        assert_eq!((gauges.waiting.get(), gauges.handed.get()), (7, 3));
        // A waiting Partner triggered again still waits; a handed-over one passes through.
        tx.unbounded_send(r("p5")).expect("send");
        assert!(tokio::time::timeout(quiet, gated.next()).await.is_err());
        tx.unbounded_send(r("p1")).expect("send");
        assert_eq!(gated.next().await.expect("passed through").name, "p1");
        // Each reported end hands over the next one, in order.
        for i in 0..7 {
            b.done(Some("ns"), &format!("p{i}"));
            assert_eq!(gated.next().await.expect("next").name, format!("p{}", i + 3));
        }
        assert_eq!(b.len(), (0, 3));
        drop(tx);
        for i in 7..10 {
            b.done(Some("ns"), &format!("p{i}"));
        }
        assert!(gated.next().await.is_none(), "ends with its triggers");
        assert_eq!((gauges.waiting.get(), gauges.handed.get()), (0, 0));
    }
}
