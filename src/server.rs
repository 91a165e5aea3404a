//! The /metrics, /healthz and /readyz server (one port, 8080 by default).
//!
//! Per-object gauges are computed at scrape time from the reflector stores, in the manner of
//! cert-manager's certificate collector: an object that is gone has no series.

use crate::api::{self, CACertificate, MispLicense, READY};
use crate::controller::packed::PackedPartner;
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
    pub partners: Store<PackedPartner>,
    pub licenses: Store<MispLicense>,
    pub cacerts: Store<CACertificate>,
}

use api::epoch_seconds as ts;

/// How much text a scrape holds at once: at 10,000 partners the exposition is ~5 MB, which
/// rendered whole (and into per-family buffers first) made every scrape a memory peak.
const CHUNK: usize = 64 * 1024;

/// The per-object gauge families, in the order they are written: name, help.
const FAMILIES: [(&str, &str); 6] = [
    ("mosip_partner_ready", "1 when the object's Ready condition is True"),
    ("mosip_partner_certificate_not_after_timestamp_seconds", "End of validity of the partner's certificate"),
    (
        "mosip_partner_signed_certificate_not_after_timestamp_seconds",
        "End of validity of the MOSIP re-signed partner certificate",
    ),
    ("mosip_partner_api_key_valid_until_timestamp_seconds", "End of validity of an issued API key"),
    ("mosip_partner_license_valid_until_timestamp_seconds", "End of validity of a MISP licence key"),
    ("mosip_partner_ca_certificate_not_after_timestamp_seconds", "End of validity of a trusted CA certificate"),
];
const READY_FAMILY: usize = 0;
const CERT_NOT_AFTER: usize = 1;
const SIGNED_NOT_AFTER: usize = 2;
const KEY_VALID_UNTIL: usize = 3;
const LICENSE_VALID_UNTIL: usize = 4;
const CA_NOT_AFTER: usize = 5;

fn header(out: &mut String, (name, help): (&str, &str)) {
    let _ = std::fmt::Write::write_fmt(out, format_args!("# HELP {name} {help}.\n# TYPE {name} gauge\n"));
}

/// One series, label values escaped as OpenMetrics says (prometheus-client 0.24 writes them raw:
/// an API key label from a spec could otherwise break the exposition).
fn series(out: &mut String, name: &str, labels: &[(&str, &str)], value: i64) {
    out.push_str(name);
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
    let _ = std::fmt::Write::write_fmt(out, format_args!("{value}\n"));
}

/// The objects of one scrape, taken from the stores once.
struct Snapshot {
    partners: Vec<Arc<PackedPartner>>,
    licenses: Vec<Arc<MispLicense>>,
    cacerts: Vec<Arc<CACertificate>>,
}

impl Snapshot {
    fn len(&self) -> usize {
        self.partners.len() + self.licenses.len() + self.cacerts.len()
    }

