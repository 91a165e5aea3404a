//! Evaluation of the CA set: which CACertificates are Ready roots and intermediates.
//!
//! A CA is judged against the whole set because an intermediate is only as good as the Ready
//! CAs above it. Signatures are checked with x509-parser one link at a time, and readiness is
//! propagated from the roots to a fixed point, so input order never matters and cycles end.

use super::cert::{CertSummary, ParsedCert, der_to_pem, parse_pem_certificates, whole_second};
use super::error::{CertError, reason};
use super::path::structure;
use super::profile::{self, Role};
use crate::api::{CaRole, PartnerDomain};
use jiff::Timestamp;
use std::sync::{Arc, Mutex};

/// One CA certificate to evaluate, as found in a CACertificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaInput {
    /// A name for messages and for matching verdicts to inputs (the object name).
    pub name: String,
    /// The domain the CA is trusted for.
    pub domain: PartnerDomain,
    /// The PEM text; exactly one certificate is expected.
    pub pem: String,
}

/// The verdict on one [`CaInput`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaVerdict {
    /// The input's name.
    pub name: String,
    /// Whether the CA may be used as an anchor (Root) or intermediate of its domain.
    pub ready: bool,
    /// Root if self-signed, Intermediate otherwise; `None` when the certificate is unreadable.
    pub role: Option<CaRole>,
    /// Condition reason: `Trusted` when ready, otherwise one of the [`reason`] constants.
    pub reason: &'static str,
    /// A message a person can act on.
    pub message: String,
    /// The certificate's summary, when it can be read.
    pub summary: Option<CertSummary>,
    /// When the verdict may change by the passage of time alone: the certificate's notBefore if
    /// in the future, otherwise the earliest notAfter among it and the CAs it depends on (the
    /// verdict still holds at that instant and may change right after it). `None` when time
    /// alone cannot change it.
    pub next_check: Option<Timestamp>,
}

/// Evaluates every CA; the result has one verdict per input, in input order.
///
/// Rules, in the order a failure is reported:
/// exactly one readable certificate (`MalformedCertificate`, `MultipleCertificates`); X.509 v3
/// (`NotV3`); signature algorithm (`WeakSignature`); key (`WeakKey`); currently valid
/// (`NotYetValid`, `CertificateExpired`); a CA with keyCertSign (`NotACertificateAuthority`);
/// the RFC 5280 profile, anchor rules for self-signed ones (`NonConformingCertificate`,
/// `UnsupportedCriticalExtension`). Then a self-signed certificate is a Ready Root; any other is an Intermediate, Ready only when
/// a Ready CA of the same domain with its issuer's name verifies its signature and that CA's
/// pathLenConstraint allows one more CA below it (`UntrustedChain`, `PathLengthExceeded`).
///
/// Results are memoised (a few CA sets, compared in full) while time alone cannot
/// change them, so the controller may call this, or [`trusted_sets`], for every partner without
/// re-verifying a large trust store each time.
pub fn evaluate_cas(cas: &[CaInput], now: Timestamp) -> Vec<CaVerdict> {
    evaluation(cas, now).verdicts.clone()
}

/// One evaluation of a CA set, valid for every time in `from..=until`.
struct Evaluation {
    /// The inputs evaluated (compared in full on lookup: cheaper than hashing them).
    key: Vec<CaInput>,
    from: Timestamp,
    until: Option<Timestamp>,
    verdicts: Vec<CaVerdict>,
    /// DER of each input that holds exactly one certificate.
    ders: Vec<Option<Vec<u8>>>,
}

/// How many evaluated CA sets are remembered (a controller sees one set, tests and the CLI a
/// few).
const CACHED_SETS: usize = 4;
static CACHE: Mutex<Vec<Arc<Evaluation>>> = Mutex::new(Vec::new());

fn evaluation(cas: &[CaInput], now: Timestamp) -> Arc<Evaluation> {
    let now = whole_second(now);
    let cache = CACHE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let hit = cache.iter().find(|e| e.key == cas && e.from <= now && e.until.is_none_or(|until| now <= until));
    if let Some(hit) = hit {
        return Arc::clone(hit);
    }
    drop(cache);
    let (verdicts, ders, until) = evaluate_uncached(cas, now);
    let fresh = Arc::new(Evaluation { key: cas.to_vec(), from: now, until, verdicts, ders });
    let mut cache = CACHE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    cache.retain(|e| e.key != cas);
    cache.insert(0, Arc::clone(&fresh));
    cache.truncate(CACHED_SETS);
    fresh
}

