//! Operating the operator: metrics and probes, clean shutdown, leader election.

use crate::common::{CONVERGE, TestEnv, eventually, http_get};
use crate::fixtures::*;
use kube::api::{Api, DeleteParams};
use mosip_partner_operator::api::*;
use std::time::{Duration, Instant};

#[tokio::test]
async fn metrics_probes_and_clean_shutdown() {
    let mut env = TestEnv::new("ops").await;
    env.start_operator(&["--log-format", "json"]);
    let int = trust(&env, PartnerDomain::Device).await;
    cert_secret(&env, "dev", &int, "Dev Org").await;
    let api: Api<Partner> = env.api();
    env.apply(&api, &partner("dev", PartnerType::DeviceProvider, "Dev Org")).await;
    wait_partner(&env, "dev", READY, "True").await;

    let base = format!("http://127.0.0.1:{}", env.metrics_port);
    assert_eq!(http_get(&format!("{base}/healthz")).await.as_deref(), Some("ok"));
    assert_eq!(http_get(&format!("{base}/readyz")).await.as_deref(), Some("ok"));
    let ns = env.ns.clone();
    let m = eventually(CONVERGE, "partner metrics", || {
        let env = &env;
        let ns = ns.clone();
        async move {
            let m = env.metrics().await;
            if m.contains(&format!("mosip_partner_ready{{kind=\"Partner\",namespace=\"{ns}\",name=\"dev\"}} 1")) {
                Ok(m)
            } else {
                Err(m.lines().filter(|l| l.starts_with("mosip_partner_ready")).collect::<Vec<_>>().join("\n"))
            }
        }
    })
    .await;
    assert!(m.contains("mosip_partner_reconciles_total{kind=\"Partner\"}"), "{m}");
    assert!(m.contains("mosip_partner_reconcile_duration_seconds_bucket{"), "{m}");
    assert!(
        m.contains(&format!(
            "mosip_partner_certificate_not_after_timestamp_seconds{{namespace=\"{ns}\",partner=\"dev\"}}"
        )),
        "{m}"
    );
    assert!(m.contains("mosip_partner_signed_certificate_not_after_timestamp_seconds{"), "{m}");
    assert!(m.contains("mosip_partner_ca_certificate_not_after_timestamp_seconds{"), "{m}");

    // Deleted objects leave no stale series.
    api.delete("dev", &DeleteParams::default()).await.expect("delete");
    eventually(CONVERGE, "series gone", || {
        let env = &env;
        async move {
            let m = env.metrics().await;
            if !m.is_empty() && !m.contains("partner=\"dev\"") { Ok(()) } else { Err("still there".into()) }
        }
    })
    .await;

    // Structured logs: one JSON object per line, reconcile lines carry namespace and name.
    let log = env.operator_log();
    let lines: Vec<serde_json::Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    assert!(
        lines.iter().any(|l| l.to_string().contains(&format!("\"namespace\":\"{ns}\""))
            && l.to_string().contains("\"name\":\"dev\"")),
        "no log line names the partner"
    );

    // SIGTERM: a clean exit.
    let status = env.stop_operator().expect("was running");
    assert!(status.success(), "operator exited with {status:?}");
}

