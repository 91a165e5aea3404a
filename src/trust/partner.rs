//! Validation of a partner's CA-signed certificate, as MOSIP's keymanager does before
//! re-signing it (mosip-pms.md §3.2), plus the checks MOSIP lacks: the RFC 5280 profile
//! (`profile`), bounded path building with name constraints (`path`), key and algorithm
//! strength, and a bound on partner-supplied chain certificates.

use super::cert::{CertSummary, ParsedCert, SubjectParts, parse_pem_certificates};
use super::error::CertError;
use super::path::{self, Pool};
use super::profile::{self, Role};
use crate::api::PartnerDomain;
use jiff::{SignedDuration, Timestamp};

/// The most distinct partner-supplied chain certificates (after dropping duplicates by subject
/// and key) accepted; more is `ChainTooLong`. A real path has at most 6 intermediates.
pub const MAX_SUPPLIED_CERTIFICATES: usize = 10;

/// MOSIP's default minimum remaining validity of a partner certificate: 1 year − 30 days grace.
pub const DEFAULT_MIN_VALIDITY: SignedDuration = SignedDuration::from_hours(335 * 24);

/// Everything needed to validate one partner certificate.
#[derive(Debug, Clone, Copy)]
pub struct PartnerCertInput<'a> {
    /// The domain the certificate must chain into (used in messages; anchors are given below).
    pub domain: PartnerDomain,
    /// PEM text; the first certificate is the partner's, any further ones are chain helpers.
    pub certificate_pem: &'a str,
    /// Partner-supplied intermediates: used to build a path, never as trust anchors.
    pub chain_pem: Option<&'a str>,
    /// DER of the Ready roots of the domain (see [`super::trusted_sets`]).
    pub trusted_roots: &'a [Vec<u8>],
    /// DER of the Ready intermediates of the domain.
    pub trusted_intermediates: &'a [Vec<u8>],
    /// The registered organisation name the Subject O must equal; `None` skips the check.
    pub organization: Option<&'a str>,
    /// The time of evaluation.
    pub now: Timestamp,
    /// Minimum remaining validity at `now` ([`DEFAULT_MIN_VALIDITY`] in MOSIP).
    pub min_validity: SignedDuration,
}

/// A partner certificate that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedCertificate {
    /// Status summary of the partner certificate.
    pub summary: CertSummary,
    /// DER of the partner certificate.
    pub leaf_der: Vec<u8>,
    /// DER SubjectPublicKeyInfo of the partner certificate (what re-signing certifies).
    pub spki_der: Vec<u8>,
    /// The subject attributes MOSIP keeps when re-signing.
    pub subject: SubjectParts,
    /// notAfter of the partner certificate.
    pub not_after: Timestamp,
    /// The CA certificates of the validated path, DER, from the issuer of the partner
    /// certificate up to and including the root. (What FTM publishes instead of a re-signed
    /// chain.)
    pub path_der: Vec<Vec<u8>>,
    /// When the verdict may change by time alone: the earliest of notAfter − min_validity (it
    /// becomes InsufficientValidity right after), notAfter, and the notAfter of every CA on the
    /// path. The verdict still holds at that instant.
    pub next_check: Timestamp,
}

impl ValidatedCertificate {
    /// What `certificate_pem` (the same text [`validate_partner_certificate`] accepted) says of
    /// itself, without validating it again: for a verdict that was cached without these facts.
    /// `path_der` is empty; `next_check` is the one that validation returned.
    pub fn reread(certificate_pem: &str, next_check: Timestamp) -> Result<Self, CertError> {
        let leaf_der = parse_pem_certificates(certificate_pem)?
            .into_iter()
            .next()
            .ok_or_else(|| CertError::malformed("no certificate was found"))?;
        let leaf = ParsedCert::parse(&leaf_der)?;
        Ok(Self::of(&leaf, leaf.subject_parts(), Vec::new(), next_check))
    }

    /// What a validated `leaf` says of itself, with the path and the next check validation found.
    fn of(leaf: &ParsedCert<'_>, subject: SubjectParts, path_der: Vec<Vec<u8>>, next_check: Timestamp) -> Self {
        ValidatedCertificate {
            summary: leaf.summary(),
            leaf_der: leaf.der.to_vec(),
            spki_der: leaf.spki_der().to_vec(),
            subject,
            not_after: leaf.not_after,
            path_der,
            next_check,
        }
    }
}

