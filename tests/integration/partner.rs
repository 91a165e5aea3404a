//! Partner certificates: validation, re-signing, Secret watches, expiry, namespaces, registration.

use crate::common::{CONVERGE, TestEnv, eventually};
use crate::fixtures::*;
use crate::pki;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use mosip_partner_operator::api::*;
use std::process::Command;

#[tokio::test]
async fn valid_certificate_is_resigned_and_verifies_with_openssl() {
    let mut env = TestEnv::new("ptn-cert").await;
    env.start_operator(&[]);
    let int = trust(&env, PartnerDomain::Auth).await;
    cert_secret(&env, "relying", &int, "Relying Party Ltd").await;
    let api: Api<Partner> = env.api();
    let mut p = partner("relying", PartnerType::AuthPartner, "Relying Party Ltd");
    p.spec.policy_group = Some("g".into());
    env.apply(&api, &p).await;

    let p = wait_partner(&env, "relying", CERTIFICATE_VALID, "True").await;
    let cert = p.status.and_then(|s| s.certificate).expect("status.certificate");
    assert_eq!(cert.domain.as_deref(), Some("AUTH"));
    assert!(cert.subject.as_deref().is_some_and(|s| s.contains("Relying Party Ltd")));
    assert_eq!(cert.fingerprint_sha256.as_deref().map(str::len), Some(64));
    let signed_name = cert.signed_secret_name.expect("signedSecretName");

    // The re-signed certificate verifies against the chain in its own Secret.
    let tls = env.secret_value(&signed_name, "tls.crt").await.expect("tls.crt");
    let chain = env.secret_value(&signed_name, "ca.crt").await.expect("ca.crt");
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("tls.crt"), &tls).expect("write");
    std::fs::write(dir.path().join("ca.crt"), &chain).expect("write");
    let out = Command::new("openssl")
        .args(["verify", "-CAfile", "ca.crt", "tls.crt"])
        .current_dir(dir.path())
        .output()
        .expect("openssl");
    assert!(out.status.success(), "openssl verify failed: {}", String::from_utf8_lossy(&out.stderr));
    // The submitted certificate's key usages (digitalSignature, keyEncipherment), mirrored; no
    // keyCertSign and CA:FALSE, unlike MOSIP's CA:TRUE-for-all (docs/security.md, #10 item 4).
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in", "tls.crt"])
        .current_dir(dir.path())
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Digital Signature")
            && text.contains("Key Encipherment")
            && !text.contains("Certificate Sign")
            && text.contains("CA:FALSE"),
        "{text}"
    );
    assert!(text.contains("O = Relying Party Ltd") || text.contains("O=Relying Party Ltd"), "{text}");

    // Owned by the Partner and labelled.
    let secret: Secret = env.api::<Secret>().get(&signed_name).await.expect("get");
    assert!(
        secret.metadata.owner_references.unwrap_or_default().iter().any(|o| o.kind == "Partner" && o.name == "relying")
    );
    // Not re-issued on an ordinary reconcile.
    let rv = secret.metadata.resource_version.clone();
    env.apply(&api, &{
        let mut p = partner("relying", PartnerType::AuthPartner, "Relying Party Ltd");
        p.spec.policy_group = Some("g".into());
        p.spec.contact.as_mut().expect("contact").address = Some("2 Main Road".into());
        p
    })
    .await;
    wait_partner(&env, "relying", READY, "True").await;
    let again: Secret = env.api::<Secret>().get(&signed_name).await.expect("get");
    assert_eq!(rv, again.metadata.resource_version, "re-signed certificate was rewritten without cause");

    // Changing the certificate Secret re-validates at once: a wrong O is refused.
    cert_secret(&env, "relying", &int, "Someone Else").await;
    let p = wait_partner_reason(&env, "relying", CERTIFICATE_VALID, "False", Some("OrganizationMismatch")).await;
    let st = p.status.expect("status");
    let stalled = find(&st.conditions, STALLED).expect("Stalled");
    assert_eq!(stalled.status, "True");
    assert!(find(&st.conditions, CERTIFICATE_VALID).expect("cond").message.contains("Relying Party Ltd"));
}

