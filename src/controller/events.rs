//! Events (events.k8s.io/v1) on meaningful transitions only.
//!
//! Callers compare the old and new condition and publish only when its status or reason
//! changed, so steady-state reconciles publish nothing. Event notes never carry key material:
//! they are built from the same messages as conditions.
//!
//! What one reconcile has to say goes out in as few Events as a person can still read: every
//! Warning is its own Event, and the Normal ones of one reconcile (certificate trusted,
//! certificate re-signed, API key issued, onboarded) are folded into one ([`fold`]), so the
//! happy path of a partner costs one Event write, not four (issue #9).
//!
//! The [`Recorder`] writes each Event with one create and keeps nothing: kube-runtime's recorder
//! caches every Event it published for six minutes to aggregate repeats into series, and scans
//! that cache on every publish, which at 10,000 partners held ~40,000 Events in memory and made
//! each publish O(Events). Events here are published on transitions only, so there is nothing to
//! aggregate.
//!
//! Events are written in the background, as client-go's event broadcaster does: a reconcile hands
//! its Events to a bounded queue and returns; [`EVENT_WRITERS`] writers create them. A reconcile
//! waits only when [`EVENT_QUEUE`] Events are already queued (back-pressure, nothing is dropped),
//! so the happy path of a partner costs its reconcile three round trips to the API server, not
//! four. On shutdown the operator waits for the queue to drain ([`Recorder::flush`]).

use super::Context;
use crate::api::Condition;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use kube::{Client, Resource};

pub use kube::runtime::events::EventType;

/// Largest Event note the API server accepts (1 kB).
pub const MAX_NOTE: usize = 1000;

/// Events waiting to be written before a reconcile that publishes one waits.
pub const EVENT_QUEUE: usize = 1024;
/// Events written concurrently.
pub const EVENT_WRITERS: usize = 8;

