//! MOSIP's policy rules, applied to a PartnerPolicy's spec.
//!
//! Source: PMS policy-management-service (`policy_group` and `auth_policy` column lengths) and
//! MOSIP's policy JSON schemas (`auth-policy-schema.json`, `data-share-policy-schema.json`,
//! `misp-policy-schema.json`). CredentialIssuance policies use the data-share schema.

use crate::api::{AuthPolicy, DataSharePolicy, MispPolicy, PartnerPolicySpec, PolicyType};

/// Longest policy group name (`policy_group.name`).
pub const POLICY_GROUP_MAX_LEN: usize = 128;
/// Longest policy description (`auth_policy.descr`).
pub const POLICY_DESCRIPTION_MAX_LEN: usize = 256;
/// Longest policy version (`auth_policy.version`).
pub const POLICY_VERSION_MAX_LEN: usize = 8;

/// Allowed `authTokenType` values.
pub const AUTH_TOKEN_TYPES: &[&str] = &["random", "partner", "policy"];
/// Allowed `dataSharePolicies.typeOfShare` values.
pub const TYPES_OF_SHARE: &[&str] = &["Data Share", "direct"];
/// Allowed `dataSharePolicies.encryptionType` values.
pub const ENCRYPTION_TYPES: &[&str] = &["Partner Based", "none"];

/// One problem with a PartnerPolicy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyProblem {
    /// The body that matches spec.type is absent.
    #[error(
        "spec.type is {policy_type} but spec.{field} is missing; add the {policy_type} policy body under spec.{field}"
    )]
    MissingBody {
        /// The policy's type.
        policy_type: PolicyType,
        /// The body field that is required: `auth`, `dataShare` or `misp`.
        field: &'static str,
    },
    /// A body for another policy type is present.
    #[error("spec.{field} is set but spec.type is {policy_type}; remove spec.{field} or change spec.type")]
    UnexpectedBody {
        /// The policy's type.
        policy_type: PolicyType,
        /// The body field that must not be set.
        field: &'static str,
    },
    /// A field breaks MOSIP's schema or length rules.
    #[error("{path}: {message}")]
    Invalid {
        /// Path of the field, e.g. `spec.dataShare.dataSharePolicies.typeOfShare`.
        path: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}

impl PolicyProblem {
    /// The condition reason: `MissingPolicyBody`, `UnexpectedPolicyBody` or `InvalidPolicy`.
    pub fn reason(&self) -> &'static str {
        match self {
            PolicyProblem::MissingBody { .. } => "MissingPolicyBody",
            PolicyProblem::UnexpectedBody { .. } => "UnexpectedPolicyBody",
            PolicyProblem::Invalid { .. } => "InvalidPolicy",
        }
    }
}

/// Everything wrong with a PartnerPolicy. Its message lists every problem, separated by "; ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", join(problems))]
pub struct PolicyError {
    /// The problems, body presence first. Never empty.
    pub problems: Vec<PolicyProblem>,
}

impl PolicyError {
    /// The condition reason: that of the first problem, so `MissingPolicyBody` wins over
    /// `UnexpectedPolicyBody`, which wins over `InvalidPolicy`.
    pub fn reason(&self) -> &'static str {
        self.problems.first().map_or("InvalidPolicy", PolicyProblem::reason)
    }
}

