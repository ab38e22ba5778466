//! The `signoff-client` SDK against the real stack (nats-server, gateway,
//! scheduler): every sample of the product guide through `require_approval*`,
//! typed outcomes for rejections, expiry, cancellation and refusals, a client
//! restarted while waiting, parameters changed after approval, and the
//! decisions feed resuming across restarts. Requests and decisions go through
//! the client crate only; the harness only starts the processes and moves the clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as Span;
use serde::Deserialize;
use serde_json::json;
use signoff_client::{
    ApprovalConfig, ApprovalError, CustomLogic, Decision, Escalation, Requirement, Signoff, Stage,
};
use signoff_engine::{RequestId, Status};
use signoff_tests::{eventually, TestEnv};

type Failure = std::io::Error;

/// Waits until the request is in the log (submitted by a task running `run`).
async fn submitted(signoff: &Signoff, id: RequestId) {
    eventually("the request is submitted", || async {
        signoff.request(id).await.unwrap().is_some()
    })
    .await;
}

/// `people` approve `id` in turn, each through their own SDK connection.
async fn approve_all(env: &TestEnv, id: RequestId, people: &[&str]) {
    for person in people {
        env.sdk(person)
            .await
            .approve(id, Some("looks right"))
            .await
            .unwrap_or_else(|e| panic!("{person} approves {id}: {e}"));
    }
}

async fn events(env: &TestEnv, id: RequestId) -> Vec<&'static str> {
    env.event_names(id).await
}

