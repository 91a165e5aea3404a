//! Wiring: one watch and one shared store per kind, one builder per controller, the metrics
//! and probe server, shutdown.
//!
//! Every kind is watched once ([`Sources`]) into one store; each controller subscribes to the
//! kinds it needs (`Controller::for_shared_stream` / `watches_shared_stream` over a fan-out of
//! what the store applied), and reconcilers read the same stores. kube-runtime's own dispatcher
//! (`store_shared`) is not used: its subscriber stream returns `Pending` without a waker when a
//! reference is not in the store, which stalled controllers in the tests. Secrets are watched as metadata only and filtered before
//! the store to those the operator needs. Indexes over the Partner store push the changes that
//! other objects depend on (a policy's users, a partnerId's claimants), deletions included.
//! The Partner controller takes every trigger through a [`Backlog`], which hands kube-runtime's
//! scheduler a few Partners at a time (a start queues all of them).

use super::backlog::Backlog;
use super::cache::{self, PartnerIndex};
use super::context::{Context, NamespaceMeta, OperatorConfig, Stores, Synced};
use super::error::Error;
use super::events::Recorder;
use super::lean::{self, Lean};
use super::packed::{PackedPartner, Versioned};
use super::secret_store::SecretStore;
use super::secrets::{OwnKind, SecretMeta};
use super::{MANAGED_BY, MANAGED_BY_LABEL, cacert, license, partner, policy, signing};
use crate::api::{CACertificate, MispLicense, Partner, PartnerPolicy, Tagged};
use crate::metrics::Metrics;
use crate::pms::exports::{EXPORT_SOURCE_UID_LABEL, export_source_of};
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender};
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt, TryStreamExt, future::BoxFuture};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, PartialObjectMeta};
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::reflector::{self, ObjectRef, Store, store::Writer};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Runtime options that are not reconcile settings.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Address of the /metrics, /healthz and /readyz server; None disables it.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Events' reporting instance (the pod name in a cluster).
    pub instance: Option<String>,
    /// Reconciles run at once per kind.
    pub concurrency: u16,
    /// Leadership, when leader election is on: controllers run only while it is true, and the
    /// process stops when it is lost (a restarted replica rejoins as a follower).
    pub leader: Option<tokio::sync::watch::Receiver<bool>>,
    /// `--backend mosip`: how to reach PMS; None in standalone mode.
    pub mosip: Option<crate::pms::PmsConfig>,
}

/// Fails with an actionable message when a CRD is missing. Namespaced kinds are probed in the
/// first watched namespace, so an operator with per-namespace RBAC needs no cluster-wide list.
pub async fn check_crds(client: &Client, scope: &super::scope::Scope) -> anyhow::Result<()> {
    async fn probe<K>(api: Api<K>) -> anyhow::Result<()>
    where
        K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        match api.list(&ListParams::default().limit(1)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => anyhow::bail!(
                "the {} CRD ({}.{}) is not installed; install the CRDs first: \
                 `kubectl apply --validate=false -f crds/` (or `mosip-partner-operator crd | kubectl apply --validate=false -f -`)",
                K::kind(&()),
                K::plural(&()),
                K::group(&())
            ),
            Err(e) => Err(anyhow::anyhow!("cannot list {}: {e}", K::plural(&()))),
        }
    }
    // The first watched namespace (or all): no cluster-wide list needed with a namespace list.
    fn namespaced<K>(client: &Client, scope: &super::scope::Scope) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        scope.apis(client).into_iter().next().unwrap_or_else(|| Api::all(client.clone()))
    }
    // At once (four round trips before the first listing otherwise); the first missing one in
    // this order is reported, whichever answer came first.
    let (cacerts, policies, partners, licenses) = futures::join!(
        probe::<CACertificate>(Api::all(client.clone())),
        probe::<PartnerPolicy>(Api::all(client.clone())),
        probe::<Partner>(namespaced(client, scope)),
        probe::<MispLicense>(namespaced(client, scope)),
    );
    cacerts.and(policies).and(partners).and(licenses)
}

/// Where a kind's watch events are kept: kube's reflector store, or the Secret store.
trait Keep<K>: Send + 'static {
    /// What reconcilers read.
    type Reader: Clone;
    fn reader(&self) -> Self::Reader;
    fn apply(&mut self, event: &watcher::Event<K>);
    /// The stored entry of an object just applied.
    fn stored(&self, obj: &K) -> Option<Arc<K>>;
    fn all(&self) -> Vec<Arc<K>>;
}

impl<K> Keep<K> for Writer<K>
where
    K: reflector::Lookup<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    type Reader = Store<K>;

    fn reader(&self) -> Store<K> {
        self.as_reader()
    }

    fn apply(&mut self, event: &watcher::Event<K>) {
        self.apply_watcher_event(event);
    }

    fn stored(&self, obj: &K) -> Option<Arc<K>> {
        self.as_reader().get(&obj.to_object_ref(()))
    }

    fn all(&self) -> Vec<Arc<K>> {
        self.as_reader().state()
    }
}

impl Keep<SecretMeta> for SecretStore {
    type Reader = SecretStore;

    fn reader(&self) -> SecretStore {
        self.clone()
    }

    fn apply(&mut self, event: &watcher::Event<SecretMeta>) {
        SecretStore::apply(self, event);
    }

    fn stored(&self, obj: &SecretMeta) -> Option<Arc<SecretMeta>> {
        self.get(obj.namespace(), obj.name())
    }

    fn all(&self) -> Vec<Arc<SecretMeta>> {
        SecretStore::all(self)
    }
}

/// The reflector of one kind: one watch feeding one store that every controller and reconciler
/// reads, and a fan-out of what the store just applied to each controller that subscribed
/// (kube-runtime's shared-stream idea, with plain channels: a subscriber that is momentarily
/// behind never loses an object and never stalls the watch). A subscriber receives the store's
/// own entry (a pointer), not a reference to look up.
struct Shared<K, W = Writer<K>> {
    keep: W,
    subscribers: Vec<UnboundedSender<Arc<K>>>,
}

