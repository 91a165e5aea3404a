//! Certificate trust: CA evaluation, partner certificate validation and MOSIP re-signing.
//!
//! Pure: no API server and no I/O, so the controller and the `verify` CLI share every rule.
//! Path building and the RFC 5280 profile are ours (`path`, `profile`); x509-parser parses and
//! verifies signatures (ring); rustls-webpki's parser is a structural DER check; rcgen issues
//! re-signed certificates. The rules and reasons are listed in `docs/trust.md`.

mod ca;
mod cert;
mod der;
mod error;
mod partner;
mod path;
mod profile;
mod resign;
#[cfg(test)]
pub(crate) mod tests;

pub use ca::{CaInput, CaVerdict, ca_inputs_from_bundle, evaluate_cas, trusted_sets};
pub use cert::{CertSummary, PemText, SubjectParts, encode_pem_certificates, parse_pem_certificates, summarize};
pub use error::{CertError, reason};
pub use partner::{
    DEFAULT_MIN_VALIDITY, MAX_SUPPLIED_CERTIFICATES, PartnerCertInput, ValidatedCertificate,
    validate_partner_certificate,
};
pub use path::{MAX_INTERMEDIATES, MAX_SIGNATURE_CHECKS};
pub use resign::{ResignedBasicConstraints, ResignedCertificate, SigningCa, SigningError, generate_signing_ca, resign};
