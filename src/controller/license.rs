//! MispLicense reconciler: one MOSIP-format licence key per MispLicense, for a Ready
//! MISP_Partner of the same namespace, renewed into the same Secret before it expires and
//! withdrawn when the licence or its partner is deactivated.
//!
//! Gather (stores) → plan ([`crate::mosip::plan_license`]) → apply (the Secret through the shared
//! owned-Secret lifecycle, then status, then Events).

use super::backend::KeyRequest;
use super::error::{Error, Result};
use super::events::{self, Note};
use super::secrets::{self, DesiredSecret, Slot, WriteOutcome};
use super::status::{self, Problem};
use super::{
    Context, LICENSE_LABEL, PARTNER_LABEL, ROTATE_ANNOTATION, ROTATED_FOR_ANNOTATION, SECRET_KIND_LABEL, cacert,
};
use crate::api::{self, MispLicense, MispLicenseStatus, Partner, PartnerType, PolicyType, READY};
use crate::mosip;
use crate::mosip::renewal::{LicenseFacts, LicenseInput, LicensePlan, LicenseWant, Mint, plan_license};
use crate::mosip::tenancy::{FoundSecret, IssuedRecord, SecretTrust};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Secret kind label value of licences.
pub const KIND: &str = "license";
/// Data key of the licence key.
pub const LICENSE_KEY: &str = "licenseKey";

/// Why a licence cannot be issued now.
pub(super) struct Blocker {
    pub(super) problem: Problem,
    /// Withdraw an issued key (deactivation), rather than leave it in place.
    pub(super) withdraw: bool,
}

impl Blocker {
    fn waiting(reason: &str, message: String) -> Self {
        Self { problem: Problem::waiting(reason, message), withdraw: false }
    }
    fn stalled(reason: &str, message: String) -> Self {
        Self { problem: Problem::stalled(reason, message), withdraw: false }
    }
    fn deactivated(message: String) -> Self {
        Self { problem: Problem::waiting("Deactivated", message), withdraw: true }
    }
}

/// What is known about the issued licence, and its key's fingerprint.
fn facts_from_secret(s: &Secret) -> (LicenseFacts, Option<String>) {
    let key = secrets::read_text(s, LICENSE_KEY);
    (
        LicenseFacts {
            has_key: key.is_some(),
            valid_from: secrets::read_text(s, "validFrom"),
            valid_until: secrets::read_text(s, "validUntil"),
            rotated_for: s.annotations().get(ROTATED_FOR_ANNOTATION).cloned(),
        },
        key.map(|k| mosip::key_fingerprint(&k)),
    )
}

