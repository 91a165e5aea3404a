//! A benchmark, not a pass/fail test: onboards many partners and records how long it took, how
//! much memory the operator used, and how many writes an idle minute costs. Run with
//! `make bench`; results go to target/bench.json.

use crate::common::{TestEnv, eventually};
use crate::fixtures::*;
use kube::api::{Api, ListParams};
use mosip_partner_operator::api::*;
use std::time::{Duration, Instant};

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
#[ignore = "benchmark: run with `make bench`"]
async fn bench_onboarding() {
    let devices: usize = std::env::var("BENCH_DEVICES").ok().and_then(|v| v.parse().ok()).unwrap_or(150);
    let auths: usize = std::env::var("BENCH_AUTH").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let mut env = TestEnv::new("bench").await;
    env.start_operator(&[]);
    let pid = env.operator_pid().expect("pid");
    let dev = trust(&env, PartnerDomain::Device).await;
    let auth = trust(&env, PartnerDomain::Auth).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&papi, &auth_policy(&env, "auto", "grp", ApprovalMode::Automatic)).await;
    wait_policy_ready(&env, "auto").await;
    let api: Api<Partner> = env.api();

    let start = Instant::now();
    for i in 0..devices {
        let name = format!("dev-{i}");
        cert_secret(&env, &name, &dev, "Dev Org").await;
        let mut p = partner(&name, PartnerType::DeviceProvider, "Dev Org");
        p.spec.partner_id = Some(name.clone());
        env.apply(&api, &p).await;
    }
    for i in 0..auths {
        let name = format!("rp-{i}");
        cert_secret(&env, &name, &auth, "Auth Org").await;
        let mut p = partner(&name, PartnerType::AuthPartner, "Auth Org");
        p.spec.policy_group = Some("grp".into());
        p.spec.policies = vec![request(&env.cluster_name("auto"), &["a", "b"])];
        env.apply(&api, &p).await;
    }
    let applied = start.elapsed();
    let total = devices + auths;
    eventually(Duration::from_secs(600), "all partners Ready", || {
        let api = api.clone();
        async move {
            let ready = api
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?
                .items
                .iter()
                .filter(|p| p.status.as_ref().is_some_and(|s| is_true(&s.conditions, READY)))
                .count();
            if ready == total { Ok(()) } else { Err(format!("{ready}/{total}")) }
        }
    })
    .await;
    let converged = start.elapsed();
    let peak = rss_kib(pid, "VmHWM:");

    // Idle: how many objects does the operator rewrite in 60 s when nothing changes?
    let versions = |items: Vec<Partner>| -> Vec<(String, String)> {
        items
            .into_iter()
            .map(|p| (p.metadata.name.unwrap_or_default(), p.metadata.resource_version.unwrap_or_default()))
            .collect()
    };
    let before = versions(api.list(&ListParams::default()).await.expect("list").items);
    let idle_window =
        Duration::from_secs(std::env::var("BENCH_IDLE_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(60));
    tokio::time::sleep(idle_window).await;
    let after = versions(api.list(&ListParams::default()).await.expect("list").items);
    let rewritten = before.iter().zip(&after).filter(|(a, b)| a != b).count();
    let rss = rss_kib(pid, "VmRSS:");
    let metrics = env.metrics().await;
    let reconciles: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("mosip_partner_reconciles_total{kind=\"Partner\"}"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum();

    let result = serde_json::json!({
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "partners": total,
        "deviceProviders": devices,
        "authPartnersWithTwoKeys": auths,
        "applySeconds": applied.as_secs_f64(),
        "allReadySeconds": converged.as_secs_f64(),
        "partnerReconciles": reconciles,
        "peakRssMiB": peak as f64 / 1024.0,
        "idleRssMiB": rss as f64 / 1024.0,
        "idleWindowSeconds": idle_window.as_secs(),
        "partnersRewrittenWhileIdle": rewritten,
    });
    println!("{}", serde_json::to_string_pretty(&result).expect("json"));
    let out = crate::common::repo_root().join("target/bench.json");
    std::fs::write(&out, serde_json::to_string_pretty(&result).expect("json")).expect("write");
}
