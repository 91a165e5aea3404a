//! MOSIP's own rules, as pure functions: no API server, no I/O (except the OS random number
//! generator for keys).
//!
//! - [`partner_type`]: what each partner type means ([`PartnerTypeExt`]).
//! - [`registration`]: partner registration rules ([`validate_registration`]).
//! - [`policy`]: policy rules and MOSIP's policy schemas ([`validate_policy`]).
//! - [`request`]: policy request rules and the approval hash ([`validate_request`],
//!   [`request_hash`]).
//! - [`keys`]: API keys and MISP licence keys.
//! - [`duration`]: validity periods such as `90d`.
//! - [`names`]: names of the Secrets the operator writes, and label values.
//! - [`approval`]: the approval decision on a policy request (controller and CLI).
//! - [`renewal`]: when to issue, keep, rotate, renew or withdraw keys, licences and re-signed
//!   certificates ([`plan_api_key`], [`plan_license`], [`plan_resign`]).
//! - [`tenancy`]: tenant-safety rules (partnerId claims, licence validity, renewal floor,
//!   issued-key records).
//!
//! Every error type has a `reason()` that is used as the condition reason, and a message that
//! says what to change.

pub mod approval;
pub mod duration;
pub mod keys;
pub mod names;
pub mod partner_type;
pub mod policy;
pub mod registration;
pub mod renewal;
pub mod request;
pub mod tenancy;

pub use duration::{DurationError, MAX_VALIDITY_SECS, parse_validity};
pub use keys::{
    API_KEY_LEN, KeyError, LICENSE_KEY_ALPHABET, LICENSE_KEY_LEN, generate_api_key, generate_license_key,
    key_fingerprint,
};
pub use names::{
    api_key_secret_name, is_dns1123_subdomain, is_valid_label_value, label_value, license_secret_name,
    signed_certificate_secret_name,
};
pub use partner_type::{ALL_PARTNER_TYPES, PartnerTypeExt, partner_type_from_code};
pub use policy::{PolicyError, PolicyProblem, body_field, validate_policy};
pub use registration::{
    RegistrationError, is_valid_email, normalize_label, registration_summary, validate_registration,
};
pub use renewal::{plan_api_key, plan_license, plan_resign};
pub use request::{
    DEFAULT_CREDENTIAL_TYPES, PolicyView, RequestError, partner_request_hash, request_hash, validate_request,
};
