//! API-key and licence Secrets: issued once, stable, rotated, withdrawn, garbage collected,
//! never overwritten, never logged.

use crate::common::{CONVERGE, TestEnv, eventually};
use crate::fixtures::*;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams};
use mosip_partner_operator::api::*;

async fn onboarded_auth_partner(env: &TestEnv, labels: &[&str]) -> (Api<Partner>, Partner) {
    let int = trust(env, PartnerDomain::Auth).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&papi, &auth_policy(env, "auto", "grp", ApprovalMode::Automatic)).await;
    wait_policy_ready(env, "auto").await;
    cert_secret(env, "rp", &int, "Auth Org").await;
    let api: Api<Partner> = env.api();
    let mut p = partner("rp", PartnerType::AuthPartner, "Auth Org");
    p.spec.policy_group = Some("grp".into());
    p.spec.policies = vec![request(&env.cluster_name("auto"), labels)];
    env.apply(&api, &p).await;
    wait_partner(env, "rp", READY, "True").await;
    (api, p)
}

async fn key_secret_names(env: &TestEnv) -> Vec<String> {
    let api: Api<Partner> = env.api();
    let p = api.get("rp").await.expect("get");
    p.status
        .unwrap_or_default()
        .policies
        .iter()
        .flat_map(|r| r.api_keys.iter().filter_map(|k| k.secret_name.clone()))
        .collect()
}

#[tokio::test]
async fn api_keys_are_stable_rotated_withdrawn_and_collected() {
    let mut env = TestEnv::new("keys").await;
    env.start_operator(&[]);
    let (api, mut p) = onboarded_auth_partner(&env, &["one", "two"]).await;
    let names = key_secret_names(&env).await;
    assert_eq!(names.len(), 2);
    let sapi: Api<Secret> = env.api();
    let s = sapi.get(&names[0]).await.expect("secret");
    let labels = s.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("app.kubernetes.io/managed-by").map(String::as_str), Some("mosip-partner-operator"));
    assert_eq!(labels.get("pms.mosip.io/partner").map(String::as_str), Some("rp"));
    assert!(labels.contains_key("pms.mosip.io/policy"));
    assert!(s.metadata.annotations.unwrap_or_default().contains_key("pms.mosip.io/content-hash"));
    let owner = s.metadata.owner_references.clone().unwrap_or_default();
    assert!(owner.iter().any(|o| o.kind == "Partner" && o.controller == Some(true)));
    for k in ["apiKey", "partnerId", "policy", "label", "validUntil"] {
        assert!(env.secret_value(&names[0], k).await.is_some(), "missing {k}");
    }
    let key1 = env.secret_value(&names[0], "apiKey").await.expect("key");
    let rv = s.metadata.resource_version.clone();

    // A restart, a relist and a re-applied manifest change nothing.
    env.stop_operator();
    env.start_operator(&[]);
    env.apply(&api, &p).await;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let s = sapi.get(&names[0]).await.expect("secret");
    assert_eq!(s.metadata.resource_version, rv, "an unchanged key Secret was rewritten");
    assert_eq!(env.secret_value(&names[0], "apiKey").await.as_deref(), Some(key1.as_str()));

    // Rotation on demand keeps the old key as previousApiKey.
    let out = env.cli(&["rotate", "rp", "-n", &env.ns]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let n0 = names[0].clone();
    let key2 = eventually(CONVERGE, "rotated key", || {
        let env = &env;
        let n0 = n0.clone();
        let key1 = key1.clone();
        async move {
            let k = env.secret_value(&n0, "apiKey").await.ok_or("no key")?;
            let prev = env.secret_value(&n0, "previousApiKey").await;
            if k != key1 && prev.as_deref() == Some(key1.as_str()) {
                Ok(k)
            } else {
                Err(format!("prev={}", prev.is_some()))
            }
        }
    })
    .await;
    assert_ne!(key1, key2);

    // A label removed from the spec removes its Secret.
    p.spec.policies = vec![request(&env.cluster_name("auto"), &["one"])];
    env.apply(&api, &p).await;
    let n1 = names[1].clone();
    wait_deleted(&sapi, &n1, CONVERGE).await;

    // Deactivation withdraws the key; re-activation issues a new one.
    p.spec.active = Some(false);
    env.apply(&api, &p).await;
    wait_partner_reason(&env, "rp", READY, "False", Some("Deactivated")).await;
    wait_key_withdrawn(&env, &n0, "apiKey").await;
    p.spec.active = None;
    env.apply(&api, &p).await;
    wait_partner(&env, "rp", READY, "True").await;
    let key3 = env.secret_value(&n0, "apiKey").await.expect("new key");
    assert!(key3 != key1 && key3 != key2);

    // No key material in the operator's logs, Events or status.
    let log = env.operator_log();
    assert!(!log.is_empty());
    for k in [&key1, &key2, &key3] {
        assert!(!log.contains(k.as_str()), "an API key appeared in the operator log");
    }
    let events_text = crate::common::wait_events_yaml(
        &env,
        &env.ns,
        &["ApiKeyIssued", "ApiKeyRotated", "ApiKeyWithdrawn", "CertificateResigned"],
    )
    .await;
    let status = env.kubectl(&["get", "partners", "-n", &env.ns, "-o", "yaml"]);
    for k in [&key1, &key2, &key3] {
        assert!(!events_text.contains(k.as_str()));
        assert!(!String::from_utf8_lossy(&status.stdout).contains(k.as_str()));
    }

    env.assert_log_clean();

    // Deleting the Partner lets the garbage collector remove its Secrets.
    api.delete("rp", &DeleteParams::default()).await.expect("delete");
    wait_deleted(&sapi, &n0, std::time::Duration::from_secs(60)).await;
}

