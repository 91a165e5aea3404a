//! Why a certificate is not accepted, with a message a person can act on.

use crate::api::PartnerDomain;
use jiff::{SignedDuration, Timestamp};

/// Condition reasons published by the trust checks, as constants so callers never misspell them.
pub mod reason {
    /// The certificate is accepted.
    pub const TRUSTED: &str = "Trusted";
    /// The PEM text or the certificate in it cannot be read.
    pub const MALFORMED_CERTIFICATE: &str = "MalformedCertificate";
    /// A CACertificate holds more than one certificate.
    pub const MULTIPLE_CERTIFICATES: &str = "MultipleCertificates";
    /// The certificate is not X.509 version 3.
    pub const NOT_V3: &str = "NotV3";
    /// The certificate's notBefore is in the future.
    pub const NOT_YET_VALID: &str = "NotYetValid";
    /// The certificate's notAfter is in the past.
    pub const CERTIFICATE_EXPIRED: &str = "CertificateExpired";
    /// The certificate expires sooner than the required minimum remaining validity.
    pub const INSUFFICIENT_VALIDITY: &str = "InsufficientValidity";
    /// A partner certificate is self-signed.
    pub const SELF_SIGNED: &str = "SelfSigned";
    /// No path to a trusted root of the domain.
    pub const UNTRUSTED_CHAIN: &str = "UntrustedChain";
    /// A signature on the path does not verify.
    pub const INVALID_SIGNATURE: &str = "InvalidSignature";
    /// A certificate used as a CA is not one (basicConstraints, keyUsage keyCertSign).
    pub const NOT_A_CERTIFICATE_AUTHORITY: &str = "NotACertificateAuthority";
    /// A CA's pathLenConstraint is violated.
    pub const PATH_LENGTH_EXCEEDED: &str = "PathLengthExceeded";
    /// The Subject O differs from the registered organisation name.
    pub const ORGANIZATION_MISMATCH: &str = "OrganizationMismatch";
    /// The key is too small or of an unsupported type or curve.
    pub const WEAK_KEY: &str = "WeakKey";
    /// The signature algorithm is weak (MD5, SHA-1) or unsupported.
    pub const WEAK_SIGNATURE: &str = "WeakSignature";
    /// A certificate breaks an RFC 5280 profile rule (serial number, key identifiers,
    /// basicConstraints/keyUsage consistency, extension criticality, name syntax, …).
    pub const NON_CONFORMING_CERTIFICATE: &str = "NonConformingCertificate";
    /// A certificate on the path has a critical extension the validator does not process.
    pub const UNSUPPORTED_CRITICAL_EXTENSION: &str = "UnsupportedCriticalExtension";
    /// A name of a certificate lies outside a CA's name constraints.
    pub const NAME_CONSTRAINT_VIOLATION: &str = "NameConstraintViolation";
    /// The certificate policies of the path do not satisfy a CA's policy constraints.
    pub const POLICY_CONSTRAINT_VIOLATION: &str = "PolicyConstraintViolation";
    /// The partner supplied more chain certificates than are accepted (after de-duplication).
    pub const CHAIN_TOO_LONG: &str = "ChainTooLong";
}

