//! Wiring: watches, stores, the four controllers, the metrics and probe server, shutdown.

use super::context::{Context, OperatorConfig};
use super::error::Error;
use super::{MANAGED_BY, MANAGED_BY_LABEL, SECRET_KIND_LABEL, cacert, license, partner, policy, signing};
use crate::api::{CACertificate, MispLicense, Partner, PartnerPolicy};
use crate::metrics::Metrics;
use futures::{FutureExt, StreamExt, future::BoxFuture};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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
    probe::<CACertificate>(Api::all(client.clone())).await?;
    probe::<PartnerPolicy>(Api::all(client.clone())).await?;
    probe::<Partner>(namespaced(client, scope)).await?;
    probe::<MispLicense>(namespaced(client, scope)).await?;
    Ok(())
}

fn error_policy<K>(kind: &'static str) -> impl Fn(Arc<K>, &Error, Arc<Context>) -> Action
where
    K: Resource,
{
    move |obj, error, ctx| {
        tracing::warn!(kind, namespace = obj.meta().namespace.as_deref().unwrap_or(""), name = obj.meta().name.as_deref().unwrap_or(""), error = %error, "reconcile failed; retrying");
        ctx.metrics.failure(kind, error.metric_label());
        Action::requeue(Duration::from_secs(10))
    }
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
    let stop = {
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
    let scope = config.scope.clone();
    let wc = watcher::Config::default().any_semantic();
    let controller_config = ControllerConfig::default().concurrency(options.concurrency);

    // Partner store: the Partner controller's own reflector, also used for duplicate partnerIds
    // and by the scrape-time metrics.
    let (partners, partner_writer) = reflector::store::<Partner>();
    let partner_stream = reflector::reflector(partner_writer, scope.watch::<Partner>(&client, wc.clone()))
        .default_backoff()
        .applied_objects();
    let (licenses, license_writer) = reflector::store::<MispLicense>();
    let license_stream = reflector::reflector(license_writer, scope.watch::<MispLicense>(&client, wc.clone()))
        .default_backoff()
        .applied_objects();

    let cwc = config.cluster_watch_config();
    let ca_controller = Controller::new(Api::<CACertificate>::all(client.clone()), cwc.clone());
    let cacerts = ca_controller.store();
    let policy_controller = Controller::new(Api::<PartnerPolicy>::all(client.clone()), cwc.clone());
    let policies = policy_controller.store();

    let recorder = Recorder::new(
        client.clone(),
        Reporter { controller: "mosip-partner-operator".into(), instance: options.instance.clone() },
    );
    let ctx = Arc::new(Context {
        client: client.clone(),
        config: config.clone(),
        recorder,
        signing_ca: Arc::new(signing_ca),
        cacerts: cacerts.clone(),
        policies: policies.clone(),
        partners: partners.clone(),
        metrics: metrics.clone(),
    });

    // CACertificates: any change re-evaluates every CA of the same domain.
    let same_domain_cas = cacerts.clone();
    let ca_run = ca_controller
        .watches(Api::<CACertificate>::all(client.clone()), cwc.clone(), move |changed: CACertificate| {
            same_domain_cas
                .state()
                .iter()
                .filter(|ca| ca.spec.domain == changed.spec.domain && ca.name_any() != changed.name_any())
                .map(|ca| ObjectRef::from_obj(ca.as_ref()))
                .collect::<Vec<_>>()
        })
        .with_config(controller_config.clone())
        .graceful_shutdown_on(stop.clone())
        .run(cacert::reconcile, error_policy("CACertificate"), ctx.clone())
        .for_each(log_result("CACertificate"));

    // PartnerPolicies: Partners appearing or going change who uses a policy.
    let policies_by_user = policies.clone();
    let policy_run = policy_controller
        .watches_stream(
            scope.watch::<Partner>(&client, wc.clone()).default_backoff().touched_objects(),
            move |p: Partner| {
                // The policies it requests now, and those that still count it as a user (a
                // request that was just dropped may release a policy's finalizer).
                let me = format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any());
                let mut refs: Vec<ObjectRef<PartnerPolicy>> =
                    p.spec.policies.iter().map(|r| ObjectRef::new(&r.name)).collect();
                refs.extend(
                    policies_by_user
                        .state()
                        .iter()
                        .filter(|pol| pol.status.as_ref().is_some_and(|s| s.used_by.contains(&me)))
                        .map(|pol| ObjectRef::from_obj(pol.as_ref())),
                );
                refs
            },
        )
        .with_config(controller_config.clone())
        .graceful_shutdown_on(stop.clone())
        .run(policy::reconcile, error_policy("PartnerPolicy"), ctx.clone())
        .for_each(log_result("PartnerPolicy"));

    // Partners: their certificate Secrets (metadata only, never the data of every Secret),
    // their emitted Secrets, the CAs of their domain, their policies and same-id claimants.
    let by_secret = partners.clone();
    let by_ca = partners.clone();
    let by_policy = partners.clone();
    let by_claim = partners.clone();
    let partner_run = Controller::for_stream(partner_stream, partners.clone())
        .watches_stream(
            scope.watch_metadata::<Secret>(&client, wc.clone()).default_backoff().touched_objects(),
            move |s| {
                let ns = s.namespace().unwrap_or_default();
                let name = s.name_any();
                let mut refs: Vec<ObjectRef<Partner>> = by_secret
                    .state()
                    .iter()
                    .filter(|p| p.namespace().as_deref() == Some(ns.as_str()))
                    .filter(|p| p.spec.certificate.as_ref().is_some_and(|c| c.secret_name == name))
                    .map(|p| ObjectRef::from_obj(p.as_ref()))
                    .collect();
                refs.extend(
                    s.owner_references()
                        .iter()
                        .filter(|o| o.kind == "Partner" && o.api_version.starts_with("pms.mosip.io/"))
                        .map(|o| ObjectRef::new(&o.name).within(&ns)),
                );
                refs
            },
        )
        .watches(Api::<CACertificate>::all(client.clone()), cwc.clone(), move |ca: CACertificate| {
            by_ca
                .state()
                .iter()
                .filter(|p| crate::mosip::PartnerTypeExt::domain(p.spec.partner_type) == ca.spec.domain)
                .map(|p| ObjectRef::from_obj(p.as_ref()))
                .collect::<Vec<_>>()
        })
        .watches(Api::<PartnerPolicy>::all(client.clone()), cwc.clone(), move |pol: PartnerPolicy| {
            let name = pol.name_any();
            by_policy
                .state()
                .iter()
                .filter(|p| p.spec.policies.iter().any(|r| r.name == name))
                .map(|p| ObjectRef::from_obj(p.as_ref()))
                .collect::<Vec<_>>()
        })
        .watches_stream(
            scope.watch::<Partner>(&client, wc.clone()).default_backoff().touched_objects(),
            move |changed: Partner| {
                let id = changed.partner_id();
                by_claim
                    .state()
                    .iter()
                    .filter(|p| p.partner_id() == id && p.uid() != changed.uid())
                    .map(|p| ObjectRef::from_obj(p.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .with_config(controller_config.clone())
        .graceful_shutdown_on(stop.clone())
        .run(partner::reconcile, error_policy("Partner"), ctx.clone())
        .for_each(log_result("Partner"));

    // MispLicenses: their partner, their policy and their own Secrets.
    let by_partner = licenses.clone();
    let by_license_policy = licenses.clone();
    let license_run = Controller::for_stream(license_stream, licenses.clone())
        .watches_stream(
            scope.watch::<Partner>(&client, wc.clone()).default_backoff().touched_objects(),
            move |p: Partner| {
                let ns = p.namespace();
                let name = p.name_any();
                by_partner
                    .state()
                    .iter()
                    .filter(|l| l.namespace() == ns && l.spec.partner_name == name)
                    .map(|l| ObjectRef::from_obj(l.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .watches(Api::<PartnerPolicy>::all(client.clone()), cwc.clone(), move |pol: PartnerPolicy| {
            let name = pol.name_any();
            by_license_policy
                .state()
                .iter()
                .filter(|l| l.spec.policy_name.as_deref() == Some(name.as_str()))
                .map(|l| ObjectRef::from_obj(l.as_ref()))
                .collect::<Vec<_>>()
        })
        .owns_stream(
            scope
                .watch_metadata::<Secret>(
                    &client,
                    wc.clone()
                        .labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY},{SECRET_KIND_LABEL}={}", license::KIND)),
                )
                .default_backoff()
                .touched_objects(),
        )
        .with_config(controller_config)
        .graceful_shutdown_on(stop.clone())
        .run(license::reconcile, error_policy("MispLicense"), ctx.clone())
        .for_each(log_result("MispLicense"));

    let ready = Arc::new(AtomicBool::new(false));
    let server = match options.metrics_addr {
        Some(addr) => Some(
            crate::server::serve(
                addr,
                crate::server::ServerState {
                    metrics: metrics.clone(),
                    ready: ready.clone(),
                    partners: partners.clone(),
                    licenses: licenses.clone(),
                    cacerts: cacerts.clone(),
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
    let readiness = watch_readiness(
        ready,
        vec![
            wait_ready(partners.clone()),
            wait_ready(licenses.clone()),
            wait_ready(cacerts.clone()),
            wait_ready(policies.clone()),
        ],
    );
    tracing::info!(scope = ?config.scope, namespace = %config.operator_namespace, "mosip-partner-operator started");
    futures::join!(ca_run, policy_run, partner_run, license_run, readiness);
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

fn wait_ready<K>(store: Store<K>) -> BoxFuture<'static, ()>
where
    K: kube::runtime::reflector::Lookup + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
{
    async move {
        let _ = store.wait_until_ready().await;
    }
    .boxed()
}

async fn watch_readiness(ready: Arc<AtomicBool>, stores: Vec<BoxFuture<'static, ()>>) {
    futures::future::join_all(stores).await;
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

    #[tokio::test]
    async fn missing_crds_give_an_actionable_error() {
        let err =
            check_crds(&client_without_crds(), &super::super::scope::Scope::All).await.expect_err("CRDs are missing");
        let msg = err.to_string();
        assert!(msg.contains("CACertificate CRD (cacertificates.pms.mosip.io) is not installed"), "{msg}");
        assert!(msg.contains("kubectl apply --validate=false -f crds/"), "{msg}");
    }
}
