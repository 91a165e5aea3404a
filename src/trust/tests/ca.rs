//! evaluate_cas: roots, intermediates, the fixed point and every CA reason.

use super::fixtures::*;
use crate::api::{CaRole, PartnerDomain};
use crate::trust::{CaInput, CaVerdict, ca_inputs_from_bundle, evaluate_cas, reason, trusted_sets};
use rcgen::{CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

fn input(name: &str, domain: PartnerDomain, cert: &Issued) -> CaInput {
    CaInput { name: name.into(), domain, pem: cert.pem.clone() }
}

fn auth(name: &str, cert: &Issued) -> CaInput {
    input(name, PartnerDomain::Auth, cert)
}

fn verdict<'v>(verdicts: &'v [CaVerdict], name: &str) -> &'v CaVerdict {
    verdicts.iter().find(|v| v.name == name).expect("verdict for every input")
}

#[test]
fn root_is_ready_with_summary_and_next_check() {
    let root = Spec::root("Root A").self_signed();
    let verdicts = evaluate_cas(&[auth("root", &root)], t0());
    let v = &verdicts[0];
    assert!(v.ready, "{}", v.message);
    assert_eq!(v.reason, reason::TRUSTED);
    assert_eq!(v.role, Some(CaRole::Root));
    let summary = v.summary.as_ref().expect("summary");
    assert_eq!(summary.subject, "CN=Root A,O=Test CA Org");
    assert_eq!(summary.subject, summary.issuer);
    assert_eq!(v.next_check, Some(at(days(3650))));
}

#[test]
fn intermediate_is_ready_only_with_its_ready_root() {
    let root = Spec::root("Root A").valid(at(-days(1)), at(days(500))).self_signed();
    let int = Spec::intermediate("Int").signed_by(&root);

    let alone = evaluate_cas(&[auth("int", &int)], t0());
    assert!(!alone[0].ready);
    assert_eq!(alone[0].role, Some(CaRole::Intermediate));
    assert_eq!(alone[0].reason, reason::UNTRUSTED_CHAIN);
    assert!(alone[0].message.contains("\"CN=Root A,O=Test CA Org\""), "{}", alone[0].message);

    let with_root = evaluate_cas(&[auth("int", &int), auth("root", &root)], t0());
    let v = verdict(&with_root, "int");
    assert!(v.ready, "{}", v.message);
    assert_eq!(v.reason, reason::TRUSTED);
    // It stops being Ready when its root expires.
    assert_eq!(v.next_check, Some(at(days(500))));
}

#[test]
fn evaluation_is_order_independent_for_deep_chains() {
    let root = Spec::root("Root A").self_signed();
    let int1 = Spec::intermediate("Int 1").signed_by(&root);
    let int2 = Spec::intermediate("Int 2").signed_by(&int1);
    let int3 = Spec::intermediate("Int 3").signed_by(&int2);
    let all = [auth("root", &root), auth("int1", &int1), auth("int2", &int2), auth("int3", &int3)];
    let orders: [[usize; 4]; 4] = [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]];
    for order in orders {
        let inputs: Vec<CaInput> = order.iter().map(|&i| all[i].clone()).collect();
        let verdicts = evaluate_cas(&inputs, t0());
        assert_eq!(verdicts.len(), 4);
        for (v, i) in verdicts.iter().zip(&inputs) {
            assert_eq!(v.name, i.name, "verdicts come back in input order");
            assert!(v.ready, "{order:?}: {} {}", v.name, v.message);
        }
    }
}

#[test]
fn intermediate_of_another_domains_root_is_not_ready() {
    let root = Spec::root("Root A").self_signed();
    let int = Spec::intermediate("Int").signed_by(&root);
    let verdicts =
        evaluate_cas(&[input("root", PartnerDomain::Misp, &root), input("int", PartnerDomain::Auth, &int)], t0());
    assert!(verdict(&verdicts, "root").ready);
    let v = verdict(&verdicts, "int");
    assert!(!v.ready);
    assert_eq!(v.reason, reason::UNTRUSTED_CHAIN);
    assert!(v.message.contains("MISP"), "{}", v.message);
}

