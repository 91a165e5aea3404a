//! What MOSIP's partner types mean: certificate domain, whether a policy group is required,
//! which policy types they may request and what the operator issues for them.
//!
//! Source: MOSIP PMS fresh-install data (`pms-partner_type.csv`), the partner portal's
//! `getPartnerDomainType`, and the PMS configuration keys quoted on each method.

use crate::api::{PartnerDomain, PartnerType, PolicyType};

/// Every partner type, in MOSIP's table order.
pub const ALL_PARTNER_TYPES: [PartnerType; 12] = [
    PartnerType::AuthPartner,
    PartnerType::DeviceProvider,
    PartnerType::FtmProvider,
    PartnerType::CredentialPartner,
    PartnerType::OnlineVerificationPartner,
    PartnerType::MispPartner,
    PartnerType::AbisPartner,
    PartnerType::ManualAdjudication,
    PartnerType::InternalPartner,
    PartnerType::SdkPartner,
    PartnerType::PrintPartner,
    PartnerType::BindingPartner,
];

const AUTH_ONLY: &[PolicyType] = &[PolicyType::Auth];
const DATA_SHARE: &[PolicyType] = &[PolicyType::DataShare, PolicyType::CredentialIssuance];
const MISP_ONLY: &[PolicyType] = &[PolicyType::Misp];
const NONE: &[PolicyType] = &[];

/// MOSIP's rules for a partner type.
///
/// This is an extension trait (rather than inherent methods on [`PartnerType`]) so that the API
/// module stays free to add its own inherent helpers without a name clash. Bring it into scope
/// with `use crate::mosip::PartnerTypeExt;`.
pub trait PartnerTypeExt: Copy {
    /// MOSIP's partner type code, e.g. `Auth_Partner` (the value used in `spec.partnerType`).
    fn as_str(self) -> &'static str;

    /// The certificate domain the partner's certificate is validated in: Device_Provider→DEVICE,
    /// FTM_Provider→FTM, MISP_Partner→MISP, every other type→AUTH.
    fn domain(self) -> PartnerDomain;

    /// Whether the partner must name a policy group (MOSIP's `is_policy_required` on a fresh
    /// install): true for Auth, Credential, Online Verification, ABIS, Manual Adjudication,
    /// Internal, Print and Binding partners; false for Device, FTM, MISP and SDK partners.
    ///
    /// MOSIP's 1.1.5.5→1.2.0.1 upgrade script sets SDK_Partner to true; the operator follows the
    /// fresh-install value.
    fn policy_required(self) -> bool;

    /// The policy types this partner type may request. Empty means the type cannot request
    /// policies at all.
    ///
    /// Binding_Partner: MOSIP marks it policy-required but lists no policy type ("n/a"). The
    /// operator allows Auth, because a binding partner (e.g. the wallet key-binding partner)
    /// calls IDA's key-binding API with an API key, and IDA authorises that call against an
    /// Auth policy whose `allowedAuthTypes` include `keybinding`. Without a requestable type a
    /// Binding_Partner would need a policy group it could never use.
    fn allowed_policy_types(self) -> &'static [PolicyType];

    /// Whether the partner may map credential types to its policies
    /// (`policy.credential.type.mapping.allowed.partner.types` =
    /// Credential_Partner, Online_Verification_Partner, Auth_Partner).
    fn may_map_credential_types(self) -> bool;

    /// Whether a policy request needs at least one biometric extractor before it can be
    /// approved (`pmp.bioextractors.required.partner.types` =
    /// Credential_Partner, Online_Verification_Partner).
    fn requires_biometric_extractors(self) -> bool;

    /// Whether the partner's certificate is re-signed by the MOSIP PMS key by default. FTM
    /// certificates are not (`mosip.kernel.partner.resign.ftm.domain.certs=false`).
    fn resigned_by_default(self) -> bool;

    /// Whether the operator issues API keys for approved policy requests of this type: every
    /// type that may request Auth, DataShare or CredentialIssuance policies. MISP partners get
    /// licence keys (MispLicense) instead of API keys, even with a MISP policy.
    fn issues_api_keys(self) -> bool;
}

impl PartnerTypeExt for PartnerType {
    fn as_str(self) -> &'static str {
        match self {
            PartnerType::AuthPartner => "Auth_Partner",
            PartnerType::DeviceProvider => "Device_Provider",
            PartnerType::FtmProvider => "FTM_Provider",
            PartnerType::CredentialPartner => "Credential_Partner",
            PartnerType::OnlineVerificationPartner => "Online_Verification_Partner",
            PartnerType::MispPartner => "MISP_Partner",
            PartnerType::AbisPartner => "ABIS_Partner",
            PartnerType::ManualAdjudication => "Manual_Adjudication",
            PartnerType::InternalPartner => "Internal_Partner",
            PartnerType::SdkPartner => "SDK_Partner",
            PartnerType::PrintPartner => "Print_Partner",
            PartnerType::BindingPartner => "Binding_Partner",
        }
    }

    fn domain(self) -> PartnerDomain {
        match self {
            PartnerType::DeviceProvider => PartnerDomain::Device,
            PartnerType::FtmProvider => PartnerDomain::Ftm,
            PartnerType::MispPartner => PartnerDomain::Misp,
            _ => PartnerDomain::Auth,
        }
    }

    fn policy_required(self) -> bool {
        !matches!(
            self,
            PartnerType::DeviceProvider | PartnerType::FtmProvider | PartnerType::MispPartner | PartnerType::SdkPartner
        )
    }

    fn allowed_policy_types(self) -> &'static [PolicyType] {
        match self {
            PartnerType::AuthPartner | PartnerType::BindingPartner => AUTH_ONLY,
            PartnerType::CredentialPartner
            | PartnerType::OnlineVerificationPartner
            | PartnerType::AbisPartner
            | PartnerType::ManualAdjudication
            | PartnerType::InternalPartner
            | PartnerType::PrintPartner => DATA_SHARE,
            PartnerType::MispPartner => MISP_ONLY,
            PartnerType::DeviceProvider | PartnerType::FtmProvider | PartnerType::SdkPartner => NONE,
        }
    }

    fn may_map_credential_types(self) -> bool {
        matches!(
            self,
            PartnerType::CredentialPartner | PartnerType::OnlineVerificationPartner | PartnerType::AuthPartner
        )
    }

    fn requires_biometric_extractors(self) -> bool {
        matches!(self, PartnerType::CredentialPartner | PartnerType::OnlineVerificationPartner)
    }

    fn resigned_by_default(self) -> bool {
        self != PartnerType::FtmProvider
    }

    fn issues_api_keys(self) -> bool {
        self.allowed_policy_types().iter().any(|t| *t != PolicyType::Misp)
    }
}