/// Writes Events as the operator (`reportingController`), without caching them, from a bounded
/// background queue.
#[derive(Clone)]
pub struct Recorder {
    controller: String,
    instance: String,
    queue: tokio::sync::mpsc::Sender<K8sEvent>,
    /// Events queued or being written.
    pending: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Recorder {
    /// A recorder reporting as `controller`, instance `instance` (the pod name; defaults to the
    /// controller name). Starts its writers on the current Tokio runtime; they stop once every
    /// clone of the recorder is gone and the queue is empty.
    pub fn new(client: Client, controller: impl Into<String>, instance: Option<String>) -> Self {
        use futures::StreamExt;
        let controller = controller.into();
        let instance = instance.unwrap_or_else(|| controller.clone());
        let (queue, rx) = tokio::sync::mpsc::channel::<K8sEvent>(EVENT_QUEUE);
        let pending = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let done = pending.clone();
        let events = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|ev| (ev, rx)) });
        tokio::spawn(events.for_each_concurrent(EVENT_WRITERS, move |ev| {
            let client = client.clone();
            let done = done.clone();
            async move {
                let ns = ev.metadata.namespace.clone().unwrap_or_else(|| "default".to_string());
                let reason = ev.reason.clone().unwrap_or_default();
                if let Err(e) = Api::<K8sEvent>::namespaced(client, &ns).create(&PostParams::default(), &ev).await {
                    tracing::warn!(error = %e, reason = %reason, "could not publish event");
                }
                done.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }
        }));
        Self { controller, instance, queue, pending }
    }

    /// The Event object for `n` about `regarding`, at `now`.
    fn event(&self, n: &Note, regarding: &ObjectReference, now: jiff::Timestamp) -> K8sEvent {
        K8sEvent {
            action: Some(n.action.to_string()),
            reason: Some(n.reason.to_string()),
            note: Some(crate::api::truncate_at_char(&n.note, MAX_NOTE).to_string()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            metadata: ObjectMeta {
                namespace: regarding.namespace.clone(),
                name: Some(format!(
                    "{}.{:x}",
                    regarding.name.as_deref().unwrap_or(&self.controller),
                    now.as_nanosecond()
                )),
                ..Default::default()
            },
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            type_: Some(match n.type_ {
                EventType::Normal => "Normal".into(),
                EventType::Warning => "Warning".into(),
            }),
            ..Default::default()
        }
    }

    /// Queues one Event; waits only while the queue is full. Failures to write it are logged by
    /// the writer.
    pub async fn publish(&self, n: &Note, regarding: &ObjectReference) {
        let ev = self.event(n, regarding, jiff::Timestamp::now());
        self.pending.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.queue.send(ev).await.is_err() {
            self.pending.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            tracing::warn!(reason = %n.reason, "could not publish event: the event writer stopped");
        }
    }

    /// Events queued or being written.
    pub fn pending(&self) -> usize {
        self.pending.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits until every queued Event is written (or failed), for at most `limit`.
    pub async fn flush(&self, limit: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.pending() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// The Event a condition transition calls for: when `new` differs from `old` in status or
/// reason. Normal when the condition is True (or a state a person chose or awaits), else
/// Warning.
pub fn transition(old: Option<&Condition>, new: &Condition, action: &'static str) -> Option<Note> {
    let changed = match old {
        Some(o) => o.status != new.status || o.reason != new.reason,
        None => true,
    };
    if !changed {
        return None;
    }
    let type_ = if new.status == "True" || new.reason == "PendingApproval" || new.reason == "Deactivated" {
        EventType::Normal
    } else {
        EventType::Warning
    };
    Some(Note { type_, reason: new.reason.clone().into(), note: new.message.clone(), action: action.into() })
}

/// Publishes an Event for `obj` when `new` differs from `old` in status or reason. A failed
/// publish is logged and otherwise ignored: an Event is never worth failing a reconcile for.
pub async fn on_transition<K>(ctx: &Context, obj: &K, old: Option<&Condition>, new: &Condition, action: &'static str)
where
    K: Resource<DynamicType = ()>,
{
    if let Some(n) = transition(old, new, action) {
        publish_note(ctx, obj, &n).await;
    }
}

/// Publishes one Event; failures are logged, not returned.
pub async fn publish<K>(ctx: &Context, obj: &K, type_: EventType, reason: &str, note: &str, action: &str)
where
    K: Resource<DynamicType = ()>,
{
    let n =
        Note { type_, reason: reason.to_string().into(), note: note.to_string(), action: action.to_string().into() };
    publish_note(ctx, obj, &n).await;
}

async fn publish_note<K>(ctx: &Context, obj: &K, n: &Note)
where
    K: Resource<DynamicType = ()>,
{
    let mut reference = obj.object_ref(&());
    // Events of cluster-scoped objects live in "default"; the API server insists that the
    // regarding object's namespace matches the Event's.
    if reference.namespace.is_none() {
        reference.namespace = Some("default".to_string());
    }
    ctx.recorder.publish(n, &reference).await;
}

/// An Event to publish once the reconcile's writes succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub type_: EventType,
    pub reason: std::borrow::Cow<'static, str>,
    pub note: String,
    pub action: std::borrow::Cow<'static, str>,
}

impl Note {
    pub fn normal(reason: &'static str, note: impl Into<String>, action: &'static str) -> Self {
        Self { type_: EventType::Normal, reason: reason.into(), note: note.into(), action: action.into() }
    }

    pub fn warning(reason: &'static str, note: impl Into<String>, action: &'static str) -> Self {
        Self { type_: EventType::Warning, reason: reason.into(), note: note.into(), action: action.into() }
    }
}

/// The Events for what one reconcile has to say: every Warning on its own, in order; the Normal
/// notes folded into as few Events as fit [`MAX_NOTE`], each headed by the last Normal note (the
/// outcome, e.g. `Onboarded`) and listing the others as `Reason: note`. Pure.
pub fn fold(notes: Vec<Note>) -> Vec<Note> {
    let (mut normal, mut out): (Vec<Note>, Vec<Note>) = notes.into_iter().partition(|n| n.type_ == EventType::Normal);
    let Some(head) = normal.pop() else { return out };
    let mut current = head;
    for n in normal {
        let part = format!("{}: {}", n.reason, n.note);
        if current.note.len() + 2 + part.len() <= MAX_NOTE {
            current.note.push_str("; ");
            current.note.push_str(&part);
        } else {
            out.push(std::mem::replace(&mut current, n));
        }
    }
    out.push(current);
    out
}

/// Publishes `notes` for `obj`, folded by [`fold`].
pub async fn publish_all<K>(ctx: &Context, obj: &K, notes: &[Note])
where
    K: Resource<DynamicType = ()>,
{
    for n in fold(notes.to_vec()) {
        publish_note(ctx, obj, &n).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_notes_fold_into_one_event_and_warnings_stay() {
        let notes = vec![
            Note::warning("CorruptRecord", "unreadable", "Reconcile"),
            Note::normal("CertificateResigned", "re-signed into s", "Resign"),
            Note::normal("ApiKeyIssued", "issued into k", "IssueApiKey"),
            Note::normal("Onboarded", "registered", "Reconcile"),
        ];
        let out = fold(notes);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].reason.as_ref(), out[0].type_), ("CorruptRecord", EventType::Warning));
        assert_eq!(out[1].reason, "Onboarded");
        assert_eq!(out[1].note, "registered; CertificateResigned: re-signed into s; ApiKeyIssued: issued into k");
        assert_eq!(fold(vec![]), vec![]);
        let one = vec![Note::normal("ApiKeyRotated", "rotated", "IssueApiKey")];
        assert_eq!(fold(one.clone()), one);
    }

    #[test]
    fn folded_notes_never_exceed_the_limit() {
        let long = "x".repeat(600);
        let notes: Vec<Note> = (0..4).map(|_| Note::normal("ApiKeyIssued", long.clone(), "IssueApiKey")).collect();
        let out = fold(notes);
        assert_eq!(out.len(), 4, "no two 600-byte notes fit in one Event");
        assert!(out.iter().all(|n| n.note.len() <= MAX_NOTE));
        let short: Vec<Note> = (0..30).map(|i| Note::normal("ApiKeyIssued", format!("key {i}"), "Issue")).collect();
        let out = fold(short);
        assert!(out.len() < 30 && out.iter().all(|n| n.note.len() <= MAX_NOTE));
        let total: usize = out.iter().map(|n| n.note.matches("key ").count()).sum();
        assert_eq!(total, 30, "every note is kept");
    }

    #[test]
    fn transitions() {
        let c = |status: &str, reason: &str| Condition {
            type_: "Ready".into(),
            status: status.into(),
            reason: reason.into(),
            message: "m".into(),
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
            observed_generation: None,
        };
        assert_eq!(transition(Some(&c("True", "A")), &c("True", "A"), "R"), None);
        assert_eq!(transition(None, &c("True", "A"), "R").map(|n| n.type_), Some(EventType::Normal));
        assert_eq!(transition(Some(&c("True", "A")), &c("False", "B"), "R").map(|n| n.type_), Some(EventType::Warning));
        assert_eq!(transition(None, &c("False", "PendingApproval"), "R").map(|n| n.type_), Some(EventType::Normal));
        assert_eq!(crate::api::truncate_at_char("ééé", 3), "é");
    }
}
