//! Validation of a partner's CA-signed certificate, as MOSIP's keymanager does before
//! re-signing it (mosip-pms.md §3.2), plus the checks MOSIP lacks.
//!
//! Path building and signature verification are rustls-webpki's (`verify_for_usage`): it is a
//! maintained RFC 5280 path builder that checks every signature, basicConstraints and
//! pathLenConstraint, and validity of the intermediates. x509-parser inspects what webpki does
//! not judge: version, key sizes and curves, signature algorithms by name, the anchor's own
//! validity and self-signature algorithm, keyUsage keyCertSign on every CA, remaining validity
//! and the Subject O. It also turns webpki's terse errors into messages naming the certificate.
//!
//! A partner certificate that is itself a CA (basicConstraints CA:TRUE) cannot go through webpki,
//! which refuses a CA as end entity; `ca_leaf` checks its path with the same rules instead.

mod ca_leaf;

use super::cert::{CertSummary, ParsedCert, SubjectParts, parse_pem_certificates};
use super::error::CertError;
use crate::api::PartnerDomain;
use jiff::{SignedDuration, Timestamp};
use rustls_pki_types::{CertificateDer, UnixTime};
use std::time::Duration;

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

/// Validates a partner certificate for `input.domain`.
///
/// Checks, in the order a failure is reported (the most useful reason first):
/// 1. readable PEM with at least one certificate (`MalformedCertificate`);
/// 2. X.509 v3 (`NotV3`);
/// 3. signature algorithm (`WeakSignature`) and key (`WeakKey`) of the partner certificate;
/// 4. currently valid (`NotYetValid`, `CertificateExpired`), then ≥ `min_validity` left
///    (`InsufficientValidity`);
/// 5. not self-signed (`SelfSigned`);
/// 6. a path to a trusted root through trusted and partner-supplied intermediates, by
///    rustls-webpki, or by [`ca_leaf`] when the partner certificate is itself a CA
///    (`UntrustedChain`, `InvalidSignature`, `NotACertificateAuthority`, `PathLengthExceeded`,
///    and the reasons above for CAs on the path);
/// 7. every CA on the path: v3, algorithm, key, keyCertSign, and the root's validity;
/// 8. Subject O equals `organization` exactly (`OrganizationMismatch`).
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

    let leaf = ParsedCert::parse(&leaf_der)?;
    leaf.check_v3()?;
    leaf.check_signature_algorithm()?;
    leaf.check_key()?;
    leaf.check_validity(input.now)?;
    let remaining = leaf.not_after.duration_since(input.now);
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

    let candidates = Candidates::new(input, &helpers)?;
    let path_der = if leaf.is_ca_flagged() {
        ca_leaf::ca_leaf_path(&candidates, &leaf, input.now, input.domain)?
    } else {
        match webpki_path(&leaf_der, input, &helpers) {
            Ok(path) => path,
            Err(err) => return Err(candidates.explain(&leaf, &err, input.domain)),
        }
    };

    let mut next_check =
        leaf.not_after.saturating_sub(input.min_validity).unwrap_or(Timestamp::MIN).min(leaf.not_after);
    for (below, der) in path_der.iter().enumerate() {
        let ca = ParsedCert::parse(der)?;
        ca.check_v3()?;
        ca.check_signature_algorithm()?;
        ca.check_key()?;
        if below + 1 == path_der.len() {
            // webpki does not look at the anchor's dates; MOSIP drops expired anchors.
            ca.check_validity(input.now)?;
        }
        ca.check_is_ca()?;
        // webpki enforces pathLenConstraint on intermediates only, not on the trust anchor;
        // `below` is the number of CAs between this one and the partner certificate.
        if let Some(limit) = ca.path_len_constraint()
            && below as u64 > u64::from(limit)
        {
            return Err(CertError::PathLengthExceeded {
                subject: leaf.subject.clone(),
                detail: path_len_detail(&ca.subject, limit, below),
            });
        }
        next_check = next_check.min(ca.not_after);
    }

    let subject = leaf.subject_parts();
    if let Some(expected) = input.organization
        && subject.o.as_deref() != Some(expected)
    {
        return Err(CertError::OrganizationMismatch { expected: expected.to_string(), found: subject.o.clone() });
    }

    let (summary, spki_der, not_after) = (leaf.summary(), leaf.spki_der().to_vec(), leaf.not_after);
    Ok(ValidatedCertificate { summary, leaf_der, spki_der, subject, not_after, path_der, next_check })
}

