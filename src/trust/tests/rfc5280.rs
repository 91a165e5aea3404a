//! The project's own RFC 5280 case set: every rule of issue #11 with at least one certificate
//! that passes and one that fails, generated here (rcgen, and raw DER surgery in `craft` where
//! rcgen cannot express the violation).

use super::Check;
use super::craft::*;
use super::fixtures::*;
use crate::api::PartnerDomain;
use crate::trust::{CaInput, CertError, evaluate_cas, reason};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, GeneralSubtree, IsCa,
    KeyUsagePurpose, NameConstraints, SanType, SerialNumber,
};

fn custom(oid: &[u64], critical: bool, content: Vec<u8>) -> CustomExtension {
    let mut ext = CustomExtension::from_oid_content(oid, content);
    ext.set_criticality(critical);
    ext
}

fn assert_nonconforming(err: &CertError, section: &str, subject_part: &str) {
    assert_eq!(err.reason(), reason::NON_CONFORMING_CERTIFICATE, "{err}");
    let text = err.to_string();
    assert!(text.contains(&format!("section {section})")), "{text}");
    assert!(text.contains(subject_part), "{text}");
}

fn ca_verdict(cert: &Issued, root: &Issued) -> (bool, &'static str, String) {
    let cas = [
        CaInput { name: "root".into(), domain: PartnerDomain::Auth, pem: root.pem.clone() },
        CaInput { name: "ca".into(), domain: PartnerDomain::Auth, pem: cert.pem.clone() },
    ];
    let v = evaluate_cas(&cas, t0()).remove(1);
    (v.ready, v.reason, v.message)
}

fn dns(name: &str) -> SanType {
    SanType::DnsName(name.try_into().expect("ia5"))
}

// §4.2.1.9 helper: a CA built by hand (rcgen always marks basicConstraints critical and adds an
// SKI for CAs): basicConstraints cA TRUE with the given criticality, SKI optional.
fn hand_made_ca(cn: &str, bc_critical: bool, with_ski: bool) -> Spec {
    Spec::intermediate(cn).ca(IsCa::NoCa).with(move |p| {
        p.custom_extensions.push(custom(&[2, 5, 29, 19], bc_critical, vec![0x30, 0x03, 0x01, 0x01, 0xff]));
        if with_ski {
            p.custom_extensions.push(custom(&[2, 5, 29, 14], false, tlv(0x04, &[7; 20])));
        }
    })
}

// ---- §4.1.2.2 serial numbers ------------------------------------------------------------

#[test]
fn serial_numbers_positive_and_at_most_20_octets() {
    let root = Spec::root("Root A").self_signed();
    let ok = Spec::leaf("p", "Acme").with(|p| p.serial_number = Some(SerialNumber::from_slice(&[0x7f; 20])));
    Check::new(&ok.signed_by(&root), &[&root]).run().expect("20 octets");
    let one = Spec::leaf("p", "Acme").with(|p| p.serial_number = Some(SerialNumber::from_slice(&[1])));
    Check::new(&one.signed_by(&root), &[&root]).run().expect("serial 1");

    // 0x80 × 20 needs a sign octet: 21 octets.
    let long = Spec::leaf("p", "Acme").with(|p| p.serial_number = Some(SerialNumber::from_slice(&[0x80; 20])));
    let err = Check::new(&long.signed_by(&root), &[&root]).err();
    assert_nonconforming(&err, "4.1.2.2", "21 octets");

    let zero = Spec::leaf("p", "Acme").signed_by(&root);
    let zero = tamper(zero, root.key.as_ref().expect("key"), |f| f[1] = vec![0x02, 0x01, 0x00]);
    assert_nonconforming(&Check::new(&zero, &[&root]).err(), "4.1.2.2", "is 0");

    let negative = Spec::leaf("p", "Acme").signed_by(&root);
    let negative = tamper(negative, root.key.as_ref().expect("key"), |f| f[1] = vec![0x02, 0x02, 0xff, 0x01]);
    assert_nonconforming(&Check::new(&negative, &[&root]).err(), "4.1.2.2", "negative");

    // A negative serial on an intermediate is named precisely too (not as malformed DER).
    let neg_int = tamper(Spec::intermediate("Negative Int").signed_by(&root), root.key.as_ref().expect("key"), |f| {
        f[1] = vec![0x02, 0x02, 0xff, 0x01]
    });
    let leaf = Spec::leaf("p", "Acme").signed_by(&neg_int);
    assert_nonconforming(&Check::new(&leaf, &[&root]).chain(&[&neg_int]).err(), "4.1.2.2", "Negative Int");

    // On a CA too: CA evaluation refuses it.
    let int = Spec::intermediate("Long Serial Int")
        .with(|p| p.serial_number = Some(SerialNumber::from_slice(&[0xff; 20])))
        .signed_by(&root);
    let (ready, why, message) = ca_verdict(&int, &root);
    assert!(!ready);
    assert_eq!(why, reason::NON_CONFORMING_CERTIFICATE, "{message}");
}

