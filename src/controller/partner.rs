//! Partner reconciler: registration rules, certificate validation and re-signing, policy
//! requests and their approval, and API-key Secrets.
//!
//! The decisions are made by [`crate::mosip`] and [`crate::trust`]; this module reads what they
//! need, applies their verdicts and publishes status. Approver-owned conditions (Approved and
//! Denied on Manual policies) are never written here: server-side apply leaves them to their
//! field manager.

use super::apikeys::{self, KeyOutcome};
use super::error::{Error, Result};
use super::{Context, cacert, events, secrets, signing, status};
use crate::api::{
    self, APPROVED, ApprovalMode, CERTIFICATE_VALID, Condition, DENIED, DesiredCondition, Partner,
    PartnerCertificateStatus, PartnerPolicy, PartnerStatus, PolicyRequestStatus, READY, STALLED,
};
use crate::mosip::{self, PartnerTypeExt, PolicyView};
use crate::trust::{self, PartnerCertInput, ValidatedCertificate};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use std::sync::Arc;

/// Condition type on each policy request: the request is valid and its keys are issued.
pub const REQUEST_READY: &str = "Ready";

/// Reason when every request is approved and issued.
const READY_REASON: &str = "Onboarded";

/// A blocking problem, in the order that decides the Ready reason.
#[derive(Debug, Clone)]
struct Problem {
    reason: String,
    message: String,
    /// Needs a person to change something (Stalled=True), rather than waiting.
    stalled: bool,
}

impl Problem {
    fn stalled(reason: &str, message: impl Into<String>) -> Self {
        Self { reason: reason.into(), message: message.into(), stalled: true }
    }
    fn waiting(reason: &str, message: impl Into<String>) -> Self {
        Self { reason: reason.into(), message: message.into(), stalled: false }
    }
}

/// The certificate verdict.
struct CertVerdict {
    condition: DesiredCondition,
    validated: Option<ValidatedCertificate>,
    status: Option<PartnerCertificateStatus>,
    /// Reasons that need a person; a missing Secret may still arrive (GitOps ordering).
    stalled: bool,
    next_check: Option<jiff::Timestamp>,
}

