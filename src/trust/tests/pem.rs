//! parse_pem_certificates and DN rendering.

use super::fixtures::*;
use crate::trust::{PemText, encode_pem_certificates, parse_pem_certificates, reason, summarize};
use rcgen::DnType;

#[test]
fn whitespace_crlf_and_indentation_are_tolerated() {
    let a = Spec::root("Root A").self_signed();
    let b = Spec::root("Root B").self_signed();
    let messy =
        format!("\n\n   {}\r\n\t\n{}   \n\n", a.pem.trim().replace('\n', "\r\n    "), b.pem.replace('\n', "\n  "));
    assert_eq!(parse_pem_certificates(&messy).expect("tolerant"), vec![a.der.clone(), b.der.clone()]);
}

#[test]
fn explanatory_text_between_blocks_is_ignored() {
    let a = Spec::root("Root A").self_signed();
    let b = Spec::root("Root B").self_signed();
    let text =
        format!("Bag Attributes\n    localKeyID: 01 02\nsubject=CN = Root A\n{}trailing words\n{}", a.pem, b.pem);
    assert_eq!(parse_pem_certificates(&text).expect("RFC 7468 text"), vec![a.der.clone(), b.der.clone()]);
}

#[test]
fn garbage_and_foreign_blocks_are_rejected() {
    let a = Spec::root("Root A").self_signed();
    let cases = [
        ("", "no CERTIFICATE"),
        ("hello\n", "no CERTIFICATE"),
        (&*a.key_pem(), "PRIVATE KEY"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n", "no END"),
        ("-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n", "base64"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not an X.509"),
    ];
    for (text, expected) in cases {
        let err = parse_pem_certificates(text).expect_err(text);
        assert_eq!(err.reason(), reason::MALFORMED_CERTIFICATE);
        assert!(err.to_string().contains(expected), "{text:?}: {err}");
        super::assert_no_secrets(&err.to_string());
    }
}

#[test]
fn distinguished_names_render_rfc4514_style() {
    let root = Spec::root("Root A").self_signed();
    let cert = Spec::leaf("x", "y")
        .dn(vec![
            (DnType::CountryName, "IN"),
            (DnType::OrganizationName, "Acme, Inc. + Co"),
            (DnType::CommonName, " #lead;trail "),
        ])
        .signed_by(&root);
    let summary = summarize(&cert.der).expect("summary");
    assert_eq!(summary.subject, r"CN=\ #lead\;trail\ ,O=Acme\, Inc. \+ Co,C=IN");
    let hash = Spec::leaf("x", "y").dn(vec![(DnType::CommonName, "#1")]).signed_by(&root);
    assert_eq!(summarize(&hash.der).expect("summary").subject, r"CN=\#1");
}

#[test]
fn pem_text_is_held_as_der_only_when_it_gives_back_the_same_text() {
    let a = Spec::root("Root A").self_signed();
    let b = Spec::root("Root B").self_signed();
    // rcgen, OpenSSL, Go and cert-manager write the canonical form.
    let both = format!("{}{}", a.pem, b.pem);
    assert_eq!(encode_pem_certificates(&[&a.der, &b.der]), both);
    let held = PemText::new(both.clone());
    assert!(matches!(&held, PemText::Canonical(ders) if ders.len() == 2));
    assert_eq!(held.text(), both);
    // Anything else is kept as it was written, byte for byte: CRLF, a missing last newline,
    // text between blocks, a blank line, garbage.
    let others = [
        both.replace('\n', "\r\n"),
        both.trim_end().to_string(),
        format!("subject=CN = Root A\n{both}"),
        format!("{}\n{}", a.pem, b.pem),
        "not a certificate".to_string(),
        String::new(),
    ];
    for text in others {
        let held = PemText::new(text.clone());
        assert!(matches!(held, PemText::Verbatim(_)), "{text:?}");
        assert_eq!(held.text(), text);
    }
}
