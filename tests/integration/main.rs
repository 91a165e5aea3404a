//! Integration tests against a real kube-apiserver (see common.rs for the harness).

mod common;
mod pki;

mod approval;
mod cacert;
mod crds;
mod fixtures;
mod keys;
mod operations;
mod partner;
mod examples;
