//! Builders for the objects the tests apply, and waits on their status.

#![allow(dead_code)]

use crate::common::{CONVERGE, TestEnv, eventually};
use crate::pki::{self, Ca};
use kube::api::{Api, ObjectMeta};
use mosip_partner_operator::api::*;

/// A trusted root + intermediate for `domain`, applied as CACertificates and Ready.
pub async fn trust(env: &TestEnv, domain: PartnerDomain) -> Ca {
    let root = pki::root(&format!("{domain} Root"), 3650);
    let int = pki::intermediate(&root, &format!("{domain} Intermediate"), 1825);
    let api: Api<CACertificate> = env.cluster_api();
    let d = domain.as_str().to_lowercase();
    env.apply(&api, &crate::cacert::cacert(env, &format!("{d}-root"), domain, &root.pem)).await;
    env.apply(&api, &crate::cacert::cacert(env, &format!("{d}-int"), domain, &int.pem)).await;
    crate::cacert::wait_ca(env, &format!("{d}-int"), "True").await;
    int
}

pub fn partner(name: &str, partner_type: PartnerType, org: &str) -> Partner {
    Partner {
        metadata: ObjectMeta { name: Some(name.to_string()), ..Default::default() },
        spec: PartnerSpec {
            partner_id: None,
            partner_type,
            organization_name: org.to_string(),
            contact: Some(Contact {
                email: Some("ops@partner.example.org".into()),
                phone: Some("+911234567890".into()),
                address: Some("1 Main Road, Bengaluru".into()),
            }),
            policy_group: None,
            certificate: Some(CertificateRef {
                secret_name: format!("{name}-cert"),
                certificate_key: None,
                chain_key: None,
            }),
            policies: vec![],
            active: None,
        },
        status: None,
    }
}

pub fn request(policy: &str, labels: &[&str]) -> PolicyRequest {
    PolicyRequest {
        name: policy.to_string(),
        use_case: Some("integration test".into()),
        credential_types: vec![],
        biometric_extractors: vec![],
        api_keys: labels.iter().map(|l| ApiKeyRequest { label: l.to_string(), exports: vec![] }).collect(),
    }
}

/// Automatic policies of the tests approve every namespace (`namespaceSelector: {}`).
pub fn auto_scope(approval: ApprovalMode) -> Option<AutoApprove> {
    (approval == ApprovalMode::Automatic).then(|| AutoApprove {
        namespace_selector: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector::default()),
    })
}

pub fn auth_policy(env: &TestEnv, name: &str, group: &str, approval: ApprovalMode) -> PartnerPolicy {
    PartnerPolicy {
        metadata: ObjectMeta { name: Some(env.cluster_name(name)), labels: Some(env.labels()), ..Default::default() },
        spec: PartnerPolicySpec {
            group: group.to_string(),
            policy_type: PolicyType::Auth,
            description: Some("test auth policy".into()),
            version: Some("1.0".into()),
            approval: Some(approval),
            auto_approve: auto_scope(approval),
            auth: Some(AuthPolicy {
                auth_token_type: Some("partner".into()),
                allowed_auth_types: Some(vec![AllowedAuthType {
                    auth_type: Some("otp".into()),
                    auth_sub_type: None,
                    mandatory: Some(false),
                }]),
                allowed_kyc_attributes: Some(vec![KycAttribute { attribute_name: Some("fullName".into()) }]),
                kyc_languages: None,
            }),
            data_share: None,
            misp: None,
        },
        status: None,
    }
}

pub fn misp_policy(env: &TestEnv, name: &str, group: &str) -> PartnerPolicy {
    PartnerPolicy {
        metadata: ObjectMeta { name: Some(env.cluster_name(name)), labels: Some(env.labels()), ..Default::default() },
        spec: PartnerPolicySpec {
            group: group.to_string(),
            policy_type: PolicyType::Misp,
            description: None,
            version: None,
            approval: Some(ApprovalMode::Automatic),
            auto_approve: auto_scope(ApprovalMode::Automatic),
            auth: None,
            data_share: None,
            misp: Some(MispPolicy {
                allow_auth_request_delegation: Some(true),
                allow_kyc_request_delegation: Some(true),
                allow_key_binding_delegation: Some(false),
                trust_binded_auth_verification_token: None,
                allow_vci_request_delegation: None,
            }),
        },
        status: None,
    }
}