/// Parses a MOSIP partner type code, ignoring case as MOSIP does (the eSignet onboarder
/// registers `Misp_Partner`). Returns `None` for unknown codes.
pub fn partner_type_from_code(code: &str) -> Option<PartnerType> {
    ALL_PARTNER_TYPES.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(code.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use PartnerType::*;

    #[test]
    fn codes_match_serde_names() {
        for t in ALL_PARTNER_TYPES {
            let json = serde_json::to_value(t).unwrap();
            assert_eq!(json.as_str(), Some(t.as_str()), "{t:?}");
        }
    }

    #[test]
    fn all_types_are_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for t in ALL_PARTNER_TYPES {
            assert!(seen.insert(t));
        }
        assert_eq!(seen.len(), 12);
    }

    #[test]
    fn domains() {
        assert_eq!(DeviceProvider.domain(), PartnerDomain::Device);
        assert_eq!(FtmProvider.domain(), PartnerDomain::Ftm);
        assert_eq!(MispPartner.domain(), PartnerDomain::Misp);
        for t in ALL_PARTNER_TYPES {
            if !matches!(t, DeviceProvider | FtmProvider | MispPartner) {
                assert_eq!(t.domain(), PartnerDomain::Auth, "{t:?}");
            }
        }
    }

    #[test]
    fn policy_required_matches_fresh_install() {
        let required = [
            AuthPartner,
            CredentialPartner,
            OnlineVerificationPartner,
            AbisPartner,
            ManualAdjudication,
            InternalPartner,
            PrintPartner,
            BindingPartner,
        ];
        for t in ALL_PARTNER_TYPES {
            assert_eq!(t.policy_required(), required.contains(&t), "{t:?}");
        }
    }

    #[test]
    fn allowed_policy_types() {
        use PolicyType::*;
        assert_eq!(AuthPartner.allowed_policy_types(), &[Auth]);
        assert_eq!(BindingPartner.allowed_policy_types(), &[Auth]);
        assert_eq!(MispPartner.allowed_policy_types(), &[Misp]);
        for t in [
            CredentialPartner,
            OnlineVerificationPartner,
            AbisPartner,
            ManualAdjudication,
            InternalPartner,
            PrintPartner,
        ] {
            assert_eq!(t.allowed_policy_types(), &[DataShare, CredentialIssuance], "{t:?}");
        }
        for t in [DeviceProvider, FtmProvider, SdkPartner] {
            assert!(t.allowed_policy_types().is_empty(), "{t:?}");
        }
    }

    #[test]
    fn policy_required_types_can_request_something() {
        for t in ALL_PARTNER_TYPES {
            if t.policy_required() {
                assert!(!t.allowed_policy_types().is_empty(), "{t:?}");
            }
        }
    }

    #[test]
    fn credential_mapping_and_extractors() {
        for t in ALL_PARTNER_TYPES {
            assert_eq!(
                t.may_map_credential_types(),
                matches!(t, CredentialPartner | OnlineVerificationPartner | AuthPartner),
                "{t:?}"
            );
            assert_eq!(
                t.requires_biometric_extractors(),
                matches!(t, CredentialPartner | OnlineVerificationPartner),
                "{t:?}"
            );
        }
    }

    #[test]
    fn resigning() {
        for t in ALL_PARTNER_TYPES {
            assert_eq!(t.resigned_by_default(), t != FtmProvider, "{t:?}");
        }
    }

    #[test]
    fn api_keys() {
        for t in ALL_PARTNER_TYPES {
            let expected = !matches!(t, DeviceProvider | FtmProvider | SdkPartner | MispPartner);
            assert_eq!(t.issues_api_keys(), expected, "{t:?}");
        }
    }

    #[test]
    fn parse_codes_ignoring_case() {
        assert_eq!(partner_type_from_code("Misp_Partner"), Some(MispPartner));
        assert_eq!(partner_type_from_code("auth_partner"), Some(AuthPartner));
        assert_eq!(partner_type_from_code(" FTM_Provider "), Some(FtmProvider));
        assert_eq!(partner_type_from_code("Partner_Admin"), None);
        assert_eq!(partner_type_from_code(""), None);
        for t in ALL_PARTNER_TYPES {
            assert_eq!(partner_type_from_code(t.as_str()), Some(t));
        }
    }
}
