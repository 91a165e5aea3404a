//! Partner certificates that are themselves CAs (basicConstraints CA:TRUE), as DEVICE and FTM
//! providers hold: validated by the hand-written path check instead of webpki.

use super::Check;
use super::fixtures::*;
use crate::api::PartnerDomain;
use crate::trust::{generate_signing_ca, reason, resign};
use rcgen::{BasicConstraints, IsCa, KeyUsagePurpose};

const DOMAINS: [PartnerDomain; 4] =
    [PartnerDomain::Auth, PartnerDomain::Device, PartnerDomain::Ftm, PartnerDomain::Misp];

/// A device-provider certificate: CA:TRUE (it issues device certificates) with keyCertSign.
fn ca_leaf(cn: &str, o: &str) -> Spec {
    Spec::leaf(cn, o)
        .ca(IsCa::Ca(BasicConstraints::Unconstrained))
        .key_usages(vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyCertSign])
}

fn device<'a>(leaf: &Issued, roots: &[&'a Issued]) -> Check<'a> {
    Check::new(leaf, roots).domain(PartnerDomain::Device)
}

#[test]
fn ca_leaf_under_a_trusted_intermediate_is_valid_in_every_domain() {
    let root = Spec::root("Device Root").self_signed();
    let int = Spec::intermediate("Device Int").valid(at(-days(1)), at(days(100))).signed_by(&root);
    let leaf = ca_leaf("device-provider", "Acme").signed_by(&int);
    for domain in DOMAINS {
        let valid = device(&leaf, &[&root]).domain(domain).intermediates(&[&int]).run().expect("valid");
        assert_eq!(valid.leaf_der, leaf.der);
        assert_eq!(valid.path_der, vec![int.der.clone(), root.der.clone()]);
        assert_eq!(valid.subject.o.as_deref(), Some("Acme"));
        // The intermediate expires first.
        assert_eq!(valid.next_check, at(days(100)));
    }
    // Directly under the root, and without keyCertSign (the partner certificate is the end
    // entity: keyUsage is not judged on it, as webpki does not judge it on any end entity).
    let direct = ca_leaf("device-provider", "Acme").signed_by(&root);
    assert_eq!(device(&direct, &[&root]).run().expect("valid").path_der, vec![root.der.clone()]);
    let no_cert_sign = Spec::leaf("p", "Acme").ca(IsCa::Ca(BasicConstraints::Constrained(0))).signed_by(&root);
    device(&no_cert_sign, &[&root]).run().expect("valid");
}

#[test]
fn ca_leaf_via_partner_supplied_intermediates_is_valid() {
    let root = Spec::root("Device Root").self_signed();
    let int1 = Spec::intermediate("Int 1").signed_by(&root);
    let int2 = Spec::intermediate("Int 2").signed_by(&int1);
    let leaf = ca_leaf("device-provider", "Acme").signed_by(&int2);

    let valid = device(&leaf, &[&root]).chain(&[&int1, &int2]).run().expect("partner chain");
    assert_eq!(valid.path_der, vec![int2.der.clone(), int1.der.clone(), root.der.clone()]);
    device(&leaf, &[&root]).intermediates(&[&int1]).chain(&[&int2]).run().expect("mixed");
    let mut bundle = device(&leaf, &[&root]);
    bundle.leaf = format!("{}{}{}", leaf.pem, int2.pem, int1.pem);
    bundle.run().expect("extra certificates in the certificate PEM are chain helpers");

    let missing = device(&leaf, &[&root]).chain(&[&int2]).err();
    assert_eq!(missing.reason(), reason::UNTRUSTED_CHAIN);
    assert!(missing.to_string().contains("\"CN=Int 1,O=Test CA Org\""), "{missing}");
}

