//! Hostile input from a namespace editor: timestamps the operator reads back from places an
//! editor may write (Secret annotations and values) can never crash it.

use crate::common::{self, CONVERGE, TestEnv, eventually};
use crate::fixtures::*;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use kube::api::{Api, ObjectMeta, Patch, PatchParams};
use mosip_partner_operator::api::*;

/// Binds `user` to the chart's mosip-partner-editor role in the test namespace.
pub async fn bind_editor(env: &TestEnv, user: &str) {
    let roles = common::repo_root().join("deploy/roles.yaml");
    let out = env.kubectl(&["apply", "--server-side", "--force-conflicts", "-f", roles.to_str().expect("path")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rb: Api<RoleBinding> = env.api();
    let b = RoleBinding {
        metadata: ObjectMeta { name: Some(format!("{user}-editor")), ..Default::default() },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: "mosip-partner-editor".into(),
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

fn panics(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("mosip_partner_reconcile_panics_total"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn editor_written_timestamps_cannot_crash_the_operator() {
    let mut env = TestEnv::new("hostile").await;
    env.start_operator(&[]);
    let int = trust(&env, PartnerDomain::Auth).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&papi, &auth_policy(&env, "auto", "grp", ApprovalMode::Automatic)).await;
    wait_policy_ready(&env, "auto").await;
    cert_secret(&env, "rp", &int, "Auth Org").await;
    let api: Api<Partner> = env.api();
    let mut p = partner("rp", PartnerType::AuthPartner, "Auth Org");
    p.spec.policy_group = Some("grp".into());
    p.spec.policies = vec![request(&env.cluster_name("auto"), &["one"])];
    env.apply(&api, &p).await;
    let onboarded = wait_partner(&env, "rp", READY, "True").await;
    let st = onboarded.status.expect("status");
    let key_secret = st.policies[0].api_keys[0].secret_name.clone().expect("key secret");
    let signed_secret = st.certificate.and_then(|c| c.signed_secret_name).expect("re-signed secret");
    let key = env.secret_value(&key_secret, "apiKey").await.expect("key");
    let recorded_until = st.policies[0].api_keys[0].valid_until.clone().expect("validUntil");

    // A real editor identity, with the editor role the chart grants.
    bind_editor(&env, "alice").await;
    let alice = common::client_as("alice", &[]).await;
    let secrets: Api<Secret> = Api::namespaced(alice, &env.ns);

    // At both ends of what a timestamp can hold, beyond them, and garbage. Before the fix,
    // `not_after - renew_before` on the earliest representable day panicked (signing.rs) and
    // the process exited on every restart.
    for value in ["-009999-01-03T00:00:00Z", "9999-12-31T23:59:59Z", "99999-01-01T00:00:00Z", "garbage"] {
        let b64 = |s: &str| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(s)
        };
        let key_patch = serde_json::json!({
            "metadata": {"annotations": {"pms.mosip.io/previous-valid-until": value}},
            "data": {"validUntil": b64(value), "previousApiKey": b64("planted"), "previousApiKeyValidUntil": b64(value)}
        });
        secrets
            .patch(&key_secret, &PatchParams::default(), &Patch::Merge(&key_patch))
            .await
            .expect("an editor may write Secrets of its namespace");
        let signed_patch = serde_json::json!({"metadata": {"annotations": {"pms.mosip.io/not-after": value}}});
        secrets.patch(&signed_secret, &PatchParams::default(), &Patch::Merge(&signed_patch)).await.expect("patch");

        // The re-signed certificate is re-issued with a believable notAfter…
        let sapi: Api<Secret> = env.api();
        let s2 = signed_secret.clone();
        eventually(CONVERGE, &format!("re-signed Secret repaired after not-after={value}"), || {
            let sapi = sapi.clone();
            let s2 = s2.clone();
            async move {
                let s = sapi.get(&s2).await.map_err(|e| e.to_string())?;
                let na = s.metadata.annotations.unwrap_or_default().get("pms.mosip.io/not-after").cloned();
                match na.as_deref().map(|v| v.parse::<jiff::Timestamp>()) {
                    Some(Ok(t))
                        if t > jiff::Timestamp::now()
                            && t.as_second() < jiff::Timestamp::now().as_second() + 400 * 86_400 =>
                    {
                        Ok(())
                    }
                    _ => Err(format!("not-after {na:?}")),
                }
            }
        })
        .await;
        // …and the planted rotated-out key with an unbelievable grace period is dropped, the
        // key's validity rewritten from the operator's own record.
        let k2 = key_secret.clone();
        let recorded = recorded_until.clone();
        eventually(CONVERGE, &format!("key Secret repaired after {value}"), || {
            let env = &env;
            let k2 = k2.clone();
            let recorded = recorded.clone();
            async move {
                let prev = env.secret_value(&k2, "previousApiKey").await;
                let until = env.secret_value(&k2, "validUntil").await;
                if prev.is_none() && until.as_deref() == Some(recorded.as_str()) {
                    Ok(())
                } else {
                    Err(format!("previous present: {}, validUntil {until:?}", prev.is_some()))
                }
            }
        })
        .await;
        // Still alive: the metrics endpoint answers.
        assert!(!env.metrics().await.is_empty(), "the operator is down after {value}");
    }
    // The key itself never changed: editor-written times neither extend nor shorten it.
    assert_eq!(env.secret_value(&key_secret, "apiKey").await.as_deref(), Some(key.as_str()));
    wait_partner(&env, "rp", READY, "True").await;
    let metrics = env.metrics().await;
    assert_eq!(panics(&metrics), 0.0, "{metrics}");
    crate::common::wait_events_yaml(&env, &env.ns, &["CorruptRecord"]).await;
}