#[tokio::test]
async fn a_foreign_secret_is_never_overwritten() {
    let mut env = TestEnv::new("conflict").await;
    env.start_operator(&[]);
    let int = trust(&env, PartnerDomain::Auth).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&papi, &auth_policy(&env, "auto", "grp", ApprovalMode::Automatic)).await;
    wait_policy_ready(&env, "auto").await;
    // Someone else's Secret sits where the key would go.
    let name = mosip_partner_operator::mosip::api_key_secret_name("rp", &env.cluster_name("auto"), "one");
    env.put_secret(&name, &[("mine", "do-not-touch")]).await;
    cert_secret(&env, "rp", &int, "Auth Org").await;
    let api: Api<Partner> = env.api();
    let mut p = partner("rp", PartnerType::AuthPartner, "Auth Org");
    p.spec.policy_group = Some("grp".into());
    p.spec.policies = vec![request(&env.cluster_name("auto"), &["one"])];
    env.apply(&api, &p).await;
    wait_partner_reason(&env, "rp", READY, "False", Some("SecretConflict")).await;
    assert_eq!(env.secret_value(&name, "mine").await.as_deref(), Some("do-not-touch"));
    assert_eq!(env.secret_value(&name, "apiKey").await, None);
}

#[tokio::test]
async fn misp_licences() {
    let mut env = TestEnv::new("misp").await;
    env.start_operator(&[]);
    let int = trust(&env, PartnerDomain::Misp).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&papi, &misp_policy(&env, "misp", "misp-grp")).await;
    wait_policy_ready(&env, "misp").await;
    cert_secret(&env, "misp", &int, "MISP Org").await;
    let api: Api<Partner> = env.api();
    let mut p = partner("misp", PartnerType::MispPartner, "MISP Org");
    p.spec.policy_group = Some("misp-grp".into());
    // A licence needs the partner's approved request for the policy (#10 finding 3).
    p.spec.policies = vec![request(&env.cluster_name("misp"), &[])];
    env.apply(&api, &p).await;
    wait_partner(&env, "misp", READY, "True").await;

    let lapi: Api<MispLicense> = env.api();
    let lic = |active: Option<bool>, validity: Option<&str>| MispLicense {
        metadata: ObjectMeta { name: Some("lic".into()), ..Default::default() },
        spec: MispLicenseSpec {
            partner_name: "misp".into(),
            policy_name: Some(env.cluster_name("misp")),
            validity: validity.map(String::from),
            active,
            exports: vec![],
        },
        status: None,
    };
    env.apply(&lapi, &lic(None, None)).await;
    let st = wait_license(&env, "True").await;
    let secret = st.secret_name.clone().expect("secretName");
    let key = env.secret_value(&secret, "licenseKey").await.expect("licenseKey");
    assert_eq!(key.len(), 50);
    assert!(key.chars().all(|c| c.is_ascii_alphanumeric()));
    let from: jiff::Timestamp = st.valid_from.as_deref().expect("from").parse().expect("ts");
    let until: jiff::Timestamp = st.valid_until.as_deref().expect("until").parse().expect("ts");
    assert_eq!(until.as_second() - from.as_second(), 90 * 24 * 3600, "default validity is 90 days");
    assert_eq!(st.key_fingerprint.as_deref().map(str::len), Some(16));

    // A licence for a partner that is not a MISP is refused.
    let mut other = lic(None, None);
    other.metadata.name = Some("wrong".into());
    other.spec.partner_name = "nobody".into();
    env.apply(&lapi, &other).await;

    // Deactivating the MISP partner deactivates its licence: the key is withdrawn.
    p.spec.active = Some(false);
    env.apply(&api, &p).await;
    let st2 = wait_license(&env, "False").await;
    assert_eq!(find(&st2.conditions, READY).expect("r").reason, "Deactivated");
    wait_key_withdrawn(&env, &secret, "licenseKey").await;
    assert!(!env.operator_log().contains(&key), "licence key in the operator log");
    let got = lapi.get("wrong").await.expect("get");
    assert_eq!(
        find(&got.status.unwrap_or_default().conditions, READY).map(|c| c.reason.clone()).as_deref(),
        Some("PartnerNotFound")
    );
    let _ = PatchParams::default();
    let _: Option<Patch<()>> = None;
}

