//! RFC 5280 profile rules that concern one certificate on its own, and name constraints.
//!
//! `check_profile` is applied to every certificate that takes part in a decision: CACertificates
//! in CA evaluation, and the partner certificate, its path CAs and the trust anchor in partner
//! validation. Each failure names the RFC 5280 section. `check_name_constraints` applies one
//! CA's nameConstraints to a certificate below it (§4.2.1.10, §6.1.3 (b)).

use super::cert::{ParsedCert, attribute_string, rdn_key};
use super::der;
use super::error::CertError;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::x509::X509Name;

/// What a certificate is used as; some rules depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A trusted, self-signed root.
    Anchor,
    /// A CA between the partner certificate and the anchor (or a CACertificate that is not
    /// self-signed).
    Intermediate,
    /// The partner certificate (which may itself be a CA).
    Partner,
}

/// Extensions this validator understands; any other extension marked critical is rejected
/// (§4.2: "A certificate-using system MUST reject the certificate if it encounters a critical
/// extension it does not recognize"). Revocation extensions (CRL distribution points, freshest
/// CRL, authority information access) are not processed, so they are not in this list and are
/// refused when critical.
const KNOWN_EXTENSIONS: [&str; 12] = [
    "2.5.29.14", // subjectKeyIdentifier
    "2.5.29.15", // keyUsage
    "2.5.29.17", // subjectAltName
    "2.5.29.18", // issuerAltName (informational)
    "2.5.29.19", // basicConstraints
    "2.5.29.30", // nameConstraints
    "2.5.29.32", // certificatePolicies
    "2.5.29.33", // policyMappings
    "2.5.29.35", // authorityKeyIdentifier
    "2.5.29.36", // policyConstraints
    "2.5.29.37", // extendedKeyUsage (any purpose is accepted)
    "2.5.29.54", // inhibitAnyPolicy
];

