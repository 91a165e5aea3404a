//! The Helm chart, installed for real; then the operator binary runs with a token of the chart's
//! ServiceAccount (TokenRequest) and must do its whole job with exactly the chart's permissions.

use crate::common::{self, CONVERGE, TestEnv, eventually, helm, run};
use crate::fixtures::*;
use kube::api::{Api, DeleteParams, ObjectMeta};
use mosip_partner_operator::api::*;
use std::process::Command;

#[tokio::test]
async fn operator_works_with_exactly_the_charts_permissions() {
    let helm = helm();
    let chart = common::repo_root().join("charts/mosip-partner-operator");
    run(Command::new(&helm).args(["lint", "--strict"]).arg(&chart));

    let mut env = TestEnv::new("chart").await;
    let release = env.ns.clone();
    run(Command::new(&helm)
        .args(["install", &release])
        .arg(&chart)
        .args(["-n", &env.ns, "--set", "crds.enabled=false", "--set", "userRoles.create=false"])
        .args(["--set", &format!("watchNamespaces={{{}}}", env.ns)])
        .args(["--set", &format!("operatorConfig.clusterSelector={}={}", common::TEST_LABEL, env.ns)])
        .args(["--set", "replicas=2"]));

    // The chart's ServiceAccount and the arguments its Deployment would run with.
    let sa = run(Command::new("kubectl").args([
        "get",
        "serviceaccounts",
        "-n",
        &env.ns,
        "-l",
        &format!("app.kubernetes.io/instance={release}"),
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]));
    assert!(!sa.is_empty(), "the chart made no ServiceAccount");
    let args_json = run(Command::new("kubectl").args([
        "get",
        "deployments",
        "-n",
        &env.ns,
        "-o",
        "jsonpath={.items[0].spec.template.spec.containers[0].args}",
    ]));
    let mut args: Vec<String> = serde_json::from_str(&args_json).expect("args");
    args.retain(|a| !a.starts_with("--metrics-addr"));
    args.push(format!("--metrics-addr=127.0.0.1:{}", env.metrics_port));
    // POD_NAMESPACE comes from the downward API in the cluster.
    args.push(format!("--operator-namespace={}", env.ns));
    assert!(args.iter().any(|a| a == "--leader-elect"), "2 replicas must elect a leader: {args:?}");

    // No cluster-wide Secret access when namespaces are listed.
    let who = format!("system:serviceaccount:{}:{sa}", env.ns);
    let out = env.kubectl(&["auth", "can-i", "list", "secrets", "--all-namespaces", "--as", &who]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no");
    // The mosip backend's finalizer pms.mosip.io/deactivate is added and removed with patches.
    for kind in ["partners", "misplicenses"] {
        let out = env.kubectl(&["auth", "can-i", "patch", kind, "-n", &env.ns, "--as", &who]);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "yes", "patch {kind}");
    }

    // A token for that ServiceAccount (TokenRequest) in a kubeconfig of its own.
    let token = run(Command::new("kubectl").args(["create", "token", &sa, "-n", &env.ns, "--duration=1h"]));
    let admin: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(common::kubeconfig()).expect("read")).expect("yaml");
    let mut kc = admin.clone();
    if let Some(users) = kc.get_mut("users").and_then(|u| u.as_sequence_mut()) {
        for u in users {
            u["user"] = serde_yaml::from_str(&format!("token: {}", token.trim())).expect("token yaml");
        }
    }
    let dir = tempfile::tempdir().expect("tmp");
    let sa_kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&sa_kubeconfig, serde_yaml::to_string(&kc).expect("yaml")).expect("write");
    env.start_operator_with(&args, &sa_kubeconfig);

    // The whole job: trust, policies, approval, certificates, keys, licences, finalizers.
    let int = trust(&env, PartnerDomain::Auth).await;
    let misp_int = trust(&env, PartnerDomain::Misp).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&papi, &auth_policy(&env, "auth", "grp", ApprovalMode::Manual)).await;
    env.apply(&papi, &misp_policy(&env, "misp", "misp-grp")).await;
    wait_policy_ready(&env, "auth").await;
    wait_policy_ready(&env, "misp").await;
    cert_secret(&env, "rp", &int, "Auth Org").await;
    cert_secret(&env, "misp", &misp_int, "MISP Org").await;
    let api: Api<Partner> = env.api();
    let mut rp = partner("rp", PartnerType::AuthPartner, "Auth Org");
    rp.spec.policy_group = Some("grp".into());
    rp.spec.policies = vec![request(&env.cluster_name("auth"), &["one"])];
    env.apply(&api, &rp).await;
    let mut misp = partner("misp", PartnerType::MispPartner, "MISP Org");
    misp.spec.policy_group = Some("misp-grp".into());
    misp.spec.policies = vec![request(&env.cluster_name("misp"), &[])];
    env.apply(&api, &misp).await;
    wait_partner_reason(&env, "rp", READY, "False", Some("PendingApproval")).await;
    let out = env.cli(&["approve", "rp", "--policy", &env.cluster_name("auth"), "-n", &env.ns]);
    assert!(out.status.success());
    wait_partner(&env, "rp", READY, "True").await;
    wait_partner(&env, "misp", READY, "True").await;
    let lapi: Api<MispLicense> = env.api();
    let lic = MispLicense {
        metadata: ObjectMeta { name: Some("lic".into()), ..Default::default() },
        spec: MispLicenseSpec {
            partner_name: "misp".into(),
            policy_name: Some(env.cluster_name("misp")),
            validity: None,
            active: None,
            exports: vec![],
        },
        status: None,
    };
    env.apply(&lapi, &lic).await;
    eventually(CONVERGE, "licence issued", || {
        let lapi = lapi.clone();
        async move {
            let l = lapi.get("lic").await.map_err(|e| e.to_string())?;
            let st = l.status.unwrap_or_default();
            if is_true(&st.conditions, READY) { Ok(()) } else { Err(format!("{:?}", st.conditions)) }
        }
    })
    .await;
    // What the operator exports while partners, keys, licences and CAs all exist.
    let exported = eventually(CONVERGE, "metrics for keys and licences", || {
        let env = &env;
        async move {
            let m = env.metrics().await;
            if m.contains("mosip_partner_api_key_valid_until_timestamp_seconds{")
                && m.contains("mosip_partner_license_valid_until_timestamp_seconds{")
            {
                Ok(m)
            } else {
                Err("not yet".to_string())
            }
        }
    })
    .await;

    // Rotation, label removal (Secret deletion) and policy release (finalizer) too.
    assert!(env.cli(&["rotate", "rp", "-n", &env.ns]).status.success());
    rp.spec.policies.clear();
    env.apply(&api, &rp).await;
    papi.delete(&env.cluster_name("auth"), &DeleteParams::default()).await.expect("delete");
    let full = env.cluster_name("auth");
    wait_deleted(&papi, &full, CONVERGE).await;
    wait_partner(&env, "rp", READY, "True").await;
    env.assert_log_clean();

    // Every metric the chart's alerts use is one the operator really exports.
    let rules = run(Command::new(&helm).args(["template", "t"]).arg(&chart).args([
        "--set",
        "metrics.prometheusRule.enabled=true",
        "--show-only",
        "templates/prometheusrule.yaml",
    ]));
    let mut used: Vec<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("mosip_partner_"))
        .collect();
    used.sort();
    used.dedup();
    assert!(!used.is_empty(), "the PrometheusRule uses no operator metric");
    for m in used {
        assert!(exported.contains(m), "alert uses {m}, which the operator does not export");
    }
    env.stop_operator();
    run(Command::new(&helm).args(["uninstall", &release, "-n", &env.ns]));
}
