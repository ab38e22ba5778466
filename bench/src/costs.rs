//! The CPU cost of each step a commit takes on the read path (catch-up,
//! audit replay, audit verify), outside NATS and sled, and of each step the
//! gateway takes for a command ([`command_steps`]): one thread, no server,
//! the bench's own commands and commits. Each figure is the fastest of five
//! passes (the least disturbed by the machine), in nanoseconds per
//! operation. `signoff-bench --only costs`; run it under
//! `valgrind --tool=callgrind` for instruction counts that repeat exactly.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;

use chrono::{DateTime, Utc};
use signoff_api::gateway::{accepted, command_hash, to_action};
use signoff_engine::{
    ApprovalCommand, ApprovalRequest, CommandId, RequestId, EVENT_SCHEMA_VERSION,
};
use signoff_eventstore::{Commit, Loaded, StoredCommit};
use signoff_projections::audit::{
    records_for_commit, stored_records_for_commit, unchained_records_for_commit, AuditRecord,
    ChainHead,
};
use signoff_schemas::{CommandBody, Reply};

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
        "write one timestamp as JSON, signoff_engine::time::serialize".into(),
        per_call(iterations, || {
            let mut text = Vec::with_capacity(32);
            signoff_engine::time::serialize(
                black_box(&at),
                &mut serde_json::Serializer::new(&mut text),
            )
            .expect("serializes");
            black_box(text);
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

/// (what, nanoseconds per operation) of each step the gateway takes for the
/// mix's two commands, outside NATS: one thread, the bench's own bodies,
/// token and directory, the request as the gateway holds it. What the
/// gateway spends beyond these in a real run is cache misses and the
/// connection's work, shared with the relay floor.
pub fn command_steps(iterations: usize) -> anyhow::Result<Vec<(String, f64)>> {
    let gateway = GatewaySteps::new()?;
    let request = uuid::Uuid::new_v4();
    let mut costs = Vec::new();
    let mut loaded = Loaded::empty(RequestId(request));
    for (action, body) in [
        ("submit", crate::targets::submit_body(request)),
        ("approve", crate::targets::approve_body(request)),
    ] {
        let body = body.into_bytes();
        let token = gateway.token(action);
        let mut add = |what: &str, ns: f64| costs.push((format!("command: {action}, {what}"), ns));
        add(
            "verify the token (cached)",
            per_call(iterations, || {
                black_box(
                    gateway
                        .verifier
                        .verify_header(Some(black_box(token)))
                        .expect("valid"),
                );
            }),
        );
        add(
            &format!("decode the body ({} B)", body.len()),
            per_call(iterations, || {
                black_box(CommandBody::decode(action, black_box(&body)).expect("decodes"));
            }),
        );
        add(
            "hash the command",
            per_call(iterations, || {
                black_box(command_hash(action, black_box(&body)));
            }),
        );
        let command = gateway.command(action, &body)?;
        add(
            "decide",
            per_call(iterations, || {
                black_box(
                    loaded
                        .aggregate
                        .decide(black_box(&command), &gateway.directory)
                        .expect("decides"),
                );
            }),
        );
        let commit = GatewaySteps::commit(
            &command,
            action,
            &body,
            loaded.aggregate.decide(&command, &gateway.directory)?,
        );
        let sequence = loaded.last_sequence + 1;
        add(
            "encode the commit",
            per_call(iterations, || {
                black_box(black_box(&commit).encode().expect("encodes"));
            }),
        );
        add(
            "copy the request and fold the commit",
            per_call(iterations, || {
                let mut next = black_box(&loaded).clone();
                next.fold(sequence, commit.clone());
                black_box(next);
            }),
        );
        let names: Vec<String> = commit.events.iter().map(|e| e.name().to_owned()).collect();
        loaded.fold(sequence, commit);
        add(
            "build and write the reply",
            per_call(iterations, || {
                let reply = Reply::Accepted(accepted(
                    &command,
                    sequence,
                    false,
                    names.clone(),
                    &loaded.aggregate,
                ));
                black_box(serde_json::to_vec(&reply).expect("serializes"));
            }),
        );
    }
    for requests in [1_000, 10_000] {
        costs.push((
            format!(
                "command: approve, the whole path on one of {requests} cached requests (each approved once, in random order)"
            ),
            gateway.approvals_among(requests)?,
        ));
    }
    Ok(costs)
}

/// What the gateway holds to take a command: the token verifier, the
/// directory and the mix's two bearer tokens.
struct GatewaySteps {
    verifier: signoff_api::identity::TokenVerifier,
    directory: signoff_engine::directory::StaticDirectory,
    requester: String,
    approver: String,
}

impl GatewaySteps {
    fn new() -> anyhow::Result<Self> {
        let issuer = world::issuer();
        Ok(Self {
            verifier: signoff_api::identity::TokenVerifier::new(&world::auth())?,
            directory: world::directory(),
            requester: format!("Bearer {}", issuer.issue(world::REQUESTER, &[], 3600)),
            approver: format!("Bearer {}", issuer.issue(world::APPROVER, &[], 3600)),
        })
    }

    /// The mix's bearer token for `action`: the requester submits, the approver approves.
    fn token(&self, action: &str) -> &str {
        if action == "submit" {
            &self.requester
        } else {
            &self.approver
        }
    }

    /// The engine command the gateway builds from `body`: the token
    /// verified, the body decoded.
    fn command(&self, action: &str, body: &[u8]) -> anyhow::Result<ApprovalCommand> {
        let actor = self.verifier.verify_header(Some(self.token(action)))?;
        let decoded = CommandBody::decode(action, body)?;
        let (command_id, request_id) = decoded.ids();
        Ok(ApprovalCommand {
            command_id: CommandId(command_id),
            request_id: RequestId(request_id),
            actor,
            at: Utc::now(),
            action: to_action(decoded),
        })
    }

    /// The commit the gateway appends for `command` and its decided `events`.
    fn commit(
        command: &ApprovalCommand,
        action: &str,
        body: &[u8],
        events: Vec<signoff_engine::ApprovalEvent>,
    ) -> Commit {
        Commit {
            schema_version: EVENT_SCHEMA_VERSION,
            request_id: command.request_id,
            command_id: command.command_id,
            command_hash: command_hash(action, body),
            action: action.into(),
            actor: command.actor.user.clone(),
            at: command.at,
            events,
        }
    }

    /// Every step the gateway takes for one command outside NATS, on the
    /// cached `loaded`: verify the token, decode, hash, decide, encode the
    /// commit, fold it in place (as `append_and_fold_shared` does when the
    /// cache held the only reference) and write the reply.
    fn take(&self, action: &str, body: &[u8], loaded: &mut Arc<Loaded>) -> anyhow::Result<()> {
        let command = self.command(action, body)?;
        anyhow::ensure!(!loaded.commands.contains_key(&command.command_id));
        let events = loaded.aggregate.decide(&command, &self.directory)?;
        let commit = Self::commit(&command, action, body, events);
        black_box(commit.encode()?);
        let names: Vec<String> = commit.events.iter().map(|e| e.name().to_owned()).collect();
        let sequence = loaded.last_sequence + 1;
        Arc::make_mut(loaded).fold(sequence, commit);
        let reply = Reply::Accepted(accepted(
            &command,
            sequence,
            false,
            names,
            &loaded.aggregate,
        ));
        black_box(serde_json::to_vec(&reply)?);
        Ok(())
    }

    /// Nanoseconds per approval when `requests` submitted requests are
    /// cached and each is approved once, in an order unrelated to their
    /// submission (by request id), as in the command mix: the cost of
    /// reading the state of one request among many, cold. Fastest of three
    /// passes, each on requests of its own.
    fn approvals_among(&self, requests: usize) -> anyhow::Result<f64> {
        let mut fastest = f64::INFINITY;
        for _ in 0..3 {
            let mut cache = HashMap::with_capacity(requests);
            for _ in 0..requests {
                let request = uuid::Uuid::new_v4();
                let body = crate::targets::submit_body(request);
                let mut loaded = Arc::new(Loaded::empty(RequestId(request)));
                self.take("submit", body.as_bytes(), &mut loaded)?;
                cache.insert(request, loaded);
            }
            let mut order: Vec<uuid::Uuid> = cache.keys().copied().collect();
            order.sort_unstable();
            let bodies: Vec<String> = order
                .iter()
                .map(|r| crate::targets::approve_body(*r))
                .collect();
            let started = Instant::now();
            for (request, body) in order.iter().zip(&bodies) {
                let loaded = cache.get_mut(request).context("cached")?;
                self.take("approve", body.as_bytes(), loaded)?;
            }
            let ns = started.elapsed().as_secs_f64() * 1e9 / requests as f64;
            fastest = fastest.min(ns);
        }
        Ok(fastest)
    }
}
