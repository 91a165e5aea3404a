//! The approval decision on a policy request: one function, used by the Partner controller and
//! by the `approve` / `deny` commands, so both always agree on what counts as decided.
//!
//! A decision is an approver-owned condition (`Approved` or `Denied`, status True) in the
//! request's `status.policies[]` entry, bound to the request fingerprint it was made for
//! (`decidedRequestHash`). The operator's own `Approved` (reason [`AUTO_APPROVED_REASON`], for
//! Automatic policies) is not an approver's decision.

use crate::api::{APPROVED, DENIED, PolicyRequestStatus};

/// Reason of the `Approved` condition the operator writes for Automatic policies.
pub const AUTO_APPROVED_REASON: &str = "AutoApproved";

/// What an approver decided for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nobody decided.
    Undecided,
    /// An approver approved this version of the request.
    Approved,
    /// An approver denied it; the reason (who denied).
    Denied(String),
    /// A decision made for an earlier version of the request (or its policy).
    Stale,
}

impl Decision {
    /// Whether a person's decision for the current request exists (it is final).
    pub fn is_final(&self) -> bool {
        matches!(self, Decision::Approved | Decision::Denied(_))
    }
}

/// The decision recorded in `entry` for the request whose current fingerprint is
/// `current_hash`. Denied wins if somebody managed to set both.
pub fn decision(entry: Option<&PolicyRequestStatus>, current_hash: Option<&str>) -> Decision {
    let Some(entry) = entry else { return Decision::Undecided };
    let denied = entry.conditions.iter().find(|c| c.type_ == DENIED && c.status == "True");
    let approved =
        entry.conditions.iter().find(|c| c.type_ == APPROVED && c.status == "True" && c.reason != AUTO_APPROVED_REASON);
    if denied.is_none() && approved.is_none() {
        return Decision::Undecided;
    }
    // A decision that does not name the fingerprint it decided is no decision (#10 finding
    // 5): it would survive any later change of the request. See tenancy::unbound_decision_hint.
    let Some(decided) = entry.decided_request_hash.as_deref() else { return Decision::Undecided };
    // Decisions recorded for another request fingerprint do not count.
    if current_hash.is_some_and(|current| decided != current) {
        return Decision::Stale;
    }
    if let Some(d) = denied {
        return Decision::Denied(d.reason.clone());
    }
    Decision::Approved
}

/// What the controller does with a valid request, given the decision and the policy's mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Keys may be issued; `automatic` when the policy approved it by itself.
    Approved { automatic: bool },
    /// Denied by the named approver: no keys.
    Denied(String),
    /// Waits for an approver; `stale` when an earlier decision no longer applies.
    Pending { stale: bool },
}

/// The outcome for a request: an approver's decision wins; otherwise an Automatic policy
/// approves by itself and a Manual one waits.
pub fn outcome(decision: &Decision, automatic: bool) -> Outcome {
    match decision {
        Decision::Approved => Outcome::Approved { automatic: false },
        Decision::Denied(who) => Outcome::Denied(who.clone()),
        Decision::Undecided | Decision::Stale if automatic => Outcome::Approved { automatic: true },
        Decision::Undecided => Outcome::Pending { stale: false },
        Decision::Stale => Outcome::Pending { stale: true },
    }
}

