//! #10 finding 7, continued: Secrets the operator issued and an editor changed afterwards. An
//! editor (alice, `mosip-partner-editor` of the namespace, real RBAC) edits the API-key and
//! licence Secrets the operator wrote, keeping their ownerReference and hash annotation; the
//! operator must notice without reading Secrets on every reconcile, never present her values
//! as issued, and not re-mint for a label change, a restart, or its own write whose status
//! update was lost.

use crate::common::{CONVERGE, TestEnv, eventually};
use crate::fixtures::*;
use crate::tenancy::{
    as_user, auth_partner_for, editor_apply, editor_cert, editor_misp_partner, env_policy, misp_license,
};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};
use mosip_partner_operator::api::*;
use mosip_partner_operator::mosip::key_fingerprint;

/// alice merge-patches a Secret (as `kubectl edit` would).
async fn editor_patch(client: &Client, ns: &str, name: &str, patch: serde_json::Value) {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("alice edits the Secret");
}

async fn secret(env: &TestEnv, name: &str) -> Secret {
    try_secret(env, name).await.expect("secret")
}

async fn try_secret(env: &TestEnv, name: &str) -> Option<Secret> {
    let api: Api<Secret> = env.api();
    api.get_opt(name).await.expect("get secret")
}

fn value(s: &Secret, key: &str) -> Option<String> {
    s.data.as_ref()?.get(key).map(|v| String::from_utf8_lossy(&v.0).into_owned())
}

fn key_status(p: &Partner) -> ApiKeyStatus {
    p.status.as_ref().expect("status").policies[0].api_keys[0].clone()
}

/// Waits until the key Secret holds a key other than `not` whose fingerprint and validity are
/// what status records, and returns the Secret and the status record.
async fn wait_reissued(env: &TestEnv, name: &str, not: &[String]) -> (Secret, ApiKeyStatus) {
    let api: Api<Partner> = env.api();
    eventually(CONVERGE, "an operator-issued key recorded in status", || {
        let api = api.clone();
        async move {
            let p = api.get("rp").await.map_err(|e| e.to_string())?;
            let k = key_status(&p);
            let s = try_secret(env, name).await.ok_or("no Secret yet")?;
            let key = value(&s, "apiKey").ok_or("no key")?;
            let ok = !not.contains(&key)
                && k.key_fingerprint.as_deref() == Some(key_fingerprint(&key).as_str())
                && value(&s, "validUntil") == k.valid_until
                && k.secret_resource_version == s.resource_version();
            if ok { Ok((s, k)) } else { Err(format!("{k:?}")) }
        }
    })
    .await
}

/// How many times an Event with `reason` was reported (an Event repeated is one object with a
/// series count).
async fn event_count(env: &TestEnv, reason: &str) -> i32 {
    let api: Api<k8s_openapi::api::events::v1::Event> = env.api();
    let list = api.list(&Default::default()).await.expect("events");
    list.items
        .iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .map(|e| e.series.as_ref().map(|s| s.count).unwrap_or(1))
        .sum()
}

async fn tampered_count(env: &TestEnv) -> i32 {
    event_count(env, "SecretTampered").await
}

/// Waits until an Event with `reason` was reported more than `before` times.
async fn wait_event(env: &TestEnv, reason: &str, before: i32) {
    eventually(CONVERGE, &format!("a {reason} Event"), || async {
        let n = event_count(env, reason).await;
        if n > before { Ok(()) } else { Err(n.to_string()) }
    })
    .await
}

