//! Integration tests against a real kube-apiserver (see common.rs for the harness).

mod common;
mod pki;

mod cacert;
mod crds;
mod fixtures;
mod partner;
mod approval;
mod keys;
mod operations;