fn join(problems: &[PolicyProblem]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// Checks a PartnerPolicy against MOSIP's rules:
/// - the body matching spec.type is present (`auth` for Auth, `dataShare` for DataShare and
///   CredentialIssuance, `misp` for MISP) and no other body is;
/// - spec.group is 1–128 characters, spec.description at most 256, spec.version at most 8;
/// - the body follows MOSIP's JSON schema for its type (required fields, allowed values).
///
/// Returns every problem found, not just the first.
pub fn validate_policy(spec: &PartnerPolicySpec) -> Result<(), PolicyError> {
    let mut v = Validator::default();

    let expected = body_field(spec.policy_type);
    let present =
        [("auth", spec.auth.is_some()), ("dataShare", spec.data_share.is_some()), ("misp", spec.misp.is_some())];
    for (field, is_present) in present {
        if field == expected && !is_present {
            v.problems.push(PolicyProblem::MissingBody { policy_type: spec.policy_type, field });
        }
    }
    for (field, is_present) in present {
        if field != expected && is_present {
            v.problems.push(PolicyProblem::UnexpectedBody { policy_type: spec.policy_type, field });
        }
    }

    let group_len = spec.group.chars().count();
    if spec.group.trim().is_empty() {
        v.invalid("spec.group", "is empty; set the policy group name (1–128 characters)".to_string());
    } else if group_len > POLICY_GROUP_MAX_LEN {
        v.invalid("spec.group", format!("is {group_len} characters long; MOSIP allows at most 128"));
    }
    if let Some(description) = &spec.description {
        let len = description.chars().count();
        if len > POLICY_DESCRIPTION_MAX_LEN {
            v.invalid("spec.description", format!("is {len} characters long; MOSIP allows at most 256"));
        }
    }
    if let Some(version) = &spec.version {
        let len = version.chars().count();
        if len > POLICY_VERSION_MAX_LEN {
            v.invalid("spec.version", format!("{version:?} is {len} characters long; MOSIP allows at most 8"));
        }
    }

    match spec.policy_type {
        PolicyType::Auth => {
            if let Some(auth) = &spec.auth {
                v.auth(auth);
            }
        }
        PolicyType::DataShare | PolicyType::CredentialIssuance => {
            if let Some(data_share) = &spec.data_share {
                v.data_share(data_share);
            }
        }
        PolicyType::Misp => {
            if let Some(misp) = &spec.misp {
                v.misp(misp);
            }
        }
    }

    if v.problems.is_empty() { Ok(()) } else { Err(PolicyError { problems: v.problems }) }
}

/// The spec field that holds the body of a policy type: `auth`, `dataShare` or `misp`.
pub fn body_field(policy_type: PolicyType) -> &'static str {
    match policy_type {
        PolicyType::Auth => "auth",
        PolicyType::DataShare | PolicyType::CredentialIssuance => "dataShare",
        PolicyType::Misp => "misp",
    }
}

#[derive(Default)]
struct Validator {
    problems: Vec<PolicyProblem>,
}

impl Validator {
    fn invalid(&mut self, path: impl Into<String>, message: String) {
        self.problems.push(PolicyProblem::Invalid { path: path.into(), message });
    }

    fn missing(&mut self, path: impl Into<String>) {
        self.invalid(path, "is required".to_string());
    }

