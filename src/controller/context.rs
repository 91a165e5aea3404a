//! Shared state of the controllers.

use super::backend::{KeySource, Standalone};
use super::cache::{Backoff, ContentCache, OwnedContents, PartnerIndex, TrustCache};
use super::events::Recorder;
use super::packed::PackedPartner;
use super::partner::CertCache;
use super::recheck::Rechecks;
use super::scope::Scope;
use super::secret_store::SecretStore;
use crate::api::{CACertificate, MispLicense, PartnerPolicy};
use crate::trust::SigningCa;
use kube::Client;
use kube::runtime::reflector::Store;
use std::sync::Arc;

/// Operator settings; every one has a command-line flag (see `mosip-partner-operator run --help`).
#[derive(Clone, Debug)]
pub struct OperatorConfig {
    /// Namespaces whose Partners and MispLicenses are reconciled.
    pub scope: Scope,
    /// Namespace of the operator itself: the PMS signing CA Secret lives here.
    pub operator_namespace: String,
    /// Name of the Secret holding the PMS signing CA.
    pub signing_ca_secret: String,
    /// Minimum remaining validity of a partner certificate (MOSIP: 335 days).
    pub min_certificate_validity: jiff::SignedDuration,
    /// Validity of MOSIP re-signed certificates (MOSIP: 1 year).
    pub resigned_validity: jiff::SignedDuration,
    /// Re-issue a re-signed certificate when less than this is left.
    pub resigned_renew_before: jiff::SignedDuration,
    /// Re-sign FTM_Provider certificates too (MOSIP's default: no).
    pub resign_ftm: bool,
    /// basicConstraints/keyUsage of re-signed certificates: mirror the submitted certificate
    /// (default) or MOSIP's CA:TRUE for every partner (unsafe).
    pub resigned_basic_constraints: crate::trust::ResignedBasicConstraints,
    /// Keep the MOSIP root private key in the signing CA Secret (default: not kept online).
    pub keep_root_key: bool,
    /// Validity of API keys (MOSIP: 90 days).
    pub api_key_validity: jiff::SignedDuration,
    /// Rotate API keys this long before they expire.
    pub api_key_renew_before: jiff::SignedDuration,
    /// How long a rotated-out API key stays readable as previousApiKey.
    pub api_key_grace: jiff::SignedDuration,
    /// Rotate API keys at all (when false, expired keys stay expired until rotated on demand).
    pub api_key_rotation: bool,
    /// Default validity of MISP licences when spec.validity is absent (MOSIP: 90 days).
    pub license_validity: jiff::SignedDuration,
    /// Renew a licence this long before it expires.
    pub license_renew_before: jiff::SignedDuration,
    /// The longest licence validity issued, whatever spec.validity asks (default 365 days).
    pub max_license_validity: jiff::SignedDuration,
    /// Credential types allowed on top of MOSIP's defaults.
    pub extra_credential_types: Vec<String>,
    /// Label selector for the cluster-scoped kinds (CACertificate, PartnerPolicy) this instance
    /// serves; None serves all. Lets several MOSIP environments share a cluster.
    pub cluster_selector: Option<String>,
    /// `mosip` mode with a namespace list: namespaces outside it that receive consumer copies
    /// (`spec.exports`); their copies are watched (metadata only, by label) so that a copy
    /// changed or deleted there is repaired. Copies elsewhere are believed as last written
    /// until the next start.
    pub export_namespaces: Vec<String>,
}

impl OperatorConfig {
    /// Watch configuration for the cluster-scoped kinds.
    pub fn cluster_watch_config(&self) -> kube::runtime::watcher::Config {
        let wc = kube::runtime::watcher::Config::default().any_semantic();
        match &self.cluster_selector {
            Some(sel) => wc.labels(sel),
            None => wc,
        }
    }

    /// List parameters for the cluster-scoped kinds.
    pub fn cluster_list_params(&self) -> kube::api::ListParams {
        match &self.cluster_selector {
            Some(sel) => kube::api::ListParams::default().labels(sel),
            None => kube::api::ListParams::default(),
        }
    }

    /// Whether a cluster-scoped object with these labels is served by this instance.
    pub fn serves(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        self.cluster_selector.as_deref().is_none_or(|sel| selector_matches(sel, labels))
    }
}

