//! Integration tests against a real kube-apiserver (see common.rs for the harness).

mod common;
mod pki;

mod approval;
mod argocd;
mod bench;
mod cacert;
mod chart;
mod crds;
mod examples;
mod fixtures;
mod hostile;
mod hostile_chain;
mod keys;
mod operations;
mod partner;
mod scale;
mod security;
mod tenancy;
mod trust_bench;
