//! Decisions as read from the log: folded from a request's own commits, so a
//! decision made while nobody watched is still seen, and whoever reads it
//! gets the same answer.

use chrono::{DateTime, Utc};
use serde::Serialize;
use signoff_engine::event::{ApprovalBasis, RequestSubmitted};
use signoff_engine::{ApprovalEvent, ApprovalRequest, RequestId, UserId};
use signoff_eventstore::StoredCommit;

/// How a request ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(
    tag = "decision",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Decision {
    Approved {
        /// Everyone whose approval counted, stage by stage.
        approvers: Vec<UserId>,
        basis: ApprovalBasis,
        at: DateTime<Utc>,
    },
    Rejected {
        /// The person whose rejection decided it (none when the expiry rule did).
        by: Option<UserId>,
        /// Their reason, or the expiry rule's.
        reason: String,
        /// Every rejection that counted, with its reason.
        rejections: Vec<(UserId, String)>,
        at: DateTime<Utc>,
    },
    Expired {
        expires_at: DateTime<Utc>,
        /// Set when the deadline was a stage's own `expiresIn`.
        stage: Option<u32>,
        at: DateTime<Utc>,
    },
    Cancelled {
        by: UserId,
        reason: Option<String>,
        at: DateTime<Utc>,
    },
}

impl Decision {
    pub fn name(&self) -> &'static str {
        match self {
            Decision::Approved { .. } => "approved",
            Decision::Rejected { .. } => "rejected",
            Decision::Expired { .. } => "expired",
            Decision::Cancelled { .. } => "cancelled",
        }
    }

    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Decision::Approved { at, .. }
            | Decision::Rejected { at, .. }
            | Decision::Expired { at, .. }
            | Decision::Cancelled { at, .. } => *at,
        }
    }

    /// The decision carried by `event`, given the request as folded up to and
    /// including it; `None` for events that decide nothing.
    pub fn from_event(event: &ApprovalEvent, state: &ApprovalRequest) -> Option<Self> {
        Some(match event {
            ApprovalEvent::RequestApproved(e) => Decision::Approved {
                approvers: state
                    .stages
                    .iter()
                    .flat_map(|s| s.approvals.iter().map(|v| v.by.user.clone()))
                    .collect(),
                basis: e.basis.clone(),
                at: e.at,
            },
            ApprovalEvent::RequestRejected(e) => {
                let rejections: Vec<(UserId, String)> = e
                    .rejections
                    .iter()
                    .map(|v| (v.by.user.clone(), v.note.clone().unwrap_or_default()))
                    .collect();
                let (by, reason) = match (rejections.last(), e.expired_at) {
                    (Some((by, reason)), _) => (Some(by.clone()), reason.clone()),
                    (None, Some(expired_at)) => (
                        None,
                        format!("not decided by {expired_at}; the spec says onExpiry: reject"),
                    ),
                    (None, None) => (None, String::new()),
                };
                Decision::Rejected {
                    by,
                    reason,
                    rejections,
                    at: e.at,
                }
            }
            ApprovalEvent::RequestExpired(e) => Decision::Expired {
                expires_at: e.expires_at,
                stage: e.stage,
                at: e.at,
            },
            ApprovalEvent::RequestCancelled(e) => Decision::Cancelled {
                by: e.by.user.clone(),
                reason: e.reason.clone(),
                at: e.at,
            },
            _ => return None,
        })
    }
}

/// One request's decision with where it is in the log.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecidedRequest {
    pub request_id: RequestId,
    /// Stream sequence of the commit that decided it: a feed position.
    pub sequence: u64,
    pub title: String,
    pub requester: UserId,
    pub decision: Decision,
}

/// Folds a request's commits (in order) and stops at its decision.
#[derive(Debug, Default)]
pub(crate) struct Folder {
    pub state: ApprovalRequest,
    pub last_sequence: u64,
}

impl Folder {
    /// Applies one commit; returns the decision if this commit made it.
    pub fn apply(&mut self, stored: &StoredCommit) -> Option<DecidedRequest> {
        let mut decided = None;
        for event in &stored.commit.events {
            if self.state.apply(event.clone()).is_err() {
                // The gateway only appends events that fold; a history that
                // does not is reported by `submitted()` being absent or by
                // the gateway itself. Keep reading what folds.
                continue;
            }
            if let Some(decision) = Decision::from_event(event, &self.state) {
                decided = Some(decision);
            }
        }
        self.last_sequence = stored.sequence;
        let submitted = self.submitted()?;
        decided.map(|decision| DecidedRequest {
            request_id: submitted.request_id,
            sequence: stored.sequence,
            title: submitted.plan.title.clone(),
            requester: submitted.requester.user.clone(),
            decision,
        })
    }

    pub fn submitted(&self) -> Option<&RequestSubmitted> {
        self.state.submitted.as_deref()
    }
}
