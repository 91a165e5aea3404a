//! validate_partner_certificate: every reason, path shapes, boundaries.

use super::fixtures::*;
use super::{Check, assert_no_secrets};
use crate::api::PartnerDomain;
use crate::trust::{CaInput, reason, summarize, trusted_sets};
use rcgen::{BasicConstraints, DnType, IsCa, KeyPair, KeyUsagePurpose};

#[test]
fn leaf_directly_under_root_is_trusted_with_all_fields() {
    let root = Spec::root("Root A").self_signed();
    let leaf = Spec::leaf("partner.example", "Acme").signed_by(&root);
    let valid = Check::new(&leaf, &[&root]).run().expect("valid");

    assert_eq!(valid.leaf_der, leaf.der);
    assert_eq!(valid.summary.subject, "CN=partner.example,OU=Integration,O=Acme,L=Bengaluru,ST=Karnataka,C=IN");
    assert_eq!(valid.summary.issuer, "CN=Root A,O=Test CA Org");
    assert_eq!(valid.summary.not_after, at(days(730)));
    assert_eq!(valid.summary.fingerprint_sha256.len(), 64);
    let key = leaf.key.as_ref().expect("key");
    let spki = rcgen::PublicKeyData::subject_public_key_info(key);
    assert_eq!(valid.spki_der, spki);
    assert_eq!(valid.subject.cn.as_deref(), Some("partner.example"));
    assert_eq!(valid.subject.o.as_deref(), Some("Acme"));
    assert_eq!(valid.subject.ou.as_deref(), Some("Integration"));
    assert_eq!(valid.subject.l.as_deref(), Some("Bengaluru"));
    assert_eq!(valid.subject.st.as_deref(), Some("Karnataka"));
    assert_eq!(valid.subject.c.as_deref(), Some("IN"));
    assert_eq!(valid.path_der, vec![root.der.clone()]);
    // The verdict flips to InsufficientValidity first.
    assert_eq!(valid.next_check, at(days(730 - 335)));
}

#[test]
fn three_deep_chain_via_trusted_intermediates_partner_chain_or_bundle() {
    let root = Spec::root("Root A").self_signed();
    let int1 = Spec::intermediate("Int 1").signed_by(&root);
    let int2 = Spec::intermediate("Int 2").signed_by(&int1);
    let leaf = Spec::leaf("deep", "Acme").signed_by(&int2);

    let valid = Check::new(&leaf, &[&root]).intermediates(&[&int2, &int1]).run().expect("trusted");
    assert_eq!(valid.path_der, vec![int2.der.clone(), int1.der.clone(), root.der.clone()]);

    Check::new(&leaf, &[&root]).chain(&[&int1, &int2]).run().expect("partner chain");
    Check::new(&leaf, &[&root]).intermediates(&[&int1]).chain(&[&int2]).run().expect("mixed");

    let mut bundle = Check::new(&leaf, &[&root]);
    bundle.leaf = format!("{}{}{}", leaf.pem, int2.pem, int1.pem);
    bundle.run().expect("extra certificates in the certificate PEM are chain helpers");

    let missing = Check::new(&leaf, &[&root]).intermediates(&[&int1]).err();
    assert_eq!(missing.reason(), reason::UNTRUSTED_CHAIN);
    assert!(missing.to_string().contains("\"CN=Int 2,O=Test CA Org\""), "{missing}");
}

#[test]
fn next_check_is_the_earliest_expiry_on_the_path() {
    let root = Spec::root("Root A").valid(at(-days(1)), at(days(900))).self_signed();
    let int = Spec::intermediate("Int").valid(at(-days(1)), at(days(100))).signed_by(&root);
    let leaf = Spec::leaf("p", "Acme").signed_by(&int);
    let valid = Check::new(&leaf, &[&root]).chain(&[&int]).run().expect("valid");
    assert_eq!(valid.next_check, at(days(100)));
}

#[test]
fn malformed_inputs() {
    let root = Spec::root("Root A").self_signed();
    let leaf = Spec::leaf("p", "Acme").signed_by(&root);
    for garbage in ["", "   \n", "hello", "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"] {
        let mut check = Check::new(&leaf, &[&root]);
        check.leaf = garbage.to_string();
        assert_eq!(check.reason(), reason::MALFORMED_CERTIFICATE, "{garbage:?}");
    }
    let mut key_pasted = Check::new(&leaf, &[&root]);
    key_pasted.leaf = leaf.key_pem();
    let err = key_pasted.err();
    assert_eq!(err.reason(), reason::MALFORMED_CERTIFICATE);
    assert!(err.to_string().contains("PRIVATE KEY"), "{err}");
    assert_no_secrets(&err.to_string());

    let mut bad_chain = Check::new(&leaf, &[&root]);
    bad_chain.chain = Some("not pem".into());
    let err = bad_chain.err();
    assert_eq!(err.reason(), reason::MALFORMED_CERTIFICATE);
    assert!(err.to_string().contains("partner-supplied chain"), "{err}");
}

