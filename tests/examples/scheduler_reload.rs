//! Scheduler reload: fills a stream with REQUESTS pending requests (each with
//! an expiry and two escalation levels: three deadlines), then starts a
//! scheduler and measures how long it takes to read the whole log back into
//! its deadline set (what a restart costs) and how much memory that set adds.
//!
//! `cargo run --release -p signoff-tests --example scheduler_reload [-- REQUESTS]` (default 100,000)

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage};
use futures::future::join_all;
use signoff_api::clock::ManualClock;
use signoff_api::identity::TokenIssuer;
use signoff_api::local_nats::{LocalNats, NatsServerOptions};
use signoff_api::scheduler::Scheduler;
use signoff_engine::{
    decide, Action, ApprovalCommand, ApprovalRequest, CommandId, RawJson, RequestId, WorkflowSpec,
};
use signoff_eventstore::{Commit, EventStore, StreamSettings};
use signoff_tests::{actor, demo_directory, t0, test_auth};
use uuid::Uuid;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::main]
async fn main() {
    let requests: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(NatsServerOptions {
        store_dir: dir.path().join("js"),
        ..Default::default()
    })
    .await
    .expect("nats-server (run `cargo xtask nats-server` first)");
    let client = async_nats::connect(nats.url()).await.unwrap();
    let settings = StreamSettings::default();
    let store = Arc::new(
        EventStore::open(client.clone(), settings.clone())
            .await
            .unwrap(),
    );
    let js = jetstream::new(client.clone());
    let directory = demo_directory();
    let spec = WorkflowSpec::from_json(
        r#"{"title":"Critical Fix","approvers":["on-call-team"],"expiresIn":86400,
            "escalation":{"afterMinutes":15,"to":["manager-team"],"afterMinutes2":30,"to2":["executive-team"]}}"#,
    )
    .unwrap();
    let started = Instant::now();
    let commits: Vec<Commit> = (0..requests)
        .map(|_| {
            let id = RequestId(Uuid::new_v4());
            let command = ApprovalCommand {
                command_id: CommandId(Uuid::new_v4()),
                request_id: id,
                actor: actor("alice"),
                at: t0(),
                action: Action::Submit {
                    spec: Box::new(spec.clone()),
                    params: RawJson::parse("{}").unwrap(),
                },
            };
            let events = decide(&ApprovalRequest::default(), &command, &directory).unwrap();
            Commit {
                schema_version: signoff_engine::EVENT_SCHEMA_VERSION,
                request_id: id,
                command_id: command.command_id,
                command_hash: "bench".into(),
                action: "submit".into(),
                actor: command.actor.user.clone(),
                at: t0(),
                events,
            }
        })
        .collect();
    for chunk in commits.chunks(512) {
        join_all(chunk.iter().map(|c| {
            let message = PublishMessage::build()
                .payload(c.encode().unwrap().into())
                .expected_last_subject_sequence(0);
            let js = js.clone();
            let subject = settings.subject(c.request_id);
            async move {
                js.send_publish(subject, message)
                    .await
                    .unwrap()
                    .await
                    .unwrap()
            }
        }))
        .await;
    }
    drop(commits);
    let last = js
        .get_stream(&settings.name)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .last_sequence;
    println!(
        "loaded {requests} pending requests ({} deadlines) in {:.1?}",
        requests * 3,
        started.elapsed()
    );

    let before = rss_bytes();
    let clock = Arc::new(ManualClock::new(t0())); // nothing falls due during the measurement
    let scheduler = Arc::new(Scheduler::new(
        client,
        store,
        TokenIssuer::new(&test_auth()).unwrap(),
        clock,
    ));
    let started = Instant::now();
    let handle = scheduler.clone().spawn();
    while scheduler.stats.position.load(Ordering::Relaxed) < last {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let reload = started.elapsed();
    let after = rss_bytes();
    let pending = scheduler.stats.pending.load(Ordering::Relaxed);
    handle.abort();
    let grown = after.saturating_sub(before).max(1);
    println!(
        "reload of {pending} pending deadlines: {reload:.2?} ({:.0} commits/s)",
        last as f64 / reload.as_secs_f64()
    );
    println!(
        "process RSS grew {:.1} MiB while loading: about {:.0} deadlines per GiB ({} bytes each, upper bound)",
        grown as f64 / (1 << 20) as f64,
        pending as f64 * (1u64 << 30) as f64 / grown as f64,
        grown / pending.max(1)
    );
}
