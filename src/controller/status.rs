//! The shared status writer, and the one way every kind builds its Ready and Stalled
//! conditions from what blocks it.
//!
//! Writes are server-side apply of the fields the operator owns, skipped when nothing changed.

use super::FIELD_MANAGER;
use super::error::Result;
use crate::api::{DesiredCondition, READY, STALLED};
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// Something that keeps an object from being Ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Condition reason (CamelCase).
    pub reason: String,
    /// What is wrong and what to do.
    pub message: String,
    /// Needs a person to change something (Stalled=True), rather than waiting.
    pub stalled: bool,
}

impl Problem {
    pub fn stalled(reason: &str, message: impl Into<String>) -> Self {
        Self { reason: reason.into(), message: message.into(), stalled: true }
    }
    pub fn waiting(reason: &str, message: impl Into<String>) -> Self {
        Self { reason: reason.into(), message: message.into(), stalled: false }
    }
}

/// Ready and Stalled, kstatus style: the first problem that needs a person makes the object
/// Stalled (Ready=False with that reason); otherwise the first waiting problem gives Ready's
/// reason and every waiting message is listed; with no problem, Ready=True with `ok_reason`.
pub fn readiness(problems: &[Problem], ok_reason: &str, ok_message: impl Into<String>) -> [DesiredCondition; 2] {
    if let Some(p) = problems.iter().find(|p| p.stalled) {
        return [
            DesiredCondition::new(READY, false, &p.reason, p.message.clone()),
            DesiredCondition::new(STALLED, true, &p.reason, p.message.clone()),
        ];
    }
    if let Some(p) = problems.first() {
        let all: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        return [
            DesiredCondition::new(READY, false, &p.reason, all.join("; ")),
            DesiredCondition::new(STALLED, false, &p.reason, "waiting; no change is needed from a person"),
        ];
    }
    let message = ok_message.into();
    [
        DesiredCondition::new(READY, true, ok_reason, message),
        DesiredCondition::new(STALLED, false, ok_reason, "nothing blocks it"),
    ]
}

/// Applies `status` to the status subresource of `obj` unless `unchanged` says it is already
/// there. Returns whether a write happened.
///
/// Server-side apply with a fixed field manager means the operator owns exactly the fields it
/// sends: an approver's conditions (another field manager) survive every write.
pub async fn apply_status<K, S>(api: &Api<K>, obj: &K, status: &S, unchanged: bool) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: Serialize,
{
    if unchanged {
        return Ok(false);
    }
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    match api.patch_status(&obj.name_any(), &params, &Patch::Apply(&patch)).await {
        Ok(written) => {
            tracing::debug!(name = %obj.name_any(), "status written");
            // The echo guard (`store_lags_own_write`) waits for the store to show this version.
            let rv = written.resource_version().unwrap_or_default();
            if let Some(uid) = obj.meta().uid.as_deref() {
                lock_unseen().insert(super::cache::object_key(&K::kind(&()), obj), (uid.to_string(), rv));
            }
            Ok(true)
        }
        // Deleted meanwhile: nothing left to report on.
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Status writes the stores may not show yet: object key → (uid, resourceVersion the write
/// produced). A reconcile that starts before the echo of its predecessor's status write would
/// decide on the old status — in mosip mode, call PMS a second time for what it already did.
static UNSEEN_WRITES: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, (String, String)>>> =
    std::sync::LazyLock::new(Default::default);

fn lock_unseen() -> std::sync::MutexGuard<'static, std::collections::HashMap<String, (String, String)>> {
    UNSEEN_WRITES.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether the store's copy of the object under `key` (`uid`, `resource_version`) is older than
/// the operator's own last status write to it: the reconcile waits for the echo instead of
/// deciding on a status the operator already replaced. Forgets the write once the store shows it
/// (or the object is another one with the same name).
pub fn store_lags_own_write(key: &str, uid: Option<&str>, resource_version: Option<&str>) -> bool {
    let mut unseen = lock_unseen();
    let Some((written_uid, written_rv)) = unseen.get(key) else { return false };
    let lags = Some(written_uid.as_str()) == uid
        && Some(written_rv.as_str()) != resource_version
        && super::cache::still_current(Some(written_rv), resource_version);
    if !lags {
        unseen.remove(key);
    }
    lags
}

/// Forgets the status writes to an object that is gone.
pub fn forget_own_write(key: &str) {
    lock_unseen().remove(key);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconcile_waits_for_the_echo_of_its_own_status_write() {
        let key = "Kind/ns/lagging";
        lock_unseen().insert(key.into(), ("uid-1".into(), "120".into()));
        assert!(store_lags_own_write(key, Some("uid-1"), Some("100")), "the store shows an older version");
        assert!(store_lags_own_write(key, Some("uid-1"), Some("119")));
        assert!(!store_lags_own_write(key, Some("uid-1"), Some("120")), "the echo arrived");
        assert!(!store_lags_own_write(key, Some("uid-1"), Some("100")), "forgotten once seen");
        lock_unseen().insert(key.into(), ("uid-1".into(), "120".into()));
        assert!(!store_lags_own_write(key, Some("uid-2"), Some("5")), "another object with that name");
        lock_unseen().insert(key.into(), ("uid-1".into(), "120".into()));
        forget_own_write(key);
        assert!(!store_lags_own_write(key, Some("uid-1"), Some("100")), "deleted");
        assert!(!store_lags_own_write("Kind/ns/never-written", Some("u"), Some("1")));
    }
    use crate::api::Status;

    #[test]
    fn stalled_problems_win_and_waiting_ones_are_listed() {
        let problems =
            vec![Problem::waiting("PendingApproval", "wait"), Problem::stalled("OrganizationMismatch", "fix O")];
        let [ready, stalled] = readiness(&problems, "Onboarded", "ok");
        assert_eq!(ready.reason, "OrganizationMismatch");
        assert_eq!(stalled.status, Status::True);
        let two = vec![Problem::waiting("A", "a"), Problem::waiting("B", "b")];
        let [ready, stalled] = readiness(&two, "Onboarded", "ok");
        assert_eq!((ready.reason.as_str(), ready.message.as_str()), ("A", "a; b"));
        assert_eq!(stalled.status, Status::False);
        let [ready, stalled] = readiness(&[], "Onboarded", "ok");
        assert_eq!((ready.status, ready.reason.as_str()), (Status::True, "Onboarded"));
        assert_eq!(stalled.status, Status::False);
    }
}
