//! The subcommands of `mosip-partner-operator`.

pub mod approve;
pub mod rotate;
pub mod run;
pub mod verify;

use clap::{Parser, Subcommand};

/// Onboards MOSIP partners declaratively: Partner, PartnerPolicy, CACertificate and MispLicense
/// resources in, validated certificates, approvals, API keys and licence keys out.
#[derive(Parser, Debug)]
#[command(name = "mosip-partner-operator", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the operator against the cluster of KUBECONFIG (or in-cluster config).
    Run(Box<run::RunArgs>),
    /// Print every CRD as YAML (what is committed under crds/).
    Crd,
    /// Approve a Partner's policy request (sets the Approved condition through the status subresource).
    Approve(approve::DecideArgs),
    /// Deny a Partner's policy request (sets the Denied condition through the status subresource).
    Deny(approve::DecideArgs),
    /// Rotate the API keys of a Partner, or the key of a MispLicense, now.
    Rotate(rotate::RotateArgs),
    /// Validate a partner certificate offline, with the operator's own rules; prints JSON.
    Verify(verify::VerifyArgs),
}
