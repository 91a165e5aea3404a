//! The low-level client: one place that talks HTTP to PMS, authmanager and Keycloak.
//!
//! - Every PMS call carries the authmanager token as `Cookie: Authorization=<token>`; MOSIP's
//!   auth adapter reads it from that cookie only and answers 401 to a Bearer header
//!   (mosip-openid-bridge `kernel/kernel-auth-adapter/.../filter/AuthFilter.java`).
//! - Tokens come from authmanager `authenticate/internal/useridPwd` (`response.token`,
//!   mosip-openid-bridge `kernel/kernel-auth-service/.../controller/AuthController.java`) and are
//!   cached until their JWT `exp`; one token for the partner admin, one per partner user.
//!   A 401 drops the cached token and retries once with a fresh login.
//! - The Keycloak admin token comes from `KC/realms/master/protocol/openid-connect/token`
//!   (client `admin-cli`, grant `password`) and is sent as a Bearer header, as Keycloak requires.
//! - Failures become [`PmsError`]s; every HTTP request is counted in
//!   `mosip_partner_pms_requests_total{endpoint,outcome}` and timed.
//!
//! Nothing here logs or formats a token, password or the bodies that carry them.

use super::transport::Transport;
use super::wire::{self, BaseUrl};
use super::{MosipCredentials, PmsError, SecretString};
use crate::metrics::PmsMetrics;
use bytes::Bytes;
use http::Method;
use http_body_util::Full;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where MOSIP is.
#[derive(Clone, Debug)]
pub struct PmsEndpoints {
    /// The internal API host: `URL/v1/authmanager/...`, `URL/v1/partnermanager/...`,
    /// `URL/v1/policymanager/...`.
    pub api: BaseUrl,
    /// Keycloak, including any `/auth` prefix.
    pub keycloak: BaseUrl,
}

impl PmsEndpoints {
    pub fn parse(api_url: &str, keycloak_url: &str) -> Result<Self, PmsError> {
        Ok(Self {
            api: BaseUrl::parse("mosip-api-url", api_url)?,
            keycloak: BaseUrl::parse("keycloak-url", keycloak_url)?,
        })
    }
}

/// Everything needed to build a [`PmsClient`] (`--backend mosip`).
#[derive(Clone, Debug)]
pub struct PmsConfig {
    pub endpoints: PmsEndpoints,
    pub credentials: MosipCredentials,
    /// Extra trust anchors (PEM, `--mosip-ca-file`).
    pub ca_pem: Option<Vec<u8>>,
}

/// Who makes a PMS call.
#[derive(Clone, Copy, Debug)]
pub enum Caller<'a> {
    /// The partner-admin service user from the credentials Secret.
    Admin,
    /// The partner's own Keycloak user (username = partnerId).
    Partner { partner_id: &'a str, password: &'a SecretString },
}

#[derive(Clone)]
struct Token {
    value: SecretString,
    /// Unix seconds after which the token is not used any more.
    use_until: i64,
}

/// Seconds before a token's expiry at which it is renewed.
const TOKEN_MARGIN_SECONDS: i64 = 30;
/// Cache time for a token without a readable `exp`.
const TOKEN_DEFAULT_SECONDS: i64 = 300;

struct Inner {
    transport: Transport,
    endpoints: PmsEndpoints,
    creds: MosipCredentials,
    admin: Mutex<Option<Token>>,
    partners: Mutex<HashMap<String, Token>>,
    keycloak: Mutex<Option<Token>>,
    metrics: Arc<PmsMetrics>,
}

/// A cheap-to-clone client for PMS, authmanager and the Keycloak admin API.
#[derive(Clone)]
pub struct PmsClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PmsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PmsClient").field("endpoints", &self.inner.endpoints).finish_non_exhaustive()
    }
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn outcome(r: &Result<(), &PmsError>) -> &'static str {
    match r {
        Ok(()) => "success",
        Err(PmsError::Business { .. }) => "pms_error",
        Err(PmsError::Unavailable { .. }) => "unavailable",
        Err(PmsError::AuthFailed { .. }) => "auth_failed",
        Err(_) => "protocol_error",
    }
}

impl PmsClient {
    /// A client with a 30-second request timeout. `ca_pem`: extra trust anchors
    /// (`--mosip-ca-file`).
    pub fn new(
        endpoints: PmsEndpoints,
        creds: MosipCredentials,
        ca_pem: Option<&[u8]>,
        metrics: Arc<PmsMetrics>,
    ) -> Result<Self, PmsError> {
        Self::with_timeout(endpoints, creds, ca_pem, metrics, Duration::from_secs(30))
    }

