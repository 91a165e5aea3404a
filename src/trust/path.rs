//! Path building and validation for every partner certificate (RFC 5280 §6.1, RFC 4158).
//!
//! A bounded depth-first search from the partner certificate to a trusted root. Candidate
//! issuers of a certificate are all certificates (trusted roots, trusted intermediates,
//! partner-supplied) whose subject DN equals its issuer DN byte for byte — re-keyed CAs and
//! self-issued certificates share names, so every one is tried. Those whose subjectKeyIdentifier
//! equals the certificate's authorityKeyIdentifier are tried first, then trusted roots, trusted
//! intermediates and partner-supplied certificates in that order.
//!
//! For each candidate, in the order reported: X.509 v3; signature algorithm and key; the child's
//! signature verifies with its key; CA:TRUE with keyCertSign; the RFC 5280 profile
//! (`profile::check_profile`, anchor rules for trusted roots); webpki's DER parser accepts it;
//! valid at `now`;
//! pathLenConstraint; its name constraints hold for every certificate below it. A trusted root
//! ends the path; partner-supplied certificates never do.
//!
//! Work is bounded whatever the input: at most [`MAX_INTERMEDIATES`] CAs between the partner
//! certificate and the root, at most [`MAX_SIGNATURE_CHECKS`] signature verifications (Go's and
//! webpki's budget), subject DNs found by a DER walk, so that a large trust store costs one DER
//! walk per certificate and a full parse only for certificates whose name matches. When every attempt
//! fails, the reported reason is the one that got furthest up the path, then the most specific.

use super::cert::{ParsedCert, name_key};
use super::der;
use super::error::CertError;
use super::profile::{self, Role};
use crate::api::PartnerDomain;
use jiff::Timestamp;
use rustls_pki_types::CertificateDer;
use std::cell::OnceCell;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

/// The most CA certificates between the partner certificate and the root.
pub const MAX_INTERMEDIATES: usize = 6;
/// The most signature verifications one validation may spend.
pub const MAX_SIGNATURE_CHECKS: usize = 100;

/// Where a certificate offered for path building came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Source {
    TrustedRoot,
    TrustedIntermediate,
    Supplied,
}

struct Candidate<'a> {
    der: &'a [u8],
    source: Source,
    parsed: OnceCell<Option<ParsedCert<'a>>>,
}

impl<'a> Candidate<'a> {
    /// The parsed certificate; `None` for an unreadable trust-store entry (it cannot be on a
    /// path; partner-supplied certificates were checked to be readable before).
    fn cert(&self) -> Option<&ParsedCert<'a>> {
        self.parsed.get_or_init(|| ParsedCert::parse(self.der).ok()).as_ref()
    }
}

/// Every certificate that may serve as an issuer, with its subject DN found by a DER walk (a
/// full parse happens only for certificates whose name matches).
pub(crate) struct Pool<'a> {
    candidates: Vec<Candidate<'a>>,
    subjects: Vec<&'a [u8]>,
}

impl<'a> Pool<'a> {
    pub(crate) fn new(roots: &'a [Vec<u8>], intermediates: &'a [Vec<u8>], supplied: &'a [Vec<u8>]) -> Self {
        let mut candidates = Vec::with_capacity(roots.len() + intermediates.len() + supplied.len());
        let mut subjects = Vec::with_capacity(candidates.capacity());
        let sources =
            [(Source::TrustedRoot, roots), (Source::TrustedIntermediate, intermediates), (Source::Supplied, supplied)];
        for (source, ders) in sources {
            for der in ders {
                // A certificate whose subject cannot be found is unreadable and on no path.
                let Some(subject) = der::subject_of(der) else { continue };
                subjects.push(subject);
                candidates.push(Candidate { der, source, parsed: OnceCell::new() });
            }
        }
        Pool { candidates, subjects }
    }

    /// Indices of the certificates whose subject DN is `name`, in input order: byte-identical
    /// encodings, or when there are none, names equal under RFC 5280 §7.1 (then every subject
    /// is read, which only happens on paths that would otherwise fail).
    fn named(&self, name: &X509Name<'_>, key: &str) -> Vec<usize> {
        let exact: Vec<usize> =
            self.subjects.iter().enumerate().filter(|(_, s)| **s == name.as_raw()).map(|(i, _)| i).collect();
        if !exact.is_empty() {
            return exact;
        }
        self.subjects
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(X509Name::from_der(s), Ok((_, subject)) if name_key(&subject) == key))
            .map(|(i, _)| i)
            .collect()
    }
}

