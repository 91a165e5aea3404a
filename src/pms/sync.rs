//! Per-object synchronisation with PMS: what a reconciler calls in `mosip` mode. Each function
//! takes the object's data and the `status.mosip` recorded last time, makes PMS match (read
//! before write, skipping what status says is done), and returns the new `status.mosip`.
//! Secrets are reached through the small store traits, implemented by the controller over the
//! API server (and in memory by the tests), so this module never touches Kubernetes itself.

use super::keycloak::{check_partner_id, realm_role_for};
use super::ops::MapOutcome;
use super::plan::{
    KeyStep, definition_hash, key_step, license_retirement, partner_domain, partner_registration, partner_retirement,
    policy_definition,
};
use super::{PmsClient, PmsError, SecretString};
use crate::api::{
    CaMosipStatus, LicenseMosipStatus, MosipApiKeyStatus, MosipRequestStatus, OrphanedKey, Partner, PartnerMosipStatus,
    PartnerPolicySpec, PolicyMosipStatus,
};
use crate::mosip::partner_type::PartnerTypeExt;
use std::future::Future;

/// A failure of one sync: PMS's, or the store's (a Secret write).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Pms(#[from] PmsError),
    #[error("{0}")]
    Store(String),
    /// Deleting a MispLicense: PMS changes a licence's status only by its key, and the key is no
    /// longer in its Secret while the MISP is still active in PMS.
    #[error("{0}")]
    LicenseKeyUnavailable(String),
}

impl SyncError {
    /// The condition reason for `MosipSynced=False`.
    pub fn reason(&self) -> String {
        match self {
            SyncError::Pms(e) => e.reason(),
            SyncError::Store(_) => "SecretWriteFailed".into(),
            SyncError::LicenseKeyUnavailable(_) => "LicenseKeyUnavailable".into(),
        }
    }
}

/// CACertificate: uploaded once per certificate (fingerprint); `KER-PCM-003` counts as uploaded.
pub async fn sync_ca(
    pms: &PmsClient,
    domain: &str,
    pem: &str,
    fingerprint: &str,
    prev: Option<&CaMosipStatus>,
) -> Result<CaMosipStatus, PmsError> {
    if let Some(p) = prev
        && p.uploaded
        && p.uploaded_fingerprint_sha256.as_deref() == Some(fingerprint)
    {
        return Ok(p.clone());
    }
    pms.ensure_ca(domain, pem).await?;
    Ok(CaMosipStatus { uploaded: true, uploaded_fingerprint_sha256: Some(fingerprint.to_string()) })
}

/// PartnerPolicy: group and policy ensured and published; sent again only when the definition
/// changed since the last sync (`syncedHash`).
pub async fn sync_policy(
    pms: &PmsClient,
    name: &str,
    spec: &PartnerPolicySpec,
    prev: Option<&PolicyMosipStatus>,
) -> Result<PolicyMosipStatus, PmsError> {
    let def = policy_definition(name, spec);
    let hash = definition_hash(&def);
    if let Some(p) = prev
        && p.published
        && p.policy_id.is_some()
        && p.synced_hash.as_deref() == Some(hash.as_str())
    {
        return Ok(p.clone());
    }
    let out = pms.ensure_policy(&def).await?;
    Ok(PolicyMosipStatus {
        policy_group_id: Some(out.policy_group_id),
        policy_id: Some(out.policy_id),
        published: out.published,
        synced_hash: Some(hash),
    })
}

/// The decision on a policy request, as recorded on the Partner (or Automatic → Approved).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Pending,
    Approved,
    Denied,
}

/// One policy request of a Partner, ready for PMS.
#[derive(Clone, Debug)]
pub struct RequestInput {
    /// The PartnerPolicy (= PMS policy name).
    pub name: String,
    /// PMS's policy id (the PartnerPolicy's `status.mosip.policyId`); None while the policy is
    /// not in PMS yet (the request waits).
    pub policy_id: Option<String>,
    pub use_case: String,
    pub decision: Decision,
    /// The `apiKeys[].label`s wanted.
    pub api_key_labels: Vec<String>,
}

