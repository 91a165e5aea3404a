//! High-level, idempotent operations: read before write, "already done" answers treated as
//! success, plain data in and out. The reconcilers record what these return (ids, mapping keys,
//! labels) in status, because several PMS 1.2.x read-backs are broken (see each op).
//!
//! Paths and bodies: PMS controllers `PartnerServiceController`, `PartnerManagementController`,
//! `MISPLicenseController` (partner-management-service) and `PolicyManagementController`
//! (policy-management-service); error codes: `partner/constant/ErrorCode.java`,
//! `manager/constant/ErrorCode.java`, `misp/exception/MISPErrorMessages.java`,
//! `policy/errorMessages/ErrorMessages.java`, keymanager `PartnerCertManagerErrorConstants`.

use super::keycloak::check_partner_id;
use super::wire::seg;
use super::{Caller, PmsClient, PmsError, SecretString};
use http::Method;
use serde_json::{Value, json};

const PM: &str = "/v1/partnermanager";
const POL: &str = "/v1/policymanager";

fn str_field(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn protocol(endpoint: &str, detail: impl Into<String>) -> PmsError {
    PmsError::Protocol { endpoint: endpoint.into(), detail: detail.into() }
}

/// What a PartnerPolicy asks of PMS.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyDefinition {
    /// Policy group name (`spec.group`).
    pub group: String,
    /// Non-blank: PMS requires it.
    pub group_description: String,
    /// Policy name (the PartnerPolicy's `metadata.name`).
    pub name: String,
    /// Non-blank.
    pub description: String,
    /// Non-blank, at most 8 characters.
    pub version: String,
    /// `Auth`, `DataShare`, `CredentialIssuance` or `MISP`.
    pub policy_type: String,
    /// MOSIP's policy JSON (`policies`).
    pub body: Value,
}

/// What PMS holds for a policy after [`PmsClient::ensure_policy`].
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PolicyOutcome {
    pub policy_group_id: String,
    pub policy_id: String,
    pub published: bool,
    /// Writes this call made (all false on a re-run with nothing to change).
    pub created_group: bool,
    pub created_policy: bool,
    pub updated_policy: bool,
    pub published_now: bool,
}

/// A partner's registration (`PartnerRequest`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnerRegistration {
    pub partner_id: String,
    pub organization_name: String,
    pub address: String,
    pub contact_number: String,
    pub email_id: String,
    /// PMS partner type code, e.g. `Auth_Partner`.
    pub partner_type: String,
    /// Policy group name, for the types that need one.
    pub policy_group: Option<String>,
}

/// A partner as PMS reports it (`GET /partners/{partnerId}`, `RetrievePartnerDetailsResponse`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PartnerInfo {
    pub partner_id: String,
    /// approval status: InProgress, approved, ...
    pub status: Option<String>,
    pub is_active: bool,
    pub partner_type: Option<String>,
    pub policy_group: Option<String>,
    pub organization_name: Option<String>,
}

/// [`PmsClient::ensure_partner`]'s result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnerOutcome {
    pub info: PartnerInfo,
    /// Registered by this call; false when an existing partner was adopted.
    pub registered: bool,
}

/// The MOSIP-signed partner certificate PMS returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCertificate {
    pub certificate_id: Option<String>,
    /// PEM.
    pub signed_pem: String,
}

/// [`PmsClient::map_policy`]'s result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapOutcome {
    /// A new request was made; PMS's mapping key (`mappingkey`).
    Requested { mapping_key: String },
    /// A request was already pending (PMS_PRT_053); its key when it could be read back.
    Pending { mapping_key: Option<String> },
    /// Already approved (PMS_PRT_060): nothing left to carry.
    AlreadyApproved,
}

/// An API key PMS minted. The key is shown once: store it before anything else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedApiKey {
    pub api_key: SecretString,
    pub label: String,
    pub policy_id: Option<String>,
}

/// A MISP licence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedLicense {
    pub license_key: SecretString,
    pub expiry: Option<String>,
    pub status: Option<String>,
    /// true when PMS refused a second licence (PMS_MSP_416) and the current one was read back.
    pub read_back: bool,
}