#[test]
fn expired_root_makes_its_intermediates_not_ready() {
    let root = Spec::root("Old Root").valid(at(-days(400)), at(-days(1))).self_signed();
    let int = Spec::intermediate("Int").valid(at(-days(300)), at(days(300))).signed_by(&root);
    let verdicts = evaluate_cas(&[auth("root", &root), auth("int", &int)], t0());
    let r = verdict(&verdicts, "root");
    assert_eq!(r.reason, reason::CERTIFICATE_EXPIRED);
    assert_eq!(r.role, Some(CaRole::Root));
    assert_eq!(r.next_check, None, "time alone does not revive an expired CA");
    assert!(r.message.contains(&at(-days(1)).to_string()), "{}", r.message);
    let i = verdict(&verdicts, "int");
    assert_eq!(i.reason, reason::UNTRUSTED_CHAIN);
    assert!(i.message.contains("root") && i.message.contains("CertificateExpired"), "{}", i.message);
}

#[test]
fn not_yet_valid_root_and_its_intermediate_recheck_at_not_before() {
    let start = at(days(5));
    let root = Spec::root("Future Root").valid(start, at(days(900))).self_signed();
    let int = Spec::intermediate("Int").signed_by(&root);
    let verdicts = evaluate_cas(&[auth("root", &root), auth("int", &int)], t0());
    let r = verdict(&verdicts, "root");
    assert_eq!(r.reason, reason::NOT_YET_VALID);
    assert_eq!(r.next_check, Some(start));
    assert_eq!(verdict(&verdicts, "int").next_check, Some(start));
    assert!(evaluate_cas(&[auth("root", &root), auth("int", &int)], start).iter().all(|v| v.ready));
}

#[test]
fn malformed_and_multiple_certificates() {
    let root = Spec::root("Root A").self_signed();
    let other = Spec::root("Root B").self_signed();
    let verdicts = evaluate_cas(
        &[
            CaInput { name: "two".into(), domain: PartnerDomain::Auth, pem: format!("{}{}", root.pem, other.pem) },
            CaInput { name: "junk".into(), domain: PartnerDomain::Auth, pem: "junk".into() },
            CaInput { name: "empty".into(), domain: PartnerDomain::Auth, pem: String::new() },
        ],
        t0(),
    );
    assert_eq!(verdict(&verdicts, "two").reason, reason::MULTIPLE_CERTIFICATES);
    assert!(verdict(&verdicts, "two").message.contains("2 certificates"));
    for name in ["junk", "empty"] {
        let v = verdict(&verdicts, name);
        assert_eq!(v.reason, reason::MALFORMED_CERTIFICATE);
        assert_eq!((v.role, v.summary.is_none(), v.next_check), (None, true, None));
    }
}