async fn wait_license(env: &TestEnv, ready: &str) -> MispLicenseStatus {
    let lapi: Api<MispLicense> = env.api();
    eventually(CONVERGE, &format!("MispLicense Ready={ready}"), || {
        let lapi = lapi.clone();
        async move {
            let l = lapi.get("lic").await.map_err(|e| e.to_string())?;
            let st = l.status.clone().unwrap_or_default();
            match find(&st.conditions, READY) {
                Some(c) if c.status == ready && st.observed_generation == l.metadata.generation => Ok(st),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await
}

/// Keys and licences renew on time into the same Secret, with no event other than the clock.
#[tokio::test]
async fn keys_and_licences_renew_before_expiry() {
    let mut env = TestEnv::new("renew").await;
    env.start_operator(&[
        "--api-key-validity",
        "40s",
        "--api-key-renew-before",
        "30s",
        "--api-key-grace",
        "5m",
        "--license-renew-before",
        "30s",
    ]);
    let (_api, _p) = onboarded_auth_partner(&env, &["one"]).await;
    let name = key_secret_names(&env).await.remove(0);
    let first = env.secret_value(&name, "apiKey").await.expect("key");
    let n = name.clone();
    let f = first.clone();
    eventually(std::time::Duration::from_secs(45), "automatic rotation", || {
        let env = &env;
        let n = n.clone();
        let f = f.clone();
        async move {
            let now = env.secret_value(&n, "apiKey").await.ok_or("no key")?;
            let prev = env.secret_value(&n, "previousApiKey").await;
            if now != f && prev.as_deref() == Some(f.as_str()) { Ok(()) } else { Err("not yet".to_string()) }
        }
    })
    .await;

    // A licence valid 40 s renews ~10 s after issue, into the same Secret.
    let int = trust(&env, PartnerDomain::Misp).await;
    cert_secret(&env, "misp", &int, "MISP Org").await;
    let policies: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&policies, &misp_policy(&env, "misp", "misp-grp")).await;
    wait_policy_ready(&env, "misp").await;
    let papi: Api<Partner> = env.api();
    let mut misp = partner("misp", PartnerType::MispPartner, "MISP Org");
    misp.spec.policy_group = Some("misp-grp".into());
    misp.spec.policies = vec![request(&env.cluster_name("misp"), &[])];
    env.apply(&papi, &misp).await;
    wait_partner(&env, "misp", READY, "True").await;
    let lapi: Api<MispLicense> = env.api();
    let mut lic = MispLicense {
        metadata: ObjectMeta { name: Some("lic".into()), ..Default::default() },
        spec: MispLicenseSpec {
            partner_name: "misp".into(),
            policy_name: None,
            validity: Some("40s".into()),
            active: None,
            exports: vec![],
        },
        status: None,
    };
    env.apply(&lapi, &lic).await;
    let st = wait_license(&env, "True").await;
    let secret = st.secret_name.clone().expect("secret");
    let key1 = env.secret_value(&secret, "licenseKey").await.expect("key");
    let s2 = secret.clone();
    let k1 = key1.clone();
    eventually(std::time::Duration::from_secs(45), "licence renewed", || {
        let env = &env;
        let s2 = s2.clone();
        let k1 = k1.clone();
        async move {
            match env.secret_value(&s2, "licenseKey").await {
                Some(k) if k != k1 && k.len() == 50 => Ok(()),
                _ => Err("not yet".to_string()),
            }
        }
    })
    .await;

    // The licence's own active: false withdraws the key.
    lic.spec.active = Some(false);
    env.apply(&lapi, &lic).await;
    let st = wait_license(&env, "False").await;
    assert_eq!(find(&st.conditions, READY).expect("r").reason, "Deactivated");
    assert_eq!(env.secret_value(&secret, "licenseKey").await, None);
}
