//! The chart installed with `helm install` onto a node, the operator running as Pods from the
//! image `make image` builds.
//!
//! These tests need a cluster with a node that has the operator image: `make test` runs them
//! when `hack/node.sh check` passes (it starts `hack/control-plane.sh up DIR --with-node`,
//! builds the image and imports it), else it says why they are skipped. By hand:
//! `MOSIP_NODE_DIR=DIR cargo test --test integration node:: -- --ignored --test-threads=1`.
//! `MOSIP_NODE_DIR` names the local node's folder: the tests then also look at the containers
//! from the host (/proc, cgroups). Without it (e.g. `USE_EXISTING_CLUSTER=true` with kind, after
//! `kind load image-archive`), those host-side checks are skipped and said so.

use crate::common::{self, TestEnv, eventually, helm, run};
use crate::fixtures::*;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, ListParams};
use kube::runtime::watcher;
use mosip_partner_operator::api::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const POD_READY: Duration = Duration::from_secs(120);

fn node_dir() -> Option<PathBuf> {
    std::env::var_os("MOSIP_NODE_DIR").filter(|v| !v.is_empty()).map(PathBuf::from)
}

fn image() -> (String, String) {
    let image = std::env::var("MOSIP_OPERATOR_IMAGE")
        .unwrap_or_else(|_| format!("mosip-partner-operator:{}", env!("CARGO_PKG_VERSION")));
    let (repo, tag) = image.rsplit_once(':').expect("MOSIP_OPERATOR_IMAGE is REPOSITORY:TAG");
    (repo.to_string(), tag.to_string())
}

/// `helm install|upgrade RELEASE chart -n NS` with the test's scope and the local image. With
/// `crds`, the release also owns the CRDs (taken over from the harness, which applied the same
/// files), installed the way docs/operations.md says for servers older than 1.25.
fn helm_release(verb: &str, env: &TestEnv, crds: bool, sets: &[String]) {
    let (repo, tag) = image();
    let chart = common::repo_root().join("charts/mosip-partner-operator");
    let mut cmd = Command::new(helm());
    cmd.args([verb, &env.ns]).arg(&chart).args(["-n", &env.ns]);
    if crds {
        cmd.args(["--take-ownership", "--server-side=false", "--disable-openapi-validation"]);
    }
    let mut all = vec![
        format!("crds.enabled={crds}"),
        format!("image.repository={repo}"),
        format!("image.tag={tag}"),
        "image.pullPolicy=Never".to_string(),
        "userRoles.create=false".to_string(),
        format!("watchNamespaces={{{}}}", env.ns),
        format!("operatorConfig.clusterSelector={}={}", common::TEST_LABEL, env.ns),
    ];
    all.extend(sets.iter().cloned());
    for s in all {
        cmd.args(["--set", &s]);
    }
    run(&mut cmd);
}

fn release_pods_selector(env: &TestEnv) -> String {
    format!("app.kubernetes.io/instance={}", env.ns)
}

/// Running, Ready (through the readiness probe), not terminating Pods of the release.
async fn ready_pods(env: &TestEnv) -> Vec<Pod> {
    let api: Api<Pod> = env.api();
    let pods = api.list(&ListParams::default().labels(&release_pods_selector(env))).await.expect("list pods");
    pods.items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .collect()
}

/// Waits until the release's Deployment has `n` available replicas, all Pods Ready.
async fn wait_deployment(env: &TestEnv, n: i32) -> Vec<Pod> {
    let deps: Api<Deployment> = env.api();
    eventually(POD_READY, &format!("{n} Ready operator Pod(s)"), || {
        let deps = deps.clone();
        async move {
            let list = deps
                .list(&ListParams::default().labels(&release_pods_selector(env)))
                .await
                .map_err(|e| e.to_string())?;
            let d = list.items.first().ok_or("no Deployment")?;
            let st = d.status.clone().unwrap_or_default();
            let pods = ready_pods(env).await;
            let updated = st.updated_replicas.unwrap_or(0) == n && st.replicas.unwrap_or(0) == n;
            if st.available_replicas.unwrap_or(0) == n && updated && pods.len() == n as usize {
                Ok(pods)
            } else {
                Err(format!("{st:?}; {} Ready Pod(s)", pods.len()))
            }
        }
    })
    .await
}

