//! The `ApprovalRequest` state machine: its state, and how each event moves it.
//! The whole transition table is [`ApprovalRequest::apply`]; terminal states
//! (approved, rejected, expired, cancelled) accept only `ExecutionRecorded`
//! after an approval, and nothing else.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::command::Actor;
use crate::error::ReplayError;
use crate::event::{ApprovalEvent, ExecutionRecorded, RequestSubmitted, Vote};
use crate::ids::RequestId;
use crate::plan::{Plan, Principal, StagePlan};
use crate::raw_json::RawJson;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    /// No `RequestSubmitted` yet.
    #[default]
    NotSubmitted,
    Pending,
    Approved,
    Rejected,
    Expired,
    Cancelled,
}

impl Status {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Approved | Status::Rejected | Status::Expired | Status::Cancelled
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::NotSubmitted => "not submitted",
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Expired => "expired",
            Status::Cancelled => "cancelled",
        })
    }
}

/// Progress of one stage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageProgress {
    pub approvals: Vec<Vote>,
    pub rejections: Vec<Vote>,
    /// Principals added by escalation while this stage was current, with their level.
    pub escalated_to: Vec<(u32, Principal)>,
    #[serde(
        default,
        serialize_with = "crate::time::serialize_option",
        deserialize_with = "crate::time::deserialize_option"
    )]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub approved_at: Option<DateTime<Utc>>,
}

/// The request as folded from its events.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequest {
    pub status: Status,
    /// Shared: a submission never changes once folded, so a copy of the
    /// request (the gateway makes one per command it appends) shares the
    /// spec, plan, parameters and context instead of copying them.
    pub submitted: Option<Arc<RequestSubmitted>>,
    /// Index of the stage being decided (equals the stage count once all approved).
    pub current_stage: u32,
    pub stages: Vec<StageProgress>,
    /// Highest escalation level reached (0: none).
    pub escalation_level: u32,
    /// Number of the last reminder sent (0: none).
    #[serde(default)]
    pub last_reminder: u32,
    #[serde(
        default,
        serialize_with = "crate::time::serialize_option",
        deserialize_with = "crate::time::deserialize_option"
    )]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub decided_at: Option<DateTime<Utc>>,
    pub execution: Option<ExecutionRecorded>,
    /// Number of events folded.
    pub events_applied: u64,
}

impl ApprovalRequest {
    /// Folds events from the beginning.
    pub fn replay<'a>(
        events: impl IntoIterator<Item = &'a ApprovalEvent>,
    ) -> Result<Self, ReplayError> {
        let mut request = ApprovalRequest::default();
        for event in events {
            request.apply(event.clone())?;
        }
        Ok(request)
    }

    pub fn request_id(&self) -> Option<RequestId> {
        self.submitted.as_ref().map(|s| s.request_id)
    }

    pub fn plan(&self) -> Option<&Plan> {
        self.submitted.as_ref().map(|s| &s.plan)
    }

    pub fn requester(&self) -> Option<&Actor> {
        self.submitted.as_ref().map(|s| &s.requester)
    }

    pub fn params(&self) -> Option<&RawJson> {
        self.submitted.as_ref().map(|s| &s.params)
    }

    /// When the current stage's own `expiresIn` runs out (wall clock from when it became current).
    pub fn current_stage_deadline(&self) -> Option<DateTime<Utc>> {
        let submitted = self.submitted.as_ref()?;
        let secs = self.current_stage_plan()?.expires_in?;
        let since = match self.current_stage {
            0 => submitted.submitted_at,
            n => self.stages.get(n as usize - 1)?.approved_at?,
        };
        Some(since + chrono::Duration::seconds(secs as i64))
    }

    pub fn current_stage_plan(&self) -> Option<&StagePlan> {
        self.plan()?.stages.get(self.current_stage as usize)
    }

    /// The transition table. Returns an error, and leaves the state as it was,
    /// for an event that cannot follow the current state.
    pub fn apply(&mut self, event: ApprovalEvent) -> Result<(), ReplayError> {
        use ApprovalEvent as E;
        use Status as S;
        let refuse = |status| ReplayError {
            index: self.events_applied,
            event: event.name(),
            status,
        };
        let stage_ok =
            |stage: u32| stage == self.current_stage && (stage as usize) < self.stages.len();
        match (self.status, &event) {
            (S::NotSubmitted, E::RequestSubmitted(_)) => {}
            (S::Pending, E::ApprovalGranted(v) | E::RejectionRecorded(v)) if stage_ok(v.stage) => {}
            (S::Pending, E::StageApproved(s)) if stage_ok(s.stage) => {}
            (S::Pending, E::RequestEscalated(e)) if e.level == self.escalation_level + 1 => {}
            (S::Pending, E::ReminderSent(r)) if r.number > self.last_reminder => {}
            (
                S::Pending,
                E::RequestApproved(_)
                | E::RequestRejected(_)
                | E::RequestCancelled(_)
                | E::RequestExpired(_),
            ) => {}
            (S::Approved, E::ExecutionRecorded(_)) if self.execution.is_none() => {}
            (status, _) => return Err(refuse(status)),
        }
        match event {
            E::RequestSubmitted(submitted) => {
                self.status = S::Pending;
                self.stages = vec![StageProgress::default(); submitted.plan.stages.len()];
                self.current_stage = 0;
                self.submitted = Some(Arc::from(submitted));
            }
            E::ApprovalGranted(vote) => self.stages[vote.stage as usize].approvals.push(vote),
            E::RejectionRecorded(vote) => self.stages[vote.stage as usize].rejections.push(vote),
            E::StageApproved(s) => {
                self.stages[s.stage as usize].approved_at = Some(s.at);
                self.current_stage += 1;
            }
            E::RequestEscalated(e) => {
                self.escalation_level = e.level;
                if let Some(stage) = self.stages.get_mut(e.stage as usize) {
                    stage
                        .escalated_to
                        .extend(e.added.into_iter().map(|p| (e.level, p)));
                }
            }
            E::RequestApproved(d) => self.decide(S::Approved, d.at),
            E::RequestRejected(d) => self.decide(S::Rejected, d.at),
            E::RequestCancelled(d) => self.decide(S::Cancelled, d.at),
            E::RequestExpired(d) => self.decide(S::Expired, d.at),
            E::ReminderSent(r) => self.last_reminder = r.number,
            E::ExecutionRecorded(x) => self.execution = Some(x),
        }
        self.events_applied += 1;
        Ok(())
    }

    fn decide(&mut self, status: Status, at: DateTime<Utc>) {
        self.status = status;
        self.decided_at = Some(at);
    }
}
