//! Issue #12 in `mosip` mode, on the real API server against the fake PMS (fake_pms.rs, a
//! contract model derived from PMS sources, not PMS itself):
//! - deleting a Partner or MispLicense deactivates it in PMS (finalizer
//!   `pms.mosip.io/deactivate`), exactly once, and restarts add nothing;
//! - a PMS outage during deletion keeps the finalizer (`MosipSynced=False`, MosipUnavailable)
//!   until PMS answers again;
//! - the licence gate of standalone mode applies before any `POST /misps`;
//! - a standalone operator releases what mosip mode left without contacting PMS.

use crate::common::{CONVERGE, TestEnv, eventually};
use crate::fake_pms::FakeMosip;
use crate::fixtures;
use crate::mosip_mode::{credentials, mosip_args, wait_synced};
use k8s_openapi::api::core::v1::Event;
use kube::Resource;
use kube::api::{Api, DeleteParams};
use mosip_partner_operator::api::*;
use std::time::Duration;

const FINALIZER: &str = "pms.mosip.io/deactivate";
const PATCH_PARTNER: &str = "PATCH /partners/{partnerId}";
const KEY_STATUS: &str = "PATCH /partners/{partnerId}/policy/{policyId}/apiKey/status";

async fn wait_finalizer<K>(api: &Api<K>, name: &str)
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    eventually(CONVERGE, &format!("{name} carries {FINALIZER}"), || async move {
        let o = api.get(name).await.map_err(|e| e.to_string())?;
        let f = o.meta().finalizers.clone().unwrap_or_default();
        if f.iter().any(|x| x == FINALIZER) { Ok(()) } else { Err(format!("{f:?}")) }
    })
    .await
}

async fn delete<K>(api: &Api<K>, name: &str)
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.delete(name, &DeleteParams::default()).await.unwrap();
}

fn license(name: &str, partner: &str, policy: &str) -> MispLicense {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "pms.mosip.io/v1alpha1", "kind": "MispLicense",
        "metadata": {"name": name},
        "spec": {"partnerName": partner, "policyName": policy}
    }))
    .unwrap()
}

