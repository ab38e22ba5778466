//! The fault suite on one node: kill -9 the nats-server mid-load; freeze it
//! (SIGSTOP) longer than the callers' timeouts; kill -9 the gateway between
//! append and reply; kill -9 the projector and the scheduler mid-batch. After
//! each, from the log: every acknowledged command is there exactly once, at
//! the sequence its reply named, and the views equal a clean rebuild.
//! `cargo xtask faults` runs more rounds (`SIGNOFF_FAULTS_LONG`).

use std::time::Duration;

use chrono::Duration as Span;
use futures::StreamExt;
use serde_json::json;
use signoff_api::clock::FileClock;
use signoff_tests::faults::{
    assert_nothing_lost, assert_views_equal_rebuild, audit_log, eventually, last_sequence, rounds,
    send_until_acknowledged, wait_for_gateway, Ledger, SignoffProcess, Workload, RECOVERY,
};
use signoff_tests::{t0, TestEnv};
use uuid::Uuid;

/// Timeout of one attempt; a retry follows with the same command id.
const ATTEMPT: Duration = Duration::from_secs(2);
const LANES: usize = 8;

fn workload(env: &TestEnv, attempt: Duration) -> Workload {
    Workload::start(
        env.client_as("alice").with_timeout(attempt),
        env.client_as("maria").with_timeout(attempt),
        LANES,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_killed_mid_load_loses_nothing_acknowledged() {
    let mut env = TestEnv::start().await;
    let read_side = env.start_read_side().await;
    let load = workload(&env, ATTEMPT);
    let kills = rounds(2, 10);
    for _ in 0..kills {
        load.progress("load before the kill", 40).await;
        env.nats.kill().await.expect("kill -9 nats-server");
        env.nats.restart().await.expect("restart nats-server");
        load.progress("load after the restart", 40).await;
    }
    let ledger = load.finish().await;
    assert_nothing_lost(
        "nats-kill-9",
        &ledger,
        &format!("kills={kills} retries={}", ledger.retries()),
        env.client.clone(),
        &env.store,
        &read_side.db,
        &env.temp_path("clean"),
    )
    .await;
    read_side.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_paused_longer_than_client_timeouts_loses_nothing() {
    let env = TestEnv::start().await;
    let read_side = env.start_read_side().await;
    // Callers give up on an attempt after 1 s; the server stays frozen for 3 s.
    let attempt = Duration::from_secs(1);
    let load = workload(&env, attempt);
    let pauses = rounds(1, 5);
    for _ in 0..pauses {
        load.progress("load before the pause", 40).await;
        let retries = load.ledger.retries();
        env.nats.pause().expect("SIGSTOP");
        // Frozen until every caller has timed out at least once.
        eventually("callers time out and retry", RECOVERY, || async {
            load.ledger.retries() >= retries + LANES as u64
        })
        .await;
        env.nats.resume().expect("SIGCONT");
        load.progress("load after the resume", 40).await;
    }
    let ledger = load.finish().await;
    assert_nothing_lost(
        "nats-sigstop",
        &ledger,
        &format!(
            "pauses={pauses} retries={} recovered_answers={}",
            ledger.retries(),
            ledger.recovered_answers()
        ),
        env.client.clone(),
        &env.store,
        &read_side.db,
        &env.temp_path("clean"),
    )
    .await;
    read_side.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_killed_between_append_and_reply_answers_the_retry_with_the_original() {
    // Only `signoff gateway` processes answer commands here.
    let env = TestEnv::start_with_gateways(0).await;
    let config = env.temp_path("signoff.json");
    env.config().save(&config).unwrap();
    let read_side = env.start_read_side().await;
    let mut gateway = SignoffProcess::gateway(&config);
    wait_for_gateway(&env.client).await;
    // More callers than elsewhere: with fsync on every append, many commands
    // sit between "stored" and "answered" at any instant.
    let load = Workload::start(
        env.client_as("alice").with_timeout(ATTEMPT),
        env.client_as("maria").with_timeout(ATTEMPT),
        32,
    );
    let (min_kills, max_kills) = (rounds(3, 20), rounds(30, 60));
    let mut kills = 0;
    // Kill until at least one command was appended and its reply lost, and
    // its retry answered with the original (counted by the ledger).
    while kills < min_kills || load.ledger.recovered_answers() == 0 {
        assert!(
            kills < max_kills,
            "{kills} kills never landed between an append and its reply"
        );
        load.progress("load before the kill", 30).await;
        gateway.kill9();
        kills += 1;
        gateway = SignoffProcess::gateway(&config);
        wait_for_gateway(&env.client).await;
        load.progress("load after the restart", 30).await;
    }
    let ledger = load.finish().await;
    drop(gateway);
    assert_nothing_lost(
        "gateway-kill-9",
        &ledger,
        &format!(
            "kills={kills} appended_unanswered_then_answered_on_retry={}",
            ledger.recovered_answers()
        ),
        env.client.clone(),
        &env.store,
        &read_side.db,
        &env.temp_path("clean"),
    )
    .await;
    read_side.shutdown().await;
}

const ESCALATING: &str = r#"{"title":"Critical Fix","approvers":["on-call-team"],"expiresIn":3600,
    "escalation":{"afterMinutes":15,"to":["manager-team"],"afterMinutes2":30,"to2":["executive-team"]}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projector_and_scheduler_killed_mid_batch_apply_everything_once() {
    let env = TestEnv::start().await;
    let config = env.temp_path("signoff.json");
    env.config().save(&config).unwrap();
    let clock_file = env.temp_path("now");
    FileClock::write(&clock_file, t0()).unwrap();
    let db_path = env.temp_path("projection");

    // Requests whose deadlines the scheduler will fire: 3 each.
    let deadlines_of = rounds(40, 150);
    let setup = Ledger::new();
    let alice = env.client_as("alice").with_timeout(ATTEMPT);
    let mut escalating = Vec::new();
    for _ in 0..deadlines_of {
        let request_id = Uuid::new_v4();
        let submit = json!({"commandId": Uuid::new_v4(), "requestId": request_id,
            "spec": serde_json::from_str::<serde_json::Value>(ESCALATING).unwrap()});
        let give_up = std::time::Instant::now() + RECOVERY;
        send_until_acknowledged(&alice, "submit", &submit, &setup, give_up)
            .await
            .expect("submitted");
        escalating.push(signoff_engine::RequestId(request_id));
    }

    let projector = || {
        SignoffProcess::spawn(&[
            "projector".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
            "--db".as_ref(),
            db_path.as_os_str(),
            "--http".as_ref(),
            "127.0.0.1:0".as_ref(),
        ])
    };
    let scheduler = || {
        SignoffProcess::spawn(&[
            "scheduler".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
            "--clock-file".as_ref(),
            clock_file.as_os_str(),
        ])
    };
    let fired = || async {
        let mut fired = 0;
        for &id in &escalating {
            fired += env.event_names(id).await.len() - 1;
        }
        fired
    };
    let total_deadlines = 3 * escalating.len();

    // Commands keep flowing through all of it, at a bounded rate (up to
    // 4 callers x 2 commands per 20 ms), so the scheduler is not starved.
    let load = Workload::start_paced(
        env.client_as("alice").with_timeout(ATTEMPT),
        env.client_as("maria").with_timeout(ATTEMPT),
        4,
        Some(Duration::from_millis(20)),
    );

    // The projector: killed repeatedly while the log grows under it.
    let projector_kills = rounds(4, 20);
    let mut killed_behind = 0;
    for _ in 0..projector_kills {
        let process = projector();
        load.progress("load while the projector runs", 40).await;
        let behind = last_sequence(&env.store).await;
        process.kill9();
        let projected = signoff_projections::ProjectionDb::open(&db_path)
            .map(|db| db.checkpoint().unwrap_or(0))
            .unwrap_or(0);
        if projected < behind {
            killed_behind += 1;
        }
    }

    // The scheduler: follows the log, then the clock jumps past every
    // deadline and it is killed while firing them.
    env.clock.advance(Span::hours(3));
    FileClock::write(&clock_file, t0() + Span::hours(3)).unwrap();
    let scheduler_kills = rounds(1, 3);
    let mut fired_at_kills = Vec::new();
    for _ in 0..scheduler_kills {
        let before = fired().await;
        if before == total_deadlines {
            break;
        }
        // Killed the moment its first deadline command lands in the log,
        // seen on the subjects as it is appended: reading back every
        // request to notice it took longer than the scheduler takes to fire
        // all of them.
        let mut appended = env
            .client
            .subscribe(format!("{}.>", env.store.settings().subject_prefix))
            .await
            .expect("subscribe to the log's subjects");
        signoff_api::gateway::server_round_trip(&env.client)
            .await
            .expect("subscription live");
        let process = scheduler();
        tokio::time::timeout(RECOVERY, async {
            while let Some(message) = appended.next().await {
                let action = message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(signoff_eventstore::commit::HEADER_ACTION))
                    .map(|v| v.as_str().to_owned());
                if matches!(action.as_deref(), Some("escalate" | "expire")) {
                    break;
                }
            }
        })
        .await
        .expect("the scheduler fires");
        process.kill9();
        drop(appended);
        fired_at_kills.push(fired().await);
    }
    let process = scheduler();
    eventually("every deadline fires", RECOVERY, || async {
        fired().await == total_deadlines
    })
    .await;
    process.kill9();

    let ledger = load.finish().await;
    for &id in &escalating {
        assert_eq!(
            env.event_names(id).await,
            [
                "RequestSubmitted",
                "RequestEscalated",
                "RequestEscalated",
                "RequestExpired"
            ],
            "each deadline exactly once, in order"
        );
    }
    let audit = audit_log(&env.store, &ledger).await;
    audit.print_and_assert(
        "projector-and-scheduler-kill-9",
        &ledger,
        &format!(
            "projector_kills={projector_kills} killed_behind_the_log={killed_behind} \
             scheduler_killed_after={fired_at_kills:?}_of_{total_deadlines}_deadlines"
        ),
    );
    assert!(
        fired_at_kills.iter().any(|&f| f < total_deadlines),
        "a scheduler was killed mid-batch: {fired_at_kills:?} of {total_deadlines}"
    );
    assert!(killed_behind > 0, "a projector was killed behind the log");

    // The killed projector's database, resumed, equals a clean rebuild.
    let survivor = env.start_read_side_at(&db_path).await;
    assert_views_equal_rebuild(
        env.client.clone(),
        &env.store,
        &survivor.db,
        &env.temp_path("clean"),
    )
    .await;
    survivor.shutdown().await;
}
