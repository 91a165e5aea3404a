//! The per-object sync of the `mosip` backend (src/pms/sync.rs) against the fake PMS, with
//! in-memory stores standing in for the Secrets. No API server needed.

use crate::fake_pms::{self, FakeMosip};
use crate::pki;
use mosip_partner_operator::api::{MosipApiKeyStatus, Partner, PartnerMosipStatus, PartnerPolicySpec};
use mosip_partner_operator::metrics::PmsMetrics;
use mosip_partner_operator::pms::sync::{
    Decision, LicenseStore, PartnerInput, PartnerStore, RequestInput, retire_license, retire_partner, sync_ca,
    sync_license, sync_partner, sync_policy,
};
use mosip_partner_operator::pms::{MosipCredentials, PmsClient, PmsEndpoints, SecretString};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn client(fake: &FakeMosip) -> PmsClient {
    let creds = MosipCredentials {
        pms_client_id: fake_pms::PMS_CLIENT_ID.into(),
        pms_client_secret: SecretString::new(fake_pms::PMS_CLIENT_SECRET),
        partner_admin_username: fake_pms::ADMIN_USER.into(),
        partner_admin_password: SecretString::new(fake_pms::ADMIN_PASSWORD),
        keycloak_admin_username: fake_pms::KC_ADMIN_USER.into(),
        keycloak_admin_password: SecretString::new(fake_pms::KC_ADMIN_PASSWORD),
        keycloak_realm: fake_pms::REALM.into(),
    };
    let endpoints = PmsEndpoints::parse(&fake.api_url(), &fake.keycloak_url()).unwrap();
    PmsClient::with_timeout(endpoints, creds, None, Arc::new(PmsMetrics::default()), Duration::from_secs(5)).unwrap()
}

/// Secrets in memory; `fail_key_saves` makes the next N key writes fail (a crash between PMS's
/// answer and the Secret write).
#[derive(Default)]
struct MemStore {
    password: Mutex<Option<SecretString>>,
    signed: Mutex<Option<String>>,
    keys: Mutex<BTreeMap<(String, String), SecretString>>,
    recorded: Mutex<Vec<PartnerMosipStatus>>,
    license: Mutex<Option<SecretString>>,
    fail_key_saves: AtomicU32,
}

impl PartnerStore for MemStore {
    async fn password(&self) -> Result<Option<SecretString>, String> {
        Ok(self.password.lock().unwrap().clone())
    }
    async fn save_password(&self, password: &SecretString) -> Result<(), String> {
        let mut p = self.password.lock().unwrap();
        assert!(p.is_none(), "the password Secret is never replaced");
        *p = Some(password.clone());
        Ok(())
    }
    async fn save_signed_certificate(&self, pem: &str) -> Result<(), String> {
        *self.signed.lock().unwrap() = Some(pem.to_string());
        Ok(())
    }
    async fn has_api_key(&self, policy: &str, label: &str) -> Result<bool, String> {
        Ok(self.keys.lock().unwrap().contains_key(&(policy.to_string(), label.to_string())))
    }
    async fn save_api_key(&self, policy: &str, label: &str, key: &SecretString) -> Result<(), String> {
        if self.fail_key_saves.load(Ordering::SeqCst) > 0 {
            self.fail_key_saves.fetch_sub(1, Ordering::SeqCst);
            return Err("simulated crash before the Secret write".into());
        }
        self.keys.lock().unwrap().insert((policy.to_string(), label.to_string()), key.clone());
        Ok(())
    }
    async fn withdraw_api_key(&self, policy: &str, label: &str) -> Result<(), String> {
        self.keys.lock().unwrap().remove(&(policy.to_string(), label.to_string()));
        Ok(())
    }
    async fn record(&self, status: &PartnerMosipStatus) -> Result<(), String> {
        self.recorded.lock().unwrap().push(status.clone());
        Ok(())
    }
}

impl LicenseStore for MemStore {
    async fn license(&self) -> Result<Option<SecretString>, String> {
        Ok(self.license.lock().unwrap().clone())
    }
    async fn save_license(&self, key: &SecretString, _expiry: Option<&str>) -> Result<(), String> {
        *self.license.lock().unwrap() = Some(key.clone());
        Ok(())
    }
}