fn pod_name(p: &Pod) -> String {
    p.metadata.name.clone().unwrap_or_default()
}

fn container_id(p: &Pod) -> String {
    let cs = p.status.as_ref().and_then(|s| s.container_statuses.as_ref()).and_then(|c| c.first()).cloned();
    let id = cs.and_then(|c| c.container_id).unwrap_or_default();
    id.split_once("://").map(|(_, id)| id.to_string()).unwrap_or(id)
}

fn restarts(p: &Pod) -> i32 {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first())
        .map(|c| c.restart_count)
        .unwrap_or(0)
}

/// The host PID of the operator process of a container (found through its cgroup).
fn container_pid(container_id: &str) -> Option<u32> {
    assert!(!container_id.is_empty());
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        if !cgroup.contains(container_id) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).starts_with("/mosip-partner-operator") {
            return Some(pid);
        }
    }
    None
}

fn status_field(pid: u32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_string()))
        .unwrap_or_default()
}

fn pod_logs(env: &TestEnv, pod: &str, previous: bool) -> String {
    let mut args = vec!["logs", "-n", &env.ns, pod];
    if previous {
        args.push("--previous");
    }
    String::from_utf8_lossy(&env.kubectl(&args).stdout).into_owned()
}

/// Sum of every operator container's log, for diagnostics.
fn all_logs(env: &TestEnv) -> String {
    let sel = release_pods_selector(env);
    let out = env.kubectl(&["logs", "-n", &env.ns, "-l", &sel, "--tail=40", "--prefix"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
#[ignore = "needs a node with the operator image: run by `make test` when `hack/node.sh check` passes"]
async fn chart_runs_as_a_pod_with_its_probes_token_rbac_and_security_context() {
    let env = TestEnv::new("node").await;
    helm_release("install", &env, true, &[]);

    // Ready through its own probes; the kubelet has not restarted it (liveness holds).
    let pods = wait_deployment(&env, 1).await;
    let pod = &pods[0];
    let spec = pod.spec.clone().expect("spec");
    let c = &spec.containers[0];
    assert!(
        c.readiness_probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .is_some_and(|g| g.path.as_deref() == Some("/readyz"))
    );
    assert!(
        c.liveness_probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .is_some_and(|g| g.path.as_deref() == Some("/healthz"))
    );
    let started = Instant::now();

    // The ServiceAccount token is mounted (ServiceAccount admission) and is the only credential:
    // no kubeconfig, no KUBECONFIG.
    let sa = spec.service_account_name.clone().expect("serviceAccountName");
    let mounts = c.volume_mounts.clone().unwrap_or_default();
    assert!(
        mounts.iter().any(|m| m.mount_path == "/var/run/secrets/kubernetes.io/serviceaccount"),
        "no ServiceAccount token mounted: {mounts:?}"
    );
    assert!(c.env.clone().unwrap_or_default().iter().all(|e| e.name != "KUBECONFIG"));

    // The operator in the Pod does its job: a device provider is onboarded.
    let int = trust(&env, PartnerDomain::Device).await;
    cert_secret(&env, "dev", &int, "Dev Org").await;
    let api: Api<Partner> = env.api();
    env.apply(&api, &partner("dev", PartnerType::DeviceProvider, "Dev Org")).await;
    wait_partner(&env, "dev", READY, "True").await;

    // It acts with the chart's RBAC only: without the chart's Role binding in this namespace its
    // requests are forbidden (it has nothing else to fall back on).
    let bindings = run(Command::new("kubectl").args([
        "get",
        "rolebindings",
        "-n",
        &env.ns,
        "-l",
        &release_pods_selector(&env),
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ]));
    let bindings: Vec<&str> = bindings.split_whitespace().collect();
    assert!(!bindings.is_empty(), "the chart made no RoleBinding in {}", env.ns);
    let who = format!("system:serviceaccount:{}:{sa}", env.ns);
    let can = |verb: &str, what: &str, all: bool| {
        let mut args = vec!["auth", "can-i", verb, what, "--as", &who];
        let ns_flag = ["-n", &env.ns];
        if all {
            args.push("--all-namespaces");
        } else {
            args.extend(ns_flag);
        }
        String::from_utf8_lossy(&env.kubectl(&args).stdout).trim().to_string()
    };
    assert_eq!(can("create", "secrets", false), "yes");
    assert_eq!(can("list", "secrets", true), "no", "cluster-wide Secret access with a namespace list");
    for b in &bindings {
        run(Command::new("kubectl").args(["delete", "rolebinding", b, "-n", &env.ns]));
    }
    assert_eq!(can("create", "secrets", false), "no");
    cert_secret(&env, "dev2", &int, "Dev Org").await;
    let mut p2 = partner("dev2", PartnerType::DeviceProvider, "Dev Org");
    p2.spec.partner_id = Some("dev2".into());
    env.apply(&api, &p2).await;
    let pod_now = pod_name(pod);
    eventually(Duration::from_secs(60), "the operator's requests forbidden", || {
        let env = &env;
        let pod_now = pod_now.clone();
        async move {
            let log = pod_logs(env, &pod_now, false) + &pod_logs(env, &pod_now, true);
            if log.contains("forbidden") || log.contains("Forbidden") { Ok(()) } else { Err("no forbidden yet".into()) }
        }
    })
    .await;

    // securityContext, as the kernel sees the container's process.
    if node_dir().is_some() {
        let id = container_id(&ready_pods(&env).await.first().cloned().unwrap_or_else(|| pod.clone()));
        let pid = container_pid(&id).unwrap_or_else(|| panic!("no host process for container {id}"));
        for (field, want) in [
            ("Uid:", "65532\t65532\t65532\t65532"),
            ("Gid:", "65532\t65532\t65532\t65532"),
            ("CapInh:", "0000000000000000"),
            ("CapPrm:", "0000000000000000"),
            ("CapEff:", "0000000000000000"),
            ("CapBnd:", "0000000000000000"),
            ("CapAmb:", "0000000000000000"),
            ("NoNewPrivs:", "1"),
            ("Seccomp:", "2"),
        ] {
            assert_eq!(status_field(pid, field), want, "{field} of the operator process {pid}");
        }
        let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("mountinfo");
        let root = mountinfo.lines().find(|l| l.split_whitespace().nth(4) == Some("/")).expect("root mount");
        let opts = root.split_whitespace().nth(5).unwrap_or_default();
        assert!(opts.split(',').any(|o| o == "ro"), "root file system not read-only: {root}");
        let groups = status_field(pid, "Groups:");
        assert!(!groups.split_whitespace().any(|g| g == "0"), "supplementary group root: {groups}");
        println!("container process {pid}: uid/gid 65532, no capabilities, NoNewPrivs, seccomp filter, ro root");
    } else {
        println!("MOSIP_NODE_DIR unset: the container's process is not visible from here; host-side checks skipped");
    }

    // `helm upgrade` with changed values: the binding is back, the new settings are in the new
    // Pod, and the blocked partner is onboarded.
    helm_release(
        "upgrade",
        &env,
        true,
        &["logLevel=debug".into(), "operatorConfig.apiKeyValidity=60d".into(), "resources.limits.memory=200Mi".into()],
    );
    let pods = eventually(POD_READY, "the upgraded Pod", || {
        let env = &env;
        async move {
            let pods = ready_pods(env).await;
            let upgraded = pods.iter().filter(|p| {
                let c = &p.spec.as_ref().expect("spec").containers[0];
                let args = c.args.clone().unwrap_or_default();
                let mem = c
                    .resources
                    .as_ref()
                    .and_then(|r| r.limits.as_ref())
                    .and_then(|l| l.get("memory"))
                    .map(|q| q.0.clone());
                args.iter().any(|a| a == "--log-level=debug")
                    && args.iter().any(|a| a == "--api-key-validity=60d")
                    && mem.as_deref() == Some("200Mi")
            });
            let n = upgraded.count();
            if n == 1 && pods.len() == 1 { Ok(pods) } else { Err(format!("{n} upgraded of {} Ready", pods.len())) }
        }
    })
    .await;
    assert_ne!(pod_name(&pods[0]), pod_now, "the upgrade did not replace the Pod");
    wait_partner(&env, "dev2", READY, "True").await;
    assert_eq!(can("create", "secrets", false), "yes");
    assert_eq!(restarts(&pods[0]), 0);
    let log = pod_logs(&env, &pod_name(&pods[0]), false);
    assert!(log.contains("DEBUG"), "log level debug not in effect");
    println!("Pod Ready and onboarding {:?} after install", started.elapsed());

    // `helm uninstall`: the operator and its RBAC go, the CRDs and the partners stay.
    run(Command::new(helm()).args(["uninstall", &env.ns, "-n", &env.ns, "--wait"]));
    let uninstalled = Instant::now();
    eventually(Duration::from_secs(150), "operator Pods gone", || {
        let env = &env;
        async move {
            let api: Api<Pod> = env.api();
            let n = api
                .list(&ListParams::default().labels(&release_pods_selector(env)))
                .await
                .map_err(|e| e.to_string())?
                .items
                .len();
            if n == 0 { Ok(()) } else { Err(format!("{n} Pods")) }
        }
    })
    .await;
    println!("operator Pod gone {:?} after helm uninstall", uninstalled.elapsed());
    let left = run(Command::new("kubectl").args([
        "get",
        "deployments,serviceaccounts,roles,rolebindings,services",
        "-n",
        &env.ns,
        "-l",
        &release_pods_selector(&env),
        "-o",
        "name",
    ]));
    assert!(left.trim().is_empty(), "left after uninstall: {left}");
    // The CRDs the release owned are kept (crds.keep, the default).
    let crd = run(Command::new("kubectl").args([
        "get",
        "crd",
        "partners.pms.mosip.io",
        "-o",
        "jsonpath={.metadata.annotations.meta\\.helm\\.sh/release-name}",
    ]));
    assert_eq!(crd.trim(), env.ns, "the CRDs were not part of the release");
    assert!(api.get("dev").await.is_ok(), "the Partner went with the release");
}

/// Peak usage of the operator Pods' cgroups while the test runs (cgroup v1 or v2).
#[derive(Default, Debug, Clone, serde::Serialize)]
struct Peaks {
    memory_peak_bytes: u64,
    memory_limit_bytes: u64,
    cpu_peak_millicores: u64,
    cpu_quota_millicores: u64,
    cpu_throttled_periods: u64,
    samples: u64,
}

fn read_u64(path: &std::path::Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.split_whitespace().next()?.parse().ok()
}

fn pod_cgroups(controller: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for qos in ["", "burstable", "besteffort"] {
        let base = PathBuf::from(format!("/sys/fs/cgroup/{controller}/kubepods")).join(qos);
        if let Ok(rd) = std::fs::read_dir(&base) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with("pod") {
                    out.push(e.path());
                }
            }
        }
    }
    out
}

/// Samples the Pod cgroups every 500 ms until `stop` is set.
fn sample_cgroups(peaks: Arc<Mutex<Peaks>>, stop: Arc<std::sync::atomic::AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut last: BTreeMap<PathBuf, (u64, Instant)> = BTreeMap::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let mut p = peaks.lock().expect("lock").clone();
            for cg in pod_cgroups("memory") {
                let peak = read_u64(&cg.join("memory.max_usage_in_bytes")).unwrap_or(0);
                p.memory_peak_bytes = p.memory_peak_bytes.max(peak);
                if let Some(l) = read_u64(&cg.join("memory.limit_in_bytes")) {
                    p.memory_limit_bytes = l;
                }
            }
            for cg in pod_cgroups("cpu,cpuacct").into_iter().chain(pod_cgroups("cpuacct")) {
                let Some(usage) = read_u64(&cg.join("cpuacct.usage")) else { continue };
                let now = Instant::now();
                if let Some((u0, t0)) = last.get(&cg) {
                    let secs = now.duration_since(*t0).as_secs_f64();
                    if secs > 0.2 {
                        let mc = (usage.saturating_sub(*u0) as f64 / 1e6 / secs) as u64;
                        p.cpu_peak_millicores = p.cpu_peak_millicores.max(mc);
                    }
                }
                last.insert(cg.clone(), (usage, now));
            }
            for cg in pod_cgroups("cpu,cpuacct").into_iter().chain(pod_cgroups("cpu")) {
                let quota = read_u64(&cg.join("cpu.cfs_quota_us"));
                let period = read_u64(&cg.join("cpu.cfs_period_us")).filter(|p| *p > 0);
                // An unlimited quota reads -1, which does not parse as u64.
                if let (Some(q), Some(per)) = (quota, period) {
                    p.cpu_quota_millicores = q * 1000 / per;
                }
                let stat = std::fs::read_to_string(cg.join("cpu.stat")).unwrap_or_default();
                if let Some(n) =
                    stat.lines().find_map(|l| l.strip_prefix("nr_throttled ")).and_then(|v| v.trim().parse().ok())
                {
                    p.cpu_throttled_periods = p.cpu_throttled_periods.max(n);
                }
            }
            p.samples += 1;
            *peaks.lock().expect("lock") = p;
            std::thread::sleep(Duration::from_millis(500));
        }
    })
}

