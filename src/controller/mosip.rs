//! The `mosip` backend's glue for Partners and MispLicenses.
//!
//! The Partner reconciler gathers and plans as in `standalone` mode (registration rules,
//! certificate trust, policy validation, approval decisions); instead of re-signing and minting
//! locally it then calls [`crate::pms::sync::sync_partner`] with a [`PartnerStore`] over the
//! owned-Secret lifecycle ([`super::secrets::Slot`]):
//! - the partner user's password: an operator-owned Secret `<partner>-mosip-user` (owned by the
//!   Partner, so it goes only with the Partner);
//! - the MOSIP-signed certificate PMS returns, in the signed-certificate Secret (`tls.crt`);
//! - API keys PMS generated, in the API-key Secrets of `standalone` mode (same names, labels and
//!   `apiKey` key), written in the same reconcile right after PMS returned them, then copied to
//!   their `exports`.
//!
//! MispLicenses call [`crate::pms::sync::sync_license`] the same way. Failures become
//! `MosipSynced=False` with PMS's reason and back off per object.

use super::cache::Content;
use super::error::{Error, Result};
use super::partner::{Gathered, Plan};
use super::secrets::{self, DesiredSecret, Slot, WriteOutcome};
use super::{Context, LICENSE_LABEL, PARTNER_LABEL, POLICY_LABEL, SECRET_KIND_LABEL, apikeys, events, status};
use crate::api::{self, Export, MispLicense, MispLicenseStatus, Partner, PartnerMosipStatus, PartnerType, READY};
use crate::mosip;
use crate::pms::SecretString;
use crate::pms::exports::{ExportSource, created_copy_of, remove_export, write_export_tracked};
use crate::pms::plan::{KnownCopy, copy_is_current, copy_removal_needed, export_allowed, export_fingerprint};
use crate::pms::sync::{Decision, LicenseStore, PartnerInput, PartnerStore, RequestInput, SyncError};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Secret kind label value of the partner user's password Secret.
pub const PASSWORD_KIND: &str = "mosip-user";
/// Data key of the password.
pub const PASSWORD_KEY: &str = "password";

/// The operator-owned Secret holding the password of the partner's Keycloak user.
pub fn password_secret_name(partner_name: &str) -> String {
    format!("{partner_name}-mosip-user")
}