fn partner(id: &str, ptype: &str, group: Option<&str>, active: bool) -> Partner {
    let mut v = json!({
        "apiVersion": "pms.mosip.io/v1alpha1", "kind": "Partner",
        "metadata": {"name": id, "namespace": "ns", "uid": format!("uid-{id}")},
        "spec": {"partnerType": ptype, "organizationName": "Example Org",
                 "contact": {"email": format!("{id}@example.org"), "phone": "9999999999", "address": "1 Main St"},
                 "active": active}
    });
    if let Some(g) = group {
        v["spec"]["policyGroup"] = json!(g);
    }
    serde_json::from_value(v).unwrap()
}

fn auth_policy_spec(group: &str) -> PartnerPolicySpec {
    serde_json::from_value(json!({"group": group, "type": "Auth",
        "auth": {"authTokenType": "partner", "allowedAuthTypes": [{"authType": "otp", "mandatory": false}],
                 "allowedKycAttributes": [{"attributeName": "fullName"}]}}))
    .unwrap()
}

struct World {
    fake: FakeMosip,
    pms: PmsClient,
    root: pki::Ca,
    policy_id: String,
}

async fn world() -> World {
    let fake = FakeMosip::start().await;
    let pms = client(&fake);
    let root = pki::root("Root", 3650);
    let ca = sync_ca(&pms, "AUTH", &root.pem, "fp-root", None).await.unwrap();
    assert!(ca.uploaded);
    // Re-sync with the recorded status: no call at all.
    let before = fake.all_calls();
    assert_eq!(sync_ca(&pms, "AUTH", &root.pem, "fp-root", Some(&ca)).await.unwrap(), ca);
    assert_eq!(fake.all_calls(), before);
    let pol = sync_policy(&pms, "auth-pol", &auth_policy_spec("grp"), None).await.unwrap();
    assert!(pol.published);
    assert_eq!(sync_policy(&pms, "auth-pol", &auth_policy_spec("grp"), Some(&pol)).await.unwrap(), pol);
    assert_eq!(
        fake.all_calls().get("GET /policies").copied(),
        before.get("GET /policies").copied().map(|n| n + 2).or(Some(2))
    );
    World { policy_id: pol.policy_id.unwrap(), fake, pms, root }
}

fn request(policy_id: &str, decision: Decision, labels: &[&str]) -> RequestInput {
    RequestInput {
        name: "auth-pol".into(),
        policy_id: Some(policy_id.into()),
        use_case: "tests".into(),
        decision,
        api_key_labels: labels.iter().map(|s| s.to_string()).collect(),
    }
}