pub fn data_share_policy(env: &TestEnv, name: &str, group: &str, approval: ApprovalMode) -> PartnerPolicy {
    PartnerPolicy {
        metadata: ObjectMeta { name: Some(env.cluster_name(name)), labels: Some(env.labels()), ..Default::default() },
        spec: PartnerPolicySpec {
            group: group.to_string(),
            policy_type: PolicyType::DataShare,
            description: None,
            version: None,
            approval: Some(approval),
            auto_approve: auto_scope(approval),
            auth: None,
            data_share: Some(DataSharePolicy {
                data_share_policies: Some(DataShareSettings {
                    type_of_share: Some("Data Share".into()),
                    valid_for_in_minutes: Some("30".into()),
                    transactions_allowed: Some("2".into()),
                    encryption_type: Some("Partner Based".into()),
                    share_domain: Some("datashare.example.org".into()),
                    source: Some("ID Repository".into()),
                    protocol: None,
                }),
                shareable_attributes: Some(vec![ShareableAttribute {
                    attribute_name: Some("fullName".into()),
                    source: Some(vec![AttributeSource { attribute: Some("fullName".into()), filter: None }]),
                    encrypted: Some(true),
                    group: None,
                    format: None,
                }]),
            }),
            misp: None,
        },
        status: None,
    }
}

/// Waits until the named condition of the Partner (at the current generation) has `status`;
/// returns the Partner.
pub async fn wait_partner(env: &TestEnv, name: &str, type_: &str, status: &str) -> Partner {
    wait_partner_reason(env, name, type_, status, None).await
}

pub async fn wait_partner_reason(
    env: &TestEnv,
    name: &str,
    type_: &str,
    status: &str,
    reason: Option<&str>,
) -> Partner {
    let api: Api<Partner> = env.api();
    eventually(CONVERGE, &format!("Partner {name} {type_}={status} {reason:?}"), || {
        let api = api.clone();
        async move {
            let p = api.get(name).await.map_err(|e| e.to_string())?;
            let st = p.status.clone().unwrap_or_default();
            let c = st.conditions.iter().find(|c| c.type_ == type_);
            match c {
                Some(c)
                    if c.status == status
                        && reason.is_none_or(|r| r == c.reason)
                        && st.observed_generation == p.metadata.generation
                        && c.observed_generation == p.metadata.generation =>
                {
                    Ok(p)
                }
                _ => Err(format!("{:?}", st.conditions)),
            }
        }
    })
    .await
}

pub async fn wait_policy_ready(env: &TestEnv, name: &str) {
    let api: Api<PartnerPolicy> = env.cluster_api();
    let full = env.cluster_name(name);
    eventually(CONVERGE, &format!("PartnerPolicy {full} Ready"), || {
        let api = api.clone();
        let full = full.clone();
        async move {
            let p = api.get(&full).await.map_err(|e| e.to_string())?;
            let st = p.status.clone().unwrap_or_default();
            if is_true(&st.conditions, READY) { Ok(()) } else { Err(format!("{:?}", st.conditions)) }
        }
    })
    .await
}

/// Puts a partner certificate issued by `issuer` with O = `org` into `<name>-cert`.
pub async fn cert_secret(env: &TestEnv, partner: &str, issuer: &Ca, org: &str) -> String {
    let leaf = pki::leaf(issuer, partner, org);
    env.put_secret(&format!("{partner}-cert"), &[("tls.crt", &leaf), ("ca.crt", &issuer.pem)]).await;
    leaf
}

/// Waits until the Secret's `key` can no longer be read (withdrawn key material).
pub async fn wait_key_withdrawn(env: &TestEnv, secret: &str, key: &str) {
    eventually(CONVERGE, &format!("{key} withdrawn from {secret}"), || async move {
        if env.secret_value(secret, key).await.is_none() { Ok(()) } else { Err("still readable".to_string()) }
    })
    .await
}

/// Waits until the named object is gone.
pub async fn wait_deleted<K>(api: &Api<K>, name: &str, timeout: std::time::Duration)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    eventually(timeout, &format!("{name} deleted"), || async move {
        match api.get_opt(name).await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(o) => Err(format!("still there, finalizers {:?}", o.meta().finalizers)),
        }
    })
    .await
}