    pub fn with_timeout(
        endpoints: PmsEndpoints,
        creds: MosipCredentials,
        ca_pem: Option<&[u8]>,
        metrics: Arc<PmsMetrics>,
        timeout: Duration,
    ) -> Result<Self, PmsError> {
        let transport = Transport::new(ca_pem, timeout).map_err(PmsError::Config)?;
        Ok(Self {
            inner: Arc::new(Inner {
                transport,
                endpoints,
                creds,
                admin: Mutex::new(None),
                partners: Mutex::new(HashMap::new()),
                keycloak: Mutex::new(None),
                metrics,
            }),
        })
    }

    pub fn credentials(&self) -> &MosipCredentials {
        &self.inner.creds
    }

    /// Forgets a partner user's cached token (after its password changed).
    pub fn forget_partner(&self, partner_id: &str) {
        if let Ok(mut m) = self.inner.partners.lock() {
            m.remove(partner_id);
        }
    }

    fn record(&self, endpoint: &str, started: Instant, r: Result<(), &PmsError>) {
        self.record_outcome(endpoint, started, outcome(&r));
    }

    fn record_outcome(&self, endpoint: &str, started: Instant, outcome: &str) {
        self.inner.metrics.observe(endpoint, outcome, started.elapsed().as_secs_f64());
    }

    async fn send(
        &self,
        endpoint: &str,
        req: http::Request<Full<Bytes>>,
    ) -> Result<super::transport::Response, PmsError> {
        self.inner
            .transport
            .send(req)
            .await
            .map_err(|detail| PmsError::Unavailable { endpoint: endpoint.to_string(), detail })
    }

    fn cached(&self, caller: &Caller<'_>) -> Option<SecretString> {
        let t = now();
        match caller {
            Caller::Admin => {
                self.inner.admin.lock().ok()?.as_ref().filter(|k| k.use_until > t).map(|k| k.value.clone())
            }
            Caller::Partner { partner_id, .. } => {
                self.inner.partners.lock().ok()?.get(*partner_id).filter(|k| k.use_until > t).map(|k| k.value.clone())
            }
        }
    }

    fn forget(&self, caller: &Caller<'_>) {
        match caller {
            Caller::Admin => {
                if let Ok(mut g) = self.inner.admin.lock() {
                    *g = None;
                }
            }
            Caller::Partner { partner_id, .. } => self.forget_partner(partner_id),
        }
    }

    async fn token(&self, caller: &Caller<'_>) -> Result<SecretString, PmsError> {
        if let Some(t) = self.cached(caller) {
            return Ok(t);
        }
        let creds = &self.inner.creds;
        let token = match caller {
            Caller::Admin => self.login(&creds.partner_admin_username, &creds.partner_admin_password).await?,
            Caller::Partner { partner_id, password } => self.login(partner_id, password).await?,
        };
        let value = token.value.clone();
        match caller {
            Caller::Admin => {
                if let Ok(mut g) = self.inner.admin.lock() {
                    *g = Some(token);
                }
            }
            Caller::Partner { partner_id, .. } => {
                if let Ok(mut g) = self.inner.partners.lock() {
                    g.insert(partner_id.to_string(), token);
                }
            }
        }
        Ok(value)
    }

    /// authmanager `POST /v1/authmanager/authenticate/internal/useridPwd`, appId `partner`, with
    /// the PMS client id and secret; the token is `response.token` (no cookie is set).
    async fn login(&self, user: &str, password: &SecretString) -> Result<Token, PmsError> {
        const EP: &str = "POST /v1/authmanager/authenticate/internal/useridPwd";
        let creds = &self.inner.creds;
        let body = wire::envelope(
            "mosip.io.userId.pwd",
            json!({
                "userName": user,
                "password": password.expose(),
                "appId": "partner",
                "clientId": creds.pms_client_id,
                "clientSecret": creds.pms_client_secret.expose(),
            }),
        );
        let url = self.inner.endpoints.api.join("/v1/authmanager/authenticate/internal/useridPwd");
        let req = json_request(Method::POST, &url, Some(&body), &[])?;
        let started = Instant::now();
        let r = async {
            let resp = self.send(EP, req).await?;
            if resp.status >= 500 || resp.status == 429 {
                return Err(PmsError::Unavailable { endpoint: EP.into(), detail: format!("HTTP {}", resp.status) });
            }
            let who = format!("user {user:?}");
            let v = match wire::read_response(EP, &resp.body) {
                Ok(v) => v,
                Err(PmsError::Business { code, message, .. }) => {
                    return Err(PmsError::AuthFailed { who, detail: format!("{code}: {message}") });
                }
                Err(e) if resp.status == 401 || resp.status == 403 => {
                    return Err(PmsError::AuthFailed { who, detail: format!("HTTP {} ({e})", resp.status) });
                }
                Err(e) => return Err(e),
            };
            if !(200..300).contains(&resp.status) {
                return Err(PmsError::AuthFailed { who, detail: format!("HTTP {}", resp.status) });
            }
            let token = v.get("token").and_then(Value::as_str).filter(|t| !t.is_empty()).ok_or_else(|| {
                PmsError::Protocol { endpoint: EP.into(), detail: "no response.token in the login answer".into() }
            })?;
            let exp = wire::jwt_expiry(token).unwrap_or(now() + TOKEN_DEFAULT_SECONDS);
            Ok(Token { value: SecretString::new(token), use_until: exp - TOKEN_MARGIN_SECONDS })
        }
        .await;
        self.record(EP, started, r.as_ref().map(|_| ()));
        r
    }