#[tracing::instrument(skip_all, fields(kind = "MispLicense", namespace = license.metadata.namespace.as_deref().unwrap_or(""), name = license.metadata.name.as_deref().unwrap_or("")))]
pub async fn reconcile(license: Arc<MispLicense>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_timer("MispLicense");
    if license.metadata.deletion_timestamp.is_some() {
        // In mosip mode the licence is first deactivated in PMS (finalizer, issue #12).
        return super::mosip_delete::license_deleted(&ctx, &license).await;
    }
    if ctx.pms.is_some() {
        // mosip mode: PMS issues the licence (issue #12) behind the same gate ([`check`]);
        // deleting the MispLicense deactivates it in PMS first.
        super::mosip_delete::hold(&ctx, license.as_ref()).await?;
        return super::mosip::reconcile_license(&ctx, license.as_ref()).await;
    }
    let namespace = license.namespace().ok_or(Error::MissingObjectKey("namespace"))?;
    let uid = license.uid().ok_or(Error::MissingObjectKey("uid"))?;
    let name = license.name_any();
    let now = super::now();
    let previous = license.status.clone().unwrap_or_default();
    let spec = &license.spec;

    // Gather.
    let partner =
        ctx.partners.get(&ObjectRef::new(&spec.partner_name).within(&namespace)).map(|p| p.unpack()).transpose()?;
    let secret_name = mosip::license_secret_name(&name);
    let slot = Slot::observe(&ctx, &namespace, &secret_name, &uid);
    let checked = check_secret(&ctx, &slot, &previous, &labels(&license)).await?;
    let known = checked.known.clone();

    // Plan.
    let blocker = check(&ctx, &license, partner.as_ref());
    // Capped at --max-license-validity and longer than the renewal window (#10 findings 3, 8).
    let validity = match spec.validity.as_deref().map(mosip::parse_validity).transpose() {
        Ok(requested) => mosip::tenancy::license_validity(
            requested,
            ctx.config.license_validity,
            ctx.config.max_license_validity,
            ctx.config.license_renew_before,
        )
        .map(|(validity, _capped)| validity)
        .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let (want, blocker) = match (blocker, validity) {
        (Some(b), _) if b.withdraw => (LicenseWant::Withdraw, Some(b)),
        (Some(b), _) => (LicenseWant::Hold, Some(b)),
        (None, Err(e)) => (LicenseWant::Hold, Some(Blocker::stalled("InvalidValidity", format!("spec.validity: {e}")))),
        (None, Ok(validity)) => (LicenseWant::Issue(validity), None),
    };
    let rotate_token = license.annotations().get(ROTATE_ANNOTATION).cloned();
    let plan = plan_license(&LicenseInput {
        now,
        want,
        secret: slot.observed.state(),
        facts: known.as_ref().map(|(f, _)| f),
        rotate_token: rotate_token.as_deref(),
        renew_before: ctx.config.license_renew_before,
    });

    // Apply: the Secret first.
    let mut desired = MispLicenseStatus { observed_generation: license.metadata.generation, ..Default::default() };
    let mut next: Option<jiff::Timestamp> = None;
    let mut notes = Vec::new();
    let problems: Vec<Problem> = blocker.iter().map(|b| b.problem.clone()).collect();
    let conditions = match plan {
        LicensePlan::Conflict => {
            let message = secrets::conflict_message(&secret_name, "MispLicense");
            status::readiness(&[Problem::stalled(secrets::CONFLICT_REASON, message)], "Issued", "")
        }
        LicensePlan::ReadBack => return Ok(Action::requeue(std::time::Duration::from_secs(1))),
        LicensePlan::Absent => status::readiness(&problems, "Issued", ""),
        LicensePlan::Hold if checked.distrusted() => {
            // Blocked, and the Secret holds a key the operator does not believe: take it out.
            desired.secret_name = Some(secret_name.clone());
            let why = blocker.as_ref().map(|b| b.problem.reason.clone()).unwrap_or_default();
            if withdraw(&ctx, &license, &slot, &why).await? == WriteOutcome::Lost {
                return Ok(Action::requeue(std::time::Duration::from_secs(1)));
            }
            desired.secret_resource_version = slot.written_version(&ctx);
            status::readiness(&problems, "Issued", "")
        }
        LicensePlan::Hold => {
            // Keep what was issued; report why it is not Ready.
            desired.secret_name = Some(secret_name.clone());
            desired.secret_resource_version = checked.verified.clone();
            desired.valid_from = previous.valid_from.clone();
            desired.valid_until = previous.valid_until.clone();
            desired.key_fingerprint = previous.key_fingerprint.clone();
            let parse = |v: &Option<String>| v.as_deref().and_then(|v| v.parse::<jiff::Timestamp>().ok());
            if checked.restamp
                && let (Some(from), Some(until)) = (parse(&previous.valid_from), parse(&previous.valid_until))
            {
                // As issued, while blocked too.
                let partner_id = partner.as_ref().map(|p| p.partner_id()).unwrap_or_default();
                match restore(&ctx, &license, &slot, partner_id, from, until).await? {
                    WriteOutcome::Lost => return Ok(Action::requeue(std::time::Duration::from_secs(1))),
                    WriteOutcome::Written => desired.secret_resource_version = slot.written_version(&ctx),
                    WriteOutcome::Unchanged => {}
                }
            }
            status::readiness(&problems, "Issued", "")
        }
        LicensePlan::Withdraw => {
            desired.secret_name = Some(secret_name.clone());
            desired.secret_resource_version = checked.verified.clone();
            if known.as_ref().is_some_and(|(f, _)| f.has_key) || checked.distrusted() {
                let why = blocker.as_ref().map(|b| b.problem.reason.clone()).unwrap_or_default();
                match withdraw(&ctx, &license, &slot, &why).await? {
                    WriteOutcome::Lost => return Ok(Action::requeue(std::time::Duration::from_secs(1))),
                    WriteOutcome::Written => desired.secret_resource_version = slot.written_version(&ctx),
                    WriteOutcome::Unchanged => {}
                }
            }
            status::readiness(&problems, "Issued", "")
        }
        LicensePlan::Keep { valid_from, valid_until, next_check } => {
            desired.secret_name = Some(secret_name.clone());
            desired.valid_from = Some(valid_from.to_string());
            desired.valid_until = Some(valid_until.to_string());
            desired.key_fingerprint = known.as_ref().and_then(|(_, fp)| fp.clone());
            desired.secret_resource_version = checked.verified.clone();
            if checked.restamp {
                let partner_id = partner.as_ref().map(|p| p.partner_id()).unwrap_or_default();
                match restore(&ctx, &license, &slot, partner_id, valid_from, valid_until).await? {
                    WriteOutcome::Lost => return Ok(Action::requeue(std::time::Duration::from_secs(1))),
                    WriteOutcome::Written => desired.secret_resource_version = slot.written_version(&ctx),
                    WriteOutcome::Unchanged => {}
                }
            }
            next = Some(next_check);
            issued(&secret_name, valid_until, checked.finding.as_deref())
        }
        LicensePlan::Mint { why, valid_from, valid_until, next_check } => {
            let partner_id = partner.as_ref().map(|p| p.partner_id()).unwrap_or_default();
            let request = KeyRequest::License {
                namespace: namespace.clone(),
                partner_id: partner_id.clone(),
                policy: spec.policy_name.clone(),
                license: name.clone(),
            };
            let key = ctx.keys.mint(&request).await?;
            let fingerprint = mosip::key_fingerprint(&key);
            let data = license_data(key, partner_id, valid_from, valid_until, spec.policy_name.as_deref());
            let mut annotations = BTreeMap::new();
            if let Some(t) = rotate_token {
                annotations.insert(ROTATED_FOR_ANNOTATION.to_string(), t);
            }
            let owner = secrets::owner_reference(license.as_ref()).ok_or(Error::MissingObjectKey("ownerReference"))?;
            let secret = DesiredSecret {
                name: secret_name.clone(),
                namespace: namespace.clone(),
                owner,
                labels: labels(&license),
                annotations,
                data,
            };
            if slot.write(&ctx, &secret).await? == WriteOutcome::Lost {
                return Ok(Action::requeue(std::time::Duration::from_secs(1)));
            }
            let (reason, verb) = match why {
                Mint::Issue => ("LicenseIssued", "issued"),
                Mint::Rotate => ("LicenseRenewed", "renewed"),
            };
            notes.push(Note::normal(
                reason,
                format!("licence key {verb} into Secret {secret_name}, valid until {valid_until}"),
                "IssueLicense",
            ));
            desired.secret_name = Some(secret_name.clone());
            desired.valid_from = Some(valid_from.to_string());
            desired.valid_until = Some(valid_until.to_string());
            desired.key_fingerprint = Some(fingerprint);
            desired.secret_resource_version = slot.written_version(&ctx);
            next = Some(next_check);
            issued(&secret_name, valid_until, checked.finding.as_deref())
        }
    };

    if let Some(f) = &checked.finding {
        let reason = checked.trust.map(SecretTrust::reason).unwrap_or(super::partner::TAMPERED_REASON);
        notes.push(Note::warning(reason, f.clone(), "Reconcile"));
    }

    // Then status, then Events.
    desired.conditions =
        api::merge_conditions(&previous.conditions, conditions.to_vec(), license.metadata.generation, &now);
    let lapi: Api<MispLicense> = Api::namespaced(ctx.client.clone(), &namespace);
    status::apply_status(&lapi, license.as_ref(), &desired, desired == previous).await?;
    events::publish_all(&ctx, license.as_ref(), &notes).await;
    if let Some(new) = api::find(&desired.conditions, READY) {
        events::on_transition(ctx.as_ref(), license.as_ref(), api::find(&previous.conditions, READY), new, "Issue")
            .await;
    }
    Ok(Action::requeue(cacert::requeue_after(next, now)))
}

/// The data of a licence Secret.
fn license_data(
    key: String,
    partner_id: String,
    valid_from: jiff::Timestamp,
    valid_until: jiff::Timestamp,
    policy: Option<&str>,
) -> BTreeMap<String, k8s_openapi::ByteString> {
    let mut data = BTreeMap::from([
        (LICENSE_KEY.to_string(), secrets::text(key)),
        ("partnerId".to_string(), secrets::text(partner_id)),
        ("validFrom".to_string(), secrets::text(valid_from.to_string())),
        ("validUntil".to_string(), secrets::text(valid_until.to_string())),
    ]);
    if let Some(p) = policy {
        data.insert("policy".into(), secrets::text(p));
    }
    data
}

/// What gathering learnt about the licence Secret (#10 finding 7).
#[derive(Debug, Default)]
struct Checked {
    /// The facts the plan takes and the key's fingerprint; None when nothing is known.
    known: Option<(LicenseFacts, Option<String>)>,
    /// The resourceVersion at which the operator wrote or verified the Secret.
    verified: Option<String>,
    /// How the Secret compared with the record, when it was read because it changed.
    trust: Option<SecretTrust>,
    /// What was found wrong, for the Warning Event and the condition message.
    finding: Option<String>,
    /// Rewrite the Secret around the believed key when the plan keeps it.
    restamp: bool,
}

impl Checked {
    /// The Secret holds a key the operator does not believe.
    fn distrusted(&self) -> bool {
        matches!(self.trust, Some(SecretTrust::Tampered { .. } | SecretTrust::Unrecorded))
    }
}

/// What is known about the licence Secret in `slot`, and whether it is believed: the operator's
/// own write; else, while the Secret is at the resourceVersion status records, the status record
/// (no read); else its content, read and compared with the record
/// ([`mosip::tenancy::secret_trust`]).
async fn check_secret(
    ctx: &Context,
    slot: &Slot,
    previous: &MispLicenseStatus,
    labels: &BTreeMap<String, String>,
) -> Result<Checked> {
    if let Some(own) = slot.own_write(ctx) {
        return Ok(Checked {
            known: Some(facts_from_secret(&own)),
            verified: own.metadata.resource_version.clone(),
            ..Default::default()
        });
    }
    if slot.observed.meta().is_none() {
        return Ok(Checked::default());
    }
    let recorded = || {
        (
            LicenseFacts {
                has_key: previous.key_fingerprint.is_some(),
                valid_from: previous.valid_from.clone(),
                valid_until: previous.valid_until.clone(),
                rotated_for: slot.observed.annotation(ROTATED_FOR_ANNOTATION).map(String::from),
            },
            previous.key_fingerprint.clone(),
        )
    };
    if previous.secret_name.is_some()
        && mosip::tenancy::unchanged_since_recorded(previous.secret_resource_version.as_deref(), slot.seen_version())
    {
        // What the operator recorded when it issued, withdrew or last verified the licence.
        return Ok(Checked {
            known: Some(recorded()),
            verified: previous.secret_resource_version.clone(),
            ..Default::default()
        });
    }
    // Changed since (or never recorded): read it and compare.
    let Some(content) = slot.content(ctx).await? else { return Ok(Checked::default()) };
    let parse = |v: Option<&String>| v.and_then(|v| v.parse::<jiff::Timestamp>().ok());
    let record = previous.secret_name.as_ref().and_then(|_| {
        Some(IssuedRecord {
            fingerprint: previous.key_fingerprint.clone()?,
            valid_from: parse(previous.valid_from.as_ref()),
            valid_until: parse(previous.valid_until.as_ref())?,
        })
    });
    let (facts, fp) = facts_from_secret(&content);
    let sealed_at = slot.sealed_at(ctx, &content);
    let trust = mosip::tenancy::secret_trust(
        record.as_ref(),
        &FoundSecret {
            fingerprint: fp.as_deref(),
            valid_from: facts.valid_from.as_deref(),
            valid_until: facts.valid_until.as_deref(),
            sealed_at,
        },
    );
    let verified = content.metadata.resource_version.clone();
    let finding = trust.finding(&slot.name, LICENSE_KEY);
    let checked = match trust {
        SecretTrust::Matches | SecretTrust::Adopt => {
            Checked { known: Some((facts, fp)), verified, restamp: !stamped(&content, labels), ..Default::default() }
        }
        // The key and validity are the record's; the rest is rebuilt.
        SecretTrust::Restore { .. } => Checked { known: Some(recorded()), restamp: true, ..Default::default() },
        SecretTrust::NoKey => Checked { known: Some((facts, None)), verified, ..Default::default() },
        // Not believed: no key as far as the plan is concerned.
        SecretTrust::Tampered { .. } | SecretTrust::Unrecorded => Checked {
            known: Some((LicenseFacts { rotated_for: facts.rotated_for, ..Default::default() }, None)),
            ..Default::default()
        },
    };
    Ok(Checked { trust: Some(trust), finding, ..checked })
}

/// Whether a licence Secret carries the operator's labels, content hash and seal.
fn stamped(secret: &Secret, labels: &BTreeMap<String, String>) -> bool {
    let mut labels = labels.clone();
    labels.insert(super::MANAGED_BY_LABEL.into(), super::MANAGED_BY.into());
    let have = secret.labels();
    let data = secret.data.clone().unwrap_or_default();
    labels.iter().all(|(k, v)| have.get(k) == Some(v))
        && secret.annotations().get(super::CONTENT_HASH_ANNOTATION) == Some(&secrets::content_hash(&data, &labels))
        && secret.annotations().contains_key(secrets::SEAL_ANNOTATION)
}

/// Ready: issued; with what was found in the Secret and repaired this pass, if anything.
fn issued(secret_name: &str, valid_until: jiff::Timestamp, finding: Option<&str>) -> [api::DesiredCondition; 2] {
    let message = format!("licence key issued into Secret {secret_name}, valid until {valid_until}");
    status::readiness(
        &[],
        "Issued",
        match finding {
            Some(f) => format!("{message}; {f}"),
            None => message,
        },
    )
}

fn labels(license: &MispLicense) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LICENSE_LABEL.to_string(), mosip::label_value(&license.name_any())),
        (PARTNER_LABEL.to_string(), mosip::label_value(&license.spec.partner_name)),
        (SECRET_KIND_LABEL.to_string(), KIND.to_string()),
    ])
}

