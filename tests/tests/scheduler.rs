//! The deadline scheduler through the real stack, on a clock the test moves:
//! expiry and the guide's two-level escalation fire through the gateway; a
//! decision cancels the deadlines left; a scheduler that crashed before its
//! deadlines fires every overdue one exactly once, in order, after a restart;
//! two schedulers at once apply each deadline once.

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Duration as Span;
use signoff_api::scheduler::{Deadline, DeadlineKind, SchedulerHandle};
use signoff_engine::{RequestId, Status};
use signoff_tests::{accepted, eventually, TestEnv};

const ESCALATING: &str = r#"{"title":"Critical Fix","description":"Apply critical system fix","approvers":["on-call-team"],
    "expiresIn":3600,"escalation":{"afterMinutes":15,"to":["manager-team"],"afterMinutes2":30,"to2":["executive-team"]}}"#;

/// Waits until the scheduler has folded the log up to its current end.
async fn caught_up(env: &TestEnv, scheduler: &SchedulerHandle) {
    let last = env.last_sequence().await;
    eventually("the scheduler reads the whole log", || async {
        scheduler.scheduler.stats.position.load(Ordering::Relaxed) >= last
    })
    .await;
}

async fn names(env: &TestEnv, id: RequestId) -> Vec<&'static str> {
    env.event_names(id).await
}

#[tokio::test]
async fn expiry_fires_once_through_the_gateway_when_the_clock_passes_it() {
    let env = TestEnv::start().await;
    let scheduler = env.start_scheduler().await;
    let (id, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"Time-Sensitive Action","approvers":["operations-team"],"expiresIn":3600}"#,
            "{}",
        )
        .await;
    caught_up(&env, &scheduler).await;
    assert_eq!(scheduler.scheduler.stats.pending.load(Ordering::Relaxed), 1);
    env.clock.advance(Span::minutes(60));
    eventually("the request expires", || async {
        names(&env, id).await.contains(&"RequestExpired")
    })
    .await;
    let commits = env.commits(id).await;
    let expired = commits.last().unwrap();
    let expected = Deadline {
        due_at: signoff_tests::t0() + Span::hours(1),
        request_id: id,
        kind: DeadlineKind::Expire,
    };
    assert_eq!(
        expired.commit.command_id.0,
        expected.command_id(),
        "the deadline's own command id"
    );
    assert_eq!(expired.commit.actor.as_str(), "scheduler");
    caught_up(&env, &scheduler).await;
    assert_eq!(scheduler.scheduler.stats.pending.load(Ordering::Relaxed), 0);
    scheduler.shutdown().await;
}

#[tokio::test]
async fn the_guides_escalation_reaches_a_manager_who_approves_and_level_two_never_fires() {
    let env = TestEnv::start().await;
    let scheduler = env.start_scheduler().await;
    let (id, _) = env.submit_ok("alice", ESCALATING, "{}").await;
    caught_up(&env, &scheduler).await;
    assert_eq!(
        scheduler.scheduler.stats.pending.load(Ordering::Relaxed),
        3,
        "expiry and two levels"
    );
    env.clock.advance(Span::minutes(15));
    eventually("level 1 escalates", || async {
        names(&env, id).await.contains(&"RequestEscalated")
    })
    .await;
    let approved = accepted(env.approve("maria", id).await);
    assert_eq!(approved.state.status, Status::Approved);
    caught_up(&env, &scheduler).await;
    assert_eq!(
        scheduler.scheduler.stats.pending.load(Ordering::Relaxed),
        0,
        "the decision drops level 2 and the expiry"
    );
    env.clock.advance(Span::minutes(60));
    caught_up(&env, &scheduler).await;
    assert_eq!(
        names(&env, id).await,
        [
            "RequestSubmitted",
            "RequestEscalated",
            "ApprovalGranted",
            "StageApproved",
            "RequestApproved"
        ]
    );
    scheduler.shutdown().await;
}

