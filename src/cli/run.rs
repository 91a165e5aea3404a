//! `run`: the operator process.

use crate::controller::run::RunOptions;
use crate::controller::scope::Scope;
use crate::controller::{self, OperatorConfig};
use clap::Args;
use futures::FutureExt;

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Namespaces whose Partners and MispLicenses are reconciled: comma-separated, or empty/"*"
    /// for all.
    #[arg(long, env = "WATCH_NAMESPACES", default_value = "")]
    pub namespaces: String,
    /// The operator's own namespace, where the PMS signing CA Secret lives.
    #[arg(long, env = "POD_NAMESPACE", default_value = "mosip-partner-operator")]
    pub operator_namespace: String,
    /// Name of the PMS signing CA Secret (created when absent).
    #[arg(long, default_value = "mosip-pms-signing-ca")]
    pub signing_ca_secret: String,
    /// Minimum remaining validity of partner certificates, in days (MOSIP: 335).
    #[arg(long, default_value_t = 335)]
    pub min_validity_days: i64,
    /// Validity of MOSIP re-signed certificates (e.g. 365d).
    #[arg(long, default_value = "365d")]
    pub resigned_validity: String,
    /// Re-sign again when a re-signed certificate has less than this left.
    #[arg(long, default_value = "30d")]
    pub resigned_renew_before: String,
    /// Also re-sign FTM_Provider certificates (MOSIP's default: no).
    #[arg(long)]
    pub resign_ftm: bool,
    /// basicConstraints and keyUsage of re-signed certificates: "mirror" the submitted
    /// certificate (an end entity stays CA:FALSE; a DEVICE/FTM partner CA keeps CA:TRUE with
    /// pathLen 0), or "mosip": CA:TRUE for every partner, as MOSIP does. UNSAFE: with "mosip"
    /// any partner can mint certificates that chain to the MOSIP root.
    #[arg(long, default_value = "mirror")]
    pub resigned_basic_constraints: String,
    /// Keep the generated MOSIP root private key in the signing CA Secret (root.key) and load a
    /// root.key found there. Default: the root key is discarded after signing the PMS
    /// intermediate, so it is never online.
    #[arg(long)]
    pub keep_root_key: bool,
    /// Validity of API keys (MOSIP: 90d).
    #[arg(long, default_value = "90d")]
    pub api_key_validity: String,
    /// Rotate API keys this long before they expire.
    #[arg(long, default_value = "15d")]
    pub api_key_renew_before: String,
    /// How long a rotated-out key stays readable as previousApiKey.
    #[arg(long, default_value = "7d")]
    pub api_key_grace: String,
    /// Never rotate API keys automatically (rotation on demand still works).
    #[arg(long)]
    pub no_api_key_rotation: bool,
    /// Default validity of MISP licences (MOSIP: 90d).
    #[arg(long, default_value = "90d")]
    pub license_validity: String,
    /// Renew licences this long before they expire.
    #[arg(long, default_value = "15d")]
    pub license_renew_before: String,
    /// The longest licence validity issued; a longer spec.validity is capped to it.
    #[arg(long, default_value = "365d")]
    pub max_license_validity: String,
    /// Credential types allowed besides MOSIP's (comma-separated).
    #[arg(long, default_value = "")]
    pub extra_credential_types: String,
    /// Label selector for the cluster-scoped CACertificates and PartnerPolicies this instance
    /// serves (e.g. "mosip.io/environment=qa"); empty serves all.
    #[arg(long, env = "CLUSTER_SELECTOR", default_value = "")]
    pub cluster_selector: String,
    /// Address of /metrics, /healthz and /readyz; "off" disables the server.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_addr: String,
    /// Reconciles at once per kind.
    #[arg(long, default_value_t = 4)]
    pub concurrency: u16,
    /// Log format: text or json.
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// Log level or filter (RUST_LOG syntax); RUST_LOG wins when set.
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Only the holder of the Lease reconciles; run 2+ replicas safely.
    #[arg(long)]
    pub leader_elect: bool,
    /// Name of the leader-election Lease (in the operator namespace).
    #[arg(long, default_value = "mosip-partner-operator-leader")]
    pub lease_name: String,
    /// This replica's identity (default: POD_NAME or the hostname).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
}