/// Accepts any extended key usage. MOSIP does not check EKU (mosip-pms.md §3.2) and partner
/// keys sign and encrypt application data rather than TLS, so no single purpose is right; a
/// fixed `KeyUsage::required_if_present(oid)` would reject legitimate certificates whose EKU
/// names another purpose, for a reason no condition can express.
struct AnyExtendedKeyUsage;

impl webpki::ExtendedKeyUsageValidator for AnyExtendedKeyUsage {
    fn validate(&self, _purposes: webpki::KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

/// Runs rustls-webpki; returns the CA path (issuer first, root last) as DER.
fn webpki_path(
    leaf_der: &[u8],
    input: &PartnerCertInput<'_>,
    helpers: &[Vec<u8>],
) -> Result<Vec<Vec<u8>>, webpki::Error> {
    let leaf = CertificateDer::from(leaf_der);
    let end_entity = webpki::EndEntityCert::try_from(&leaf)?;
    let root_ders: Vec<CertificateDer<'_>> =
        input.trusted_roots.iter().map(|d| CertificateDer::from(d.as_slice())).collect();
    // Roots webpki cannot read are skipped: the controller only passes Ready roots anyway.
    let (anchor_index, anchors): (Vec<usize>, Vec<_>) = root_ders
        .iter()
        .enumerate()
        .filter_map(|(i, der)| webpki::anchor_from_trusted_cert(der).ok().map(|a| (i, a)))
        .unzip();
    // Partner-supplied certificates are only ever intermediates, never anchors.
    let intermediates: Vec<CertificateDer<'_>> =
        input.trusted_intermediates.iter().chain(helpers).map(|d| CertificateDer::from(d.as_slice())).collect();
    let seconds = u64::try_from(input.now.as_second()).unwrap_or(0);
    let time = UnixTime::since_unix_epoch(Duration::from_secs(seconds));
    let path = end_entity.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &intermediates,
        time,
        AnyExtendedKeyUsage,
        None,
        None,
    )?;
    let mut out: Vec<Vec<u8>> = path.intermediate_certificates().map(|c| c.der().to_vec()).collect();
    let anchor = anchors
        .iter()
        .position(|a| std::ptr::eq(a, path.anchor()))
        .and_then(|pos| anchor_index.get(pos))
        .and_then(|&i| input.trusted_roots.get(i));
    match anchor {
        Some(der) => out.push(der.clone()),
        // Unreachable in practice: webpki returns one of the anchors we gave it.
        None => return Err(webpki::Error::UnknownIssuer),
    }
    Ok(out)
}

/// Where a certificate offered for path building came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    TrustedRoot,
    TrustedIntermediate,
    Supplied,
}

/// Every certificate offered for path building, parsed, to explain webpki's errors.
struct Candidates<'a> {
    certs: Vec<(Source, ParsedCert<'a>)>,
}

impl<'a> Candidates<'a> {
    fn new(input: &PartnerCertInput<'a>, helpers: &'a [Vec<u8>]) -> Result<Self, CertError> {
        let mut certs = Vec::new();
        let sources = [
            (Source::TrustedRoot, input.trusted_roots),
            (Source::TrustedIntermediate, input.trusted_intermediates),
            (Source::Supplied, helpers),
        ];
        for (source, ders) in sources {
            for der in ders {
                match ParsedCert::parse(der) {
                    Ok(cert) => certs.push((source, cert)),
                    // A broken partner-supplied certificate is the partner's to fix.
                    Err(err) if source == Source::Supplied => {
                        return Err(CertError::malformed(format!(
                            "a certificate in the partner-supplied chain cannot be read ({err})"
                        )));
                    }
                    // A broken trust-set entry cannot be on any path; ignore it.
                    Err(_) => {}
                }
            }
        }
        Ok(Candidates { certs })
    }

