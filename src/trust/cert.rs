//! Reading certificates: PEM, summaries, distinguished names and the per-certificate checks
//! (version, validity, CA-ness, key and signature algorithm) shared by CA evaluation and partner
//! validation. Inspection uses x509-parser; path validation lives in `partner.rs`.

use super::error::CertError;
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use x509_parser::asn1_rs::{Tag, ToDer};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::signature_algorithm::RsaSsaPssParams;
use x509_parser::x509::{AlgorithmIdentifier, AttributeTypeAndValue, X509Name, X509Version};

/// What the status of a CACertificate or Partner shows about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// Subject distinguished name, RFC 4514 style (most specific RDN first, comma-separated).
    pub subject: String,
    /// Issuer distinguished name, same format.
    pub issuer: String,
    /// Serial number, lowercase hexadecimal without sign padding.
    pub serial_number: String,
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity (inclusive).
    pub not_after: Timestamp,
    /// SHA-256 of the DER certificate, lowercase hexadecimal.
    pub fingerprint_sha256: String,
}

/// The subject attributes MOSIP copies into a re-signed certificate (first value of each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectParts {
    /// commonName.
    pub cn: Option<String>,
    /// organizationalUnitName.
    pub ou: Option<String>,
    /// organizationName.
    pub o: Option<String>,
    /// localityName.
    pub l: Option<String>,
    /// stateOrProvinceName.
    pub st: Option<String>,
    /// countryName.
    pub c: Option<String>,
}

/// Splits PEM text into DER certificates, in order.
///
/// Whitespace (blank lines, indentation, CRLF) is tolerated anywhere, and so is explanatory text
/// between blocks (RFC 7468 §2: `openssl x509 -text` output, PKCS#12 "Bag Attributes"). Rejected
/// as [`CertError::Malformed`]: blocks other than `CERTIFICATE` (a private key pasted by mistake
/// is named by its label only, never echoed), invalid base64, content that is not exactly one DER
/// X.509 certificate, and input without any certificate.
pub fn parse_pem_certificates(text: &str) -> Result<Vec<Vec<u8>>, CertError> {
    let mut ders = Vec::new();
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
    while let Some((line_no, line)) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let Some(label) = line.strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) else {
            // Explanatory text outside the blocks.
            continue;
        };
        if label != "CERTIFICATE" {
            return Err(CertError::malformed(format!(
                "line {line_no} starts a \"{}\" PEM block; only CERTIFICATE blocks are accepted",
                label.chars().take(40).collect::<String>()
            )));
        }
        let end = format!("-----END {label}-----");
        let mut block = format!("-----BEGIN {label}-----\n");
        let mut closed = false;
        for (_, body) in lines.by_ref() {
            block.push_str(body);
            block.push('\n');
            if body == end {
                closed = true;
                break;
            }
        }
        if !closed {
            return Err(CertError::malformed(format!(
                "the CERTIFICATE block starting at line {line_no} has no END line"
            )));
        }
        let parsed = pem::parse(&block).map_err(|_| {
            CertError::malformed(format!("the CERTIFICATE block starting at line {line_no} is not valid base64"))
        })?;
        let der = parsed.into_contents();
        match X509Certificate::from_der(&der) {
            Ok(([], _)) => ders.push(der),
            Ok(_) => {
                return Err(CertError::malformed(format!(
                    "the CERTIFICATE block starting at line {line_no} has trailing data after \
                     the certificate"
                )));
            }
            Err(e) => {
                return Err(CertError::malformed(format!(
                    "the CERTIFICATE block starting at line {line_no} is not an X.509 \
                     certificate ({e})"
                )));
            }
        }
    }
    if ders.is_empty() {
        return Err(CertError::malformed("no CERTIFICATE PEM block was found"));
    }
    Ok(ders)
}

/// Certificate PEM text held compactly and given back exactly.
///
/// Held as the DER of its certificates (a quarter smaller than base64, without the armour) when
/// the text is exactly their canonical encoding — `CERTIFICATE` blocks, base64 in 64-column
/// lines, LF line ends, nothing between the blocks, as OpenSSL, Go and cert-manager write it —
/// and as the text otherwise. The operator caches every partner certificate it validated, so
/// at 10,000 partners this is ~3.5 MiB less.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PemText {
    Canonical(Box<[Box<[u8]>]>),
    Verbatim(Box<str>),
}

