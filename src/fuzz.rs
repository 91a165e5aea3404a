//! Property tests and soak fuzzing of what a namespace editor can write (issue #10, item 10):
//! PEM text and certificates (parsing, validation, CA evaluation, re-signing), validity
//! durations, the Secret values the operator reads back, and policy and partner bodies.
//!
//! Every target runs a few hundred cases in `cargo test`. With `FUZZ_SECS=N` each target runs
//! fresh random rounds until N seconds have passed and prints one summary line
//! (`fuzz <target>: <cases> cases in <s> s, 0 failures`); a failure panics with proptest's
//! shrunk input. docs/security.md records the soak runs:
//!
//! ```sh
//! FUZZ_SECS=600 nice -n 19 cargo test --lib fuzz::certificates -- --nocapture
//! ```
//!
//! Inputs that ever crashed are kept as plain regression tests at the end of this file.

use crate::api::{PartnerDomain, PartnerPolicySpec, PartnerSpec, PolicyRequest};
use crate::mosip;
use crate::trust::{self, CaInput, PartnerCertInput, ResignedBasicConstraints, SigningCa};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Cases per round (and per `cargo test` run without `FUZZ_SECS`).
const CASES: u32 = 128;

/// Runs `test` over `strategy`: one round of [`CASES`] cases, or rounds with fresh seeds until
/// `FUZZ_SECS` seconds have passed. Panics with the shrunk input on the first failure.
fn fuzz<S>(target: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let soak = std::env::var("FUZZ_SECS").ok().and_then(|s| s.parse::<u64>().ok()).map(Duration::from_secs);
    let started = Instant::now();
    let mut cases: u64 = 0;
    loop {
        let mut runner = TestRunner::new(Config { cases: CASES, failure_persistence: None, ..Config::default() });
        match runner.run(&strategy, &test) {
            Ok(()) => cases += u64::from(CASES),
            Err(TestError::Fail(why, input)) => {
                panic!("fuzz {target}: failure after {cases} cases: {why}; minimal input: {input:?}")
            }
            Err(TestError::Abort(why)) => panic!("fuzz {target}: aborted after {cases} cases: {why}"),
        }
        if soak.is_none_or(|limit| started.elapsed() >= limit) {
            break;
        }
    }
    println!("fuzz {target}: {cases} cases in {:.0} s, 0 failures", started.elapsed().as_secs_f64());
}

// ---------------------------------------------------------------------------------------------
// Test PKI (one key per role, made once: the properties are about certificates, not keys).

fn time_of(t: Timestamp) -> time::OffsetDateTime {
    // x509-parser converts without naming the `time` crate; clamp to what X.509 can encode.
    let secs = t.as_second().clamp(-2_208_988_800, 253_402_300_799);
    x509_parser::time::ASN1Time::from_timestamp(secs).expect("in range").to_datetime()
}

fn now() -> Timestamp {
    static NOW: OnceLock<Timestamp> = OnceLock::new();
    *NOW.get_or_init(|| Timestamp::from_second(Timestamp::now().as_second()).expect("now"))
}

fn ca_params(cn: &str, days: i64) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Fuzz CA");
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.not_before = time_of(now() - SignedDuration::from_hours(24));
    p.not_after = time_of(now() + SignedDuration::from_hours(24 * days));
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.use_authority_key_identifier_extension = true;
    p
}