#[test]
fn version_1_certificate_is_not_v3() {
    let root = Spec::root("Root A").self_signed();
    let pem = openssl_issue("/O=Acme/CN=v1", &ec_key_pem(), &root.pem, &root.key_pem(), "sha256", None, &[]);
    let leaf = Issued::from_pem(pem, None);
    let err = Check::new(&leaf, &[&root]).now(at(days(1))).err();
    assert_eq!(err.reason(), reason::NOT_V3);
    assert!(err.to_string().contains("version 1"), "{err}");
}

#[test]
fn sha1_and_md5_signatures_are_weak_and_pss_is_accepted() {
    let root = rsa_root("RSA Root");
    for digest in ["sha1", "md5"] {
        let pem =
            openssl_issue("/O=Acme/CN=weak", &ec_key_pem(), &root.pem, &root.key_pem(), digest, Some(LEAF_EXT), &[]);
        let err = Check::new(&Issued::from_pem(pem, None), &[&root]).now(at(days(1))).err();
        assert_eq!(err.reason(), reason::WEAK_SIGNATURE, "{digest}");
        assert!(err.to_string().contains(&format!("{digest}WithRSAEncryption")), "{err}");
    }
    let pss = openssl_issue(
        "/O=Acme/CN=pss",
        &ec_key_pem(),
        &root.pem,
        &root.key_pem(),
        "sha256",
        Some(LEAF_EXT),
        &["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"],
    );
    Check::new(&Issued::from_pem(pss, None), &[&root]).now(at(days(1))).run().expect("PSS accepted");
}

#[test]
fn sha1_intermediate_on_the_path_is_weak() {
    let root = rsa_root("RSA Root");
    let int_key = ec_key_pem();
    let int_pem =
        openssl_issue("/O=Test CA Org/CN=SHA1 Int", &int_key, &root.pem, &root.key_pem(), "sha1", Some(CA_EXT), &[]);
    let int = Issued::from_pem(int_pem, Some(KeyPair::from_pem(&int_key).expect("key")));
    let leaf = Spec::leaf("p", "Acme").signed_by(&int);
    let err = Check::new(&leaf, &[&root]).chain(&[&int]).now(at(days(1))).err();
    assert_eq!(err.reason(), reason::WEAK_SIGNATURE);
    assert!(err.to_string().contains("SHA1 Int"), "{err}");
}

#[test]
fn rsa_1024_keys_are_weak_on_the_leaf_and_on_the_path() {
    let root = Spec::root("Root A").self_signed();
    let weak_spki = spki_of(rsa_key_pem(1024));
    let leaf = Spec::leaf("p", "Acme").for_public_key(&weak_spki, &root);
    let err = Check::new(&leaf, &[&root]).err();
    assert_eq!(err.reason(), reason::WEAK_KEY);
    assert!(err.to_string().contains("1024 bits"), "{err}");

    // An intermediate with an RSA-1024 key that signs the leaf (openssl can sign with it).
    let int = Spec::intermediate("Weak Int").for_public_key(&weak_spki, &root);
    let pem = openssl_issue("/O=Acme/CN=p", &ec_key_pem(), &int.pem, rsa_key_pem(1024), "sha256", Some(LEAF_EXT), &[]);
    let err = Check::new(&Issued::from_pem(pem, None), &[&root]).chain(&[&int]).now(at(days(1))).err();
    assert_eq!(err.reason(), reason::WEAK_KEY);
    assert!(err.to_string().contains("Weak Int"), "{err}");
}

#[test]
fn rsa_2048_ed25519_and_p384_are_accepted() {
    let root = Spec::root("P384 Root").alg(&rcgen::PKCS_ECDSA_P384_SHA384).self_signed();
    let rsa_leaf = Spec::leaf("rsa", "Acme").for_public_key(&spki_of(rsa_key_pem(2048)), &root);
    Check::new(&rsa_leaf, &[&root]).run().expect("RSA-2048 leaf");
    let ed_leaf = Spec::leaf("ed", "Acme").alg(&rcgen::PKCS_ED25519).signed_by(&root);
    Check::new(&ed_leaf, &[&root]).run().expect("Ed25519 leaf");
    let rsa_root = rsa_root("RSA Root");
    let leaf = Spec::leaf("p", "Acme").signed_by(&rsa_root);
    Check::new(&leaf, &[&rsa_root]).run().expect("leaf under an RSA root");
}

