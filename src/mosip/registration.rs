//! MOSIP's partner registration rules, applied to a Partner's spec.
//!
//! Source: PMS `PartnerServiceImpl.registerPartner` and the `pms.partner` table (field lengths),
//! plus the policy-request rules PMS applies when API keys are generated and biometric
//! extractors are stored (`partner_policy`, `partner_policy_bioextract`).

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;

use super::partner_type::PartnerTypeExt;
use crate::api::{BiometricExtractor, PartnerSpec, PartnerType, PolicyRequest};

/// Longest MOSIP partner id (`pmp.partner.partnerId.max.length`).
pub const PARTNER_ID_MAX_LEN: usize = 36;
/// Longest organisation name (`pms.partner.name`).
pub const ORGANIZATION_NAME_MAX_LEN: usize = 128;
/// Longest e-mail address (`pms.partner.email_id`).
pub const EMAIL_MAX_LEN: usize = 254;
/// Longest phone number (`pms.partner.contact_no`).
pub const PHONE_MAX_LEN: usize = 16;
/// Longest postal address (`pms.partner.address`).
pub const ADDRESS_MAX_LEN: usize = 2000;
/// Longest API key label (`partner_policy.label`).
pub const API_KEY_LABEL_MAX_LEN: usize = 36;
/// Longest biometric extractor version (`partner_policy_bioextract.extractor_provider_version`).
pub const EXTRACTOR_VERSION_MAX_LEN: usize = 8;
/// Longest extractor attribute name and provider (`partner_policy_bioextract`).
pub const EXTRACTOR_NAME_MAX_LEN: usize = 128;
/// Longest biometric subtype list (`partner_policy_bioextract.biometric_sub_types`).
pub const BIOMETRIC_SUBTYPES_MAX_LEN: usize = 64;

/// MOSIP's e-mail pattern `^[\w-\+]+(\.[\w]+)*@[\w-]+(\.[\w]+)*(\.[a-z]{2,})$`, translated from
/// Java: Java's `\w` is ASCII-only by default (Rust's is Unicode), `[\w-\+]` is `\w`, `-` or `+`,
/// and the top-level domain is lowercase only. Rust's `$` matches only at the very end, so a
/// trailing newline is rejected (Java would accept one before `$`).
static EMAIL_RE: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(r"^[A-Za-z0-9_+-]+(\.[A-Za-z0-9_]+)*@[A-Za-z0-9_-]+(\.[A-Za-z0-9_]+)*(\.[a-z]{2,})$")
        .expect("constant e-mail pattern compiles")
});

/// `face`, `iris` or `finger`, optionally followed by subtypes in brackets.
static BIOMETRIC_RE: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(r"^(face|iris|finger)(?:\[([^\[\]]*)\])?$").expect("constant biometric pattern compiles")
});

/// Whether `email` matches MOSIP's e-mail pattern (the length limit is checked separately).
pub fn is_valid_email(email: &str) -> bool {
    EMAIL_RE.is_match(email)
}

