//! MOSIP's rules for a partner's request for one policy, and the hash that ties an approval to
//! exactly what was approved.
//!
//! Source: PMS `requestForPolicyMapping`, `approveRejectPartnerPolicyMapping` and the
//! credential-type mapping endpoint, with `pmp.allowed.credential.types`,
//! `policy.credential.type.mapping.allowed.partner.types` and
//! `pmp.bioextractors.required.partner.types`.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::partner_type::PartnerTypeExt;
use crate::api::{PartnerPolicySpec, PartnerType, PolicyRequest, PolicyType};

/// The credential types MOSIP allows by default (`pmp.allowed.credential.types`). Operators
/// may allow more; those are passed to [`validate_request`] as `extra_credential_types`.
pub const DEFAULT_CREDENTIAL_TYPES: &[&str] = &["auth", "qrcode", "euin", "reprint", "vercred", "opencrvs"];

/// What [`validate_request`] needs to know about the requested PartnerPolicy. The controller
/// builds it from the PartnerPolicy object and its Ready condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyView {
    /// The PartnerPolicy's name.
    pub name: String,
    /// Its policy group (spec.group).
    pub group: String,
    /// Its policy type (spec.type).
    pub policy_type: PolicyType,
    /// Whether its Ready condition is True.
    pub ready: bool,
}

/// Why a policy request cannot proceed. [`RequestError::reason`] gives the condition reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No PartnerPolicy has the requested name.
    #[error("PartnerPolicy {name:?} does not exist; create it or fix the name in spec.policies")]
    PolicyNotFound {
        /// The requested name.
        name: String,
    },
    /// The PartnerPolicy is not Ready (it is invalid or not yet checked).
    #[error("PartnerPolicy {name:?} is not Ready; see its status conditions (kubectl describe partnerpolicy {name})")]
    PolicyNotReady {
        /// The requested name.
        name: String,
    },
    /// The PartnerPolicy belongs to another policy group than the partner.
    #[error(
        "PartnerPolicy {name:?} belongs to policy group {policy_group:?} but this partner's spec.policyGroup is {}; request a policy of the partner's group or change spec.policyGroup",
        partner_group.as_deref().map_or_else(|| "not set".to_string(), |g| format!("{g:?}"))
    )]
    PolicyGroupMismatch {
        /// The requested name.
        name: String,
        /// The policy's group.
        policy_group: String,
        /// The partner's group, if any.
        partner_group: Option<String>,
    },
    /// The partner type may not use policies of this type.
    #[error(
        "PartnerPolicy {name:?} is of type {policy_type} but {} partners may only request {}",
        partner_type.as_str(),
        describe_types(partner_type.allowed_policy_types())
    )]
    PolicyTypeNotAllowed {
        /// The requested name.
        name: String,
        /// The policy's type.
        policy_type: PolicyType,
        /// The partner's type.
        partner_type: PartnerType,
    },
    /// A credential type is not in the allowed list.
    #[error("credential type {credential_type:?} (policy {name:?}) is not allowed; use one of {}", allowed.join(", "))]
    CredentialTypeNotAllowed {
        /// The requested policy name.
        name: String,
        /// The offending credential type.
        credential_type: String,
        /// The credential types that are allowed.
        allowed: Vec<String>,
    },
    /// The partner type may not map credential types at all.
    #[error(
        "{} partners cannot map credential types (policy {name:?}); remove credentialTypes (only Credential_Partner, Online_Verification_Partner and Auth_Partner may map them)",
        partner_type.as_str()
    )]
    CredentialMappingNotAllowed {
        /// The requested policy name.
        name: String,
        /// The partner's type.
        partner_type: PartnerType,
    },
    /// The partner type needs biometric extractors before approval and the request has none.
    #[error(
        "{} partners need at least one biometric extractor before policy {name:?} can be approved; add biometricExtractors to the request",
        partner_type.as_str()
    )]
    BiometricExtractorsRequired {
        /// The requested policy name.
        name: String,
        /// The partner's type.
        partner_type: PartnerType,
    },
}

