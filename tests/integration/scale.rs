//! Cache-first reconciles, measured by the API server itself: many Partners converge with a
//! bounded number of API reads, whatever the namespace holds (issue #9).
//!
//! The counts come from the API server's `apiserver_request_total`; the test runs alone
//! ([`TestEnv::alone`]) so no other test's requests are counted.

use crate::common::{TestEnv, eventually, http_get};
use crate::fixtures::*;
use kube::api::Api;
use mosip_partner_operator::api::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// The kinds the operator reads and writes (Events are only written).
pub const RESOURCES: &[&str] = &["secrets", "partners", "partnerpolicies", "cacertificates", "misplicenses", "events"];

/// `apiserver_request_total` summed by (verb, resource) for the operator's resources.
pub fn api_requests(env: &TestEnv) -> BTreeMap<(String, String), f64> {
    api_requests_for(env, RESOURCES)
}

/// `apiserver_request_total` summed by (verb, resource) for `resources`.
pub fn api_requests_for(env: &TestEnv, resources: &[&str]) -> BTreeMap<(String, String), f64> {
    let out = env.kubectl(&["get", "--raw", "/metrics"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut counts = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("apiserver_request_total{")) {
        let Some((labels, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        let label = |name: &str| {
            let key = format!("{name}=\"");
            labels.split(&key).nth(1).and_then(|rest| rest.split('"').next()).unwrap_or("").to_string()
        };
        let resource = label("resource");
        if !resources.contains(&resource.as_str()) {
            continue;
        }
        *counts.entry((label("verb"), resource)).or_insert(0.0) += value;
    }
    counts
}

/// The difference `after - before`, by verb and resource.
pub fn delta(
    before: &BTreeMap<(String, String), f64>,
    after: &BTreeMap<(String, String), f64>,
) -> BTreeMap<(String, String), f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v > 0.0)
        .collect()
}

pub fn sum(counts: &BTreeMap<(String, String), f64>, verb: &str) -> f64 {
    counts.iter().filter(|((v, _), _)| v == verb).map(|(_, n)| n).sum::<f64>() + 0.0
}

/// A counter of the operator's own /metrics, summed over the series whose line starts with
/// `prefix`.
pub fn operator_metric(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}

/// Waits until no other test namespace is still being deleted and nobody reads or writes the
/// operator's kinds any more: the garbage collector and the namespace controller read and delete
/// Secrets while they tear one down — the garbage collector keeps GETting the Secrets of a
/// namespace already gone for seconds (hundreds of 404s) — which the API server's counters would
/// mix into the measurement. Called while no operator runs.
pub async fn wait_quiet(env: &TestEnv) {
    wait_no_terminating_namespace(env).await;
    eventually(Duration::from_secs(300), "no requests for the operator's kinds for 3 s", || async move {
        let before = api_requests(env);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let d = delta(&before, &api_requests(env));
        if d.is_empty() { Ok(()) } else { Err(format!("{d:?}")) }
    })
    .await;
}

async fn wait_no_terminating_namespace(env: &TestEnv) {
    eventually(Duration::from_secs(300), "other test namespaces gone", || async move {
        let out = env.kubectl(&[
            "get",
            "namespaces",
            "-l",
            crate::common::TEST_LABEL,
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.status.phase}{\"\\n\"}{end}",
        ]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let terminating: Vec<&str> = text.lines().filter(|l| l.ends_with("Terminating")).collect();
        if terminating.is_empty() { Ok(()) } else { Err(terminating.join(", ")) }
    })
    .await;
}

/// Auth-domain CA trust applied while no operator runs yet: the CACertificates become Ready once
/// it starts. Returns the intermediate that signs partner certificates.
pub async fn trust_later(env: &TestEnv) -> crate::pki::Ca {
    let root = crate::pki::root("AUTH Root", 3650);
    let int = crate::pki::intermediate(&root, "AUTH Intermediate", 1825);
    let api: Api<CACertificate> = env.cluster_api();
    env.apply(&api, &crate::cacert::cacert(env, "auth-root", PartnerDomain::Auth, &root.pem)).await;
    env.apply(&api, &crate::cacert::cacert(env, "auth-int", PartnerDomain::Auth, &int.pem)).await;
    int
}

#[tokio::test]
async fn many_partners_converge_with_bounded_api_reads() {
    let n: usize = std::env::var("SCALE_PARTNERS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let mut env = TestEnv::alone("scale").await;
    let auth = trust_later(&env).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&papi, &auth_policy(&env, "auto", "grp", ApprovalMode::Automatic)).await;
    // Unrelated Secrets in the namespace: the operator must neither cache nor read them.
    for i in 0..50 {
        env.put_secret(&format!("unrelated-{i}"), &[("k", "v")]).await;
    }
    // Everything exists before the operator starts, as after a restore or an upgrade.
    let api: Api<Partner> = env.api();
    for i in 0..n {
        let name = format!("rp-{i}");
        cert_secret(&env, &name, &auth, "Auth Org").await;
        let mut p = partner(&name, PartnerType::AuthPartner, "Auth Org");
        p.spec.partner_id = Some(name.clone());
        p.spec.policy_group = Some("grp".into());
        p.spec.policies = vec![request(&env.cluster_name("auto"), &["a"])];
        env.apply(&api, &p).await;
    }
    wait_quiet(&env).await;
    let before = api_requests(&env);
    env.start_operator(&[]);
    // Convergence is read from the operator's own /metrics (its store), not from the API
    // server, so the test's polling adds no reads.
    // The most Partners seen waiting in the operator's backlog (all of them are queued at once;
    // the controller gets 4 x --concurrency at a time).
    let most_waiting = std::sync::atomic::AtomicU64::new(0);
    eventually(Duration::from_secs(600), "all partners Ready", || {
        let env = &env;
        let most_waiting = &most_waiting;
        async move {
            let m = env.metrics().await;
            let waiting = operator_metric(&m, "mosip_partner_backlog_waiting ") as u64;
            most_waiting.fetch_max(waiting, std::sync::atomic::Ordering::Relaxed);
            let ready = m
                .lines()
                .filter(|l| l.starts_with("mosip_partner_ready{kind=\"Partner\"") && l.ends_with(" 1"))
                .count();
            if ready == n { Ok(()) } else { Err(format!("{ready}/{n}")) }
        }
    })
    .await;
    // Let the last status writes come back through the watch.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = api_requests(&env);
    let d = delta(&before, &after);
    let metrics = env.metrics().await;
    let reconciles = operator_metric(&metrics, "mosip_partner_reconciles_total{kind=\"Partner\"}");
    let gets = sum(&d, "GET");
    let lists = sum(&d, "LIST");
    let secret_gets = d.get(&("GET".to_string(), "secrets".to_string())).copied().unwrap_or(0.0);
    let report = serde_json::json!({
        "partners": n,
        "partnerReconciles": reconciles,
        "mostWaitingInBacklog": most_waiting.load(std::sync::atomic::Ordering::Relaxed),
        "gets": gets,
        "lists": lists,
        "secretGets": secret_gets,
        "readsPerReconcileBesidesCertificateFirstReads": (gets + lists - n as f64).max(0.0) / reconciles.max(1.0),
        "byVerbAndResource": d.iter().map(|((v, r), n)| format!("{v} {r}: {n}")).collect::<Vec<_>>(),
    });
    println!("{report}");
    assert!(reconciles >= n as f64, "{report}");
    // One LIST per watch and per CRD probe at start; none per reconcile.
    assert!(lists <= 20.0, "LISTs grew with the partners: {report}");
    // The Partner watch follows every change without starting over (a relist triggers every
    // Partner again): the start's probe and the watch's one listing.
    let partner_lists = d.get(&("LIST".to_string(), "partners".to_string())).copied().unwrap_or(0.0);
    assert!(partner_lists <= 2.0, "the Partner watch was restarted: {report}");
    assert!(!env.operator_log().contains("watch failed"), "a watch failed: {report}");
    // Each certificate Secret is read once; nothing else is read per reconcile.
    assert!(secret_gets <= n as f64 + 5.0, "Secret GETs grew beyond one per certificate: {report}");
    assert!(gets <= n as f64 + 10.0, "GETs per reconcile: {report}");
    // The policy's status names its first users and counts them all: its size does not grow
    // with the partners.
    let status = eventually(Duration::from_secs(60), "policy counts its users", || {
        let papi = papi.clone();
        let name = env.cluster_name("auto");
        async move {
            let st = papi.get(&name).await.map_err(|e| e.to_string())?.status.unwrap_or_default();
            if st.used_by_count == Some(n as i64) { Ok(st) } else { Err(format!("{:?}", st.used_by_count)) }
        }
    })
    .await;
    assert_eq!(status.used_by.len(), n.min(10), "{:?}", status.used_by);
    // Every Partner handed to the controller was reported reconciled: the backlog holds nothing
    // at rest (a hand-over whose end went unreported would hold a place for ever).
    eventually(Duration::from_secs(30), "an empty backlog at rest", || {
        let env = &env;
        async move {
            let m = env.metrics().await;
            let waiting = operator_metric(&m, "mosip_partner_backlog_waiting ");
            let handed = operator_metric(&m, "mosip_partner_backlog_handed ");
            if waiting == 0.0 && handed == 0.0 { Ok(()) } else { Err(format!("waiting {waiting}, handed {handed}")) }
        }
    })
    .await;
    assert_eq!(status.used_by.first().map(String::as_str), Some(format!("{}/rp-0", env.ns).as_str()));
    env.assert_log_clean();
}

/// Starts the operator with Auth-domain trust and an Automatic policy (group "grp"); returns the
/// intermediate that signs partner certificates and the policy's name.
async fn operator_with_auth_policy(env: &mut TestEnv) -> (crate::pki::Ca, String) {
    env.start_operator(&[]);
    let int = trust(env, PartnerDomain::Auth).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&papi, &auth_policy(env, "auto", "grp", ApprovalMode::Automatic)).await;
    wait_policy_ready(env, "auto").await;
    (int, env.cluster_name("auto"))
}

/// An Auth Partner asking `policy` for one API key labelled "one".
fn onboarding(name: &str, policy: &str) -> Partner {
    let mut p = partner(name, PartnerType::AuthPartner, "Auth Org");
    p.spec.policy_group = Some("grp".into());
    p.spec.policies = vec![request(policy, &["one"])];
    p
}

/// Makes the next operator start hold its Secret listing back for the returned time.
fn hold_secret_listing(env: &mut TestEnv) -> Duration {
    let hold = Duration::from_secs(30);
    env.operator_env.push(("MOSIP_OPERATOR_TEST_SECRET_LIST_DELAY_MS".into(), hold.as_millis().to_string()));
    hold
}

/// Waits for the operator's /readyz to say ok (every store listed).
async fn wait_ready(readyz: &str) {
    eventually(Duration::from_secs(120), "operator ready", || async move {
        if http_get(readyz).await.as_deref() == Some("ok") { Ok(()) } else { Err("not ready".to_string()) }
    })
    .await;
}

/// A fresh install does not wait for the Secret listing (the first Partner Ready within ~2 s of
/// the start at 10,000 partners): with that listing held back, a Partner the operator never
/// wrote a status to gets its keys; a fresh Partner whose key's Secret name someone else's Secret
/// holds reports the conflict and leaves that Secret alone; a Partner with a status waits for the
/// Secret store (it writes nothing, not even a create the API server refuses), and once it is
/// listed nothing is minted again. Runs alone: it counts the API server's Secret writes.
#[tokio::test]
async fn fresh_partners_do_not_wait_for_the_secret_listing() {
    let mut env = TestEnv::alone("fresh").await;
    let (int, policy) = operator_with_auth_policy(&mut env).await;
    let api: Api<Partner> = env.api();
    let onboard = |name: &str| onboarding(name, &policy);
    let key_secret = |name: &str| mosip_partner_operator::mosip::api_key_secret_name(name, &policy, "one");

    // Onboarded by a first run.
    cert_secret(&env, "old", &int, "Auth Org").await;
    env.apply(&api, &onboard("old")).await;
    wait_partner(&env, "old", READY, "True").await;
    env.stop_operator();
    let old_version = api.get("old").await.expect("old").metadata.resource_version;
    let old_key = env.secret_value(&key_secret("old"), "apiKey").await.expect("old key");

    // Created while no operator runs.
    cert_secret(&env, "new", &int, "Auth Org").await;
    env.apply(&api, &onboard("new")).await;
    env.put_secret(&key_secret("taken"), &[("mine", "do-not-touch")]).await;
    cert_secret(&env, "taken", &int, "Auth Org").await;
    env.apply(&api, &onboard("taken")).await;

    let hold = hold_secret_listing(&mut env);
    // The counters are the API server's, for every client: earlier tests' namespaces must be
    // gone first (their teardown reads and deletes Secrets).
    wait_quiet(&env).await;
    let before = api_requests_for(&env, &["secrets"]);
    env.start_operator(&[]);
    let started = std::time::Instant::now();
    let readyz = format!("http://127.0.0.1:{}/readyz", env.metrics_port);
    wait_partner(&env, "new", READY, "True").await;
    wait_partner_reason(&env, "taken", READY, "False", Some("SecretConflict")).await;
    // The operator is not ready (its Secret store is not listed) when both are done.
    assert_ne!(http_get(&readyz).await.as_deref(), Some("ok"), "the Secret listing was not held back");
    assert!(started.elapsed() < hold, "the test outlived the hold; its observations prove nothing");
    assert_eq!(
        api.get("old").await.expect("old").metadata.resource_version,
        old_version,
        "a Partner with a status did not wait"
    );
    // new: its key and re-signed certificate; taken: its re-signed certificate and the key's
    // create the API server refused. None for old.
    let writes = delta(&before, &api_requests_for(&env, &["secrets"]));
    assert_eq!(sum(&writes, "POST") + sum(&writes, "PUT") + sum(&writes, "DELETE"), 4.0, "{writes:?}");
    let new_key = env.secret_value(&key_secret("new"), "apiKey").await.expect("new key");
    assert_eq!(env.secret_value(&key_secret("taken"), "mine").await.as_deref(), Some("do-not-touch"));
    assert_eq!(env.secret_value(&key_secret("taken"), "apiKey").await, None);

    // Then the Secret store is listed and everything is checked against it: nothing changes.
    let held = api_requests_for(&env, &["secrets"]);
    wait_ready(&readyz).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The certificates new and taken were read while the listing was held are not read again
    // once it shows them unchanged; only old's, reconciled now for the first time, is read.
    let listed = delta(&held, &api_requests_for(&env, &["secrets"]));
    assert_eq!(sum(&listed, "GET"), 1.0, "Secrets read after the listing: {listed:?}");
    assert_eq!(env.secret_value(&key_secret("new"), "apiKey").await.as_deref(), Some(new_key.as_str()));
    assert_eq!(env.secret_value(&key_secret("old"), "apiKey").await.as_deref(), Some(old_key.as_str()));
    assert_eq!(api.get("old").await.expect("old").metadata.resource_version, old_version);
    assert_eq!(env.secret_value(&key_secret("taken"), "mine").await.as_deref(), Some("do-not-touch"));
    wait_partner_reason(&env, "taken", READY, "False", Some("SecretConflict")).await;
    wait_partner(&env, "new", READY, "True").await;
    env.assert_log_clean();
}

/// A Partner whose status is lost (cleared by someone allowed to write partners/status, or a
/// restore that does not carry status) looks fresh to the operator: reconciled before the Secret
/// listing, it finds its own API-key and re-signed-certificate Secrets by their names, adopts
/// them, and records the same key again — nothing is minted, rewritten or overwritten, neither
/// before the listing nor after it.
#[tokio::test]
async fn a_partner_whose_status_is_lost_keeps_its_keys_before_the_secret_listing() {
    let mut env = TestEnv::new("lost").await;
    let (int, policy) = operator_with_auth_policy(&mut env).await;
    let api: Api<Partner> = env.api();
    cert_secret(&env, "rp", &int, "Auth Org").await;
    env.apply(&api, &onboarding("rp", &policy)).await;
    wait_partner(&env, "rp", READY, "True").await;
    env.stop_operator();

    let key_name = mosip_partner_operator::mosip::api_key_secret_name("rp", &policy, "one");
    let sapi: Api<k8s_openapi::api::core::v1::Secret> = env.api();
    let owned = |s: &k8s_openapi::api::core::v1::Secret| {
        s.metadata.owner_references.iter().flatten().any(|o| o.kind == "Partner" && o.name == "rp")
    };
    let versions = || async {
        let mut v: Vec<(String, Option<String>)> = sapi
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .into_iter()
            .filter(|s| owned(s))
            .map(|s| (s.metadata.name.clone().unwrap_or_default(), s.metadata.resource_version.clone()))
            .collect();
        v.sort();
        v
    };
    let before = versions().await;
    assert!(before.iter().any(|(n, _)| *n == key_name), "{before:?}");
    assert!(before.len() >= 2, "the key and the re-signed certificate: {before:?}");
    let key = env.secret_value(&key_name, "apiKey").await.expect("key");
    let recorded = |p: &Partner| {
        p.status
            .as_ref()
            .and_then(|s| s.policies.first())
            .and_then(|r| r.api_keys.first())
            .map(|k| (k.key_fingerprint.clone(), k.valid_until.clone()))
    };
    let recorded_before = recorded(&api.get("rp").await.expect("rp"));
    assert!(recorded_before.is_some());

    // The status is lost.
    api.patch_status(
        "rp",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(serde_json::json!({"status": null})),
    )
    .await
    .expect("clear status");
    assert!(api.get("rp").await.expect("rp").status.is_none());

    let hold = hold_secret_listing(&mut env);
    env.start_operator(&[]);
    let started = std::time::Instant::now();
    let readyz = format!("http://127.0.0.1:{}/readyz", env.metrics_port);
    wait_partner(&env, "rp", READY, "True").await;
    assert_ne!(http_get(&readyz).await.as_deref(), Some("ok"), "the Secret listing was not held back");
    assert!(started.elapsed() < hold, "the test outlived the hold; its observations prove nothing");
    assert_eq!(versions().await, before, "an owned Secret was rewritten before the listing");
    assert_eq!(recorded(&api.get("rp").await.expect("rp")), recorded_before);

    wait_ready(&readyz).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(versions().await, before, "an owned Secret was rewritten after the listing");
    assert_eq!(env.secret_value(&key_name, "apiKey").await.as_deref(), Some(key.as_str()));
    assert_eq!(recorded(&api.get("rp").await.expect("rp")), recorded_before);
    wait_partner(&env, "rp", READY, "True").await;
    env.assert_log_clean();
}