/// Why a certificate was rejected.
///
/// `Display` is the human message: what was found, what is expected and what to do. Messages
/// carry distinguished names, dates and algorithm names, never key material or PEM text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The PEM text or a certificate in it cannot be read.
    #[error(
        "the certificate could not be read: {detail}; supply PEM text made only of \
             -----BEGIN CERTIFICATE----- blocks holding DER X.509 certificates"
    )]
    Malformed {
        /// What is wrong, without echoing the input.
        detail: String,
    },
    /// The certificate is not X.509 v3.
    #[error(
        "certificate \"{subject}\" is X.509 version {version} (version field {}), but only \
             version 3 is accepted; have the CA reissue it as an X.509 v3 certificate",
        version.saturating_sub(1)
    )]
    NotV3 {
        /// Subject DN of the offending certificate.
        subject: String,
        /// The version found (1-based, as people write it: the DER field value + 1; wide
        /// enough for any field value the parser accepts).
        version: u64,
    },
    /// notBefore is in the future.
    #[error(
        "certificate \"{subject}\" is not valid before {not_before}; wait until then or use \
             a certificate that is already valid (check the issuing CA's clock if the date is \
             unexpected)"
    )]
    NotYetValid {
        /// Subject DN of the offending certificate.
        subject: String,
        /// Its notBefore.
        not_before: Timestamp,
    },
    /// notAfter is in the past.
    #[error(
        "certificate \"{subject}\" expired at {not_after}; obtain a renewed certificate from \
             its CA and upload it in place of this one"
    )]
    Expired {
        /// Subject DN of the offending certificate.
        subject: String,
        /// Its notAfter.
        not_after: Timestamp,
    },
    /// Less remaining validity than required.
    #[error("certificate \"{subject}\" expires at {not_after}, {} from now, but at least {} of \
             remaining validity is required; obtain a certificate that is valid for longer",
             human_duration(*remaining), human_duration(*required))]
    InsufficientValidity {
        /// Subject DN of the certificate.
        subject: String,
        /// Its notAfter.
        not_after: Timestamp,
        /// Time left until notAfter.
        remaining: SignedDuration,
        /// The minimum remaining validity.
        required: SignedDuration,
    },
    /// A partner certificate is self-signed.
    #[error(
        "certificate \"{subject}\" is self-signed; a partner certificate must be issued by a \
             CA trusted for its domain: have it issued by such a CA (a self-signed CA belongs in \
             a CACertificate)"
    )]
    SelfSigned {
        /// Subject DN of the certificate.
        subject: String,
    },
    /// No path to a trusted root of the domain.
    #[error(
        "certificate \"{subject}\" does not chain to a trusted root CA of the {domain} \
             domain: {detail}"
    )]
    UntrustedChain {
        /// Subject DN of the partner certificate.
        subject: String,
        /// The domain whose anchors were used.
        domain: PartnerDomain,
        /// What is missing and what to add.
        detail: String,
    },
    /// A signature on the path does not verify.
    #[error(
        "the signature on certificate \"{subject}\" does not verify with the key of the CA \
             certificate \"{issuer}\": the CA certificate with that name is not the one that \
             issued it (re-keyed or replaced CA?); supply the CA certificate that actually issued \
             it"
    )]
    InvalidSignature {
        /// Subject DN of the certificate whose signature failed.
        subject: String,
        /// Subject DN of the CA whose key was tried.
        issuer: String,
    },
    /// A certificate used as a CA is not a CA (basicConstraints CA:TRUE, keyUsage keyCertSign).
    #[error("certificate \"{subject}\" {detail}")]
    NotACertificateAuthority {
        /// Subject DN of the offending certificate.
        subject: String,
        /// What is wrong and what to do.
        detail: String,
    },
    /// A pathLenConstraint is violated.
    #[error(
        "the path from \"{subject}\" to its root is too long: {detail}; have the partner \
             certificate issued closer to the root, or use CA certificates whose \
             pathLenConstraint allows this path"
    )]
    PathLengthExceeded {
        /// Subject DN of the partner certificate.
        subject: String,
        /// Which CA's constraint is violated and how.
        detail: String,
    },
    /// Subject O differs from the registered organisation name.
    #[error("the certificate's subject organization (O) is {}, but the partner is registered as \
             \"{expected}\" (compared exactly, case-sensitive); have the certificate issued with \
             O={expected}", found.as_deref().map_or_else(|| "missing".to_string(), |o| format!("\"{o}\"")))]
    OrganizationMismatch {
        /// The registered organisation name.
        expected: String,
        /// The first O of the certificate subject, if any.
        found: Option<String>,
    },
    /// The key is too small or unsupported.
    #[error(
        "certificate \"{subject}\" has {detail}; accepted keys are RSA of at least 2048 \
             bits, EC on P-256 or P-384, and Ed25519: issue a new certificate for such a key"
    )]
    WeakKey {
        /// Subject DN of the offending certificate.
        subject: String,
        /// The key found.
        detail: String,
    },
    /// The signature algorithm is weak or unsupported.
    #[error("certificate \"{subject}\" is signed with {algorithm}, which is {}; accepted are RSA \
             (PKCS#1 v1.5 or PSS) with SHA-256/384/512, ECDSA with SHA-256/384, and Ed25519: \
             have it reissued with one of those", if *weak { "weak (MD5 and SHA-1 are broken)" } else { "not supported" })]
    WeakSignature {
        /// Subject DN of the offending certificate.
        subject: String,
        /// Name (or OID) of the signature algorithm.
        algorithm: String,
        /// True for broken hashes (MD5, SHA-1), false for merely unsupported algorithms.
        weak: bool,
    },
    /// A certificate breaks an RFC 5280 profile rule.
    #[error(
        "certificate \"{subject}\" does not conform to RFC 5280 (section {section}): {detail}; \
             have its CA reissue it in conformance with RFC 5280"
    )]
    NonConforming {
        /// Subject DN of the offending certificate.
        subject: String,
        /// The RFC 5280 section of the rule, e.g. "4.2.1.9".
        section: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A critical extension the validator does not process.
    #[error(
        "certificate \"{subject}\" has the critical extension {extension}, which this validator \
             does not process, so the certificate must be rejected (RFC 5280 section 4.2); have it \
             reissued without that extension or with it marked non-critical"
    )]
    UnsupportedCriticalExtension {
        /// Subject DN of the offending certificate.
        subject: String,
        /// Name or OID of the extension.
        extension: String,
    },
    /// A certificate's name lies outside a CA's name constraints.
    #[error(
        "certificate \"{subject}\" violates the name constraints of the CA \"{ca}\": {detail}; \
             have it issued with names the CA is permitted to certify"
    )]
    NameConstraintViolation {
        /// Subject DN of the certificate whose name violates the constraints.
        subject: String,
        /// Subject DN of the constraining CA.
        ca: String,
        /// Which name and which constraint.
        detail: String,
    },
    /// The path's certificate policies do not satisfy policy constraints (RFC 5280 §6.1).
    #[error(
        "the path from \"{subject}\" to its root fails certificate policy processing: {detail}; \
             have the certificates issued under the certificate policies the CAs require"
    )]
    PolicyViolation {
        /// Subject DN of the partner certificate.
        subject: String,
        /// What failed.
        detail: String,
    },
    /// More partner-supplied chain certificates than accepted.
    #[error(
        "the partner-supplied chain holds {count} distinct certificates (after dropping \
             duplicates with the same subject and key), but at most {max} are accepted; supply only \
             the intermediate CA certificates between the partner certificate and its root"
    )]
    ChainTooLong {
        /// Distinct partner-supplied certificates found.
        count: usize,
        /// The limit.
        max: usize,
    },
}