#[test]
fn validity_boundaries() {
    let root = Spec::root("Root A").self_signed();
    let not_after = at(days(400));
    let leaf = Spec::leaf("p", "Acme").valid(at(days(10)), not_after).signed_by(&root);
    let no_min = |now| Check::new(&leaf, &[&root]).now(now).min_validity(secs(0));

    assert_eq!(no_min(at(days(10)) - secs(1)).reason(), reason::NOT_YET_VALID);
    no_min(at(days(10))).run().expect("valid from notBefore");
    no_min(not_after - secs(1)).run().expect("valid one second before notAfter");
    no_min(not_after).run().expect("valid exactly at notAfter (inclusive)");
    let err = no_min(not_after + secs(1)).err();
    assert_eq!(err.reason(), reason::CERTIFICATE_EXPIRED);
    assert!(err.to_string().contains(&not_after.to_string()), "{err}");

    // Minimum remaining validity: exactly met passes, one second short fails.
    let min = days(335);
    let exactly = Check::new(&leaf, &[&root]).now(not_after - min).min_validity(min);
    let valid = exactly.run().expect("exactly the minimum left");
    assert_eq!(valid.next_check, not_after - min);
    let short = Check::new(&leaf, &[&root]).now(not_after - min + secs(1)).min_validity(min).err();
    assert_eq!(short.reason(), reason::INSUFFICIENT_VALIDITY);
    assert!(short.to_string().contains("334 days 23h 59m 59s"), "{short}");
    assert!(short.to_string().contains("335 days"), "{short}");
}

#[test]
fn self_signed_partner_certificate_is_rejected() {
    let root = Spec::root("Root A").self_signed();
    let selfie = Spec::leaf("selfie", "Acme").self_signed();
    assert_eq!(Check::new(&selfie, &[&root]).reason(), reason::SELF_SIGNED);
    // Even when the caller wrongly trusts it as a root.
    assert_eq!(Check::new(&selfie, &[&selfie]).reason(), reason::SELF_SIGNED);
}

#[test]
fn unknown_issuer_names_the_missing_dn() {
    let root = Spec::root("Root A").self_signed();
    let other = Spec::root("Other Root").self_signed();
    let leaf = Spec::leaf("p", "Acme").signed_by(&other);
    let err = Check::new(&leaf, &[&root]).err();
    assert_eq!(err.reason(), reason::UNTRUSTED_CHAIN);
    assert!(err.to_string().contains("\"CN=Other Root,O=Test CA Org\""), "{err}");
    assert!(err.to_string().contains("AUTH"), "{err}");
    assert_eq!(Check::new(&leaf, &[]).reason(), reason::UNTRUSTED_CHAIN);
}

#[test]
fn partner_supplied_root_is_never_an_anchor() {
    let trusted = Spec::root("Trusted Root").self_signed();
    let rogue = Spec::root("Rogue Root").self_signed();
    let int = Spec::intermediate("Rogue Int").signed_by(&rogue);
    let leaf = Spec::leaf("p", "Acme").signed_by(&int);
    let err = Check::new(&leaf, &[&trusted]).chain(&[&int, &rogue]).err();
    assert_eq!(err.reason(), reason::UNTRUSTED_CHAIN);
    assert!(err.to_string().contains("never trust anchors"), "{err}");
    assert!(err.to_string().contains("Rogue Root"), "{err}");

    let direct = Spec::leaf("p", "Acme").signed_by(&rogue);
    assert_eq!(Check::new(&direct, &[&trusted]).chain(&[&rogue]).reason(), reason::UNTRUSTED_CHAIN);
}