/// Why the licence cannot be issued now, if anything. Reads only the stores. The one licence
/// gate of both backends: in `mosip` mode nothing is requested from PMS (`POST /misps`) while it
/// refuses.
pub(super) fn check(ctx: &Context, license: &MispLicense, partner: Option<&Partner>) -> Option<Blocker> {
    let spec = &license.spec;
    if !spec.is_active() {
        return Some(Blocker::deactivated("spec.active is false: the licence key is withdrawn from its Secret".into()));
    }
    // A partner that is gone (or going) takes its licences with it (#10 finding 3).
    let Some(partner) = partner.filter(|p| p.metadata.deletion_timestamp.is_none()) else {
        return Some(Blocker {
            problem: Problem::waiting(
                "PartnerNotFound",
                format!(
                    "Partner {:?} does not exist in this namespace (or is being deleted); any licence key is withdrawn",
                    spec.partner_name
                ),
            ),
            withdraw: true,
        });
    };
    if partner.spec.partner_type != PartnerType::MispPartner {
        return Some(Blocker::stalled(
            "PartnerNotMisp",
            format!("Partner {:?} is not a MISP_Partner; licences are only issued to MISPs", spec.partner_name),
        ));
    }
    if !partner.spec.is_active() {
        return Some(Blocker::deactivated(format!(
            "MISP partner {:?} is deactivated, and its licences with it (as in MOSIP)",
            spec.partner_name
        )));
    }
    let partner_ready = partner
        .status
        .as_ref()
        .is_some_and(|s| api::is_true(&s.conditions, READY) && s.observed_generation == partner.metadata.generation);
    if !partner_ready {
        return Some(Blocker::waiting(
            "PartnerNotReady",
            format!("MISP partner {:?} is not Ready yet; the licence is issued once it is", spec.partner_name),
        ));
    }
    if let Some(policy_name) = &spec.policy_name {
        let policy = ctx.policies.get(&ObjectRef::new(policy_name)).filter(|p| ctx.config.serves(p.labels()));
        match policy {
            None => {
                return Some(Blocker::waiting(
                    "PolicyNotFound",
                    format!("PartnerPolicy {policy_name:?} does not exist"),
                ));
            }
            Some(p) if p.spec.policy_type != PolicyType::Misp => {
                return Some(Blocker::stalled(
                    "PolicyTypeNotAllowed",
                    format!(
                        "PartnerPolicy {policy_name:?} is of type {}; a licence needs a MISP policy",
                        p.spec.policy_type
                    ),
                ));
            }
            Some(p) if !super::policy::counts_as_ready(&p, ctx.pms.is_none()) => {
                return Some(Blocker::waiting("PolicyNotReady", format!("PartnerPolicy {policy_name:?} is not Ready")));
            }
            Some(_) => {}
        }
    }
    // The partner's own request for the policy must be approved — as the Partner controller
    // decided and recorded it (the same decision as for API keys); otherwise nothing is issued
    // and an issued key is withdrawn (#10 finding 3).
    let status = partner.status.as_ref();
    let approved = |name: &str| {
        partner.spec.policies.iter().any(|r| r.name == name)
            && status.is_some_and(|s| {
                s.policies.iter().any(|e| e.name == name && api::is_true(&e.conditions, super::partner::REQUEST_READY))
            })
    };
    let view = mosip::tenancy::LicensePartner {
        deleting: false,
        active: true,
        is_misp: true,
        requested: true,
        approved: match &spec.policy_name {
            Some(name) => approved(name),
            None => partner.spec.policies.iter().any(|r| approved(&r.name)),
        },
    };
    let policy = spec.policy_name.clone().unwrap_or_else(|| "<any MISP policy>".to_string());
    if let Err(refusal) = mosip::tenancy::license_allowed(&spec.partner_name, &policy, Some(&view)) {
        return Some(Blocker { problem: Problem::waiting(refusal.reason(), refusal.to_string()), withdraw: true });
    }
    None
}

