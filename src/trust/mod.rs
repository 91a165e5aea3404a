//! Certificate trust: CA evaluation, partner certificate validation and MOSIP re-signing.
//!
//! Pure: no API server and no I/O, so the controller and the `verify` CLI share every rule.
//! Path validation is rustls-webpki's; x509-parser inspects what webpki does not judge; rcgen
//! issues re-signed certificates. The rules and reasons are listed in `docs/trust.md`.

mod ca;
mod cert;
mod error;
mod partner;
mod resign;
#[cfg(test)]
mod tests;

pub use ca::{CaInput, CaVerdict, ca_inputs_from_bundle, evaluate_cas, trusted_sets};
pub use cert::{CertSummary, SubjectParts, parse_pem_certificates, summarize};
pub use error::{CertError, reason};
pub use partner::{DEFAULT_MIN_VALIDITY, PartnerCertInput, ValidatedCertificate, validate_partner_certificate};
pub use resign::{ResignedBasicConstraints, ResignedCertificate, SigningCa, SigningError, generate_signing_ca, resign};
