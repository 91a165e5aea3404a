//! Path validation for a partner certificate that is itself a CA (basicConstraints CA:TRUE).
//!
//! webpki refuses a CA as the end entity (`CaUsedAsEndEntity`) and has no switch for it, but
//! MOSIP accepts such partner certificates, and real DEVICE and FTM provider certificates are
//! CAs (they issue device certificates). For those certificates only, this module replaces
//! webpki's path builder with a small bounded depth-first search that applies the same rules;
//! every certificate is still run through webpki's parser, so its structural rules (v3, inner =
//! outer signature algorithm, no unknown critical extension, no duplicate extension) are
//! webpki's own. Signatures are verified with x509-parser (ring), as in CA evaluation.
//!
//! For every candidate issuer (same subject DN as the child's issuer, not already on the path),
//! in the order trusted roots, trusted intermediates, partner-supplied certificates:
//! webpki's parser (anchor rules for roots), v3, signature algorithm and key, the child's
//! signature, CA:TRUE with keyCertSign, valid at `now`, pathLenConstraint ≥ the number of CAs
//! below it (the partner certificate, the end entity, does not count), no empty EKU, no
//! nameConstraints. A trusted root ends the path; partner-supplied certificates never do. At
//! most 6 intermediates (webpki's limit) and 100 signature checks (webpki's budget).

use super::{Candidates, Source, missing_issuer_detail, path_len_detail, supplied_root_detail};
use crate::api::PartnerDomain;
use crate::trust::cert::ParsedCert;
use crate::trust::error::CertError;
use jiff::Timestamp;
use rustls_pki_types::CertificateDer;
use x509_parser::oid_registry::{OID_X509_EXT_EXTENDED_KEY_USAGE, OID_X509_EXT_NAME_CONSTRAINTS};

/// The most intermediate CAs between the partner certificate and the root (as webpki).
const MAX_INTERMEDIATES: usize = 6;
/// The most signature verifications one validation may spend (webpki's default budget).
const MAX_SIGNATURE_CHECKS: usize = 100;

type Entry<'c, 'a> = &'c (Source, ParsedCert<'a>);

/// The CA path (issuer first, trusted root last) of the CA partner certificate `leaf`, as DER.
pub(super) fn ca_leaf_path(
    candidates: &Candidates<'_>,
    leaf: &ParsedCert<'_>,
    now: Timestamp,
    domain: PartnerDomain,
) -> Result<Vec<Vec<u8>>, CertError> {
    parse_like_webpki(leaf, Source::Supplied)?;
    let mut search = Search { candidates, leaf, now, domain, signature_checks: 0, best: None };
    let mut path = Vec::new();
    if search.extend(&mut path)? {
        return Ok(path.iter().map(|(_, ca)| ca.der.to_vec()).collect());
    }
    // Every failed attempt records a reason, so `best` is set; the fallback is for safety only.
    let fallback = search.untrusted("no path to a Ready root CA was found".into());
    Err(search.best.map_or(fallback, |(_, err)| err))
}

struct Search<'c, 'a, 'l> {
    candidates: &'c Candidates<'a>,
    leaf: &'l ParsedCert<'l>,
    now: Timestamp,
    domain: PartnerDomain,
    signature_checks: usize,
    /// The most useful failure so far: the one that got furthest up the path, then the most
    /// specific (see [`specificity`]); the first one on ties.
    best: Option<((usize, u8), CertError)>,
}