/// The verdicts, the DER per input, and the last instant at which they certainly still hold:
/// conservatively, just before the earliest future notBefore or notAfter of any certificate.
fn evaluate_uncached(cas: &[CaInput], now: Timestamp) -> (Vec<CaVerdict>, Vec<Option<Vec<u8>>>, Option<Timestamp>) {
    let ders: Vec<Result<Vec<u8>, Unreadable>> = cas.iter().map(single_der).collect();
    let parsed: Vec<Result<ParsedCert<'_>, Unreadable>> = ders
        .iter()
        .map(|d| match d {
            Ok(der) => ParsedCert::parse(der).map_err(Unreadable::Cert),
            Err(e) => Err(e.clone()),
        })
        .collect();
    let self_signed: Vec<bool> = parsed.iter().map(|c| c.as_ref().is_ok_and(|c| c.is_self_signed())).collect();

    // Individual checks first: a CA that fails them is decided and never serves as an issuer.
    let individual: Vec<Result<(), CertError>> = parsed
        .iter()
        .zip(&self_signed)
        .map(|(cert, &self_signed)| match cert {
            Ok(cert) => {
                cert.check_v3()?;
                cert.check_signature_algorithm()?;
                cert.check_key()?;
                cert.check_validity(now)?;
                cert.check_is_ca()?;
                let role = if self_signed { Role::Anchor } else { Role::Intermediate };
                profile::check_profile(cert, role, self_signed)?;
                structure(cert)
            }
            // Unreadable inputs are reported from `parsed`; nothing to check here.
            Err(_) => Ok(()),
        })
        .collect();
    let usable = |j: usize| parsed[j].is_ok() && individual[j].is_ok();
    // Strictly before a future notBefore (a CA becomes valid at that instant); a notAfter is
    // inclusive, so the verdict still holds at it.
    let until = parsed
        .iter()
        .flatten()
        .flat_map(|c| {
            [
                (c.not_before > now)
                    .then(|| c.not_before.checked_sub(jiff::SignedDuration::from_secs(1)).ok())
                    .flatten(),
                (c.not_after >= now).then_some(c.not_after),
            ]
        })
        .flatten()
        .min();

    // issuers[i]: the usable CAs of i's domain that name i's issuer and whose key verifies i's
    // signature. Computed once: signature checks are the expensive part; candidates are found
    // by name through an index, so a large store costs no n² name comparisons.
    let mut by_subject: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
    for (j, cert) in parsed.iter().enumerate() {
        if let Ok(cert) = cert {
            by_subject.entry(cert.subject_key.as_str()).or_default().push(j);
        }
    }
    let issuers: Vec<Vec<usize>> = (0..cas.len())
        .map(|i| {
            let Ok(cert) = &parsed[i] else {
                return Vec::new();
            };
            if !usable(i) || self_signed[i] {
                return Vec::new();
            }
            by_subject
                .get(cert.issuer_key.as_str())
                .into_iter()
                .flatten()
                .copied()
                .filter(|&j| j != i && usable(j) && cas[j].domain == cas[i].domain)
                .filter(|&j| matches!(&parsed[j], Ok(p) if cert.is_signed_by(p)))
                .collect()
        })
        .collect();

    let mut reach: Vec<Option<Reach>> = (0..cas.len())
        .map(|i| match &parsed[i] {
            Ok(cert) if usable(i) && self_signed[i] => Some(Reach { budget: budget_of(cert), until: cert.not_after }),
            _ => None,
        })
        .collect();
    propagate(&parsed, &self_signed, &issuers, &mut reach);

    let context = Context { cas, parsed: &parsed, individual: &individual, reach: &reach };
    let verdicts = cas
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let cert = match &parsed[i] {
                Ok(cert) => cert,
                Err(unreadable) => {
                    return CaVerdict {
                        name: input.name.clone(),
                        ready: false,
                        role: None,
                        reason: unreadable.reason(),
                        message: unreadable.to_string(),
                        summary: None,
                        next_check: None,
                    };
                }
            };
            let role = if self_signed[i] { CaRole::Root } else { CaRole::Intermediate };
            let mut verdict = CaVerdict {
                name: input.name.clone(),
                ready: false,
                role: Some(role),
                reason: reason::TRUSTED,
                message: String::new(),
                summary: Some(cert.summary()),
                next_check: time_boundary(cert, now),
            };
            if let Err(err) = &individual[i] {
                verdict.reason = err.reason();
                verdict.message = err.to_string();
            } else if let Some(r) = &reach[i] {
                verdict.ready = true;
                verdict.message = trusted_message(input.domain, cert, role);
                verdict.next_check = Some(r.until);
            } else {
                (verdict.reason, verdict.message) = context.explain_unreached(i);
                // A not-yet-valid CA of the domain becoming valid may complete the chain.
                let next_start = cas
                    .iter()
                    .zip(&parsed)
                    .filter(|(other, _)| other.domain == input.domain)
                    .filter_map(|(_, c)| c.as_ref().ok().map(|c| c.not_before))
                    .filter(|nb| *nb > now)
                    .min();
                verdict.next_check = [verdict.next_check, next_start].into_iter().flatten().min();
            }
            verdict
        })
        .collect();
    let ders = ders.into_iter().map(Result::ok).collect();
    (verdicts, ders, until)
}