    /// The chain by issuer name from `leaf` upward: trusted roots first, then trusted
    /// intermediates, then supplied ones; stops at a trusted root, a self-signed certificate,
    /// a missing issuer (returned) or a loop.
    fn walk<'s>(&'s self, leaf: &'s ParsedCert<'a>) -> (Vec<&'s (Source, ParsedCert<'a>)>, Option<&'s ParsedCert<'a>>) {
        let mut walk: Vec<&(Source, ParsedCert<'a>)> = Vec::new();
        let mut current: &ParsedCert<'a> = leaf;
        loop {
            let next = self.certs.iter().find(|(_, c)| {
                c.subject_raw() == current.issuer_raw()
                    && !walk.iter().any(|(_, seen)| std::ptr::eq(seen, c))
                    && !std::ptr::eq(c, current)
            });
            let Some(entry) = next else {
                let dead_end = if walk.last().is_some_and(|(s, c)| *s == Source::TrustedRoot || c.is_self_signed()) {
                    None
                } else {
                    Some(current)
                };
                return (walk, dead_end);
            };
            walk.push(entry);
            if entry.0 == Source::TrustedRoot || entry.1.is_self_signed() || walk.len() > 16 {
                return (walk, None);
            }
            current = &entry.1;
        }
    }

    /// Turns a webpki error into the most useful [`CertError`], naming the certificate at fault.
    #[allow(deprecated)] // webpki still returns the context-free variants in some paths.
    fn explain(&self, leaf: &ParsedCert<'a>, err: &webpki::Error, domain: PartnerDomain) -> CertError {
        use webpki::Error as E;
        let (walk, dead_end) = self.walk(leaf);
        let untrusted = |detail: String| CertError::UntrustedChain { subject: leaf.subject.clone(), domain, detail };
        // A weak or unsupported CA on the name path explains signature failures best.
        let weakness =
            || walk.iter().find_map(|(_, c)| c.check_signature_algorithm().and_then(|_| c.check_key()).err());
        match err {
            E::UnknownIssuer | E::NameConstraintViolation => {
                if let Some((Source::Supplied, root)) = walk.last().map(|e| (e.0, &e.1))
                    && root.is_self_signed()
                {
                    return untrusted(supplied_root_detail(&root.subject, domain));
                }
                if let Some(cert) = dead_end {
                    return untrusted(missing_issuer_detail(&cert.issuer, &cert.subject, domain));
                }
                if matches!(err, E::NameConstraintViolation) {
                    return untrusted(
                        "a CA on the path has name constraints that exclude the certificate's \
                         names; have it issued within the CA's permitted names"
                            .into(),
                    );
                }
                untrusted(format!(
                    "no valid path to a Ready root CA of the {domain} domain was found; check \
                     that the CA certificates on the path are Ready CACertificates of the \
                     {domain} domain or included in the partner's chain"
                ))
            }
            E::InvalidSignatureForPublicKey
            | E::SignatureAlgorithmMismatch
            | E::UnsupportedSignatureAlgorithm
            | E::UnsupportedSignatureAlgorithmContext(_)
            | E::UnsupportedSignatureAlgorithmForPublicKey
            | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
                if let Some(weak) = weakness() {
                    return weak;
                }
                let mut child = leaf;
                for (_, parent) in &walk {
                    if !child.is_signed_by(parent) {
                        return CertError::InvalidSignature {
                            subject: child.subject.clone(),
                            issuer: parent.subject.clone(),
                        };
                    }
                    child = parent;
                }
                CertError::InvalidSignature { subject: leaf.subject.clone(), issuer: leaf.issuer.clone() }
            }
            E::EndEntityUsedAsCa => match walk.iter().find(|(_, c)| !c.is_ca_flagged()) {
                Some((_, ca)) => CertError::NotACertificateAuthority {
                    subject: ca.subject.clone(),
                    detail: "is used as a CA on the path, but it is not a CA certificate \
                             (basicConstraints CA:TRUE is missing); use the real issuing CA's \
                             certificate"
                        .into(),
                },
                None => CertError::NotACertificateAuthority {
                    subject: leaf.issuer.clone(),
                    detail: "is used as a CA on the path, but it is not a CA certificate".into(),
                },
            },
            E::PathLenConstraintViolated | E::MaximumPathDepthExceeded => {
                // walk[k] has k CAs between itself and the partner certificate.
                let violated = walk.iter().enumerate().find_map(|(below, (_, ca))| {
                    ca.path_len_constraint()
                        .filter(|&limit| (below as u64) > u64::from(limit))
                        .map(|limit| (ca, limit, below))
                });
                let detail = match violated {
                    Some((ca, limit, below)) => path_len_detail(&ca.subject, limit, below),
                    None if matches!(err, E::MaximumPathDepthExceeded) => {
                        "the path has more intermediate CAs than the validator accepts (6)".into()
                    }
                    None => "a CA's pathLenConstraint is exceeded".into(),
                };
                CertError::PathLengthExceeded { subject: leaf.subject.clone(), detail }
            }
            E::CertExpired { not_after, .. } => {
                let found = walk.iter().find(|(_, c)| unix(c.not_after) == not_after.as_secs());
                CertError::Expired {
                    subject: found.map_or_else(|| "a CA on the path".into(), |(_, c)| c.subject.clone()),
                    not_after: found.map_or_else(|| timestamp(*not_after), |(_, c)| c.not_after),
                }
            }
            E::CertNotValidYet { not_before, .. } => {
                let found = walk.iter().find(|(_, c)| unix(c.not_before) == not_before.as_secs());
                CertError::NotYetValid {
                    subject: found.map_or_else(|| "a CA on the path".into(), |(_, c)| c.subject.clone()),
                    not_before: found.map_or_else(|| timestamp(*not_before), |(_, c)| c.not_before),
                }
            }
            E::UnsupportedCertVersion => walk
                .iter()
                .find_map(|(_, c)| c.check_v3().err())
                .unwrap_or_else(|| CertError::malformed("a certificate on the path is not X.509 v3")),
            E::UnsupportedCriticalExtension => CertError::malformed(
                "a certificate on the path has a critical extension the validator does not \
                 support; reissue it without that extension or mark it non-critical",
            ),
            E::EmptyEkuExtension => {
                CertError::malformed("a certificate on the path has an empty extendedKeyUsage extension")
            }
            E::InvalidCertValidity => CertError::malformed("a certificate on the path has notBefore after notAfter"),
            other => untrusted(format!(
                "path validation failed ({other}); check the CA certificates of the {domain} \
                 domain and the partner's chain"
            )),
        }
    }
}

