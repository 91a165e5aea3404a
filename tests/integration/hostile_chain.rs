//! A Partner whose ca.crt is a megabyte of certificates (issue #11): it gets `ChainTooLong`,
//! another Partner in the same namespace still becomes Ready, a third one whose certificate
//! breaks an RFC 5280 rule gets `NonConformingCertificate`, and /healthz answers throughout.
//! The times are printed and written to target/hostile-chain.json (numbers, not pass/fail).

use crate::common::{CONVERGE, TestEnv, http_get};
use crate::fixtures::*;
use crate::pki;
use kube::api::Api;
use mosip_partner_operator::api::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// About 1 MB of PEM: many distinct CA certificates, most of them sharing the name of the real
/// intermediate (the shape that made path building explode), under a Secret's 1 MiB limit.
fn megabyte_of_certificates(real_issuer: &pki::Ca) -> (String, usize) {
    let filler = pki::root("Hostile Filler Root", 3650);
    let mut pem = String::new();
    let mut count = 0;
    while pem.len() < 1_000_000 {
        let name = if count % 2 == 0 { "DEVICE Intermediate".to_string() } else { format!("Hostile CA {count}") };
        let ca = pki::intermediate(&filler, &name, 365);
        if pem.len() + ca.pem.len() > 1_040_000 {
            break;
        }
        pem.push_str(&ca.pem);
        count += 1;
    }
    // The real intermediate too, so only the bound (not a missing issuer) can refuse it.
    pem.push_str(&real_issuer.pem);
    (pem, count + 1)
}

#[tokio::test]
async fn megabyte_ca_crt_gets_chain_too_long_while_others_proceed() {
    let mut env = TestEnv::new("hostile").await;
    env.start_operator(&[]);
    let root = pki::root("DEVICE Root", 3650);
    let int = pki::intermediate(&root, "DEVICE Intermediate", 1825);
    let capi: Api<CACertificate> = env.cluster_api();
    env.apply(&capi, &crate::cacert::cacert(&env, "device-root", PartnerDomain::Device, &root.pem)).await;
    env.apply(&capi, &crate::cacert::cacert(&env, "device-int", PartnerDomain::Device, &int.pem)).await;
    crate::cacert::wait_ca(&env, "device-int", "True").await;
    let base = format!("http://127.0.0.1:{}", env.metrics_port);
    crate::common::eventually(CONVERGE, "/healthz up", || {
        let url = format!("{base}/healthz");
        async move { http_get(&url).await.ok_or_else(|| "no answer".to_string()) }
    })
    .await;

    // /healthz is polled every 100 ms from now on; every answer must come within 2 s.
    let stop = Arc::new(AtomicBool::new(false));
    let slowest_ms = Arc::new(AtomicU64::new(0));
    let probes = Arc::new(AtomicU64::new(0));
    let prober = {
        let (stop, slowest_ms, probes, url) =
            (stop.clone(), slowest_ms.clone(), probes.clone(), format!("{base}/healthz"));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                let answer = tokio::time::timeout(Duration::from_secs(2), http_get(&url)).await;
                assert_eq!(answer.ok().flatten().as_deref(), Some("ok"), "/healthz did not answer within 2 s");
                slowest_ms.fetch_max(start.elapsed().as_millis() as u64, Ordering::Relaxed);
                probes.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let (hostile_chain, count) = megabyte_of_certificates(&int);
    let leaf = pki::leaf(&int, "hostile", "Hostile Org");
    env.put_secret("hostile-cert", &[("tls.crt", &leaf), ("ca.crt", &hostile_chain)]).await;
    cert_secret(&env, "good", &int, "Good Org").await;
    // A certificate breaking an RFC 5280 rule (no authorityKeyIdentifier) in the same namespace.
    let lax_leaf = {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        p.distinguished_name.push(rcgen::DnType::OrganizationName, "Lax Org");
        p.distinguished_name.push(rcgen::DnType::CommonName, "lax");
        p.not_before = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
        p.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(730);
        let key = rcgen::KeyPair::generate().expect("key");
        p.signed_by(&key, &int.issuer()).expect("sign").pem()
    };
    env.put_secret("lax-cert", &[("tls.crt", &lax_leaf)]).await;
    let api: Api<Partner> = env.api();
    let start = Instant::now();
    env.apply(&api, &partner("hostile", PartnerType::DeviceProvider, "Hostile Org")).await;
    env.apply(&api, &partner("good", PartnerType::DeviceProvider, "Good Org")).await;
    env.apply(&api, &partner("lax", PartnerType::DeviceProvider, "Lax Org")).await;

    let hostile = wait_partner_reason(&env, "hostile", CERTIFICATE_VALID, "False", Some("ChainTooLong")).await;
    let hostile_seconds = start.elapsed().as_secs_f64();
    let message =
        find(&hostile.status.expect("status").conditions, CERTIFICATE_VALID).expect("condition").message.clone();
    assert!(message.contains(&format!("{count} distinct")) && message.contains("at most 10"), "{message}");
    wait_partner(&env, "good", READY, "True").await;
    let good_seconds = start.elapsed().as_secs_f64();
    let lax = wait_partner_reason(&env, "lax", CERTIFICATE_VALID, "False", Some("NonConformingCertificate")).await;
    let lax_message =
        find(&lax.status.expect("status").conditions, CERTIFICATE_VALID).expect("condition").message.clone();
    assert!(lax_message.contains("4.2.1.1") && lax_message.contains("CN=lax"), "{lax_message}");

    // `verify` reaches the same verdict on the same input.
    let dir = tempfile::tempdir().expect("tmp");
    for (file, text) in
        [("root.pem", &root.pem), ("int.pem", &int.pem), ("leaf.pem", &leaf), ("chain.pem", &hostile_chain)]
    {
        std::fs::write(dir.path().join(file), text).expect("write");
    }
    let path = |f: &str| dir.path().join(f).display().to_string();
    let out = env.cli(&[
        "verify",
        "--domain",
        "DEVICE",
        "--trust",
        &path("root.pem"),
        "--intermediate",
        &path("int.pem"),
        "--cert",
        &path("leaf.pem"),
        "--chain",
        &path("chain.pem"),
        "--organization",
        "Hostile Org",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("verify prints JSON");
    assert_eq!((out.status.code(), json["reason"].as_str()), (Some(1), Some("ChainTooLong")), "{json}");
    assert_eq!(json["message"].as_str(), Some(message.as_str()));

    stop.store(true, Ordering::Relaxed);
    prober.await.expect("/healthz answered throughout");
    assert!(probes.load(Ordering::Relaxed) > 0);
    env.assert_log_clean();

    let result = serde_json::json!({
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "caCrtBytes": hostile_chain.len(),
        "caCrtCertificates": count,
        "secondsUntilChainTooLong": hostile_seconds,
        "secondsUntilOtherPartnerReady": good_seconds,
        "healthzProbes": probes.load(Ordering::Relaxed),
        "slowestHealthzMillis": slowest_ms.load(Ordering::Relaxed),
    });
    println!("{}", serde_json::to_string_pretty(&result).expect("json"));
    let out = crate::common::repo_root().join("target/hostile-chain.json");
    std::fs::write(out, serde_json::to_string_pretty(&result).expect("json")).expect("write");
}
