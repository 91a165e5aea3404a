//! When each Partner is looked at again without a change: its next check (a certificate or key
//! crossing a validity boundary, a renewal), at most an hour away.
//!
//! kube-runtime's scheduler would hold this per Partner as two copies of its `ObjectRef` (a map
//! key and a delay-queue entry, each with its own name and namespace strings): ~0.5 KiB per
//! Partner, 5 MiB at 10,000 — every Partner has a next check. Here a Partner's entry is the
//! Partner index's shared reference (a pointer) and its due time, in a map and an ordered set;
//! one task sleeps until the earliest and hands what is due to the Partner controller like any
//! other trigger. A later schedule replaces the earlier one, a deleted Partner is forgotten.
//! Short retries (a lost write, back-off after an error) stay with kube-runtime's scheduler.

use super::packed::PackedPartner;
use kube::runtime::reflector::ObjectRef;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// A Partner's shared reference (see `cache::PartnerIndex`).
pub type PartnerRef = Arc<ObjectRef<PackedPartner>>;

#[derive(Default)]
pub struct Rechecks {
    inner: Mutex<Inner>,
    /// Woken when the earliest due time moves earlier.
    earlier: tokio::sync::Notify,
}

#[derive(Default)]
struct Inner {
    due: HashMap<PartnerRef, (Instant, u64)>,
    queue: BTreeMap<(Instant, u64), PartnerRef>,
    /// Tells apart entries due at the same instant.
    seq: u64,
}

impl Inner {
    fn remove(&mut self, r: &ObjectRef<PackedPartner>) {
        if let Some(at) = self.due.remove(r) {
            self.queue.remove(&at);
        }
    }
}

impl Rechecks {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Looks at `r` again `after` from now, instead of when it was due before.
    pub fn schedule(&self, r: PartnerRef, after: Duration) {
        let at = Instant::now() + after;
        let earliest = {
            let mut inner = self.lock();
            inner.remove(&r);
            inner.seq += 1;
            let key = (at, inner.seq);
            inner.due.insert(r.clone(), key);
            inner.queue.insert(key, r);
            inner.queue.first_key_value().is_some_and(|(k, _)| *k == key)
        };
        if earliest {
            self.earlier.notify_one();
        }
    }

    /// Forgets `r` (deleted).
    pub fn forget(&self, r: &ObjectRef<PackedPartner>) {
        self.lock().remove(r);
    }

    pub fn len(&self) -> usize {
        self.lock().due.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries due at `now`, removed.
    fn take_due(&self, now: Instant) -> Vec<PartnerRef> {
        let mut inner = self.lock();
        let mut due = Vec::new();
        while let Some(entry) = inner.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let r = entry.remove();
            inner.due.remove(&r);
            due.push(r);
        }
        due
    }

    fn next_due(&self) -> Option<Instant> {
        self.lock().queue.first_key_value().map(|(k, _)| k.0)
    }

    /// Hands every entry to `trigger` when it is due; runs until dropped.
    pub async fn run(&self, mut trigger: impl FnMut(ObjectRef<PackedPartner>)) {
        loop {
            for r in self.take_due(Instant::now()) {
                trigger(r.as_ref().clone());
            }
            // Registered before looking at the next due time, so an earlier schedule made in
            // between is not missed.
            let earlier = self.earlier.notified();
            match self.next_due() {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = earlier => {}
                    }
                }
                None => earlier.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partner(name: &str) -> PartnerRef {
        Arc::new(ObjectRef::new(name).within("ns"))
    }

    /// Runs `rechecks` for `for_` of paused time; what was triggered, in order.
    async fn triggered(rechecks: &Rechecks, for_: Duration) -> Vec<String> {
        let mut seen = Vec::new();
        let _ = tokio::time::timeout(for_, rechecks.run(|r| seen.push(r.name.clone()))).await;
        seen
    }

    #[tokio::test(start_paused = true)]
    async fn entries_fire_in_due_order_once_and_not_before() {
        let rechecks = Rechecks::default();
        rechecks.schedule(partner("late"), Duration::from_secs(30));
        rechecks.schedule(partner("soon"), Duration::from_secs(10));
        assert_eq!(triggered(&rechecks, Duration::from_secs(9)).await, Vec::<String>::new());
        assert_eq!(triggered(&rechecks, Duration::from_secs(2)).await, ["soon"]);
        assert_eq!(rechecks.len(), 1);
        assert_eq!(triggered(&rechecks, Duration::from_secs(60)).await, ["late"]);
        assert!(rechecks.is_empty());
        assert!(triggered(&rechecks, Duration::from_secs(3600)).await.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_schedule_replaces_the_earlier_and_forget_removes() {
        let rechecks = Rechecks::default();
        rechecks.schedule(partner("a"), Duration::from_secs(10));
        rechecks.schedule(partner("a"), Duration::from_secs(50));
        rechecks.schedule(partner("b"), Duration::from_secs(20));
        rechecks.forget(&ObjectRef::new("b").within("ns"));
        assert_eq!(rechecks.len(), 1);
        assert!(triggered(&rechecks, Duration::from_secs(45)).await.is_empty());
        assert_eq!(triggered(&rechecks, Duration::from_secs(10)).await, ["a"]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_schedule_wakes_a_sleeping_runner() {
        let rechecks = Arc::new(Rechecks::default());
        rechecks.schedule(partner("far"), Duration::from_secs(3600));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let runner = {
            let rechecks = rechecks.clone();
            tokio::spawn(async move { rechecks.run(|r| drop(tx.send(r.name.clone()))).await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        rechecks.schedule(partner("near"), Duration::from_secs(5));
        let first = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
        assert_eq!(first.ok().flatten().as_deref(), Some("near"));
        runner.abort();
    }
}
