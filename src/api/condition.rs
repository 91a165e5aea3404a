//! metav1.Condition helpers shared by every kind.
//!
//! Conditions only change `lastTransitionTime` when their status changes, so a reconcile that
//! observes nothing new produces a byte-identical status and writes nothing.

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Condition type: the object has done its whole job.
pub const READY: &str = "Ready";
/// Condition type: the object cannot progress without a change from a person.
pub const STALLED: &str = "Stalled";
/// Condition type on a Partner: its certificate passed validation.
pub const CERTIFICATE_VALID: &str = "CertificateValid";
/// Condition type on a policy request: an approver approved it.
pub const APPROVED: &str = "Approved";
/// Condition type on a policy request: an approver denied it.
pub const DENIED: &str = "Denied";

/// `status` value of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    True,
    False,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::True => "True",
            Status::False => "False",
            Status::Unknown => "Unknown",
        }
    }
}

impl From<bool> for Status {
    fn from(b: bool) -> Self {
        if b { Status::True } else { Status::False }
    }
}

/// A condition the controller wants to publish, before timestamps are merged in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredCondition {
    pub type_: String,
    pub status: Status,
    pub reason: String,
    pub message: String,
}

impl DesiredCondition {
    pub fn new(type_: &str, status: impl Into<Status>, reason: &str, message: impl Into<String>) -> Self {
        Self { type_: type_.to_string(), status: status.into(), reason: reason.to_string(), message: message.into() }
    }
}

/// Turns desired conditions into metav1.Conditions, keeping `lastTransitionTime` from `previous`
/// when the status of that type did not change.
pub fn merge_conditions(
    previous: &[Condition],
    desired: Vec<DesiredCondition>,
    generation: Option<i64>,
    now: &jiff::Timestamp,
) -> Vec<Condition> {
    desired
        .into_iter()
        .map(|d| {
            let last = previous
                .iter()
                .find(|c| c.type_ == d.type_ && c.status == d.status.as_str())
                .map(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| Time(*now));
            Condition {
                type_: d.type_,
                status: d.status.as_str().to_string(),
                reason: d.reason,
                message: truncate_at_char(&d.message, 32 * 1024).to_string(),
                last_transition_time: last,
                observed_generation: generation,
            }
        })
        .collect()
}

/// Finds a condition by type.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// True when the condition of that type exists with status True.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == "True")
}

/// An RFC 3339 status timestamp as seconds since the epoch (None when absent or unreadable).
pub fn epoch_seconds(rfc3339: &Option<String>) -> Option<i64> {
    rfc3339.as_deref().and_then(|v| v.parse::<jiff::Timestamp>().ok()).map(|t| t.as_second())
}

/// The first `max` bytes of `s`, cut back to a character boundary (API server size limits
/// count bytes).
pub fn truncate_at_char(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A True condition of `type_` with `reason`, last changed at the epoch (for unit tests).
#[cfg(test)]
pub(crate) fn true_condition(type_: &str, reason: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status: "True".into(),
        reason: reason.into(),
        message: String::new(),
        last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
        observed_generation: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_kept_while_status_unchanged() {
        let t0: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let t1: jiff::Timestamp = "2026-01-02T00:00:00Z".parse().unwrap();
        let first = merge_conditions(&[], vec![DesiredCondition::new(READY, false, "A", "a")], Some(1), &t0);
        let second = merge_conditions(&first, vec![DesiredCondition::new(READY, false, "B", "b")], Some(2), &t1);
        assert_eq!(second[0].last_transition_time, Time(t0));
        assert_eq!(second[0].reason, "B");
        let third = merge_conditions(&second, vec![DesiredCondition::new(READY, true, "C", "c")], Some(2), &t1);
        assert_eq!(third[0].last_transition_time, Time(t1));
    }
}
