//! A benchmark, not a pass/fail test (issue #9): N Auth partners (one Automatic policy, one API
//! key each) created with the operator stopped, then the operator started. Prints one JSON line
//! and writes it to target/bench.json. Run with `make bench N=1000` (release build).
//!
//! Measured black box, as a user would: time to the first and to all Ready (from the operator's
//! own /metrics, so polling adds no API reads), the API server's `apiserver_request_total` by
//! verb and resource during convergence, Partner reconciles and reads per reconcile, the
//! operator's peak RSS, writes during 60 s idle, writes during 30 s after a restart and the keys
//! it changed, and a bare-client baseline in the same run: the same number of writes by 16
//! concurrent clients on fresh objects.

use crate::common::{TestEnv, eventually};
use crate::fixtures::*;
use crate::scale::{api_requests, delta, operator_metric, trust_later};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use mosip_partner_operator::api::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const CLIENTS: usize = 16;

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The 1-, 5- and 15-minute load averages (other work on a shared machine shows here).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// CPU seconds (user + system) each process has used so far: the control plane's (by the pid
/// files `hack/control-plane.sh` keeps; none on an existing cluster) and the operator's.
fn cpu_seconds(operator: Option<u32>) -> BTreeMap<String, f64> {
    // USER_HZ, the unit of /proc/<pid>/stat's times, is 100 on Linux.
    let of = |pid: u32| -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some(ticks / 100.0)
    };
    let dir = crate::common::repo_root().join("target/control-plane");
    let mut out = BTreeMap::new();
    for component in ["apiserver", "etcd", "controller-manager"] {
        let pid =
            std::fs::read_to_string(dir.join(format!("{component}.pid"))).ok().and_then(|p| p.trim().parse().ok());
        if let Some(secs) = pid.and_then(of) {
            out.insert(component.to_string(), secs);
        }
    }
    if let Some(secs) = operator.and_then(of) {
        out.insert("operator".to_string(), secs);
    }
    out
}

/// What each process used between two [`cpu_seconds`] samples, rounded to 0.1 s (all of it for
/// a process started in between, as the operator).
fn cpu_used(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> serde_json::Value {
    serde_json::Value::Object(
        after
            .iter()
            .map(|(k, v)| {
                let used = v - before.get(k).copied().unwrap_or(0.0);
                (k.clone(), serde_json::json!((used * 10.0).round() / 10.0))
            })
            .collect(),
    )
}

fn ready_partners(metrics: &str) -> usize {
    metrics.lines().filter(|l| l.starts_with("mosip_partner_ready{kind=\"Partner\"") && l.ends_with(" 1")).count()
}

const WRITE_VERBS: &[&str] = &["POST", "PUT", "PATCH", "DELETE", "APPLY", "CREATE", "UPDATE"];
const READ_VERBS: &[&str] = &["GET", "LIST"];

fn total(d: &BTreeMap<(String, String), f64>, verbs: &[&str]) -> f64 {
    d.iter().filter(|((v, _), _)| verbs.contains(&v.as_str())).map(|(_, n)| n).sum::<f64>() + 0.0
}

fn by_verb_resource(d: &BTreeMap<(String, String), f64>) -> serde_json::Value {
    serde_json::Value::Object(d.iter().map(|((v, r), n)| (format!("{v} {r}"), serde_json::json!(n))).collect())
}

/// Every API key currently issued, by Secret name.
async fn keys(env: &TestEnv) -> BTreeMap<String, String> {
    let api: Api<Secret> = env.api();
    let lp = ListParams::default().labels("pms.mosip.io/secret-kind=api-key");
    api.list(&lp)
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|s| {
            let name = s.metadata.name.clone()?;
            let key = s.data?.get("apiKey").map(|v| String::from_utf8_lossy(&v.0).into_owned())?;
            Some((name, key))
        })
        .collect()
}

/// Creates the namespace `<test namespace>-<suffix>` for a baseline's fresh objects.
async fn fresh_namespace(env: &TestEnv, suffix: &str) -> String {
    let ns = format!("{}-{suffix}", env.ns);
    let nsapi: Api<Namespace> = Api::all(env.client.clone());
    let mut n = Namespace::default();
    n.metadata.name = Some(ns.clone());
    nsapi.create(&PostParams::default(), &n).await.expect("namespace");
    ns
}