fn events(env: &TestEnv) -> String {
    let out = env.kubectl(&["get", "events.events.k8s.io", "-n", &env.ns, "-o", "yaml"]);
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test]
async fn an_edited_api_key_secret_is_never_believed() {
    let mut env = TestEnv::new("tamper-key").await;
    env.start_operator(&[]);
    let alice = as_user(&env, &format!("alice-{}", env.ns), "mosip-partner-editor").await;
    let int = trust(&env, PartnerDomain::Auth).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env_policy(&env, &papi).await;
    editor_cert(&alice, &env, "rp", &int, "Auth Org").await;
    editor_apply(&alice, &env.ns, &auth_partner_for(&env, "rp", "rp", "auto")).await;
    let p = wait_partner(&env, "rp", READY, "True").await;
    let name = key_status(&p).secret_name.expect("secret");
    let (s, first) = wait_reissued(&env, &name, &[]).await;
    let key1 = value(&s, "apiKey").expect("key");

    // (d) Labels and annotations only: re-stamped, the same key.
    editor_patch(
        &alice,
        &env.ns,
        &name,
        serde_json::json!({"metadata": {
            "labels": {"pms.mosip.io/partner": "someone-else", "app.kubernetes.io/managed-by": null, "team": "a"},
            "annotations": {"note": "hello"}}}),
    )
    .await;
    let s = eventually(CONVERGE, "labels re-stamped", || {
        let env = &env;
        let name = name.clone();
        async move {
            let s = secret(env, &name).await;
            let label = |k: &str| s.labels().get(k).cloned();
            let (partner, managed) = (label("pms.mosip.io/partner"), label("app.kubernetes.io/managed-by"));
            if partner.as_deref() == Some("rp") && managed.as_deref() == Some("mosip-partner-operator") {
                Ok(s)
            } else {
                Err(format!("{partner:?} {managed:?}"))
            }
        }
    })
    .await;
    assert_eq!(value(&s, "apiKey").as_deref(), Some(key1.as_str()), "a label change minted a new key");
    let (_, k) = wait_reissued(&env, &name, &[]).await;
    assert_eq!(k.key_fingerprint, first.key_fingerprint);
    assert_eq!(k.valid_from, first.valid_from);
    assert_eq!(tampered_count(&env).await, 0, "a label change is no tampering");

    // (a) alice puts her own key in, keeping the ownerReference and the hash annotation.
    let planted = "alice-chosen-key-0123456789".to_string();
    editor_patch(&alice, &env.ns, &name, serde_json::json!({"stringData": {"apiKey": planted}})).await;
    let (s, k) = wait_reissued(&env, &name, &[planted.clone(), key1.clone()]).await;
    let key2 = value(&s, "apiKey").expect("key");
    assert_ne!(k.key_fingerprint.as_deref(), Some(key_fingerprint(&planted).as_str()));
    wait_event(&env, "SecretTampered", 0).await;
    let ev = events(&env);
    assert!(!ev.contains(&planted) && !ev.contains(&key1) && !ev.contains(&key2), "key material in an Event");

    // (b) alice extends the validity: not believed; the Secret is restored as issued (the same
    // operator key, the recorded validity) and status is unchanged.
    let before_until = k.valid_until.clone().expect("until");
    let restored = event_count(&env, "SecretRestored").await;
    editor_patch(&alice, &env.ns, &name, serde_json::json!({"stringData": {"validUntil": "9999-12-31T23:59:59Z"}}))
        .await;
    let (s, k) = wait_reissued(&env, &name, &[planted.clone(), key1.clone()]).await;
    assert_eq!(value(&s, "apiKey").as_deref(), Some(key2.as_str()));
    assert_eq!(k.valid_until.as_deref(), Some(before_until.as_str()), "status validity changed");
    assert_eq!(value(&s, "validUntil").as_deref(), Some(before_until.as_str()));
    wait_event(&env, "SecretRestored", restored).await;
    let key3 = key2.clone();

    // The re-signed certificate: alice puts her own (not MOSIP-signed) certificate in, then
    // moves the recorded end of validity to delay renewal; both times it is re-signed.
    let api: Api<Partner> = env.api();
    let signed_name = api.get("rp").await.expect("get").status.and_then(|s| s.certificate?.signed_secret_name);
    let signed_name = signed_name.expect("signedSecretName");
    let original = value(&secret(&env, &signed_name).await, "tls.crt").expect("tls.crt");
    let own = value(&secret(&env, "rp-cert").await, "tls.crt").expect("partner certificate");
    editor_patch(&alice, &env.ns, &signed_name, serde_json::json!({"stringData": {"tls.crt": own}})).await;
    let resigned = wait_resigned(&env, &signed_name, &[original.clone(), own.clone()]).await;
    assert_eq!(issuer(&resigned), issuer(&original), "not issued by the PMS CA");
    let later = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(300 * 24)).to_string();
    editor_patch(
        &alice,
        &env.ns,
        &signed_name,
        serde_json::json!({"metadata": {"annotations": {"pms.mosip.io/not-after": later}}}),
    )
    .await;
    let resigned2 = wait_resigned(&env, &signed_name, &[original, own, resigned]).await;
    let signed = secret(&env, &signed_name).await;
    assert_ne!(signed.annotations().get("pms.mosip.io/not-after"), Some(&later));
    assert_eq!(issuer(&resigned2), issuer(&value(&signed, "tls.crt").expect("crt")));

    // A restart believes the recorded resourceVersions: no read-and-rewrite, no new key.
    let signed_rv = signed.resource_version();
    let rv = s.resource_version();
    env.stop_operator();
    env.start_operator(&[]);
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let s = secret(&env, &name).await;
    assert_eq!(s.resource_version(), rv, "a restart rewrote the Secret");
    assert_eq!(secret(&env, &signed_name).await.resource_version(), signed_rv, "a restart re-signed");
    assert_eq!(value(&s, "apiKey").as_deref(), Some(key3.as_str()));
    let api: Api<Partner> = env.api();
    assert_eq!(key_status(&api.get("rp").await.expect("get")).key_fingerprint, k.key_fingerprint);

    // A withdrawn key's Secret: alice puts a key back in; it is taken out again.
    let mut rp = auth_partner_for(&env, "rp", "rp", "auto");
    rp.spec.active = Some(false);
    editor_apply(&alice, &env.ns, &rp).await;
    wait_key_withdrawn(&env, &name, "apiKey").await;
    let tampered = tampered_count(&env).await;
    editor_patch(&alice, &env.ns, &name, serde_json::json!({"stringData": {"apiKey": planted}})).await;
    wait_event(&env, "SecretTampered", tampered).await;
    wait_key_withdrawn(&env, &name, "apiKey").await;

    // No key material in the operator's log or the Partner's status.
    let log = env.operator_log();
    let status =
        String::from_utf8_lossy(&env.kubectl(&["get", "partners", "-n", &env.ns, "-o", "yaml"]).stdout).to_string();
    for v in [&planted, &key1, &key2, &key3] {
        assert!(!log.contains(v.as_str()) && !status.contains(v.as_str()), "key material leaked");
    }
    env.assert_log_clean();
}