    /// Writes the series object `i` (Partners, then MispLicenses, then CACertificates) has in
    /// `family`; most objects have one or none.
    fn write(&self, family: usize, i: usize, out: &mut String) {
        let name = FAMILIES[family].0;
        if let Some(p) = self.partners.get(i) {
            let ns = p.meta().namespace.as_deref().unwrap_or_default();
            let partner = p.meta().name.as_deref().unwrap_or_default();
            // What the store keeps in the clear of each packed Partner: nothing is unpacked here.
            let g = &p.gauges;
            match family {
                READY_FAMILY => {
                    series(out, name, &[("kind", "Partner"), ("namespace", ns), ("name", partner)], g.ready as i64)
                }
                CERT_NOT_AFTER => {
                    if let Some(t) = g.certificate_not_after {
                        series(out, name, &[("namespace", ns), ("partner", partner)], t);
                    }
                }
                SIGNED_NOT_AFTER => {
                    if let Some(t) = g.signed_not_after {
                        series(out, name, &[("namespace", ns), ("partner", partner)], t);
                    }
                }
                KEY_VALID_UNTIL => {
                    for key in &g.key_valid_until {
                        let labels =
                            [("namespace", ns), ("partner", partner), ("policy", &key.policy), ("label", &key.label)];
                        series(out, name, &labels, key.valid_until);
                    }
                }
                _ => {}
            }
        } else if let Some(l) = self.licenses.get(i - self.partners.len()) {
            let ns = l.metadata.namespace.as_deref().unwrap_or_default();
            let license = l.metadata.name.as_deref().unwrap_or_default();
            let status = l.status.as_ref();
            match family {
                READY_FAMILY => {
                    let ready = status.is_some_and(|s| api::is_true(&s.conditions, READY));
                    series(out, name, &[("kind", "MispLicense"), ("namespace", ns), ("name", license)], ready as i64);
                }
                LICENSE_VALID_UNTIL => {
                    if let Some(t) = status.and_then(|s| ts(&s.valid_until)) {
                        series(
                            out,
                            name,
                            &[("namespace", ns), ("name", license), ("partner", &l.spec.partner_name)],
                            t,
                        );
                    }
                }
                _ => {}
            }
        } else if let Some(ca) = self.cacerts.get(i - self.partners.len() - self.licenses.len()) {
            let ca_name = ca.metadata.name.as_deref().unwrap_or_default();
            let status = ca.status.as_ref();
            match family {
                READY_FAMILY => {
                    let ready = status.is_some_and(|s| api::is_true(&s.conditions, READY));
                    series(out, name, &[("kind", "CACertificate"), ("namespace", ""), ("name", ca_name)], ready as i64);
                }
                CA_NOT_AFTER => {
                    if let Some(t) = status.and_then(|s| ts(&s.not_after)) {
                        series(out, name, &[("name", ca_name), ("domain", ca.spec.domain.as_str())], t);
                    }
                }
                _ => {}
            }
        }
    }
}

/// The exposition in pieces of about [`CHUNK`] bytes, each rendered when the response asks for
/// it: the operator's own counters and histograms, the per-object gauges read from the stores,
/// then the end marker.
struct Exposition {
    snapshot: Snapshot,
    head: Option<String>,
    family: usize,
    object: usize,
    ended: bool,
}

impl Iterator for Exposition {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if self.ended {
            return None;
        }
        let mut out = self.head.take().unwrap_or_default();
        out.reserve(CHUNK + 1024);
        while self.family < FAMILIES.len() {
            if self.object == 0 {
                header(&mut out, FAMILIES[self.family]);
            }
            while self.object < self.snapshot.len() {
                self.snapshot.write(self.family, self.object, &mut out);
                self.object += 1;
                if out.len() >= CHUNK {
                    return Some(out);
                }
            }
            self.family += 1;
            self.object = 0;
        }
        let _ = prometheus_client::encoding::text::encode_eof(&mut out);
        self.ended = true;
        Some(out)
    }
}

/// Starts a scrape: the registry's text now, the per-object gauges as the response is sent.
fn exposition(state: &ServerState) -> Result<Exposition, std::fmt::Error> {
    let mut registry = Registry::default();
    state.metrics.register(&mut registry);
    let mut head = String::new();
    prometheus_client::encoding::text::encode_registry(&mut head, &registry)?;
    let snapshot =
        Snapshot { partners: state.partners.state(), licenses: state.licenses.state(), cacerts: state.cacerts.state() };
    Ok(Exposition { snapshot, head: Some(head), family: 0, object: 0, ended: false })
}