/// What [`PmsClient::deactivate_partner`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartnerDeactivation {
    /// A De-Active PATCH was written now.
    pub written: bool,
    /// The partner cannot be activated again: PMS approved it (PMS_PM_063 on any later PATCH),
    /// or PMS no longer has it. false for a partner never approved (InProgress), which PMS keeps
    /// inactive and lets upload a certificate and become active later.
    pub terminal: bool,
}

/// PMS's answers to an API key's De-Active (`updateAPIKeyStatus`, per PMS source (1.2.2/1.3
/// line); `ErrorCode.java`) that leave nothing to deactivate: no key with that label
/// (PMS_PRT_111), the key already inactive (PMS_PMS_022), the partner inactive (PMS_PMP_016,
/// when the caller is not PARTNER_ADMIN — IDA refuses every key of an inactive partner anyway).
pub fn api_key_deactivation_done(e: &PmsError) -> bool {
    ["PMS_PRT_111", "PMS_PMS_022", "PMS_PMP_016"].iter().any(|c| e.is_code(c))
}

/// PMS's answers to a partner's De-Active (`activateDeactivateAuthEKYCPartner`, per PMS source
/// (1.2.2/1.3 line)) that leave nothing to deactivate: already deactivated (PMS_PM_063: approved
/// and inactive), or no such partner (PMS_PMP_005 from the PATCH, e.g. removed after the read;
/// PMS_PRT_005 is what the read answers).
pub fn partner_deactivation_done(e: &PmsError) -> bool {
    ["PMS_PM_063", "PMS_PMP_005", "PMS_PRT_005"].iter().any(|c| e.is_code(c))
}

/// A deterministic API-key label for attempt `attempt` of the spec label `spec_label` of the
/// object `object_uid`: at most 36 characters (PMS's column), unique per attempt, so a key PMS
/// returned but the operator failed to store is recognisable (and deactivated) on the next pass.
pub fn api_key_label(object_uid: &str, spec_label: &str, attempt: u32) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{object_uid}/{spec_label}").as_bytes());
    let hash = hex::encode(&digest[..5]);
    let suffix = format!("-{hash}-{attempt}");
    let room = 36usize.saturating_sub(suffix.len());
    let prefix: String =
        spec_label.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(room).collect::<String>();
    format!("{prefix}{suffix}")
}