// ---- §4.2.1.1 / §4.2.1.2 key identifiers ------------------------------------------------------

#[test]
fn authority_key_identifier_required_except_on_self_signed_roots() {
    let root = Spec::root("Root A").with(|p| p.use_authority_key_identifier_extension = false).self_signed();
    let leaf = Spec::leaf("p", "Acme").signed_by(&root);
    Check::new(&leaf, &[&root]).run().expect("a self-signed root may omit the AKI");

    let no_aki = Spec::leaf("p", "Acme").with(|p| p.use_authority_key_identifier_extension = false).signed_by(&root);
    assert_nonconforming(&Check::new(&no_aki, &[&root]).err(), "4.2.1.1", "CN=p");

    let int = Spec::intermediate("No AKI Int").with(|p| p.use_authority_key_identifier_extension = false);
    let int = int.signed_by(&root);
    let leaf = Spec::leaf("p", "Acme").signed_by(&int);
    assert_nonconforming(&Check::new(&leaf, &[&root]).chain(&[&int]).err(), "4.2.1.1", "No AKI Int");
    let (ready, why, _) = ca_verdict(&int, &root);
    assert!(!ready && why == reason::NON_CONFORMING_CERTIFICATE);

    // Never critical.
    let critical_aki = Spec::leaf("p", "Acme").with(|p| {
        p.use_authority_key_identifier_extension = false;
        let mut body = vec![0x80, 20];
        body.extend([1u8; 20]);
        p.custom_extensions.push(custom(&[2, 5, 29, 35], true, tlv(0x30, &body)));
    });
    let err = Check::new(&critical_aki.signed_by(&root), &[&root]).err();
    assert_nonconforming(&err, "4.2.1.1", "critical");
}

#[test]
fn subject_key_identifier_on_every_ca_and_never_critical() {
    let root = Spec::root("Root A").self_signed();
    let with_ski = hand_made_ca("SKI Int", true, true).signed_by(&root);
    Check::new(&Spec::leaf("p", "Acme").signed_by(&with_ski), &[&root]).chain(&[&with_ski]).run().expect("valid");

    let without = hand_made_ca("No SKI Int", true, false).signed_by(&root);
    let leaf = Spec::leaf("p", "Acme").signed_by(&without);
    assert_nonconforming(&Check::new(&leaf, &[&root]).chain(&[&without]).err(), "4.2.1.2", "No SKI Int");
    let (ready, why, _) = ca_verdict(&without, &root);
    assert!(!ready && why == reason::NON_CONFORMING_CERTIFICATE);

    let critical_ski =
        Spec::leaf("p", "Acme").with(|p| p.custom_extensions.push(custom(&[2, 5, 29, 14], true, tlv(0x04, &[9; 20]))));
    assert_nonconforming(&Check::new(&critical_ski.signed_by(&root), &[&root]).err(), "4.2.1.2", "critical");
}

// ---- §4.2.1.3 / §4.2.1.9 keyCertSign, basicConstraints ---------------------------------------

#[test]
fn key_cert_sign_only_with_ca_true() {
    let root = Spec::root("Root A").self_signed();
    let bad = Spec::leaf("p", "Acme").key_usages(vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyCertSign]);
    assert_nonconforming(&Check::new(&bad.signed_by(&root), &[&root]).err(), "4.2.1.3", "keyCertSign");
    let ok = Spec::leaf("p", "Acme")
        .ca(IsCa::Ca(BasicConstraints::Unconstrained))
        .key_usages(vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyCertSign]);
    Check::new(&ok.signed_by(&root), &[&root]).run().expect("a CA partner certificate may have keyCertSign");
}

#[test]
fn basic_constraints_critical_on_ca_certificates() {
    let root = Spec::root("Root A").self_signed();
    let lax = hand_made_ca("Lax Int", false, true).signed_by(&root);
    let leaf = Spec::leaf("p", "Acme").signed_by(&lax);
    assert_nonconforming(&Check::new(&leaf, &[&root]).chain(&[&lax]).err(), "4.2.1.9", "Lax Int");
    let (ready, why, _) = ca_verdict(&lax, &root);
    assert!(!ready && why == reason::NON_CONFORMING_CERTIFICATE);
    // A CA partner certificate too.
    let lax_leaf = hand_made_ca("x", false, true)
        .dn(vec![(DnType::OrganizationName, "Acme"), (DnType::CommonName, "dev")])
        .valid(at(-days(1)), at(days(700)))
        .signed_by(&root);
    assert_nonconforming(&Check::new(&lax_leaf, &[&root]).err(), "4.2.1.9", "CN=dev");
    // Non-critical basicConstraints on an end entity (cA FALSE) is fine.
    let ee = Spec::leaf("p", "Acme")
        .with(|p| p.custom_extensions.push(custom(&[2, 5, 29, 19], false, vec![0x30, 0x00])))
        .signed_by(&root);
    Check::new(&ee, &[&root]).run().expect("non-critical basicConstraints on an end entity");
}

