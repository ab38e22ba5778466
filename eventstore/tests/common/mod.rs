//! Shared builders for the aggregate tests, in the product guide's vocabulary:
//! a directory of people and teams, a fixed clock, actors, commands, specs,
//! and histories made of *real* events (produced by `decide`, never by hand).
#![allow(dead_code)]

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use signoff_engine::event::{RequestSubmitted, Tally};
use signoff_engine::ids::TeamId;
use signoff_engine::{
    decide, Action, Actor, ApprovalCommand, ApprovalEvent, ApprovalRequest, Authentication,
    CommandId, DomainError, ExecutionOutcome, Principal, RawJson, RequestId, Role, StaticDirectory,
    TeamDirectory, UserId, WorkflowSpec,
};
use signoff_eventstore::{ApprovalAggregate, CommandError, Event};
use uuid::Uuid;

// ---------------------------------------------------------------------------
// The directory
// ---------------------------------------------------------------------------

/// The requester in every scenario.
pub const REQUESTER: &str = "alice";

/// Users and teams of the guide's examples.
///
/// | team               | members                 |
/// |--------------------|-------------------------|
/// | `manager-team`     | bob, erin               |
/// | `security-team`    | carol, dave             |
/// | `executive-team`   | frank, grace            |
/// | `finance-team`     | heidi, ivan             |
/// | `on-call-team`     | judy, oscar             |
/// | `database-team`    | dave, peggy             |
/// | `release-managers` | alice, bob, carol       |
/// | `operations-team`  | erin, frank             |
///
/// Users without a team: alice (the requester), mallory (nobody's approver),
/// user_123, user_456.
pub fn static_directory() -> StaticDirectory {
    StaticDirectory::default()
        .with_user("alice")
        .with_user("bob")
        .with_user("carol")
        .with_user("dave")
        .with_user("erin")
        .with_user("mallory")
        .with_user("user_123")
        .with_user("user_456")
        .with_team("manager-team", &["bob", "erin"])
        .with_team("security-team", &["carol", "dave"])
        .with_team("executive-team", &["frank", "grace"])
        .with_team("finance-team", &["heidi", "ivan"])
        .with_team("on-call-team", &["judy", "oscar"])
        .with_team("database-team", &["dave", "peggy"])
        .with_team("release-managers", &["alice", "bob", "carol"])
        .with_team("operations-team", &["erin", "frank"])
}

pub fn directory() -> Arc<dyn TeamDirectory> {
    Arc::new(static_directory())
}

pub fn user(id: &str) -> UserId {
    UserId::parse(id).expect("valid user id")
}

pub fn team(id: &str) -> TeamId {
    TeamId::parse(id).expect("valid team id")
}

pub fn user_principal(id: &str) -> Principal {
    Principal::User(user(id))
}

pub fn team_principal(id: &str) -> Principal {
    Principal::Team(team(id))
}

// ---------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------

/// Thursday 2026-11-26 10:00:00 UTC (11:00 in Berlin).
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()
}

pub fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

pub fn seconds(n: i64) -> Duration {
    Duration::seconds(n)
}

/// An instant given in RFC 3339 (`2026-11-26T21:00:00Z`).
pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

// ---------------------------------------------------------------------------
// Actors and commands
// ---------------------------------------------------------------------------

fn authentication() -> Authentication {
    Authentication {
        method: "test".into(),
        key_id: None,
        issuer: None,
        token_id: None,
    }
}

pub fn actor(id: &str) -> Actor {
    Actor {
        user: user(id),
        roles: Vec::new(),
        authentication: authentication(),
    }
}

/// The deadline scheduler service.
pub fn scheduler() -> Actor {
    Actor {
        user: user("signoff-scheduler"),
        roles: vec![Role::Scheduler],
        authentication: authentication(),
    }
}

pub fn admin(id: &str) -> Actor {
    Actor {
        user: user(id),
        roles: vec![Role::Admin],
        authentication: authentication(),
    }
}

pub fn requester() -> Actor {
    actor(REQUESTER)
}

/// The request every scenario is about.
pub fn request_id() -> RequestId {
    RequestId(Uuid::from_u128(0x5160_0ff0_0000_4000_8000_0000_0000_0001))
}

pub fn other_request_id() -> RequestId {
    RequestId(Uuid::from_u128(0x5160_0ff0_0000_4000_8000_0000_0000_0002))
}

/// A command with its envelope. Command ids are unique per process.
pub fn command(
    request_id: RequestId,
    actor: Actor,
    at: DateTime<Utc>,
    action: Action,
) -> ApprovalCommand {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    ApprovalCommand {
        command_id: CommandId(Uuid::from_u128(u128::from(
            NEXT.fetch_add(1, Ordering::Relaxed),
        ))),
        request_id,
        actor,
        at,
        action,
    }
}

