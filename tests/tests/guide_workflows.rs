//! Every workflow example of the product guide, driven through the bus
//! against a real nats-server: submit, act, and read the outcome from the log.

use chrono::{Duration, TimeZone, Utc};
use serde_json::json;
use signoff_engine::event::ApprovalBasis;
use signoff_engine::plan::{Principal, Resolution};
use signoff_engine::{ApprovalEvent, Status};
use signoff_tests::{accepted, refused, TestEnv};

fn submitted(
    commits: &[signoff_eventstore::StoredCommit],
) -> &signoff_engine::event::RequestSubmitted {
    match &commits[0].commit.events[0] {
        ApprovalEvent::RequestSubmitted(s) => s,
        other => panic!("first event is {}", other.name()),
    }
}

#[tokio::test]
async fn single_approver_approves() {
    let env = TestEnv::start().await;
    let (id, reply) = env
        .submit_ok(
            "alice",
            r#"{"title":"Important Action","description":"This action requires approval","approvers":["user_123"]}"#,
            "{}",
        )
        .await;
    assert_eq!(reply.state.status, Status::Pending);
    let decision = accepted(env.approve("user_123", id).await);
    assert_eq!(decision.state.status, Status::Approved);
    assert_eq!(
        decision.events,
        ["ApprovalGranted", "StageApproved", "RequestApproved"]
    );
    assert_eq!(
        env.event_names(id).await,
        [
            "RequestSubmitted",
            "ApprovalGranted",
            "StageApproved",
            "RequestApproved"
        ]
    );
}

#[tokio::test]
async fn team_approver_acts_for_the_team_and_the_event_records_both() {
    let env = TestEnv::start().await;
    let (id, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"Security Change","description":"Update to security settings","approvers":["security-team"]}"#,
            "{}",
        )
        .await;
    assert_eq!(
        refused(env.approve("maria", id).await).code,
        "NOT_AN_APPROVER"
    );
    accepted(env.approve("sofia", id).await);
    let commits = env.commits(id).await;
    let ApprovalEvent::ApprovalGranted(vote) = &commits[1].commit.events[0] else {
        panic!("expected a vote")
    };
    assert_eq!(vote.by.user.as_str(), "sofia");
    assert_eq!(
        vote.via.principal,
        Principal::Team(signoff_engine::TeamId::parse("security-team").unwrap())
    );
    assert_eq!(vote.by.authentication.key_id.as_deref(), Some("test-1"));
}

#[tokio::test]
async fn multi_approver_needs_three_distinct_people() {
    let env = TestEnv::start().await;
    let (id, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"Critical System Change","description":"Update to core system settings",
                "approvers":["user_123","user_456","security-team"],"minApprovals":3}"#,
            "{}",
        )
        .await;
    let first = accepted(env.approve("user_123", id).await);
    assert_eq!(first.state.status, Status::Pending);
    let again = refused(env.approve("user_123", id).await);
    assert_eq!(
        again.code, "ALREADY_VOTED",
        "a second approval by one person is answered, not counted"
    );
    assert_eq!(
        accepted(env.approve("user_456", id).await).state.status,
        Status::Pending
    );
    let last = accepted(env.approve("sam", id).await);
    assert_eq!(last.state.status, Status::Approved);
    let commits = env.commits(id).await;
    let ApprovalEvent::ApprovalGranted(vote) = &commits.last().unwrap().commit.events[0] else {
        panic!()
    };
    assert_eq!((vote.tally.approvals, vote.tally.min_approvals), (3, 3));
}