    /// A required string: absent or blank is reported as missing.
    fn required_str<'a>(&mut self, path: impl Into<String>, value: Option<&'a str>) -> Option<&'a str> {
        match value {
            Some(s) if !s.trim().is_empty() => Some(s),
            Some(_) => {
                self.invalid(path, "is required and may not be empty".to_string());
                None
            }
            None => {
                self.missing(path);
                None
            }
        }
    }

    fn one_of(&mut self, path: &str, value: Option<&str>, allowed: &[&str]) {
        if let Some(value) = value {
            if !allowed.contains(&value) {
                let list = allowed.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", ");
                self.invalid(path, format!("{value:?} is not one of {list}"));
            }
        } else {
            let list = allowed.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", ");
            self.invalid(path, format!("is required; use one of {list}"));
        }
    }

    /// A required string holding a whole number, as MOSIP's data-share service parses it.
    fn integer_str(&mut self, path: &str, value: Option<&str>) {
        if let Some(value) = self.required_str(path, value)
            && value.trim().parse::<i64>().is_err()
        {
            self.invalid(path, format!("{value:?} is not a whole number; write it as a string of digits, e.g. \"30\""));
        }
    }

    fn auth(&mut self, auth: &AuthPolicy) {
        self.one_of("spec.auth.authTokenType", auth.auth_token_type.as_deref(), AUTH_TOKEN_TYPES);

        match &auth.allowed_auth_types {
            None => self.invalid("spec.auth.allowedAuthTypes", "is required (it may be an empty list)".to_string()),
            Some(types) => {
                for (i, t) in types.iter().enumerate() {
                    let base = format!("spec.auth.allowedAuthTypes[{i}]");
                    self.required_str(format!("{base}.authType"), t.auth_type.as_deref());
                    if t.mandatory.is_none() {
                        self.invalid(format!("{base}.mandatory"), "is required (true or false)".to_string());
                    }
                }
            }
        }

        match &auth.allowed_kyc_attributes {
            None => self.invalid("spec.auth.allowedKycAttributes", "is required (it may be an empty list)".to_string()),
            Some(attributes) => {
                for (i, a) in attributes.iter().enumerate() {
                    self.required_str(
                        format!("spec.auth.allowedKycAttributes[{i}].attributeName"),
                        a.attribute_name.as_deref(),
                    );
                }
            }
        }
    }

    fn data_share(&mut self, body: &DataSharePolicy) {
        match &body.data_share_policies {
            None => self.missing("spec.dataShare.dataSharePolicies"),
            Some(p) => {
                let base = "spec.dataShare.dataSharePolicies";
                self.one_of(&format!("{base}.typeOfShare"), p.type_of_share.as_deref(), TYPES_OF_SHARE);
                self.integer_str(&format!("{base}.validForInMinutes"), p.valid_for_in_minutes.as_deref());
                self.integer_str(&format!("{base}.transactionsAllowed"), p.transactions_allowed.as_deref());
                self.one_of(&format!("{base}.encryptionType"), p.encryption_type.as_deref(), ENCRYPTION_TYPES);
                self.required_str(format!("{base}.shareDomain"), p.share_domain.as_deref());
                self.required_str(format!("{base}.source"), p.source.as_deref());
            }
        }

        match &body.shareable_attributes {
            None => {
                self.invalid("spec.dataShare.shareableAttributes", "is required (it may be an empty list)".to_string())
            }
            Some(attributes) => {
                for (i, a) in attributes.iter().enumerate() {
                    let base = format!("spec.dataShare.shareableAttributes[{i}]");
                    self.required_str(format!("{base}.attributeName"), a.attribute_name.as_deref());
                    match &a.source {
                        None => {
                            self.invalid(format!("{base}.source"), "is required (it may be an empty list)".to_string())
                        }
                        Some(sources) => {
                            for (j, s) in sources.iter().enumerate() {
                                self.required_str(format!("{base}.source[{j}].attribute"), s.attribute.as_deref());
                            }
                        }
                    }
                    if a.encrypted.is_none() {
                        self.invalid(format!("{base}.encrypted"), "is required (true or false)".to_string());
                    }
                }
            }
        }
    }

    fn misp(&mut self, body: &MispPolicy) {
        let required = [
            ("allowAuthRequestDelegation", body.allow_auth_request_delegation),
            ("allowKycRequestDelegation", body.allow_kyc_request_delegation),
            ("allowKeyBindingDelegation", body.allow_key_binding_delegation),
        ];
        for (field, value) in required {
            if value.is_none() {
                self.invalid(format!("spec.misp.{field}"), "is required (true or false)".to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AllowedAuthType, AttributeSource, DataShareSettings, KycAttribute, ShareableAttribute};

    fn auth_body() -> AuthPolicy {
        AuthPolicy {
            auth_token_type: Some("partner".into()),
            allowed_auth_types: Some(vec![
                AllowedAuthType {
                    auth_type: Some("bio".into()),
                    auth_sub_type: Some("FINGER".into()),
                    mandatory: Some(false),
                },
                AllowedAuthType { auth_type: Some("otp".into()), auth_sub_type: None, mandatory: Some(true) },
            ]),
            allowed_kyc_attributes: Some(vec![KycAttribute { attribute_name: Some("fullName".into()) }]),
            kyc_languages: None,
        }
    }

    fn data_share_body() -> DataSharePolicy {
        DataSharePolicy {
            data_share_policies: Some(DataShareSettings {
                type_of_share: Some("Data Share".into()),
                valid_for_in_minutes: Some("30".into()),
                transactions_allowed: Some("2".into()),
                encryption_type: Some("Partner Based".into()),
                share_domain: Some("datashare.datashare".into()),
                source: Some("ID Repository".into()),
                protocol: Some("http".into()),
            }),
            shareable_attributes: Some(vec![ShareableAttribute {
                attribute_name: Some("biometrics".into()),
                source: Some(vec![AttributeSource { attribute: Some("individualBiometrics".into()), filter: None }]),
                encrypted: Some(true),
                group: Some("CBEFF".into()),
                format: Some("extraction".into()),
            }]),
        }
    }

    fn misp_body() -> MispPolicy {
        MispPolicy {
            allow_auth_request_delegation: Some(true),
            allow_kyc_request_delegation: Some(true),
            allow_key_binding_delegation: Some(false),
            trust_binded_auth_verification_token: None,
            allow_vci_request_delegation: None,
        }
    }

    fn spec(policy_type: PolicyType) -> PartnerPolicySpec {
        let mut s = PartnerPolicySpec {
            group: "mpolicygroup-default-auth".into(),
            policy_type,
            description: Some("default".into()),
            version: Some("1.0".into()),
            approval: None,
            auto_approve: None,
            auth: None,
            data_share: None,
            misp: None,
        };
        match policy_type {
            PolicyType::Auth => s.auth = Some(auth_body()),
            PolicyType::DataShare | PolicyType::CredentialIssuance => s.data_share = Some(data_share_body()),
            PolicyType::Misp => s.misp = Some(misp_body()),
        }
        s
    }

    fn paths(err: &PolicyError) -> Vec<String> {
        err.problems
            .iter()
            .map(|p| match p {
                PolicyProblem::Invalid { path, .. } => path.clone(),
                other => other.reason().to_string(),
            })
            .collect()
    }

    #[test]
    fn valid_policies() {
        for t in [PolicyType::Auth, PolicyType::DataShare, PolicyType::CredentialIssuance, PolicyType::Misp] {
            assert_eq!(validate_policy(&spec(t)), Ok(()), "{t:?}");
        }
        // Empty lists are allowed where the schema allows them.
        let mut s = spec(PolicyType::Auth);
        s.auth = Some(AuthPolicy {
            auth_token_type: Some("random".into()),
            allowed_auth_types: Some(vec![]),
            allowed_kyc_attributes: Some(vec![]),
            kyc_languages: None,
        });
        assert_eq!(validate_policy(&s), Ok(()));
    }

    #[test]
    fn missing_body() {
        for (t, field) in [
            (PolicyType::Auth, "auth"),
            (PolicyType::DataShare, "dataShare"),
            (PolicyType::CredentialIssuance, "dataShare"),
            (PolicyType::Misp, "misp"),
        ] {
            let mut s = spec(t);
            s.auth = None;
            s.data_share = None;
            s.misp = None;
            let err = validate_policy(&s).unwrap_err();
            assert_eq!(err.reason(), "MissingPolicyBody");
            assert_eq!(err.problems, vec![PolicyProblem::MissingBody { policy_type: t, field }]);
            assert!(err.to_string().contains(&format!("spec.{field} is missing")), "{err}");
        }
    }

    #[test]
    fn unexpected_body() {
        let mut s = spec(PolicyType::Auth);
        s.misp = Some(misp_body());
        let err = validate_policy(&s).unwrap_err();
        assert_eq!(err.reason(), "UnexpectedPolicyBody");
        assert_eq!(err.to_string(), "spec.misp is set but spec.type is Auth; remove spec.misp or change spec.type");

        // Missing wins over unexpected.
        let mut s = spec(PolicyType::DataShare);
        s.data_share = None;
        s.auth = Some(auth_body());
        let err = validate_policy(&s).unwrap_err();
        assert_eq!(err.reason(), "MissingPolicyBody");
        assert_eq!(paths(&err), vec!["MissingPolicyBody", "UnexpectedPolicyBody"]);
    }

    #[test]
    fn group_description_version_boundaries() {
        let mut s = spec(PolicyType::Misp);
        s.group = "g".repeat(128);
        s.description = Some("d".repeat(256));
        s.version = Some("12345678".into());
        assert_eq!(validate_policy(&s), Ok(()));
        s.group = "g".repeat(129);
        s.description = Some("d".repeat(257));
        s.version = Some("123456789".into());
        let err = validate_policy(&s).unwrap_err();
        assert_eq!(err.reason(), "InvalidPolicy");
        assert_eq!(paths(&err), vec!["spec.group", "spec.description", "spec.version"]);
        s.group = " ".into();
        s.description = None;
        s.version = None;
        assert_eq!(paths(&validate_policy(&s).unwrap_err()), vec!["spec.group"]);
    }

    #[test]
    fn auth_schema() {
        let mut s = spec(PolicyType::Auth);
        s.auth = Some(AuthPolicy {
            auth_token_type: Some("Random".into()),
            allowed_auth_types: Some(vec![AllowedAuthType { auth_type: None, auth_sub_type: None, mandatory: None }]),
            allowed_kyc_attributes: Some(vec![KycAttribute { attribute_name: Some("".into()) }]),
            kyc_languages: None,
        });
        let err = validate_policy(&s).unwrap_err();
        assert_eq!(
            paths(&err),
            vec![
                "spec.auth.authTokenType",
                "spec.auth.allowedAuthTypes[0].authType",
                "spec.auth.allowedAuthTypes[0].mandatory",
                "spec.auth.allowedKycAttributes[0].attributeName",
            ]
        );
        assert!(
            err.to_string()
                .starts_with("spec.auth.authTokenType: \"Random\" is not one of \"random\", \"partner\", \"policy\"; "),
            "{err}"
        );

        s.auth = Some(AuthPolicy {
            auth_token_type: None,
            allowed_auth_types: None,
            allowed_kyc_attributes: None,
            kyc_languages: None,
        });
        let err = validate_policy(&s).unwrap_err();
        assert_eq!(
            paths(&err),
            vec!["spec.auth.authTokenType", "spec.auth.allowedAuthTypes", "spec.auth.allowedKycAttributes"]
        );
        for value in AUTH_TOKEN_TYPES {
            let mut s = spec(PolicyType::Auth);
            if let Some(a) = s.auth.as_mut() {
                a.auth_token_type = Some((*value).into());
            }
            assert_eq!(validate_policy(&s), Ok(()));
        }
    }

    #[test]
    fn data_share_schema_enums() {
        let mut s = spec(PolicyType::DataShare);
        let mut body = data_share_body();
        if let Some(p) = body.data_share_policies.as_mut() {
            p.type_of_share = Some("ftp".into());
            p.encryption_type = Some("AES".into());
        }
        s.data_share = Some(body);
        let err = validate_policy(&s).unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.dataShare.dataSharePolicies.typeOfShare: \"ftp\" is not one of \"Data Share\", \"direct\"; \
             spec.dataShare.dataSharePolicies.encryptionType: \"AES\" is not one of \"Partner Based\", \"none\""
        );
        for (share, enc) in [("direct", "none"), ("Data Share", "Partner Based")] {
            let mut body = data_share_body();
            if let Some(p) = body.data_share_policies.as_mut() {
                p.type_of_share = Some(share.into());
                p.encryption_type = Some(enc.into());
            }
            s.data_share = Some(body);
            assert_eq!(validate_policy(&s), Ok(()));
        }
    }

    #[test]
    fn data_share_schema_required_fields() {
        let mut s = spec(PolicyType::CredentialIssuance);
        s.data_share = Some(DataSharePolicy {
            data_share_policies: Some(DataShareSettings {
                type_of_share: None,
                valid_for_in_minutes: Some("thirty".into()),
                transactions_allowed: None,
                encryption_type: None,
                share_domain: Some(" ".into()),
                source: None,
                protocol: None,
            }),
            shareable_attributes: Some(vec![
                ShareableAttribute { attribute_name: None, source: None, encrypted: None, group: None, format: None },
                ShareableAttribute {
                    attribute_name: Some("fullName".into()),
                    source: Some(vec![AttributeSource { attribute: None, filter: None }]),
                    encrypted: Some(false),
                    group: None,
                    format: None,
                },
            ]),
        });
        let err = validate_policy(&s).unwrap_err();
        let base = "spec.dataShare.dataSharePolicies";
        assert_eq!(
            paths(&err),
            vec![
                format!("{base}.typeOfShare"),
                format!("{base}.validForInMinutes"),
                format!("{base}.transactionsAllowed"),
                format!("{base}.encryptionType"),
                format!("{base}.shareDomain"),
                format!("{base}.source"),
                "spec.dataShare.shareableAttributes[0].attributeName".into(),
                "spec.dataShare.shareableAttributes[0].source".into(),
                "spec.dataShare.shareableAttributes[0].encrypted".into(),
                "spec.dataShare.shareableAttributes[1].source[0].attribute".into(),
            ]
        );

        s.data_share = Some(DataSharePolicy { data_share_policies: None, shareable_attributes: None });
        assert_eq!(
            paths(&validate_policy(&s).unwrap_err()),
            vec!["spec.dataShare.dataSharePolicies", "spec.dataShare.shareableAttributes"]
        );
    }

    #[test]
    fn misp_schema() {
        let mut s = spec(PolicyType::Misp);
        s.misp = Some(MispPolicy {
            allow_auth_request_delegation: None,
            allow_kyc_request_delegation: Some(false),
            allow_key_binding_delegation: None,
            trust_binded_auth_verification_token: None,
            allow_vci_request_delegation: None,
        });
        let err = validate_policy(&s).unwrap_err();
        assert_eq!(err.reason(), "InvalidPolicy");
        assert_eq!(paths(&err), vec!["spec.misp.allowAuthRequestDelegation", "spec.misp.allowKeyBindingDelegation"]);
    }

    #[test]
    fn body_fields() {
        assert_eq!(body_field(PolicyType::Auth), "auth");
        assert_eq!(body_field(PolicyType::DataShare), "dataShare");
        assert_eq!(body_field(PolicyType::CredentialIssuance), "dataShare");
        assert_eq!(body_field(PolicyType::Misp), "misp");
    }
}
