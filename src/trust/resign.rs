//! MOSIP re-signing (mosip-pms.md §3.3): after validation, the partner's public key is
//! certified again by the PMS intermediate, which chains to the MOSIP root. The partner's
//! private key is never needed: rcgen certifies a foreign SubjectPublicKeyInfo.

use super::cert::{ParsedCert, SubjectParts, der_to_pem, parse_pem_certificates};
use super::partner::ValidatedCertificate;
use crate::api::PartnerDomain;
use jiff::{SignedDuration, Timestamp};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, SerialNumber,
};
use rustls_pki_types::CertificateDer;

/// Validity of a generated MOSIP root (the brief's 10 years; MOSIP's key policy uses 8).
const ROOT_VALIDITY: SignedDuration = SignedDuration::from_hours(3650 * 24);
/// Validity of a generated PMS intermediate: 1460 days, MOSIP's PMS key policy.
const PMS_VALIDITY: SignedDuration = SignedDuration::from_hours(1460 * 24);

/// Why a signing CA cannot be loaded or a certificate cannot be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// A PEM input cannot be read.
    #[error("the {what} cannot be read: {detail}")]
    Unreadable {
        /// Which input.
        what: &'static str,
        /// What is wrong (never the input itself).
        detail: String,
    },
    /// The root, PMS certificate and keys do not belong together or are not proper CAs.
    #[error("the signing CA is inconsistent: {0}")]
    Inconsistent(String),
    /// The signing CA is outside its validity at the requested time.
    #[error("the signing CA cannot issue certificates at {now}: {detail}")]
    NotUsable {
        /// The requested issuance time.
        now: Timestamp,
        /// Which certificate is out of validity and when.
        detail: String,
    },
    /// The partner's public key or subject cannot be certified.
    #[error("the partner certificate cannot be re-signed: {0}")]
    Unsupported(String),
    /// Key generation, randomness or encoding failed.
    #[error("certificate generation failed: {0}")]
    Generation(String),
}

/// How a re-signed certificate gets its basicConstraints and keyUsage
/// (`--resigned-basic-constraints`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResignedBasicConstraints {
    /// The re-signed certificate mirrors the submitted one: an end-entity certificate stays an
    /// end entity (explicit CA:FALSE, without keyCertSign or cRLSign); a CA certificate of a
    /// DEVICE or FTM partner (they issue device certificates) stays a CA, with pathLen 0, so it
    /// can sign end-entity certificates but no further CA. keyUsage bits are copied as they are
    /// (none when the submitted certificate has none). A CA:TRUE certificate of any other domain
    /// is re-signed as an end entity: nothing such a partner does needs a CA under MOSIP's root.
    #[default]
    Mirror,
    /// MOSIP keymanager's behaviour: CA:TRUE without a path length and keyCertSign for every
    /// partner (+ keyEncipherment for AUTH). **Unsafe**: every partner, of any type, can then
    /// mint certificates that chain to the MOSIP root. Only for installations that depend on it.
    Mosip,
}

impl ResignedBasicConstraints {
    /// The flag value: `mirror` or `mosip`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mirror => "mirror",
            Self::Mosip => "mosip",
        }
    }
}

impl std::str::FromStr for ResignedBasicConstraints {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mirror" => Ok(Self::Mirror),
            "mosip" => Ok(Self::Mosip),
            other => Err(format!("{other:?} is not a basicConstraints profile; use \"mirror\" or \"mosip\"")),
        }
    }
}

/// The MOSIP signing CA: the PMS intermediate (certificate and key) and the MOSIP root
/// (certificate, and its key when available), plus the profile it re-signs with. `Debug`
/// never prints keys.
pub struct SigningCa {
    root_cert_pem: String,
    root_key_pem: Option<String>,
    pms_cert_pem: String,
    pms_key_pem: String,
    root_der: Vec<u8>,
    pms_der: Vec<u8>,
    root_not_before: Timestamp,
    root_not_after: Timestamp,
    pms_not_before: Timestamp,
    pms_not_after: Timestamp,
    issuer: Issuer<'static, KeyPair>,
    basic_constraints: ResignedBasicConstraints,
}