struct Pki {
    root_pem: String,
    root_der: Vec<u8>,
    int_pem: String,
    int_der: Vec<u8>,
    int_params: CertificateParams,
    int_key: KeyPair,
    partner_key: KeyPair,
    /// DER of a few well-formed certificates to mutate: root, intermediate, an end-entity
    /// leaf, a CA leaf.
    seeds: Vec<Vec<u8>>,
    signing: SigningCa,
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let root_params = ca_params("Fuzz Root", 3650);
        let root = root_params.self_signed(&root_key).expect("root");
        let int_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let int_params = ca_params("Fuzz Int", 1825);
        let int = int_params.signed_by(&int_key, &Issuer::from_params(&root_params, &root_key)).expect("int");
        let partner_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let issuer = Issuer::from_params(&int_params, &int_key);
        let leaf = leaf_params(&LeafShape::default()).signed_by(&partner_key, &issuer).expect("leaf");
        let ca_leaf = leaf_params(&LeafShape { ca: Some(2), ..LeafShape::default() })
            .signed_by(&partner_key, &issuer)
            .expect("ca leaf");
        let signing = trust::generate_signing_ca(now()).expect("signing CA");
        Pki {
            root_pem: root.pem(),
            root_der: root.der().to_vec(),
            int_pem: int.pem(),
            int_der: int.der().to_vec(),
            seeds: vec![root.der().to_vec(), int.der().to_vec(), leaf.der().to_vec(), ca_leaf.der().to_vec()],
            int_params,
            int_key,
            partner_key,
            signing,
        }
    })
}

/// What a generated partner certificate looks like.
#[derive(Debug, Clone)]
struct LeafShape {
    dn: Vec<(u8, String)>,
    /// Offsets from now, seconds.
    not_before: i64,
    not_after: i64,
    /// None: end entity; Some(n): CA with pathLen n (255 = unconstrained).
    ca: Option<u8>,
    explicit_no_ca: bool,
    usages: Vec<u8>,
}

impl Default for LeafShape {
    fn default() -> Self {
        LeafShape {
            dn: vec![(0, "Acme".into()), (1, "partner".into())],
            not_before: -86_400,
            not_after: 800 * 86_400,
            ca: None,
            explicit_no_ca: false,
            usages: vec![0],
        }
    }
}

const USAGES: [KeyUsagePurpose; 9] = [
    KeyUsagePurpose::DigitalSignature,
    KeyUsagePurpose::ContentCommitment,
    KeyUsagePurpose::KeyEncipherment,
    KeyUsagePurpose::DataEncipherment,
    KeyUsagePurpose::KeyAgreement,
    KeyUsagePurpose::KeyCertSign,
    KeyUsagePurpose::CrlSign,
    KeyUsagePurpose::EncipherOnly,
    KeyUsagePurpose::DecipherOnly,
];

fn leaf_params(shape: &LeafShape) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for (kind, value) in &shape.dn {
        let kind = match kind % 7 {
            0 => DnType::OrganizationName,
            1 => DnType::CommonName,
            2 => DnType::OrganizationalUnitName,
            3 => DnType::CountryName,
            4 => DnType::LocalityName,
            5 => DnType::StateOrProvinceName,
            _ => DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
        };
        dn.push(kind, value.as_str());
    }
    p.distinguished_name = dn;
    p.not_before = time_of(now().saturating_add(SignedDuration::from_secs(shape.not_before)).unwrap_or(now()));
    p.not_after = time_of(now().saturating_add(SignedDuration::from_secs(shape.not_after)).unwrap_or(now()));
    p.is_ca = match shape.ca {
        Some(255) => IsCa::Ca(BasicConstraints::Unconstrained),
        Some(n) => IsCa::Ca(BasicConstraints::Constrained(n)),
        None if shape.explicit_no_ca => IsCa::ExplicitNoCa,
        None => IsCa::NoCa,
    };
    let mut usages: Vec<KeyUsagePurpose> = shape.usages.iter().map(|u| USAGES[*u as usize % USAGES.len()]).collect();
    usages.dedup();
    p.key_usages = usages;
    p.use_authority_key_identifier_extension = true;
    p
}

fn der_to_pem(der: &[u8]) -> String {
    pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()))
}

const DOMAINS: [PartnerDomain; 4] =
    [PartnerDomain::Auth, PartnerDomain::Device, PartnerDomain::Ftm, PartnerDomain::Misp];

/// Strings editors like to write: empty, long, control characters, non-ASCII, look-alikes.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[ -~]{0,24}",
        1 => "\\PC{0,16}",
        1 => Just(String::new()),
        1 => Just("x".repeat(300)),
        1 => Just("\u{0}\u{7f}\u{202e}\u{feff}é".to_string()),
        1 => Just("Acme".to_string()),
    ]
}