#[tokio::test]
async fn sequential_chain_runs_manager_then_security_then_executive() {
    let env = TestEnv::start().await;
    let spec = r#"{"stages":[
        {"title":"Manager Approval","description":"First-level approval by manager","approvers":["manager-team"]},
        {"title":"Security Review","description":"Security team review","approvers":["security-team"]},
        {"title":"Executive Sign-off","description":"Final executive approval","approvers":["executive-team"]}]}"#;
    let (id, _) = env.submit_ok("alice", spec, "{}").await;
    assert_eq!(
        refused(env.approve("erin", id).await).code,
        "NOT_AN_APPROVER",
        "executives wait their turn"
    );
    let one = accepted(env.approve("maria", id).await);
    assert_eq!(
        (one.state.current_stage, one.state.status),
        (1, Status::Pending)
    );
    let two = accepted(env.approve("sam", id).await);
    assert_eq!(two.state.current_stage, 2);
    let three = accepted(env.approve("erin", id).await);
    assert_eq!(three.state.status, Status::Approved);
    assert_eq!(
        env.event_names(id).await,
        [
            "RequestSubmitted",
            "ApprovalGranted",
            "StageApproved",
            "ApprovalGranted",
            "StageApproved",
            "ApprovalGranted",
            "StageApproved",
            "RequestApproved"
        ]
    );
    let commits = env.commits(id).await;
    assert_eq!(
        submitted(&commits).plan.title,
        "Manager Approval → Security Review → Executive Sign-off"
    );
}

const TRANSFER: &str = r#"{"condition":"amount > 10000",
    "config":{"title":"High-Value Transfer","description":"Transfer exceeding $10,000","approvers":["finance-team","security-team"],"minApprovals":2},
    "elseConfig":{"title":"Standard Transfer","description":"Regular fund transfer","approvers":["finance-team"],"minApprovals":1}}"#;

#[tokio::test]
async fn conditional_transfer_above_10000_needs_two_approvals() {
    let env = TestEnv::start().await;
    let (id, _) = env
        .submit_ok(
            "alice",
            TRANSFER,
            r#"{"fromAccount":"A-1","toAccount":"B-2","amount":50000}"#,
        )
        .await;
    let commits = env.commits(id).await;
    let plan = &submitted(&commits).plan;
    assert_eq!(plan.title, "High-Value Transfer");
    assert_eq!(plan.stages[0].min_approvals, 2);
    assert!(
        matches!(&plan.resolution, Resolution::Condition { result: true, branch, .. } if branch == "config")
    );
    assert_eq!(
        accepted(env.approve("fiona", id).await).state.status,
        Status::Pending
    );
    assert_eq!(
        accepted(env.approve("sam", id).await).state.status,
        Status::Approved
    );
}

#[tokio::test]
async fn conditional_transfer_below_10000_needs_one_finance_approval() {
    let env = TestEnv::start().await;
    let (id, _) = env
        .submit_ok(
            "alice",
            TRANSFER,
            r#"{"fromAccount":"A-1","toAccount":"B-2","amount":500}"#,
        )
        .await;
    let commits = env.commits(id).await;
    let plan = &submitted(&commits).plan;
    assert_eq!(plan.title, "Standard Transfer");
    assert!(
        matches!(&plan.resolution, Resolution::Condition { result: false, branch, .. } if branch == "elseConfig")
    );
    assert_eq!(
        refused(env.approve("sam", id).await).code,
        "NOT_AN_APPROVER"
    );
    assert_eq!(
        accepted(env.approve("frank", id).await).state.status,
        Status::Approved
    );
}