/// `count` creates of fresh ConfigMaps in a fresh namespace by `CLIENTS` concurrent clients;
/// returns the seconds it took.
async fn baseline(env: &TestEnv, count: usize) -> f64 {
    let ns = fresh_namespace(env, "baseline").await;
    let api: Api<ConfigMap> = Api::namespaced(env.client.clone(), &ns);
    let start = Instant::now();
    futures::stream::iter(0..count)
        .for_each_concurrent(CLIENTS, |i| {
            let api = api.clone();
            async move {
                let mut cm = ConfigMap::default();
                cm.metadata.name = Some(format!("cm-{i}"));
                cm.data = Some(BTreeMap::from([("k".to_string(), format!("{i}"))]));
                api.create(&PostParams::default(), &cm).await.expect("create");
            }
        })
        .await;
    let secs = start.elapsed().as_secs_f64();
    let _ = env.kubectl(&["delete", "namespace", &ns, "--wait=false"]);
    secs
}

/// Copies of what the operator wrote, to replay as fresh objects: a converged Partner, one
/// emitted Secret of each kind, one Event.
struct Templates {
    partner: Partner,
    secrets: Vec<Secret>,
    event: Event,
}

impl Templates {
    async fn take(env: &TestEnv) -> Templates {
        let papi: Api<Partner> = env.api();
        let partner = papi.get("rp-0").await.expect("a converged Partner");
        let sapi: Api<Secret> = env.api();
        let mut secrets = Vec::new();
        for kind in ["signed-certificate", "api-key"] {
            let lp = ListParams::default().labels(&format!("pms.mosip.io/secret-kind={kind}")).limit(1);
            secrets.extend(sapi.list(&lp).await.expect("list").items);
        }
        assert_eq!(secrets.len(), 2, "one emitted Secret of each kind");
        let eapi: Api<Event> = env.api();
        let lp = ListParams::default().limit(1);
        let event = eapi.list(&lp).await.expect("events").items.into_iter().next().expect("an Event");
        Templates { partner, secrets, event }
    }
}

/// The operator's writes replayed by `CLIENTS` concurrent bare clients on fresh objects of the
/// same kinds and sizes, with the operator stopped: each `POST secrets` creates a copy of one
/// of its Secrets (the kinds in turn, without the ownerReference), each `APPLY partners` applies
/// a converged Partner's status to a Partner created beforehand (not timed), each `POST events`
/// creates a copy of one of its Events; any other write is a ConfigMap create. Returns the
/// seconds it took: the API server's floor for this mix of writes on this machine.
async fn same_kinds_baseline(env: &TestEnv, writes: &BTreeMap<(String, String), f64>, t: &Templates) -> f64 {
    let ns = fresh_namespace(env, "same-kinds").await;
    let count = |verb: &str, resource: &str| {
        writes.get(&(verb.to_string(), resource.to_string())).copied().unwrap_or(0.0) as usize
    };
    let (secrets, statuses, events) = (count("POST", "secrets"), count("APPLY", "partners"), count("POST", "events"));
    let others = (total(writes, WRITE_VERBS) as usize).saturating_sub(secrets + statuses + events);
    let papi: Api<Partner> = Api::namespaced(env.client.clone(), &ns);
    futures::stream::iter(0..statuses)
        .for_each_concurrent(CLIENTS, |i| {
            let papi = papi.clone();
            async move {
                let mut p = Partner::new(&format!("rp-{i}"), t.partner.spec.clone());
                p.spec.partner_id = Some(format!("same-kinds-{i}"));
                papi.create(&PostParams::default(), &p).await.expect("create Partner");
            }
        })
        .await;
    let status = serde_json::json!({
        "apiVersion": "pms.mosip.io/v1alpha1",
        "kind": "Partner",
        "status": t.partner.status,
    });
    let sapi: Api<Secret> = Api::namespaced(env.client.clone(), &ns);
    let eapi: Api<Event> = Api::namespaced(env.client.clone(), &ns);
    let capi: Api<ConfigMap> = Api::namespaced(env.client.clone(), &ns);
    // The kinds interleaved, as the operator's reconciles interleave them.
    let longest = secrets.max(statuses).max(events).max(others);
    let work: Vec<(u8, usize)> = (0..longest)
        .flat_map(|i| [(0, i), (1, i), (2, i), (3, i)])
        .filter(|&(kind, i)| i < [secrets, statuses, events, others][kind as usize])
        .collect();
    let start = Instant::now();
    futures::stream::iter(work)
        .for_each_concurrent(CLIENTS, |(kind, i)| {
            let (papi, sapi, eapi, capi, status, ns) =
                (papi.clone(), sapi.clone(), eapi.clone(), capi.clone(), &status, &ns);
            async move {
                match kind {
                    0 => {
                        let mut s = t.secrets[i % t.secrets.len()].clone();
                        s.metadata = kube::api::ObjectMeta {
                            name: Some(format!("s-{i}")),
                            labels: s.metadata.labels.take(),
                            annotations: s.metadata.annotations.take(),
                            ..Default::default()
                        };
                        sapi.create(&PostParams::default(), &s).await.expect("create Secret");
                    }
                    1 => {
                        let pp = PatchParams::apply(mosip_partner_operator::controller::FIELD_MANAGER).force();
                        papi.patch_status(&format!("rp-{i}"), &pp, &Patch::Apply(status)).await.expect("apply status");
                    }
                    2 => {
                        let mut e = t.event.clone();
                        e.metadata = kube::api::ObjectMeta { name: Some(format!("e-{i}")), ..Default::default() };
                        e.involved_object.namespace = Some(ns.clone());
                        e.involved_object.name = Some(format!("rp-{i}"));
                        e.involved_object.uid = None;
                        e.involved_object.resource_version = None;
                        eapi.create(&PostParams::default(), &e).await.expect("create Event");
                    }
                    _ => {
                        let mut cm = ConfigMap::default();
                        cm.metadata.name = Some(format!("cm-{i}"));
                        capi.create(&PostParams::default(), &cm).await.expect("create ConfigMap");
                    }
                }
            }
        })
        .await;
    let secs = start.elapsed().as_secs_f64();
    let _ = env.kubectl(&["delete", "namespace", &ns, "--wait=false"]);
    secs
}

