//! Test PKI builders: rcgen for ECDSA/Ed25519 and foreign public keys, the openssl CLI only for
//! what rcgen with ring cannot do (RSA key generation, SHA-1/MD5 signatures, v1 certificates,
//! signing with RSA-1024 keys).

use jiff::{SignedDuration, Timestamp};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, SignatureAlgorithm,
};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// The tests' "now": wall-clock time at first use, whole seconds (openssl-made certificates
/// start at the wall clock, so fixtures must be anchored to it).
pub fn t0() -> Timestamp {
    static T0: OnceLock<Timestamp> = OnceLock::new();
    *T0.get_or_init(|| Timestamp::from_second(Timestamp::now().as_second()).expect("now"))
}

pub fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

pub fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

pub fn at(offset: SignedDuration) -> Timestamp {
    t0().checked_add(offset).expect("timestamp in range")
}

/// An issued certificate and, when we hold it, its key.
pub struct Issued {
    pub der: Vec<u8>,
    pub pem: String,
    pub key: Option<KeyPair>,
}

impl Issued {
    pub fn key_pem(&self) -> String {
        self.key.as_ref().expect("certificate has a key").serialize_pem()
    }

    /// An rcgen issuer read back from the certificate, so openssl-made CAs work too.
    fn issuer(&self) -> Issuer<'static, &KeyPair> {
        let key = self.key.as_ref().expect("issuer has a key");
        Issuer::from_ca_cert_der(&self.der.clone().into(), key).expect("issuer")
    }

    /// A certificate from openssl output, with its key when we hold it.
    pub fn from_pem(pem: String, key: Option<KeyPair>) -> Issued {
        let der = crate::trust::parse_pem_certificates(&pem).expect("openssl output").remove(0);
        Issued { der, pem, key }
    }
}

/// A change to rcgen parameters.
pub type Tweak = Box<dyn Fn(&mut CertificateParams)>;

/// What to issue.
pub struct Spec {
    pub dn: Vec<(DnType, String)>,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub is_ca: IsCa,
    pub key_usages: Vec<KeyUsagePurpose>,
    pub alg: &'static SignatureAlgorithm,
    /// Further changes to the rcgen parameters (SANs, custom extensions, serials, …).
    pub tweaks: Vec<Tweak>,
}

impl Spec {
    pub fn root(cn: &str) -> Spec {
        Spec {
            dn: vec![(DnType::OrganizationName, "Test CA Org".into()), (DnType::CommonName, cn.into())],
            not_before: at(-days(1)),
            not_after: at(days(3650)),
            is_ca: IsCa::Ca(BasicConstraints::Unconstrained),
            key_usages: vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign],
            alg: &PKCS_ECDSA_P256_SHA256,
            tweaks: Vec::new(),
        }
    }

    pub fn intermediate(cn: &str) -> Spec {
        Spec { not_after: at(days(1825)), ..Spec::root(cn) }
    }

    pub fn leaf(cn: &str, o: &str) -> Spec {
        Spec {
            dn: vec![
                (DnType::CountryName, "IN".into()),
                (DnType::StateOrProvinceName, "Karnataka".into()),
                (DnType::LocalityName, "Bengaluru".into()),
                (DnType::OrganizationName, o.into()),
                (DnType::OrganizationalUnitName, "Integration".into()),
                (DnType::CommonName, cn.into()),
            ],
            not_before: at(-days(1)),
            not_after: at(days(730)),
            is_ca: IsCa::NoCa,
            key_usages: vec![KeyUsagePurpose::DigitalSignature],
            alg: &PKCS_ECDSA_P256_SHA256,
            tweaks: Vec::new(),
        }
    }

    pub fn valid(mut self, not_before: Timestamp, not_after: Timestamp) -> Spec {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }

    pub fn path_len(mut self, n: u8) -> Spec {
        self.is_ca = IsCa::Ca(BasicConstraints::Constrained(n));
        self
    }

    pub fn ca(mut self, is_ca: IsCa) -> Spec {
        self.is_ca = is_ca;
        self
    }

    pub fn key_usages(mut self, usages: Vec<KeyUsagePurpose>) -> Spec {
        self.key_usages = usages;
        self
    }

    pub fn alg(mut self, alg: &'static SignatureAlgorithm) -> Spec {
        self.alg = alg;
        self
    }

    /// Applies `f` to the rcgen parameters after everything else.
    pub fn with(mut self, f: impl Fn(&mut CertificateParams) + 'static) -> Spec {
        self.tweaks.push(Box::new(f));
        self
    }

    pub fn dn(mut self, dn: Vec<(DnType, &str)>) -> Spec {
        self.dn = dn.into_iter().map(|(t, v)| (t, v.to_string())).collect();
        self
    }

    fn params(&self) -> CertificateParams {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        for (t, v) in &self.dn {
            dn.push(t.clone(), v.as_str());
        }
        params.distinguished_name = dn;
        // rcgen wants `time::OffsetDateTime`; x509-parser's ASN1Time converts without naming it.
        let odt =
            |t: Timestamp| x509_parser::time::ASN1Time::from_timestamp(t.as_second()).expect("time").to_datetime();
        params.not_before = odt(self.not_before);
        params.not_after = odt(self.not_after);
        params.is_ca = self.is_ca;
        params.key_usages = self.key_usages.clone();
        params.use_authority_key_identifier_extension = true;
        for tweak in &self.tweaks {
            tweak(&mut params);
        }
        params
    }

    pub fn self_signed(self) -> Issued {
        let key = KeyPair::generate_for(self.alg).expect("keygen");
        let params = self.params();
        let cert = params.self_signed(&key).expect("self-sign");
        Issued { der: cert.der().to_vec(), pem: cert.pem(), key: Some(key) }
    }

    pub fn self_signed_with(self, key: KeyPair) -> Issued {
        let params = self.params();
        let cert = params.self_signed(&key).expect("self-sign");
        Issued { der: cert.der().to_vec(), pem: cert.pem(), key: Some(key) }
    }

    pub fn signed_by(self, issuer: &Issued) -> Issued {
        let key = KeyPair::generate_for(self.alg).expect("keygen");
        let params = self.params();
        let cert = params.signed_by(&key, &issuer.issuer()).expect("sign");
        Issued { der: cert.der().to_vec(), pem: cert.pem(), key: Some(key) }
    }

    /// Certifies a public key we do not hold (RSA from openssl, for instance).
    pub fn for_public_key(self, spki_der: &[u8], issuer: &Issued) -> Issued {
        let public_key = rcgen::SubjectPublicKeyInfo::from_der(spki_der).expect("spki");
        let params = self.params();
        let cert = params.signed_by(&public_key, &issuer.issuer()).expect("sign");
        Issued { der: cert.der().to_vec(), pem: cert.pem(), key: None }
    }
}