#[test]
fn ca_leaf_under_an_untrusted_root_is_untrusted() {
    let trusted = Spec::root("Trusted Root").self_signed();
    let other = Spec::root("Other Root").self_signed();
    let leaf = ca_leaf("device-provider", "Acme").signed_by(&other);
    let err = device(&leaf, &[&trusted]).err();
    assert_eq!(err.reason(), reason::UNTRUSTED_CHAIN);
    assert!(err.to_string().contains("\"CN=Other Root,O=Test CA Org\""), "{err}");
    assert!(err.to_string().contains("DEVICE"), "{err}");
    assert_eq!(device(&leaf, &[]).reason(), reason::UNTRUSTED_CHAIN);

    // A partner-supplied root is never an anchor, directly or above an intermediate.
    let err = device(&leaf, &[&trusted]).chain(&[&other]).err();
    assert_eq!(err.reason(), reason::UNTRUSTED_CHAIN);
    assert!(err.to_string().contains("never trust anchors"), "{err}");
    let rogue_int = Spec::intermediate("Rogue Int").signed_by(&other);
    let leaf = ca_leaf("device-provider", "Acme").signed_by(&rogue_int);
    let err = device(&leaf, &[&trusted]).chain(&[&rogue_int, &other]).err();
    assert_eq!(err.reason(), reason::UNTRUSTED_CHAIN);
    assert!(err.to_string().contains("never trust anchors") && err.to_string().contains("Other Root"), "{err}");
}

#[test]
fn ca_leaf_organization_must_match() {
    let root = Spec::root("Device Root").self_signed();
    let leaf = ca_leaf("device-provider", "Other Corp").signed_by(&root);
    let err = device(&leaf, &[&root]).err();
    assert_eq!(err.reason(), reason::ORGANIZATION_MISMATCH);
    assert!(err.to_string().contains("\"Other Corp\""), "{err}");
}

#[test]
fn ca_leaf_path_length_constraints() {
    // pathLen 0 on the issuer's issuer, with an intermediate between it and the partner.
    let root = Spec::root("Device Root").self_signed();
    let int0 = Spec::intermediate("Int PL0").path_len(0).signed_by(&root);
    let int = Spec::intermediate("Int").signed_by(&int0);
    let leaf = ca_leaf("device-provider", "Acme").signed_by(&int);
    let err = device(&leaf, &[&root]).chain(&[&int0, &int]).err();
    assert_eq!(err.reason(), reason::PATH_LENGTH_EXCEEDED);
    assert!(err.to_string().contains("Int PL0"), "{err}");

    // The partner certificate is the end entity and does not count (RFC 5280 §6.1.4).
    let direct = ca_leaf("device-provider", "Acme").signed_by(&int0);
    device(&direct, &[&root]).chain(&[&int0]).run().expect("pathLen 0 may issue the partner certificate");

    // The root's pathLenConstraint counts too.
    let root0 = Spec::root("Root PL0").path_len(0).self_signed();
    let int = Spec::intermediate("Int").signed_by(&root0);
    let leaf = ca_leaf("device-provider", "Acme").signed_by(&int);
    assert_eq!(device(&leaf, &[&root0]).intermediates(&[&int]).reason(), reason::PATH_LENGTH_EXCEEDED);
    device(&ca_leaf("p", "Acme").signed_by(&root0), &[&root0]).run().expect("directly under a pathLen 0 root");
}

#[test]
fn ca_leaf_path_depth_is_bounded_like_webpki() {
    let root = Spec::root("Device Root").self_signed();
    let mut ints: Vec<Issued> = Vec::new();
    for i in 0..7 {
        let int = Spec::intermediate(&format!("Int {i}")).signed_by(ints.last().unwrap_or(&root));
        ints.push(int);
    }
    let refs: Vec<&Issued> = ints.iter().collect();
    let six = ca_leaf("p", "Acme").signed_by(&ints[5]);
    let valid = device(&six, &[&root]).chain(&refs[..6]).run().expect("six intermediates");
    assert_eq!(valid.path_der.len(), 7);
    let seven = ca_leaf("p", "Acme").signed_by(&ints[6]);
    let err = device(&seven, &[&root]).chain(&refs).err();
    assert_eq!(err.reason(), reason::PATH_LENGTH_EXCEEDED);
    assert!(err.to_string().contains("(6)"), "{err}");
}

#[test]
fn ca_leaf_signed_by_right_name_wrong_key_is_invalid_signature() {
    let root = Spec::root("Device Root").self_signed();
    let real = Spec::intermediate("Int").signed_by(&root);
    let impostor = Spec::intermediate("Int").signed_by(&root);
    let leaf = ca_leaf("device-provider", "Acme").signed_by(&real);
    let err = device(&leaf, &[&root]).intermediates(&[&impostor]).err();
    assert_eq!(err.reason(), reason::INVALID_SIGNATURE);
    assert!(err.to_string().contains("\"CN=Int,O=Test CA Org\""), "{err}");
    let valid = device(&leaf, &[&root]).intermediates(&[&impostor]).chain(&[&real]).run().expect("the real one wins");
    assert_eq!(valid.path_der, vec![real.der.clone(), root.der.clone()]);

    let root_again = Spec::root("Device Root").self_signed();
    assert_eq!(device(&ca_leaf("p", "Acme").signed_by(&root), &[&root_again]).reason(), reason::INVALID_SIGNATURE);
}

