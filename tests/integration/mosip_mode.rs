//! The operator in `--backend mosip` mode on the real API server, against the fake PMS
//! (fake_pms.rs, a contract model derived from PMS sources, not PMS itself).

use crate::common::{CONVERGE, TestEnv, eventually};
use crate::fake_pms::{self, FakeMosip};
use crate::fixtures;
use kube::api::Api;
use mosip_partner_operator::api::*;

pub(crate) fn mosip_args(fake: &FakeMosip) -> Vec<String> {
    vec![
        "--backend".into(),
        "mosip".into(),
        "--mosip-api-url".into(),
        fake.api_url(),
        "--keycloak-url".into(),
        fake.keycloak_url(),
        "--mosip-credentials-secret".into(),
        "mosip-credentials".into(),
    ]
}

pub(crate) async fn credentials(env: &TestEnv) {
    env.put_secret(
        "mosip-credentials",
        &[
            ("pms-client-secret", fake_pms::PMS_CLIENT_SECRET),
            ("partner-admin-username", fake_pms::ADMIN_USER),
            ("partner-admin-password", fake_pms::ADMIN_PASSWORD),
            ("keycloak-admin-username", fake_pms::KC_ADMIN_USER),
            ("keycloak-admin-password", fake_pms::KC_ADMIN_PASSWORD),
        ],
    )
    .await;
}

