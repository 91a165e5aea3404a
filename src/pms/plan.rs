//! Pure rules of the `mosip` backend (no I/O): what a PartnerPolicy or Partner becomes in PMS,
//! who may receive an export, and the crash-safe key-minting decision. The reconcilers call
//! these and then the ops in [`super::ops`].

use super::ops::{PartnerRegistration, PolicyDefinition, api_key_label};
use crate::api::{
    ACCEPT_EXPORTS_LABEL, LicenseMosipStatus, MosipApiKeyStatus, Partner, PartnerMosipStatus, PartnerPolicySpec,
    PolicyType,
};
use crate::mosip::partner_type::PartnerTypeExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

/// PMS's limits for policy and group descriptions (`policy_group.descr`, `auth_policy.descr`).
const DESCRIPTION_MAX: usize = 256;
/// PMS's limit for a policy version (`auth_policy.version` varchar(8)).
const VERSION_MAX: usize = 8;

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The PMS definition of a PartnerPolicy: the PMS policy name is `metadata.name`, the group name
/// `spec.group`; PMS requires non-blank descriptions and a version, derived when the spec has
/// none. The body is the spec field for the type, whose JSON names are MOSIP's.
pub fn policy_definition(name: &str, spec: &PartnerPolicySpec) -> PolicyDefinition {
    let body = match spec.policy_type {
        PolicyType::Auth => spec.auth.as_ref().and_then(|b| serde_json::to_value(b).ok()),
        PolicyType::DataShare | PolicyType::CredentialIssuance => {
            spec.data_share.as_ref().and_then(|b| serde_json::to_value(b).ok())
        }
        PolicyType::Misp => spec.misp.as_ref().and_then(|b| serde_json::to_value(b).ok()),
    }
    .unwrap_or(Value::Object(Default::default()));
    let description = spec
        .description
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(String::from)
        .unwrap_or_else(|| format!("{} policy {name} (managed by mosip-partner-operator)", spec.policy_type));
    let version = spec.version.as_deref().map(str::trim).filter(|v| !v.is_empty()).unwrap_or("1.0");
    PolicyDefinition {
        group: spec.group.clone(),
        group_description: truncate(
            &format!("Policy group {} (managed by mosip-partner-operator)", spec.group),
            DESCRIPTION_MAX,
        ),
        name: name.to_string(),
        description: truncate(&description, DESCRIPTION_MAX),
        version: truncate(version, VERSION_MAX),
        policy_type: spec.policy_type.as_str().to_string(),
        body,
    }
}

/// A fingerprint of a definition, recorded in `status.mosip.syncedHash` to tell a change.
pub fn definition_hash(def: &PolicyDefinition) -> String {
    use sha2::Digest;
    let text = serde_json::json!([
        def.group,
        def.group_description,
        def.name,
        def.description,
        def.version,
        def.policy_type,
        def.body
    ])
    .to_string();
    hex::encode(&sha2::Sha256::digest(text.as_bytes())[..16])
}

/// The PMS registration of a Partner (already validated by `crate::mosip::validate_registration`).
pub fn partner_registration(partner: &Partner) -> PartnerRegistration {
    let contact =
        partner.spec.contact.clone().unwrap_or(crate::api::Contact { email: None, phone: None, address: None });
    PartnerRegistration {
        partner_id: partner.partner_id(),
        organization_name: partner.spec.organization_name.clone(),
        address: contact.address.unwrap_or_default(),
        contact_number: contact.phone.unwrap_or_default(),
        email_id: contact.email.unwrap_or_default(),
        partner_type: partner.spec.partner_type.as_str().to_string(),
        policy_group: partner.spec.policy_group.clone(),
    }
}

/// The partner's PMS certificate domain (`AUTH`, `DEVICE`, `FTM`, `MISP`).
pub fn partner_domain(partner: &Partner) -> &'static str {
    partner.spec.partner_type.domain().as_str()
}

/// Why an export may not be written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExportDenied {
    #[error("namespace {target:?} does not exist")]
    NoNamespace { target: String },
    #[error(
        "namespace {target:?} does not accept copies from {from:?}: label it {ACCEPT_EXPORTS_LABEL}={from} (or annotate it {ACCEPT_EXPORTS_LABEL}: \"*\") to opt in"
    )]
    NotOptedIn { target: String, from: String },
}

