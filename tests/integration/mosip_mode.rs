//! The operator in `--backend mosip` mode on the real API server, against the fake PMS
//! (fake_pms.rs, a contract model derived from PMS sources, not PMS itself).

use crate::common::{CONVERGE, TestEnv, eventually};
use crate::fake_pms::{self, FakeMosip};
use crate::fixtures;
use kube::api::Api;
use mosip_partner_operator::api::*;

fn mosip_args(fake: &FakeMosip) -> Vec<String> {
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

async fn credentials(env: &TestEnv) {
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

async fn wait_synced<K>(api: &Api<K>, name: &str, status: &str, reason: Option<&str>) -> K
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

    // A Partner is not handled by this build in mosip mode: no local key is minted.
    let partners: Api<Partner> = env.api();
    let mut partner = fixtures::partner("rp", PartnerType::AuthPartner, "Org");
    partner.spec.policy_group = Some("grp".into());
    env.apply(&partners, &partner).await;
    wait_synced(&partners, "rp", "False", Some("MosipNotWired")).await;

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
