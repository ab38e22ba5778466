//! Events: facts in the past tense. Everything decided from the outside world
//! (the plan, who acted and through which team, hashes, times) is inside them,
//! so folding them needs nothing else.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::command::{Actor, ExecutionOutcome};
use crate::ids::RequestId;
use crate::plan::{Plan, Principal};
use crate::raw_json::RawJson;

/// Version of the event payload schema; bumped on any incompatible change.
pub const EVENT_SCHEMA_VERSION: u32 = 6;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub enum ApprovalEvent {
    RequestSubmitted(Box<RequestSubmitted>),
    ApprovalGranted(Vote),
    RejectionRecorded(Vote),
    StageApproved(StageApproved),
    RequestApproved(RequestApproved),
    RequestRejected(RequestRejected),
    RequestCancelled(RequestCancelled),
    RequestExpired(RequestExpired),
    RequestEscalated(RequestEscalated),
    ReminderSent(ReminderSent),
    ExecutionRecorded(ExecutionRecorded),
}

impl ApprovalEvent {
    pub fn name(&self) -> &'static str {
        match self {
            ApprovalEvent::RequestSubmitted(_) => "RequestSubmitted",
            ApprovalEvent::ApprovalGranted(_) => "ApprovalGranted",
            ApprovalEvent::RejectionRecorded(_) => "RejectionRecorded",
            ApprovalEvent::StageApproved(_) => "StageApproved",
            ApprovalEvent::RequestApproved(_) => "RequestApproved",
            ApprovalEvent::RequestRejected(_) => "RequestRejected",
            ApprovalEvent::RequestCancelled(_) => "RequestCancelled",
            ApprovalEvent::RequestExpired(_) => "RequestExpired",
            ApprovalEvent::RequestEscalated(_) => "RequestEscalated",
            ApprovalEvent::ReminderSent(_) => "ReminderSent",
            ApprovalEvent::ExecutionRecorded(_) => "ExecutionRecorded",
        }
    }

    /// True for the events that end a request (approved, rejected, expired, cancelled).
    pub fn is_decision(&self) -> bool {
        matches!(
            self,
            ApprovalEvent::RequestApproved(_)
                | ApprovalEvent::RequestRejected(_)
                | ApprovalEvent::RequestExpired(_)
                | ApprovalEvent::RequestCancelled(_)
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestSubmitted {
    pub request_id: RequestId,
    pub requester: Actor,
    #[serde(with = "crate::time")]
    #[schemars(with = "DateTime<Utc>")]
    pub submitted_at: DateTime<Utc>,
    pub plan: Plan,
    /// The action's parameters, byte for byte.
    pub params: RawJson,
    /// `sha256:` of the canonical parameters; approvals and executions bind to it.
    pub params_hash: String,
    pub context: Option<RawJson>,
    pub context_hash: Option<String>,
}

/// One person's approval or rejection of one stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Vote {
    pub stage: u32,
    pub by: Actor,
    /// The principal of the stage that made `by` eligible.
    pub via: ApproverVia,
    /// Comment on an approval, reason of a rejection.
    pub note: Option<String>,
    /// Parameters hash the person decided on.
    pub params_hash: String,
    pub context_hash: Option<String>,
    #[serde(with = "crate::time")]
    #[schemars(with = "DateTime<Utc>")]
    pub at: DateTime<Utc>,
    /// The stage's tally once this vote is counted.
    pub tally: Tally,
}

/// Why a person was allowed to act on a stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApproverVia {
    /// The user or team named in the plan (or added by escalation).
    pub principal: Principal,
    /// Set when the principal was added by this escalation level.
    pub escalation_level: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    pub approvals: u32,
    pub min_approvals: u32,
    pub rejections: u32,
    pub min_rejections: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageApproved {
    pub stage: u32,
    #[serde(with = "crate::time")]
    #[schemars(with = "DateTime<Utc>")]
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestApproved {
    #[serde(with = "crate::time")]
    #[schemars(with = "DateTime<Utc>")]
    pub at: DateTime<Utc>,
    pub basis: ApprovalBasis,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum ApprovalBasis {
    /// Every stage reached its quorum.
    Quorum,
    /// The resolved plan had no stage (a false condition without `elseConfig`).
    NotRequired,
    /// `expiresIn` elapsed and the spec said `onExpiry: approve`.
    ExpiryRule {
        #[serde(with = "crate::time")]
        #[schemars(with = "DateTime<Utc>")]
        expires_at: DateTime<Utc>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestRejected {
    #[serde(with = "crate::time")]
    #[schemars(with = "DateTime<Utc>")]
    pub at: DateTime<Utc>,
    pub stage: u32,
    /// The people whose rejections decided it, with their reasons (empty when the expiry rule did).
    pub rejections: Vec<Vote>,
    /// Set when `expiresIn` elapsed and the spec said `onExpiry: reject`.
    #[serde(
        default,
        serialize_with = "crate::time::serialize_option",
        deserialize_with = "crate::time::deserialize_option"
    )]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub expired_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestCancelled {
    pub by: Actor,
    pub reason: Option<String>,
    #[serde(with = "crate::time")]
    #[schemars(with = "DateTime<Utc>")]
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestExpired {
    pub by: Actor,
    #[serde(with = "crate::time")]
    #[schemars(with = "DateTime<Utc>")]
    pub expires_at: DateTime<Utc>,
    /// Set when the deadline was this stage's own `expiresIn`.
    #[serde(default)]
    pub stage: Option<u32>,
    #[serde(with = "crate::time")]
    #[schemars(with = "DateTime<Utc>")]
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestEscalated {
    pub by: Actor,
    pub level: u32,
    pub stage: u32,
    pub added: Vec<Principal>,
    #[serde(with = "crate::time")]
    #[schemars(with = "DateTime<Utc>")]
    pub due_at: DateTime<Utc>,
    #[serde(with = "crate::time")]
    #[schemars(with = "DateTime<Utc>")]
    pub at: DateTime<Utc>,
}

/// The current approvers were reminded (a notifier acts on this event).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReminderSent {
    pub by: Actor,
    /// Which period this reminder is for (from 1); a late reminder covers the periods it missed.
    pub number: u32,
    pub stage: u32,
    /// Everyone who can act on the stage now (named and added by escalation).
    pub to: Vec<Principal>,
    #[serde(with = "crate::time")]
    #[schemars(with = "DateTime<Utc>")]
    pub due_at: DateTime<Utc>,
    #[serde(with = "crate::time")]
    #[schemars(with = "DateTime<Utc>")]
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionRecorded {
    pub by: Actor,
    pub outcome: ExecutionOutcome,
    pub summary: Option<String>,
    pub params_hash: String,
    #[serde(with = "crate::time")]
    #[schemars(with = "DateTime<Utc>")]
    pub at: DateTime<Utc>,
}