fn supplied_root_detail(root: &str, domain: PartnerDomain) -> String {
    format!(
        "the partner-supplied chain ends at the self-signed root \"{root}\", which is not a Ready \
         root CA of the {domain} domain; partner-supplied certificates are never trust anchors: \
         register that root as a CACertificate of the {domain} domain if it should be trusted"
    )
}

fn missing_issuer_detail(issuer: &str, subject: &str, domain: PartnerDomain) -> String {
    format!(
        "no Ready CA certificate of the {domain} domain, and none in the partner-supplied chain, \
         has the subject \"{issuer}\" (issuer of \"{subject}\"); add that CA as a CACertificate \
         of the {domain} domain, or include it in the partner's chain if it is an intermediate"
    )
}

fn path_len_detail(ca: &str, limit: u32, below: usize) -> String {
    format!(
        "\"{ca}\" allows at most {limit} intermediate CA(s) below it (pathLenConstraint), but \
         {below} stand between it and the partner certificate"
    )
}

fn timestamp(t: UnixTime) -> Timestamp {
    i64::try_from(t.as_secs()).ok().and_then(|s| Timestamp::from_second(s).ok()).unwrap_or(Timestamp::MAX)
}

fn unix(t: Timestamp) -> u64 {
    u64::try_from(t.as_second()).unwrap_or(0)
}
