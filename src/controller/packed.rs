//! Partners as the store keeps them: packed.
//!
//! Why: the Partner store is the operator's largest memory. Parsed, a converged Partner is a
//! tree of ~65 strings and nested vectors (~3.5 KiB of heap each; 35 MiB at 10,000 Partners),
//! yet between two reconciles of a Partner almost nothing reads it: its own reconcile does (once,
//! at the start), and a few scans read one or two fields of every Partner. So the store holds
//! each Partner as its lean JSON (see [`super::lean`]) compressed with zstd against a dictionary
//! of typical Partners — field names, reasons and condition messages cost next to nothing, what
//! is left is each Partner's own names, fingerprints and timestamps — plus, in the clear, the
//! fields the scans read: name and namespace (store keys, triggers), uid and resourceVersion
//! (the echo guard), the partner type (CA and policy scans) and the values `/metrics` renders.
//!
//! A reconcile unpacks its Partner once (decompress + parse, microseconds); everything after
//! works on the ordinary [`Partner`] type. Nothing packed ever leaves the process.

use super::error::{Error, Result};
use super::lean::Lean;
use crate::api::{self, Partner, PartnerType, READY, epoch_seconds as seconds};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::LazyLock;

/// Typical Partners, onboarded: five of `make demo`'s (Device, MISP, Credential, Online
/// Verification and Auth partners, each with its status), listed after the demo and serialized
/// as [`PackedPartner::pack`] serializes, one per line. zstd finds what a packed Partner shares
/// with them in this text instead of storing it: the demo's other seven types pack to 280–440
/// bytes each (2.0–3.2 KB of JSON; ~1.2 KB compressed without the dictionary). The dictionary
/// only sizes the packing, never its result: any text would unpack to the same Partner.
static DICTIONARY: &[u8] = include_bytes!("partner-dictionary.json");

/// zstd's level: fast enough for every watch event, and small Partners gain little above it.
const LEVEL: i32 = 3;

static ENCODER: LazyLock<zstd::dict::EncoderDictionary<'static>> =
    LazyLock::new(|| zstd::dict::EncoderDictionary::copy(DICTIONARY, LEVEL));
static DECODER: LazyLock<zstd::dict::DecoderDictionary<'static>> =
    LazyLock::new(|| zstd::dict::DecoderDictionary::copy(DICTIONARY));

thread_local! {
    // One compression and one decompression context per thread: creating one per call would
    // allocate and free its work space every time.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn compress(json: &[u8]) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = match slot.as_mut() {
            Some(c) => c,
            None => slot.insert(zstd::bulk::Compressor::with_prepared_dictionary(&ENCODER)?),
        };
        compressor.compress(json)
    })
}

fn decompress(packed: &[u8], len: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let decompressor = match slot.as_mut() {
            Some(d) => d,
            None => slot.insert(zstd::bulk::Decompressor::with_prepared_dictionary(&DECODER)?),
        };
        decompressor.decompress(packed, len)
    })
}

/// An API key's end of validity, for `/metrics`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyGauge {
    pub policy: Box<str>,
    pub label: Box<str>,
    pub valid_until: i64,
}

/// What `/metrics` renders of a Partner (a scrape reads every Partner: it must not unpack them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gauges {
    pub ready: bool,
    pub certificate_not_after: Option<i64>,
    pub signed_not_after: Option<i64>,
    pub key_valid_until: Box<[KeyGauge]>,
}

impl Gauges {
    fn of(p: &Partner) -> Self {
        let Some(status) = p.status.as_ref() else { return Gauges::default() };
        let cert = status.certificate.as_ref();
        Gauges {
            ready: api::is_true(&status.conditions, READY),
            certificate_not_after: cert.and_then(|c| seconds(&c.not_after)),
            signed_not_after: cert.and_then(|c| seconds(&c.signed_not_after)),
            key_valid_until: status
                .policies
                .iter()
                .flat_map(|r| r.api_keys.iter().map(move |k| (r, k)))
                .filter_map(|(r, k)| {
                    Some(KeyGauge {
                        policy: r.name.as_str().into(),
                        label: k.label.as_str().into(),
                        valid_until: seconds(&k.valid_until)?,
                    })
                })
                .collect(),
        }
    }
}