/// Whether `source` may write into `target`, given `target`'s metadata (None: no such
/// namespace). Only the target's own metadata opts in — an editor of `source` cannot grant
/// itself access:
/// - the label `pms.mosip.io/accept-exports-from=<source>`, or
/// - the annotation `pms.mosip.io/accept-exports-from` with `*` or a comma-separated list of
///   namespaces (a label value cannot be `*`: Kubernetes label values must start and end with
///   an alphanumeric character).
pub fn export_allowed(source: &str, target: &str, target_meta: Option<&ObjectMeta>) -> Result<(), ExportDenied> {
    if source == target {
        return Ok(());
    }
    let meta = target_meta.ok_or_else(|| ExportDenied::NoNamespace { target: target.to_string() })?;
    let label = meta.labels.as_ref().and_then(|l| l.get(ACCEPT_EXPORTS_LABEL)).map(String::as_str);
    let annotation = meta.annotations.as_ref().and_then(|a| a.get(ACCEPT_EXPORTS_LABEL)).map(String::as_str);
    let by_label = label == Some(source);
    let by_annotation = annotation.is_some_and(|v| v.split(',').map(str::trim).any(|n| n == "*" || n == source));
    if by_label || by_annotation {
        Ok(())
    } else {
        Err(ExportDenied::NotOptedIn { target: target.to_string(), from: source.to_string() })
    }
}

/// What [`export_allowed`] reads of a target namespace: its label and its annotation
/// `pms.mosip.io/accept-exports-from`. When this changes, the objects exporting into that
/// namespace are looked at again.
pub fn opt_in_of(meta: &ObjectMeta) -> (Option<String>, Option<String>) {
    let get = |m: &Option<std::collections::BTreeMap<String, String>>| {
        m.as_ref().and_then(|m| m.get(ACCEPT_EXPORTS_LABEL)).cloned()
    };
    (get(&meta.labels), get(&meta.annotations))
}

/// SHA-256 (hex) of an exported value: all the operator remembers of a copy's content.
pub fn export_fingerprint(value: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(value))
}

/// What the operator last read or wrote of a consumer copy.
#[derive(Clone, Copy, Debug)]
pub struct KnownCopy<'a> {
    pub uid: Option<&'a str>,
    pub resource_version: Option<&'a str>,
    /// Data key → [`export_fingerprint`] of its value.
    pub fingerprints: &'a std::collections::BTreeMap<String, String>,
}

/// Whether a consumer copy already holds the value whose fingerprint is `fingerprint` under
/// `key`, without reading it: the operator knows what it last read or wrote (`known`) and the
/// Secret metadata store shows the same object at that resourceVersion (or an older one: the
/// store lags behind the operator's own write). `seen`: (uid, resourceVersion) of the Secret the
/// store shows; None when it shows none, which after the operator's own write means the store
/// has not caught up yet (a deletion or a lost label evicts what is known).
/// Anyone else's change moves the resourceVersion, so the copy is read and repaired.
pub fn copy_is_current(
    seen: Option<(Option<&str>, Option<&str>)>,
    known: Option<KnownCopy<'_>>,
    key: &str,
    fingerprint: &str,
) -> bool {
    let Some(k) = known else { return false };
    if k.fingerprints.get(key).map(String::as_str) != Some(fingerprint) {
        return false;
    }
    match seen {
        None => true,
        Some((uid, rv)) => {
            uid.is_some() && uid == k.uid && crate::controller::cache::still_current(k.resource_version, rv)
        }
    }
}

/// Whether removing a consumer copy needs API calls. `watched`: the operator's Secret store
/// covers the target namespace (its namespaces, or `--export-namespaces`), so a copy it created
/// (labelled) would be in the store, and `ours` says whether the store shows one created for
/// this source; `written`: the operator wrote it since its start; `removed`: it already removed
/// (or found absent) the copy since its start. Outside the store's view only the operator's own
/// memory saves the read.
pub fn copy_removal_needed(watched: bool, ours: bool, written: bool, removed: bool) -> bool {
    if watched { ours || written } else { written || !removed }
}