#[test]
fn self_signed_ca_leaf_is_rejected() {
    let root = Spec::root("Device Root").self_signed();
    let selfie = ca_leaf("device-provider", "Acme").self_signed();
    assert_eq!(device(&selfie, &[&root]).reason(), reason::SELF_SIGNED);
    assert_eq!(device(&selfie, &[&selfie]).reason(), reason::SELF_SIGNED);
}

#[test]
fn cas_above_a_ca_leaf_must_be_valid_cas() {
    let root = Spec::root("Device Root").self_signed();

    let no_cert_sign =
        Spec::intermediate("No CertSign").key_usages(vec![KeyUsagePurpose::DigitalSignature]).signed_by(&root);
    let err = device(&ca_leaf("p", "Acme").signed_by(&no_cert_sign), &[&root]).chain(&[&no_cert_sign]).err();
    assert_eq!(err.reason(), reason::NOT_A_CERTIFICATE_AUTHORITY);
    assert!(err.to_string().contains("No CertSign") && err.to_string().contains("keyCertSign"), "{err}");

    let not_ca = Spec::intermediate("Not CA").ca(IsCa::ExplicitNoCa).signed_by(&root);
    let err = device(&ca_leaf("p", "Acme").signed_by(&not_ca), &[&root]).chain(&[&not_ca]).err();
    assert_eq!(err.reason(), reason::NOT_A_CERTIFICATE_AUTHORITY);
    assert!(err.to_string().contains("Not CA"), "{err}");

    let old = Spec::intermediate("Old Int").valid(at(-days(400)), at(-days(1))).signed_by(&root);
    let err = device(&ca_leaf("p", "Acme").signed_by(&old), &[&root]).chain(&[&old]).err();
    assert_eq!(err.reason(), reason::CERTIFICATE_EXPIRED);
    assert!(err.to_string().contains("Old Int"), "{err}");

    let future = Spec::intermediate("Future Int").valid(at(days(1)), at(days(900))).signed_by(&root);
    let leaf = ca_leaf("p", "Acme").valid(at(-days(1)), at(days(800))).signed_by(&future);
    let err = device(&leaf, &[&root]).chain(&[&future]).err();
    assert_eq!(err.reason(), reason::NOT_YET_VALID);
    assert!(err.to_string().contains("Future Int"), "{err}");

    let expired_root = Spec::root("Expired Root").valid(at(-days(400)), at(-days(1))).self_signed();
    let err = device(&ca_leaf("p", "Acme").signed_by(&expired_root), &[&expired_root]).err();
    assert_eq!(err.reason(), reason::CERTIFICATE_EXPIRED);
    assert!(err.to_string().contains("Expired Root"), "{err}");

    // An expired impostor does not hide the valid issuer, and the valid one is chosen.
    let fresh = Spec::intermediate("Old Int").signed_by(&root);
    let leaf = ca_leaf("p", "Acme").signed_by(&fresh);
    device(&leaf, &[&root]).chain(&[&old, &fresh]).run().expect("the valid issuer is found");
}

#[test]
fn ca_leaf_keeps_the_leaf_checks() {
    let root = Spec::root("Device Root").self_signed();
    let expired = ca_leaf("p", "Acme").valid(at(-days(10)), at(-days(1))).signed_by(&root);
    assert_eq!(device(&expired, &[&root]).reason(), reason::CERTIFICATE_EXPIRED);
    let short = ca_leaf("p", "Acme").valid(at(-days(1)), at(days(30))).signed_by(&root);
    assert_eq!(device(&short, &[&root]).reason(), reason::INSUFFICIENT_VALIDITY);
    let weak = ca_leaf("p", "Acme").for_public_key(&spki_of(rsa_key_pem(1024)), &root);
    assert_eq!(device(&weak, &[&root]).reason(), reason::WEAK_KEY);
}

