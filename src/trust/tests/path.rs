//! Path building: every same-named issuer is tried (AKI/SKI first), the work is bounded, the
//! best failure is reported, and partner-supplied chains are limited.

use super::Check;
use super::fixtures::*;
use crate::trust::{MAX_SIGNATURE_CHECKS, MAX_SUPPLIED_CERTIFICATES, reason};
use rcgen::KeyPair;

#[test]
fn re_keyed_ca_with_the_same_name_is_found_in_any_order() {
    let root = Spec::root("Root A").self_signed();
    let old = Spec::intermediate("Issuing CA").signed_by(&root);
    let new = Spec::intermediate("Issuing CA").signed_by(&root);
    let leaf = Spec::leaf("p", "Acme").signed_by(&new);
    for chain in [[&old, &new], [&new, &old]] {
        let valid = Check::new(&leaf, &[&root]).chain(&chain).run().expect("the issuing key is found");
        assert_eq!(valid.path_der[0], new.der);
    }
    // Trusted and supplied mixed.
    Check::new(&leaf, &[&root]).intermediates(&[&old]).chain(&[&new]).run().expect("mixed");
}

/// Key rollover: the new root key certified by the old one (a self-issued, not self-signed
/// certificate with the same name), the partner certificate issued under the new key, only the
/// old root trusted.
#[test]
fn self_issued_key_rollover_certificate_is_followed() {
    let old_root = Spec::root("Root A").self_signed();
    let new_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let new_root_self = Spec::root("Root A").self_signed_with(new_key);
    let new_key = new_root_self.key.as_ref().expect("key");
    // "Root A" (new key) certified by "Root A" (old key).
    let new_pub = rcgen::PublicKeyData::subject_public_key_info(new_key);
    let link = Spec::root("Root A").for_public_key(&new_pub, &old_root);
    let leaf = Spec::leaf("p", "Acme").signed_by(&new_root_self);
    let valid = Check::new(&leaf, &[&old_root]).chain(&[&link]).run().expect("rollover path");
    assert_eq!(valid.path_der, vec![link.der.clone(), old_root.der.clone()]);
}

/// Many same-named impostors among the trusted intermediates: the one whose SKI equals the
/// partner certificate's AKI is tried first, so the budget is not spent on the others.
#[test]
fn aki_ski_match_is_tried_first_and_the_budget_bounds_the_rest() {
    let root = Spec::root("Root A").self_signed();
    let impostors: Vec<Issued> =
        (0..MAX_SIGNATURE_CHECKS + 5).map(|_| Spec::intermediate("Busy CA").signed_by(&root)).collect();
    let real = Spec::intermediate("Busy CA").signed_by(&root);
    let leaf = Spec::leaf("p", "Acme").signed_by(&real);
    let mut trusted: Vec<&Issued> = impostors.iter().collect();
    trusted.push(&real);
    Check::new(&leaf, &[&root]).intermediates(&trusted).run().expect("AKI/SKI-preferred");

    // Without the real one, every impostor costs a signature check: the budget stops the search.
    let err = Check::new(&leaf, &[&root]).intermediates(&trusted[..impostors.len()]).err();
    assert_eq!(err.reason(), reason::UNTRUSTED_CHAIN, "{err}");
    assert!(err.to_string().contains(&format!("{MAX_SIGNATURE_CHECKS} signature checks")), "{err}");
    // Below the budget, the best reason is the wrong key.
    let err = Check::new(&leaf, &[&root]).intermediates(&trusted[..10]).err();
    assert_eq!(err.reason(), reason::INVALID_SIGNATURE, "{err}");
}

#[test]
fn end_entity_path_depth_is_at_most_six_intermediates() {
    let root = Spec::root("Root").self_signed();
    let mut ints: Vec<Issued> = Vec::new();
    for i in 0..7 {
        let int = Spec::intermediate(&format!("Int {i}")).signed_by(ints.last().unwrap_or(&root));
        ints.push(int);
    }
    let refs: Vec<&Issued> = ints.iter().collect();
    let six = Spec::leaf("p", "Acme").signed_by(&ints[5]);
    assert_eq!(Check::new(&six, &[&root]).intermediates(&refs[..6]).run().expect("six").path_der.len(), 7);
    let seven = Spec::leaf("p", "Acme").signed_by(&ints[6]);
    let err = Check::new(&seven, &[&root]).intermediates(&refs).err();
    assert_eq!(err.reason(), reason::PATH_LENGTH_EXCEEDED);
    assert!(err.to_string().contains("(6)"), "{err}");
}

/// The reason reported is the one that got furthest up the path: a path that fails at the root
/// beats one that fails at the first step.
#[test]
fn best_failure_is_the_one_that_got_furthest() {
    let root = Spec::root("Root A").path_len(0).self_signed();
    let int = Spec::intermediate("Int").signed_by(&root);
    let impostor = Spec::intermediate("Int").signed_by(&root);
    let leaf = Spec::leaf("p", "Acme").signed_by(&int);
    // impostor: wrong key at depth 1; int: pathLen violated at depth 2.
    let err = Check::new(&leaf, &[&root]).chain(&[&impostor, &int]).err();
    assert_eq!(err.reason(), reason::PATH_LENGTH_EXCEEDED, "{err}");
}

