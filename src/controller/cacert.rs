//! CACertificate reconciler: classifies each CA as Root or Intermediate and decides whether it
//! is trusted, by evaluating the whole CA set with [`crate::trust::evaluate_cas`].
//!
//! The set comes from the shared CACertificate store and is evaluated once per change of the
//! set ([`super::cache::TrustCache`]): every CA reconcile and every Partner reads the same
//! snapshot. A deleted root leaves the store with its watch event, and the next snapshot no
//! longer trusts its intermediates.

use super::error::Result;
use super::{Context, events, status};
use crate::api::{self, CACertificate, CACertificateStatus, DesiredCondition, READY};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use std::sync::Arc;
use std::time::Duration;

/// The longest the operator waits before looking at a CA again with no event.
const RESYNC: Duration = Duration::from_secs(3600);

#[tracing::instrument(skip_all, fields(kind = "CACertificate", namespace = ca.metadata.namespace.as_deref().unwrap_or(""), name = ca.metadata.name.as_deref().unwrap_or("")))]
pub async fn reconcile(ca: Arc<CACertificate>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_timer("CACertificate");
    let now = super::now();
    let name = ca.name_any();
    if ca.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let snapshot = ctx.trust.get(&ctx.cacerts, now);
    let Some(verdict) = snapshot.verdict(&name).cloned() else {
        // Not in the store yet (or just deleted): its own watch event comes next.
        return Ok(Action::await_change());
    };

    let previous = ca.status.clone().unwrap_or_default();
    let condition = DesiredCondition::new(READY, verdict.ready, verdict.reason, verdict.message.clone());
    let conditions = api::merge_conditions(&previous.conditions, vec![condition], ca.metadata.generation, &now);
    let summary = verdict.summary.as_ref();
    let desired = CACertificateStatus {
        observed_generation: ca.metadata.generation,
        conditions,
        role: verdict.role,
        subject: summary.map(|s| s.subject.clone()),
        issuer: summary.map(|s| s.issuer.clone()),
        serial_number: summary.map(|s| s.serial_number.clone()),
        not_before: summary.map(|s| s.not_before.to_string()),
        not_after: summary.map(|s| s.not_after.to_string()),
        fingerprint_sha256: summary.map(|s| s.fingerprint_sha256.clone()),
    };
    let api: Api<CACertificate> = Api::all(ctx.client.clone());
    status::apply_status(&api, ca.as_ref(), &desired, desired == previous).await?;
    if let Some(new) = desired.conditions.first() {
        events::on_transition(ctx.as_ref(), ca.as_ref(), api::find(&previous.conditions, READY), new, "Validate").await;
    }
    Ok(Action::requeue(requeue_after(verdict.next_check, now)))
}

/// Time until `next` (plus a second, so the verdict has flipped), at most [`RESYNC`].
pub fn requeue_after(next: Option<jiff::Timestamp>, now: jiff::Timestamp) -> Duration {
    match next {
        Some(t) if t > now => {
            let secs = (t.as_second() - now.as_second()).max(0) as u64 + 1;
            Duration::from_secs(secs).min(RESYNC)
        }
        _ => RESYNC,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requeue_is_bounded_and_after_next_check() {
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let soon: jiff::Timestamp = "2026-01-01T00:00:10Z".parse().unwrap();
        assert_eq!(requeue_after(Some(soon), now), Duration::from_secs(11));
        let far: jiff::Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(requeue_after(Some(far), now), RESYNC);
        assert_eq!(requeue_after(None, now), RESYNC);
        assert_eq!(requeue_after(Some(now), now), RESYNC);
    }
}