#[tokio::test]
async fn missing_secret_key_cross_namespace_and_ftm() {
    let mut env = TestEnv::new("ptn-refs").await;
    let other = TestEnv::new("ptn-other").await;
    env.start_operator(&[]);
    let ftm = trust(&env, PartnerDomain::Ftm).await;
    let api: Api<Partner> = env.api();

    // A Secret that only exists in another namespace is never read.
    other.put_secret("shared-cert", &[("tls.crt", &pki::leaf(&ftm, "x", "FTM Org"))]).await;
    let mut p = partner("ftm", PartnerType::FtmProvider, "FTM Org");
    p.spec.certificate.as_mut().expect("cert").secret_name = "shared-cert".into();
    env.apply(&api, &p).await;
    let got = wait_partner_reason(&env, "ftm", CERTIFICATE_VALID, "False", Some("SecretNotFound")).await;
    assert!(find(&got.status.expect("st").conditions, CERTIFICATE_VALID).expect("c").message.contains(&env.ns));
    // Even spelled as namespace/name.
    p.spec.certificate.as_mut().expect("cert").secret_name = format!("{}/shared-cert", other.ns);
    env.apply(&api, &p).await;
    wait_partner_reason(&env, "ftm", CERTIFICATE_VALID, "False", Some("SecretNotFound")).await;

    // The key is missing.
    env.put_secret("ftm-cert", &[("other.pem", "x")]).await;
    p.spec.certificate.as_mut().expect("cert").secret_name = "ftm-cert".into();
    env.apply(&api, &p).await;
    wait_partner_reason(&env, "ftm", CERTIFICATE_VALID, "False", Some("KeyNotFound")).await;

    // Valid FTM certificate: Ready, but not re-signed (MOSIP's default).
    cert_secret(&env, "ftm", &ftm, "FTM Org").await;
    let got = wait_partner(&env, "ftm", READY, "True").await;
    let cert = got.status.and_then(|s| s.certificate).expect("cert");
    assert_eq!(cert.domain.as_deref(), Some("FTM"));
    assert_eq!(cert.signed_secret_name, None);
}

