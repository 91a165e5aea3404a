use super::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A MOSIP policy that partners of its policy group may request: Auth, DataShare,
/// CredentialIssuance or MISP. The body that matches `type` (`auth`, `dataShare` or `misp`) holds
/// MOSIP's policy JSON fields.
///
/// While Partners still request it, deleting it waits (finalizer) and its Ready condition names
/// who still uses it: MOSIP refuses to deactivate policies in use.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "pms.mosip.io",
    version = "v1alpha1",
    kind = "PartnerPolicy",
    plural = "partnerpolicies",
    shortname = "ppol",
    category = "mosip",
    status = "PartnerPolicyStatus",
    printcolumn = r#"{"name":"Group","type":"string","jsonPath":".spec.group"}"#,
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.type"}"#,
    printcolumn = r#"{"name":"Approval","type":"string","jsonPath":".spec.approval"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Users","type":"integer","jsonPath":".status.usedByCount"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PartnerPolicySpec {
    /// The policy group (MOSIP policy_group name, 1–128 characters). Only partners whose
    /// `policyGroup` equals it may request this policy.
    pub group: String,
    /// The MOSIP policy type: Auth (for Auth_Partner), DataShare or CredentialIssuance (for
    /// credential, verification, ABIS, adjudication, internal and print partners) or MISP.
    #[serde(rename = "type")]
    pub policy_type: PolicyType,
    /// Free text shown to people (MOSIP: 1–256 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A version label (MOSIP: at most 8 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Manual (absent): an approver approves or denies each request with
    /// `mosip-partner-operator approve|deny`. Automatic: the operator approves every valid
    /// request itself, for sandboxes and for GitOps where the reviewed commit is the approval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalMode>,
    /// Who an Automatic policy approves by itself. Without it an Automatic policy approves
    /// nobody automatically (every request waits for an approver).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_approve: Option<AutoApprove>,
    /// The Auth policy body; required when type is Auth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthPolicy>,
    /// The data-share policy body; required when type is DataShare or CredentialIssuance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_share: Option<DataSharePolicy>,
    /// The MISP policy body; required when type is MISP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub misp: Option<MispPolicy>,
}

impl PartnerPolicySpec {
    /// The approval mode with its default applied.
    pub fn effective_approval(&self) -> ApprovalMode {
        self.approval.unwrap_or(ApprovalMode::Manual)
    }
}

/// MOSIP's policy types.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum PolicyType {
    /// Authentication and e-KYC for relying parties.
    Auth,
    /// Sharing identity data with credential, verification, ABIS, adjudication and print partners.
    DataShare,
    /// Credential issuance; uses the data-share body.
    CredentialIssuance,
    /// Delegation flags for MISPs.
    #[serde(rename = "MISP")]
    Misp,
}

impl PolicyType {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::Auth => "Auth",
            PolicyType::DataShare => "DataShare",
            PolicyType::CredentialIssuance => "CredentialIssuance",
            PolicyType::Misp => "MISP",
        }
    }
}

impl std::fmt::Display for PolicyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scope of automatic approval.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoApprove {
    /// Partners of the namespaces whose labels match are approved automatically; others wait
    /// for an approver. `{}` matches every namespace (it must be written explicitly); absent
    /// matches none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
}

/// How requests for a policy are approved.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ApprovalMode {
    /// A person (or pipeline) with the right to patch partners/status approves or denies.
    Manual,
    /// The operator approves every valid request itself.
    Automatic,
}

/// MOSIP's Auth policy (auth-policy-schema.json).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthPolicy {
    /// Which token IDA returns: random, partner or policy. Required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token_type: Option<String>,
    /// Authentication types the partner may use. Required (may be empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_auth_types: Option<Vec<AllowedAuthType>>,
    /// KYC attributes the partner may receive. Required (may be empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_kyc_attributes: Option<Vec<KycAttribute>>,
    /// Languages KYC data is returned in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kyc_languages: Option<Vec<String>>,
}

/// One allowed authentication type.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AllowedAuthType {
    /// e.g. bio, otp, otp-request, demo, kyc, kycauth, kycexchange, keybinding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<String>,
    /// e.g. FINGER, IRIS or FACE for bio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_sub_type: Option<String>,
    /// Whether this authentication type is mandatory. Required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mandatory: Option<bool>,
}

/// One KYC attribute.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KycAttribute {
    /// The identity attribute name, e.g. fullName. Required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute_name: Option<String>,
}

/// MOSIP's data-share policy (data-share-policy-schema.json), also used by CredentialIssuance.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataSharePolicy {
    /// How data is shared. Required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_share_policies: Option<DataShareSettings>,
    /// Attributes shared and where they come from. Required (may be empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shareable_attributes: Option<Vec<ShareableAttribute>>,
}

/// The `dataSharePolicies` block.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataShareSettings {
    /// "Data Share" or "direct". Required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_of_share: Option<String>,
    /// Minutes a share stays valid, as a string (MOSIP's format). Required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_for_in_minutes: Option<String>,
    /// Number of transactions allowed, as a string. Required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transactions_allowed: Option<String>,
    /// "Partner Based" or "none". Required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_type: Option<String>,
    /// The domain share URLs are issued under. Required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_domain: Option<String>,
    /// Data source, e.g. "ID Repository", "Packet Manager" or "Print". Required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Protocol, e.g. http.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

/// One shareable attribute.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShareableAttribute {
    /// Attribute name, e.g. fullName or biometrics. Required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute_name: Option<String>,
    /// Where the value comes from. Required (may be empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Vec<AttributeSource>>,
    /// Whether the value is encrypted. Required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
    /// Grouping, e.g. CBEFF.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Format, e.g. extraction or YYYY.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// A source of a shareable attribute.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttributeSource {
    /// The source attribute, e.g. individualBiometrics. Required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    /// Filters on the source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<Vec<AttributeFilter>>,
}

/// A filter on an attribute source.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttributeFilter {
    /// Biometric type, e.g. Face.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub filter_type: Option<String>,
    /// Biometric subtypes, e.g. Left Thumb.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<Vec<String>>,
    /// A language code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// MOSIP's MISP policy (misp-policy-schema.json).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MispPolicy {
    /// Whether the MISP may delegate authentication requests. Required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_auth_request_delegation: Option<bool>,
    /// Whether the MISP may delegate KYC requests. Required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_kyc_request_delegation: Option<bool>,
    /// Whether the MISP may delegate key binding. Required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_key_binding_delegation: Option<bool>,
    /// Whether bound auth-verification tokens are trusted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_binded_auth_verification_token: Option<bool>,
    /// Whether the MISP may delegate VCI requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_vci_request_delegation: Option<bool>,
}

/// What the operator found in the policy.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PartnerPolicyStatus {
    /// The metadata.generation this status describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready is True when the policy is valid for its type; Stalled is True when it is invalid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The first Partners (namespace/name, sorted; at most 10) that currently request this
    /// policy; usedByCount has how many there are. Capped so that the status stays small with
    /// any number of partners: the whole list at 10,000 partners is ~250 kB of status rewritten
    /// whenever one of them comes or goes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub used_by: Vec<String>,
    /// How many Partners currently request this policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_by_count: Option<i64>,
    /// What MOSIP's PMS holds (backend `mosip` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mosip: Option<super::PolicyMosipStatus>,
}
