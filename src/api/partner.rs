use super::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A MOSIP partner: an organisation onboarded into MOSIP with a certificate trusted for its
/// domain and, for the types that need them, policy requests that an approver approves. Once a
/// request is approved the operator issues API keys into Secrets of this namespace.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "pms.mosip.io",
    version = "v1alpha1",
    kind = "Partner",
    plural = "partners",
    shortname = "ptn",
    category = "mosip",
    namespaced,
    status = "PartnerStatus",
    printcolumn = r#"{"name":"Partner ID","type":"string","jsonPath":".status.partnerId"}"#,
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.partnerType"}"#,
    printcolumn = r#"{"name":"Cert","type":"string","jsonPath":".status.conditions[?(@.type==\"CertificateValid\")].status"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Cert Expires","type":"string","jsonPath":".status.certificate.notAfter"}"#,
    printcolumn = r#"{"name":"Organization","type":"string","priority":1,"jsonPath":".spec.organizationName"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.partnerId) == has(oldSelf.partnerId) && (!has(self.partnerId) || self.partnerId == oldSelf.partnerId)").message("partnerId is immutable; create a new Partner instead"))]
pub struct PartnerSpec {
    /// The MOSIP partner id (at most 36 characters, no whitespace, unique in the cluster).
    /// metadata.name when absent. Immutable: once registered (status.registeredPartnerId) it
    /// belongs to this Partner until it is deleted, whatever other Partners ask for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
    /// MOSIP's partner type code. It decides the certificate domain (Device_Provider→DEVICE,
    /// FTM_Provider→FTM, MISP_Partner→MISP, every other type→AUTH), whether a policy group is
    /// required and which policy types may be requested. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("partnerType is immutable; create a new Partner instead"))]
    pub partner_type: PartnerType,
    /// The organisation's name, 1–128 characters. It must equal the Subject O of the partner
    /// certificate exactly (case-sensitive). Immutable, as in MOSIP.
    #[x_kube(validation = Rule::new("self == oldSelf").message("organizationName is immutable, as in MOSIP"))]
    pub organization_name: String,
    /// How to reach the partner. MOSIP requires all three fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,
    /// The policy group whose policies this partner may request. Required for every type except
    /// Device_Provider, FTM_Provider, MISP_Partner and SDK_Partner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_group: Option<String>,
    /// The Secret, in this namespace, that holds the partner's CA-signed certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateRef>,
    /// Policy requests. Each entry asks for one PartnerPolicy of the partner's policy group and
    /// lists the API keys wanted once it is approved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PolicyRequest>,
    /// false deactivates the partner: its API keys are removed from their Secrets and its MISP
    /// licences are deactivated. true when absent. See the README for re-activation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

impl Partner {
    /// The MOSIP partner id: spec.partnerId, or metadata.name when absent.
    pub fn partner_id(&self) -> String {
        self.spec.partner_id.clone().unwrap_or_else(|| self.metadata.name.clone().unwrap_or_default())
    }
}

impl PartnerSpec {
    /// Whether the partner is active (true when absent).
    pub fn is_active(&self) -> bool {
        self.active.unwrap_or(true)
    }
}

/// MOSIP's partner type codes (pms.partner_type).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum PartnerType {
    /// Relying party: Auth policy, API keys.
    #[serde(rename = "Auth_Partner")]
    AuthPartner,
    /// Provides SBIs and devices: certificate only (DEVICE domain).
    #[serde(rename = "Device_Provider")]
    DeviceProvider,
    /// Foundational trust module provider: certificate only (FTM domain, not re-signed).
    #[serde(rename = "FTM_Provider")]
    FtmProvider,
    /// Receives credentials: DataShare or CredentialIssuance policy, API keys.
    #[serde(rename = "Credential_Partner")]
    CredentialPartner,
    /// Online verification (e.g. IDA): DataShare policy, API keys.
    #[serde(rename = "Online_Verification_Partner")]
    OnlineVerificationPartner,
    /// MOSIP infrastructure service provider: licence keys (MispLicense).
    #[serde(rename = "MISP_Partner")]
    MispPartner,
    /// Biometric deduplication system.
    #[serde(rename = "ABIS_Partner")]
    AbisPartner,
    /// Manual adjudication system.
    #[serde(rename = "Manual_Adjudication")]
    ManualAdjudication,
    /// Internal MOSIP use, e.g. sharing certificates.
    #[serde(rename = "Internal_Partner")]
    InternalPartner,
    /// Biometric SDK provider.
    #[serde(rename = "SDK_Partner")]
    SdkPartner,
    /// Card printing.
    #[serde(rename = "Print_Partner")]
    PrintPartner,
    /// Wallet key binding.
    #[serde(rename = "Binding_Partner")]
    BindingPartner,
}

/// Contact details, as MOSIP requires them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// E-mail address (MOSIP's pattern, at most 254 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone number, at most 16 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Postal address, at most 2000 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// Where the partner's certificate is. Only Secrets of the Partner's own namespace are read.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateRef {
    /// Name of a Secret in the Partner's namespace.
    pub secret_name: String,
    /// Key of the PEM certificate in the Secret; tls.crt when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_key: Option<String>,
    /// Key of optional PEM intermediates the partner supplies to help build the path; ca.crt
    /// when absent. They are never trusted as anchors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_key: Option<String>,
}

impl CertificateRef {
    pub fn effective_certificate_key(&self) -> &str {
        self.certificate_key.as_deref().unwrap_or("tls.crt")
    }
    pub fn effective_chain_key(&self) -> &str {
        self.chain_key.as_deref().unwrap_or("ca.crt")
    }
}