impl std::fmt::Debug for SigningCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningCa")
            .field("pms_not_after", &self.pms_not_after)
            .field("root_not_after", &self.root_not_after)
            .field("root_key", &self.root_key_pem.as_ref().map(|_| "<redacted>"))
            .field("basic_constraints", &self.basic_constraints)
            .field("pms_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl SigningCa {
    /// Loads a signing CA and checks that it fits together: each certificate PEM holds exactly
    /// one certificate, the root is self-signed, the PMS certificate is signed by the root, both
    /// are CAs with keyCertSign, and each key (unencrypted PKCS#8 "PRIVATE KEY": ECDSA
    /// P-256/P-384, Ed25519 or RSA) belongs to its certificate. The root key is optional: an
    /// installation may hand the operator only the PMS certificate and key plus the root
    /// certificate.
    pub fn from_pems(
        root_cert_pem: &str,
        root_key_pem: Option<&str>,
        pms_cert_pem: &str,
        pms_key_pem: &str,
    ) -> Result<Self, SigningError> {
        let root_der = single_certificate(root_cert_pem, "MOSIP root certificate")?;
        let pms_der = single_certificate(pms_cert_pem, "PMS certificate")?;
        let unreadable =
            |what: &'static str| move |e: super::CertError| SigningError::Unreadable { what, detail: e.to_string() };
        let root = ParsedCert::parse(&root_der).map_err(unreadable("MOSIP root certificate"))?;
        let pms = ParsedCert::parse(&pms_der).map_err(unreadable("PMS certificate"))?;
        if !root.is_self_signed() {
            return Err(SigningError::Inconsistent(format!(
                "the root certificate \"{}\" is not self-signed",
                root.subject
            )));
        }
        if !pms.is_signed_by(&root) {
            return Err(SigningError::Inconsistent(format!(
                "the PMS certificate \"{}\" is not signed by the root \"{}\"",
                pms.subject, root.subject
            )));
        }
        for cert in [&root, &pms] {
            cert.check_is_ca().map_err(|e| SigningError::Inconsistent(e.to_string()))?;
        }
        if pms.x509.subject().iter_rdn().any(|rdn| rdn.iter().count() != 1) {
            return Err(SigningError::Inconsistent(format!(
                "the PMS certificate subject \"{}\" has a multi-valued RDN, which the signer \
                 cannot reproduce as an issuer name",
                pms.subject
            )));
        }
        let pms_key = load_key(pms_key_pem, "PMS private key")?;
        check_key_matches(&pms_key, &pms, "PMS")?;
        if let Some(root_key_pem) = root_key_pem {
            let root_key = load_key(root_key_pem, "MOSIP root private key")?;
            check_key_matches(&root_key, &root, "MOSIP root")?;
        }

        let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(pms_der.clone()), pms_key).map_err(|e| {
            SigningError::Inconsistent(format!("the PMS certificate cannot be used as an issuer ({e})"))
        })?;
        let ca = SigningCa {
            root_cert_pem: der_to_pem(&root_der),
            root_key_pem: root_key_pem.map(str::to_string),
            pms_cert_pem: der_to_pem(&pms_der),
            pms_key_pem: pms_key_pem.to_string(),
            root_not_before: root.not_before,
            root_not_after: root.not_after,
            pms_not_before: pms.not_before,
            pms_not_after: pms.not_after,
            root_der: root_der.clone(),
            pms_der: pms_der.clone(),
            issuer,
            basic_constraints: ResignedBasicConstraints::default(),
        };
        // Dry run: certify the PMS key itself and check the result names and verifies against
        // the PMS certificate exactly, so a subject rcgen cannot reproduce fails here, at load
        // time, not at the first partner.
        let probe = CertificateParams::default()
            .signed_by(ca.issuer.key(), &ca.issuer)
            .map_err(|e| SigningError::Generation(e.to_string()))?;
        ca.check_issued(probe.der())?;
        Ok(ca)
    }

    /// The same CA, re-signing with `profile` (default [`ResignedBasicConstraints::Mirror`]).
    pub fn with_basic_constraints(mut self, profile: ResignedBasicConstraints) -> Self {
        self.basic_constraints = profile;
        self
    }

    /// The same CA without the MOSIP root private key: the operator never needs it to re-sign,
    /// and a root key kept online beside the signing key turns one stolen Secret into a new
    /// root of trust.
    pub fn without_root_key(mut self) -> Self {
        self.root_key_pem = None;
        self
    }

    /// The profile re-signed certificates get.
    pub fn basic_constraints(&self) -> ResignedBasicConstraints {
        self.basic_constraints
    }

    /// A short fingerprint of what a re-signed certificate depends on besides the partner's
    /// certificate: the PMS certificate and the basicConstraints profile. When either changes,
    /// every re-signed certificate is issued again (so certificates issued under an older,
    /// broader profile are replaced).
    pub fn issuance_fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut digest = Sha256::new();
        digest.update(self.pms_cert_pem.as_bytes());
        // The default profile is a fingerprint version too: certificates of the earlier
        // CA:TRUE-for-all behaviour carry the plain PMS fingerprint and are re-issued.
        digest.update(b"\0basic-constraints=");
        digest.update(self.basic_constraints.as_str().as_bytes());
        hex::encode(&digest.finalize()[..8])
    }

    /// The MOSIP root certificate, PEM.
    pub fn root_cert_pem(&self) -> &str {
        &self.root_cert_pem
    }

    /// The MOSIP root private key, PEM, when it was generated or supplied.
    pub fn root_key_pem(&self) -> Option<&str> {
        self.root_key_pem.as_deref()
    }

    /// The PMS certificate, PEM.
    pub fn pms_cert_pem(&self) -> &str {
        &self.pms_cert_pem
    }

    /// The PMS private key, PEM (PKCS#8).
    pub fn pms_key_pem(&self) -> &str {
        &self.pms_key_pem
    }

    /// DER of the MOSIP root certificate.
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// DER of the PMS certificate.
    pub fn pms_der(&self) -> &[u8] {
        &self.pms_der
    }

    /// End of validity of the PMS certificate; re-signed certificates never outlive it.
    pub fn pms_not_after(&self) -> Timestamp {
        self.pms_not_after
    }

    /// End of validity of the root certificate.
    pub fn root_not_after(&self) -> Timestamp {
        self.root_not_after
    }

    /// The chain that accompanies a re-signed certificate: PMS certificate, then root.
    pub fn chain_pem(&self) -> String {
        format!("{}{}", self.pms_cert_pem, self.root_cert_pem)
    }

    /// `der` names the PMS as issuer and its signature verifies with the PMS key.
    fn check_issued(&self, der: &[u8]) -> Result<(), SigningError> {
        let pms = ParsedCert::parse(&self.pms_der).map_err(|e| SigningError::Generation(e.to_string()))?;
        let issued = ParsedCert::parse(der).map_err(|e| SigningError::Generation(e.to_string()))?;
        if issued.is_signed_by(&pms) {
            Ok(())
        } else {
            Err(SigningError::Inconsistent(format!(
                "a certificate issued with the PMS key does not chain to the PMS certificate \
                 \"{}\" (its subject cannot be reproduced exactly as an issuer name)",
                pms.subject
            )))
        }
    }
}