/// The RFC 5280 rules on one certificate, in the order reported. `self_signed` is whether the
/// certificate is self-signed (the caller usually knows it already; it exempts the certificate
/// from the authorityKeyIdentifier requirement).
pub(crate) fn check_profile(cert: &ParsedCert<'_>, role: Role, self_signed: bool) -> Result<(), CertError> {
    let bad = |section: &'static str, detail: String| CertError::NonConforming {
        subject: cert.subject.clone(),
        section,
        detail,
    };
    let x = &cert.x509;
    let tbs = &x.tbs_certificate;

    // §4.1.1.2: the outer signatureAlgorithm equals the TBSCertificate signature field.
    let same_alg = x.signature_algorithm.algorithm == tbs.signature.algorithm
        && x.signature_algorithm.parameters.as_ref().map(|p| (p.tag(), p.data))
            == tbs.signature.parameters.as_ref().map(|p| (p.tag(), p.data));
    if !same_alg {
        return Err(bad(
            "4.1.1.2",
            "its signatureAlgorithm differs from the signature field inside the signed \
             certificate body"
                .into(),
        ));
    }

    // §4.1.2.2: serialNumber positive, at most 20 octets.
    let serial = x.raw_serial();
    if serial.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(bad("4.1.2.2", "its serial number is negative; serial numbers must be positive".into()));
    }
    if serial.iter().all(|b| *b == 0) {
        return Err(bad("4.1.2.2", "its serial number is 0; serial numbers must be positive".into()));
    }
    if serial.len() > 20 {
        return Err(bad(
            "4.1.2.2",
            format!("its serial number is {} octets long; at most 20 are allowed", serial.len()),
        ));
    }

    // §4.1.2.4: a non-empty issuer.
    if x.issuer().iter_rdn().next().is_none() {
        return Err(bad("4.1.2.4", "its issuer name is empty".into()));
    }

    // §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, no fractional seconds.
    for (field, time) in [("notBefore", &x.validity().not_before), ("notAfter", &x.validity().not_after)] {
        let dt = time.to_datetime();
        if dt.nanosecond() != 0 {
            return Err(bad("4.1.2.5", format!("its {field} carries fractional seconds")));
        }
        let generalized_expected = dt.year() >= 2050;
        if time.is_generalizedtime() != generalized_expected {
            let (used, expected) =
                if generalized_expected { ("UTCTime", "GeneralizedTime") } else { ("GeneralizedTime", "UTCTime") };
            return Err(bad(
                "4.1.2.5",
                format!("its {field} ({}) is encoded as {used}; dates in that year must be {expected}", dt.year()),
            ));
        }
    }

    // §4.1.2.8: no unique identifiers.
    if tbs.issuer_uid.is_some() || tbs.subject_uid.is_some() {
        return Err(bad("4.1.2.8", "it carries issuerUniqueID/subjectUniqueID, which must not be used".into()));
    }

    // §4.2: each extension at most once.
    let exts = x.extensions();
    for (i, e) in exts.iter().enumerate() {
        if exts[..i].iter().any(|o| o.oid == e.oid) {
            return Err(bad("4.2", format!("it has the extension {} more than once", ext_name(&e.oid.to_id_string()))));
        }
    }

    let is_ca = cert.is_ca_flagged();
    let mut has_aki_key_id = false;
    let mut has_ski = false;
    let mut san: Option<(bool, usize)> = None;
    for e in exts {
        let oid = e.oid.to_id_string();
        let name = ext_name(&oid);
        if !KNOWN_EXTENSIONS.contains(&oid.as_str()) {
            if e.critical {
                return Err(CertError::UnsupportedCriticalExtension { subject: cert.subject.clone(), extension: name });
            }
            continue;
        }
        if let ParsedExtension::ParseError { .. } = e.parsed_extension() {
            return Err(bad("4.2", format!("its {name} extension cannot be read")));
        }
        match (oid.as_str(), e.parsed_extension()) {
            ("2.5.29.35", ParsedExtension::AuthorityKeyIdentifier(aki)) => {
                if e.critical {
                    return Err(bad("4.2.1.1", "its authorityKeyIdentifier is marked critical; it must not be".into()));
                }
                has_aki_key_id = aki.key_identifier.as_ref().is_some_and(|k| !k.0.is_empty());
            }
            ("2.5.29.14", ParsedExtension::SubjectKeyIdentifier(ski)) => {
                if e.critical {
                    return Err(bad("4.2.1.2", "its subjectKeyIdentifier is marked critical; it must not be".into()));
                }
                has_ski = !ski.0.is_empty();
            }
            ("2.5.29.15", ParsedExtension::KeyUsage(ku)) => {
                if ku.flags == 0 {
                    return Err(bad("4.2.1.3", "its keyUsage extension has no bit set".into()));
                }
                if ku.key_cert_sign() && !is_ca {
                    return Err(bad(
                        "4.2.1.3",
                        "its keyUsage asserts keyCertSign but basicConstraints cA is not TRUE".into(),
                    ));
                }
            }
            ("2.5.29.19", ParsedExtension::BasicConstraints(bc)) => {
                if bc.ca && !e.critical {
                    return Err(bad(
                        "4.2.1.9",
                        "it is a CA certificate (cA TRUE) but its basicConstraints extension is not \
                         marked critical"
                            .into(),
                    ));
                }
                if !bc.ca && bc.path_len_constraint.is_some() {
                    return Err(bad("4.2.1.9", "it has a pathLenConstraint without cA TRUE".into()));
                }
            }
            ("2.5.29.30", _) => {
                if !is_ca {
                    return Err(bad("4.2.1.10", "it has nameConstraints but is not a CA certificate".into()));
                }
                if !e.critical {
                    return Err(bad("4.2.1.10", "its nameConstraints extension is not marked critical".into()));
                }
                let nc = der::name_constraints(e.value).map_err(|d| bad("4.2.1.10", d))?;
                check_name_constraints_syntax(&nc).map_err(|d| bad("4.2.1.10", d))?;
            }
            ("2.5.29.36", ParsedExtension::PolicyConstraints(pc)) => {
                if !is_ca {
                    return Err(bad("4.2.1.11", "it has policyConstraints but is not a CA certificate".into()));
                }
                if !e.critical {
                    return Err(bad("4.2.1.11", "its policyConstraints extension is not marked critical".into()));
                }
                if pc.require_explicit_policy.is_none() && pc.inhibit_policy_mapping.is_none() {
                    return Err(bad("4.2.1.11", "its policyConstraints extension is an empty sequence".into()));
                }
            }
            ("2.5.29.54", _) if !e.critical => {
                return Err(bad("4.2.1.14", "its inhibitAnyPolicy extension is not marked critical".into()));
            }
            ("2.5.29.17", ParsedExtension::SubjectAlternativeName(names)) => {
                if names.general_names.is_empty() {
                    return Err(bad("4.2.1.6", "its subjectAltName extension is empty".into()));
                }
                for gn in &names.general_names {
                    check_san_entry(gn).map_err(|d| bad("4.2.1.6", d))?;
                }
                san = Some((e.critical, names.general_names.len()));
            }
            _ => {}
        }
    }

    // §4.2.1.1: every certificate except a self-signed one carries an AKI keyIdentifier.
    if !self_signed && !has_aki_key_id {
        return Err(bad(
            "4.2.1.1",
            "it has no authorityKeyIdentifier with a keyIdentifier, which every certificate \
             except a self-signed root must carry"
                .into(),
        ));
    }
    // §4.2.1.2: every CA certificate carries an SKI.
    if is_ca && !has_ski {
        return Err(bad("4.2.1.2", "it is a CA certificate without a subjectKeyIdentifier".into()));
    }
    // §4.1.2.6 / §4.2.1.6: an empty subject needs a critical SAN; a CA needs a subject.
    if x.subject().iter_rdn().next().is_none() {
        if is_ca || role != Role::Partner {
            return Err(bad("4.1.2.6", "it is a CA certificate with an empty subject name".into()));
        }
        match san {
            Some((true, _)) => {}
            Some((false, _)) => {
                return Err(bad("4.2.1.6", "its subject is empty but its subjectAltName is not critical".into()));
            }
            None => return Err(bad("4.1.2.6", "its subject is empty and it has no subjectAltName".into())),
        }
    }
    // An empty extendedKeyUsage is unusable (RFC 5280 §4.2.1.12 requires at least one purpose).
    if exts.iter().any(|e| e.oid.to_id_string() == "2.5.29.37" && e.value == [0x30, 0x00]) {
        return Err(CertError::malformed(format!(
            "certificate \"{}\" has an empty extendedKeyUsage extension",
            cert.subject
        )));
    }
    Ok(())
}