/// The DER of the Ready roots and Ready intermediates of `domain`, evaluated exactly as
/// [`evaluate_cas`] does over the whole set. The controller and the `verify` CLI both use this,
/// so they agree on what is trusted.
pub fn trusted_sets(cas: &[CaInput], domain: PartnerDomain, now: Timestamp) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut roots = Vec::new();
    let mut intermediates = Vec::new();
    let evaluation = evaluation(cas, now);
    for ((input, verdict), der) in cas.iter().zip(&evaluation.verdicts).zip(&evaluation.ders) {
        if !verdict.ready || input.domain != domain {
            continue;
        }
        let Some(der) = der.clone() else { continue };
        match verdict.role {
            Some(CaRole::Root) => roots.push(der),
            Some(CaRole::Intermediate) => intermediates.push(der),
            None => {}
        }
    }
    (roots, intermediates)
}

/// Why a CA input yields no certificate to judge.
#[derive(Debug, Clone, thiserror::Error)]
enum Unreadable {
    #[error(transparent)]
    Cert(CertError),
    #[error(
        "the CA certificate PEM holds {0} certificates, but exactly one is expected; create \
             one CACertificate per CA certificate"
    )]
    Multiple(usize),
}

impl Unreadable {
    fn reason(&self) -> &'static str {
        match self {
            Unreadable::Cert(err) => err.reason(),
            Unreadable::Multiple(_) => reason::MULTIPLE_CERTIFICATES,
        }
    }
}

/// The one certificate of a CA input.
fn single_der(input: &CaInput) -> Result<Vec<u8>, Unreadable> {
    let ders = parse_pem_certificates(&input.pem).map_err(Unreadable::Cert)?;
    match <[Vec<u8>; 1]>::try_from(ders) {
        Ok([der]) => Ok(der),
        Err(ders) => Err(Unreadable::Multiple(ders.len())),
    }
}

/// When a verdict based on this certificate's own dates may change by time alone.
fn time_boundary(cert: &ParsedCert<'_>, now: Timestamp) -> Option<Timestamp> {
    if now < cert.not_before {
        Some(cert.not_before)
    } else if now <= cert.not_after {
        Some(cert.not_after)
    } else {
        None
    }
}

fn trusted_message(domain: PartnerDomain, cert: &ParsedCert<'_>, role: CaRole) -> String {
    match role {
        CaRole::Root => format!(
            "self-signed root CA \"{}\" is trusted for the {domain} domain until {}",
            cert.subject, cert.not_after
        ),
        CaRole::Intermediate => format!(
            "intermediate CA \"{}\" chains to a Ready root of the {domain} domain; trusted until {}",
            cert.subject, cert.not_after
        ),
    }
}

/// A CA known to chain to a Ready root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reach {
    /// How many more CAs may follow below this one (`u32::MAX`: unconstrained).
    budget: u32,
    /// The earliest notAfter among the CAs this readiness depends on. Conservative on purpose:
    /// re-checking early is harmless, missing a change is not.
    until: Timestamp,
}

fn budget_of(cert: &ParsedCert<'_>) -> u32 {
    cert.path_len_constraint().unwrap_or(u32::MAX)
}