impl RequestError {
    /// The condition reason: `PolicyNotFound`, `PolicyNotReady`, `PolicyGroupMismatch`,
    /// `PolicyTypeNotAllowed`, `CredentialTypeNotAllowed` (also for a partner type that may not
    /// map credential types) or `BiometricExtractorsRequired`.
    pub fn reason(&self) -> &'static str {
        match self {
            RequestError::PolicyNotFound { .. } => "PolicyNotFound",
            RequestError::PolicyNotReady { .. } => "PolicyNotReady",
            RequestError::PolicyGroupMismatch { .. } => "PolicyGroupMismatch",
            RequestError::PolicyTypeNotAllowed { .. } => "PolicyTypeNotAllowed",
            RequestError::CredentialTypeNotAllowed { .. } | RequestError::CredentialMappingNotAllowed { .. } => {
                "CredentialTypeNotAllowed"
            }
            RequestError::BiometricExtractorsRequired { .. } => "BiometricExtractorsRequired",
        }
    }
}

fn describe_types(types: &[PolicyType]) -> String {
    if types.is_empty() {
        "no policies".to_string()
    } else {
        let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
        format!("{} policies", names.join(" or "))
    }
}

/// Checks one policy request of a partner against the requested policy.
///
/// `policy` is `None` when no PartnerPolicy of that name exists. `extra_credential_types` are
/// credential types the operator allows in addition to [`DEFAULT_CREDENTIAL_TYPES`].
///
/// Returns the first problem, checked in this order: the policy exists, it is in the partner's
/// policy group, its type is allowed for the partner type, the credential types are allowed,
/// biometric extractors are present where required, and finally the policy is Ready. Problems
/// the partner's owner must fix come before a policy that is merely not Ready yet.
///
/// Structural checks of the request itself (labels, extractor format) are in
/// [`super::validate_registration`].
pub fn validate_request(
    partner_type: PartnerType,
    policy_group: Option<&str>,
    request: &PolicyRequest,
    policy: Option<&PolicyView>,
    extra_credential_types: &[String],
) -> Result<(), RequestError> {
    let name = &request.name;
    let Some(policy) = policy else {
        return Err(RequestError::PolicyNotFound { name: name.clone() });
    };

    if policy_group != Some(policy.group.as_str()) {
        return Err(RequestError::PolicyGroupMismatch {
            name: name.clone(),
            policy_group: policy.group.clone(),
            partner_group: policy_group.map(str::to_string),
        });
    }

    if !partner_type.allowed_policy_types().contains(&policy.policy_type) {
        return Err(RequestError::PolicyTypeNotAllowed {
            name: name.clone(),
            policy_type: policy.policy_type,
            partner_type,
        });
    }

    if !request.credential_types.is_empty() {
        if !partner_type.may_map_credential_types() {
            return Err(RequestError::CredentialMappingNotAllowed { name: name.clone(), partner_type });
        }
        let allowed = |t: &str| DEFAULT_CREDENTIAL_TYPES.contains(&t) || extra_credential_types.iter().any(|e| e == t);
        if let Some(bad) = request.credential_types.iter().find(|t| !allowed(t)) {
            let mut list: Vec<String> = DEFAULT_CREDENTIAL_TYPES.iter().map(|t| t.to_string()).collect();
            for extra in extra_credential_types {
                if !list.contains(extra) {
                    list.push(extra.clone());
                }
            }
            return Err(RequestError::CredentialTypeNotAllowed {
                name: name.clone(),
                credential_type: bad.clone(),
                allowed: list,
            });
        }
    }

    if partner_type.requires_biometric_extractors() && request.biometric_extractors.is_empty() {
        return Err(RequestError::BiometricExtractorsRequired { name: name.clone(), partner_type });
    }

    if !policy.ready {
        return Err(RequestError::PolicyNotReady { name: name.clone() });
    }
    Ok(())
}

/// A fingerprint of what an approver approves: 32 lowercase hex characters (the first 128 bits
/// of a SHA-256) over a canonical JSON document of
/// - the PartnerPolicy's uid (a deleted and re-created policy needs a new approval),
/// - its type, group and body (`auth`, `dataShare`, `misp`),
/// - the request's useCase, credentialTypes (as a sorted set) and biometricExtractors (sorted).
///
/// Deliberately excluded, so changing them does not ask for re-approval: the request's apiKeys
/// (adding a key label), and the policy's description, version and approval mode.
///
/// The result is stable across runs, platforms and releases of this operator (the document
/// carries a format version, changed only on purpose).
pub fn request_hash(policy_uid: &str, policy: &PartnerPolicySpec, request: &PolicyRequest) -> String {
    hash_request(None, policy_uid, policy, request)
}

