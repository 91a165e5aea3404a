//! MOSIP re-signing and the signing CA.

use super::Check;
use super::fixtures::*;
use crate::api::PartnerDomain;
use crate::trust::{
    ResignedBasicConstraints, SigningCa, SigningError, ValidatedCertificate, generate_signing_ca, resign, summarize,
};
use rcgen::{BasicConstraints, DnType, IsCa, KeyPair, KeyUsagePurpose};
use x509_parser::prelude::{FromDer, X509Certificate};

fn parse(der: &[u8]) -> X509Certificate<'_> {
    X509Certificate::from_der(der).expect("certificate").1
}

fn first_der(pem: &str) -> Vec<u8> {
    crate::trust::parse_pem_certificates(pem).expect("pem").remove(0)
}

/// A validated EC partner certificate whose subject carries an emailAddress MOSIP drops.
fn validated_partner() -> ValidatedCertificate {
    let root = Spec::root("Partner CA").self_signed();
    let leaf = Spec::leaf("partner.example", "Acme")
        .dn(vec![
            (DnType::CountryName, "IN"),
            (DnType::StateOrProvinceName, "KA"),
            (DnType::LocalityName, "Bengaluru"),
            (DnType::OrganizationName, "Acme"),
            (DnType::OrganizationalUnitName, "Auth"),
            (DnType::CommonName, "partner.example"),
            (DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]), "ops@example.org"),
        ])
        .signed_by(&root);
    Check::new(&leaf, &[&root]).run().expect("valid partner")
}

fn openssl_verify(ca: &SigningCa, resigned_pem: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("root.pem"), ca.root_cert_pem()).expect("write");
    std::fs::write(dir.path().join("pms.pem"), ca.pms_cert_pem()).expect("write");
    std::fs::write(dir.path().join("leaf.pem"), resigned_pem).expect("write");
    let out = openssl(dir.path(), &["verify", "-CAfile", "root.pem", "-untrusted", "pms.pem", "leaf.pem"]);
    assert!(String::from_utf8_lossy(&out).contains("leaf.pem: OK"));
}

#[test]
fn generated_signing_ca_is_a_proper_two_level_ca() {
    let ca = generate_signing_ca(t0()).expect("generate");
    let root = summarize(ca.root_der()).expect("root");
    let pms = summarize(ca.pms_der()).expect("pms");
    assert!(root.subject.starts_with("CN=MOSIP-ROOT-") && root.subject.ends_with(",O=MOSIP"), "{}", root.subject);
    assert_eq!(root.subject, root.issuer);
    assert_eq!(pms.subject, "CN=PMS,O=MOSIP");
    assert_eq!(pms.issuer, root.subject);
    assert_eq!((root.not_before, root.not_after), (t0(), at(days(3650))));
    assert_eq!(pms.not_after, at(days(1460)));
    assert_eq!(ca.pms_not_after(), pms.not_after);
    for der in [ca.root_der(), ca.pms_der()] {
        let cert = parse(der);
        assert!(cert.is_ca());
        let ku = cert.key_usage().expect("ku").expect("present").value;
        assert!(ku.key_cert_sign() && ku.crl_sign());
    }
    // The same CA is Ready for CA evaluation too.
    let inputs = [
        crate::trust::CaInput { name: "root".into(), domain: PartnerDomain::Auth, pem: ca.root_cert_pem().into() },
        crate::trust::CaInput { name: "pms".into(), domain: PartnerDomain::Auth, pem: ca.pms_cert_pem().into() },
    ];
    assert!(crate::trust::evaluate_cas(&inputs, t0()).iter().all(|v| v.ready));
    assert_ne!(generate_signing_ca(t0()).expect("again").root_cert_pem(), ca.root_cert_pem());
}