#[tokio::test]
async fn every_guide_sample_runs_its_action_once_approved() {
    let env = TestEnv::start().await;
    // The whole stack runs beside the gateway: deadlines and the read side.
    let scheduler = env.start_scheduler().await;
    let read_side = env.start_read_side().await;
    let app = env.sdk("alice").await;
    let ran = Arc::new(AtomicUsize::new(0));

    // One run per guide sample: (name, approval, approvers who act, expected value).
    let samples: Vec<(&str, signoff_client::Approval, Vec<&str>)> = vec![
        (
            "single approver",
            app.require_approval(
                ApprovalConfig::new("Important Action")
                    .description("This action requires approval")
                    .approvers(["user_123"]),
            ),
            vec!["user_123"],
        ),
        (
            "team-based",
            app.require_approval(
                ApprovalConfig::new("Security Change")
                    .description("Update to security settings")
                    .approvers(["security-team"]),
            ),
            vec!["sofia"],
        ),
        (
            "multi-approver",
            app.require_approval(
                ApprovalConfig::new("Critical System Change")
                    .description("Update to core system settings")
                    .approvers(["user_123", "user_456", "security-team"])
                    .min_approvals(3),
            ),
            vec!["user_123", "user_456", "sam"],
        ),
        (
            "sequential",
            app.require_sequential_approval([
                Stage::new("Manager Approval", ["manager-team"])
                    .description("First-level approval by manager"),
                Stage::new("Security Review", ["security-team"])
                    .description("Security team review"),
                Stage::new("Executive Sign-off", ["executive-team"])
                    .description("Final executive approval"),
            ]),
            vec!["maria", "sam", "erin"],
        ),
        (
            "time-based expiration",
            app.require_approval(
                ApprovalConfig::new("Time-Sensitive Action")
                    .description("Must be approved within 1 hour")
                    .approvers(["operations-team"])
                    .expires_in(Duration::from_secs(60 * 60)),
            ),
            vec!["otto"],
        ),
        (
            "custom logic (business hours: 11:00 in Berlin)",
            app.require_custom_approval(
                ApprovalConfig::new("Complex Decision")
                    .description("Requires custom approval logic"),
                CustomLogic::new()
                    .time_zone("Europe/Berlin")
                    .rule(
                        "hour >= 9 && hour <= 17",
                        Requirement::new(["manager-team"]).min_approvals(1),
                    )
                    .otherwise(
                        Requirement::new(["on-call-team", "manager-team"]).min_approvals(2),
                    ),
            ),
            vec!["mike"],
        ),
        (
            "rich context",
            app.require_approval(
                ApprovalConfig::new("Database Schema Change")
                    .description("Update to production database schema")
                    .approvers(["database-team"])
                    .context(json!({
                        "changes": [
                            {"table": "users", "action": "add_column", "column": "last_login_date"},
                            {"table": "sessions", "action": "add_index", "columns": ["user_id", "created_at"]}
                        ],
                        "impact": "Low - No downtime required",
                        "rollback": "Automatic rollback script included",
                        "jiraTicket": "PROJ-123"
                    })),
            ),
            vec!["dana"],
        ),
    ];
    let mut runs = Vec::new();
    for (name, approval, people) in samples {
        let id = approval.request_id();
        let ran = ran.clone();
        let task = tokio::spawn(approval.run(move || async move {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Failure>(true)
        }));
        runs.push((name, id, people, task));
    }
    for (name, id, people, task) in runs {
        submitted(&app, id).await;
        assert!(!task.is_finished(), "{name}: the action waits for approval");
        approve_all(&env, id, &people).await;
        let value = task
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(value, "{name}: the action's value comes back");
        let names = events(&env, id).await;
        assert_eq!(
            names.last(),
            Some(&"ExecutionRecorded"),
            "{name}: the execution is recorded on the request: {names:?}"
        );
        let state = app.request(id).await.unwrap().unwrap();
        assert_eq!(state.status, Status::Approved, "{name}");
        assert!(state.execution.is_some(), "{name}");
    }
    assert_eq!(
        ran.load(Ordering::SeqCst),
        7,
        "each action ran exactly once"
    );
    // The projector folded every execution too.
    let last = env.last_sequence().await;
    assert!(read_side
        .db
        .wait_for(last, Duration::from_secs(20))
        .await
        .unwrap());
    scheduler.shutdown().await;
    read_side.shutdown().await;
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Transfer {
    from_account: String,
    to_account: String,
    amount: u64,
}

#[tokio::test]
async fn conditional_transfers_take_the_branch_the_engine_records() {
    let env = TestEnv::start().await;
    let app = env.sdk("alice").await;
    let transfer = |amount: u64| {
        app.require_approval_if(
            "amount > 10000",
            ApprovalConfig::new("High-Value Transfer")
                .description("Transfer exceeding $10,000")
                .approvers(["finance-team", "security-team"])
                .min_approvals(2),
            Some(
                ApprovalConfig::new("Standard Transfer")
                    .description("Regular fund transfer")
                    .approvers(["finance-team"])
                    .min_approvals(1),
            ),
        )
        .params(json!({"fromAccount": "ACC-1", "toAccount": "ACC-2", "amount": amount}))
    };
    for (amount, people, title) in [
        (50_000, vec!["fiona", "sam"], "High-Value Transfer"),
        (500, vec!["frank"], "Standard Transfer"),
    ] {
        let approval = transfer(amount);
        let id = approval.request_id();
        let task = tokio::spawn(approval.run_with(|t: Transfer| async move {
            Ok::<_, Failure>(format!(
                "{} -> {}: {}",
                t.from_account, t.to_account, t.amount
            ))
        }));
        submitted(&app, id).await;
        let state = app.request(id).await.unwrap().unwrap();
        let plan = &state.submitted.as_ref().unwrap().plan;
        assert_eq!(plan.title, title, "the engine chose the branch");
        let resolution = serde_json::to_value(&plan.resolution).unwrap().to_string();
        assert!(resolution.contains("amount > 10000"), "{resolution}");
        approve_all(&env, id, &people).await;
        assert_eq!(
            task.await.unwrap().unwrap(),
            format!("ACC-1 -> ACC-2: {amount}"),
            "the action ran with the approved parameters"
        );
    }
}

#[derive(Debug, Deserialize)]
struct Deployment {
    version: String,
    environment: String,
}

#[tokio::test]
async fn escalation_external_systems_and_ui_hints_through_the_sdk() {
    let env = TestEnv::start().await;
    let scheduler = env.start_scheduler().await;
    let app = env.sdk("alice").await;

    // Escalation: on-call does not answer; after 15 minutes the manager team may approve.
    let fix = app.require_approval(
        ApprovalConfig::new("Critical Fix")
            .description("Apply critical system fix")
            .approvers(["on-call-team"])
            .escalation(
                Escalation::after_minutes(15, ["manager-team"])
                    .then_after_minutes(30, ["executive-team"]),
            ),
    );
    let fix_id = fix.request_id();
    let fix = tokio::spawn(fix.run(|| async { Ok::<_, Failure>("fixed") }));
    submitted(&app, fix_id).await;
    let refused = env
        .sdk("maria")
        .await
        .approve(fix_id, None)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("NOT_AN_APPROVER"));
    eventually("the scheduler knows the deadlines", || async {
        scheduler.scheduler.stats.pending.load(Ordering::Relaxed) >= 2
    })
    .await;
    env.clock.advance(Span::minutes(15));
    eventually("level 1 escalates", || async {
        events(&env, fix_id).await.contains(&"RequestEscalated")
    })
    .await;
    approve_all(&env, fix_id, &["maria"]).await;
    assert_eq!(fix.await.unwrap().unwrap(), "fixed");

    // External systems: onApproved gets the result and who approved.
    let audit_sink = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = audit_sink.clone();
    let jira = app
        .require_approval(
            ApprovalConfig::new("Create Jira Issue")
                .description("Create new high-priority issue in Jira")
                .approvers(["project-managers"]),
        )
        .params(json!({"summary": "Checkout fails", "priority": "high"}))
        .on_approved(
            move |issue: String, context: signoff_client::ApprovalContext| async move {
                sink.lock().unwrap().push((
                    "issue_created",
                    context
                        .approvers
                        .iter()
                        .map(|u| u.to_string())
                        .collect::<Vec<_>>(),
                    context.request_id,
                ));
                issue
            },
        );
    let jira_id = jira.request_id();
    let jira = tokio::spawn(jira.run_with(|data: serde_json::Value| async move {
        Ok::<_, Failure>(format!("PROJ-{}", data["summary"].as_str().unwrap().len()))
    }));
    submitted(&app, jira_id).await;
    approve_all(&env, jira_id, &["pia"]).await;
    assert_eq!(jira.await.unwrap().unwrap(), "PROJ-14");
    assert_eq!(
        *audit_sink.lock().unwrap(),
        vec![("issue_created", vec!["pia".to_string()], jira_id)]
    );

    // Custom UI component: the hint and config travel with the request.
    let deploy = app
        .require_approval(
            ApprovalConfig::new("Production Deployment")
                .description("Deploy new version to production")
                .approvers(["release-managers"])
                .ui_component("DeploymentApprovalForm")
                .ui_config(
                    json!({"showDiff": true, "showTests": true, "allowPartialApproval": false}),
                ),
        )
        .params(json!({"version": "1.4.2", "environment": "production"}));
    let deploy_id = deploy.request_id();
    let deploy = tokio::spawn(deploy.run_with(|d: Deployment| async move {
        Ok::<_, Failure>(format!("{} on {}", d.version, d.environment))
    }));
    submitted(&app, deploy_id).await;
    let state = app.request(deploy_id).await.unwrap().unwrap();
    let plan = &state.submitted.as_ref().unwrap().plan;
    assert_eq!(plan.ui_component.as_deref(), Some("DeploymentApprovalForm"));
    assert_eq!(
        plan.ui_config.as_ref().unwrap().to_value()["showDiff"],
        json!(true)
    );
    approve_all(&env, deploy_id, &["rob"]).await;
    assert_eq!(deploy.await.unwrap().unwrap(), "1.4.2 on production");
    scheduler.shutdown().await;
}