impl<K, W: Keep<K> + Default> Shared<K, W> {
    fn new() -> Self {
        Self { keep: W::default(), subscribers: Vec::new() }
    }

    /// A stream of the objects the store applies from now on (and all of them after each
    /// listing), as the store holds them.
    fn subscribe(&mut self) -> BoxStream<'static, Arc<K>>
    where
        K: Send + Sync + 'static,
    {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        self.subscribers.push(tx);
        rx.boxed()
    }
}

/// Drives one kind's watch into its shared store, then calls `observe` with each event once the
/// store has applied it (indexes follow the store), then tells the subscribers.
fn drive<K, W, S>(
    shared: Shared<K, W>,
    watch: S,
    synced: (Arc<Context>, u8),
    stop: impl Future<Output = ()> + Send + 'static,
    mut observe: impl FnMut(&watcher::Event<K>) + Send + 'static,
) -> BoxFuture<'static, ()>
where
    K: reflector::Lookup<DynamicType = ()> + Clone + Send + Sync + 'static,
    W: Keep<K>,
    S: futures::Stream<Item = watcher::Result<watcher::Event<K>>> + Send + 'static,
{
    let kind = std::any::type_name::<K>();
    let Shared { mut keep, subscribers } = shared;
    let notify = move |o: Arc<K>| {
        for s in &subscribers {
            let _ = s.unbounded_send(o.clone());
        }
    };
    watch
        .default_backoff()
        .take_until(stop)
        .for_each(move |ev| {
            match ev {
                Ok(ev) => {
                    keep.apply(&ev);
                    observe(&ev);
                    match &ev {
                        watcher::Event::Apply(o) => {
                            if let Some(stored) = keep.stored(o) {
                                notify(stored);
                            }
                        }
                        watcher::Event::Delete(o) => {
                            super::status::forget_own_write(&cache::object_key(&K::kind(&()), o))
                        }
                        watcher::Event::InitDone => {
                            synced.0.synced.mark(synced.1);
                            for o in keep.all() {
                                notify(o);
                            }
                        }
                        _ => {}
                    }
                }
                Err(e) => tracing::warn!(kind, error = %e, "watch failed; retrying with back-off"),
            }
            futures::future::ready(())
        })
        .boxed()
}

/// Secrets per page of a listing (the other kinds are listed from the watch cache, in one
/// response).
const SECRET_LIST_PAGE: u32 = 500;

/// What the Secret metadata watch yields.
type SecretWatchEvent = watcher::Result<watcher::Event<PartialObjectMeta<Secret>>>;

/// Keeps only the Secrets the operator needs before they reach the store, as compact
/// projections ([`SecretMeta`]): its own (by label), its consumer copies (by the export-source
/// label) and those a Partner names as its certificate Secret. Any other Secret's update becomes
/// a removal, so the store never holds a stale copy of a Secret nobody names any more.
fn needed_secrets(
    index: Arc<PartnerIndex>,
) -> impl FnMut(SecretWatchEvent) -> futures::future::Ready<Option<watcher::Result<watcher::Event<SecretMeta>>>> {
    // What the store keeps: of the operator's own Secrets and consumer copies (whose labels and
    // annotations name their source, see `copy_source`) also the operator's labels and
    // annotations; of a certificate Secret only its identity, version and owner (its content is
    // read by resourceVersion). None when the operator does not need it.
    let tagged =
        |m: &ObjectMeta| m.label(MANAGED_BY_LABEL) == Some(MANAGED_BY) || m.label(EXPORT_SOURCE_UID_LABEL).is_some();
    let project = move |s: &PartialObjectMeta<Secret>| {
        let m = &s.metadata;
        let tagged = tagged(m);
        let needed = tagged || index.is_certificate_secret(m.namespace.as_deref().unwrap_or_default(), &s.name_any());
        needed.then(|| SecretMeta::project(m, tagged))
    };
    // A deleted copy keeps the labels that name its source (its source writes it again).
    let removal = move |s: &PartialObjectMeta<Secret>| SecretMeta::project(&s.metadata, tagged(&s.metadata));
    move |ev| {
        let out = match ev {
            Ok(watcher::Event::InitApply(s)) => project(&s).map(|m| Ok(watcher::Event::InitApply(m))),
            Ok(watcher::Event::Apply(s)) => Some(Ok(match project(&s) {
                Some(m) => watcher::Event::Apply(m),
                None => watcher::Event::Delete(removal(&s)),
            })),
            Ok(watcher::Event::Delete(s)) => Some(Ok(watcher::Event::Delete(removal(&s)))),
            Ok(watcher::Event::Init) => Some(Ok(watcher::Event::Init)),
            Ok(watcher::Event::InitDone) => Some(Ok(watcher::Event::InitDone)),
            Err(e) => Some(Err(e)),
        };
        futures::future::ready(out)
    }
}

/// Triggers every Partner and MispLicense with an export into `namespace`. Runs only when a
/// namespace's opt-in changes (rare), so scanning the stores is fine.
fn exporters_into(ctx: &Context, namespace: &str, triggers: &Triggers) {
    for packed in ctx.partners.state() {
        let Some(p) = packed.unpack_or_skip() else { continue };
        let exports = p.spec.policies.iter().flat_map(|r| r.api_keys.iter()).flat_map(|k| k.exports.iter());
        if exports.into_iter().any(|e| e.namespace == namespace) {
            triggers.partner(ObjectRef::from_obj(packed.as_ref()));
        }
    }
    for l in ctx.licenses.state() {
        if l.spec.exports.iter().any(|e| e.namespace == namespace) {
            triggers.license(ObjectRef::from_obj(l.as_ref()));
        }
    }
}