#[tokio::test]
#[ignore = "needs a node with the operator image: run by `make test` when `hack/node.sh check` passes"]
async fn two_replicas_one_leader_kills_mid_onboarding_and_keys_minted_once() {
    let devices: usize = std::env::var("NODE_DEVICES").ok().and_then(|v| v.parse().ok()).unwrap_or(150);
    let auths: usize = std::env::var("NODE_AUTH").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let env = TestEnv::new("node-ha").await;
    let peaks = Arc::new(Mutex::new(Peaks::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = node_dir().map(|_| sample_cgroups(peaks.clone(), stop.clone()));

    // Every value every API key Secret ever had, seen by a watch from before the first one.
    let minted: Arc<Mutex<BTreeMap<String, BTreeSet<String>>>> = Arc::default();
    let secrets: Api<Secret> = env.api();
    let cfg = watcher::Config::default().labels("pms.mosip.io/secret-kind=api-key");
    let watch = {
        let minted = minted.clone();
        tokio::spawn(async move {
            let mut stream = watcher::watcher(secrets, cfg).boxed();
            while let Some(ev) = stream.next().await {
                let objs = match ev {
                    Ok(watcher::Event::Apply(s)) | Ok(watcher::Event::InitApply(s)) => vec![s],
                    _ => vec![],
                };
                for s in objs {
                    let name = s.metadata.name.clone().unwrap_or_default();
                    if let Some(v) = s.data.as_ref().and_then(|d| d.get("apiKey")) {
                        minted
                            .lock()
                            .expect("lock")
                            .entry(name)
                            .or_default()
                            .insert(String::from_utf8_lossy(&v.0).into_owned());
                    }
                }
            }
        })
    };

    helm_release("install", &env, false, &["replicas=2".into()]);
    let pods = wait_deployment(&env, 2).await;
    let leases: Api<Lease> = env.api();
    let holder = || {
        let leases = leases.clone();
        async move {
            let list = leases.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
            let l = list
                .items
                .into_iter()
                .find(|l| l.metadata.name.as_deref().is_some_and(|n| n.contains("mosip-partner")))
                .ok_or("no Lease")?;
            l.spec.and_then(|s| s.holder_identity).filter(|h| !h.is_empty()).ok_or_else(|| "no holder".to_string())
        }
    };
    // Exactly one leads: the Lease names one of the two Pods, and only that one says so.
    let leader = eventually(Duration::from_secs(60), "a leader", || {
        let env = &env;
        let pods = pods.clone();
        async move {
            let h = holder().await?;
            let leading: Vec<String> =
                pods.iter().map(pod_name).filter(|p| pod_logs(env, p, false).contains("became the leader")).collect();
            if leading == vec![h.clone()] { Ok(h) } else { Err(format!("holder {h}, leading per logs {leading:?}")) }
        }
    })
    .await;
    let follower = pods.iter().map(pod_name).find(|p| *p != leader).expect("two pods");
    assert!(pod_logs(&env, &follower, false).contains("waiting for leadership"));

    // Onboarding load: device providers (re-signed certificates) and auth partners with 2 keys.
    let dev = trust(&env, PartnerDomain::Device).await;
    let auth = trust(&env, PartnerDomain::Auth).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&papi, &auth_policy(&env, "auto", "grp", ApprovalMode::Automatic)).await;
    wait_policy_ready(&env, "auto").await;
    let api: Api<Partner> = env.api();
    let start = Instant::now();
    for i in 0..auths {
        let name = format!("rp-{i}");
        cert_secret(&env, &name, &auth, "Auth Org").await;
        let mut p = partner(&name, PartnerType::AuthPartner, "Auth Org");
        p.spec.partner_id = Some(name.clone());
        p.spec.policy_group = Some("grp".into());
        p.spec.policies = vec![request(&env.cluster_name("auto"), &["a", "b"])];
        env.apply(&api, &p).await;
    }
    for i in 0..devices {
        let name = format!("dev-{i}");
        cert_secret(&env, &name, &dev, "Dev Org").await;
        let mut p = partner(&name, PartnerType::DeviceProvider, "Dev Org");
        p.spec.partner_id = Some(name.clone());
        env.apply(&api, &p).await;
    }
    let mut total = devices + auths;
    // More device providers, created all at once: on a fast machine onboarding can outrun the
    // test, so a batch is added right before each disruption to make it land mid-onboarding.
    let add_devices = |from: usize, n: usize| {
        let env = &env;
        let dev = &dev;
        let api = api.clone();
        async move {
            futures::future::join_all((from..from + n).map(|i| {
                let api = api.clone();
                async move {
                    let name = format!("dev-{i}");
                    cert_secret(env, &name, dev, "Dev Org").await;
                    let mut p = partner(&name, PartnerType::DeviceProvider, "Dev Org");
                    p.spec.partner_id = Some(name.clone());
                    env.apply(&api, &p).await;
                }
            }))
            .await;
            n
        }
    };
    let ready_count = || {
        let api = api.clone();
        async move {
            let list = api.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
            Ok::<usize, String>(
                list.items.iter().filter(|p| p.status.as_ref().is_some_and(|s| is_true(&s.conditions, READY))).count(),
            )
        }
    };
    let wait_ready_at_least = |n: usize, what: &'static str| async move {
        eventually(Duration::from_secs(600), what, || async move {
            let r = ready_count().await?;
            if r >= n { Ok(r) } else { Err(format!("{r}/{total} Ready")) }
        })
        .await
    };

    // 1. Mid-onboarding, the leader Pod is deleted: the follower takes over with no key changed.
    let mut at = wait_ready_at_least(total / 4, "a quarter Ready").await;
    if at >= total {
        total += add_devices(total, devices).await;
        at = ready_count().await.unwrap_or(0);
    }
    let keys_before: BTreeMap<String, String> =
        minted.lock().expect("lock").iter().filter_map(|(k, v)| Some((k.clone(), v.iter().next()?.clone()))).collect();
    let deleted = Instant::now();
    run(Command::new("kubectl").args(["delete", "pod", &leader, "-n", &env.ns, "--wait=false"]));
    let new_leader = eventually(Duration::from_secs(60), "a new leader", || {
        let leader = leader.clone();
        async move {
            let h = holder().await?;
            if h != leader { Ok(h) } else { Err(format!("still {h}")) }
        }
    })
    .await;
    let handover = deleted.elapsed();
    // The follower, or the Pod that replaced the deleted one: whichever got the Lease first.
    println!(
        "leader Pod deleted with {at}/{total} Ready; {new_leader} (follower: {follower}) leads after {handover:?}"
    );

    // 2. Right after, the new leader's container is killed outright (SIGKILL from the host): it
    // restarts or the other replica takes over, and onboarding converges.
    let mut at2 = ready_count().await.unwrap_or(0);
    let mut killed = None;
    if node_dir().is_some() {
        if at2 >= total {
            total += add_devices(total, devices).await;
            at2 = ready_count().await.unwrap_or(0);
        }
        let pods_api: Api<Pod> = env.api();
        let pid = eventually(Duration::from_secs(60), "the new leader's process", || {
            let pods_api = pods_api.clone();
            let new_leader = new_leader.clone();
            async move {
                let pod = pods_api.get(&new_leader).await.map_err(|e| e.to_string())?;
                let id = container_id(&pod);
                if id.is_empty() {
                    return Err("no container yet".to_string());
                }
                container_pid(&id).ok_or_else(|| format!("no process for {id}"))
            }
        })
        .await;
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        killed = Some((new_leader.clone(), at2));
    }
    eventually(Duration::from_secs(600), "every partner Ready", || async move {
        let r = ready_count().await?;
        if r == total { Ok(()) } else { Err(format!("{r}/{total} Ready")) }
    })
    .await;
    let converged = start.elapsed();
    if let Some((pod, at2)) = &killed {
        let api: Api<Pod> = env.api();
        let p = api.get(pod).await.expect("killed pod");
        assert!(restarts(&p) >= 1, "the SIGKILLed container did not restart");
        println!("leader container SIGKILLed with {at2}/{total} Ready; restarted");
    }

    // Every key minted once: one Secret per requested key, each with exactly one value ever.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let minted_now = minted.lock().expect("lock").clone();
    assert_eq!(minted_now.len(), auths * 2, "API key Secrets");
    let twice: Vec<_> = minted_now.iter().filter(|(_, v)| v.len() != 1).map(|(k, v)| (k.clone(), v.len())).collect();
    assert!(twice.is_empty(), "keys minted more than once: {twice:?}");
    for (name, key) in &keys_before {
        assert_eq!(minted_now.get(name).and_then(|v| v.iter().next()), Some(key), "key {name} changed");
    }
    watch.abort();

    // Limits held: nothing was OOM-killed, and the peaks (recorded) stay under the limits.
    let pods_api: Api<Pod> = env.api();
    for p in pods_api.list(&ListParams::default().labels(&release_pods_selector(&env))).await.expect("pods").items {
        for cs in p.status.and_then(|s| s.container_statuses).unwrap_or_default() {
            let reason = cs.last_state.and_then(|s| s.terminated).map(|t| t.reason.unwrap_or_default());
            assert_ne!(reason.as_deref(), Some("OOMKilled"), "{} was OOM-killed", cs.name);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(s) = sampler {
        let _ = s.join();
        let p = peaks.lock().expect("lock").clone();
        let result = serde_json::json!({
            "partners": total,
            "apiKeys": auths * 2,
            "allReadySeconds": converged.as_secs_f64(),
            "leaderDeletedAtReady": at,
            "handoverSeconds": handover.as_secs_f64(),
            "containerKilledAtReady": killed.as_ref().map(|k| k.1),
            "memoryPeakMiB": p.memory_peak_bytes as f64 / 1048576.0,
            "memoryLimitMiB": p.memory_limit_bytes as f64 / 1048576.0,
            "cpuPeakMillicores": p.cpu_peak_millicores,
            "cpuLimitMillicores": p.cpu_quota_millicores,
            "cpuThrottledPeriods": p.cpu_throttled_periods,
            "samples": p.samples,
        });
        println!("{}", serde_json::to_string_pretty(&result).expect("json"));
        std::fs::write(
            common::repo_root().join("target/node-load.json"),
            serde_json::to_string_pretty(&result).expect("json"),
        )
        .expect("write");
        assert!(p.samples > 0 && p.memory_limit_bytes > 0, "no Pod cgroup sampled");
        assert_eq!(p.memory_limit_bytes, 256 * 1024 * 1024, "the chart's memory limit is not the cgroup's");
        assert_eq!(p.cpu_quota_millicores, 500, "the chart's CPU limit is not the cgroup's quota");
        assert!(p.memory_peak_bytes < p.memory_limit_bytes, "memory peak {p:?}");
        // Measured over 500 ms windows: the CFS quota may be overrun within one period.
        assert!(p.cpu_peak_millicores <= p.cpu_quota_millicores * 13 / 10, "CPU peak {p:?}");
    } else {
        println!("MOSIP_NODE_DIR unset: cgroup peaks not sampled");
    }
    let _ = all_logs;
}