/// A request for one policy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRequest {
    /// Name of a PartnerPolicy of the partner's policy group.
    pub name: String,
    /// Why the partner needs the policy, shown to the approver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_case: Option<String>,
    /// Credential types mapped to this policy (auth, qrcode, euin, reprint, vercred, opencrvs
    /// plus those the operator allows); only for Credential, Online Verification and Auth partners.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credential_types: Vec<String>,
    /// Biometric extractors; Credential and Online Verification partners need at least one
    /// before the request can be approved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub biometric_extractors: Vec<BiometricExtractor>,
    /// API keys to issue once the request is approved, one Secret each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_keys: Vec<ApiKeyRequest>,
}

/// A biometric extractor for one attribute.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BiometricExtractor {
    /// The attribute, e.g. photo or individualBiometrics.
    pub attribute_name: String,
    /// face, iris or finger, optionally with subtypes: finger[Left Thumb,Right Thumb].
    pub biometric: String,
    /// The extractor's provider, e.g. mock.
    pub provider: String,
    /// The extractor's version (at most 8 characters), e.g. 1.1.
    pub version: String,
}

/// One API key wanted for a policy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyRequest {
    /// A label unique within the policy request, at most 36 characters.
    pub label: String,
    /// Copies of the key into other namespaces for MOSIP's own charts (e.g. Mimoto's
    /// `mimoto-wallet-binding-partner-api-key`); each target namespace must opt in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<super::Export>,
}

/// What the operator made of the partner.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PartnerStatus {
    /// The metadata.generation this status describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The effective MOSIP partner id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
    /// The partnerId this Partner registered (claimed) first. The claim never moves to another
    /// Partner while this one lives; a later change of spec.partnerId is refused
    /// (ImmutableFieldChanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_partner_id: Option<String>,
    /// The partner type as first registered; a later change of spec.partnerType is reported
    /// (ImmutableFieldChanged) on API servers that do not enforce the CRD's CEL rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_partner_type: Option<String>,
    /// The organisation name as first registered; see registeredPartnerType.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_organization_name: Option<String>,
    /// CertificateValid: the certificate passed validation. Ready: everything requested is
    /// approved and issued. Stalled: a person must change something (invalid input, denial).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The validated certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<PartnerCertificateStatus>,
    /// One entry per policy request, keyed by policy name. Approvers write the Approved or
    /// Denied condition here through the status subresource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub policies: Vec<PolicyRequestStatus>,
    /// Denials the operator remembers, per policy and request fingerprint, also after the
    /// request left spec.policies: the same request is denied again when it returns, even under
    /// an Automatic policy. Only an approver clears one (by removing the entry through the
    /// status subresource).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["policy".into(), "requestHash".into()]))]
    pub denied_requests: Vec<DeniedRequest>,
    /// What MOSIP's PMS holds (backend `mosip` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mosip: Option<super::PartnerMosipStatus>,
}

/// A remembered denial.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeniedRequest {
    /// The PartnerPolicy the request named.
    pub policy: String,
    /// The request fingerprint that was denied.
    pub request_hash: String,
    /// Who denied it (the Denied condition's reason).
    pub reason: String,
    /// Why (the Denied condition's message).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// The validated partner certificate.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartnerCertificateStatus {
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
    /// The MOSIP domain the certificate was validated in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The Secret holding the MOSIP re-signed certificate (tls.crt) and its chain (ca.crt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_secret_name: Option<String>,
    /// End of validity of the MOSIP re-signed certificate, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_not_after: Option<String>,
    /// The re-signed Secret's metadata.resourceVersion when the operator last wrote or verified
    /// it (its seal). Any other version: the operator reads it again before believing it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_secret_resource_version: Option<String>,
}

/// The state of one policy request.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRequestStatus {
    /// The requested PartnerPolicy.
    pub name: String,
    /// A fingerprint of the request (the policy's identity and body and the request's fields).
    /// A decision recorded for another fingerprint is stale: the request changed and needs a new
    /// decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_hash: Option<String>,
    /// The request fingerprint the approver decided on; written by `approve`/`deny`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_request_hash: Option<String>,
    /// Approved or Denied (status True only, mutually exclusive, final for this request; reason =
    /// who, message = why), set by an approver; plus Valid, set by the operator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// API keys issued for this request.
    // Always serialized, even empty: server-side apply on older API servers turns a nested
    // list whose owned items all went away into null, which the schema then rejects.
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["label".into()]))]
    pub api_keys: Vec<ApiKeyStatus>,
}

/// One issued API key; the key itself is only in the Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyStatus {
    /// The label from the spec.
    pub label: String,
    /// The Secret in this namespace that holds the key under `apiKey`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// End of the key's validity, RFC 3339, in `standalone` mode. Absent in `mosip` mode: PMS
    /// sets a key's validity from its own setting `mosip.pmp.partner.policy.expiry.period.indays`
    /// (days after generation) and returns none (its answer is apiKey, label, partnerId and
    /// policyId only), and the operator sends none, so it has nothing true to show.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// When the operator issued the current key, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// First 16 hex characters of the SHA-256 of the key the operator issued. A Secret whose
    /// key does not match is not the operator's: it is never believed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_fingerprint: Option<String>,
    /// The Secret's metadata.resourceVersion when the operator last wrote or verified it. Any
    /// other version means the Secret changed since: the operator reads it and compares it with
    /// this record before believing it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_resource_version: Option<String>,
}
