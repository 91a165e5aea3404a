use super::{Condition, PartnerDomain};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A CA certificate trusted for one MOSIP partner domain: a root (self-signed) or an
/// intermediate that chains to a trusted root of the same domain.
///
/// Partner certificates of that domain must chain to a Ready root through Ready intermediates.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "pms.mosip.io",
    version = "v1alpha1",
    kind = "CACertificate",
    plural = "cacertificates",
    shortname = "cacert",
    category = "mosip",
    status = "CACertificateStatus",
    printcolumn = r#"{"name":"Domain","type":"string","jsonPath":".spec.domain"}"#,
    printcolumn = r#"{"name":"Role","type":"string","jsonPath":".status.role"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Not After","type":"string","jsonPath":".status.notAfter"}"#,
    printcolumn = r#"{"name":"Subject","type":"string","priority":1,"jsonPath":".status.subject"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct CACertificateSpec {
    /// The partner domain this CA is trusted for: AUTH, DEVICE, FTM or MISP.
    pub domain: PartnerDomain,
    /// Exactly one X.509 v3 CA certificate, PEM encoded ("-----BEGIN CERTIFICATE-----").
    /// A self-signed certificate becomes a Root; any other must chain to a Ready Root of the
    /// same domain, possibly through other Ready Intermediates, and becomes an Intermediate.
    pub certificate: String,
}

/// Whether a CA certificate is a trust anchor or an intermediate.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum CaRole {
    /// Self-signed trust anchor.
    Root,
    /// Signed by another CA of the same domain.
    Intermediate,
}

/// What the operator found in the certificate.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CACertificateStatus {
    /// The metadata.generation this status describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready is True when the certificate is a valid, currently usable CA of its domain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// Root (self-signed) or Intermediate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<CaRole>,
    /// Subject distinguished name, RFC 4514.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Issuer distinguished name, RFC 4514.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Serial number, hexadecimal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// Start of validity, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// End of validity, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// SHA-256 fingerprint of the DER certificate, lowercase hexadecimal.
    #[serde(rename = "fingerprintSHA256", skip_serializing_if = "Option::is_none")]
    pub fingerprint_sha256: Option<String>,
    /// What MOSIP's PMS holds (backend `mosip` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mosip: Option<super::CaMosipStatus>,
}
