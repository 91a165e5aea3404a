//! Consumer copies (`spec.exports`) on the real API server: the opt-in rule
//! (src/pms/plan.rs) and the writer (src/pms/exports.rs).

use crate::common::TestEnv;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, PostParams};
use mosip_partner_operator::api::{ACCEPT_EXPORTS_LABEL, Export};
use mosip_partner_operator::pms::exports::{ExportSource, ExportWrite, remove_export, write_export};
use mosip_partner_operator::pms::plan::{ExportDenied, export_allowed};
use std::collections::BTreeMap;

async fn namespace(env: &TestEnv, suffix: &str, accept: Option<&str>) -> String {
    let name = format!("{}-{suffix}", env.ns);
    let mut ns = Namespace::default();
    ns.metadata.name = Some(name.clone());
    let mut labels = BTreeMap::from([(crate::common::TEST_LABEL.to_string(), env.ns.clone())]);
    match accept {
        // "*" is not a valid label value: the wildcard is an annotation.
        Some("*") => {
            ns.metadata.annotations = Some(BTreeMap::from([(ACCEPT_EXPORTS_LABEL.to_string(), "*".to_string())]))
        }
        Some(a) => {
            labels.insert(ACCEPT_EXPORTS_LABEL.to_string(), a.to_string());
        }
        None => {}
    }
    ns.metadata.labels = Some(labels);
    Api::<Namespace>::all(env.client.clone()).create(&PostParams::default(), &ns).await.unwrap();
    name
}

async fn try_export(
    env: &TestEnv,
    source: &ExportSource<'_>,
    export: &Export,
    value: &[u8],
) -> Result<ExportWrite, ExportDenied> {
    let ns = Api::<Namespace>::all(env.client.clone()).get_opt(&export.namespace).await.unwrap();
    export_allowed(&env.ns, &export.namespace, ns.as_ref().map(|n| &n.metadata))?;
    Ok(write_export(env.client.clone(), source, export, value).await.unwrap())
}

#[tokio::test]
async fn exports_land_only_in_opted_in_namespaces_and_update_in_place() {
    let env = TestEnv::new("exports").await;
    let ok = namespace(&env, "ok", Some(&env.ns)).await;
    let star = namespace(&env, "star", Some("*")).await;
    let other = namespace(&env, "other", Some("someone-else")).await;
    let none = namespace(&env, "none", None).await;
    let source = ExportSource { kind: "MispLicense", namespace: &env.ns, name: "esignet", uid: "uid-esignet-1" };
    let exp = |ns: &str| Export {
        namespace: ns.into(),
        secret_name: "esignet-misp-onboarder-key".into(),
        key: "mosip-esignet-misp-key".into(),
    };

    // Not opted in (no label, another source's label, no such namespace): nothing is written.
    for ns in [&other, &none] {
        let e = try_export(&env, &source, &exp(ns), b"LICENCE-1").await.unwrap_err();
        assert!(matches!(e, ExportDenied::NotOptedIn { .. }), "{e}");
        assert!(
            Api::<Secret>::namespaced(env.client.clone(), ns)
                .get_opt("esignet-misp-onboarder-key")
                .await
                .unwrap()
                .is_none()
        );
    }
    assert!(matches!(
        try_export(&env, &source, &exp("no-such-namespace-x"), b"x").await,
        Err(ExportDenied::NoNamespace { .. })
    ));

    // Opted in: created, then untouched when equal, updated in place on rotation.
    assert_eq!(try_export(&env, &source, &exp(&ok), b"LICENCE-1").await.unwrap(), ExportWrite::Created);
    let secrets = Api::<Secret>::namespaced(env.client.clone(), &ok);
    let first = secrets.get("esignet-misp-onboarder-key").await.unwrap();
    assert_eq!(first.data.as_ref().unwrap()["mosip-esignet-misp-key"].0, b"LICENCE-1");
    assert_eq!(try_export(&env, &source, &exp(&ok), b"LICENCE-1").await.unwrap(), ExportWrite::Unchanged);
    assert_eq!(
        secrets.get("esignet-misp-onboarder-key").await.unwrap().metadata.resource_version,
        first.metadata.resource_version
    );
    assert_eq!(try_export(&env, &source, &exp(&ok), b"LICENCE-2").await.unwrap(), ExportWrite::Updated);
    let rotated = secrets.get("esignet-misp-onboarder-key").await.unwrap();
    assert_eq!(rotated.metadata.uid, first.metadata.uid, "updated in place, not recreated");
    assert_eq!(rotated.data.as_ref().unwrap()["mosip-esignet-misp-key"].0, b"LICENCE-2");

    // A Secret someone else made (eSignet's empty placeholder): one key updated, never deleted.
    let star_secrets = Api::<Secret>::namespaced(env.client.clone(), &star);
    let mut placeholder = Secret::default();
    placeholder.metadata.name = Some("esignet-misp-onboarder-key".into());
    placeholder.data = Some(BTreeMap::from([
        ("mosip-esignet-misp-key".to_string(), ByteString(vec![])),
        ("other".to_string(), ByteString(b"keep".to_vec())),
    ]));
    star_secrets.create(&PostParams::default(), &placeholder).await.unwrap();
    assert_eq!(try_export(&env, &source, &exp(&star), b"LICENCE-2").await.unwrap(), ExportWrite::Updated);
    let s = star_secrets.get("esignet-misp-onboarder-key").await.unwrap();
    assert_eq!(s.data.as_ref().unwrap()["mosip-esignet-misp-key"].0, b"LICENCE-2");
    assert_eq!(s.data.as_ref().unwrap()["other"].0, b"keep");
    assert!(!remove_export(env.client.clone(), source.uid, &exp(&star)).await.unwrap());
    assert!(star_secrets.get_opt("esignet-misp-onboarder-key").await.unwrap().is_some());

    // The copy the operator created is removed; another source cannot remove it.
    assert!(!remove_export(env.client.clone(), "uid-of-someone-else", &exp(&ok)).await.unwrap());
    assert!(remove_export(env.client.clone(), source.uid, &exp(&ok)).await.unwrap());
    assert!(secrets.get_opt("esignet-misp-onboarder-key").await.unwrap().is_none());

    for ns in [ok, star, other, none] {
        let _ = Api::<Namespace>::all(env.client.clone()).delete(&ns, &DeleteParams::default()).await;
    }
}
