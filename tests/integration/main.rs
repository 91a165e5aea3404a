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
mod exports;
mod fake_pms;
mod fixtures;
mod hostile;
mod hostile_chain;
mod keys;
mod mosip_controller;
mod mosip_delete;
mod mosip_live;
mod mosip_mode;
mod node;
mod operations;
mod partner;
mod pms_client;
mod pms_sync;
mod scale;
mod security;
mod tampering;
mod tenancy;
mod trust_bench;