// ---------------------------------------------------------------------------------------------
// PEM text, certificates, validation, CA evaluation, re-signing.

/// Arbitrary PEM-ish text: real blocks, broken armour, junk between and inside blocks.
fn pem_text() -> impl Strategy<Value = String> {
    let seeds = pki().seeds.iter().map(|d| der_to_pem(d)).collect::<Vec<_>>();
    let fragment = prop_oneof![
        2 => proptest::sample::select(seeds),
        1 => Just("-----BEGIN CERTIFICATE-----\n".to_string()),
        1 => Just("-----END CERTIFICATE-----\n".to_string()),
        1 => Just("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_string()),
        1 => "[A-Za-z0-9+/=\n\r ]{0,80}",
        1 => "\\PC{0,40}",
        1 => Just("\r\n".to_string()),
    ];
    proptest::collection::vec(fragment, 0..6).prop_map(|parts| parts.concat())
}

/// One byte-level mutation of a DER seed.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    /// Replaces the X.509 version field (`A0 03 02 01 02`) with an INTEGER of these bytes.
    Version(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        3 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<usize>(), 1usize..16).prop_map(|(i, n)| Mutation::Remove(i, n)),
        1 => prop_oneof![
            // 0xFFFFFFFF made `check_v3` overflow (found by this target; fixed in cert.rs).
            Just(vec![0x00, 0xff, 0xff, 0xff, 0xff]),
            Just(vec![0x7f, 0xff, 0xff, 0xff]),
            Just(vec![0xff]),
            (0u8..5).prop_map(|v| vec![v]),
            proptest::collection::vec(any::<u8>(), 1..6),
        ]
        .prop_map(Mutation::Version),
    ]
}

