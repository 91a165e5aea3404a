//! Partner reconciler: registration rules, certificate validation and re-signing, policy
//! requests and their approval, and API-key Secrets.
//!
//! Three steps, like every reconciler here:
//! 1. **gather** ([`gather`]): reads the reflector stores and caches (a certificate Secret's
//!    content only when its resourceVersion changed; an owned Secret's only when nothing is
//!    recorded about it);
//! 2. **plan** ([`plan`]): a pure function from those inputs to the desired status, the Secrets to
//!    write, withdraw or delete, and the next check — the rules themselves are in
//!    [`crate::mosip`] and [`crate::trust`];
//! 3. **apply** ([`apply`]): Secrets first, then status, then Events, once.
//!
//! Approver-owned conditions (Approved and Denied on Manual policies) are never written here:
//! server-side apply leaves them to their field manager.

use super::apikeys::{self, KeyTarget};
use super::cache::{Content, ContentCache};
use super::error::{Error, Result};
use super::events::{self, Note};
use super::packed::PackedPartner;
use super::secrets::{self, Slot};
use super::status::{self, Problem};
use super::{Context, cacert, signing};
use crate::api::{
    self, APPROVED, ApprovalMode, CERTIFICATE_VALID, Condition, DENIED, DesiredCondition, Partner,
    PartnerCertificateStatus, PartnerDomain, PartnerPolicy, PartnerStatus, PolicyRequestStatus, READY, STALLED, Tagged,
};
use crate::mosip::approval::{self, AUTO_APPROVED_REASON, Decision, Outcome};
use crate::mosip::renewal::{
    KeyFacts, KeyInput, KeyPlan, KeyRules, Recorded, ResignPlan, plan_api_key, saturating_add,
};
use crate::mosip::tenancy::{self, ClaimVerdict, ClaimView};
use crate::mosip::{self, PartnerTypeExt, PolicyView};
use crate::trust::{self, PartnerCertInput, ValidatedCertificate};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use std::sync::Arc;
use std::time::Duration;

/// Condition type on each policy request: the request is valid and its keys are issued.
pub const REQUEST_READY: &str = "Ready";

/// Reason when every request is approved and issued.
const READY_REASON: &str = "Onboarded";

/// Longest a certificate validation may take before the partner gets `ValidationTimeout`.
pub const VALIDATION_DEADLINE: Duration = Duration::from_secs(2);

/// Condition reason when validation did not finish within [`VALIDATION_DEADLINE`].
pub const VALIDATION_TIMEOUT: &str = "ValidationTimeout";

/// The certificate verdict.
#[derive(Debug, Clone)]
pub struct CertVerdict {
    pub condition: DesiredCondition,
    pub validated: Option<Arc<ValidatedCertificate>>,
    pub status: Option<PartnerCertificateStatus>,
    /// Reasons that need a person; a missing Secret may still arrive (GitOps ordering).
    pub stalled: bool,
    pub next_check: Option<jiff::Timestamp>,
}

/// The values of a certificate Secret the operator needs, at one resourceVersion, and the
/// verdict last made on them.
#[derive(Debug)]
pub struct CertData {
    /// The Secret they were read from (the Partner's `spec.certificate.secretName` then).
    pub secret_name: Box<str>,
    pub exists: bool,
    pub cert_key: Box<str>,
    pub chain_key: Box<str>,
    pub certificate: Option<trust::PemText>,
    /// Shared between the Secrets that carry the same chain (see [`intern`]).
    pub chain: Option<Arc<str>>,
    verdict: std::sync::Mutex<Option<CachedVerdict>>,
}

impl CertData {
    fn verdict(&self) -> std::sync::MutexGuard<'_, Option<CachedVerdict>> {
        self.verdict.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One copy of each distinct chain text: the partners of one issuer all carry the same
/// intermediates, which at 10,000 partners would otherwise be 10,000 copies. Entries whose
/// last user is gone are dropped as the table grows.
fn intern(text: String) -> Arc<str> {
    use sha2::{Digest, Sha256};
    use std::collections::HashMap;
    use std::sync::{Mutex, PoisonError, Weak};
    static TABLE: std::sync::LazyLock<Mutex<HashMap<[u8; 32], Weak<str>>>> = std::sync::LazyLock::new(Default::default);
    let key: [u8; 32] = Sha256::digest(text.as_bytes()).into();
    let mut table = TABLE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(shared) = table.get(&key).and_then(Weak::upgrade) {
        return shared;
    }
    if table.len() >= 64 && table.len().is_power_of_two() {
        table.retain(|_, w| w.strong_count() > 0);
    }
    let shared: Arc<str> = Arc::from(text);
    table.insert(key, Arc::downgrade(&shared));
    shared
}

/// What the operator knows of each Partner's certificate, by the Partner's namespace/name:
/// its Secret's content at the resourceVersion it was read at (the entry's uid and
/// resourceVersion are the Secret's) and the verdict on it. One entry per Partner; a Secret that
/// several Partners name is read once for each.
pub type CertCache = ContentCache<Arc<CertData>>;

/// What a certificate verdict depends on.
#[derive(Clone, Copy)]
struct VerdictKey<'a> {
    secret_uid: Option<&'a str>,
    secret_version: Option<&'a str>,
    trust: u64,
    organization: &'a str,
    domain: PartnerDomain,
    min_validity: i64,
    cert_key: &'a str,
    chain_key: &'a str,
}

impl VerdictKey<'_> {
    /// SHA-256 over the fields, each length-prefixed: what the cache compares. (A fast hash,
    /// which an editor choosing an organisation name could collide, would let a verdict outlive
    /// the inputs it was made for.)
    fn digest(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let mut text = |s: Option<&str>| {
            let s = s.map(str::as_bytes);
            h.update([s.is_some() as u8]);
            h.update((s.map_or(0, <[u8]>::len) as u64).to_be_bytes());
            h.update(s.unwrap_or_default());
        };
        text(self.secret_uid);
        text(self.secret_version);
        text(Some(self.organization));
        text(Some(self.domain.as_str()));
        text(Some(self.cert_key));
        text(Some(self.chain_key));
        h.update(self.trust.to_be_bytes());
        h.update(self.min_validity.to_be_bytes());
        h.finalize().into()
    }
}

/// A cached certificate verdict. A valid certificate's verdict keeps only when to look again:
/// what the certificate says of itself (summary, subject, key) is read again from the cached
/// Secret content when the verdict is used — held per Partner it was ~1.7 KiB each.
#[derive(Debug)]
pub struct CachedVerdict {
    key: [u8; 32],
    outcome: CachedOutcome,
}

#[derive(Debug)]
enum CachedOutcome {
    Valid { next_check: jiff::Timestamp },
    Invalid(Box<CertVerdict>),
}

