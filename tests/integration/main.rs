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
mod keys;
mod operations;
mod partner;
mod security;
