//! The `mosip` backend through the running operator (real API server + the fake PMS of
//! fake_pms.rs, a contract model, not PMS itself): cache-first exports that follow a late
//! opt-in, an outage that hits one partner and heals without duplicate minting, an orphaned key
//! deactivated end to end, and an upper-case partnerId stopped before PMS (issue #12).

use crate::common::{CONVERGE, TEST_LABEL, TestEnv, eventually};
use crate::fake_pms::FakeMosip;
use crate::fixtures;
use crate::mosip_mode::{credentials, mosip_args, wait_synced};
use crate::scale::{api_requests_for as requests, operator_metric};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use mosip_partner_operator::api::*;
use mosip_partner_operator::mosip::api_key_secret_name;
use std::collections::BTreeMap;
use std::time::Duration;

fn start(env: &mut TestEnv, fake: &FakeMosip) {
    let args = mosip_args(fake);
    env.start_operator(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

/// An Auth policy (Automatic approval) and the trust for Auth certificates; returns the issuer
/// and the policy's name.
async fn auth_setup(env: &TestEnv) -> (crate::pki::Ca, String) {
    let ca = fixtures::trust(env, PartnerDomain::Auth).await;
    let policies: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&policies, &fixtures::auth_policy(env, "pol", "grp", ApprovalMode::Automatic)).await;
    let name = env.cluster_name("pol");
    wait_synced(&policies, &name, "True", Some("Published")).await;
    (ca, name)
}

fn auth_partner(name: &str, policy: &str, labels: &[&str]) -> Partner {
    let mut p = fixtures::partner(name, PartnerType::AuthPartner, "Org");
    p.spec.policy_group = Some("grp".into());
    p.spec.policies = vec![fixtures::request(policy, labels)];
    // PMS wants a unique email per partner (PMS_PRT_011).
    if let Some(c) = p.spec.contact.as_mut() {
        c.email = Some(format!("{name}@partner.example.org"));
    }
    p
}

/// Waits until every key of `name` is stored (status) and MosipSynced=True; returns the Partner.
async fn wait_keys_stored(api: &Api<Partner>, name: &str, want: usize, timeout: Duration) -> Partner {
    eventually(timeout, &format!("{name}: {want} keys stored and MosipSynced=True"), || {
        let api = api.clone();
        let name = name.to_string();
        async move {
            let p = api.get(&name).await.map_err(|e| e.to_string())?;
            let st = p.status.clone().unwrap_or_default();
            let synced = is_true(&st.conditions, MOSIP_SYNCED);
            let m = st.mosip.clone().unwrap_or_default();
            let stored =
                m.requests.iter().flat_map(|r| r.api_keys.iter()).filter(|k| k.stored && !k.deactivated).count();
            if synced && stored == want {
                Ok(p)
            } else {
                Err(format!("stored {stored}, {:?}", find(&st.conditions, MOSIP_SYNCED)))
            }
        }
    })
    .await
}

fn condition(p: &Partner, type_: &str) -> Option<Condition> {
    find(&p.status.as_ref()?.conditions, type_).cloned()
}

/// The value under `key` of the consumer copy `name`; an error while it is missing.
pub(crate) async fn copy_value(copies: &Api<Secret>, name: &str, key: &str) -> Result<String, String> {
    let s = copies.get_opt(name).await.map_err(|e| e.to_string())?.ok_or("no copy")?;
    let v = s.data.unwrap_or_default().get(key).map(|v| String::from_utf8_lossy(&v.0).into_owned());
    v.ok_or_else(|| "no key in the copy".to_string())
}

/// No namespace is being deleted (the namespace controller's requests would be counted).
async fn wait_no_terminating_namespace(env: &TestEnv) {
    eventually(Duration::from_secs(120), "no namespace terminating", || async move {
        let all =
            Api::<Namespace>::all(env.client.clone()).list(&Default::default()).await.map_err(|e| e.to_string())?;
        let terminating: Vec<String> = all
            .items
            .iter()
            .filter(|n| n.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating"))
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        if terminating.is_empty() { Ok(()) } else { Err(format!("{terminating:?}")) }
    })
    .await;
}

/// Exports are cache-first: a namespace that opts in later gets the copy at once (watch-driven,
/// not the hourly requeue); idle reconciles of a Partner with an export issue no Secret or
/// Namespace read and no write; a copy deleted by someone is written again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_are_cache_first_and_follow_a_late_opt_in() {
    let fake = FakeMosip::start().await;
    let mut env = TestEnv::alone("mosip-exports").await;
    credentials(&env).await;
    // The operator watches only env.ns; the target's copies are watched by --export-namespaces.
    // It runs as a user that may list and watch Namespaces but never get one: any Namespace
    // read outside the store is a 403 (and "forbidden" in its log).
    let target = format!("{}-esignet", env.ns);
    let kubeconfig = no_namespace_get_identity(&env).await;
    let mut args = env.operator_args();
    args.extend(mosip_args(&fake));
    args.extend(["--export-namespaces".to_string(), target.clone()]);
    env.start_operator_with(&args, &kubeconfig.path().join("kubeconfig"));
    let (ca, policy) = auth_setup(&env).await;

    // The target namespace exists but has not opted in.
    let namespaces: Api<Namespace> = Api::all(env.client.clone());
    let mut ns = Namespace::default();
    ns.metadata.name = Some(target.clone());
    ns.metadata.labels = Some(BTreeMap::from([(TEST_LABEL.to_string(), env.ns.clone())]));
    namespaces.create(&PostParams::default(), &ns).await.unwrap();

    fixtures::cert_secret(&env, "rp", &ca, "Org").await;
    let mut p = auth_partner("rp", &policy, &["main"]);
    p.spec.policies[0].api_keys[0].exports =
        vec![Export { namespace: target.clone(), secret_name: "rp-api-key".into(), key: "partner-api-key".into() }];
    let partners: Api<Partner> = env.api();
    env.apply(&partners, &p).await;
    wait_keys_stored(&partners, "rp", 1, CONVERGE).await;
    eventually(CONVERGE, "ExportNotAllowed=True NotOptedIn", || {
        let partners = partners.clone();
        async move {
            let p = partners.get("rp").await.map_err(|e| e.to_string())?;
            match condition(&p, EXPORT_NOT_ALLOWED) {
                Some(c)
                    if c.status == "True" && c.reason == "NotOptedIn" && c.message.contains(ACCEPT_EXPORTS_LABEL) =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    let copies: Api<Secret> = Api::namespaced(env.client.clone(), &target);
    assert!(copies.get_opt("rp-api-key").await.unwrap().is_none(), "nothing written before the opt-in");

    // The namespace opts in later: the copy lands well before any periodic requeue (1 h).
    let label = serde_json::json!({"metadata": {"labels": {ACCEPT_EXPORTS_LABEL: env.ns}}});
    namespaces.patch(&target, &PatchParams::default(), &Patch::Merge(&label)).await.unwrap();
    let key = env.secret_value(&api_key_secret_name("rp", &policy, "main"), "apiKey").await.expect("key");
    let read_copy = || copy_value(&copies, "rp-api-key", "partner-api-key");
    let copied = eventually(CONVERGE, "the copy after the opt-in", read_copy).await;
    assert_eq!(copied, key, "the copy holds the key PMS minted");
    eventually(CONVERGE, "ExportNotAllowed=False", || {
        let partners = partners.clone();
        async move {
            let p = partners.get("rp").await.map_err(|e| e.to_string())?;
            match condition(&p, EXPORT_NOT_ALLOWED) {
                Some(c) if c.status == "False" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;

    // Idle: reconciles of the Partner (forced by touching its metadata) read and write no
    // Secret (counted by the API server). Namespace GETs cannot be counted here
    // (kube-controller-manager's namespace controller GETs namespaces on its own); the
    // operator's identity cannot GET them at all.
    // The control plane's own controllers settle first (service accounts and their token
    // Secrets of the new namespaces, namespace deletions): their requests would be counted.
    wait_no_terminating_namespace(&env).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let resources = ["secrets"];
    let before = requests(&env, &resources);
    let reconciles = |m: String| operator_metric(&m, "mosip_partner_reconciles_total{kind=\"Partner\"}");
    let start_count = reconciles(env.metrics().await);
    for i in 0..3 {
        let touch = serde_json::json!({"metadata": {"annotations": {"test.mosip.io/touch": i.to_string()}}});
        partners.patch("rp", &PatchParams::default(), &Patch::Merge(&touch)).await.unwrap();
        let want = start_count + f64::from(i + 1);
        eventually(CONVERGE, "a reconcile after the touch", || {
            let env = &env;
            async move {
                let n = reconciles(env.metrics().await);
                if n >= want { Ok(()) } else { Err(format!("{n} reconciles, want {want}")) }
            }
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = requests(&env, &resources);
    let delta: BTreeMap<_, _> = after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v > 0.0)
        .collect();
    let bad: Vec<_> = delta.iter().filter(|((verb, _), _)| verb != "WATCH" && verb != "LIST").collect();
    assert!(bad.is_empty(), "idle reconciles of a Partner with an export made Secret calls: {bad:?}");

    // Someone deletes the copy: it is written again (watch-driven).
    copies.delete("rp-api-key", &DeleteParams::default()).await.unwrap();
    let again = eventually(CONVERGE, "the copy written again", read_copy).await;
    assert_eq!(again, key);
    env.assert_log_clean();
    let _ = namespaces.delete(&target, &DeleteParams::default()).await;
    let name = format!("{}-operator", env.ns);
    let _ = Api::<ClusterRoleBinding>::all(env.client.clone()).delete(&name, &DeleteParams::default()).await;
    let _ = Api::<ClusterRole>::all(env.client.clone()).delete(&name, &DeleteParams::default()).await;
}

/// A kubeconfig that impersonates a user allowed everything the operator does in this test,
/// but only list and watch on Namespaces (RBAC cannot subtract, so the rules are spelled out).
async fn no_namespace_get_identity(env: &TestEnv) -> tempfile::TempDir {
    let name = format!("{}-operator", env.ns);
    let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| PolicyRule {
        api_groups: Some(groups.iter().map(|s| s.to_string()).collect()),
        resources: Some(resources.iter().map(|s| s.to_string()).collect()),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let role = ClusterRole {
        metadata: kube::api::ObjectMeta { name: Some(name.clone()), labels: Some(env.labels()), ..Default::default() },
        rules: Some(vec![
            rule(&["pms.mosip.io"], &["*"], &["*"]),
            rule(&[""], &["secrets", "events"], &["*"]),
            rule(&["events.k8s.io"], &["events"], &["*"]),
            rule(&[""], &["namespaces"], &["list", "watch"]),
        ]),
        ..Default::default()
    };
    Api::<ClusterRole>::all(env.client.clone()).create(&PostParams::default(), &role).await.unwrap();
    let binding = ClusterRoleBinding {
        metadata: kube::api::ObjectMeta { name: Some(name.clone()), labels: Some(env.labels()), ..Default::default() },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: name.clone(),
        },
        subjects: Some(vec![Subject {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "User".into(),
            name: name.clone(),
            ..Default::default()
        }]),
    };
    Api::<ClusterRoleBinding>::all(env.client.clone()).create(&PostParams::default(), &binding).await.unwrap();
    let mut kc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(crate::common::kubeconfig()).expect("read")).expect("yaml");
    if let Some(users) = kc.get_mut("users").and_then(|u| u.as_sequence_mut()) {
        for u in users {
            u["user"]["as"] = serde_yaml::Value::String(name.clone());
        }
    }
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("kubeconfig"), serde_yaml::to_string(&kc).expect("yaml")).expect("write");
    // The identity may list namespaces but not get one.
    let can = |verb: &str| {
        let out = env.kubectl(&["auth", "can-i", verb, "namespaces", "--as", &name]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!((can("list").as_str(), can("get").as_str()), ("yes", "no"));
    dir
}

/// A PMS outage for one partner: that Partner gets MosipSynced=False MosipUnavailable with a
/// useful message while another onboards; it heals by itself; then PMS refuses connections
/// while a new key is wanted, and heals again. PMS minted exactly one key per label.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_hits_only_its_partner_heals_by_itself_and_mints_once() {
    let mut fake = FakeMosip::start().await;
    let mut env = TestEnv::new("mosip-outage").await;
    credentials(&env).await;
    start(&mut env, &fake);
    let (ca, policy) = auth_setup(&env).await;
    fixtures::cert_secret(&env, "rp-down", &ca, "Org").await;
    fixtures::cert_secret(&env, "rp-up", &ca, "Org").await;
    fake.set_unavailable_for("rp-down", true);
    let partners: Api<Partner> = env.api();
    env.apply(&partners, &auth_partner("rp-down", &policy, &["main"])).await;
    env.apply(&partners, &auth_partner("rp-up", &policy, &["main"])).await;

    // The other partner onboards while rp-down's PMS calls fail.
    wait_keys_stored(&partners, "rp-up", 1, CONVERGE).await;
    let down = wait_synced(&partners, "rp-down", "False", Some("MosipUnavailable")).await;
    let c = condition(&down, MOSIP_SYNCED).unwrap();
    assert!(c.message.contains("503") && c.message.contains("retried"), "a useful message: {}", c.message);
    assert_eq!(condition(&down, READY).map(|c| c.reason), Some("MosipUnavailable".to_string()));
    assert!(!fake.state.lock().unwrap().partners.contains_key("rp-down"));

    // PMS is back for it: it heals without any change of the object (back-off retries).
    fake.set_unavailable_for("rp-down", false);
    wait_keys_stored(&partners, "rp-down", 1, Duration::from_secs(90)).await;

    // The whole PMS refuses connections while rp-up wants a second key.
    fake.stop();
    let mut up = auth_partner("rp-up", &policy, &["main", "second"]);
    up.metadata.resource_version = None;
    env.apply(&partners, &up).await;
    wait_synced(&partners, "rp-up", "False", Some("MosipUnavailable")).await;
    fake.restart().await;
    wait_keys_stored(&partners, "rp-up", 2, Duration::from_secs(90)).await;

    // One key per label in PMS, each in its Secret; nothing minted twice.
    let keys = fake.state.lock().unwrap().api_keys.clone();
    let active: Vec<_> = keys.iter().filter(|k| k.active).collect();
    assert_eq!(active.len(), 3, "{keys:?}");
    assert_eq!(keys.len(), 3, "no duplicate minting: {keys:?}");
    assert_eq!(fake.calls("PATCH /partners/{partnerId}/generate/apikey"), 3);
    for (name, label) in [("rp-down", "main"), ("rp-up", "main"), ("rp-up", "second")] {
        let v = env.secret_value(&api_key_secret_name(name, &policy, label), "apiKey").await.expect("key");
        assert!(active.iter().any(|k| k.key == v && k.partner_id == name), "{name}/{label} holds PMS's key");
    }
    env.assert_log_clean();
}

/// PMS mints a key but the answer is lost (500 after the commit): the next pass deactivates the
/// orphan in PMS, records it in status.mosip.orphanedKeys and mints under the next label;
/// exactly one key is active in PMS, the one in the Secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_pms_minted_but_never_stored_is_deactivated_and_recorded() {
    let fake = FakeMosip::start().await;
    let mut env = TestEnv::new("mosip-orphan").await;
    credentials(&env).await;
    start(&mut env, &fake);
    let (ca, policy) = auth_setup(&env).await;
    fixtures::cert_secret(&env, "rp", &ca, "Org").await;
    fake.mint_then_fail(1);
    let partners: Api<Partner> = env.api();
    env.apply(&partners, &auth_partner("rp", &policy, &["main"])).await;

    let p = wait_keys_stored(&partners, "rp", 1, Duration::from_secs(60)).await;
    let m = p.status.unwrap().mosip.unwrap();
    assert_eq!(m.orphaned_keys.len(), 1, "{:?}", m.orphaned_keys);
    let orphan = &m.orphaned_keys[0];
    assert!(orphan.deactivated, "{orphan:?}");
    let stored = m.requests[0].api_keys.iter().find(|k| k.stored && !k.deactivated).unwrap();
    assert_eq!(stored.attempt, 1);
    assert_ne!(stored.pms_label, orphan.pms_label);

    let keys: Vec<_> = fake.state.lock().unwrap().api_keys.iter().filter(|k| k.partner_id == "rp").cloned().collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let active: Vec<_> = keys.iter().filter(|k| k.active).collect();
    assert_eq!(active.len(), 1, "exactly one active key: {keys:?}");
    assert_eq!(active[0].label, stored.pms_label);
    assert!(keys.iter().any(|k| !k.active && k.label == orphan.pms_label), "the orphan is De-Active in PMS");
    let secret = env.secret_value(&api_key_secret_name("rp", &policy, "main"), "apiKey").await.unwrap();
    assert_eq!(secret, active[0].key);
    assert_eq!(fake.calls("PATCH /partners/{partnerId}/generate/apikey"), 2);
    env.assert_log_clean();
}

/// An upper-case partnerId in mosip mode: the condition PartnerIdNotLowercase (and an Event),
/// and no PMS call for it; a lower-case sibling is registered meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upper_case_partner_id_is_stopped_before_pms() {
    let fake = FakeMosip::start().await;
    let mut env = TestEnv::new("mosip-upper").await;
    credentials(&env).await;
    start(&mut env, &fake);
    let partners: Api<Partner> = env.api();
    let mut upper = fixtures::partner("rp-upper", PartnerType::AuthPartner, "Org");
    upper.spec.partner_id = Some("RP-Upper".into());
    upper.spec.policy_group = Some("grp".into());
    env.apply(&partners, &upper).await;
    // A type that needs no policy group in PMS, and its own email (PMS_PRT_011).
    let mut ok = fixtures::partner("rp-lower", PartnerType::DeviceProvider, "Org");
    if let Some(c) = ok.spec.contact.as_mut() {
        c.email = Some("lower@partner.example.org".into());
    }
    env.apply(&partners, &ok).await;

    let p = wait_synced(&partners, "rp-upper", "False", Some("PartnerIdNotLowercase")).await;
    let c = condition(&p, MOSIP_SYNCED).unwrap();
    assert!(c.message.contains("RP-Upper") && c.message.to_lowercase().contains("keycloak"), "{}", c.message);
    assert_eq!(condition(&p, READY).map(|c| c.reason), Some("PartnerIdNotLowercase".to_string()));
    wait_synced(&partners, "rp-lower", "True", Some("Synced")).await;
    eventually(CONVERGE, "an Event PartnerIdNotLowercase", || {
        let events: Api<k8s_openapi::api::core::v1::Event> = env.api();
        async move {
            let list = events.list(&Default::default()).await.map_err(|e| e.to_string())?;
            let found = list.items.iter().any(|e| {
                e.involved_object.name.as_deref() == Some("rp-upper")
                    && e.reason.as_deref() == Some("PartnerIdNotLowercase")
            });
            if found { Ok(()) } else { Err(format!("{} events, none for rp-upper", list.items.len())) }
        }
    })
    .await;
    let st = fake.state.lock().unwrap();
    assert!(st.partners.contains_key("rp-lower"), "PMS is reachable: the sibling registered");
    assert!(!st.partners.keys().any(|k| k.eq_ignore_ascii_case("RP-Upper")), "no registration of RP-Upper");
    assert!(!st.users.iter().any(|u| u.username.eq_ignore_ascii_case("RP-Upper")), "no Keycloak user for it");
    drop(st);
    env.assert_log_clean();
}

/// The eSignet case: a MispLicense exports its licence into a namespace outside `--namespaces`
/// that opts in later with the `*` annotation; the copy lands without any change of the
/// MispLicense, a re-reconcile leaves it alone, and deactivation removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_licence_export_follows_a_late_annotation_opt_in() {
    use mosip_partner_operator::mosip::license_secret_name;
    let fake = FakeMosip::start().await;
    let mut env = TestEnv::new("mosip-lic-export").await;
    credentials(&env).await;
    let target = format!("{}-esignet", env.ns);
    let mut args = mosip_args(&fake);
    args.extend(["--export-namespaces".to_string(), target.clone()]);
    env.start_operator(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let ca = fixtures::trust(&env, PartnerDomain::Misp).await;
    let policies: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&policies, &fixtures::misp_policy(&env, "misp", "misp-grp")).await;
    let policy = env.cluster_name("misp");
    wait_synced(&policies, &policy, "True", Some("Published")).await;
    let namespaces: Api<Namespace> = Api::all(env.client.clone());
    let mut ns = Namespace::default();
    ns.metadata.name = Some(target.clone());
    ns.metadata.labels = Some(BTreeMap::from([(TEST_LABEL.to_string(), env.ns.clone())]));
    namespaces.create(&PostParams::default(), &ns).await.unwrap();

    fixtures::cert_secret(&env, "misp", &ca, "MISP Org").await;
    let mut misp = fixtures::partner("misp", PartnerType::MispPartner, "MISP Org");
    misp.spec.policy_group = Some("misp-grp".into());
    misp.spec.policies = vec![fixtures::request(&policy, &[])];
    let partners: Api<Partner> = env.api();
    env.apply(&partners, &misp).await;
    let licenses: Api<MispLicense> = env.api();
    let lic = MispLicense {
        metadata: kube::api::ObjectMeta { name: Some("lic".into()), ..Default::default() },
        spec: MispLicenseSpec {
            partner_name: "misp".into(),
            policy_name: Some(policy.clone()),
            validity: None,
            active: None,
            exports: vec![Export {
                namespace: target.clone(),
                secret_name: "esignet-misp-onboarder-key".into(),
                key: "mosip-esignet-misp-key".into(),
            }],
        },
        status: None,
    };
    env.apply(&licenses, &lic).await;
    let licence = eventually(Duration::from_secs(60), "licence stored", || {
        let env = &env;
        async move { env.secret_value(&license_secret_name("lic"), "licenseKey").await.ok_or("none".to_string()) }
    })
    .await;
    let export_condition = |status: &'static str| {
        let licenses = licenses.clone();
        async move {
            eventually(CONVERGE, &format!("ExportNotAllowed={status}"), || {
                let licenses = licenses.clone();
                async move {
                    let l = licenses.get("lic").await.map_err(|e| e.to_string())?;
                    let st = l.status.unwrap_or_default();
                    match find(&st.conditions, EXPORT_NOT_ALLOWED) {
                        Some(c) if c.status == status => Ok(()),
                        other => Err(format!("{other:?}")),
                    }
                }
            })
            .await
        }
    };
    export_condition("True").await;
    let copies: Api<Secret> = Api::namespaced(env.client.clone(), &target);
    assert!(copies.get_opt("esignet-misp-onboarder-key").await.unwrap().is_none());

    // eSignet's namespace accepts copies from anywhere (annotation: `*` is no label value).
    let annotate = serde_json::json!({"metadata": {"annotations": {ACCEPT_EXPORTS_LABEL: "*"}}});
    namespaces.patch(&target, &PatchParams::default(), &Patch::Merge(&annotate)).await.unwrap();
    let copy = eventually(CONVERGE, "the licence copy after the opt-in", || {
        let copies = copies.clone();
        async move {
            let s = copies.get_opt("esignet-misp-onboarder-key").await.map_err(|e| e.to_string())?.ok_or("none")?;
            let v = s.data.unwrap_or_default().get("mosip-esignet-misp-key").map(|v| v.0.clone());
            v.map(|v| String::from_utf8_lossy(&v).into_owned()).ok_or_else(|| "no key".to_string())
        }
    })
    .await;
    assert_eq!(copy, licence, "the copy holds PMS's licence");
    export_condition("False").await;
    let written = copies.get("esignet-misp-onboarder-key").await.unwrap().metadata.resource_version;

    // Re-reconciles (forced by touching the MispLicense) leave the copy alone.
    for i in 0..2 {
        let touch = serde_json::json!({"metadata": {"annotations": {"test.mosip.io/touch": i.to_string()}}});
        licenses.patch("lic", &PatchParams::default(), &Patch::Merge(&touch)).await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let after = copies.get("esignet-misp-onboarder-key").await.unwrap().metadata.resource_version;
    assert_eq!(after, written, "an idle reconcile rewrote the copy");
    assert_eq!(fake.state.lock().unwrap().licenses.len(), 1, "one licence in PMS");

    // A copy the API server refuses (an invalid data key): ExportFailed with its reason,
    // retried with back-off; the valid copy stays.
    let bad = serde_json::json!({"spec": {"exports": [
        {"namespace": target, "secretName": "esignet-misp-onboarder-key", "key": "mosip-esignet-misp-key"},
        {"namespace": target, "secretName": "other-copy", "key": "bad/key"},
    ]}});
    licenses.patch("lic", &PatchParams::default(), &Patch::Merge(&bad)).await.unwrap();
    eventually(CONVERGE, "ExportNotAllowed=True ExportFailed", || {
        let licenses = licenses.clone();
        async move {
            let l = licenses.get("lic").await.map_err(|e| e.to_string())?;
            let st = l.status.unwrap_or_default();
            match find(&st.conditions, EXPORT_NOT_ALLOWED) {
                Some(c) if c.status == "True" && c.reason == "ExportFailed" && c.message.contains("bad/key") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    assert!(copies.get_opt("esignet-misp-onboarder-key").await.unwrap().is_some());
    assert!(copies.get_opt("other-copy").await.unwrap().is_none());

    // Deactivated: the licence goes De-Active in PMS and the copy the operator created goes.
    let off = serde_json::json!({"spec": {"active": false}});
    licenses.patch("lic", &PatchParams::default(), &Patch::Merge(&off)).await.unwrap();
    eventually(CONVERGE, "the copy removed after deactivation", || {
        let copies = copies.clone();
        async move {
            match copies.get_opt("esignet-misp-onboarder-key").await.map_err(|e| e.to_string())? {
                None => Ok(()),
                Some(_) => Err("still there".to_string()),
            }
        }
    })
    .await;
    assert!(fake.state.lock().unwrap().licenses.iter().all(|l| !l.active));
    env.assert_log_clean();
    let _ = namespaces.delete(&target, &DeleteParams::default()).await;
}