#[test]
fn v1_weak_and_non_ca_certificates_are_rejected() {
    let root = Spec::root("Root A").self_signed();
    let v1 = openssl_issue("/O=X/CN=v1 CA", &ec_key_pem(), &root.pem, &root.key_pem(), "sha256", None, &[]);
    let rsa = rsa_root("RSA Root");
    let sha1_int = openssl_issue("/O=X/CN=SHA1 CA", &ec_key_pem(), &rsa.pem, &rsa.key_pem(), "sha1", Some(CA_EXT), &[]);
    let weak_int = Spec::intermediate("Weak CA").for_public_key(&spki_of(rsa_key_pem(1024)), &root);
    let leaf = Spec::leaf("leaf", "Acme").signed_by(&root);
    let no_cert_sign = Spec::intermediate("No CertSign")
        .key_usages(vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::CrlSign])
        .signed_by(&root);
    let no_ku = Spec::intermediate("No KU").key_usages(vec![]).signed_by(&root);
    let not_ca_root = Spec::root("Not CA Root").ca(IsCa::ExplicitNoCa).self_signed();
    let text = |name: &str, pem: &str| CaInput { name: name.into(), domain: PartnerDomain::Auth, pem: pem.into() };
    let verdicts = evaluate_cas(
        &[
            auth("root", &root),
            auth("rsa", &rsa),
            text("v1", &v1),
            text("sha1", &sha1_int),
            auth("weak", &weak_int),
            auth("leaf", &leaf),
            auth("no-cert-sign", &no_cert_sign),
            auth("no-ku", &no_ku),
            auth("not-ca-root", &not_ca_root),
        ],
        at(days(1)),
    );
    let expect = [
        ("v1", reason::NOT_V3),
        ("sha1", reason::WEAK_SIGNATURE),
        ("weak", reason::WEAK_KEY),
        ("leaf", reason::NOT_A_CERTIFICATE_AUTHORITY),
        ("no-cert-sign", reason::NOT_A_CERTIFICATE_AUTHORITY),
        ("no-ku", reason::NOT_A_CERTIFICATE_AUTHORITY),
        ("not-ca-root", reason::NOT_A_CERTIFICATE_AUTHORITY),
    ];
    for (name, want) in expect {
        let v = verdict(&verdicts, name);
        assert_eq!((v.ready, v.reason), (false, want), "{name}: {}", v.message);
        assert!(v.summary.is_some(), "{name}: parseable, so summarised");
    }
    assert_eq!(verdict(&verdicts, "not-ca-root").role, Some(CaRole::Root));
    assert!(verdicts.iter().filter(|v| v.ready).count() == 2);
}

#[test]
fn cycles_terminate_and_are_untrusted() {
    let key_a = KeyPair::generate().expect("key");
    let key_b = KeyPair::generate().expect("key");
    let params = |cn: &str| {
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        p.distinguished_name = dn;
        p.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        p.use_authority_key_identifier_extension = true;
        p
    };
    let (pa, pb) = (params("A"), params("B"));
    let a = pa.signed_by(&key_a, &Issuer::from_params(&pb, &key_b)).expect("A by B");
    let b = pb.signed_by(&key_b, &Issuer::from_params(&pa, &key_a)).expect("B by A");
    let pem = |c: &rcgen::Certificate| c.pem();
    let verdicts = evaluate_cas(
        &[
            CaInput { name: "a".into(), domain: PartnerDomain::Auth, pem: pem(&a) },
            CaInput { name: "b".into(), domain: PartnerDomain::Auth, pem: pem(&b) },
        ],
        t0(),
    );
    for v in &verdicts {
        assert_eq!((v.ready, v.reason), (false, reason::UNTRUSTED_CHAIN), "{}", v.message);
    }
}

#[test]
fn duplicate_certificates_in_one_domain_are_both_ready() {
    let root = Spec::root("Root A").self_signed();
    let int = Spec::intermediate("Int").signed_by(&root);
    let verdicts =
        evaluate_cas(&[auth("root-1", &root), auth("root-2", &root), auth("int-1", &int), auth("int-2", &int)], t0());
    assert!(verdicts.iter().all(|v| v.ready), "{verdicts:#?}");
}

#[test]
fn path_length_of_the_issuer_is_honoured() {
    let root = Spec::root("Root PL0").path_len(0).self_signed();
    let int = Spec::intermediate("Int").signed_by(&root);
    let verdicts = evaluate_cas(&[auth("root", &root), auth("int", &int)], t0());
    let v = verdict(&verdicts, "int");
    assert_eq!((v.ready, v.reason), (false, reason::PATH_LENGTH_EXCEEDED), "{}", v.message);

    let root1 = Spec::root("Root PL1").path_len(1).self_signed();
    let int1 = Spec::intermediate("Int 1").signed_by(&root1);
    let int2 = Spec::intermediate("Int 2").signed_by(&int1);
    let verdicts = evaluate_cas(&[auth("int2", &int2), auth("int1", &int1), auth("root", &root1)], t0());
    assert!(verdict(&verdicts, "int1").ready);
    assert_eq!(verdict(&verdicts, "int2").reason, reason::PATH_LENGTH_EXCEEDED);
}

