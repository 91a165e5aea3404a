//! The MOSIP PMS signing CA and the re-signed partner certificates.
//!
//! MOSIP's keymanager re-signs every partner certificate (except FTM, by default) with its PMS
//! key. The operator keeps a PMS CA in a Secret of its own namespace: created at first start
//! (a self-signed root plus a PMS intermediate) when absent and never replaced afterwards; a
//! user may bring their own by creating the Secret first.

use super::error::{Error, Result};
use super::events::Note;
use super::secrets::{self, DesiredSecret, Slot, WriteOutcome};
use super::{Context, PARTNER_LABEL, SECRET_KIND_LABEL};
use crate::api::{Partner, PartnerDomain};
use crate::mosip;
use crate::mosip::renewal::{ResignInput, ResignPlan, checked_sub, plan_resign};
use crate::trust::{self, SigningCa, ValidatedCertificate};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use std::collections::BTreeMap;

/// Secret kind label value of re-signed certificates.
pub const KIND: &str = "signed-certificate";
/// Annotation: fingerprint of the partner certificate a re-signed one was made from.
pub const SOURCE_ANNOTATION: &str = "pms.mosip.io/source-fingerprint";
/// Annotation: fingerprint of the PMS certificate that signed it.
pub const SIGNER_ANNOTATION: &str = "pms.mosip.io/signer-fingerprint";
/// Annotation: end of validity of the re-signed certificate.
pub const NOT_AFTER_ANNOTATION: &str = "pms.mosip.io/not-after";

/// Data keys of the signing CA Secret.
pub const CA_PMS_CERT: &str = "tls.crt";
pub const CA_PMS_KEY: &str = "tls.key";
pub const CA_ROOT_CERT: &str = "ca.crt";
pub const CA_ROOT_KEY: &str = "root.key";

/// Loads the PMS signing CA from `config.operator_namespace/config.signing_ca_secret`, creating
/// it when absent. An existing but unusable Secret is an error: it is never overwritten.
///
/// The MOSIP root key is not kept online unless `config.keep_root_key`: a generated one is
/// discarded after signing the PMS intermediate (only `tls.key`, the intermediate's key, is
/// stored), and a `root.key` found in an existing Secret is neither loaded nor used (a warning
/// says to move it offline; the operator never deletes key material it did not create).
pub async fn load_or_create(client: &Client, config: &super::OperatorConfig) -> anyhow::Result<SigningCa> {
    let (namespace, name) = (config.operator_namespace.as_str(), config.signing_ca_secret.as_str());
    if config.resigned_basic_constraints == trust::ResignedBasicConstraints::Mosip {
        tracing::warn!(
            "--resigned-basic-constraints mosip: every re-signed partner certificate is a CA without a path \
             length limit, so any partner can issue certificates that chain to the MOSIP root"
        );
    }
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for _ in 0..3 {
        if let Some(secret) = api.get_opt(name).await? {
            if !config.keep_root_key && secret.data.as_ref().is_some_and(|d| d.contains_key(CA_ROOT_KEY)) {
                tracing::warn!(
                    namespace,
                    name,
                    "the signing CA Secret holds the MOSIP root private key ({CA_ROOT_KEY}); the operator does not \
                     load it, since it only needs the PMS key: move it offline and remove it from the Secret (or \
                     run with --keep-root-key)"
                );
            }
            return from_secret(&secret, config.keep_root_key)
                .map(|ca| ca.with_basic_constraints(config.resigned_basic_constraints))
                .map_err(|e| {
                    anyhow::anyhow!(
                        "Secret {namespace}/{name} does not hold a usable PMS signing CA ({e}); fix it (keys {CA_PMS_CERT}, {CA_PMS_KEY}, {CA_ROOT_CERT}) or delete it to let the operator create one"
                    )
                });
        }
        let mut ca = trust::generate_signing_ca(jiff::Timestamp::now())
            .map_err(|e| anyhow::anyhow!("could not generate the PMS signing CA: {e}"))?
            .with_basic_constraints(config.resigned_basic_constraints);
        if !config.keep_root_key {
            ca = ca.without_root_key();
        }
        let mut data = BTreeMap::from([
            (CA_PMS_CERT.to_string(), secrets::text(ca.pms_cert_pem())),
            (CA_PMS_KEY.to_string(), secrets::text(ca.pms_key_pem())),
            (CA_ROOT_CERT.to_string(), secrets::text(ca.root_cert_pem())),
        ]);
        if let Some(root_key) = ca.root_key_pem() {
            data.insert(CA_ROOT_KEY.to_string(), secrets::text(root_key));
        }
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(namespace.to_string()),
                labels: Some(BTreeMap::from([
                    (super::MANAGED_BY_LABEL.to_string(), super::MANAGED_BY.to_string()),
                    (SECRET_KIND_LABEL.to_string(), "signing-ca".to_string()),
                ])),
                ..Default::default()
            },
            type_: Some("Opaque".into()),
            data: Some(data),
            ..Default::default()
        };
        match api.create(&PostParams::default(), &secret).await {
            Ok(_) => {
                tracing::info!(namespace, name, "created the PMS signing CA");
                return Ok(ca);
            }
            // Another replica created it first: read theirs.
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("could not create or read the PMS signing CA Secret {namespace}/{name}")
}

fn from_secret(secret: &Secret, keep_root_key: bool) -> std::result::Result<SigningCa, String> {
    let get = |k: &str| secrets::read_text(secret, k);
    let pms_cert = get(CA_PMS_CERT).ok_or(format!("missing {CA_PMS_CERT}"))?;
    let pms_key = get(CA_PMS_KEY).ok_or(format!("missing {CA_PMS_KEY}"))?;
    let root_cert = get(CA_ROOT_CERT).ok_or(format!("missing {CA_ROOT_CERT}"))?;
    let root_key = if keep_root_key { get(CA_ROOT_KEY) } else { None };
    SigningCa::from_pems(&root_cert, root_key.as_deref(), &pms_cert, &pms_key).map_err(|e| e.to_string())
}