/// A MOSIP re-signed partner certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResignedCertificate {
    /// The new certificate, PEM.
    pub certificate_pem: String,
    /// The PMS certificate then the root certificate, PEM.
    pub chain_pem: String,
    /// End of validity of the new certificate.
    pub not_after: Timestamp,
}

/// Generates a fresh signing CA: a self-signed ECDSA P-256 root
/// "CN=MOSIP-ROOT-<8 random hex>,O=MOSIP" valid 10 years, and a PMS intermediate
/// "CN=PMS,O=MOSIP" valid 1460 days signed by it; both CA:TRUE with keyCertSign and cRLSign.
/// The result holds the root key; [`SigningCa::without_root_key`] drops it (what the operator
/// does unless `--keep-root-key`).
pub fn generate_signing_ca(now: Timestamp) -> Result<SigningCa, SigningError> {
    let generation = |e: rcgen::Error| SigningError::Generation(e.to_string());
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(generation)?;
    let pms_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(generation)?;
    let mut suffix = [0u8; 4];
    getrandom::fill(&mut suffix).map_err(|e| SigningError::Generation(e.to_string()))?;

    let root_params = ca_params(&format!("MOSIP-ROOT-{}", hex::encode_upper(suffix)), now, ROOT_VALIDITY)?;
    let root_cert = root_params.self_signed(&root_key).map_err(generation)?;
    let mut pms_params = ca_params("PMS", now, PMS_VALIDITY)?;
    pms_params.use_authority_key_identifier_extension = true;
    let root_issuer = Issuer::from_params(&root_params, &root_key);
    let pms_cert = pms_params.signed_by(&pms_key, &root_issuer).map_err(generation)?;

    SigningCa::from_pems(&root_cert.pem(), Some(&root_key.serialize_pem()), &pms_cert.pem(), &pms_key.serialize_pem())
}

