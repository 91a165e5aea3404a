//! The `mosip` backend's client: MOSIP's own Partner Management Services (PMS), kernel
//! authmanager and the Keycloak admin API, driven the way MOSIP's partner-onboarder drives them,
//! but idempotently (read before write) and without leaking a credential.
//!
//! - [`client::PmsClient`]: transport, envelope, `Cookie: Authorization=` auth, token caches,
//!   typed errors and metrics.
//! - [`ops`]: the high-level idempotent operations the reconcilers call. They take and return
//!   plain data, never Kubernetes objects.
//! - [`error::PmsError`]: maps every failure to a condition reason (`PMS_<code>`,
//!   `MosipUnavailable`, `MosipAuthFailed`, ...).
//!
//! Facts used here (paths, bodies, error codes) are from PMS v1.2.2.x sources; see
//! `../shared/reference/mosip-integration.md` in the team notes and the comments of each call.

pub mod client;
pub mod credentials;
pub mod error;
pub mod exports;
pub mod keycloak;
pub mod ops;
pub mod plan;
pub mod secret;
pub mod sync;
mod transport;
pub mod wire;

pub use client::{Caller, PmsClient, PmsConfig, PmsEndpoints};
pub use credentials::MosipCredentials;
pub use error::PmsError;
pub use secret::SecretString;