/// A Partner as the store keeps it; [`PackedPartner::unpack`] gives the Partner back.
#[derive(Clone)]
pub struct PackedPartner {
    /// Name, namespace and resourceVersion only (the watcher resumes from the last
    /// resourceVersion it saw). Store keys, triggers and the scheduler copy this metadata's
    /// identity, so the uid is kept apart.
    meta: ObjectMeta,
    uid: Option<Box<str>>,
    /// spec.partnerType (immutable).
    pub partner_type: PartnerType,
    /// Whether the Partner has a status at all (what a reconcile waits for depends on it).
    pub has_status: bool,
    pub gauges: Gauges,
    /// The lean object's JSON, compressed.
    packed: Box<[u8]>,
    /// Its length uncompressed.
    len: u32,
}

impl PackedPartner {
    /// Packs a Partner (as parsed by [`Lean`]: without managed fields or the last-applied copy).
    pub fn pack(p: &Partner) -> std::result::Result<Self, String> {
        let json = serde_json::to_vec(p).map_err(|e| e.to_string())?;
        let len = u32::try_from(json.len()).map_err(|_| format!("a Partner of {} bytes", json.len()))?;
        let packed = compress(&json).map_err(|e| format!("compression failed: {e}"))?;
        Ok(PackedPartner {
            meta: ObjectMeta {
                name: p.metadata.name.clone(),
                namespace: p.metadata.namespace.clone(),
                resource_version: p.metadata.resource_version.clone(),
                ..ObjectMeta::default()
            },
            uid: p.metadata.uid.as_deref().map(Box::from),
            partner_type: p.spec.partner_type,
            has_status: p.status.is_some(),
            gauges: Gauges::of(p),
            packed: packed.into_boxed_slice(),
            len,
        })
    }

    /// The Partner, as it was packed.
    pub fn unpack(&self) -> Result<Partner> {
        let json = decompress(&self.packed, self.len as usize)
            .map_err(|e| Error::Cache(format!("Partner {}: decompression failed: {e}", self.key())))?;
        Ok(serde_json::from_slice(&json)?)
    }

    /// The Partner for a scan over many (an index, a trigger): one that cannot be unpacked (a
    /// bug) is logged and left out; its own reconcile fails with the error.
    pub fn unpack_or_skip(&self) -> Option<Partner> {
        self.unpack().map_err(|e| tracing::error!(partner = %self.key(), error = %e, "stored Partner skipped")).ok()
    }

    /// Bytes held for the packed part (for tests and sizing).
    pub fn packed_len(&self) -> usize {
        self.packed.len()
    }

    fn key(&self) -> String {
        format!(
            "{}/{}",
            self.meta.namespace.as_deref().unwrap_or_default(),
            self.meta.name.as_deref().unwrap_or_default()
        )
    }
}

impl std::fmt::Debug for PackedPartner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedPartner")
            .field("key", &self.key())
            .field("resource_version", &self.meta.resource_version)
            .field("packed_bytes", &self.packed.len())
            .finish()
    }
}

impl Resource for PackedPartner {
    type DynamicType = ();
    type Scope = <Partner as Resource>::Scope;

    fn kind(dt: &()) -> Cow<'_, str> {
        Partner::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        Partner::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        Partner::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        Partner::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.meta
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.meta
    }
}

impl<'de> Deserialize<'de> for PackedPartner {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let Lean(partner) = Lean::<Partner>::deserialize(d)?;
        PackedPartner::pack(&partner).map_err(serde::de::Error::custom)
    }
}

/// The uid and resourceVersion of a stored object, for the echo guard (`run::guarded`).
/// (Named apart from `ResourceExt::uid`: a packed Partner's metadata holds no uid.)
pub trait Versioned {
    fn stored_uid(&self) -> Option<&str>;
    fn stored_version(&self) -> Option<&str>;
}

impl Versioned for PackedPartner {
    fn stored_uid(&self) -> Option<&str> {
        self.uid.as_deref()
    }

    fn stored_version(&self) -> Option<&str> {
        self.meta.resource_version.as_deref()
    }
}

macro_rules! versioned_by_meta {
    ($($kind:ty),*) => {$(
        impl Versioned for $kind {
            fn stored_uid(&self) -> Option<&str> {
                self.meta().uid.as_deref()
            }

            fn stored_version(&self) -> Option<&str> {
                self.meta().resource_version.as_deref()
            }
        }
    )*};
}

versioned_by_meta!(api::MispLicense, api::PartnerPolicy, api::CACertificate);

#[cfg(test)]
mod tests {
    use super::*;

