use super::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// A MISP licence key for a Ready MISP_Partner of the same namespace. The key (50 characters of
/// [0-9A-Za-z], MOSIP's format) is written once into a Secret under `licenseKey` and renewed
/// into the same Secret before it expires.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "pms.mosip.io",
    version = "v1alpha1",
    kind = "MispLicense",
    plural = "misplicenses",
    shortname = "mispl",
    category = "mosip",
    namespaced,
    status = "MispLicenseStatus",
    printcolumn = r#"{"name":"Partner","type":"string","jsonPath":".spec.partnerName"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Secret","type":"string","jsonPath":".status.secretName"}"#,
    printcolumn = r#"{"name":"Valid Until","type":"string","jsonPath":".status.validUntil"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MispLicenseSpec {
    /// Name of a Partner of type MISP_Partner in this namespace.
    pub partner_name: String,
    /// Optional PartnerPolicy of type MISP whose delegation flags the licence carries; it must be
    /// Ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
    /// How long a key is valid, e.g. "90d", "2160h" or "1y"; 90 days when absent (MOSIP's
    /// default). The key is renewed into the same Secret before it expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validity: Option<String>,
    /// false deactivates the licence: the key is removed from the Secret. true when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Copies of the licence key into other namespaces for MOSIP's own charts (e.g. eSignet's
    /// Secret `esignet-misp-onboarder-key`, key `mosip-esignet-misp-key`, in namespace
    /// `esignet`); each target namespace must opt in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<super::Export>,
}

impl MispLicenseSpec {
    pub fn is_active(&self) -> bool {
        self.active.unwrap_or(true)
    }
}

/// What the operator issued.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MispLicenseStatus {
    /// The metadata.generation this status describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready is True when a valid licence key is in the Secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The Secret in this namespace holding the key under `licenseKey`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// Start of the current key's validity, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// End of the current key's validity, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// First 16 hex characters of the SHA-256 of the key: tells keys apart without revealing them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_fingerprint: Option<String>,
    /// The Secret's metadata.resourceVersion when the operator last wrote or verified it. Any
    /// other version means the Secret changed since: the operator reads it and compares it with
    /// this record before believing it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_resource_version: Option<String>,
    /// What MOSIP's PMS holds (backend `mosip` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mosip: Option<super::LicenseMosipStatus>,
}