/// Waits until the re-signed Secret holds a certificate other than `not`, at the
/// resourceVersion status records; returns the certificate.
async fn wait_resigned(env: &TestEnv, name: &str, not: &[String]) -> String {
    let api: Api<Partner> = env.api();
    eventually(CONVERGE, "re-signed certificate", || {
        let api = api.clone();
        async move {
            let p = api.get("rp").await.map_err(|e| e.to_string())?;
            let recorded = p.status.and_then(|s| s.certificate?.signed_secret_resource_version);
            let s = secret(env, name).await;
            let crt = value(&s, "tls.crt").ok_or("no tls.crt")?;
            if !not.contains(&crt) && recorded == s.resource_version() { Ok(crt) } else { Err(format!("{recorded:?}")) }
        }
    })
    .await
}

fn issuer(pem: &str) -> String {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("pem");
    let cert = p.parse_x509().expect("certificate");
    cert.issuer().to_string()
}

async fn license_status(env: &TestEnv) -> MispLicenseStatus {
    let api: Api<MispLicense> = env.api();
    api.get("lic").await.expect("licence").status.unwrap_or_default()
}

/// Waits until the licence Secret holds a key other than `not`, whose fingerprint and validity
/// are what status records.
async fn wait_license_issued(env: &TestEnv, name: &str, not: &[String]) -> (Secret, MispLicenseStatus) {
    eventually(CONVERGE, "an operator-issued licence recorded in status", || async move {
        let st = license_status(env).await;
        let s = try_secret(env, name).await.ok_or("no Secret yet")?;
        let key = value(&s, "licenseKey").ok_or("no key")?;
        let ok = !not.contains(&key)
            && st.key_fingerprint.as_deref() == Some(key_fingerprint(&key).as_str())
            && value(&s, "validUntil") == st.valid_until
            && value(&s, "validFrom") == st.valid_from
            && st.secret_resource_version == s.resource_version();
        if ok { Ok((s, st)) } else { Err(format!("{st:?}")) }
    })
    .await
}