/// The source object of a consumer copy, when the copy's annotation names one of `kind` that
/// exists with the uid the copy's label carries: an editor of the copy's namespace cannot make
/// the operator reconcile other objects by annotating a Secret.
fn copy_source<K>(meta: &SecretMeta, kind: &str, store: &Store<K>) -> Option<ObjectRef<K>>
where
    K: Resource<DynamicType = ()> + Versioned + Clone + 'static,
{
    let (k, ns, name) = export_source_of(meta)?;
    let uid = meta.label(EXPORT_SOURCE_UID_LABEL)?;
    let r = ObjectRef::new(name).within(ns);
    let obj = store.get(&r).filter(|_| k == kind)?;
    (obj.stored_uid() == Some(uid)).then_some(r)
}

/// The operator's object controlling a stored Secret, when it is of `kind`.
fn controller_of<K>(meta: &SecretMeta, kind: OwnKind) -> Option<ObjectRef<K>>
where
    K: Resource<DynamicType = ()>,
{
    meta.controller().filter(|c| c.kind == Some(kind)).map(|c| ObjectRef::new(c.name).within(meta.namespace()))
}

/// Test hook: how long to hold the Secret listing back (`MOSIP_OPERATOR_TEST_SECRET_LIST_DELAY_MS`,
/// unset in any real deployment).
fn secret_list_hold() -> std::time::Duration {
    let ms = std::env::var("MOSIP_OPERATOR_TEST_SECRET_LIST_DELAY_MS").ok().and_then(|v| v.parse::<u64>().ok());
    if let Some(ms) = ms {
        tracing::warn!(ms, "test hook: the Secret listing is held back");
    }
    std::time::Duration::from_millis(ms.unwrap_or(0))
}

/// Per-object back-off on errors (1 s doubling to 5 min, reset on success); nothing is
/// written for a failed reconcile, no Event either.
fn error_policy<K>(kind: &'static str) -> impl Fn(Arc<K>, &Error, Arc<Context>) -> Action
where
    K: Resource,
{
    move |obj, error, ctx| {
        let delay = ctx.backoff.failed(&cache::object_key(kind, obj.as_ref()));
        tracing::warn!(kind, namespace = obj.meta().namespace.as_deref().unwrap_or(""), name = obj.meta().name.as_deref().unwrap_or(""), error = %error, retry_in_seconds = delay.as_secs(), "reconcile failed; retrying");
        ctx.metrics.failure(kind, error.metric_label());
        Action::requeue(delay)
    }
}

/// Wraps a reconciler: waits for the stores `needs` names to be listed (a reconcile never
/// decides on a half-listed cache it reads), catches a panic so that no object can take the
/// process down (the object gets an error and back-off, `mosip_partner_reconcile_panics_total`
/// counts it), and resets the object's back-off on success.
fn guarded<K, F, Fut>(
    kind: &'static str,
    needs: fn(&K, &Context) -> u8,
    reconcile: F,
) -> impl FnMut(Arc<K>, Arc<Context>) -> BoxFuture<'static, Result<Action, Error>>
where
    K: Resource + Versioned + Send + Sync + 'static,
    F: Fn(Arc<K>, Arc<Context>) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = Result<Action, Error>> + Send + 'static,
{
    move |obj, ctx| {
        let key = cache::object_key(kind, obj.as_ref());
        async move {
            tracing::trace!(object = %key, "reconcile queued");
            ctx.synced.wait_for(needs(obj.as_ref(), &ctx)).await;
            // The store has not caught up with this operator's own status write yet: the echo
            // triggers the next reconcile (the requeue only covers a lost echo).
            if super::status::store_lags_own_write(&key, obj.stored_uid(), obj.stored_version()) {
                tracing::trace!(object = %key, "waiting for the echo of the last status write");
                return Ok(Action::requeue(std::time::Duration::from_secs(1)));
            }
            tracing::trace!(object = %key, "reconcile starts");
            match std::panic::AssertUnwindSafe(reconcile(obj, ctx.clone())).catch_unwind().await {
                Ok(Ok(action)) => {
                    ctx.backoff.succeeded(&key);
                    Ok(action)
                }
                Ok(Err(e)) => Err(e),
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".to_string());
                    ctx.metrics.panic(kind);
                    tracing::error!(kind, object = %key, panic = %what, "reconcile panicked; the object is retried with back-off");
                    Err(Error::Panicked(what))
                }
            }
        }
        .boxed()
    }
}

/// Every store: what a reconcile that reads them all waits for.
fn every_store<K>(_: &K, _: &Context) -> u8 {
    Synced::ALL
}

/// What a Partner reconcile waits for. A Partner the operator has never written a status to
/// (a fresh install) does not wait for the Secret store in standalone mode: what it reads from
/// there can only tell it that a Secret it is about to create exists — and a create fails on an
/// existing name (the operator then reads it once: its own is adopted, another's is reported and
/// never overwritten), certificate Secrets are read by name anyway, and the Secret store's first
/// listing triggers every Partner owning or naming a Secret again. A Partner with a status
/// waits: its recorded keys are checked against the Secret store. In mosip mode every Partner
/// waits — a key PMS has issued must never be asked for twice.
fn partner_needs(partner: &PackedPartner, ctx: &Context) -> u8 {
    if !partner.has_status && ctx.pms.is_none() { Synced::ALL & !Synced::SECRETS } else { Synced::ALL }
}

fn log_result<K: Resource, E: std::fmt::Display>(
    kind: &'static str,
) -> impl FnMut(Result<(ObjectRef<K>, Action), E>) -> futures::future::Ready<()>
where
    K::DynamicType: std::fmt::Debug,
{
    move |res| {
        match res {
            Ok((obj, _)) => tracing::debug!(kind, object = %obj, "reconciled"),
            Err(e) => tracing::debug!(kind, error = %e, "controller event"),
        }
        futures::future::ready(())
    }
}