#[tokio::test]
async fn partner_onboards_waits_for_approval_and_reruns_mint_nothing() {
    let w = world().await;
    let p = partner("auth-one", "Auth_Partner", Some("grp"), true);
    let leaf = pki::leaf(&w.root, "auth-one", "Example Org");
    let store = MemStore::default();
    let mut input = PartnerInput {
        partner: &p,
        uid: "uid-1",
        certificate: Some((&leaf, "fp-leaf")),
        requests: vec![request(&w.policy_id, Decision::Pending, &["main"])],
    };
    let st = sync_partner(&w.pms, &input, None, &store).await.unwrap();
    assert!(st.registered && !st.adopted && st.active == Some(true));
    assert_eq!(st.keycloak_user.as_deref(), Some("auth-one"));
    assert!(store.signed.lock().unwrap().as_deref().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(st.requests[0].mapping_key.is_some() && st.requests[0].decision.is_none());
    assert!(store.keys.lock().unwrap().is_empty(), "no key before approval");

    input.requests = vec![request(&w.policy_id, Decision::Approved, &["main"])];
    let st = sync_partner(&w.pms, &input, Some(&st), &store).await.unwrap();
    assert_eq!(st.requests[0].decision.as_deref(), Some("Approved"));
    assert_eq!(store.keys.lock().unwrap().len(), 1);
    assert!(st.requests[0].api_keys[0].stored);
    // The label was recorded before PMS was asked.
    assert!(
        store
            .recorded
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.requests.first().is_some_and(|q| q.api_keys.first().is_some_and(|k| !k.stored)))
    );

    // Re-runs (e.g. after an operator restart, from the recorded status) write nothing to PMS.
    let writes = w.fake.writes();
    let again = sync_partner(&w.pms, &input, Some(&st), &store).await.unwrap();
    assert_eq!(again, st);
    assert_eq!(w.fake.writes(), writes, "{:?}", w.fake.all_calls());
    assert_eq!(w.fake.state.lock().unwrap().api_keys.len(), 1);

    // A removed label is deactivated in PMS and withdrawn from its Secret.
    input.requests = vec![request(&w.policy_id, Decision::Approved, &[])];
    let st = sync_partner(&w.pms, &input, Some(&st), &store).await.unwrap();
    assert!(st.requests[0].api_keys[0].deactivated);
    assert!(!w.fake.state.lock().unwrap().api_keys[0].active);
    assert!(store.keys.lock().unwrap().is_empty());

    // Deactivation reaches PMS and is final.
    let off = partner("auth-one", "Auth_Partner", Some("grp"), false);
    let input_off =
        PartnerInput { partner: &off, uid: "uid-1", certificate: Some((&leaf, "fp-leaf")), requests: vec![] };
    let st = sync_partner(&w.pms, &input_off, Some(&st), &store).await.unwrap();
    assert!(st.deactivated);
    assert!(!w.fake.state.lock().unwrap().partners["auth-one"].active);
    let e = sync_partner(&w.pms, &input, Some(&st), &store).await.unwrap_err();
    assert_eq!(e.reason(), "MosipMismatch");
    assert!(e.to_string().contains("PMS_PM_063"), "{e}");
}

#[tokio::test]
async fn a_key_returned_but_not_stored_is_deactivated_and_replaced() {
    let w = world().await;
    let p = partner("auth-two", "Auth_Partner", Some("grp"), true);
    let leaf = pki::leaf(&w.root, "auth-two", "Example Org");
    let store = MemStore::default();
    store.fail_key_saves.store(1, Ordering::SeqCst);
    let input = PartnerInput {
        partner: &p,
        uid: "uid-2",
        certificate: Some((&leaf, "fp")),
        requests: vec![request(&w.policy_id, Decision::Approved, &["main"])],
    };
    let e = sync_partner(&w.pms, &input, None, &store).await.unwrap_err();
    assert_eq!(e.reason(), "SecretWriteFailed");
    // What survived the "crash" is the last recorded status: the label, not stored.
    let recorded = store.recorded.lock().unwrap().last().cloned().unwrap();
    assert!(!recorded.requests[0].api_keys[0].stored);
    assert_eq!(w.fake.state.lock().unwrap().api_keys.len(), 1, "PMS minted one key the operator lost");

    let st = sync_partner(&w.pms, &input, Some(&recorded), &store).await.unwrap();
    assert_eq!(st.orphaned_keys.len(), 1);
    assert!(st.orphaned_keys[0].deactivated);
    let keys = w.fake.state.lock().unwrap().api_keys.clone();
    assert_eq!(keys.len(), 2);
    assert!(!keys[0].active && keys[1].active, "the orphan is De-Active in PMS, the stored key active");
    assert_ne!(keys[0].label, keys[1].label);
    assert_eq!(store.keys.lock().unwrap().values().next().unwrap().expose(), keys[1].key);
}