#[tokio::test]
async fn an_edited_licence_secret_is_never_believed_and_a_lost_status_write_is_adopted() {
    let mut env = TestEnv::new("tamper-lic").await;
    env.start_operator(&[]);
    let (alice, policy) = editor_misp_partner(&env).await;
    editor_apply(&alice, &env.ns, &misp_license("lic", "misp", &policy, None)).await;
    let name = mosip_partner_operator::mosip::license_secret_name("lic");
    let (s, st1) = wait_license_issued(&env, &name, &[]).await;
    let key1 = value(&s, "licenseKey").expect("key");

    // (c) alice extends the validity: not believed; restored as issued (the same key, the
    // recorded validity), status unchanged.
    let restored = event_count(&env, "SecretRestored").await;
    editor_patch(&alice, &env.ns, &name, serde_json::json!({"stringData": {"validUntil": "9999-12-31T23:59:59Z"}}))
        .await;
    let (s, st) = wait_license_issued(&env, &name, &[]).await;
    assert_eq!(value(&s, "licenseKey").as_deref(), Some(key1.as_str()));
    assert_eq!((&st.valid_from, &st.valid_until), (&st1.valid_from, &st1.valid_until), "status validity changed");
    wait_event(&env, "SecretRestored", restored).await;
    let key2 = key1.clone();
    // alice puts her own licence key in.
    let planted = "A".repeat(50);
    editor_patch(&alice, &env.ns, &name, serde_json::json!({"stringData": {"licenseKey": planted}})).await;
    let (s, st2) = wait_license_issued(&env, &name, &[key1.clone(), key2.clone(), planted.clone()]).await;
    let key3 = value(&s, "licenseKey").expect("key");
    let s3 = s.clone();
    wait_event(&env, "SecretTampered", 0).await;
    let ev = events(&env);
    for v in [&planted, &key1, &key2, &key3] {
        assert!(!ev.contains(v.as_str()) && !env.operator_log().contains(v.as_str()), "key material leaked");
    }

    // The race between the Secret write and the status write: a renewal is written, then the
    // status update is lost (the earlier record put back while the operator is down). The
    // sealed Secret is the operator's own: adopted, not re-minted, no tampering reported.
    let lapi: Api<MispLicense> = env.api();
    // Issue times are whole seconds: the renewal must be later than the record it replaces.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let rotate = serde_json::json!({"metadata": {"annotations": {"pms.mosip.io/rotate": "r1"}}});
    lapi.patch("lic", &PatchParams::default(), &Patch::Merge(&rotate)).await.expect("rotate");
    let (s, _) = wait_license_issued(&env, &name, &[key1.clone(), key2.clone(), key3.clone(), planted.clone()]).await;
    let key4 = value(&s, "licenseKey").expect("key");
    env.stop_operator();
    let tampered_before = tampered_count(&env).await;
    let old = serde_json::json!({"status": {
        "keyFingerprint": st2.key_fingerprint, "validFrom": st2.valid_from, "validUntil": st2.valid_until,
        "secretResourceVersion": st2.secret_resource_version}});
    lapi.patch_status("lic", &PatchParams::default(), &Patch::Merge(&old)).await.expect("status put back");
    env.start_operator(&[]);
    let (s, _) = wait_license_issued(&env, &name, &[]).await;
    assert_eq!(value(&s, "licenseKey").as_deref(), Some(key4.as_str()), "the operator's own write was re-minted");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(tampered_count(&env).await, tampered_before, "its own write reported as tampering");

    // alice puts back the earlier sealed licence (key3, replaced since), seal and all: a seal of
    // an earlier issue is no proof; not believed, a fresh licence.
    let replay = serde_json::json!({
        "data": s3.data,
        "metadata": {"annotations": {"pms.mosip.io/seal": s3.annotations().get("pms.mosip.io/seal")}}});
    editor_patch(&alice, &env.ns, &name, replay).await;
    let (s, _) = wait_license_issued(&env, &name, &[key1, key2, key3, key4, planted]).await;
    assert!(value(&s, "licenseKey").is_some());
    let reported = eventually(CONVERGE, "the replay reported", || async {
        let n = tampered_count(&env).await;
        if n > tampered_before { Ok(n) } else { Err(n.to_string()) }
    })
    .await;
    assert!(reported > tampered_before);
    env.assert_log_clean();
}