type Stop = futures::future::Shared<BoxFuture<'static, ()>>;

/// Partners handed to the controller at a time ([`Backlog`]): enough queued behind each worker
/// that none waits for the next hand-over, few enough that kube-runtime's scheduler stays small.
fn backlog_limit(concurrency: u16) -> usize {
    match concurrency {
        // Unbounded concurrency.
        0 => 1024,
        c => usize::from(c) * 4,
    }
}

/// The object a controller's result reports a reconcile of: run, failed, or not found.
fn reconciled<K, E1, E2>(
    res: &Result<(ObjectRef<K>, Action), kube::runtime::controller::Error<E1, E2>>,
) -> Option<(Option<&str>, &str)>
where
    K: Resource,
{
    use kube::runtime::controller::Error as E;
    match res {
        Ok((r, _)) => Some((r.namespace.as_deref(), r.name.as_str())),
        Err(E::ObjectNotFound(r) | E::ReconcilerFailed(_, r)) => Some((r.namespace.as_deref(), r.name.as_str())),
        Err(_) => None,
    }
}

/// The shared reflectors of every kind, and the subscriptions each controller takes.
struct Sources {
    cacerts: Shared<CACertificate>,
    policies: Shared<PartnerPolicy>,
    partners: Shared<PackedPartner>,
    licenses: Shared<MispLicense>,
    secrets: Shared<SecretMeta, SecretStore>,
    namespaces: Shared<NamespaceMeta>,
}

impl Sources {
    fn new() -> Self {
        Self {
            cacerts: Shared::new(),
            policies: Shared::new(),
            partners: Shared::new(),
            licenses: Shared::new(),
            secrets: Shared::new(),
            namespaces: Shared::new(),
        }
    }

    fn stores(&self) -> Stores {
        Stores {
            cacerts: self.cacerts.keep.reader(),
            policies: self.policies.keep.reader(),
            partners: self.partners.keep.reader(),
            licenses: self.licenses.keep.reader(),
            secrets: self.secrets.keep.reader(),
            namespaces: self.namespaces.keep.reader(),
        }
    }

    /// Starts one watch per kind into its store (consumes the writers). Deletions, which the
    /// shared streams do not carry, are turned into triggers for whoever depends on the object.
    fn drive(
        self,
        client: &Client,
        config: &OperatorConfig,
        ctx: Arc<Context>,
        triggers: Triggers,
        stop: Stop,
    ) -> BoxFuture<'static, ()> {
        // Partners (and MispLicenses, Namespaces) are listed from the API server's watch cache
        // (`resourceVersion=0`, what client-go's informers do): one response, served from memory
        // — 10,000 Partners in ~1.3 s where pages of 500 read from etcd took ~5 s — so the first
        // Partner is reconciled within ~2 s of the start; the response is parsed while it arrives
        // (`listwatch`), never held whole. Secrets, the most numerous kind (three
        // per partner once onboarded), are listed in consistent pages of 500: the watch cache
        // ignores a limit, and one response of 30,000 Secrets costs tens of MiB to hold and
        // parse. A fresh Partner does not wait for them (`partner_needs`).
        let mut wc = watcher::Config::default().any_semantic();
        // kube sends `resourceVersion=0` only without a limit.
        wc.page_size = None;
        let secret_wc = watcher::Config::default().page_size(SECRET_LIST_PAGE);
        let cwc = config.cluster_watch_config();
        let scope = &config.scope;

        let pctx = ctx.clone();
        let pt = triggers.clone();
        let partners = drive(
            self.partners,
            scope.watch::<PackedPartner>(client, wc.clone()),
            (ctx.clone(), Synced::PARTNERS),
            stop.clone(),
            move |ev| {
                pctx.partner_index.observe(ev, &pctx.partners);
                if let watcher::Event::Delete(p) = ev {
                    pctx.rechecks.forget(&ObjectRef::from_obj(p));
                    let ns = p.namespace();
                    let name = p.name_any();
                    pctx.certificates.evict(ns.as_deref().unwrap_or_default(), &name);
                    // Its licences lose their partner.
                    for l in pctx.licenses.state().iter().filter(|l| l.namespace() == ns && l.spec.partner_name == name)
                    {
                        pt.license(ObjectRef::from_obj(l.as_ref()));
                    }
                }
            },
        );
        let licenses = drive(
            self.licenses,
            scope.watch::<Lean<MispLicense>>(client, wc.clone()).map_ok(lean::unwrap),
            (ctx.clone(), Synced::LICENSES),
            stop.clone(),
            |_| {},
        );

        let cctx = ctx.clone();
        let ct = triggers.clone();
        let cacerts = drive(
            self.cacerts,
            watcher::watcher(Api::<CACertificate>::all(client.clone()), cwc.clone())
                .modify(cache::strip::<CACertificate>),
            (ctx.clone(), Synced::CACERTS),
            stop.clone(),
            move |ev| {
                if let watcher::Event::Delete(ca) = ev {
                    // A CA that goes changes its domain's trust: its CAs and Partners look again.
                    for other in cctx.cacerts.state().iter().filter(|o| o.spec.domain == ca.spec.domain) {
                        ct.cacert(ObjectRef::from_obj(other.as_ref()));
                    }
                    for p in cctx.partners.state().iter() {
                        if crate::mosip::PartnerTypeExt::domain(p.partner_type) == ca.spec.domain {
                            ct.partner(ObjectRef::from_obj(p.as_ref()));
                        }
                    }
                }
            },
        );