// ---- §4.2.1.10 name constraints -----------------------------------------------------------

fn nc_ca(cn: &str, permitted: Vec<GeneralSubtree>, excluded: Vec<GeneralSubtree>) -> Spec {
    Spec::intermediate(cn).with(move |p| {
        p.name_constraints =
            Some(NameConstraints { permitted_subtrees: permitted.clone(), excluded_subtrees: excluded.clone() })
    })
}

#[test]
fn name_constraints_must_be_critical_in_ca_certificates_and_well_formed() {
    let root = Spec::root("Root A").self_signed();

    let good = nc_ca("NC Int", vec![GeneralSubtree::DnsName("example.com".into())], vec![]).signed_by(&root);
    let leaf = Spec::leaf("p", "Acme").with(|p| p.subject_alt_names = vec![dns("p.example.com")]).signed_by(&good);
    Check::new(&leaf, &[&root]).chain(&[&good]).run().expect("well-formed, critical, satisfied");

    let leading_dot = nc_ca("Dot Int", vec![GeneralSubtree::DnsName(".example.com".into())], vec![]).signed_by(&root);
    let leaf = Spec::leaf("p", "Acme").signed_by(&leading_dot);
    let err = Check::new(&leaf, &[&root]).chain(&[&leading_dot]).err();
    assert_nonconforming(&err, "4.2.1.10", "leading period");
    assert!(!ca_verdict(&leading_dot, &root).0);

    // Not critical (hand-made: rcgen marks it critical).
    let value = tlv(0x30, &tlv(0xa0, &tlv(0x30, &tlv(0x82, b"example.com"))));
    let v = value.clone();
    let lax =
        Spec::intermediate("Lax NC").with(move |p| p.custom_extensions.push(custom(&[2, 5, 29, 30], false, v.clone())));
    let lax = lax.signed_by(&root);
    let err = Check::new(&Spec::leaf("p", "Acme").signed_by(&lax), &[&root]).chain(&[&lax]).err();
    assert_nonconforming(&err, "4.2.1.10", "not marked critical");

    // In an end-entity certificate.
    let ee = Spec::leaf("p", "Acme").with(|p| {
        p.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![GeneralSubtree::DnsName("example.com".into())],
            excluded_subtrees: vec![],
        })
    });
    assert_nonconforming(&Check::new(&ee.signed_by(&root), &[&root]).err(), "4.2.1.10", "not a CA");

    // minimum other than 0.
    let subtree = tlv(0x30, &[tlv(0x82, b"example.com"), tlv(0x80, &[1])].concat());
    let with_min = tlv(0x30, &tlv(0xa0, &subtree));
    let min = Spec::intermediate("Min NC")
        .with(move |p| p.custom_extensions.push(custom(&[2, 5, 29, 30], true, with_min.clone())));
    let min = min.signed_by(&root);
    let err = Check::new(&Spec::leaf("p", "Acme").signed_by(&min), &[&root]).chain(&[&min]).err();
    assert_nonconforming(&err, "4.2.1.10", "minimum");

    // Empty sequence.
    let empty = Spec::intermediate("Empty NC")
        .with(|p| p.custom_extensions.push(custom(&[2, 5, 29, 30], true, vec![0x30, 0x00])))
        .signed_by(&root);
    let err = Check::new(&Spec::leaf("p", "Acme").signed_by(&empty), &[&root]).chain(&[&empty]).err();
    assert_nonconforming(&err, "4.2.1.10", "empty");
}