/// What to do for one wanted API key (spec label) in `mosip` mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyStep {
    /// The key is in its Secret: nothing to mint.
    Stored,
    /// A previous attempt may have minted a key that was never stored: deactivate `pms_label` in
    /// PMS (recorded as an orphan), then generate with the next attempt.
    DeactivateOrphan { pms_label: String, next_attempt: u32 },
    /// Record `pms_label` in status first (so a crash leaves a trace), then generate with it.
    Generate { attempt: u32, pms_label: String },
}

/// The crash-safe minting rule. `recorded`: the status entry for this spec label, if any;
/// `secret_has_key`: the key Secret holds a non-empty `apiKey`.
///
/// Order per attempt: status records the PMS label → PMS generates → the Secret is written →
/// status marks it stored. A crash anywhere leaves either no key in PMS (label unknown to PMS)
/// or an unstored one, which the next pass deactivates; a label is never reused.
pub fn key_step(
    object_uid: &str,
    spec_label: &str,
    recorded: Option<&MosipApiKeyStatus>,
    secret_has_key: bool,
) -> KeyStep {
    match recorded {
        Some(r) if r.stored && secret_has_key => KeyStep::Stored,
        Some(r) => KeyStep::DeactivateOrphan { pms_label: r.pms_label.clone(), next_attempt: r.attempt + 1 },
        None => KeyStep::Generate { attempt: 0, pms_label: api_key_label(object_uid, spec_label, 0) },
    }
}

/// An API key PMS may still hold active: its policy id and PMS label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRef {
    pub policy_id: String,
    pub pms_label: String,
}

/// What deleting a Partner must still do in PMS, from what the operator recorded in
/// `status.mosip` (only that is believed: an editor cannot make the operator deactivate a
/// partner it never registered or adopted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartnerRetirement {
    /// Keys to set De-Active first (generated, or possibly generated and never stored, and not
    /// yet deactivated); only for a partner that is still active in PMS.
    pub keys: Vec<KeyRef>,
    /// The partner itself must be set De-Active (PMS publishes PARTNER_UPDATED; IDA then
    /// refuses every key of the partner, and PMS deactivates a MISP's licences with it).
    pub partner: bool,
}

impl PartnerRetirement {
    /// Nothing left to do in PMS: the finalizer can go.
    pub fn is_done(&self) -> bool {
        !self.partner && self.keys.is_empty()
    }
}

/// The deletion plan of a Partner. Nothing recorded (it never reached PMS) or already
/// recorded as deactivated in PMS (by the operator): nothing to do.
pub fn partner_retirement(recorded: Option<&PartnerMosipStatus>) -> PartnerRetirement {
    let Some(st) = recorded.filter(|s| s.registered && !s.deactivated) else {
        return PartnerRetirement::default();
    };
    let mut keys: Vec<KeyRef> = st
        .requests
        .iter()
        .filter_map(|r| r.policy_id.as_ref().map(|id| (id, r)))
        .flat_map(|(id, r)| {
            r.api_keys
                .iter()
                .filter(|k| !k.deactivated)
                .map(|k| KeyRef { policy_id: id.clone(), pms_label: k.pms_label.clone() })
        })
        .collect();
    keys.extend(
        st.orphaned_keys
            .iter()
            .filter(|o| !o.deactivated)
            .map(|o| KeyRef { policy_id: o.policy_id.clone(), pms_label: o.pms_label.clone() }),
    );
    keys.dedup();
    PartnerRetirement { keys, partner: true }
}

