//! The /metrics, /healthz and /readyz server (one port, 8080 by default).
//!
//! Per-object gauges are computed at scrape time from the reflector stores, in the manner of
//! cert-manager's certificate collector: an object that is gone has no series.

use crate::api::{self, CACertificate, MispLicense, Partner, READY};
use crate::metrics::Metrics;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use futures::future::{BoxFuture, Shared};
use kube::ResourceExt;
use kube::runtime::reflector::Store;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the handlers read.
#[derive(Clone)]
pub struct ServerState {
    pub metrics: Arc<Metrics>,
    pub ready: Arc<AtomicBool>,
    pub partners: Store<Partner>,
    pub licenses: Store<MispLicense>,
    pub cacerts: Store<CACertificate>,
}

type Labels = Vec<(String, String)>;

fn ts(s: &Option<String>) -> Option<i64> {
    s.as_deref().and_then(|v| v.parse::<jiff::Timestamp>().ok()).map(|t| t.as_second())
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Renders all metrics in the Prometheus text format.
pub fn render(state: &ServerState) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    state.metrics.register(&mut registry);
    let ready: Family<Labels, Gauge> = Family::default();
    let cert_not_after: Family<Labels, Gauge> = Family::default();
    let signed_not_after: Family<Labels, Gauge> = Family::default();
    let key_valid_until: Family<Labels, Gauge> = Family::default();
    let license_valid_until: Family<Labels, Gauge> = Family::default();
    let ca_not_after: Family<Labels, Gauge> = Family::default();

    let no_status = Default::default();
    for p in state.partners.state() {
        let ns = p.namespace().unwrap_or_default();
        let name = p.name_any();
        // Borrowed, not cloned: a scrape at 10,000 partners must not copy every status.
        let status: &crate::api::PartnerStatus = p.status.as_ref().unwrap_or(&no_status);
        let is_ready = api::is_true(&status.conditions, READY);
        ready.get_or_create(&labels(&[("kind", "Partner"), ("namespace", &ns), ("name", &name)])).set(is_ready as i64);
        if let Some(c) = &status.certificate {
            if let Some(t) = ts(&c.not_after) {
                cert_not_after.get_or_create(&labels(&[("namespace", &ns), ("partner", &name)])).set(t);
            }
            if let Some(t) = ts(&c.signed_not_after) {
                signed_not_after.get_or_create(&labels(&[("namespace", &ns), ("partner", &name)])).set(t);
            }
        }
        for req in &status.policies {
            for key in &req.api_keys {
                if let Some(t) = ts(&key.valid_until) {
                    key_valid_until
                        .get_or_create(&labels(&[
                            ("namespace", &ns),
                            ("partner", &name),
                            ("policy", &req.name),
                            ("label", &key.label),
                        ]))
                        .set(t);
                }
            }
        }
    }
    for l in state.licenses.state() {
        let ns = l.namespace().unwrap_or_default();
        let name = l.name_any();
        let status = l.status.clone().unwrap_or_default();
        ready
            .get_or_create(&labels(&[("kind", "MispLicense"), ("namespace", &ns), ("name", &name)]))
            .set(api::is_true(&status.conditions, READY) as i64);
        if let Some(t) = ts(&status.valid_until) {
            license_valid_until
                .get_or_create(&labels(&[("namespace", &ns), ("name", &name), ("partner", &l.spec.partner_name)]))
                .set(t);
        }
    }
    for ca in state.cacerts.state() {
        let name = ca.name_any();
        let status = ca.status.clone().unwrap_or_default();
        ready
            .get_or_create(&labels(&[("kind", "CACertificate"), ("namespace", ""), ("name", &name)]))
            .set(api::is_true(&status.conditions, READY) as i64);
        if let Some(t) = ts(&status.not_after) {
            ca_not_after.get_or_create(&labels(&[("name", &name), ("domain", ca.spec.domain.as_str())])).set(t);
        }
    }
    registry.register("mosip_partner_ready", "1 when the object's Ready condition is True", ready);
    registry.register(
        "mosip_partner_certificate_not_after_timestamp_seconds",
        "End of validity of the partner's certificate",
        cert_not_after,
    );
    registry.register(
        "mosip_partner_signed_certificate_not_after_timestamp_seconds",
        "End of validity of the MOSIP re-signed partner certificate",
        signed_not_after,
    );
    registry.register(
        "mosip_partner_api_key_valid_until_timestamp_seconds",
        "End of validity of an issued API key",
        key_valid_until,
    );
    registry.register(
        "mosip_partner_license_valid_until_timestamp_seconds",
        "End of validity of a MISP licence key",
        license_valid_until,
    );
    registry.register(
        "mosip_partner_ca_certificate_not_after_timestamp_seconds",
        "End of validity of a trusted CA certificate",
        ca_not_after,
    );
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

async fn metrics(State(state): State<ServerState>) -> impl IntoResponse {
    match render(&state) {
        Ok(body) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<ServerState>) -> impl IntoResponse {
    if state.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
    }
}

/// Binds `addr` and serves until `shutdown` resolves. Returns the server task.
pub async fn serve(
    addr: std::net::SocketAddr,
    state: ServerState,
    shutdown: Shared<BoxFuture<'static, ()>>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for metrics and probes: {e}"))?;
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::warn!(error = %e, "metrics server stopped");
        }
    }))
}
