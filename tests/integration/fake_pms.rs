//! A STATEFUL FAKE of MOSIP's PMS + kernel authmanager + Keycloak admin API, for tests.
//!
//! This is a CONTRACT MODEL derived from the public sources of PMS v1.2.2.x
//! (mosip/partner-management-services master 3314627a), mosip-openid-bridge, keymanager and the
//! onboarder's Postman collection — NOT PMS itself, and never validated against a live PMS.
//! Each behaviour names the source file it models. Where a detail is not in the sources it is
//! marked "(inference)".
//!
//! One loopback HTTP server serves:
//! - `/v1/authmanager/authenticate/internal/useridPwd` (mosip-openid-bridge
//!   `kernel-auth-service/.../controller/AuthController.java`): token in `response.token`.
//! - `/v1/partnermanager/...` and `/v1/policymanager/...` (PMS controllers).
//! - `/auth/realms/master/protocol/openid-connect/token` and `/auth/admin/realms/<realm>/...`
//!   (Keycloak; base URL `<url>/auth`).
//!
//! Test knobs: per-endpoint call counters, an outage switch (503 for every request), a
//! per-partner outage (503 for requests naming one partner id), "mint then fail" (PMS commits a
//! generated API key, the caller gets a 500), `stop()` / `restart()` (connection refused, then
//! healed on the same port), and direct state reads.

#![allow(dead_code)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub const ADMIN_USER: &str = "pms-operator";
pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const PMS_CLIENT_ID: &str = "mosip-pms-client";
pub const PMS_CLIENT_SECRET: &str = "pms-client-secret-1";
pub const KC_ADMIN_USER: &str = "admin";
pub const KC_ADMIN_PASSWORD: &str = "kc-admin-password-1";
pub const REALM: &str = "mosip";

/// Partner types and whether a policy group is required (PMS `db_scripts/mosip_pms/dml/pms-partner_type.csv`).
const PARTNER_TYPES: &[(&str, bool)] = &[
    ("Auth_Partner", true),
    ("Device_Provider", false),
    ("FTM_Provider", false),
    ("Credential_Partner", true),
    ("Online_Verification_Partner", true),
    ("MISP_Partner", false),
    ("ABIS_Partner", true),
    ("Manual_Adjudication", true),
    ("Internal_Partner", true),
    ("SDK_Partner", false),
    ("Print_Partner", true),
    ("Binding_Partner", true),
];

#[derive(Clone, Debug)]
pub struct KcUser {
    pub id: String,
    pub username: String,
    pub password: String,
    pub enabled: bool,
    pub roles: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub desc: String,
}

#[derive(Clone, Debug)]
pub struct Policy {
    pub id: String,
    pub group_id: String,
    pub name: String,
    pub desc: String,
    pub version: String,
    pub policy_type: String,
    pub body: Value,
    pub published: bool,
}

#[derive(Clone, Debug)]
pub struct Partner {
    pub id: String,
    pub org: String,
    pub email: String,
    pub partner_type: String,
    pub group: Option<String>,
    /// InProgress | approved (PMS `partner/constant/PartnerConstants.java`).
    pub approval: String,
    pub active: bool,
    pub cert_uploaded: bool,
    pub deactivated: bool,
}

#[derive(Clone, Debug)]
pub struct Mapping {
    pub key: String,
    pub partner_id: String,
    pub policy_id: String,
    /// InProgress | Approved | Rejected
    pub status: String,
}

#[derive(Clone, Debug)]
pub struct ApiKey {
    pub partner_id: String,
    pub policy_id: String,
    pub label: String,
    pub key: String,
    pub active: bool,
}

#[derive(Clone, Debug)]
pub struct License {
    pub misp_id: String,
    pub key: String,
    pub active: bool,
}

#[derive(Default)]
pub struct FakeState {
    pub users: Vec<KcUser>,
    pub realm_roles: Vec<(String, String)>,
    pub admin_password: String,
    pub tokens: HashMap<String, String>,
    pub kc_tokens: HashSet<String>,
    pub ca_certs: HashSet<(String, String)>,
    pub groups: Vec<Group>,
    pub policies: Vec<Policy>,
    pub partners: BTreeMap<String, Partner>,
    pub mappings: Vec<Mapping>,
    pub api_keys: Vec<ApiKey>,
    pub licenses: Vec<License>,
    pub calls: BTreeMap<String, u64>,
    pub outage: bool,
    /// Endpoint template → how many of its next calls answer 503 (a transient failure of one call).
    pub fail_next: HashMap<String, u32>,
    /// 503 for every request that names one of these partner ids (in the path, or quoted in
    /// the body): an outage that hits one partner only.
    pub unavailable_for: HashSet<String>,
    /// The next this-many `generate/apikey` calls mint the key in PMS and then answer 500, as if
    /// the connection broke after PMS committed (the key is never seen by the caller).
    pub mint_then_fail: u32,
    /// Every Cookie/Authorization header and body seen, to prove what was (not) sent.
    pub bearer_seen: u64,
    seq: u64,
}

impl FakeState {
    fn next_id(&mut self) -> String {
        self.seq += 1;
        format!("{}", 10_000 + self.seq)
    }
}

/// A running fake.
pub struct FakeMosip {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<FakeState>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FakeMosip {
    /// Starts on a random loopback port, with the partner-admin user, the Keycloak admin and
    /// every partner-type realm role (mosip-config `partner-management-default.properties`: "All
    /// partner types should be created as roles in keycloak").
    pub async fn start() -> Self {
        let mut st = FakeState { admin_password: ADMIN_PASSWORD.into(), ..Default::default() };
        let mut roles: Vec<String> = PARTNER_TYPES.iter().map(|(t, _)| t.to_ascii_uppercase()).collect();
        roles.push("PARTNER_ADMIN".into());
        for (i, r) in roles.into_iter().enumerate() {
            st.realm_roles.push((format!("role-{i}"), r));
        }
        st.users.push(KcUser {
            id: "user-admin".into(),
            username: ADMIN_USER.into(),
            password: ADMIN_PASSWORD.into(),
            enabled: true,
            roles: vec!["PARTNER_ADMIN".into()],
        });
        let state = Arc::new(Mutex::new(st));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
        let addr = listener.local_addr().expect("addr");
        let mut fake = Self { addr, state, task: None };
        fake.serve(listener);
        fake
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = Router::new().fallback(handle).with_state(self.state.clone());
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }

    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn keycloak_url(&self) -> String {
        format!("http://{}/auth", self.addr)
    }