        let lctx = ctx.clone();
        let lt = triggers.clone();
        let policies = drive(
            self.policies,
            watcher::watcher(Api::<PartnerPolicy>::all(client.clone()), cwc).modify(cache::strip::<PartnerPolicy>),
            (ctx.clone(), Synced::POLICIES),
            stop.clone(),
            move |ev| {
                if let watcher::Event::Delete(pol) = ev {
                    let name = pol.name_any();
                    for p in lctx.partner_index.requesting(&name) {
                        lt.partner(p);
                    }
                    for l in
                        lctx.licenses.state().iter().filter(|l| l.spec.policy_name.as_deref() == Some(name.as_str()))
                    {
                        lt.license(ObjectRef::from_obj(l.as_ref()));
                    }
                }
            },
        );

        // Namespace metadata: the labels automatic approval is scoped by, and in mosip mode the
        // export opt-in; a namespace whose labels or opt-in change (or that appears or goes)
        // makes its Partners, or the objects exporting into it, look again.
        let mosip = ctx.pms.is_some();
        let namespaces = {
            let nctx = ctx.clone();
            let nt = triggers.clone();
            // Per namespace: its export opt-in and its labels, to look again only on a change.
            type Seen = ((Option<String>, Option<String>), std::collections::BTreeMap<String, String>);
            let mut seen: std::collections::HashMap<String, Seen> = Default::default();
            let mut listed = false;
            drive(
                self.namespaces,
                watcher::watcher(Api::<NamespaceMeta>::all(client.clone()), wc.clone())
                    .modify(cache::strip::<NamespaceMeta>),
                (ctx.clone(), Synced::NAMESPACES),
                stop.clone(),
                move |ev| {
                    let (name, opt_in_changed, labels_changed) = match ev {
                        watcher::Event::Apply(n) | watcher::Event::InitApply(n) => {
                            let name = n.name_any();
                            let now = (crate::pms::plan::opt_in_of(&n.metadata), n.labels().clone());
                            let before = seen.insert(name.clone(), now.clone());
                            let opt_in = before.as_ref().map(|b| &b.0) != Some(&now.0);
                            let labels = before.as_ref().map(|b| &b.1) != Some(&now.1);
                            (name, opt_in, labels)
                        }
                        watcher::Event::Delete(n) => {
                            let name = n.name_any();
                            seen.remove(&name);
                            (name, true, true)
                        }
                        watcher::Event::InitDone => {
                            listed = true;
                            return;
                        }
                        watcher::Event::Init => return,
                    };
                    if !listed {
                        return;
                    }
                    if opt_in_changed && mosip {
                        exporters_into(&nctx, &name, &nt);
                    }
                    // spec.autoApprove.namespaceSelector of Automatic policies is judged on
                    // these labels: the namespace's Partners look again.
                    if labels_changed {
                        for p in
                            nctx.partners.state().iter().filter(|p| p.namespace().as_deref() == Some(name.as_str()))
                        {
                            nt.partner(ObjectRef::from_obj(p.as_ref()));
                        }
                    }
                },
            )
        };

        let sctx = ctx.clone();
        let st = triggers;
        // With a namespace list, mosip mode also watches its copies in --export-namespaces.
        let extra: &[String] = if mosip { &config.export_namespaces } else { &[] };
        let secret_watch = scope
            .watch_metadata_with::<Secret>(client, secret_wc, EXPORT_SOURCE_UID_LABEL, extra)
            .filter_map(needed_secrets(ctx.partner_index.clone()));
        // A watcher lists when first polled. The Secrets are listed once the Partners are: the
        // Partner listing (what every reconcile needs) does not share the API server with the
        // Secret pages, and the certificate Secrets the Partners name are kept from the first
        // page on (`needed_secrets` asks the Partner index). A test can hold the listing back
        // further to observe what the operator does before the Secret store is complete.
        let hold = secret_list_hold();
        let partners_listed = ctx.clone();
        let secret_watch = futures::stream::once(async move {
            partners_listed.synced.wait_for(Synced::PARTNERS).await;
            tokio::time::sleep(hold).await;
            secret_watch
        })
        .flatten();
        let rechecks = {
            let (ctx, triggers, stop) = (ctx.clone(), st.clone(), stop.clone());
            async move {
                tokio::select! {
                    _ = ctx.rechecks.run(|r| triggers.partner(r)) => {}
                    _ = stop => {}
                }
            }
        };
        let secrets = drive(self.secrets, secret_watch, (ctx.clone(), Synced::SECRETS), stop, move |ev| {
            match ev {
                watcher::Event::Delete(s) => {
                    let (ns, name) = (s.namespace(), s.name());
                    sctx.owned_contents.evict(ns, name);
                    sctx.foreign_secrets.evict(ns, name);
                    sctx.exported.evict(ns, name);
                    // A consumer copy gone: its source writes it again.
                    if let Some(r) = copy_source(s, "Partner", &sctx.partners) {
                        st.partner(r);
                    }
                    if let Some(r) = copy_source(s, "MispLicense", &sctx.licenses) {
                        st.license(r);
                    }
                    // Whoever names it or owns it looks again.
                    for p in sctx.partner_index.naming_secret(ns, name) {
                        sctx.certificates.evict(ns, &p.name);
                        st.partner(p);
                    }
                    if let Some(r) = controller_of(s, OwnKind::Partner) {
                        st.partner(r);
                    }
                    if let Some(r) = controller_of(s, OwnKind::MispLicense) {
                        st.license(r);
                    }
                }
                // A relist may have missed deletions and changes: a certificate content is kept
                // only when the listing shows that very Secret at the version it was read at (a
                // Partner reconciled before the first listing ended has read it already; clearing
                // it would read it twice). Consumer copies are read again.
                watcher::Event::InitDone => {
                    sctx.certificates
                        .retain(|ns, _, c| sctx.secrets.get(ns, &c.value.secret_name).is_some_and(|m| c.shown_by(&m)));
                    sctx.exported.clear();
                }
                _ => {}
            }
        });
        async move {
            futures::join!(partners, licenses, cacerts, policies, secrets, namespaces, rechecks);
        }
        .boxed()
    }
}