/// Runs openssl in `dir`; panics with its stderr on failure.
pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// An RSA private key (PKCS#8 PEM) of `bits`, generated once per test run.
pub fn rsa_key_pem(bits: u32) -> &'static str {
    static RSA_1024: OnceLock<String> = OnceLock::new();
    static RSA_2048: OnceLock<String> = OnceLock::new();
    let cell = match bits {
        1024 => &RSA_1024,
        2048 => &RSA_2048,
        _ => panic!("unsupported size"),
    };
    cell.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let bits_opt = format!("rsa_keygen_bits:{bits}");
        openssl(dir.path(), &["genpkey", "-algorithm", "RSA", "-pkeyopt", &bits_opt, "-out", "k.pem"]);
        std::fs::read_to_string(dir.path().join("k.pem")).expect("key")
    })
}

/// DER SubjectPublicKeyInfo of a private key PEM.
pub fn spki_of(key_pem: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("k.pem"), key_pem).expect("write");
    openssl(dir.path(), &["pkey", "-in", "k.pem", "-pubout", "-outform", "DER", "-out", "pub.der"]);
    std::fs::read(dir.path().join("pub.der")).expect("spki")
}

/// Issues a certificate with openssl: `subject` like "/C=IN/O=Acme/CN=x", signed by `ca`
/// (certificate and key PEM) with `digest` ("sha1", "md5", "sha256", ...). `ext` is the body of
/// an extensions section, or None for an X.509 v1 certificate. `extra` is appended to the
/// `openssl x509 -req` arguments (e.g. PSS options).
pub fn openssl_issue(
    subject: &str,
    subject_key_pem: &str,
    ca_cert_pem: &str,
    ca_key_pem: &str,
    digest: &str,
    ext: Option<&str>,
    extra: &[&str],
) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    std::fs::write(p.join("subject.key"), subject_key_pem).expect("write");
    std::fs::write(p.join("ca.pem"), ca_cert_pem).expect("write");
    std::fs::write(p.join("ca.key"), ca_key_pem).expect("write");
    openssl(p, &["req", "-new", "-key", "subject.key", "-subj", subject, "-out", "subject.csr"]);
    let digest_flag = format!("-{digest}");
    let mut args = vec![
        "x509",
        "-req",
        "-in",
        "subject.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-days",
        "800",
        "-set_serial",
        "4660",
        &digest_flag,
        "-out",
        "cert.pem",
    ];
    if let Some(ext) = ext {
        std::fs::write(p.join("ext.cnf"), format!("[v3]\n{ext}\n")).expect("write");
        args.extend(["-extfile", "ext.cnf", "-extensions", "v3"]);
    }
    args.extend(extra);
    openssl(p, &args);
    std::fs::read_to_string(p.join("cert.pem")).expect("cert")
}

pub const LEAF_EXT: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature";
pub const CA_EXT: &str = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign";

/// A self-signed RSA-2048 root made by rcgen with a key generated by openssl.
pub fn rsa_root(cn: &str) -> Issued {
    let key = KeyPair::from_pem(rsa_key_pem(2048)).expect("rsa key");
    Spec::root(cn).alg(&rcgen::PKCS_RSA_SHA256).self_signed_with(key)
}

/// A fresh ECDSA P-256 key, PKCS#8 PEM.
pub fn ec_key_pem() -> String {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("keygen").serialize_pem()
}