#[tracing::instrument(skip_all, fields(kind = "Partner", namespace = partner.metadata.namespace.as_deref().unwrap_or(""), name = partner.metadata.name.as_deref().unwrap_or("")))]
pub async fn reconcile(partner: Arc<Partner>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_timer("Partner");
    if partner.metadata.deletion_timestamp.is_some() {
        // Owned Secrets go with the Partner through the garbage collector.
        return Ok(Action::await_change());
    }
    let namespace = partner.namespace().ok_or(Error::MissingObjectKey("namespace"))?;
    let name = partner.name_any();
    let now = super::now();
    let previous = partner.status.clone().unwrap_or_default();
    let partner_id = partner.partner_id();
    let spec = &partner.spec;
    let domain = spec.partner_type.domain();
    let mut problems: Vec<Problem> = Vec::new();
    let mut next_check: Vec<jiff::Timestamp> = Vec::new();

    // Registration, as MOSIP's registerPartner checks it.
    let registration_errors = mosip::validate_registration(spec, &partner_id);
    if let Some(first) = registration_errors.first() {
        let message = registration_errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ");
        problems.push(Problem::stalled(first.reason(), message));
    }
    if let Some(owner) = first_claimant(&ctx, &partner, &partner_id) {
        problems.push(Problem::stalled(
            "DuplicatePartnerId",
            format!("partnerId {partner_id:?} is already registered by Partner {owner}; choose another spec.partnerId"),
        ));
    }
    let type_code = spec.partner_type.as_str();
    let registered_type = previous.registered_partner_type.clone().unwrap_or_else(|| type_code.to_string());
    let registered_org =
        previous.registered_organization_name.clone().unwrap_or_else(|| spec.organization_name.clone());
    if registered_type != type_code {
        problems.push(Problem::stalled(
            "ImmutableFieldChanged",
            format!(
                "partnerType changed from {registered_type} to {type_code}; it is immutable: restore it or create a new Partner"
            ),
        ));
    }
    if registered_org != spec.organization_name {
        problems.push(Problem::stalled(
            "ImmutableFieldChanged",
            format!(
                "organizationName changed from {registered_org:?} to {:?}; it is immutable, as in MOSIP: restore it or create a new Partner",
                spec.organization_name
            ),
        ));
    }
    let active = spec.is_active();

    // Certificate.
    let cert = certificate_verdict(&ctx, &partner, &namespace, now).await?;
    if let Some(t) = cert.next_check {
        next_check.push(t);
    }
    let mut cert_status = cert.status.clone();
    let registered_ok = problems.is_empty();
    if let Some(validated) = cert.validated.as_ref()
        && registered_ok
        && active
        && (spec.partner_type.resigned_by_default() || ctx.config.resign_ftm)
    {
        match signing::ensure_signed_certificate(&ctx, &partner, validated, domain, now).await? {
            signing::SignedOutcome::Issued { secret_name, not_after, renew_at } => {
                if let Some(s) = cert_status.as_mut() {
                    s.signed_secret_name = Some(secret_name);
                    s.signed_not_after = Some(not_after.to_string());
                }
                next_check.push(renew_at);
            }
            signing::SignedOutcome::Conflict { secret_name } => problems
                .push(Problem::stalled(secrets::CONFLICT_REASON, secrets::conflict_message(&secret_name, "Partner"))),
            signing::SignedOutcome::Retry => next_check.push(now + jiff::SignedDuration::from_secs(2)),
        }
    }
    let cert_valid = cert.validated.is_some();
    if !cert_valid {
        problems.push(Problem {
            reason: cert.condition.reason.clone(),
            message: cert.condition.message.clone(),
            stalled: cert.stalled,
        });
    }

    // Policy requests.
    let rotate_token = partner.annotations().get(super::ROTATE_ANNOTATION).cloned();
    let mut request_statuses = Vec::new();
    let may_issue = registered_ok && cert_valid && active;
    let mut wanted_secrets: Vec<String> = Vec::new();
    for request in &spec.policies {
        let prev_entry = previous.policies.iter().find(|p| p.name == request.name);
        let policy = Api::<PartnerPolicy>::all(ctx.client.clone())
            .get_opt(&request.name)
            .await?
            .filter(|p| ctx.config.serves(p.labels()));
        let view = policy.as_ref().map(|p| PolicyView {
            name: p.name_any(),
            group: p.spec.group.clone(),
            policy_type: p.spec.policy_type,
            ready: p.status.as_ref().is_some_and(|s| api::is_true(&s.conditions, READY))
                && p.metadata.deletion_timestamp.is_none(),
        });
        let validation = mosip::validate_request(
            spec.partner_type,
            spec.policy_group.as_deref(),
            request,
            view.as_ref(),
            &ctx.config.extra_credential_types,
        );
        let request_hash = policy.as_ref().map(|p| mosip::request_hash(&p.uid().unwrap_or_default(), &p.spec, request));
        let automatic = policy.as_ref().is_some_and(|p| p.spec.effective_approval() == ApprovalMode::Automatic);
        let decision = decision(prev_entry, request_hash.as_deref());

        let mut controller_conditions: Vec<DesiredCondition> = Vec::new();
        let mut approved = matches!(decision, Decision::Approved);
        let mut request_problem: Option<Problem> = None;
        match (&validation, &decision) {
            (Err(e), _) => {
                let message = format!("policy request {:?}: {e}", request.name);
                // A policy that does not exist or is not Ready yet may still arrive (GitOps
                // applies objects in any order): waiting, not stalled.
                request_problem = Some(if matches!(e.reason(), "PolicyNotFound" | "PolicyNotReady") {
                    Problem::waiting(e.reason(), message)
                } else {
                    Problem::stalled(e.reason(), message)
                });
                approved = false;
            }
            (Ok(()), Decision::Denied(who)) => {
                request_problem =
                    Some(Problem::stalled("Denied", format!("policy request {:?} was denied by {who}", request.name)));
            }
            (Ok(()), Decision::Approved) => {}
            (Ok(()), Decision::Undecided | Decision::Stale) => {
                if automatic {
                    approved = true;
                } else {
                    let stale = if matches!(decision, Decision::Stale) {
                        " (the request or its policy changed since the last decision)"
                    } else {
                        ""
                    };
                    request_problem = Some(Problem::waiting(
                        "PendingApproval",
                        format!(
                            "policy request {:?} awaits an approver{stale}: mosip-partner-operator approve {name} --policy {} -n {namespace}",
                            request.name, request.name
                        ),
                    ));
                }
            }
        }
        if automatic && validation.is_ok() && !matches!(decision, Decision::Denied(_)) {
            controller_conditions.push(DesiredCondition::new(
                APPROVED,
                true,
                "AutoApproved",
                format!("approved automatically: PartnerPolicy {:?} has approval: Automatic", request.name),
            ));
        }

        // Keys.
        let mut key_statuses = Vec::new();
        for key in &request.api_keys {
            let secret_name = mosip::api_key_secret_name(&name, &request.name, &key.label);
            wanted_secrets.push(secret_name.clone());
            let outcome = if approved && may_issue && request_problem.is_none() {
                apikeys::ensure(
                    &ctx,
                    &partner,
                    &partner_id,
                    &request.name,
                    &key.label,
                    &secret_name,
                    rotate_token.as_deref(),
                    now,
                )
                .await?
            } else {
                apikeys::suspend(&ctx, &partner, &secret_name, suspend_reason(active, approved)).await?
            };
            match outcome {
                KeyOutcome::Issued { valid_until, next_check: t } => {
                    next_check.push(t);
                    key_statuses.push(api::ApiKeyStatus {
                        key_fingerprint: None,
                        valid_from: None,
                        label: key.label.clone(),
                        secret_name: Some(secret_name),
                        valid_until: Some(valid_until.to_string()),
                    });
                }
                KeyOutcome::Suspended | KeyOutcome::Absent => key_statuses.push(api::ApiKeyStatus {
                    key_fingerprint: None,
                    valid_from: None,
                    label: key.label.clone(),
                    secret_name: None,
                    valid_until: None,
                }),
                KeyOutcome::Conflict => {
                    request_problem.get_or_insert(Problem::stalled(
                        secrets::CONFLICT_REASON,
                        format!(
                            "{}, or change the label {:?}",
                            secrets::conflict_message(&secret_name, "Partner"),
                            key.label
                        ),
                    ));
                    key_statuses.push(api::ApiKeyStatus {
                        key_fingerprint: None,
                        valid_from: None,
                        label: key.label.clone(),
                        secret_name: None,
                        valid_until: None,
                    });
                }
                KeyOutcome::Retry => next_check.push(now + jiff::SignedDuration::from_secs(2)),
            }
        }

        let (ready, reason, message) = match &request_problem {
            Some(p) => (false, p.reason.clone(), p.message.clone()),
            None if !may_issue => (
                false,
                "WaitingForPartner".to_string(),
                "approved; keys are issued once the partner is registered, active and its certificate is valid"
                    .to_string(),
            ),
            None => (true, "Issued".to_string(), format!("approved; {} API key(s) issued", key_statuses.len())),
        };
        controller_conditions.push(DesiredCondition::new(REQUEST_READY, ready, &reason, message));
        let prev_conditions: Vec<Condition> = prev_entry.map(|p| p.conditions.clone()).unwrap_or_default();
        request_statuses.push(PolicyRequestStatus {
            name: request.name.clone(),
            request_hash,
            decided_request_hash: None,
            conditions: api::merge_conditions(
                &prev_conditions,
                controller_conditions,
                partner.metadata.generation,
                &now,
            ),
            api_keys: key_statuses,
        });
        if let Some(p) = request_problem {
            problems.push(p);
        }
    }
    apikeys::delete_unwanted(&ctx, &partner, &wanted_secrets).await?;

    // Top-level conditions.
    let cert_condition = cert.condition.clone();
    let (ready_condition, stalled_condition) = summarize(&problems, active, &spec.policies.len());
    let desired = PartnerStatus {
        registered_partner_id: None,
        denied_requests: previous.denied_requests.clone(),
        observed_generation: partner.metadata.generation,
        partner_id: Some(partner_id.clone()),
        registered_partner_type: Some(registered_type),
        registered_organization_name: Some(registered_org),
        conditions: api::merge_conditions(
            &previous.conditions,
            vec![cert_condition, ready_condition, stalled_condition],
            partner.metadata.generation,
            &now,
        ),
        certificate: cert_status,
        policies: request_statuses,
    };
    // Only the operator-owned projection of the previous status is compared.
    let unchanged = desired == owned_projection(&previous);
    let api: Api<Partner> = Api::namespaced(ctx.client.clone(), &namespace);
    remove_withdrawn_requests(&api, &partner).await?;
    status::apply_status(&api, partner.as_ref(), &desired, unchanged).await?;
    for type_ in [CERTIFICATE_VALID, READY] {
        if let Some(new) = api::find(&desired.conditions, type_) {
            events::on_transition(
                ctx.as_ref(),
                partner.as_ref(),
                api::find(&previous.conditions, type_),
                new,
                "Reconcile",
            )
            .await;
        }
    }
    let next = next_check.into_iter().min();
    Ok(Action::requeue(cacert::requeue_after(next, now)))
}

