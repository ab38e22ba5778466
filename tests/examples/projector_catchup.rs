//! Projector catch-up rate: fills a stream with real commits (each request:
//! a submit commit and an approval commit that decides it, 4 events), then
//! folds the whole stream into fresh sled databases — once through the
//! rebuild path (ordered consumer) and once through the projector's durable
//! consumer — and prints events per second applied with checkpoints.
//!
//! `cargo run --release -p signoff-tests --example projector_catchup [-- REQUESTS]`
//! (default 25,000 requests = 50,000 commits = 100,000 events)

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage};
use futures::future::join_all;
use signoff_api::local_nats::{LocalNats, NatsServerOptions};
use signoff_engine::{
    decide, Action, ApprovalCommand, ApprovalRequest, CommandId, RawJson, RequestId, WorkflowSpec,
};
use signoff_eventstore::{Commit, StreamSettings};
use signoff_projections::{ProjectionDb, Projector};
use signoff_tests::{actor, demo_directory, t0};
use uuid::Uuid;

fn commits_for_request(
    spec: &WorkflowSpec,
    directory: &signoff_engine::StaticDirectory,
) -> (Commit, Commit) {
    let id = RequestId(Uuid::new_v4());
    let mut state = ApprovalRequest::default();
    let commit = |user: &str, action: Action, state: &mut ApprovalRequest| {
        let command = ApprovalCommand {
            command_id: CommandId(Uuid::new_v4()),
            request_id: id,
            actor: actor(user),
            at: t0(),
            action,
        };
        let events = decide(state, &command, directory).expect("valid command");
        for e in &events {
            state.apply(e.clone()).expect("folds");
        }
        Commit {
            schema_version: signoff_engine::EVENT_SCHEMA_VERSION,
            request_id: id,
            command_id: command.command_id,
            command_hash: "bench".into(),
            action: command.action.name().into(),
            actor: command.actor.user.clone(),
            at: command.at,
            events,
        }
    };
    let submit = commit(
        "alice",
        Action::Submit {
            spec: Box::new(spec.clone()),
            params: RawJson::parse(r#"{"amount":50000,"to":"B-2"}"#).unwrap(),
        },
        &mut state,
    );
    let approve = commit(
        "maria",
        Action::Approve {
            comment: Some("ok".into()),
            params_hash: None,
        },
        &mut state,
    );
    (submit, approve)
}

async fn publish(
    js: &jetstream::Context,
    settings: &StreamSettings,
    commit: &Commit,
    expected: u64,
) -> u64 {
    let message = PublishMessage::build()
        .payload(commit.encode().unwrap().into())
        .message_id(commit.command_id.to_string())
        .expected_last_subject_sequence(expected);
    js.send_publish(settings.subject(commit.request_id), message)
        .await
        .unwrap()
        .await
        .unwrap()
        .sequence
}

#[tokio::main]
async fn main() {
    let requests: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(25_000);
    let dir = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(NatsServerOptions {
        store_dir: dir.path().join("js"),
        ..Default::default()
    })
    .await
    .expect("nats-server (run `cargo xtask nats-server` first)");
    let client = async_nats::connect(nats.url()).await.unwrap();
    let settings = StreamSettings::default();
    let js = jetstream::new(client.clone());
    js.create_stream(settings.stream_config()).await.unwrap();
    let directory = demo_directory();
    let spec = WorkflowSpec::from_json(r#"{"title":"Deploy","approvers":["manager-team"],"context":{"ticket":"PROJ-1","impact":"low"}}"#).unwrap();

    let started = Instant::now();
    let pairs: Vec<(Commit, Commit)> = (0..requests)
        .map(|_| commits_for_request(&spec, &directory))
        .collect();
    let events: usize = pairs
        .iter()
        .map(|(a, b)| a.events.len() + b.events.len())
        .sum();
    for chunk in pairs.chunks(256) {
        let firsts = join_all(chunk.iter().map(|(s, _)| publish(&js, &settings, s, 0))).await;
        join_all(
            chunk
                .iter()
                .zip(firsts)
                .map(|((_, a), seq)| publish(&js, &settings, a, seq)),
        )
        .await;
    }
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
        "loaded {requests} requests, {last} commits, {events} events in {:.1?}",
        started.elapsed()
    );

    let rebuilt = ProjectionDb::open(&dir.path().join("rebuild")).unwrap();
    let started = Instant::now();
    signoff_projections::rebuild(client.clone(), &settings, &rebuilt, 1000)
        .await
        .unwrap();
    let rebuild_secs = started.elapsed().as_secs_f64();

    let live = ProjectionDb::open(&dir.path().join("projector")).unwrap();
    let projector = Arc::new(Projector::new(
        client.clone(),
        settings.clone(),
        live.clone(),
    ));
    let started = Instant::now();
    let run = tokio::spawn({
        let projector = projector.clone();
        async move { projector.run(std::future::pending()).await }
    });
    assert!(live.wait_for(last, Duration::from_secs(600)).await.unwrap());
    let projector_secs = started.elapsed().as_secs_f64();
    run.abort();
    assert_eq!(
        rebuilt.dump().unwrap(),
        live.dump().unwrap(),
        "both paths reach the same bytes"
    );

    println!("path                         events/s   commits/s   seconds");
    println!(
        "rebuild (ordered consumer)   {:>8.0}   {:>9.0}   {:>7.2}",
        events as f64 / rebuild_secs,
        last as f64 / rebuild_secs,
        rebuild_secs
    );
    println!(
        "projector (durable consumer) {:>8.0}   {:>9.0}   {:>7.2}",
        events as f64 / projector_secs,
        last as f64 / projector_secs,
        projector_secs
    );
}
