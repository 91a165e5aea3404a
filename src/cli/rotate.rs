//! `rotate`: asks the operator to rotate keys now, through the `pms.mosip.io/rotate`
//! annotation (the same annotation works from GitOps).

use crate::api::{MispLicense, Partner};
use crate::controller::ROTATE_ANNOTATION;
use clap::Args;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};

#[derive(Args, Debug, Clone)]
pub struct RotateArgs {
    /// Name of the Partner (all its API keys) or, with --license, of the MispLicense.
    pub name: String,
    /// Namespace (default: the kubeconfig's namespace).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Rotate a MispLicense's key instead of a Partner's API keys.
    #[arg(long)]
    pub license: bool,
}

pub async fn run(args: &RotateArgs) -> anyhow::Result<i32> {
    let client = Client::try_default().await?;
    let value = crate::controller::now().to_string();
    let patch = serde_json::json!({"metadata": {"annotations": {ROTATE_ANNOTATION: value}}});
    let params = PatchParams::default();
    if args.license {
        let api: Api<MispLicense> = match &args.namespace {
            Some(ns) => Api::namespaced(client, ns),
            None => Api::default_namespaced(client),
        };
        api.patch(&args.name, &params, &Patch::Merge(&patch)).await?;
    } else {
        let api: Api<Partner> = match &args.namespace {
            Some(ns) => Api::namespaced(client, ns),
            None => Api::default_namespaced(client),
        };
        api.patch(&args.name, &params, &Patch::Merge(&patch)).await?;
    }
    println!("requested rotation of {} ({ROTATE_ANNOTATION}={value})", args.name);
    Ok(0)
}
