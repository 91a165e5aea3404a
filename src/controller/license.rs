//! MispLicense reconciler: one MOSIP-format licence key per MispLicense, for a Ready
//! MISP_Partner of the same namespace, renewed into the same Secret before it expires and
//! withdrawn when the licence or its partner is deactivated.

use super::error::{Error, Result};
use super::secrets::{self, DesiredSecret, Existing, WriteOutcome};
use super::{
    Context, LICENSE_LABEL, PARTNER_LABEL, ROTATE_ANNOTATION, ROTATED_FOR_ANNOTATION, SECRET_KIND_LABEL, cacert,
    events, status,
};
use crate::api::{
    self, DesiredCondition, MispLicense, MispLicenseStatus, Partner, PartnerPolicy, PartnerType, PolicyType, READY,
    STALLED,
};
use crate::mosip;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Secret kind label value of licences.
pub const KIND: &str = "license";
/// Data key of the licence key.
pub const LICENSE_KEY: &str = "licenseKey";

struct Blocker {
    reason: &'static str,
    message: String,
    stalled: bool,
    /// Withdraw an issued key (deactivation), rather than leave it in place.
    withdraw: bool,
}

#[tracing::instrument(skip_all, fields(kind = "MispLicense", namespace = license.metadata.namespace.as_deref().unwrap_or(""), name = license.metadata.name.as_deref().unwrap_or("")))]
pub async fn reconcile(license: Arc<MispLicense>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_timer("MispLicense");
    if license.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = license.namespace().ok_or(Error::MissingObjectKey("namespace"))?;
    let name = license.name_any();
    let now = super::now();
    let previous = license.status.clone().unwrap_or_default();
    let spec = &license.spec;

    let partner = Api::<Partner>::namespaced(ctx.client.clone(), &namespace).get_opt(&spec.partner_name).await?;
    let blocker = check(&ctx, &license, partner.as_ref()).await?;
    let validity = match &spec.validity {
        None => Ok(ctx.config.license_validity),
        Some(v) => mosip::parse_validity(v),
    };
    // The licence's validity when it can be issued, or why not.
    let verdict = match (blocker, validity) {
        (Some(b), _) => Err(b),
        (None, Err(e)) => Err(Blocker {
            reason: "InvalidValidity",
            message: format!("spec.validity: {e}"),
            stalled: true,
            withdraw: false,
        }),
        (None, Ok(validity)) => Ok(validity),
    };

    let secret_name = mosip::license_secret_name(&name);
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let uid = license.uid().ok_or(Error::MissingObjectKey("uid"))?;
    let existing = secrets::get(&api, &secret_name, &uid).await?;
    let mut next: Option<jiff::Timestamp> = None;

    let mut desired = MispLicenseStatus { observed_generation: license.metadata.generation, ..Default::default() };
    let (ready, stalled) = match (verdict, existing) {
        (_, Existing::Foreign) => conflict(&secret_name),
        (Err(b), Existing::Owned(s)) if b.withdraw => {
            withdraw(&api, &license, &s, b.reason).await?;
            desired.secret_name = Some(secret_name.clone());
            blocked(b)
        }
        (Err(b), existing) => {
            // Keep what was issued; report why it is not Ready.
            if let Existing::Owned(s) = &existing {
                fill_from_secret(&mut desired, s, &secret_name);
            }
            blocked(b)
        }
        (Ok(validity), existing) => {
            let existing = match existing {
                Existing::Owned(s) => Some(s),
                _ => None,
            };
            let partner_id = partner.as_ref().map(|p| p.partner_id()).unwrap_or_default();
            match issue(&ctx, &api, &license, existing.as_deref(), &secret_name, &partner_id, validity, now).await? {
                None => {
                    next = Some(now + jiff::SignedDuration::from_secs(2));
                    (
                        DesiredCondition::new(READY, false, "Issuing", "lost a write race; retrying"),
                        DesiredCondition::new(STALLED, false, "Issuing", "retrying"),
                    )
                }
                Some((valid_from, valid_until, fingerprint)) => {
                    desired.secret_name = Some(secret_name.clone());
                    desired.valid_from = Some(valid_from.to_string());
                    desired.valid_until = Some(valid_until.to_string());
                    desired.key_fingerprint = Some(fingerprint);
                    next = Some(valid_until - ctx.config.license_renew_before);
                    (
                        DesiredCondition::new(
                            READY,
                            true,
                            "Issued",
                            format!("licence key issued into Secret {secret_name}, valid until {valid_until}"),
                        ),
                        DesiredCondition::new(STALLED, false, "Issued", "nothing blocks the licence"),
                    )
                }
            }
        }
    };
    desired.conditions =
        api::merge_conditions(&previous.conditions, vec![ready, stalled], license.metadata.generation, &now);
    let lapi: Api<MispLicense> = Api::namespaced(ctx.client.clone(), &namespace);
    status::apply_status(&lapi, license.as_ref(), &desired, desired == previous).await?;
    if let Some(new) = api::find(&desired.conditions, READY) {
        events::on_transition(ctx.as_ref(), license.as_ref(), api::find(&previous.conditions, READY), new, "Issue")
            .await;
    }
    Ok(Action::requeue(cacert::requeue_after(next, now)))
}