/// An intermediate with the right name but another key: the name matches, so the issuer was
/// found, but its key does not verify the signature. That is InvalidSignature (what is wrong
/// is the signature/key pairing, and the message says which), not UntrustedChain (which would
/// suggest adding a CA that is already there by name).
#[test]
fn right_name_wrong_key_is_invalid_signature() {
    let root = Spec::root("Root A").self_signed();
    let real = Spec::intermediate("Int").signed_by(&root);
    let impostor = Spec::intermediate("Int").signed_by(&root);
    let leaf = Spec::leaf("p", "Acme").signed_by(&real);
    let err = Check::new(&leaf, &[&root]).intermediates(&[&impostor]).err();
    assert_eq!(err.reason(), reason::INVALID_SIGNATURE);
    assert!(err.to_string().contains("\"CN=Int,O=Test CA Org\""), "{err}");
    Check::new(&leaf, &[&root]).intermediates(&[&impostor, &real]).run().expect("the real one wins");

    // Same for a root: the same name with another key.
    let root_again = Spec::root("Root A").self_signed();
    let leaf = Spec::leaf("p", "Acme").signed_by(&root);
    assert_eq!(Check::new(&leaf, &[&root_again]).reason(), reason::INVALID_SIGNATURE);
}

#[test]
fn cas_on_the_path_must_really_be_cas() {
    let root = Spec::root("Root A").self_signed();

    let no_cert_sign =
        Spec::intermediate("No CertSign").key_usages(vec![KeyUsagePurpose::DigitalSignature]).signed_by(&root);
    let leaf = Spec::leaf("p", "Acme").signed_by(&no_cert_sign);
    let err = Check::new(&leaf, &[&root]).chain(&[&no_cert_sign]).err();
    assert_eq!(err.reason(), reason::NOT_A_CERTIFICATE_AUTHORITY);
    assert!(err.to_string().contains("keyCertSign"), "{err}");

    let not_ca = Spec::intermediate("Not CA").ca(IsCa::ExplicitNoCa).signed_by(&root);
    let leaf = Spec::leaf("p", "Acme").signed_by(&not_ca);
    let err = Check::new(&leaf, &[&root]).chain(&[&not_ca]).err();
    assert_eq!(err.reason(), reason::NOT_A_CERTIFICATE_AUTHORITY);
    assert!(err.to_string().contains("Not CA"), "{err}");

    let root_without_ku = Spec::root("Root No KU").key_usages(vec![]).self_signed();
    let leaf = Spec::leaf("p", "Acme").signed_by(&root_without_ku);
    assert_eq!(Check::new(&leaf, &[&root_without_ku]).reason(), reason::NOT_A_CERTIFICATE_AUTHORITY);

    // A CA:TRUE partner certificate is accepted (MOSIP does); its path cases are in tests/ca_leaf.rs.
    let ca_leaf = Spec::leaf("p", "Acme").ca(IsCa::Ca(BasicConstraints::Unconstrained)).signed_by(&root);
    Check::new(&ca_leaf, &[&root]).run().expect("CA partner certificate");
}

#[test]
fn path_length_constraints() {
    let root0 = Spec::root("Root PL0").path_len(0).self_signed();
    let int = Spec::intermediate("Int").signed_by(&root0);
    let leaf = Spec::leaf("p", "Acme").signed_by(&int);
    let err = Check::new(&leaf, &[&root0]).chain(&[&int]).err();
    assert_eq!(err.reason(), reason::PATH_LENGTH_EXCEEDED);
    assert!(err.to_string().contains("Root PL0"), "{err}");
    Check::new(&Spec::leaf("p", "Acme").signed_by(&root0), &[&root0]).run().expect("pathLen 0 may issue leaves");

    let root1 = Spec::root("Root PL1").path_len(1).self_signed();
    let int1 = Spec::intermediate("Int 1").signed_by(&root1);
    let int2 = Spec::intermediate("Int 2").signed_by(&int1);
    Check::new(&Spec::leaf("p", "Acme").signed_by(&int1), &[&root1]).chain(&[&int1]).run().expect("one below");
    let deep = Spec::leaf("p", "Acme").signed_by(&int2);
    assert_eq!(Check::new(&deep, &[&root1]).chain(&[&int1, &int2]).reason(), reason::PATH_LENGTH_EXCEEDED);
}

#[test]
fn expired_intermediate_in_the_chain_is_named() {
    let root = Spec::root("Root A").self_signed();
    let old = Spec::intermediate("Old Int").valid(at(-days(400)), at(-days(1))).signed_by(&root);
    let leaf = Spec::leaf("p", "Acme").signed_by(&old);
    let err = Check::new(&leaf, &[&root]).chain(&[&old]).err();
    assert_eq!(err.reason(), reason::CERTIFICATE_EXPIRED);
    assert!(err.to_string().contains("Old Int"), "{err}");

    let expired_root = Spec::root("Expired Root").valid(at(-days(400)), at(-days(1))).self_signed();
    let leaf = Spec::leaf("p", "Acme").signed_by(&expired_root);
    let err = Check::new(&leaf, &[&expired_root]).err();
    assert_eq!(err.reason(), reason::CERTIFICATE_EXPIRED);
    assert!(err.to_string().contains("Expired Root"), "{err}");
}

