//! Every partner type end to end: the manifests under examples/ (one folder per type), applied to
//! the real API server, onboarded by the operator.

use crate::common::{self, CONVERGE, TEST_LABEL, TestEnv, eventually};
use kube::api::Api;
use mosip_partner_operator::api::*;
use std::path::{Path, PathBuf};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).expect("examples/").filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
}

/// The examples' cluster-scoped objects keep their names, so the tests that apply them take
/// turns.
pub(crate) static EXAMPLES_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The examples, moved into the test's namespace, cluster-scoped objects labelled for its
/// operator.
/// Applies every example (server-side), scoped to `env`.
pub(crate) fn apply_examples(env: &TestEnv) {
    let manifests = examples_for(env);
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("examples.yaml");
    std::fs::write(&path, &manifests).expect("write");
    let out = env.kubectl(&["apply", "--server-side", "-f", path.to_str().expect("path")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn examples_for(env: &TestEnv) -> String {
    let mut files = Vec::new();
    yaml_files(&common::repo_root().join("examples"), &mut files);
    let mut out = String::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let mut v: serde_yaml::Value = serde::Deserialize::deserialize(doc).expect("yaml");
            let Some(kind) = v.get("kind").and_then(|k| k.as_str()).map(String::from) else { continue };
            if kind == "Namespace" {
                continue;
            }
            let meta = v.get_mut("metadata").and_then(|m| m.as_mapping_mut()).expect("metadata");
            if kind == "CACertificate" || kind == "PartnerPolicy" {
                let labels =
                    meta.entry("labels".into()).or_insert_with(|| serde_yaml::Value::Mapping(Default::default()));
                if let Some(l) = labels.as_mapping_mut() {
                    l.insert(TEST_LABEL.into(), env.ns.clone().into());
                }
            } else {
                meta.insert("namespace".into(), env.ns.clone().into());
            }
            out.push_str("---\n");
            out.push_str(&serde_yaml::to_string(&v).expect("yaml"));
        }
    }
    out
}

#[tokio::test]
async fn every_partner_type_onboards_from_the_examples() {
    let _turn = EXAMPLES_LOCK.lock().await;
    let mut env = TestEnv::new("examples").await;
    env.start_operator(&[]);
    apply_examples(&env);

    let api: Api<Partner> = env.api();
    let partners = api.list(&Default::default()).await.expect("list").items;
    let types: std::collections::BTreeSet<String> = partners
        .iter()
        .map(|p| serde_json::to_value(p.spec.partner_type).expect("t").as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(types.len(), 12, "examples cover every partner type: {types:?}");

    // Everything is onboarded, except the Auth partner which waits for an approver.
    let waiting = eventually(std::time::Duration::from_secs(60), "examples converge", || {
        let api = api.clone();
        async move {
            let mut waiting = Vec::new();
            let mut problems = Vec::new();
            for p in api.list(&Default::default()).await.map_err(|e| e.to_string())?.items {
                let st = p.status.clone().unwrap_or_default();
                let name = p.metadata.name.clone().unwrap_or_default();
                match find(&st.conditions, READY) {
                    Some(c) if c.status == "True" => {}
                    Some(c) if c.reason == "PendingApproval" && p.spec.partner_type == PartnerType::AuthPartner => {
                        waiting.push(name)
                    }
                    other => problems.push(format!("{name}: {:?}", other.map(|c| (&c.reason, &c.message)))),
                }
            }
            if problems.is_empty() { Ok(waiting) } else { Err(problems.join("\n")) }
        }
    })
    .await;
    assert_eq!(waiting.len(), 1, "exactly the Auth partner waits: {waiting:?}");

    // Argo CD sees the same: the waiting partner Suspended, every other one Healthy.
    for p in api.list(&Default::default()).await.expect("list").items {
        let name = p.metadata.name.clone().unwrap_or_default();
        let (health, message) = crate::argocd::argocd_health(&serde_json::to_value(&p).expect("json"));
        let want = if waiting.contains(&name) { "Suspended" } else { "Healthy" };
        assert_eq!(health, want, "{name}: {message}");
    }

    // Licences are issued for the MISP.
    let lapi: Api<MispLicense> = env.api();
    let licences = lapi.list(&Default::default()).await.expect("list").items;
    assert!(!licences.is_empty());
    for l in &licences {
        let name = l.metadata.name.clone().unwrap_or_default();
        let lapi = lapi.clone();
        let st = eventually(CONVERGE, "licence Ready", || {
            let lapi = lapi.clone();
            let name = name.clone();
            async move {
                let l = lapi.get(&name).await.map_err(|e| e.to_string())?;
                let st = l.status.clone().unwrap_or_default();
                if is_true(&st.conditions, READY) { Ok(st) } else { Err(format!("{:?}", st.conditions)) }
            }
        })
        .await;
        let key = env.secret_value(st.secret_name.as_deref().expect("secret"), "licenseKey").await.expect("key");
        assert_eq!(key.len(), 50);
    }

    // FTM certificates are not re-signed; every other type's is.
    for p in api.list(&Default::default()).await.expect("list").items {
        let cert = p.status.clone().unwrap_or_default().certificate.unwrap_or_default();
        let is_ftm = p.spec.partner_type == PartnerType::FtmProvider;
        assert_eq!(cert.signed_secret_name.is_none(), is_ftm, "{:?}", p.metadata.name);
    }

    // The approver approves the Auth partner with the printed command; it gets its key.
    let auth = &waiting[0];
    let p = api.get(auth).await.expect("get");
    let policy = p.spec.policies[0].name.clone();
    let out = env.cli(&["approve", auth, "--policy", &policy, "-n", &env.ns]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let p = crate::fixtures::wait_partner(&env, auth, READY, "True").await;
    let secret = p.status.expect("st").policies[0].api_keys[0].secret_name.clone().expect("secret");
    assert!(env.secret_value(&secret, "apiKey").await.is_some());
}
