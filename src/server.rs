//! The /metrics, /healthz and /readyz server (one port, 8080 by default).
//!
//! Per-object gauges are computed at scrape time from the reflector stores, in the manner of
//! cert-manager's certificate collector: an object that is gone has no series.

use crate::api::{self, CACertificate, MispLicense, READY};
use crate::metrics::Metrics;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use futures::future::{BoxFuture, Shared};
use kube::Resource;
use kube::runtime::reflector::Store;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the handlers read.
#[derive(Clone)]
pub struct ServerState {
    pub metrics: Arc<Metrics>,
    pub ready: Arc<AtomicBool>,
    pub partners: Store<crate::controller::packed::PackedPartner>,
    pub licenses: Store<MispLicense>,
    pub cacerts: Store<CACertificate>,
}

use api::epoch_seconds as ts;

/// One gauge family of per-object series, written straight into text: a scrape at 10,000
/// partners renders ~40,000 series, and building them as prometheus-client families first
/// allocated a label vector per series and held every series twice.
struct Series {
    name: &'static str,
    help: &'static str,
    lines: String,
}

impl Series {
    /// A family expecting about `series` series (sized once: growing a multi-megabyte buffer
    /// copies it again and again).
    fn new(name: &'static str, help: &'static str, series: usize) -> Self {
        Self { name, help, lines: String::with_capacity(series * (name.len() + 96)) }
    }

    fn add(&mut self, labels: &[(&str, &str)], value: i64) {
        let out = &mut self.lines;
        out.push_str(self.name);
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            for c in v.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        out.push_str("} ");
        // Into the buffer, not through a String per value.
        let _ = std::fmt::Write::write_fmt(out, format_args!("{value}\n"));
    }

    fn write_to(&self, out: &mut String) {
        out.push_str(&format!("# HELP {} {}.\n# TYPE {} gauge\n", self.name, self.help, self.name));
        out.push_str(&self.lines);
    }
}

/// Renders all metrics in the OpenMetrics text format: the operator's own counters and
/// histograms, then the per-object gauges read from the stores.
pub fn render(state: &ServerState) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    state.metrics.register(&mut registry);
    let partners = state.partners.state();
    let n = partners.len();
    let mut ready = Series::new("mosip_partner_ready", "1 when the object's Ready condition is True", n);
    let mut cert_not_after = Series::new(
        "mosip_partner_certificate_not_after_timestamp_seconds",
        "End of validity of the partner's certificate",
        n,
    );
    let mut signed_not_after = Series::new(
        "mosip_partner_signed_certificate_not_after_timestamp_seconds",
        "End of validity of the MOSIP re-signed partner certificate",
        n,
    );
    let mut key_valid_until =
        Series::new("mosip_partner_api_key_valid_until_timestamp_seconds", "End of validity of an issued API key", n);
    let mut license_valid_until =
        Series::new("mosip_partner_license_valid_until_timestamp_seconds", "End of validity of a MISP licence key", 0);
    let mut ca_not_after = Series::new(
        "mosip_partner_ca_certificate_not_after_timestamp_seconds",
        "End of validity of a trusted CA certificate",
        0,
    );

    for p in partners {
        let ns = p.meta().namespace.as_deref().unwrap_or_default();
        let name = p.meta().name.as_deref().unwrap_or_default();
        // What the store keeps in the clear of each packed Partner: nothing is unpacked here.
        let g = &p.gauges;
        ready.add(&[("kind", "Partner"), ("namespace", ns), ("name", name)], g.ready as i64);
        if let Some(t) = g.certificate_not_after {
            cert_not_after.add(&[("namespace", ns), ("partner", name)], t);
        }
        if let Some(t) = g.signed_not_after {
            signed_not_after.add(&[("namespace", ns), ("partner", name)], t);
        }
        for key in &g.key_valid_until {
            let labels = [("namespace", ns), ("partner", name), ("policy", &key.policy), ("label", &key.label)];
            key_valid_until.add(&labels, key.valid_until);
        }
    }
    let no_status = Default::default();
    for l in state.licenses.state() {
        let ns = l.metadata.namespace.as_deref().unwrap_or_default();
        let name = l.metadata.name.as_deref().unwrap_or_default();
        let status: &crate::api::MispLicenseStatus = l.status.as_ref().unwrap_or(&no_status);
        ready.add(
            &[("kind", "MispLicense"), ("namespace", ns), ("name", name)],
            api::is_true(&status.conditions, READY) as i64,
        );
        if let Some(t) = ts(&status.valid_until) {
            license_valid_until.add(&[("namespace", ns), ("name", name), ("partner", &l.spec.partner_name)], t);
        }
    }
    let no_status = Default::default();
    for ca in state.cacerts.state() {
        let name = ca.metadata.name.as_deref().unwrap_or_default();
        let status: &crate::api::CACertificateStatus = ca.status.as_ref().unwrap_or(&no_status);
        ready.add(
            &[("kind", "CACertificate"), ("namespace", ""), ("name", name)],
            api::is_true(&status.conditions, READY) as i64,
        );
        if let Some(t) = ts(&status.not_after) {
            ca_not_after.add(&[("name", name), ("domain", ca.spec.domain.as_str())], t);
        }
    }
    let families = [ready, cert_not_after, signed_not_after, key_valid_until, license_valid_until, ca_not_after];
    let mut out = String::with_capacity(families.iter().map(|f| f.lines.len() + 256).sum::<usize>() + 16 * 1024);
    prometheus_client::encoding::text::encode_registry(&mut out, &registry)?;
    for f in &families {
        f.write_to(&mut out);
    }
    prometheus_client::encoding::text::encode_eof(&mut out)?;
    Ok(out)
}