/// Re-signs a validated partner certificate as MOSIP does: same public key; subject rebuilt
/// from CN, OU, O, L, ST and C only; valid from `now` for `validity`, but never beyond the PMS
/// or root certificate; a random 128-bit serial; basicConstraints and keyUsage by the CA's
/// profile ([`resigned_constraints`]).
pub fn resign(
    ca: &SigningCa,
    cert: &ValidatedCertificate,
    domain: PartnerDomain,
    validity: SignedDuration,
    now: Timestamp,
) -> Result<ResignedCertificate, SigningError> {
    if validity <= SignedDuration::ZERO {
        return Err(SigningError::Generation(format!("the requested validity {validity} is not positive")));
    }
    for (what, not_before, not_after) in
        [("PMS", ca.pms_not_before, ca.pms_not_after), ("MOSIP root", ca.root_not_before, ca.root_not_after)]
    {
        if now < not_before || now > not_after {
            return Err(SigningError::NotUsable {
                now,
                detail: format!(
                    "the {what} certificate is valid from {not_before} to {not_after}; rotate \
                     the signing CA"
                ),
            });
        }
    }
    let now = Timestamp::from_second(now.as_second()).map_err(|e| SigningError::Generation(e.to_string()))?;
    let not_after = now.saturating_add(validity).unwrap_or(Timestamp::MAX).min(ca.pms_not_after).min(ca.root_not_after);

    let public_key = rcgen::SubjectPublicKeyInfo::from_der(&cert.spki_der)
        .map_err(|e| SigningError::Unsupported(format!("its public key type is not supported by the signer ({e})")))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = mosip_subject(&cert.subject)?;
    set_validity(&mut params, now, not_after)?;
    params.serial_number = Some(random_serial()?);
    let submitted = ParsedCert::parse(&cert.leaf_der)
        .map_err(|e| SigningError::Unsupported(format!("the submitted certificate cannot be read again ({e})")))?;
    let (is_ca, key_usages) = resigned_constraints(&submitted, domain, ca.basic_constraints)?;
    params.is_ca = is_ca;
    params.key_usages = key_usages;
    params.use_authority_key_identifier_extension = true;
    let issued = params.signed_by(&public_key, &ca.issuer).map_err(|e| SigningError::Generation(e.to_string()))?;
    ca.check_issued(issued.der())?;
    Ok(ResignedCertificate { certificate_pem: der_to_pem(issued.der()), chain_pem: ca.chain_pem(), not_after })
}