/// Where a Partner's secrets live. Implemented by the controller over Secrets.
pub trait PartnerStore {
    /// The partner user's password from the operator-owned Secret.
    fn password(&self) -> impl Future<Output = Result<Option<SecretString>, String>> + Send;
    /// Creates the operator-owned password Secret (never replaces one).
    fn save_password(&self, password: &SecretString) -> impl Future<Output = Result<(), String>> + Send;
    /// Writes the MOSIP-signed certificate (PEM) into the signed-certificate Secret.
    fn save_signed_certificate(&self, pem: &str) -> impl Future<Output = Result<(), String>> + Send;
    /// Whether the key Secret of (policy, label) holds a key.
    fn has_api_key(&self, policy: &str, label: &str) -> impl Future<Output = Result<bool, String>> + Send;
    /// Writes the key into the Secret of (policy, label).
    fn save_api_key(
        &self,
        policy: &str,
        label: &str,
        key: &SecretString,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// Removes the key material of (policy, label) (deactivated or label removed).
    fn withdraw_api_key(&self, policy: &str, label: &str) -> impl Future<Output = Result<(), String>> + Send;
    /// Persists `status.mosip` now: called before every key generation, so a crash between
    /// PMS's answer and the Secret write leaves the label in status.
    fn record(&self, status: &PartnerMosipStatus) -> impl Future<Output = Result<(), String>> + Send;
}

/// What the Partner asks of PMS besides its spec.
pub struct PartnerInput<'a> {
    pub partner: &'a Partner,
    /// `metadata.uid` (key labels are derived from it).
    pub uid: &'a str,
    /// The validated certificate and its SHA-256 fingerprint; None while it is not valid.
    pub certificate: Option<(&'a str, &'a str)>,
    pub requests: Vec<RequestInput>,
}