impl PmsClient {
    /// Uploads a CA or intermediate certificate for `domain` (`POST /partners/certificate/ca/upload`,
    /// `CACertificateRequestDto {certificateData, partnerDomain}`). keymanager's KER-PCM-003
    /// ("Certificate already exists in store.") counts as success. Returns true when the
    /// certificate was already there.
    pub async fn ensure_ca(&self, domain: &str, pem: &str) -> Result<bool, PmsError> {
        match self
            .pms(
                "POST /partners/certificate/ca/upload",
                Method::POST,
                &format!("{PM}/partners/certificate/ca/upload"),
                Caller::Admin,
                Some(json!({"certificateData": pem, "partnerDomain": domain})),
            )
            .await
        {
            Ok(_) => Ok(false),
            Err(e) if e.is_code("KER-PCM-003") => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// `GET /policies/group/all` → the group's id by name.
    async fn find_policy_group(&self, name: &str) -> Result<Option<String>, PmsError> {
        const EP: &str = "GET /policies/group/all";
        let v = self.pms(EP, Method::GET, &format!("{POL}/policies/group/all"), Caller::Admin, None).await?;
        let list = v.as_array().ok_or_else(|| protocol(EP, "response is not a list"))?;
        Ok(list
            .iter()
            .filter_map(|g| g.get("policyGroup"))
            .find(|g| g.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|g| str_field(g, "id")))
    }

    /// `GET /policies` (`List<PolicyResponseDto>`) → the policy of `group` named `name`.
    async fn find_policy(&self, group: &str, name: &str) -> Result<Option<Value>, PmsError> {
        const EP: &str = "GET /policies";
        let v = self.pms(EP, Method::GET, &format!("{POL}/policies"), Caller::Admin, None).await?;
        let list = v.as_array().ok_or_else(|| protocol(EP, "response is not a list"))?;
        Ok(list
            .iter()
            .find(|p| {
                p.get("policyName").and_then(Value::as_str) == Some(name)
                    && p.get("policyGroupName").and_then(Value::as_str) == Some(group)
            })
            .cloned())
    }

    /// Makes the policy group and the policy exist and be published, with `def`'s description,
    /// version and body. Reads first (`GET /policies/group/all`, `GET /policies`); PMS_POL_014
    /// (group exists), PMS_POL_004/009 (policy exists) and PMS_POL_020 (already published) are
    /// not errors. A changed definition is sent with `PUT /policies/{id}`; PMS refuses that for
    /// a published policy in 1.2.2.x (PMS_POL_055), which is reported as is.
    pub async fn ensure_policy(&self, def: &PolicyDefinition) -> Result<PolicyOutcome, PmsError> {
        let mut out = PolicyOutcome::default();
        let group_id = match self.find_policy_group(&def.group).await? {
            Some(id) => id,
            None => {
                const EP: &str = "POST /policies/group/new";
                match self
                    .pms(
                        EP,
                        Method::POST,
                        &format!("{POL}/policies/group/new"),
                        Caller::Admin,
                        Some(json!({"name": def.group, "desc": def.group_description})),
                    )
                    .await
                {
                    Ok(v) => {
                        out.created_group = true;
                        match str_field(&v, "id") {
                            Some(id) => id,
                            None => {
                                self.find_policy_group(&def.group).await?.ok_or_else(|| protocol(EP, "no group id"))?
                            }
                        }
                    }
                    Err(e) if e.is_code("PMS_POL_014") => self
                        .find_policy_group(&def.group)
                        .await?
                        .ok_or_else(|| protocol(EP, "group exists but is not listed"))?,
                    Err(e) => return Err(e),
                }
            }
        };
        out.policy_group_id = group_id.clone();
        let request = json!({
            "name": def.name,
            "desc": def.description,
            "version": def.version,
            "policies": def.body,
            "policyGroupName": def.group,
            "policyType": def.policy_type,
        });
        let existing = match self.find_policy(&def.group, &def.name).await? {
            Some(p) => p,
            None => {
                const EP: &str = "POST /policies";
                match self.pms(EP, Method::POST, &format!("{POL}/policies"), Caller::Admin, Some(request.clone())).await
                {
                    Ok(_) => out.created_policy = true,
                    Err(e) if e.is_code("PMS_POL_009") || e.is_code("PMS_POL_004") => {}
                    Err(e) => return Err(e),
                }
                self.find_policy(&def.group, &def.name)
                    .await?
                    .ok_or_else(|| protocol(EP, "policy not listed after creation"))?
            }
        };
        let policy_id =
            str_field(&existing, "policyId").ok_or_else(|| protocol("GET /policies", "policy without id"))?;
        out.policy_id = policy_id.clone();
        let mut published =
            existing.get("status").and_then(Value::as_str).is_some_and(|s| s.eq_ignore_ascii_case("PUBLISHED"));
        let same = existing.get("policies") == Some(&def.body)
            && existing.get("policyDesc").and_then(Value::as_str) == Some(def.description.as_str())
            && existing.get("version").and_then(Value::as_str) == Some(def.version.as_str());
        if !same && !out.created_policy {
            self.pms(
                "PUT /policies/{policyId}",
                Method::PUT,
                &format!("{POL}/policies/{}", seg(&policy_id)),
                Caller::Admin,
                Some(request),
            )
            .await?;
            out.updated_policy = true;
        }
        if !published {
            match self
                .pms(
                    "POST /policies/{policyId}/group/{policygroupId}/publish",
                    Method::POST,
                    &format!("{POL}/policies/{}/group/{}/publish", seg(&policy_id), seg(&group_id)),
                    Caller::Admin,
                    None,
                )
                .await
            {
                Ok(_) => out.published_now = true,
                Err(e) if e.is_code("PMS_POL_020") => {}
                Err(e) => return Err(e),
            }
            published = true;
        }
        out.published = published;
        Ok(out)
    }

    /// `GET /partners/{partnerId}`; PMS_PRT_005 ("Partner does not exist") → None.
    pub async fn get_partner(&self, partner_id: &str) -> Result<Option<PartnerInfo>, PmsError> {
        match self
            .pms(
                "GET /partners/{partnerId}",
                Method::GET,
                &format!("{PM}/partners/{}", seg(partner_id)),
                Caller::Admin,
                None,
            )
            .await
        {
            Ok(v) => Ok(Some(PartnerInfo {
                partner_id: str_field(&v, "partnerID").unwrap_or_else(|| partner_id.to_string()),
                status: str_field(&v, "status"),
                is_active: v.get("isActive").and_then(Value::as_bool).unwrap_or(false),
                partner_type: str_field(&v, "partnerType"),
                policy_group: str_field(&v, "policyGroup"),
                organization_name: str_field(&v, "organizationName"),
            })),
            Err(e) if e.is_code("PMS_PRT_005") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Registers the partner unless PMS has it (GET before POST). An existing partner is adopted
    /// by partnerId and never registered again; a type or organisation that differs from PMS's is
    /// a [`PmsError::Mismatch`] (PMS cannot change either).
    pub async fn ensure_partner(&self, reg: &PartnerRegistration) -> Result<PartnerOutcome, PmsError> {
        check_partner_id(&reg.partner_id)?;
        let check = |info: PartnerInfo, registered: bool| -> Result<PartnerOutcome, PmsError> {
            if let Some(t) = &info.partner_type
                && !t.eq_ignore_ascii_case(&reg.partner_type)
            {
                return Err(PmsError::Mismatch(format!(
                    "partner {:?} exists in PMS with type {t:?}, not {:?}; PMS cannot change it",
                    reg.partner_id, reg.partner_type
                )));
            }
            if let Some(o) = &info.organization_name
                && o != &reg.organization_name
            {
                return Err(PmsError::Mismatch(format!(
                    "partner {:?} exists in PMS with organisation {o:?}, not {:?}; PMS cannot change it",
                    reg.partner_id, reg.organization_name
                )));
            }
            Ok(PartnerOutcome { info, registered })
        };
        if let Some(info) = self.get_partner(&reg.partner_id).await? {
            return check(info, false);
        }
        let mut body = json!({
            "partnerId": reg.partner_id,
            "organizationName": reg.organization_name,
            "address": reg.address,
            "contactNumber": reg.contact_number,
            "emailId": reg.email_id,
            "partnerType": reg.partner_type,
        });
        if let Some(g) = &reg.policy_group {
            body["policyGroup"] = json!(g);
        }
        let registered = match self
            .pms("POST /partners", Method::POST, &format!("{PM}/partners"), Caller::Admin, Some(body))
            .await
        {
            Ok(_) => true,
            Err(e) if e.is_code("PMS_PRT_051") => false,
            Err(e) => return Err(e),
        };
        let info = self
            .get_partner(&reg.partner_id)
            .await?
            .ok_or_else(|| protocol("GET /partners/{partnerId}", "partner not found right after registering it"))?;
        check(info, registered)
    }

    /// Uploads the partner's CA-signed certificate (`POST /partners/certificate/upload`,
    /// `{certificateData, partnerDomain, partnerId}`) and returns the MOSIP-signed certificate
    /// PMS answers with (`signedCertificateData`). PMS also sets the partner active and approved
    /// (`PartnerServiceImpl.uploadPartnerCertificate`).
    pub async fn upload_partner_certificate(
        &self,
        partner_id: &str,
        domain: &str,
        pem: &str,
    ) -> Result<SignedCertificate, PmsError> {
        const EP: &str = "POST /partners/certificate/upload";
        let v = self
            .pms(
                EP,
                Method::POST,
                &format!("{PM}/partners/certificate/upload"),
                Caller::Admin,
                Some(json!({"certificateData": pem, "partnerDomain": domain, "partnerId": partner_id})),
            )
            .await?;
        let data = str_field(&v, "signedCertificateData").ok_or_else(|| protocol(EP, "no signedCertificateData"))?;
        Ok(SignedCertificate { certificate_id: str_field(&v, "certificateId"), signed_pem: to_pem(&data) })
    }

    /// `PATCH /partners/{partnerId}` `{status: "Active"|"De-Active"}`, sent only when PMS's state
    /// differs (read first). Returns whether a write was made. Deactivating goes through
    /// [`PmsClient::deactivate_partner`] (its "already done" answers included).
    pub async fn set_partner_active(&self, partner_id: &str, active: bool) -> Result<bool, PmsError> {
        if !active {
            return Ok(self.deactivate_partner(partner_id).await?.written);
        }
        let info = self.get_partner(partner_id).await?.ok_or_else(|| PmsError::Business {
            endpoint: "GET /partners/{partnerId}".into(),
            code: "PMS_PRT_005".into(),
            message: "Partner does not exist".into(),
        })?;
        if info.is_active {
            return Ok(false);
        }
        self.patch_partner_status(partner_id, "Active").await?;
        Ok(true)
    }

    /// Sets the partner De-Active (`PATCH /partners/{partnerId}` `{status: "De-Active"}`), read
    /// first: only an active partner is written. Per PMS source (1.2.2/1.3 line,
    /// `PartnerManagementServiceImpl.activateDeactivateAuthEKYCPartner`) that deactivates a
    /// MISP's licences with it and publishes PARTNER_UPDATED; API keys are not touched. What
    /// counts as done is [`partner_deactivation_done`]. Deactivation is terminal only for a
    /// partner PMS approved (PMS_PM_063 on every later PATCH); a partner never approved
    /// (InProgress) is merely inactive and can still upload a certificate and become active.
    pub async fn deactivate_partner(&self, partner_id: &str) -> Result<PartnerDeactivation, PmsError> {
        let Some(info) = self.get_partner(partner_id).await? else {
            return Ok(PartnerDeactivation { written: false, terminal: true });
        };
        let terminal = info.status.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("approved"));
        if !info.is_active {
            return Ok(PartnerDeactivation { written: false, terminal });
        }
        match self.patch_partner_status(partner_id, "De-Active").await {
            Ok(()) => Ok(PartnerDeactivation { written: true, terminal }),
            Err(e) if partner_deactivation_done(&e) => Ok(PartnerDeactivation { written: false, terminal: true }),
            Err(e) => Err(e),
        }
    }

    async fn patch_partner_status(&self, partner_id: &str, status: &str) -> Result<(), PmsError> {
        self.pms(
            "PATCH /partners/{partnerId}",
            Method::PATCH,
            &format!("{PM}/partners/{}", seg(partner_id)),
            Caller::Admin,
            Some(json!({"status": status})),
        )
        .await
        .map(|_| ())
    }

    /// Requests a policy for the partner (`POST /partners/{partnerId}/policy/map`
    /// `{policyName, useCaseDescription}` → `{mappingkey}`). PMS_PRT_053 (pending) and PMS_PRT_060
    /// (approved) are not errors; for a pending request the key is looked up with
    /// `GET /partners/{partnerId}/apikey/request`, which works until the request is approved.
    pub async fn map_policy(
        &self,
        partner_id: &str,
        policy_name: &str,
        use_case: &str,
    ) -> Result<MapOutcome, PmsError> {
        const EP: &str = "POST /partners/{partnerId}/policy/map";
        match self
            .pms(
                EP,
                Method::POST,
                &format!("{PM}/partners/{}/policy/map", seg(partner_id)),
                Caller::Admin,
                Some(json!({"policyName": policy_name, "useCaseDescription": use_case})),
            )
            .await
        {
            Ok(v) => Ok(MapOutcome::Requested {
                mapping_key: str_field(&v, "mappingkey").ok_or_else(|| protocol(EP, "no mappingkey"))?,
            }),
            Err(e) if e.is_code("PMS_PRT_060") => Ok(MapOutcome::AlreadyApproved),
            Err(e) if e.is_code("PMS_PRT_053") => {
                let pending = self
                    .pms(
                        "GET /partners/{partnerId}/apikey/request",
                        Method::GET,
                        &format!("{PM}/partners/{}/apikey/request", seg(partner_id)),
                        Caller::Admin,
                        None,
                    )
                    .await
                    .ok()
                    .and_then(|v| v.as_array().cloned())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|r| {
                        r.get("apiKeyRequestStatus").and_then(Value::as_str).is_some_and(|s| {
                            s.eq_ignore_ascii_case("InProgress") || s.eq_ignore_ascii_case("In-Progress")
                        })
                    })
                    .filter_map(|r| str_field(&r, "apiKeyReqID"))
                    .collect::<Vec<_>>();
                // The list does not name the policy: only a single pending request is unambiguous.
                Ok(MapOutcome::Pending {
                    mapping_key: if pending.len() == 1 { pending.into_iter().next() } else { None },
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Carries a decision to PMS (`PUT /partners/policy/{mappingkey}` `{status}`).
    pub async fn set_mapping_status(&self, mapping_key: &str, approved: bool) -> Result<(), PmsError> {
        self.pms(
            "PUT /partners/policy/{mappingkey}",
            Method::PUT,
            &format!("{PM}/partners/policy/{}", seg(mapping_key)),
            Caller::Admin,
            Some(json!({"status": if approved { "Approved" } else { "Rejected" }})),
        )
        .await
        .map(|_| ())
    }

    /// Generates an API key as the partner's own user (`PATCH /partners/{partnerId}/generate/apikey`
    /// `{policyName, label}` → `{apiKey, label, policyId}`). PMS shows the key only here: store it
    /// before anything else. A used label is PMS_PRT_110: use the next attempt's label.
    pub async fn generate_api_key(
        &self,
        partner_id: &str,
        password: &SecretString,
        policy_name: &str,
        label: &str,
    ) -> Result<IssuedApiKey, PmsError> {
        const EP: &str = "PATCH /partners/{partnerId}/generate/apikey";
        check_partner_id(partner_id)?;
        let v = self
            .pms(
                EP,
                Method::PATCH,
                &format!("{PM}/partners/{}/generate/apikey", seg(partner_id)),
                Caller::Partner { partner_id, password },
                Some(json!({"policyName": policy_name, "label": label})),
            )
            .await?;
        let key = str_field(&v, "apiKey").filter(|k| !k.is_empty()).ok_or_else(|| protocol(EP, "no apiKey"))?;
        Ok(IssuedApiKey {
            api_key: SecretString::new(key),
            label: str_field(&v, "label").unwrap_or_else(|| label.to_string()),
            policy_id: str_field(&v, "policyId"),
        })
    }

    /// Deactivates an API key by label (`PATCH /partners/{partnerId}/policy/{policyId}/apiKey/status`
    /// `{label, status: "De-Active"}`); PMS publishes APIKEY_UPDATED, which IDA consumes. The
    /// answers of [`api_key_deactivation_done`] are success: re-running after a lost status write
    /// or a later failure never gets stuck on a key PMS already refuses.
    pub async fn deactivate_api_key(
        &self,
        partner_id: &str,
        password: &SecretString,
        policy_id: &str,
        label: &str,
    ) -> Result<(), PmsError> {
        match self
            .pms(
                "PATCH /partners/{partnerId}/policy/{policyId}/apiKey/status",
                Method::PATCH,
                &format!("{PM}/partners/{}/policy/{}/apiKey/status", seg(partner_id), seg(policy_id)),
                Caller::Partner { partner_id, password },
                Some(json!({"label": label, "status": "De-Active"})),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if api_key_deactivation_done(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Issues the MISP licence (`POST /misps {providerId}`). PMS answers PMS_MSP_416 ("License key
    /// exists for the given provider.") while the MISP has any licence, active or not; the key is
    /// then read back with `GET /misps/{mispId}/licenseKey`, which per PMS source (1.2.2/1.3 line,
    /// `InfraProviderServiceImpl.regenerateKey`) answers the active licence, or issues a new one
    /// when none is active and unexpired. PMS 1.2.x breaks that read-back for a MISP that has
    /// policy requests (HTTP 500), so callers keep the key they got the first time; a failed
    /// read-back (or one not Active) is a [`PmsError::Mismatch`] that says so.
    pub async fn issue_license(&self, partner_id: &str) -> Result<IssuedLicense, PmsError> {
        const EP: &str = "POST /misps";
        let read = |v: &Value, read_back: bool| -> Result<IssuedLicense, PmsError> {
            let key =
                str_field(v, "licenseKey").filter(|k| !k.is_empty()).ok_or_else(|| protocol(EP, "no licenseKey"))?;
            Ok(IssuedLicense {
                license_key: SecretString::new(key),
                expiry: str_field(v, "licenseKeyExpiry"),
                status: str_field(v, "licenseKeyStatus"),
                read_back,
            })
        };
        match self
            .pms(EP, Method::POST, &format!("{PM}/misps"), Caller::Admin, Some(json!({"providerId": partner_id})))
            .await
        {
            Ok(v) => read(&v, false),
            Err(e) if e.is_code("PMS_MSP_416") => {
                let held = |why: String| {
                    PmsError::Mismatch(format!(
                        "PMS already holds a licence for MISP {partner_id:?} (PMS_MSP_416: one per MISP, even when \
                         set De-Active, e.g. by deleting an earlier MispLicense) and {why}; PMS 1.2.x cannot read \
                         a licence back for a MISP with policy requests. Restore the licence Secret of the \
                         MispLicense it was issued to, or take the licence from the PMS portal"
                    ))
                };
                let v = match self
                    .pms(
                        "GET /misps/{mispId}/licenseKey",
                        Method::GET,
                        &format!("{PM}/misps/{}/licenseKey", seg(partner_id)),
                        Caller::Admin,
                        None,
                    )
                    .await
                {
                    Ok(v) => v,
                    Err(e) if e.code().is_some() => return Err(e),
                    Err(e) => return Err(held(format!("reading it back failed ({e})"))),
                };
                let lic = read(&v, true)?;
                match lic.status.as_deref() {
                    Some(s) if !s.eq_ignore_ascii_case("active") => {
                        Err(held(format!("the licence read back is {s:?}, not Active")))
                    }
                    _ => Ok(lic),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Deactivates a licence (`PUT /misps {providerId, licenseKey, licenseKeyStatus: "De-Active"}`);
    /// PMS publishes MISP_LICENSE_UPDATED. Per PMS source (1.2.2/1.3 line,
    /// `InfraProviderServiceImpl.updateInfraProvider`) there is no state check: a second
    /// De-Active succeeds (PMS_MSP_408 only for an unknown MISP/key pair), and the same key could
    /// be set Active again. Not final for the MISP: while it is active, `GET /misps/{id}/licenseKey`
    /// issues it a new licence (see [`PmsClient::issue_license`]).
    pub async fn deactivate_license(&self, partner_id: &str, license_key: &SecretString) -> Result<(), PmsError> {
        self.pms(
            "PUT /misps",
            Method::PUT,
            &format!("{PM}/misps"),
            Caller::Admin,
            Some(
                json!({"providerId": partner_id, "licenseKey": license_key.expose(), "licenseKeyStatus": "De-Active"}),
            ),
        )
        .await
        .map(|_| ())
    }
}

/// PMS returns the signed certificate as PEM; a bare base64 DER is wrapped into PEM.
fn to_pem(data: &str) -> String {
    let t = data.trim();
    if t.starts_with("-----BEGIN") {
        return format!("{t}\n");
    }
    use base64::Engine;
    let cleaned: String = t.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(&cleaned)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cleaned.trim_end_matches('=')));
    match der {
        Ok(der) => pem::encode(&pem::Pem::new("CERTIFICATE", der)),
        Err(_) => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_deterministic_short_and_per_attempt() {
        let a = api_key_label("uid-1", "mimoto-keybinding-partner-label-long", 0);
        assert_eq!(a, api_key_label("uid-1", "mimoto-keybinding-partner-label-long", 0));
        assert_ne!(a, api_key_label("uid-1", "mimoto-keybinding-partner-label-long", 1));
        assert_ne!(a, api_key_label("uid-2", "mimoto-keybinding-partner-label-long", 0));
        assert!(a.len() <= 36, "{a}");
        assert!(api_key_label("u", "x", 4_000_000_000).len() <= 36);
        assert!(a.starts_with("mimoto-keybinding"), "{a}");
    }

    #[test]
    fn signed_certificates_become_pem() {
        assert!(
            to_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        let p = to_pem("MAMCAQA=");
        assert!(p.starts_with("-----BEGIN CERTIFICATE-----"), "{p}");
    }
}