#[tokio::test]
#[ignore = "benchmark: run with `make bench N=…`"]
async fn bench_onboarding() {
    let n: usize = std::env::var("BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let idle = Duration::from_secs(std::env::var("BENCH_IDLE_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(60));
    let after_restart = Duration::from_secs(30);
    let mut env = TestEnv::alone("bench").await;
    let auth = trust_later(&env).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&papi, &auth_policy(&env, "auto", "grp", ApprovalMode::Automatic)).await;

    // Everything exists before the operator starts.
    let load_before = load_average();
    let created = Instant::now();
    let policy = env.cluster_name("auto");
    futures::stream::iter(0..n)
        .for_each_concurrent(CLIENTS, |i| {
            let env = &env;
            let auth = &auth;
            let policy = policy.clone();
            async move {
                let name = format!("rp-{i}");
                cert_secret(env, &name, auth, "Auth Org").await;
                let mut p = partner(&name, PartnerType::AuthPartner, "Auth Org");
                p.spec.partner_id = Some(name.clone());
                p.spec.policy_group = Some("grp".into());
                p.spec.policies = vec![request(&policy, &["a"])];
                let api: Api<Partner> = env.api();
                env.apply(&api, &p).await;
            }
        })
        .await;
    let create_secs = created.elapsed().as_secs_f64();

    // Convergence.
    crate::scale::wait_quiet(&env).await;
    let before = api_requests(&env);
    let cpu_before = cpu_seconds(None);
    let start = Instant::now();
    env.start_operator(&["--log-level", "info", "--concurrency", "16"]);
    let pid = env.operator_pid().expect("pid");
    let mut first_ready: Option<f64> = None;
    loop {
        let ready = ready_partners(&env.metrics().await);
        if ready > 0 && first_ready.is_none() {
            first_ready = Some(start.elapsed().as_secs_f64());
        }
        if ready == n {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(3600), "not converged after an hour: {ready}/{n}");
        // Every poll renders the operator's whole /metrics (a line per partner, 10,000 of them
        // at N=10,000): fine-grained until the first Ready, then at a scraper's pace so the
        // measurement does not load the operator it measures.
        let pause = if first_ready.is_none() { 100 } else { 1000 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    let all_ready = start.elapsed().as_secs_f64();
    let load_converged = load_average();
    let cpu_convergence = cpu_used(&cpu_before, &cpu_seconds(Some(pid)));
    // The last status writes come back through the watch before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let converged = api_requests(&env);
    let d = delta(&before, &converged);
    let metrics = env.metrics().await;
    let reconciles = operator_metric(&metrics, "mosip_partner_reconciles_total{kind=\"Partner\"}");
    let writes = total(&d, WRITE_VERBS);
    let reads = total(&d, READ_VERBS);
    let secret_gets = d.get(&("GET".to_string(), "secrets".to_string())).copied().unwrap_or(0.0);
    let peak_rss = rss_kib(pid, "VmHWM:");

    // Idle.
    let idle_before = api_requests(&env);
    tokio::time::sleep(idle).await;
    let idle_delta = delta(&idle_before, &api_requests(&env));
    let idle_writes = total(&idle_delta, WRITE_VERBS);
    let rss_idle = rss_kib(pid, "VmRSS:");

    // Restart.
    let keys_before = keys(&env).await;
    env.stop_operator();
    let restart_before = api_requests(&env);
    env.start_operator(&["--log-level", "info", "--concurrency", "16"]);
    let restarted = Instant::now();
    eventually(Duration::from_secs(600), "operator up again", || {
        let env = &env;
        async move {
            let r = ready_partners(&env.metrics().await);
            if r == n { Ok(()) } else { Err(format!("{r}/{n}")) }
        }
    })
    .await;
    tokio::time::sleep(after_restart.saturating_sub(restarted.elapsed())).await;
    // A restart lists every Partner with its status at once: its peak, not the convergence's,
    // is what a memory limit must allow.
    let restart_peak_rss = env.operator_pid().map(|pid| rss_kib(pid, "VmHWM:")).unwrap_or(0);
    let restart_delta = delta(&restart_before, &api_requests(&env));
    let restart_writes = total(&restart_delta, WRITE_VERBS);
    let restart_reads = total(&restart_delta, READ_VERBS);
    let keys_after = keys(&env).await;
    let keys_changed = keys_before.iter().filter(|(k, v)| keys_after.get(*k) != Some(*v)).count()
        + keys_after.keys().filter(|k| !keys_before.contains_key(*k)).count();

    // The bare-client baseline: as many writes as the operator made, on fresh objects.
    let cpu_baseline_before = cpu_seconds(None);
    let baseline_secs = baseline(&env, writes as usize).await;
    let cpu_baseline = cpu_used(&cpu_baseline_before, &cpu_seconds(None));
    // The same writes by kind and size: the floor for what the operator writes.
    let templates = Templates::take(&env).await;
    env.stop_operator();
    let cpu_same_before = cpu_seconds(None);
    let same_kinds_secs = same_kinds_baseline(&env, &d, &templates).await;
    let cpu_same_kinds = cpu_used(&cpu_same_before, &cpu_seconds(None));

    let result = serde_json::json!({
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "operatorBinary": crate::common::operator_bin(),
        "partners": n,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "loadAverageBeforeCreate": load_before,
        "loadAverageAtAllReady": load_converged,
        "createSeconds": create_secs,
        "firstReadySeconds": first_ready,
        "allReadySeconds": all_ready,
        "baselineSeconds": baseline_secs,
        "baselineClients": CLIENTS,
        "operatorConcurrency": 16,
        "allReadyOverBaseline": all_ready / baseline_secs.max(0.001),
        "cpuSecondsToAllReady": cpu_convergence,
        "cpuSecondsDuringBaseline": cpu_baseline,
        "sameKindsBaselineSeconds": same_kinds_secs,
        "allReadyOverSameKindsBaseline": all_ready / same_kinds_secs.max(0.001),
        "cpuSecondsDuringSameKindsBaseline": cpu_same_kinds,
        "writes": writes,
        "reads": reads,
        "requestsByVerbAndResource": by_verb_resource(&d),
        "partnerReconciles": reconciles,
        "readsPerReconcile": reads / reconciles.max(1.0),
        "readsPerReconcileBesidesCertificateFirstReads": (reads - secret_gets.min(n as f64)).max(0.0) / reconciles.max(1.0),
        "peakRssMiB": peak_rss as f64 / 1024.0,
        "idleRssMiB": rss_idle as f64 / 1024.0,
        "idleWindowSeconds": idle.as_secs(),
        "idleWrites": idle_writes,
        "idleRequestsByVerbAndResource": by_verb_resource(&idle_delta),
        "afterRestartWindowSeconds": after_restart.as_secs(),
        "afterRestartWrites": restart_writes,
        "afterRestartPeakRssMiB": restart_peak_rss as f64 / 1024.0,
        "afterRestartRequestsByVerbAndResource": by_verb_resource(&restart_delta),
        "afterRestartReads": restart_reads,
        "afterRestartKeysChanged": keys_changed,
        "keys": keys_after.len(),
    });
    let line = serde_json::to_string(&result).expect("json");
    println!("{line}");
    let out = crate::common::repo_root().join("target/bench.json");
    std::fs::write(&out, format!("{line}\n")).expect("write");
}