/// Removes status entries of requests that left the spec, approver decisions included: the
/// request is gone, and a request made again later is a new one. Server-side apply alone would
/// leave the approver's fields behind.
async fn remove_withdrawn_requests(api: &Api<Partner>, partner: &Partner) -> Result<()> {
    let Some(status) = partner.status.as_ref() else { return Ok(()) };
    let mut ops = Vec::new();
    for (i, entry) in status.policies.iter().enumerate().rev() {
        if !partner.spec.policies.iter().any(|r| r.name == entry.name) {
            ops.push(
                serde_json::json!({"op": "test", "path": format!("/status/policies/{i}/name"), "value": entry.name}),
            );
            ops.push(serde_json::json!({"op": "remove", "path": format!("/status/policies/{i}")}));
        }
    }
    if ops.is_empty() {
        return Ok(());
    }
    let patch: json_patch::Patch = serde_json::from_value(serde_json::Value::Array(ops))?;
    match api
        .patch_status(&partner.name_any(), &kube::api::PatchParams::default(), &kube::api::Patch::<()>::Json(patch))
        .await
    {
        Ok(_) => Ok(()),
        // The status moved on meanwhile; the next reconcile looks again.
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 || e.code == 422 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn suspend_reason(active: bool, approved: bool) -> &'static str {
    if !active {
        "partner deactivated"
    } else if !approved {
        "policy request not approved"
    } else {
        "partner not onboarded"
    }
}

/// The Ready and Stalled conditions from the problems found.
fn summarize(problems: &[Problem], active: bool, requests: &usize) -> (DesiredCondition, DesiredCondition) {
    if !active {
        return (
            DesiredCondition::new(
                READY,
                false,
                "Deactivated",
                "spec.active is false: API keys are withdrawn from their Secrets and MISP licences deactivated",
            ),
            DesiredCondition::new(STALLED, false, "Deactivated", "deactivated on purpose"),
        );
    }
    if let Some(p) = problems.iter().find(|p| p.stalled) {
        return (
            DesiredCondition::new(READY, false, &p.reason, p.message.clone()),
            DesiredCondition::new(STALLED, true, &p.reason, p.message.clone()),
        );
    }
    if let Some(p) = problems.first() {
        let all: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        return (
            DesiredCondition::new(READY, false, &p.reason, all.join("; ")),
            DesiredCondition::new(
                STALLED,
                false,
                &p.reason,
                "waiting; no change needed from a person except an approver",
            ),
        );
    }
    let message = if *requests == 0 {
        "registered and certificate valid".to_string()
    } else {
        format!("registered, certificate valid, {requests} policy request(s) approved and issued")
    };
    (
        DesiredCondition::new(READY, true, READY_REASON, message),
        DesiredCondition::new(STALLED, false, READY_REASON, "nothing blocks the partner"),
    )
}

/// The previous status without the approver-owned parts, to compare with what the operator
/// would write.
fn owned_projection(previous: &PartnerStatus) -> PartnerStatus {
    let mut p = previous.clone();
    for entry in &mut p.policies {
        entry.decided_request_hash = None;
        // Approved is also written by the operator for Automatic policies; it is only compared
        // when its reason is the operator's.
        entry.conditions.retain(|c| c.type_ != DENIED && !(c.type_ == APPROVED && c.reason != "AutoApproved"));
    }
    p.policies.retain(|e| e.request_hash.is_some() || !e.conditions.is_empty() || !e.api_keys.is_empty());
    p
}

/// What an approver decided for a request.
#[derive(Debug, PartialEq)]
enum Decision {
    Undecided,
    Approved,
    /// Denied, with who denied it.
    Denied(String),
    /// A decision made for an earlier version of the request.
    Stale,
}

fn decision(entry: Option<&PolicyRequestStatus>, current_hash: Option<&str>) -> Decision {
    let Some(entry) = entry else { return Decision::Undecided };
    let denied = entry.conditions.iter().find(|c| c.type_ == DENIED && c.status == "True");
    let approved =
        entry.conditions.iter().find(|c| c.type_ == APPROVED && c.status == "True" && c.reason != "AutoApproved");
    if denied.is_none() && approved.is_none() {
        return Decision::Undecided;
    }
    // Decisions recorded for another request fingerprint do not count.
    if let (Some(decided), Some(current)) = (entry.decided_request_hash.as_deref(), current_hash)
        && decided != current
    {
        return Decision::Stale;
    }
    // Denied wins if somebody managed to set both.
    if let Some(d) = denied {
        return Decision::Denied(d.reason.clone());
    }
    Decision::Approved
}

/// The oldest other Partner in the store claiming the same partnerId, as namespace/name.
fn first_claimant(ctx: &Context, partner: &Partner, partner_id: &str) -> Option<String> {
    let me = claim_key(partner);
    ctx.partners
        .state()
        .iter()
        .filter(|p| p.uid() != partner.uid() && p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.partner_id() == partner_id)
        .filter(|p| claim_key(p) < me)
        .min_by_key(|p| claim_key(p))
        .map(|p| format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any()))
}

