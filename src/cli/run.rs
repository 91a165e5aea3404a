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

    // ---- MOSIP backend (one block) ------------------------------------------------------------
    /// standalone: the operator re-signs certificates and mints keys and licences itself.
    /// mosip: it drives MOSIP's own PMS (policies, partners, certificates, Keycloak users, API
    /// keys, MISP licences), as MOSIP's partner-onboarder does; needs the three flags below.
    /// In mosip mode Partners and MispLicenses carry the finalizer pms.mosip.io/deactivate:
    /// deleting one deactivates it in PMS first (final there).
    #[arg(long, value_enum, default_value = "standalone")]
    pub backend: Backend,
    /// MOSIP internal API host (mosip mode): the operator calls URL/v1/authmanager/...,
    /// URL/v1/partnermanager/... and URL/v1/policymanager/... HTTPS; http:// only for loopback.
    #[arg(long, env = "MOSIP_API_URL")]
    pub mosip_api_url: Option<String>,
    /// Keycloak base URL including any /auth prefix (mosip mode): the operator calls
    /// KC/realms/master/protocol/openid-connect/token and KC/admin/realms/REALM/...
    #[arg(long, env = "KEYCLOAK_URL")]
    pub keycloak_url: Option<String>,
    /// Secret in the operator namespace with keys pms-client-secret, partner-admin-username,
    /// partner-admin-password, keycloak-admin-username, keycloak-admin-password and optional
    /// pms-client-id (default mosip-pms-client) and keycloak-realm (default mosip).
    #[arg(long)]
    pub mosip_credentials_secret: Option<String>,
    /// PEM file of CA certificates trusted for the MOSIP and Keycloak URLs, besides the system
    /// roots.
    #[arg(long)]
    pub mosip_ca_file: Option<std::path::PathBuf>,
    /// mosip mode with --namespaces: comma-separated namespaces outside that list that receive
    /// consumer copies (spec.exports). Their copies are watched (metadata only, label
    /// pms.mosip.io/export-source-uid; needs list and watch on Secrets there), so a copy changed
    /// or deleted there is repaired at once. Copies in other namespaces are believed as last
    /// written until the operator restarts. Not needed when all namespaces are watched.
    #[arg(long, env = "EXPORT_NAMESPACES", default_value = "")]
    pub export_namespaces: String,
}

/// Which system makes partners, keys and licences real.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backend {
    /// The operator itself (default).
    #[default]
    Standalone,
    /// MOSIP's PMS, authmanager and Keycloak.
    Mosip,
}

/// The validated `mosip` backend settings (before the credentials Secret is read).
#[derive(Clone, Debug)]
pub struct MosipSettings {
    pub endpoints: crate::pms::PmsEndpoints,
    pub credentials_secret: String,
    pub ca_pem: Option<Vec<u8>>,
}

impl RunArgs {
    /// Checks the MOSIP flags: None in standalone mode, the parsed settings in mosip mode.
    pub fn mosip_settings(&self) -> anyhow::Result<Option<MosipSettings>> {
        if self.backend == Backend::Standalone {
            return Ok(None);
        }
        let need = |v: &Option<String>, flag: &str| -> anyhow::Result<String> {
            v.clone().filter(|s| !s.trim().is_empty()).ok_or_else(|| anyhow::anyhow!("--backend mosip needs --{flag}"))
        };
        let api = need(&self.mosip_api_url, "mosip-api-url (or MOSIP_API_URL)")?;
        let kc = need(&self.keycloak_url, "keycloak-url (or KEYCLOAK_URL)")?;
        let credentials_secret = need(&self.mosip_credentials_secret, "mosip-credentials-secret")?;
        let endpoints = crate::pms::PmsEndpoints::parse(&api, &kc).map_err(|e| anyhow::anyhow!("{e}"))?;
        let ca_pem = match &self.mosip_ca_file {
            Some(path) => {
                Some(std::fs::read(path).map_err(|e| anyhow::anyhow!("--mosip-ca-file {}: {e}", path.display()))?)
            }
            None => None,
        };
        Ok(Some(MosipSettings { endpoints, credentials_secret, ca_pem }))
    }
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
            export_namespaces: self
                .export_namespaces
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
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
    let mosip_settings = args.mosip_settings()?;
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
    let mosip = match mosip_settings {
        Some(s) => {
            let credentials =
                crate::pms::MosipCredentials::load(client.clone(), &config.operator_namespace, &s.credentials_secret)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            Some(crate::pms::PmsConfig { endpoints: s.endpoints, credentials, ca_pem: s.ca_pem })
        }
        None => None,
    };
    let options = RunOptions { metrics_addr, instance: Some(identity), concurrency: args.concurrency, leader, mosip };
    let result = controller::run(client, config, options, shutdown_signal().boxed()).await;
    if let Some(task) = lease_task {
        // Dropping the receiver makes the lease manager release the Lease for a fast hand-over.
        task.abort();
    }
    result?;
    Ok(0)
}

#[cfg(test)]
mod mosip_flag_tests {
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn args(extra: &[&str]) -> Box<super::RunArgs> {
        let mut argv = vec!["mosip-partner-operator", "run"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Run(a) => a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn standalone_is_the_default_and_mosip_needs_its_flags() {
        assert!(args(&[]).mosip_settings().unwrap().is_none());
        let e = args(&["--backend", "mosip", "--keycloak-url", "https://iam.example.org/auth"])
            .mosip_settings()
            .unwrap_err()
            .to_string();
        assert!(e.contains("--mosip-api-url"), "{e}");
        let ok = args(&[
            "--backend",
            "mosip",
            "--mosip-api-url",
            "https://api-internal.example.org",
            "--keycloak-url",
            "https://iam.example.org/auth",
            "--mosip-credentials-secret",
            "mosip-credentials",
        ])
        .mosip_settings()
        .unwrap()
        .unwrap();
        assert_eq!(ok.endpoints.keycloak.join("/realms/master"), "https://iam.example.org/auth/realms/master");
        assert_eq!(ok.credentials_secret, "mosip-credentials");
        let e = args(&[
            "--backend",
            "mosip",
            "--mosip-api-url",
            "http://api-internal.example.org",
            "--keycloak-url",
            "https://iam.example.org/auth",
            "--mosip-credentials-secret",
            "c",
        ])
        .mosip_settings()
        .unwrap_err()
        .to_string();
        assert!(e.contains("loopback"), "{e}");
    }
}
