//! The reconcilers: one module per kind, plus the shared status and Secret writers.
//!
//! Reconcilers are thin glue in three steps: gather (reflector stores and caches, see
//! [`cache`]), plan (the pure [`crate::mosip`] and [`crate::trust`] code), apply (Secrets, then
//! status, then Events). A reconcile that changes nothing writes nothing, and reads nothing from
//! the API server except a certificate Secret whose resourceVersion changed.

pub mod apikeys;
pub mod backend;
pub mod backlog;
pub mod cacert;
pub mod cache;
pub mod context;
pub mod error;
pub mod events;
pub mod finalizer;
pub mod lean;
pub mod license;
pub mod listwatch;
pub mod mosip;
pub mod mosip_delete;
pub mod packed;
pub mod partner;
pub mod policy;
pub mod recheck;
pub mod run;
pub mod scope;
pub mod secret_store;
pub mod secrets;
pub mod signing;
pub mod status;

pub use context::{Context, OperatorConfig};
pub use error::Error;
pub use run::run;

/// Field manager of every write the operator makes (server-side apply).
pub const FIELD_MANAGER: &str = "mosip-partner-operator";
/// Finalizer that keeps in-use PartnerPolicies from disappearing.
pub const POLICY_FINALIZER: &str = "pms.mosip.io/policy-in-use";
/// Finalizer on Partners and MispLicenses in `mosip` mode: deleting one first deactivates it in
/// PMS (see [`mosip_delete`]).
pub const PMS_FINALIZER: &str = "pms.mosip.io/deactivate";
/// Label on every object the operator emits.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "mosip-partner-operator";
/// Label naming the Partner an emitted Secret belongs to.
pub const PARTNER_LABEL: &str = "pms.mosip.io/partner";
/// Label naming the policy an API-key Secret belongs to.
pub const POLICY_LABEL: &str = "pms.mosip.io/policy";
/// Label naming the MispLicense a licence Secret belongs to.
pub const LICENSE_LABEL: &str = "pms.mosip.io/misp-license";
/// Label saying what an emitted Secret holds: api-key, license or signed-certificate.
pub const SECRET_KIND_LABEL: &str = "pms.mosip.io/secret-kind";
/// Annotation carrying the hash of an emitted Secret's content; unchanged hash, no write.
pub const CONTENT_HASH_ANNOTATION: &str = "pms.mosip.io/content-hash";
/// Annotation on a Partner or MispLicense: a new value rotates its keys now.
pub const ROTATE_ANNOTATION: &str = "pms.mosip.io/rotate";
/// Annotation on an emitted Secret recording the rotate request it already honoured.
pub const ROTATED_FOR_ANNOTATION: &str = "pms.mosip.io/rotated-for";

/// The current time in whole seconds: what Kubernetes timestamps can hold, and what people
/// read in Secrets and status (`validUntil`, `notAfter`).
pub fn now() -> jiff::Timestamp {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second()).unwrap_or(now)
}