/// An API key label as MOSIP compares it: surrounding whitespace removed and every run of
/// whitespace inside replaced by one space.
pub fn normalize_label(label: &str) -> String {
    label.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One problem with a Partner's registration data. [`RegistrationError::reason`] gives the
/// condition reason; the message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    /// The partner id is empty.
    #[error("the partner id is empty; set spec.partnerId or give the Partner a metadata.name")]
    PartnerIdEmpty,
    /// The partner id contains whitespace.
    #[error("partnerId {partner_id:?} contains whitespace; MOSIP partner ids may not contain spaces")]
    PartnerIdWhitespace {
        /// The offending id.
        partner_id: String,
    },
    /// The partner id is too long.
    #[error(
        "partnerId {partner_id:?} is {len} characters long; MOSIP allows at most 36 (set a shorter spec.partnerId)"
    )]
    PartnerIdTooLong {
        /// The offending id.
        partner_id: String,
        /// Its length in characters.
        len: usize,
    },
    /// spec.organizationName is empty.
    #[error("spec.organizationName is empty; set it to the Subject O of the partner certificate")]
    OrganizationNameEmpty,
    /// spec.organizationName is too long.
    #[error("spec.organizationName is {len} characters long; MOSIP allows at most 128")]
    OrganizationNameTooLong {
        /// Its length in characters.
        len: usize,
    },
    /// spec.contact is absent.
    #[error("spec.contact is missing; MOSIP requires contact.email, contact.phone and contact.address")]
    ContactMissing,
    /// One contact field is absent or blank.
    #[error("spec.contact.{field} is missing or empty; MOSIP requires it")]
    ContactFieldMissing {
        /// `email`, `phone` or `address`.
        field: &'static str,
    },
    /// The e-mail address does not match MOSIP's pattern.
    #[error(
        "spec.contact.email {email:?} is not an address MOSIP accepts; use name@domain.tld with letters, digits, '_', '-', '+' and '.', and a lowercase top-level domain of at least 2 letters"
    )]
    EmailInvalid {
        /// The offending address.
        email: String,
    },
    /// The e-mail address is too long.
    #[error("spec.contact.email is {len} characters long; MOSIP allows at most 254")]
    EmailTooLong {
        /// Its length in characters.
        len: usize,
    },
    /// The phone number is too long.
    #[error("spec.contact.phone {phone:?} is {len} characters long; MOSIP allows at most 16")]
    PhoneTooLong {
        /// The offending number.
        phone: String,
        /// Its length in characters.
        len: usize,
    },
    /// The postal address is too long.
    #[error("spec.contact.address is {len} characters long; MOSIP allows at most 2000")]
    AddressTooLong {
        /// Its length in characters.
        len: usize,
    },
    /// The partner type needs a policy group and none is set.
    #[error(
        "spec.policyGroup is required for {} partners; set it to the group of the PartnerPolicies this partner will request",
        partner_type.as_str()
    )]
    PolicyGroupRequired {
        /// The partner's type.
        partner_type: PartnerType,
    },
    /// The partner type cannot request policies but spec.policies is not empty.
    #[error(
        "{} partners cannot request policies; remove spec.policies",
        partner_type.as_str()
    )]
    PoliciesNotAllowed {
        /// The partner's type.
        partner_type: PartnerType,
    },
    /// A policy request has no name.
    #[error("spec.policies[{index}].name is empty; set it to the name of a PartnerPolicy")]
    PolicyNameEmpty {
        /// Position of the request in spec.policies.
        index: usize,
    },
    /// The same policy is requested twice.
    #[error("policy {name:?} is requested more than once in spec.policies; merge the entries into one")]
    DuplicatePolicy {
        /// The duplicated policy name.
        name: String,
    },
    /// An API key label is empty.
    #[error(
        "spec.policies[{index}].apiKeys[{key_index}].label (policy {policy:?}) is empty; give every API key a label"
    )]
    ApiKeyLabelEmpty {
        /// The policy requested.
        policy: String,
        /// Position of the request in spec.policies.
        index: usize,
        /// Position of the key in apiKeys.
        key_index: usize,
    },
    /// An API key label is too long.
    #[error("API key label {label:?} of policy {policy:?} is {len} characters long; MOSIP allows at most 36")]
    ApiKeyLabelTooLong {
        /// The policy requested.
        policy: String,
        /// The label, whitespace-normalised.
        label: String,
        /// Its length in characters.
        len: usize,
    },
    /// Two API keys of one request have the same label (after whitespace normalisation).
    #[error(
        "API key label {label:?} appears more than once for policy {policy:?} (labels are compared with surrounding whitespace removed and inner whitespace collapsed); make the labels unique"
    )]
    DuplicateApiKeyLabel {
        /// The policy requested.
        policy: String,
        /// The label, whitespace-normalised.
        label: String,
    },
    /// A biometric extractor field is empty or too long.
    #[error("spec.policies[{index}].biometricExtractors[{extractor_index}].{field} (policy {policy:?}): {problem}")]
    ExtractorFieldInvalid {
        /// The policy requested.
        policy: String,
        /// Position of the request in spec.policies.
        index: usize,
        /// Position of the extractor in biometricExtractors.
        extractor_index: usize,
        /// `attributeName`, `provider` or `version`.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// A biometric extractor's `biometric` is not face, iris or finger (with optional subtypes).
    #[error(
        "biometric {biometric:?} of extractor {attribute:?} (policy {policy:?}) is not valid; use face, iris or finger, optionally with subtypes such as finger[Left Thumb,Right Thumb]{detail}"
    )]
    ExtractorBiometricInvalid {
        /// The policy requested.
        policy: String,
        /// The extractor's attributeName.
        attribute: String,
        /// The offending value.
        biometric: String,
        /// Extra explanation, starting with "; " when present.
        detail: String,
    },
    /// Two extractors of one request are for the same attribute.
    #[error(
        "biometric extractor attributeName {attribute:?} appears more than once for policy {policy:?}; MOSIP keeps one extractor per attribute"
    )]
    DuplicateExtractorAttribute {
        /// The policy requested.
        policy: String,
        /// The duplicated attribute name.
        attribute: String,
    },
}