async fn condition<K>(api: &Api<K>, name: &str, type_: &str) -> Option<(String, String)>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug + serde::Serialize,
{
    let v = serde_json::to_value(api.get(name).await.ok()?).unwrap();
    let c = v["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_)?.clone();
    Some((c["status"].as_str()?.to_string(), c["reason"].as_str()?.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn licence_gate_and_deletion_deactivate_in_pms_exactly_once() {
    let fake = FakeMosip::start().await;
    let mut env = TestEnv::new("mosip-delete").await;
    credentials(&env).await;
    let args = mosip_args(&fake);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    env.start_operator(&argv);

    let auth_ca = fixtures::trust(&env, PartnerDomain::Auth).await;
    let misp_ca = fixtures::trust(&env, PartnerDomain::Misp).await;
    let policies: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&policies, &fixtures::auth_policy(&env, "auth", "grp", ApprovalMode::Automatic)).await;
    // A Manual MISP policy: the MISP's request waits for an approver.
    let mut misp_policy = fixtures::misp_policy(&env, "misp", "mgrp");
    misp_policy.spec.approval = Some(ApprovalMode::Manual);
    misp_policy.spec.auto_approve = None;
    env.apply(&policies, &misp_policy).await;
    let (auth_pol, misp_pol) = (env.cluster_name("auth"), env.cluster_name("misp"));
    wait_synced(&policies, &auth_pol, "True", Some("Published")).await;
    wait_synced(&policies, &misp_pol, "True", Some("Published")).await;

    // An Auth partner with one key, and a MISP partner.
    let partners: Api<Partner> = env.api();
    fixtures::cert_secret(&env, "rp", &auth_ca, "RP Org").await;
    let mut rp = fixtures::partner("rp", PartnerType::AuthPartner, "RP Org");
    rp.spec.policy_group = Some("grp".into());
    rp.spec.policies = vec![fixtures::request(&auth_pol, &["main"])];
    env.apply(&partners, &rp).await;
    fixtures::cert_secret(&env, "misp", &misp_ca, "MISP Org").await;
    let mut misp = fixtures::partner("misp", PartnerType::MispPartner, "MISP Org");
    misp.spec.policy_group = Some("mgrp".into());
    misp.spec.contact.as_mut().unwrap().email = Some("ops@misp.example.org".into());
    misp.spec.policies = vec![fixtures::request(&misp_pol, &[])];
    env.apply(&partners, &misp).await;
    wait_finalizer(&partners, "rp").await;
    wait_finalizer(&partners, "misp").await;
    eventually(CONVERGE, "rp's key stored", || {
        let partners = partners.clone();
        async move {
            let p = partners.get("rp").await.map_err(|e| e.to_string())?;
            let m = p.status.and_then(|s| s.mosip).unwrap_or_default();
            let stored = m.requests.iter().flat_map(|r| r.api_keys.iter()).any(|k| k.stored);
            if stored { Ok(()) } else { Err(format!("{m:?}")) }
        }
    })
    .await;
    fixtures::wait_partner_reason(&env, "misp", READY, "False", Some("PendingApproval")).await;
    let m = wait_synced(&partners, "misp", "True", Some("Synced")).await;
    assert!(m.status.unwrap().mosip.unwrap().uploaded_fingerprint_sha256.is_some(), "MISP in PMS with its cert");

    // The licence gate: no approved request of the MISP for the policy, no licence from PMS.
    let lapi: Api<MispLicense> = env.api();
    env.apply(&lapi, &license("lic", "misp", &misp_pol)).await;
    wait_finalizer(&lapi, "lic").await;
    let refused = eventually(CONVERGE, "licence refused by the gate", || {
        let lapi = lapi.clone();
        async move {
            match condition(&lapi, "lic", READY).await {
                Some((s, r)) if s == "False" && r != "WaitingForPartner" => Ok(r),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    // The same condition standalone mode gives: the MISP is not Ready while its request waits.
    assert_eq!(refused, "PartnerNotReady");
    assert_eq!(condition(&lapi, "lic", MOSIP_SYNCED).await, Some(("False".into(), refused.clone())));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(fake.calls("POST /misps"), 0, "no licence requested without approval: {:?}", fake.all_calls());
    assert!(fake.state.lock().unwrap().licenses.is_empty());

    // Approved: exactly one licence from PMS, into its Secret.
    let out = env.cli(&["approve", "misp", "--policy", &misp_pol, "-n", &env.ns]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eventually(CONVERGE, "licence issued", || {
        let lapi = lapi.clone();
        async move {
            match condition(&lapi, "lic", READY).await {
                Some((s, _)) if s == "True" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    let stored = env.secret_value(&mosip_partner_operator::mosip::license_secret_name("lic"), "licenseKey").await;
    let pms_key = fake.state.lock().unwrap().licenses.iter().map(|l| l.key.clone()).collect::<Vec<_>>();
    assert_eq!(pms_key, vec![stored.expect("licence stored")]);
    assert_eq!(fake.calls("POST /misps"), 1);

    // Deleting the licence deactivates it in PMS (once), then releases it.
    assert_eq!(fake.calls("PUT /misps"), 0);
    delete(&lapi, "lic").await;
    fixtures::wait_deleted(&lapi, "lic", CONVERGE).await;
    assert_eq!(fake.calls("PUT /misps"), 1, "{:?}", fake.all_calls());
    assert!(fake.state.lock().unwrap().licenses.iter().all(|l| !l.active), "licence De-Active in PMS");

    // Deleting the Auth partner deactivates its key and then the partner (once each).
    assert_eq!((fake.calls(KEY_STATUS), fake.calls(PATCH_PARTNER)), (0, 0));
    delete(&partners, "rp").await;
    fixtures::wait_deleted(&partners, "rp", CONVERGE).await;
    assert_eq!((fake.calls(KEY_STATUS), fake.calls(PATCH_PARTNER)), (1, 1), "{:?}", fake.all_calls());
    {
        let s = fake.state.lock().unwrap();
        assert!(s.partners["rp"].deactivated && !s.partners["rp"].active, "rp De-Active in PMS");
        let keys: Vec<_> = s.api_keys.iter().filter(|k| k.partner_id == "rp").collect();
        assert!(!keys.is_empty() && keys.iter().all(|k| !k.active), "rp's keys De-Active in PMS");
    }
    // And the MISP partner.
    delete(&partners, "misp").await;
    fixtures::wait_deleted(&partners, "misp", CONVERGE).await;
    assert_eq!(fake.calls(PATCH_PARTNER), 2, "{:?}", fake.all_calls());
    assert!(fake.state.lock().unwrap().partners["misp"].deactivated);
    // The outcome outlives the objects in Events.
    // (Events are written in the background, a moment after the finalizer is released.)
    let events: Api<Event> = env.api();
    eventually(CONVERGE, "DeactivatedInPms Events for lic, rp and misp", || {
        let events = events.clone();
        async move {
            let deactivated: Vec<String> = events
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?
                .items
                .into_iter()
                .filter(|e| e.reason.as_deref() == Some("DeactivatedInPms"))
                .filter_map(|e| e.involved_object.name)
                .collect();
            let all = ["lic", "rp", "misp"].iter().all(|name| deactivated.iter().any(|n| n == name));
            if all { Ok(()) } else { Err(format!("{deactivated:?}")) }
        }
    })
    .await;

    // A restart (nothing left to do) writes nothing to PMS.
    let writes = fake.writes();
    env.stop_operator();
    env.start_operator(&argv);
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(fake.writes(), writes, "a restart wrote to PMS: {:?}", fake.all_calls());

    // A Partner set up in mosip mode, deleted while the operator runs standalone: released
    // without contacting PMS (and with a log line), never stuck.
    let mut late = fixtures::partner("late", PartnerType::AuthPartner, "Late Org");
    late.spec.policy_group = Some("grp".into());
    late.spec.contact.as_mut().unwrap().email = Some("ops@late.example.org".into());
    env.apply(&partners, &late).await;
    wait_synced(&partners, "late", "True", Some("Synced")).await;
    wait_finalizer(&partners, "late").await;
    assert!(fake.state.lock().unwrap().partners.contains_key("late"));
    env.stop_operator();
    env.start_operator(&[]);
    let (writes, calls) = (fake.writes(), fake.all_calls());
    delete(&partners, "late").await;
    fixtures::wait_deleted(&partners, "late", CONVERGE).await;
    assert_eq!(fake.all_calls(), calls, "standalone mode called PMS");
    assert_eq!(fake.writes(), writes);
    assert!(!fake.state.lock().unwrap().partners["late"].deactivated);
    assert!(env.operator_log().contains("released without contacting PMS"));
    // And standalone mode adds no finalizer.
    env.apply(&partners, &fixtures::partner("plain", PartnerType::MispPartner, "Plain Org")).await;
    let plain = fixtures::wait_partner(&env, "plain", READY, "False").await;
    assert!(plain.metadata.finalizers.unwrap_or_default().is_empty());
    env.assert_log_clean();
}

/// Per PMS source (1.2.2/1.3 line, `updateAPIKeyStatus`) a key already inactive answers
/// PMS_PMS_022 and a key of an inactive partner PMS_PMP_016: a deletion whose partner PATCH
/// failed after the keys were deactivated, and one of a partner deactivated in the PMS portal,
/// still complete instead of holding the finalizer forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_completes_after_a_failed_partner_patch_and_a_portal_deactivation() {
    let fake = FakeMosip::start().await;
    let mut env = TestEnv::new("mosip-delete-retry").await;
    credentials(&env).await;
    let args = mosip_args(&fake);
    env.start_operator(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let ca = fixtures::trust(&env, PartnerDomain::Auth).await;
    let policies: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&policies, &fixtures::auth_policy(&env, "auth", "grp", ApprovalMode::Automatic)).await;
    let pol = env.cluster_name("auth");
    wait_synced(&policies, &pol, "True", Some("Published")).await;
    let partners: Api<Partner> = env.api();
    for (name, org) in [("retry", "Retry Org"), ("portal", "Portal Org")] {
        fixtures::cert_secret(&env, name, &ca, org).await;
        let mut p = fixtures::partner(name, PartnerType::AuthPartner, org);
        p.spec.policy_group = Some("grp".into());
        p.spec.contact.as_mut().unwrap().email = Some(format!("ops@{name}.example.org"));
        p.spec.policies = vec![fixtures::request(&pol, &["main"])];
        env.apply(&partners, &p).await;
    }
    for name in ["retry", "portal"] {
        wait_finalizer(&partners, name).await;
        eventually(CONVERGE, &format!("{name}'s key stored"), || {
            let partners = partners.clone();
            async move {
                let p = partners.get(name).await.map_err(|e| e.to_string())?;
                let m = p.status.and_then(|s| s.mosip).unwrap_or_default();
                let stored = m.requests.iter().flat_map(|r| r.api_keys.iter()).any(|k| k.stored);
                if stored { Ok(()) } else { Err(format!("{m:?}")) }
            }
        })
        .await;
    }
    assert_eq!((fake.calls(KEY_STATUS), fake.calls(PATCH_PARTNER)), (0, 0));

    // The partner's PATCH fails once (503) after its key was deactivated: the retry's key
    // De-Active answers PMS_PMS_022, which is done, and the partner is deactivated.
    fake.fail_next(PATCH_PARTNER, 1);
    delete(&partners, "retry").await;
    fixtures::wait_deleted(&partners, "retry", Duration::from_secs(120)).await;
    assert_eq!((fake.calls(KEY_STATUS), fake.calls(PATCH_PARTNER)), (2, 2), "{:?}", fake.all_calls());
    {
        let s = fake.state.lock().unwrap();
        assert!(!s.partners["retry"].active && s.partners["retry"].deactivated);
        assert!(s.api_keys.iter().filter(|k| k.partner_id == "retry").all(|k| !k.active));
    }

    // Deactivated in the PMS portal meanwhile: the key answers PMS_PMP_016 (done), the partner
    // is read as inactive (no PATCH), and the Partner is released.
    {
        let mut s = fake.state.lock().unwrap();
        let p = s.partners.get_mut("portal").unwrap();
        p.active = false;
        p.deactivated = true;
    }
    delete(&partners, "portal").await;
    fixtures::wait_deleted(&partners, "portal", Duration::from_secs(120)).await;
    assert_eq!((fake.calls(KEY_STATUS), fake.calls(PATCH_PARTNER)), (3, 2), "{:?}", fake.all_calls());
    env.assert_log_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pms_outage_during_deletion_keeps_the_finalizer_until_pms_answers() {
    let fake = FakeMosip::start().await;
    let mut env = TestEnv::new("mosip-delete-outage").await;
    credentials(&env).await;
    let args = mosip_args(&fake);
    env.start_operator(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let ca = fixtures::trust(&env, PartnerDomain::Misp).await;
    let partners: Api<Partner> = env.api();

    // A partner that never reaches PMS (its partnerId is refused before any PMS call) has the
    // finalizer too and is released at once.
    let mut never = fixtures::partner("never", PartnerType::MispPartner, "Never Org");
    never.spec.partner_id = Some("Never-Upper".into());
    env.apply(&partners, &never).await;
    wait_synced(&partners, "never", "False", None).await;
    wait_finalizer(&partners, "never").await;
    let calls = fake.all_calls();
    delete(&partners, "never").await;
    fixtures::wait_deleted(&partners, "never", CONVERGE).await;
    assert_eq!(fake.all_calls(), calls, "releasing a partner PMS never saw called PMS");

    // A MISP partner active in PMS (certificate uploaded).
    fixtures::cert_secret(&env, "gone", &ca, "Gone Org").await;
    env.apply(&partners, &fixtures::partner("gone", PartnerType::MispPartner, "Gone Org")).await;
    let p = wait_synced(&partners, "gone", "True", Some("Synced")).await;
    assert!(p.status.unwrap().mosip.unwrap().uploaded_fingerprint_sha256.is_some());
    assert!(fake.state.lock().unwrap().partners["gone"].active);
    wait_finalizer(&partners, "gone").await;

    // PMS down while it is deleted: the finalizer stays, the condition says why.
    fake.set_outage(true);
    delete(&partners, "gone").await;
    let held = wait_synced(&partners, "gone", "False", Some("MosipUnavailable")).await;
    assert!(held.metadata.deletion_timestamp.is_some());
    assert!(held.metadata.finalizers.unwrap_or_default().iter().any(|f| f == FINALIZER));
    let msg = find(&held.status.unwrap().conditions, MOSIP_SYNCED).unwrap().message.clone();
    assert!(msg.contains("deletion waits") && msg.contains(FINALIZER), "{msg}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(partners.get_opt("gone").await.unwrap().is_some(), "released while PMS was down");
    assert!(!fake.state.lock().unwrap().partners["gone"].deactivated);
    assert_eq!(fake.calls(PATCH_PARTNER), 0, "reads come before writes");

    // PMS back: deactivated once, then released.
    fake.set_outage(false);
    fixtures::wait_deleted(&partners, "gone", Duration::from_secs(120)).await;
    assert!(fake.state.lock().unwrap().partners["gone"].deactivated);
    assert_eq!(fake.calls(PATCH_PARTNER), 1, "{:?}", fake.all_calls());
    env.assert_log_clean();
}