    /// Connection refused from now on.
    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Serves again on the same port.
    pub async fn restart(&mut self) {
        self.stop();
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("rebind {}: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    pub fn set_outage(&self, on: bool) {
        self.state.lock().unwrap().outage = on;
    }

    /// The next `n` calls of one endpoint template (e.g. `PATCH /partners/{partnerId}`) answer
    /// 503; the others are served.
    pub fn fail_next(&self, endpoint: &str, n: u32) {
        self.state.lock().unwrap().fail_next.insert(endpoint.to_string(), n);
    }

    /// Makes every request about `partner_id` answer 503 (true) or heals it (false).
    pub fn set_unavailable_for(&self, partner_id: &str, on: bool) {
        let mut st = self.state.lock().unwrap();
        if on {
            st.unavailable_for.insert(partner_id.to_string());
        } else {
            st.unavailable_for.remove(partner_id);
        }
    }

    /// The next `n` API-key generations mint in PMS, then fail with 500.
    pub fn mint_then_fail(&self, n: u32) {
        self.state.lock().unwrap().mint_then_fail = n;
    }

    pub fn set_admin_password(&self, pw: &str) {
        let mut st = self.state.lock().unwrap();
        st.admin_password = pw.into();
        if let Some(u) = st.users.iter_mut().find(|u| u.username == ADMIN_USER) {
            u.password = pw.into();
        }
    }

    /// Calls of one endpoint template, e.g. `PATCH /partners/{partnerId}/generate/apikey`.
    pub fn calls(&self, endpoint: &str) -> u64 {
        self.state.lock().unwrap().calls.get(endpoint).copied().unwrap_or(0)
    }

    /// All counters (template → calls).
    pub fn all_calls(&self) -> BTreeMap<String, u64> {
        self.state.lock().unwrap().calls.clone()
    }

    /// Counted calls that write (everything but GET and logins).
    pub fn writes(&self) -> u64 {
        self.state
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|(k, _)| !k.starts_with("GET ") && !k.contains("useridPwd") && !k.contains("openid-connect"))
            .map(|(_, v)| v)
            .sum()
    }
}

impl Drop for FakeMosip {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------------
// Responses

/// A MOSIP envelope with `errors[]` on HTTP 200: how PMS reports business errors
/// (PMS `ExceptionHandler`s; authmanager Swagger: "Success or you may find errors in error array").
fn pms_error(code: &str, message: &str) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        json!({"id": null, "version": null, "responsetime": now(), "metadata": null, "response": null,
               "errors": [{"errorCode": code, "message": message}]})
        .to_string(),
    )
        .into_response()
}

fn pms_ok(response: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        json!({"id": null, "version": null, "responsetime": now(), "metadata": null, "response": response, "errors": []})
            .to_string(),
    )
        .into_response()
}

fn status_json(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), [("content-type", "application/json")], body.to_string()).into_response()
}

/// Jackson refusing the body (wrong `requesttime` shape, not JSON): Spring's bare 400 with no
/// MOSIP envelope (PMS `RequestWrapper` `@JsonFormat(pattern = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")`).
fn bare_400() -> Response {
    status_json(400, json!({"timestamp": now(), "status": 400, "error": "Bad Request"}))
}

fn now() -> String {
    mosip_partner_operator::pms::wire::format_requesttime(jiff::Timestamp::now())
}

// ---------------------------------------------------------------------------------------------
// Dispatch

async fn handle(State(state): State<Arc<Mutex<FakeState>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let mut st = state.lock().unwrap();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let segs: Vec<String> = path.trim_matches('/').split('/').map(decode).collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let template = template(&parts.method, &s);
    *st.calls.entry(template.clone()).or_default() += 1;
    if st.outage {
        return status_json(503, json!({"error": "Service Unavailable"}));
    }
    if let Some(n) = st.fail_next.get_mut(&template).filter(|n| **n > 0) {
        *n -= 1;
        return status_json(503, json!({"error": "Service Unavailable"}));
    }
    if !st.unavailable_for.is_empty() {
        let text = String::from_utf8_lossy(&body);
        if st.unavailable_for.iter().any(|pid| s.contains(&pid.as_str()) || text.contains(&format!("\"{pid}\""))) {
            return status_json(503, json!({"error": "Service Unavailable"}));
        }
    }
    if s.first() == Some(&"auth") {
        return keycloak(&mut st, &parts.method, &s[1..], &query, &parts.headers, &body);
    }
    if path == "/v1/authmanager/authenticate/internal/useridPwd" && parts.method == Method::POST {
        return login(&mut st, &body);
    }
    // MOSIP auth adapter: the token only from the `Authorization` cookie; anything else is 401
    // (mosip-openid-bridge `kernel/kernel-auth-adapter/.../filter/AuthFilter.java`).
    if parts.headers.get("authorization").is_some() {
        st.bearer_seen += 1;
    }
    let user = match cookie_token(&parts.headers).and_then(|t| st.tokens.get(&t).cloned()) {
        Some(u) => u,
        None => {
            return status_json(
                401,
                json!({"errors": [{"errorCode": "KER-ATH-401", "message": "Authentication Failed"}]}),
            );
        }
    };
    let request =
        if matches!(parts.method, Method::POST | Method::PUT | Method::PATCH) && !template.ends_with("/publish") {
            match envelope_request(&body) {
                Some(r) => r,
                None => return bare_400(),
            }
        } else {
            Value::Null
        };
    let roles = st.users.iter().find(|u| u.username == user).map(|u| u.roles.clone()).unwrap_or_default();
    let admin = roles.iter().any(|r| r == "PARTNER_ADMIN");
    pms(&mut st, &template, &s, &user, admin, &roles, &request)
}