fn pem_of(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Writes `desired` through its slot; a lost race is a store error (retried).
async fn write(ctx: &Context, slot: &Slot, desired: &DesiredSecret) -> std::result::Result<(), String> {
    match slot.write(ctx, desired).await {
        Ok(WriteOutcome::Written | WriteOutcome::Unchanged) => Ok(()),
        Ok(WriteOutcome::Lost) => Err(format!(
            "Secret {} exists and is not owned by this object, or changed meanwhile; the operator retries",
            desired.name
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Copies `value` to every export allowed by its target namespace; returns the denied ones.
///
/// Cache-first: whether the target opted in is read from the Namespace store, and a copy the
/// Secret metadata store shows unchanged since the operator last read or wrote it with this
/// value ([`copy_is_current`]) is neither read nor written. Only a copy that is missing,
/// changed by someone else, or due for a new value costs API calls.
async fn export_all(
    ctx: &Context,
    source: &ExportSource<'_>,
    exports: &[Export],
    value: &[u8],
) -> std::result::Result<Vec<String>, String> {
    let fingerprint = export_fingerprint(value);
    let mut denied = Vec::new();
    for export in exports {
        let target = ctx.namespaces.get(&ObjectRef::new(&export.namespace));
        if let Err(e) = export_allowed(source.namespace, &export.namespace, target.as_ref().map(|n| &n.metadata)) {
            denied.push(e.to_string());
            continue;
        }
        let seen = ctx.secrets.get(&export.namespace, &export.secret_name);
        let known = ctx.exported.get(&export.namespace, &export.secret_name);
        let current = copy_is_current(
            seen.as_ref().map(|m| (Some(m.uid()), Some(m.resource_version()))),
            known.as_ref().map(|c| KnownCopy {
                uid: c.uid.as_deref(),
                resource_version: c.resource_version.as_deref(),
                fingerprints: &c.value,
            }),
            &export.key,
            &fingerprint,
        );
        if current {
            continue;
        }
        let (_, state) =
            write_export_tracked(ctx.client.clone(), source, export, value).await.map_err(|e| e.to_string())?;
        ctx.exported.put(
            &export.namespace,
            &export.secret_name,
            Content { uid: state.uid, resource_version: state.resource_version, value: state.fingerprints },
        );
        ctx.unexported.evict(&export.namespace, &export.secret_name);
    }
    Ok(denied)
}

/// Removes the copies the operator created for `uid`. Cache-first ([`copy_removal_needed`]):
/// only a copy that may exist costs API calls.
async fn unexport_all(ctx: &Context, uid: &str, exports: &[Export]) {
    for export in exports {
        let (ns, name) = (export.namespace.as_str(), export.secret_name.as_str());
        let watched = ctx.config.scope.contains(ns) || ctx.config.export_namespaces.iter().any(|n| n == ns);
        let seen = ctx.secrets.get(ns, name);
        let ours = seen.as_ref().is_some_and(|m| created_copy_of(m.as_ref(), uid));
        let written = ctx.exported.get(ns, name).is_some();
        let removed = ctx.unexported.get(ns, name).is_some();
        if !copy_removal_needed(watched, ours, written, removed) {
            continue;
        }
        match remove_export(ctx.client.clone(), uid, export).await {
            Ok(_) => {
                ctx.exported.evict(ns, name);
                ctx.unexported.put(ns, name, Content { uid: None, resource_version: None, value: () });
            }
            Err(e) => {
                tracing::warn!(namespace = %export.namespace, secret = %export.secret_name, "removing an export failed: {e}")
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Partner

struct PartnerSecrets<'a> {
    ctx: &'a Context,
    partner: &'a Partner,
    namespace: String,
    uid: String,
    name: String,
    partner_id: String,
    /// The last `status.mosip` recorded (kept when the sync fails midway).
    recorded: Mutex<Option<PartnerMosipStatus>>,
}

impl PartnerSecrets<'_> {
    fn owner(&self) -> std::result::Result<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference, String> {
        secrets::owner_reference(self.partner).ok_or_else(|| "the Partner has no uid yet".to_string())
    }

    fn slot(&self, secret_name: &str) -> Slot {
        Slot::observe(self.ctx, &self.namespace, secret_name, &self.uid)
    }

    fn key_exports(&self, policy: &str, label: &str) -> Vec<Export> {
        self.partner
            .spec
            .policies
            .iter()
            .filter(|r| r.name == policy)
            .flat_map(|r| r.api_keys.iter())
            .filter(|k| k.label == label)
            .flat_map(|k| k.exports.iter().cloned())
            .collect()
    }

    fn key_secret(
        &self,
        policy: &str,
        label: &str,
        data: BTreeMap<String, k8s_openapi::ByteString>,
    ) -> Result<DesiredSecret, String> {
        let mut all = BTreeMap::from([
            ("partnerId".to_string(), secrets::text(self.partner_id.clone())),
            ("policy".to_string(), secrets::text(policy)),
            ("label".to_string(), secrets::text(label)),
        ]);
        all.extend(data);
        let mut desired =
            self.partner_secret(mosip::api_key_secret_name(&self.name, policy, label), apikeys::KIND, all)?;
        desired.labels.insert(POLICY_LABEL.to_string(), mosip::label_value(policy));
        Ok(desired)
    }

    /// A Secret owned by the Partner, labelled with the partner and with what it holds.
    fn partner_secret(
        &self,
        name: String,
        kind: &str,
        data: BTreeMap<String, k8s_openapi::ByteString>,
    ) -> Result<DesiredSecret, String> {
        Ok(DesiredSecret {
            name,
            namespace: self.namespace.clone(),
            owner: self.owner()?,
            labels: BTreeMap::from([
                (PARTNER_LABEL.to_string(), mosip::label_value(&self.name)),
                (SECRET_KIND_LABEL.to_string(), kind.to_string()),
            ]),
            annotations: BTreeMap::new(),
            data,
        })
    }
}

impl PartnerStore for PartnerSecrets<'_> {
    async fn password(&self) -> std::result::Result<Option<SecretString>, String> {
        let slot = self.slot(&password_secret_name(&self.name));
        let content = slot.content(self.ctx).await.map_err(|e| e.to_string())?;
        Ok(content.and_then(|c| secrets::read_text(&c, PASSWORD_KEY)).filter(|p| !p.is_empty()).map(SecretString::new))
    }

    async fn save_password(&self, password: &SecretString) -> std::result::Result<(), String> {
        let name = password_secret_name(&self.name);
        let slot = self.slot(&name);
        if !matches!(slot.observed, secrets::Observed::Missing) {
            // Never replaced: a password Secret that exists but could not be read is a conflict.
            return Err(format!("Secret {name} exists but holds no readable password; the operator never replaces it"));
        }
        let desired = self.partner_secret(
            name,
            PASSWORD_KIND,
            BTreeMap::from([
                ("username".to_string(), secrets::text(self.partner_id.clone())),
                (PASSWORD_KEY.to_string(), secrets::text(password.expose())),
            ]),
        )?;
        write(self.ctx, &slot, &desired).await
    }

    async fn save_signed_certificate(&self, pem: &str) -> std::result::Result<(), String> {
        let name = mosip::signed_certificate_secret_name(&self.name);
        let slot = self.slot(&name);
        let desired = self.partner_secret(
            name,
            super::signing::KIND,
            BTreeMap::from([("tls.crt".to_string(), secrets::text(pem))]),
        )?;
        write(self.ctx, &slot, &desired).await
    }

    async fn has_api_key(&self, policy: &str, label: &str) -> std::result::Result<bool, String> {
        let slot = self.slot(&mosip::api_key_secret_name(&self.name, policy, label));
        let content = slot.content(self.ctx).await.map_err(|e| e.to_string())?;
        Ok(content.and_then(|c| secrets::read_text(&c, apikeys::API_KEY)).is_some_and(|k| !k.is_empty()))
    }

    async fn save_api_key(&self, policy: &str, label: &str, key: &SecretString) -> std::result::Result<(), String> {
        let desired = self.key_secret(
            policy,
            label,
            BTreeMap::from([(apikeys::API_KEY.to_string(), secrets::text(key.expose()))]),
        )?;
        let slot = self.slot(&desired.name);
        write(self.ctx, &slot, &desired).await
    }

    async fn withdraw_api_key(&self, policy: &str, label: &str) -> std::result::Result<(), String> {
        let desired = self.key_secret(
            policy,
            label,
            BTreeMap::from([("suspended".to_string(), secrets::text("deactivated in PMS"))]),
        )?;
        let slot = self.slot(&desired.name);
        if !matches!(slot.observed, secrets::Observed::Missing) {
            write(self.ctx, &slot, &desired).await?;
        }
        unexport_all(self.ctx, &self.uid, &self.key_exports(policy, label)).await;
        Ok(())
    }

    async fn record(&self, st: &PartnerMosipStatus) -> std::result::Result<(), String> {
        let api: Api<Partner> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        let patch = serde_json::json!({"status": {"mosip": st}});
        api.patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| e.to_string())?;
        if let Ok(mut r) = self.recorded.lock() {
            *r = Some(st.clone());
        }
        Ok(())
    }
}

/// The Partner in `mosip` mode, after the shared gather and plan.
pub async fn reconcile_partner(
    ctx: &Context,
    partner: &Partner,
    g: &Gathered,
    mut plan: Plan,
    now: jiff::Timestamp,
) -> Result<Action> {
    let Some(pms) = ctx.pms.as_ref() else { return Ok(Action::await_change()) };
    let namespace = g.namespace.clone();
    let uid = partner.uid().ok_or(Error::MissingObjectKey("uid"))?;
    let name = partner.name_any();
    let previous = partner.status.clone().unwrap_or_default();
    let key = super::cache::object_key("Partner", partner);

    let registration_ok =
        mosip::validate_registration(&partner.spec, &g.partner_id).is_empty() && g.claim.reason().is_none();
    let certificate = g.cert.validated.as_ref().map(|v| (pem_of(&v.leaf_der), v.summary.fingerprint_sha256.clone()));
    // The decision of each request exactly as the plan took it (approver's decision bound to
    // the request fingerprint, remembered denials, scoped Automatic approval): one rule, one place.
    let mut requests = Vec::new();
    for (i, (request, gathered)) in partner.spec.policies.iter().zip(&g.requests).enumerate() {
        let policy = gathered.policy.as_deref();
        let denied = plan
            .status
            .policies
            .iter()
            .find(|p| p.name == request.name)
            .and_then(|p| api::find(&p.conditions, super::partner::REQUEST_READY))
            .is_some_and(|c| c.reason == "Denied");
        let decision = if denied {
            Decision::Denied
        } else if plan.approved.get(i).copied().unwrap_or(false) {
            Decision::Approved
        } else {
            Decision::Pending
        };
        requests.push(RequestInput {
            name: request.name.clone(),
            policy_id: policy.and_then(|p| p.status.as_ref()?.mosip.as_ref()?.policy_id.clone()),
            use_case: request.use_case.clone().unwrap_or_else(|| format!("{} for {}", request.name, g.partner_id)),
            decision,
            api_key_labels: request.api_keys.iter().map(|k| k.label.clone()).collect(),
        });
    }

    let store = PartnerSecrets {
        ctx,
        partner,
        namespace: namespace.clone(),
        uid: uid.clone(),
        name: name.clone(),
        partner_id: g.partner_id.clone(),
        recorded: Mutex::new(None),
    };
    let mut requeue = Duration::from_secs(3600);
    let (mosip_status, synced) = if !registration_ok {
        (
            previous.mosip.clone(),
            api::DesiredCondition::new(
                api::MOSIP_SYNCED,
                false,
                "WaitingForValidation",
                "sent to PMS once the registration is valid (see Ready)",
            ),
        )
    } else {
        let input = PartnerInput {
            partner,
            uid: &uid,
            certificate: certificate.as_ref().map(|(p, f)| (p.as_str(), f.as_str())),
            requests,
        };
        match crate::pms::sync::sync_partner(pms, &input, previous.mosip.as_ref(), &store).await {
            Ok(st) => {
                ctx.backoff.succeeded(&key);
                let msg = match (&st.partner_status, st.deactivated) {
                    (_, true) => "deactivated in PMS".to_string(),
                    (Some(s), _) => format!("partner {} in PMS: {s}", g.partner_id),
                    (None, _) => format!("partner {} in PMS", g.partner_id),
                };
                (Some(st), api::DesiredCondition::new(api::MOSIP_SYNCED, true, "Synced", msg))
            }
            Err(e) => {
                requeue = ctx.backoff.failed(&key);
                tracing::warn!(reason = %e.reason(), "PMS: {e}");
                let recorded = store.recorded.lock().ok().and_then(|r| r.clone());
                (
                    recorded.or_else(|| previous.mosip.clone()),
                    api::DesiredCondition::new(api::MOSIP_SYNCED, false, &e.reason(), sync_message(&e)),
                )
            }
        }
    };

    // Key statuses say what is in the Secrets. No validUntil: PMS gives a key the validity of
    // its own setting `mosip.pmp.partner.policy.expiry.period.indays` and does not return it
    // (`APIKeyGenerateResponseDto`: apiKey, label, partnerId, policyId).
    for entry in &mut plan.status.policies {
        let stored = mosip_status.as_ref().and_then(|m| m.requests.iter().find(|r| r.name == entry.name));
        for k in &mut entry.api_keys {
            let issued =
                stored.is_some_and(|r| r.api_keys.iter().any(|s| s.label == k.label && s.stored && !s.deactivated));
            k.secret_name = issued.then(|| mosip::api_key_secret_name(&name, &entry.name, &k.label));
            k.valid_until = None;
        }
    }
    let mut desired = vec![synced.clone()];
    if synced.status == api::Status::False {
        desired.push(api::DesiredCondition::new(READY, false, &synced.reason, synced.message.clone()));
    }
    let any_exports = partner.spec.policies.iter().flat_map(|r| r.api_keys.iter()).any(|k| !k.exports.is_empty());
    if any_exports {
        let (denied, failed) = export_keys(&store, mosip_status.as_ref()).await;
        requeue = requeue.min(export_retry(ctx, &key, &failed));
        desired.push(export_condition(&denied, &failed));
    }
    for c in api::merge_conditions(&previous.conditions, desired, partner.metadata.generation, &now) {
        plan.status.conditions.retain(|x| x.type_ != c.type_);
        plan.status.conditions.push(c);
    }
    if let Some(c) = plan.status.certificate.as_mut()
        && mosip_status.as_ref().is_some_and(|m| m.uploaded_fingerprint_sha256.is_some())
    {
        c.signed_secret_name = Some(mosip::signed_certificate_secret_name(&name));
    }
    plan.status.mosip = mosip_status;

    let api: Api<Partner> = Api::namespaced(ctx.client.clone(), &namespace);
    let unchanged = plan.status == super::partner::owned_projection(&previous);
    super::partner::remove_withdrawn_requests(&api, partner).await?;
    status::apply_status(&api, partner, &plan.status, unchanged).await?;
    for type_ in [READY, api::MOSIP_SYNCED, api::EXPORT_NOT_ALLOWED] {
        if let Some(new) = api::find(&plan.status.conditions, type_) {
            events::on_transition(ctx, partner, api::find(&previous.conditions, type_), new, "SyncPms").await;
        }
    }
    Ok(ctx.recheck(partner, requeue))
}

/// The condition message of a failed sync: PMS's reason and message (never a credential: the
/// client's errors carry no request bodies or tokens).
fn sync_message(e: &SyncError) -> String {
    format!("{e}; retried with back-off")
}

/// Copies every stored, active key to its exports; returns the denied and the failed ones.
async fn export_keys(store: &PartnerSecrets<'_>, st: Option<&PartnerMosipStatus>) -> (Vec<String>, Vec<String>) {
    let mut denied = Vec::new();
    let mut failed = Vec::new();
    let source = ExportSource { kind: "Partner", namespace: &store.namespace, name: &store.name, uid: &store.uid };
    for request in &store.partner.spec.policies {
        let recorded = st.and_then(|m| m.requests.iter().find(|r| r.name == request.name));
        for k in request.api_keys.iter().filter(|k| !k.exports.is_empty()) {
            let active =
                recorded.is_some_and(|r| r.api_keys.iter().any(|s| s.label == k.label && s.stored && !s.deactivated));
            if !active {
                unexport_all(store.ctx, &store.uid, &k.exports).await;
                continue;
            }
            let slot = store.slot(&mosip::api_key_secret_name(&store.name, &request.name, &k.label));
            let value = match slot.content(store.ctx).await {
                Ok(c) => c.and_then(|c| secrets::read_text(&c, apikeys::API_KEY)),
                Err(e) => {
                    failed.push(format!("reading the key of label {:?} failed: {e}", k.label));
                    continue;
                }
            };
            let Some(value) = value else { continue };
            match export_all(store.ctx, &source, &k.exports, value.as_bytes()).await {
                Ok(d) => denied.extend(d),
                Err(e) => failed.push(format!("writing an export of label {:?} failed: {e}", k.label)),
            }
        }
    }
    (denied, failed)
}

/// `ExportNotAllowed`: True with `NotOptedIn` when a target did not opt in (or does not exist),
/// True with `ExportFailed` when a copy could not be written (e.g. no rights in the target
/// namespace; retried with back-off), False otherwise.
fn export_condition(denied: &[String], failed: &[String]) -> api::DesiredCondition {
    let all = || denied.iter().chain(failed).cloned().collect::<Vec<_>>().join("; ");
    if !denied.is_empty() {
        api::DesiredCondition::new(api::EXPORT_NOT_ALLOWED, true, "NotOptedIn", all())
    } else if !failed.is_empty() {
        api::DesiredCondition::new(
            api::EXPORT_NOT_ALLOWED,
            true,
            "ExportFailed",
            format!("{}; retried with back-off", all()),
        )
    } else {
        api::DesiredCondition::new(api::EXPORT_NOT_ALLOWED, false, "Allowed", "every export target accepts copies")
    }
}

/// The delay before exports that failed are tried again (per-object back-off of its own, so
/// that PMS's back-off is not reset or advanced by it); an hour when none failed.
fn export_retry(ctx: &Context, key: &str, failed: &[String]) -> Duration {
    let key = format!("{key}/exports");
    if failed.is_empty() {
        ctx.backoff.succeeded(&key);
        Duration::from_secs(3600)
    } else {
        ctx.backoff.failed(&key)
    }
}

// ---------------------------------------------------------------------------------------------
// MispLicense

struct LicenseSecrets<'a> {
    ctx: &'a Context,
    license: &'a MispLicense,
    namespace: String,
    uid: String,
    name: String,
    partner_id: String,
}

impl LicenseSecrets<'_> {
    fn slot(&self) -> Slot {
        Slot::observe(self.ctx, &self.namespace, &mosip::license_secret_name(&self.name), &self.uid)
    }
}

impl LicenseStore for LicenseSecrets<'_> {
    async fn license(&self) -> std::result::Result<Option<SecretString>, String> {
        let content = self.slot().content(self.ctx).await.map_err(|e| e.to_string())?;
        Ok(content
            .and_then(|c| secrets::read_text(&c, super::license::LICENSE_KEY))
            .filter(|k| !k.is_empty())
            .map(SecretString::new))
    }

    async fn save_license(&self, key: &SecretString, expiry: Option<&str>) -> std::result::Result<(), String> {
        let mut data = BTreeMap::from([
            (super::license::LICENSE_KEY.to_string(), secrets::text(key.expose())),
            ("partnerId".to_string(), secrets::text(self.partner_id.clone())),
        ]);
        if let Some(x) = expiry {
            data.insert("validUntil".into(), secrets::text(x));
        }
        if let Some(p) = &self.license.spec.policy_name {
            data.insert("policy".into(), secrets::text(p.clone()));
        }
        let desired = DesiredSecret {
            name: mosip::license_secret_name(&self.name),
            namespace: self.namespace.clone(),
            owner: secrets::owner_reference(self.license)
                .ok_or_else(|| "the MispLicense has no uid yet".to_string())?,
            labels: BTreeMap::from([
                (LICENSE_LABEL.to_string(), mosip::label_value(&self.name)),
                (PARTNER_LABEL.to_string(), mosip::label_value(&self.license.spec.partner_name)),
                (SECRET_KIND_LABEL.to_string(), super::license::KIND.to_string()),
            ]),
            annotations: BTreeMap::new(),
            data,
        };
        write(self.ctx, &self.slot(), &desired).await
    }
}

/// The MispLicense in `mosip` mode: PMS issues the licence (`POST /misps`) for a MISP partner
/// that PMS knows and approved; it is stored at once and copied to its exports.
pub async fn reconcile_license(ctx: &Context, license: &MispLicense) -> Result<Action> {
    let Some(pms) = ctx.pms.as_ref() else { return Ok(Action::await_change()) };
    let namespace = license.namespace().ok_or(Error::MissingObjectKey("namespace"))?;
    let uid = license.uid().ok_or(Error::MissingObjectKey("uid"))?;
    let name = license.name_any();
    let now = super::now();
    let previous = license.status.clone().unwrap_or_default();
    let key = super::cache::object_key("MispLicense", license);
    let partner = ctx
        .partners
        .get(&ObjectRef::new(&license.spec.partner_name).within(&namespace))
        .map(|p| p.unpack())
        .transpose()?;
    let secret_name = mosip::license_secret_name(&name);

    // The MISP partner must be in PMS with its certificate (PMS issues licences to approved MISPs).
    let waiting = match partner.as_ref() {
        None => Some(format!("Partner {:?} does not exist (yet) in this namespace", license.spec.partner_name)),
        Some(p) if p.spec.partner_type != PartnerType::MispPartner => {
            Some(format!("Partner {:?} is not a MISP_Partner", license.spec.partner_name))
        }
        Some(p)
            if !p
                .status
                .as_ref()
                .and_then(|s| s.mosip.as_ref())
                .is_some_and(|m| m.registered && (m.uploaded_fingerprint_sha256.is_some() || m.deactivated)) =>
        {
            Some(format!("Partner {:?} is not yet registered with its certificate in PMS", license.spec.partner_name))
        }
        _ => None,
    };
    let mut requeue = Duration::from_secs(3600);
    let mut desired = MispLicenseStatus {
        observed_generation: license.metadata.generation,
        secret_name: previous.secret_name.clone(),
        key_fingerprint: previous.key_fingerprint.clone(),
        valid_until: previous.valid_until.clone(),
        mosip: previous.mosip.clone(),
        ..Default::default()
    };
    let store = LicenseSecrets {
        ctx,
        license,
        namespace: namespace.clone(),
        uid: uid.clone(),
        name: name.clone(),
        partner_id: partner.as_ref().map(|p| p.partner_id()).unwrap_or_default(),
    };
    let (mut denied, mut failed) = (Vec::new(), Vec::new());
    let active = license.spec.is_active() && partner.as_ref().is_some_and(|p| p.spec.is_active());
    // The licence gate of standalone mode, the same function (an approved request of this MISP
    // for the policy, ...): nothing is requested from PMS without it. Deactivation is not gated.
    let gate = if active && waiting.is_none() { super::license::check(ctx, license, partner.as_ref()) } else { None };
    let conditions = match (waiting, partner.as_ref()) {
        (None, Some(_)) if let Some(blocker) = gate => {
            requeue = super::cacert::requeue_after(None, now);
            let mut problem = blocker.problem;
            if previous.mosip.as_ref().is_some_and(|m| m.license_status.is_some() && !m.deactivated) {
                problem.message.push_str(
                    "; the licence PMS already issued stays in its Secret and active in PMS: set spec.active to false \
                     to deactivate it there (the operator does not re-activate it)",
                );
            }
            let mut conditions = status::readiness(std::slice::from_ref(&problem), "Issued", "").to_vec();
            conditions.push(api::DesiredCondition::new(
                api::MOSIP_SYNCED,
                false,
                &problem.reason,
                format!("no licence is requested from PMS while: {}", problem.message),
            ));
            conditions
        }
        (None, Some(p)) => {
            match crate::pms::sync::sync_license(pms, &p.partner_id(), active, previous.mosip.as_ref(), &store).await {
                Ok(st) => {
                    ctx.backoff.succeeded(&key);
                    let issued = !st.deactivated && st.license_status.is_some();
                    if issued {
                        desired.secret_name = Some(secret_name.clone());
                        desired.valid_until = st.expiry.clone();
                        if let Ok(Some(k)) = store.license().await {
                            desired.key_fingerprint = Some(mosip::key_fingerprint(k.expose()));
                            let source =
                                ExportSource { kind: "MispLicense", namespace: &namespace, name: &name, uid: &uid };
                            match export_all(ctx, &source, &license.spec.exports, k.expose().as_bytes()).await {
                                Ok(d) => denied = d,
                                Err(e) => failed.push(format!("writing an export failed: {e}")),
                            }
                        }
                    } else {
                        unexport_all(ctx, &uid, &license.spec.exports).await;
                    }
                    let ready = if issued {
                        api::DesiredCondition::new(
                            READY,
                            true,
                            "Issued",
                            format!("licence issued by PMS into Secret {secret_name}"),
                        )
                    } else {
                        api::DesiredCondition::new(READY, false, "Deactivated", "the licence is deactivated in PMS")
                    };
                    desired.mosip = Some(st);
                    vec![ready, api::DesiredCondition::new(api::MOSIP_SYNCED, true, "Synced", "licence in PMS")]
                }
                Err(e) => {
                    requeue = ctx.backoff.failed(&key);
                    tracing::warn!(reason = %e.reason(), "PMS: {e}");
                    vec![
                        api::DesiredCondition::new(READY, false, &e.reason(), sync_message(&e)),
                        api::DesiredCondition::new(api::MOSIP_SYNCED, false, &e.reason(), sync_message(&e)),
                    ]
                }
            }
        }
        (msg, _) => {
            requeue = Duration::from_secs(30);
            let msg = msg_or_default(msg.unwrap_or_default());
            vec![
                api::DesiredCondition::new(READY, false, "WaitingForPartner", msg.clone()),
                api::DesiredCondition::new(api::MOSIP_SYNCED, false, "WaitingForPartner", msg),
            ]
        }
    };
    let mut conditions = conditions;
    if !license.spec.exports.is_empty() {
        requeue = requeue.min(export_retry(ctx, &key, &failed));
        conditions.push(export_condition(&denied, &failed));
    }
    desired.conditions = api::merge_conditions(&previous.conditions, conditions, license.metadata.generation, &now);
    let lapi: Api<MispLicense> = Api::namespaced(ctx.client.clone(), &namespace);
    status::apply_status(&lapi, license, &desired, desired == previous).await?;
    for type_ in [READY, api::MOSIP_SYNCED, api::EXPORT_NOT_ALLOWED] {
        if let Some(new) = api::find(&desired.conditions, type_) {
            events::on_transition(ctx, license, api::find(&previous.conditions, type_), new, "SyncPms").await;
        }
    }
    Ok(Action::requeue(requeue))
}

fn msg_or_default(msg: String) -> String {
    if msg.is_empty() { "waiting for the MISP partner".to_string() } else { msg }
}
