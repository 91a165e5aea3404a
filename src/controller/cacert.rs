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
    let summary = verdict.summary.as_ref();
    let mut desired_conditions = vec![condition];
    let mut mosip_status = None;
    let mut requeue = requeue_after(verdict.next_check, now);
    if let Some(pms) = &ctx.pms {
        // Only a CA the operator trusts is uploaded to PMS.
        let key = super::cache::object_key("CACertificate", ca.as_ref());
        mosip_status = previous.mosip.clone();
        let synced = match summary.filter(|_| verdict.ready) {
            None => DesiredCondition::new(
                api::MOSIP_SYNCED,
                false,
                "WaitingForValidation",
                "uploaded to PMS once the certificate is Ready",
            ),
            Some(s) => match crate::pms::sync::sync_ca(
                pms,
                ca.spec.domain.as_str(),
                &ca.spec.certificate,
                &s.fingerprint_sha256,
                previous.mosip.as_ref(),
            )
            .await
            {
                Ok(st) => {
                    ctx.backoff.succeeded(&key);
                    mosip_status = Some(st);
                    DesiredCondition::new(
                        api::MOSIP_SYNCED,
                        true,
                        "Uploaded",
                        format!("in PMS for domain {}", ca.spec.domain),
                    )
                }
                Err(e) => {
                    requeue = requeue.min(ctx.backoff.failed(&key));
                    tracing::warn!(reason = %e.reason(), "PMS: {e}");
                    DesiredCondition::new(api::MOSIP_SYNCED, false, &e.reason(), e.to_string())
                }
            },
        };
        desired_conditions.push(synced);
    }
    let conditions = api::merge_conditions(&previous.conditions, desired_conditions, ca.metadata.generation, &now);
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
        mosip: mosip_status,
    };
    let api: Api<CACertificate> = Api::all(ctx.client.clone());
    status::apply_status(&api, ca.as_ref(), &desired, desired == previous).await?;
    if let Some(new) = desired.conditions.first() {
        events::on_transition(ctx.as_ref(), ca.as_ref(), api::find(&previous.conditions, READY), new, "Validate").await;
    }
    Ok(Action::requeue(requeue))
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