#[tokio::test]
async fn expiry_flips_the_condition_on_time() {
    let mut env = TestEnv::new("ptn-exp").await;
    env.start_operator(&["--min-validity-days", "0"]);
    let int = trust(&env, PartnerDomain::Device).await;
    let leaf = pki::leaf_for(&int, "short", "Short Lived", time::Duration::seconds(20));
    env.put_secret("dev-cert", &[("tls.crt", &leaf)]).await;
    let api: Api<Partner> = env.api();
    env.apply(&api, &partner("dev", PartnerType::DeviceProvider, "Short Lived")).await;
    wait_partner(&env, "dev", CERTIFICATE_VALID, "True").await;
    // No event touches the Partner; the operator's own requeue must flip it.
    let api2 = api.clone();
    eventually(std::time::Duration::from_secs(60), "CertificateExpired", || {
        let api = api2.clone();
        async move {
            let p = api.get("dev").await.map_err(|e| e.to_string())?;
            let st = p.status.unwrap_or_default();
            match find(&st.conditions, CERTIFICATE_VALID) {
                Some(c) if c.reason == "CertificateExpired" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
}

#[tokio::test]
async fn registration_rules_and_duplicate_partner_ids() {
    let mut env = TestEnv::new("ptn-reg").await;
    env.start_operator(&[]);
    let int = trust(&env, PartnerDomain::Device).await;
    cert_secret(&env, "first", &int, "Dev Org").await;
    cert_secret(&env, "second", &int, "Dev Org").await;
    let api: Api<Partner> = env.api();
    let mut first = partner("first", PartnerType::DeviceProvider, "Dev Org");
    first.spec.partner_id = Some("shared-id".into());
    env.apply(&api, &first).await;
    wait_partner(&env, "first", READY, "True").await;
    let mut second = partner("second", PartnerType::DeviceProvider, "Dev Org");
    second.spec.partner_id = Some("shared-id".into());
    env.apply(&api, &second).await;
    let got = wait_partner_reason(&env, "second", READY, "False", Some("DuplicatePartnerId")).await;
    assert!(find(&got.status.expect("st").conditions, READY).expect("c").message.contains("first"));
    // The first keeps working.
    wait_partner(&env, "first", READY, "True").await;

    // Bad registration data: a precise reason, Stalled, an Event.
    let mut bad = partner("bad", PartnerType::AuthPartner, "Bad Org");
    bad.spec.partner_id = Some("has space".into());
    env.apply(&api, &bad).await;
    let got = wait_partner_reason(&env, "bad", STALLED, "True", Some("InvalidPartnerId")).await;
    let ready = find(&got.status.expect("st").conditions, READY).expect("ready").clone();
    assert_eq!(ready.reason, "InvalidPartnerId");
    crate::common::wait_events_yaml(&env, &env.ns, &["InvalidPartnerId"]).await;

    // organizationName is immutable: on this API server (no CEL) the operator reports it.
    let mut changed = first.clone();
    changed.spec.organization_name = "Renamed Org".into();
    let patch = serde_json::json!({"spec": {"organizationName": "Renamed Org"}});
    match api.patch("first", &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => {
            wait_partner_reason(&env, "first", READY, "False", Some("ImmutableFieldChanged")).await;
        }
        // A server that enforces the CRD's CEL rule refuses the change outright.
        Err(kube::Error::Api(e)) => assert!(e.message.contains("immutable"), "{e:?}"),
        Err(e) => panic!("{e}"),
    }
    let _ = changed;
    let _ = CONVERGE;
}

/// `verify` (offline, no cluster) and the controller reach the same verdict on the same inputs.
#[tokio::test]
async fn verify_cli_agrees_with_the_controller() {
    let mut env = TestEnv::new("ptn-verify").await;
    env.start_operator(&[]);
    let root = pki::root("Verify Root", 3650);
    let int = pki::intermediate(&root, "Verify Int", 1825);
    let stranger = pki::root("Stranger Root", 3650);
    let capi: Api<CACertificate> = env.cluster_api();
    env.apply(&capi, &crate::cacert::cacert(&env, "vroot", PartnerDomain::Misp, &root.pem)).await;
    env.apply(&capi, &crate::cacert::cacert(&env, "vint", PartnerDomain::Misp, &int.pem)).await;
    crate::cacert::wait_ca(&env, "vint", "True").await;
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("root.pem"), &root.pem).expect("w");
    std::fs::write(dir.path().join("int.pem"), &int.pem).expect("w");
    let cases = [
        ("good", pki::leaf(&int, "good", "MISP Org"), "MISP Org"),
        ("wrongorg", pki::leaf(&int, "wrongorg", "Other Org"), "MISP Org"),
        ("untrusted", pki::leaf(&stranger, "untrusted", "MISP Org"), "MISP Org"),
        ("short", pki::leaf_for(&int, "short", "MISP Org", time::Duration::days(100)), "MISP Org"),
    ];
    let api: Api<Partner> = env.api();
    for (name, leaf, org) in &cases {
        env.put_secret(&format!("{name}-cert"), &[("tls.crt", leaf)]).await;
        env.apply(&api, &partner(name, PartnerType::MispPartner, org)).await;
    }
    for (name, leaf, org) in &cases {
        let cert_path = dir.path().join(format!("{name}.pem"));
        std::fs::write(&cert_path, leaf).expect("w");
        let out = env.cli(&[
            "verify",
            "--domain",
            "misp",
            "--trust",
            dir.path().join("root.pem").to_str().expect("p"),
            "--intermediate",
            dir.path().join("int.pem").to_str().expect("p"),
            "--cert",
            cert_path.to_str().expect("p"),
            "--organization",
            org,
        ]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("verify prints JSON");
        let valid = json["valid"].as_bool().expect("valid");
        assert_eq!(out.status.code(), Some(if valid { 0 } else { 1 }));
        let want = if valid { "True" } else { "False" };
        let p = wait_partner(&env, name, CERTIFICATE_VALID, want).await;
        let cond = find(&p.status.expect("st").conditions, CERTIFICATE_VALID).expect("c").clone();
        assert_eq!(
            json["reason"].as_str(),
            Some(cond.reason.as_str()),
            "{name}: verify says {json}, controller says {cond:?}"
        );
    }
}

/// A user may bring their own PMS signing CA: the operator uses it and never replaces it.
#[tokio::test]
async fn bring_your_own_signing_ca() {
    let mut env = TestEnv::new("byoca").await;
    let root = pki::root("My MOSIP Root", 3650);
    let pms = pki::intermediate(&root, "My PMS", 1460);
    env.put_secret(
        "mosip-pms-signing-ca",
        &[("tls.crt", &pms.pem), ("tls.key", &pms.key.serialize_pem()), ("ca.crt", &root.pem)],
    )
    .await;
    env.start_operator(&[]);
    let int = trust(&env, PartnerDomain::Device).await;
    cert_secret(&env, "dev", &int, "Dev Org").await;
    let api: Api<Partner> = env.api();
    env.apply(&api, &partner("dev", PartnerType::DeviceProvider, "Dev Org")).await;
    let p = wait_partner(&env, "dev", READY, "True").await;
    let signed = p.status.and_then(|s| s.certificate).and_then(|c| c.signed_secret_name).expect("signed");
    let tls = env.secret_value(&signed, "tls.crt").await.expect("tls");
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("root.pem"), &root.pem).expect("w");
    std::fs::write(dir.path().join("pms.pem"), &pms.pem).expect("w");
    std::fs::write(dir.path().join("tls.pem"), &tls).expect("w");
    let out = Command::new("openssl")
        .args(["verify", "-CAfile", "root.pem", "-untrusted", "pms.pem", "tls.pem"])
        .current_dir(dir.path())
        .output()
        .expect("openssl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The user's Secret is unchanged.
    assert_eq!(env.secret_value("mosip-pms-signing-ca", "tls.crt").await.as_deref(), Some(pms.pem.as_str()));
}

/// A re-signed certificate nearing its end is re-issued on time into the same Secret.
#[tokio::test]
async fn resigned_certificate_renews_before_expiry() {
    let mut env = TestEnv::new("ptn-renew").await;
    env.start_operator(&["--resigned-validity", "40s", "--resigned-renew-before", "30s"]);
    let int = trust(&env, PartnerDomain::Device).await;
    cert_secret(&env, "dev", &int, "Dev Org").await;
    let api: Api<Partner> = env.api();
    env.apply(&api, &partner("dev", PartnerType::DeviceProvider, "Dev Org")).await;
    let p = wait_partner(&env, "dev", READY, "True").await;
    let cert = p.status.and_then(|s| s.certificate).expect("cert");
    let (secret, first) = (cert.signed_secret_name.expect("name"), cert.signed_not_after.expect("notAfter"));
    let tls1 = env.secret_value(&secret, "tls.crt").await.expect("tls");
    let api2 = api.clone();
    let first2 = first.clone();
    eventually(std::time::Duration::from_secs(40), "re-signed again", || {
        let api = api2.clone();
        let first = first2.clone();
        async move {
            let p = api.get("dev").await.map_err(|e| e.to_string())?;
            let now = p.status.and_then(|s| s.certificate).and_then(|c| c.signed_not_after);
            if now.as_deref().is_some_and(|n| n > first.as_str()) { Ok(()) } else { Err(format!("{now:?}")) }
        }
    })
    .await;
    let tls2 = env.secret_value(&secret, "tls.crt").await.expect("tls");
    assert_ne!(tls1, tls2, "the Secret holds the renewed certificate");
}

/// GitOps applies objects in any order: a partner whose domain has no trusted root yet waits
/// (not Stalled) and becomes Ready when the CAs arrive.
#[tokio::test]
async fn a_trust_store_that_arrives_later_is_waited_for() {
    let mut env = TestEnv::new("ptn-order").await;
    env.start_operator(&[]);
    let root = pki::root("Late Root", 3650);
    let int = pki::intermediate(&root, "Late Int", 1825);
    cert_secret(&env, "misp", &int, "MISP Org").await;
    let api: Api<Partner> = env.api();
    env.apply(&api, &partner("misp", PartnerType::MispPartner, "MISP Org")).await;
    let p = wait_partner_reason(&env, "misp", CERTIFICATE_VALID, "False", Some("UntrustedChain")).await;
    assert_eq!(find(&p.status.expect("st").conditions, STALLED).expect("stalled").status, "False");
    let capi: Api<CACertificate> = env.cluster_api();
    env.apply(&capi, &crate::cacert::cacert(&env, "late-root", PartnerDomain::Misp, &root.pem)).await;
    env.apply(&capi, &crate::cacert::cacert(&env, "late-int", PartnerDomain::Misp, &int.pem)).await;
    wait_partner(&env, "misp", READY, "True").await;
}