#[tokio::test]
async fn leader_election_hands_over_without_changing_keys() {
    let mut env = TestEnv::new("lease").await;
    let mut args = env.operator_args();
    args.retain(|a| !a.starts_with("127.0.0.1:") && a != "--metrics-addr");
    args.extend(["--metrics-addr".into(), "off".into(), "--leader-elect".into()]);
    let a = env.start_replica(&args);
    let b = env.start_replica(&args);
    let int = trust(&env, PartnerDomain::Auth).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&papi, &auth_policy(&env, "auto", "grp", ApprovalMode::Automatic)).await;
    wait_policy_ready(&env, "auto").await;

    // Exactly one replica leads.
    let (leader, follower) = eventually(CONVERGE, "a leader", || {
        let env = &env;
        async move {
            let la = env.replica_log(a).contains("became the leader");
            let lb = env.replica_log(b).contains("became the leader");
            match (la, lb) {
                (true, false) => Ok((a, b)),
                (false, true) => Ok((b, a)),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    let lease = env.kubectl(&["get", "leases", "-n", &env.ns, "-o", "name"]);
    assert!(String::from_utf8_lossy(&lease.stdout).contains("mosip-partner"), "no Lease named mosip-partner…");

    // Onboard a partner with keys, then kill the leader mid-way through more onboarding.
    cert_secret(&env, "rp", &int, "Auth Org").await;
    let api: Api<Partner> = env.api();
    let mut p = partner("rp", PartnerType::AuthPartner, "Auth Org");
    p.spec.policy_group = Some("grp".into());
    p.spec.policies = vec![request(&env.cluster_name("auto"), &["a", "b"])];
    env.apply(&api, &p).await;
    wait_partner(&env, "rp", READY, "True").await;
    let names: Vec<String> = api
        .get("rp")
        .await
        .expect("get")
        .status
        .unwrap_or_default()
        .policies
        .iter()
        .flat_map(|r| r.api_keys.iter().filter_map(|k| k.secret_name.clone()))
        .collect();
    let mut before = Vec::new();
    for n in &names {
        before.push(env.secret_value(n, "apiKey").await.expect("key"));
    }
    assert!(
        !env.replica_log(follower).contains("\"reconciled\"") && !env.replica_log(follower).contains(" reconciled "),
        "the follower reconciled while not leading"
    );

    p.spec.policies = vec![request(&env.cluster_name("auto"), &["a", "b", "c"])];
    env.apply(&api, &p).await;
    env.kill_replica(leader);
    let killed = Instant::now();
    eventually(Duration::from_secs(45), "the follower takes over", || {
        let env = &env;
        async move {
            if env.replica_log(follower).contains("became the leader") { Ok(()) } else { Err("still following".into()) }
        }
    })
    .await;
    let takeover = killed.elapsed();
    assert!(takeover < Duration::from_secs(30), "takeover took {takeover:?}");
    println!("leader takeover after SIGKILL: {takeover:?}");

    // The new leader finishes the onboarding; the existing keys are untouched.
    let got = eventually(CONVERGE, "third key issued", || {
        let api = api.clone();
        async move {
            let got = api.get("rp").await.map_err(|e| e.to_string())?;
            let st = got.status.clone().unwrap_or_default();
            let issued = st.policies.iter().flat_map(|r| r.api_keys.iter()).filter(|k| k.secret_name.is_some()).count();
            if issued == 3 && is_true(&st.conditions, READY) && st.observed_generation == got.metadata.generation {
                Ok(got)
            } else {
                Err(format!("{issued} keys"))
            }
        }
    })
    .await;
    for (n, k) in names.iter().zip(&before) {
        assert_eq!(env.secret_value(n, "apiKey").await.as_ref(), Some(k), "key {n} changed across the hand-over");
    }
    let _ = got;
}

/// With a list of namespaces the operator serves exactly those (one merged watch per namespace)
/// and leaves every other namespace alone.
#[tokio::test]
async fn a_list_of_namespaces_is_served_and_nothing_else() {
    let mut env = TestEnv::new("ns-a").await;
    let second = TestEnv::new("ns-b").await;
    let outside = TestEnv::new("ns-c").await;
    let mut args = env.operator_args();
    let i = args.iter().position(|a| a == "--namespaces").expect("flag") + 1;
    args[i] = format!("{},{}", env.ns, second.ns);
    env.start_operator_with(&args, crate::common::kubeconfig());
    let int = trust(&env, PartnerDomain::Device).await;
    for e in [&env, &second, &outside] {
        cert_secret(e, "dev", &int, "Dev Org").await;
        let api: Api<Partner> = e.api();
        let mut p = partner("dev", PartnerType::DeviceProvider, "Dev Org");
        p.spec.partner_id = Some(format!("dev-{}", e.ns));
        e.apply(&api, &p).await;
    }
    wait_partner(&env, "dev", READY, "True").await;
    wait_partner(&second, "dev", READY, "True").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let api: Api<Partner> = outside.api();
    assert!(api.get("dev").await.expect("get").status.is_none(), "a namespace outside the list was served");
    // Deleting in one namespace does not disturb the other.
    env.api::<Partner>().delete("dev", &DeleteParams::default()).await.expect("delete");
    second
        .api::<k8s_openapi::api::core::v1::Secret>()
        .delete("dev-cert", &DeleteParams::default())
        .await
        .expect("delete");
    wait_partner_reason(&second, "dev", CERTIFICATE_VALID, "False", Some("SecretNotFound")).await;
}

/// On an API server without the CRDs, `run` stops at once with an actionable message. Uses a
/// second, empty control plane of its own (skipped with USE_EXISTING_CLUSTER=true).
#[test]
fn run_without_crds_says_how_to_install_them() {
    if std::env::var("USE_EXISTING_CLUSTER").as_deref() == Ok("true") {
        eprintln!("skipped: needs a control plane of its own");
        return;
    }
    let script = crate::common::repo_root().join("hack/control-plane.sh");
    let dir = crate::common::repo_root().join("target/control-plane-empty");
    let up = std::process::Command::new(&script).arg("up").arg(&dir).env_remove("KUBECONFIG").output().expect("up");
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mosip-partner-operator"))
        .args(["run", "--metrics-addr", "off"])
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .output()
        .expect("run");
    let _ = std::process::Command::new(&script).arg("down").arg(&dir).output();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CRD (cacertificates.pms.mosip.io) is not installed"), "{stderr}");
    assert!(stderr.contains("kubectl apply --validate=false -f crds/"), "{stderr}");
}
