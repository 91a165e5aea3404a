//! CACertificate reconciliation against the real API server.

use crate::common::{self, CONVERGE, TestEnv, eventually};
use crate::pki;
use kube::api::{Api, DeleteParams, ObjectMeta};
use mosip_partner_operator::api::{CACertificate, CACertificateSpec, CaRole, PartnerDomain};

pub fn cacert(env: &TestEnv, name: &str, domain: PartnerDomain, pem: &str) -> CACertificate {
    CACertificate {
        metadata: ObjectMeta { name: Some(env.cluster_name(name)), labels: Some(env.labels()), ..Default::default() },
        spec: CACertificateSpec { domain, certificate: pem.to_string() },
        status: None,
    }
}

/// Waits until the CA's Ready condition has `status` and returns (reason, role).
pub async fn wait_ca(env: &TestEnv, name: &str, status: &str) -> (String, Option<CaRole>) {
    let api: Api<CACertificate> = env.cluster_api();
    let full = env.cluster_name(name);
    eventually(CONVERGE, &format!("CACertificate {full} Ready={status}"), || {
        let api = api.clone();
        let full = full.clone();
        async move {
            let ca = api.get(&full).await.map_err(|e| e.to_string())?;
            let st = ca.status.clone().unwrap_or_default();
            let ready = st.conditions.iter().find(|c| c.type_ == "Ready");
            match ready {
                Some(c) if c.status == status && st.observed_generation == ca.metadata.generation => {
                    Ok((c.reason.clone(), st.role))
                }
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await
}

#[tokio::test]
async fn roots_and_intermediates_follow_their_chain() {
    let mut env = TestEnv::new("cacert").await;
    env.start_operator(&[]);
    let api: Api<CACertificate> = env.cluster_api();
    let root = pki::root("Test Root", 3650);
    let int = pki::intermediate(&root, "Test Intermediate", 1825);

    // An intermediate whose root is not there yet is not trusted...
    env.apply(&api, &cacert(&env, "int", PartnerDomain::Auth, &int.pem)).await;
    let (reason, _) = wait_ca(&env, "int", "False").await;
    assert_eq!(reason, "UntrustedChain");

    // ...becomes Ready when its root appears...
    env.apply(&api, &cacert(&env, "root", PartnerDomain::Auth, &root.pem)).await;
    let (reason, role) = wait_ca(&env, "root", "True").await;
    assert_eq!((reason.as_str(), role), ("Trusted", Some(CaRole::Root)));
    let (_, role) = wait_ca(&env, "int", "True").await;
    assert_eq!(role, Some(CaRole::Intermediate));

    // ...and stops being Ready when the root goes.
    api.delete(&env.cluster_name("root"), &DeleteParams::default()).await.expect("delete root");
    let (reason, _) = wait_ca(&env, "int", "False").await;
    assert_eq!(reason, "UntrustedChain");

    // Status carries the certificate's facts.
    let ca = api.get(&env.cluster_name("int")).await.expect("get");
    let st = ca.status.expect("status");
    assert!(st.subject.as_deref().is_some_and(|s| s.contains("Test Intermediate")));
    assert!(st.issuer.as_deref().is_some_and(|s| s.contains("Test Root")));
    assert_eq!(st.fingerprint_sha256.as_deref().map(str::len), Some(64));
    assert!(st.not_after.is_some() && st.not_before.is_some() && st.serial_number.is_some());
}

#[tokio::test]
async fn bad_ca_certificates_get_precise_reasons() {
    let mut env = TestEnv::new("cabad").await;
    env.start_operator(&[]);
    let api: Api<CACertificate> = env.cluster_api();
    let root = pki::root("Bad Root", 3650);
    let leaf = pki::leaf(&root, "not-a-ca", "Org");
    let other = pki::root("Other Root", 3650);

    env.apply(&api, &cacert(&env, "garbage", PartnerDomain::Misp, "not a certificate")).await;
    env.apply(&api, &cacert(&env, "leaf", PartnerDomain::Misp, &leaf)).await;
    env.apply(&api, &cacert(&env, "two", PartnerDomain::Misp, &format!("{}{}", root.pem, other.pem))).await;
    // A root of another domain does not make an intermediate of this one trusted.
    env.apply(&api, &cacert(&env, "root-device", PartnerDomain::Device, &root.pem)).await;
    let int = pki::intermediate(&root, "Int", 365);
    env.apply(&api, &cacert(&env, "int-misp", PartnerDomain::Misp, &int.pem)).await;

    assert_eq!(wait_ca(&env, "garbage", "False").await.0, "MalformedCertificate");
    assert_eq!(wait_ca(&env, "leaf", "False").await.0, "NotACertificateAuthority");
    assert_eq!(wait_ca(&env, "two", "False").await.0, "MultipleCertificates");
    assert_eq!(wait_ca(&env, "int-misp", "False").await.0, "UntrustedChain");
    assert_eq!(wait_ca(&env, "root-device", "True").await.1, Some(CaRole::Root));

    // A reconcile that changes nothing writes nothing: the resourceVersion stays put.
    let before = api.get(&env.cluster_name("root-device")).await.expect("get").metadata.resource_version;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let after = api.get(&env.cluster_name("root-device")).await.expect("get").metadata.resource_version;
    assert_eq!(before, after, "an idle CACertificate was rewritten");
    // Events of cluster-scoped objects are published (in "default").
    common::wait_events_yaml(&env, "default", &[&env.cluster_name("leaf")]).await;
    env.assert_log_clean();
    let _ = common::TEST_LABEL;
}