/// Rewrites the licence Secret around its believed key, as issued: the recorded validity, the
/// operator's labels and annotations (#10 finding 7).
async fn restore(
    ctx: &Context,
    license: &MispLicense,
    slot: &Slot,
    partner_id: String,
    valid_from: jiff::Timestamp,
    valid_until: jiff::Timestamp,
) -> Result<WriteOutcome> {
    let Some(content) = slot.content(ctx).await? else { return Ok(WriteOutcome::Lost) };
    let Some(key) = secrets::read_text(&content, LICENSE_KEY) else { return Ok(WriteOutcome::Lost) };
    let data = license_data(key, partner_id, valid_from, valid_until, license.spec.policy_name.as_deref());
    rewrite(ctx, license, slot, &content, data).await
}

/// Writes the licence Secret with `data`, the operator's labels and the rotation token the
/// Secret already carries (a rewrite is not a rotation).
async fn rewrite(
    ctx: &Context,
    license: &MispLicense,
    slot: &Slot,
    current: &Secret,
    data: BTreeMap<String, ByteString>,
) -> Result<WriteOutcome> {
    let owner = secrets::owner_reference(license).ok_or(Error::MissingObjectKey("ownerReference"))?;
    let annotations = current
        .annotations()
        .get(ROTATED_FOR_ANNOTATION)
        .map(|v| BTreeMap::from([(ROTATED_FOR_ANNOTATION.to_string(), v.clone())]))
        .unwrap_or_default();
    let desired = DesiredSecret {
        name: slot.name.clone(),
        namespace: slot.namespace.clone(),
        owner,
        labels: labels(license),
        annotations,
        data,
    };
    slot.write(ctx, &desired).await
}

/// Removes the key from the Secret, keeping its non-secret fields.
async fn withdraw(ctx: &Context, license: &MispLicense, slot: &Slot, why: &str) -> Result<WriteOutcome> {
    let Some(s) = slot.content(ctx).await? else { return Ok(WriteOutcome::Lost) };
    let mut data = s.data.clone().unwrap_or_default();
    if !data.contains_key(LICENSE_KEY) {
        return Ok(WriteOutcome::Unchanged);
    }
    data.remove(LICENSE_KEY);
    data.insert("deactivated".into(), secrets::text(why));
    rewrite(ctx, license, slot, &s, data).await
}
