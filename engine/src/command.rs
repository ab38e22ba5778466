//! Commands: what a caller asks for, with the facts the gateway adds (verified
//! actor, time of handling). Identity never comes from a field the caller typed.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{CommandId, RequestId, UserId};
use crate::raw_json::RawJson;
use crate::spec::WorkflowSpec;

/// Someone (or some service) acting, as established by a verified token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    pub user: UserId,
    #[serde(default)]
    pub roles: Vec<Role>,
    pub authentication: Authentication,
}

impl Actor {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// Configured roles; a role is granted by the token issuer, never by a name.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    /// May cancel any request and act as the scheduler.
    Admin,
    /// The deadline scheduler: may expire and escalate.
    Scheduler,
}

/// How the actor was authenticated, for the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Authentication {
    /// For example `jwt/HS256`.
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
}

/// A command with its envelope: the id the caller chose, the verified actor and
/// the time the gateway handled it.
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalCommand {
    pub command_id: CommandId,
    pub request_id: RequestId,
    pub actor: Actor,
    pub at: DateTime<Utc>,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Ask for approval of an action with these parameters.
    Submit {
        spec: Box<WorkflowSpec>,
        params: RawJson,
    },
    /// Approve the current stage; `params_hash`, when given, must be the request's.
    Approve {
        comment: Option<String>,
        params_hash: Option<String>,
    },
    /// Reject the current stage.
    Reject { reason: String },
    /// Withdraw a pending request (the requester or an admin).
    Cancel { reason: Option<String> },
    /// The expiry deadline has passed (the scheduler).
    Expire,
    /// An escalation level's deadline has passed (the scheduler).
    Escalate { level: u32 },
    /// Reminder `number` is due (the scheduler).
    Remind { number: u32 },
    /// The approved action ran; `params` must hash to the approved parameters.
    RecordExecution {
        outcome: ExecutionOutcome,
        summary: Option<String>,
        params: RawJson,
    },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Submit { .. } => "submit",
            Action::Approve { .. } => "approve",
            Action::Reject { .. } => "reject",
            Action::Cancel { .. } => "cancel",
            Action::Expire => "expire",
            Action::Escalate { .. } => "escalate",
            Action::Remind { .. } => "remind",
            Action::RecordExecution { .. } => "record-execution",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ExecutionOutcome {
    Succeeded,
    Failed,
}