impl CachedVerdict {
    fn of(key: [u8; 32], verdict: &CertVerdict) -> Self {
        let outcome = match (&verdict.validated, verdict.next_check) {
            (Some(_), Some(next_check)) => CachedOutcome::Valid { next_check },
            _ => CachedOutcome::Invalid(Box::new(verdict.clone())),
        };
        CachedVerdict { key, outcome }
    }

    /// The verdict again, when it was made for `key` and still holds at `now`; None when it
    /// must be made anew.
    fn verdict(
        &self,
        key: &[u8; 32],
        domain: PartnerDomain,
        certificate_pem: &str,
        now: jiff::Timestamp,
    ) -> Option<CertVerdict> {
        if &self.key != key {
            return None;
        }
        match &self.outcome {
            CachedOutcome::Valid { next_check } if now <= *next_check => {
                let validated = trust::ValidatedCertificate::reread(certificate_pem, *next_check).ok()?;
                Some(trusted(domain, validated))
            }
            CachedOutcome::Valid { .. } => None,
            CachedOutcome::Invalid(v) => v.next_check.is_none_or(|t| now <= t).then(|| v.as_ref().clone()),
        }
    }
}

#[tracing::instrument(skip_all, fields(kind = "Partner", namespace = stored.meta().namespace.as_deref().unwrap_or(""), name = stored.meta().name.as_deref().unwrap_or("")))]
pub async fn reconcile(stored: Arc<PackedPartner>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_timer("Partner");
    let partner = stored.unpack()?;
    if partner.metadata.deletion_timestamp.is_some() {
        // Owned Secrets go with the Partner through the garbage collector; in mosip mode the
        // partner is first deactivated in PMS (finalizer, issue #12).
        return super::mosip_delete::partner_deleted(&ctx, &partner).await;
    }
    let now = super::now();
    let gathered = gather(&ctx, &partner, now).await?;
    let planned = plan(&ctx, &partner, &gathered, now);
    if ctx.pms.is_some() {
        // mosip mode: PMS signs the certificate and mints the keys (issue #12); deleting the
        // Partner deactivates it in PMS first.
        super::mosip_delete::hold(&ctx, &partner).await?;
        return super::mosip::reconcile_partner(&ctx, &partner, &gathered, planned, now).await;
    }
    apply(&ctx, &partner, &gathered, planned, now).await
}

// ---------------------------------------------------------------------------------------------
// Gather

/// Everything a Partner's plan needs, read from stores and caches.
pub struct Gathered {
    pub namespace: String,
    /// The effective partnerId: the registered one, else what the spec asks for.
    pub partner_id: String,
    /// Who holds the partnerId the spec asks for.
    pub claim: ClaimVerdict,
    pub cert: CertVerdict,
    /// The re-signed certificate Secret.
    pub signed: Slot,
    /// Whether it is what the operator wrote (#10 finding 7).
    pub signed_check: signing::SignedCheck,
    pub requests: Vec<GatheredRequest>,
    /// Labels of the Partner's namespace, read only when an Automatic policy it requests
    /// selects namespaces by label.
    pub namespace_labels: std::collections::BTreeMap<String, String>,
    /// Owned API-key Secrets whose label or request left the spec.
    pub unwanted: Vec<Arc<secrets::SecretMeta>>,
}

pub struct GatheredRequest {
    pub policy: Option<Arc<PartnerPolicy>>,
    pub keys: Vec<GatheredKey>,
}

pub struct GatheredKey {
    pub target: KeyTarget,
    pub slot: Slot,
    pub facts: Option<KeyFacts>,
    /// Whether the Secret is believed, what status records about it, what was found wrong.
    pub checked: apikeys::Checked,
}

async fn gather(ctx: &Context, partner: &Partner, now: jiff::Timestamp) -> Result<Gathered> {
    let namespace = partner.namespace().ok_or(Error::MissingObjectKey("namespace"))?;
    let uid = partner.uid().ok_or(Error::MissingObjectKey("uid"))?;
    let name = partner.name_any();
    // The registered id is the partner's for good; the spec only asks (#10 finding 2).
    let registered = partner.status.as_ref().and_then(|s| s.registered_partner_id.clone());
    let claim = partner_id_claim(ctx, partner, registered.as_deref())?;
    let partner_id = registered.unwrap_or_else(|| partner.partner_id());
    let cert = certificate_verdict(ctx, partner, &namespace, now).await?;
    let signed = Slot::observe(ctx, &namespace, &mosip::signed_certificate_secret_name(&name), &uid);
    let previous = partner.status.as_ref();
    let recorded_signed =
        previous.and_then(|s| s.certificate.as_ref()).and_then(|c| c.signed_secret_resource_version.as_deref());
    let signed_check = signing::check(ctx, &signed, recorded_signed).await?;
    let mut requests = Vec::new();
    let mut wanted: Vec<String> = Vec::new();
    for request in &partner.spec.policies {
        let policy = ctx.policies.get(&ObjectRef::new(&request.name)).filter(|p| ctx.config.serves(p.labels()));
        let recorded = previous.and_then(|s| s.policies.iter().find(|p| p.name == request.name));
        let mut keys = Vec::new();
        for key in &request.api_keys {
            let secret_name = mosip::api_key_secret_name(&name, &request.name, &key.label);
            wanted.push(secret_name.clone());
            let slot = Slot::observe(ctx, &namespace, &secret_name, &uid);
            let record = recorded.and_then(|r| r.api_keys.iter().find(|k| k.label == key.label));
            // Read only when it changed since the operator wrote or verified it, and then
            // believed only when it matches the record (#10 finding 7).
            let mut checked = apikeys::check(ctx, &slot, record, &apikeys::labels(partner, &request.name)).await?;
            keys.push(GatheredKey {
                target: KeyTarget { policy: request.name.clone(), label: key.label.clone(), secret_name },
                slot,
                facts: checked.facts.take(),
                checked,
            });
        }
        requests.push(GatheredRequest { policy, keys });
    }
    let unwanted = ctx
        .secrets
        .owned_by(&uid)
        .into_iter()
        .filter(|m| m.namespace() == namespace && !wanted.iter().any(|w| w == m.name()))
        .filter(|m| m.label(super::SECRET_KIND_LABEL) == Some(apikeys::KIND))
        .collect();
    // Automatic approval is scoped by namespace labels (#10 finding 6); `{}` needs none, so
    // the Namespace's labels are looked up only for a real selector.
    let needs_labels = requests.iter().filter_map(|r| r.policy.as_deref()).any(|p| {
        p.spec.effective_approval() == ApprovalMode::Automatic
            && p.spec
                .auto_approve
                .as_ref()
                .and_then(|a| a.namespace_selector.as_ref())
                .is_some_and(|sel| sel != &Default::default())
    });
    let namespace_labels = if needs_labels {
        // From the Namespace metadata store (a label change triggers the namespace's Partners).
        ctx.namespaces.get(&ObjectRef::new(&namespace)).and_then(|n| n.metadata.labels.clone()).unwrap_or_default()
    } else {
        Default::default()
    };
    Ok(Gathered { namespace, partner_id, claim, cert, signed, signed_check, requests, unwanted, namespace_labels })
}