#[test]
fn resigned_certificate_keeps_the_key_and_mosip_subject() {
    let ca = generate_signing_ca(t0()).expect("generate");
    let partner = validated_partner();
    let resigned = resign(&ca, &partner, PartnerDomain::Auth, days(365), t0()).expect("resign");
    assert_eq!(resigned.chain_pem, format!("{}{}", ca.pms_cert_pem(), ca.root_cert_pem()));
    assert_eq!(resigned.not_after, at(days(365)));

    let der = first_der(&resigned.certificate_pem);
    let cert = parse(&der);
    assert_eq!(cert.public_key().raw, partner.spki_der.as_slice(), "same SPKI");
    let summary = summarize(&der).expect("summary");
    assert_eq!(summary.subject, "CN=partner.example,OU=Auth,O=Acme,L=Bengaluru,ST=KA,C=IN");
    assert_eq!(summary.issuer, "CN=PMS,O=MOSIP");
    assert_eq!((summary.not_before, summary.not_after), (t0(), at(days(365))));
    // The submitted end-entity certificate (CA absent, keyUsage digitalSignature) is mirrored.
    let bc = cert.basic_constraints().expect("bc").expect("explicit CA:FALSE").value;
    assert!(!bc.ca && bc.path_len_constraint.is_none());
    let ku = cert.key_usage().expect("ku").expect("present").value;
    assert!(ku.digital_signature() && !ku.key_cert_sign() && !ku.crl_sign() && !ku.key_encipherment());
    let pms = parse(ca.pms_der());
    cert.verify_signature(Some(pms.public_key())).expect("signed by PMS");
    openssl_verify(&ca, &resigned.certificate_pem);

    let device = resign(&ca, &partner, PartnerDomain::Device, days(365), t0()).expect("resign");
    let device_der = first_der(&device.certificate_pem);
    let device_cert = parse(&device_der);
    assert!(!device_cert.is_ca(), "an end-entity certificate stays one in every domain");
    assert_ne!(device_cert.raw_serial(), cert.raw_serial(), "random serials");
    assert_eq!(device_cert.raw_serial().len(), 16);
}

/// basicConstraints and keyUsage as openssl prints them.
fn openssl_extensions(pem: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("c.pem"), pem).expect("write");
    let out = openssl(dir.path(), &["x509", "-in", "c.pem", "-noout", "-ext", "basicConstraints,keyUsage"]);
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether openssl accepts `child` as issued under `resigned` (chain: resigned, PMS, root).
fn openssl_accepts_child(ca: &SigningCa, resigned_pem: &str, child_pem: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("root.pem"), ca.root_cert_pem()).expect("write");
    std::fs::write(dir.path().join("untrusted.pem"), format!("{}{resigned_pem}", ca.pms_cert_pem())).expect("write");
    std::fs::write(dir.path().join("child.pem"), child_pem).expect("write");
    let out = std::process::Command::new("openssl")
        .args(["verify", "-CAfile", "root.pem", "-untrusted", "untrusted.pem", "child.pem"])
        .current_dir(dir.path())
        .output()
        .expect("openssl");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() { Ok(()) } else { Err(text) }
}

/// The re-signed certificate as an issuer, with the partner's own key (which the partner holds).
fn as_issuer(resigned_pem: &str, partner_key: &KeyPair) -> Issued {
    let key = KeyPair::from_pem(&partner_key.serialize_pem()).expect("key");
    Issued::from_pem(resigned_pem.to_string(), Some(key))
}

/// Finding 4 of #10: an AUTH partner's re-signed certificate must not let it mint certificates
/// that chain to the MOSIP root. MOSIP's profile (opt-in) still does, and says so.
#[test]
fn an_end_entity_partner_cannot_issue_under_its_resigned_certificate() {
    let ca = generate_signing_ca(t0()).expect("generate");
    let root = Spec::root("Partner CA").self_signed();
    let leaf = Spec::leaf("partner.example", "Acme").signed_by(&root);
    let partner = Check::new(&leaf, &[&root]).run().expect("valid partner");
    let partner_key = leaf.key.as_ref().expect("key");

    let resigned = resign(&ca, &partner, PartnerDomain::Auth, days(365), t0()).expect("resign");
    let ext = openssl_extensions(&resigned.certificate_pem);
    assert!(ext.contains("CA:FALSE") && ext.contains("Digital Signature"), "{ext}");
    assert!(!ext.contains("Certificate Sign"), "{ext}");
    let minted = Spec::leaf("stolen.example", "Acme").signed_by(&as_issuer(&resigned.certificate_pem, partner_key));
    let err = openssl_accepts_child(&ca, &resigned.certificate_pem, &minted.pem).expect_err("must not chain");
    assert!(err.contains("invalid CA certificate") || err.contains("not a CA"), "{err}");

    // `--resigned-basic-constraints mosip`: MOSIP's CA:TRUE for everyone, documented as unsafe.
    let mosip = generate_signing_ca(t0()).expect("generate").with_basic_constraints(ResignedBasicConstraints::Mosip);
    let resigned = resign(&mosip, &partner, PartnerDomain::Auth, days(365), t0()).expect("resign");
    let der = first_der(&resigned.certificate_pem);
    let cert = parse(&der);
    assert!(cert.is_ca());
    assert_eq!(cert.basic_constraints().expect("bc").expect("bc").value.path_len_constraint, None);
    let ku = cert.key_usage().expect("ku").expect("present").value;
    assert!(ku.digital_signature() && ku.key_cert_sign() && ku.key_encipherment());
    let minted = Spec::leaf("stolen.example", "Acme").signed_by(&as_issuer(&resigned.certificate_pem, partner_key));
    openssl_accepts_child(&mosip, &resigned.certificate_pem, &minted.pem).expect("MOSIP's profile lets it chain");
}