/// Reconcile requests pushed to the controllers from outside their shared streams: index
/// changes and deletions.
#[derive(Clone)]
struct Triggers {
    partners: UnboundedSender<ObjectRef<PackedPartner>>,
    policies: UnboundedSender<ObjectRef<PartnerPolicy>>,
    cacerts: UnboundedSender<ObjectRef<CACertificate>>,
    licenses: UnboundedSender<ObjectRef<MispLicense>>,
}

/// The receiving ends of [`Triggers`].
struct TriggerStreams {
    partners: UnboundedReceiver<ObjectRef<PackedPartner>>,
    policies: UnboundedReceiver<ObjectRef<PartnerPolicy>>,
    cacerts: UnboundedReceiver<ObjectRef<CACertificate>>,
    licenses: UnboundedReceiver<ObjectRef<MispLicense>>,
}

impl Triggers {
    fn new() -> (Self, TriggerStreams) {
        let (partners, prx) = futures::channel::mpsc::unbounded();
        let (policies, polrx) = futures::channel::mpsc::unbounded();
        let (cacerts, crx) = futures::channel::mpsc::unbounded();
        let (licenses, lrx) = futures::channel::mpsc::unbounded();
        (
            Self { partners, policies, cacerts, licenses },
            TriggerStreams { partners: prx, policies: polrx, cacerts: crx, licenses: lrx },
        )
    }
    fn partner(&self, r: ObjectRef<PackedPartner>) {
        let _ = self.partners.unbounded_send(r);
    }
    fn cacert(&self, r: ObjectRef<CACertificate>) {
        let _ = self.cacerts.unbounded_send(r);
    }
    fn license(&self, r: ObjectRef<MispLicense>) {
        let _ = self.licenses.unbounded_send(r);
    }
}

/// CACertificates: any change re-evaluates every CA of the same domain.
fn cacert_controller(
    src: &mut Sources,
    ctx: Arc<Context>,
    deleted: UnboundedReceiver<ObjectRef<CACertificate>>,
    cc: ControllerConfig,
    stop: Stop,
) -> anyhow::Result<BoxFuture<'static, ()>> {
    let same_domain = ctx.cacerts.clone();
    Ok(Controller::for_shared_stream(src.cacerts.subscribe(), ctx.cacerts.clone())
        .reconcile_on(deleted)
        .watches_shared_stream(src.cacerts.subscribe(), move |changed: Arc<CACertificate>| {
            same_domain
                .state()
                .iter()
                .filter(|ca| ca.spec.domain == changed.spec.domain && ca.name_any() != changed.name_any())
                .map(|ca| ObjectRef::from_obj(ca.as_ref()))
                .collect::<Vec<_>>()
        })
        .with_config(cc)
        .graceful_shutdown_on(stop)
        .run(guarded("CACertificate", every_store, cacert::reconcile), error_policy("CACertificate"), ctx)
        .for_each(log_result("CACertificate"))
        .boxed())
}

/// PartnerPolicies: their own changes, and Partners starting or stopping to request them
/// (pushed by the Partner index, deletions included).
fn policy_controller(
    src: &mut Sources,
    ctx: Arc<Context>,
    users_changed: UnboundedReceiver<ObjectRef<PartnerPolicy>>,
    cc: ControllerConfig,
    stop: Stop,
) -> anyhow::Result<BoxFuture<'static, ()>> {
    Ok(Controller::for_shared_stream(src.policies.subscribe(), ctx.policies.clone())
        .reconcile_on(users_changed)
        .with_config(cc)
        .graceful_shutdown_on(stop)
        .run(guarded("PartnerPolicy", every_store, policy::reconcile), error_policy("PartnerPolicy"), ctx)
        .for_each(log_result("PartnerPolicy"))
        .boxed())
}

/// Partners: their certificate Secrets and emitted Secrets (metadata), the CAs of their domain,
/// the policies they request, and the other claimants of their partnerId (pushed by the
/// Partner index), deletions of any of these included.
fn partner_controller(
    src: &mut Sources,
    ctx: Arc<Context>,
    claims_changed: UnboundedReceiver<ObjectRef<PackedPartner>>,
    cc: ControllerConfig,
    backlog_limit: usize,
    stop: Stop,
) -> anyhow::Result<BoxFuture<'static, ()>> {
    let by_domain = ctx.partners.clone();
    let by_policy = ctx.partner_index.clone();
    let by_secret = ctx.partner_index.clone();
    let by_copy = ctx.partners.clone();
    let own = src.partners.subscribe().map(|p: Arc<PackedPartner>| ObjectRef::from_obj(p.as_ref()));
    let secrets = src.secrets.subscribe().flat_map(move |s: Arc<SecretMeta>| {
        let mut refs = by_secret.naming_secret(s.namespace(), s.name());
        refs.extend(controller_of(&s, OwnKind::Partner));
        // A consumer copy changed by someone: its source repairs it.
        refs.extend(copy_source(&s, "Partner", &by_copy));
        futures::stream::iter(refs)
    });
    // A CA or a policy triggers thousands of Partners at once (every one at start-up): each as
    // a bare name and namespace, where `watches` would add a boxed copy of the CA's or policy's
    // reference as the reason.
    let cas = src.cacerts.subscribe().flat_map(move |ca: Arc<CACertificate>| {
        let refs: Vec<_> = by_domain
            .state()
            .iter()
            .filter(|p| crate::mosip::PartnerTypeExt::domain(p.partner_type) == ca.spec.domain)
            .map(|p| ObjectRef::new(&p.name_any()).within(&p.namespace().unwrap_or_default()))
            .collect();
        futures::stream::iter(refs)
    });
    let policies = src
        .policies
        .subscribe()
        .flat_map(move |pol: Arc<PartnerPolicy>| futures::stream::iter(by_policy.requesting(&pol.name_any())));
    // Every trigger goes through the backlog, which hands the controller a few at a time.
    let backlog = Backlog::new(backlog_limit, ctx.metrics.backlog.clone());
    let triggers = futures::stream::select_all([
        own.boxed(),
        secrets.boxed(),
        cas.boxed(),
        policies.boxed(),
        claims_changed.boxed(),
    ]);
    let mut log = log_result("Partner");
    Ok(Controller::for_shared_stream(futures::stream::empty(), ctx.partners.clone())
        .reconcile_on(backlog.clone().gate(triggers))
        .with_config(cc)
        .graceful_shutdown_on(stop)
        .run(guarded("Partner", partner_needs, partner::reconcile), error_policy("Partner"), ctx)
        .for_each(move |res| {
            if let Some((namespace, name)) = reconciled(&res) {
                backlog.done(namespace, name);
            }
            log(res)
        })
        .boxed())
}