/// The CA path (issuer first, trusted root last) of `leaf`, as DER.
pub(crate) fn build_path(
    pool: &Pool<'_>,
    leaf: &ParsedCert<'_>,
    now: Timestamp,
    domain: PartnerDomain,
) -> Result<Vec<Vec<u8>>, CertError> {
    structure(leaf)?;
    let mut search = Search { pool, leaf, now, domain, signature_checks: 0, best: None };
    let mut path = Vec::new();
    if search.extend(&mut path)? {
        return Ok(path.iter().map(|&i| pool.candidates[i].der.to_vec()).collect());
    }
    // Every failed attempt records a reason, so `best` is set; the fallback is for safety only.
    let fallback = search.untrusted("no path to a Ready root CA was found".into());
    Err(search.best.map_or(fallback, |(_, err)| err))
}

struct Search<'p, 'a, 'l> {
    pool: &'p Pool<'a>,
    leaf: &'l ParsedCert<'l>,
    now: Timestamp,
    domain: PartnerDomain,
    signature_checks: usize,
    /// The most useful failure so far: the one that got furthest up the path, then the most
    /// specific (see [`specificity`]); the first one on ties.
    best: Option<((usize, u8), CertError)>,
}

impl<'p, 'a> Search<'p, 'a, '_> {
    fn cert(&self, i: usize) -> Option<&'p ParsedCert<'a>> {
        self.pool.candidates[i].cert()
    }

    /// Extends `path` (candidate indices of the CAs above the leaf so far) to a trusted root;
    /// `Ok(false)` when no extension works (the reason is in `best`), `Err` when the budget is
    /// spent.
    fn extend(&mut self, path: &mut Vec<usize>) -> Result<bool, CertError> {
        let child: &ParsedCert<'_> = match path.last() {
            Some(&i) => self.cert(i).unwrap_or(self.leaf),
            None => self.leaf,
        };
        let below = path.len();
        let mut order: Vec<usize> = self.pool.named(child.x509.issuer(), &child.issuer_key);
        // AKI/SKI matches first (RFC 4158 §3.5.12), then by source; the sort is stable.
        let aki = authority_key_id(child);
        order.sort_by_key(|&i| {
            let matches = aki.is_some() && self.cert(i).and_then(subject_key_id) == aki;
            (!matches, self.pool.candidates[i].source)
        });
        let mut named = false;
        for i in order {
            let Some(issuer) = self.cert(i) else { continue };
            let source = self.pool.candidates[i].source;
            // RFC 4158 §5.2 loop prevention: no subject + key twice on the path.
            if same_subject_and_key(issuer, self.leaf)
                || path.iter().any(|&j| self.cert(j).is_some_and(|ca| same_subject_and_key(ca, issuer)))
            {
                continue;
            }
            named = true;
            if self.signature_checks >= MAX_SIGNATURE_CHECKS {
                return Err(self.untrusted(format!(
                    "path building gave up after {MAX_SIGNATURE_CHECKS} signature checks; remove \
                     duplicate or unrelated certificates from the partner's chain and the CA \
                     certificates of the domain"
                )));
            }
            if let Err(err) = self.check_issuer(child, source, issuer, path) {
                self.record(below + 1, err);
                continue;
            }
            if source == Source::TrustedRoot {
                // Certificate policies (RFC 5280 §6.1) over the complete path, anchor excluded.
                let mut below_anchor: Vec<&ParsedCert<'_>> = path.iter().rev().filter_map(|&j| self.cert(j)).collect();
                below_anchor.push(self.leaf);
                if let Err(detail) = profile::check_policies(&below_anchor) {
                    let err = CertError::PolicyViolation { subject: self.leaf.subject.clone(), detail };
                    self.record(below + 1, err);
                    continue;
                }
                path.push(i);
                return Ok(true);
            }
            if below + 1 > MAX_INTERMEDIATES {
                let detail =
                    format!("the path has more intermediate CAs than the validator accepts ({MAX_INTERMEDIATES})");
                self.record(below + 1, CertError::PathLengthExceeded { subject: self.leaf.subject.clone(), detail });
                continue;
            }
            path.push(i);
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

    /// Every rule for `issuer` as the CA that signed `child`; `path` holds the CAs already
    /// between the partner certificate and `child` (inclusive).
    fn check_issuer(
        &mut self,
        child: &ParsedCert<'_>,
        source: Source,
        issuer: &ParsedCert<'_>,
        path: &[usize],
    ) -> Result<(), CertError> {
        let below = path.len();
        issuer.check_v3()?;
        issuer.check_signature_algorithm()?;
        issuer.check_key()?;
        self.signature_checks += 1;
        if !child.is_signed_by(issuer) {
            return Err(CertError::InvalidSignature { subject: child.subject.clone(), issuer: issuer.subject.clone() });
        }
        issuer.check_is_ca()?;
        let role = if source == Source::TrustedRoot { Role::Anchor } else { Role::Intermediate };
        profile::check_profile(issuer, role, source == Source::TrustedRoot)?;
        structure(issuer)?;
        issuer.check_validity(self.now)?;
        if let Some(limit) = issuer.path_len_constraint()
            && below as u64 > u64::from(limit)
        {
            return Err(CertError::PathLengthExceeded {
                subject: self.leaf.subject.clone(),
                detail: path_len_detail(&issuer.subject, limit, below),
            });
        }
        // Name constraints apply to the partner certificate and to every CA below `issuer`
        // that is not self-issued (RFC 5280 §6.1.3 (b)); the anchor's constraints too.
        let below_certs =
            std::iter::once(self.leaf).chain(path.iter().filter_map(|&j| self.cert(j)).filter(|c| !c.is_self_issued()));
        for cert in below_certs {
            if let Err(detail) = profile::check_name_constraints(issuer, cert) {
                return Err(CertError::NameConstraintViolation {
                    subject: cert.subject.clone(),
                    ca: issuer.subject.clone(),
                    detail,
                });
            }
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
    a.spki_der() == b.spki_der() && a.subject_key == b.subject_key
}

fn authority_key_id<'a>(cert: &ParsedCert<'a>) -> Option<&'a [u8]> {
    cert.x509.extensions().iter().find_map(|e| match e.parsed_extension() {
        ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref().map(|k| k.0),
        _ => None,
    })
}