/// A DEVICE or FTM partner CA keeps CA:TRUE, with pathLen 0 whatever it had, and its keyUsage:
/// it can issue device certificates, but no CA below it.
#[test]
fn a_device_partner_ca_stays_a_ca_with_path_length_zero() {
    let ca = generate_signing_ca(t0()).expect("generate");
    let root = Spec::root("Device Root").self_signed();
    let usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    for submitted in [IsCa::Ca(BasicConstraints::Unconstrained), IsCa::Ca(BasicConstraints::Constrained(3))] {
        let leaf = Spec::leaf("device-ca", "Acme").ca(submitted).key_usages(usages.clone()).signed_by(&root);
        let partner_key = leaf.key.as_ref().expect("key");
        for domain in [PartnerDomain::Device, PartnerDomain::Ftm] {
            let partner = Check::new(&leaf, &[&root]).domain(domain).run().expect("valid CA partner");
            let resigned = resign(&ca, &partner, domain, days(365), t0()).expect("resign");
            let der = first_der(&resigned.certificate_pem);
            let cert = parse(&der);
            let bc = cert.basic_constraints().expect("bc").expect("present").value;
            assert!(bc.ca && bc.path_len_constraint == Some(0), "{domain}: {bc:?}");
            let ku = cert.key_usage().expect("ku").expect("present").value;
            assert!(ku.digital_signature() && ku.key_cert_sign() && ku.crl_sign() && !ku.key_encipherment());
            let ext = openssl_extensions(&resigned.certificate_pem);
            assert!(ext.contains("CA:TRUE, pathlen:0"), "{ext}");

            let issuer = as_issuer(&resigned.certificate_pem, partner_key);
            let device = Spec::leaf("device-1", "Acme").signed_by(&issuer);
            openssl_accepts_child(&ca, &resigned.certificate_pem, &device.pem).expect("a device certificate chains");
            let sub_ca = Spec::intermediate("sub-ca").signed_by(&issuer);
            let below = Spec::leaf("device-2", "Acme").signed_by(&sub_ca);
            let err = openssl_accepts_child(&ca, &format!("{}{}", sub_ca.pem, resigned.certificate_pem), &below.pem)
                .expect_err("no CA below a partner CA");
            assert!(err.contains("path length"), "{err}");
        }
    }
}

/// A CA:TRUE certificate submitted by an AUTH or MISP partner is re-signed as an end entity;
/// one whose keyUsage would be empty then is refused with a message saying what to submit.
#[test]
fn a_ca_certificate_of_another_domain_becomes_an_end_entity() {
    let ca = generate_signing_ca(t0()).expect("generate");
    let root = Spec::root("Partner Root").self_signed();
    let both = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyCertSign];
    let leaf = Spec::leaf("auth-ca", "Acme").path_len(0).key_usages(both).signed_by(&root);
    for domain in [PartnerDomain::Auth, PartnerDomain::Misp] {
        let partner = Check::new(&leaf, &[&root]).domain(domain).run().expect("valid");
        let resigned = resign(&ca, &partner, domain, days(365), t0()).expect("resign");
        let der = first_der(&resigned.certificate_pem);
        let cert = parse(&der);
        assert!(!cert.is_ca());
        let ku = cert.key_usage().expect("ku").expect("present").value;
        assert!(ku.digital_signature() && !ku.key_cert_sign());
    }
    let only_ca = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let leaf = Spec::leaf("auth-ca", "Acme").path_len(0).key_usages(only_ca).signed_by(&root);
    let partner = Check::new(&leaf, &[&root]).run().expect("valid");
    let err = resign(&ca, &partner, PartnerDomain::Auth, days(365), t0()).expect_err("nothing left");
    assert!(matches!(&err, SigningError::Unsupported(m) if m.contains("digitalSignature")), "{err}");

    // No keyUsage at all: mirrored as none (CA:FALSE still forbids certificate signing).
    let leaf = Spec::leaf("plain", "Acme").key_usages(vec![]).signed_by(&root);
    let partner = Check::new(&leaf, &[&root]).run().expect("valid");
    let resigned = resign(&ca, &partner, PartnerDomain::Auth, days(365), t0()).expect("resign");
    let der = first_der(&resigned.certificate_pem);
    let cert = parse(&der);
    assert!(cert.key_usage().expect("ku").is_none() && !cert.is_ca());
}