/// Whether deleting a MispLicense must still deactivate its licence in PMS: one was issued (to
/// the recorded MISP) and not yet deactivated.
pub fn license_retirement(recorded: Option<&LicenseMosipStatus>) -> bool {
    recorded.is_some_and(|s| s.provider_id.is_some() && s.license_status.is_some() && !s.deactivated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PartnerPolicySpec;

    fn spec() -> PartnerPolicySpec {
        serde_json::from_value(serde_json::json!({
            "group": "grp", "type": "Auth",
            "auth": {"authTokenType": "partner", "allowedAuthTypes": [{"authType": "otp", "mandatory": false}],
                     "allowedKycAttributes": [{"attributeName": "fullName"}]}
        }))
        .unwrap()
    }

    #[test]
    fn policy_definitions_derive_what_pms_requires() {
        let d = policy_definition("my-policy", &spec());
        assert_eq!((d.group.as_str(), d.name.as_str(), d.policy_type.as_str()), ("grp", "my-policy", "Auth"));
        assert!(!d.description.trim().is_empty() && !d.group_description.trim().is_empty());
        assert_eq!(d.version, "1.0");
        assert_eq!(d.body["authTokenType"], "partner");
        assert_eq!(d.body["allowedKycAttributes"][0]["attributeName"], "fullName");
        let mut s = spec();
        s.description = Some("x".repeat(300));
        s.version = Some("1.2.3.4.5.6".into());
        let d2 = policy_definition("my-policy", &s);
        assert_eq!(d2.description.len(), 256);
        assert_eq!(d2.version, "1.2.3.4.");
        assert_ne!(definition_hash(&d), definition_hash(&d2));
        assert_eq!(definition_hash(&d), definition_hash(&policy_definition("my-policy", &spec())));
    }

    #[test]
    fn exports_need_the_targets_own_opt_in() {
        use std::collections::BTreeMap;
        let meta = |labels: &[(&str, &str)], annotations: &[(&str, &str)]| ObjectMeta {
            labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()),
            annotations: Some(annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            ..Default::default()
        };
        assert!(export_allowed("a", "a", None).is_ok());
        assert!(export_allowed("a", "esignet", Some(&meta(&[(ACCEPT_EXPORTS_LABEL, "a")], &[]))).is_ok());
        assert!(export_allowed("a", "esignet", Some(&meta(&[], &[(ACCEPT_EXPORTS_LABEL, "*")]))).is_ok());
        assert!(export_allowed("a", "esignet", Some(&meta(&[], &[(ACCEPT_EXPORTS_LABEL, "b, a")]))).is_ok());
        for m in [meta(&[(ACCEPT_EXPORTS_LABEL, "b")], &[]), meta(&[], &[]), meta(&[], &[(ACCEPT_EXPORTS_LABEL, "b")])]
        {
            assert!(matches!(export_allowed("a", "esignet", Some(&m)), Err(ExportDenied::NotOptedIn { .. })));
        }
        assert!(matches!(export_allowed("a", "esignet", None), Err(ExportDenied::NoNamespace { .. })));
        let msg = export_allowed("a", "esignet", Some(&meta(&[], &[]))).unwrap_err().to_string();
        assert!(msg.contains("pms.mosip.io/accept-exports-from=a"), "{msg}");
    }

    #[test]
    fn a_copy_is_current_only_when_the_store_shows_what_the_operator_knows() {
        use std::collections::BTreeMap;
        let fp = export_fingerprint(b"KEY-1");
        let fps = BTreeMap::from([("k".to_string(), fp.clone())]);
        let known = KnownCopy { uid: Some("u1"), resource_version: Some("10"), fingerprints: &fps };
        // Same object at the same (or an older: lagging store) resourceVersion: no read needed.
        assert!(copy_is_current(Some((Some("u1"), Some("10"))), Some(known), "k", &fp));
        assert!(copy_is_current(Some((Some("u1"), Some("9"))), Some(known), "k", &fp));
        // The store has not seen the operator's own create yet.
        assert!(copy_is_current(None, Some(known), "k", &fp));
        // Someone changed it since, or recreated it, or another value is wanted, or another key.
        assert!(!copy_is_current(Some((Some("u1"), Some("11"))), Some(known), "k", &fp));
        assert!(!copy_is_current(Some((Some("u2"), Some("10"))), Some(known), "k", &fp));
        assert!(!copy_is_current(Some((None, Some("10"))), Some(known), "k", &fp));
        assert!(!copy_is_current(Some((Some("u1"), Some("10"))), Some(known), "k", &export_fingerprint(b"KEY-2")));
        assert!(!copy_is_current(Some((Some("u1"), Some("10"))), Some(known), "other", &fp));
        // Nothing known (first reconcile after a start): read once.
        assert!(!copy_is_current(Some((Some("u1"), Some("10"))), None, "k", &fp));
        assert!(!copy_is_current(None, None, "k", &fp));
        assert_eq!(fp.len(), 64);
        assert!(!fp.contains("KEY"));
    }

    #[test]
    fn copies_are_removed_with_calls_only_when_one_may_exist() {
        // Watched: the store is authoritative for labelled copies.
        assert!(copy_removal_needed(true, true, false, false));
        assert!(copy_removal_needed(true, false, true, false), "written, the store not caught up");
        assert!(!copy_removal_needed(true, false, false, false));
        // Not watched: once after a start, then never again unless written meanwhile.
        assert!(copy_removal_needed(false, false, false, false));
        assert!(!copy_removal_needed(false, false, false, true));
        assert!(copy_removal_needed(false, false, true, true));
    }

    #[test]
    fn minting_is_crash_safe() {
        let first = key_step("uid", "main", None, false);
        let KeyStep::Generate { attempt: 0, pms_label } = first.clone() else { panic!("{first:?}") };
        // Recorded but not stored (crash after PMS answered): the label is an orphan.
        let rec = MosipApiKeyStatus {
            label: "main".into(),
            pms_label: pms_label.clone(),
            attempt: 0,
            stored: false,
            deactivated: false,
        };
        assert_eq!(
            key_step("uid", "main", Some(&rec), false),
            KeyStep::DeactivateOrphan { pms_label: pms_label.clone(), next_attempt: 1 }
        );
        // Stored, Secret intact: nothing.
        let stored = MosipApiKeyStatus { stored: true, ..rec.clone() };
        assert_eq!(key_step("uid", "main", Some(&stored), true), KeyStep::Stored);
        // Stored but the Secret lost its key (deleted by someone): the old key is unusable, deactivate it.
        assert!(matches!(
            key_step("uid", "main", Some(&stored), false),
            KeyStep::DeactivateOrphan { next_attempt: 1, .. }
        ));
        assert_ne!(api_key_label("uid", "main", 1), pms_label);
    }

    #[test]
    fn deletion_deactivates_only_what_status_recorded() {
        use crate::api::{MosipRequestStatus, OrphanedKey};
        // Never reached PMS, or recorded as deactivated already: released at once.
        assert!(partner_retirement(None).is_done());
        assert!(partner_retirement(Some(&PartnerMosipStatus::default())).is_done());
        let key = |label: &str, stored: bool, deactivated: bool| MosipApiKeyStatus {
            label: label.into(),
            pms_label: format!("{label}-pms"),
            attempt: 0,
            stored,
            deactivated,
        };
        let st = PartnerMosipStatus {
            registered: true,
            requests: vec![
                MosipRequestStatus {
                    name: "pol".into(),
                    policy_id: Some("p1".into()),
                    api_keys: vec![key("a", true, false), key("b", false, false), key("c", true, true)],
                    ..Default::default()
                },
                // No policy id: PMS never saw a key of it.
                MosipRequestStatus {
                    name: "later".into(),
                    api_keys: vec![key("d", false, false)],
                    ..Default::default()
                },
            ],
            orphaned_keys: vec![
                OrphanedKey { pms_label: "o1".into(), policy_id: "p1".into(), deactivated: false },
                OrphanedKey { pms_label: "o2".into(), policy_id: "p1".into(), deactivated: true },
            ],
            ..Default::default()
        };
        let plan = partner_retirement(Some(&st));
        assert!(plan.partner && !plan.is_done());
        let labels: Vec<&str> = plan.keys.iter().map(|k| k.pms_label.as_str()).collect();
        assert_eq!(labels, ["a-pms", "b-pms", "o1"]);
        assert!(plan.keys.iter().all(|k| k.policy_id == "p1"));
        // A registered partner without keys: only the partner.
        let bare = PartnerMosipStatus { registered: true, ..Default::default() };
        assert_eq!(partner_retirement(Some(&bare)), PartnerRetirement { keys: vec![], partner: true });
        // Deactivated in PMS: PMS refuses the partner a second change (PMS_PM_063) and IDA
        // refuses its keys already.
        assert!(partner_retirement(Some(&PartnerMosipStatus { deactivated: true, ..st })).is_done());

        assert!(!license_retirement(None));
        assert!(!license_retirement(Some(&LicenseMosipStatus::default())));
        let issued = LicenseMosipStatus {
            provider_id: Some("misp".into()),
            license_status: Some("Active".into()),
            ..Default::default()
        };
        assert!(license_retirement(Some(&issued)));
        assert!(!license_retirement(Some(&LicenseMosipStatus { deactivated: true, ..issued })));
    }
}