/// Equality-based label selector matching (`k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-separated).
pub fn selector_matches(selector: &str, labels: &std::collections::BTreeMap<String, String>) -> bool {
    selector.split(',').map(str::trim).filter(|t| !t.is_empty()).all(|term| {
        if let Some((k, v)) = term.split_once("!=") {
            labels.get(k.trim()).map(String::as_str) != Some(v.trim())
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            labels.get(k.trim()).map(String::as_str) == Some(v.trim())
        } else if let Some(k) = term.strip_prefix('!') {
            !labels.contains_key(k.trim())
        } else {
            labels.contains_key(term)
        }
    })
}

impl Default for OperatorConfig {
    fn default() -> Self {
        Self {
            scope: Scope::All,
            operator_namespace: "mosip-partner-operator".into(),
            signing_ca_secret: "mosip-pms-signing-ca".into(),
            min_certificate_validity: jiff::SignedDuration::from_hours(335 * 24),
            resigned_validity: jiff::SignedDuration::from_hours(365 * 24),
            resigned_renew_before: jiff::SignedDuration::from_hours(30 * 24),
            resign_ftm: false,
            resigned_basic_constraints: crate::trust::ResignedBasicConstraints::Mirror,
            keep_root_key: false,
            api_key_validity: jiff::SignedDuration::from_hours(90 * 24),
            api_key_renew_before: jiff::SignedDuration::from_hours(15 * 24),
            api_key_grace: jiff::SignedDuration::from_hours(7 * 24),
            api_key_rotation: true,
            license_validity: jiff::SignedDuration::from_hours(90 * 24),
            license_renew_before: jiff::SignedDuration::from_hours(15 * 24),
            max_license_validity: crate::mosip::tenancy::DEFAULT_MAX_LICENSE_VALIDITY,
            extra_credential_types: Vec::new(),
            cluster_selector: None,
            export_namespaces: Vec::new(),
        }
    }
}

/// What every reconcile gets: the stores it reads instead of the API server, the indexes and
/// caches over them, and the writers.
pub struct Context {
    pub client: Client,
    pub config: OperatorConfig,
    pub recorder: Recorder,
    pub signing_ca: Arc<SigningCa>,
    /// Seals what the operator writes into Secrets; derived from the PMS signing key.
    pub seal: crate::mosip::tenancy::SealKey,
    /// One reflector store per kind, shared by every controller.
    pub cacerts: Store<CACertificate>,
    pub policies: Store<PartnerPolicy>,
    pub partners: Store<PackedPartner>,
    pub licenses: Store<MispLicense>,
    /// Metadata of the Secrets the operator needs: its own, the certificate Secrets that
    /// Partners name, and the consumer copies of `spec.exports` (label
    /// `pms.mosip.io/export-source-uid`); also by controller owner.
    pub secrets: SecretStore,
    /// Metadata of every Namespace: the labels automatic approval is scoped by, and in `mosip`
    /// mode whether an export target opted in.
    pub namespaces: Store<NamespaceMeta>,
    pub partner_index: Arc<PartnerIndex>,
    /// When each Partner is looked at again without a change.
    pub rechecks: Rechecks,
    /// The trust store, compiled once per change of the CACertificate set.
    pub trust: TrustCache,
    /// Each Partner's certificate Secret content by resourceVersion, and the verdict on it.
    pub certificates: CertCache,
    /// Owned Secrets' contents the operator wrote or read, by resourceVersion.
    pub owned_contents: OwnedContents,
    /// What the operator knows is in each consumer copy (`spec.exports`), at a resourceVersion:
    /// data key → SHA-256 of the value (never the value). Lets an idle reconcile skip the copy
    /// without reading it.
    pub exported: ContentCache<std::collections::BTreeMap<String, String>>,
    /// Consumer copies the operator removed (or found absent) since its start, so that a copy
    /// outside the Secret store's view is not looked for again.
    pub unexported: ContentCache<()>,
    /// Names taken by Secrets that are neither the operator's nor certificate Secrets (so not
    /// in the store), learnt from a failed create.
    pub foreign_secrets: ContentCache<()>,
    pub backoff: Backoff,
    /// Certificate validations running at once (one per CPU; see `partner::validate`).
    pub validations: Arc<tokio::sync::Semaphore>,
    /// Whether every store has been listed.
    pub synced: Synced,
    /// Where key material comes from.
    pub keys: Arc<dyn KeySource>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The PMS client with `--backend mosip`; None in standalone mode.
    pub pms: Option<crate::pms::PmsClient>,
}

