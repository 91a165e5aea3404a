//! Tenant safety between editors (issue #10, findings 2, 3, 5, 6, 7, 8, 9): each test is run
//! by real RBAC identities — alice and bob, each `mosip-partner-editor` of their own namespace,
//! and an approver bound to `mosip-partner-admin` — against the real API server, and each fails
//! on the code before the fix.

use crate::common::{self, CONVERGE, TestEnv, eventually};
use crate::fixtures::*;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams};
use kube::{Client, ResourceExt};
use mosip_partner_operator::api::*;

/// Binds `user` to `role` in the test namespace and returns a client acting as `user`.
pub async fn as_user(env: &TestEnv, user: &str, role: &str) -> Client {
    let roles = common::repo_root().join("deploy/roles.yaml");
    let out = env.kubectl(&["apply", "--server-side", "--force-conflicts", "-f", roles.to_str().expect("path")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rb: Api<RoleBinding> = env.api();
    let b = RoleBinding {
        metadata: ObjectMeta { name: Some(format!("{user}-{role}")), ..Default::default() },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: role.into(),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            name: user.into(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            namespace: None,
        }]),
    };
    env.apply(&rb, &b).await;
    common::client_as(user, &[]).await
}

pub async fn editor_apply<K>(client: &Client, ns: &str, obj: &K) -> K
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + serde::Serialize
        + serde::de::DeserializeOwned
        + Clone
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let name = obj.meta().name.clone().expect("name");
    api.patch(&name, &PatchParams::apply("editor").force(), &Patch::Apply(obj)).await.expect("editor applies")
}

pub async fn editor_cert(client: &Client, env: &TestEnv, partner: &str, issuer: &crate::pki::Ca, org: &str) {
    let mut s = Secret::default();
    s.metadata.name = Some(format!("{partner}-cert"));
    s.string_data = Some([("tls.crt".to_string(), crate::pki::leaf(issuer, partner, org))].into());
    editor_apply(client, &env.ns, &s).await;
}

pub fn auth_partner_for(env: &TestEnv, name: &str, id: &str, policy: &str) -> Partner {
    let mut p = partner(name, PartnerType::AuthPartner, "Auth Org");
    p.spec.partner_id = Some(id.into());
    p.spec.policy_group = Some("grp".into());
    p.spec.policies = vec![request(&env.cluster_name(policy), &["k"])];
    p
}

pub fn first_key_secret(p: &Partner) -> String {
    p.status.as_ref().expect("status").policies[0].api_keys[0].secret_name.clone().expect("secret")
}

/// alice, an editor of the namespace, onboards the MISP partner `misp` with a request for the
/// (Automatic) MISP policy `misp`; returns her client and the policy's name.
pub async fn editor_misp_partner(env: &TestEnv) -> (Client, String) {
    let alice = as_user(env, &format!("alice-{}", env.ns), "mosip-partner-editor").await;
    let int = trust(env, PartnerDomain::Misp).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&papi, &misp_policy(env, "misp", "misp-grp")).await;
    wait_policy_ready(env, "misp").await;
    let policy = env.cluster_name("misp");
    editor_cert(&alice, env, "misp", &int, "MISP Org").await;
    let mut misp = partner("misp", PartnerType::MispPartner, "MISP Org");
    misp.spec.policy_group = Some("misp-grp".into());
    misp.spec.policies = vec![request(&policy, &[])];
    editor_apply(&alice, &env.ns, &misp).await;
    wait_partner(env, "misp", READY, "True").await;
    (alice, policy)
}