    /// One PMS call. `endpoint` is the path template (the metrics label); `path` the concrete
    /// path under the API URL. Returns the envelope's `response`.
    pub async fn pms(
        &self,
        endpoint: &'static str,
        method: Method,
        path: &str,
        caller: Caller<'_>,
        request: Option<Value>,
    ) -> Result<Value, PmsError> {
        let url = self.inner.endpoints.api.join(path);
        let body = request.map(|r| wire::envelope("mosip.partnermanagement", r));
        for attempt in 0..2 {
            let token = self.token(&caller).await?;
            let cookie = format!("Authorization={}", token.expose());
            let req = json_request(method.clone(), &url, body.as_ref(), &[(http::header::COOKIE, &cookie)])?;
            let started = Instant::now();
            let r = self.pms_once(endpoint, req).await;
            match r {
                Err(PmsCallError::Unauthorized) if attempt == 0 => {
                    self.record_outcome(endpoint, started, "auth_failed");
                    self.forget(&caller);
                    continue;
                }
                Err(PmsCallError::Unauthorized) => {
                    let e = PmsError::AuthFailed {
                        who: match caller {
                            Caller::Admin => format!("user {:?}", self.inner.creds.partner_admin_username),
                            Caller::Partner { partner_id, .. } => format!("partner user {partner_id:?}"),
                        },
                        detail: format!("{endpoint} answered 401 to a fresh token"),
                    };
                    self.record(endpoint, started, Err(&e));
                    return Err(e);
                }
                Err(PmsCallError::Other(e)) => {
                    self.record(endpoint, started, Err(&e));
                    return Err(e);
                }
                Ok(v) => {
                    self.record(endpoint, started, Ok(()));
                    return Ok(v);
                }
            }
        }
        Err(PmsError::Protocol { endpoint: endpoint.into(), detail: "retry loop ended".into() })
    }

    async fn pms_once(&self, endpoint: &str, req: http::Request<Full<Bytes>>) -> Result<Value, PmsCallError> {
        let resp = self.send(endpoint, req).await?;
        if resp.status == 401 {
            return Err(PmsCallError::Unauthorized);
        }
        if resp.status >= 500 || resp.status == 429 {
            let code = serde_json::from_slice::<Value>(&resp.body)
                .ok()
                .and_then(|v| wire::first_error(&v))
                .map(|(c, _)| format!(" ({c})"))
                .unwrap_or_default();
            return Err(PmsError::Unavailable {
                endpoint: endpoint.into(),
                detail: format!("HTTP {}{code}", resp.status),
            }
            .into());
        }
        match wire::read_response(endpoint, &resp.body) {
            Ok(v) if (200..300).contains(&resp.status) => Ok(v),
            Ok(_) => {
                Err(PmsError::Protocol { endpoint: endpoint.into(), detail: format!("HTTP {}", resp.status) }.into())
            }
            Err(PmsError::Protocol { .. }) if !(200..300).contains(&resp.status) => Err(PmsError::Protocol {
                endpoint: endpoint.into(),
                detail: format!("HTTP {} without a MOSIP error body (a malformed request?)", resp.status),
            }
            .into()),
            Err(e) => Err(e.into()),
        }
    }

