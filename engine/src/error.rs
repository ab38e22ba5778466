//! The one error type of the domain. Every variant carries the facts a caller
//! needs and has a stable [`DomainError::code`] that the gateway puts on the wire.

use chrono::{DateTime, Utc};

use crate::ids::{RequestId, UserId};
use crate::request::Status;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DomainError {
    /// The workflow spec is malformed or out of limits. Fix the named field; never retry as is.
    #[error("{field} {problem}")]
    InvalidSpec { field: String, problem: String },

    /// A command field is malformed. Fix the named field; never retry as is.
    #[error("{field} {problem}")]
    InvalidCommand { field: String, problem: String },

    /// A JSON document (context, uiConfig, parameters) exceeds its size limit.
    #[error("{field} is {bytes} bytes; at most {max} are allowed")]
    TooLarge {
        field: String,
        bytes: usize,
        max: usize,
    },

    /// A `condition` or `when` expression does not compile.
    #[error("{field}: expression `{expression}` {problem}")]
    InvalidExpression {
        field: String,
        expression: String,
        problem: String,
    },

    /// An expression compiled but could not be evaluated over these parameters.
    #[error("{field}: expression `{expression}` failed: {problem}")]
    ConditionFailed {
        field: String,
        expression: String,
        problem: String,
    },

    /// An approver id is neither a known user nor a known team.
    #[error("{field}: `{id}` is neither a known user nor a known team")]
    UnknownApprover { field: String, id: String },

    /// More approvals (or rejections) are required than there are people able to give them.
    #[error("{field} is {required}, but only {eligible} people other than the requester can act on this stage")]
    QuorumUnreachable {
        field: String,
        required: u32,
        eligible: u32,
    },

    /// The stage could be left pending for good: after `minApprovals - 1`
    /// approvals and `minRejections - 1` rejections nobody would be left to vote.
    #[error("{field} is {min_rejections} with minApprovals {min_approvals}, but only {eligible} people other than the requester can act on this stage: a split vote would leave it neither approved nor rejected, so at most {max} rejections can be required", max = (*eligible + 1).saturating_sub(*min_approvals))]
    UndecidableQuorum {
        field: String,
        min_approvals: u32,
        min_rejections: u32,
        eligible: u32,
    },

    /// A submit named a request id that is already in the log (with another command id).
    #[error("request {request_id} already exists")]
    RequestAlreadyExists { request_id: RequestId },

    /// No request with this id has been submitted.
    #[error("request {request_id} does not exist")]
    RequestNotFound { request_id: RequestId },

    /// The request is approved, rejected, expired or cancelled; nothing more can be decided.
    #[error("request is already {status} (since {at})")]
    AlreadyDecided { status: Status, at: DateTime<Utc> },

    /// The actor may not approve or reject the current stage.
    #[error("{actor} is not an approver of stage {stage} (`{stage_title}`)")]
    NotAnApprover {
        actor: UserId,
        stage: u32,
        stage_title: String,
    },

    /// The requester tried to approve or reject their own request.
    #[error("{actor} requested this approval and cannot decide it")]
    SelfApproval { actor: UserId },

    /// The actor has already voted on this stage; one person counts once.
    #[error("{actor} already {vote} stage {stage} at {at}")]
    AlreadyVoted {
        actor: UserId,
        stage: u32,
        vote: String,
        at: DateTime<Utc>,
    },

    /// Four eyes across stages: the actor approved an earlier stage of this chain.
    #[error(
        "{actor} approved stage {earlier_stage}; the same person may not approve another stage"
    )]
    AlreadyApprovedEarlierStage { actor: UserId, earlier_stage: u32 },

    /// The actor lacks the role or relation the action needs.
    #[error("{actor} may not {action}: {requirement}")]
    NotPermitted {
        actor: UserId,
        action: String,
        requirement: String,
    },

    /// The parameters (or their hash) differ from those approved.
    #[error("{field}: parameters hash {presented} differs from the approved {approved}")]
    PayloadMismatch {
        field: String,
        approved: String,
        presented: String,
    },

    /// An expire or escalate command came before its deadline.
    #[error("{deadline} is due at {due_at}, not yet at {now}")]
    NotYetDue {
        deadline: String,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    },

    /// An approval or rejection came at or after the request's (or its
    /// current stage's) expiry: votes no longer count, and the request ends
    /// by its expiry rule when the scheduler records it.
    #[error(
        "the time to decide ran out at {expired_at} ({deadline}); a vote at {now} no longer counts"
    )]
    DeadlinePassed {
        deadline: String,
        expired_at: DateTime<Utc>,
        now: DateTime<Utc>,
    },

    /// An expire command for a request without `expiresIn`.
    #[error("this request has no expiry")]
    NoExpiry,

    /// Escalation levels fire in order; this one is not next.
    #[error(
        "escalation level {requested} is not next (next is {next}, levels defined: {defined})"
    )]
    EscalationOutOfOrder {
        requested: u32,
        next: u32,
        defined: u32,
    },

    /// Reminders go forward: this one is not after the last one sent, or the request has none.
    #[error("reminder {requested} is not after the last one sent ({last}) or this request has no reminders")]
    ReminderOutOfOrder { requested: u32, last: u32 },

    /// Execution can only be recorded for an approved request.
    #[error("the request is {status}; execution can only be recorded once it is approved")]
    NotApproved { status: Status },

    /// The stored events are individually valid but leave the request in a
    /// state no command can act on (a damaged or hand-written log). An operator must look.
    #[error("the request's history is inconsistent: {problem}")]
    InconsistentHistory { problem: String },

    /// Execution was already recorded once.
    #[error("execution was already recorded at {at}")]
    ExecutionAlreadyRecorded { at: DateTime<Utc> },
}