pub(crate) async fn wait_synced<K>(api: &Api<K>, name: &str, status: &str, reason: Option<&str>) -> K
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug + serde::Serialize,
{
    eventually(CONVERGE, &format!("{name} MosipSynced={status} {reason:?}"), || {
        let api = api.clone();
        async move {
            let obj = api.get(name).await.map_err(|e| e.to_string())?;
            let v = serde_json::to_value(&obj).unwrap();
            let conds = v["status"]["conditions"].as_array().cloned().unwrap_or_default();
            let c = conds.iter().find(|c| c["type"] == MOSIP_SYNCED);
            match c {
                Some(c) if c["status"] == status && reason.is_none_or(|r| c["reason"] == r) => Ok(obj),
                _ => Err(format!("{conds:?}")),
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cas_and_policies_reach_pms_outage_heals_and_restarts_write_nothing() {
    let fake = FakeMosip::start().await;
    let mut env = TestEnv::new("mosip-mode").await;
    credentials(&env).await;
    let args: Vec<String> = mosip_args(&fake);
    env.start_operator(&args.iter().map(String::as_str).collect::<Vec<_>>());

    // PMS down while the CAs arrive: Ready (our own validation) but MosipSynced=False MosipUnavailable.
    fake.set_outage(true);
    fixtures::trust(&env, PartnerDomain::Auth).await;
    let cas: Api<CACertificate> = env.cluster_api();
    let root = env.cluster_name("auth-root");
    wait_synced(&cas, &root, "False", Some("MosipUnavailable")).await;
    // It heals with back-off, without a restart.
    fake.set_outage(false);
    let ca = wait_synced(&cas, &root, "True", Some("Uploaded")).await;
    let st = ca.status.unwrap().mosip.unwrap();
    assert!(st.uploaded && st.uploaded_fingerprint_sha256.is_some());
    wait_synced(&cas, &env.cluster_name("auth-int"), "True", Some("Uploaded")).await;
    assert_eq!(fake.state.lock().unwrap().ca_certs.len(), 2);

    // A policy: group and policy created and published, ids recorded.
    let policies: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&policies, &fixtures::auth_policy(&env, "pol", "grp", ApprovalMode::Manual)).await;
    let name = env.cluster_name("pol");
    let p = wait_synced(&policies, &name, "True", Some("Published")).await;
    let st = p.status.unwrap().mosip.unwrap();
    assert!(st.published && st.policy_id.is_some() && st.policy_group_id.is_some());
    {
        let s = fake.state.lock().unwrap();
        let pol = s.policies.iter().find(|x| x.name == name).expect("policy in PMS named after metadata.name");
        assert!(pol.published);
        assert_eq!(s.groups.iter().find(|g| g.id == pol.group_id).unwrap().name, "grp");
    }

    // A Partner without a certificate yet: registered in PMS, with its Keycloak user.
    let partners: Api<Partner> = env.api();
    let mut partner = fixtures::partner("rp", PartnerType::AuthPartner, "Org");
    partner.spec.policy_group = Some("grp".into());
    env.apply(&partners, &partner).await;
    wait_synced(&partners, "rp", "True", Some("Synced")).await;
    assert!(fake.state.lock().unwrap().partners.contains_key("rp"));

    // A restart re-reads status: nothing is written to PMS again.
    let writes = fake.writes();
    env.stop_operator();
    env.start_operator(&args.iter().map(String::as_str).collect::<Vec<_>>());
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    wait_synced(&policies, &name, "True", Some("Published")).await;
    assert_eq!(fake.writes(), writes, "a restart wrote to PMS: {:?}", fake.all_calls());
    assert_eq!(fake.state.lock().unwrap().bearer_seen, 0, "cookie only");

    // No credential or token in the operator's log.
    let log = env.operator_log();
    let tokens: Vec<String> = fake.state.lock().unwrap().tokens.keys().cloned().collect();
    for secret in [fake_pms::ADMIN_PASSWORD, fake_pms::PMS_CLIENT_SECRET, fake_pms::KC_ADMIN_PASSWORD]
        .into_iter()
        .map(String::from)
        .chain(tokens)
    {
        assert!(!log.contains(&secret), "the operator log leaks a credential");
    }
    env.assert_log_clean();
}

/// Every partner type of examples/ onboards in `mosip` mode: keys and licences in the Secrets
/// are the ones the fake PMS minted; a restart mints nothing; deactivation reaches PMS; no key,
/// licence, password or token in logs, Events or status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_onboard_in_mosip_mode_restart_mints_nothing_and_deactivation_reaches_pms() {
    use mosip_partner_operator::mosip::{api_key_secret_name, license_secret_name};
    let _turn = crate::examples::EXAMPLES_LOCK.lock().await;
    let fake = FakeMosip::start().await;
    let mut env = TestEnv::new("mosip-examples").await;
    credentials(&env).await;
    let args: Vec<String> = mosip_args(&fake);
    env.start_operator(&args.iter().map(String::as_str).collect::<Vec<_>>());
    crate::examples::apply_examples(&env);

    let api: Api<Partner> = env.api();
    let all = api.list(&Default::default()).await.unwrap().items;
    assert_eq!(
        all.iter().map(|p| format!("{:?}", p.spec.partner_type)).collect::<std::collections::BTreeSet<_>>().len(),
        12
    );
    // The Auth partner's policy is Manual: approve it (the approver's command) once it waits.
    let auth = all.iter().find(|p| p.spec.partner_type == PartnerType::AuthPartner).unwrap();
    let auth_name = auth.metadata.name.clone().unwrap();
    crate::fixtures::wait_partner_reason(&env, &auth_name, READY, "False", Some("PendingApproval")).await;
    let out = env.cli(&["approve", &auth_name, "--policy", &auth.spec.policies[0].name, "-n", &env.ns]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Every partner synced with every key stored.
    eventually(std::time::Duration::from_secs(90), "every partner synced in PMS", || {
        let api = api.clone();
        async move {
            let mut problems = Vec::new();
            for p in api.list(&Default::default()).await.map_err(|e| e.to_string())?.items {
                let st = p.status.clone().unwrap_or_default();
                let name = p.metadata.name.clone().unwrap_or_default();
                let synced = find(&st.conditions, MOSIP_SYNCED).is_some_and(|c| c.status == "True");
                let m = st.mosip.clone().unwrap_or_default();
                let wanted: usize = p.spec.policies.iter().map(|r| r.api_keys.len()).sum();
                let stored: usize = m.requests.iter().flat_map(|r| r.api_keys.iter()).filter(|k| k.stored).count();
                if !synced || stored != wanted || m.uploaded_fingerprint_sha256.is_none() {
                    problems.push(format!("{name}: {:?} stored {stored}/{wanted}", find(&st.conditions, MOSIP_SYNCED)));
                }
            }
            if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
        }
    })
    .await;

    // The keys in the Secrets are exactly the active keys PMS minted.
    let mut in_secrets = std::collections::BTreeSet::new();
    let mut secrets_seen: Vec<String> = Vec::new();
    for p in api.list(&Default::default()).await.unwrap().items {
        let name = p.metadata.name.clone().unwrap();
        for r in &p.spec.policies {
            for k in &r.api_keys {
                let v = env.secret_value(&api_key_secret_name(&name, &r.name, &k.label), "apiKey").await.expect("key");
                in_secrets.insert(v);
            }
        }
        let signed =
            env.secret_value(&mosip_partner_operator::mosip::signed_certificate_secret_name(&name), "tls.crt").await;
        assert!(signed.is_some_and(|s| s.contains("BEGIN CERTIFICATE")), "{name}: MOSIP-signed certificate stored");
        if let Some(pw) = env.secret_value(&format!("{name}-mosip-user"), "password").await {
            secrets_seen.push(pw);
        }
    }
    let minted: std::collections::BTreeSet<String> =
        fake.state.lock().unwrap().api_keys.iter().filter(|k| k.active).map(|k| k.key.clone()).collect();
    assert!(!minted.is_empty());
    assert_eq!(in_secrets, minted, "Secrets hold exactly PMS's keys");
    secrets_seen.extend(minted.iter().cloned());

    // The MISP licence: PMS's.
    let lapi: Api<MispLicense> = env.api();
    let lic = lapi.list(&Default::default()).await.unwrap().items.remove(0);
    let lic_name = lic.metadata.name.clone().unwrap();
    let lic_value = eventually(CONVERGE, "licence stored", || {
        let env = &env;
        let name = license_secret_name(&lic_name);
        async move { env.secret_value(&name, "licenseKey").await.ok_or_else(|| "no licence".to_string()) }
    })
    .await;
    let pms_licences: Vec<String> = fake.state.lock().unwrap().licenses.iter().map(|l| l.key.clone()).collect();
    assert_eq!(pms_licences, vec![lic_value.clone()]);
    secrets_seen.push(lic_value);

    // A restart mints nothing new in PMS.
    let writes = fake.writes();
    let keys_before = fake.state.lock().unwrap().api_keys.len();
    env.stop_operator();
    env.start_operator(&args.iter().map(String::as_str).collect::<Vec<_>>());
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    assert_eq!(fake.writes(), writes, "a restart wrote to PMS: {:?}", fake.all_calls());
    assert_eq!(fake.state.lock().unwrap().api_keys.len(), keys_before);

    // Exports: into an opted-in namespace (here the source's own) the copy lands; a namespace
    // that did not opt in gets nothing and the condition ExportNotAllowed says so.
    let exports = serde_json::json!({"spec": {"exports": [
        {"namespace": env.ns, "secretName": "esignet-misp-onboarder-key", "key": "mosip-esignet-misp-key"},
        {"namespace": "default", "secretName": "stolen-misp-key", "key": "k"},
    ]}});
    lapi.patch(&lic_name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&exports)).await.unwrap();
    let copy = eventually(CONVERGE, "export copy", || {
        let env = &env;
        async move {
            env.secret_value("esignet-misp-onboarder-key", "mosip-esignet-misp-key")
                .await
                .ok_or_else(|| "none".to_string())
        }
    })
    .await;
    assert_eq!(Some(&copy), secrets_seen.last());
    wait_synced(&lapi, &lic_name, "True", None).await;
    eventually(CONVERGE, "ExportNotAllowed", || {
        let lapi = lapi.clone();
        let name = lic_name.clone();
        async move {
            let l = lapi.get(&name).await.map_err(|e| e.to_string())?;
            let st = l.status.unwrap_or_default();
            if is_true(&st.conditions, EXPORT_NOT_ALLOWED) { Ok(()) } else { Err(format!("{:?}", st.conditions)) }
        }
    })
    .await;
    let default_ns: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(env.client.clone(), "default");
    assert!(
        default_ns.get_opt("stolen-misp-key").await.unwrap().is_none(),
        "no write into a namespace that did not opt in"
    );

    // Deactivation reaches PMS: the licence, then the Auth partner.
    let patch = serde_json::json!({"spec": {"active": false}});
    let pp = kube::api::PatchParams::default();
    lapi.patch(&lic_name, &pp, &kube::api::Patch::Merge(&patch)).await.unwrap();
    api.patch(&auth_name, &pp, &kube::api::Patch::Merge(&patch)).await.unwrap();
    let auth_pid = auth.partner_id();
    eventually(CONVERGE, "deactivation in PMS", || {
        let fake = &fake;
        let pid = auth_pid.clone();
        async move {
            let s = fake.state.lock().unwrap();
            let lic_off = s.licenses.iter().all(|l| !l.active);
            let partner_off = s.partners.get(&pid).is_some_and(|p| !p.active || p.deactivated);
            if lic_off && partner_off {
                Ok(())
            } else {
                Err(format!("licence off {lic_off}, partner off {partner_off}"))
            }
        }
    })
    .await;

    // No key, licence, password or token in logs, Events or status.
    let log = env.operator_log();
    let events: Api<k8s_openapi::api::core::v1::Event> = env.api();
    let events = serde_json::to_string(&events.list(&Default::default()).await.unwrap().items).unwrap();
    let statuses = serde_json::to_string(
        &api.list(&Default::default()).await.unwrap().items.iter().map(|p| &p.status).collect::<Vec<_>>(),
    )
    .unwrap()
        + &serde_json::to_string(
            &lapi.list(&Default::default()).await.unwrap().items.iter().map(|l| &l.status).collect::<Vec<_>>(),
        )
        .unwrap();
    let tokens: Vec<String> = fake.state.lock().unwrap().tokens.keys().cloned().collect();
    for secret in secrets_seen.into_iter().chain(tokens).chain([fake_pms::ADMIN_PASSWORD.to_string()]) {
        // PMS's API keys are numbers of up to six digits: found inside a timestamp or a longer
        // number they are no leak.
        assert!(!crate::common::shows_secret(&log, &secret), "the operator log leaks a secret");
        assert!(!crate::common::shows_secret(&events, &secret), "an Event leaks a secret");
        assert!(!crate::common::shows_secret(&statuses, &secret), "a status leaks a secret");
    }
    env.assert_log_clean();
}