/// Short fingerprint of the signer and its profile, to re-sign when the PMS CA or
/// `--resigned-basic-constraints` changes.
pub fn signer_fingerprint(ca: &SigningCa) -> String {
    ca.issuance_fingerprint()
}

/// Plans the re-signed certificate Secret in `slot` for `validated`: re-issued only when the
/// partner certificate or the signer changed, or it nears expiry.
pub fn plan(ctx: &Context, slot: &Slot, validated: &ValidatedCertificate, now: jiff::Timestamp) -> ResignPlan {
    let signer = signer_fingerprint(&ctx.signing_ca);
    plan_resign(&ResignInput {
        now,
        secret: slot.observed.state(),
        recorded_source: slot.observed.annotation(SOURCE_ANNOTATION),
        recorded_signer: slot.observed.annotation(SIGNER_ANNOTATION),
        recorded_not_after: slot.observed.annotation(NOT_AFTER_ANNOTATION),
        source: &validated.summary.fingerprint_sha256,
        signer: &signer,
        validity: ctx.config.resigned_validity,
        renew_before: ctx.config.resigned_renew_before,
    })
}

/// Whether the re-signed certificate Secret is what the operator wrote (#10 finding 7).
#[derive(Debug, Default)]
pub struct SignedCheck {
    /// The resourceVersion at which the operator wrote or verified it.
    pub verified: Option<String>,
    /// It changed and does not carry the operator's seal: its certificate or the annotations the
    /// plan reads were written by someone else. It is re-signed.
    pub tampered: bool,
}

/// Checks the re-signed certificate Secret in `slot`: believed unread at the resourceVersion
/// status records (or after this process wrote it); otherwise read once, without keeping the
/// certificate, and believed only with the operator's seal over its data and annotations.
pub async fn check(ctx: &Context, slot: &Slot, recorded: Option<&str>) -> Result<SignedCheck> {
    if ctx.pms.is_some() || slot.observed.meta().is_none() {
        return Ok(SignedCheck::default());
    }
    if let Some(own) = slot.own_write(ctx) {
        return Ok(SignedCheck { verified: own.metadata.resource_version.clone(), tampered: false });
    }
    if mosip::tenancy::unchanged_since_recorded(recorded, slot.seen_version()) {
        return Ok(SignedCheck { verified: recorded.map(String::from), tampered: false });
    }
    let Some(secret) = slot.read_unkept(ctx).await? else { return Ok(SignedCheck::default()) };
    Ok(match slot.sealed_at(ctx, &secret) {
        Some(_) => SignedCheck { verified: secret.metadata.resource_version.clone(), tampered: false },
        None => SignedCheck { verified: None, tampered: true },
    })
}

/// Result of [`apply`].
pub enum SignedOutcome {
    Issued { not_after: jiff::Timestamp, renew_at: jiff::Timestamp, event: Option<Note> },
    Conflict,
    Lost,
}

/// Applies `plan`: re-signs and writes the Secret when planned.
pub async fn apply(
    ctx: &Context,
    partner: &Partner,
    slot: &Slot,
    plan: ResignPlan,
    validated: &ValidatedCertificate,
    domain: PartnerDomain,
    now: jiff::Timestamp,
) -> Result<SignedOutcome> {
    let renew_before = ctx.config.resigned_renew_before;
    match plan {
        ResignPlan::Conflict => return Ok(SignedOutcome::Conflict),
        ResignPlan::Keep { not_after, renew_at } => {
            return Ok(SignedOutcome::Issued { not_after, renew_at, event: None });
        }
        ResignPlan::Resign => {}
    }
    let owner = secrets::owner_reference(partner).ok_or(Error::MissingObjectKey("ownerReference"))?;
    let resigned = trust::resign(&ctx.signing_ca, validated, domain, ctx.config.resigned_validity, now)
        .map_err(|e| Error::Signing(e.to_string()))?;
    let desired = DesiredSecret {
        name: slot.name.clone(),
        namespace: slot.namespace.clone(),
        owner,
        labels: BTreeMap::from([
            (PARTNER_LABEL.to_string(), mosip::label_value(&partner.name_any())),
            (SECRET_KIND_LABEL.to_string(), KIND.to_string()),
        ]),
        annotations: BTreeMap::from([
            (SOURCE_ANNOTATION.to_string(), validated.summary.fingerprint_sha256.clone()),
            (SIGNER_ANNOTATION.to_string(), signer_fingerprint(&ctx.signing_ca)),
            (NOT_AFTER_ANNOTATION.to_string(), resigned.not_after.to_string()),
        ]),
        data: BTreeMap::from([
            ("tls.crt".to_string(), secrets::text(resigned.certificate_pem.clone())),
            ("ca.crt".to_string(), secrets::text(resigned.chain_pem.clone())),
        ]),
    };
    if slot.write(ctx, &desired).await? == WriteOutcome::Lost {
        return Ok(SignedOutcome::Lost);
    }
    tracing::info!(secret = %slot.name, "issued MOSIP re-signed certificate");
    let note =
        format!("MOSIP re-signed certificate issued into Secret {}, valid until {}", slot.name, resigned.not_after);
    let renew_at = checked_sub(resigned.not_after, renew_before).unwrap_or(now).max(now);
    Ok(SignedOutcome::Issued {
        not_after: resigned.not_after,
        renew_at,
        event: Some(Note::normal("CertificateResigned", note, "Resign")),
    })
}