/// basicConstraints and keyUsage of the re-signed certificate for `submitted`, a partner
/// certificate of `domain` (see [`ResignedBasicConstraints`]).
///
/// Mirror: CA:TRUE only when `submitted` is CA:TRUE and `domain` is DEVICE or FTM, then with
/// pathLenConstraint 0 (the submitted one can only be 0 or larger: the smaller wins); otherwise
/// explicit CA:FALSE, and keyCertSign and cRLSign are dropped (RFC 5280 §4.2.1.3: only a CA
/// may assert them). The remaining keyUsage bits are the submitted ones.
pub(crate) fn resigned_constraints(
    submitted: &ParsedCert<'_>,
    domain: PartnerDomain,
    profile: ResignedBasicConstraints,
) -> Result<(IsCa, Vec<KeyUsagePurpose>), SigningError> {
    if profile == ResignedBasicConstraints::Mosip {
        let mut usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyCertSign];
        if domain == PartnerDomain::Auth {
            usages.push(KeyUsagePurpose::KeyEncipherment);
        }
        return Ok((IsCa::Ca(BasicConstraints::Unconstrained), usages));
    }
    let unreadable =
        |what: &str| SigningError::Unsupported(format!("its {what} extension is duplicated or unreadable"));
    let submitted_ca =
        submitted.x509.basic_constraints().map_err(|_| unreadable("basicConstraints"))?.is_some_and(|bc| bc.value.ca);
    let stays_ca = submitted_ca && matches!(domain, PartnerDomain::Device | PartnerDomain::Ftm);
    let ku = submitted.x509.key_usage().map_err(|_| unreadable("keyUsage"))?;
    let mut usages = Vec::new();
    if let Some(ku) = ku {
        let ku = ku.value;
        let bits = [
            (ku.digital_signature(), KeyUsagePurpose::DigitalSignature),
            (ku.non_repudiation(), KeyUsagePurpose::ContentCommitment),
            (ku.key_encipherment(), KeyUsagePurpose::KeyEncipherment),
            (ku.data_encipherment(), KeyUsagePurpose::DataEncipherment),
            (ku.key_agreement(), KeyUsagePurpose::KeyAgreement),
            (ku.key_cert_sign() && stays_ca, KeyUsagePurpose::KeyCertSign),
            (ku.crl_sign() && stays_ca, KeyUsagePurpose::CrlSign),
            (ku.encipher_only(), KeyUsagePurpose::EncipherOnly),
            (ku.decipher_only(), KeyUsagePurpose::DecipherOnly),
        ];
        usages.extend(bits.into_iter().filter(|(set, _)| *set).map(|(_, usage)| usage));
        if usages.is_empty() {
            // An empty keyUsage is invalid, and no keyUsage at all would allow everything.
            return Err(SigningError::Unsupported(format!(
                "its keyUsage allows only certificate and CRL signing, which a {domain} partner's \
                 re-signed certificate may not do (only DEVICE and FTM partner CAs stay CAs); \
                 submit its end-entity certificate, with keyUsage digitalSignature"
            )));
        }
    }
    let is_ca = if stays_ca { IsCa::Ca(BasicConstraints::Constrained(0)) } else { IsCa::ExplicitNoCa };
    Ok((is_ca, usages))
}