#[tokio::test]
async fn a_decision_before_the_first_level_cancels_every_escalation() {
    let env = TestEnv::start().await;
    let scheduler = env.start_scheduler().await;
    let (id, _) = env.submit_ok("alice", ESCALATING, "{}").await;
    accepted(env.approve("oscar", id).await);
    caught_up(&env, &scheduler).await;
    assert_eq!(scheduler.scheduler.stats.pending.load(Ordering::Relaxed), 0);
    env.clock.advance(Span::hours(2));
    caught_up(&env, &scheduler).await;
    assert_eq!(
        names(&env, id).await,
        [
            "RequestSubmitted",
            "ApprovalGranted",
            "StageApproved",
            "RequestApproved"
        ]
    );
    assert_eq!(scheduler.scheduler.stats.fired.load(Ordering::Relaxed), 0);
    scheduler.shutdown().await;
}

#[tokio::test]
async fn a_scheduler_crashed_before_its_deadlines_fires_each_overdue_one_once_in_order_after_restart(
) {
    let env = TestEnv::start().await;
    let crashed = env.start_scheduler().await;
    let (id, _) = env.submit_ok("alice", ESCALATING, "{}").await;
    caught_up(&env, &crashed).await;
    crashed.abort(); // no goodbye, like a crash
    env.clock.advance(Span::hours(3)); // long after every deadline
    let restarted = env.start_scheduler().await;
    eventually("the request expires", || async {
        names(&env, id).await.contains(&"RequestExpired")
    })
    .await;
    caught_up(&env, &restarted).await;
    assert_eq!(
        names(&env, id).await,
        [
            "RequestSubmitted",
            "RequestEscalated",
            "RequestEscalated",
            "RequestExpired"
        ]
    );
    assert_eq!(restarted.scheduler.stats.fired.load(Ordering::Relaxed), 3);
    restarted.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_at_once_apply_each_deadline_once() {
    let env = TestEnv::start().await;
    let one = env.start_scheduler().await;
    let two = env.start_scheduler().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(env.submit_ok("alice", ESCALATING, "{}").await.0);
    }
    caught_up(&env, &one).await;
    caught_up(&env, &two).await;
    env.clock.advance(Span::hours(2));
    for &id in &ids {
        eventually("every request expires", || async {
            names(&env, id).await.contains(&"RequestExpired")
        })
        .await;
    }
    caught_up(&env, &one).await;
    caught_up(&env, &two).await;
    for &id in &ids {
        assert_eq!(
            names(&env, id).await,
            [
                "RequestSubmitted",
                "RequestEscalated",
                "RequestEscalated",
                "RequestExpired"
            ]
        );
    }
    let fired = one.scheduler.stats.fired.load(Ordering::Relaxed)
        + two.scheduler.stats.fired.load(Ordering::Relaxed);
    assert_eq!(
        fired, 15,
        "5 requests × (2 levels + expiry), each applied by exactly one scheduler"
    );
    one.shutdown().await;
    two.shutdown().await;
}

