//! Shared state of the controllers.

use super::scope::Scope;
use crate::api::{CACertificate, Partner, PartnerPolicy};
use crate::trust::SigningCa;
use kube::Client;
use kube::runtime::events::Recorder;
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
    /// Credential types allowed on top of MOSIP's defaults.
    pub extra_credential_types: Vec<String>,
    /// Label selector for the cluster-scoped kinds (CACertificate, PartnerPolicy) this instance
    /// serves; None serves all. Lets several MOSIP environments share a cluster.
    pub cluster_selector: Option<String>,
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
            extra_credential_types: Vec::new(),
            cluster_selector: None,
        }
    }
}

/// What every reconcile gets.
pub struct Context {
    pub client: Client,
    pub config: OperatorConfig,
    pub recorder: Recorder,
    pub signing_ca: Arc<SigningCa>,
    pub cacerts: Store<CACertificate>,
    pub policies: Store<PartnerPolicy>,
    pub partners: Store<Partner>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

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