/// C, ST, L, O, OU, CN (most general first in DER, so RFC 4514 reads "CN=…,OU=…,O=…").
fn mosip_subject(parts: &SubjectParts) -> Result<DistinguishedName, SigningError> {
    let mut dn = DistinguishedName::new();
    if let Some(c) = &parts.c {
        // RFC 5280 wants countryName as PrintableString; fall back to UTF-8 for odd values.
        // rcgen accepts '?' (X.680 allows it) but its DER writer (yasna) panics on it, so only
        // the characters both accept become a PrintableString (found by `fuzz::signed_partner_certificates`).
        let writable = c.bytes().all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=".contains(&b));
        match rcgen::string::PrintableString::try_from(c.as_str()).ok().filter(|_| writable) {
            Some(printable) => dn.push(DnType::CountryName, DnValue::PrintableString(printable)),
            None => dn.push(DnType::CountryName, c.as_str()),
        }
    }
    let rest = [
        (DnType::StateOrProvinceName, &parts.st),
        (DnType::LocalityName, &parts.l),
        (DnType::OrganizationName, &parts.o),
        (DnType::OrganizationalUnitName, &parts.ou),
        (DnType::CommonName, &parts.cn),
    ];
    let mut any = parts.c.is_some();
    for (kind, value) in rest {
        if let Some(value) = value {
            dn.push(kind, value.as_str());
            any = true;
        }
    }
    if any {
        Ok(dn)
    } else {
        Err(SigningError::Unsupported(
            "its subject has none of CN, OU, O, L, ST and C, so the re-signed subject would be \
             empty"
                .into(),
        ))
    }
}

fn ca_params(common_name: &str, now: Timestamp, validity: SignedDuration) -> Result<CertificateParams, SigningError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "MOSIP");
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    let now = Timestamp::from_second(now.as_second()).map_err(|e| SigningError::Generation(e.to_string()))?;
    set_validity(&mut params, now, now.saturating_add(validity).unwrap_or(Timestamp::MAX))?;
    params.serial_number = Some(random_serial()?);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

/// Sets the validity, whole seconds. rcgen takes `time::OffsetDateTime`; going through
/// x509-parser's `ASN1Time` avoids a direct dependency on the `time` crate.
fn set_validity(
    params: &mut CertificateParams,
    not_before: Timestamp,
    not_after: Timestamp,
) -> Result<(), SigningError> {
    let convert = |t: Timestamp| {
        x509_parser::time::ASN1Time::from_timestamp(t.as_second())
            .map(|t| t.to_datetime())
            .map_err(|_| SigningError::Generation(format!("{t} cannot be encoded in a certificate")))
    };
    params.not_before = convert(not_before)?;
    params.not_after = convert(not_after)?;
    Ok(())
}

fn random_serial() -> Result<SerialNumber, SigningError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| SigningError::Generation(e.to_string()))?;
    // Positive and full length: top bit clear, next bit set.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

fn single_certificate(pem: &str, what: &'static str) -> Result<Vec<u8>, SigningError> {
    let ders = parse_pem_certificates(pem).map_err(|e| SigningError::Unreadable { what, detail: e.to_string() })?;
    match <[Vec<u8>; 1]>::try_from(ders) {
        Ok([der]) => Ok(der),
        Err(ders) => Err(SigningError::Unreadable {
            what,
            detail: format!("it holds {} certificates; exactly one is expected", ders.len()),
        }),
    }
}

fn load_key(pem: &str, what: &'static str) -> Result<KeyPair, SigningError> {
    // rcgen's error text is not echoed: it could quote parts of the input.
    KeyPair::from_pem(pem).map_err(|_| SigningError::Unreadable {
        what,
        detail: "expected an unencrypted PKCS#8 \"PRIVATE KEY\" PEM (ECDSA P-256/P-384, Ed25519 \
                 or RSA)"
            .into(),
    })
}

fn check_key_matches(key: &KeyPair, cert: &ParsedCert<'_>, what: &str) -> Result<(), SigningError> {
    use rcgen::PublicKeyData;
    if key.der_bytes() == cert.x509.public_key().subject_public_key.data.as_ref() {
        Ok(())
    } else {
        Err(SigningError::Inconsistent(format!(
            "the {what} private key does not belong to the {what} certificate \"{}\"",
            cert.subject
        )))
    }
}