#[tokio::test]
async fn rejection_expiry_cancellation_refusal_and_timeout_are_typed() {
    let env = TestEnv::start().await;
    let scheduler = env.start_scheduler().await;
    let app = env.sdk("alice").await;
    let ran = Arc::new(AtomicUsize::new(0));
    let action = |ran: Arc<AtomicUsize>| {
        move || async move {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Failure>(())
        }
    };

    // Rejected, with on_rejected called once.
    let rejected_hook = Arc::new(AtomicUsize::new(0));
    let hook = rejected_hook.clone();
    let approval = app
        .require_approval(ApprovalConfig::new("Security Change").approvers(["security-team"]))
        .on_rejected(move |decided: signoff_client::DecidedRequest| async move {
            assert!(matches!(decided.decision, Decision::Rejected { .. }));
            hook.fetch_add(1, Ordering::SeqCst);
        });
    let id = approval.request_id();
    let task = tokio::spawn(approval.run(action(ran.clone())));
    submitted(&app, id).await;
    env.sdk("sam")
        .await
        .reject(id, "not during the freeze")
        .await
        .unwrap();
    match task.await.unwrap() {
        Err(ApprovalError::Rejected {
            by,
            reason,
            request_id,
        }) => {
            assert_eq!(request_id, id);
            assert_eq!(by.unwrap().as_str(), "sam");
            assert_eq!(reason, "not during the freeze");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(rejected_hook.load(Ordering::SeqCst), 1);

    // Expired: the scheduler fires the deadline when the clock passes it.
    let approval = app.require_approval(
        ApprovalConfig::new("Time-Sensitive Action")
            .approvers(["operations-team"])
            .expires_in(Duration::from_secs(3600)),
    );
    let id = approval.request_id();
    let task = tokio::spawn(approval.run(action(ran.clone())));
    submitted(&app, id).await;
    eventually("the scheduler knows the deadline", || async {
        scheduler.scheduler.stats.pending.load(Ordering::Relaxed) >= 1
    })
    .await;
    env.clock.advance(Span::hours(1));
    assert!(matches!(
        task.await.unwrap(),
        Err(ApprovalError::Expired { request_id, .. }) if request_id == id
    ));

    // Cancelled by the requester.
    let approval = app.require_approval(ApprovalConfig::new("Withdrawn").approvers(["user_123"]));
    let id = approval.request_id();
    let task = tokio::spawn(approval.run(action(ran.clone())));
    submitted(&app, id).await;
    let refused = env
        .sdk("user_123")
        .await
        .cancel(id, None)
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Some("NOT_PERMITTED"),
        "only the requester cancels"
    );
    app.cancel(id, Some("no longer needed")).await.unwrap();
    match task.await.unwrap() {
        Err(ApprovalError::Cancelled { by, reason, .. }) => {
            assert_eq!(by.as_str(), "alice");
            assert_eq!(reason.as_deref(), Some("no longer needed"));
        }
        other => panic!("expected Cancelled, got {other:?}"),
    }

    // Refused at submission: the engine's typed error, naming the field; nothing written.
    let before = env.last_sequence().await;
    let refused = app
        .require_approval(ApprovalConfig::new("Nobody").approvers(["no-such-team"]))
        .run(action(ran.clone()))
        .await;
    match refused {
        Err(ApprovalError::Refused { code, field, .. }) => {
            assert_eq!(code, "UNKNOWN_APPROVER");
            assert_eq!(field.as_deref(), Some("spec.approvers[0]"));
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    assert_eq!(
        env.last_sequence().await,
        before,
        "a refusal writes nothing"
    );

    // Still pending after the wait: TimedOut names the request to re-attach to.
    let approval = app
        .require_approval(ApprovalConfig::new("Slow").approvers(["user_456"]))
        .wait_for(Duration::from_millis(300));
    let id = approval.request_id();
    assert!(matches!(
        approval.run(action(ran.clone())).await,
        Err(ApprovalError::TimedOut { request_id, .. }) if request_id == id
    ));

    // Self-approval and double votes are refused with their codes.
    let self_approval = app.approve(id, None).await.unwrap_err();
    assert_eq!(self_approval.code(), Some("SELF_APPROVAL"));

    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "no action ran without approval"
    );
    scheduler.shutdown().await;
}

#[tokio::test]
async fn a_client_restarted_while_waiting_still_gets_its_decision_and_runs_once() {
    let env = TestEnv::start().await;
    let ran = Arc::new(AtomicUsize::new(0));
    let params = json!({"version": "2.0.0", "environment": "production"});

    // The first process submits and waits, then dies (its connection and watch go away).
    let first = env.sdk("alice").await;
    let approval = first
        .require_approval(
            ApprovalConfig::new("Production Deployment").approvers(["release-managers"]),
        )
        .params(params.clone());
    let id = approval.request_id();
    let waiting = tokio::spawn(approval.run(|| async { Ok::<_, Failure>(()) }));
    submitted(&first, id).await;
    waiting.abort();
    assert!(waiting.await.unwrap_err().is_cancelled());
    drop(first);

    // The decision is made while nobody waits.
    approve_all(&env, id, &["rita"]).await;

    // The restarted process re-attaches by id and gets it.
    let second = env.sdk("alice").await;
    let counter = ran.clone();
    let value = second
        .attach(id)
        .params(params.clone())
        .run(move || async move {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Failure>("deployed")
        })
        .await
        .unwrap();
    assert_eq!(value, "deployed");

    // A third attach finds the execution on record and does not run it again.
    let again = env
        .sdk("alice")
        .await
        .attach(id)
        .params(params)
        .run(|| async { Ok::<_, Failure>("deployed twice") })
        .await;
    assert!(
        matches!(again, Err(ApprovalError::AlreadyExecuted { .. })),
        "{again:?}"
    );
    assert_eq!(ran.load(Ordering::SeqCst), 1);

    // Re-attaching to a request that does not exist is a typed error.
    let missing = second
        .attach(RequestId(uuid::Uuid::new_v4()))
        .run(|| async { Ok::<_, Failure>(()) })
        .await;
    assert!(matches!(missing, Err(ApprovalError::NotFound { .. })));
}

#[tokio::test]
async fn an_execution_whose_parameters_changed_after_approval_is_refused() {
    let env = TestEnv::start().await;
    let app = env.sdk("alice").await;
    let approved = json!({"fromAccount": "ACC-1", "toAccount": "ACC-2", "amount": 100});
    let mut approval = app
        .require_approval(ApprovalConfig::new("Transfer").approvers(["finance-team"]))
        .params(approved.clone());
    let id = approval.request_id();
    approval.submit_only::<Failure>().await.unwrap();
    approve_all(&env, id, &["fiona"]).await;

    let ran = Arc::new(AtomicUsize::new(0));
    let counter = ran.clone();
    let tampered = json!({"fromAccount": "ACC-1", "toAccount": "ACC-666", "amount": 1_000_000});
    let outcome = app
        .attach(id)
        .params(tampered.clone())
        .run(move || async move {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Failure>(())
        })
        .await;
    assert!(
        matches!(outcome, Err(ApprovalError::ParamsChanged { .. })),
        "{outcome:?}"
    );
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the action did not run");

    // The engine refuses to record an execution of other parameters, too.
    let refused = app
        .send(
            "record-execution",
            &json!({"commandId": uuid::Uuid::new_v4(), "requestId": id.0,
                    "outcome": "succeeded", "params": tampered}),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("PAYLOAD_MISMATCH"));
    assert!(!events(&env, id).await.contains(&"ExecutionRecorded"));

    // With the approved parameters it runs, and the action receives exactly them.
    let value = app
        .attach(id)
        .params(approved)
        .run_with(|t: Transfer| async move { Ok::<_, Failure>(t.amount) })
        .await
        .unwrap();
    assert_eq!(value, 100);
}

#[tokio::test]
async fn the_decisions_feed_resumes_without_missing_a_decision() {
    let env = TestEnv::start().await;
    let app = env.sdk("alice").await;
    let approver = env.sdk("user_123").await;
    let mut ids = Vec::new();
    let decide = |n: usize| {
        let app = app.clone();
        let approver = approver.clone();
        async move {
            let mut decided = Vec::new();
            for i in 0..n {
                let mut approval = app.require_approval(
                    ApprovalConfig::new(format!("Request {i}")).approvers(["user_123"]),
                );
                approval.submit_only::<Failure>().await.unwrap();
                let id = approval.request_id();
                if i % 2 == 0 {
                    approver.approve(id, None).await.unwrap();
                } else {
                    approver.reject(id, "no").await.unwrap();
                }
                decided.push((id, if i % 2 == 0 { "approved" } else { "rejected" }));
            }
            decided
        }
    };
    ids.extend(decide(3).await);

    // A durable feed reads two decisions, acknowledges them, and stops.
    let mut feed = app.decisions().durable("billing").await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let item = feed.next().await.unwrap().unwrap();
        seen.push((item.decided.request_id, item.decided.decision.name()));
        item.ack().await.unwrap();
    }
    drop(feed);

    // More decisions while the service is down.
    ids.extend(decide(2).await);

    // Restarted, it continues after the last acknowledged decision.
    let mut feed = app.decisions().durable("billing").await.unwrap();
    let mut last_position = 0;
    for _ in 0..3 {
        let item = tokio::time::timeout(Duration::from_secs(10), feed.next())
            .await
            .expect("the next decision arrives")
            .unwrap()
            .unwrap();
        seen.push((item.decided.request_id, item.decided.decision.name()));
        last_position = item.decided.sequence;
        item.ack().await.unwrap();
    }
    assert_eq!(seen, ids, "every decision once, in log order");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), feed.next())
            .await
            .is_err(),
        "nothing more"
    );

    // A position-based feed from just after the third decision sees the last two.
    let third = {
        let mut feed = app.decisions().starting_at(1).await.unwrap();
        let mut third = 0;
        for _ in 0..3 {
            third = feed.next().await.unwrap().unwrap().decided.sequence;
        }
        third
    };
    let mut feed = app.decisions().starting_at(third + 1).await.unwrap();
    let fourth = feed.next().await.unwrap().unwrap().decided;
    let fifth = feed.next().await.unwrap().unwrap().decided;
    assert_eq!((fourth.request_id, fifth.request_id), (ids[3].0, ids[4].0));
    assert_eq!(fifth.sequence, last_position);
    match &fifth.decision {
        Decision::Rejected { by, reason, .. } => {
            assert_eq!(by.as_ref().unwrap().as_str(), "user_123");
            assert_eq!(reason, "no");
        }
        other => panic!("{other:?}"),
    }

    // A bad durable name is refused before touching the server.
    assert!(app.decisions().durable("bad name!").await.is_err());
}

