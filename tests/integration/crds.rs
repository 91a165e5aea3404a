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
    // No schema defaults in specs: the API server would inject them into users' objects and
    // GitOps tools would report drift. (Status may have them; nobody writes status from Git.)
    for crd in mosip_partner_operator::api::all_crds() {
        let schema = serde_json::to_value(&crd.spec.versions[0].schema).expect("json");
        let spec = &schema["openAPIV3Schema"]["properties"]["spec"];
        assert!(!spec.is_null());
        assert!(!spec.to_string().contains("\"default\""), "{} spec schema carries a default", crd.spec.names.kind);
    }
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
