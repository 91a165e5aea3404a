//! Failures of the MOSIP backend, each mapped to a condition reason.
//!
//! None of these messages carries a token, password, API key or licence: they are built from
//! endpoint templates, HTTP statuses, transport errors and PMS's own `errors[].message`.

/// Why a call to PMS, authmanager or Keycloak failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum PmsError {
    /// PMS answered with `errors[]` (usually on HTTP 200): a business rule refused the call.
    #[error("PMS refused {endpoint}: {code}: {message}")]
    Business { endpoint: String, code: String, message: String },
    /// 5xx, connection refused, TLS failure or timeout: MOSIP is (for now) unreachable.
    #[error("MOSIP is unreachable ({endpoint}): {detail}")]
    Unavailable { endpoint: String, detail: String },
    /// The operator's own credentials were refused (wrong password, unknown client, disabled user).
    #[error("MOSIP refused the login of {who}: {detail}; check the credentials Secret")]
    AuthFailed { who: String, detail: String },
    /// An answer this client cannot read (wrong shape, unexpected HTTP status).
    #[error("unexpected answer from {endpoint}: {detail}")]
    Protocol { endpoint: String, detail: String },
    /// What PMS holds contradicts the spec and cannot be changed (e.g. an adopted partner of
    /// another type).
    #[error("{0}")]
    Mismatch(String),
    /// The backend's own configuration is unusable (URL, CA file, credentials Secret).
    #[error("MOSIP backend configuration: {0}")]
    Config(String),
    /// Keycloak lowercases usernames and PMS compares the logged-in user with the partnerId
    /// case-sensitively, so such a partner could never act as itself.
    #[error(
        "partnerId {0:?} has upper-case letters: Keycloak lowercases usernames and PMS compares them with the \
         partnerId case-sensitively, so this partner could never generate an API key in MOSIP; use a lower-case \
         partnerId"
    )]
    PartnerIdNotLowercase(String),
}

/// `PMS_<code>` with every character outside `[A-Za-z0-9_]` replaced by `_`:
/// `KER-PCM-003` → `PMS_KER_PCM_003`, `PMS_PRT_005` → `PMS_PMS_PRT_005`.
pub fn pms_reason(code: &str) -> String {
    let mut out = String::from("PMS_");
    out.extend(code.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }));
    out
}

impl PmsError {
    /// The condition reason (matches `[A-Za-z0-9_]+`).
    pub fn reason(&self) -> String {
        match self {
            PmsError::Business { code, .. } => pms_reason(code),
            PmsError::Unavailable { .. } => "MosipUnavailable".into(),
            PmsError::AuthFailed { .. } => "MosipAuthFailed".into(),
            PmsError::Protocol { .. } => "MosipProtocolError".into(),
            PmsError::Mismatch(_) => "MosipMismatch".into(),
            PmsError::Config(_) => "MosipConfigInvalid".into(),
            PmsError::PartnerIdNotLowercase(_) => "PartnerIdNotLowercase".into(),
        }
    }

    /// The PMS error code, for business errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            PmsError::Business { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether this is the business error `code`.
    pub fn is_code(&self, code: &str) -> bool {
        self.code() == Some(code)
    }

    /// Transport-level failures that heal by themselves.
    pub fn is_transient(&self) -> bool {
        matches!(self, PmsError::Unavailable { .. })
    }

    /// Whether a person must change something before a retry can succeed (configuration,
    /// an impossible partnerId, a contradiction with PMS).
    pub fn needs_person(&self) -> bool {
        matches!(self, PmsError::Config(_) | PmsError::PartnerIdNotLowercase(_) | PmsError::Mismatch(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_match_the_condition_reason_charset() {
        assert_eq!(pms_reason("KER-PCM-003"), "PMS_KER_PCM_003");
        assert_eq!(pms_reason("PMS_POL_014"), "PMS_PMS_POL_014");
        assert_eq!(pms_reason("PMS-ATH-401 x"), "PMS_PMS_ATH_401_x");
        let e = PmsError::Business { endpoint: "e".into(), code: "KER-PCM-003".into(), message: "m".into() };
        assert_eq!(e.reason(), "PMS_KER_PCM_003");
        assert!(e.is_code("KER-PCM-003"));
        assert!(!e.is_transient());
        let u = PmsError::Unavailable { endpoint: "e".into(), detail: "connection refused".into() };
        assert_eq!(u.reason(), "MosipUnavailable");
        assert!(u.is_transient());
        for e in [
            u,
            PmsError::AuthFailed { who: "w".into(), detail: "d".into() },
            PmsError::Protocol { endpoint: "e".into(), detail: "d".into() },
            PmsError::Mismatch("m".into()),
            PmsError::Config("c".into()),
            PmsError::PartnerIdNotLowercase("A".into()),
        ] {
            assert!(e.reason().chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{}", e.reason());
        }
    }
}
