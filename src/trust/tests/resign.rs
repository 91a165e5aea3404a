//! MOSIP re-signing and the signing CA.

use super::Check;
use super::fixtures::*;
use crate::api::PartnerDomain;
use crate::trust::{SigningCa, SigningError, ValidatedCertificate, generate_signing_ca, resign, summarize};
use rcgen::DnType;
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
    assert!(cert.is_ca(), "MOSIP re-signs with CA:TRUE");
    let ku = cert.key_usage().expect("ku").expect("present").value;
    assert!(ku.digital_signature() && ku.key_cert_sign() && ku.key_encipherment());
    let pms = parse(ca.pms_der());
    cert.verify_signature(Some(pms.public_key())).expect("signed by PMS");
    openssl_verify(&ca, &resigned.certificate_pem);

    let device = resign(&ca, &partner, PartnerDomain::Device, days(365), t0()).expect("resign");
    let device_der = first_der(&device.certificate_pem);
    let device_cert = parse(&device_der);
    let ku = device_cert.key_usage().expect("ku").expect("present").value;
    assert!(ku.digital_signature() && ku.key_cert_sign() && !ku.key_encipherment());
    assert_ne!(device_cert.raw_serial(), cert.raw_serial(), "random serials");
    assert_eq!(device_cert.raw_serial().len(), 16);
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