/// Validates a partner certificate for `input.domain`.
///
/// Checks, in the order a failure is reported (the most useful reason first):
/// 1. readable PEM with at least one certificate (`MalformedCertificate`); at most
///    [`MAX_SUPPLIED_CERTIFICATES`] distinct partner-supplied chain certificates
///    (`ChainTooLong`);
/// 2. X.509 v3 (`NotV3`);
/// 3. signature algorithm (`WeakSignature`) and key (`WeakKey`) of the partner certificate;
/// 4. currently valid (`NotYetValid`, `CertificateExpired`), then ≥ `min_validity` left
///    (`InsufficientValidity`);
/// 5. not self-signed (`SelfSigned`);
/// 6. the RFC 5280 profile of the partner certificate (`NonConformingCertificate`,
///    `UnsupportedCriticalExtension`);
/// 7. a path to a trusted root through trusted and partner-supplied intermediates (`path`):
///    `UntrustedChain`, `InvalidSignature`, `NotACertificateAuthority`, `PathLengthExceeded`,
///    `NameConstraintViolation`, and the reasons above for the CAs on the path;
/// 8. Subject O equals `organization` exactly (`OrganizationMismatch`).
///
/// Work is bounded: the PEM is read once, at most 10 supplied certificates, at most 100
/// signature checks and 6 intermediates, and a trust store is indexed by subject without
/// parsing every certificate.
pub fn validate_partner_certificate(input: &PartnerCertInput<'_>) -> Result<ValidatedCertificate, CertError> {
    let mut ders = parse_pem_certificates(input.certificate_pem)?.into_iter();
    let leaf_der = ders.next().ok_or_else(|| CertError::malformed("no certificate was found"))?;
    let mut helpers: Vec<Vec<u8>> = ders.collect();
    if let Some(chain) = input.chain_pem.filter(|c| !c.trim().is_empty()) {
        let chain = parse_pem_certificates(chain).map_err(|err| match err {
            CertError::Malformed { detail } => {
                CertError::Malformed { detail: format!("in the partner-supplied chain, {detail}") }
            }
            other => other,
        })?;
        helpers.extend(chain);
    }
    let helpers = dedup_supplied(helpers)?;

    let leaf = ParsedCert::parse(&leaf_der)?;
    leaf.check_v3()?;
    leaf.check_signature_algorithm()?;
    leaf.check_key()?;
    leaf.check_validity(input.now)?;
    let remaining = leaf.not_after.duration_since(super::cert::whole_second(input.now));
    if remaining < input.min_validity {
        return Err(CertError::InsufficientValidity {
            subject: leaf.subject.clone(),
            not_after: leaf.not_after,
            remaining,
            required: input.min_validity,
        });
    }
    if leaf.is_self_signed() {
        return Err(CertError::SelfSigned { subject: leaf.subject.clone() });
    }
    profile::check_profile(&leaf, Role::Partner, false)?;

    let pool = Pool::new(input.trusted_roots, input.trusted_intermediates, &helpers);
    let path_der = path::build_path(&pool, &leaf, input.now, input.domain)?;

    let mut next_check =
        leaf.not_after.saturating_sub(input.min_validity).unwrap_or(Timestamp::MIN).min(leaf.not_after);
    for der in &path_der {
        let ca = ParsedCert::parse(der)?;
        next_check = next_check.min(ca.not_after);
    }

    let subject = leaf.subject_parts();
    if let Some(expected) = input.organization
        && subject.o.as_deref() != Some(expected)
    {
        return Err(CertError::OrganizationMismatch { expected: expected.to_string(), found: subject.o.clone() });
    }

    Ok(ValidatedCertificate::of(&leaf, subject, path_der, next_check))
}

/// Drops partner-supplied certificates that repeat an earlier one's subject and key (the same
/// certificate pasted twice, or re-issued with the same key: equivalent for path building), then
/// enforces [`MAX_SUPPLIED_CERTIFICATES`].
fn dedup_supplied(ders: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, CertError> {
    let mut seen: std::collections::HashSet<(Vec<u8>, Vec<u8>)> = std::collections::HashSet::new();
    let mut kept = Vec::new();
    for der in ders {
        let cert = ParsedCert::parse(&der).map_err(|err| {
            CertError::malformed(format!("a certificate in the partner-supplied chain cannot be read ({err})"))
        })?;
        let key = (cert.subject_raw().to_vec(), cert.spki_der().to_vec());
        drop(cert);
        if seen.insert(key) {
            kept.push(der);
        }
    }
    if kept.len() > MAX_SUPPLIED_CERTIFICATES {
        return Err(CertError::ChainTooLong { count: kept.len(), max: MAX_SUPPLIED_CERTIFICATES });
    }
    Ok(kept)
}
