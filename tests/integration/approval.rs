//! Policies, policy requests and approval against the real API server.

use crate::common::{self, CONVERGE, TestEnv, eventually};
use crate::fixtures::*;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams};
use mosip_partner_operator::api::*;

async fn auth_partner(env: &TestEnv, name: &str, policy: &str, group: &str) -> Partner {
    let mut p = partner(name, PartnerType::AuthPartner, "Auth Org");
    p.spec.policy_group = Some(group.into());
    p.spec.policies = vec![request(&env.cluster_name(policy), &["primary"])];
    p
}

fn request_condition(p: &Partner, policy: &str, type_: &str) -> Option<Condition> {
    p.status.as_ref()?.policies.iter().find(|r| r.name == policy)?.conditions.iter().find(|c| c.type_ == type_).cloned()
}

#[tokio::test]
async fn manual_approval_issues_keys_and_decisions_are_final() {
    let mut env = TestEnv::new("appr").await;
    env.start_operator(&[]);
    let int = trust(&env, PartnerDomain::Auth).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&papi, &auth_policy(&env, "auth", "grp", ApprovalMode::Manual)).await;
    wait_policy_ready(&env, "auth").await;
    cert_secret(&env, "rp", &int, "Auth Org").await;
    let api: Api<Partner> = env.api();
    env.apply(&api, &auth_partner(&env, "rp", "auth", "grp").await).await;
    let policy = env.cluster_name("auth");

    // Waiting for an approver: Ready False / PendingApproval, not Stalled.
    let p = wait_partner_reason(&env, "rp", READY, "False", Some("PendingApproval")).await;
    let st = p.status.clone().expect("status");
    assert_eq!(find(&st.conditions, STALLED).expect("stalled").status, "False");
    assert!(find(&st.conditions, READY).expect("r").message.contains("mosip-partner-operator approve rp"));
    // `kubectl wait` does not return while pending...
    let out = env.kubectl(&["wait", "--for=condition=Ready", "partner/rp", "-n", &env.ns, "--timeout=2s"]);
    assert!(!out.status.success());

    // ...an approver approves with the CLI...
    let out = env.cli(&[
        "approve",
        "rp",
        "--policy",
        &policy,
        "-n",
        &env.ns,
        "--reason",
        "Alice",
        "--message",
        "reviewed ticket 42",
    ]);
    assert!(out.status.success(), "approve failed: {}", String::from_utf8_lossy(&out.stderr));
    let p = wait_partner(&env, "rp", READY, "True").await;
    let approved = request_condition(&p, &policy, APPROVED).expect("Approved");
    assert_eq!(
        (approved.status.as_str(), approved.reason.as_str(), approved.message.as_str()),
        ("True", "Alice", "reviewed ticket 42")
    );
    // ...and `kubectl wait` returns.
    let out = env.kubectl(&["wait", "--for=condition=Ready", "partner/rp", "-n", &env.ns, "--timeout=30s"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // An API key Secret was issued, named in status.
    let entry = p.status.as_ref().expect("st").policies.iter().find(|r| r.name == policy).expect("entry").clone();
    let secret_name = entry.api_keys[0].secret_name.clone().expect("secretName");
    let key = env.secret_value(&secret_name, "apiKey").await.expect("apiKey");
    assert!(key.len() >= 22, "key too short for 128 bits");

    // Decisions are final: approving or denying again is refused.
    let out = env.cli(&["approve", "rp", "--policy", &policy, "-n", &env.ns]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let out = env.cli(&["deny", "rp", "--policy", &policy, "-n", &env.ns]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already approved"));
}

#[tokio::test]
async fn denial_stalls_and_automatic_policies_approve_themselves() {
    let mut env = TestEnv::new("deny").await;
    env.start_operator(&[]);
    let int = trust(&env, PartnerDomain::Auth).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&papi, &auth_policy(&env, "manual", "grp", ApprovalMode::Manual)).await;
    env.apply(&papi, &auth_policy(&env, "auto", "grp", ApprovalMode::Automatic)).await;
    wait_policy_ready(&env, "manual").await;
    wait_policy_ready(&env, "auto").await;
    let api: Api<Partner> = env.api();
    cert_secret(&env, "denied", &int, "Auth Org").await;
    cert_secret(&env, "auto", &int, "Auth Org").await;
    env.apply(&api, &auth_partner(&env, "denied", "manual", "grp").await).await;
    env.apply(&api, &auth_partner(&env, "auto", "auto", "grp").await).await;

    wait_partner_reason(&env, "denied", READY, "False", Some("PendingApproval")).await;
    let out = env.cli(&["deny", "denied", "--policy", &env.cluster_name("manual"), "-n", &env.ns, "--reason", "Bob"]);
    assert!(out.status.success());
    let p = wait_partner_reason(&env, "denied", STALLED, "True", Some("Denied")).await;
    assert_eq!(crate::argocd::argocd_health(&serde_json::to_value(&p).expect("json")).0, "Degraded");
    assert_eq!(find(&p.status.clone().expect("st").conditions, READY).expect("r").reason, "Denied");
    assert!(request_condition(&p, &env.cluster_name("manual"), DENIED).is_some_and(|c| c.reason == "Bob"));

    let p = wait_partner(&env, "auto", READY, "True").await;
    let approved = request_condition(&p, &env.cluster_name("auto"), APPROVED).expect("Approved");
    assert_eq!(approved.reason, "AutoApproved");
    assert!(approved.message.contains(&env.cluster_name("auto")));
}

#[tokio::test]
async fn approver_and_controller_write_status_at_the_same_time() {
    let mut env = TestEnv::new("race").await;
    env.start_operator(&[]);
    let int = trust(&env, PartnerDomain::Auth).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&papi, &auth_policy(&env, "p", "grp", ApprovalMode::Manual)).await;
    wait_policy_ready(&env, "p").await;
    cert_secret(&env, "rp", &int, "Auth Org").await;
    let api: Api<Partner> = env.api();
    let mut p = auth_partner(&env, "rp", "p", "grp").await;
    env.apply(&api, &p).await;
    wait_partner_reason(&env, "rp", READY, "False", Some("PendingApproval")).await;
    let policy = env.cluster_name("p");

    // Keep the controller busy rewriting status (each new label changes status.apiKeys…)
    // while the approver writes its decision.
    let churn = {
        let api = api.clone();
        let env_ns = env.ns.clone();
        let policy = policy.clone();
        tokio::spawn(async move {
            for i in 0..15 {
                let labels: Vec<serde_json::Value> =
                    (0..=i).map(|j| serde_json::json!({"label": format!("k{j}")})).collect();
                let patch = serde_json::json!({"apiVersion": "pms.mosip.io/v1alpha1", "kind": "Partner",
                    "spec": {"policies": [{"name": policy, "useCase": "integration test", "apiKeys": labels}]}});
                let _ = api.patch("rp", &PatchParams::apply("churn").force(), &Patch::Apply(&patch)).await;
                tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            }
            env_ns
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let out = env.cli(&["approve", "rp", "--policy", &policy, "-n", &env.ns, "--reason", "Carol"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    churn.await.expect("churn");
    // The controller converges with all 15 keys, and the approval is still there.
    let p2 = eventually(CONVERGE, "15 keys issued", || {
        let api = api.clone();
        let policy = policy.clone();
        async move {
            let got = api.get("rp").await.map_err(|e| e.to_string())?;
            let st = got.status.clone().unwrap_or_default();
            let entry = st.policies.iter().find(|r| r.name == policy).cloned().unwrap_or_default();
            let issued = entry.api_keys.iter().filter(|k| k.secret_name.is_some()).count();
            if issued == 15 && is_true(&st.conditions, READY) && st.observed_generation == got.metadata.generation {
                Ok(got)
            } else {
                Err(format!("{issued} keys, {:?}", st.conditions))
            }
        }
    })
    .await;
    let approved = request_condition(&p2, &policy, APPROVED).expect("Approved survived");
    assert_eq!(approved.reason, "Carol");
    p.spec.policies.clear();
    let _ = p;
}

#[tokio::test]
async fn invalid_policies_and_in_use_policies() {
    let mut env = TestEnv::new("ppol").await;
    env.start_operator(&[]);
    let papi: Api<PartnerPolicy> = env.cluster_api();
    // An Auth policy without its body; a DataShare policy with a bad enum.
    let mut missing = auth_policy(&env, "nobody", "grp", ApprovalMode::Manual);
    missing.spec.auth = None;
    env.apply(&papi, &missing).await;
    let mut bad = data_share_policy(&env, "badenum", "grp", ApprovalMode::Manual);
    if let Some(ds) = bad.spec.data_share.as_mut().and_then(|d| d.data_share_policies.as_mut()) {
        ds.type_of_share = Some("ftp".into());
    }
    env.apply(&papi, &bad).await;
    for (name, reason) in [("nobody", "MissingPolicyBody"), ("badenum", "InvalidPolicy")] {
        let full = env.cluster_name(name);
        let got = eventually(CONVERGE, &format!("{name} invalid"), || {
            let papi = papi.clone();
            let full = full.clone();
            async move {
                let p = papi.get(&full).await.map_err(|e| e.to_string())?;
                let st = p.status.clone().unwrap_or_default();
                match (find(&st.conditions, READY), find(&st.conditions, STALLED)) {
                    (Some(r), Some(s)) if r.status == "False" && s.status == "True" => Ok(r.clone()),
                    other => Err(format!("{other:?}")),
                }
            }
        })
        .await;
        assert_eq!(got.reason, reason, "{}", got.message);
    }

    // A policy in use is protected from deletion until nothing requests it.
    let int = trust(&env, PartnerDomain::Auth).await;
    env.apply(&papi, &auth_policy(&env, "used", "grp", ApprovalMode::Automatic)).await;
    wait_policy_ready(&env, "used").await;
    cert_secret(&env, "user", &int, "Auth Org").await;
    let api: Api<Partner> = env.api();
    env.apply(&api, &auth_partner(&env, "user", "used", "grp").await).await;
    wait_partner(&env, "user", READY, "True").await;
    papi.delete(&env.cluster_name("used"), &DeleteParams::default()).await.expect("delete");
    let full = env.cluster_name("used");
    let ns = env.ns.clone();
    eventually(CONVERGE, "InUse condition naming the user", || {
        let papi = papi.clone();
        let full = full.clone();
        let ns = ns.clone();
        async move {
            let p = papi.get(&full).await.map_err(|e| e.to_string())?;
            let st = p.status.clone().unwrap_or_default();
            match find(&st.conditions, READY) {
                Some(c) if c.reason == "InUse" && c.message.contains(&format!("{ns}/user")) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    // Drop the request: the policy goes away.
    let mut user = auth_partner(&env, "user", "used", "grp").await;
    user.spec.policies.clear();
    env.apply(&api, &user).await;
    let full = env.cluster_name("used");
    wait_deleted(&papi, &full, CONVERGE).await;
}

#[tokio::test]
async fn request_rules_are_enforced() {
    let mut env = TestEnv::new("reqs").await;
    env.start_operator(&[]);
    let int = trust(&env, PartnerDomain::Auth).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&papi, &auth_policy(&env, "auth", "grp", ApprovalMode::Automatic)).await;
    env.apply(&papi, &data_share_policy(&env, "share", "grp", ApprovalMode::Automatic)).await;
    env.apply(&papi, &auth_policy(&env, "othergroup", "other", ApprovalMode::Automatic)).await;
    for n in ["auth", "share", "othergroup"] {
        wait_policy_ready(&env, n).await;
    }
    let api: Api<Partner> = env.api();
    // Policy of another group.
    cert_secret(&env, "a", &int, "Auth Org").await;
    env.apply(&api, &auth_partner(&env, "a", "othergroup", "grp").await).await;
    wait_partner_reason(&env, "a", READY, "False", Some("PolicyGroupMismatch")).await;
    // Auth partner asking for a DataShare policy.
    cert_secret(&env, "b", &int, "Auth Org").await;
    env.apply(&api, &auth_partner(&env, "b", "share", "grp").await).await;
    wait_partner_reason(&env, "b", READY, "False", Some("PolicyTypeNotAllowed")).await;
    // A policy that does not exist: waiting, not stalled? MOSIP refuses the request.
    cert_secret(&env, "c", &int, "Auth Org").await;
    env.apply(&api, &auth_partner(&env, "c", "nope", "grp").await).await;
    wait_partner_reason(&env, "c", READY, "False", Some("PolicyNotFound")).await;
    // Credential partner without biometric extractors; then with them.
    cert_secret(&env, "cred", &int, "Cred Org").await;
    let mut cred = partner("cred", PartnerType::CredentialPartner, "Cred Org");
    cred.spec.policy_group = Some("grp".into());
    let mut req = request(&env.cluster_name("share"), &["k"]);
    req.credential_types = vec!["euin".into()];
    cred.spec.policies = vec![req.clone()];
    env.apply(&api, &cred).await;
    wait_partner_reason(&env, "cred", READY, "False", Some("BiometricExtractorsRequired")).await;
    req.biometric_extractors = vec![BiometricExtractor {
        attribute_name: "photo".into(),
        biometric: "face".into(),
        provider: "mock".into(),
        version: "1.1".into(),
    }];
    req.credential_types = vec!["not-a-type".into()];
    cred.spec.policies = vec![req.clone()];
    env.apply(&api, &cred).await;
    wait_partner_reason(&env, "cred", READY, "False", Some("CredentialTypeNotAllowed")).await;
    req.credential_types = vec!["euin".into()];
    cred.spec.policies = vec![req];
    env.apply(&api, &cred).await;
    wait_partner(&env, "cred", READY, "True").await;
}

#[tokio::test]
async fn editors_cannot_approve_admins_can() {
    let mut env = TestEnv::new("rbac").await;
    env.start_operator(&[]);
    let roles = common::repo_root().join("deploy/roles.yaml");
    let out = env.kubectl(&["apply", "--server-side", "--force-conflicts", "-f", roles.to_str().expect("path")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rb: Api<RoleBinding> = env.api();
    for (user, role) in [("editor-user", "mosip-partner-editor"), ("admin-user", "mosip-partner-admin")] {
        let b = RoleBinding {
            metadata: ObjectMeta { name: Some(format!("{user}-binding")), ..Default::default() },
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
    }
    let int = trust(&env, PartnerDomain::Auth).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&papi, &auth_policy(&env, "p", "grp", ApprovalMode::Manual)).await;
    wait_policy_ready(&env, "p").await;

    // The editor creates its certificate Secret and Partner…
    let editor = common::client_as("editor-user", &[]).await;
    let eapi: Api<Partner> = Api::namespaced(editor.clone(), &env.ns);
    let esec: Api<Secret> = Api::namespaced(editor.clone(), &env.ns);
    let leaf = crate::pki::leaf(&int, "rp", "Auth Org");
    let mut s = Secret::default();
    s.metadata.name = Some("rp-cert".into());
    s.string_data = Some([("tls.crt".to_string(), leaf)].into());
    esec.patch("rp-cert", &PatchParams::apply("editor").force(), &Patch::Apply(&s))
        .await
        .expect("editor manages Secrets");
    let p = auth_partner(&env, "rp", "p", "grp").await;
    eapi.patch("rp", &PatchParams::apply("editor").force(), &Patch::Apply(&p)).await.expect("editor creates Partners");
    wait_partner_reason(&env, "rp", READY, "False", Some("PendingApproval")).await;
    let current = eapi.get_status("rp").await.expect("editor reads status");
    let hash = current.status.and_then(|s| s.policies.first().and_then(|r| r.request_hash.clone()));

    // …but cannot approve its own request.
    let decision = serde_json::json!({"apiVersion": "pms.mosip.io/v1alpha1", "kind": "Partner", "status": {"policies": [{
        "name": env.cluster_name("p"), "decidedRequestHash": hash,
        "conditions": [{"type": "Approved", "status": "True", "reason": "Self", "message": "self-approval",
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}]}]}});
    let err = eapi
        .patch_status("rp", &PatchParams::apply("editor").force(), &Patch::Apply(&decision))
        .await
        .expect_err("an editor must not write partners/status");
    assert!(matches!(err, kube::Error::Api(ref e) if e.code == 403), "{err:?}");

    // The admin can.
    let admin = common::client_as("admin-user", &[]).await;
    let aapi: Api<Partner> = Api::namespaced(admin, &env.ns);
    aapi.patch_status("rp", &PatchParams::apply("admin").force(), &Patch::Apply(&decision))
        .await
        .expect("admin approves");
    wait_partner(&env, "rp", READY, "True").await;
}

/// A request whose policy changes is a new request: the old approval no longer counts and the
/// keys are withdrawn until someone decides again.
#[tokio::test]
async fn a_changed_policy_needs_a_new_decision() {
    let mut env = TestEnv::new("newreq").await;
    env.start_operator(&[]);
    let int = trust(&env, PartnerDomain::Auth).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    let mut pol = auth_policy(&env, "p", "grp", ApprovalMode::Manual);
    env.apply(&papi, &pol).await;
    wait_policy_ready(&env, "p").await;
    cert_secret(&env, "rp", &int, "Auth Org").await;
    let api: Api<Partner> = env.api();
    env.apply(&api, &auth_partner(&env, "rp", "p", "grp").await).await;
    wait_partner_reason(&env, "rp", READY, "False", Some("PendingApproval")).await;
    let policy = env.cluster_name("p");
    assert!(env.cli(&["approve", "rp", "--policy", &policy, "-n", &env.ns]).status.success());
    let p = wait_partner(&env, "rp", READY, "True").await;
    let secret = p.status.expect("st").policies[0].api_keys[0].secret_name.clone().expect("secret");
    assert!(env.secret_value(&secret, "apiKey").await.is_some());

    // The policy now shares more: the approval was for the old request.
    if let Some(a) = pol.spec.auth.as_mut() {
        a.allowed_kyc_attributes = Some(vec![
            KycAttribute { attribute_name: Some("fullName".into()) },
            KycAttribute { attribute_name: Some("phone".into()) },
        ]);
    }
    env.apply(&papi, &pol).await;
    let p = wait_partner_reason(&env, "rp", READY, "False", Some("PendingApproval")).await;
    assert!(find(&p.status.expect("st").conditions, READY).expect("r").message.contains("changed"));
    wait_key_withdrawn(&env, &secret, "apiKey").await;
    // A new decision may be made, and it counts.
    let out = env.cli(&["approve", "rp", "--policy", &policy, "-n", &env.ns, "--reason", "Dave"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_partner(&env, "rp", READY, "True").await;
    assert!(env.secret_value(&secret, "apiKey").await.is_some());
}