impl RegistrationError {
    /// The condition reason: `InvalidPartnerId`, `InvalidOrganizationName`, `InvalidContact`,
    /// `PolicyGroupRequired` or `InvalidPolicyRequest`.
    pub fn reason(&self) -> &'static str {
        use RegistrationError::*;
        match self {
            PartnerIdEmpty | PartnerIdWhitespace { .. } | PartnerIdTooLong { .. } => "InvalidPartnerId",
            OrganizationNameEmpty | OrganizationNameTooLong { .. } => "InvalidOrganizationName",
            ContactMissing
            | ContactFieldMissing { .. }
            | EmailInvalid { .. }
            | EmailTooLong { .. }
            | PhoneTooLong { .. }
            | AddressTooLong { .. } => "InvalidContact",
            PolicyGroupRequired { .. } => "PolicyGroupRequired",
            PoliciesNotAllowed { .. }
            | PolicyNameEmpty { .. }
            | DuplicatePolicy { .. }
            | ApiKeyLabelEmpty { .. }
            | ApiKeyLabelTooLong { .. }
            | DuplicateApiKeyLabel { .. }
            | ExtractorFieldInvalid { .. }
            | ExtractorBiometricInvalid { .. }
            | DuplicateExtractorAttribute { .. } => "InvalidPolicyRequest",
        }
    }
}

/// Condenses [`validate_registration`]'s result into one condition: the reason of the first
/// problem and a message listing every problem, separated by "; ". `None` when there are none.
pub fn registration_summary(errors: &[RegistrationError]) -> Option<(&'static str, String)> {
    let first = errors.first()?;
    let message = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
    Some((first.reason(), message))
}

/// Checks a Partner against MOSIP's registration rules and returns every problem found (empty
/// when the registration is valid). `partner_id` is the effective MOSIP partner id
/// (spec.partnerId, or metadata.name when absent).
///
/// Checked, in this order:
/// - the partner id: not empty, no whitespace, at most 36 characters;
/// - spec.organizationName: not blank, at most 128 characters;
/// - spec.contact: email (MOSIP's pattern, at most 254), phone (at most 16) and address (at most
///   2000) all present and not blank;
/// - spec.policyGroup: present when the partner type requires a policy group;
/// - spec.policies: allowed for the type at all; names present and unique; API key labels
///   present, at most 36 characters and unique per request after whitespace normalisation;
///   biometric extractors well-formed and unique per attributeName.
///
/// Rules that need other objects (does the policy exist, is it of an allowed type, are the
/// credential types allowed) are in [`super::validate_request`].
pub fn validate_registration(spec: &PartnerSpec, partner_id: &str) -> Vec<RegistrationError> {
    let mut errors = Vec::new();
    check_partner_id(partner_id, &mut errors);
    check_organization(&spec.organization_name, &mut errors);
    check_contact(spec, &mut errors);
    if spec.partner_type.policy_required() && is_blank(spec.policy_group.as_deref()) {
        errors.push(RegistrationError::PolicyGroupRequired { partner_type: spec.partner_type });
    }
    check_policy_requests(spec.partner_type, &spec.policies, &mut errors);
    errors
}