/// MispLicenses: their partner, their policy and their own Secrets.
fn license_controller(
    src: &mut Sources,
    ctx: Arc<Context>,
    deleted: UnboundedReceiver<ObjectRef<MispLicense>>,
    cc: ControllerConfig,
    stop: Stop,
) -> anyhow::Result<BoxFuture<'static, ()>> {
    let by_partner = ctx.licenses.clone();
    let by_policy = ctx.licenses.clone();
    let by_copy = ctx.licenses.clone();
    Ok(Controller::for_shared_stream(src.licenses.subscribe(), ctx.licenses.clone())
        .reconcile_on(deleted)
        .watches_shared_stream(src.partners.subscribe(), move |p: Arc<PackedPartner>| {
            let ns = p.namespace();
            let name = p.name_any();
            by_partner
                .state()
                .iter()
                .filter(|l| l.namespace() == ns && l.spec.partner_name == name)
                .map(|l| ObjectRef::from_obj(l.as_ref()))
                .collect::<Vec<_>>()
        })
        .watches_shared_stream(src.policies.subscribe(), move |pol: Arc<PartnerPolicy>| {
            let name = pol.name_any();
            by_policy
                .state()
                .iter()
                .filter(|l| l.spec.policy_name.as_deref() == Some(name.as_str()))
                .map(|l| ObjectRef::from_obj(l.as_ref()))
                .collect::<Vec<_>>()
        })
        .reconcile_on(src.secrets.subscribe().flat_map(move |s: Arc<SecretMeta>| {
            let owner = controller_of(&s, OwnKind::MispLicense);
            // A consumer copy changed by someone: its source repairs it.
            futures::stream::iter(owner.into_iter().chain(copy_source(&s, "MispLicense", &by_copy)))
        }))
        .with_config(cc)
        .graceful_shutdown_on(stop)
        .run(guarded("MispLicense", every_store, license::reconcile), error_policy("MispLicense"), ctx)
        .for_each(log_result("MispLicense"))
        .boxed())
}

/// Runs the operator until `shutdown` resolves (or SIGTERM/Ctrl-C).
pub async fn run(
    client: Client,
    config: OperatorConfig,
    options: RunOptions,
    shutdown: BoxFuture<'static, ()>,
) -> anyhow::Result<()> {
    check_crds(&client, &config.scope).await?;
    let signing_ca = signing::load_or_create(&client, &config).await?;
    let metrics = Arc::new(Metrics::default());
    metrics.init(&["CACertificate", "PartnerPolicy", "Partner", "MispLicense"], Error::METRIC_LABELS);
    let shutdown = shutdown.shared();
    let leader = options.leader.clone();
    // The controllers stop on shutdown or, with leader election, when leadership is lost.
    let lost = leadership_lost(leader.clone());
    let stop: Stop = {
        let shutdown = shutdown.clone();
        async move {
            tokio::select! {
                _ = shutdown => {},
                _ = lost => {},
            }
        }
        .boxed()
        .shared()
    };
    let controller_config = ControllerConfig::default().concurrency(options.concurrency);

    // One watch and one store per kind, shared by every controller.
    let mut sources = Sources::new();
    let (triggers, trigger_streams) = Triggers::new();
    let index = Arc::new(PartnerIndex::new(Some(triggers.policies.clone()), Some(triggers.partners.clone())));
    let recorder = Recorder::new(client.clone(), "mosip-partner-operator", options.instance.clone());
    let mut context = Context::new(
        client.clone(),
        config.clone(),
        recorder,
        Arc::new(signing_ca),
        sources.stores(),
        index,
        metrics.clone(),
    );
    if let Some(m) = options.mosip.clone() {
        let pms = crate::pms::PmsClient::new(m.endpoints, m.credentials, m.ca_pem.as_deref(), metrics.pms.clone())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        tracing::info!(backend = "mosip", "onboarding into MOSIP's PMS");
        context.pms = Some(pms);
    }
    let ctx = Arc::new(context);
    let stores = sources.stores();

    let TriggerStreams { partners: partner_rx, policies: policy_rx, cacerts: ca_rx, licenses: license_rx } =
        trigger_streams;
    let ca_run = cacert_controller(&mut sources, ctx.clone(), ca_rx, controller_config.clone(), stop.clone())?;
    let policy_run = policy_controller(&mut sources, ctx.clone(), policy_rx, controller_config.clone(), stop.clone())?;
    let partner_run = partner_controller(
        &mut sources,
        ctx.clone(),
        partner_rx,
        controller_config.clone(),
        backlog_limit(options.concurrency),
        stop.clone(),
    )?;
    let license_run = license_controller(&mut sources, ctx.clone(), license_rx, controller_config, stop.clone())?;
    let watches = sources.drive(&client, &config, ctx.clone(), triggers, stop.clone());

    let ready = Arc::new(AtomicBool::new(false));
    let server = match options.metrics_addr {
        Some(addr) => Some(
            crate::server::serve(
                addr,
                crate::server::ServerState {
                    metrics: metrics.clone(),
                    ready: ready.clone(),
                    partners: stores.partners.clone(),
                    licenses: stores.licenses.clone(),
                    cacerts: stores.cacerts.clone(),
                },
                shutdown.clone(),
            )
            .await?,
        ),
        None => None,
    };
    if let Some(mut rx) = leader.clone() {
        // Standby replicas are healthy and ready; they only wait.
        ready.store(true, Ordering::SeqCst);
        tracing::info!("waiting for leadership");
        let won = async {
            while !*rx.borrow_and_update() {
                if rx.changed().await.is_err() {
                    return false;
                }
            }
            true
        };
        tokio::select! {
            won = won => if !won { anyhow::bail!("leader election stopped") },
            _ = shutdown.clone() => {
                if let Some(server) = server { let _ = server.await; }
                return Ok(());
            }
        }
        tracing::info!("became the leader");
        ready.store(false, Ordering::SeqCst);
    }
    let readiness = watch_readiness(ready, ctx.clone());
    tracing::info!(scope = ?config.scope, namespace = %config.operator_namespace, "mosip-partner-operator started");
    futures::join!(watches, ca_run, policy_run, partner_run, license_run, readiness);
    // The Events of the last reconciles are still being written.
    ctx.recorder.flush(std::time::Duration::from_secs(5)).await;
    let lost_leadership = leader.as_ref().is_some_and(|rx| !*rx.borrow());
    if let Some(server) = server {
        server.abort();
        let _ = server.await;
    }
    if lost_leadership {
        anyhow::bail!("lost leadership; stopping so that a restart rejoins as a follower");
    }
    tracing::info!("mosip-partner-operator stopped");
    Ok(())
}