    async fn keycloak_token(&self, force: bool) -> Result<SecretString, PmsError> {
        const EP: &str = "POST /realms/master/protocol/openid-connect/token";
        if !force
            && let Some(t) = self
                .inner
                .keycloak
                .lock()
                .ok()
                .and_then(|g| g.as_ref().filter(|k| k.use_until > now()).map(|k| k.value.clone()))
        {
            return Ok(t);
        }
        let creds = &self.inner.creds;
        let form = format!(
            "grant_type=password&client_id=admin-cli&username={}&password={}",
            wire::query_value(&creds.keycloak_admin_username),
            wire::query_value(creds.keycloak_admin_password.expose())
        );
        let url = self.inner.endpoints.keycloak.join("/realms/master/protocol/openid-connect/token");
        let req = http::Request::builder()
            .method(Method::POST)
            .uri(&url)
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(form)))
            .map_err(|e| PmsError::Config(format!("--keycloak-url: {e}")))?;
        let started = Instant::now();
        let r = async {
            let resp = self.send(EP, req).await?;
            if resp.status >= 500 || resp.status == 429 {
                return Err(PmsError::Unavailable { endpoint: EP.into(), detail: format!("HTTP {}", resp.status) });
            }
            if !(200..300).contains(&resp.status) {
                let why = serde_json::from_slice::<Value>(&resp.body)
                    .ok()
                    .and_then(|v| v.get("error").and_then(Value::as_str).map(String::from))
                    .unwrap_or_default();
                return Err(PmsError::AuthFailed {
                    who: format!("Keycloak admin {:?}", creds.keycloak_admin_username),
                    detail: format!("HTTP {} {why}", resp.status),
                });
            }
            let v: Value = serde_json::from_slice(&resp.body)
                .map_err(|e| PmsError::Protocol { endpoint: EP.into(), detail: format!("not JSON ({e})") })?;
            let token = v
                .get("access_token")
                .and_then(Value::as_str)
                .ok_or_else(|| PmsError::Protocol { endpoint: EP.into(), detail: "no access_token".into() })?;
            let expires_in = v.get("expires_in").and_then(Value::as_i64).unwrap_or(60);
            Ok(Token {
                value: SecretString::new(token),
                use_until: now() + expires_in - TOKEN_MARGIN_SECONDS.min(expires_in / 2),
            })
        }
        .await;
        self.record(EP, started, r.as_ref().map(|_| ()));
        let token = r?;
        let value = token.value.clone();
        if let Ok(mut g) = self.inner.keycloak.lock() {
            *g = Some(token);
        }
        Ok(value)
    }

    /// One Keycloak admin call under `KC/admin/realms/<realm>`. Returns the HTTP status and the
    /// JSON body (Null when empty); 5xx and transport failures are errors, 4xx are returned.
    pub async fn keycloak(
        &self,
        endpoint: &'static str,
        method: Method,
        path_in_realm: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), PmsError> {
        let url = self
            .inner
            .endpoints
            .keycloak
            .join(&format!("/admin/realms/{}{path_in_realm}", wire::seg(&self.inner.creds.keycloak_realm)));
        for attempt in 0..2 {
            let token = self.keycloak_token(attempt > 0).await?;
            let bearer = format!("Bearer {}", token.expose());
            let req = json_request(method.clone(), &url, body.as_ref(), &[(http::header::AUTHORIZATION, &bearer)])?;
            let started = Instant::now();
            let r = async {
                let resp = self.send(endpoint, req).await?;
                if resp.status >= 500 || resp.status == 429 {
                    return Err(PmsError::Unavailable {
                        endpoint: endpoint.into(),
                        detail: format!("HTTP {}", resp.status),
                    });
                }
                let v = if resp.body.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&resp.body).unwrap_or(Value::Null)
                };
                Ok((resp.status, v))
            }
            .await;
            match r {
                Ok((401, _)) if attempt == 0 => {
                    self.record_outcome(endpoint, started, "auth_failed");
                    continue;
                }
                Ok((s, v)) => {
                    let res = if s == 401 || s == 403 {
                        Err(PmsError::AuthFailed {
                            who: format!("Keycloak admin {:?}", self.inner.creds.keycloak_admin_username),
                            detail: format!("{endpoint}: HTTP {s}"),
                        })
                    } else {
                        Ok((s, v))
                    };
                    let outcome = match &res {
                        Ok((s, _)) if *s < 400 || *s == 409 || *s == 404 => "success",
                        Ok(_) => "protocol_error",
                        Err(e) => outcome(&Err(e)),
                    };
                    self.record_outcome(endpoint, started, outcome);
                    return res;
                }
                Err(e) => {
                    self.record(endpoint, started, Err(&e));
                    return Err(e);
                }
            }
        }
        Err(PmsError::Protocol { endpoint: endpoint.into(), detail: "retry loop ended".into() })
    }
}

enum PmsCallError {
    Unauthorized,
    Other(PmsError),
}

impl From<PmsError> for PmsCallError {
    fn from(e: PmsError) -> Self {
        PmsCallError::Other(e)
    }
}

fn json_request(
    method: Method,
    url: &str,
    body: Option<&Value>,
    headers: &[(http::header::HeaderName, &str)],
) -> Result<http::Request<Full<Bytes>>, PmsError> {
    let mut b = http::Request::builder().method(method).uri(url).header(http::header::ACCEPT, "application/json");
    for (name, value) in headers {
        b = b.header(name, *value);
    }
    let body = match body {
        Some(v) => {
            b = b.header(http::header::CONTENT_TYPE, "application/json");
            Bytes::from(serde_json::to_vec(v).unwrap_or_default())
        }
        None => Bytes::new(),
    };
    // The error text of a failed build names the URL only, never a header value.
    b.body(Full::new(body)).map_err(|_| PmsError::Config(format!("cannot build a request for {url}")))
}