fn ext_name(oid: &str) -> String {
    let known = match oid {
        "2.5.29.14" => "subjectKeyIdentifier",
        "2.5.29.15" => "keyUsage",
        "2.5.29.16" => "privateKeyUsagePeriod",
        "2.5.29.17" => "subjectAltName",
        "2.5.29.18" => "issuerAltName",
        "2.5.29.19" => "basicConstraints",
        "2.5.29.30" => "nameConstraints",
        "2.5.29.31" => "cRLDistributionPoints",
        "2.5.29.32" => "certificatePolicies",
        "2.5.29.33" => "policyMappings",
        "2.5.29.35" => "authorityKeyIdentifier",
        "2.5.29.36" => "policyConstraints",
        "2.5.29.37" => "extendedKeyUsage",
        "2.5.29.46" => "freshestCRL",
        "2.5.29.54" => "inhibitAnyPolicy",
        "1.3.6.1.5.5.7.1.1" => "authorityInfoAccess",
        "1.3.6.1.5.5.7.1.11" => "subjectInfoAccess",
        _ => return format!("with OID {oid}"),
    };
    known.to_string()
}

/// Preferred name syntax (RFC 1034 §3.5 as amended by RFC 1123): labels of letters, digits and
/// hyphens, 1–63 octets, not starting or ending with a hyphen; at most 253 octets in all.
pub(crate) fn is_domain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// A SAN dNSName: preferred name syntax, optionally with a wildcard as the whole leftmost label
/// (RFC 6125 practice; RFC 5280 leaves wildcards to applications).
fn is_san_dns_name(name: &str) -> bool {
    match name.strip_prefix("*.") {
        Some(rest) => rest.contains('.') && is_domain_name(rest),
        None => is_domain_name(name),
    }
}