/// [`request_hash`] that also binds the partnerId the request is made for (format version 2),
/// so that an approval can never follow a request to another partner id (#10 finding 2).
pub fn partner_request_hash(
    partner_id: &str,
    policy_uid: &str,
    policy: &PartnerPolicySpec,
    request: &PolicyRequest,
) -> String {
    hash_request(Some(partner_id), policy_uid, policy, request)
}

fn hash_request(
    partner_id: Option<&str>,
    policy_uid: &str,
    policy: &PartnerPolicySpec,
    request: &PolicyRequest,
) -> String {
    let mut credential_types: Vec<&str> = request.credential_types.iter().map(String::as_str).collect();
    credential_types.sort_unstable();
    credential_types.dedup();

    let mut extractors: Vec<Value> = request
        .biometric_extractors
        .iter()
        .map(|e| {
            json!({
                "attributeName": e.attribute_name,
                "biometric": e.biometric,
                "provider": e.provider,
                "version": e.version,
            })
        })
        .collect();
    extractors.sort_by_cached_key(|v| {
        let mut key = String::new();
        write_canonical(v, &mut key);
        key
    });

    let mut document = json!({
        "v": 1,
        "policy": {
            "uid": policy_uid,
            "type": policy.policy_type.as_str(),
            "group": policy.group,
            "auth": to_value(&policy.auth),
            "dataShare": to_value(&policy.data_share),
            "misp": to_value(&policy.misp),
        },
        "request": {
            "useCase": request.use_case,
            "credentialTypes": credential_types,
            "biometricExtractors": extractors,
        },
    });

    if let (Some(id), Some(map)) = (partner_id, document.as_object_mut()) {
        map.insert("v".into(), json!(2));
        map.insert("partnerId".into(), json!(id));
    }
    let mut canonical = String::new();
    write_canonical(&document, &mut canonical);
    let digest = Sha256::digest(canonical.as_bytes());
    let mut hex = hex::encode(digest);
    hex.truncate(32);
    hex
}

/// Serialises a policy body. The API types are plain structs of strings, booleans and lists, so
/// serialisation cannot fail; should it ever, the body is hashed as a marker string rather
/// than silently as absent.
fn to_value<T: serde::Serialize>(value: &Option<T>) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| Value::String(format!("unserialisable: {e}")))
}

