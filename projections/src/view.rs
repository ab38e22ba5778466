//! What the read side stores per request and per inbox entry.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use signoff_engine::plan::Principal;
use signoff_engine::{ApprovalRequest, RequestId};

/// A request as the projector last folded it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    pub request_id: RequestId,
    /// Stream sequence of the last commit folded in.
    pub last_sequence: u64,
    /// The engine's own state, folded by the engine's own transition table.
    pub state: ApprovalRequest,
}

/// One request an approver (or a team) can act on now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboxEntry {
    pub request_id: RequestId,
    pub title: String,
    pub stage: u32,
    pub stage_title: String,
    /// The principal this entry is filed under.
    pub principal: Principal,
    /// Set when the principal was added by this escalation level.
    pub escalation_level: Option<u32>,
    pub requester: String,
    pub submitted_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}