/// Who holds the partnerId `partner` asks for: the rule is [`mosip::tenancy::partner_id_claim`];
/// the candidates are the Partners the index says claim the same id. A candidate the store
/// cannot unpack fails the reconcile: leaving it out could hand its claim to this Partner.
fn partner_id_claim(ctx: &Context, partner: &Partner, registered: Option<&str>) -> Result<ClaimVerdict> {
    let view = |p: &Partner| ClaimView {
        key: format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any()),
        uid: p.uid().unwrap_or_default(),
        created: claim_key(p).0,
        requested: p.partner_id(),
        registered: p.status.as_ref().and_then(|s| s.registered_partner_id.clone()),
        deleting: p.metadata.deletion_timestamp.is_some(),
    };
    let mut me = view(partner);
    me.registered = registered.map(String::from);
    let others = ctx
        .partner_index
        .claiming(&me.requested)
        .iter()
        .filter_map(|r| ctx.partners.get(r))
        .map(|p| Ok(view(&p.unpack()?)))
        .collect::<Result<Vec<ClaimView>>>()?;
    Ok(mosip::tenancy::partner_id_claim(&me, &others))
}

/// Orders claimants: creation time, then namespace/name, so every reconcile agrees.
fn claim_key(p: &Partner) -> (i64, String) {
    let created = p.metadata.creation_timestamp.as_ref().map(|t| t.0.as_second()).unwrap_or(i64::MAX);
    (created, format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any()))
}