fn subject_key_id<'a>(cert: &ParsedCert<'a>) -> Option<&'a [u8]> {
    cert.x509.extensions().iter().find_map(|e| match e.parsed_extension() {
        ParsedExtension::SubjectKeyIdentifier(ski) => Some(ski.0),
        _ => None,
    })
}

/// webpki's strict DER parser, as a structural check (BER leniencies, bad encodings, inner ≠
/// outer signature algorithm). Critical extensions are judged by `profile::check_profile`
/// instead (webpki refuses some that RFC 5280 requires to be critical, such as
/// policyConstraints), so that webpki error is ignored here.
pub(crate) fn structure(cert: &ParsedCert<'_>) -> Result<(), CertError> {
    let der = CertificateDer::from(cert.der);
    match webpki::EndEntityCert::try_from(&der) {
        Ok(_) | Err(webpki::Error::UnsupportedCriticalExtension) => Ok(()),
        Err(webpki::Error::UnsupportedCertVersion) => Err(cert
            .check_v3()
            .err()
            .unwrap_or_else(|| CertError::malformed(format!("certificate \"{}\" is not X.509 v3", cert.subject)))),
        Err(webpki::Error::SignatureAlgorithmMismatch) => Err(CertError::NonConforming {
            subject: cert.subject.clone(),
            section: "4.1.1.2",
            detail: "its signatureAlgorithm differs from the signature field inside the signed certificate body".into(),
        }),
        Err(other) => {
            Err(CertError::malformed(format!("certificate \"{}\" is not valid DER X.509 ({other})", cert.subject)))
        }
    }
}

pub(crate) fn supplied_root_detail(root: &str, domain: PartnerDomain) -> String {
    format!(
        "the partner-supplied chain ends at the self-signed root \"{root}\", which is not a Ready \
         root CA of the {domain} domain; partner-supplied certificates are never trust anchors: \
         register that root as a CACertificate of the {domain} domain if it should be trusted"
    )
}

pub(crate) fn missing_issuer_detail(issuer: &str, subject: &str, domain: PartnerDomain) -> String {
    format!(
        "no Ready CA certificate of the {domain} domain, and none in the partner-supplied chain, \
         has the subject \"{issuer}\" (issuer of \"{subject}\"); add that CA as a CACertificate \
         of the {domain} domain, or include it in the partner's chain if it is an intermediate"
    )
}

pub(crate) fn path_len_detail(ca: &str, limit: u32, below: usize) -> String {
    format!(
        "\"{ca}\" allows at most {limit} intermediate CA(s) below it (pathLenConstraint), but \
         {below} stand between it and the partner certificate"
    )
}
