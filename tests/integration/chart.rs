//! The Helm chart, installed for real; then the operator binary runs with a token of the chart's
//! ServiceAccount (TokenRequest) and must do its whole job with exactly the chart's permissions.

use crate::common::{self, CONVERGE, TEST_LABEL, TestEnv, eventually, helm, run};
use crate::fake_pms::FakeMosip;
use crate::fixtures::*;
use crate::mosip_controller::copy_value;
use crate::mosip_mode::{credentials, wait_synced};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use mosip_partner_operator::api::*;
use mosip_partner_operator::mosip::api_key_secret_name;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const GENERATE: &str = "PATCH /partners/{partnerId}/generate/apikey";
const PATCH_PARTNER: &str = "PATCH /partners/{partnerId}";

/// A release of the chart in the test namespace, and how its Deployment would run the operator:
/// its arguments (metrics on loopback) and a kubeconfig with a token of its ServiceAccount.
struct Installed {
    args: Vec<String>,
    /// The ServiceAccount as an RBAC subject, for `kubectl auth can-i --as`.
    who: String,
    dir: tempfile::TempDir,
}

impl Installed {
    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }
}

/// Installs the chart as release `env.ns` watching only `env.ns`, with `extra` helm arguments.
fn install(helm: &str, chart: &Path, env: &TestEnv, extra: &[&str]) -> Installed {
    let release = env.ns.clone();
    run(Command::new(helm)
        .args(["install", &release])
        .arg(chart)
        .args(["-n", &env.ns, "--set", "crds.enabled=false", "--set", "userRoles.create=false"])
        .args(["--set", &format!("watchNamespaces={{{}}}", env.ns)])
        .args(["--set", &format!("operatorConfig.clusterSelector={}={}", common::TEST_LABEL, env.ns)])
        .args(extra));

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
    std::fs::write(dir.path().join("kubeconfig"), serde_yaml::to_string(&kc).expect("yaml")).expect("write");
    Installed { args, who: format!("system:serviceaccount:{}:{sa}", env.ns), dir }
}

#[tokio::test]
async fn operator_works_with_exactly_the_charts_permissions() {
    let helm = helm();
    let chart = common::repo_root().join("charts/mosip-partner-operator");
    run(Command::new(&helm).args(["lint", "--strict"]).arg(&chart));

    let mut env = TestEnv::new("chart").await;
    let release = env.ns.clone();
    let installed = install(&helm, &chart, &env, &["--set", "replicas=2"]);
    assert!(
        installed.args.iter().any(|a| a == "--leader-elect"),
        "2 replicas must elect a leader: {:?}",
        installed.args
    );

    // No cluster-wide Secret access when namespaces are listed.
    let out = env.kubectl(&["auth", "can-i", "list", "secrets", "--all-namespaces", "--as", &installed.who]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no");
    // The mosip backend's finalizer pms.mosip.io/deactivate is added and removed with patches.
    for kind in ["partners", "misplicenses"] {
        let out = env.kubectl(&["auth", "can-i", "patch", kind, "-n", &env.ns, "--as", &installed.who]);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "yes", "patch {kind}");
    }
    env.start_operator_with(&installed.args, &installed.kubeconfig());

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

/// The chart in `backend.mode=mosip`, against the fake PMS (a contract model): the operator, with
/// exactly the chart's permissions, reads only its credentials Secret in its namespace, onboards
/// a partner into PMS, writes the consumer copy into an export namespace outside the watched
/// ones, and deactivates the partner in PMS when it is deleted.
#[tokio::test]
async fn the_chart_runs_the_mosip_backend_with_exactly_its_permissions() {
    let helm = helm();
    let chart = common::repo_root().join("charts/mosip-partner-operator");
    let fake = FakeMosip::start().await;
    let mut env = TestEnv::new("chart-mosip").await;
    // The export target exists before the install (the chart gives the operator a Role there)
    // and has opted in to copies from env.ns.
    let target = format!("{}-esignet", env.ns);
    let mut ns = Namespace::default();
    ns.metadata.name = Some(target.clone());
    ns.metadata.labels = Some(BTreeMap::from([
        (TEST_LABEL.to_string(), env.ns.clone()),
        (ACCEPT_EXPORTS_LABEL.to_string(), env.ns.clone()),
    ]));
    Api::<Namespace>::all(env.client.clone()).create(&PostParams::default(), &ns).await.unwrap();
    credentials(&env).await;

    let installed = install(
        &helm,
        &chart,
        &env,
        &[
            "--set",
            "backend.mode=mosip",
            "--set",
            &format!("backend.mosip.apiUrl={}", fake.api_url()),
            "--set",
            &format!("backend.mosip.keycloakUrl={}", fake.keycloak_url()),
            "--set",
            "backend.mosip.credentialsSecret=mosip-credentials",
            "--set",
            &format!("backend.mosip.exportNamespaces={{{target}}}"),
        ],
    );
    for want in ["--backend=mosip", "--mosip-credentials-secret=mosip-credentials"] {
        assert!(installed.args.iter().any(|a| a == want), "{want} missing: {:?}", installed.args);
    }
    assert!(installed.args.contains(&format!("--export-namespaces={target}")), "{:?}", installed.args);
    let can = |verb: &str, what: &str, ns: &str| {
        let out = env.kubectl(&["auth", "can-i", verb, what, "-n", ns, "--as", &installed.who]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(can("get", "secrets/mosip-credentials", &env.ns), "yes");
    assert_eq!(can("patch", "secrets", &target), "yes");
    assert_eq!(can("list", "secrets", "default"), "no");
    env.start_operator_with(&installed.args, &installed.kubeconfig());

    let ca = trust(&env, PartnerDomain::Auth).await;
    let policies: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&policies, &auth_policy(&env, "pol", "grp", ApprovalMode::Automatic)).await;
    let policy = env.cluster_name("pol");
    wait_synced(&policies, &policy, "True", Some("Published")).await;
    cert_secret(&env, "rp", &ca, "Org").await;
    let mut rp = partner("rp", PartnerType::AuthPartner, "Org");
    rp.spec.policy_group = Some("grp".into());
    rp.spec.policies = vec![request(&policy, &["main"])];
    rp.spec.policies[0].api_keys[0].exports =
        vec![Export { namespace: target.clone(), secret_name: "rp-api-key".into(), key: "partner-api-key".into() }];
    let partners: Api<Partner> = env.api();
    env.apply(&partners, &rp).await;
    wait_partner(&env, "rp", READY, "True").await;
    let key = env.secret_value(&api_key_secret_name("rp", &policy, "main"), "apiKey").await.expect("key");
    let copies: Api<Secret> = Api::namespaced(env.client.clone(), &target);
    let copied =
        eventually(CONVERGE, "the consumer copy", || copy_value(&copies, "rp-api-key", "partner-api-key")).await;
    assert_eq!(copied, key, "the copy holds the key PMS minted");
    assert_eq!(fake.calls(GENERATE), 1, "one key minted: {:?}", fake.all_calls());

    // Deleting the Partner deactivates it in PMS first (the finalizer, patched with the chart's
    // rights), then releases it.
    let patches = fake.calls(PATCH_PARTNER);
    partners.delete("rp", &DeleteParams::default()).await.expect("delete");
    wait_deleted(&partners, "rp", CONVERGE).await;
    assert_eq!(fake.calls(PATCH_PARTNER), patches + 1, "deactivated once: {:?}", fake.all_calls());
    env.assert_log_clean();
    env.stop_operator();
    run(Command::new(&helm).args(["uninstall", &env.ns, "-n", &env.ns]));
}
