//! Certificates made inside the tests (rcgen): roots, intermediates and partner leaves.

#![allow(dead_code)]

use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use time::{Duration, OffsetDateTime};

/// A CA with its key, able to sign.
pub struct Ca {
    pub params: CertificateParams,
    pub key: KeyPair,
    pub pem: String,
}

impl Ca {
    pub fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }
}

fn dn(cn: &str, org: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, org);
    dn.push(DnType::CountryName, "IN");
    dn
}

fn ca_params(cn: &str, days: i64) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.distinguished_name = dn(cn, "Test CA Org");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // RFC 5280 §4.2.1.1: an authorityKeyIdentifier on every certificate (the validator requires
    // it on all but self-signed roots).
    p.use_authority_key_identifier_extension = true;
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::hours(1);
    p.not_after = now + Duration::days(days);
    p
}

/// A self-signed root CA valid for `days`.
pub fn root(cn: &str, days: i64) -> Ca {
    let params = ca_params(cn, days);
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("self-signed");
    Ca { pem: cert.pem(), params, key }
}

/// An intermediate CA signed by `parent`.
pub fn intermediate(parent: &Ca, cn: &str, days: i64) -> Ca {
    let params = ca_params(cn, days);
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &parent.issuer()).expect("signed");
    Ca { pem: cert.pem(), params, key }
}

/// A partner leaf with Subject O = `org`, valid from now-1h for `valid_for`.
pub fn leaf_for(issuer: &Ca, cn: &str, org: &str, valid_for: Duration) -> String {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.distinguished_name = dn(cn, org);
    p.distinguished_name.push(DnType::OrganizationalUnitName, "Onboarding");
    p.distinguished_name.push(DnType::LocalityName, "Bengaluru");
    p.distinguished_name.push(DnType::StateOrProvinceName, "KA");
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    p.use_authority_key_identifier_extension = true;
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::hours(1);
    p.not_after = now + valid_for;
    let key = KeyPair::generate().expect("key");
    p.signed_by(&key, &issuer.issuer()).expect("signed").pem()
}

/// A partner leaf valid for two years.
pub fn leaf(issuer: &Ca, cn: &str, org: &str) -> String {
    leaf_for(issuer, cn, org, Duration::days(730))
}