/// Orders claimants: creation time, then namespace/name, so every reconcile agrees.
fn claim_key(p: &Partner) -> (i64, String) {
    let created = p.metadata.creation_timestamp.as_ref().map(|t| t.0.as_second()).unwrap_or(i64::MAX);
    (created, format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any()))
}

/// Reads the certificate Secret from the Partner's own namespace and validates it.
async fn certificate_verdict(
    ctx: &Context,
    partner: &Partner,
    namespace: &str,
    now: jiff::Timestamp,
) -> Result<CertVerdict> {
    let domain = partner.spec.partner_type.domain();
    let Some(cref) = partner.spec.certificate.as_ref() else {
        return Ok(CertVerdict {
            condition: DesiredCondition::new(
                CERTIFICATE_VALID,
                false,
                "CertificateNotConfigured",
                "spec.certificate.secretName is not set; point it at a Secret in this namespace holding the partner's CA-signed certificate",
            ),
            validated: None,
            status: None,
            stalled: true,
            next_check: None,
        });
    };
    // Always this namespace: a Partner can never make the operator read another namespace.
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let secret = match secrets.get_opt(&cref.secret_name).await {
        Ok(s) => s,
        Err(kube::Error::Api(e)) if e.code == 403 => {
            return Ok(not_valid(
                "SecretForbidden",
                format!(
                    "the operator may not read Secret {namespace}/{}; grant it read access in this namespace",
                    cref.secret_name
                ),
                true,
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let Some(secret) = secret else {
        return Ok(not_valid(
            "SecretNotFound",
            format!(
                "Secret {namespace}/{} does not exist (yet); create it with the certificate under {:?}",
                cref.secret_name,
                cref.effective_certificate_key()
            ),
            false,
        ));
    };
    let read =
        |key: &str| secret.data.as_ref().and_then(|d| d.get(key)).map(|v| String::from_utf8_lossy(&v.0).into_owned());
    let Some(certificate_pem) = read(cref.effective_certificate_key()) else {
        return Ok(not_valid(
            "KeyNotFound",
            format!(
                "Secret {namespace}/{} has no key {:?}; put the PEM certificate there or set spec.certificate.certificateKey",
                cref.secret_name,
                cref.effective_certificate_key()
            ),
            true,
        ));
    };
    let chain_pem = read(cref.effective_chain_key());
    let cas = cacert::list_inputs(ctx).await?;
    let (roots, intermediates) = trust::trusted_sets(&cas, domain, now);
    let input = PartnerCertInput {
        domain,
        certificate_pem: &certificate_pem,
        chain_pem: chain_pem.as_deref(),
        trusted_roots: &roots,
        trusted_intermediates: &intermediates,
        organization: Some(&partner.spec.organization_name),
        now,
        min_validity: ctx.config.min_certificate_validity,
    };
    let summary = trust::parse_pem_certificates(&certificate_pem)
        .ok()
        .and_then(|ders| ders.first().and_then(|d| trust::summarize(d).ok()));
    let mut status = summary.as_ref().map(|s| PartnerCertificateStatus {
        subject: Some(s.subject.clone()),
        issuer: Some(s.issuer.clone()),
        serial_number: Some(s.serial_number.clone()),
        not_before: Some(s.not_before.to_string()),
        not_after: Some(s.not_after.to_string()),
        fingerprint_sha256: Some(s.fingerprint_sha256.clone()),
        domain: Some(domain.to_string()),
        signed_secret_name: None,
        signed_not_after: None,
    });
    match trust::validate_partner_certificate(&input) {
        Ok(validated) => {
            let next = Some(validated.next_check);
            Ok(CertVerdict {
                condition: DesiredCondition::new(
                    CERTIFICATE_VALID,
                    true,
                    "Trusted",
                    format!("certificate chains to a trusted {domain} root and satisfies MOSIP's rules"),
                ),
                validated: Some(validated),
                status: status.take(),
                stalled: false,
                next_check: next,
            })
        }
        Err(e) => {
            // With no trusted root in the domain yet, the trust store may still be arriving
            // (GitOps order): waiting. A chain that fails against existing roots needs a person.
            let stalled = !(e.reason() == crate::trust::reason::UNTRUSTED_CHAIN && roots.is_empty());
            // A certificate that is not valid yet becomes valid by time alone.
            let next = summary.as_ref().map(|s| s.not_before).filter(|t| *t > now);
            Ok(CertVerdict {
                condition: DesiredCondition::new(CERTIFICATE_VALID, false, e.reason(), e.to_string()),
                validated: None,
                status,
                stalled,
                next_check: next,
            })
        }
    }
}

fn not_valid(reason: &str, message: String, stalled: bool) -> CertVerdict {
    CertVerdict {
        condition: DesiredCondition::new(CERTIFICATE_VALID, false, reason, message),
        validated: None,
        status: None,
        stalled,
        next_check: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn cond(type_: &str, reason: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: "True".into(),
            reason: reason.into(),
            message: String::new(),
            last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
            observed_generation: None,
        }
    }

    fn entry(conditions: Vec<Condition>, decided: Option<&str>) -> PolicyRequestStatus {
        PolicyRequestStatus {
            name: "p".into(),
            request_hash: Some("h1".into()),
            decided_request_hash: decided.map(String::from),
            conditions,
            api_keys: vec![],
        }
    }

    #[test]
    fn decisions() {
        assert_eq!(decision(None, Some("h1")), Decision::Undecided);
        assert_eq!(decision(Some(&entry(vec![], None)), Some("h1")), Decision::Undecided);
        assert_eq!(decision(Some(&entry(vec![cond(APPROVED, "alice")], None)), Some("h1")), Decision::Approved);
        assert_eq!(decision(Some(&entry(vec![cond(APPROVED, "alice")], Some("h1"))), Some("h1")), Decision::Approved);
        assert_eq!(decision(Some(&entry(vec![cond(APPROVED, "alice")], Some("h0"))), Some("h1")), Decision::Stale);
        assert_eq!(
            decision(Some(&entry(vec![cond(DENIED, "bob"), cond(APPROVED, "alice")], None)), Some("h1")),
            Decision::Denied("bob".into())
        );
        // The operator's own automatic approval is not an approver's decision.
        assert_eq!(decision(Some(&entry(vec![cond(APPROVED, "AutoApproved")], None)), Some("h1")), Decision::Undecided);
    }

    #[test]
    fn summary_prefers_stalled_problems() {
        let problems =
            vec![Problem::waiting("PendingApproval", "wait"), Problem::stalled("OrganizationMismatch", "fix O")];
        let (ready, stalled) = summarize(&problems, true, &1);
        assert_eq!(ready.reason, "OrganizationMismatch");
        assert_eq!(stalled.status, api::Status::True);
        let (ready, stalled) = summarize(&problems[..1], true, &1);
        assert_eq!(ready.reason, "PendingApproval");
        assert_eq!(stalled.status, api::Status::False);
        let (ready, _) = summarize(&[], true, &1);
        assert_eq!(ready.status, api::Status::True);
        let (ready, stalled) = summarize(&problems, false, &1);
        assert_eq!(ready.reason, "Deactivated");
        assert_eq!(stalled.status, api::Status::False);
    }

    #[test]
    fn projection_drops_approver_fields() {
        let mut s = PartnerStatus::default();
        s.policies.push(entry(vec![cond(APPROVED, "alice"), cond(REQUEST_READY, "Issued")], Some("h1")));
        let p = owned_projection(&s);
        assert_eq!(p.policies[0].conditions.len(), 1);
        assert_eq!(p.policies[0].decided_request_hash, None);
    }
}