impl CertError {
    /// The condition reason for this error; one of the [`reason`] constants.
    pub fn reason(&self) -> &'static str {
        match self {
            CertError::Malformed { .. } => reason::MALFORMED_CERTIFICATE,
            CertError::NotV3 { .. } => reason::NOT_V3,
            CertError::NotYetValid { .. } => reason::NOT_YET_VALID,
            CertError::Expired { .. } => reason::CERTIFICATE_EXPIRED,
            CertError::InsufficientValidity { .. } => reason::INSUFFICIENT_VALIDITY,
            CertError::SelfSigned { .. } => reason::SELF_SIGNED,
            CertError::UntrustedChain { .. } => reason::UNTRUSTED_CHAIN,
            CertError::InvalidSignature { .. } => reason::INVALID_SIGNATURE,
            CertError::NotACertificateAuthority { .. } => reason::NOT_A_CERTIFICATE_AUTHORITY,
            CertError::PathLengthExceeded { .. } => reason::PATH_LENGTH_EXCEEDED,
            CertError::OrganizationMismatch { .. } => reason::ORGANIZATION_MISMATCH,
            CertError::WeakKey { .. } => reason::WEAK_KEY,
            CertError::WeakSignature { .. } => reason::WEAK_SIGNATURE,
            CertError::NonConforming { .. } => reason::NON_CONFORMING_CERTIFICATE,
            CertError::UnsupportedCriticalExtension { .. } => reason::UNSUPPORTED_CRITICAL_EXTENSION,
            CertError::NameConstraintViolation { .. } => reason::NAME_CONSTRAINT_VIOLATION,
            CertError::PolicyViolation { .. } => reason::POLICY_CONSTRAINT_VIOLATION,
            CertError::ChainTooLong { .. } => reason::CHAIN_TOO_LONG,
        }
    }

    pub(crate) fn malformed(detail: impl Into<String>) -> Self {
        CertError::Malformed { detail: detail.into() }
    }
}

/// "334 days 23h 59m 59s"-style rendering; whole days are the common case and read best.
pub(crate) fn human_duration(d: SignedDuration) -> String {
    let total = d.as_secs();
    let sign = if total < 0 { "-" } else { "" };
    let total = total.unsigned_abs();
    let (days, rest) = (total / 86_400, total % 86_400);
    let (hours, minutes, seconds) = (rest / 3600, rest % 3600 / 60, rest % 60);
    let mut out = format!("{sign}{days} day{}", if days == 1 { "" } else { "s" });
    if rest != 0 {
        out.push_str(&format!(" {hours}h {minutes}m {seconds}s"));
    }
    out
}
