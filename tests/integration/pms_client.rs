//! The `mosip` backend's PMS client against the stateful fake PMS + authmanager + Keycloak
//! (fake_pms.rs, a contract model derived from PMS v1.2.2.x sources, not PMS itself). These
//! tests need no API server.

use crate::fake_pms::{self, FakeMosip};
use crate::pki;
use mosip_partner_operator::metrics::PmsMetrics;
use mosip_partner_operator::pms::ops::{MapOutcome, PartnerRegistration, PolicyDefinition, api_key_label};
use mosip_partner_operator::pms::{Caller, MosipCredentials, PmsClient, PmsEndpoints, SecretString};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn creds(admin_password: &str) -> MosipCredentials {
    MosipCredentials {
        pms_client_id: fake_pms::PMS_CLIENT_ID.into(),
        pms_client_secret: SecretString::new(fake_pms::PMS_CLIENT_SECRET),
        partner_admin_username: fake_pms::ADMIN_USER.into(),
        partner_admin_password: SecretString::new(admin_password),
        keycloak_admin_username: fake_pms::KC_ADMIN_USER.into(),
        keycloak_admin_password: SecretString::new(fake_pms::KC_ADMIN_PASSWORD),
        keycloak_realm: fake_pms::REALM.into(),
    }
}

fn client_for(fake: &FakeMosip, admin_password: &str) -> (PmsClient, Arc<PmsMetrics>) {
    let metrics = Arc::new(PmsMetrics::default());
    let endpoints = PmsEndpoints::parse(&fake.api_url(), &fake.keycloak_url()).unwrap();
    let c = PmsClient::with_timeout(endpoints, creds(admin_password), None, metrics.clone(), Duration::from_secs(5))
        .unwrap();
    (c, metrics)
}

fn auth_policy(group: &str, name: &str) -> PolicyDefinition {
    PolicyDefinition {
        group: group.into(),
        group_description: format!("{group} (managed by mosip-partner-operator)"),
        name: name.into(),
        description: "Auth policy for tests".into(),
        version: "1.0".into(),
        policy_type: "Auth".into(),
        body: json!({"authTokenType": "partner", "allowedAuthTypes": [{"authType": "otp", "mandatory": false}],
                     "allowedKycAttributes": [{"attributeName": "fullName"}]}),
    }
}

fn registration(id: &str, ptype: &str, group: Option<&str>) -> PartnerRegistration {
    PartnerRegistration {
        partner_id: id.into(),
        organization_name: "Example Org".into(),
        address: "1 Main Street".into(),
        contact_number: "9999999999".into(),
        email_id: format!("{id}@example.org"),
        partner_type: ptype.into(),
        policy_group: group.map(String::from),
    }
}