#[test]
fn dns_ip_and_email_name_constraints_are_enforced() {
    let root = Spec::root("Root A").self_signed();
    let ca = nc_ca(
        "NC Int",
        vec![
            GeneralSubtree::DnsName("example.com".into()),
            GeneralSubtree::IpAddress(rcgen::CidrSubnet::V4([10, 0, 0, 0], [255, 0, 0, 0])),
        ],
        vec![GeneralSubtree::DnsName("bad.example.com".into()), GeneralSubtree::Rfc822Name(".example.org".into())],
    )
    .signed_by(&root);
    let leaf_with =
        |sans: Vec<SanType>| Spec::leaf("p", "Acme").with(move |p| p.subject_alt_names = sans.clone()).signed_by(&ca);
    let check = |leaf: &Issued| Check::new(leaf, &[&root]).chain(&[&ca]).run();

    check(&leaf_with(vec![dns("a.example.com"), SanType::IpAddress([10, 1, 2, 3].into())])).expect("within");
    check(&leaf_with(vec![dns("example.com")])).expect("the constraint itself");
    check(&leaf_with(vec![SanType::Rfc822Name("x@example.net".try_into().expect("ia5"))])).expect("not excluded");

    for (sans, what) in [
        (vec![dns("example.org")], "example.org"),
        (vec![dns("badexample.com")], "badexample.com"),
        (vec![dns("x.bad.example.com")], "excluded"),
        (vec![SanType::IpAddress([11, 0, 0, 1].into())], "11.0.0.1"),
        (vec![SanType::Rfc822Name("x@mail.example.org".try_into().expect("ia5"))], "mail.example.org"),
    ] {
        let err = check(&leaf_with(sans)).expect_err(what);
        assert_eq!(err.reason(), reason::NAME_CONSTRAINT_VIOLATION, "{err}");
        assert!(err.to_string().contains(what) && err.to_string().contains("NC Int"), "{err}");
    }
}

fn dn(parts: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (t, v) in parts {
        dn.push(t.clone(), *v);
    }
    dn
}

#[test]
fn directory_name_constraints_match_the_subject_and_san_directory_names() {
    let root = Spec::root("Root A").self_signed();
    let ca = nc_ca(
        "DN Int",
        vec![GeneralSubtree::DirectoryName(dn(&[
            (DnType::CountryName, "IN"),
            (DnType::StateOrProvinceName, "karnataka"),
        ]))],
        vec![GeneralSubtree::DirectoryName(dn(&[
            (DnType::CountryName, "IN"),
            (DnType::StateOrProvinceName, "Karnataka"),
            (DnType::LocalityName, "Mysuru"),
        ]))],
    )
    .signed_by(&root);
    // Spec::leaf's subject is C=IN, ST=Karnataka, L=Bengaluru, …: within (case-insensitively).
    let leaf = Spec::leaf("p", "Acme").signed_by(&ca);
    Check::new(&leaf, &[&root]).chain(&[&ca]).run().expect("subject within the permitted subtree");

    let outside = Spec::leaf("p", "Acme")
        .dn(vec![(DnType::CountryName, "US"), (DnType::OrganizationName, "Acme"), (DnType::CommonName, "p")])
        .signed_by(&ca);
    let err = Check::new(&outside, &[&root]).chain(&[&ca]).err();
    assert_eq!(err.reason(), reason::NAME_CONSTRAINT_VIOLATION, "{err}");
    assert!(err.to_string().contains("C=US"), "{err}");

    let excluded = Spec::leaf("p", "Acme")
        .dn(vec![
            (DnType::CountryName, "IN"),
            (DnType::StateOrProvinceName, "Karnataka"),
            (DnType::LocalityName, "Mysuru"),
            (DnType::OrganizationName, "Acme"),
        ])
        .signed_by(&ca);
    let err = Check::new(&excluded, &[&root]).chain(&[&ca]).err();
    assert_eq!(err.reason(), reason::NAME_CONSTRAINT_VIOLATION);
    assert!(err.to_string().contains("excluded"), "{err}");

    // A SAN directoryName outside the permitted subtree fails although the subject is within.
    let other = Spec::leaf("x", "Other").dn(vec![(DnType::CountryName, "FR"), (DnType::CommonName, "x")]).self_signed();
    let other_dn = crate::trust::cert::ParsedCert::parse(&other.der).expect("parse").subject_raw().to_vec();
    let san = tlv(0x30, &tlv(0xa4, &other_dn));
    let leaf = Spec::leaf("p", "Acme")
        .with(move |p| p.custom_extensions.push(custom(&[2, 5, 29, 17], false, san.clone())))
        .signed_by(&ca);
    let err = Check::new(&leaf, &[&root]).chain(&[&ca]).err();
    assert_eq!(err.reason(), reason::NAME_CONSTRAINT_VIOLATION, "{err}");
    assert!(err.to_string().contains("C=FR"), "{err}");

    // The trust anchor's own name constraints apply as well.
    let nc_root = Spec::root("NC Root")
        .with(|p| {
            p.name_constraints = Some(NameConstraints {
                permitted_subtrees: vec![GeneralSubtree::DirectoryName(dn(&[(DnType::CountryName, "US")]))],
                excluded_subtrees: vec![],
            })
        })
        .self_signed();
    let leaf = Spec::leaf("p", "Acme").signed_by(&nc_root);
    assert_eq!(Check::new(&leaf, &[&nc_root]).reason(), reason::NAME_CONSTRAINT_VIOLATION);
}