async fn metrics(State(state): State<ServerState>) -> impl IntoResponse {
    // Tens of thousands of series at 10,000 partners: rendered off the reconcilers' threads.
    match tokio::task::spawn_blocking(move || render(&state)).await {
        Ok(Ok(body)) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
        }
        Ok(Err(_)) | Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;

    /// The hand-written series are what prometheus-client itself writes for the same family.
    #[test]
    fn series_are_written_as_prometheus_client_writes_them() {
        let values = [("ns", "plain", 1), ("ns", "b.c-d", 0), ("other", "é-unicode", 1)];
        let mut ours = Series::new("mosip_partner_ready", "1 when the object's Ready condition is True", 3);
        let family: Family<Vec<(String, String)>, Gauge> = Family::default();
        for (ns, name, v) in values {
            ours.add(&[("kind", "Partner"), ("namespace", ns), ("name", name)], v);
            let labels = vec![
                ("kind".to_string(), "Partner".to_string()),
                ("namespace".to_string(), ns.to_string()),
                ("name".to_string(), name.to_string()),
            ];
            family.get_or_create(&labels).set(v);
        }
        let mut registry = Registry::default();
        registry.register("mosip_partner_ready", "1 when the object's Ready condition is True", family);
        let mut theirs = String::new();
        prometheus_client::encoding::text::encode_registry(&mut theirs, &registry).unwrap();
        let mut mine = String::new();
        ours.write_to(&mut mine);
        let sorted = |s: &str| {
            let mut l: Vec<String> = s.lines().map(str::to_string).collect();
            l.sort();
            l
        };
        assert_eq!(sorted(&mine), sorted(&theirs));
    }

    /// Label values are escaped as OpenMetrics says (prometheus-client 0.24 writes them raw): an
    /// API key label from a spec cannot break the exposition.
    #[test]
    fn label_values_are_escaped() {
        let mut s = Series::new("m", "h", 1);
        s.add(&[("label", "a\"b\\c\nd")], 7);
        assert_eq!(s.lines, "m{label=\"a\\\"b\\\\c\\nd\"} 7\n");
        assert_eq!(s.lines.lines().count(), 1);
    }
}