/// Propagates readiness from the roots down to intermediates until nothing changes.
///
/// Each round recomputes every intermediate from its Ready issuers. The set of Ready CAs only
/// grows, budgets only grow and `until` only shrinks, over finite sets of values, so this
/// reaches a fixed point whatever the input order, cycles included. The round cap is a guard.
fn propagate(
    parsed: &[Result<ParsedCert<'_>, Unreadable>],
    self_signed: &[bool],
    issuers: &[Vec<usize>],
    reach: &mut [Option<Reach>],
) {
    let max_rounds = issuers.len().saturating_mul(issuers.len()).saturating_add(2);
    for _ in 0..max_rounds {
        let mut changed = false;
        for i in 0..issuers.len() {
            let Ok(cert) = &parsed[i] else { continue };
            if self_signed[i] {
                continue;
            }
            let mut next: Option<Reach> = None;
            for &j in &issuers[i] {
                let Some(parent) = reach[j] else { continue };
                if parent.budget == 0 {
                    continue;
                }
                let inherited = match parent.budget {
                    u32::MAX => u32::MAX,
                    b => b - 1,
                };
                let candidate =
                    Reach { budget: inherited.min(budget_of(cert)), until: parent.until.min(cert.not_after) };
                next = Some(match next {
                    None => candidate,
                    Some(r) => Reach { budget: r.budget.max(candidate.budget), until: r.until.min(candidate.until) },
                });
            }
            if next != reach[i] {
                reach[i] = next;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
}

/// What `explain_unreached` needs to know about the whole set.
struct Context<'s, 'c> {
    cas: &'s [CaInput],
    parsed: &'s [Result<ParsedCert<'c>, Unreadable>],
    individual: &'s [Result<(), CertError>],
    reach: &'s [Option<Reach>],
}

impl Context<'_, '_> {
    /// Reason and message for an intermediate that passed its own checks but is not Ready.
    fn explain_unreached(&self, i: usize) -> (&'static str, String) {
        let domain = self.cas[i].domain;
        let Ok(cert) = &self.parsed[i] else {
            return (reason::MALFORMED_CERTIFICATE, "the certificate cannot be read".into());
        };
        let issuer = &cert.issuer;
        let untrusted = |detail: String| {
            let message = format!(
                "intermediate CA \"{}\" does not chain to a Ready root CA of the {domain} domain: \
                 {detail}",
                cert.subject
            );
            (reason::UNTRUSTED_CHAIN, message)
        };
        if cert.is_self_issued() {
            return untrusted(format!(
                "its issuer and subject are both \"{issuer}\" but its signature does not verify \
                 with its own key; the certificate is corrupt or was issued by another CA with \
                 the same name: upload an intact copy"
            ));
        }
        let named: Vec<usize> = (0..self.cas.len())
            .filter(|&j| j != i)
            .filter(|&j| matches!(&self.parsed[j], Ok(p) if cert.names_as_issuer(p)))
            .collect();
        let same_domain: Vec<usize> = named.iter().copied().filter(|&j| self.cas[j].domain == domain).collect();
        if same_domain.is_empty() {
            let mut others: Vec<&str> = named.iter().map(|&j| self.cas[j].domain.as_str()).collect();
            others.sort_unstable();
            others.dedup();
            if others.is_empty() {
                return untrusted(format!(
                    "no CA certificate with subject \"{issuer}\" (its issuer) exists for the \
                     {domain} domain; add the issuing CA, and the CAs above it up to a \
                     self-signed root, as CACertificates of the {domain} domain"
                ));
            }
            return untrusted(format!(
                "its issuer \"{issuer}\" exists only in the {} domain, and CA certificates are \
                 trusted per domain; add it, and the CAs above it, as CACertificates of the \
                 {domain} domain too",
                others.join(" and ")
            ));
        }
        let signer = same_domain.iter().copied().find(|&j| matches!(&self.parsed[j], Ok(p) if cert.is_signed_by(p)));
        let Some(j) = signer else {
            let names: Vec<&str> = same_domain.iter().map(|&j| self.cas[j].name.as_str()).collect();
            return untrusted(format!(
                "the {domain} CA named \"{issuer}\" ({}) did not sign it: the signature does not \
                 verify with its key; upload the CA certificate that actually issued it",
                names.join(", ")
            ));
        };
        if self.reach[j].is_some_and(|r| r.budget == 0) {
            return (
                reason::PATH_LENGTH_EXCEEDED,
                format!(
                    "intermediate CA \"{}\" is issued by \"{issuer}\" ({}), whose \
                     pathLenConstraint allows no further CA below it; use an issuer whose \
                     pathLenConstraint permits this intermediate, or issue partner certificates \
                     from \"{issuer}\" directly",
                    cert.subject, self.cas[j].name
                ),
            );
        }
        let why = match (&self.parsed[j], &self.individual[j]) {
            (Ok(_), Err(err)) => format!("is not Ready ({}): {err}", err.reason()),
            _ => "does not chain to a Ready root of the domain either".to_string(),
        };
        untrusted(format!("its issuer \"{issuer}\" ({}) is present but {why}; fix that CA first", self.cas[j].name))
    }
}

/// Splits a PEM bundle into one [`CaInput`] per certificate, named `name` when the bundle holds
/// one certificate and `name#1`, `name#2`, … otherwise. For callers that receive bundles (the
/// `verify` CLI); a CACertificate itself must hold exactly one certificate.
pub fn ca_inputs_from_bundle(name: &str, domain: PartnerDomain, pem: &str) -> Result<Vec<CaInput>, CertError> {
    let ders = parse_pem_certificates(pem)?;
    let several = ders.len() > 1;
    Ok(ders
        .iter()
        .enumerate()
        .map(|(i, der)| CaInput {
            name: if several { format!("{name}#{}", i + 1) } else { name.to_string() },
            domain,
            pem: der_to_pem(der),
        })
        .collect())
}
