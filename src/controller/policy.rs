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

/// Whether a PartnerPolicy counts as Ready for the Partners and licences that use it: its own
/// controller's verdict on its current generation; before that verdict is written (a start
/// reconciles Partners and policies at once, in any order) the same rule as that controller's
/// applied to the spec here — in standalone mode, where that rule is all of it (in mosip mode
/// Ready also waits for PMS). So a fresh install never reports a valid policy as not Ready.
pub fn counts_as_ready(policy: &PartnerPolicy, standalone: bool) -> bool {
    if policy.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let verdict = policy
        .status
        .as_ref()
        .and_then(|s| api::find(&s.conditions, READY))
        .filter(|c| c.observed_generation.is_some() && c.observed_generation == policy.metadata.generation);
    match verdict {
        Some(c) => c.status == "True",
        None => standalone && mosip::validate_policy(&policy.spec).is_ok(),
    }
}

/// How many users a policy's status and messages name (the count says the rest).
const USED_BY_SHOWN: usize = 10;

/// `a, b, c` — or the first [`USED_BY_SHOWN`] and how many more.
fn named_users(used_by: &[String]) -> String {
    let shown = used_by.iter().take(USED_BY_SHOWN).cloned().collect::<Vec<_>>().join(", ");
    match used_by.len().saturating_sub(USED_BY_SHOWN) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

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
        .filter(|p| mosip::tenancy::counts_as_policy_user(p.partner_type, policy.spec.policy_type))
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
                named_users(&used_by)
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
        used_by_count: (!used_by.is_empty()).then_some(used_by.len() as i64),
        used_by: used_by.iter().take(USED_BY_SHOWN).cloned().collect(),
        mosip: mosip_status,
    };
    status::apply_status(&api, policy.as_ref(), &desired, desired == previous).await?;
    if let Some(ready) = api::find(&desired.conditions, READY) {
        events::on_transition(ctx.as_ref(), policy.as_ref(), api::find(&previous.conditions, READY), ready, "Validate")
            .await;
    }
    Ok(Action::requeue(requeue))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Condition, MispPolicy, PartnerPolicySpec, PolicyType};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn policy(valid: bool, generation: i64, verdict: Option<(i64, &str)>) -> PartnerPolicy {
        let spec = PartnerPolicySpec {
            group: "grp".into(),
            policy_type: PolicyType::Misp,
            description: None,
            version: None,
            approval: None,
            auto_approve: None,
            auth: None,
            data_share: None,
            // A MISP policy without its body is invalid.
            misp: valid.then_some(MispPolicy {
                allow_auth_request_delegation: Some(true),
                allow_kyc_request_delegation: Some(true),
                allow_key_binding_delegation: Some(false),
                trust_binded_auth_verification_token: None,
                allow_vci_request_delegation: None,
            }),
        };
        let mut p = PartnerPolicy::new("p", spec);
        p.metadata.generation = Some(generation);
        p.status = verdict.map(|(observed, status)| PartnerPolicyStatus {
            conditions: vec![Condition {
                type_: READY.into(),
                status: status.into(),
                reason: "Test".into(),
                message: String::new(),
                last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
                observed_generation: Some(observed),
            }],
            ..Default::default()
        });
        p
    }

    #[test]
    fn a_policy_not_judged_yet_is_judged_on_its_spec_in_standalone_mode() {
        // The controller's verdict on the current generation wins, whatever the spec.
        assert!(counts_as_ready(&policy(false, 2, Some((2, "True"))), true));
        assert!(!counts_as_ready(&policy(true, 2, Some((2, "False"))), true));
        // No verdict, or one on an older generation: the spec decides (standalone only).
        assert!(counts_as_ready(&policy(true, 1, None), true));
        assert!(!counts_as_ready(&policy(false, 1, None), true));
        assert!(counts_as_ready(&policy(true, 3, Some((2, "False"))), true));
        assert!(!counts_as_ready(&policy(false, 3, Some((2, "True"))), true));
        assert!(!counts_as_ready(&policy(true, 1, None), false));
        // Being deleted: never.
        let mut deleting = policy(true, 1, Some((1, "True")));
        deleting.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        assert!(!counts_as_ready(&deleting, true));
    }

    #[test]
    fn users_are_named_up_to_a_limit() {
        let users: Vec<String> = (0..12).map(|i| format!("ns/p{i:02}")).collect();
        assert_eq!(named_users(&users[..2]), "ns/p00, ns/p01");
        let all = named_users(&users);
        assert!(all.starts_with("ns/p00, ") && all.ends_with("ns/p09 and 2 more"), "{all}");
    }
}
