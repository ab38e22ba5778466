//! What `sync_interval: always` costs: JetStream appends of commit-sized
//! messages (1 KiB, expected-last-subject-sequence and msg-id headers, one
//! subject per request) against a server with the default sync and one that
//! fsyncs every write. Prints appends per second, one caller and 64 in flight.
//!
//! `cargo run --release -p signoff-tests --example sync_cost [-- N]`

use std::time::Instant;

use async_nats::jetstream::{self, message::PublishMessage};
use futures::future::join_all;
use signoff_api::local_nats::{LocalNats, NatsServerOptions};
use signoff_eventstore::StreamSettings;

async fn append(js: &jetstream::Context, i: usize, payload: &bytes::Bytes) {
    let message = PublishMessage::build()
        .payload(payload.clone())
        .message_id(uuid::Uuid::new_v4().to_string())
        .expected_last_subject_sequence(0);
    js.send_publish(format!("signoff.events.{i}"), message)
        .await
        .expect("publish")
        .await
        .expect("ack");
}

async fn measure(sync_always: bool, n: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(NatsServerOptions {
        store_dir: dir.path().join("js"),
        port: None,
        sync_always,
        extra_config: None,
        server_name: None,
    })
    .await
    .expect("nats-server (run `cargo xtask nats-server` first)");
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = jetstream::new(client);
    js.create_stream(StreamSettings::default().stream_config())
        .await
        .unwrap();
    let payload = bytes::Bytes::from(vec![7u8; 1024]);
    let start = Instant::now();
    for i in 0..n {
        append(&js, i, &payload).await;
    }
    let sequential = n as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    for chunk in (n..3 * n).collect::<Vec<_>>().chunks(64) {
        join_all(chunk.iter().map(|&i| append(&js, i, &payload))).await;
    }
    let pipelined = (2 * n) as f64 / start.elapsed().as_secs_f64();
    (sequential, pipelined)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let (default_seq, default_pipe) = measure(false, n).await;
    let (always_seq, always_pipe) = measure(true, n).await;
    println!("appends/s (1 KiB, one subject each)   1 caller   64 in flight");
    println!("default sync (2 min)                 {default_seq:>9.0}   {default_pipe:>12.0}");
    println!("sync_interval: always                {always_seq:>9.0}   {always_pipe:>12.0}");
    println!(
        "cost of always: {:.1}x fewer (1 caller), {:.1}x fewer (64 in flight)",
        default_seq / always_seq,
        default_pipe / always_pipe
    );
}
