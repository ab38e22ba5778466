//! The CPU cost of each step a commit takes on the read path (catch-up,
//! audit replay, audit verify), outside NATS and sled: one thread, no
//! server, the bench's own submit commit. Each figure is the fastest of five
//! passes (the least disturbed by the machine), in nanoseconds per
//! operation. `signoff-bench --only costs`; run it under
//! `valgrind --tool=callgrind` for instruction counts that repeat exactly.

use std::hint::black_box;
use std::time::Instant;

use anyhow::Context as _;

use chrono::{DateTime, Utc};
use signoff_engine::ApprovalRequest;
use signoff_eventstore::{Commit, StoredCommit};
use signoff_projections::audit::{
    records_for_commit, stored_records_for_commit, unchained_records_for_commit, AuditRecord,
    ChainHead,
};

use crate::world;

/// Nanoseconds per call of `op`, the fastest of five passes of `iterations`.
fn per_call(iterations: usize, mut op: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..iterations {
                op();
            }
            started.elapsed().as_secs_f64() * 1e9 / iterations as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// (what, nanoseconds per operation), in the order a commit meets them.
pub fn measure(iterations: usize) -> anyhow::Result<Vec<(String, f64)>> {
    let (submit, _) = world::sample_commits();
    let payload = submit.encode()?;
    let stored = StoredCommit {
        sequence: 1,
        subject: "bench".into(),
        commit: submit.clone(),
    };
    let records = records_for_commit(
        &stored,
        &mut ChainHead::default(),
        &mut ChainHead::default(),
    );
    let record: AuditRecord = records
        .first()
        .cloned()
        .context("the sample submit commit has no audit record")?;
    let stored_json = record.to_stored_json();
    let at: DateTime<Utc> = submit.at;
    // The text chrono's `Serialize` writes (and the log holds).
    let at_text = at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let mut costs = Vec::new();
    let mut add = |what: String, ns: f64| costs.push((what, ns));
    add(
        format!("encode a submit commit ({} B)", payload.len()),
        per_call(iterations, || {
            black_box(black_box(&submit).encode().expect("encodes"));
        }),
    );
    add(
        "decode a submit commit".into(),
        per_call(iterations, || {
            black_box(Commit::decode(1, black_box(&payload)).expect("decodes"));
        }),
    );
    add(
        format!(
            "derive its {} audit record(s) (hash chain)",
            submit.events.len()
        ),
        per_call(iterations, || {
            black_box(records_for_commit(
                black_box(&stored),
                &mut ChainHead::default(),
                &mut ChainHead::default(),
            ));
        }),
    );
    add(
        "derive them with their stored bytes (projector, verify)".into(),
        per_call(iterations, || {
            black_box(stored_records_for_commit(
                black_box(&stored),
                &mut ChainHead::default(),
                &mut ChainHead::default(),
            ));
        }),
    );
    add(
        "derive them unchained, no hash (replay)".into(),
        per_call(iterations, || {
            black_box(unchained_records_for_commit(
                black_box(&stored),
                &mut ChainHead::default(),
            ));
        }),
    );
    add(
        "hash one audit record".into(),
        per_call(iterations, || {
            black_box(black_box(&record).compute_hash());
        }),
    );
    add(
        format!(
            "write one audit record as stored JSON, again ({} B)",
            stored_json.len()
        ),
        per_call(iterations, || {
            black_box(black_box(&record).to_stored_json());
        }),
    );
    add(
        "fold the submit's events into an empty request".into(),
        per_call(iterations, || {
            let mut state = ApprovalRequest::default();
            for event in black_box(&submit).events.iter().cloned() {
                state.apply(event).expect("folds");
            }
            black_box(state);
        }),
    );
    add(
        "write one timestamp as JSON".into(),
        per_call(iterations, || {
            black_box(serde_json::to_string(black_box(&at)).expect("serializes"));
        }),
    );
    add(
        "read one timestamp, chrono's parser".into(),
        per_call(iterations, || {
            black_box(
                black_box(at_text.as_str())
                    .parse::<DateTime<chrono::FixedOffset>>()
                    .expect("parses"),
            );
        }),
    );
    add(
        "read one timestamp, signoff_engine::time::parse".into(),
        per_call(iterations, || {
            black_box(signoff_engine::time::parse(black_box(at_text.as_str())).expect("parses"));
        }),
    );
    Ok(costs)
}