fn duration(flag: &str, value: &str) -> anyhow::Result<jiff::SignedDuration> {
    crate::mosip::parse_validity(value).map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
}

impl RunArgs {
    /// The reconcile settings these flags describe.
    pub fn config(&self) -> anyhow::Result<OperatorConfig> {
        if self.min_validity_days < 0 {
            anyhow::bail!("--min-validity-days must not be negative");
        }
        Ok(OperatorConfig {
            scope: Scope::parse(&self.namespaces),
            operator_namespace: self.operator_namespace.clone(),
            signing_ca_secret: self.signing_ca_secret.clone(),
            min_certificate_validity: jiff::SignedDuration::from_hours(self.min_validity_days * 24),
            resigned_validity: duration("resigned-validity", &self.resigned_validity)?,
            resigned_renew_before: duration("resigned-renew-before", &self.resigned_renew_before)?,
            resign_ftm: self.resign_ftm,
            resigned_basic_constraints: self
                .resigned_basic_constraints
                .parse()
                .map_err(|e| anyhow::anyhow!("--resigned-basic-constraints: {e}"))?,
            keep_root_key: self.keep_root_key,
            api_key_validity: duration("api-key-validity", &self.api_key_validity)?,
            api_key_renew_before: duration("api-key-renew-before", &self.api_key_renew_before)?,
            api_key_grace: duration("api-key-grace", &self.api_key_grace)?,
            api_key_rotation: !self.no_api_key_rotation,
            license_validity: duration("license-validity", &self.license_validity)?,
            license_renew_before: duration("license-renew-before", &self.license_renew_before)?,
            max_license_validity: duration("max-license-validity", &self.max_license_validity)?,
            extra_credential_types: self
                .extra_credential_types
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            cluster_selector: Some(self.cluster_selector.trim().to_string()).filter(|s| !s.is_empty()),
        })
    }
}

/// Lease duration: a new leader takes over at most this long after the old one died.
const LEASE_DURATION_SECONDS: u64 = 15;
/// Renew this long before the Lease expires.
const LEASE_GRACE_SECONDS: u64 = 5;

fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let mut b = [0u8; 4];
    let suffix = getrandom::fill(&mut b).map(|_| hex::encode(b)).unwrap_or_default();
    format!("{}-{suffix}", if host.is_empty() { "mosip-partner-operator" } else { &host })
}

/// Sets up logging: RUST_LOG, else --log-level; text or JSON.
pub fn init_logging(level: &str, format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if format == "json" {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c().map(|_| ());
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => ctrl_c.await,
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
    tracing::info!("shutdown requested");
}

pub async fn run(args: &RunArgs) -> anyhow::Result<i32> {
    init_logging(&args.log_level, &args.log_format);
    let config = args.config()?;
    let metrics_addr = if args.metrics_addr == "off" {
        None
    } else {
        Some(args.metrics_addr.parse().map_err(|e| anyhow::anyhow!("--metrics-addr {:?}: {e}", args.metrics_addr))?)
    };
    let client = kube::Client::try_default().await.map_err(|e| {
        anyhow::anyhow!("cannot build a Kubernetes client from KUBECONFIG or the in-cluster config: {e}")
    })?;
    let identity = args.identity.clone().unwrap_or_else(default_identity);
    let mut lease_task = None;
    let leader = if args.leader_elect {
        let manager = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), &args.lease_name)
            .with_namespace(&config.operator_namespace)
            .with_identity(&identity)
            .with_duration(LEASE_DURATION_SECONDS)
            .with_grace(LEASE_GRACE_SECONDS)
            .build()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "leader election: cannot use Lease {}/{}: {e}",
                    config.operator_namespace,
                    args.lease_name
                )
            })?;
        let (rx, task) = manager.watch().await;
        lease_task = Some(task);
        Some(rx)
    } else {
        None
    };
    let options = RunOptions { metrics_addr, instance: Some(identity), concurrency: args.concurrency, leader };
    let result = controller::run(client, config, options, shutdown_signal().boxed()).await;
    if let Some(task) = lease_task {
        // Dropping the receiver makes the lease manager release the Lease for a fast hand-over.
        task.abort();
    }
    result?;
    Ok(0)
}