fn blocked(b: Blocker) -> (DesiredCondition, DesiredCondition) {
    (
        DesiredCondition::new(READY, false, b.reason, b.message.clone()),
        DesiredCondition::new(STALLED, b.stalled, b.reason, b.message),
    )
}

fn conflict(secret_name: &str) -> (DesiredCondition, DesiredCondition) {
    let message = secrets::conflict_message(secret_name, "MispLicense");
    (
        DesiredCondition::new(READY, false, secrets::CONFLICT_REASON, message.clone()),
        DesiredCondition::new(STALLED, true, secrets::CONFLICT_REASON, message),
    )
}

fn fill_from_secret(status: &mut MispLicenseStatus, s: &Secret, secret_name: &str) {
    status.secret_name = Some(secret_name.to_string());
    status.valid_from = secrets::read_text(s, "validFrom");
    status.valid_until = secrets::read_text(s, "validUntil");
    status.key_fingerprint = secrets::read_text(s, LICENSE_KEY).map(|k| mosip::key_fingerprint(&k));
}

/// Why the licence cannot be issued now, if anything.
async fn check(ctx: &Context, license: &MispLicense, partner: Option<&Partner>) -> Result<Option<Blocker>> {
    let spec = &license.spec;
    if !spec.is_active() {
        return Ok(Some(Blocker {
            reason: "Deactivated",
            message: "spec.active is false: the licence key is withdrawn from its Secret".into(),
            stalled: false,
            withdraw: true,
        }));
    }
    let Some(partner) = partner else {
        return Ok(Some(Blocker {
            reason: "PartnerNotFound",
            message: format!("Partner {:?} does not exist in this namespace (yet)", spec.partner_name),
            stalled: false,
            withdraw: false,
        }));
    };
    if partner.spec.partner_type != PartnerType::MispPartner {
        return Ok(Some(Blocker {
            reason: "PartnerNotMisp",
            message: format!(
                "Partner {:?} is not a MISP_Partner; licences are only issued to MISPs",
                spec.partner_name
            ),
            stalled: true,
            withdraw: false,
        }));
    }
    if !partner.spec.is_active() {
        return Ok(Some(Blocker {
            reason: "Deactivated",
            message: format!(
                "MISP partner {:?} is deactivated, and its licences with it (as in MOSIP)",
                spec.partner_name
            ),
            stalled: false,
            withdraw: true,
        }));
    }
    let partner_ready = partner
        .status
        .as_ref()
        .is_some_and(|s| api::is_true(&s.conditions, READY) && s.observed_generation == partner.metadata.generation);
    if !partner_ready {
        return Ok(Some(Blocker {
            reason: "PartnerNotReady",
            message: format!("MISP partner {:?} is not Ready yet; the licence is issued once it is", spec.partner_name),
            stalled: false,
            withdraw: false,
        }));
    }
    if let Some(policy_name) = &spec.policy_name {
        let policy = Api::<PartnerPolicy>::all(ctx.client.clone())
            .get_opt(policy_name)
            .await?
            .filter(|p| ctx.config.serves(p.labels()));
        match policy {
            None => {
                return Ok(Some(Blocker {
                    reason: "PolicyNotFound",
                    message: format!("PartnerPolicy {policy_name:?} does not exist"),
                    stalled: false,
                    withdraw: false,
                }));
            }
            Some(p) if p.spec.policy_type != PolicyType::Misp => {
                return Ok(Some(Blocker {
                    reason: "PolicyTypeNotAllowed",
                    message: format!(
                        "PartnerPolicy {policy_name:?} is of type {}; a licence needs a MISP policy",
                        p.spec.policy_type
                    ),
                    stalled: true,
                    withdraw: false,
                }));
            }
            Some(p) if !p.status.as_ref().is_some_and(|s| api::is_true(&s.conditions, READY)) => {
                return Ok(Some(Blocker {
                    reason: "PolicyNotReady",
                    message: format!("PartnerPolicy {policy_name:?} is not Ready"),
                    stalled: false,
                    withdraw: false,
                }));
            }
            Some(_) => {}
        }
    }
    Ok(None)
}