/// Partner: registered or adopted, Keycloak user, certificate uploaded (MOSIP-signed certificate
/// stored), activated, requests mapped, decisions carried, keys generated and stored, orphans
/// and removed labels deactivated; deactivation carried. Returns the new `status.mosip`; on
/// error, what was done so far has been recorded through `store.record` where it matters.
pub async fn sync_partner<S: PartnerStore + Sync>(
    pms: &PmsClient,
    input: &PartnerInput<'_>,
    prev: Option<&PartnerMosipStatus>,
    store: &S,
) -> Result<PartnerMosipStatus, SyncError> {
    let partner = input.partner;
    let pid = partner.partner_id();
    check_partner_id(&pid)?;
    let mut st = prev.cloned().unwrap_or_default();

    // Deactivation is final in PMS 1.2.2.x for a partner PMS approved (PMS_PM_063 on any later
    // PATCH): `deactivated` records that. A partner never approved (InProgress, no certificate
    // uploaded yet) is only inactive: PMS writes nothing, and it is carried on once active again.
    if !partner.spec.is_active() {
        if st.registered && !st.deactivated {
            let out = pms.deactivate_partner(&pid).await?;
            st.deactivated = out.terminal;
            st.active = Some(false);
        }
        return Ok(st);
    }
    if st.deactivated {
        return Err(PmsError::Mismatch(format!(
            "partner {pid:?} was deactivated in PMS, which never re-activates an approved partner (PMS_PM_063); \
             create a Partner with a new partnerId"
        ))
        .into());
    }

    if !st.registered {
        let out = pms.ensure_partner(&partner_registration(partner)).await?;
        st.registered = true;
        st.adopted = !out.registered;
        st.partner_status = out.info.status.clone();
        st.active = Some(out.info.is_active);
    }

    // The partner's own Keycloak user (needed for API keys; made for every type, as the
    // onboarder does, so that the partner can use the PMS portal too).
    if st.keycloak_user.is_none() {
        let (password, fresh) = match store.password().await.map_err(SyncError::Store)? {
            Some(p) => (p, false),
            None => {
                let p = super::secret::generate_password().map_err(|e| SyncError::Store(e.to_string()))?;
                store.save_password(&p).await.map_err(SyncError::Store)?;
                (p, true)
            }
        };
        pms.ensure_keycloak_user(&pid, &realm_role_for(partner.spec.partner_type.as_str()), &password, fresh).await?;
        st.keycloak_user = Some(pid.clone());
    }

    if let Some((pem, fingerprint)) = input.certificate
        && st.uploaded_fingerprint_sha256.as_deref() != Some(fingerprint)
    {
        let signed = pms.upload_partner_certificate(&pid, partner_domain(partner), pem).await?;
        store.save_signed_certificate(&signed.signed_pem).await.map_err(SyncError::Store)?;
        st.uploaded_fingerprint_sha256 = Some(fingerprint.to_string());
        st.certificate_id = signed.certificate_id;
        // The upload sets the partner active and approved.
        st.active = Some(true);
        st.partner_status = Some("approved".into());
    }
    if st.uploaded_fingerprint_sha256.is_some() && st.active == Some(false) {
        pms.set_partner_active(&pid, true).await?;
        st.active = Some(true);
    }
    if st.uploaded_fingerprint_sha256.is_none() {
        return Ok(st);
    }
    if input.requests.is_empty() && st.requests.iter().all(|r| r.api_keys.iter().all(|k| k.deactivated)) {
        return Ok(st);
    }

    let password = match store.password().await.map_err(SyncError::Store)? {
        Some(p) => p,
        None => return Err(SyncError::Store("the partner user's password Secret is missing".into())),
    };
    // Requests gone from the spec: their keys are deactivated in PMS and withdrawn.
    for r in st.requests.iter_mut().filter(|r| !input.requests.iter().any(|q| q.name == r.name)) {
        let Some(policy_id) = r.policy_id.clone() else { continue };
        for k in r.api_keys.iter_mut().filter(|k| !k.deactivated) {
            pms.deactivate_api_key(&pid, &password, &policy_id, &k.pms_label).await?;
            k.deactivated = true;
            store.withdraw_api_key(&r.name, &k.label).await.map_err(SyncError::Store)?;
        }
    }
    for req in &input.requests {
        let Some(policy_id) = req.policy_id.clone() else { continue };
        let idx = match st.requests.iter().position(|r| r.name == req.name) {
            Some(i) => i,
            None => {
                st.requests.push(MosipRequestStatus { name: req.name.clone(), ..Default::default() });
                st.requests.len() - 1
            }
        };
        st.requests[idx].policy_id = Some(policy_id.clone());
        if st.requests[idx].mapping_key.is_none() && st.requests[idx].decision.is_none() {
            match pms.map_policy(&pid, &req.name, &req.use_case).await? {
                MapOutcome::Requested { mapping_key } => st.requests[idx].mapping_key = Some(mapping_key),
                MapOutcome::Pending { mapping_key: Some(k) } => st.requests[idx].mapping_key = Some(k),
                MapOutcome::Pending { mapping_key: None } => {
                    return Err(PmsError::Mismatch(format!(
                        "a policy request of {pid:?} for {:?} is pending in PMS but its mapping key cannot be read \
                         back; approve or reject it in the PMS portal",
                        req.name
                    ))
                    .into());
                }
                MapOutcome::AlreadyApproved => st.requests[idx].decision = Some("Approved".into()),
            }
            store.record(&st).await.map_err(SyncError::Store)?;
        }
        let wanted = match req.decision {
            Decision::Pending => None,
            Decision::Approved => Some("Approved"),
            Decision::Denied => Some("Rejected"),
        };
        if let Some(w) = wanted
            && st.requests[idx].decision.is_none()
        {
            let key = st.requests[idx].mapping_key.clone().unwrap_or_default();
            pms.set_mapping_status(&key, w == "Approved").await?;
            st.requests[idx].decision = Some(w.into());
            store.record(&st).await.map_err(SyncError::Store)?;
        }
        if st.requests[idx].decision.as_deref() != Some("Approved") {
            continue;
        }
        // Keys: one per wanted label, crash-safe; removed labels deactivated.
        for label in &req.api_key_labels {
            let has = store.has_api_key(&req.name, label).await.map_err(SyncError::Store)?;
            let recorded = st.requests[idx].api_keys.iter().find(|k| &k.label == label && !k.deactivated).cloned();
            let attempt = match key_step(input.uid, label, recorded.as_ref(), has) {
                KeyStep::Stored => continue,
                KeyStep::Generate { attempt, .. } => attempt,
                KeyStep::DeactivateOrphan { pms_label, next_attempt } => {
                    let deactivated = pms.deactivate_api_key(&pid, &password, &policy_id, &pms_label).await.is_ok();
                    st.orphaned_keys.push(OrphanedKey { pms_label, policy_id: policy_id.clone(), deactivated });
                    st.requests[idx].api_keys.retain(|k| &k.label != label || k.deactivated);
                    next_attempt
                }
            };
            let pms_label = super::ops::api_key_label(input.uid, label, attempt);
            st.requests[idx].api_keys.push(MosipApiKeyStatus {
                label: label.clone(),
                pms_label: pms_label.clone(),
                attempt,
                stored: false,
                deactivated: false,
            });
            store.record(&st).await.map_err(SyncError::Store)?;
            let key = pms.generate_api_key(&pid, &password, &req.name, &pms_label).await?;
            store.save_api_key(&req.name, label, &key.api_key).await.map_err(SyncError::Store)?;
            if let Some(k) = st.requests[idx].api_keys.iter_mut().find(|k| k.pms_label == pms_label) {
                k.stored = true;
            }
            store.record(&st).await.map_err(SyncError::Store)?;
        }
        let removed: Vec<String> = st.requests[idx]
            .api_keys
            .iter()
            .filter(|k| !k.deactivated && !req.api_key_labels.contains(&k.label))
            .map(|k| k.pms_label.clone())
            .collect();
        for pms_label in removed {
            pms.deactivate_api_key(&pid, &password, &policy_id, &pms_label).await?;
            if let Some(k) = st.requests[idx].api_keys.iter_mut().find(|k| k.pms_label == pms_label) {
                k.deactivated = true;
                store.withdraw_api_key(&req.name, &k.label).await.map_err(SyncError::Store)?;
            }
        }
    }
    Ok(st)
}

