//! mosip-partner-operator: MOSIP partners as Kubernetes resources.
//!
//! - [`api`]: the four custom resources.
//! - [`mosip`]: MOSIP's own rules (partner types, registration and policy validation, key formats);
//!   pure, no API server.
//! - [`trust`]: certificate validation and MOSIP re-signing; pure, no API server.
//! - [`pms`]: the `mosip` backend's client for PMS, authmanager and Keycloak.
//! - [`controller`]: one reconciler per kind plus shared status and Secret writers.
//! - [`cli`]: the subcommands.

pub mod api;
pub mod cli;
pub mod controller;
#[cfg(test)]
mod fuzz;
pub mod metrics;
pub mod mosip;
pub mod pms;
pub mod server;
pub mod trust;