async fn metrics(State(state): State<ServerState>) -> impl IntoResponse {
    match exposition(&state) {
        Ok(chunks) => {
            let body = axum::body::Body::from_stream(futures::stream::iter(
                chunks.map(|c| Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(c))),
            ));
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

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;

    /// The hand-written series are what prometheus-client itself writes for the same family.
    #[test]
    fn series_are_written_as_prometheus_client_writes_them() {
        let values = [("ns", "plain", 1), ("ns", "b.c-d", 0), ("other", "é-unicode", 1)];
        let mut mine = String::new();
        header(&mut mine, FAMILIES[READY_FAMILY]);
        let family: Family<Vec<(String, String)>, Gauge> = Family::default();
        for (ns, name, v) in values {
            series(&mut mine, FAMILIES[READY_FAMILY].0, &[("kind", "Partner"), ("namespace", ns), ("name", name)], v);
            let labels = vec![
                ("kind".to_string(), "Partner".to_string()),
                ("namespace".to_string(), ns.to_string()),
                ("name".to_string(), name.to_string()),
            ];
            family.get_or_create(&labels).set(v);
        }
        let mut registry = Registry::default();
        registry.register(FAMILIES[READY_FAMILY].0, FAMILIES[READY_FAMILY].1, family);
        let mut theirs = String::new();
        prometheus_client::encoding::text::encode_registry(&mut theirs, &registry).unwrap();
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
        let mut s = String::new();
        series(&mut s, "m", &[("label", "a\"b\\c\nd")], 7);
        assert_eq!(s, "m{label=\"a\\\"b\\\\c\\nd\"} 7\n");
        assert_eq!(s.lines().count(), 1);
    }

    /// A scrape of many partners is sent in bounded pieces, each family whole and in order.
    #[test]
    fn a_large_scrape_is_rendered_in_bounded_pieces() {
        use kube::runtime::{reflector, watcher};
        let (partners, mut writer) = reflector::store::<PackedPartner>();
        let n = 3000;
        for i in 0..n {
            let p: crate::api::Partner = serde_json::from_value(serde_json::json!({
                "apiVersion": "pms.mosip.io/v1alpha1", "kind": "Partner",
                "metadata": {"name": format!("partner-{i}"), "namespace": "bench"},
                "spec": {"partnerType": "Auth_Partner", "organizationName": "O"},
                "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Onboarded", "message": "",
                    "lastTransitionTime": "2026-12-01T00:00:00Z"}],
                    "certificate": {"notAfter": "2027-12-01T00:00:00Z"},
                    "policies": [{"name": "auth", "apiKeys": [{"label": "k", "validUntil": "2027-03-01T00:00:00Z"}]}]}
            }))
            .unwrap();
            writer.apply_watcher_event(&watcher::Event::Apply(PackedPartner::pack(&p).unwrap()));
        }
        let state = ServerState {
            metrics: Arc::new(Metrics::default()),
            ready: Arc::new(AtomicBool::new(true)),
            partners,
            licenses: reflector::store::<MispLicense>().0,
            cacerts: reflector::store::<CACertificate>().0,
        };
        let chunks: Vec<String> = exposition(&state).unwrap().collect();
        assert!(chunks.len() > 5, "{} pieces", chunks.len());
        // The first piece carries the registry's text; every later one stays near the bound.
        assert!(chunks.iter().skip(1).all(|c| c.len() < CHUNK + 512));
        let text = chunks.concat();
        let count = |prefix: &str| text.lines().filter(|l| l.starts_with(prefix)).count();
        assert_eq!(count("mosip_partner_ready{kind=\"Partner\""), n);
        assert_eq!(count("mosip_partner_certificate_not_after_timestamp_seconds{"), n);
        assert_eq!(count("mosip_partner_api_key_valid_until_timestamp_seconds{"), n);
        assert_eq!(count("mosip_partner_signed_certificate_not_after_timestamp_seconds{"), 0);
        // Each family rendered from the stores has its header once (the registry's gauges, such
        // as the backlog's, come in the first piece).
        for (name, _) in FAMILIES {
            assert_eq!(count(&format!("# TYPE {name} ")), 1, "{name}");
        }
        assert_eq!(count("mosip_partner_backlog_waiting "), 1);
        assert!(text.ends_with("# EOF\n"));
        // Each family's series follow its own header.
        let ready_header = text.find("# TYPE mosip_partner_ready gauge").unwrap();
        let key_header = text.find("# TYPE mosip_partner_api_key_valid_until_timestamp_seconds gauge").unwrap();
        let first_key = text.find("mosip_partner_api_key_valid_until_timestamp_seconds{").unwrap();
        assert!(ready_header < key_header && key_header < first_key);
    }
}