#[test]
fn intermediate_with_the_roots_name_but_another_signer_is_untrusted() {
    let root = Spec::root("Root A").self_signed();
    let impostor_root = Spec::root("Root A").self_signed();
    let int = Spec::intermediate("Int").signed_by(&impostor_root);
    let verdicts = evaluate_cas(&[auth("root", &root), auth("int", &int)], t0());
    let v = verdict(&verdicts, "int");
    assert_eq!(v.reason, reason::UNTRUSTED_CHAIN);
    assert!(v.message.contains("did not sign"), "{}", v.message);
}

#[test]
fn trusted_sets_keep_only_ready_cas_of_the_domain() {
    let root = Spec::root("Root A").self_signed();
    let int = Spec::intermediate("Int").signed_by(&root);
    let stray = Spec::intermediate("Stray").signed_by(&Spec::root("Unknown").self_signed());
    let expired = Spec::root("Old").valid(at(-days(10)), at(-days(1))).self_signed();
    let misp_root = Spec::root("MISP Root").self_signed();
    let cas = [
        auth("root", &root),
        auth("int", &int),
        auth("stray", &stray),
        auth("expired", &expired),
        input("misp", PartnerDomain::Misp, &misp_root),
    ];
    assert_eq!(trusted_sets(&cas, PartnerDomain::Auth, t0()), (vec![root.der.clone()], vec![int.der.clone()]));
    assert_eq!(trusted_sets(&cas, PartnerDomain::Misp, t0()), (vec![misp_root.der.clone()], vec![]));
    assert_eq!(trusted_sets(&cas, PartnerDomain::Device, t0()), (vec![], vec![]));
}

#[test]
fn bundles_split_into_named_inputs() {
    let root = Spec::root("Root A").self_signed();
    let int = Spec::intermediate("Int").signed_by(&root);
    let bundle = format!("{}\n{}", root.pem, int.pem);
    let inputs = ca_inputs_from_bundle("ca.pem", PartnerDomain::Ftm, &bundle).expect("bundle");
    assert_eq!(inputs.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["ca.pem#1", "ca.pem#2"]);
    assert!(evaluate_cas(&inputs, t0()).iter().all(|v| v.ready));
    let single = ca_inputs_from_bundle("root.pem", PartnerDomain::Ftm, &root.pem).expect("one");
    assert_eq!(single[0].name, "root.pem");
}

/// Evaluations are memoised only while time cannot change them: the same CA set evaluated
/// across its root's notAfter, and back, gives the verdict of each instant.
#[test]
fn memoised_evaluation_follows_time() {
    let root = Spec::root("Memo Root").valid(at(-days(1)), at(days(10))).self_signed();
    let int = Spec::intermediate("Memo Int").signed_by(&root);
    let cas = [auth("root", &root), auth("int", &int)];
    let ready = |now| evaluate_cas(&cas, now).iter().map(|v| v.ready).collect::<Vec<_>>();
    assert_eq!(ready(t0()), [true, true]);
    assert_eq!(ready(at(days(10))), [true, true], "notAfter itself is inclusive");
    assert_eq!(ready(at(days(10)) + secs(1)), [false, false]);
    assert_eq!(ready(t0()), [true, true]);
    // A different set (one more input) is evaluated on its own.
    let other = Spec::root("Memo Other").self_signed();
    let more = [auth("root", &root), auth("int", &int), auth("other", &other)];
    assert_eq!(evaluate_cas(&more, t0()).len(), 3);
    let (roots, ints) = trusted_sets(&cas, PartnerDomain::Auth, at(days(10)) + secs(1));
    assert!(roots.is_empty() && ints.is_empty());
}
