//! Benchmarks of certificate validation (issue #11), not pass/fail tests: they record numbers
//! in target/trust-bench.json. Run with
//! `cargo test --test integration trust_bench -- --ignored --nocapture` (no cluster needed).
//!
//! 1. One partner validated against a store of 1,000 CA certificates: CA evaluation of the
//!    store (first time, and memoised as the controller sees it per partner), and partner
//!    validation against the 1,000 trusted roots.
//! 2. `verify` versus `openssl verify` on the same 3-certificate chain: per process, and per
//!    validation (ours in-process; OpenSSL's marginal cost per extra certificate in one run).

use crate::pki;
use mosip_partner_operator::api::PartnerDomain;
use mosip_partner_operator::trust::{self, CaInput, PartnerCertInput};
use std::process::Command;
use std::time::Instant;

const OPERATOR: &str = env!("CARGO_BIN_EXE_mosip-partner-operator");

fn mean_ms(total: std::time::Duration, n: u32) -> f64 {
    total.as_secs_f64() * 1000.0 / f64::from(n)
}

fn store_of_1000() -> serde_json::Value {
    let root = pki::root("Bench Root", 3650);
    let int = pki::intermediate(&root, "Bench Intermediate", 1825);
    let mut cas: Vec<CaInput> = (0..998)
        .map(|i| CaInput {
            name: format!("noise-{i}"),
            domain: PartnerDomain::Auth,
            pem: pki::root(&format!("Noise Root {i}"), 3650).pem,
        })
        .collect();
    cas.push(CaInput { name: "root".into(), domain: PartnerDomain::Auth, pem: root.pem.clone() });
    cas.push(CaInput { name: "int".into(), domain: PartnerDomain::Auth, pem: int.pem.clone() });
    let now = jiff::Timestamp::now();

    let start = Instant::now();
    let (roots, intermediates) = trust::trusted_sets(&cas, PartnerDomain::Auth, now);
    let first_evaluation = start.elapsed();
    assert_eq!((roots.len(), intermediates.len()), (999, 1));

    let leaves: Vec<String> = (0..50).map(|i| pki::leaf(&int, &format!("p{i}"), "Acme")).collect();
    let n = leaves.len() as u32;
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(trust::trusted_sets(&cas, PartnerDomain::Auth, now));
    }
    let memoised = start.elapsed();
    let start = Instant::now();
    for leaf in &leaves {
        let input = PartnerCertInput {
            domain: PartnerDomain::Auth,
            certificate_pem: leaf,
            chain_pem: None,
            trusted_roots: &roots,
            trusted_intermediates: &intermediates,
            organization: Some("Acme"),
            now,
            min_validity: trust::DEFAULT_MIN_VALIDITY,
        };
        trust::validate_partner_certificate(&input).expect("valid");
    }
    let validation = start.elapsed();
    serde_json::json!({
        "caCertificates": cas.len(),
        "firstEvaluationMs": first_evaluation.as_secs_f64() * 1000.0,
        "memoisedTrustedSetsPerPartnerMs": mean_ms(memoised, n),
        "validationPerPartnerMs": mean_ms(validation, n),
        "perPartnerTotalMs": mean_ms(memoised + validation, n),
    })
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn verify_vs_openssl() -> serde_json::Value {
    let root = pki::root("Chain Root", 3650);
    let int = pki::intermediate(&root, "Chain Intermediate", 1825);
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path();
    std::fs::write(p.join("root.pem"), &root.pem).expect("write");
    std::fs::write(p.join("int.pem"), &int.pem).expect("write");
    let leaves: Vec<String> = (0..100).map(|i| pki::leaf(&int, &format!("p{i}"), "Acme")).collect();
    for (i, leaf) in leaves.iter().enumerate() {
        std::fs::write(p.join(format!("leaf{i}.pem")), leaf).expect("write");
    }
    let runs = 20u32;

    let ours = || {
        let mut c = Command::new(OPERATOR);
        c.current_dir(p).args([
            "verify",
            "--domain",
            "AUTH",
            "--trust",
            "root.pem",
            "--chain",
            "int.pem",
            "--cert",
            "leaf0.pem",
        ]);
        c
    };
    let openssl = |n: usize| {
        let mut c = Command::new("openssl");
        c.current_dir(p).args(["verify", "-x509_strict", "-CAfile", "root.pem", "-untrusted", "int.pem"]);
        c.args((0..n).map(|i| format!("leaf{i}.pem")));
        c
    };
    run(&mut ours());
    run(&mut openssl(1));
    let start = Instant::now();
    for _ in 0..runs {
        run(&mut ours());
    }
    let ours_process = start.elapsed();
    let start = Instant::now();
    for _ in 0..runs {
        run(&mut openssl(1));
    }
    let openssl_process = start.elapsed();
    // OpenSSL's per-validation cost: one run over 100 certificates minus one run over 1.
    let start = Instant::now();
    for _ in 0..runs {
        run(&mut openssl(leaves.len()));
    }
    let openssl_hundred = start.elapsed();
    let openssl_per_validation =
        (mean_ms(openssl_hundred, runs) - mean_ms(openssl_process, runs)) / (leaves.len() as f64 - 1.0);

    // Ours in-process: what `verify` does after reading its files (CA evaluation of --trust
    // included, as the CLI evaluates it each run).
    let cas = vec![CaInput { name: "root.pem".into(), domain: PartnerDomain::Auth, pem: root.pem.clone() }];
    let now = jiff::Timestamp::now();
    let start = Instant::now();
    for leaf in &leaves {
        let (roots, intermediates) = trust::trusted_sets(&cas, PartnerDomain::Auth, now);
        let input = PartnerCertInput {
            domain: PartnerDomain::Auth,
            certificate_pem: leaf,
            chain_pem: Some(&int.pem),
            trusted_roots: &roots,
            trusted_intermediates: &intermediates,
            organization: None,
            now,
            min_validity: trust::DEFAULT_MIN_VALIDITY,
        };
        trust::validate_partner_certificate(&input).expect("valid");
    }
    let ours_in_process = start.elapsed();
    serde_json::json!({
        "runs": runs,
        "verifyProcessMs": mean_ms(ours_process, runs),
        "opensslVerifyProcessMs": mean_ms(openssl_process, runs),
        "verifyPerValidationMs": mean_ms(ours_in_process, leaves.len() as u32),
        "opensslPerValidationMs": openssl_per_validation,
    })
}

#[test]
#[ignore = "benchmark: records numbers in target/trust-bench.json"]
fn trust_bench() {
    let result = serde_json::json!({
        "profile": if cfg!(debug_assertions) { "debug (dependencies at opt-level 1)" } else { "release" },
        "store": store_of_1000(),
        "verifyVsOpenssl": verify_vs_openssl(),
    });
    println!("{}", serde_json::to_string_pretty(&result).expect("json"));
    let out = crate::common::repo_root().join("target/trust-bench.json");
    std::fs::write(out, serde_json::to_string_pretty(&result).expect("json")).expect("write");
}
