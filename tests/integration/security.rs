//! Tenant safety (issue #10) against the real API server: what the operator signs, what it
//! keeps online, and which built-in roles can approve.

use crate::common::{self, CONVERGE, TestEnv, eventually, helm};
use crate::fixtures::*;
use crate::pki::Ca;
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use kube::api::{Api, ObjectMeta, PostParams};
use mosip_partner_operator::api::*;
use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose};
use std::process::{Command, Stdio};

/// A DEVICE provider certificate that is itself a CA (pathLen 3), as real device providers have.
fn ca_leaf(issuer: &Ca, cn: &str, org: &str) -> String {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, org);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(3));
    p.use_authority_key_identifier_extension = true;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(730);
    let key = KeyPair::generate().expect("key");
    p.signed_by(&key, &issuer.issuer()).expect("signed").pem()
}

/// An AUTH partner with no policy requests (its certificate is re-signed all the same).
fn auth_partner(name: &str) -> Partner {
    let mut p = partner(name, PartnerType::AuthPartner, "Auth Org");
    p.spec.policy_group = Some("grp".into());
    p
}

/// The basicConstraints of the re-signed certificate of `partner`, as openssl prints them.
async fn resigned_basic_constraints(env: &TestEnv, partner: &str) -> String {
    let api: Api<Partner> = env.api();
    let name = eventually(CONVERGE, &format!("{partner} re-signed"), || {
        let api = api.clone();
        async move {
            let p = api.get(partner).await.map_err(|e| e.to_string())?;
            p.status.and_then(|s| s.certificate).and_then(|c| c.signed_secret_name).ok_or("not yet".to_string())
        }
    })
    .await;
    let pem = env.secret_value(&name, "tls.crt").await.expect("tls.crt");
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "basicConstraints,keyUsage"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl");
    use std::io::Write;
    child.stdin.take().expect("stdin").write_all(pem.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("openssl");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn signing_ca_keys(env: &TestEnv) -> Vec<String> {
    let api: Api<Secret> = env.api();
    let s = eventually(CONVERGE, "signing CA Secret", || {
        let api = api.clone();
        async move { api.get_opt("mosip-pms-signing-ca").await.map_err(|e| e.to_string())?.ok_or("absent".into()) }
    })
    .await;
    s.data.unwrap_or_default().into_keys().collect()
}

/// Findings 4 and 9 (root key) of #10: an AUTH partner's re-signed certificate is an end entity
/// (before: CA:TRUE, keyCertSign), a DEVICE partner CA keeps CA with pathLen 0 (before: no path
/// length), and the generated MOSIP root key is not stored beside the PMS key (before: root.key).
#[tokio::test]
async fn resigned_certificates_mirror_the_submitted_one_and_the_root_key_is_offline() {
    let mut env = TestEnv::new("sec-resign").await;
    env.start_operator(&[]);
    let auth = trust(&env, PartnerDomain::Auth).await;
    let device = trust(&env, PartnerDomain::Device).await;
    cert_secret(&env, "rp", &auth, "Auth Org").await;
    env.put_secret("dev-cert", &[("tls.crt", &ca_leaf(&device, "dev", "Dev Org"))]).await;
    let api: Api<Partner> = env.api();
    env.apply(&api, &auth_partner("rp")).await;
    env.apply(&api, &partner("dev", PartnerType::DeviceProvider, "Dev Org")).await;

    let rp = resigned_basic_constraints(&env, "rp").await;
    assert!(rp.contains("CA:FALSE") && !rp.contains("Certificate Sign"), "{rp}");
    let dev = resigned_basic_constraints(&env, "dev").await;
    assert!(dev.contains("CA:TRUE, pathlen:0") && dev.contains("Certificate Sign"), "{dev}");

    let keys = signing_ca_keys(&env).await;
    assert!(keys.contains(&"tls.key".to_string()) && keys.contains(&"ca.crt".to_string()), "{keys:?}");
    assert!(!keys.contains(&"root.key".to_string()), "the root key must not be online: {keys:?}");
    env.assert_log_clean();
}

/// The opt-outs: `--keep-root-key` stores root.key; `--resigned-basic-constraints mosip` makes
/// every re-signed certificate a CA, as MOSIP does.
#[tokio::test]
async fn mosip_profile_and_keep_root_key_are_explicit_opt_ins() {
    let mut env = TestEnv::new("sec-mosip").await;
    env.start_operator(&["--keep-root-key", "--resigned-basic-constraints", "mosip"]);
    let auth = trust(&env, PartnerDomain::Auth).await;
    cert_secret(&env, "rp", &auth, "Auth Org").await;
    let api: Api<Partner> = env.api();
    env.apply(&api, &auth_partner("rp")).await;
    let rp = resigned_basic_constraints(&env, "rp").await;
    assert!(rp.contains("CA:TRUE") && !rp.contains("pathlen") && rp.contains("Certificate Sign"), "{rp}");
    assert!(signing_ca_keys(&env).await.contains(&"root.key".to_string()));
    assert!(env.operator_log().contains("--resigned-basic-constraints mosip"), "the unsafe profile is logged");
}

/// `helm template` of the chart with `sets`, only `template`.
fn chart_template(template: &str, sets: &[&str]) -> String {
    let mut cmd = Command::new(helm());
    cmd.args(["template", "mosip-partner-operator"]).arg(common::repo_root().join("charts/mosip-partner-operator"));
    for s in sets {
        if s.starts_with("--") {
            cmd.arg(s);
        } else {
            cmd.args(["--set", s]);
        }
    }
    let out = cmd.args(["--show-only", template]).output().expect("helm");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn kubectl_apply(env: &TestEnv, yaml: &str, extra: &[&str]) {
    let mut child = Command::new("kubectl")
        .env("KUBECONFIG", common::kubeconfig())
        .args(["apply", "-f", "-"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    use std::io::Write;
    child.stdin.take().expect("stdin").write_all(yaml.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("kubectl");
    assert!(out.status.success(), "kubectl apply in {}: {}", env.ns, String::from_utf8_lossy(&out.stderr));
}

/// The cluster's own ClusterRole aggregation controller (kube-controller-manager with only
/// `clusterrole-aggregation`): the test control plane does not run it. Stopped on drop.
struct AggregationController(std::process::Child);

impl AggregationController {
    fn start() -> Self {
        let out = Command::new(common::repo_root().join("hack/control-plane.sh")).arg("build").output().expect("build");
        let bin = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("kube-controller-manager");
        let kc = common::kubeconfig().to_str().expect("path").to_string();
        let log = std::fs::File::create(common::repo_root().join("target/test-logs/aggregation-controller.log"))
            .expect("log");
        let child = Command::new(bin)
            .args([
                &format!("--kubeconfig={kc}"),
                &format!("--authentication-kubeconfig={kc}"),
                &format!("--authorization-kubeconfig={kc}"),
                "--controllers=clusterrole-aggregation",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                "--port=0",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start kube-controller-manager");
        AggregationController(child)
    }
}

impl Drop for AggregationController {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether `user` may `verb` `resource` (`subresource`) in `ns`, asked of the API server.
async fn allowed(env: &TestEnv, user: &str, verb: &str, resource: &str, subresource: Option<&str>) -> bool {
    let api: Api<SubjectAccessReview> = Api::all(env.client.clone());
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.into()),
            resource_attributes: Some(ResourceAttributes {
                group: Some("pms.mosip.io".into()),
                resource: Some(resource.into()),
                subresource: subresource.map(String::from),
                verb: Some(verb.into()),
                namespace: Some(env.ns.clone()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let out = api.create(&PostParams::default(), &review).await.expect("SubjectAccessReview");
    out.status.is_some_and(|s| s.allowed)
}

/// Finding 9 of #10 (aggregation): a namespace `admin` must not approve its own partners unless
/// the platform team opts in (chart value userRoles.aggregateAdminToNamespaceAdmin). Proven with
/// the cluster's own ClusterRole aggregation controller and SubjectAccessReviews.
#[tokio::test]
async fn namespace_admins_approve_only_when_aggregation_is_opted_in() {
    let env = TestEnv::new("sec-aggr").await;
    let user = format!("ns-admin-{}", env.ns);
    let rb: Api<RoleBinding> = env.api();
    let binding = RoleBinding {
        metadata: ObjectMeta { name: Some("ns-admin".into()), ..Default::default() },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: "admin".into(),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            name: user.clone(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            namespace: None,
        }]),
    };
    env.apply(&rb, &binding).await;
    let _aggregation = AggregationController::start();
    let manager = ["--server-side", "--force-conflicts", "--field-manager=mosip-tests-aggregation"];

    // deploy/roles.yaml (what clusters without the chart apply) and the chart's default agree.
    let roles = std::fs::read_to_string(common::repo_root().join("deploy/roles.yaml")).expect("roles");
    kubectl_apply(&env, &roles, &manager);
    let wait = |want: bool, what: &'static str| {
        let env = &env;
        let user = user.clone();
        eventually(CONVERGE, what, move || {
            let user = user.clone();
            async move {
                // The editor's rules reach "admin" through aggregation in every case…
                let create = allowed(env, &user, "create", "partners", None).await;
                // …the approval right only when opted in.
                let approve = allowed(env, &user, "patch", "partners", Some("status")).await;
                if create && approve == want { Ok(()) } else { Err(format!("create={create} approve={approve}")) }
            }
        })
    };
    wait(false, "namespace admin without approval rights (deploy/roles.yaml)").await;
    kubectl_apply(&env, &chart_template("templates/user-roles.yaml", &[]), &manager);
    wait(false, "namespace admin without approval rights (chart default)").await;

    kubectl_apply(
        &env,
        &chart_template("templates/user-roles.yaml", &["userRoles.aggregateAdminToNamespaceAdmin=true"]),
        &manager,
    );
    wait(true, "namespace admin approves once opted in").await;
    // Back to the default for the other tests.
    kubectl_apply(&env, &roles, &manager);
    wait(false, "opt-in undone").await;
}

/// Finding 9 of #10 (/metrics exposure): the chart's NetworkPolicy is accepted by the API server
/// and selects exactly the operator's Pods, on the metrics port only.
#[tokio::test]
async fn the_metrics_network_policy_selects_the_operator_pods() {
    let env = TestEnv::new("sec-netpol").await;
    let sets = [
        "metrics.networkPolicy.enabled=true",
        "metrics.networkPolicy.from[0].namespaceSelector.matchLabels.team=monitoring",
    ];
    let ns = format!("--namespace={}", env.ns);
    let policy = chart_template("templates/networkpolicy.yaml", &[&sets[..], &[ns.as_str()]].concat());
    kubectl_apply(&env, &policy, &[]);
    let out = env.kubectl(&["get", "networkpolicy", "-n", &env.ns, "-o", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let spec = &json["items"][0]["spec"];
    assert_eq!(spec["policyTypes"], serde_json::json!(["Ingress"]));
    assert_eq!(spec["ingress"][0]["ports"], serde_json::json!([{"port": 8080, "protocol": "TCP"}]));
    assert_eq!(spec["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]["team"], "monitoring");
    let deployment = chart_template("templates/deployment.yaml", &[]);
    let deployment: serde_yaml::Value = serde_yaml::from_str(&deployment).expect("yaml");
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for (k, v) in spec["podSelector"]["matchLabels"].as_object().expect("matchLabels") {
        assert_eq!(pod_labels[k.as_str()].as_str(), v.as_str(), "selector {k} does not match the Pods");
    }
    // Off by default; with no peers listed it admits nothing.
    let all = Command::new(helm())
        .args(["template", "mosip-partner-operator"])
        .arg(common::repo_root().join("charts/mosip-partner-operator"))
        .output()
        .expect("helm");
    assert!(all.status.success() && !String::from_utf8_lossy(&all.stdout).contains("kind: NetworkPolicy"));
    let closed = chart_template("templates/networkpolicy.yaml", &["metrics.networkPolicy.enabled=true"]);
    assert!(closed.contains("ingress: []"), "{closed}");
}

/// Finding 5 (CLI half): `approve` prints the request it decides, with its fingerprint, and
/// with `--request-hash` decides only the request the approver reviewed.
#[tokio::test]
async fn approve_prints_the_request_and_pins_the_reviewed_fingerprint() {
    let mut env = TestEnv::new("sec-pin").await;
    env.start_operator(&[]);
    let int = trust(&env, PartnerDomain::Auth).await;
    let papi: Api<PartnerPolicy> = env.cluster_api();
    env.apply(&papi, &auth_policy(&env, "p", "grp", ApprovalMode::Manual)).await;
    wait_policy_ready(&env, "p").await;
    cert_secret(&env, "rp", &int, "Auth Org").await;
    let api: Api<Partner> = env.api();
    let mut rp = auth_partner("rp");
    rp.spec.policies = vec![request(&env.cluster_name("p"), &["k"])];
    env.apply(&api, &rp).await;
    let p = wait_partner_reason(&env, "rp", READY, "False", Some("PendingApproval")).await;
    let policy = env.cluster_name("p");
    let reviewed = p.status.as_ref().expect("status").policies[0].request_hash.clone().expect("hash");

    // The request changes after the review: the pinned approval is refused.
    rp.spec.policies[0].use_case = Some("something else entirely".into());
    env.apply(&api, &rp).await;
    let changed = eventually(CONVERGE, "new fingerprint", || {
        let api = api.clone();
        let reviewed = reviewed.clone();
        async move {
            let p = api.get("rp").await.map_err(|e| e.to_string())?;
            let h = p.status.and_then(|s| s.policies.first().and_then(|r| r.request_hash.clone()));
            match h {
                Some(h) if h != reviewed => Ok(h),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    let out = env.cli(&["approve", "rp", "--policy", &policy, "-n", &env.ns, "--request-hash", &reviewed]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("something else entirely") && stdout.contains(&changed), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("changed since it was reviewed"));
    wait_partner_reason(&env, "rp", READY, "False", Some("PendingApproval")).await;

    // Reviewed again and pinned: decided.
    let out = env.cli(&["approve", "rp", "--policy", &policy, "-n", &env.ns, "--request-hash", &changed]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let p = wait_partner(&env, "rp", READY, "True").await;
    assert_eq!(p.status.expect("st").policies[0].decided_request_hash.as_deref(), Some(changed.as_str()));
}