/// Issues, keeps or renews the key. Returns (validFrom, validUntil, fingerprint), or None when a
/// write race was lost.
#[allow(clippy::too_many_arguments)]
async fn issue(
    ctx: &Context,
    api: &Api<Secret>,
    license: &MispLicense,
    existing: Option<&Secret>,
    secret_name: &str,
    partner_id: &str,
    validity: jiff::SignedDuration,
    now: jiff::Timestamp,
) -> Result<Option<(jiff::Timestamp, jiff::Timestamp, String)>> {
    let owner = secrets::owner_reference(license).ok_or(Error::MissingObjectKey("ownerReference"))?;
    let rotate_token = license.annotations().get(ROTATE_ANNOTATION).cloned();
    let read_time = |s: &Secret, k: &str| secrets::read_text(s, k).and_then(|v| v.parse::<jiff::Timestamp>().ok());
    let current = existing.and_then(|s| {
        Some((secrets::read_text(s, LICENSE_KEY)?, read_time(s, "validFrom")?, read_time(s, "validUntil")?))
    });
    let rotated_for = existing.and_then(|s| s.annotations().get(ROTATED_FOR_ANNOTATION).cloned());
    let rotation_requested = existing.is_some() && rotate_token.is_some() && rotate_token != rotated_for;
    let (key, from, until, change) = match current {
        Some((key, from, until)) if until - ctx.config.license_renew_before > now && !rotation_requested => {
            (key, from, until, None)
        }
        previous => {
            let key = mosip::generate_license_key().map_err(|e| Error::KeyGeneration(e.to_string()))?;
            let change = if previous.is_some() { ("LicenseRenewed", "renewed") } else { ("LicenseIssued", "issued") };
            (key, now, now + validity, Some(change))
        }
    };
    let fingerprint = mosip::key_fingerprint(&key);
    let mut data = BTreeMap::from([
        (LICENSE_KEY.to_string(), secrets::text(key)),
        ("partnerId".to_string(), secrets::text(partner_id)),
        ("validFrom".to_string(), secrets::text(from.to_string())),
        ("validUntil".to_string(), secrets::text(until.to_string())),
    ]);
    if let Some(p) = &license.spec.policy_name {
        data.insert("policy".into(), secrets::text(p.clone()));
    }
    let mut annotations = BTreeMap::new();
    if let Some(t) = rotate_token {
        annotations.insert(ROTATED_FOR_ANNOTATION.to_string(), t);
    }
    let desired = DesiredSecret {
        name: secret_name.to_string(),
        namespace: license.namespace().unwrap_or_default(),
        owner,
        labels: BTreeMap::from([
            (LICENSE_LABEL.to_string(), mosip::label_value(&license.name_any())),
            (PARTNER_LABEL.to_string(), mosip::label_value(&license.spec.partner_name)),
            (SECRET_KIND_LABEL.to_string(), KIND.to_string()),
        ]),
        annotations,
        data,
    };
    let outcome = match existing {
        None => secrets::create(api, &desired).await?,
        Some(s) => secrets::replace(api, s, &desired).await?,
    };
    if outcome == WriteOutcome::Lost {
        return Ok(None);
    }
    if let Some((reason, verb)) = change {
        let note = format!("licence key {verb} into Secret {secret_name}, valid until {until}");
        events::publish(ctx, license, EventType::Normal, reason, &note, "IssueLicense").await;
    }
    Ok(Some((from, until, fingerprint)))
}

/// Removes the key from the Secret, keeping its non-secret fields.
async fn withdraw(api: &Api<Secret>, license: &MispLicense, s: &Secret, why: &str) -> Result<()> {
    let Some(owner) = secrets::owner_reference(license) else { return Err(Error::MissingObjectKey("ownerReference")) };
    let mut data = s.data.clone().unwrap_or_default();
    if !data.contains_key(LICENSE_KEY) {
        return Ok(());
    }
    data.remove(LICENSE_KEY);
    data.insert("deactivated".into(), secrets::text(why));
    let labels = s
        .labels()
        .iter()
        .filter(|(k, _)| k.as_str() != super::MANAGED_BY_LABEL)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let annotations = s
        .annotations()
        .get(ROTATED_FOR_ANNOTATION)
        .map(|v| BTreeMap::from([(ROTATED_FOR_ANNOTATION.to_string(), v.clone())]))
        .unwrap_or_default();
    let desired = DesiredSecret {
        name: s.name_any(),
        namespace: license.namespace().unwrap_or_default(),
        owner,
        labels,
        annotations,
        data,
    };
    secrets::replace(api, s, &desired).await?;
    Ok(())
}