/// Finding 2: an older Partner of another namespace that switches its partnerId to one
/// registered by bob's Partner does not take it. Before the fix the oldest object won: bob's
/// keys were withdrawn and alice's Secrets carried bob's partnerId.
#[tokio::test]
async fn an_editor_cannot_take_another_namespaces_partner_id() {
    let mut alice_env = TestEnv::new("theft-a").await;
    let bob_env = TestEnv::new("theft-b").await;
    let mut args = alice_env.operator_args();
    let i = args.iter().position(|a| a == "--namespaces").expect("flag") + 1;
    args[i] = format!("{},{}", alice_env.ns, bob_env.ns);
    alice_env.start_operator_with(&args, common::kubeconfig());
    let alice = as_user(&alice_env, &format!("alice-{}", alice_env.ns), "mosip-partner-editor").await;
    let bob = as_user(&bob_env, &format!("bob-{}", bob_env.ns), "mosip-partner-editor").await;
    let int = trust(&alice_env, PartnerDomain::Auth).await;
    let papi: Api<PartnerPolicy> = alice_env.cluster_api();
    env_policy(&alice_env, &papi).await;

    // alice's Partner is the older one.
    editor_cert(&alice, &alice_env, "thief", &int, "Auth Org").await;
    let thief_id = format!("thief-{}", alice_env.ns);
    let victim_id = format!("acme-{}", bob_env.ns);
    editor_apply(&alice, &alice_env.ns, &auth_partner_for(&alice_env, "thief", &thief_id, "auto")).await;
    let thief = wait_partner(&alice_env, "thief", READY, "True").await;
    let thief_secret = first_key_secret(&thief);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    editor_cert(&bob, &bob_env, "victim", &int, "Auth Org").await;
    editor_apply(&bob, &bob_env.ns, &auth_partner_for(&alice_env, "victim", &victim_id, "auto")).await;
    let victim = wait_partner(&bob_env, "victim", READY, "True").await;
    assert_eq!(victim.status.as_ref().and_then(|s| s.registered_partner_id.clone()), Some(victim_id.clone()));
    let victim_secret = first_key_secret(&victim);
    let victim_key = bob_env.secret_value(&victim_secret, "apiKey").await.expect("key");

    // alice switches her older Partner to bob's id. On 1.25+ the CEL rule refuses the write;
    // on servers without CEL the controller refuses it.
    let thief_api: Api<Partner> = Api::namespaced(alice.clone(), &alice_env.ns);
    let patch = serde_json::json!({"spec": {"partnerId": victim_id}});
    match thief_api.patch("thief", &PatchParams::default(), &Patch::Merge(&patch)).await {
        Err(kube::Error::Api(e)) if e.code == 422 => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => {
            let p = wait_partner_reason(&alice_env, "thief", STALLED, "True", Some("ImmutableFieldChanged")).await;
            assert_eq!(p.status.as_ref().and_then(|s| s.registered_partner_id.clone()), Some(thief_id.clone()));
        }
    }
    // bob's Partner keeps its id, its key and its Ready state, for good.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let victim = wait_partner(&bob_env, "victim", READY, "True").await;
    assert_eq!(victim.status.as_ref().and_then(|s| s.partner_id.clone()), Some(victim_id.clone()));
    assert_eq!(bob_env.secret_value(&victim_secret, "apiKey").await, Some(victim_key));
    assert_eq!(bob_env.secret_value(&victim_secret, "partnerId").await, Some(victim_id.clone()));
    // alice's Secrets never say bob's id.
    assert_ne!(alice_env.secret_value(&thief_secret, "partnerId").await, Some(victim_id.clone()));

    // A new Partner of alice's asking for bob's id is a duplicate; bob is unaffected.
    editor_cert(&alice, &alice_env, "late", &int, "Auth Org").await;
    editor_apply(&alice, &alice_env.ns, &auth_partner_for(&alice_env, "late", &victim_id, "auto")).await;
    wait_partner_reason(&alice_env, "late", STALLED, "True", Some("DuplicatePartnerId")).await;
    wait_partner(&bob_env, "victim", READY, "True").await;
    drop(bob_env);
}

pub async fn env_policy(env: &TestEnv, papi: &Api<PartnerPolicy>) {
    env.apply(papi, &auth_policy(env, "auto", "grp", ApprovalMode::Automatic)).await;
    wait_policy_ready(env, "auto").await;
}

pub fn misp_license(name: &str, partner: &str, policy: &str, validity: Option<&str>) -> MispLicense {
    MispLicense {
        metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
        spec: MispLicenseSpec {
            partner_name: partner.into(),
            policy_name: Some(policy.into()),
            validity: validity.map(String::from),
            active: None,
            exports: vec![],
        },
        status: None,
    }
}