/// Where a MispLicense's key lives.
pub trait LicenseStore {
    /// The licence in the Secret, if any.
    fn license(&self) -> impl Future<Output = Result<Option<SecretString>, String>> + Send;
    /// Writes the licence into the Secret (and its exports).
    fn save_license(&self, key: &SecretString, expiry: Option<&str>)
    -> impl Future<Output = Result<(), String>> + Send;
}

/// MispLicense: issued once (`POST /misps`, on PMS_MSP_416 read back), stored at once;
/// deactivation carried. The operator does not re-activate a licence it set De-Active.
pub async fn sync_license<S: LicenseStore + Sync>(
    pms: &PmsClient,
    provider_id: &str,
    active: bool,
    prev: Option<&LicenseMosipStatus>,
    store: &S,
) -> Result<LicenseMosipStatus, SyncError> {
    let mut st = prev.cloned().unwrap_or_default();
    st.provider_id = Some(provider_id.to_string());
    let stored = store.license().await.map_err(SyncError::Store)?;
    if !active {
        if let Some(key) = stored
            && !st.deactivated
            && st.license_status.is_some()
        {
            pms.deactivate_license(provider_id, &key).await?;
            st.deactivated = true;
            st.license_status = Some("De-Active".into());
        }
        return Ok(st);
    }
    if st.deactivated {
        return Err(PmsError::Mismatch(format!(
            "the licence of {provider_id:?} was set De-Active in PMS (spec.active false) and the operator does \
             not re-activate licences; PMS answers PMS_MSP_416 to a second POST /misps for this MISP"
        ))
        .into());
    }
    if stored.is_some() && st.license_status.is_some() {
        return Ok(st);
    }
    let lic = pms.issue_license(provider_id).await?;
    store.save_license(&lic.license_key, lic.expiry.as_deref()).await.map_err(SyncError::Store)?;
    st.license_status = lic.status.or(Some("Active".into()));
    st.expiry = lic.expiry;
    Ok(st)
}

