//! Replies to commands: accepted (with the stream sequence of the commit) or a
//! typed error with a stable code.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use signoff_engine::{ApprovalRequest, Status};
use uuid::Uuid;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "result", rename_all = "camelCase")]
pub enum Reply {
    Accepted(Accepted),
    Error(ErrorReply),
}

/// The command is in the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    pub request_id: Uuid,
    pub command_id: Uuid,
    /// Stream sequence of the commit holding this command's events: the request's new version.
    pub sequence: u64,
    /// True when this command id had been applied before: this is the original answer again.
    pub duplicate: bool,
    /// Names of the events the command produced, in order.
    pub events: Vec<String>,
    pub state: StateSummary,
}

/// The request right after the command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StateSummary {
    pub status: Status,
    /// Index of the stage being decided; equals `stageCount` once every stage approved.
    pub current_stage: u32,
    pub stage_count: u32,
    pub escalation_level: u32,
    #[serde(serialize_with = "signoff_engine::time::serialize_option")]
    pub decided_at: Option<DateTime<Utc>>,
    pub params_hash: Option<String>,
}

impl From<&ApprovalRequest> for StateSummary {
    fn from(state: &ApprovalRequest) -> Self {
        Self {
            status: state.status,
            current_stage: state.current_stage,
            stage_count: state.plan().map_or(0, |p| p.stages.len() as u32),
            escalation_level: state.escalation_level,
            decided_at: state.decided_at,
            params_hash: state.submitted.as_ref().map(|s| s.params_hash.clone()),
        }
    }
}

/// The command was refused and nothing was written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReply {
    /// Stable machine-readable code (see `ErrorCode` in this schema's docs).
    pub code: String,
    pub message: String,
    /// The field at fault, as a path into the command body (`spec.approvers[1]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// True when sending the same command again (same `commandId`) may succeed.
    pub retryable: bool,
}

/// Error codes the gateway adds to the domain's own (`INVALID_SPEC`, `NOT_AN_APPROVER`, ...).
pub mod codes {
    /// Missing, malformed, forged or expired identity token.
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    /// The body is not valid JSON for the command, has unknown fields or wrong types.
    pub const MALFORMED_COMMAND: &str = "MALFORMED_COMMAND";
    /// The subject names no command.
    pub const UNKNOWN_COMMAND: &str = "UNKNOWN_COMMAND";
    /// The body exceeds the command size limit.
    pub const COMMAND_TOO_LARGE: &str = "COMMAND_TOO_LARGE";
    /// The command id was used before for a different command.
    pub const COMMAND_ID_REUSED: &str = "COMMAND_ID_REUSED";
    /// The log could not be reached; retry with the same command id.
    pub const UNAVAILABLE: &str = "UNAVAILABLE";
    /// Too many concurrent writers on one request; retry with the same command id.
    pub const CONTENDED: &str = "CONTENDED";
    /// The stored history of the request does not replay; an operator must look.
    pub const HISTORY_DOES_NOT_REPLAY: &str = "HISTORY_DOES_NOT_REPLAY";
}