impl PemText {
    /// Whatever the blocks hold: the text is given back exactly either way (the comparison with
    /// its re-encoding decides), so this needs no X.509 parse; validation does that.
    pub fn new(text: String) -> Self {
        match pem::parse_many(&text) {
            Ok(blocks) if !blocks.is_empty() => {
                let ders: Vec<Vec<u8>> = blocks.into_iter().map(pem::Pem::into_contents).collect();
                if encode_pem_certificates(&ders) == text {
                    return PemText::Canonical(ders.into_iter().map(Vec::into_boxed_slice).collect());
                }
                PemText::Verbatim(text.into_boxed_str())
            }
            _ => PemText::Verbatim(text.into_boxed_str()),
        }
    }

    /// The text it was made from.
    pub fn text(&self) -> String {
        match self {
            PemText::Canonical(ders) => encode_pem_certificates(ders),
            PemText::Verbatim(text) => text.to_string(),
        }
    }
}

/// The canonical PEM encoding of DER certificates (see [`PemText`]).
pub fn encode_pem_certificates<D: AsRef<[u8]>>(ders: &[D]) -> String {
    ders.iter().map(|der| der_to_pem(der.as_ref())).collect()
}

/// PEM-encodes one DER certificate with LF line endings.
pub(crate) fn der_to_pem(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("CERTIFICATE", der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// The status summary of a DER certificate; works for certificates that fail validation too.
pub fn summarize(der: &[u8]) -> Result<CertSummary, CertError> {
    Ok(ParsedCert::parse(der)?.summary())
}

/// A parsed certificate plus the fields every check needs, computed once.
pub(crate) struct ParsedCert<'a> {
    pub der: &'a [u8],
    pub x509: X509Certificate<'a>,
    pub subject: String,
    pub issuer: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    /// [`name_key`] of the subject and of the issuer.
    pub subject_key: String,
    pub issuer_key: String,
}

impl<'a> ParsedCert<'a> {
    pub fn parse(der: &'a [u8]) -> Result<Self, CertError> {
        let x509 = match X509Certificate::from_der(der) {
            Ok(([], cert)) => cert,
            Ok(_) => return Err(CertError::malformed("trailing data after the certificate")),
            Err(e) => {
                return Err(CertError::malformed(format!("not an X.509 certificate ({e})")));
            }
        };
        let not_before = asn1_time(x509.validity().not_before.timestamp())?;
        let not_after = asn1_time(x509.validity().not_after.timestamp())?;
        Ok(ParsedCert {
            der,
            subject: format_dn(x509.subject()),
            issuer: format_dn(x509.issuer()),
            subject_key: name_key(x509.subject()),
            issuer_key: name_key(x509.issuer()),
            x509,
            not_before,
            not_after,
        })
    }

    pub fn summary(&self) -> CertSummary {
        CertSummary {
            subject: self.subject.clone(),
            issuer: self.issuer.clone(),
            serial_number: serial_hex(self.x509.raw_serial()),
            not_before: self.not_before,
            not_after: self.not_after,
            fingerprint_sha256: hex::encode(Sha256::digest(self.der)),
        }
    }

    pub fn subject_raw(&self) -> &[u8] {
        self.x509.subject().as_raw()
    }

    /// DER of the SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &'a [u8] {
        self.x509.tbs_certificate.subject_pki.raw
    }

    pub fn subject_parts(&self) -> SubjectParts {
        let first = |oid| self.x509.subject().iter_by_oid(oid).next().and_then(attribute_string);
        use x509_parser::oid_registry::*;
        SubjectParts {
            cn: first(&OID_X509_COMMON_NAME),
            ou: first(&OID_X509_ORGANIZATIONAL_UNIT),
            o: first(&OID_X509_ORGANIZATION_NAME),
            l: first(&OID_X509_LOCALITY_NAME),
            st: first(&OID_X509_STATE_OR_PROVINCE_NAME),
            c: first(&OID_X509_COUNTRY_NAME),
        }
    }

    /// Issuer and subject are the same name (RFC 5280 §7.1 comparison).
    pub fn is_self_issued(&self) -> bool {
        self.subject_key == self.issuer_key
    }

    /// `self`'s issuer is `issuer`'s subject (RFC 5280 §7.1 comparison).
    pub fn names_as_issuer(&self, issuer: &ParsedCert<'_>) -> bool {
        self.issuer_key == issuer.subject_key
    }

    /// Issuer equals subject and the signature verifies with the certificate's own key.
    pub fn is_self_signed(&self) -> bool {
        self.is_self_issued() && self.x509.verify_signature(None).is_ok()
    }

    /// `self` names `issuer` as its issuer and `issuer`'s key verifies `self`'s signature.
    pub fn is_signed_by(&self, issuer: &ParsedCert<'_>) -> bool {
        self.names_as_issuer(issuer) && self.x509.verify_signature(Some(issuer.x509.public_key())).is_ok()
    }

    pub fn check_v3(&self) -> Result<(), CertError> {
        let version = self.x509.version();
        if version == X509Version::V3 {
            Ok(())
        } else {
            // u64: a version field of 0xFFFFFFFF must not overflow (issue #10 item 9).
            Err(CertError::NotV3 { subject: self.subject.clone(), version: u64::from(version.0) + 1 })
        }
    }

    /// Valid from notBefore through notAfter inclusive, compared at whole-second precision:
    /// X.509 times carry no fractions (RFC 5280 §4.1.2.5), so every instant within the final
    /// second is still valid.
    pub fn check_validity(&self, now: Timestamp) -> Result<(), CertError> {
        let now = whole_second(now);
        if now < self.not_before {
            Err(CertError::NotYetValid { subject: self.subject.clone(), not_before: self.not_before })
        } else if now > self.not_after {
            Err(CertError::Expired { subject: self.subject.clone(), not_after: self.not_after })
        } else {
            Ok(())
        }
    }

    /// basicConstraints CA=true and a keyUsage extension with keyCertSign. RFC 5280 lets a CA
    /// omit keyUsage; we require it, as the stricter reading of "this key may sign certificates".
    pub fn check_is_ca(&self) -> Result<(), CertError> {
        let not_ca = |detail: &str| CertError::NotACertificateAuthority {
            subject: self.subject.clone(),
            detail: detail.to_string(),
        };
        let bc = self.x509.basic_constraints().map_err(|_| {
            not_ca(
                "has a duplicate or unreadable basicConstraints extension; reissue it with one \
                 basicConstraints extension (CA:TRUE)",
            )
        })?;
        if !bc.is_some_and(|bc| bc.value.ca) {
            return Err(not_ca(
                "is not a CA certificate: basicConstraints CA:TRUE is missing; use the CA's \
                 certificate, or reissue it with basicConstraints CA:TRUE",
            ));
        }
        let ku = self.x509.key_usage().map_err(|_| {
            not_ca(
                "has a duplicate or unreadable keyUsage extension; reissue it with one keyUsage \
                 extension including keyCertSign",
            )
        })?;
        match ku {
            Some(ku) if ku.value.key_cert_sign() => Ok(()),
            Some(_) => Err(not_ca(
                "is marked CA:TRUE but its keyUsage lacks keyCertSign, so it may not sign \
                 certificates; reissue it with keyUsage keyCertSign",
            )),
            None => Err(not_ca(
                "is marked CA:TRUE but has no keyUsage extension; a keyUsage with keyCertSign \
                 is required: reissue it with keyUsage keyCertSign",
            )),
        }
    }

    /// pathLenConstraint of basicConstraints, if present and readable.
    pub fn path_len_constraint(&self) -> Option<u32> {
        self.x509.basic_constraints().ok().flatten().and_then(|bc| bc.value.path_len_constraint)
    }

    pub fn is_ca_flagged(&self) -> bool {
        matches!(self.x509.basic_constraints(), Ok(Some(bc)) if bc.value.ca)
    }

    /// Rejects MD5/SHA-1 (weak) and anything rustls-webpki with ring cannot verify (unsupported).
    pub fn check_signature_algorithm(&self) -> Result<(), CertError> {
        match classify_signature_algorithm(&self.x509.signature_algorithm) {
            SigAlg::Accepted => Ok(()),
            SigAlg::Weak(name) => {
                Err(CertError::WeakSignature { subject: self.subject.clone(), algorithm: name, weak: true })
            }
            SigAlg::Unsupported(name) => {
                Err(CertError::WeakSignature { subject: self.subject.clone(), algorithm: name, weak: false })
            }
        }
    }

    /// RSA ≥ 2048 bits, EC on P-256/P-384, or Ed25519.
    pub fn check_key(&self) -> Result<(), CertError> {
        let weak = |detail: String| CertError::WeakKey { subject: self.subject.clone(), detail };
        let spki = self.x509.public_key();
        match spki.algorithm.algorithm.to_id_string().as_str() {
            "1.2.840.113549.1.1.1" => {
                let Ok(PublicKey::RSA(rsa)) = spki.parsed() else {
                    return Err(CertError::malformed(format!(
                        "the RSA public key of \"{}\" cannot be read",
                        self.subject
                    )));
                };
                let bits = unsigned_bit_length(rsa.modulus);
                if bits < 2048 {
                    Err(weak(format!("an RSA key of {bits} bits (at least 2048 are required)")))
                } else {
                    Ok(())
                }
            }
            "1.2.840.10045.2.1" => {
                let curve =
                    spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok()).map(|oid| oid.to_id_string());
                match curve.as_deref() {
                    Some("1.2.840.10045.3.1.7") | Some("1.3.132.0.34") => Ok(()),
                    Some("1.3.132.0.35") => Err(weak("an EC key on curve P-521, which is not supported".into())),
                    Some(other) => Err(weak(format!("an EC key on curve {other}, which is not supported"))),
                    None => Err(weak("an EC key without a named curve".into())),
                }
            }
            "1.3.101.112" => Ok(()),
            oid => Err(weak(format!("a {} key, which is not supported", key_algorithm_name(oid)))),
        }
    }
}