// ---- §4.2.1.11 policy constraints --------------------------------------------------------

#[test]
fn policy_constraints_critical_ca_only_and_not_empty() {
    let root = Spec::root("Root A").self_signed();
    let pc = |cn: &str, critical: bool, value: Vec<u8>| {
        Spec::intermediate(cn).with(move |p| p.custom_extensions.push(custom(&[2, 5, 29, 36], critical, value.clone())))
    };
    // inhibitPolicyMapping only (requireExplicitPolicy is exercised with policies below).
    let good = pc("PC Int", true, vec![0x30, 0x03, 0x81, 0x01, 0x00]).signed_by(&root);
    Check::new(&Spec::leaf("p", "Acme").signed_by(&good), &[&root]).chain(&[&good]).run().expect("well-formed");

    let lax = pc("Lax PC", false, vec![0x30, 0x03, 0x80, 0x01, 0x00]).signed_by(&root);
    let err = Check::new(&Spec::leaf("p", "Acme").signed_by(&lax), &[&root]).chain(&[&lax]).err();
    assert_nonconforming(&err, "4.2.1.11", "not marked critical");

    let empty = pc("Empty PC", true, vec![0x30, 0x00]).signed_by(&root);
    let err = Check::new(&Spec::leaf("p", "Acme").signed_by(&empty), &[&root]).chain(&[&empty]).err();
    assert_nonconforming(&err, "4.2.1.11", "empty");

    let ee = Spec::leaf("p", "Acme")
        .with(|p| p.custom_extensions.push(custom(&[2, 5, 29, 36], true, vec![0x30, 0x03, 0x80, 0x01, 0x00])));
    assert_nonconforming(&Check::new(&ee.signed_by(&root), &[&root]).err(), "4.2.1.11", "not a CA");
}

// ---- §4.1.2.6 / §4.2.1.6 subject alternative names -----------------------------------------

#[test]
fn empty_subject_requires_a_critical_san() {
    let root = Spec::root("Root A").self_signed();
    let ok = Spec::leaf("p", "Acme").dn(vec![]).with(|p| p.subject_alt_names = vec![dns("p.example.com")]);
    Check::new(&ok.signed_by(&root), &[&root]).organization(None).run().expect("rcgen marks the SAN critical");

    let san = tlv(0x30, &tlv(0x82, b"p.example.com"));
    let lax = Spec::leaf("p", "Acme")
        .dn(vec![])
        .with(move |p| p.custom_extensions.push(custom(&[2, 5, 29, 17], false, san.clone())));
    let err = Check::new(&lax.signed_by(&root), &[&root]).organization(None).err();
    assert_nonconforming(&err, "4.2.1.6", "not critical");

    let none = Spec::leaf("p", "Acme").dn(vec![]).signed_by(&root);
    assert_nonconforming(&Check::new(&none, &[&root]).organization(None).err(), "4.1.2.6", "no subjectAltName");
}