#[test]
fn at_most_ten_distinct_partner_supplied_certificates() {
    let root = Spec::root("Root A").self_signed();
    let int = Spec::intermediate("Int").signed_by(&root);
    let leaf = Spec::leaf("p", "Acme").signed_by(&int);
    let noise: Vec<Issued> =
        (0..MAX_SUPPLIED_CERTIFICATES).map(|i| Spec::root(&format!("Noise {i}")).self_signed()).collect();

    // The real intermediate plus 9 unrelated: 10, accepted.
    let mut ten: Vec<&Issued> = noise[..MAX_SUPPLIED_CERTIFICATES - 1].iter().collect();
    ten.push(&int);
    Check::new(&leaf, &[&root]).chain(&ten).run().expect("ten");

    // Duplicates (same subject and key) count once, however often they are pasted.
    let mut repeated: Vec<&Issued> = vec![&int; 50];
    repeated.extend(&ten);
    Check::new(&leaf, &[&root]).chain(&repeated).run().expect("duplicates dropped");

    // Eleven distinct: ChainTooLong, whatever else is wrong.
    let mut eleven = ten.clone();
    eleven.push(&noise[MAX_SUPPLIED_CERTIFICATES - 1]);
    let err = Check::new(&leaf, &[&root]).chain(&eleven).err();
    assert_eq!(err.reason(), reason::CHAIN_TOO_LONG);
    assert!(err.to_string().contains("11 distinct") && err.to_string().contains("at most 10"), "{err}");
    // Extra certificates in the certificate PEM count as supplied too.
    let mut bundle = Check::new(&leaf, &[&root]);
    bundle.leaf = std::iter::once(&leaf).chain(eleven.iter().copied()).map(|c| c.pem.as_str()).collect();
    assert_eq!(bundle.reason(), reason::CHAIN_TOO_LONG);
}

/// Hundreds of certificates (300 kB of PEM; the integration test uses 1 MB) are refused after one read, without path
/// building; the timing itself is recorded by the benchmark, not asserted.
#[test]
fn a_megabyte_chain_is_refused_as_chain_too_long() {
    let root = Spec::root("Root A").self_signed();
    let leaf = Spec::leaf("p", "Acme").signed_by(&root);
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let issuer = Spec::root("Pair").self_signed_with(key);
    let mut pem = String::new();
    let mut count = 0;
    while pem.len() < 300_000 {
        let cert = Spec::intermediate(&format!("Pair {count} with a long name to fill the megabyte quickly"))
            .signed_by(&issuer);
        pem.push_str(&cert.pem);
        count += 1;
    }
    let mut check = Check::new(&leaf, &[&root]);
    check.chain = Some(pem);
    let err = check.err();
    assert_eq!(err.reason(), reason::CHAIN_TOO_LONG);
    assert!(err.to_string().contains(&format!("{count} distinct")), "{err}");
}

/// RFC 5280 §7.1: an issuer name matches a subject that differs only in case, whitespace or
/// string type (PrintableString vs UTF8String); a different value does not.
#[test]
fn issuer_names_match_under_rfc5280_comparison() {
    use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, Issuer};
    let root = Spec::root("Root A").self_signed();
    // Subject O=Test CA Org, CN=Issuing  CA (UTF8String, two spaces).
    let int = Spec::intermediate("Issuing  CA").signed_by(&root);
    let int_key = int.key.as_ref().expect("key");
    let leaf_naming = |cn: &str| {
        let mut issuer_params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, DnValue::PrintableString("TEST CA ORG".try_into().expect("printable")));
        dn.push(DnType::CommonName, DnValue::PrintableString(cn.try_into().expect("printable")));
        issuer_params.distinguished_name = dn;
        let issuer = Issuer::from_params(&issuer_params, int_key);
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Acme");
        dn.push(DnType::CommonName, "p");
        params.distinguished_name = dn;
        let odt =
            |t: jiff::Timestamp| x509_parser::time::ASN1Time::from_timestamp(t.as_second()).expect("t").to_datetime();
        params.not_before = odt(at(-days(1)));
        params.not_after = odt(at(days(700)));
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let cert = params.signed_by(&key, &issuer).expect("sign");
        Issued { der: cert.der().to_vec(), pem: cert.pem(), key: Some(key) }
    };
    let valid =
        Check::new(&leaf_naming("issuing ca"), &[&root]).chain(&[&int]).run().expect("same name, other encoding");
    assert_eq!(valid.path_der[0], int.der);
    Check::new(&leaf_naming("issuing ca"), &[&root]).intermediates(&[&int]).run().expect("trusted intermediate");
    let err = Check::new(&leaf_naming("issuing cb"), &[&root]).chain(&[&int]).err();
    assert_eq!(err.reason(), reason::UNTRUSTED_CHAIN, "{err}");
}