/// Resolves when leadership, once held, is lost; never without leader election.
async fn leadership_lost(leader: Option<tokio::sync::watch::Receiver<bool>>) {
    let Some(mut rx) = leader else { return futures::future::pending().await };
    // Wait to hold it first.
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return futures::future::pending().await;
        }
    }
    while *rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return;
        }
    }
    tracing::warn!("leadership lost");
}

async fn watch_readiness(ready: Arc<AtomicBool>, ctx: Arc<Context>) {
    ctx.wait_synced().await;
    ready.store(true, Ordering::SeqCst);
    tracing::info!("caches synced; ready");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An API server that knows none of the operator's kinds.
    fn client_without_crds() -> Client {
        let svc = tower::service_fn(|_req: http::Request<kube::client::Body>| async {
            let body = serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": "the server could not find the requested resource", "reason": "NotFound", "code": 404});
            let body = kube::client::Body::from(serde_json::to_vec(&body).unwrap_or_default());
            http::Response::builder().status(404).body(body)
        });
        Client::new(svc, "default")
    }

    #[test]
    fn a_copy_triggers_only_the_source_whose_uid_it_carries() {
        use crate::pms::exports::EXPORT_SOURCE_ANNOTATION;
        use std::collections::BTreeMap;
        let (store, mut writer) = reflector::store::<PackedPartner>();
        let mut p: Partner = serde_json::from_value(serde_json::json!({
            "apiVersion": "pms.mosip.io/v1alpha1", "kind": "Partner",
            "metadata": {"name": "rp", "namespace": "a", "uid": "uid-rp"},
            "spec": {"partnerType": "Auth_Partner", "organizationName": "O"}
        }))
        .unwrap();
        let pack = |p: &Partner| PackedPartner::pack(p).unwrap();
        writer.apply_watcher_event(&watcher::Event::Apply(pack(&p)));
        let meta = |source: &str, uid: &str| {
            let meta = ObjectMeta {
                labels: Some(BTreeMap::from([(EXPORT_SOURCE_UID_LABEL.to_string(), uid.to_string())])),
                annotations: Some(BTreeMap::from([(EXPORT_SOURCE_ANNOTATION.to_string(), source.to_string())])),
                ..Default::default()
            };
            SecretMeta::project(&meta, true)
        };
        assert_eq!(
            copy_source(&meta("Partner/a/rp", "uid-rp"), "Partner", &store),
            Some(ObjectRef::new("rp").within("a"))
        );
        // Another uid (a hostile annotation), another kind, another object: no trigger.
        assert_eq!(copy_source(&meta("Partner/a/rp", "uid-other"), "Partner", &store), None);
        assert_eq!(copy_source(&meta("MispLicense/a/rp", "uid-rp"), "Partner", &store), None);
        assert_eq!(copy_source(&meta("Partner/b/rp", "uid-rp"), "Partner", &store), None);
        p.metadata.uid = Some("uid-new".into());
        writer.apply_watcher_event(&watcher::Event::Apply(pack(&p)));
        assert_eq!(copy_source(&meta("Partner/a/rp", "uid-rp"), "Partner", &store), None, "re-created source");
        let ns = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            labels: Some(BTreeMap::from([(crate::api::ACCEPT_EXPORTS_LABEL.to_string(), "a".to_string())])),
            ..Default::default()
        };
        assert_eq!(crate::pms::plan::opt_in_of(&ns), (Some("a".to_string()), None));
    }

    #[tokio::test]
    async fn missing_crds_give_an_actionable_error() {
        let err =
            check_crds(&client_without_crds(), &super::super::scope::Scope::All).await.expect_err("CRDs are missing");
        let msg = err.to_string();
        assert!(msg.contains("CACertificate CRD (cacertificates.pms.mosip.io) is not installed"), "{msg}");
        assert!(msg.contains("kubectl apply --validate=false -f crds/"), "{msg}");
    }
}