#[tokio::test]
async fn condition_false_without_else_config_needs_no_approval() {
    let env = TestEnv::start().await;
    let spec = r#"{"condition":"amount > 10000","config":{"title":"High-Value Transfer","approvers":["finance-team"]}}"#;
    let (id, reply) = env.submit_ok("alice", spec, r#"{"amount":5}"#).await;
    assert_eq!(reply.state.status, Status::Approved);
    let commits = env.commits(id).await;
    assert!(
        matches!(&commits[0].commit.events[1], ApprovalEvent::RequestApproved(d) if d.basis == ApprovalBasis::NotRequired)
    );
}

#[tokio::test]
async fn expiry_ends_the_request_as_expired_never_rejected() {
    let env = TestEnv::start().await;
    let spec = r#"{"title":"Time-Sensitive Action","description":"Must be approved within 1 hour","approvers":["operations-team"],"expiresIn":3600}"#;
    let (id, _) = env.submit_ok("alice", spec, "{}").await;
    let commits = env.commits(id).await;
    assert_eq!(
        submitted(&commits).plan.expires_at,
        Some(signoff_tests::t0() + Duration::hours(1))
    );
    env.clock.advance(Duration::minutes(59));
    assert_eq!(
        refused(env.act("scheduler", "expire", id, json!({})).await).code,
        "NOT_YET_DUE"
    );
    assert_eq!(
        refused(env.act("otto", "expire", id, json!({})).await).code,
        "NOT_PERMITTED"
    );
    env.clock.advance(Duration::minutes(1));
    let expired = accepted(env.act("scheduler", "expire", id, json!({})).await);
    assert_eq!(expired.state.status, Status::Expired);
    assert_eq!(expired.events, ["RequestExpired"]);
    let late = refused(env.approve("otto", id).await);
    assert_eq!(late.code, "ALREADY_DECIDED");
    assert!(late.message.contains("expired"), "{}", late.message);
}

#[tokio::test]
async fn escalation_on_call_to_manager_at_15_to_executive_at_30() {
    let env = TestEnv::start().await;
    let spec = r#"{"title":"Critical Fix","description":"Apply critical system fix","approvers":["on-call-team"],
        "escalation":{"afterMinutes":15,"to":["manager-team"],"afterMinutes2":30,"to2":["executive-team"]}}"#;
    let (id, _) = env.submit_ok("alice", spec, "{}").await;
    let commits = env.commits(id).await;
    let levels = &submitted(&commits).plan.escalation;
    assert_eq!(
        levels.iter().map(|l| l.after_minutes).collect::<Vec<_>>(),
        [15, 30]
    );
    assert_eq!(
        refused(env.approve("maria", id).await).code,
        "NOT_AN_APPROVER",
        "managers only after escalation"
    );
    env.clock.advance(Duration::minutes(14));
    assert_eq!(
        refused(
            env.act("scheduler", "escalate", id, json!({"level": 1}))
                .await
        )
        .code,
        "NOT_YET_DUE"
    );
    env.clock.advance(Duration::minutes(1));
    assert_eq!(
        refused(
            env.act("scheduler", "escalate", id, json!({"level": 2}))
                .await
        )
        .code,
        "ESCALATION_OUT_OF_ORDER"
    );
    let escalated = accepted(
        env.act("scheduler", "escalate", id, json!({"level": 1}))
            .await,
    );
    assert_eq!(escalated.state.escalation_level, 1);
    let approved = accepted(env.approve("maria", id).await);
    assert_eq!(approved.state.status, Status::Approved);
    let commits = env.commits(id).await;
    let ApprovalEvent::ApprovalGranted(vote) = &commits.last().unwrap().commit.events[0] else {
        panic!()
    };
    assert_eq!(vote.via.escalation_level, Some(1));
}

const BUSINESS_HOURS: &str = r#"{"title":"Complex Decision","description":"Requires custom approval logic",
    "logic":{"timeZone":"Europe/Berlin",
        "rules":[{"when":"hour >= 9 && hour <= 17","approvers":["manager-team"],"minApprovals":1}],
        "default":{"approvers":["on-call-team","manager-team"],"minApprovals":2}}}"#;

#[tokio::test]
async fn custom_logic_inside_business_hours_needs_one_manager() {
    let env = TestEnv::start().await;
    env.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()); // 11:00 in Berlin
    let (id, _) = env.submit_ok("alice", BUSINESS_HOURS, "{}").await;
    let commits = env.commits(id).await;
    let plan = &submitted(&commits).plan;
    assert!(
        matches!(&plan.resolution, Resolution::CustomRule { matched_rule: Some(0), local_time, .. } if local_time.starts_with("2026-11-26T11:00"))
    );
    assert_eq!(plan.stages[0].min_approvals, 1);
    assert_eq!(
        accepted(env.approve("mike", id).await).state.status,
        Status::Approved
    );
}

