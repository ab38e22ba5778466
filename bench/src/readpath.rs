//! The read-side figures: the raw ordered-consumer read (the limit), the
//! projector's catch-up into sled, audit replay and verify from the log, and
//! the cost of loading one request.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use signoff_api::audit::{self, ReplayFilter, ReplayFormat};
use signoff_engine::RequestId;
use signoff_eventstore::{EventStore, Loaded};
use signoff_projections::{ProjectionDb, Projector};

use crate::world::Server;

/// Messages per second of an ordered consumer reading the whole stream,
/// payloads untouched. Returns (messages, seconds).
pub async fn raw_read(server: &Server) -> anyhow::Result<(u64, f64)> {
    let last = server.last_sequence().await?;
    let js = jetstream::new(server.client.clone());
    let stream = js
        .get_stream(&server.settings().name)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = Instant::now();
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: server.settings().all_subjects(),
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut count = 0u64;
    let mut bytes = 0usize;
    while let Some(message) = messages.next().await {
        let message = message.map_err(|e| anyhow::anyhow!("{e}"))?;
        count += 1;
        bytes += message.payload.len();
        let sequence = message
            .info()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .stream_sequence;
        if sequence >= last {
            break;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(count == last, "raw read saw {count} of {last} messages");
    anyhow::ensure!(bytes > 0);
    Ok((count, secs))
}

/// The projector (durable consumer, batches of 1,000 commits, one sled batch
/// with the checkpoint and a flush per batch, a `cache_mib` page cache) from
/// an empty database to the end of the log. Returns (commits, seconds, database).
pub async fn catch_up(
    server: &Server,
    db_path: &std::path::Path,
    cache_mib: u64,
) -> anyhow::Result<(u64, f64, ProjectionDb)> {
    let last = server.last_sequence().await?;
    let db = ProjectionDb::open_with_cache(db_path, cache_mib)?;
    let projector = std::sync::Arc::new(Projector::new(
        server.client.clone(),
        server.settings().clone(),
        db.clone(),
    ));
    let started = Instant::now();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn({
        let projector = projector.clone();
        async move {
            projector
                .run(async {
                    let _ = stopped.await;
                })
                .await
        }
    });
    let reached = db.wait_for(last, Duration::from_secs(3600)).await?;
    let secs = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    run.await??;
    anyhow::ensure!(reached, "the projector did not reach sequence {last}");
    anyhow::ensure!(db.checkpoint()? == last);
    Ok((last, secs, db))
}

/// `signoff audit replay` of the whole log (JSON lines into a sink).
/// Returns (events, seconds).
pub async fn audit_replay(store: &EventStore) -> anyhow::Result<(u64, f64)> {
    let started = Instant::now();
    let summary = audit::replay(
        store,
        &ReplayFilter {
            request: None,
            since: None,
            until: None,
        },
        ReplayFormat::Jsonl,
        std::io::sink(),
    )
    .await?;
    Ok((summary.events, started.elapsed().as_secs_f64()))
}

/// `signoff audit verify --db`: the records the log implies, compared with
/// the projector's trail record by record (hashes, links, indexes).
/// Returns (records, seconds).
pub async fn audit_verify(store: &EventStore, db: &ProjectionDb) -> anyhow::Result<(u64, f64)> {
    let started = Instant::now();
    let summary = audit::verify_projection(store, db).await?;
    let secs = started.elapsed().as_secs_f64();
    Ok((summary.records, secs))
}

/// Median times of loading each request with nothing cached (what a gateway
/// that never saw it does) and then cached, over `reps` rounds. Each round
/// loads every request once, one after the other, so the drift of a shared
/// machine lands on all of them alike and their ratios compare like with
/// like. Returns (uncached, cached, events folded) per request.
pub async fn load_costs(
    requests: &[(&EventStore, RequestId)],
    reps: usize,
) -> anyhow::Result<Vec<(Duration, Duration, u64)>> {
    let mut uncached = vec![Vec::with_capacity(reps); requests.len()];
    let mut events = vec![0; requests.len()];
    for _ in 0..reps {
        for (i, (store, request)) in requests.iter().enumerate() {
            let started = Instant::now();
            let mut loaded = Loaded::empty(*request);
            for stored in store.read_commits(*request, 0).await? {
                loaded.fold(stored.sequence, stored.commit);
            }
            uncached[i].push(started.elapsed());
            anyhow::ensure!(
                loaded.aggregate.broken.is_none(),
                "the request does not fold"
            );
            events[i] = loaded.aggregate.state.events_applied;
        }
    }
    for (store, request) in requests {
        store.load(*request).await.context("warming the cache")?;
    }
    let mut cached = vec![Vec::with_capacity(reps); requests.len()];
    for _ in 0..reps {
        for (i, (store, request)) in requests.iter().enumerate() {
            let started = Instant::now();
            store.load(*request).await?;
            cached[i].push(started.elapsed());
        }
    }
    let median = |mut times: Vec<Duration>| {
        times.sort_unstable();
        times[reps / 2]
    };
    Ok(uncached
        .into_iter()
        .zip(cached)
        .zip(events)
        .map(|((uncached, cached), events)| (median(uncached), median(cached), events))
        .collect())
}
