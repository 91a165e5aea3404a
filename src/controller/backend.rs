//! Where key material comes from: the minting seam.
//!
//! The reconcilers decide *when* an API key or a MISP licence must be minted (the pure plans of
//! [`crate::mosip::renewal`]); a [`KeySource`] decides *how*. The owned-Secret lifecycle then
//! stores what it returned, in the same reconcile, before anything else is written.
//!
//! - [`Standalone`] (today's behaviour, the default): keys from the operating system's CSPRNG
//!   ([`crate::mosip::generate_api_key`], [`crate::mosip::generate_license_key`]).
//! - A PMS-backed source (issue #12) implements the same trait: `api_key` calls PMS's
//!   "generate API key" as the partner's own Keycloak user for the (partner, policy, label) in
//!   [`KeyRequest`], `license_key` calls `POST /misps` for the MISP partner. PMS returns a key
//!   exactly once, so the implementation must hand it back to the caller (which writes the Secret
//!   at once) and never log it; a failure is an [`Error`] the controller retries with per-object
//!   back-off. It is plugged in where the [`super::Context`] is built (`Context::keys`), e.g.
//!   `Arc::new(PmsKeySource::new(client))` when `--backend mosip` is given.
//!
//! A networked source does its I/O inside the future [`KeySource::mint`] returns.

use super::error::{Error, Result};
use futures::future::BoxFuture;

/// What a key is minted for. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRequest {
    /// An API key of a partner for a policy, under a label.
    ApiKey { namespace: String, partner_id: String, policy: String, label: String },
    /// A MISP licence key of a MISP partner (with the MISP policy, if named).
    License { namespace: String, partner_id: String, policy: Option<String>, license: String },
}

/// Mints key material.
pub trait KeySource: Send + Sync {
    /// A new key for `request`. The returned string is secret: store it, never log it.
    fn mint<'a>(&'a self, request: &'a KeyRequest) -> BoxFuture<'a, Result<String>>;

    /// A name for logs and metrics.
    fn name(&self) -> &'static str;
}

/// Keys from the operating system's CSPRNG, in MOSIP's formats.
#[derive(Debug, Default, Clone, Copy)]
pub struct Standalone;

impl KeySource for Standalone {
    fn mint<'a>(&'a self, request: &'a KeyRequest) -> BoxFuture<'a, Result<String>> {
        let key = match request {
            KeyRequest::ApiKey { .. } => crate::mosip::generate_api_key(),
            KeyRequest::License { .. } => crate::mosip::generate_license_key(),
        }
        .map_err(|e| Error::KeyGeneration(e.to_string()));
        Box::pin(futures::future::ready(key))
    }

    fn name(&self) -> &'static str {
        "standalone"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn standalone_mints_mosip_formats() {
        let k = Standalone
            .mint(&KeyRequest::ApiKey {
                namespace: "n".into(),
                partner_id: "p".into(),
                policy: "pol".into(),
                label: "l".into(),
            })
            .await
            .unwrap();
        assert_eq!(k.len(), crate::mosip::API_KEY_LEN);
        let l = Standalone
            .mint(&KeyRequest::License {
                namespace: "n".into(),
                partner_id: "p".into(),
                policy: None,
                license: "lic".into(),
            })
            .await
            .unwrap();
        assert_eq!(l.len(), crate::mosip::LICENSE_KEY_LEN);
    }
}