#[tokio::test]
async fn custom_logic_outside_business_hours_needs_on_call_and_manager() {
    let env = TestEnv::start().await;
    env.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 26, 21, 30, 0).unwrap()); // 22:30 in Berlin
    let (id, _) = env.submit_ok("alice", BUSINESS_HOURS, "{}").await;
    let commits = env.commits(id).await;
    let plan = &submitted(&commits).plan;
    assert!(matches!(
        &plan.resolution,
        Resolution::CustomRule {
            matched_rule: None,
            ..
        }
    ));
    assert_eq!(plan.stages[0].min_approvals, 2);
    assert_eq!(
        accepted(env.approve("oscar", id).await).state.status,
        Status::Pending
    );
    assert_eq!(
        accepted(env.approve("mike", id).await).state.status,
        Status::Approved
    );
}

#[tokio::test]
async fn rich_context_round_trips_byte_for_byte() {
    let env = TestEnv::start().await;
    let context = r#"{ "changes": [
        {"table": "users", "action": "add_column", "column": "last_login_date"},
        {"table": "sessions", "action": "add_index", "columns": ["user_id", "created_at"]} ],
      "impact": "Low - No downtime required", "rollback": "Automatic rollback script included", "jiraTicket": "PROJ-123", "ünïcode": 1.50 }"#;
    let spec = format!(
        r#"{{"title":"Database Schema Change","description":"Update to production database schema","approvers":["database-team"],"context":{context}}}"#
    );
    let (id, _) = env.submit_ok("alice", &spec, "{}").await;
    let commits = env.commits(id).await;
    let stored = submitted(&commits)
        .context
        .as_ref()
        .expect("context stored");
    assert_eq!(
        stored.as_str(),
        context,
        "white space, key order and number spelling are kept"
    );
}

#[tokio::test]
async fn ui_component_and_ui_config_round_trip() {
    let env = TestEnv::start().await;
    let spec = r#"{"title":"Production Deployment","description":"Deploy new version to production","approvers":["release-managers"],
        "uiComponent":"DeploymentApprovalForm","uiConfig":{"showDiff": true, "showTests": true, "allowPartialApproval": false}}"#;
    let (id, _) = env
        .submit_ok(
            "alice",
            spec,
            r#"{"version":"1.4.2","environment":"production"}"#,
        )
        .await;
    let commits = env.commits(id).await;
    let plan = &submitted(&commits).plan;
    assert_eq!(plan.ui_component.as_deref(), Some("DeploymentApprovalForm"));
    assert_eq!(
        plan.ui_config.as_ref().map(|c| c.as_str()),
        Some(r#"{"showDiff": true, "showTests": true, "allowPartialApproval": false}"#)
    );
    assert_eq!(
        submitted(&commits).params.as_str(),
        r#"{"version":"1.4.2","environment":"production"}"#
    );
}

#[tokio::test]
async fn rejection_rejects_and_execution_binds_to_the_approved_parameters() {
    let env = TestEnv::start().await;
    let spec = r#"{"title":"Create Jira Issue","description":"Create new high-priority issue in Jira","approvers":["project-managers"]}"#;
    let (rejected, _) = env.submit_ok("alice", spec, "{}").await;
    let reply = accepted(env.reject("paul", rejected, "not this sprint").await);
    assert_eq!(reply.state.status, Status::Rejected);

    let (id, _) = env
        .submit_ok(
            "alice",
            spec,
            r#"{"priority":"high","summary":"Broken login"}"#,
        )
        .await;
    accepted(env.approve("pia", id).await);
    let changed = refused(
        env.act(
            "alice",
            "record-execution",
            id,
            json!({"outcome":"succeeded","params":{"priority":"low","summary":"Broken login"}}),
        )
        .await,
    );
    assert_eq!(changed.code, "PAYLOAD_MISMATCH");
    let ran = accepted(
        env.act("alice", "record-execution", id, json!({"outcome":"succeeded","summary":"PROJ-9","params":{"summary":"Broken login","priority":"high"}}))
            .await,
    );
    assert_eq!(ran.events, ["ExecutionRecorded"]);
}