fn is_blank(s: Option<&str>) -> bool {
    s.is_none_or(|s| s.trim().is_empty())
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

fn check_partner_id(partner_id: &str, errors: &mut Vec<RegistrationError>) {
    if partner_id.is_empty() {
        errors.push(RegistrationError::PartnerIdEmpty);
        return;
    }
    if partner_id.chars().any(char::is_whitespace) {
        errors.push(RegistrationError::PartnerIdWhitespace { partner_id: partner_id.to_string() });
    }
    let len = char_len(partner_id);
    if len > PARTNER_ID_MAX_LEN {
        errors.push(RegistrationError::PartnerIdTooLong { partner_id: partner_id.to_string(), len });
    }
}

fn check_organization(name: &str, errors: &mut Vec<RegistrationError>) {
    if name.trim().is_empty() {
        errors.push(RegistrationError::OrganizationNameEmpty);
        return;
    }
    let len = char_len(name);
    if len > ORGANIZATION_NAME_MAX_LEN {
        errors.push(RegistrationError::OrganizationNameTooLong { len });
    }
}

fn check_contact(spec: &PartnerSpec, errors: &mut Vec<RegistrationError>) {
    let Some(contact) = &spec.contact else {
        errors.push(RegistrationError::ContactMissing);
        return;
    };

    match contact.email.as_deref() {
        Some(email) if !email.trim().is_empty() => {
            let len = char_len(email);
            if len > EMAIL_MAX_LEN {
                errors.push(RegistrationError::EmailTooLong { len });
            } else if !is_valid_email(email) {
                errors.push(RegistrationError::EmailInvalid { email: email.to_string() });
            }
        }
        _ => errors.push(RegistrationError::ContactFieldMissing { field: "email" }),
    }

    match contact.phone.as_deref() {
        Some(phone) if !phone.trim().is_empty() => {
            let len = char_len(phone);
            if len > PHONE_MAX_LEN {
                errors.push(RegistrationError::PhoneTooLong { phone: phone.to_string(), len });
            }
        }
        _ => errors.push(RegistrationError::ContactFieldMissing { field: "phone" }),
    }

    match contact.address.as_deref() {
        Some(address) if !address.trim().is_empty() => {
            let len = char_len(address);
            if len > ADDRESS_MAX_LEN {
                errors.push(RegistrationError::AddressTooLong { len });
            }
        }
        _ => errors.push(RegistrationError::ContactFieldMissing { field: "address" }),
    }
}

fn check_policy_requests(partner_type: PartnerType, requests: &[PolicyRequest], errors: &mut Vec<RegistrationError>) {
    if !requests.is_empty() && partner_type.allowed_policy_types().is_empty() {
        errors.push(RegistrationError::PoliciesNotAllowed { partner_type });
    }

    let mut name_counts: HashMap<&str, usize> = HashMap::new();
    for request in requests {
        *name_counts.entry(request.name.as_str()).or_default() += 1;
    }
    let mut reported_names = HashSet::new();

    for (index, request) in requests.iter().enumerate() {
        if request.name.trim().is_empty() {
            errors.push(RegistrationError::PolicyNameEmpty { index });
        } else if name_counts.get(request.name.as_str()).copied().unwrap_or(0) > 1
            && reported_names.insert(request.name.as_str())
        {
            errors.push(RegistrationError::DuplicatePolicy { name: request.name.clone() });
        }
        check_api_keys(index, request, errors);
        check_extractors(index, request, errors);
    }
}

fn check_api_keys(index: usize, request: &PolicyRequest, errors: &mut Vec<RegistrationError>) {
    let policy = &request.name;
    let mut seen = HashSet::new();
    let mut reported = HashSet::new();
    for (key_index, key) in request.api_keys.iter().enumerate() {
        let label = normalize_label(&key.label);
        if label.is_empty() {
            errors.push(RegistrationError::ApiKeyLabelEmpty { policy: policy.clone(), index, key_index });
            continue;
        }
        let len = char_len(&label);
        if len > API_KEY_LABEL_MAX_LEN {
            errors.push(RegistrationError::ApiKeyLabelTooLong { policy: policy.clone(), label: label.clone(), len });
        }
        if !seen.insert(label.clone()) && reported.insert(label.clone()) {
            errors.push(RegistrationError::DuplicateApiKeyLabel { policy: policy.clone(), label });
        }
    }
}

fn check_extractors(index: usize, request: &PolicyRequest, errors: &mut Vec<RegistrationError>) {
    let policy = &request.name;
    let mut seen = HashSet::new();
    let mut reported = HashSet::new();
    for (extractor_index, extractor) in request.biometric_extractors.iter().enumerate() {
        let field_error = |field: &'static str, problem: String| RegistrationError::ExtractorFieldInvalid {
            policy: policy.clone(),
            index,
            extractor_index,
            field,
            problem,
        };
        let fields = [
            ("attributeName", extractor.attribute_name.as_str(), EXTRACTOR_NAME_MAX_LEN),
            ("provider", extractor.provider.as_str(), EXTRACTOR_NAME_MAX_LEN),
            ("version", extractor.version.as_str(), EXTRACTOR_VERSION_MAX_LEN),
        ];
        for (field, value, max) in fields {
            if let Some(problem) = check_extractor_field(value, max) {
                errors.push(field_error(field, problem));
            }
        }

        if let Some(detail) = check_biometric(&extractor.biometric) {
            errors.push(biometric_error(policy, extractor, detail));
        }

        let attribute = extractor.attribute_name.as_str();
        if !attribute.trim().is_empty() && !seen.insert(attribute) && reported.insert(attribute) {
            errors.push(RegistrationError::DuplicateExtractorAttribute {
                policy: policy.clone(),
                attribute: attribute.to_string(),
            });
        }
    }
}