/// A chain configured with everything `ApprovalConfig` offers (its own
/// title, expiry, escalation, context) through the SDK: the engine's plan
/// holds each setting, and stage-by-stage approval decides it.
#[tokio::test]
async fn a_chain_with_expiry_escalation_and_context_goes_through_the_sdk() {
    let env = TestEnv::start().await;
    let app = env.sdk("alice").await;
    let mut approval = app.require_approval(
        ApprovalConfig::new("Release 1.4.2")
            .stages([
                Stage::new("Manager Approval", ["manager-team"]),
                Stage::new("Security Review", ["security-team"]),
            ])
            .expires_in(Duration::from_secs(3600))
            .escalation(Escalation::after_minutes(15, ["executive-team"]))
            .context(json!({"ticket": "PROJ-1"})),
    );
    let id = approval.request_id();
    approval.submit_only::<Failure>().await.unwrap();
    let loaded = env.store.load(id).await.unwrap();
    let submitted = loaded.aggregate.state.submitted.as_ref().unwrap();
    let plan = &submitted.plan;
    assert_eq!(plan.title, "Release 1.4.2");
    assert_eq!(plan.stages.len(), 2);
    assert_eq!(plan.expires_at, Some(signoff_tests::t0() + Span::hours(1)));
    assert_eq!(plan.escalation.len(), 1);
    assert_eq!(
        submitted.context.as_ref().map(|c| c.as_str()),
        Some(r#"{"ticket":"PROJ-1"}"#)
    );
    approve_all(&env, id, &["maria"]).await;
    approve_all(&env, id, &["sofia"]).await;
    assert_eq!(
        env.store.load(id).await.unwrap().aggregate.state.status,
        Status::Approved
    );
}