impl<'c, 'a> Search<'c, 'a, '_> {
    /// Extends `path` (the CAs above the leaf so far) to a trusted root; `Ok(false)` when no
    /// extension works (the reason is in `best`), `Err` when the budget is spent.
    fn extend(&mut self, path: &mut Vec<Entry<'c, 'a>>) -> Result<bool, CertError> {
        let top: Option<Entry<'c, 'a>> = path.last().copied();
        let child: &ParsedCert<'_> = top.map_or(self.leaf, |(_, ca)| ca);
        let below = path.len();
        let mut named = false;
        for entry in &self.candidates.certs {
            let (source, issuer) = (entry.0, &entry.1);
            // RFC 4158 §5.2 loop prevention, as webpki: no subject + key twice on the path.
            if issuer.subject_raw() != child.issuer_raw()
                || same_subject_and_key(issuer, self.leaf)
                || path.iter().any(|(_, ca)| same_subject_and_key(ca, issuer))
            {
                continue;
            }
            named = true;
            if self.signature_checks >= MAX_SIGNATURE_CHECKS {
                return Err(self.untrusted(format!(
                    "path building gave up after {MAX_SIGNATURE_CHECKS} signature checks; remove \
                     duplicate or unrelated certificates from the partner's chain"
                )));
            }
            self.signature_checks += 1;
            if let Err(err) = self.check_issuer(child, source, issuer, below) {
                self.record(below + 1, err);
                continue;
            }
            if source == Source::TrustedRoot {
                path.push(entry);
                return Ok(true);
            }
            if below + 1 > MAX_INTERMEDIATES {
                let detail =
                    format!("the path has more intermediate CAs than the validator accepts ({MAX_INTERMEDIATES})");
                self.record(below + 1, CertError::PathLengthExceeded { subject: self.leaf.subject.clone(), detail });
                continue;
            }
            path.push(entry);
            if self.extend(path)? {
                return Ok(true);
            }
            path.pop();
        }
        if !named {
            let detail = if child.is_self_signed() {
                supplied_root_detail(&child.subject, self.domain)
            } else {
                missing_issuer_detail(&child.issuer, &child.subject, self.domain)
            };
            let err = self.untrusted(detail);
            self.record(below, err);
        }
        Ok(false)
    }

    /// Every rule for `issuer` as the CA that signed `child`, with `below` CAs between `issuer`
    /// and the partner certificate.
    fn check_issuer(
        &self,
        child: &ParsedCert<'_>,
        source: Source,
        issuer: &ParsedCert<'_>,
        below: usize,
    ) -> Result<(), CertError> {
        issuer.check_v3()?;
        parse_like_webpki(issuer, source)?;
        issuer.check_signature_algorithm()?;
        issuer.check_key()?;
        if !child.is_signed_by(issuer) {
            return Err(CertError::InvalidSignature { subject: child.subject.clone(), issuer: issuer.subject.clone() });
        }
        issuer.check_is_ca()?;
        issuer.check_validity(self.now)?;
        if let Some(limit) = issuer.path_len_constraint()
            && below as u64 > u64::from(limit)
        {
            return Err(CertError::PathLengthExceeded {
                subject: self.leaf.subject.clone(),
                detail: path_len_detail(&issuer.subject, limit, below),
            });
        }
        if issuer.x509.extensions().iter().any(|e| e.oid == OID_X509_EXT_NAME_CONSTRAINTS) {
            return Err(self.untrusted(format!(
                "the CA \"{}\" has name constraints, which are not evaluated for a partner \
                 certificate that is itself a CA (basicConstraints CA:TRUE), so it is refused; \
                 use a path without name-constrained CAs or an end-entity partner certificate",
                issuer.subject
            )));
        }
        Ok(())
    }

    fn record(&mut self, depth: usize, err: CertError) {
        let rank = (depth, specificity(&err));
        if self.best.as_ref().is_none_or(|(best, _)| rank > *best) {
            self.best = Some((rank, err));
        }
    }

    fn untrusted(&self, detail: String) -> CertError {
        CertError::UntrustedChain { subject: self.leaf.subject.clone(), domain: self.domain, detail }
    }
}

/// A missing issuer says least, a wrong key more, anything else about a real issuer most.
fn specificity(err: &CertError) -> u8 {
    match err {
        CertError::UntrustedChain { .. } => 0,
        CertError::InvalidSignature { .. } => 1,
        _ => 2,
    }
}

fn same_subject_and_key(a: &ParsedCert<'_>, b: &ParsedCert<'_>) -> bool {
    a.subject_raw() == b.subject_raw() && a.spki_der() == b.spki_der()
}

/// webpki's parser: roots as trust anchors (lenient about extensions, as in `webpki_path`),
/// everything else as a path certificate; an empty EKU is refused as webpki does on the path.
fn parse_like_webpki(cert: &ParsedCert<'_>, source: Source) -> Result<(), CertError> {
    let der = CertificateDer::from(cert.der);
    let parsed = match source {
        Source::TrustedRoot => webpki::anchor_from_trusted_cert(&der).map(|_| ()),
        _ => webpki::EndEntityCert::try_from(&der).map(|_| ()),
    };
    if let Err(err) = parsed {
        return Err(match err {
            webpki::Error::UnsupportedCertVersion => cert
                .check_v3()
                .err()
                .unwrap_or_else(|| CertError::malformed(format!("certificate \"{}\" is not X.509 v3", cert.subject))),
            webpki::Error::SignatureAlgorithmMismatch => {
                CertError::InvalidSignature { subject: cert.subject.clone(), issuer: cert.issuer.clone() }
            }
            webpki::Error::UnsupportedCriticalExtension => CertError::malformed(format!(
                "certificate \"{}\" has a critical extension the validator does not support; \
                 reissue it without that extension or mark it non-critical",
                cert.subject
            )),
            other => {
                CertError::malformed(format!("certificate \"{}\" is rejected by the validator ({other})", cert.subject))
            }
        });
    }
    let eku = cert.x509.extensions().iter().find(|e| e.oid == OID_X509_EXT_EXTENDED_KEY_USAGE);
    if source != Source::TrustedRoot && eku.is_some_and(|e| e.value == [0x30, 0x00]) {
        return Err(CertError::malformed(format!(
            "certificate \"{}\" has an empty extendedKeyUsage extension",
            cert.subject
        )));
    }
    Ok(())
}