#[test]
fn san_entries_use_the_preferred_syntax() {
    let root = Spec::root("Root A").self_signed();
    let with =
        |sans: Vec<SanType>| Spec::leaf("p", "Acme").with(move |p| p.subject_alt_names = sans.clone()).signed_by(&root);
    for good in ["partner.example.com", "*.example.com", "a-1.b2"] {
        Check::new(&with(vec![dns(good)]), &[&root]).run().unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    Check::new(&with(vec![SanType::Rfc822Name("ops@example.com".try_into().expect("ia5"))]), &[&root])
        .run()
        .expect("mailbox");
    for bad in [" ", ".example.com", "example.com.", "exa mple.com", "under_score.com", "-a.com", "*.com", "a.*.com"] {
        let err = Check::new(&with(vec![dns(bad)]), &[&root]).err();
        assert_nonconforming(&err, "4.2.1.6", "dNSName");
    }
    let err = Check::new(&with(vec![SanType::Rfc822Name("not-a-mailbox".try_into().expect("ia5"))]), &[&root]).err();
    assert_nonconforming(&err, "4.2.1.6", "rfc822Name");
    let five_octets = tlv(0x30, &tlv(0x87, &[1, 2, 3, 4, 5]));
    let ip = Spec::leaf("p", "Acme")
        .with(move |p| p.custom_extensions.push(custom(&[2, 5, 29, 17], false, five_octets.clone())));
    assert_nonconforming(&Check::new(&ip.signed_by(&root), &[&root]).err(), "4.2.1.6", "5 octets");
    let empty =
        Spec::leaf("p", "Acme").with(|p| p.custom_extensions.push(custom(&[2, 5, 29, 17], false, vec![0x30, 0x00])));
    assert_nonconforming(&Check::new(&empty.signed_by(&root), &[&root]).err(), "4.2.1.6", "empty");
}

// ---- §4.2 unknown critical extensions, anywhere in the path -----------------------------------

#[test]
fn unknown_critical_extensions_are_rejected_anywhere_including_the_anchor() {
    let unknown = |critical| {
        move |p: &mut CertificateParams| {
            p.custom_extensions.push(custom(&[1, 3, 6, 1, 4, 1, 55555, 1], critical, vec![0x05, 0x00]))
        }
    };
    let root = Spec::root("Root A").self_signed();
    Check::new(&Spec::leaf("p", "Acme").with(unknown(false)).signed_by(&root), &[&root]).run().expect("non-critical");
    let err = Check::new(&Spec::leaf("p", "Acme").with(unknown(true)).signed_by(&root), &[&root]).err();
    assert_eq!(err.reason(), reason::UNSUPPORTED_CRITICAL_EXTENSION);
    assert!(err.to_string().contains("1.3.6.1.4.1.55555.1"), "{err}");

    let int = Spec::intermediate("Odd Int").with(unknown(true)).signed_by(&root);
    let err = Check::new(&Spec::leaf("p", "Acme").signed_by(&int), &[&root]).chain(&[&int]).err();
    assert_eq!(err.reason(), reason::UNSUPPORTED_CRITICAL_EXTENSION);
    assert!(err.to_string().contains("Odd Int"), "{err}");

    let odd_root = Spec::root("Odd Root").with(unknown(true)).self_signed();
    let err = Check::new(&Spec::leaf("p", "Acme").signed_by(&odd_root), &[&odd_root]).err();
    assert_eq!(err.reason(), reason::UNSUPPORTED_CRITICAL_EXTENSION);
    assert!(err.to_string().contains("Odd Root"), "{err}");
    let v = evaluate_cas(&[CaInput { name: "r".into(), domain: PartnerDomain::Auth, pem: odd_root.pem.clone() }], t0());
    assert_eq!((v[0].ready, v[0].reason), (false, reason::UNSUPPORTED_CRITICAL_EXTENSION));

    // Revocation is not checked, so a critical CRL distribution point is not understood either.
    let crl =
        Spec::leaf("p", "Acme").with(|p| p.custom_extensions.push(custom(&[2, 5, 29, 31], true, vec![0x30, 0x00])));
    assert_eq!(Check::new(&crl.signed_by(&root), &[&root]).reason(), reason::UNSUPPORTED_CRITICAL_EXTENSION);
    // A known extension may be critical (certificatePolicies with anyPolicy).
    let any_policy = tlv(0x30, &tlv(0x30, &[0x06, 0x04, 0x55, 0x1d, 0x20, 0x00]));
    let cp = Spec::leaf("p", "Acme")
        .with(move |p| p.custom_extensions.push(custom(&[2, 5, 29, 32], true, any_policy.clone())));
    Check::new(&cp.signed_by(&root), &[&root]).run().expect("critical certificatePolicies is understood");
}

// ---- §4.1.2.5 validity at whole-second precision, time encodings -----------------------------

#[test]
fn validity_is_compared_in_whole_seconds() {
    let root = Spec::root("Root A").self_signed();
    let not_before = at(days(1));
    let not_after = at(days(400));
    let leaf = Spec::leaf("p", "Acme").valid(not_before, not_after).signed_by(&root);
    let check = |now| Check::new(&leaf, &[&root]).now(now).min_validity(secs(0)).run();
    let ms = |n| jiff::SignedDuration::from_millis(n);
    check(not_after + ms(999)).expect("an instant within the final second is still valid");
    assert_eq!(check(not_after + secs(1)).expect_err("expired").reason(), reason::CERTIFICATE_EXPIRED);
    check(not_before).expect("valid from notBefore");
    assert_eq!(check(not_before - ms(1)).expect_err("not yet").reason(), reason::NOT_YET_VALID);
    // The same for a CA on the path and in CA evaluation.
    let int = Spec::intermediate("Int").valid(at(-days(1)), at(days(100))).signed_by(&root);
    let leaf = Spec::leaf("p", "Acme").signed_by(&int);
    Check::new(&leaf, &[&root]).chain(&[&int]).now(at(days(100)) + ms(500)).min_validity(secs(0)).run().expect("CA");
    let cas = [CaInput { name: "root".into(), domain: PartnerDomain::Auth, pem: root.pem.clone() }];
    assert!(evaluate_cas(&cas, at(days(3650)) + ms(999))[0].ready);
}

#[test]
fn time_encodings_follow_the_2050_rule() {
    let root = Spec::root("Root A").self_signed();
    // rcgen writes GeneralizedTime from 2050: accepted.
    let late = Spec::leaf("p", "Acme").valid(at(-days(1)), at(days(9500))).signed_by(&root);
    Check::new(&late, &[&root]).run().expect("GeneralizedTime after 2049");
    // A 2030 date as GeneralizedTime is not.
    let leaf = Spec::leaf("p", "Acme").signed_by(&root);
    let leaf = tamper(leaf, root.key.as_ref().expect("key"), |f| {
        let not_before = split(contents(&f[4]))[0].clone();
        f[4] = tlv(0x30, &[not_before, tlv(0x18, b"20401231235959Z")].concat());
    });
    assert_nonconforming(&Check::new(&leaf, &[&root]).err(), "4.1.2.5", "GeneralizedTime");
}

// ---- other structural rules -----------------------------------------------------------------

#[test]
fn inner_and_outer_signature_algorithms_must_match_and_no_unique_ids_or_duplicates() {
    let root = Spec::root("Root A").self_signed();
    let key = root.key.as_ref().expect("key");
    let mismatch = tamper(Spec::leaf("p", "Acme").signed_by(&root), key, |f| {
        f[2] = tlv(0x30, &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03]);
    });
    assert_nonconforming(&Check::new(&mismatch, &[&root]).err(), "4.1.1.2", "signatureAlgorithm");

    let uid = tamper(Spec::leaf("p", "Acme").signed_by(&root), key, |f| f.insert(7, vec![0x81, 0x02, 0x00, 0x01]));
    assert_nonconforming(&Check::new(&uid, &[&root]).err(), "4.1.2.8", "UniqueID");

    let twice = Spec::leaf("p", "Acme").with(|p| {
        for _ in 0..2 {
            p.custom_extensions.push(custom(&[1, 3, 6, 1, 4, 1, 55555, 2], false, vec![0x05, 0x00]));
        }
    });
    assert_nonconforming(&Check::new(&twice.signed_by(&root), &[&root]).err(), "4.2", "more than once");

    // Untampered re-signing keeps a valid certificate valid (the surgery itself is sound).
    let same = tamper(Spec::leaf("p", "Acme").signed_by(&root), key, |_| {});
    Check::new(&same, &[&root]).run().expect("re-signed unchanged");
}

