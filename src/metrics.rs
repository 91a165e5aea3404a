//! Prometheus metrics: reconcile counts, failures by reason and durations per kind.
//!
//! Per-object gauges (certificate notAfter, key and licence validUntil, Ready) are computed at
//! scrape time from the reflector stores (see [`crate::controller::run`]), so deleted objects
//! leave no stale series.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub kind: String,
    pub reason: String,
}

/// The operator's own counters and histograms.
pub struct Metrics {
    pub reconciles: Family<KindLabels, Counter>,
    pub failures: Family<FailureLabels, Counter>,
    pub duration: Family<KindLabels, Histogram>,
    pub panics: Family<KindLabels, Counter>,
    /// Requests to MOSIP (backend `mosip`).
    pub pms: std::sync::Arc<PmsMetrics>,
    /// The Partner controller's backlog (`controller::backlog`).
    pub backlog: BacklogGauges,
}

/// Partners waiting in the backlog, and handed to the controller but not yet reconciled.
#[derive(Clone, Debug, Default)]
pub struct BacklogGauges {
    pub waiting: Gauge,
    pub handed: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            reconciles: Family::default(),
            failures: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
            }),
            panics: Family::default(),
            pms: Default::default(),
            backlog: Default::default(),
        }
    }
}

impl Metrics {
    /// Registers the metrics under the `mosip_partner_` prefix.
    pub fn register(&self, registry: &mut Registry) {
        self.pms.register(registry);
        registry.register("mosip_partner_reconciles", "Reconciles started, by kind", self.reconciles.clone());
        registry.register(
            "mosip_partner_reconcile_failures",
            "Reconciles that failed, by kind and error",
            self.failures.clone(),
        );
        registry.register(
            "mosip_partner_reconcile_duration_seconds",
            "Reconcile duration, by kind",
            self.duration.clone(),
        );
        registry.register(
            "mosip_partner_reconcile_panics",
            "Reconciles that panicked and were contained (the object is retried with back-off), by kind",
            self.panics.clone(),
        );
        registry.register(
            "mosip_partner_backlog_waiting",
            "Partners waiting to be reconciled (a start or a CA change queues every one of a domain)",
            self.backlog.waiting.clone(),
        );
        registry.register(
            "mosip_partner_backlog_handed",
            "Partners handed to the controller (at most 4 x --concurrency) and not yet reconciled",
            self.backlog.handed.clone(),
        );
    }

    /// Creates every (kind, error) series at zero, so that rates and alerts see 0 rather than
    /// nothing before the first failure.
    pub fn init(&self, kinds: &[&str], error_labels: &[&str]) {
        for kind in kinds {
            let _ = self.reconciles.get_or_create(&KindLabels { kind: kind.to_string() });
            let _ = self.panics.get_or_create(&KindLabels { kind: kind.to_string() });
            for reason in error_labels {
                let _ =
                    self.failures.get_or_create(&FailureLabels { kind: kind.to_string(), reason: reason.to_string() });
            }
        }
    }

    /// Counts a reconcile and observes its duration when the returned timer drops.
    pub fn reconcile_timer(&self, kind: &str) -> ReconcileTimer<'_> {
        let labels = KindLabels { kind: kind.to_string() };
        self.reconciles.get_or_create(&labels).inc();
        ReconcileTimer { metrics: self, labels, start: Instant::now() }
    }

    /// Counts a contained panic.
    pub fn panic(&self, kind: &str) {
        self.panics.get_or_create(&KindLabels { kind: kind.to_string() }).inc();
    }

    /// Counts a failed reconcile.
    pub fn failure(&self, kind: &str, reason: &str) {
        self.failures.get_or_create(&FailureLabels { kind: kind.to_string(), reason: reason.to_string() }).inc();
    }
}

/// Observes a reconcile's duration on drop.
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    labels: KindLabels,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics.duration.get_or_create(&self.labels).observe(self.start.elapsed().as_secs_f64());
    }
}

// ---- MOSIP backend: requests to PMS, authmanager and Keycloak ----------------------------------

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PmsRequestLabels {
    /// The path template, e.g. `POST /partners/{partnerId}/policy/map` (bounded cardinality).
    pub endpoint: String,
    /// success, pms_error, unavailable, auth_failed or protocol_error.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PmsEndpointLabels {
    pub endpoint: String,
}

/// `mosip_partner_pms_requests_total{endpoint,outcome}` and
/// `mosip_partner_pms_request_duration_seconds{endpoint}`.
pub struct PmsMetrics {
    pub requests: Family<PmsRequestLabels, Counter>,
    pub duration: Family<PmsEndpointLabels, Histogram>,
}

impl Default for PmsMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
            }),
        }
    }
}

impl PmsMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "mosip_partner_pms_requests",
            "HTTP requests to MOSIP (PMS, authmanager, Keycloak), by endpoint and outcome",
            self.requests.clone(),
        );
        registry.register(
            "mosip_partner_pms_request_duration_seconds",
            "Duration of HTTP requests to MOSIP, by endpoint",
            self.duration.clone(),
        );
    }

    pub fn observe(&self, endpoint: &str, outcome: &str, seconds: f64) {
        self.requests.get_or_create(&PmsRequestLabels { endpoint: endpoint.into(), outcome: outcome.into() }).inc();
        self.duration.get_or_create(&PmsEndpointLabels { endpoint: endpoint.into() }).observe(seconds);
    }

    /// The count for one (endpoint, outcome), for tests.
    pub fn count(&self, endpoint: &str, outcome: &str) -> u64 {
        self.requests.get_or_create(&PmsRequestLabels { endpoint: endpoint.into(), outcome: outcome.into() }).get()
    }
}
