//! The operator's API: four custom resources in group `pms.mosip.io`, version `v1alpha1`.
//!
//! Field doc comments become `kubectl explain` text, so they are written for the people who
//! write the manifests. No field carries a schema `default`: the API server would inject it into
//! users' objects and GitOps tools would report drift. Defaults are applied in code instead
//! (see the `effective_*` helpers).

mod cacert;
mod condition;
mod license;
mod mosip;
mod partner;
mod policy;

pub use cacert::*;
pub use condition::*;
pub use license::*;
pub use mosip::*;
pub use partner::*;
pub use policy::*;

use kube::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of every kind.
pub const GROUP: &str = "pms.mosip.io";
/// The API version of every kind.
pub const VERSION: &str = "v1alpha1";
/// The `kubectl get <category>` name shared by every kind.
pub const CATEGORY: &str = "mosip";

/// A MOSIP partner domain: the trust store a CA certificate belongs to and the domain a partner
/// certificate is validated in.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema, PartialOrd, Ord)]
pub enum PartnerDomain {
    /// Authentication, credential, verification and most other partners.
    #[serde(rename = "AUTH")]
    Auth,
    /// Device providers.
    #[serde(rename = "DEVICE")]
    Device,
    /// FTM (foundational trust module) providers.
    #[serde(rename = "FTM")]
    Ftm,
    /// MISPs (MOSIP infrastructure service providers).
    #[serde(rename = "MISP")]
    Misp,
}

impl PartnerDomain {
    /// MOSIP's spelling of the domain.
    pub fn as_str(self) -> &'static str {
        match self {
            PartnerDomain::Auth => "AUTH",
            PartnerDomain::Device => "DEVICE",
            PartnerDomain::Ftm => "FTM",
            PartnerDomain::Misp => "MISP",
        }
    }

    /// Parses MOSIP's spelling, ignoring case.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "AUTH" => Some(PartnerDomain::Auth),
            "DEVICE" => Some(PartnerDomain::Device),
            "FTM" => Some(PartnerDomain::Ftm),
            "MISP" => Some(PartnerDomain::Misp),
            _ => None,
        }
    }
}

impl std::fmt::Display for PartnerDomain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every CRD of the operator, in a stable order.
pub fn all_crds() -> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> {
    vec![CACertificate::crd(), PartnerPolicy::crd(), Partner::crd(), MispLicense::crd()]
}

/// All CRDs as one multi-document YAML stream, as committed under `crds/`.
pub fn all_crds_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for crd in all_crds() {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&crd)?);
    }
    Ok(out)
}

/// Labels and annotations by key, whatever holds them: an `ObjectMeta`, or the compact
/// projection the operator's Secret store keeps.
pub trait Tagged {
    /// The value of label `key`.
    fn label(&self, key: &str) -> Option<&str>;
    /// The value of annotation `key`.
    fn annotation(&self, key: &str) -> Option<&str>;
}

impl Tagged for k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels.as_ref()?.get(key).map(String::as_str)
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}
