//! The plan: a spec resolved at submission into concrete stages, approvers,
//! quorums and deadlines, recorded in `RequestSubmitted`. Replay reads the plan;
//! it never evaluates a condition, a clock or the team directory again.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{TeamId, UserId};
use crate::raw_json::RawJson;

/// Version of the resolution rules that produced a plan.
pub const PLAN_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub plan_version: u32,
    /// `sha256:` of the canonical spec as submitted.
    pub spec_hash: String,
    pub title: String,
    pub description: Option<String>,
    pub stages: Vec<StagePlan>,
    #[serde(serialize_with = "crate::time::serialize_option")]
    pub expires_at: Option<DateTime<Utc>>,
    /// What expiry does (`expire` unless the spec said otherwise).
    #[serde(default)]
    pub on_expiry: crate::spec::OnExpiry,
    /// The business-hours calendar deadlines were counted in (their times are above).
    #[serde(default)]
    pub business_hours: Option<String>,
    /// Reminder period (wall-clock minutes from submission); none: no reminders.
    #[serde(default)]
    pub remind_every_minutes: Option<u32>,
    pub escalation: Vec<EscalationLevel>,
    /// May one person approve more than one stage? (false: four eyes across stages)
    pub allow_same_approver_across_stages: bool,
    pub resolution: Resolution,
    pub ui_component: Option<String>,
    pub ui_config: Option<RawJson>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StagePlan {
    pub title: String,
    pub description: Option<String>,
    pub approvers: Vec<Principal>,
    /// Distinct people whose approval completes the stage.
    pub min_approvals: u32,
    /// Distinct people whose rejection rejects the request.
    pub min_rejections: u32,
    /// Distinct people able to approve at submission (teams expanded), the requester excluded.
    pub eligible_at_submission: u32,
    /// Seconds the stage may stay current (wall clock, from when it became current).
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// Who may act: one person, or any member of a team (membership checked when they act).
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Principal {
    User(UserId),
    Team(TeamId),
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::User(u) => write!(f, "user {u}"),
            Principal::Team(t) => write!(f, "team {t}"),
        }
    }
}

impl Plan {
    /// When reminder `number` (from 1) falls due for a request submitted at `submitted_at`.
    pub fn reminder_due(&self, submitted_at: DateTime<Utc>, number: u32) -> Option<DateTime<Utc>> {
        let every = self.remind_every_minutes?;
        Some(submitted_at + chrono::Duration::minutes(i64::from(every) * i64::from(number)))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EscalationLevel {
    /// 1 for the first level.
    pub level: u32,
    pub after_minutes: u32,
    #[serde(with = "crate::time")]
    #[schemars(with = "DateTime<Utc>")]
    pub due_at: DateTime<Utc>,
    pub to: Vec<Principal>,
}

/// How the plan was chosen, for the audit trail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Resolution {
    /// `approvers` named directly.
    Approvers,
    /// A sequential chain of `stages`.
    Sequential,
    /// `condition` was evaluated over the parameters.
    Condition {
        expression: String,
        result: bool,
        /// `config`, `elseConfig`, or `none` when false without `elseConfig`.
        branch: String,
        /// How the chosen branch was resolved in turn.
        then: Box<Resolution>,
    },
    /// Custom `logic` rules were evaluated at the submission time.
    CustomRule {
        time_zone: String,
        /// Submission time in `time_zone`, RFC 3339.
        local_time: String,
        /// Index of the first matching rule; `None`: the default applied.
        matched_rule: Option<u32>,
        when: Option<String>,
    },
    /// Nothing to approve (a false condition without `elseConfig`).
    NotRequired,
}