impl Context {
    /// A context over the given stores, with empty caches and the standalone key source.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: Client,
        config: OperatorConfig,
        recorder: Recorder,
        signing_ca: Arc<SigningCa>,
        stores: Stores,
        partner_index: Arc<PartnerIndex>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        let seal = crate::mosip::tenancy::SealKey::derive(signing_ca.pms_key_pem().as_bytes());
        Self {
            client,
            config,
            recorder,
            signing_ca,
            seal,
            cacerts: stores.cacerts,
            policies: stores.policies,
            partners: stores.partners,
            licenses: stores.licenses,
            secrets: stores.secrets,
            namespaces: stores.namespaces,
            partner_index,
            rechecks: Rechecks::default(),
            trust: TrustCache::default(),
            certificates: CertCache::default(),
            owned_contents: OwnedContents::default(),
            exported: ContentCache::default(),
            unexported: ContentCache::default(),
            foreign_secrets: ContentCache::default(),
            backoff: Backoff::default(),
            validations: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            )),
            synced: Synced::default(),
            keys: Arc::new(Standalone),
            metrics,
            pms: None,
        }
    }

    /// Looks at `partner` again `after` from now (its next check, see [`super::recheck`]), and
    /// tells kube-runtime to wait for a change meanwhile.
    pub fn recheck(
        &self,
        partner: &crate::api::Partner,
        after: std::time::Duration,
    ) -> kube::runtime::controller::Action {
        self.rechecks.schedule(self.partner_index.shared_ref(partner), after);
        kube::runtime::controller::Action::await_change()
    }
}

impl Context {
    /// Resolves once every store has been listed: reconciles never decide on a half-listed
    /// cache (a CA store still empty would fail every certificate).
    pub async fn wait_synced(&self) {
        self.synced.wait().await
    }
}

/// Which stores have completed their first listing. (kube's `Store::wait_until_ready` wakes only
/// the last of several concurrent waiters, so the operator keeps its own signal, set by the
/// watches themselves.)
pub struct Synced {
    tx: tokio::sync::watch::Sender<u8>,
}

impl Default for Synced {
    fn default() -> Self {
        Self { tx: tokio::sync::watch::Sender::new(0) }
    }
}

impl Synced {
    pub const CACERTS: u8 = 1;
    pub const POLICIES: u8 = 2;
    pub const PARTNERS: u8 = 4;
    pub const LICENSES: u8 = 8;
    pub const SECRETS: u8 = 16;
    /// Namespace metadata (watched in `mosip` mode only; marked at once otherwise).
    pub const NAMESPACES: u8 = 32;
    pub const ALL: u8 = 63;

    /// Records that the store of `kind` (one of the constants) has been listed.
    pub fn mark(&self, kind: u8) {
        self.tx.send_if_modified(|v| {
            let before = *v;
            *v |= kind;
            *v != before
        });
    }

    /// Whether every store has been listed.
    pub fn is_synced(&self) -> bool {
        *self.tx.borrow() == Self::ALL
    }

    /// Resolves once every store has been listed.
    pub async fn wait(&self) {
        self.wait_for(Self::ALL).await
    }

    /// Resolves once the stores in `kinds` (constants or'ed together) have been listed.
    pub async fn wait_for(&self, kinds: u8) {
        if *self.tx.borrow() & kinds == kinds {
            return;
        }
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|v| *v & kinds == kinds).await;
    }
}

/// The reflector stores, one per kind.
#[derive(Clone)]
pub struct Stores {
    pub cacerts: Store<CACertificate>,
    pub policies: Store<PartnerPolicy>,
    pub partners: Store<PackedPartner>,
    pub licenses: Store<MispLicense>,
    pub secrets: SecretStore,
    pub namespaces: Store<NamespaceMeta>,
}

/// Metadata of a Namespace, as the metadata-only reflector keeps it.
pub type NamespaceMeta = kube::api::PartialObjectMeta<k8s_openapi::api::core::v1::Namespace>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn selectors() {
        let l = BTreeMap::from([("env".to_string(), "qa".to_string())]);
        assert!(selector_matches("env=qa", &l));
        assert!(selector_matches("env==qa", &l));
        assert!(!selector_matches("env=dev", &l));
        assert!(selector_matches("env!=dev", &l));
        assert!(selector_matches("env", &l));
        assert!(!selector_matches("!env", &l));
        assert!(selector_matches("", &l));
        assert!(!selector_matches("env=qa,tier", &l));
    }
}