fn decode(seg: &str) -> String {
    let b = seg.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&seg[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    let cookie = headers.get("cookie")?.to_str().ok()?;
    cookie.split(';').map(str::trim).find_map(|c| c.strip_prefix("Authorization=")).map(String::from)
}

/// The request envelope check: JSON with `request` and `requesttime` in PMS's exact format.
fn envelope_request(body: &Bytes) -> Option<Value> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let rt = v.get("requesttime")?.as_str()?;
    if !mosip_partner_operator::pms::wire::is_requesttime(rt) {
        return None;
    }
    v.get("request").cloned()
}

/// The endpoint template a request is counted under (same strings as the client's metrics).
fn template(method: &Method, s: &[&str]) -> String {
    let m = method.as_str();
    let t = match s {
        ["auth", "realms", "master", "protocol", "openid-connect", "token"] => {
            "/realms/master/protocol/openid-connect/token".to_string()
        }
        ["auth", "admin", "realms", _, "users"] => "/admin/realms/{realm}/users".into(),
        ["auth", "admin", "realms", _, "users", _] => "/admin/realms/{realm}/users/{id}".into(),
        ["auth", "admin", "realms", _, "users", _, "reset-password"] => {
            "/admin/realms/{realm}/users/{id}/reset-password".into()
        }
        ["auth", "admin", "realms", _, "users", _, "role-mappings", "realm"] => {
            "/admin/realms/{realm}/users/{id}/role-mappings/realm".into()
        }
        ["auth", "admin", "realms", _, "roles", _] => "/admin/realms/{realm}/roles/{role}".into(),
        ["v1", "authmanager", rest @ ..] => format!("/v1/authmanager/{}", rest.join("/")),
        ["v1", "policymanager", "policies", "group", "all"] => "/policies/group/all".into(),
        ["v1", "policymanager", "policies", "group", "new"] => "/policies/group/new".into(),
        ["v1", "policymanager", "policies"] => "/policies".into(),
        ["v1", "policymanager", "policies", _] => "/policies/{policyId}".into(),
        ["v1", "policymanager", "policies", _, "group", _, "publish"] => {
            "/policies/{policyId}/group/{policygroupId}/publish".into()
        }
        ["v1", "partnermanager", "partners"] => "/partners".into(),
        ["v1", "partnermanager", "partners", "certificate", "ca", "upload"] => "/partners/certificate/ca/upload".into(),
        ["v1", "partnermanager", "partners", "certificate", "upload"] => "/partners/certificate/upload".into(),
        ["v1", "partnermanager", "partners", "policy", _] => "/partners/policy/{mappingkey}".into(),
        ["v1", "partnermanager", "partners", _] => "/partners/{partnerId}".into(),
        ["v1", "partnermanager", "partners", _, "policy", "map"] => "/partners/{partnerId}/policy/map".into(),
        ["v1", "partnermanager", "partners", _, "apikey", "request"] => "/partners/{partnerId}/apikey/request".into(),
        ["v1", "partnermanager", "partners", _, "generate", "apikey"] => "/partners/{partnerId}/generate/apikey".into(),
        ["v1", "partnermanager", "partners", _, "policy", _, "apiKey", "status"] => {
            "/partners/{partnerId}/policy/{policyId}/apiKey/status".into()
        }
        ["v1", "partnermanager", "misps"] => "/misps".into(),
        ["v1", "partnermanager", "misps", _, "licenseKey"] => "/misps/{mispId}/licenseKey".into(),
        other => format!("/{}", other.join("/")),
    };
    format!("{m} {t}")
}

fn random_token(user: &str) -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).unwrap();
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"preferred_username": user, "exp": jiff::Timestamp::now().as_second() + 3600}).to_string());
    format!("eyJhbGciOiJub25lIn0.{payload}.{}", hex::encode(b))
}

fn random_digits(max: u32) -> String {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).unwrap();
    (u32::from_le_bytes(b) % max).to_string()
}

/// MISP licence: `mosip.kernel.idgenerator.misp.license-key-length`=50 characters of
/// `[0-9a-zA-Z]` (PMS `InfraProviderServiceImpl.generateLicenseKey`; mosip-config).
fn random_license() -> String {
    const A: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut b = [0u8; 50];
    getrandom::fill(&mut b).unwrap();
    b.iter().map(|x| A[(*x as usize) % 62] as char).collect()
}

// ---------------------------------------------------------------------------------------------
// authmanager

/// `authenticate/internal/useridPwd`: `{userName, password, appId, clientId, clientSecret}` →
/// `response.token`, no cookie (AuthController.java around line 534). Wrong credentials: errors[]
/// on HTTP 200 (inference: code KER-ATH-401).
fn login(st: &mut FakeState, body: &Bytes) -> Response {
    let Some(r) = envelope_request(body) else { return bare_400() };
    let f = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    if f("clientId") != PMS_CLIENT_ID || f("clientSecret") != PMS_CLIENT_SECRET {
        return pms_error("KER-ATH-401", "Client id or secret is invalid");
    }
    let user = f("userName");
    match st.users.iter().find(|u| u.username == user) {
        Some(u) if u.enabled && u.password == f("password") => {
            let token = random_token(&user);
            st.tokens.insert(token.clone(), user);
            pms_ok(
                json!({"status": "success", "message": "Username and password combination had been validated successfully", "token": token}),
            )
        }
        _ => pms_error("KER-ATH-401", "Authentication failed"),
    }
}

// ---------------------------------------------------------------------------------------------
// Keycloak