fn mutate(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut der = seed.to_vec();
    for m in mutations {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
        match m {
            Mutation::Flip(i, bit) if !der.is_empty() => {
                let i = at(*i, der.len());
                der[i] ^= 1 << bit;
            }
            Mutation::Set(i, b) if !der.is_empty() => {
                let i = at(*i, der.len());
                der[i] = *b;
            }
            Mutation::Truncate(i) => der.truncate(at(*i, der.len() + 1)),
            Mutation::Insert(i, bytes) => {
                let i = at(*i, der.len() + 1);
                der.splice(i..i, bytes.iter().copied());
            }
            Mutation::Remove(i, n) if !der.is_empty() => {
                let i = at(*i, der.len());
                let end = (i + n).min(der.len());
                der.drain(i..end);
            }
            Mutation::Version(bytes) => {
                if let Some(pos) = der.windows(5).position(|w| w == [0xa0, 0x03, 0x02, 0x01, 0x02]) {
                    let len = bytes.len() as u8;
                    let mut field = vec![0xa0, len + 2, 0x02, len];
                    field.extend(bytes);
                    der.splice(pos..pos + 5, field);
                    // Fix the two enclosing SEQUENCE lengths (Certificate and TBSCertificate,
                    // both long form `30 82 hi lo`) so that the field itself is what is tested.
                    let delta = usize::from(len) - 1;
                    for at in [0, 4] {
                        if der.len() > at + 3 && der[at] == 0x30 && der[at + 1] == 0x82 {
                            let n = usize::from(der[at + 2]) << 8 | usize::from(der[at + 3]);
                            let n = (n + delta).min(0xffff);
                            der[at + 2] = (n >> 8) as u8;
                            der[at + 3] = n as u8;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    der
}

/// Runs every public entry point that reads certificate bytes.
fn exercise_certificate(der: &[u8], now: Timestamp) {
    let _ = trust::summarize(der);
    let pem = der_to_pem(der);
    let pki = pki();
    for domain in DOMAINS {
        let input = PartnerCertInput {
            domain,
            certificate_pem: &pem,
            chain_pem: Some(&pki.int_pem),
            trusted_roots: std::slice::from_ref(&pki.root_der),
            trusted_intermediates: std::slice::from_ref(&pki.int_der),
            organization: Some("Acme"),
            now,
            min_validity: trust::DEFAULT_MIN_VALIDITY,
        };
        if let Ok(validated) = trust::validate_partner_certificate(&input) {
            let _ = trust::resign(&pki.signing, &validated, domain, SignedDuration::from_hours(24 * 365), now);
        }
    }
    let cas = [
        CaInput { name: "root".into(), domain: PartnerDomain::Auth, pem: pki.root_pem.clone() },
        CaInput { name: "fuzzed".into(), domain: PartnerDomain::Auth, pem },
    ];
    let _ = trust::evaluate_cas(&cas, now);
    let _ = trust::trusted_sets(&cas, PartnerDomain::Auth, now);
}

fn any_now() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        4 => Just(now()),
        1 => (-5_000_000_000i64..5_000_000_000).prop_map(|d| now().saturating_add(SignedDuration::from_secs(d)).unwrap_or(now())),
        1 => Just(Timestamp::MIN),
        1 => Just(Timestamp::MAX),
    ]
}

#[test]
fn certificates() {
    let pki = pki();
    let seeds = pki.seeds.len();
    let strategy = (0..seeds, proptest::collection::vec(mutation(), 1..4), any_now());
    fuzz("certificates", strategy, |(seed, mutations, now)| {
        let der = mutate(&pki.seeds[seed], &mutations);
        exercise_certificate(&der, now);
        Ok(())
    });
}

#[test]
fn pem_texts() {
    fuzz("pem_texts", pem_text(), |text| {
        if let Ok(ders) = trust::parse_pem_certificates(&text) {
            for der in &ders {
                let _ = trust::summarize(der);
            }
        }
        let _ = trust::ca_inputs_from_bundle("bundle", PartnerDomain::Device, &text);
        let cas = [CaInput { name: "x".into(), domain: PartnerDomain::Ftm, pem: text.clone() }];
        let _ = trust::evaluate_cas(&cas, now());
        let pki = pki();
        let input = PartnerCertInput {
            domain: PartnerDomain::Auth,
            certificate_pem: &text,
            chain_pem: Some(&text),
            trusted_roots: std::slice::from_ref(&pki.root_der),
            trusted_intermediates: std::slice::from_ref(&pki.int_der),
            organization: None,
            now: now(),
            min_validity: SignedDuration::ZERO,
        };
        let _ = trust::validate_partner_certificate(&input);
        Ok(())
    });
}

fn leaf_shape() -> impl Strategy<Value = LeafShape> {
    let offset =
        prop_oneof![-400_000_000i64..400_000_000, Just(-3_000_000_000i64), Just(253_402_300_799i64), Just(0i64),];
    let not_before = prop_oneof![3 => Just(-86_400i64), 1 => offset.clone()];
    let not_after = prop_oneof![3 => 86_400i64..3_000 * 86_400, 1 => offset];
    let dn = prop_oneof![
        3 => (proptest::collection::vec((1u8..7, nasty_string()), 0..4))
            .prop_map(|mut dn| { dn.insert(0, (0, "Acme".to_string())); dn }),
        1 => proptest::collection::vec((0u8..7, nasty_string()), 0..5),
    ];
    (
        dn,
        not_before,
        not_after,
        proptest::option::of(prop_oneof![Just(255u8), 0u8..4]),
        any::<bool>(),
        proptest::collection::vec(0u8..9, 0..5),
    )
        .prop_map(|(dn, not_before, not_after, ca, explicit_no_ca, usages)| LeafShape {
            dn,
            not_before,
            not_after,
            ca,
            explicit_no_ca,
            usages,
        })
}

/// Well-formed but arbitrary partner certificates, properly signed by the trusted
/// intermediate: validation never panics, and a re-signed certificate never grants more than
/// the profile allows (item 4 of #10).
#[test]
fn signed_partner_certificates() {
    let pki = pki();
    let issuer = Issuer::from_params(&pki.int_params, &pki.int_key);
    let mosip_ca =
        SigningCa::from_pems(pki.signing.root_cert_pem(), None, pki.signing.pms_cert_pem(), pki.signing.pms_key_pem())
            .expect("reload")
            .with_basic_constraints(ResignedBasicConstraints::Mosip);
    let strategy = (leaf_shape(), proptest::sample::select(DOMAINS.to_vec()), any::<bool>());
    let (validated_count, resigned_count, ca_count) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    fuzz("signed_partner_certificates", strategy, |(shape, domain, check_org)| {
        let Ok(cert) = leaf_params(&shape).signed_by(&pki.partner_key, &issuer) else {
            return Ok(()); // rcgen refuses some shapes (e.g. times it cannot encode)
        };
        let input = PartnerCertInput {
            domain,
            certificate_pem: &cert.pem(),
            chain_pem: None,
            trusted_roots: std::slice::from_ref(&pki.root_der),
            trusted_intermediates: std::slice::from_ref(&pki.int_der),
            organization: check_org.then_some("Acme"),
            now: now(),
            min_validity: SignedDuration::ZERO,
        };
        let Ok(validated) = trust::validate_partner_certificate(&input) else { return Ok(()) };
        validated_count.fetch_add(1, Ordering::Relaxed);
        for ca in [&pki.signing, &mosip_ca] {
            let Ok(resigned) = trust::resign(ca, &validated, domain, SignedDuration::from_hours(24 * 365), now())
            else {
                continue;
            };
            let der = trust::parse_pem_certificates(&resigned.certificate_pem)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let (_, parsed) =
                x509_parser::parse_x509_certificate(&der[0]).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let bc =
                parsed.basic_constraints().map_err(|e| TestCaseError::fail(e.to_string()))?.map(|b| b.value.clone());
            let ku = parsed.key_usage().map_err(|e| TestCaseError::fail(e.to_string()))?.map(|k| *k.value);
            if ca.basic_constraints() == ResignedBasicConstraints::Mirror {
                resigned_count.fetch_add(1, Ordering::Relaxed);
                let is_ca = bc.as_ref().is_some_and(|b| b.ca);
                if is_ca {
                    ca_count.fetch_add(1, Ordering::Relaxed);
                }
                let may_be_ca = shape.ca.is_some() && matches!(domain, PartnerDomain::Device | PartnerDomain::Ftm);
                prop_assert!(!is_ca || may_be_ca, "re-signed as CA: {shape:?} in {domain}");
                if is_ca {
                    prop_assert_eq!(bc.as_ref().and_then(|b| b.path_len_constraint), Some(0));
                } else {
                    prop_assert!(bc.is_some(), "an end entity gets an explicit CA:FALSE");
                    prop_assert!(ku.as_ref().is_none_or(|k| !k.key_cert_sign() && !k.crl_sign()));
                }
            }
        }
        Ok(())
    });
    println!(
        "fuzz signed_partner_certificates: {} validated, {} re-signed (mirror), {} of them CAs",
        validated_count.into_inner(),
        resigned_count.into_inner(),
        ca_count.into_inner()
    );
}

// ---------------------------------------------------------------------------------------------
// Durations (spec.validity, flags).

fn duration_text() -> impl Strategy<Value = String> {
    let term = prop_oneof![
        "[0-9]{1,25}[ywdhms]",
        "[0-9]{0,3}(ms|M|µs|ns|[.][0-9])?",
        Just("18446744073709551615s".to_string()),
        Just("9223372036854775807y".to_string()),
        Just("36500d".to_string()),
        Just("-1s".to_string()),
        "\\PC{0,4}",
    ];
    proptest::collection::vec(term, 0..5).prop_map(|t| t.concat())
}

#[test]
fn durations() {
    fuzz("durations", duration_text(), |text| {
        if let Ok(d) = mosip::parse_validity(&text) {
            prop_assert!(d > SignedDuration::ZERO);
            prop_assert!(d.as_secs() as u64 <= mosip::MAX_VALIDITY_SECS, "{text:?} gave {d}");
            prop_assert_eq!(mosip::parse_validity(&format!("{}s", d.as_secs())), Ok(d));
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Secret values the operator reads back (validUntil, validFrom, not-after annotations, keys).

/// Timestamps as an editor could write them into a Secret: RFC 3339 at and beyond jiff's and
/// X.509's ranges, with odd offsets, plus arbitrary bytes.
fn secret_value() -> impl Strategy<Value = Vec<u8>> {
    let year = prop_oneof![Just(-9999i32), Just(9999), 1i32..10000, Just(0), Just(1970)];
    let stamp = (year, 0u32..14, 0u32..33, 0u32..25, 0u32..61, 0u32..62, prop_oneof!["Z", "[+-][0-9]{2}:[0-9]{2}"])
        .prop_map(|(y, mo, d, h, mi, s, off)| {
            let sign = if y < 0 { "-" } else { "" };
            format!("{sign}{:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{off}", y.unsigned_abs()).into_bytes()
        });
    prop_oneof![
        3 => stamp,
        1 => Just(b"-009999-01-01T00:00:00Z".to_vec()),
        1 => Just(b"9999-12-31T23:59:59Z".to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..40),
        1 => "\\PC{0,30}".prop_map(String::into_bytes),
    ]
}

#[test]
fn secret_values() {
    use crate::controller::secrets;
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;
    let strategy = (secret_value(), secret_value(), any::<bool>());
    fuzz("secret_values", strategy, |(a, b, as_string_data)| {
        let mut secret = Secret::default();
        if as_string_data {
            secret.string_data =
                Some([("validUntil".to_string(), String::from_utf8_lossy(&a).into_owned())].into_iter().collect());
        } else {
            secret.data = Some(
                [("validUntil".to_string(), ByteString(a.clone())), ("apiKey".to_string(), ByteString(b.clone()))]
                    .into_iter()
                    .collect(),
            );
        }
        let until = secrets::read_text(&secret, "validUntil");
        let key = secrets::read_text(&secret, "apiKey");
        if let Some(key) = &key {
            prop_assert_eq!(mosip::key_fingerprint(key).len(), 16);
        }
        let parsed: Option<Timestamp> = until.as_deref().and_then(|s| s.parse().ok());
        if let Some(t) = parsed {
            // What the reconcilers do with such a value must be total: checked arithmetic only.
            let day = SignedDuration::from_hours(24);
            let _ = t.checked_sub(day).ok().map(|renew_at| renew_at < now());
            let _ = t.checked_add(day);
            let _ = t.duration_since(now());
        }
        let data = secret.data.clone().unwrap_or_default();
        let _ = secrets::content_hash(&data, &Default::default());
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Policy and partner bodies as an editor (partners) or admin (policies) writes them.

/// Every property name of the CRDs, so generated JSON hits real fields.
fn crd_vocabulary() -> &'static [String] {
    static WORDS: OnceLock<Vec<String>> = OnceLock::new();
    WORDS.get_or_init(|| {
        fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::Object(props)) = map.get("properties") {
                        out.extend(props.keys().cloned());
                    }
                    map.values().for_each(|v| walk(v, out));
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        let mut words = Vec::new();
        for doc in serde_yaml::Deserializer::from_str(include_str!("../crds/mosip-partner-operator.crds.yaml")) {
            if let Ok(v) = serde_json::Value::deserialize(doc) {
                walk(&v, &mut words);
            }
        }
        words.sort();
        words.dedup();
        words
    })
}

use serde::Deserialize;

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        nasty_string().prop_map(Value::String),
        proptest::sample::select(vec![
            "Auth",
            "DataShare",
            "CredentialIssuance",
            "MISP",
            "Manual",
            "Automatic",
            "AUTH",
            "face",
            "finger[Left Thumb]",
            "auth",
            "qrcode",
            "Auth_Partner",
            "Device_Provider",
            "MISP_Partner",
            "Credential_Partner",
            "grp",
            "p",
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    let words = crd_vocabulary().to_vec();
    leaf.prop_recursive(4, 48, 6, move |inner| {
        let key = prop_oneof![4 => proptest::sample::select(words.clone()), 1 => "[a-zA-Z]{1,8}"];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(key, inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn policy_and_partner_bodies() {
    let strategy = (json_value(), json_value(), json_value(), nasty_string());
    fuzz("policy_and_partner_bodies", strategy, |(policy, request, partner, partner_id)| {
        let policy: Option<PartnerPolicySpec> = serde_json::from_value(policy).ok();
        let request: Option<PolicyRequest> = serde_json::from_value(request).ok();
        let partner: Option<PartnerSpec> = serde_json::from_value(partner).ok();
        if let Some(policy) = &policy {
            let _ = mosip::validate_policy(policy);
            let _ = mosip::body_field(policy.policy_type);
        }
        if let Some(partner) = &partner {
            let errors = mosip::validate_registration(partner, &partner_id);
            let _ = mosip::registration_summary(&errors);
            for r in &partner.policies {
                let _ = mosip::validate_request(partner.partner_type, partner.policy_group.as_deref(), r, None, &[]);
            }
        }
        if let (Some(policy), Some(request)) = (&policy, &request) {
            let hash = mosip::request_hash("uid", policy, request);
            prop_assert_eq!(hash.len(), 32);
            prop_assert_eq!(&hash, &mosip::request_hash("uid", policy, request));
            let view = mosip::PolicyView {
                name: request.name.clone(),
                group: policy.group.clone(),
                policy_type: policy.policy_type,
                ready: true,
            };
            for t in crate::mosip::ALL_PARTNER_TYPES.iter() {
                let _ = mosip::validate_request(*t, Some(&policy.group), request, Some(&view), &["x".into()]);
            }
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Regression inputs: every input a fuzz run ever crashed on (see docs/security.md).

/// Found by `certificates` on the first soak run: an X.509 version field of 0xFFFFFFFF made
/// `check_v3` overflow (`version + 1`), a panic in debug builds and a wrong message in release
/// (#10 item 9, fixed in `trust/cert.rs`).
#[test]
fn regression_version_field_0xffffffff() {
    let pki = pki();
    for seed in &pki.seeds {
        let der = mutate(seed, &[Mutation::Version(vec![0x00, 0xff, 0xff, 0xff, 0xff])]);
        assert!(x509_parser::parse_x509_certificate(&der).is_ok(), "the mutation keeps the DER well-formed");
        exercise_certificate(&der, now());
    }
}

/// Found by `signed_partner_certificates` on its first runs: a partner certificate whose
/// countryName contains '?' crashed re-signing (rcgen accepts '?' in a PrintableString, its
/// DER writer panics on it). Any editor could submit one; the operator would have crashed on
/// every restart. Now the value is re-signed as a UTF8String.
#[test]
fn regression_country_name_with_question_mark() {
    let pki = pki();
    let issuer = Issuer::from_params(&pki.int_params, &pki.int_key);
    let shape = LeafShape { dn: vec![(0, "Acme".into()), (3, "?".into())], ..LeafShape::default() };
    let cert = leaf_params(&shape).signed_by(&pki.partner_key, &issuer).expect("a UTF8String country");
    let input = PartnerCertInput {
        domain: PartnerDomain::Auth,
        certificate_pem: &cert.pem(),
        chain_pem: None,
        trusted_roots: std::slice::from_ref(&pki.root_der),
        trusted_intermediates: std::slice::from_ref(&pki.int_der),
        organization: Some("Acme"),
        now: now(),
        min_validity: SignedDuration::ZERO,
    };
    let validated = trust::validate_partner_certificate(&input).expect("valid");
    let resigned = trust::resign(&pki.signing, &validated, PartnerDomain::Auth, SignedDuration::from_hours(24), now())
        .expect("re-signed, not a panic");
    let summary =
        trust::summarize(&trust::parse_pem_certificates(&resigned.certificate_pem).expect("pem")[0]).expect("summary");
    assert!(summary.subject.contains("C=?"), "{}", summary.subject);
}
