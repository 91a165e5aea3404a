//! PartnerPolicy reconciler: validates the policy body against MOSIP's rules and keeps a policy
//! that Partners still request from being deleted (finalizer), naming who still uses it.

use super::error::Result;
use super::status::Problem;
use super::{Context, POLICY_FINALIZER, events, finalizer, status};
use crate::api::{self, PartnerPolicy, PartnerPolicyStatus, READY};
use crate::mosip;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use std::sync::Arc;

#[tracing::instrument(skip_all, fields(kind = "PartnerPolicy", namespace = policy.metadata.namespace.as_deref().unwrap_or(""), name = policy.metadata.name.as_deref().unwrap_or("")))]
pub async fn reconcile(policy: Arc<PartnerPolicy>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_timer("PartnerPolicy");
    let api: Api<PartnerPolicy> = Api::all(ctx.client.clone());
    let name = policy.name_any();
    // Who requests it: an index over the Partner store, no LIST.
    // Only Partners whose type may request this policy type hold it: a request another type
    // cannot make is invalid and must not pin the policy (#10 finding 9).
    let mut used_by: Vec<String> = ctx
        .partner_index
        .requesting(&name)
        .iter()
        .filter_map(|r| ctx.partners.get(r))
        .filter(|p| mosip::tenancy::counts_as_policy_user(p.spec.partner_type, policy.spec.policy_type))
        .map(|p| format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any()))
        .collect();
    used_by.sort();
    let has_finalizer = finalizer::has(policy.as_ref(), POLICY_FINALIZER);

    if policy.metadata.deletion_timestamp.is_some() {
        if used_by.is_empty() {
            if has_finalizer {
                finalizer::remove(&api, policy.as_ref(), POLICY_FINALIZER).await?;
            }
            return Ok(Action::await_change());
        }
    } else if !has_finalizer {
        finalizer::add(&api, policy.as_ref(), POLICY_FINALIZER).await?;
    }

    let now = super::now();
    let previous = policy.status.clone().unwrap_or_default();
    let problems: Vec<Problem> = if policy.metadata.deletion_timestamp.is_some() {
        vec![Problem::waiting(
            "InUse",
            format!(
                "deletion waits until no Partner requests this policy; still requested by {}: remove those requests first",
                used_by.join(", ")
            ),
        )]
    } else {
        match mosip::validate_policy(&policy.spec) {
            Ok(()) => Vec::new(),
            Err(e) => vec![Problem::stalled(e.reason(), e.to_string())],
        }
    };
    let mut desired_conditions = status::readiness(
        &problems,
        "Valid",
        format!("{} policy of group {} is valid", policy.spec.policy_type, policy.spec.group),
    )
    .to_vec();
    let mut mosip_status = None;
    let mut requeue = std::time::Duration::from_secs(3600);
    if let Some(pms) = &ctx.pms {
        // Only a valid policy is sent to PMS; its PMS name is metadata.name, its group spec.group.
        let key = super::cache::object_key("PartnerPolicy", policy.as_ref());
        mosip_status = previous.mosip.clone();
        let synced = if !problems.is_empty() {
            api::DesiredCondition::new(
                api::MOSIP_SYNCED,
                false,
                "WaitingForValidation",
                "sent to PMS once the policy is valid",
            )
        } else {
            match crate::pms::sync::sync_policy(pms, &name, &policy.spec, previous.mosip.as_ref()).await {
                Ok(st) => {
                    ctx.backoff.succeeded(&key);
                    let msg = format!(
                        "published in PMS as policy {} of group {}",
                        st.policy_id.as_deref().unwrap_or("?"),
                        st.policy_group_id.as_deref().unwrap_or("?")
                    );
                    mosip_status = Some(st);
                    api::DesiredCondition::new(api::MOSIP_SYNCED, true, "Published", msg)
                }
                Err(e) => {
                    requeue = ctx.backoff.failed(&key);
                    tracing::warn!(reason = %e.reason(), "PMS: {e}");
                    api::DesiredCondition::new(api::MOSIP_SYNCED, false, &e.reason(), e.to_string())
                }
            }
        };
        desired_conditions.push(synced);
    }
    let desired = PartnerPolicyStatus {
        observed_generation: policy.metadata.generation,
        conditions: api::merge_conditions(&previous.conditions, desired_conditions, policy.metadata.generation, &now),
        used_by,
        mosip: mosip_status,
    };
    status::apply_status(&api, policy.as_ref(), &desired, desired == previous).await?;
    if let Some(ready) = api::find(&desired.conditions, READY) {
        events::on_transition(ctx.as_ref(), policy.as_ref(), api::find(&previous.conditions, READY), ready, "Validate")
            .await;
    }
    Ok(Action::requeue(requeue))
}
