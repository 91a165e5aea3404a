//! Events (events.k8s.io/v1) on meaningful transitions only.
//!
//! Callers compare the old and new condition and publish only when its status or reason
//! changed, so steady-state reconciles publish nothing. Event notes never carry key material:
//! they are built from the same messages as conditions.

use super::Context;
use crate::api::Condition;
use kube::Resource;
use kube::runtime::events::{Event, EventType};

/// Publishes an Event for `obj` when `new` differs from `old` in status or reason. A failed
/// publish is logged and otherwise ignored: an Event is never worth failing a reconcile for.
pub async fn on_transition<K>(ctx: &Context, obj: &K, old: Option<&Condition>, new: &Condition, action: &str)
where
    K: Resource<DynamicType = ()>,
{
    let changed = match old {
        Some(o) => o.status != new.status || o.reason != new.reason,
        None => true,
    };
    if !changed {
        return;
    }
    let type_ = if new.status == "True" || new.reason == "PendingApproval" || new.reason == "Deactivated" {
        EventType::Normal
    } else {
        EventType::Warning
    };
    publish(ctx, obj, type_, &new.reason, &new.message, action).await;
}

/// Publishes one Event; failures are logged, not returned.
pub async fn publish<K>(ctx: &Context, obj: &K, type_: EventType, reason: &str, note: &str, action: &str)
where
    K: Resource<DynamicType = ()>,
{
    let mut note = note.to_string();
    if note.len() > 1000 {
        let mut end = 1000;
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
    }
    let ev = Event { type_, reason: reason.to_string(), note: Some(note), action: action.to_string(), secondary: None };
    let mut reference = obj.object_ref(&());
    // Events of cluster-scoped objects live in "default"; the API server insists that the
    // regarding object's namespace matches the Event's.
    if reference.namespace.is_none() {
        reference.namespace = Some("default".to_string());
    }
    if let Err(e) = ctx.recorder.publish(&ev, &reference).await {
        tracing::warn!(error = %e, reason, "could not publish event");
    }
}

/// An Event to publish once the reconcile's writes succeeded.
#[derive(Debug, Clone)]
pub struct Note {
    pub type_: EventType,
    pub reason: &'static str,
    pub note: String,
    pub action: &'static str,
}

impl Note {
    pub fn normal(reason: &'static str, note: impl Into<String>, action: &'static str) -> Self {
        Self { type_: EventType::Normal, reason, note: note.into(), action }
    }

    pub fn warning(reason: &'static str, note: impl Into<String>, action: &'static str) -> Self {
        Self { type_: EventType::Warning, reason, note: note.into(), action }
    }
}

/// Publishes `notes` for `obj`, in order.
pub async fn publish_all<K>(ctx: &Context, obj: &K, notes: &[Note])
where
    K: Resource<DynamicType = ()>,
{
    for n in notes {
        publish(ctx, obj, n.type_, n.reason, &n.note, n.action).await;
    }
}