/// `command` for [`request_id`].
pub fn cmd(actor: Actor, at: DateTime<Utc>, action: Action) -> ApprovalCommand {
    command(request_id(), actor, at, action)
}

pub fn raw(text: &str) -> RawJson {
    RawJson::parse(text).expect("valid JSON")
}

pub fn spec(json: &str) -> WorkflowSpec {
    WorkflowSpec::from_json(json).unwrap_or_else(|e| panic!("spec does not decode: {e}\n{json}"))
}

pub fn submit(spec_json: &str, params_json: &str) -> Action {
    Action::Submit {
        spec: Box::new(spec(spec_json)),
        params: raw(params_json),
    }
}

pub fn approve() -> Action {
    Action::Approve {
        comment: None,
        params_hash: None,
    }
}

pub fn approve_with_comment(comment: &str) -> Action {
    Action::Approve {
        comment: Some(comment.into()),
        params_hash: None,
    }
}

pub fn approve_hash(params_hash: &str) -> Action {
    Action::Approve {
        comment: None,
        params_hash: Some(params_hash.into()),
    }
}

pub fn reject(reason: &str) -> Action {
    Action::Reject {
        reason: reason.into(),
    }
}

pub fn cancel() -> Action {
    Action::Cancel { reason: None }
}

pub fn cancel_because(reason: &str) -> Action {
    Action::Cancel {
        reason: Some(reason.into()),
    }
}

pub fn expire() -> Action {
    Action::Expire
}

pub fn escalate(level: u32) -> Action {
    Action::Escalate { level }
}

pub fn record_execution(params_json: &str) -> Action {
    Action::RecordExecution {
        outcome: ExecutionOutcome::Succeeded,
        summary: None,
        params: raw(params_json),
    }
}

pub fn tally(approvals: u32, min_approvals: u32, rejections: u32, min_rejections: u32) -> Tally {
    Tally {
        approvals,
        min_approvals,
        rejections,
        min_rejections,
    }
}

// ---------------------------------------------------------------------------
// Specs of the guide
// ---------------------------------------------------------------------------

pub const PARAMS: &str = r#"{"database": "orders", "reason": "cleanup"}"#;

pub const SINGLE: &str = r#"{
    "title": "Delete production database",
    "description": "Drops the orders database",
    "approvers": ["bob"]
}"#;

pub const TEAM: &str = r#"{
    "title": "Deploy to production",
    "approvers": ["security-team"]
}"#;

pub const MULTI: &str = r#"{
    "title": "Rotate root credentials",
    "approvers": ["user_123", "user_456", "security-team"],
    "minApprovals": 3
}"#;

pub const SEQUENTIAL: &str = r#"{
    "title": "Release to production",
    "stages": [
        {"title": "Manager approval", "approvers": ["manager-team"]},
        {"title": "Security review", "approvers": ["security-team"]},
        {"title": "Executive sign-off", "approvers": ["executive-team"]}
    ]
}"#;

/// carol is in both `release-managers` and `security-team`.
pub const FOUR_EYES: &str = r#"{
    "title": "Ship the release",
    "stages": [
        {"title": "Release manager", "approvers": ["release-managers"]},
        {"title": "Security", "approvers": ["security-team"]}
    ]
}"#;

pub const FOUR_EYES_RELAXED: &str = r#"{
    "title": "Ship the release",
    "allowSameApproverAcrossStages": true,
    "stages": [
        {"title": "Release manager", "approvers": ["release-managers"]},
        {"title": "Security", "approvers": ["security-team"]}
    ]
}"#;

pub const TRANSFER: &str = r#"{
    "title": "Wire transfer",
    "condition": "amount > 10000",
    "config": {
        "title": "Large transfer",
        "approvers": ["finance-team", "security-team"],
        "minApprovals": 2
    },
    "elseConfig": {
        "title": "Small transfer",
        "approvers": ["finance-team"],
        "minApprovals": 1
    }
}"#;

pub const TRANSFER_NO_ELSE: &str = r#"{
    "title": "Wire transfer",
    "condition": "amount > 10000",
    "config": {
        "title": "Large transfer",
        "approvers": ["finance-team", "security-team"],
        "minApprovals": 2
    }
}"#;

pub const BUSINESS_HOURS: &str = r#"{
    "title": "Restart the payment service",
    "logic": {
        "timeZone": "Europe/Berlin",
        "rules": [
            {
                "when": "weekday <= 5 && hour >= 9 && hour < 17",
                "approvers": ["manager-team"],
                "minApprovals": 1
            }
        ],
        "default": {
            "approvers": ["on-call-team", "manager-team"],
            "minApprovals": 2
        }
    }
}"#;

