//! The partner's own Keycloak user: PMS lets only a user whose username equals the partnerId
//! generate that partner's API keys (`PartnerManagementServiceImpl.generateAPIKey`, PMS_PRT_055),
//! so the operator keeps one such user per partner, with the realm role of its type.
//!
//! Keycloak admin REST API, as the onboarder's `create_keycloak_user` folder uses it
//! (mosip-onboarding `onboarding.postman_collection.json`): create the user, look it up by
//! username, read the role, map it by id and name. `realmRoles` in the create body is ignored by
//! Keycloak, hence the separate role mapping.

use super::wire::{query_value, seg};
use super::{PmsClient, PmsError, SecretString};
use http::Method;
use serde_json::{Value, json};

/// The realm role for a PMS partner type code: MOSIP creates every partner type as an
/// upper-case Keycloak role (mosip-config `partner-management-default.properties`: "All partner
/// types should be created as roles in keycloak"), e.g. `Auth_Partner` → `AUTH_PARTNER`.
pub fn realm_role_for(partner_type_code: &str) -> String {
    partner_type_code.to_ascii_uppercase()
}

/// Refuses partnerIds that Keycloak would change (it lowercases usernames).
pub fn check_partner_id(partner_id: &str) -> Result<(), PmsError> {
    if partner_id.chars().any(|c| c.is_uppercase()) {
        return Err(PmsError::PartnerIdNotLowercase(partner_id.to_string()));
    }
    Ok(())
}

/// What [`PmsClient::ensure_keycloak_user`] found or did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeycloakUser {
    pub id: String,
    /// The user was created by this call.
    pub created: bool,
    /// The role mapping was added by this call.
    pub role_added: bool,
    /// The password of an existing user was reset to the given one.
    pub password_reset: bool,
}

impl PmsClient {
    async fn find_user(&self, username: &str) -> Result<Option<Value>, PmsError> {
        let (status, v) = self
            .keycloak(
                "GET /admin/realms/{realm}/users?username=",
                Method::GET,
                &format!("/users?exact=true&username={}", query_value(username)),
                None,
            )
            .await?;
        if status != 200 {
            return Err(PmsError::Protocol { endpoint: "GET users".into(), detail: format!("HTTP {status}") });
        }
        Ok(v.as_array()
            .and_then(|a| a.iter().find(|u| u.get("username").and_then(Value::as_str) == Some(username)))
            .cloned())
    }

    /// Makes sure the Keycloak user `partner_id` exists, enabled, with `password` and the realm
    /// role `role`. An existing user (a previous run, or one the onboarder left) is adopted: its
    /// password is reset to `password` only when `reset_existing_password` (the operator lost or
    /// never had it), and the role is mapped if missing. Re-running with the user in place
    /// writes nothing.
    pub async fn ensure_keycloak_user(
        &self,
        partner_id: &str,
        role: &str,
        password: &SecretString,
        reset_existing_password: bool,
    ) -> Result<KeycloakUser, PmsError> {
        check_partner_id(partner_id)?;
        let mut created = false;
        let mut password_reset = false;
        let user = match self.find_user(partner_id).await? {
            Some(u) => u,
            None => {
                let body = json!({
                    "username": partner_id,
                    "enabled": true,
                    "emailVerified": true,
                    "credentials": [{"type": "password", "value": password.expose(), "temporary": false}],
                });
                let (status, _) =
                    self.keycloak("POST /admin/realms/{realm}/users", Method::POST, "/users", Some(body)).await?;
                match status {
                    201 | 204 => created = true,
                    409 => {} // created concurrently: adopt it below
                    s => {
                        return Err(PmsError::Protocol {
                            endpoint: "POST /admin/realms/{realm}/users".into(),
                            detail: format!("HTTP {s}"),
                        });
                    }
                }
                self.find_user(partner_id).await?.ok_or_else(|| PmsError::Protocol {
                    endpoint: "GET users".into(),
                    detail: format!("user {partner_id:?} not found right after creating it"),
                })?
            }
        };
        let id = user.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
        if id.is_empty() {
            return Err(PmsError::Protocol { endpoint: "GET users".into(), detail: "user without id".into() });
        }
        let user_path = format!("/users/{}", seg(&id));
        if user.get("enabled").and_then(Value::as_bool) == Some(false) {
            let (s, _) = self
                .keycloak(
                    "PUT /admin/realms/{realm}/users/{id}",
                    Method::PUT,
                    &user_path,
                    Some(json!({"enabled": true})),
                )
                .await?;
            if s >= 300 {
                return Err(PmsError::Protocol { endpoint: "PUT user".into(), detail: format!("HTTP {s}") });
            }
        }
        if !created && reset_existing_password {
            let (s, _) = self
                .keycloak(
                    "PUT /admin/realms/{realm}/users/{id}/reset-password",
                    Method::PUT,
                    &format!("{user_path}/reset-password"),
                    Some(json!({"type": "password", "value": password.expose(), "temporary": false})),
                )
                .await?;
            if s >= 300 {
                return Err(PmsError::Protocol { endpoint: "PUT reset-password".into(), detail: format!("HTTP {s}") });
            }
            password_reset = true;
            self.forget_partner(partner_id);
        }
        // Role mapping: read what the user has, add the role by id and name if missing.
        let (s, mapped) = self
            .keycloak(
                "GET /admin/realms/{realm}/users/{id}/role-mappings/realm",
                Method::GET,
                &format!("{user_path}/role-mappings/realm"),
                None,
            )
            .await?;
        let has_role = s == 200
            && mapped.as_array().is_some_and(|a| a.iter().any(|r| r.get("name").and_then(Value::as_str) == Some(role)));
        let mut role_added = false;
        if !has_role {
            let (s, r) = self
                .keycloak("GET /admin/realms/{realm}/roles/{role}", Method::GET, &format!("/roles/{}", seg(role)), None)
                .await?;
            if s == 404 {
                return Err(PmsError::Mismatch(format!(
                    "Keycloak realm {:?} has no role {role:?}; MOSIP expects every partner type as a realm role",
                    self.credentials().keycloak_realm
                )));
            }
            let role_id = r.get("id").and_then(Value::as_str).unwrap_or_default();
            let (s, _) = self
                .keycloak(
                    "POST /admin/realms/{realm}/users/{id}/role-mappings/realm",
                    Method::POST,
                    &format!("{user_path}/role-mappings/realm"),
                    Some(json!([{"id": role_id, "name": role}])),
                )
                .await?;
            if s >= 300 {
                return Err(PmsError::Protocol { endpoint: "POST role-mappings".into(), detail: format!("HTTP {s}") });
            }
            role_added = true;
        }
        Ok(KeycloakUser { id, created, role_added, password_reset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_partner_ids() {
        assert_eq!(realm_role_for("Auth_Partner"), "AUTH_PARTNER");
        assert_eq!(realm_role_for("MISP_Partner"), "MISP_PARTNER");
        assert!(check_partner_id("mpartner-default-esignet").is_ok());
        let e = check_partner_id("MyPartner").unwrap_err();
        assert_eq!(e.reason(), "PartnerIdNotLowercase");
    }
}