pub async fn wait_license_reason(env: &TestEnv, name: &str, ready: &str, reason: Option<&str>) -> MispLicenseStatus {
    let api: Api<MispLicense> = env.api();
    eventually(CONVERGE, &format!("MispLicense {name} Ready={ready} {reason:?}"), || {
        let api = api.clone();
        async move {
            let l = api.get(name).await.map_err(|e| e.to_string())?;
            let st = l.status.unwrap_or_default();
            match st.conditions.iter().find(|c| c.type_ == READY) {
                Some(c) if c.status == ready && reason.is_none_or(|r| r == c.reason) => Ok(st),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await
}

/// Finding 3: a licence needs an approved request of that partner for that policy, its
/// validity is capped (`--max-license-validity`), and it is withdrawn when the partner goes.
/// Before the fix any MISP partner got a licence for any Ready MISP policy, for up to 100 years,
/// and kept it after the partner was deleted.
#[tokio::test]
async fn licences_need_an_approved_request_are_capped_and_withdrawn() {
    let mut env = TestEnv::new("lic-appr").await;
    env.start_operator(&[]);
    let alice = as_user(&env, &format!("alice-{}", env.ns), "mosip-partner-editor").await;
    let int = trust(&env, PartnerDomain::Misp).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    let mut manual = misp_policy(&env, "misp", "misp-grp");
    manual.spec.approval = Some(ApprovalMode::Manual);
    manual.spec.auto_approve = None;
    env.apply(&papi, &manual).await;
    wait_policy_ready(&env, "misp").await;
    let policy = env.cluster_name("misp");
    editor_cert(&alice, &env, "misp", &int, "MISP Org").await;
    let mut misp = partner("misp", PartnerType::MispPartner, "MISP Org");
    editor_apply(&alice, &env.ns, &misp).await;
    wait_partner(&env, "misp", READY, "True").await;

    // No request for the policy: no licence, whatever the editor writes.
    editor_apply(&alice, &env.ns, &misp_license("lic", "misp", &policy, Some("100y"))).await;
    let st = wait_license_reason(&env, "lic", "False", Some("NotApproved")).await;
    assert!(st.key_fingerprint.is_none());
    let secret = mosip_partner_operator::mosip::license_secret_name("lic");
    assert!(env.secret_value(&secret, "licenseKey").await.is_none());

    // Requested, not yet approved: still none.
    misp.spec.policy_group = Some("misp-grp".into());
    misp.spec.policies = vec![request(&policy, &[])];
    editor_apply(&alice, &env.ns, &misp).await;
    wait_partner_reason(&env, "misp", READY, "False", Some("PendingApproval")).await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    wait_license_reason(&env, "lic", "False", None).await;
    assert!(env.secret_value(&secret, "licenseKey").await.is_none());

    // Approved: issued, for at most a year.
    let out = env.cli(&["approve", "misp", "--policy", &policy, "-n", &env.ns]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let st = wait_license_reason(&env, "lic", "True", None).await;
    let until: jiff::Timestamp = st.valid_until.as_deref().expect("validUntil").parse().expect("time");
    let cap = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(365 * 24 + 1);
    assert!(until <= cap, "validity not capped: {until}");
    assert!(env.secret_value(&secret, "licenseKey").await.is_some());

    // Deleting the partner withdraws the licence.
    let api: Api<Partner> = env.api();
    api.delete("misp", &DeleteParams::default()).await.expect("delete");
    wait_key_withdrawn(&env, &secret, "licenseKey").await;
    wait_license_reason(&env, "lic", "False", None).await;
}

/// Finding 8: a licence validity not longer than the renew-before window is refused
/// (`InvalidValidity`), instead of renewing on every pass.
#[tokio::test]
async fn a_licence_shorter_than_the_renewal_window_is_refused() {
    let mut env = TestEnv::new("lic-loop").await;
    env.start_operator(&[]);
    let (alice, policy) = editor_misp_partner(&env).await;
    editor_apply(&alice, &env.ns, &misp_license("lic", "misp", &policy, Some("30s"))).await;
    let api: Api<MispLicense> = env.api();
    let st = eventually(CONVERGE, "InvalidValidity", || {
        let api = api.clone();
        async move {
            let l = api.get("lic").await.map_err(|e| e.to_string())?;
            let st = l.status.unwrap_or_default();
            let stalled =
                st.conditions.iter().any(|c| c.type_ == STALLED && c.status == "True" && c.reason == "InvalidValidity");
            if stalled { Ok(st) } else { Err(format!("{:?}", st.conditions)) }
        }
    })
    .await;
    assert!(st.key_fingerprint.is_none());
    // Nothing is written over and over.
    let secrets: Api<Secret> = env.api();
    let before = secrets.get_opt(&mosip_partner_operator::mosip::license_secret_name("lic")).await.expect("get");
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let after = secrets.get_opt(&mosip_partner_operator::mosip::license_secret_name("lic")).await.expect("get");
    assert_eq!(before.map(|s| s.resource_version()), after.map(|s| s.resource_version()));
}

/// Finding 5: an Approved condition without `decidedRequestHash` is no decision, and the CLI
/// pins the fingerprint the approver reviewed. Before the fix the hash-less approval held and
/// survived later changes of the request.
#[tokio::test]
async fn an_approval_without_the_fingerprint_is_no_decision() {
    let mut env = TestEnv::new("appr-hash").await;
    env.start_operator(&[]);
    let alice = as_user(&env, &format!("alice-{}", env.ns), "mosip-partner-editor").await;
    let admin = as_user(&env, &format!("approver-{}", env.ns), "mosip-partner-admin").await;
    let int = trust(&env, PartnerDomain::Auth).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&papi, &auth_policy(&env, "p", "grp", ApprovalMode::Manual)).await;
    wait_policy_ready(&env, "p").await;
    editor_cert(&alice, &env, "rp", &int, "Auth Org").await;
    let rp = auth_partner_for(&env, "rp", "rp", "p");
    editor_apply(&alice, &env.ns, &rp).await;
    wait_partner_reason(&env, "rp", READY, "False", Some("PendingApproval")).await;
    let policy = env.cluster_name("p");

    // The README's old recipe: Approved without the fingerprint.
    let decision = serde_json::json!({"apiVersion": "pms.mosip.io/v1alpha1", "kind": "Partner", "status": {"policies": [{
        "name": policy,
        "conditions": [{"type": "Approved", "status": "True", "reason": "Approver", "message": "looks fine",
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}]}]}});
    let aapi: Api<Partner> = Api::namespaced(admin, &env.ns);
    aapi.patch_status("rp", &PatchParams::apply("approver").force(), &Patch::Apply(&decision)).await.expect("admin");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let p = wait_partner_reason(&env, "rp", READY, "False", Some("PendingApproval")).await;
    let msg =
        p.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == READY)).expect("ready").message.clone();
    assert!(msg.contains("decidedRequestHash"), "{msg}");

    // The CLI prints what it decides and refuses a fingerprint that is not the current one.
    let out = env.cli(&["approve", "rp", "--policy", &policy, "-n", &env.ns, "--request-hash", "0000"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let hash = p.status.as_ref().expect("st").policies[0].request_hash.clone().expect("hash");
    let out = env.cli(&[
        "approve",
        "rp",
        "--policy",
        &policy,
        "-n",
        &env.ns,
        "--request-hash",
        &hash,
        "--reason",
        "Approver",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&hash) && stdout.contains("integration test"), "prints the request: {stdout}");
    wait_partner(&env, "rp", READY, "True").await;
}

/// Finding 6: a denial is remembered after the request leaves the spec and applies again when
/// it returns, even under an Automatic policy; Automatic approval only admits the namespaces
/// its selector names. Before the fix re-adding the request approved it automatically, and any
/// editor in any namespace could join any group.
#[tokio::test]
async fn a_denial_survives_removing_and_re_adding_the_request() {
    let mut env = TestEnv::new("deny-readd").await;
    env.start_operator(&[]);
    let alice = as_user(&env, &format!("alice-{}", env.ns), "mosip-partner-editor").await;
    let int = trust(&env, PartnerDomain::Auth).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    // Automatic, but only for namespaces labelled tier=sandbox; this one is not.
    let mut pol = auth_policy(&env, "auto", "grp", ApprovalMode::Automatic);
    pol.spec.auto_approve = Some(AutoApprove {
        namespace_selector: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
            match_labels: Some([("tier".to_string(), "sandbox".to_string())].into()),
            ..Default::default()
        }),
    });
    env.apply(&papi, &pol).await;
    wait_policy_ready(&env, "auto").await;
    let policy = env.cluster_name("auto");
    editor_cert(&alice, &env, "rp", &int, "Auth Org").await;
    let mut rp = auth_partner_for(&env, "rp", "rp", "auto");
    editor_apply(&alice, &env.ns, &rp).await;
    let p = wait_partner_reason(&env, "rp", READY, "False", Some("PendingApproval")).await;
    let msg =
        p.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == READY)).expect("r").message.clone();
    assert!(msg.contains("namespaceSelector"), "{msg}");
    // A second partner waits as well; it is never denied.
    editor_cert(&alice, &env, "rp2", &int, "Auth Org").await;
    editor_apply(&alice, &env.ns, &auth_partner_for(&env, "rp2", "rp2", "auto")).await;
    wait_partner_reason(&env, "rp2", READY, "False", Some("PendingApproval")).await;

    let out = env.cli(&["deny", "rp", "--policy", &policy, "-n", &env.ns, "--reason", "Approver"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_partner_reason(&env, "rp", STALLED, "True", Some("Denied")).await;

    // The namespace now qualifies for automatic approval; alice removes and re-adds the request.
    let out = env.kubectl(&["label", "namespace", &env.ns, "tier=sandbox"]);
    assert!(out.status.success());
    // The label alone (a watched Namespace, no change to the Partner) approves the waiting one,
    // long before any periodic re-check.
    wait_partner(&env, "rp2", READY, "True").await;
    let saved = rp.spec.policies.clone();
    rp.spec.policies.clear();
    editor_apply(&alice, &env.ns, &rp).await;
    wait_partner(&env, "rp", READY, "True").await;
    rp.spec.policies = saved;
    editor_apply(&alice, &env.ns, &rp).await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let p = wait_partner_reason(&env, "rp", STALLED, "True", Some("Denied")).await;
    assert!(p.status.as_ref().is_some_and(|s| s.denied_requests.iter().any(|d| d.policy == policy)));
    let secrets: Api<Secret> = env.api();
    let keys = secrets.list(&Default::default()).await.expect("list");
    let of_rp = |s: &&Secret| s.owner_references().iter().any(|o| o.name == "rp");
    assert!(
        keys.items.iter().filter(of_rp).all(|s| s.data.as_ref().is_none_or(|d| !d.contains_key("apiKey"))),
        "no key issued to rp"
    );
    assert!(
        keys.items.iter().any(|s| s.owner_references().iter().any(|o| o.name == "rp2")
            && s.data.as_ref().is_some_and(|d| d.contains_key("apiKey"))),
        "rp2, approved automatically, has its key"
    );
}

/// Finding 7: a Secret an editor pre-created under the name of an API-key Secret, owned by
/// their Partner and claiming validity until 9999, is not adopted: the operator records what
/// it issued (fingerprint, validity) in status and believes nothing else.
#[tokio::test]
async fn a_planted_secret_is_never_adopted() {
    let mut env = TestEnv::new("planted").await;
    env.start_operator(&[]);
    let alice = as_user(&env, &format!("alice-{}", env.ns), "mosip-partner-editor").await;
    let int = trust(&env, PartnerDomain::Auth).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&papi, &auth_policy(&env, "p", "grp", ApprovalMode::Manual)).await;
    wait_policy_ready(&env, "p").await;
    let policy = env.cluster_name("p");
    editor_cert(&alice, &env, "rp", &int, "Auth Org").await;
    let created = editor_apply(&alice, &env.ns, &auth_partner_for(&env, "rp", "rp", "p")).await;
    wait_partner_reason(&env, "rp", READY, "False", Some("PendingApproval")).await;

    // alice plants the key Secret before approval, owned by her Partner.
    let name = mosip_partner_operator::mosip::api_key_secret_name("rp", &policy, "k");
    let mut planted = Secret::default();
    planted.metadata.name = Some(name.clone());
    planted.metadata.owner_references = Some(vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
        api_version: "pms.mosip.io/v1alpha1".into(),
        kind: "Partner".into(),
        name: "rp".into(),
        uid: created.uid().expect("uid"),
        controller: Some(true),
        block_owner_deletion: None,
    }]);
    planted.metadata.labels = Some(
        [
            ("app.kubernetes.io/managed-by".to_string(), "mosip-partner-operator".to_string()),
            ("pms.mosip.io/partner".to_string(), "rp".to_string()),
        ]
        .into(),
    );
    planted.string_data = Some(
        [
            ("apiKey".to_string(), "planted-key-chosen-by-alice".to_string()),
            ("validUntil".to_string(), "9999-12-31T23:59:59Z".to_string()),
            ("partnerId".to_string(), "rp".to_string()),
        ]
        .into(),
    );
    editor_apply(&alice, &env.ns, &planted).await;

    let out = env.cli(&["approve", "rp", "--policy", &policy, "-n", &env.ns]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Either refused as foreign, or replaced by a key the operator minted and recorded.
    let api: Api<Partner> = env.api();
    let verdict = eventually(CONVERGE, "planted Secret judged", || {
        let api = api.clone();
        let env = &env;
        let name = name.clone();
        async move {
            let p = api.get("rp").await.map_err(|e| e.to_string())?;
            let st = p.status.clone().unwrap_or_default();
            let conflict =
                st.conditions.iter().any(|c| c.type_ == STALLED && c.status == "True" && c.reason == "SecretConflict");
            let key = env.secret_value(&name, "apiKey").await;
            let recorded = st.policies.first().and_then(|r| r.api_keys.first()).and_then(|k| k.key_fingerprint.clone());
            match (conflict, key, recorded) {
                (true, _, _) => Ok("conflict".to_string()),
                (false, Some(k), Some(fp)) if k != "planted-key-chosen-by-alice" => {
                    assert_eq!(mosip_partner_operator::mosip::key_fingerprint(&k), fp);
                    Ok("re-minted".to_string())
                }
                other => Err(format!("{other:?} {:?}", st.conditions)),
            }
        }
    })
    .await;
    // Never the planted key, never year 9999.
    assert_ne!(env.secret_value(&name, "apiKey").await.as_deref(), Some("planted-key-chosen-by-alice"), "{verdict}");
    let p = api.get("rp").await.expect("get");
    let recorded =
        p.status.and_then(|s| s.policies.first().and_then(|r| r.api_keys.first().and_then(|k| k.valid_until.clone())));
    assert!(recorded.is_none_or(|u| !u.starts_with("9999")));
}