/// Sends a raw HTTP/1.1 request and returns (status, body): to probe the fake with what the
/// client never sends (a Bearer header, a wrong requesttime).
async fn raw(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("content-type: application/json\r\n\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[tokio::test]
async fn auth_partner_onboards_and_a_rerun_writes_nothing() {
    let fake = FakeMosip::start().await;
    let (pms, metrics) = client_for(&fake, fake_pms::ADMIN_PASSWORD);
    let root = pki::root("Test Root", 3650);
    let leaf = pki::leaf(&root, "auth-one", "Example Org");
    let password = mosip_partner_operator::pms::secret::generate_password().unwrap();

    // First pass: every step writes once.
    assert!(!pms.ensure_ca("AUTH", &root.pem).await.unwrap(), "first upload is new");
    let pol = pms.ensure_policy(&auth_policy("grp-auth", "pol-auth")).await.unwrap();
    assert!(pol.created_group && pol.created_policy && pol.published_now && pol.published);
    let p = pms.ensure_partner(&registration("auth-one", "Auth_Partner", Some("grp-auth"))).await.unwrap();
    assert!(p.registered);
    assert_eq!(p.info.status.as_deref(), Some("InProgress"));
    assert!(!p.info.is_active, "PMS starts a partner inactive");
    let u = pms.ensure_keycloak_user("auth-one", "AUTH_PARTNER", &password, false).await.unwrap();
    assert!(u.created && u.role_added);
    let signed = pms.upload_partner_certificate("auth-one", "AUTH", &leaf).await.unwrap();
    assert!(signed.signed_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(!pms.set_partner_active("auth-one", true).await.unwrap(), "the cert upload already activated it");
    let MapOutcome::Requested { mapping_key } = pms.map_policy("auth-one", "pol-auth", "tests").await.unwrap() else {
        panic!("expected a new mapping")
    };
    // Before approval PMS refuses to generate (PMS_PRT_109).
    let label0 = api_key_label("uid-1", "main", 0);
    let e = pms.generate_api_key("auth-one", &password, "pol-auth", &label0).await.unwrap_err();
    assert_eq!(e.reason(), "PMS_PMS_PRT_109", "{e}");
    pms.set_mapping_status(&mapping_key, true).await.unwrap();
    let key = pms.generate_api_key("auth-one", &password, "pol-auth", &label0).await.unwrap();
    assert!(key.api_key.expose().chars().all(|c| c.is_ascii_digit()) && key.api_key.expose().len() <= 6);
    assert_eq!(key.policy_id.as_deref(), Some(pol.policy_id.as_str()));
    {
        let st = fake.state.lock().unwrap();
        let user = st.users.iter().find(|u| u.username == "auth-one").unwrap();
        assert!(user.enabled && user.roles == ["AUTH_PARTNER"], "{user:?}");
        assert_eq!(st.api_keys.len(), 1);
    }

    // Second pass with the same inputs: reads only, no write reaches PMS or Keycloak.
    let writes = fake.writes();
    assert!(pms.ensure_ca("AUTH", &root.pem).await.unwrap(), "KER-PCM-003 is success");
    let writes_after_ca = fake.writes();
    assert_eq!(writes_after_ca, writes + 1, "the CA upload is the one idempotent write PMS offers no read for");
    let pol2 = pms.ensure_policy(&auth_policy("grp-auth", "pol-auth")).await.unwrap();
    assert_eq!(
        (pol2.policy_id.as_str(), pol2.policy_group_id.as_str()),
        (pol.policy_id.as_str(), pol.policy_group_id.as_str())
    );
    assert!(!pol2.created_group && !pol2.created_policy && !pol2.updated_policy && !pol2.published_now);
    let p2 = pms.ensure_partner(&registration("auth-one", "Auth_Partner", Some("grp-auth"))).await.unwrap();
    assert!(!p2.registered && p2.info.is_active);
    let u2 = pms.ensure_keycloak_user("auth-one", "AUTH_PARTNER", &password, false).await.unwrap();
    assert!(!u2.created && !u2.role_added && !u2.password_reset);
    assert!(!pms.set_partner_active("auth-one", true).await.unwrap());
    assert_eq!(fake.writes(), writes_after_ca, "a re-run wrote to PMS/Keycloak: {:?}", fake.all_calls());
    // policy/map again is refused as approved (PMS_PRT_060) and reported as such.
    assert_eq!(pms.map_policy("auth-one", "pol-auth", "tests").await.unwrap(), MapOutcome::AlreadyApproved);
    // A used label is PMS_PRT_110: nothing new is minted.
    let e = pms.generate_api_key("auth-one", &password, "pol-auth", &label0).await.unwrap_err();
    assert_eq!(e.reason(), "PMS_PMS_PRT_110");
    assert_eq!(fake.state.lock().unwrap().api_keys.len(), 1);
    assert_eq!(fake.calls("POST /partners"), 1);
    assert_eq!(fake.calls("POST /policies"), 1);
    assert_eq!(fake.calls("POST /admin/realms/{realm}/users"), 1);

    // Tokens are cached: one login for the admin, one for the partner user, one Keycloak token.
    assert_eq!(fake.calls("POST /v1/authmanager/authenticate/internal/useridPwd"), 2);
    assert_eq!(fake.calls("POST /realms/master/protocol/openid-connect/token"), 1);
    // Cookie only: the client never sent an Authorization header to PMS.
    assert_eq!(fake.state.lock().unwrap().bearer_seen, 0);
    // Metrics count each request by endpoint template and outcome.
    assert_eq!(metrics.count("POST /partners", "success"), 1);
    assert_eq!(metrics.count("PATCH /partners/{partnerId}/generate/apikey", "pms_error"), 2);

    // Deactivation reaches PMS: the key by label, then the partner (final in 1.2.2.x).
    pms.deactivate_api_key("auth-one", &password, &pol.policy_id, &label0).await.unwrap();
    assert!(!fake.state.lock().unwrap().api_keys[0].active);
    assert!(pms.set_partner_active("auth-one", false).await.unwrap());
    let e = pms
        .pms(
            "PATCH /partners/{partnerId}",
            http::Method::PATCH,
            "/v1/partnermanager/partners/auth-one",
            Caller::Admin,
            Some(json!({"status": "Active"})),
        )
        .await
        .unwrap_err();
    assert_eq!(e.reason(), "PMS_PMS_PM_063");
}

#[tokio::test]
async fn api_keys_only_as_the_partners_own_user() {
    let fake = FakeMosip::start().await;
    let (pms, _) = client_for(&fake, fake_pms::ADMIN_PASSWORD);
    let root = pki::root("Root", 3650);
    pms.ensure_ca("AUTH", &root.pem).await.unwrap();
    pms.ensure_policy(&auth_policy("g", "p")).await.unwrap();
    let pw_a = SecretString::new("password-a-123456");
    let pw_b = SecretString::new("password-b-123456");
    for id in ["partner-a", "partner-b"] {
        pms.ensure_partner(&registration(id, "Auth_Partner", Some("g"))).await.unwrap();
        pms.upload_partner_certificate(id, "AUTH", &pki::leaf(&root, id, "Example Org")).await.unwrap();
        let pw = if id == "partner-a" { &pw_a } else { &pw_b };
        pms.ensure_keycloak_user(id, "AUTH_PARTNER", pw, false).await.unwrap();
        let MapOutcome::Requested { mapping_key } = pms.map_policy(id, "p", "u").await.unwrap() else { panic!() };
        pms.set_mapping_status(&mapping_key, true).await.unwrap();
    }
    // The admin (PARTNER_ADMIN only) may not generate.
    let e = pms
        .pms(
            "PATCH /partners/{partnerId}/generate/apikey",
            http::Method::PATCH,
            "/v1/partnermanager/partners/partner-a/generate/apikey",
            Caller::Admin,
            Some(json!({"policyName": "p", "label": "x"})),
        )
        .await
        .unwrap_err();
    assert_eq!(e.reason(), "PMS_KER_ATH_403", "{e}");
    // partner-b's user may not generate for partner-a (PMS_PRT_055).
    let e = pms
        .pms(
            "PATCH /partners/{partnerId}/generate/apikey",
            http::Method::PATCH,
            "/v1/partnermanager/partners/partner-a/generate/apikey",
            Caller::Partner { partner_id: "partner-b", password: &pw_b },
            Some(json!({"policyName": "p", "label": "x"})),
        )
        .await
        .unwrap_err();
    assert_eq!(e.reason(), "PMS_PMS_PRT_055");
    // A wrong partner password is an auth failure, not a PMS error, and says nothing secret.
    let e = pms.generate_api_key("partner-a", &SecretString::new("wrong-password"), "p", "x").await.unwrap_err();
    assert_eq!(e.reason(), "MosipAuthFailed", "{e}");
    assert!(!e.to_string().contains("wrong-password"));
    // Keys are distinct per label and returned once.
    let k1 = pms.generate_api_key("partner-a", &pw_a, "p", "l1").await.unwrap();
    let k2 = pms.generate_api_key("partner-a", &pw_a, "p", "l2").await.unwrap();
    assert_ne!(k1.api_key, k2.api_key);
    assert!(!format!("{k1:?}").contains(k1.api_key.expose()), "Debug must redact the key");
    // Upper-case partner ids are refused before anything is sent.
    let before = fake.all_calls();
    let e = pms.ensure_partner(&registration("MyPartner", "Auth_Partner", Some("g"))).await.unwrap_err();
    assert_eq!(e.reason(), "PartnerIdNotLowercase");
    let e = pms.ensure_keycloak_user("MyPartner", "AUTH_PARTNER", &pw_a, false).await.unwrap_err();
    assert_eq!(e.reason(), "PartnerIdNotLowercase");
    assert_eq!(fake.all_calls(), before);
}

#[tokio::test]
async fn misp_licence_issued_once_read_back_and_deactivated() {
    let fake = FakeMosip::start().await;
    let (pms, _) = client_for(&fake, fake_pms::ADMIN_PASSWORD);
    let root = pki::root("Root", 3650);
    pms.ensure_ca("MISP", &root.pem).await.unwrap();
    let misp = registration("mpartner-default-esignet", "MISP_Partner", None);
    pms.ensure_partner(&misp).await.unwrap();
    pms.upload_partner_certificate(&misp.partner_id, "MISP", &pki::leaf(&root, "esignet", "Example Org"))
        .await
        .unwrap();
    let l1 = pms.issue_license(&misp.partner_id).await.unwrap();
    assert_eq!(l1.license_key.expose().len(), 50);
    assert!(l1.license_key.expose().chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(l1.status.as_deref(), Some("Active"));
    assert!(!l1.read_back);
    // PMS issues one licence per MISP: PMS_MSP_416, then the current key is read back.
    let l2 = pms.issue_license(&misp.partner_id).await.unwrap();
    assert!(l2.read_back);
    assert_eq!(l2.license_key, l1.license_key);
    assert_eq!(fake.state.lock().unwrap().licenses.len(), 1, "nothing new minted");
    pms.deactivate_license(&misp.partner_id, &l1.license_key).await.unwrap();
    assert!(!fake.state.lock().unwrap().licenses[0].active);

    // With a policy mapping, PMS 1.2.x's read-back is broken: reported, never silently replaced.
    let misp2 = registration("misp-two", "MISP_Partner", None);
    let pol = PolicyDefinition {
        policy_type: "MISP".into(),
        body: json!({"allowAuthRequestDelegation": true,
        "allowKycRequestDelegation": true, "allowKeyBindingDelegation": false}),
        ..auth_policy("g-misp", "p-misp")
    };
    pms.ensure_policy(&pol).await.unwrap();
    let mut misp2 = misp2;
    misp2.policy_group = Some("g-misp".into());
    pms.ensure_partner(&misp2).await.unwrap();
    pms.upload_partner_certificate("misp-two", "MISP", &pki::leaf(&root, "misp-two", "Example Org")).await.unwrap();
    // Licence before the mapping is approved: PMS_MSP_418.
    let MapOutcome::Requested { mapping_key } = pms.map_policy("misp-two", "p-misp", "u").await.unwrap() else {
        panic!()
    };
    let e = pms.issue_license("misp-two").await.unwrap_err();
    assert_eq!(e.reason(), "PMS_PMS_MSP_418");
    pms.set_mapping_status(&mapping_key, true).await.unwrap();
    pms.issue_license("misp-two").await.unwrap();
    let e = pms.issue_license("misp-two").await.unwrap_err();
    // The broken read-back (HTTP 500) is reported as what it is, never silently replaced.
    assert_eq!(e.reason(), "MosipMismatch", "{e}");
    assert!(e.to_string().contains("PMS_MSP_416") && e.to_string().contains("policy requests"), "{e}");
}

async fn key_status(
    pms: &PmsClient,
    caller: Caller<'_>,
    policy_id: &str,
    label: &str,
    status: &str,
) -> Result<serde_json::Value, mosip_partner_operator::pms::PmsError> {
    pms.pms(
        "PATCH /partners/{partnerId}/policy/{policyId}/apiKey/status",
        http::Method::PATCH,
        &format!("/v1/partnermanager/partners/partner-a/policy/{policy_id}/apiKey/status"),
        caller,
        Some(json!({"label": label, "status": status})),
    )
    .await
}

async fn partner_status(
    pms: &PmsClient,
    partner_id: &str,
    status: &str,
) -> Result<serde_json::Value, mosip_partner_operator::pms::PmsError> {
    pms.pms(
        "PATCH /partners/{partnerId}",
        http::Method::PATCH,
        &format!("/v1/partnermanager/partners/{partner_id}"),
        Caller::Admin,
        Some(json!({"status": status})),
    )
    .await
}

/// The fake's deactivation answers as PMS's sources give them (per PMS source, 1.2.2/1.3 line:
/// `PartnerManagementServiceImpl.updateAPIKeyStatus`, `activateDeactivateAuthEKYCPartner`,
/// `InfraProviderServiceImpl.approveInfraProvider`, `updateInfraProvider`, `regenerateKey`),
/// and the client's "already done" rules over them.
#[tokio::test]
async fn pms_contract_deactivation_codes() {
    let fake = FakeMosip::start().await;
    let (pms, _) = client_for(&fake, fake_pms::ADMIN_PASSWORD);
    let root = pki::root("Root", 3650);
    pms.ensure_ca("AUTH", &root.pem).await.unwrap();
    let pol = pms.ensure_policy(&auth_policy("g", "p")).await.unwrap();
    let pw = SecretString::new("password-a-123456");
    let me = || Caller::Partner { partner_id: "partner-a", password: &pw };
    pms.ensure_partner(&registration("partner-a", "Auth_Partner", Some("g"))).await.unwrap();
    pms.upload_partner_certificate("partner-a", "AUTH", &pki::leaf(&root, "partner-a", "Example Org")).await.unwrap();
    pms.ensure_keycloak_user("partner-a", "AUTH_PARTNER", &pw, false).await.unwrap();
    let MapOutcome::Requested { mapping_key } = pms.map_policy("partner-a", "p", "u").await.unwrap() else { panic!() };
    pms.set_mapping_status(&mapping_key, true).await.unwrap();
    for l in ["l1", "l2", "l3"] {
        pms.generate_api_key("partner-a", &pw, "p", l).await.unwrap();
    }
    let id = pol.policy_id.as_str();

    // API keys: de-activated once; again is PMS_PMS_022, which the op counts as done.
    let ok = key_status(&pms, me(), id, "l1", "De-Active").await.unwrap();
    assert_eq!(ok, json!("Partner apikey de-activated successfully."));
    let e = key_status(&pms, me(), id, "l1", "De-Active").await.unwrap_err();
    assert_eq!((e.code(), e.to_string().contains("Given Partner api key is not active.")), (Some("PMS_PMS_022"), true));
    pms.deactivate_api_key("partner-a", &pw, id, "l1").await.unwrap();
    assert_eq!(key_status(&pms, me(), id, "nope", "De-Active").await.unwrap_err().code(), Some("PMS_PRT_111"));
    pms.deactivate_api_key("partner-a", &pw, id, "nope").await.unwrap();
    assert_eq!(key_status(&pms, me(), id, "l2", "Paused").await.unwrap_err().code(), Some("PMS_PM_058"));
    // No check that the caller is the partner itself: PARTNER_ADMIN may change it.
    key_status(&pms, Caller::Admin, id, "l2", "De-Active").await.unwrap();
    assert!(!fake.state.lock().unwrap().api_keys.iter().find(|k| k.label == "l2").unwrap().active);

    // The partner: De-Active on the active, approved partner is written and terminal.
    let d = pms.deactivate_partner("partner-a").await.unwrap();
    assert!(d.written && d.terminal, "{d:?}");
    assert!(fake.state.lock().unwrap().api_keys.iter().find(|k| k.label == "l3").unwrap().active, "keys untouched");
    // Its keys as its own user: PMS_PMP_016 (done for the op); PM_063 before the status is read.
    assert_eq!(key_status(&pms, me(), id, "l3", "De-Active").await.unwrap_err().code(), Some("PMS_PMP_016"));
    pms.deactivate_api_key("partner-a", &pw, id, "l3").await.unwrap();
    let e = partner_status(&pms, "partner-a", "Bogus").await.unwrap_err();
    assert_eq!(e.code(), Some("PMS_PM_063"));
    assert!(e.to_string().contains("The selected partner has already been deactivated."), "{e}");
    let again = pms.deactivate_partner("partner-a").await.unwrap();
    assert!(!again.written && again.terminal);
    // Unknown partner: PMS_PMP_005 from the PATCH (the read says PMS_PRT_005); done either way.
    assert_eq!(partner_status(&pms, "nobody", "De-Active").await.unwrap_err().code(), Some("PMS_PMP_005"));
    assert!(pms.deactivate_partner("nobody").await.unwrap().terminal);

    // A partner never approved: De-Active writes nothing, succeeds, and is not final.
    pms.ensure_partner(&registration("partner-c", "Auth_Partner", Some("g"))).await.unwrap();
    assert_eq!(partner_status(&pms, "partner-c", "Bogus").await.unwrap_err().code(), Some("PMS_PM_058"));
    partner_status(&pms, "partner-c", "De-Active").await.unwrap();
    let d = pms.deactivate_partner("partner-c").await.unwrap();
    assert!(!d.written && !d.terminal, "{d:?}");
    pms.upload_partner_certificate("partner-c", "AUTH", &pki::leaf(&root, "partner-c", "Example Org")).await.unwrap();
    assert!(fake.state.lock().unwrap().partners["partner-c"].active, "activated by its certificate after De-Active");

    // MISP licences.
    pms.ensure_ca("MISP", &root.pem).await.unwrap();
    pms.ensure_partner(&registration("misp-a", "MISP_Partner", None)).await.unwrap();
    pms.upload_partner_certificate("misp-a", "MISP", &pki::leaf(&root, "misp-a", "Example Org")).await.unwrap();
    let l1 = pms.issue_license("misp-a").await.unwrap();
    let put = |key: &str, status: &str| json!({"providerId": "misp-a", "licenseKey": key, "licenseKeyStatus": status});
    let raw_put = |body: serde_json::Value| {
        let pms = pms.clone();
        async move { pms.pms("PUT /misps", http::Method::PUT, "/v1/partnermanager/misps", Caller::Admin, Some(body)).await }
    };
    let v = raw_put(put(l1.license_key.expose(), "De-Active")).await.unwrap();
    assert_eq!(v["licenseKeyStatus"], "de-active", "the stored state, not the request's spelling: {v}");
    // No state check: a second De-Active succeeds.
    pms.deactivate_license("misp-a", &l1.license_key).await.unwrap();
    assert_eq!(raw_put(put(l1.license_key.expose(), "Paused")).await.unwrap_err().code(), Some("PMS_MSP_407"));
    let e = raw_put(put("not-a-key", "De-Active")).await.unwrap_err();
    assert_eq!(e.code(), Some("PMS_MSP_408"));
    assert!(e.to_string().contains("combintaion not exists"), "{e}");
    // The MISP is still active: POST /misps is PMS_MSP_416, and the read-back issues a new licence.
    let l2 = pms.issue_license("misp-a").await.unwrap();
    assert!(l2.read_back && l2.license_key != l1.license_key && l2.status.as_deref() == Some("Active"));
    assert_eq!(fake.state.lock().unwrap().licenses.iter().filter(|l| l.active).count(), 1);
    // PMS_MSP_416 comes before the partner's checks (PMS_MSP_405 for an inactive MISP).
    assert!(pms.deactivate_partner("misp-a").await.unwrap().written);
    assert!(fake.state.lock().unwrap().licenses.iter().all(|l| !l.active), "licences go with the MISP");
    let e = pms
        .pms(
            "POST /misps",
            http::Method::POST,
            "/v1/partnermanager/misps",
            Caller::Admin,
            Some(json!({"providerId": "misp-a"})),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("PMS_MSP_416"));
}

#[tokio::test]
async fn policies_are_updated_while_draft_and_reported_when_published() {
    let fake = FakeMosip::start().await;
    let (pms, _) = client_for(&fake, fake_pms::ADMIN_PASSWORD);
    // A draft left by someone else (created, not published) is adopted, updated and published.
    let mut def = auth_policy("g", "p");
    pms.pms(
        "POST /policies/group/new",
        http::Method::POST,
        "/v1/policymanager/policies/group/new",
        Caller::Admin,
        Some(json!({"name": "g", "desc": "d"})),
    )
    .await
    .unwrap();
    pms.pms("POST /policies", http::Method::POST, "/v1/policymanager/policies", Caller::Admin,
        Some(json!({"name": "p", "desc": "old", "version": "0.9", "policies": {}, "policyGroupName": "g", "policyType": "Auth"})))
        .await
        .unwrap();
    let out = pms.ensure_policy(&def).await.unwrap();
    assert!(!out.created_group && !out.created_policy && out.updated_policy && out.published_now);
    assert_eq!(fake.state.lock().unwrap().policies[0].desc, "Auth policy for tests");
    // A change after publication: PMS refuses (PMS_POL_055) and the reason says so.
    def.description = "changed".into();
    let e = pms.ensure_policy(&def).await.unwrap_err();
    assert_eq!(e.reason(), "PMS_PMS_POL_055");
}

#[tokio::test]
async fn wire_contract_cookie_only_and_exact_requesttime() {
    let fake = FakeMosip::start().await;
    let (pms, _) = client_for(&fake, fake_pms::ADMIN_PASSWORD);
    pms.ensure_policy(&auth_policy("g", "p")).await.unwrap();
    let token = fake.state.lock().unwrap().tokens.keys().next().unwrap().clone();
    let good = json!({"id": "x", "version": "1.0", "requesttime": "2026-01-02T03:04:05.678Z", "metadata": {},
                      "request": {"name": "g2", "desc": "d"}});
    // The same token as a Bearer header is 401; as the Authorization cookie it works.
    let (s, _) = raw(
        fake.addr,
        "POST",
        "/v1/policymanager/policies/group/new",
        &[("Authorization", &format!("Bearer {token}"))],
        &good.to_string(),
    )
    .await;
    assert_eq!(s, 401);
    let cookie = format!("Authorization={token}");
    let (s, body) =
        raw(fake.addr, "POST", "/v1/policymanager/policies/group/new", &[("Cookie", &cookie)], &good.to_string()).await;
    assert_eq!(s, 200, "{body}");
    // Another requesttime shape is a bare 400 (no MOSIP envelope).
    let mut bad = good.clone();
    bad["requesttime"] = json!("2026-01-02T03:04:05Z");
    bad["request"]["name"] = json!("g3");
    let (s, body) =
        raw(fake.addr, "POST", "/v1/policymanager/policies/group/new", &[("Cookie", &cookie)], &bad.to_string()).await;
    assert_eq!(s, 400);
    assert!(!body.contains("errors"), "{body}");
    // Errors arrive on HTTP 200.
    let (s, body) =
        raw(fake.addr, "POST", "/v1/policymanager/policies/group/new", &[("Cookie", &cookie)], &good.to_string()).await;
    assert_eq!(s, 200);
    assert!(body.contains("PMS_POL_014"), "{body}");
}

#[tokio::test]
async fn outage_and_refused_connections_heal_and_wrong_passwords_are_clear() {
    let mut fake = FakeMosip::start().await;
    let (pms, metrics) = client_for(&fake, fake_pms::ADMIN_PASSWORD);
    // During an outage even the login fails as MosipUnavailable (not an auth failure).
    fake.set_outage(true);
    let e = pms.ensure_policy(&auth_policy("g", "p")).await.unwrap_err();
    assert_eq!(e.reason(), "MosipUnavailable", "{e}");
    assert_eq!(metrics.count("POST /v1/authmanager/authenticate/internal/useridPwd", "unavailable"), 1);
    fake.set_outage(false);
    assert_eq!(pms.get_partner("nobody").await.unwrap(), None);
    // With a cached token, PMS's 503 is MosipUnavailable too.
    fake.set_outage(true);
    let e = pms.ensure_policy(&auth_policy("g", "p")).await.unwrap_err();
    assert_eq!(e.reason(), "MosipUnavailable", "{e}");
    assert_eq!(metrics.count("GET /policies/group/all", "unavailable"), 1);
    assert!(e.is_transient());
    fake.set_outage(false);
    pms.ensure_policy(&auth_policy("g", "p")).await.unwrap();

    fake.stop();
    let e = pms.get_partner("nobody").await.unwrap_err();
    assert_eq!(e.reason(), "MosipUnavailable", "{e}");
    fake.restart().await;
    assert_eq!(pms.get_partner("nobody").await.unwrap(), None);
    assert_eq!(metrics.count("GET /partners/{partnerId}", "unavailable"), 1);

    // A wrong partner-admin password: one clear reason, no secret in the message.
    let (bad, _) = client_for(&fake, "not-the-password");
    let e = bad.get_partner("nobody").await.unwrap_err();
    assert_eq!(e.reason(), "MosipAuthFailed");
    let text = format!("{e} {e:?} {bad:?}");
    for secret in ["not-the-password", fake_pms::PMS_CLIENT_SECRET, fake_pms::KC_ADMIN_PASSWORD] {
        assert!(!text.contains(secret), "{text}");
    }
    // A password changed in Keycloak after the token was cached: the cached token keeps working
    // until PMS answers 401, then the client logs in again once.
    fake.set_admin_password("rotated-password");
    fake.state.lock().unwrap().tokens.clear();
    let e = pms.get_partner("nobody").await.unwrap_err();
    assert_eq!(e.reason(), "MosipAuthFailed", "{e}");
}

#[test]
fn run_with_backend_mosip_names_missing_flags_and_refuses_plain_http() {
    let bin = env!("CARGO_BIN_EXE_mosip-partner-operator");
    let out = std::process::Command::new(bin)
        .args(["run", "--backend", "mosip", "--metrics-addr", "off"])
        .env_remove("MOSIP_API_URL")
        .env_remove("KEYCLOAK_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--mosip-api-url"), "{err}");
    let out = std::process::Command::new(bin)
        .args(["run", "--backend", "mosip", "--metrics-addr", "off", "--mosip-credentials-secret", "c"])
        .env("MOSIP_API_URL", "http://pms.example.org")
        .env("KEYCLOAK_URL", "https://iam.example.org/auth")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loopback"), "{err}");
    let help = std::process::Command::new(bin).args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--backend",
        "--mosip-api-url",
        "--keycloak-url",
        "--mosip-credentials-secret",
        "--mosip-ca-file",
        "MOSIP_API_URL",
        "KEYCLOAK_URL",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}