/// Issue #10 item 9: a version field of 0xFFFFFFFF is reported precisely, never an overflow.
#[test]
fn version_field_0xffffffff_is_a_precise_error() {
    let root = Spec::root("Root A").self_signed();
    let key = root.key.as_ref().expect("key");
    let odd = tamper(Spec::leaf("p", "Acme").signed_by(&root), key, |f| {
        f[0] = tlv(0xa0, &[0x02, 0x05, 0x00, 0xff, 0xff, 0xff, 0xff]);
    });
    let err = Check::new(&odd, &[&root]).err();
    assert_eq!(err.reason(), reason::NOT_V3, "{err}");
    assert!(err.to_string().contains("version 4294967296 (version field 4294967295)"), "{err}");
    // As a CA certificate and through summarize too.
    let v = evaluate_cas(&[CaInput { name: "x".into(), domain: PartnerDomain::Auth, pem: odd.pem.clone() }], t0());
    assert_eq!(v[0].reason, reason::NOT_V3);
    crate::trust::summarize(&odd.der).expect("still summarised");
    // Version 2 (field 1) reads "version 2 (version field 1)".
    let v2 = tamper(Spec::leaf("p", "Acme").signed_by(&root), key, |f| f[0] = tlv(0xa0, &[0x02, 0x01, 0x01]));
    assert!(Check::new(&v2, &[&root]).err().to_string().contains("version 2 (version field 1)"));
}

// ---- §6.1 certificate policies under policy constraints --------------------------------------

fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &arc in &arcs[2..] {
        let mut bytes = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            bytes.push(0x80 | (rest & 0x7f) as u8);
            rest >>= 7;
        }
        body.extend(bytes.into_iter().rev());
    }
    tlv(0x06, &body)
}

const P1: &[u64] = &[1, 3, 6, 1, 4, 1, 55555, 10, 1];
const P2: &[u64] = &[1, 3, 6, 1, 4, 1, 55555, 10, 2];
const ANY: &[u64] = &[2, 5, 29, 32, 0];

fn policies(list: &[&[u64]]) -> Vec<u8> {
    tlv(0x30, &list.iter().map(|p| tlv(0x30, &oid(p))).collect::<Vec<_>>().concat())
}