/// Whether an approver may decide on the request for `policy` now: the request must be in the
/// spec, evaluated by the operator (it has a fingerprint), and not decided yet. Returns the
/// fingerprint to decide on.
pub fn can_decide(
    requested: bool,
    entry: Option<&PolicyRequestStatus>,
    partner: &str,
    policy: &str,
) -> Result<String, String> {
    if !requested {
        return Err(format!("Partner {partner} has no request for policy {policy:?} in spec.policies"));
    }
    let Some(hash) = entry.and_then(|e| e.request_hash.clone()) else {
        return Err(format!(
            "the operator has not evaluated the request for {policy:?} yet (the policy may not exist); try again shortly"
        ));
    };
    match decision(entry, Some(&hash)) {
        Decision::Approved => Err(format!("policy request {policy:?} is already approved; decisions are final")),
        Decision::Denied(who) => {
            Err(format!("policy request {policy:?} is already denied (reason {who}); decisions are final"))
        }
        Decision::Undecided | Decision::Stale => Ok(hash),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Condition;
    use crate::api::true_condition as cond;

    fn entry(conditions: Vec<Condition>, decided: Option<&str>) -> PolicyRequestStatus {
        PolicyRequestStatus {
            name: "p".into(),
            request_hash: Some("h1".into()),
            decided_request_hash: decided.map(String::from),
            conditions,
            api_keys: vec![],
        }
    }

    #[test]
    fn decisions() {
        assert_eq!(decision(None, Some("h1")), Decision::Undecided);
        assert_eq!(decision(Some(&entry(vec![], None)), Some("h1")), Decision::Undecided);
        // Without the fingerprint it decided, an Approved condition is no decision.
        assert_eq!(decision(Some(&entry(vec![cond(APPROVED, "alice")], None)), Some("h1")), Decision::Undecided);
        assert_eq!(decision(Some(&entry(vec![cond(APPROVED, "alice")], Some("h1"))), Some("h1")), Decision::Approved);
        assert_eq!(decision(Some(&entry(vec![cond(APPROVED, "alice")], Some("h0"))), Some("h1")), Decision::Stale);
        assert_eq!(
            decision(Some(&entry(vec![cond(DENIED, "bob"), cond(APPROVED, "alice")], Some("h1"))), Some("h1")),
            Decision::Denied("bob".into())
        );
        // The operator's own automatic approval is not an approver's decision.
        assert_eq!(
            decision(Some(&entry(vec![cond(APPROVED, AUTO_APPROVED_REASON)], None)), Some("h1")),
            Decision::Undecided
        );
    }

    #[test]
    fn outcomes() {
        assert_eq!(outcome(&Decision::Undecided, true), Outcome::Approved { automatic: true });
        assert_eq!(outcome(&Decision::Stale, true), Outcome::Approved { automatic: true });
        assert_eq!(outcome(&Decision::Undecided, false), Outcome::Pending { stale: false });
        assert_eq!(outcome(&Decision::Stale, false), Outcome::Pending { stale: true });
        assert_eq!(outcome(&Decision::Approved, false), Outcome::Approved { automatic: false });
        // A denial wins over an Automatic policy.
        assert_eq!(outcome(&Decision::Denied("bob".into()), true), Outcome::Denied("bob".into()));
    }

    #[test]
    fn cli_and_controller_agree() {
        assert!(can_decide(false, None, "rp", "p").is_err());
        assert!(can_decide(true, None, "rp", "p").is_err());
        assert_eq!(can_decide(true, Some(&entry(vec![], None)), "rp", "p"), Ok("h1".into()));
        // An approval without its fingerprint is no decision: a bound one may be made.
        assert_eq!(can_decide(true, Some(&entry(vec![cond(APPROVED, "alice")], None)), "rp", "p"), Ok("h1".into()));
        assert!(can_decide(true, Some(&entry(vec![cond(APPROVED, "alice")], Some("h1"))), "rp", "p").is_err());
        assert!(can_decide(true, Some(&entry(vec![cond(DENIED, "bob")], Some("h1"))), "rp", "p").is_err());
        // A stale decision may be replaced; an automatic approval may be overridden.
        assert_eq!(
            can_decide(true, Some(&entry(vec![cond(APPROVED, "alice")], Some("h0"))), "rp", "p"),
            Ok("h1".into())
        );
        assert_eq!(
            can_decide(true, Some(&entry(vec![cond(APPROVED, AUTO_APPROVED_REASON)], None)), "rp", "p"),
            Ok("h1".into())
        );
    }
}