fn biometric_error(policy: &str, extractor: &BiometricExtractor, detail: String) -> RegistrationError {
    RegistrationError::ExtractorBiometricInvalid {
        policy: policy.to_string(),
        attribute: extractor.attribute_name.clone(),
        biometric: extractor.biometric.clone(),
        detail,
    }
}

/// `Some(problem)` when the field is blank or longer than `max` characters.
fn check_extractor_field(value: &str, max: usize) -> Option<String> {
    if value.trim().is_empty() {
        return Some("is empty; MOSIP requires it".to_string());
    }
    let len = char_len(value);
    (len > max).then(|| format!("{value:?} is {len} characters long; MOSIP allows at most {max}"))
}

/// `None` when `biometric` is valid, otherwise extra detail for the message ("" or "; ...").
fn check_biometric(biometric: &str) -> Option<String> {
    let Some(captures) = BIOMETRIC_RE.captures(biometric) else {
        return Some(String::new());
    };
    // No brackets: a plain modality, valid.
    let subtypes = captures.get(2)?.as_str();
    if subtypes.split(',').any(|s| s.trim().is_empty()) {
        return Some("; a subtype in the brackets is empty".to_string());
    }
    let len = char_len(subtypes);
    (len > BIOMETRIC_SUBTYPES_MAX_LEN)
        .then(|| format!("; the subtype list is {len} characters long and MOSIP stores at most 64"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ApiKeyRequest, Contact};

    fn contact() -> Contact {
        Contact {
            email: Some("ops@example.org".into()),
            phone: Some("+91 80 1234 5678".into()),
            address: Some("1 Main Street, Bengaluru".into()),
        }
    }

    fn spec(partner_type: PartnerType) -> PartnerSpec {
        PartnerSpec {
            partner_id: None,
            partner_type,
            organization_name: "IITB".into(),
            contact: Some(contact()),
            policy_group: Some("mpolicygroup-default-auth".into()),
            certificate: None,
            policies: vec![],
            active: None,
        }
    }

    fn request(name: &str) -> PolicyRequest {
        PolicyRequest {
            name: name.into(),
            use_case: None,
            credential_types: vec![],
            biometric_extractors: vec![],
            api_keys: vec![],
        }
    }

    fn extractor(attribute: &str, biometric: &str, version: &str) -> BiometricExtractor {
        BiometricExtractor {
            attribute_name: attribute.into(),
            biometric: biometric.into(),
            provider: "mock".into(),
            version: version.into(),
        }
    }

    fn key(label: &str) -> ApiKeyRequest {
        ApiKeyRequest { label: label.into(), exports: vec![] }
    }

    fn reasons(errors: &[RegistrationError]) -> Vec<&'static str> {
        errors.iter().map(RegistrationError::reason).collect()
    }

    #[test]
    fn valid_registration_has_no_errors() {
        let mut s = spec(PartnerType::AuthPartner);
        let mut r = request("mpolicy-default-auth");
        r.api_keys = vec![key("default"), key("second")];
        s.policies = vec![r];
        assert_eq!(validate_registration(&s, "mpartner-default-auth"), vec![]);
    }

    #[test]
    fn partner_id_boundaries() {
        let s = spec(PartnerType::AuthPartner);
        assert!(validate_registration(&s, &"a".repeat(36)).is_empty());
        let errors = validate_registration(&s, &"a".repeat(37));
        assert!(matches!(errors.as_slice(), [RegistrationError::PartnerIdTooLong { len: 37, .. }]));
        assert_eq!(reasons(&errors), vec!["InvalidPartnerId"]);
        // Characters, not bytes.
        assert!(validate_registration(&s, &"é".repeat(36)).is_empty());
    }

    #[test]
    fn partner_id_empty_and_whitespace() {
        let s = spec(PartnerType::AuthPartner);
        assert_eq!(validate_registration(&s, ""), vec![RegistrationError::PartnerIdEmpty]);
        let errors = validate_registration(&s, "x y");
        assert_eq!(errors, vec![RegistrationError::PartnerIdWhitespace { partner_id: "x y".into() }]);
        assert_eq!(
            errors[0].to_string(),
            "partnerId \"x y\" contains whitespace; MOSIP partner ids may not contain spaces"
        );
        assert_eq!(validate_registration(&s, "x\ty").len(), 1);
        // Both problems at once.
        let long_spaced = format!("{} b", "a".repeat(40));
        assert_eq!(reasons(&validate_registration(&s, &long_spaced)), vec!["InvalidPartnerId"; 2]);
    }

    #[test]
    fn organization_name() {
        let mut s = spec(PartnerType::AuthPartner);
        s.organization_name = "o".repeat(128);
        assert!(validate_registration(&s, "p").is_empty());
        s.organization_name = "o".repeat(129);
        assert_eq!(validate_registration(&s, "p"), vec![RegistrationError::OrganizationNameTooLong { len: 129 }]);
        s.organization_name = String::new();
        assert_eq!(validate_registration(&s, "p"), vec![RegistrationError::OrganizationNameEmpty]);
        s.organization_name = "   ".into();
        assert_eq!(reasons(&validate_registration(&s, "p")), vec!["InvalidOrganizationName"]);
    }

    #[test]
    fn contact_missing() {
        let mut s = spec(PartnerType::AuthPartner);
        s.contact = None;
        assert_eq!(validate_registration(&s, "p"), vec![RegistrationError::ContactMissing]);
        s.contact = Some(Contact { email: None, phone: Some(" ".into()), address: Some(String::new()) });
        assert_eq!(
            validate_registration(&s, "p"),
            vec![
                RegistrationError::ContactFieldMissing { field: "email" },
                RegistrationError::ContactFieldMissing { field: "phone" },
                RegistrationError::ContactFieldMissing { field: "address" },
            ]
        );
    }

    #[test]
    fn email_pattern() {
        for ok in [
            "a@b.co",
            "first.last@example.org",
            "first-last+tag@sub.example.org",
            "under_score@my-domain.in",
            "x1@a.b.c.museum",
            "UPPER@EXAMPLE.com",
        ] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "@example.org",
            "a@",
            "a@example",
            "a@example.c",
            "a@example.COM",
            "a..b@example.org",
            ".a@example.org",
            "a.@example.org",
            "a@.example.org",
            "a@example..org",
            "a b@example.org",
            "a@exa mple.org",
            "a@example.org\n",
            "ü@example.org",
            "a@exämple.org",
            "a@b@example.org",
            "a@example.org.",
        ] {
            assert!(!is_valid_email(bad), "{bad:?}");
        }
    }

    #[test]
    fn email_errors_and_length() {
        let mut s = spec(PartnerType::AuthPartner);
        let mut c = contact();
        c.email = Some("not-an-email".into());
        s.contact = Some(c.clone());
        let errors = validate_registration(&s, "p");
        assert_eq!(errors, vec![RegistrationError::EmailInvalid { email: "not-an-email".into() }]);
        assert_eq!(errors[0].reason(), "InvalidContact");

        // 254 characters is fine, 255 is not.
        let domain = "@example.org";
        c.email = Some(format!("{}{domain}", "a".repeat(254 - domain.len())));
        s.contact = Some(c.clone());
        assert!(validate_registration(&s, "p").is_empty());
        c.email = Some(format!("{}{domain}", "a".repeat(255 - domain.len())));
        s.contact = Some(c);
        assert_eq!(validate_registration(&s, "p"), vec![RegistrationError::EmailTooLong { len: 255 }]);
    }

    #[test]
    fn phone_and_address_lengths() {
        let mut s = spec(PartnerType::AuthPartner);
        let mut c = contact();
        c.phone = Some("1".repeat(16));
        c.address = Some("a".repeat(2000));
        s.contact = Some(c.clone());
        assert!(validate_registration(&s, "p").is_empty());
        c.phone = Some("1".repeat(17));
        c.address = Some("a".repeat(2001));
        s.contact = Some(c);
        let errors = validate_registration(&s, "p");
        assert!(matches!(
            errors.as_slice(),
            [RegistrationError::PhoneTooLong { len: 17, .. }, RegistrationError::AddressTooLong { len: 2001 }]
        ));
        assert_eq!(reasons(&errors), vec!["InvalidContact"; 2]);
    }

    #[test]
    fn policy_group_required_by_type() {
        for t in super::super::partner_type::ALL_PARTNER_TYPES {
            let mut s = spec(t);
            s.policy_group = None;
            let errors = validate_registration(&s, "p");
            if t.policy_required() {
                assert_eq!(errors, vec![RegistrationError::PolicyGroupRequired { partner_type: t }], "{t:?}");
                assert_eq!(errors[0].reason(), "PolicyGroupRequired");
            } else {
                assert!(errors.is_empty(), "{t:?}: {errors:?}");
            }
            s.policy_group = Some("  ".into());
            assert_eq!(validate_registration(&s, "p").len(), usize::from(t.policy_required()), "{t:?}");
        }
        let mut s = spec(PartnerType::CredentialPartner);
        s.policy_group = None;
        assert!(validate_registration(&s, "p")[0].to_string().contains("Credential_Partner"));
    }

    #[test]
    fn policies_not_allowed_for_device_ftm_sdk() {
        for t in [PartnerType::DeviceProvider, PartnerType::FtmProvider, PartnerType::SdkPartner] {
            let mut s = spec(t);
            s.policies = vec![request("x")];
            let errors = validate_registration(&s, "p");
            assert_eq!(errors, vec![RegistrationError::PoliciesNotAllowed { partner_type: t }]);
            assert_eq!(errors[0].reason(), "InvalidPolicyRequest");
        }
        let mut s = spec(PartnerType::MispPartner);
        s.policies = vec![request("misp")];
        assert!(validate_registration(&s, "p").is_empty());
    }

    #[test]
    fn duplicate_and_empty_policy_names() {
        let mut s = spec(PartnerType::AuthPartner);
        s.policies = vec![request("a"), request("b"), request("a"), request("a"), request(" ")];
        assert_eq!(
            validate_registration(&s, "p"),
            vec![
                RegistrationError::DuplicatePolicy { name: "a".into() },
                RegistrationError::PolicyNameEmpty { index: 4 }
            ]
        );
    }

    #[test]
    fn api_key_labels() {
        let mut s = spec(PartnerType::AuthPartner);
        let mut r = request("pol");
        r.api_keys =
            vec![key("Key A"), key("  Key \t A "), key(""), key(&"l".repeat(36)), key(&"l".repeat(37)), key("key a")];
        s.policies = vec![r];
        let errors = validate_registration(&s, "p");
        assert_eq!(
            errors,
            vec![
                RegistrationError::DuplicateApiKeyLabel { policy: "pol".into(), label: "Key A".into() },
                RegistrationError::ApiKeyLabelEmpty { policy: "pol".into(), index: 0, key_index: 2 },
                RegistrationError::ApiKeyLabelTooLong { policy: "pol".into(), label: "l".repeat(37), len: 37 },
            ]
        );
        assert!(errors.iter().all(|e| e.reason() == "InvalidPolicyRequest"));
        // Labels are per request: the same label under two policies is fine.
        let mut a = request("a");
        a.api_keys = vec![key("default")];
        let mut b = request("b");
        b.api_keys = vec![key("default")];
        s.policies = vec![a, b];
        assert!(validate_registration(&s, "p").is_empty());
    }

    #[test]
    fn label_normalisation() {
        assert_eq!(normalize_label("  a \t b\n c "), "a b c");
        assert_eq!(normalize_label(" \t "), "");
        // 36 characters after normalisation is fine even if the raw label is longer.
        let mut s = spec(PartnerType::AuthPartner);
        let mut r = request("pol");
        r.api_keys = vec![key(&format!("   {}   ", "l".repeat(36)))];
        s.policies = vec![r];
        assert!(validate_registration(&s, "p").is_empty());
    }

    #[test]
    fn biometric_extractors_valid() {
        let mut s = spec(PartnerType::CredentialPartner);
        let mut r = request("pol");
        r.biometric_extractors = vec![
            extractor("photo", "face", "1.1"),
            extractor("irisAttr", "iris", "12345678"),
            extractor("fingers", "finger[Left Thumb,Right Thumb]", "3.2"),
            extractor("iris2", "iris[Left]", "1"),
        ];
        s.policies = vec![r];
        assert_eq!(validate_registration(&s, "p"), vec![]);
    }

    #[test]
    fn biometric_extractors_invalid() {
        let mut s = spec(PartnerType::CredentialPartner);
        let mut r = request("pol");
        r.biometric_extractors = vec![
            extractor("a", "palm", "1.1"),
            extractor("b", "Face", "1.1"),
            extractor("c", "finger[]", "1.1"),
            extractor("d", "finger[Left Thumb,]", "1.1"),
            extractor("e", "finger[Left Thumb", "1.1"),
            extractor("f", "face", "123456789"),
            extractor("a", "face", "1.1"),
            extractor("g", &format!("finger[{}]", "x".repeat(65)), "1"),
            extractor("", "face", ""),
        ];
        s.policies = vec![r];
        let errors = validate_registration(&s, "p");
        let kinds: Vec<String> = errors
            .iter()
            .map(|e| match e {
                RegistrationError::ExtractorBiometricInvalid { attribute, .. } => {
                    format!("bio:{attribute}")
                }
                RegistrationError::ExtractorFieldInvalid { field, extractor_index, .. } => {
                    format!("field:{extractor_index}:{field}")
                }
                RegistrationError::DuplicateExtractorAttribute { attribute, .. } => {
                    format!("dup:{attribute}")
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                "bio:a",
                "bio:b",
                "bio:c",
                "bio:d",
                "bio:e",
                "field:5:version",
                "dup:a",
                "bio:g",
                "field:8:attributeName",
                "field:8:version",
            ]
        );
        assert!(errors.iter().all(|e| e.reason() == "InvalidPolicyRequest"));
        let version_msg = errors[5].to_string();
        assert!(version_msg.contains("biometricExtractors[5].version"), "{version_msg}");
        assert!(version_msg.contains("at most 8"), "{version_msg}");
    }

    #[test]
    fn collects_all_problems() {
        let mut s = spec(PartnerType::OnlineVerificationPartner);
        s.organization_name = String::new();
        s.contact = None;
        s.policy_group = None;
        let errors = validate_registration(&s, "bad id");
        assert_eq!(
            reasons(&errors),
            vec!["InvalidPartnerId", "InvalidOrganizationName", "InvalidContact", "PolicyGroupRequired"]
        );
        let (reason, message) = registration_summary(&errors).unwrap();
        assert_eq!(reason, "InvalidPartnerId");
        for e in &errors {
            assert!(message.contains(&e.to_string()), "{message}");
        }
        assert!(registration_summary(&[]).is_none());
    }
}