#[test]
fn the_issuance_fingerprint_follows_the_pms_certificate_and_the_profile() {
    let ca = generate_signing_ca(t0()).expect("generate");
    let mirror = ca.issuance_fingerprint();
    assert_eq!(mirror.len(), 16);
    let again = SigningCa::from_pems(ca.root_cert_pem(), None, ca.pms_cert_pem(), ca.pms_key_pem()).expect("load");
    assert_eq!(again.issuance_fingerprint(), mirror, "the root key does not matter");
    let mosip = again.with_basic_constraints(ResignedBasicConstraints::Mosip);
    assert_ne!(mosip.issuance_fingerprint(), mirror);
    let other = generate_signing_ca(t0()).expect("generate");
    assert_ne!(other.issuance_fingerprint(), mirror);
    assert_eq!("MOSIP".parse::<ResignedBasicConstraints>(), Ok(ResignedBasicConstraints::Mosip));
    assert_eq!("mirror".parse::<ResignedBasicConstraints>(), Ok(ResignedBasicConstraints::Mirror));
    assert!("ca".parse::<ResignedBasicConstraints>().is_err());
    assert!(ca.root_key_pem().is_some());
    assert!(ca.without_root_key().root_key_pem().is_none());
}

#[test]
fn rsa_partner_key_is_resigned() {
    let root = Spec::root("Partner CA").self_signed();
    let leaf = Spec::leaf("rsa.partner", "Acme").for_public_key(&spki_of(rsa_key_pem(2048)), &root);
    let partner = Check::new(&leaf, &[&root]).run().expect("valid RSA partner");
    let ca = generate_signing_ca(t0()).expect("generate");
    let resigned = resign(&ca, &partner, PartnerDomain::Misp, days(365), t0()).expect("resign RSA");
    let der = first_der(&resigned.certificate_pem);
    assert_eq!(parse(&der).public_key().raw, partner.spki_der.as_slice());
    openssl_verify(&ca, &resigned.certificate_pem);
}

#[test]
fn validity_is_capped_by_the_pms_certificate_and_an_expired_pms_cannot_sign() {
    let ca = generate_signing_ca(t0()).expect("generate");
    let partner = validated_partner();
    let long = resign(&ca, &partner, PartnerDomain::Auth, days(5000), t0()).expect("resign");
    assert_eq!(long.not_after, ca.pms_not_after());
    let late = resign(&ca, &partner, PartnerDomain::Auth, days(365), at(days(1461)));
    assert!(matches!(late, Err(SigningError::NotUsable { .. })), "{late:?}");
    assert!(resign(&ca, &partner, PartnerDomain::Auth, days(0), t0()).is_err());
}

#[test]
fn from_pems_checks_that_the_parts_fit() {
    let ca = generate_signing_ca(t0()).expect("generate");
    let other = generate_signing_ca(t0()).expect("generate");
    let root_key = ca.root_key_pem().expect("generated root key");

    let reloaded = SigningCa::from_pems(ca.root_cert_pem(), Some(root_key), ca.pms_cert_pem(), ca.pms_key_pem())
        .expect("round trip");
    assert_eq!(reloaded.pms_der(), ca.pms_der());
    let without_root_key = SigningCa::from_pems(ca.root_cert_pem(), None, ca.pms_cert_pem(), ca.pms_key_pem())
        .expect("root key is optional");
    assert!(without_root_key.root_key_pem().is_none());
    let partner = validated_partner();
    let resigned = resign(&without_root_key, &partner, PartnerDomain::Ftm, days(30), t0()).expect("resign");
    openssl_verify(&ca, &resigned.certificate_pem);

    let wrong_pms_key = SigningCa::from_pems(ca.root_cert_pem(), None, ca.pms_cert_pem(), other.pms_key_pem());
    assert!(matches!(wrong_pms_key, Err(SigningError::Inconsistent(_))), "{wrong_pms_key:?}");
    let wrong_root_key =
        SigningCa::from_pems(ca.root_cert_pem(), other.root_key_pem(), ca.pms_cert_pem(), ca.pms_key_pem());
    assert!(matches!(wrong_root_key, Err(SigningError::Inconsistent(_))), "{wrong_root_key:?}");
    let foreign_pms = SigningCa::from_pems(ca.root_cert_pem(), None, other.pms_cert_pem(), other.pms_key_pem());
    assert!(matches!(foreign_pms, Err(SigningError::Inconsistent(_))), "{foreign_pms:?}");
    let garbage_key = SigningCa::from_pems(ca.root_cert_pem(), None, ca.pms_cert_pem(), "nope");
    assert!(matches!(garbage_key, Err(SigningError::Unreadable { .. })), "{garbage_key:?}");
    let bundle = format!("{}{}", ca.pms_cert_pem(), ca.root_cert_pem());
    let two = SigningCa::from_pems(ca.root_cert_pem(), None, &bundle, ca.pms_key_pem());
    assert!(matches!(two, Err(SigningError::Unreadable { .. })), "{two:?}");

    let debug = format!("{ca:?}");
    assert!(!debug.contains("PRIVATE KEY") && debug.contains("redacted"), "{debug}");
}
