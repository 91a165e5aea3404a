//! The committed CRDs are exactly what the API types generate, and the API server accepts them.

use crate::common;

#[test]
fn committed_crds_are_current() {
    let generated = mosip_partner_operator::api::all_crds_yaml().expect("yaml");
    let committed = std::fs::read_to_string(common::repo_root().join("crds/mosip-partner-operator.crds.yaml"))
        .expect("crds/mosip-partner-operator.crds.yaml exists");
    assert!(
        generated == committed,
        "crds/ is stale: run `make crds` (mosip-partner-operator crd > crds/mosip-partner-operator.crds.yaml) and commit"
    );
    // No schema defaults: the API server would inject them into users' specs (GitOps drift).
    assert!(!generated.contains("default:"), "a CRD schema carries a default");
}

#[tokio::test]
async fn kubectl_get_mosip_lists_every_kind_and_explain_documents_fields() {
    common::kubeconfig();
    let env = common::TestEnv::new("crds").await;
    let out = env.kubectl(&["api-resources", "--categories=mosip", "-o", "name"]);
    let names = String::from_utf8_lossy(&out.stdout).to_string();
    for kind in ["cacertificates", "partnerpolicies", "partners", "misplicenses"] {
        assert!(names.contains(&format!("{kind}.pms.mosip.io")), "category mosip lacks {kind}: {names}");
    }
    let out = env.kubectl(&["explain", "partner.spec"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    for field in
        ["partnerId", "partnerType", "organizationName", "contact", "policyGroup", "certificate", "policies", "active"]
    {
        assert!(text.contains(field), "kubectl explain partner.spec lacks {field}:\n{text}");
    }
    assert!(text.contains("Subject O"), "field docs missing from explain:\n{text}");
}