/// A distinguished name in canonical form, so that names can be compared as RFC 5280 §7.1
/// asks with one string comparison (and hashed): the same number of RDNs, each with the same
/// set of attribute types, and string values equal after RFC 4518-style preparation (simplified
/// here to: decode PrintableString, UTF8String, BMPString, …; fold case; trim and collapse inner
/// whitespace). Values that are not strings are compared by tag and DER.
pub(crate) fn name_key(name: &X509Name<'_>) -> String {
    name.iter_rdn().map(rdn_key).collect()
}

/// One RDN of [`name_key`]: `{attr;attr}` with the attributes sorted, values hex-encoded so no
/// value can forge a separator.
pub(crate) fn rdn_key(rdn: &x509_parser::x509::RelativeDistinguishedName<'_>) -> String {
    let mut attrs: Vec<String> = rdn
        .iter()
        .map(|attr| {
            let value = match attribute_string(attr) {
                Some(v) => format!("s{}", hex::encode(prepare(&v))),
                None => format!("t{}:{}", attr.attr_value().tag().0, hex::encode(attr.attr_value().data)),
            };
            format!("{}={value}", attr.attr_type().to_id_string())
        })
        .collect();
    attrs.sort_unstable();
    format!("{{{}}}", attrs.join(";"))
}

