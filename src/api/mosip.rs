//! What the `mosip` backend recorded about MOSIP's PMS (`status.mosip` on every kind) and the
//! consumer copies (`spec.exports`). Empty with `--backend standalone`.
//!
//! PMS 1.2.x cannot reliably read back mapping keys, API keys or licences, so what PMS assigned
//! is kept here and in operator-owned Secrets; only what the operator recorded here is believed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Condition type on every kind in `mosip` mode: the object's state is in PMS. False carries
/// reason `PMS_<errorCode>` (PMS refused; the message is PMS's), `MosipUnavailable` (5xx,
/// refused connection or timeout; retried with backoff) or `MosipAuthFailed` (the operator's
/// credentials were refused).
pub const MOSIP_SYNCED: &str = "MosipSynced";
/// Condition type: an export target namespace has not opted in with the label
/// `pms.mosip.io/accept-exports-from`.
pub const EXPORT_NOT_ALLOWED: &str = "ExportNotAllowed";
/// The label a namespace carries to accept consumer copies from a source namespace (value: that
/// namespace). Accepting every namespace (`*`) or a list takes the annotation of the same name,
/// because `*` is not a valid label value.
pub const ACCEPT_EXPORTS_LABEL: &str = "pms.mosip.io/accept-exports-from";

/// A copy of a key into another namespace, for a consumer that reads it under its own Secret
/// name and key (e.g. eSignet's `esignet-misp-onboarder-key` / `mosip-esignet-misp-key`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Export {
    /// Target namespace. It must carry the label `pms.mosip.io/accept-exports-from` with this
    /// object's namespace as value (or the annotation of that name with `*` or a comma-separated
    /// list of namespaces); otherwise nothing is written and the condition
    /// ExportNotAllowed says so.
    pub namespace: String,
    /// Name of the Secret in the target namespace. Created when absent; an existing Secret is
    /// updated in place (only `key`), and deleted only if the operator created it.
    pub secret_name: String,
    /// Key inside that Secret that receives the value.
    pub key: String,
}

/// `status.mosip` of a CACertificate.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaMosipStatus {
    /// PMS (keymanager) holds the certificate for its domain.
    #[serde(default)]
    pub uploaded: bool,
    /// SHA-256 fingerprint of the certificate that was uploaded.
    #[serde(rename = "uploadedFingerprintSHA256", skip_serializing_if = "Option::is_none")]
    pub uploaded_fingerprint_sha256: Option<String>,
}

/// `status.mosip` of a PartnerPolicy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyMosipStatus {
    /// PMS's id of the policy group (`spec.group`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_group_id: Option<String>,
    /// PMS's id of the policy (named after metadata.name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    /// The policy is published in PMS (partners can request it).
    #[serde(default)]
    pub published: bool,
    /// Fingerprint of the definition last written to PMS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synced_hash: Option<String>,
}

/// `status.mosip` of a Partner.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartnerMosipStatus {
    /// The partner exists in PMS (registered by the operator, or adopted by partnerId).
    #[serde(default)]
    pub registered: bool,
    /// The partner existed in PMS before the operator saw it and was adopted, not registered.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
    /// PMS's approval status (InProgress, approved, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_status: Option<String>,
    /// PMS's is_active flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// The partner was deactivated in PMS after PMS approved it; PMS 1.2.2.x never re-activates
    /// it (PMS_PM_063). A partner never approved is only inactive (`active: false`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deactivated: bool,
    /// SHA-256 fingerprint of the partner certificate last uploaded to PMS.
    #[serde(rename = "uploadedFingerprintSHA256", skip_serializing_if = "Option::is_none")]
    pub uploaded_fingerprint_sha256: Option<String>,
    /// keymanager's id of the uploaded certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_id: Option<String>,
    /// The Keycloak user (= partnerId) the operator made for this partner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keycloak_user: Option<String>,
    /// The operator-owned Secret (this namespace) holding that user's password; kept while the
    /// Partner exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_secret_name: Option<String>,
    /// One entry per policy request, keyed by policy name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<MosipRequestStatus>,
    /// API keys PMS returned that the operator could not store (e.g. a crash between the two);
    /// each is deactivated in PMS on the next pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orphaned_keys: Vec<OrphanedKey>,
}

/// A policy request as PMS knows it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MosipRequestStatus {
    /// The requested PartnerPolicy.
    pub name: String,
    /// PMS's policy id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    /// PMS's mapping key (`policy/map`); PMS cannot read it back once approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping_key: Option<String>,
    /// The decision carried to PMS: Approved or Rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// API keys generated in PMS for this request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_keys: Vec<MosipApiKeyStatus>,
}

/// One API key generated in PMS (the key itself is only in its Secret).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MosipApiKeyStatus {
    /// The label in the spec.
    pub label: String,
    /// The label used in PMS (deterministic per attempt, at most 36 characters).
    pub pms_label: String,
    /// The attempt number the PMS label was derived from.
    #[serde(default)]
    pub attempt: u32,
    /// The key was written to its Secret.
    #[serde(default)]
    pub stored: bool,
    /// The key was deactivated in PMS (De-Active; IDA learns it through APIKEY_UPDATED).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deactivated: bool,
}

/// A key PMS minted but the operator never stored.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrphanedKey {
    /// The PMS label.
    pub pms_label: String,
    /// PMS's policy id.
    pub policy_id: String,
    /// Deactivated in PMS.
    #[serde(default)]
    pub deactivated: bool,
}

/// `status.mosip` of a MispLicense.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LicenseMosipStatus {
    /// The MISP's partnerId (PMS `providerId`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// PMS's licence status (Active, De-Active).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_status: Option<String>,
    /// PMS's expiry of the licence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry: Option<String>,
    /// The licence was set De-Active in PMS; `POST /misps` refuses this MISP a second licence
    /// (PMS_MSP_416).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deactivated: bool,
}
