//! The MOSIP credentials, read from one Secret in the operator namespace
//! (`--mosip-credentials-secret`).

use super::{PmsError, SecretString};
use k8s_openapi::ByteString;
use std::collections::BTreeMap;

/// Key: the PMS OIDC client's secret (authmanager `clientSecret`).
pub const KEY_PMS_CLIENT_SECRET: &str = "pms-client-secret";
/// Key (optional): the PMS OIDC client id; `mosip-pms-client` when absent.
pub const KEY_PMS_CLIENT_ID: &str = "pms-client-id";
/// Key: a Keycloak user with the PARTNER_ADMIN role (policy, CA, approval, activation, MISP).
pub const KEY_PARTNER_ADMIN_USERNAME: &str = "partner-admin-username";
pub const KEY_PARTNER_ADMIN_PASSWORD: &str = "partner-admin-password";
/// Key: a Keycloak master-realm admin (creates one user per partner).
pub const KEY_KEYCLOAK_ADMIN_USERNAME: &str = "keycloak-admin-username";
pub const KEY_KEYCLOAK_ADMIN_PASSWORD: &str = "keycloak-admin-password";
/// Key (optional): the MOSIP realm; `mosip` when absent.
pub const KEY_KEYCLOAK_REALM: &str = "keycloak-realm";

pub const DEFAULT_PMS_CLIENT_ID: &str = "mosip-pms-client";
pub const DEFAULT_KEYCLOAK_REALM: &str = "mosip";

/// Everything the backend logs in with. `Debug` redacts the secrets.
#[derive(Clone, Debug)]
pub struct MosipCredentials {
    pub pms_client_id: String,
    pub pms_client_secret: SecretString,
    pub partner_admin_username: String,
    pub partner_admin_password: SecretString,
    pub keycloak_admin_username: String,
    pub keycloak_admin_password: SecretString,
    pub keycloak_realm: String,
}

impl MosipCredentials {
    /// Reads the Secret's data. A missing or empty required key is a configuration error that
    /// names the key (never a value).
    pub fn from_secret_data(secret_name: &str, data: &BTreeMap<String, ByteString>) -> Result<Self, PmsError> {
        let get = |key: &str| -> Option<String> {
            data.get(key)
                .and_then(|v| String::from_utf8(v.0.clone()).ok())
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        let mut missing = Vec::new();
        let mut need = |key: &'static str| {
            get(key).unwrap_or_else(|| {
                missing.push(key);
                String::new()
            })
        };
        let pms_client_secret = need(KEY_PMS_CLIENT_SECRET);
        let partner_admin_username = need(KEY_PARTNER_ADMIN_USERNAME);
        let partner_admin_password = need(KEY_PARTNER_ADMIN_PASSWORD);
        let keycloak_admin_username = need(KEY_KEYCLOAK_ADMIN_USERNAME);
        let keycloak_admin_password = need(KEY_KEYCLOAK_ADMIN_PASSWORD);
        if !missing.is_empty() {
            return Err(PmsError::Config(format!(
                "Secret {secret_name:?} lacks the non-empty key(s) {}",
                missing.join(", ")
            )));
        }
        Ok(Self {
            pms_client_id: get(KEY_PMS_CLIENT_ID).unwrap_or_else(|| DEFAULT_PMS_CLIENT_ID.into()),
            pms_client_secret: pms_client_secret.into(),
            partner_admin_username,
            partner_admin_password: partner_admin_password.into(),
            keycloak_admin_username,
            keycloak_admin_password: keycloak_admin_password.into(),
            keycloak_realm: get(KEY_KEYCLOAK_REALM).unwrap_or_else(|| DEFAULT_KEYCLOAK_REALM.into()),
        })
    }

    /// Loads the Secret `name` from `namespace`.
    pub async fn load(client: kube::Client, namespace: &str, name: &str) -> Result<Self, PmsError> {
        let api: kube::Api<k8s_openapi::api::core::v1::Secret> = kube::Api::namespaced(client, namespace);
        let secret = api
            .get_opt(name)
            .await
            .map_err(|e| PmsError::Config(format!("cannot read Secret {namespace}/{name}: {e}")))?
            .ok_or_else(|| {
                PmsError::Config(format!("Secret {namespace}/{name} (--mosip-credentials-secret) does not exist"))
            })?;
        Self::from_secret_data(name, &secret.data.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
        pairs.iter().map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec()))).collect()
    }

    #[test]
    fn reads_required_keys_and_defaults() {
        let d = data(&[
            ("pms-client-secret", "s3cret"),
            ("partner-admin-username", "pmsadmin"),
            ("partner-admin-password", "pw1"),
            ("keycloak-admin-username", "admin"),
            ("keycloak-admin-password", "pw2"),
        ]);
        let c = MosipCredentials::from_secret_data("mosip", &d).unwrap();
        assert_eq!(c.pms_client_id, "mosip-pms-client");
        assert_eq!(c.keycloak_realm, "mosip");
        assert_eq!(c.pms_client_secret.expose(), "s3cret");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cret") && !dbg.contains("pw1") && !dbg.contains("pw2"), "{dbg}");
    }

    #[test]
    fn names_missing_keys_without_values() {
        let d = data(&[("pms-client-secret", "s3cret"), ("partner-admin-password", " ")]);
        let e = MosipCredentials::from_secret_data("mosip", &d).unwrap_err().to_string();
        assert!(e.contains("partner-admin-username") && e.contains("partner-admin-password"), "{e}");
        assert!(e.contains("keycloak-admin-password") && !e.contains("s3cret"), "{e}");
    }
}