#[test]
fn ca_leaf_with_sha1_intermediate_is_weak() {
    let root = rsa_root("RSA Root");
    let int_key = ec_key_pem();
    let int_pem =
        openssl_issue("/O=Test CA Org/CN=SHA1 Int", &int_key, &root.pem, &root.key_pem(), "sha1", Some(CA_EXT), &[]);
    let int = Issued::from_pem(int_pem, Some(rcgen::KeyPair::from_pem(&int_key).expect("key")));
    let leaf = ca_leaf("p", "Acme").signed_by(&int);
    let err = device(&leaf, &[&root]).chain(&[&int]).now(at(days(1))).err();
    assert_eq!(err.reason(), reason::WEAK_SIGNATURE);
    assert!(err.to_string().contains("SHA1 Int"), "{err}");
}

/// The partner's CA certificate is re-signed like any other, and the re-signed certificate
/// (CA:TRUE, as MOSIP issues it) validates under the signing CA too.
#[test]
fn ca_leaf_is_resigned_and_the_resigned_certificate_validates() {
    let root = Spec::root("Device Root").self_signed();
    let leaf = ca_leaf("device-provider", "Acme").signed_by(&root);
    let validated = device(&leaf, &[&root]).run().expect("valid");
    let ca = generate_signing_ca(t0()).expect("signing CA");
    let resigned = resign(&ca, &validated, PartnerDomain::Device, days(365), t0()).expect("resign");

    let mosip_root = Issued::from_pem(ca.root_cert_pem().to_string(), None);
    let pms = Issued::from_pem(ca.pms_cert_pem().to_string(), None);
    let mut check = device(&leaf, &[&mosip_root]).intermediates(&[&pms]);
    check.leaf = resigned.certificate_pem.clone();
    let revalidated = check.run().expect("re-signed certificate validates");
    assert_eq!(revalidated.spki_der, validated.spki_der);
    assert_eq!(revalidated.subject, validated.subject);
    assert_eq!(revalidated.path_der, vec![ca.pms_der().to_vec(), ca.root_der().to_vec()]);
    let mut with_chain = device(&leaf, &[&mosip_root]);
    with_chain.leaf = resigned.certificate_pem.clone();
    with_chain.chain = Some(resigned.chain_pem.clone());
    with_chain.run().expect("with the chain MOSIP returns");
}

#[test]
fn ca_leaf_paths_apply_unknown_critical_extensions_and_name_constraints() {
    let root = rsa_root("RSA Root");
    // An unknown critical extension on the partner certificate.
    let ext = format!("{CA_EXT}\n1.3.6.1.4.1.55555.1=critical,ASN1:NULL");
    let pem = openssl_issue("/O=Acme/CN=p", &ec_key_pem(), &root.pem, &root.key_pem(), "sha256", Some(&ext), &[]);
    let err = device(&Issued::from_pem(pem, None), &[&root]).now(at(days(1))).err();
    assert_eq!(err.reason(), reason::UNSUPPORTED_CRITICAL_EXTENSION);
    assert!(err.to_string().contains("1.3.6.1.4.1.55555.1"), "{err}");

    // Name constraints are evaluated for CA partner certificates as for any other.
    let int_key = ec_key_pem();
    let nc = format!("{CA_EXT}\nnameConstraints=critical,permitted;dirName:nc_dn\n[nc_dn]\nO=Acme");
    let int_pem =
        openssl_issue("/O=Test CA Org/CN=NC Int", &int_key, &root.pem, &root.key_pem(), "sha256", Some(&nc), &[]);
    let int = Issued::from_pem(int_pem, Some(rcgen::KeyPair::from_pem(&int_key).expect("key")));
    let inside =
        ca_leaf("p", "Acme").dn(vec![(rcgen::DnType::OrganizationName, "Acme"), (rcgen::DnType::CommonName, "p")]);
    device(&inside.signed_by(&int), &[&root]).chain(&[&int]).now(at(days(1))).run().expect("within O=Acme");
    let outside = ca_leaf("p", "Acme").signed_by(&int);
    let err = device(&outside, &[&root]).chain(&[&int]).now(at(days(1))).err();
    assert_eq!(err.reason(), reason::NAME_CONSTRAINT_VIOLATION);
    assert!(err.to_string().contains("NC Int"), "{err}");
}