pub const EXPIRING: &str = r#"{
    "title": "Scale down the cluster",
    "approvers": ["operations-team"],
    "expiresIn": 3600
}"#;

pub const ESCALATING: &str = r#"{
    "title": "Fail over the primary database",
    "approvers": ["on-call-team"],
    "escalation": {
        "afterMinutes": 15,
        "to": ["manager-team"],
        "afterMinutes2": 30,
        "to2": ["executive-team"]
    }
}"#;

// ---------------------------------------------------------------------------
// Histories made of real events
// ---------------------------------------------------------------------------

/// The events `decide` yields when alice submits `spec_json` with `params_json` at `at`.
pub fn submitted_at(spec_json: &str, params_json: &str, at: DateTime<Utc>) -> Vec<Event> {
    History::submitted_at(spec_json, params_json, at).events()
}

/// The events `decide` yields when alice submits `spec_json` with `params_json` at [`t0`].
pub fn submitted(spec_json: &str, params_json: &str) -> Vec<Event> {
    submitted_at(spec_json, params_json, t0())
}

/// A request's history, grown one accepted command at a time through `decide`.
#[derive(Clone, Debug)]
pub struct History {
    pub events: Vec<ApprovalEvent>,
    pub state: ApprovalRequest,
}

impl History {
    pub fn empty() -> Self {
        Self {
            events: Vec::new(),
            state: ApprovalRequest::default(),
        }
    }

    pub fn submitted(spec_json: &str, params_json: &str) -> Self {
        Self::submitted_at(spec_json, params_json, t0())
    }

    pub fn submitted_at(spec_json: &str, params_json: &str, at: DateTime<Utc>) -> Self {
        Self::empty().then(requester(), at, submit(spec_json, params_json))
    }

    /// Runs one command that must be accepted and folds its events.
    pub fn then(mut self, actor: Actor, at: DateTime<Utc>, action: Action) -> Self {
        let command = cmd(actor, at, action);
        let events = decide(&self.state, &command, &static_directory()).unwrap_or_else(|e| {
            panic!(
                "building the history: {:?} was refused: {e:?}",
                command.action
            )
        });
        for event in events {
            self.state
                .apply(event.clone())
                .expect("decide's events fold");
            self.events.push(event);
        }
        self
    }

    /// The history as cqrs-es events.
    pub fn events(&self) -> Vec<Event> {
        self.events.iter().cloned().map(Event).collect()
    }

    pub fn submission(&self) -> &RequestSubmitted {
        self.state.submitted.as_ref().expect("submitted")
    }

    pub fn params_hash(&self) -> String {
        self.submission().params_hash.clone()
    }
}

// ---------------------------------------------------------------------------
// Given / when / then
// ---------------------------------------------------------------------------

pub fn framework() -> TestFramework<ApprovalAggregate> {
    TestFramework::<ApprovalAggregate>::with(directory())
}

/// Runs `command` through the cqrs-es test framework after `given`.
pub fn when(
    given: Vec<Event>,
    command: ApprovalCommand,
) -> Result<Vec<ApprovalEvent>, CommandError> {
    framework()
        .given(given)
        .when(command)
        .inspect_result()
        .map(|events| events.into_iter().map(|Event(e)| e).collect())
}

/// `when`, expecting a domain refusal, which is returned.
#[track_caller]
pub fn refused(given: Vec<Event>, command: ApprovalCommand) -> DomainError {
    match when(given, command) {
        Err(CommandError::Domain(e)) => e,
        Err(other) => panic!("expected a domain error, got {other:?}"),
        Ok(events) => panic!("expected a domain error, got events {events:#?}"),
    }
}

/// `when`, expecting acceptance, which returns the events.
#[track_caller]
pub fn accepted(given: Vec<Event>, command: ApprovalCommand) -> Vec<ApprovalEvent> {
    when(given, command).unwrap_or_else(|e| panic!("expected events, got {e:?}"))
}

/// Submits `spec_json` on an empty request, expecting a refusal.
#[track_caller]
pub fn submit_refused(spec_json: &str, params_json: &str) -> DomainError {
    refused(
        Vec::new(),
        cmd(requester(), t0(), submit(spec_json, params_json)),
    )
}

/// The `RequestSubmitted` of a list of events.
#[track_caller]
pub fn submission_of(events: &[ApprovalEvent]) -> &RequestSubmitted {
    match events.first() {
        Some(ApprovalEvent::RequestSubmitted(s)) => s,
        other => panic!("expected RequestSubmitted first, got {other:?}"),
    }
}

/// Names of events, for compact assertions.
pub fn names(events: &[ApprovalEvent]) -> Vec<&'static str> {
    events.iter().map(ApprovalEvent::name).collect()
}