#[tokio::test]
async fn existing_partners_are_adopted_and_outages_heal() {
    let w = world().await;
    // A partner the onboarder made earlier: registered in PMS, Keycloak user present.
    w.pms
        .ensure_partner(&mosip_partner_operator::pms::plan::partner_registration(&partner(
            "old-one",
            "Auth_Partner",
            Some("grp"),
            true,
        )))
        .await
        .unwrap();
    w.pms
        .ensure_keycloak_user("old-one", "AUTH_PARTNER", &SecretString::new("unknown-to-operator"), false)
        .await
        .unwrap();
    let p = partner("old-one", "Auth_Partner", Some("grp"), true);
    let leaf = pki::leaf(&w.root, "old-one", "Example Org");
    let store = MemStore::default();
    let input = PartnerInput {
        partner: &p,
        uid: "uid-3",
        certificate: Some((&leaf, "fp")),
        requests: vec![request(&w.policy_id, Decision::Approved, &["k"])],
    };
    w.fake.set_outage(true);
    let e = sync_partner(&w.pms, &input, None, &store).await.unwrap_err();
    assert_eq!(e.reason(), "MosipUnavailable");
    w.fake.set_outage(false);
    let st = sync_partner(&w.pms, &input, None, &store).await.unwrap();
    assert!(st.registered && st.adopted, "{st:?}");
    assert_eq!(w.fake.calls("POST /partners"), 1, "never registered again");
    // The adopted user's password was reset to one the operator keeps, so the key could be made.
    assert_eq!(store.keys.lock().unwrap().len(), 1);

    let upper = partner("OldOne", "Auth_Partner", Some("grp"), true);
    let before = w.fake.all_calls();
    let e = sync_partner(
        &w.pms,
        &PartnerInput { partner: &upper, uid: "u", certificate: None, requests: vec![] },
        None,
        &store,
    )
    .await
    .unwrap_err();
    assert_eq!(e.reason(), "PartnerIdNotLowercase");
    assert_eq!(w.fake.all_calls(), before);
}

#[tokio::test]
async fn misp_licence_sync_issues_once_and_deactivates() {
    let w = world().await;
    sync_ca(&w.pms, "MISP", &w.root.pem, "fp-root-misp", None).await.unwrap();
    let p = partner("mpartner-default-esignet", "MISP_Partner", None, true);
    let leaf = pki::leaf(&w.root, "esignet", "Example Org");
    let store = MemStore::default();
    let input = PartnerInput { partner: &p, uid: "uid-m", certificate: Some((&leaf, "fp")), requests: vec![] };
    sync_partner(&w.pms, &input, None, &store).await.unwrap();
    let lic = sync_license(&w.pms, "mpartner-default-esignet", true, None, &store).await.unwrap();
    assert_eq!(lic.license_status.as_deref(), Some("Active"));
    assert_eq!(store.license.lock().unwrap().as_ref().unwrap().expose().len(), 50);
    let writes = w.fake.writes();
    assert_eq!(sync_license(&w.pms, "mpartner-default-esignet", true, Some(&lic), &store).await.unwrap(), lic);
    assert_eq!(w.fake.writes(), writes);
    let off = sync_license(&w.pms, "mpartner-default-esignet", false, Some(&lic), &store).await.unwrap();
    assert!(off.deactivated);
    assert!(!w.fake.state.lock().unwrap().licenses[0].active);
    let e = sync_license(&w.pms, "mpartner-default-esignet", true, Some(&off), &store).await.unwrap_err();
    assert_eq!(e.reason(), "MosipMismatch");
}