fn is_mailbox(name: &str) -> bool {
    match name.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && local.bytes().all(|b| b.is_ascii_graphic()) && is_domain_name(domain)
        }
        None => false,
    }
}

/// `scheme:rest` with an RFC 3986 scheme and a non-empty scheme-specific part (§4.2.1.6: no
/// relative URIs).
fn is_absolute_uri(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else { return false };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !uri.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}

fn check_san_entry(gn: &GeneralName<'_>) -> Result<(), String> {
    match gn {
        GeneralName::DNSName(name) if !is_san_dns_name(name) => {
            Err(format!("its subjectAltName dNSName {:?} is not a domain name in preferred name syntax", shorten(name)))
        }
        GeneralName::RFC822Name(name) if !is_mailbox(name) => {
            Err(format!("its subjectAltName rfc822Name {:?} is not a mailbox (local@domain)", shorten(name)))
        }
        GeneralName::IPAddress(ip) if ip.len() != 4 && ip.len() != 16 => {
            Err(format!("its subjectAltName iPAddress has {} octets; 4 (IPv4) or 16 (IPv6) are required", ip.len()))
        }
        GeneralName::URI(uri) if !is_absolute_uri(uri) => {
            Err(format!("its subjectAltName URI {:?} is not an absolute URI", shorten(uri)))
        }
        GeneralName::Invalid(..) => Err("its subjectAltName holds an entry that cannot be read".into()),
        _ => Ok(()),
    }
}

fn shorten(s: &str) -> String {
    s.chars().take(80).collect()
}

fn check_name_constraints_syntax(nc: &der::NameConstraints<'_>) -> Result<(), String> {
    if nc.permitted.is_none() && nc.excluded.is_none() {
        return Err("its nameConstraints extension is an empty sequence".into());
    }
    for subtree in nc.permitted.iter().chain(nc.excluded.iter()).flatten() {
        if subtree.minimum != 0 || subtree.has_maximum {
            return Err("a name constraint has a minimum other than 0 or a maximum; neither may be used".into());
        }
        match &subtree.base {
            GeneralName::DNSName(c) if !is_domain_name(c) => {
                return Err(format!(
                    "the dNSName constraint {:?} is not a domain name (no leading period, no wildcard)",
                    shorten(c)
                ));
            }
            GeneralName::RFC822Name(c) => {
                let ok = if c.contains('@') { is_mailbox(c) } else { is_domain_name(c.strip_prefix('.').unwrap_or(c)) };
                if !ok {
                    return Err(format!(
                        "the rfc822Name constraint {:?} is not a mailbox, host or .domain",
                        shorten(c)
                    ));
                }
            }
            GeneralName::URI(c) if !is_domain_name(c.strip_prefix('.').unwrap_or(c)) => {
                return Err(format!("the URI constraint {:?} is not a host or .domain", shorten(c)));
            }
            GeneralName::IPAddress(ip) => {
                let half = ip.len() / 2;
                if ip.len() != 8 && ip.len() != 32 {
                    return Err(format!(
                        "an iPAddress constraint has {} octets; 8 (IPv4) or 32 (IPv6) address+mask are required",
                        ip.len()
                    ));
                }
                let mask = &ip[half..];
                let bits: Vec<bool> = mask.iter().flat_map(|b| (0..8).rev().map(move |i| b & (1 << i) != 0)).collect();
                if bits.windows(2).any(|w| !w[0] && w[1]) {
                    return Err("an iPAddress constraint has a non-contiguous mask".into());
                }
            }
            GeneralName::Invalid(..) => return Err("a name constraint cannot be read".into()),
            _ => {}
        }
    }
    Ok(())
}