/// JSON with object keys sorted at every level and no whitespace, so the text depends only on
/// the data (not on struct field order or serde_json's map implementation).
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ApiKeyRequest, ApprovalMode, AuthPolicy, BiometricExtractor};

    fn view(policy_type: PolicyType) -> PolicyView {
        PolicyView { name: "pol".into(), group: "grp".into(), policy_type, ready: true }
    }

    fn request() -> PolicyRequest {
        PolicyRequest {
            name: "pol".into(),
            use_case: Some("authenticate residents".into()),
            credential_types: vec![],
            biometric_extractors: vec![],
            api_keys: vec![],
        }
    }

    fn extractor(attribute: &str) -> BiometricExtractor {
        BiometricExtractor {
            attribute_name: attribute.into(),
            biometric: "face".into(),
            provider: "mock".into(),
            version: "1.1".into(),
        }
    }

    fn reason(r: Result<(), RequestError>) -> &'static str {
        r.err().map_or("Ok", |e| e.reason())
    }

    #[test]
    fn valid_auth_request() {
        let r = request();
        assert_eq!(
            validate_request(PartnerType::AuthPartner, Some("grp"), &r, Some(&view(PolicyType::Auth)), &[]),
            Ok(())
        );
    }

    #[test]
    fn not_found_and_not_ready() {
        let r = request();
        let err = validate_request(PartnerType::AuthPartner, Some("grp"), &r, None, &[]).unwrap_err();
        assert_eq!(err.reason(), "PolicyNotFound");
        assert!(err.to_string().contains("\"pol\" does not exist"), "{err}");
        let mut v = view(PolicyType::Auth);
        v.ready = false;
        assert_eq!(
            reason(validate_request(PartnerType::AuthPartner, Some("grp"), &r, Some(&v), &[])),
            "PolicyNotReady"
        );
    }

    #[test]
    fn group_mismatch() {
        let r = request();
        let v = view(PolicyType::Auth);
        let err = validate_request(PartnerType::AuthPartner, Some("other"), &r, Some(&v), &[]).unwrap_err();
        assert_eq!(err.reason(), "PolicyGroupMismatch");
        assert!(err.to_string().contains("spec.policyGroup is \"other\""), "{err}");
        let err = validate_request(PartnerType::AuthPartner, None, &r, Some(&v), &[]).unwrap_err();
        assert!(err.to_string().contains("spec.policyGroup is not set"), "{err}");
        // Group comparison is exact.
        assert_eq!(
            reason(validate_request(PartnerType::AuthPartner, Some("GRP"), &r, Some(&v), &[])),
            "PolicyGroupMismatch"
        );
    }

    #[test]
    fn policy_type_matrix() {
        use PartnerType::*;
        let all_policy_types =
            [PolicyType::Auth, PolicyType::DataShare, PolicyType::CredentialIssuance, PolicyType::Misp];
        for pt in super::super::partner_type::ALL_PARTNER_TYPES {
            for policy_type in all_policy_types {
                let mut r = request();
                if pt.requires_biometric_extractors() {
                    r.biometric_extractors = vec![extractor("photo")];
                }
                let result = validate_request(pt, Some("grp"), &r, Some(&view(policy_type)), &[]);
                let allowed = pt.allowed_policy_types().contains(&policy_type);
                assert_eq!(result.is_ok(), allowed, "{pt:?} {policy_type:?}: {result:?}");
                if !allowed {
                    assert_eq!(reason(result), "PolicyTypeNotAllowed");
                }
            }
        }
        let err = validate_request(AuthPartner, Some("grp"), &request(), Some(&view(PolicyType::DataShare)), &[])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "PartnerPolicy \"pol\" is of type DataShare but Auth_Partner partners may only request Auth policies"
        );
        let err =
            validate_request(DeviceProvider, Some("grp"), &request(), Some(&view(PolicyType::Auth)), &[]).unwrap_err();
        assert!(err.to_string().ends_with("may only request no policies"), "{err}");
    }

    #[test]
    fn credential_types() {
        let v = view(PolicyType::DataShare);
        let mut r = request();
        r.biometric_extractors = vec![extractor("photo")];
        r.credential_types = DEFAULT_CREDENTIAL_TYPES.iter().map(|t| t.to_string()).collect();
        assert_eq!(validate_request(PartnerType::CredentialPartner, Some("grp"), &r, Some(&v), &[]), Ok(()));

        r.credential_types = vec!["euin".into(), "PDFCard".into()];
        let err = validate_request(PartnerType::CredentialPartner, Some("grp"), &r, Some(&v), &[]).unwrap_err();
        assert_eq!(err.reason(), "CredentialTypeNotAllowed");
        assert!(err.to_string().contains("\"PDFCard\""), "{err}");
        let extras = vec!["PDFCard".to_string()];
        assert_eq!(validate_request(PartnerType::CredentialPartner, Some("grp"), &r, Some(&v), &extras), Ok(()));

        // Case-sensitive, as MOSIP.
        r.credential_types = vec!["EUIN".into()];
        assert_eq!(
            reason(validate_request(PartnerType::CredentialPartner, Some("grp"), &r, Some(&v), &[])),
            "CredentialTypeNotAllowed"
        );

        // Auth partners may map; ABIS partners may not.
        let mut r = request();
        r.credential_types = vec!["auth".into()];
        assert_eq!(
            validate_request(PartnerType::AuthPartner, Some("grp"), &r, Some(&view(PolicyType::Auth)), &[]),
            Ok(())
        );
        let err = validate_request(PartnerType::AbisPartner, Some("grp"), &r, Some(&v), &[]).unwrap_err();
        assert_eq!(err.reason(), "CredentialTypeNotAllowed");
        assert!(matches!(err, RequestError::CredentialMappingNotAllowed { .. }));
    }

    #[test]
    fn biometric_extractors_required() {
        let v = view(PolicyType::DataShare);
        let r = request();
        for pt in [PartnerType::CredentialPartner, PartnerType::OnlineVerificationPartner] {
            let err = validate_request(pt, Some("grp"), &r, Some(&v), &[]).unwrap_err();
            assert_eq!(err.reason(), "BiometricExtractorsRequired");
            assert!(err.to_string().contains(pt.as_str()));
        }
        assert_eq!(validate_request(PartnerType::AbisPartner, Some("grp"), &r, Some(&v), &[]), Ok(()));
        // Partner-side problems are reported before a policy that is not Ready.
        let mut not_ready = v.clone();
        not_ready.ready = false;
        assert_eq!(
            reason(validate_request(PartnerType::CredentialPartner, Some("grp"), &r, Some(&not_ready), &[])),
            "BiometricExtractorsRequired"
        );
    }

    fn policy_spec() -> PartnerPolicySpec {
        PartnerPolicySpec {
            group: "grp".into(),
            policy_type: PolicyType::Auth,
            description: Some("d".into()),
            version: Some("1.0".into()),
            approval: None,
            auto_approve: None,
            auth: Some(AuthPolicy {
                auth_token_type: Some("partner".into()),
                allowed_auth_types: Some(vec![]),
                allowed_kyc_attributes: Some(vec![]),
                kyc_languages: None,
            }),
            data_share: None,
            misp: None,
        }
    }

    #[test]
    fn hash_is_stable_and_hex() {
        let h = request_hash("uid-1", &policy_spec(), &request());
        assert_eq!(h.len(), 32);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(h, request_hash("uid-1", &policy_spec(), &request()));
        // Pinned: the hash must not change between releases without a format version bump.
        assert_eq!(h, PINNED_HASH);
    }

    // Independently computed: sha256 of Python json.dumps(doc, sort_keys=True, separators=(",", ":")).
    const PINNED_HASH: &str = "7d589d1e89b10658eeeee226f49d3da3";

    #[test]
    fn hash_ignores_api_keys_description_version_approval() {
        let base = request_hash("uid-1", &policy_spec(), &request());
        let mut r = request();
        r.api_keys = vec![ApiKeyRequest { label: "new".into(), exports: vec![] }];
        let mut p = policy_spec();
        p.description = Some("changed".into());
        p.version = Some("2.0".into());
        p.approval = Some(ApprovalMode::Automatic);
        assert_eq!(request_hash("uid-1", &p, &r), base);
    }

    #[test]
    fn hash_covers_what_is_approved() {
        let base = request_hash("uid-1", &policy_spec(), &request());
        assert_ne!(request_hash("uid-2", &policy_spec(), &request()), base);

        let mut p = policy_spec();
        p.group = "grp2".into();
        assert_ne!(request_hash("uid-1", &p, &request()), base);

        let mut p = policy_spec();
        p.policy_type = PolicyType::DataShare;
        assert_ne!(request_hash("uid-1", &p, &request()), base);

        let mut p = policy_spec();
        if let Some(a) = p.auth.as_mut() {
            a.auth_token_type = Some("random".into());
        }
        assert_ne!(request_hash("uid-1", &p, &request()), base);

        let mut r = request();
        r.use_case = Some("something else".into());
        assert_ne!(request_hash("uid-1", &policy_spec(), &r), base);
        r.use_case = None;
        assert_ne!(request_hash("uid-1", &policy_spec(), &r), base);

        let mut r = request();
        r.credential_types = vec!["auth".into()];
        assert_ne!(request_hash("uid-1", &policy_spec(), &r), base);

        let mut r = request();
        r.biometric_extractors = vec![extractor("photo")];
        let with_one = request_hash("uid-1", &policy_spec(), &r);
        assert_ne!(with_one, base);
        r.biometric_extractors[0].version = "1.2".into();
        assert_ne!(request_hash("uid-1", &policy_spec(), &r), with_one);
    }

    #[test]
    fn hash_ignores_order_of_sets() {
        let mut a = request();
        a.credential_types = vec!["euin".into(), "auth".into()];
        a.biometric_extractors = vec![extractor("photo"), extractor("face")];
        let mut b = request();
        b.credential_types = vec!["auth".into(), "euin".into(), "auth".into()];
        b.biometric_extractors = vec![extractor("face"), extractor("photo")];
        assert_eq!(request_hash("u", &policy_spec(), &a), request_hash("u", &policy_spec(), &b));
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let v = json!({"b": [1, {"z": null, "a": "x"}], "a": true});
        let mut out = String::new();
        write_canonical(&v, &mut out);
        assert_eq!(out, r#"{"a":true,"b":[1,{"a":"x","z":null}]}"#);
    }

    #[test]
    fn the_partner_request_hash_binds_the_partner_id() {
        let policy = policy_spec();
        let r = PolicyRequest {
            name: "p".into(),
            use_case: None,
            credential_types: vec![],
            biometric_extractors: vec![],
            api_keys: vec![],
        };
        let a = partner_request_hash("acme", "uid", &policy, &r);
        assert_eq!(a, partner_request_hash("acme", "uid", &policy, &r));
        assert_eq!(a.len(), 32);
        assert_ne!(a, partner_request_hash("other", "uid", &policy, &r));
        assert_ne!(a, request_hash("uid", &policy, &r), "a new format version");
    }
}