/// The certificate Secret's values: cached while the store shows the same resourceVersion,
/// read from the API server otherwise. Always this namespace: a Partner can never make the
/// operator read another namespace.
async fn cert_data(
    ctx: &Context,
    namespace: &str,
    partner: &str,
    cref: &api::CertificateRef,
) -> Result<std::result::Result<Content<Arc<CertData>>, CertVerdict>> {
    let name = &cref.secret_name;
    let cert_key = cref.effective_certificate_key();
    let chain_key = cref.effective_chain_key();
    let meta = ctx.secrets.get(namespace, name);
    if let Some(c) = ctx.certificates.get(namespace, partner)
        && *c.value.secret_name == **name
        && *c.value.cert_key == *cert_key
        && *c.value.chain_key == *chain_key
    {
        match &meta {
            Some(m) if c.shown_by(m) => {
                return Ok(Ok(c));
            }
            // Not in the store (read before any Partner named it): its next change or its
            // deletion reaches the store and evicts this entry.
            None => return Ok(Ok(c)),
            Some(_) => {}
        }
    }
    let secret = match read_certificate_secret(ctx, namespace, name, meta.as_deref()).await {
        Ok(s) => s,
        Err(kube::Error::Api(e)) if e.code == 403 => {
            return Ok(Err(not_valid(
                "SecretForbidden",
                format!("the operator may not read Secret {namespace}/{name}; grant it read access in this namespace"),
                true,
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let read = |s: &Secret, key: &str| {
        s.data.as_ref().and_then(|d| d.get(key)).map(|v| String::from_utf8_lossy(&v.0).into_owned())
    };
    let content = Content {
        uid: secret.as_ref().and_then(|s| s.metadata.uid.clone()),
        resource_version: secret.as_ref().and_then(|s| s.metadata.resource_version.clone()),
        value: Arc::new(CertData {
            secret_name: name.as_str().into(),
            exists: secret.is_some(),
            cert_key: cert_key.into(),
            chain_key: chain_key.into(),
            certificate: secret.as_ref().and_then(|s| read(s, cert_key)).map(trust::PemText::new),
            chain: secret.as_ref().and_then(|s| read(s, chain_key)).map(intern),
            verdict: Default::default(),
        }),
    };
    ctx.certificates.put(namespace, partner, content.clone());
    Ok(Ok(content))
}

/// Reads a certificate Secret. When the Secret store holds its metadata, the read names that
/// resourceVersion and the API server answers from its watch cache (no etcd read; the store's
/// version came from that cache, so it is there); otherwise — the Secret store not listed yet,
/// or the Secret missing — a quorum read.
async fn read_certificate_secret(
    ctx: &Context,
    namespace: &str,
    name: &str,
    meta: Option<&secrets::SecretMeta>,
) -> kube::Result<Option<Secret>> {
    let api = Api::<Secret>::namespaced(ctx.client.clone(), namespace);
    let Some(rv) = meta.map(secrets::SecretMeta::resource_version) else { return api.get_opt(name).await };
    match api.get_with(name, &kube::api::GetParams::at(rv)).await {
        Ok(s) => Ok(Some(s)),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
        // The watch cache not caught up within the API server's wait ("Too large resource
        // version"): read from etcd.
        Err(kube::Error::Api(e)) if e.code == 504 => api.get_opt(name).await,
        Err(e) => Err(e),
    }
}

/// Validates the certificate the Partner names, against the current trust snapshot; cached by
/// the Secret's uid and resourceVersion, the snapshot and the Partner's organisation.
async fn certificate_verdict(
    ctx: &Context,
    partner: &Partner,
    namespace: &str,
    now: jiff::Timestamp,
) -> Result<CertVerdict> {
    let domain = partner.spec.partner_type.domain();
    let Some(cref) = partner.spec.certificate.as_ref() else {
        return Ok(not_valid(
            "CertificateNotConfigured",
            "spec.certificate.secretName is not set; point it at a Secret in this namespace holding the partner's CA-signed certificate".into(),
            true,
        ));
    };
    let name = partner.name_any();
    let data = match cert_data(ctx, namespace, &name, cref).await? {
        Ok(d) => d,
        Err(verdict) => return Ok(verdict),
    };
    if !data.value.exists {
        return Ok(not_valid(
            "SecretNotFound",
            format!(
                "Secret {namespace}/{} does not exist (yet); create it with the certificate under {:?}",
                cref.secret_name,
                cref.effective_certificate_key()
            ),
            false,
        ));
    }
    let Some(certificate_pem) = data.value.certificate.as_ref().map(trust::PemText::text) else {
        return Ok(not_valid(
            "KeyNotFound",
            format!(
                "Secret {namespace}/{} has no key {:?}; put the PEM certificate there or set spec.certificate.certificateKey",
                cref.secret_name,
                cref.effective_certificate_key()
            ),
            true,
        ));
    };
    let snapshot = ctx.trust.get(&ctx.cacerts, now);
    let key = VerdictKey {
        secret_uid: data.uid.as_deref(),
        secret_version: data.resource_version.as_deref(),
        trust: snapshot.id,
        organization: &partner.spec.organization_name,
        domain,
        min_validity: ctx.config.min_certificate_validity.as_secs(),
        cert_key: &data.value.cert_key,
        chain_key: &data.value.chain_key,
    }
    .digest();
    let cached = data.value.verdict().as_ref().and_then(|cached| cached.verdict(&key, domain, &certificate_pem, now));
    if let Some(verdict) = cached {
        return Ok(verdict);
    }
    let (roots, intermediates) = snapshot.trusted(domain);
    let input = OwnedCertInput {
        domain,
        certificate_pem,
        chain_pem: data.value.chain.clone(),
        roots,
        intermediates,
        organization: partner.spec.organization_name.clone(),
        now,
        min_validity: ctx.config.min_certificate_validity,
    };
    // Off the async runtime, with a deadline: a hostile certificate can neither block other
    // reconciles nor take the process down. One validation per CPU at a time: the work is CPU
    // only, and each thread of the blocking pool keeps its own allocator pages (with one
    // validation per reconcile, 17 threads ran during a 10,000-partner onboarding and its peak
    // RSS was 1.5 MiB higher; docs/performance.md, tenth round). The slot is held until the
    // work really ends (a validation past its deadline still runs), so the deadline counts
    // from the start of the work, not from the wait for a slot.
    let slot = ctx.validations.clone().acquire_owned().await.ok();
    let task = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        evaluate_certificate(&input)
    });
    let verdict = match tokio::time::timeout(VALIDATION_DEADLINE, task).await {
        Ok(Ok(v)) => v,
        Ok(Err(join)) => {
            ctx.metrics.panic("Partner");
            tracing::error!(error = %join, "certificate validation failed unexpectedly");
            not_valid(
                "ValidationFailed",
                "the certificate could not be validated (the validator failed on it); replace it with a well-formed X.509 v3 certificate".into(),
                true,
            )
        }
        Err(_) => {
            return Ok(CertVerdict {
                next_check: Some(saturating_add(now, jiff::SignedDuration::from_secs(30))),
                ..not_valid(
                    VALIDATION_TIMEOUT,
                    format!(
                        "validating the certificate took longer than {}s; the operator will try again (a very large chain or key can cause this)",
                        VALIDATION_DEADLINE.as_secs()
                    ),
                    false,
                )
            });
        }
    };
    *data.value.verdict() = Some(CachedVerdict::of(key, &verdict));
    Ok(verdict)
}

/// [`PartnerCertInput`] with owned values, to move to a blocking thread.
struct OwnedCertInput {
    domain: PartnerDomain,
    certificate_pem: String,
    chain_pem: Option<Arc<str>>,
    roots: Arc<Vec<Vec<u8>>>,
    intermediates: Arc<Vec<Vec<u8>>>,
    organization: String,
    now: jiff::Timestamp,
    min_validity: jiff::SignedDuration,
}

/// The verdict on a partner certificate: pure.
fn evaluate_certificate(i: &OwnedCertInput) -> CertVerdict {
    let input = PartnerCertInput {
        domain: i.domain,
        certificate_pem: &i.certificate_pem,
        chain_pem: i.chain_pem.as_deref(),
        trusted_roots: &i.roots,
        trusted_intermediates: &i.intermediates,
        organization: Some(&i.organization),
        now: i.now,
        min_validity: i.min_validity,
    };
    match trust::validate_partner_certificate(&input) {
        Ok(mut validated) => {
            // The CA path (copies of the domain's CA certificates) is for `verify`; no reconciler
            // reads it.
            validated.path_der = Vec::new();
            trusted(i.domain, validated)
        }
        Err(e) => {
            // What can be read of the certificate is shown even when it is not valid.
            let summary = trust::parse_pem_certificates(&i.certificate_pem)
                .ok()
                .and_then(|ders| ders.first().and_then(|d| trust::summarize(d).ok()));
            // With no trusted root in the domain yet, the trust store may still be arriving
            // (GitOps order): waiting. A chain that fails against existing roots needs a person.
            let stalled = !(e.reason() == crate::trust::reason::UNTRUSTED_CHAIN && i.roots.is_empty());
            // A certificate that is not valid yet becomes valid by time alone.
            let next = summary.as_ref().map(|s| s.not_before).filter(|t| *t > i.now);
            CertVerdict {
                condition: DesiredCondition::new(CERTIFICATE_VALID, false, e.reason(), e.to_string()),
                validated: None,
                status: summary.as_ref().map(|s| certificate_status(s, i.domain)),
                stalled,
                next_check: next,
            }
        }
    }
}

/// The verdict on a certificate that passed validation.
fn trusted(domain: PartnerDomain, validated: ValidatedCertificate) -> CertVerdict {
    CertVerdict {
        condition: DesiredCondition::new(
            CERTIFICATE_VALID,
            true,
            "Trusted",
            format!("certificate chains to a trusted {domain} root and satisfies MOSIP's rules"),
        ),
        next_check: Some(validated.next_check),
        status: Some(certificate_status(&validated.summary, domain)),
        validated: Some(Arc::new(validated)),
        stalled: false,
    }
}

/// What status shows of a certificate.
fn certificate_status(s: &trust::CertSummary, domain: PartnerDomain) -> PartnerCertificateStatus {
    PartnerCertificateStatus {
        subject: Some(s.subject.clone()),
        issuer: Some(s.issuer.clone()),
        serial_number: Some(s.serial_number.clone()),
        not_before: Some(s.not_before.to_string()),
        not_after: Some(s.not_after.to_string()),
        fingerprint_sha256: Some(s.fingerprint_sha256.clone()),
        domain: Some(domain.to_string()),
        signed_secret_name: None,
        signed_not_after: None,
        signed_secret_resource_version: None,
    }
}

fn not_valid(reason: &str, message: String, stalled: bool) -> CertVerdict {
    CertVerdict {
        condition: DesiredCondition::new(CERTIFICATE_VALID, false, reason, message),
        validated: None,
        status: None,
        stalled,
        next_check: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Plan

/// What a reconcile will do.
pub struct Plan {
    /// The desired status; the re-signed certificate's fields are filled in by apply.
    pub status: PartnerStatus,
    /// Re-signing, when the partner's type is re-signed and it may be.
    pub resign: Option<ResignPlan>,
    /// One plan per key, in the order of `Gathered::requests[].keys[]`.
    pub keys: Vec<Vec<KeyPlan>>,
    /// Whether each request is approved (by a person or an Automatic policy).
    pub approved: Vec<bool>,
    pub next_check: Vec<jiff::Timestamp>,
    /// Events the plan itself calls for (a corrupt record it does not believe).
    pub notes: Vec<Note>,
    pub active: bool,
    pub problems: Vec<Problem>,
    pub requests: usize,
}

/// Plans a Partner from what was gathered: pure.
pub fn plan(ctx: &Context, partner: &Partner, g: &Gathered, now: jiff::Timestamp) -> Plan {
    let config = &ctx.config;
    let previous = partner.status.clone().unwrap_or_default();
    let spec = &partner.spec;
    let name = partner.name_any();
    let mut problems: Vec<Problem> = Vec::new();
    let mut next_check: Vec<jiff::Timestamp> = Vec::new();

    // Registration, as MOSIP's registerPartner checks it.
    let registration_errors = mosip::validate_registration(spec, &g.partner_id);
    if let Some(first) = registration_errors.first() {
        let message = registration_errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ");
        problems.push(Problem::stalled(first.reason(), message));
    }
    if let (Some(reason), Some(message)) = (g.claim.reason(), g.claim.message()) {
        problems.push(Problem::stalled(reason, message));
    }
    // The claim is recorded once the registration is valid; it never moves afterwards.
    let registered_partner_id = match &g.claim {
        ClaimVerdict::Holds(id) if registration_errors.is_empty() => Some(id.clone()),
        _ => previous.registered_partner_id.clone(),
    };
    let type_code = spec.partner_type.as_str();
    let registered_type = previous.registered_partner_type.clone().unwrap_or_else(|| type_code.to_string());
    let registered_org =
        previous.registered_organization_name.clone().unwrap_or_else(|| spec.organization_name.clone());
    if registered_type != type_code {
        problems.push(Problem::stalled(
            "ImmutableFieldChanged",
            format!(
                "partnerType changed from {registered_type} to {type_code}; it is immutable: restore it or create a new Partner"
            ),
        ));
    }
    if registered_org != spec.organization_name {
        problems.push(Problem::stalled(
            "ImmutableFieldChanged",
            format!(
                "organizationName changed from {registered_org:?} to {:?}; it is immutable, as in MOSIP: restore it or create a new Partner",
                spec.organization_name
            ),
        ));
    }
    let active = spec.is_active();

    // Certificate and its MOSIP re-signed copy.
    let cert = &g.cert;
    if let Some(t) = cert.next_check {
        next_check.push(t);
    }
    let registered_ok = problems.is_empty();
    let mut notes = Vec::new();
    let resign = match cert.validated.as_ref() {
        Some(validated)
            if registered_ok && active && (spec.partner_type.resigned_by_default() || config.resign_ftm) =>
        {
            match signing::plan(ctx, &g.signed, validated, now) {
                // Changed by someone else: its certificate or annotations are not believed.
                ResignPlan::Keep { .. } if g.signed_check.tampered => {
                    notes.push(Note::warning(
                        TAMPERED_REASON,
                        format!(
                            "Secret {} (the MOSIP re-signed certificate) was changed outside the operator: its data or \
                             annotations no longer carry the operator's seal; the certificate is re-signed",
                            g.signed.name
                        ),
                        "Reconcile",
                    ));
                    Some(ResignPlan::Resign)
                }
                p => Some(p),
            }
        }
        _ => None,
    };
    if matches!(resign, Some(ResignPlan::Resign))
        && let Some(v) = g.signed.observed.annotation(signing::NOT_AFTER_ANNOTATION)
        && Recorded::read(Some(v), now, config.resigned_validity) == Recorded::Corrupt
    {
        notes.push(corrupt_record(&g.signed.name, signing::NOT_AFTER_ANNOTATION, "the certificate is re-signed"));
    }
    match resign {
        Some(ResignPlan::Conflict) => problems
            .push(Problem::stalled(secrets::CONFLICT_REASON, secrets::conflict_message(&g.signed.name, "Partner"))),
        Some(ResignPlan::Keep { renew_at, .. }) => next_check.push(renew_at),
        _ => {}
    }
    let cert_valid = cert.validated.is_some();
    if !cert_valid {
        problems.push(Problem {
            reason: cert.condition.reason.clone(),
            message: cert.condition.message.clone(),
            stalled: cert.stalled,
        });
    }

    // Policy requests.
    let rules = KeyRules {
        validity: config.api_key_validity,
        renew_before: config.api_key_renew_before,
        grace: config.api_key_grace,
        rotation: config.api_key_rotation,
    };
    let rotate_token = partner.annotations().get(super::ROTATE_ANNOTATION).map(String::as_str);
    let may_issue = registered_ok && cert_valid && active;
    let denials = tenancy::remembered_denials(&previous.denied_requests, &previous.policies);
    let mut request_statuses = Vec::new();
    let mut key_plans = Vec::new();
    let mut approvals = Vec::new();
    for (request, gathered) in spec.policies.iter().zip(&g.requests) {
        let prev_entry = previous.policies.iter().find(|p| p.name == request.name);
        let policy = gathered.policy.as_deref();
        let view = policy.map(|p| PolicyView {
            name: p.name_any(),
            group: p.spec.group.clone(),
            policy_type: p.spec.policy_type,
            ready: super::policy::counts_as_ready(p, ctx.pms.is_none()),
        });
        let validation = mosip::validate_request(
            spec.partner_type,
            spec.policy_group.as_deref(),
            request,
            view.as_ref(),
            &config.extra_credential_types,
        );
        let request_hash =
            policy.map(|p| mosip::partner_request_hash(&g.partner_id, &p.uid().unwrap_or_default(), &p.spec, request));
        let scope = policy
            .filter(|p| p.spec.effective_approval() == ApprovalMode::Automatic)
            .map(|p| tenancy::auto_approve_scope(p.spec.auto_approve.as_ref(), &g.namespace, &g.namespace_labels));
        let automatic = scope == Some(tenancy::AutoScope::Admitted);
        let not_admitted = match &scope {
            Some(tenancy::AutoScope::NotAdmitted(why)) => Some(why.clone()),
            _ => None,
        };
        let decision = approval::decision(prev_entry, request_hash.as_deref());
        // A denial remembered for this very request applies even after it left the spec and
        // came back, and wins over an Automatic policy (#10 finding 6).
        let remembered = request_hash.as_deref().and_then(|h| tenancy::remembered_denial(&denials, &request.name, h));
        let outcome = match remembered {
            Some(d) if !matches!(decision, Decision::Denied(_)) => Outcome::Denied(d.reason.clone()),
            _ => approval::outcome(&decision, automatic),
        };
        let unbound = prev_entry.and_then(tenancy::unbound_decision_hint);

        let mut controller_conditions: Vec<DesiredCondition> = Vec::new();
        let mut request_problem: Option<Problem> = None;
        let approved = match (&validation, &outcome) {
            (Err(e), _) => {
                let message = format!("policy request {:?}: {e}", request.name);
                // A policy that does not exist or is not Ready yet may still arrive (GitOps
                // applies objects in any order): waiting, not stalled.
                request_problem = Some(if matches!(e.reason(), "PolicyNotFound" | "PolicyNotReady") {
                    Problem::waiting(e.reason(), message)
                } else {
                    Problem::stalled(e.reason(), message)
                });
                false
            }
            (Ok(()), Outcome::Denied(who)) => {
                request_problem =
                    Some(Problem::stalled("Denied", format!("policy request {:?} was denied by {who}", request.name)));
                false
            }
            (Ok(()), Outcome::Approved { .. }) => true,
            (Ok(()), Outcome::Pending { stale }) => {
                let stale = match (&unbound, &not_admitted) {
                    (Some(hint), _) => format!(" ({hint})"),
                    (None, Some(why)) => format!(" ({why})"),
                    (None, None) if *stale => {
                        " (the request or its policy changed since the last decision)".to_string()
                    }
                    (None, None) => String::new(),
                };
                request_problem = Some(Problem::waiting(
                    "PendingApproval",
                    format!(
                        "policy request {:?} awaits an approver{stale}: mosip-partner-operator approve {name} --policy {} -n {}",
                        request.name, request.name, g.namespace
                    ),
                ));
                false
            }
        };
        if automatic && validation.is_ok() && !matches!(outcome, Outcome::Denied(_)) {
            controller_conditions.push(DesiredCondition::new(
                APPROVED,
                true,
                AUTO_APPROVED_REASON,
                format!("approved automatically: PartnerPolicy {:?} has approval: Automatic", request.name),
            ));
        }

        approvals.push(approved);
        // Keys.
        // MISP partners get licences (MispLicense), never API keys (#10 finding 9).
        let wanted =
            approved && may_issue && request_problem.is_none() && tenancy::may_hold_api_keys(spec.partner_type);
        let mut key_statuses = Vec::new();
        let mut plans = Vec::new();
        let mut findings: Vec<String> = Vec::new();
        for key in &gathered.keys {
            if let Some(f) = key.facts.as_ref().filter(|_| key.slot.observed.meta().is_some()) {
                if f.valid_until.is_some()
                    && Recorded::read(f.valid_until.as_deref(), now, rules.validity) == Recorded::Corrupt
                {
                    notes.push(corrupt_record(&key.target.secret_name, apikeys::VALID_UNTIL, "a fresh key is issued"));
                }
                if f.previous_present
                    && Recorded::read(f.previous_until.as_deref(), now, rules.grace) == Recorded::Corrupt
                {
                    notes.push(corrupt_record(
                        &key.target.secret_name,
                        apikeys::PREVIOUS_UNTIL_ANNOTATION,
                        "the rotated-out key is removed",
                    ));
                }
            }
            let p = plan_api_key(&KeyInput {
                now,
                wanted,
                secret: key.slot.observed.state(),
                facts: key.facts.as_ref(),
                rotate_token,
                rules: &rules,
            });
            if let Some(finding) = key.checked.finding(&key.target.secret_name) {
                let reason = key.checked.trust.map(tenancy::SecretTrust::reason).unwrap_or(TAMPERED_REASON);
                notes.push(Note::warning(reason, finding.clone(), "Reconcile"));
                findings.push(finding);
            }
            let verified = key.checked.verified.clone();
            match p {
                KeyPlan::Keep { valid_until, next_check: t, .. } | KeyPlan::Mint { valid_until, next_check: t, .. } => {
                    next_check.push(t);
                    // A kept key's record is what gathering believed; a minted one's is filled
                    // in by apply.
                    let (key_fingerprint, valid_from) = key.checked.issued.clone().unwrap_or_default();
                    key_statuses.push(api::ApiKeyStatus {
                        label: key.target.label.clone(),
                        secret_name: Some(key.target.secret_name.clone()),
                        valid_until: Some(valid_until.to_string()),
                        valid_from,
                        key_fingerprint,
                        secret_resource_version: verified,
                    });
                }
                KeyPlan::Conflict => {
                    request_problem.get_or_insert(Problem::stalled(
                        secrets::CONFLICT_REASON,
                        format!(
                            "{}, or change the label {:?}",
                            secrets::conflict_message(&key.target.secret_name, "Partner"),
                            key.target.label
                        ),
                    ));
                    key_statuses.push(withdrawn_key(&key.target.label));
                }
                KeyPlan::Withdraw => key_statuses
                    .push(api::ApiKeyStatus { secret_resource_version: verified, ..withdrawn_key(&key.target.label) }),
                KeyPlan::Absent | KeyPlan::ReadBack => key_statuses.push(withdrawn_key(&key.target.label)),
            }
            plans.push(p);
        }
        key_plans.push(plans);
        if !tenancy::may_hold_api_keys(spec.partner_type) {
            key_statuses.clear();
        }

        let (ready, reason, message) = match &request_problem {
            Some(p) => (false, p.reason.clone(), p.message.clone()),
            None if !may_issue => (
                false,
                "WaitingForPartner".to_string(),
                "approved; keys are issued once the partner is registered, active and its certificate is valid"
                    .to_string(),
            ),
            None if !tenancy::may_hold_api_keys(spec.partner_type) => (
                true,
                "Approved".to_string(),
                format!(
                    "approved; {} partners get no API keys (MISP licences come from MispLicense)",
                    spec.partner_type.as_str()
                ),
            ),
            None if !findings.is_empty() => (
                true,
                "Issued".to_string(),
                format!("approved; {} API key(s) issued; {}", key_statuses.len(), findings.join("; ")),
            ),
            None => (true, "Issued".to_string(), format!("approved; {} API key(s) issued", key_statuses.len())),
        };
        controller_conditions.push(DesiredCondition::new(REQUEST_READY, ready, &reason, message));
        let prev_conditions: Vec<Condition> = prev_entry.map(|p| p.conditions.clone()).unwrap_or_default();
        request_statuses.push(PolicyRequestStatus {
            name: request.name.clone(),
            request_hash,
            decided_request_hash: None,
            conditions: api::merge_conditions(
                &prev_conditions,
                controller_conditions,
                partner.metadata.generation,
                &now,
            ),
            api_keys: key_statuses,
        });
        if let Some(p) = request_problem {
            problems.push(p);
        }
    }

    // Top-level conditions.
    let [ready_condition, stalled_condition] = summarize(&problems, active, spec.policies.len());
    let mut cert_status = cert.status.clone();
    if let (Some(s), Some(ResignPlan::Keep { not_after, .. })) = (cert_status.as_mut(), resign) {
        s.signed_secret_name = Some(g.signed.name.clone());
        s.signed_not_after = Some(not_after.to_string());
        s.signed_secret_resource_version = g.signed_check.verified.clone();
    }
    let status = PartnerStatus {
        observed_generation: partner.metadata.generation,
        partner_id: Some(g.partner_id.clone()),
        registered_partner_id,
        denied_requests: denials,
        registered_partner_type: Some(registered_type),
        registered_organization_name: Some(registered_org),
        conditions: api::merge_conditions(
            &previous.conditions,
            vec![cert.condition.clone(), ready_condition, stalled_condition],
            partner.metadata.generation,
            &now,
        ),
        certificate: cert_status,
        policies: request_statuses,
        mosip: None,
    };
    Plan {
        status,
        resign,
        keys: key_plans,
        approved: approvals,
        next_check,
        notes,
        active,
        problems,
        requests: spec.policies.len(),
    }
}

/// Event reason when an issued Secret no longer holds what the operator issued (#10 finding 7).
pub const TAMPERED_REASON: &str = "SecretTampered";

/// An Event saying a recorded time was not believed (unreadable, out of range, or later than the
/// rules allow). The value itself is not repeated.
fn corrupt_record(secret: &str, field: &str, consequence: &str) -> Note {
    Note::warning(
        "CorruptRecord",
        format!(
            "{field} of Secret {secret} is unreadable, out of range or longer than the operator issues; it counts as expired: {consequence}"
        ),
        "Reconcile",
    )
}

fn withdrawn_key(label: &str) -> api::ApiKeyStatus {
    api::ApiKeyStatus { label: label.to_string(), ..Default::default() }
}

fn suspend_reason(active: bool, approved: bool) -> &'static str {
    if !active {
        "partner deactivated"
    } else if !approved {
        "policy request not approved"
    } else {
        "partner not onboarded"
    }
}

/// The Ready and Stalled conditions from the problems found.
fn summarize(problems: &[Problem], active: bool, requests: usize) -> [DesiredCondition; 2] {
    if !active {
        return [
            DesiredCondition::new(
                READY,
                false,
                "Deactivated",
                "spec.active is false: API keys are withdrawn from their Secrets and MISP licences deactivated",
            ),
            DesiredCondition::new(STALLED, false, "Deactivated", "deactivated on purpose"),
        ];
    }
    let message = if requests == 0 {
        "registered and certificate valid".to_string()
    } else {
        format!("registered, certificate valid, {requests} policy request(s) approved and issued")
    };
    status::readiness(problems, READY_REASON, message)
}

// ---------------------------------------------------------------------------------------------
// Apply

async fn apply(ctx: &Context, partner: &Partner, g: &Gathered, mut plan: Plan, now: jiff::Timestamp) -> Result<Action> {
    let mut notes: Vec<Note> = std::mem::take(&mut plan.notes);
    let mut lost = false;

    // 1. Secrets: the re-signed certificate, the keys, the keys no longer wanted. They are
    // independent of each other, so they are written concurrently (one round trip, not one per
    // Secret); their outcomes are taken in order.
    let domain = partner.spec.partner_type.domain();
    let resign = async {
        match (plan.resign, g.cert.validated.as_ref()) {
            (Some(resign), Some(validated)) => {
                signing::apply(ctx, partner, &g.signed, resign, validated, domain, now).await.map(Some)
            }
            _ => Ok(None),
        }
    };
    let rotate_token = partner.annotations().get(super::ROTATE_ANNOTATION).map(String::as_str);
    let key_writes = g.requests.iter().zip(&plan.keys).zip(&plan.approved).flat_map(|((gathered, plans), approved)| {
        let why = suspend_reason(plan.active, *approved);
        gathered.keys.iter().zip(plans).map(move |(key, key_plan)| async move {
            tracing::debug!(secret = %key.target.secret_name, plan = ?key_plan, facts = ?key.facts, "API key");
            let restamp = key.checked.restamp;
            let result = apikeys::apply(
                ctx,
                partner,
                &g.partner_id,
                &key.target,
                &key.slot,
                *key_plan,
                rotate_token,
                why,
                restamp,
            )
            .await?;
            Ok::<_, Error>((key, result))
        })
    });
    let (signed, keys) = futures::future::join(resign, futures::future::join_all(key_writes)).await;
    match signed? {
        Some(signing::SignedOutcome::Issued { not_after, renew_at, event }) => {
            if let Some(s) = plan.status.certificate.as_mut() {
                s.signed_secret_name = Some(g.signed.name.clone());
                s.signed_not_after = Some(not_after.to_string());
                if event.is_some() {
                    // Re-signed now: the resourceVersion it was written at.
                    s.signed_secret_resource_version = g.signed.written_version(ctx);
                }
            }
            plan.next_check.push(renew_at);
            notes.extend(event);
        }
        Some(signing::SignedOutcome::Lost) => lost = true,
        Some(signing::SignedOutcome::Conflict) | None => {}
    }
    for written in keys {
        let (key, result) = written?;
        lost |= result.lost;
        notes.extend(result.event);
        let entry = plan
            .status
            .policies
            .iter_mut()
            .find(|p| p.name == key.target.policy)
            .and_then(|e| e.api_keys.iter_mut().find(|k| k.label == key.target.label));
        if let Some(k) = entry {
            // A freshly minted key: record its fingerprint and issue time (#10 finding 7).
            if let Some(issued) = result.status.as_ref().filter(|s| s.key_fingerprint.is_some()) {
                k.key_fingerprint = issued.key_fingerprint.clone();
                k.valid_from = issued.valid_from.clone();
                k.valid_until = issued.valid_until.clone();
            }
            // And the resourceVersion the operator wrote it at.
            if result.written {
                k.secret_resource_version = key.slot.written_version(ctx);
            }
        }
    }
    let secret_api: Api<Secret> = Api::namespaced(ctx.client.clone(), &g.namespace);
    for meta in &g.unwanted {
        tracing::info!(secret = %meta.name(), "deleting API-key Secret no longer in the spec");
        secrets::delete(&secret_api, meta).await?;
    }
    if lost {
        // Someone wrote first; look again shortly with fresh stores. Nothing else is written.
        return Ok(Action::requeue(Duration::from_secs(1)));
    }

    // 2. Status, only when it changed.
    let previous = partner.status.clone().unwrap_or_default();
    let desired = normalized(plan.status.clone());
    let unchanged = desired == normalized(owned_projection(&previous));
    // (A reconcile never starts while the store lags the operator's own last status write:
    // `run::guarded` waits for that echo, so `previous` is never a status already replaced.)
    let api: Api<Partner> = Api::namespaced(ctx.client.clone(), &g.namespace);
    remove_withdrawn_requests(&api, partner).await?;
    status::apply_status(&api, partner, &plan.status, unchanged).await?;

    if unchanged {
        // Status records everything written: what the operator kept of its own writes is not
        // needed any more once the store shows them (a restart starts from the same point).
        g.signed.settled(ctx);
        for key in g.requests.iter().flat_map(|r| &r.keys) {
            key.slot.settled(ctx);
        }
    }

    // 3. Events: Warnings each, the rest folded into one (the transitions last: they head it).
    for type_ in [CERTIFICATE_VALID, READY] {
        if let Some(new) = api::find(&plan.status.conditions, type_) {
            notes.extend(events::transition(api::find(&previous.conditions, type_), new, "Reconcile"));
        }
    }
    events::publish_all(ctx, partner, &notes).await;
    let next = plan.next_check.into_iter().min();
    Ok(ctx.recheck(partner, cacert::requeue_after(next, now)))
}

/// Removes status entries of requests that left the spec, approver decisions included: the
/// request is gone, and a request made again later is a new one. Server-side apply alone would
/// leave the approver's fields behind.
pub(super) async fn remove_withdrawn_requests(api: &Api<Partner>, partner: &Partner) -> Result<()> {
    let Some(status) = partner.status.as_ref() else { return Ok(()) };
    let mut ops = Vec::new();
    for (i, entry) in status.policies.iter().enumerate().rev() {
        if !partner.spec.policies.iter().any(|r| r.name == entry.name) {
            ops.push(
                serde_json::json!({"op": "test", "path": format!("/status/policies/{i}/name"), "value": entry.name}),
            );
            ops.push(serde_json::json!({"op": "remove", "path": format!("/status/policies/{i}")}));
        }
    }
    if ops.is_empty() {
        return Ok(());
    }
    let patch: json_patch::Patch = serde_json::from_value(serde_json::Value::Array(ops))?;
    match api
        .patch_status(&partner.name_any(), &kube::api::PatchParams::default(), &kube::api::Patch::<()>::Json(patch))
        .await
    {
        Ok(_) => Ok(()),
        // The status moved on meanwhile; the next reconcile looks again.
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 || e.code == 422 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Conditions in a fixed order: server-side apply merges list-map entries into the existing
/// order, so the stored order may differ from the written one without any difference.
fn normalized(mut status: PartnerStatus) -> PartnerStatus {
    status.conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
    for entry in &mut status.policies {
        entry.conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
    }
    status
}

/// The previous status without the approver-owned parts, to compare with what the operator
/// would write.
pub(super) fn owned_projection(previous: &PartnerStatus) -> PartnerStatus {
    let mut p = previous.clone();
    for entry in &mut p.policies {
        entry.decided_request_hash = None;
        // Approved is also written by the operator for Automatic policies; it is only compared
        // when its reason is the operator's.
        entry.conditions.retain(|c| c.type_ != DENIED && !(c.type_ == APPROVED && c.reason != AUTO_APPROVED_REASON));
    }
    p.policies.retain(|e| e.request_hash.is_some() || !e.conditions.is_empty() || !e.api_keys.is_empty());
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::true_condition as cond;

    #[test]
    fn a_cached_verdict_is_the_verdict_made_fresh() {
        use crate::trust::tests::fixtures::{Spec, days, secs, t0};
        let root = Spec::root("Root A").self_signed();
        let leaf = Spec::leaf("partner.example", "Acme").signed_by(&root);
        let input = OwnedCertInput {
            domain: PartnerDomain::Auth,
            certificate_pem: leaf.pem.clone(),
            chain_pem: None,
            roots: Arc::new(vec![root.der.clone()]),
            intermediates: Arc::new(Vec::new()),
            organization: "Acme".into(),
            now: t0(),
            min_validity: days(335),
        };
        let fresh = evaluate_certificate(&input);
        assert!(fresh.validated.is_some());
        let key = [1u8; 32];
        let cached = CachedVerdict::of(key, &fresh);
        assert!(
            matches!(cached.outcome, CachedOutcome::Valid { .. }),
            "a valid verdict keeps no copy of the certificate"
        );
        let again = cached.verdict(&key, PartnerDomain::Auth, &leaf.pem, t0()).expect("reused");
        assert_eq!(again.condition, fresh.condition);
        assert_eq!(again.status, fresh.status);
        assert_eq!(again.validated, fresh.validated);
        assert_eq!((again.next_check, again.stalled), (fresh.next_check, fresh.stalled));
        // Another key, or past the time the verdict may change by itself: made anew.
        assert!(cached.verdict(&[2u8; 32], PartnerDomain::Auth, &leaf.pem, t0()).is_none());
        let next = fresh.next_check.expect("next check");
        assert!(cached.verdict(&key, PartnerDomain::Auth, &leaf.pem, next).is_some());
        assert!(cached.verdict(&key, PartnerDomain::Auth, &leaf.pem, next + secs(1)).is_none());
        // A verdict against the certificate is kept whole.
        let invalid = evaluate_certificate(&OwnedCertInput { organization: "Other".into(), ..input });
        assert_eq!(invalid.condition.reason, "OrganizationMismatch");
        let cached = CachedVerdict::of(key, &invalid);
        let again = cached.verdict(&key, PartnerDomain::Auth, &leaf.pem, t0()).expect("reused");
        assert_eq!((again.condition, again.status), (invalid.condition, invalid.status));
    }

    #[test]
    fn every_input_of_a_verdict_is_in_its_key() {
        let base = VerdictKey {
            secret_uid: Some("u"),
            secret_version: Some("7"),
            trust: 3,
            organization: "Acme",
            domain: PartnerDomain::Auth,
            min_validity: 10,
            cert_key: "tls.crt",
            chain_key: "ca.crt",
        };
        let d = base.digest();
        let variants = [
            VerdictKey { secret_uid: None, ..base },
            VerdictKey { secret_version: Some("8"), ..base },
            VerdictKey { trust: 4, ..base },
            VerdictKey { organization: "Acme2", ..base },
            VerdictKey { domain: PartnerDomain::Device, ..base },
            VerdictKey { min_validity: 11, ..base },
            VerdictKey { cert_key: "ca.crt", chain_key: "tls.crt", ..base },
            // Field boundaries count: "u" + "7" is not "u7" + "".
            VerdictKey { secret_uid: Some("u7"), secret_version: Some(""), ..base },
        ];
        for v in variants {
            assert_ne!(v.digest(), d);
        }
        assert_eq!(VerdictKey { ..base }.digest(), d);
    }

    #[test]
    fn deactivation_wins_over_problems() {
        let problems = vec![Problem::stalled("OrganizationMismatch", "fix O")];
        let [ready, stalled] = summarize(&problems, false, 1);
        assert_eq!(ready.reason, "Deactivated");
        assert_eq!(stalled.status, api::Status::False);
        let [ready, _] = summarize(&problems, true, 1);
        assert_eq!(ready.reason, "OrganizationMismatch");
    }

    #[test]
    fn condition_order_is_no_change() {
        let mut a = PartnerStatus::default();
        a.policies.push(PolicyRequestStatus {
            name: "p".into(),
            conditions: vec![cond(APPROVED, AUTO_APPROVED_REASON), cond(REQUEST_READY, "Issued")],
            ..Default::default()
        });
        let mut b = a.clone();
        b.policies[0].conditions.reverse();
        assert_ne!(a, b);
        assert_eq!(normalized(a), normalized(b));
    }

    #[test]
    fn projection_drops_approver_fields() {
        let mut s = PartnerStatus::default();
        s.policies.push(PolicyRequestStatus {
            name: "p".into(),
            request_hash: Some("h1".into()),
            decided_request_hash: Some("h1".into()),
            conditions: vec![cond(APPROVED, "alice"), cond(REQUEST_READY, "Issued")],
            api_keys: vec![],
        });
        let p = owned_projection(&s);
        assert_eq!(p.policies[0].conditions.len(), 1);
        assert_eq!(p.policies[0].decided_request_hash, None);
    }
}