/// The names of one certificate that name constraints apply to (§4.2.1.10).
struct Names<'c, 'a> {
    directory: Vec<&'c X509Name<'a>>,
    email: Vec<String>,
    dns: Vec<&'a str>,
    ip: Vec<&'a [u8]>,
    uri: Vec<&'a str>,
    /// Other name forms present (otherName, x400Address, ediPartyName, registeredID).
    other: Vec<u8>,
}

fn names_of<'c, 'a>(cert: &'c ParsedCert<'a>) -> Names<'c, 'a> {
    let mut names = Names {
        directory: Vec::new(),
        email: Vec::new(),
        dns: Vec::new(),
        ip: Vec::new(),
        uri: Vec::new(),
        other: vec![],
    };
    let subject = &cert.x509.tbs_certificate.subject;
    if subject.iter_rdn().next().is_some() {
        names.directory.push(subject);
    }
    // emailAddress attributes of the subject are constrained as rfc822Names.
    for attr in subject.iter_by_oid(&x509_parser::oid_registry::OID_PKCS9_EMAIL_ADDRESS) {
        if let Some(v) = attribute_string(attr) {
            names.email.push(v);
        }
    }
    for e in cert.x509.extensions() {
        if let ParsedExtension::SubjectAlternativeName(san) = e.parsed_extension() {
            for gn in &san.general_names {
                match gn {
                    GeneralName::DirectoryName(n) => names.directory.push(n),
                    GeneralName::RFC822Name(m) => names.email.push(m.to_string()),
                    GeneralName::DNSName(d) => names.dns.push(*d),
                    GeneralName::IPAddress(ip) => names.ip.push(*ip),
                    GeneralName::URI(u) => names.uri.push(*u),
                    other => names.other.push(form(other)),
                }
            }
        }
    }
    names
}

fn form(gn: &GeneralName<'_>) -> u8 {
    match gn {
        GeneralName::OtherName(..) => 0,
        GeneralName::RFC822Name(_) => 1,
        GeneralName::DNSName(_) => 2,
        GeneralName::X400Address(_) => 3,
        GeneralName::DirectoryName(_) => 4,
        GeneralName::EDIPartyName(_) => 5,
        GeneralName::URI(_) => 6,
        GeneralName::IPAddress(_) => 7,
        GeneralName::RegisteredID(_) => 8,
        GeneralName::Invalid(tag, _) => u8::try_from(tag.0).unwrap_or(u8::MAX),
    }
}

/// Applies the nameConstraints of `ca` (if any) to `cert`, a certificate below it on the path.
/// `Err` describes the violating name. Constraints on name forms this validator cannot evaluate
/// fail closed when the certificate has a name of that form.
pub(crate) fn check_name_constraints(ca: &ParsedCert<'_>, cert: &ParsedCert<'_>) -> Result<(), String> {
    let Some(ext) = ca.x509.extensions().iter().find(|e| e.oid.to_id_string() == "2.5.29.30") else {
        return Ok(());
    };
    let nc = der::name_constraints(ext.value)?;
    let names = names_of(cert);
    let permitted = nc.permitted.as_deref().unwrap_or(&[]);
    let excluded = nc.excluded.as_deref().unwrap_or(&[]);

    // Every name of a form that has permitted subtrees must fall within one of them; no name
    // may fall within an excluded subtree.
    macro_rules! apply {
        ($list:expr, $form:expr, $matches:expr, $show:expr) => {
            apply!($list, $form, $matches, $matches, $show)
        };
        ($list:expr, $form:expr, $matches:expr, $overlaps:expr, $show:expr) => {{
            let perm: Vec<_> = permitted.iter().filter(|s| form(&s.base) == $form).collect();
            for name in $list {
                if !perm.is_empty() && !perm.iter().any(|s| $matches(name, &s.base)) {
                    return Err(format!("{} is not within the permitted subtrees", $show(name)));
                }
                if let Some(s) = excluded.iter().filter(|s| form(&s.base) == $form).find(|s| $overlaps(name, &s.base)) {
                    return Err(format!("{} is within the excluded subtree {}", $show(name), s.base));
                }
            }
        }};
    }
    apply!(names.directory.iter().copied(), 4, dn_within, |n: &X509Name<'_>| format!(
        "the directory name \"{}\"",
        super::cert::format_dn(n)
    ));
    apply!(names.email.iter(), 1, |n: &String, b: &GeneralName<'_>| email_within(n, b), |n: &String| format!(
        "the e-mail address \"{n}\""
    ));
    apply!(names.dns.iter().copied(), 2, dns_within, dns_overlaps, |n: &str| format!("the DNS name \"{n}\""));
    apply!(names.ip.iter().copied(), 7, ip_within, |n: &[u8]| format!("the IP address {}", show_ip(n)));
    apply!(names.uri.iter().copied(), 6, uri_within, |n: &str| format!("the URI \"{n}\""));
    for f in &names.other {
        if permitted.iter().chain(excluded).any(|s| form(&s.base) == *f) {
            return Err(format!(
                "a subjectAltName of a form this validator cannot match against name \
                 constraints (GeneralName tag {f}) is constrained"
            ));
        }
    }
    Ok(())
}

