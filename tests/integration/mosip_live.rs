//! Opt-in test against a real MOSIP sandbox. Skipped unless all three are set:
//! - `MOSIP_LIVE_API_URL`: the internal API host (https://api-internal.<sandbox>)
//! - `MOSIP_LIVE_KEYCLOAK_URL`: Keycloak including `/auth`
//! - `MOSIP_LIVE_CREDENTIALS`: a file holding the credentials Secret as JSON
//!   (`kubectl get secret mosip-credentials -o json > creds.json`)
//!
//! It logs in as the partner admin and the Keycloak admin, reads policy groups and a partner
//! that cannot exist, and ensures one operator-named policy group and policy (idempotent: a
//! second run writes nothing). Set `MOSIP_LIVE_CA_FILE` for a private CA.

use mosip_partner_operator::metrics::PmsMetrics;
use mosip_partner_operator::pms::ops::PolicyDefinition;
use mosip_partner_operator::pms::{MosipCredentials, PmsClient, PmsEndpoints};
use std::sync::Arc;

fn live() -> Option<(String, String, String)> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    Some((get("MOSIP_LIVE_API_URL")?, get("MOSIP_LIVE_KEYCLOAK_URL")?, get("MOSIP_LIVE_CREDENTIALS")?))
}

#[tokio::test]
async fn live_sandbox_login_reads_and_idempotent_policy() {
    let Some((api, kc, creds_file)) = live() else {
        eprintln!("skipped: set MOSIP_LIVE_API_URL, MOSIP_LIVE_KEYCLOAK_URL and MOSIP_LIVE_CREDENTIALS");
        return;
    };
    let secret: k8s_openapi::api::core::v1::Secret =
        serde_json::from_slice(&std::fs::read(&creds_file).expect("read MOSIP_LIVE_CREDENTIALS"))
            .expect("a Secret as JSON");
    let creds = MosipCredentials::from_secret_data("live", &secret.data.unwrap_or_default()).expect("credentials");
    let ca = std::env::var("MOSIP_LIVE_CA_FILE").ok().map(|p| std::fs::read(p).expect("read MOSIP_LIVE_CA_FILE"));
    let metrics = Arc::new(PmsMetrics::default());
    let pms = PmsClient::new(PmsEndpoints::parse(&api, &kc).expect("URLs"), creds, ca.as_deref(), metrics.clone())
        .expect("client");
    assert_eq!(pms.get_partner("mosip-partner-operator-live-test-none").await.expect("GET partner"), None);
    let def = PolicyDefinition {
        group: "mosip-partner-operator-live-test".into(),
        group_description: "created by mosip-partner-operator's live test".into(),
        name: "mosip-partner-operator-live-test-auth".into(),
        description: "created by mosip-partner-operator's live test".into(),
        version: "1.0".into(),
        policy_type: "Auth".into(),
        body: serde_json::json!({"authTokenType": "partner", "allowedAuthTypes": [{"authType": "otp", "mandatory": false}],
                                 "allowedKycAttributes": [{"attributeName": "fullName"}]}),
    };
    let first = pms.ensure_policy(&def).await.expect("ensure policy");
    assert!(first.published);
    let again = pms.ensure_policy(&def).await.expect("ensure policy again");
    assert_eq!((again.policy_id, again.policy_group_id), (first.policy_id, first.policy_group_id));
    assert!(!again.created_group && !again.created_policy && !again.updated_policy && !again.published_now);
}
