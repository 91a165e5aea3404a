//! HTTP(S) transport: hyper-util's client over rustls, verified against the system roots plus an
//! optional CA file; a timeout on every request.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

pub(crate) struct Transport {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

pub(crate) struct Response {
    pub status: u16,
    pub body: Bytes,
}

impl Transport {
    /// `ca_pem`: extra trust anchors (PEM) besides the system roots.
    pub fn new(ca_pem: Option<&[u8]>, timeout: Duration) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
        if let Some(pem) = ca_pem {
            let mut added = 0;
            for block in pem::parse_many(pem).map_err(|e| format!("--mosip-ca-file is not PEM: {e}"))? {
                if block.tag() == "CERTIFICATE" {
                    roots
                        .add(rustls_pki_types::CertificateDer::from(block.contents().to_vec()))
                        .map_err(|e| format!("--mosip-ca-file: unusable certificate: {e}"))?;
                    added += 1;
                }
            }
            if added == 0 {
                return Err("--mosip-ca-file holds no CERTIFICATE".into());
            }
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // http:// is let through here; BaseUrl::parse only accepts it for loopback hosts.
        let https =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Self { client, timeout })
    }

    /// Sends one request. Errors are transport failures (connect, TLS, timeout), as text without
    /// any header value.
    pub async fn send(&self, req: http::Request<Full<Bytes>>) -> Result<Response, String> {
        let fut = async {
            let resp = self.client.request(req).await.map_err(|e| transport_error_text(&e))?;
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.map_err(|e| format!("reading the body: {e}"))?.to_bytes();
            Ok::<_, String>(Response { status, body })
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {}s", self.timeout.as_secs())),
        }
    }
}

fn transport_error_text(e: &hyper_util::client::legacy::Error) -> String {
    use std::error::Error;
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