const ANY_POLICY: &str = "2.5.29.32.0";

/// The policy-related extensions of one certificate.
struct PolicyInfo {
    policies: Option<Vec<String>>,
    mappings: Vec<(String, String)>,
    require_explicit: Option<u32>,
    inhibit_mapping: Option<u32>,
    inhibit_any: Option<u32>,
}

fn policy_info(cert: &ParsedCert<'_>) -> PolicyInfo {
    let mut info = PolicyInfo {
        policies: None,
        mappings: vec![],
        require_explicit: None,
        inhibit_mapping: None,
        inhibit_any: None,
    };
    for e in cert.x509.extensions() {
        match e.parsed_extension() {
            ParsedExtension::CertificatePolicies(cp) => {
                info.policies = Some(cp.iter().map(|p| p.policy_id.to_id_string()).collect());
            }
            ParsedExtension::PolicyMappings(pm) => {
                info.mappings = pm
                    .mappings
                    .iter()
                    .map(|m| (m.issuer_domain_policy.to_id_string(), m.subject_domain_policy.to_id_string()))
                    .collect();
            }
            ParsedExtension::PolicyConstraints(pc) => {
                info.require_explicit = pc.require_explicit_policy;
                info.inhibit_mapping = pc.inhibit_policy_mapping;
            }
            ParsedExtension::InhibitAnyPolicy(ia) => info.inhibit_any = Some(ia.skip_certs),
            _ => {}
        }
    }
    info
}