fn keycloak(
    st: &mut FakeState,
    method: &Method,
    s: &[&str],
    query: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    if s == ["realms", "master", "protocol", "openid-connect", "token"] && method == Method::POST {
        let form: HashMap<String, String> = String::from_utf8_lossy(body)
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (decode(k), decode(&v.replace('+', " "))))
            .collect();
        let g = |k: &str| form.get(k).cloned().unwrap_or_default();
        if g("grant_type") != "password"
            || g("client_id") != "admin-cli"
            || g("username") != KC_ADMIN_USER
            || g("password") != KC_ADMIN_PASSWORD
        {
            return status_json(
                401,
                json!({"error": "invalid_grant", "error_description": "Invalid user credentials"}),
            );
        }
        let t = random_token(KC_ADMIN_USER);
        st.kc_tokens.insert(t.clone());
        return status_json(200, json!({"access_token": t, "expires_in": 300, "token_type": "Bearer"}));
    }
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|t| st.kc_tokens.contains(t)) {
        return status_json(401, json!({"error": "HTTP 401 Unauthorized"}));
    }
    let Some(["admin", "realms", realm, rest @ ..]) = Some(s) else { return status_json(404, json!({})) };
    if *realm != REALM {
        return status_json(404, json!({"error": "Realm not found."}));
    }
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let user_json = |u: &KcUser| json!({"id": u.id, "username": u.username, "enabled": u.enabled});
    match (method.clone(), rest) {
        (Method::GET, ["users"]) => {
            let want = query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == "username")
                .map(|(_, v)| decode(v).to_lowercase())
                .unwrap_or_default();
            status_json(200, Value::Array(st.users.iter().filter(|u| u.username == want).map(user_json).collect()))
        }
        (Method::POST, ["users"]) => {
            // Keycloak stores usernames in lower case; `realmRoles` in this body is ignored by
            // the admin API (hence the onboarder's separate role-mapping call).
            let username = body.get("username").and_then(Value::as_str).unwrap_or("").to_lowercase();
            if st.users.iter().any(|u| u.username == username) {
                return status_json(409, json!({"errorMessage": "User exists with same username"}));
            }
            let password = body
                .get("credentials")
                .and_then(|c| c.get(0))
                .and_then(|c| c.get("value"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let id = format!("kc-{}", st.next_id());
            st.users.push(KcUser {
                id,
                username,
                password,
                enabled: body.get("enabled").and_then(Value::as_bool).unwrap_or(false),
                roles: vec![],
            });
            status_json(201, Value::Null)
        }
        (Method::PUT, ["users", id]) => match st.users.iter_mut().find(|u| u.id == *id) {
            Some(u) => {
                if let Some(e) = body.get("enabled").and_then(Value::as_bool) {
                    u.enabled = e;
                }
                status_json(204, Value::Null)
            }
            None => status_json(404, json!({})),
        },
        (Method::PUT, ["users", id, "reset-password"]) => match st.users.iter_mut().find(|u| u.id == *id) {
            Some(u) => {
                u.password = body.get("value").and_then(Value::as_str).unwrap_or("").into();
                status_json(204, Value::Null)
            }
            None => status_json(404, json!({})),
        },
        (Method::GET, ["users", id, "role-mappings", "realm"]) => {
            let Some(u) = st.users.iter().find(|u| u.id == *id) else { return status_json(404, json!({})) };
            let mapped: Vec<Value> = st
                .realm_roles
                .iter()
                .filter(|(_, n)| u.roles.contains(n))
                .map(|(i, n)| json!({"id": i, "name": n}))
                .collect();
            status_json(200, Value::Array(mapped))
        }
        (Method::GET, ["roles", name]) => match st.realm_roles.iter().find(|(_, n)| n == name) {
            Some((i, n)) => status_json(200, json!({"id": i, "name": n})),
            None => status_json(404, json!({"error": "Could not find role"})),
        },
        (Method::POST, ["users", id, "role-mappings", "realm"]) => {
            // Roles are matched by id AND name, as Keycloak's RoleMapperResource does.
            let wanted: Vec<(String, String)> = body
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|r| {
                            (
                                r.get("id").and_then(Value::as_str).unwrap_or("").to_string(),
                                r.get("name").and_then(Value::as_str).unwrap_or("").to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            if wanted.iter().any(|w| !st.realm_roles.contains(w)) {
                return status_json(404, json!({"error": "Role not found"}));
            }
            let Some(u) = st.users.iter_mut().find(|u| u.id == *id) else { return status_json(404, json!({})) };
            for (_, n) in wanted {
                if !u.roles.contains(&n) {
                    u.roles.push(n);
                }
            }
            status_json(204, Value::Null)
        }
        _ => status_json(404, json!({})),
    }
}

// ---------------------------------------------------------------------------------------------
// PMS

fn policy_json(st: &FakeState, p: &Policy) -> Value {
    let g = st.groups.iter().find(|g| g.id == p.group_id);
    // PolicyResponseDto (policy-management-service `.../policy/dto/PolicyResponseDto.java`).
    json!({
        "policyGroupId": p.group_id, "policyGroupName": g.map(|g| g.name.clone()), "policyGroupDesc": g.map(|g| g.desc.clone()),
        "policyGroupStatus": true, "policyId": p.id, "policyName": p.name, "policyDesc": p.desc, "policyType": p.policy_type,
        "version": p.version, "status": if p.published { "PUBLISHED" } else { "DRAFTED" }, "is_Active": p.published,
        "policies": p.body,
    })
}

fn req_str(r: &Value, k: &str) -> String {
    r.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

#[allow(clippy::too_many_arguments)]
fn pms(
    st: &mut FakeState,
    template: &str,
    s: &[&str],
    user: &str,
    admin: bool,
    roles: &[String],
    r: &Value,
) -> Response {
    // Role gates (mosip-config `partner-management-default.properties` lines 238-308): admin
    // calls need PARTNER_ADMIN here; generate apikey needs a partner role, not PARTNER_ADMIN.
    let admin_only = !template.contains("/generate/apikey") && !template.contains("/apiKey/status");
    if admin_only && !admin {
        return status_json(403, json!({"errors": [{"errorCode": "KER-ATH-403", "message": "Forbidden"}]}));
    }
    match template {
        // Keymanager `PartnerCertificateManagerServiceImpl.uploadCACertificate`, codes from
        // `PartnerCertManagerErrorConstants`: KER-PCM-011 domain, KER-PCM-003 duplicate.
        "POST /partners/certificate/ca/upload" => {
            let domain = req_str(r, "partnerDomain").to_ascii_uppercase();
            if !["AUTH", "DEVICE", "FTM", "MISP"].contains(&domain.as_str()) {
                return pms_error("KER-PCM-011", "Partner Domain not allowed.");
            }
            let pem = req_str(r, "certificateData").trim().to_string();
            if !pem.starts_with("-----BEGIN CERTIFICATE-----") {
                return pms_error(
                    "KER-PCM-001",
                    "Invalid Certificate Data provided to upload the ca/sub-ca certificate.",
                );
            }
            if !st.ca_certs.insert((domain, pem)) {
                return pms_error("KER-PCM-003", "Certificate already exists in store.");
            }
            pms_ok(json!({"status": "Upload Success.", "timestamp": now()}))
        }
        // PolicyManagementController.getPolicyGroup: List<PolicyWithAuthPolicyDto>.
        "GET /policies/group/all" => {
            let list: Vec<Value> = st
                .groups
                .iter()
                .map(|g| {
                    let policies: Vec<Value> = st.policies.iter().filter(|p| p.group_id == g.id).map(|p| json!({"id": p.id, "name": p.name})).collect();
                    json!({"policyGroup": {"id": g.id, "name": g.name, "desc": g.desc, "isActive": true}, "policies": policies})
                })
                .collect();
            pms_ok(Value::Array(list))
        }
        // PolicyManagementService.createPolicyGroup: PMS_POL_014 on a duplicate name.
        "POST /policies/group/new" => {
            let (name, desc) = (req_str(r, "name"), req_str(r, "desc"));
            if name.trim().is_empty() || desc.trim().is_empty() {
                return pms_error("PMS_COR_001", "Missing Input Parameter - name/desc");
            }
            if st.groups.iter().any(|g| g.name == name) {
                return pms_error("PMS_POL_014", &format!("Policy group exists with name : {name}"));
            }
            let id = format!("pg-{}", st.next_id());
            st.groups.push(Group { id: id.clone(), name: name.clone(), desc: desc.clone() });
            pms_ok(json!({"id": id, "name": name, "desc": desc, "is_Active": true}))
        }
        "GET /policies" => {
            let list: Vec<Value> = st.policies.iter().map(|p| policy_json(st, p)).collect();
            pms_ok(Value::Array(list))
        }
        // createPolicies: PMS_POL_019 unknown group, PMS_POL_009 duplicate, PMS_POL_023 type;
        // a new policy is a draft (is_Active false) until published.
        "POST /policies" => {
            let (name, desc, version, ptype, group) = (
                req_str(r, "name"),
                req_str(r, "desc"),
                req_str(r, "version"),
                req_str(r, "policyType"),
                req_str(r, "policyGroupName"),
            );
            if name.trim().is_empty() || desc.trim().is_empty() || version.trim().is_empty() {
                return pms_error("PMS_COR_001", "Missing Input Parameter - name/desc/version");
            }
            if !["Auth", "DataShare", "CredentialIssuance", "MISP"].contains(&ptype.as_str()) {
                return pms_error("PMS_POL_023", &format!("Given policy type is not allowed {ptype}"));
            }
            let Some(g) = st.groups.iter().find(|g| g.name == group).cloned() else {
                return pms_error("PMS_POL_019", "Policy group name does not exist");
            };
            if st.policies.iter().any(|p| p.name == name) {
                return pms_error("PMS_POL_009", &format!("Auth policy exists with name : {name}"));
            }
            let id = format!("pol-{}", st.next_id());
            st.policies.push(Policy {
                id: id.clone(),
                group_id: g.id,
                name: name.clone(),
                desc,
                version,
                policy_type: ptype,
                body: r.get("policies").cloned().unwrap_or(Value::Null),
                published: false,
            });
            pms_ok(json!({"id": id, "name": name, "policyGroupName": group, "is_Active": false}))
        }
        // updatePolicies: only drafts (PMS_POL_055 "Published policy cannot be updated.").
        "PUT /policies/{policyId}" => {
            let Some(p) = st.policies.iter_mut().find(|p| p.id == s[3]) else {
                return pms_error("PMS_POL_008", "Policy ID does not exist");
            };
            if p.published {
                return pms_error("PMS_POL_055", "Published policy cannot be updated.");
            }
            p.desc = req_str(r, "desc");
            p.version = req_str(r, "version");
            p.body = r.get("policies").cloned().unwrap_or(Value::Null);
            let out = json!({"id": p.id, "name": p.name});
            pms_ok(out)
        }
        // publishPolicy: PMS_POL_020 when already published.
        "POST /policies/{policyId}/group/{policygroupId}/publish" => {
            let (pid, gid) = (s[3], s[5]);
            let Some(idx) = st.policies.iter().position(|p| p.id == pid && p.group_id == gid) else {
                return pms_error("PMS_POL_015", "Policy group and policy not mapped.");
            };
            if st.policies[idx].published {
                return pms_error("PMS_POL_020", "Can not publish the published policy");
            }
            st.policies[idx].published = true;
            let p = st.policies[idx].clone();
            pms_ok(policy_json(st, &p))
        }
        // PartnerServiceController GET /partners/{partnerId}: RetrievePartnerDetailsResponse;
        // PMS_PRT_005 "Partner does not exist".
        "GET /partners/{partnerId}" => match st.partners.get(s[3]) {
            Some(p) => pms_ok(json!({
                "partnerID": p.id, "status": p.approval, "organizationName": p.org, "contactNumber": "", "emailId": p.email,
                "address": "", "partnerType": p.partner_type, "policyGroup": p.group, "isActive": p.active,
            })),
            None => pms_error("PMS_PRT_005", "Partner does not exist"),
        },
        // PartnerServiceImpl.registerPartner (around line 271).
        "POST /partners" => {
            let id = req_str(r, "partnerId");
            if id.chars().any(char::is_whitespace) {
                return pms_error("PMS_PRT_066", "PartnerId should not have any spaces");
            }
            if id.is_empty() || id.len() > 36 {
                return pms_error("PMS_PRT_052", "PartnerId max length should be 36");
            }
            if st.partners.contains_key(&id) {
                return pms_error("PMS_PRT_051", "A Partner is already registered with the same Id");
            }
            let email = req_str(r, "emailId");
            if st.partners.values().any(|p| p.email == email) {
                return pms_error("PMS_PRT_011", "Email is already exists.");
            }
            let ptype = req_str(r, "partnerType");
            let Some((code, needs_group)) = PARTNER_TYPES.iter().find(|(t, _)| t.eq_ignore_ascii_case(&ptype)) else {
                return pms_error("PMS_PRT_010", "Partner Type does not exist");
            };
            let group = r.get("policyGroup").and_then(Value::as_str).filter(|g| !g.is_empty()).map(String::from);
            if *needs_group && group.is_none() {
                return pms_error("PMS_PRT_108", &format!("Policy group is Mandatory for {ptype}"));
            }
            if let Some(g) = &group
                && !st.groups.iter().any(|x| &x.name == g)
            {
                return pms_error("PMS_PRT_002", "Policy group does not exist");
            }
            st.partners.insert(
                id.clone(),
                Partner {
                    id: id.clone(),
                    org: req_str(r, "organizationName"),
                    email,
                    partner_type: code.to_string(),
                    group,
                    approval: "InProgress".into(),
                    active: false,
                    cert_uploaded: false,
                    deactivated: false,
                },
            );
            pms_ok(json!({"partnerId": id, "status": "InProgress"}))
        }
        // PartnerServiceImpl.uploadPartnerCertificate (around line 707): keymanager re-signs,
        // PMS sets approved + active and answers the signed certificate.
        "POST /partners/certificate/upload" => {
            let id = req_str(r, "partnerId");
            let domain = req_str(r, "partnerDomain").to_ascii_uppercase();
            let pem = req_str(r, "certificateData");
            let Some(p) = st.partners.get(&id).cloned() else {
                return pms_error("PMS_PRT_005", "Partner does not exist");
            };
            if p.deactivated {
                return pms_error("PMS_PMP_016", "Partner is not active.");
            }
            if !pem.trim().starts_with("-----BEGIN CERTIFICATE-----") {
                return pms_error(
                    "KER-PCM-001",
                    "Invalid Certificate Data provided to upload the partner certificate.",
                );
            }
            if !st.ca_certs.iter().any(|(d, _)| *d == domain) {
                return pms_error("KER-PCM-006", "Root CA/Intermediate CA Certificates not found.");
            }
            let signed = fake_signed_certificate(&id, &p.org);
            let cert_id = format!("cert-{}", st.next_id());
            let p = st.partners.get_mut(&id).unwrap();
            p.approval = "approved".into();
            p.active = true;
            p.cert_uploaded = true;
            pms_ok(json!({"certificateId": cert_id, "signedCertificateData": signed, "timestamp": now()}))
        }
        // PartnerManagementServiceImpl.activateDeactivateAuthEKYCPartner, per PMS source (1.2.2/1.3
        // line): unknown partner PMS_PMP_005 (GET /partners/{id} says PMS_PRT_005 instead);
        // `approved && !isActive` is PMS_PM_063, checked before the requested status (terminal since
        // commit a9c43fc7); De-Active on an active partner sets it inactive and every active licence
        // of a MISP with it (MISP_LICENSE_UPDATED each), publishes PARTNER_UPDATED and leaves API keys
        // alone; De-Active on an inactive partner never approved (InProgress) writes nothing and
        // succeeds — it can still upload a certificate and become active; ErrorCode.java
        // PMS_PM_058 for any other status. `deactivated` mirrors "approved && inactive" for tests.
        "PATCH /partners/{partnerId}" => {
            let status = req_str(r, "status");
            let Some(p) = st.partners.get_mut(s[3]) else {
                return pms_error("PMS_PMP_005", "Partner does not exist");
            };
            if p.approval.eq_ignore_ascii_case("approved") && !p.active {
                return pms_error("PMS_PM_063", "The selected partner has already been deactivated.");
            }
            if status.eq_ignore_ascii_case("active") {
                if !p.cert_uploaded {
                    return pms_error("PMS_PRT_108", "Certficate is not uploaded for the selected partner.");
                }
                p.active = true;
                pms_ok(json!("Partner activated successfully"))
            } else if status.eq_ignore_ascii_case("de-active") {
                if !p.active {
                    return pms_ok(json!("Partner de-activated successfully"));
                }
                p.active = false;
                p.deactivated = p.approval.eq_ignore_ascii_case("approved");
                let misp = p.partner_type.eq_ignore_ascii_case("MISP_Partner");
                let id = p.id.clone();
                for l in st.licenses.iter_mut().filter(|l| misp && l.misp_id == id) {
                    l.active = false;
                }
                pms_ok(json!("Partner de-activated successfully"))
            } else {
                pms_error("PMS_PM_058", "Status should be either Active or De-Active")
            }
        }
        // PartnerServiceImpl.requestForPolicyMapping: PMS_PRT_098 / PMS_PMP_019 / PMS_PRT_053 / PMS_PRT_060.
        "POST /partners/{partnerId}/policy/map" => {
            let pid = s[3].to_string();
            let Some(p) = st.partners.get(&pid).cloned() else {
                return pms_error("PMS_PRT_005", "Partner does not exist");
            };
            let name = req_str(r, "policyName");
            let group_id = st.groups.iter().find(|g| Some(&g.name) == p.group.as_ref()).map(|g| g.id.clone());
            let Some(pol) =
                st.policies.iter().find(|x| x.name == name && Some(&x.group_id) == group_id.as_ref()).cloned()
            else {
                return pms_error("PMS_PRT_098", "Given policy doesn't exists under partner's policy group.");
            };
            if !pol.published {
                return pms_error("PMS_PMP_019", "Policy is not active.");
            }
            if let Some(m) =
                st.mappings.iter().find(|m| m.partner_id == pid && m.policy_id == pol.id && m.status != "Rejected")
            {
                return if m.status == "Approved" {
                    pms_error("PMS_PRT_060", "This policy has already been approved against your partner ID.")
                } else {
                    pms_error("PMS_PRT_053", "This policy is already pending for approval against your partner ID.")
                };
            }
            let key = random_digits(1_000_000); // SecureRandom.nextInt(1000000) (observation)
            let key = format!("{key}{}", st.next_id());
            st.mappings.push(Mapping {
                key: key.clone(),
                partner_id: pid,
                policy_id: pol.id,
                status: "InProgress".into(),
            });
            pms_ok(json!({"mappingkey": key, "message": "Policy mapping request submitted successfully."}))
        }
        // Broken read-back (PartnerServiceImpl lines 600-625): looks partner_policy up by the
        // request id, so it fails once a request is approved (modelled as a 500; inference).
        "GET /partners/{partnerId}/apikey/request" => {
            let pid = s[3];
            let ms: Vec<&Mapping> = st.mappings.iter().filter(|m| m.partner_id == pid).collect();
            if ms.iter().any(|m| m.status == "Approved") {
                return status_json(
                    500,
                    json!({"errors": [{"errorCode": "PMS_PRT_500", "message": "Unable to process the request."}]}),
                );
            }
            if ms.is_empty() {
                return pms_error("PMS_PRT_006", "No api key req exist");
            }
            let list: Vec<Value> = ms
                .iter()
                .map(|m| json!({"apiKeyReqID": m.key, "apiKeyRequestStatus": m.status, "partnerApiKey": null}))
                .collect();
            pms_ok(Value::Array(list))
        }
        // PartnerManagementServiceImpl.approveRejectPartnerPolicyMapping; no WebSub event.
        "PUT /partners/policy/{mappingkey}" => {
            let status = req_str(r, "status");
            let Some(m) = st.mappings.iter_mut().find(|m| m.key == s[4]) else {
                return pms_error("PMS_PRT_006", "No api key req exist");
            };
            if status.eq_ignore_ascii_case("approved") {
                m.status = "Approved".into();
                pms_ok(json!("Policy mapping approved successfully"))
            } else if status.eq_ignore_ascii_case("rejected") {
                m.status = "Rejected".into();
                pms_ok(json!("Policy mapping rejected successfully"))
            } else {
                pms_error("PMS_COR_002", "Invalid Input Parameter - status")
            }
        }
        // PartnerManagementServiceImpl.generateAPIKey (around line 617): only the partner's own
        // user (PMS_PRT_055), only when active (PMS_PMP_016) and the mapping approved
        // (PMS_PRT_109, inference of the code's constant), label unique per partner+policy
        // (PMS_PRT_110); the key is `SecureRandom.nextInt(1000000)` (PartnerUtil.java line 27),
        // returned here and never again.
        "PATCH /partners/{partnerId}/generate/apikey" => {
            if !roles.iter().any(|r| r != "PARTNER_ADMIN") {
                return status_json(403, json!({"errors": [{"errorCode": "KER-ATH-403", "message": "Forbidden"}]}));
            }
            let pid = s[3].to_string();
            if user != pid {
                return pms_error("PMS_PRT_055", "User not authorized.");
            }
            let Some(p) = st.partners.get(&pid).cloned() else {
                return pms_error("PMS_PRT_005", "Partner does not exist");
            };
            if !p.active {
                return pms_error("PMS_PMP_016", "Partner is not active.");
            }
            let name = req_str(r, "policyName");
            let group_id = st.groups.iter().find(|g| Some(&g.name) == p.group.as_ref()).map(|g| g.id.clone());
            let Some(pol) =
                st.policies.iter().find(|x| x.name == name && Some(&x.group_id) == group_id.as_ref()).cloned()
            else {
                return pms_error("PMS_PMP_014", "Policy does not exist");
            };
            if !st.mappings.iter().any(|m| m.partner_id == pid && m.policy_id == pol.id && m.status == "Approved") {
                return pms_error("PMS_PRT_109", "Policy mapping is not approved.");
            }
            let label = req_str(r, "label");
            if label.trim().is_empty() {
                return pms_error("PMS_COR_001", "Missing Input Parameter - label");
            }
            let norm = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
            if st
                .api_keys
                .iter()
                .any(|k| k.partner_id == pid && k.policy_id == pol.id && norm(&k.label) == norm(&label))
            {
                return pms_error("PMS_PRT_110", "Label already exists for the partner and policy.");
            }
            let key = loop {
                let k = random_digits(1_000_000);
                if !st.api_keys.iter().any(|x| x.key == k) {
                    break k;
                }
            };
            st.api_keys.push(ApiKey {
                partner_id: pid.clone(),
                policy_id: pol.id.clone(),
                label: label.clone(),
                key: key.clone(),
                active: true,
            });
            if st.mint_then_fail > 0 {
                // Committed in PMS, lost on the way back (test knob).
                st.mint_then_fail -= 1;
                return status_json(
                    500,
                    json!({"errors": [{"errorCode": "PMS_PRT_500", "message": "Unable to process the request."}]}),
                );
            }
            pms_ok(json!({"apiKey": key, "label": label, "policyId": pol.id, "partnerId": pid}))
        }
        // PartnerManagementServiceImpl.updateAPIKeyStatus, per PMS source (1.2.2/1.3 line), in its
        // order: no key for (partner, policy, label) PMS_PRT_111; a caller that is not
        // PARTNER_ADMIN on an inactive partner PMS_PMP_016 (commented out in some copies); a key
        // already inactive asked De-Active PMS_PMS_022; then the status is set and APIKEY_UPDATED
        // published; any other status PMS_PM_058 (ErrorCode.java). There is no check that the
        // caller is the partner itself.
        "PATCH /partners/{partnerId}/policy/{policyId}/apiKey/status" => {
            let (pid, pol) = (s[3].to_string(), s[5].to_string());
            let label = req_str(r, "label");
            let status = req_str(r, "status");
            let partner_active = st.partners.get(&pid).is_some_and(|p| p.active);
            let Some(k) =
                st.api_keys.iter_mut().find(|k| k.partner_id == pid && k.policy_id == pol && k.label == label)
            else {
                return pms_error("PMS_PRT_111", "API key with the given label does not exist");
            };
            if !admin && !partner_active {
                return pms_error("PMS_PMP_016", "Partner is not active.");
            }
            if !k.active && status.eq_ignore_ascii_case("de-active") {
                return pms_error("PMS_PMS_022", "Given Partner api key is not active.");
            }
            if status.eq_ignore_ascii_case("active") {
                k.active = true;
                pms_ok(json!("Partner apikey activated successfully."))
            } else if status.eq_ignore_ascii_case("de-active") {
                k.active = false;
                pms_ok(json!("Partner apikey de-activated successfully."))
            } else {
                pms_error("PMS_PM_058", "Status should be either Active or De-Active")
            }
        }
        // InfraProviderServiceImpl.approveInfraProvider, per PMS source (1.2.2/1.3 line),
        // MISPErrorMessages: any licence row of the MISP, active or not, is PMS_MSP_416 — checked
        // first — then PMS_MSP_005/009/405, then PMS_MSP_418 (all its requests approved).
        "POST /misps" => {
            let id = req_str(r, "providerId");
            if st.licenses.iter().any(|l| l.misp_id == id) {
                return pms_error("PMS_MSP_416", "License key exists for the given provider.");
            }
            let Some(p) = st.partners.get(&id).cloned() else {
                return pms_error("PMS_MSP_005", "MISP partner does not exist.");
            };
            if !p.partner_type.eq_ignore_ascii_case("MISP_Partner") {
                return pms_error("PMS_MSP_009", "Partner is not a MISP partner.");
            }
            if !p.active {
                return pms_error("PMS_MSP_405", "MISP partner is not active.");
            }
            if st.mappings.iter().any(|m| m.partner_id == id && m.status != "Approved") {
                return pms_error("PMS_MSP_418", "Policy not approved.");
            }
            let key = random_license();
            st.licenses.push(License { misp_id: id.clone(), key: key.clone(), active: true });
            pms_ok(json!({"providerId": id, "licenseKey": key, "licenseKeyStatus": "Active",
                          "licenseKeyExpiry": "2027-03-01T00:00:00.000Z"}))
        }
        // InfraProviderServiceImpl.regenerateKey, per PMS source (1.2.2/1.3 line): PMS_MSP_005,
        // PMS_MSP_405 (inactive MISP), PMS_MSP_408 (no licence row at all); broken
        // (NullPointerException on a fresh PartnerPolicyRequest) for a MISP that has policy
        // requests; otherwise the current active unexpired licence, or a NEW one when there is none
        // (e.g. after the previous one was set De-Active), always answered "Active".
        "GET /misps/{mispId}/licenseKey" => {
            let id = s[3].to_string();
            let Some(p) = st.partners.get(&id) else {
                return pms_error("PMS_MSP_005", "MISP partner does not exist.");
            };
            if !p.active {
                return pms_error("PMS_MSP_405", "MISP partner is not active.");
            }
            if !st.licenses.iter().any(|l| l.misp_id == id) {
                return pms_error("PMS_MSP_408", "MISP Partner and License key combintaion not exists.");
            }
            if st.mappings.iter().any(|m| m.partner_id == id) {
                return status_json(
                    500,
                    json!({"errors": [{"errorCode": "PMS_COR_003", "message": "Could not process the request"}]}),
                );
            }
            let key = match st.licenses.iter().find(|l| l.misp_id == id && l.active) {
                Some(l) => l.key.clone(),
                None => {
                    let k = random_license();
                    st.licenses.push(License { misp_id: id.clone(), key: k.clone(), active: true });
                    k
                }
            };
            pms_ok(json!({"providerId": id, "licenseKey": key, "licenseKeyStatus": "Active",
                          "licenseKeyExpiry": "2027-03-01T00:00:00.000Z"}))
        }
        // InfraProviderServiceImpl.updateInfraProvider, per PMS source (1.2.2/1.3 line): status
        // active/de-active (any case) else PMS_MSP_407; unknown (MISP, key) PMS_MSP_408; then
        // is_active is set with no state check (a second De-Active succeeds, Active re-activates),
        // MISP_LICENSE_UPDATED; the answer carries the stored state, "active" or "de-active".
        "PUT /misps" => {
            let (id, key, status) =
                (req_str(r, "providerId"), req_str(r, "licenseKey"), req_str(r, "licenseKeyStatus"));
            let active = if status.eq_ignore_ascii_case("active") {
                true
            } else if status.eq_ignore_ascii_case("de-active") {
                false
            } else {
                return pms_error("PMS_MSP_407", "mispStatus either Active or De-active.");
            };
            let Some(l) = st.licenses.iter_mut().find(|l| l.misp_id == id && l.key == key) else {
                return pms_error("PMS_MSP_408", "MISP Partner and License key combintaion not exists.");
            };
            l.active = active;
            pms_ok(json!({"providerId": id, "licenseKey": l.key, "licenseKeyExpiry": "2027-03-01T00:00:00.000Z",
                          "licenseKeyStatus": if l.active { "active" } else { "de-active" }}))
        }
        _ => status_json(
            404,
            json!({"errors": [{"errorCode": "PMS_COR_404", "message": "no such endpoint in the fake"}]}),
        ),
    }
}

/// A stand-in for keymanager's re-signed certificate: a fresh certificate with the partner's
/// CN and O, signed by a throw-away "MOSIP" key (keymanager `reSignPartnerKey`).
fn fake_signed_certificate(partner_id: &str, org: &str) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, partner_id);
    params.distinguished_name.push(rcgen::DnType::OrganizationName, org);
    params.self_signed(&key).unwrap().pem()
}