fn with_policies(spec: Spec, list: &'static [&'static [u64]]) -> Spec {
    spec.with(move |p| p.custom_extensions.push(custom(&[2, 5, 29, 32], false, policies(list))))
}

/// requireExplicitPolicy 0 in an intermediate: the partner certificate needs a policy valid
/// through the path (RFC 5280 §6.1.3 (d)–(f), §6.1.5).
#[test]
fn require_explicit_policy_needs_a_valid_policy_on_the_path() {
    let root = Spec::root("Root A").self_signed();
    let int = with_policies(Spec::intermediate("Policy Int"), &[P1])
        .with(|p| p.custom_extensions.push(custom(&[2, 5, 29, 36], true, vec![0x30, 0x03, 0x80, 0x01, 0x00])))
        .signed_by(&root);
    let check = |leaf: &Issued| Check::new(leaf, &[&root]).chain(&[&int]).run();
    check(&with_policies(Spec::leaf("p", "Acme"), &[P1]).signed_by(&int)).expect("P1 throughout");
    check(&with_policies(Spec::leaf("p", "Acme"), &[ANY]).signed_by(&int)).expect("anyPolicy in the leaf");
    for leaf in [Spec::leaf("p", "Acme").signed_by(&int), with_policies(Spec::leaf("p", "Acme"), &[P2]).signed_by(&int)]
    {
        let err = check(&leaf).expect_err("no valid policy");
        assert_eq!(err.reason(), reason::POLICY_CONSTRAINT_VIOLATION, "{err}");
    }
    // Without policy constraints, policies do not matter (user-initial-policy-set = anyPolicy).
    let plain = with_policies(Spec::intermediate("Plain Int"), &[P1]).signed_by(&root);
    let leaf = with_policies(Spec::leaf("p", "Acme"), &[P2]).signed_by(&plain);
    Check::new(&leaf, &[&root]).chain(&[&plain]).run().expect("no explicit policy required");
}

#[test]
fn policy_mappings_and_inhibit_any_policy() {
    let root = Spec::root("Root A").self_signed();
    // P1 in the issuer's domain is P2 in the subject's domain.
    let mapping = tlv(0x30, &tlv(0x30, &[oid(P1), oid(P2)].concat()));
    let mapper = with_policies(Spec::intermediate("Mapping Int"), &[P1])
        .with(move |p| {
            p.custom_extensions.push(custom(&[2, 5, 29, 36], true, vec![0x30, 0x03, 0x80, 0x01, 0x00]));
            p.custom_extensions.push(custom(&[2, 5, 29, 33], true, mapping.clone()));
        })
        .signed_by(&root);
    let check = |leaf: &Issued| Check::new(leaf, &[&root]).chain(&[&mapper]).run();
    check(&with_policies(Spec::leaf("p", "Acme"), &[P2]).signed_by(&mapper)).expect("mapped policy");
    let err = check(&with_policies(Spec::leaf("p", "Acme"), &[P1]).signed_by(&mapper)).expect_err("unmapped");
    assert_eq!(err.reason(), reason::POLICY_CONSTRAINT_VIOLATION);

    // inhibitAnyPolicy 0: anyPolicy in the partner certificate no longer counts.
    let inhibit = with_policies(Spec::intermediate("Inhibit Int"), &[P1])
        .with(|p| {
            p.custom_extensions.push(custom(&[2, 5, 29, 36], true, vec![0x30, 0x03, 0x80, 0x01, 0x00]));
            p.custom_extensions.push(custom(&[2, 5, 29, 54], true, vec![0x02, 0x01, 0x00]));
        })
        .signed_by(&root);
    let check = |leaf: &Issued| Check::new(leaf, &[&root]).chain(&[&inhibit]).run();
    check(&with_policies(Spec::leaf("p", "Acme"), &[P1]).signed_by(&inhibit)).expect("explicit P1");
    let err =
        check(&with_policies(Spec::leaf("p", "Acme"), &[ANY]).signed_by(&inhibit)).expect_err("anyPolicy inhibited");
    assert_eq!(err.reason(), reason::POLICY_CONSTRAINT_VIOLATION);
    // inhibitAnyPolicy must be critical (§4.2.1.14).
    let lax = Spec::intermediate("Lax Inhibit")
        .with(|p| p.custom_extensions.push(custom(&[2, 5, 29, 54], false, vec![0x02, 0x01, 0x00])))
        .signed_by(&root);
    let err = Check::new(&Spec::leaf("p", "Acme").signed_by(&lax), &[&root]).chain(&[&lax]).err();
    assert_nonconforming(&err, "4.2.1.14", "inhibitAnyPolicy");
}