impl DomainError {
    /// Stable machine-readable code; the gateway's reply carries it.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::InvalidSpec { .. } => "INVALID_SPEC",
            DomainError::InvalidCommand { .. } => "INVALID_COMMAND",
            DomainError::TooLarge { .. } => "TOO_LARGE",
            DomainError::InvalidExpression { .. } => "INVALID_EXPRESSION",
            DomainError::ConditionFailed { .. } => "CONDITION_FAILED",
            DomainError::UnknownApprover { .. } => "UNKNOWN_APPROVER",
            DomainError::QuorumUnreachable { .. } => "QUORUM_UNREACHABLE",
            DomainError::UndecidableQuorum { .. } => "UNDECIDABLE_QUORUM",
            DomainError::RequestAlreadyExists { .. } => "REQUEST_ALREADY_EXISTS",
            DomainError::RequestNotFound { .. } => "REQUEST_NOT_FOUND",
            DomainError::AlreadyDecided { .. } => "ALREADY_DECIDED",
            DomainError::NotAnApprover { .. } => "NOT_AN_APPROVER",
            DomainError::SelfApproval { .. } => "SELF_APPROVAL",
            DomainError::AlreadyVoted { .. } => "ALREADY_VOTED",
            DomainError::AlreadyApprovedEarlierStage { .. } => "ALREADY_APPROVED_EARLIER_STAGE",
            DomainError::NotPermitted { .. } => "NOT_PERMITTED",
            DomainError::PayloadMismatch { .. } => "PAYLOAD_MISMATCH",
            DomainError::NotYetDue { .. } => "NOT_YET_DUE",
            DomainError::DeadlinePassed { .. } => "DEADLINE_PASSED",
            DomainError::NoExpiry => "NO_EXPIRY",
            DomainError::EscalationOutOfOrder { .. } => "ESCALATION_OUT_OF_ORDER",
            DomainError::NotApproved { .. } => "NOT_APPROVED",
            DomainError::ReminderOutOfOrder { .. } => "REMINDER_OUT_OF_ORDER",
            DomainError::ExecutionAlreadyRecorded { .. } => "EXECUTION_ALREADY_RECORDED",
            DomainError::InconsistentHistory { .. } => "HISTORY_DOES_NOT_REPLAY",
        }
    }

    /// The field the error is about, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            DomainError::InvalidSpec { field, .. }
            | DomainError::InvalidCommand { field, .. }
            | DomainError::TooLarge { field, .. }
            | DomainError::InvalidExpression { field, .. }
            | DomainError::ConditionFailed { field, .. }
            | DomainError::UnknownApprover { field, .. }
            | DomainError::QuorumUnreachable { field, .. }
            | DomainError::UndecidableQuorum { field, .. }
            | DomainError::PayloadMismatch { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// A stored history that the current code cannot fold: a bug or an incompatible
/// change, never a user error. The request refuses every command until fixed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("event #{index} ({event}) cannot follow a request in state {status}")]
pub struct ReplayError {
    pub index: u64,
    pub event: &'static str,
    pub status: Status,
}