fn prepare(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// `t` truncated to the whole second (towards the past).
pub(crate) fn whole_second(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

fn asn1_time(secs: i64) -> Result<Timestamp, CertError> {
    Timestamp::from_second(secs).map_err(|_| CertError::malformed("a validity date is outside the supported range"))
}

/// Lowercase hex of the serial's magnitude: the DER sign byte (leading 00) is dropped.
fn serial_hex(raw: &[u8]) -> String {
    let trimmed = match raw {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => raw,
    };
    hex::encode(trimmed)
}

/// Bit length of a big-endian unsigned integer (leading zero bytes and bits ignored).
fn unsigned_bit_length(bytes: &[u8]) -> usize {
    let bytes = match bytes.iter().position(|b| *b != 0) {
        Some(i) => &bytes[i..],
        None => return 0,
    };
    bytes.len() * 8 - bytes[0].leading_zeros() as usize
}

fn key_algorithm_name(oid: &str) -> String {
    match oid {
        "1.2.840.10040.4.1" => "DSA".into(),
        "1.3.101.113" => "Ed448".into(),
        "1.3.101.110" => "X25519".into(),
        "1.3.101.111" => "X448".into(),
        "1.2.840.113549.1.1.10" => "RSASSA-PSS-only RSA".into(),
        other => format!("OID {other}"),
    }
}

enum SigAlg {
    Accepted,
    Weak(String),
    Unsupported(String),
}

/// The accepted set is exactly what rustls-webpki verifies with ring, so an accepted certificate
/// never fails path validation for its algorithm.
fn classify_signature_algorithm(alg: &AlgorithmIdentifier<'_>) -> SigAlg {
    let oid = alg.algorithm.to_id_string();
    let weak = |name: &str| SigAlg::Weak(name.to_string());
    let unsupported = |name: &str| SigAlg::Unsupported(name.to_string());
    match oid.as_str() {
        "1.2.840.113549.1.1.11" | "1.2.840.113549.1.1.12" | "1.2.840.113549.1.1.13" => SigAlg::Accepted,
        "1.2.840.10045.4.3.2" | "1.2.840.10045.4.3.3" | "1.3.101.112" => SigAlg::Accepted,
        "1.2.840.113549.1.1.10" => {
            // RSASSA-PSS: the hash is in the parameters; absent parameters mean SHA-1.
            let hash = alg
                .parameters
                .as_ref()
                .and_then(|p| RsaSsaPssParams::try_from(p).ok())
                .map(|p| p.hash_algorithm_oid().to_id_string());
            match hash.as_deref() {
                Some("2.16.840.1.101.3.4.2.1") | Some("2.16.840.1.101.3.4.2.2") | Some("2.16.840.1.101.3.4.2.3") => {
                    SigAlg::Accepted
                }
                Some("1.3.14.3.2.26") | None => weak("RSASSA-PSS with SHA-1"),
                Some(other) => SigAlg::Unsupported(format!("RSASSA-PSS with hash {other}")),
            }
        }
        "1.2.840.113549.1.1.2" => weak("md2WithRSAEncryption"),
        "1.2.840.113549.1.1.3" => weak("md4WithRSAEncryption"),
        "1.2.840.113549.1.1.4" | "1.3.14.3.2.3" | "1.3.14.3.2.25" => weak("md5WithRSAEncryption"),
        "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" => weak("sha1WithRSAEncryption"),
        "1.2.840.10045.4.1" => weak("ecdsa-with-SHA1"),
        "1.2.840.10040.4.3" => weak("dsa-with-SHA1"),
        "1.2.840.113549.1.1.14" => unsupported("sha224WithRSAEncryption"),
        "1.2.840.10045.4.3.1" => unsupported("ecdsa-with-SHA224"),
        "1.2.840.10045.4.3.4" => unsupported("ecdsa-with-SHA512"),
        "1.3.101.113" => unsupported("Ed448"),
        other => SigAlg::Unsupported(format!("the algorithm with OID {other}")),
    }
}

/// RFC 4514 rendering: RDNs most specific first, "," between RDNs, "+" inside multi-valued
/// RDNs, special characters escaped. Attribute types without a short name are written as
/// dotted OIDs with a `#`-hex DER value, as RFC 4514 requires.
pub(crate) fn format_dn(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> =
        name.iter_rdn().map(|rdn| rdn.iter().map(format_attribute).collect::<Vec<_>>().join("+")).collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn format_attribute(attr: &AttributeTypeAndValue<'_>) -> String {
    let oid = attr.attr_type().to_id_string();
    let short = match oid.as_str() {
        "2.5.4.3" => Some("CN"),
        "2.5.4.7" => Some("L"),
        "2.5.4.8" => Some("ST"),
        "2.5.4.10" => Some("O"),
        "2.5.4.11" => Some("OU"),
        "2.5.4.6" => Some("C"),
        "2.5.4.9" => Some("STREET"),
        "0.9.2342.19200300.100.1.25" => Some("DC"),
        "0.9.2342.19200300.100.1.1" => Some("UID"),
        "2.5.4.5" => Some("serialNumber"),
        "1.2.840.113549.1.9.1" => Some("emailAddress"),
        _ => None,
    };
    match (short, attribute_string(attr)) {
        (Some(short), Some(value)) => format!("{short}={}", escape_rfc4514(&value)),
        (short, _) => {
            let der = attr.attr_value().to_der_vec().unwrap_or_default();
            format!("{}=#{}", short.map_or(oid.clone(), str::to_string), hex::encode(der))
        }
    }
}

/// Decodes the directory string types found in real certificates.
pub(crate) fn attribute_string(attr: &AttributeTypeAndValue<'_>) -> Option<String> {
    let value = attr.attr_value();
    let data = value.data;
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::NumericString | Tag::VisibleString => {
            std::str::from_utf8(data).ok().map(str::to_string)
        }
        // T.61 in practice carries Latin-1.
        Tag::TeletexString => Some(data.iter().map(|b| char::from(*b)).collect()),
        Tag::BmpString => {
            if data.len() % 2 != 0 {
                return None;
            }
            let units = data.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units).collect::<Result<String, _>>().ok()
        }
        Tag::UniversalString => {
            if data.len() % 4 != 0 {
                return None;
            }
            data.chunks_exact(4).map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))).collect()
        }
        _ => None,
    }
}

fn escape_rfc4514(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, ch) in value.chars().enumerate() {
        match ch {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(ch);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(ch),
        }
    }
    out
}