    fn converged() -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "pms.mosip.io/v1alpha1", "kind": "Partner",
            "metadata": {"name": "rp-17", "namespace": "bench", "uid": "0b5c8c38-8f3e-4d0e-9d7a-2f5f8f1c9e11",
                "resourceVersion": "123456", "generation": 1, "creationTimestamp": "2026-12-01T00:00:00Z"},
            "spec": {"partnerType": "Auth_Partner", "organizationName": "Org 17", "policyGroup": "g",
                "contact": {"email": "a@b.c", "phone": "123", "address": "x"},
                "certificate": {"secretName": "rp-17-cert"},
                "policies": [{"name": "auth", "apiKeys": [{"label": "k1"}]}]},
            "status": {"observedGeneration": 1, "partnerId": "rp-17", "registeredPartnerId": "rp-17",
                "conditions": [{"type": "Ready", "status": "True", "reason": "Onboarded",
                    "message": "every requested policy is approved and its keys are issued",
                    "lastTransitionTime": "2026-12-01T00:00:05Z", "observedGeneration": 1}],
                "certificate": {"notAfter": "2027-12-01T00:00:00Z", "signedNotAfter": "2027-11-30T00:00:00Z",
                    "fingerprintSHA256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
                "policies": [{"name": "auth", "requestHash": "abc", "conditions": [],
                    "apiKeys": [{"label": "k1", "secretName": "rp-17-auth-k1", "validUntil": "2027-03-01T00:00:00Z",
                        "keyFingerprint": "0123456789abcdef", "secretResourceVersion": "99"}]}]}
        })
    }

    #[test]
    fn unpack_gives_back_what_was_packed() {
        let partner: Partner = serde_json::from_value(converged()).unwrap();
        let packed = PackedPartner::pack(&partner).unwrap();
        assert_eq!(serde_json::to_value(packed.unpack().unwrap()).unwrap(), serde_json::to_value(&partner).unwrap());
        assert_eq!(packed.meta().name.as_deref(), Some("rp-17"));
        assert_eq!(packed.meta().namespace.as_deref(), Some("bench"));
        // The watcher resumes from the resourceVersion of what it saw last; the uid, which
        // store keys and triggers would copy, is kept apart.
        assert_eq!(packed.meta().resource_version.as_deref(), Some("123456"));
        assert!(packed.meta().uid.is_none());
        assert_eq!(packed.stored_uid(), Some("0b5c8c38-8f3e-4d0e-9d7a-2f5f8f1c9e11"));
        assert_eq!(packed.stored_version(), Some("123456"));
        assert_eq!(packed.partner_type, PartnerType::AuthPartner);
        assert!(packed.has_status);
    }

    #[test]
    fn the_watch_parse_packs_the_lean_object() {
        let mut v = converged();
        v["metadata"]["managedFields"] = serde_json::json!([{"manager": "kubectl", "operation": "Update"}]);
        v["metadata"]["annotations"] = serde_json::json!({super::super::cache::LAST_APPLIED: "{}", "keep": "me"});
        let packed: PackedPartner = serde_json::from_value(v).unwrap();
        let back = packed.unpack().unwrap();
        assert!(back.metadata.managed_fields.is_none());
        assert_eq!(
            back.metadata.annotations.map(|a| a.into_keys().collect::<Vec<_>>()),
            Some(vec!["keep".to_string()])
        );
        // A malformed object is an error, not a panic.
        assert!(serde_json::from_value::<PackedPartner>(serde_json::json!({"metadata": {}})).is_err());
    }

    #[test]
    fn gauges_are_read_at_packing() {
        let partner: Partner = serde_json::from_value(converged()).unwrap();
        let g = PackedPartner::pack(&partner).unwrap().gauges;
        assert!(g.ready);
        assert_eq!(g.certificate_not_after, Some(1827619200));
        assert_eq!(g.signed_not_after, Some(1827532800));
        assert_eq!(
            g.key_valid_until.as_ref(),
            [KeyGauge { policy: "auth".into(), label: "k1".into(), valid_until: 1803859200 }]
        );
        let mut fresh = partner.clone();
        fresh.status = None;
        let p = PackedPartner::pack(&fresh).unwrap();
        assert_eq!(p.gauges, Gauges::default());
        assert!(!p.has_status);
    }

    #[test]
    fn a_typical_partner_packs_small() {
        let partner: Partner = serde_json::from_value(converged()).unwrap();
        let json = serde_json::to_vec(&partner).unwrap().len();
        let packed = PackedPartner::pack(&partner).unwrap().packed_len();
        // The dictionary holds what Partners share; what is left is this one's own values.
        assert!(packed * 3 < json, "{packed} bytes packed of {json}");
    }

    #[test]
    fn corrupt_bytes_are_an_error_not_a_panic() {
        let partner: Partner = serde_json::from_value(converged()).unwrap();
        let mut packed = PackedPartner::pack(&partner).unwrap();
        packed.packed = vec![0u8; 12].into_boxed_slice();
        assert!(packed.unpack().is_err());
    }
}
