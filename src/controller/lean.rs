//! Custom resources as the watch delivers them, parsed without what no reconciler reads:
//! `metadata.managedFields` and kubectl's last-applied annotation are skipped while parsing,
//! not parsed and dropped afterwards.
//!
//! Why: a restart lists every Partner at once (one response from the API server's watch cache),
//! and each Partner's managed fields are a tree of maps per field manager (~11 KiB parsed, for
//! the operator's status alone). Parsed whole and stripped only afterwards, they made that
//! listing the operator's memory peak: 46 MiB of heap at 2,000 onboarded Partners, against
//! 29 MiB for everything the converged operator holds.

use super::cache::LAST_APPLIED;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::Resource;
use kube::runtime::watcher;
use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A custom resource made of metadata, spec and status, as the `kube` derive generates it.
pub trait Parts: Resource + Sized {
    type Spec: DeserializeOwned;
    type Status: DeserializeOwned;
    fn from_parts(metadata: ObjectMeta, spec: Self::Spec, status: Option<Self::Status>) -> Self;
}

/// `K`, parsed without managed fields and without the last-applied annotation.
#[derive(Clone, Debug)]
pub struct Lean<K>(pub K);

impl<K: Resource> Resource for Lean<K> {
    type DynamicType = K::DynamicType;
    type Scope = K::Scope;

    fn kind(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::version(dt)
    }

    fn plural(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        self.0.meta()
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        self.0.meta_mut()
    }
}

/// The object fields a reconcile reads; any other field (managedFields among them) is skipped
/// by the parser without being built.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    #[serde(default, deserialize_with = "annotations")]
    annotations: Option<BTreeMap<String, String>>,
    creation_timestamp: Option<Time>,
    deletion_grace_period_seconds: Option<i64>,
    deletion_timestamp: Option<Time>,
    finalizers: Option<Vec<String>>,
    generate_name: Option<String>,
    generation: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
    name: Option<String>,
    namespace: Option<String>,
    owner_references: Option<Vec<OwnerReference>>,
    resource_version: Option<String>,
    uid: Option<String>,
}

impl From<Meta> for ObjectMeta {
    fn from(m: Meta) -> Self {
        ObjectMeta {
            annotations: m.annotations,
            creation_timestamp: m.creation_timestamp,
            deletion_grace_period_seconds: m.deletion_grace_period_seconds,
            deletion_timestamp: m.deletion_timestamp,
            finalizers: m.finalizers,
            generate_name: m.generate_name,
            generation: m.generation,
            labels: m.labels,
            managed_fields: None,
            name: m.name,
            namespace: m.namespace,
            owner_references: m.owner_references,
            resource_version: m.resource_version,
            self_link: None,
            uid: m.uid,
        }
    }
}

/// Annotations without kubectl's last-applied copy of the whole object; none left is `None`.
fn annotations<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    struct Annotations;
    impl<'de> Visitor<'de> for Annotations {
        type Value = Option<BTreeMap<String, String>>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a map of annotations")
        }

        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(key) = map.next_key::<String>()? {
                if key == LAST_APPLIED {
                    map.next_value::<IgnoredAny>()?;
                } else {
                    out.insert(key, map.next_value::<String>()?);
                }
            }
            Ok((!out.is_empty()).then_some(out))
        }
    }
    d.deserialize_option(Annotations)
}

#[derive(Deserialize)]
#[serde(bound = "S: DeserializeOwned, T: DeserializeOwned")]
struct Wire<S, T> {
    metadata: Meta,
    spec: S,
    #[serde(default)]
    status: Option<T>,
}

impl<'de, K: Parts> Deserialize<'de> for Lean<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::<K::Spec, K::Status>::deserialize(d)?;
        Ok(Lean(K::from_parts(w.metadata.into(), w.spec, w.status)))
    }
}

/// The watch event of the object itself.
pub fn unwrap<K>(event: watcher::Event<Lean<K>>) -> watcher::Event<K> {
    match event {
        watcher::Event::Apply(o) => watcher::Event::Apply(o.0),
        watcher::Event::Delete(o) => watcher::Event::Delete(o.0),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitApply(o) => watcher::Event::InitApply(o.0),
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

macro_rules! parts {
    ($kind:ty, $spec:ty, $status:ty) => {
        impl Parts for $kind {
            type Spec = $spec;
            type Status = $status;
            fn from_parts(metadata: ObjectMeta, spec: $spec, status: Option<$status>) -> Self {
                let mut o = <$kind>::new("", spec);
                o.metadata = metadata;
                o.status = status;
                o
            }
        }
    };
}

parts!(crate::api::Partner, crate::api::PartnerSpec, crate::api::PartnerStatus);
parts!(crate::api::MispLicense, crate::api::MispLicenseSpec, crate::api::MispLicenseStatus);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Partner;

    fn partner_json() -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "pms.mosip.io/v1alpha1", "kind": "Partner",
            "metadata": {
                "name": "rp", "namespace": "a", "uid": "u1", "resourceVersion": "7", "generation": 2,
                "creationTimestamp": "2026-12-01T00:00:00Z",
                "labels": {"team": "x"},
                "annotations": {"note": "kept", LAST_APPLIED: "{\"a\":{\"huge\":[1,2,3]}}"},
                "finalizers": ["pms.mosip.io/pms"],
                "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": "u0"}],
                "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "pms.mosip.io/v1alpha1",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:organizationName": {}}}}]
            },
            "spec": {"partnerType": "Auth_Partner", "organizationName": "O"},
            "status": {"observedGeneration": 2, "registeredPartnerId": "rp"}
        })
    }

    #[test]
    fn a_lean_parse_equals_the_full_parse_stripped() {
        let lean: Lean<Partner> = serde_json::from_value(partner_json()).unwrap();
        let mut full: Partner = serde_json::from_value(partner_json()).unwrap();
        assert!(full.metadata.managed_fields.is_some());
        super::super::cache::strip(&mut full);
        assert_eq!(serde_json::to_value(&lean.0).unwrap(), serde_json::to_value(&full).unwrap());
        assert_eq!(lean.0.metadata.annotations.as_ref().map(|a| a.len()), Some(1));
    }

    #[test]
    fn no_status_and_only_last_applied_parse_to_none() {
        let mut v = partner_json();
        v.as_object_mut().unwrap().remove("status");
        v["metadata"]["annotations"] = serde_json::json!({LAST_APPLIED: "{}"});
        let lean: Lean<Partner> = serde_json::from_value(v.clone()).unwrap();
        assert!(lean.0.status.is_none());
        assert!(lean.0.metadata.annotations.is_none());
        v["metadata"]["annotations"] = serde_json::Value::Null;
        let lean: Lean<Partner> = serde_json::from_value(v).unwrap();
        assert!(lean.0.metadata.annotations.is_none());
    }

    #[test]
    fn a_malformed_object_is_an_error_not_a_panic() {
        let mut v = partner_json();
        v["metadata"]["annotations"] = serde_json::json!({"note": 5});
        assert!(serde_json::from_value::<Lean<Partner>>(v).is_err());
        assert!(serde_json::from_value::<Lean<Partner>>(serde_json::json!({"metadata": {}})).is_err());
    }
}