/// Finding 9: MISP partners get no API keys; a policy named by a partner that may not request
/// policies does not block the policy's deletion.
#[tokio::test]
async fn misp_partners_get_no_api_keys_and_foreign_requests_do_not_pin_policies() {
    let mut env = TestEnv::new("misp-nokeys").await;
    env.start_operator(&[]);
    let alice = as_user(&env, &format!("alice-{}", env.ns), "mosip-partner-editor").await;
    let misp_int = trust(&env, PartnerDomain::Misp).await;
    let dev_int = trust(&env, PartnerDomain::Device).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&papi, &misp_policy(&env, "misp", "misp-grp")).await;
    env.apply(&papi, &auth_policy(&env, "auth", "grp", ApprovalMode::Automatic)).await;
    wait_policy_ready(&env, "misp").await;
    wait_policy_ready(&env, "auth").await;
    let misp_policy_name = env.cluster_name("misp");
    editor_cert(&alice, &env, "misp", &misp_int, "MISP Org").await;
    let mut misp = partner("misp", PartnerType::MispPartner, "MISP Org");
    misp.spec.policy_group = Some("misp-grp".into());
    misp.spec.policies = vec![request(&misp_policy_name, &["sneaky"])];
    editor_apply(&alice, &env.ns, &misp).await;
    let p = wait_partner(&env, "misp", READY, "True").await;
    assert!(p.status.as_ref().expect("st").policies.iter().all(|r| r.api_keys.is_empty()), "{:?}", p.status);
    let name = mosip_partner_operator::mosip::api_key_secret_name("misp", &misp_policy_name, "sneaky");
    assert!(env.secret_value(&name, "apiKey").await.is_none());

    // A device provider may not request policies; naming one must not pin it.
    editor_cert(&alice, &env, "dev", &dev_int, "Dev Org").await;
    let mut dev = partner("dev", PartnerType::DeviceProvider, "Dev Org");
    dev.spec.policy_group = Some("grp".into());
    dev.spec.policies = vec![request(&env.cluster_name("auth"), &[])];
    editor_apply(&alice, &env.ns, &dev).await;
    wait_partner_reason(&env, "dev", STALLED, "True", None).await;
    let full = env.cluster_name("auth");
    papi.delete(&full, &DeleteParams::default()).await.expect("delete");
    wait_deleted(&papi, &full, CONVERGE).await;
}
