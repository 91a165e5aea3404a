//! `approve` and `deny`: an approver's decision on a policy request, cert-manager style.
//!
//! The decision is a condition (`Approved` or `Denied`, status True, reason = who, message =
//! why) in `status.policies[]` of the Partner, written with server-side apply under the
//! approver's own field manager, so the operator's status writes never remove it. A request
//! that is already decided is refused, like `cmctl approve`.

use crate::api::{APPROVED, DENIED, Partner};
use crate::mosip::PartnerTypeExt;
use clap::Args;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};

/// Field manager of decisions made with this command.
pub const APPROVER_FIELD_MANAGER: &str = "mosip-partner-operator-approver";

#[derive(Args, Debug, Clone)]
pub struct DecideArgs {
    /// The Partner's name.
    pub partner: String,
    /// The requested PartnerPolicy.
    #[arg(long)]
    pub policy: String,
    /// Namespace of the Partner (default: the kubeconfig's namespace).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Who decides: a CamelCase token (letters, digits, '_', ',', ':').
    #[arg(long, default_value = "MosipPartnerOperatorCLI")]
    pub reason: String,
    /// Why, in words.
    #[arg(long)]
    pub message: Option<String>,
    /// The request fingerprint (status.policies[].requestHash) the approver reviewed. When the
    /// request or its policy changed since, its fingerprint differs and nothing is decided.
    #[arg(long)]
    pub request_hash: Option<String>,
}

/// What is being decided, for the approver to read (and to pin with --request-hash).
pub fn describe_request(partner: &Partner, policy: &str, hash: &str) -> String {
    let request = partner.spec.policies.iter().find(|p| p.name == policy);
    let list = |v: Vec<String>| if v.is_empty() { "-".to_string() } else { v.join(", ") };
    let mut out = format!(
        "Partner:          {}/{}\nPartner ID:       {}\nPartner type:     {}\nOrganization:     {}\nPolicy:           {policy}\n",
        partner.namespace().unwrap_or_default(),
        partner.name_any(),
        partner.partner_id(),
        partner.spec.partner_type.as_str(),
        partner.spec.organization_name,
    );
    if let Some(r) = request {
        out.push_str(&format!("Use case:         {}\n", r.use_case.as_deref().unwrap_or("-")));
        out.push_str(&format!("Credential types: {}\n", list(r.credential_types.clone())));
        let extractors = r
            .biometric_extractors
            .iter()
            .map(|e| format!("{}={} ({} {})", e.attribute_name, e.biometric, e.provider, e.version))
            .collect();
        out.push_str(&format!("Extractors:       {}\n", list(extractors)));
        out.push_str(&format!("API key labels:   {}\n", list(r.api_keys.iter().map(|k| k.label.clone()).collect())));
    }
    out.push_str(&format!("Request hash:     {hash}\n"));
    out
}

/// Approve (`true`) or deny (`false`). Returns the process exit code.
pub async fn run(args: &DecideArgs, approve: bool) -> anyhow::Result<i32> {
    if !valid_reason(&args.reason) {
        eprintln!(
            "error: --reason {:?} must start with a letter and contain only letters, digits, '_', ',' or ':'",
            args.reason
        );
        return Ok(2);
    }
    let client = Client::try_default().await?;
    let api: Api<Partner> = match &args.namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::default_namespaced(client),
    };
    let partner = api.get(&args.partner).await?;
    let (type_, verb) = if approve { (APPROVED, "approved") } else { (DENIED, "denied") };
    match decide(&partner, &args.policy) {
        Err(msg) => {
            eprintln!("error: {msg}");
            return Ok(1);
        }
        Ok(hash) => {
            print!("{}", describe_request(&partner, &args.policy, &hash));
            if let Some(reviewed) = args.request_hash.as_deref().map(str::trim)
                && reviewed != hash
            {
                eprintln!(
                    "error: the request changed since it was reviewed: its fingerprint is {hash}, not {reviewed}; \
                     review it again (printed above) and pass --request-hash {hash}"
                );
                return Ok(1);
            }
            let message = args.message.clone().unwrap_or_else(|| {
                format!("manually {verb} by mosip-partner-operator {}", if approve { "approve" } else { "deny" })
            });
            let patch = serde_json::json!({
                "apiVersion": "pms.mosip.io/v1alpha1",
                "kind": "Partner",
                "status": {
                    "policies": [{
                        "name": args.policy,
                        "decidedRequestHash": hash,
                        "conditions": [{
                            "type": type_,
                            "status": "True",
                            "reason": args.reason,
                            "message": message,
                            "lastTransitionTime": crate::controller::now().to_string(),
                            "observedGeneration": partner.metadata.generation,
                        }]
                    }]
                }
            });
            api.patch_status(
                &partner.name_any(),
                &PatchParams::apply(APPROVER_FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
            println!(
                "{verb} policy request {:?} of Partner {}/{}",
                args.policy,
                partner.namespace().unwrap_or_default(),
                partner.name_any()
            );
        }
    }
    Ok(0)
}

/// Checks the request can be decided; returns the request fingerprint to decide on. The rule is
/// the controller's own ([`crate::mosip::approval::can_decide`]).
pub fn decide(partner: &Partner, policy: &str) -> Result<String, String> {
    let requested = partner.spec.policies.iter().any(|p| p.name == policy);
    let entry = partner.status.as_ref().and_then(|s| s.policies.iter().find(|p| p.name == policy));
    crate::mosip::approval::can_decide(requested, entry, &partner.name_any(), policy)
}

/// metav1.Condition's reason pattern.
pub fn valid_reason(reason: &str) -> bool {
    let mut chars = reason.chars();
    let Some(first) = chars.next() else { return false };
    let last_ok = reason.chars().last().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    first.is_ascii_alphabetic()
        && last_ok
        && reason.len() <= 1024
        && reason.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ',' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons() {
        assert!(valid_reason("Alice"));
        assert!(valid_reason("Ops:Alice_2"));
        assert!(!valid_reason(""));
        assert!(!valid_reason("1abc"));
        assert!(!valid_reason("has space"));
        assert!(!valid_reason("ends:"));
    }

    #[test]
    fn the_request_is_described_with_its_fingerprint() {
        let partner: Partner = serde_json::from_value(serde_json::json!({
            "apiVersion": "pms.mosip.io/v1alpha1", "kind": "Partner",
            "metadata": {"name": "rp", "namespace": "ns"},
            "spec": {"partnerId": "rp-1", "partnerType": "Auth_Partner", "organizationName": "Org",
                     "policies": [{"name": "p", "useCase": "login", "credentialTypes": ["auth"],
                                   "apiKeys": [{"label": "k"}]}]}
        }))
        .expect("partner");
        let text = describe_request(&partner, "p", "abc123");
        for want in ["ns/rp", "rp-1", "Auth_Partner", "login", "auth", "k", "abc123"] {
            assert!(text.contains(want), "{want} missing from {text}");
        }
    }
}
