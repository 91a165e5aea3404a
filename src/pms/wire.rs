//! MOSIP's wire conventions: the request envelope, `requesttime`, the response envelope with
//! `errors[]`, base URLs and JWT expiry. Pure functions, unit tested.

use crate::pms::PmsError;
use serde_json::{Value, json};

/// `requesttime` exactly as PMS's `RequestWrapper` declares it:
/// `@JsonFormat(pattern = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")`
/// (partner-management-services `partner/policy-management-service/.../policy/dto/RequestWrapper.java`).
/// Any other shape is a bare HTTP 400 from Jackson.
pub fn format_requesttime(ts: jiff::Timestamp) -> String {
    let z = ts.to_zoned(jiff::tz::TimeZone::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        z.year(),
        z.month(),
        z.day(),
        z.hour(),
        z.minute(),
        z.second(),
        z.millisecond()
    )
}

/// Whether `s` has the exact `requesttime` shape (used by the test fake too).
pub fn is_requesttime(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 24 {
        return false;
    }
    let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];
    digits.iter().all(|&i| b[i].is_ascii_digit())
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z'
}

/// The request envelope `{id, version, requesttime, metadata, request}`.
pub fn envelope(id: &str, request: Value) -> Value {
    json!({
        "id": id,
        "version": "1.0",
        "requesttime": format_requesttime(jiff::Timestamp::now()),
        "metadata": {},
        "request": request,
    })
}

/// Reads a response envelope `{response, errors:[{errorCode, message}]}`: the first error wins
/// (PMS sends business errors with HTTP 200, so `errors` must be checked whatever the status).
pub fn read_response(endpoint: &str, body: &[u8]) -> Result<Value, PmsError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| PmsError::Protocol {
        endpoint: endpoint.to_string(),
        detail: format!("the body is not JSON ({e})"),
    })?;
    if let Some((code, message)) = first_error(&v) {
        return Err(PmsError::Business { endpoint: endpoint.to_string(), code, message });
    }
    Ok(v.get("response").cloned().unwrap_or(Value::Null))
}

/// The first `errors[]` entry of a MOSIP envelope, if any. Also accepts the single-object form
/// some PMS versions send (`errors: {errorCode, message}`).
pub fn first_error(v: &Value) -> Option<(String, String)> {
    let errors = v.get("errors")?;
    let first = match errors {
        Value::Array(a) => a.first()?,
        Value::Object(_) => errors,
        _ => return None,
    };
    let code = first.get("errorCode").and_then(Value::as_str).unwrap_or("UNKNOWN").to_string();
    let message = first.get("message").and_then(Value::as_str).unwrap_or("").chars().take(500).collect();
    Some((code, message))
}

/// A base URL: scheme, authority and path prefix, e.g. `https://api-internal.example.org` or
/// `https://iam.example.org/auth`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl {
    pub scheme: String,
    pub authority: String,
    pub host: String,
    pub prefix: String,
}

impl BaseUrl {
    /// Parses and checks a base URL: `https://` anywhere, `http://` only for loopback hosts.
    pub fn parse(flag: &str, s: &str) -> Result<Self, PmsError> {
        let bad = |why: &str| PmsError::Config(format!("--{flag} {s:?}: {why}"));
        let uri: http::Uri = s.trim().parse().map_err(|_| bad("not a URL"))?;
        let scheme = uri.scheme_str().ok_or_else(|| bad("no scheme (https://...)"))?.to_ascii_lowercase();
        let authority = uri.authority().ok_or_else(|| bad("no host"))?.clone();
        if authority.as_str().contains('@') {
            return Err(bad("credentials in the URL are not accepted; use the credentials Secret"));
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        match scheme.as_str() {
            "https" => {}
            "http" if is_loopback(&host) => {}
            "http" => return Err(bad("http:// is only accepted for loopback hosts; use https://")),
            _ => return Err(bad("the scheme must be https")),
        }
        if uri.query().is_some() {
            return Err(bad("a base URL takes no query"));
        }
        let prefix = uri.path().trim_end_matches('/').to_string();
        Ok(Self { scheme, authority: authority.as_str().to_string(), host, prefix })
    }

    /// `base + path` (path starts with `/`).
    pub fn join(&self, path: &str) -> String {
        format!("{}://{}{}{}", self.scheme, self.authority, self.prefix, path)
    }
}

fn is_loopback(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    host.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

/// Percent-encodes one path segment (everything but RFC 3986 unreserved characters).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a query value (same rule as a segment).
pub fn query_value(s: &str) -> String {
    seg(s)
}

/// The `exp` claim (seconds since the epoch) of a JWT, without verifying it: only used to know
/// how long a token we were just given may be cached.
pub fn jwt_expiry(token: &str) -> Option<i64> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("exp").and_then(Value::as_i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requesttime_has_pms_exact_shape() {
        let ts: jiff::Timestamp = "2026-03-04T05:06:07.089123Z".parse().unwrap();
        assert_eq!(format_requesttime(ts), "2026-03-04T05:06:07.089Z");
        assert!(is_requesttime(&format_requesttime(jiff::Timestamp::now())));
        for bad in ["2026-03-04T05:06:07Z", "2026-03-04T05:06:07.089+00:00", "2026-03-04 05:06:07.089Z", ""] {
            assert!(!is_requesttime(bad), "{bad}");
        }
    }

    #[test]
    fn errors_on_http_200_are_business_errors() {
        let body = br#"{"id":null,"response":null,"errors":[{"errorCode":"KER-PCM-003","message":"Certificate already exists in store."}]}"#;
        let e = read_response("POST /x", body).unwrap_err();
        assert_eq!(e.reason(), "PMS_KER_PCM_003");
        let ok = read_response("POST /x", br#"{"response":{"a":1},"errors":[]}"#).unwrap();
        assert_eq!(ok["a"], 1);
        let ok = read_response("POST /x", br#"{"response":"done","errors":null}"#).unwrap();
        assert_eq!(ok, "done");
        assert!(matches!(read_response("x", b"<html>").unwrap_err(), PmsError::Protocol { .. }));
        let single = br#"{"errors":{"errorCode":"PMS_PRT_005","message":"Partner does not exist"}}"#;
        assert!(read_response("x", single).unwrap_err().is_code("PMS_PRT_005"));
    }

    #[test]
    fn base_urls_require_https_except_loopback() {
        let b = BaseUrl::parse("keycloak-url", "https://iam.example.org/auth/").unwrap();
        assert_eq!(b.join("/realms/master"), "https://iam.example.org/auth/realms/master");
        assert!(BaseUrl::parse("x", "http://127.0.0.1:8080").is_ok());
        assert!(BaseUrl::parse("x", "http://localhost:1").is_ok());
        assert!(BaseUrl::parse("x", "http://[::1]:1").is_ok());
        assert!(BaseUrl::parse("x", "http://api.example.org").is_err());
        assert!(BaseUrl::parse("x", "ftp://api.example.org").is_err());
        assert!(BaseUrl::parse("x", "https://u:p@api.example.org").is_err());
        assert!(BaseUrl::parse("x", "api.example.org").is_err());
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(seg("mpartner-default-auth"), "mpartner-default-auth");
        assert_eq!(seg("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn jwt_expiry_reads_exp() {
        use base64::Engine;
        let p = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":1700000000,"sub":"x"}"#);
        assert_eq!(jwt_expiry(&format!("h.{p}.s")), Some(1700000000));
        assert_eq!(jwt_expiry("not-a-jwt"), None);
    }
}
