//! Errors of a reconcile that could not finish. Invalid user input is not an error: it becomes a
//! status condition. These are the failures worth a retry with back-off.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// The API server refused or failed a request.
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    /// An object could not be (de)serialized.
    #[error("serialization failed: {0}")]
    Serialization(#[from] serde_json::Error),
    /// The OS random number generator failed; no key was issued.
    #[error("key generation failed: {0}")]
    KeyGeneration(String),
    /// Re-signing a partner certificate failed.
    #[error("re-signing failed: {0}")]
    Signing(String),
    /// An object lacks a field the API server always sets (name, namespace, uid).
    #[error("object is missing {0}")]
    MissingObjectKey(&'static str),
    /// The reconcile panicked (a bug); the object is retried with back-off.
    #[error("reconcile panicked: {0}")]
    Panicked(String),
    /// An object the operator's own store packed could not be unpacked (a bug).
    #[error("the cached object could not be read: {0}")]
    Cache(String),
}

impl Error {
    /// Every value [`Error::metric_label`] can return.
    pub const METRIC_LABELS: &'static [&'static str] =
        &["kube", "serialization", "key_generation", "signing", "missing_object_key", "panic", "cache"];

    /// A short label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Serialization(_) => "serialization",
            Error::KeyGeneration(_) => "key_generation",
            Error::Signing(_) => "signing",
            Error::MissingObjectKey(_) => "missing_object_key",
            Error::Panicked(_) => "panic",
            Error::Cache(_) => "cache",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