/// What deleting a Partner did in PMS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnerRetired {
    /// The `status.mosip` to record (deactivated).
    pub status: PartnerMosipStatus,
    /// API keys set De-Active now.
    pub keys_deactivated: usize,
    /// Keys not touched because the partner user's password was no longer readable (the
    /// partner's deactivation makes IDA refuse them all the same).
    pub keys_skipped: usize,
}

/// Deletion of a Partner in `mosip` mode, from what `status.mosip` recorded
/// ([`partner_retirement`]): its keys set De-Active as the partner's own user (when its
/// password is still readable; what PMS answers for a key with nothing left to deactivate is
/// success, [`super::ops::api_key_deactivation_done`]), then the partner set De-Active — read
/// first, so an inactive partner is success, and so are the answers of
/// [`super::ops::partner_deactivation_done`]. Idempotent: re-running it after a failure (e.g.
/// the partner's PATCH failed after its keys were deactivated) repeats only what PMS has not
/// confirmed, and what it repeats PMS confirms as done.
pub async fn retire_partner(
    pms: &PmsClient,
    partner_id: &str,
    prev: &PartnerMosipStatus,
    password: Option<&SecretString>,
) -> Result<PartnerRetired, SyncError> {
    let plan = partner_retirement(Some(prev));
    let mut st = prev.clone();
    let mut out = PartnerRetired { status: st.clone(), keys_deactivated: 0, keys_skipped: 0 };
    if plan.is_done() {
        return Ok(out);
    }
    match password {
        Some(password) => {
            for k in &plan.keys {
                pms.deactivate_api_key(partner_id, password, &k.policy_id, &k.pms_label).await?;
                out.keys_deactivated += 1;
                for key in st.requests.iter_mut().flat_map(|r| r.api_keys.iter_mut()) {
                    if key.pms_label == k.pms_label {
                        key.deactivated = true;
                    }
                }
                for o in st.orphaned_keys.iter_mut().filter(|o| o.pms_label == k.pms_label) {
                    o.deactivated = true;
                }
            }
        }
        None => out.keys_skipped = plan.keys.len(),
    }
    pms.deactivate_partner(partner_id).await?;
    st.deactivated = true;
    st.active = Some(false);
    out.status = st;
    Ok(out)
}

/// Deletion of a MispLicense in `mosip` mode ([`license_retirement`]): the licence set
/// De-Active (`PUT /misps`, by its key). Without the key (its Secret went first, e.g. when the
/// whole namespace is deleted) PMS cannot be asked by key: the MISP partner is read, and one
/// that is no longer active in PMS took its licences with it (success); an active one is
/// [`SyncError::LicenseKeyUnavailable`].
pub async fn retire_license(
    pms: &PmsClient,
    prev: &LicenseMosipStatus,
    key: Option<&SecretString>,
) -> Result<LicenseMosipStatus, SyncError> {
    let mut st = prev.clone();
    let Some(provider_id) = prev.provider_id.clone().filter(|_| license_retirement(Some(prev))) else {
        return Ok(st);
    };
    match key {
        Some(key) => pms.deactivate_license(&provider_id, key).await?,
        None => {
            if pms.get_partner(&provider_id).await?.is_some_and(|p| p.is_active) {
                return Err(SyncError::LicenseKeyUnavailable(format!(
                    "the licence key of MISP {provider_id:?} is no longer in its Secret and PMS changes a licence only by \
                     its key; deactivate the licence in the PMS portal (or delete the MISP Partner, which deactivates it \
                     with the partner), then the MispLicense is released"
                )));
            }
        }
    }
    st.deactivated = true;
    st.license_status = Some("De-Active".into());
    Ok(st)
}