#[test]
fn organization_must_match_exactly() {
    let root = Spec::root("Root A").self_signed();
    let leaf = Spec::leaf("p", "Acme").signed_by(&root);
    let err = Check::new(&leaf, &[&root]).organization(Some("acme")).err();
    assert_eq!(err.reason(), reason::ORGANIZATION_MISMATCH);
    assert!(err.to_string().contains("\"Acme\"") && err.to_string().contains("\"acme\""), "{err}");
    Check::new(&leaf, &[&root]).organization(None).run().expect("no check without an organization");

    let no_o = Spec::leaf("p", "x").dn(vec![(DnType::CommonName, "no-org")]).signed_by(&root);
    let err = Check::new(&no_o, &[&root]).err();
    assert_eq!(err.reason(), reason::ORGANIZATION_MISMATCH);
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn trusted_sets_isolate_domains() {
    let auth_root = Spec::root("Auth Root").self_signed();
    let misp_root = Spec::root("MISP Root").self_signed();
    let misp_int = Spec::intermediate("MISP Int").signed_by(&misp_root);
    let leaf = Spec::leaf("misp", "Acme").signed_by(&misp_int);
    let cas = vec![
        CaInput { name: "auth-root".into(), domain: PartnerDomain::Auth, pem: auth_root.pem.clone() },
        CaInput { name: "misp-root".into(), domain: PartnerDomain::Misp, pem: misp_root.pem.clone() },
        CaInput { name: "misp-int".into(), domain: PartnerDomain::Misp, pem: misp_int.pem.clone() },
    ];
    let validate = |domain| {
        let (roots, ints) = trusted_sets(&cas, domain, t0());
        crate::trust::validate_partner_certificate(&crate::trust::PartnerCertInput {
            domain,
            certificate_pem: &leaf.pem,
            chain_pem: None,
            trusted_roots: &roots,
            trusted_intermediates: &ints,
            organization: Some("Acme"),
            now: t0(),
            min_validity: crate::trust::DEFAULT_MIN_VALIDITY,
        })
    };
    let (roots, ints) = trusted_sets(&cas, PartnerDomain::Auth, t0());
    assert_eq!((roots, ints), (vec![auth_root.der.clone()], vec![]));
    let err = validate(PartnerDomain::Auth).expect_err("AUTH anchors must not validate a MISP cert");
    assert_eq!(err.reason(), reason::UNTRUSTED_CHAIN);
    validate(PartnerDomain::Misp).expect("MISP anchors validate it");
}

#[test]
fn summarize_works_for_invalid_certificates() {
    let root = Spec::root("Root A").self_signed();
    let expired = Spec::leaf("p", "Acme").valid(at(-days(10)), at(-days(1))).signed_by(&root);
    let summary = summarize(&expired.der).expect("summary");
    assert_eq!(summary.not_after, at(-days(1)));
    assert_eq!(summary.issuer, "CN=Root A,O=Test CA Org");
    assert!(summary.serial_number.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert!(summarize(b"junk").is_err());
}

#[test]
fn messages_never_leak_key_material() {
    let root = Spec::root("Root A").self_signed();
    let leaf = Spec::leaf("p", "Acme").valid(at(-days(10)), at(-days(1))).signed_by(&root);
    let mut check = Check::new(&leaf, &[&root]);
    check.leaf = format!("{}\n{}", leaf.pem, leaf.key_pem());
    let err = check.err();
    assert_no_secrets(&err.to_string());
    assert_no_secrets(&Check::new(&leaf, &[&root]).err().to_string());
}

#[test]
fn a_reread_gives_the_facts_validation_gave_without_the_path() {
    let root = Spec::root("Root A").self_signed();
    let leaf = Spec::leaf("partner.example", "Acme").signed_by(&root);
    let valid = Check::new(&leaf, &[&root]).run().expect("valid");
    let again = crate::trust::ValidatedCertificate::reread(&leaf.pem, valid.next_check).expect("reread");
    assert_eq!(again.path_der, Vec::<Vec<u8>>::new());
    assert_eq!(crate::trust::ValidatedCertificate { path_der: valid.path_der.clone(), ..again }, valid);
    assert!(crate::trust::ValidatedCertificate::reread("not a certificate", valid.next_check).is_err());
}
