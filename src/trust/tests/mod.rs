//! Tests of the trust module with certificates generated on the fly (see `fixtures`).

mod ca;
mod ca_leaf;
mod craft;
pub(crate) mod fixtures;
mod partner;
mod path;
mod pem;
mod resign;
mod rfc5280;

use crate::api::PartnerDomain;
use crate::trust::{CertError, PartnerCertInput, ValidatedCertificate};
use fixtures::{Issued, days, t0};

/// Validates `leaf` (plus `chain`) against `roots` and `intermediates` in `domain` (AUTH unless
/// overridden) at `now`, with organization "Acme" and a minimum validity of 335 days unless
/// overridden by the caller.
pub(crate) struct Check<'a> {
    pub domain: PartnerDomain,
    pub leaf: String,
    pub chain: Option<String>,
    pub roots: Vec<&'a Issued>,
    pub intermediates: Vec<&'a Issued>,
    pub organization: Option<&'a str>,
    pub now: jiff::Timestamp,
    pub min_validity: jiff::SignedDuration,
}

impl<'a> Check<'a> {
    pub fn new(leaf: &Issued, roots: &[&'a Issued]) -> Check<'a> {
        Check {
            domain: PartnerDomain::Auth,
            leaf: leaf.pem.clone(),
            chain: None,
            roots: roots.to_vec(),
            intermediates: Vec::new(),
            organization: Some("Acme"),
            now: t0(),
            min_validity: days(335),
        }
    }

    pub fn domain(mut self, domain: PartnerDomain) -> Self {
        self.domain = domain;
        self
    }

    pub fn intermediates(mut self, intermediates: &[&'a Issued]) -> Self {
        self.intermediates = intermediates.to_vec();
        self
    }

    pub fn chain(mut self, chain: &[&Issued]) -> Self {
        self.chain = Some(chain.iter().map(|c| c.pem.as_str()).collect::<Vec<_>>().join("\n"));
        self
    }

    pub fn now(mut self, now: jiff::Timestamp) -> Self {
        self.now = now;
        self
    }

    pub fn min_validity(mut self, min: jiff::SignedDuration) -> Self {
        self.min_validity = min;
        self
    }

    pub fn organization(mut self, o: Option<&'a str>) -> Self {
        self.organization = o;
        self
    }

    pub fn run(&self) -> Result<ValidatedCertificate, CertError> {
        let roots: Vec<Vec<u8>> = self.roots.iter().map(|c| c.der.clone()).collect();
        let intermediates: Vec<Vec<u8>> = self.intermediates.iter().map(|c| c.der.clone()).collect();
        crate::trust::validate_partner_certificate(&PartnerCertInput {
            domain: self.domain,
            certificate_pem: &self.leaf,
            chain_pem: self.chain.as_deref(),
            trusted_roots: &roots,
            trusted_intermediates: &intermediates,
            organization: self.organization,
            now: self.now,
            min_validity: self.min_validity,
        })
    }

    /// The error's reason, failing the test (with the message) if validation succeeded.
    pub fn reason(&self) -> &'static str {
        self.err().reason()
    }

    pub fn err(&self) -> CertError {
        match self.run() {
            Ok(v) => panic!("expected a failure, got a valid certificate {}", v.summary.subject),
            Err(e) => e,
        }
    }
}

/// The message never carries PEM bodies or key material: no END line, no long base64 run.
pub(crate) fn assert_no_secrets(message: &str) {
    assert!(!message.contains("-----END"), "message leaks PEM: {message}");
    let longest_base64_run = message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='))
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(longest_base64_run < 40, "message may leak base64: {message}");
}