#[tokio::test]
async fn expiry_outcomes_expire_reject_or_approve_as_the_spec_says_and_record_the_rule() {
    let env = TestEnv::start().await;
    let scheduler = env.start_scheduler().await;
    let spec = |on_expiry: &str| {
        format!(
            r#"{{"title":"Time-Sensitive Action","approvers":["operations-team"],"expiresIn":600{on_expiry}}}"#
        )
    };
    let (default, _) = env.submit_ok("alice", &spec(""), "{}").await;
    let (rejecting, _) = env
        .submit_ok("alice", &spec(r#","onExpiry":"reject""#), "{}")
        .await;
    let (approving, _) = env
        .submit_ok("alice", &spec(r#","onExpiry":"approve""#), "{}")
        .await;
    let (_, refused) = env
        .submit(
            "alice",
            r#"{"title":"T","approvers":["otto"],"onExpiry":"approve"}"#,
            "{}",
        )
        .await;
    let refused = signoff_tests::refused(refused);
    assert_eq!(
        (refused.code.as_str(), refused.field.as_deref()),
        ("INVALID_SPEC", Some("spec.onExpiry"))
    );
    caught_up(&env, &scheduler).await;
    env.clock.advance(Span::minutes(10));
    for id in [default, rejecting, approving] {
        eventually("every request is decided", || async {
            names(&env, id).await.len() == 2
        })
        .await;
    }
    assert_eq!(
        names(&env, default).await,
        ["RequestSubmitted", "RequestExpired"]
    );
    assert_eq!(
        names(&env, rejecting).await,
        ["RequestSubmitted", "RequestRejected"]
    );
    assert_eq!(
        names(&env, approving).await,
        ["RequestSubmitted", "RequestApproved"]
    );
    let env = &env;
    let last = |id| async move {
        env.commits(id)
            .await
            .pop()
            .unwrap()
            .commit
            .events
            .pop()
            .unwrap()
    };
    assert!(
        matches!(last(rejecting).await, signoff_engine::ApprovalEvent::RequestRejected(r) if r.expired_at.is_some() && r.rejections.is_empty())
    );
    assert!(matches!(
        last(approving).await,
        signoff_engine::ApprovalEvent::RequestApproved(a) if matches!(a.basis, signoff_engine::event::ApprovalBasis::ExpiryRule { .. })
    ));
    // The audit trail names the rule.
    let read_side = env.start_read_side().await;
    assert!(read_side
        .db
        .wait_for(env.last_sequence().await, Duration::from_secs(20))
        .await
        .unwrap());
    let rule = |id| {
        read_side
            .db
            .audit_for_request(id)
            .unwrap()
            .pop()
            .unwrap()
            .rule
            .unwrap()
    };
    assert!(
        rule(approving).starts_with("onExpiry: approve"),
        "{}",
        rule(approving)
    );
    assert!(
        rule(rejecting).starts_with("onExpiry: reject"),
        "{}",
        rule(rejecting)
    );
    assert!(
        rule(default).starts_with("expiresIn elapsed"),
        "{}",
        rule(default)
    );
    read_side.shutdown().await;
    scheduler.shutdown().await;
}

#[tokio::test]
async fn deadlines_in_business_hours_skip_the_weekend() {
    use chrono::TimeZone;
    let env = TestEnv::start().await;
    // Friday 2026-11-27 16:00 in Berlin (UTC+1).
    env.clock.set(
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 27, 15, 0, 0)
            .unwrap(),
    );
    let scheduler = env.start_scheduler().await;
    let spec = r#"{"title":"Vendor payment","approvers":["finance-team"],"businessHours":"eu-office",
        "expiresIn":28800,"escalation":[{"afterMinutes":120,"to":["manager-team"]}]}"#;
    let (id, _) = env.submit_ok("alice", spec, "{}").await;
    let commits = env.commits(id).await;
    let signoff_engine::ApprovalEvent::RequestSubmitted(submitted) = &commits[0].commit.events[0]
    else {
        panic!()
    };
    let monday = |h| chrono::Utc.with_ymd_and_hms(2026, 11, 30, h, 0, 0).unwrap();
    assert_eq!(submitted.plan.business_hours.as_deref(), Some("eu-office"));
    assert_eq!(
        submitted.plan.escalation[0].due_at,
        monday(9),
        "1 h on Friday + 1 h from Monday 09:00 Berlin"
    );
    assert_eq!(
        submitted.plan.expires_at,
        Some(monday(15)),
        "1 h on Friday + 7 h on Monday: 16:00 Berlin"
    );
    caught_up(&env, &scheduler).await;
    env.clock.set(monday(9));
    eventually("the escalation fires on Monday", || async {
        names(&env, id).await.contains(&"RequestEscalated")
    })
    .await;
    env.clock.set(monday(15));
    eventually("the request expires on Monday afternoon", || async {
        names(&env, id).await.contains(&"RequestExpired")
    })
    .await;
    let (_, unknown) = env
        .submit(
            "alice",
            r#"{"title":"T","approvers":["otto"],"expiresIn":60,"businessHours":"mars-base"}"#,
            "{}",
        )
        .await;
    let unknown = signoff_tests::refused(unknown);
    assert_eq!(
        (unknown.code.as_str(), unknown.field.as_deref()),
        ("INVALID_SPEC", Some("spec.businessHours"))
    );
    scheduler.shutdown().await;
}

#[tokio::test]
async fn reminders_re_notify_the_current_approvers_and_a_late_one_covers_the_missed_periods() {
    let env = TestEnv::start().await;
    let scheduler = env.start_scheduler().await;
    let spec = r#"{"title":"Critical Fix","approvers":["on-call-team"],"expiresIn":7200,"remindEveryMinutes":10}"#;
    let (id, _) = env.submit_ok("alice", spec, "{}").await;
    // A hand-sent reminder before its time, or out of order, is refused.
    let early = signoff_tests::refused(
        env.act("scheduler", "remind", id, serde_json::json!({"number": 1}))
            .await,
    );
    assert_eq!(early.code, "NOT_YET_DUE");
    caught_up(&env, &scheduler).await;
    env.clock.advance(Span::minutes(10));
    eventually("reminder 1", || async {
        env_commits_reminders(&env, id).await.len() == 1
    })
    .await;
    let first = &env_commits_reminders(&env, id).await[0];
    assert_eq!(first.number, 1);
    assert_eq!(
        first.to.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["team on-call-team"]
    );
    env.clock.advance(Span::minutes(25)); // 35 minutes: periods 2 and 3 are due
    eventually("one late reminder", || async {
        env_commits_reminders(&env, id).await.len() == 2
    })
    .await;
    assert_eq!(
        env_commits_reminders(&env, id).await[1].number,
        3,
        "one reminder for the latest period, not a burst"
    );
    let stale = signoff_tests::refused(
        env.act("scheduler", "remind", id, serde_json::json!({"number": 2}))
            .await,
    );
    assert_eq!(stale.code, "REMINDER_OUT_OF_ORDER");
    accepted(env.approve("oscar", id).await);
    caught_up(&env, &scheduler).await;
    assert_eq!(
        scheduler.scheduler.stats.pending.load(Ordering::Relaxed),
        0,
        "a decision ends the reminders"
    );
    env.clock.advance(Span::minutes(60));
    caught_up(&env, &scheduler).await;
    assert_eq!(env_commits_reminders(&env, id).await.len(), 2);
    scheduler.shutdown().await;
}

async fn env_commits_reminders(
    env: &TestEnv,
    id: RequestId,
) -> Vec<signoff_engine::event::ReminderSent> {
    env.commits(id)
        .await
        .into_iter()
        .flat_map(|c| c.commit.events)
        .filter_map(|e| match e {
            signoff_engine::ApprovalEvent::ReminderSent(r) => Some(r),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_stage_expires_by_its_own_clock_counted_from_when_it_became_current() {
    let env = TestEnv::start().await;
    let scheduler = env.start_scheduler().await;
    let spec = r#"{"stages":[
        {"title":"Manager Approval","approvers":["manager-team"],"expiresIn":600},
        {"title":"Security Review","approvers":["security-team"],"expiresIn":600}]}"#;
    let (id, _) = env.submit_ok("alice", spec, "{}").await;
    env.clock.advance(Span::minutes(5));
    accepted(env.approve("maria", id).await); // stage 1 becomes current at t0 + 5 min
    caught_up(&env, &scheduler).await;
    env.clock.advance(Span::minutes(7)); // t0 + 12: stage 0's deadline passed, stage 1's has not
    let not_yet = signoff_tests::refused(
        env.act("scheduler", "expire", id, serde_json::json!({}))
            .await,
    );
    assert_eq!(
        not_yet.code, "NOT_YET_DUE",
        "the stage that is current now decides: {}",
        not_yet.message
    );
    env.clock.advance(Span::minutes(3)); // t0 + 15: stage 1 ran out
    eventually("stage 1 expires", || async {
        names(&env, id).await.contains(&"RequestExpired")
    })
    .await;
    let commits = env.commits(id).await;
    let signoff_engine::ApprovalEvent::RequestExpired(expired) =
        &commits.last().unwrap().commit.events[0]
    else {
        panic!()
    };
    assert_eq!(expired.stage, Some(1));
    assert_eq!(expired.expires_at, signoff_tests::t0() + Span::minutes(15));
    scheduler.shutdown().await;
}

/// A commit this build cannot read (here: garbage on a request's subject,
/// as a newer writer's schema would look) costs the scheduler that commit
/// only: it is skipped and counted, and the deadlines of every request
/// before and after it still fire.
#[tokio::test]
async fn an_unreadable_commit_is_skipped_and_every_other_deadline_still_fires() {
    let env = TestEnv::start().await;
    let scheduler = env.start_scheduler().await;
    let (before, _) = env.submit_ok("alice", EXPIRES_IN_AN_HOUR, "{}").await;
    env.append_unreadable_commit().await;
    let (after, _) = env.submit_ok("alice", EXPIRES_IN_AN_HOUR, "{}").await;
    caught_up(&env, &scheduler).await;
    assert_eq!(
        scheduler.scheduler.stats.unreadable.load(Ordering::Relaxed),
        1
    );
    assert_eq!(scheduler.scheduler.stats.pending.load(Ordering::Relaxed), 2);
    expire_both(&env, [before, after]).await;
    scheduler.shutdown().await;
}

/// The scheduler follows the log across a nats-server crash and restart:
/// a deadline folded before the crash and one submitted after the restart
/// both fire, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_follows_the_log_across_a_server_restart() {
    let mut env = TestEnv::start().await;
    let scheduler = env.start_scheduler().await;
    let (before, _) = env.submit_ok("alice", EXPIRES_IN_AN_HOUR, "{}").await;
    caught_up(&env, &scheduler).await;
    env.nats.kill().await.expect("kill -9 nats-server");
    env.nats.restart().await.expect("restart nats-server");
    let (after, _) = eventually_submitted(&env, EXPIRES_IN_AN_HOUR).await;
    caught_up(&env, &scheduler).await;
    assert_eq!(scheduler.scheduler.stats.pending.load(Ordering::Relaxed), 2);
    expire_both(&env, [before, after]).await;
    for id in [before, after] {
        assert_eq!(
            names(&env, id).await,
            ["RequestSubmitted", "RequestExpired"],
            "expired once"
        );
    }
    scheduler.shutdown().await;
}

/// A request that expires an hour after submission, nothing else due.
const EXPIRES_IN_AN_HOUR: &str =
    r#"{"title":"Time-Sensitive Action","approvers":["operations-team"],"expiresIn":3600}"#;

/// Moves the clock an hour on and waits until each request has expired.
async fn expire_both(env: &TestEnv, ids: [RequestId; 2]) {
    env.clock.advance(Span::minutes(60));
    for id in ids {
        eventually("the request expires", || async {
            names(env, id).await.contains(&"RequestExpired")
        })
        .await;
    }
}

/// A submit retried until the gateway answers again after a restart.
async fn eventually_submitted(env: &TestEnv, spec: &str) -> (RequestId, signoff_schemas::Accepted) {
    for _ in 0..100 {
        if let (id, signoff_schemas::Reply::Accepted(accepted)) =
            env.submit("alice", spec, "{}").await
        {
            return (id, accepted);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no gateway accepted a submit after the restart");
}