/// Every partner type of examples/ through the sync layer against the fake: CAs uploaded,
/// policies published, partners registered with their MOSIP-signed certificate, requests mapped
/// and approved, one key per label, the MISP licence; a second pass writes nothing.
#[tokio::test]
async fn every_example_partner_type_syncs_and_a_second_pass_writes_nothing() {
    use mosip_partner_operator::api::{CACertificate, MispLicense, PartnerPolicy};
    let mut files = Vec::new();
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)
            } else if p.extension().is_some_and(|e| e == "yaml") {
                out.push(p)
            }
        }
    }
    walk(&crate::common::repo_root().join("examples"), &mut files);
    let (mut cas, mut policies, mut partners, mut licenses, mut certs) =
        (vec![], vec![], vec![], vec![], BTreeMap::new());
    for f in files {
        for doc in serde_yaml::Deserializer::from_str(&std::fs::read_to_string(&f).unwrap()) {
            let v: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
            match v["kind"].as_str() {
                Some("CACertificate") => cas.push(serde_json::from_value::<CACertificate>(v).unwrap()),
                Some("PartnerPolicy") => policies.push(serde_json::from_value::<PartnerPolicy>(v).unwrap()),
                Some("Partner") => partners.push(serde_json::from_value::<Partner>(v).unwrap()),
                Some("MispLicense") => licenses.push(serde_json::from_value::<MispLicense>(v).unwrap()),
                Some("Secret") => {
                    if let Some(crt) = v["stringData"]["tls.crt"].as_str() {
                        certs.insert(v["metadata"]["name"].as_str().unwrap().to_string(), crt.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    assert!(partners.len() >= 12, "one partner per type");
    let fake = FakeMosip::start().await;
    let pms = client(&fake);
    let stores: BTreeMap<String, MemStore> = partners.iter().map(|p| (p.partner_id(), MemStore::default())).collect();

    type Statuses = (
        BTreeMap<String, mosip_partner_operator::api::CaMosipStatus>,
        BTreeMap<String, mosip_partner_operator::api::PolicyMosipStatus>,
        BTreeMap<String, PartnerMosipStatus>,
        BTreeMap<String, mosip_partner_operator::api::LicenseMosipStatus>,
    );
    let pass = |prev: Option<Statuses>| {
        let pms = pms.clone();
        let (cas, policies, partners, licenses, certs, stores) =
            (&cas, &policies, &partners, &licenses, &certs, &stores);
        async move {
            let prev = prev.unwrap_or_default();
            let mut ca_st = BTreeMap::new();
            for (i, ca) in cas.iter().enumerate() {
                let name = ca.metadata.name.clone().unwrap();
                let fp = format!("fp-{i}");
                let s =
                    sync_ca(&pms, ca.spec.domain.as_str(), &ca.spec.certificate, &fp, prev.0.get(&name)).await.unwrap();
                ca_st.insert(name, s);
            }
            let mut pol_st = BTreeMap::new();
            for p in policies {
                let name = p.metadata.name.clone().unwrap();
                let s = sync_policy(&pms, &name, &p.spec, prev.1.get(&name)).await.unwrap();
                pol_st.insert(name, s);
            }
            let mut partner_st = BTreeMap::new();
            for p in partners {
                let pid = p.partner_id();
                let cert_ref = p.spec.certificate.as_ref().unwrap();
                let pem = certs.get(&cert_ref.secret_name).unwrap();
                let requests = p
                    .spec
                    .policies
                    .iter()
                    .map(|r| RequestInput {
                        name: r.name.clone(),
                        policy_id: pol_st
                            .get(&r.name)
                            .and_then(|s: &mosip_partner_operator::api::PolicyMosipStatus| s.policy_id.clone()),
                        use_case: r.use_case.clone().unwrap_or_else(|| "example".into()),
                        decision: Decision::Approved,
                        api_key_labels: r.api_keys.iter().map(|k| k.label.clone()).collect(),
                    })
                    .collect();
                let uid = format!("uid-{pid}");
                let input = PartnerInput { partner: p, uid: &uid, certificate: Some((pem, "fp-leaf")), requests };
                let s = sync_partner(&pms, &input, prev.2.get(&pid), &stores[&pid])
                    .await
                    .unwrap_or_else(|e| panic!("{pid} ({:?}): {e}", p.spec.partner_type));
                partner_st.insert(pid, s);
            }
            let mut lic_st = BTreeMap::new();
            for l in licenses {
                let p =
                    partners.iter().find(|p| p.metadata.name.as_deref() == Some(l.spec.partner_name.as_str())).unwrap();
                let pid = p.partner_id();
                let s = sync_license(&pms, &pid, true, prev.3.get(&pid), &stores[&pid]).await.unwrap();
                lic_st.insert(pid, s);
            }
            (ca_st, pol_st, partner_st, lic_st)
        }
    };
    let first = pass(None).await;
    for p in &partners {
        let st = &first.2[&p.partner_id()];
        assert!(st.registered && st.active == Some(true), "{}: {st:?}", p.partner_id());
        assert!(stores[&p.partner_id()].signed.lock().unwrap().is_some());
        let labels: usize = p.spec.policies.iter().map(|r| r.api_keys.len()).sum();
        assert_eq!(stores[&p.partner_id()].keys.lock().unwrap().len(), labels, "{}", p.partner_id());
    }
    assert_eq!(first.3.len(), licenses.len());
    let minted = {
        let st = fake.state.lock().unwrap();
        (st.api_keys.len(), st.licenses.len())
    };
    let writes = fake.writes();
    let second = pass(Some(first.clone())).await;
    assert_eq!(second, first);
    assert_eq!(fake.writes(), writes, "a second pass wrote: {:?}", fake.all_calls());
    let st = fake.state.lock().unwrap();
    assert_eq!((st.api_keys.len(), st.licenses.len()), minted);
}

/// Deletion in `mosip` mode (src/pms/sync.rs `retire_partner`, `retire_license`): keys, then the
/// partner, then the licence set De-Active once; re-runs from the recorded status call nothing;
/// a re-run from a stale status reads before it writes.
#[tokio::test]
async fn deletion_retires_keys_then_the_partner_and_the_licence_once() {
    const KEY_STATUS: &str = "PATCH /partners/{partnerId}/policy/{policyId}/apiKey/status";
    const PATCH_PARTNER: &str = "PATCH /partners/{partnerId}";
    let w = world().await;
    let p = partner("auth-del", "Auth_Partner", Some("grp"), true);
    let leaf = pki::leaf(&w.root, "auth-del", "Example Org");
    let store = MemStore::default();
    let input = PartnerInput {
        partner: &p,
        uid: "uid-d",
        certificate: Some((&leaf, "fp")),
        requests: vec![request(&w.policy_id, Decision::Approved, &["main"])],
    };
    let mut st = sync_partner(&w.pms, &input, None, &store).await.unwrap();
    // A label recorded just before a crash and never sent to PMS (PMS_PRT_111 on deactivation).
    st.requests[0].api_keys.push(MosipApiKeyStatus {
        label: "other".into(),
        pms_label: "never-sent-0".into(),
        attempt: 0,
        stored: false,
        deactivated: false,
    });
    let password = store.password.lock().unwrap().clone();
    assert!(password.is_some());
    let done = retire_partner(&w.pms, "auth-del", &st, password.as_ref()).await.unwrap();
    assert_eq!((done.keys_deactivated, done.keys_skipped), (2, 0));
    assert!(done.status.deactivated && done.status.requests[0].api_keys.iter().all(|k| k.deactivated));
    assert_eq!((w.fake.calls(KEY_STATUS), w.fake.calls(PATCH_PARTNER)), (2, 1), "{:?}", w.fake.all_calls());
    {
        let s = w.fake.state.lock().unwrap();
        assert!(s.partners["auth-del"].deactivated);
        assert!(s.api_keys.iter().filter(|k| k.partner_id == "auth-del").all(|k| !k.active));
    }
    // Re-run from the recorded status: no call at all.
    let calls = w.fake.all_calls();
    assert_eq!(retire_partner(&w.pms, "auth-del", &done.status, password.as_ref()).await.unwrap().status, done.status);
    assert_eq!(w.fake.all_calls(), calls);
    // From a stale status (crash before it was recorded) and without the password: the partner is
    // read first (no PATCH, no PMS_PM_063 dead end); the keys are skipped and counted.
    let again = retire_partner(&w.pms, "auth-del", &st, None).await.unwrap();
    assert!(again.status.deactivated);
    assert_eq!((again.keys_deactivated, again.keys_skipped), (0, 2));
    assert_eq!((w.fake.calls(KEY_STATUS), w.fake.calls(PATCH_PARTNER)), (2, 1));

    // A MISP licence.
    sync_ca(&w.pms, "MISP", &w.root.pem, "fp-root-misp", None).await.unwrap();
    let m = partner("misp-del", "MISP_Partner", None, true);
    let mleaf = pki::leaf(&w.root, "misp-del", "Example Org");
    let mstore = MemStore::default();
    let minput = PartnerInput { partner: &m, uid: "uid-md", certificate: Some((&mleaf, "fp-m")), requests: vec![] };
    let mst = sync_partner(&w.pms, &minput, None, &mstore).await.unwrap();
    let lic = sync_license(&w.pms, "misp-del", true, None, &mstore).await.unwrap();
    let key = mstore.license.lock().unwrap().clone().unwrap();
    // Its key gone from the Secret while the MISP is active: a precise condition, no write.
    let writes = w.fake.writes();
    let e = retire_license(&w.pms, &lic, None).await.unwrap_err();
    assert_eq!(e.reason(), "LicenseKeyUnavailable");
    assert!(!e.to_string().contains(key.expose()));
    assert_eq!(w.fake.writes(), writes);
    let off = retire_license(&w.pms, &lic, Some(&key)).await.unwrap();
    assert!(off.deactivated && !w.fake.state.lock().unwrap().licenses[0].active);
    assert_eq!(w.fake.calls("PUT /misps"), 1);
    let calls = w.fake.all_calls();
    assert_eq!(retire_license(&w.pms, &off, Some(&key)).await.unwrap(), off);
    assert_eq!(w.fake.all_calls(), calls);
    // Once the MISP partner is deactivated (PMS deactivates its licences with it), a licence
    // whose key is gone counts as done.
    retire_partner(&w.pms, "misp-del", &mst, None).await.unwrap();
    assert!(retire_license(&w.pms, &lic, None).await.unwrap().deactivated);
    assert_eq!(w.fake.calls("PUT /misps"), 1);
}

/// PMS answers a second De-Active of a key with PMS_PMS_022 and any De-Active of a key of an
/// inactive partner with PMS_PMP_016 (per PMS source, 1.2.2/1.3 line,
/// `updateAPIKeyStatus`): a deletion retried after its partner PATCH failed, a partner
/// deactivated in the PMS portal, and a sync re-run after a lost status write all complete.
#[tokio::test]
async fn deactivation_retries_after_a_partial_success_complete() {
    const KEY_STATUS: &str = "PATCH /partners/{partnerId}/policy/{policyId}/apiKey/status";
    const PATCH_PARTNER: &str = "PATCH /partners/{partnerId}";
    let w = world().await;
    let onboard = |id: &'static str| {
        let p = partner(id, "Auth_Partner", Some("grp"), true);
        let leaf = pki::leaf(&w.root, id, "Example Org");
        (p, leaf)
    };

    // Deletion: the key is deactivated, then the partner's PATCH fails (503) — nothing recorded.
    let (p, leaf) = onboard("auth-retry");
    let store = MemStore::default();
    let input = PartnerInput {
        partner: &p,
        uid: "uid-r",
        certificate: Some((&leaf, "fp")),
        requests: vec![request(&w.policy_id, Decision::Approved, &["main"])],
    };
    let st = sync_partner(&w.pms, &input, None, &store).await.unwrap();
    let password = store.password.lock().unwrap().clone();
    w.fake.fail_next(PATCH_PARTNER, 1);
    let e = retire_partner(&w.pms, "auth-retry", &st, password.as_ref()).await.unwrap_err();
    assert_eq!(e.reason(), "MosipUnavailable");
    assert!(w.fake.state.lock().unwrap().api_keys.iter().all(|k| !k.active), "the key was deactivated");
    // The retry from the same status: PMS_PMS_022 for the key counts as done; the partner goes.
    let done = retire_partner(&w.pms, "auth-retry", &st, password.as_ref()).await.unwrap();
    assert!(done.status.deactivated);
    assert_eq!((w.fake.calls(KEY_STATUS), w.fake.calls(PATCH_PARTNER)), (2, 2), "{:?}", w.fake.all_calls());
    assert!(!w.fake.state.lock().unwrap().partners["auth-retry"].active);

    // A partner deactivated in the PMS portal: its keys answer PMS_PMP_016, done; no PATCH.
    let (p2, leaf2) = onboard("auth-portal");
    let store2 = MemStore::default();
    let input2 = PartnerInput {
        partner: &p2,
        uid: "uid-p",
        certificate: Some((&leaf2, "fp")),
        requests: vec![request(&w.policy_id, Decision::Approved, &["main"])],
    };
    let st2 = sync_partner(&w.pms, &input2, None, &store2).await.unwrap();
    {
        let mut s = w.fake.state.lock().unwrap();
        let pp = s.partners.get_mut("auth-portal").unwrap();
        pp.active = false;
        pp.deactivated = true;
    }
    let (keys, patches) = (w.fake.calls(KEY_STATUS), w.fake.calls(PATCH_PARTNER));
    let password2 = store2.password.lock().unwrap().clone();
    let done2 = retire_partner(&w.pms, "auth-portal", &st2, password2.as_ref()).await.unwrap();
    assert!(done2.status.deactivated && done2.status.requests[0].api_keys.iter().all(|k| k.deactivated));
    assert_eq!((w.fake.calls(KEY_STATUS), w.fake.calls(PATCH_PARTNER)), (keys + 1, patches));

    // sync_partner: a removed label deactivated, then the status write lost; the re-run from the
    // stale status (PMS_PMS_022 for that key) completes and withdraws the Secret.
    let (p3, leaf3) = onboard("auth-lost");
    let store3 = MemStore::default();
    let mut input3 = PartnerInput {
        partner: &p3,
        uid: "uid-l",
        certificate: Some((&leaf3, "fp")),
        requests: vec![request(&w.policy_id, Decision::Approved, &["main"])],
    };
    let stale = sync_partner(&w.pms, &input3, None, &store3).await.unwrap();
    input3.requests = vec![request(&w.policy_id, Decision::Approved, &[])];
    let written = sync_partner(&w.pms, &input3, Some(&stale), &store3).await.unwrap();
    let again = sync_partner(&w.pms, &input3, Some(&stale), &store3).await.unwrap();
    assert_eq!(again, written);
    assert!(again.requests[0].api_keys[0].deactivated && store3.keys.lock().unwrap().is_empty());
}

/// Per PMS source (1.2.2/1.3 line, `activateDeactivateAuthEKYCPartner`) De-Active on a partner
/// never approved writes nothing and is not final: the Partner set inactive before its
/// certificate was valid is carried on (certificate uploaded, active) once set active again.
#[tokio::test]
async fn a_partner_never_approved_is_only_inactive_and_can_be_activated_later() {
    let w = world().await;
    let store = MemStore::default();
    let on = partner("auth-late", "Auth_Partner", Some("grp"), true);
    let off = partner("auth-late", "Auth_Partner", Some("grp"), false);
    fn input(p: &Partner) -> PartnerInput<'_> {
        PartnerInput { partner: p, uid: "uid-n", certificate: None, requests: vec![] }
    }
    let st = sync_partner(&w.pms, &input(&on), None, &store).await.unwrap();
    assert!(st.registered && st.uploaded_fingerprint_sha256.is_none());
    let writes = w.fake.writes();
    let st = sync_partner(&w.pms, &input(&off), Some(&st), &store).await.unwrap();
    assert!(!st.deactivated, "a partner never approved is not deactivated for good: {st:?}");
    assert_eq!(st.active, Some(false));
    assert_eq!(w.fake.writes(), writes, "nothing to write for an inactive partner");
    // Active again, now with a valid certificate: uploaded and active in PMS.
    let leaf = pki::leaf(&w.root, "auth-late", "Example Org");
    let with_cert = PartnerInput { partner: &on, uid: "uid-n", certificate: Some((&leaf, "fp")), requests: vec![] };
    let st = sync_partner(&w.pms, &with_cert, Some(&st), &store).await.unwrap();
    assert_eq!((st.active, st.deactivated), (Some(true), false));
    assert!(st.uploaded_fingerprint_sha256.is_some());
    assert!(w.fake.state.lock().unwrap().partners["auth-late"].active);
    // Deactivated once approved: final (PMS_PM_063 on any later PATCH).
    let off_cert = PartnerInput { partner: &off, ..with_cert };
    let st = sync_partner(&w.pms, &off_cert, Some(&st), &store).await.unwrap();
    assert!(st.deactivated);
}