/// Certificate policy processing of RFC 5280 §6.1 (steps (d)–(f), (a)–(b) and (h)–(j) of
/// §6.1.3/§6.1.4, wrap-up §6.1.5) with user-initial-policy-set = anyPolicy and no initial
/// explicit-policy, mapping or any-policy inhibition. The valid policy tree is kept as the set
/// of policies valid at the current depth (in the current certificate's domain), which is what
/// the outcome depends on when every policy is acceptable to the user. `path` is ordered from
/// the certificate below the trust anchor down to the partner certificate (the anchor itself is
/// not processed, §6.1). `Err` says which certificate made the path fail.
pub(crate) fn check_policies(path: &[&ParsedCert<'_>]) -> Result<(), String> {
    use std::collections::BTreeSet;
    let n = path.len() as u64;
    let (mut explicit, mut mapping, mut inhibit_any) = (n + 1, n + 1, n + 1);
    let mut valid: Option<BTreeSet<String>> = Some(BTreeSet::from([ANY_POLICY.to_string()]));
    for (index, cert) in path.iter().enumerate() {
        let last = index + 1 == path.len();
        let self_issued = cert.is_self_issued();
        let info = policy_info(cert);
        // (d), (e): intersect with this certificate's policies.
        valid = match (valid, &info.policies) {
            (Some(set), Some(policies)) => {
                let any_allowed = inhibit_any > 0 || (!last && self_issued);
                let has_any = any_allowed && policies.iter().any(|p| p == ANY_POLICY);
                let mut next = BTreeSet::new();
                for p in policies.iter().filter(|p| *p != ANY_POLICY) {
                    if set.contains(p) || set.contains(ANY_POLICY) {
                        next.insert(p.clone());
                    }
                }
                if has_any {
                    next.extend(set.iter().cloned());
                }
                (!next.is_empty()).then_some(next)
            }
            _ => None,
        };
        // (f)
        if explicit == 0 && valid.is_none() {
            return Err(format!(
                "an explicit certificate policy is required on this path (requireExplicitPolicy), \
                 but no policy is valid through \"{}\"",
                cert.subject
            ));
        }
        if last {
            break;
        }
        // §6.1.4 (a), (b): policy mappings.
        if !info.mappings.is_empty() {
            if info.mappings.iter().any(|(i, s)| i == ANY_POLICY || s == ANY_POLICY) {
                return Err(format!("\"{}\" maps to or from anyPolicy, which is not allowed", cert.subject));
            }
            if let Some(set) = valid.as_mut() {
                let had_any = set.contains(ANY_POLICY);
                let mut added = Vec::new();
                for (issuer_policy, subject_policy) in &info.mappings {
                    let present = set.remove(issuer_policy);
                    if mapping > 0 && (present || had_any) {
                        added.push(subject_policy.clone());
                    }
                }
                set.extend(added);
            }
            if valid.as_ref().is_some_and(BTreeSet::is_empty) {
                valid = None;
            }
        }
        // (h)
        if !self_issued {
            explicit = explicit.saturating_sub(1);
            mapping = mapping.saturating_sub(1);
            inhibit_any = inhibit_any.saturating_sub(1);
        }
        // (i), (j)
        if let Some(r) = info.require_explicit {
            explicit = explicit.min(u64::from(r));
        }
        if let Some(m) = info.inhibit_mapping {
            mapping = mapping.min(u64::from(m));
        }
        if let Some(skip) = info.inhibit_any {
            inhibit_any = inhibit_any.min(u64::from(skip));
        }
    }
    // §6.1.5 (a), (b)
    explicit = explicit.saturating_sub(1);
    if path.last().is_some_and(|leaf| policy_info(leaf).require_explicit == Some(0)) {
        explicit = 0;
    }
    if explicit == 0 && valid.is_none() {
        return Err("an explicit certificate policy is required on this path (requireExplicitPolicy), but \
                    no policy is valid for the partner certificate"
            .into());
    }
    Ok(())
}

/// The constraint's RDNs are a prefix of the name's RDNs (§4.2.1.10, directoryName); values are
/// compared case-insensitively with whitespace collapsed (RFC 4518, simplified).
fn dn_within(name: &X509Name<'_>, base: &GeneralName<'_>) -> bool {
    let GeneralName::DirectoryName(constraint) = base else { return false };
    let name_rdns: Vec<_> = name.iter_rdn().collect();
    let constraint_rdns: Vec<_> = constraint.iter_rdn().collect();
    if constraint_rdns.len() > name_rdns.len() {
        return false;
    }
    constraint_rdns.iter().zip(&name_rdns).all(|(c, n)| rdn_key(c) == rdn_key(n))
}

fn domain_within(host: &str, constraint: &str) -> bool {
    let (host, constraint) = (host.to_ascii_lowercase(), constraint.to_ascii_lowercase());
    host == constraint || host.ends_with(&format!(".{constraint}"))
}

fn dns_within(name: &str, base: &GeneralName<'_>) -> bool {
    let GeneralName::DNSName(c) = base else { return false };
    domain_within(name.strip_prefix("*.").unwrap_or(name), c)
}

/// For excluded subtrees: a wildcard name is excluded when any name it stands for would be
/// (`*.example.com` against an excluded `bad.example.com`).
fn dns_overlaps(name: &str, base: &GeneralName<'_>) -> bool {
    let GeneralName::DNSName(c) = base else { return false };
    dns_within(name, base)
        || name.strip_prefix("*.").is_some_and(|rest| domain_within(c, rest) && !c.eq_ignore_ascii_case(rest))
}

fn email_within(mailbox: &str, base: &GeneralName<'_>) -> bool {
    let GeneralName::RFC822Name(c) = base else { return false };
    let Some((local, host)) = mailbox.rsplit_once('@') else { return false };
    if let Some((c_local, c_host)) = c.rsplit_once('@') {
        local == c_local && host.eq_ignore_ascii_case(c_host)
    } else if let Some(domain) = c.strip_prefix('.') {
        host.to_ascii_lowercase().ends_with(&format!(".{}", domain.to_ascii_lowercase()))
    } else {
        host.eq_ignore_ascii_case(c)
    }
}

fn uri_within(uri: &str, base: &GeneralName<'_>) -> bool {
    let GeneralName::URI(c) = base else { return false };
    let Some(host) = uri_host(uri) else { return false };
    match c.strip_prefix('.') {
        Some(domain) => host.to_ascii_lowercase().ends_with(&format!(".{}", domain.to_ascii_lowercase())),
        None => host.eq_ignore_ascii_case(c),
    }
}

/// The host of `scheme://[userinfo@]host[:port]/…`; `None` for URIs without an authority.
fn uri_host(uri: &str) -> Option<&str> {
    let (_, rest) = uri.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        host_port.split(']').next().map(|h| h.trim_start_matches('['))?
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

fn ip_within(ip: &[u8], base: &GeneralName<'_>) -> bool {
    let GeneralName::IPAddress(c) = base else { return false };
    if c.len() != ip.len() * 2 {
        return false;
    }
    let (addr, mask) = c.split_at(ip.len());
    ip.iter().zip(addr).zip(mask).all(|((i, a), m)| i & m == a & m)
}

fn show_ip(ip: &[u8]) -> String {
    match ip.len() {
        4 => ip.iter().map(u8::to_string).collect::<Vec<_>>().join("."),
        16 => ip.chunks(2).map(|c| format!("{:x}", u16::from_be_bytes([c[0], c[1]]))).collect::<Vec<_>>().join(":"),
        _ => hex::encode(ip),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_helpers() {
        assert!(is_domain_name("example.com") && is_domain_name("a-b.c0"));
        for bad in ["", ".example.com", "example.com.", "-a.com", "a-.com", "a..b", "a b.com", "*.a.com", "a_b.com"] {
            assert!(!is_domain_name(bad), "{bad:?}");
        }
        assert!(is_san_dns_name("*.example.com") && !is_san_dns_name("*.com") && !is_san_dns_name(" "));
        assert!(is_mailbox("a@b.com") && !is_mailbox("b.com") && !is_mailbox("@b.com"));
        assert!(is_absolute_uri("https://a.com/x") && is_absolute_uri("urn:x") && !is_absolute_uri("/rel"));
        assert_eq!(uri_host("https://u@a.com:8/x"), Some("a.com"));
        assert_eq!(uri_host("urn:x"), None);
        assert!(domain_within("a.example.com", "example.com") && !domain_within("badexample.com", "example.com"));
        let bad = GeneralName::DNSName("bad.example.com");
        assert!(dns_overlaps("*.example.com", &bad) && !dns_within("*.example.com", &bad));
        assert!(!dns_overlaps("*.other.com", &bad) && dns_overlaps("x.bad.example.com", &bad));
        let c = GeneralName::IPAddress(&[10, 0, 0, 0, 255, 0, 0, 0]);
        assert!(ip_within(&[10, 1, 2, 3], &c) && !ip_within(&[11, 1, 2, 3], &c));
        assert!(!ip_within(&[0; 16], &c));
        let c = GeneralName::RFC822Name(".example.com");
        assert!(email_within("x@a.example.com", &c) && !email_within("x@example.com", &c));
        let c = GeneralName::RFC822Name("example.com");
        assert!(email_within("x@EXAMPLE.com", &c) && !email_within("x@a.example.com", &c));
        let c = GeneralName::RFC822Name("x@example.com");
        assert!(email_within("x@example.com", &c) && !email_within("y@example.com", &c));
        assert_eq!(show_ip(&[10, 0, 0, 1]), "10.0.0.1");
    }
}
