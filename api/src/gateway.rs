//! The command gateway: a NATS request/reply service in the queue group
//! `signoff-gateways`. Stateless apart from a load cache whose staleness the
//! log's concurrency check catches, so any number may run.
//!
//! For each command: verify the token → decode the body → load the request →
//! already applied? answer as the first time → decide → append with the
//! expected last subject sequence and `Nats-Msg-Id` = request id / command id → reply.
//! A conflict (another writer won) reloads and decides again.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::header::HeaderName;
use async_nats::HeaderMap;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use signoff_engine::{
    Action, ApprovalCommand, ApprovalEvent, CommandId, RawJson, RequestId, TeamDirectory,
    EVENT_SCHEMA_VERSION,
};
use signoff_eventstore::{
    AppendOutcome, ApprovalAggregate, Commit, EventStore, Loaded, StoreError,
};
use signoff_schemas::replies::codes;
use signoff_schemas::subjects::{
    AUTHORIZATION_HEADER, COMMAND_PREFIX, GATEWAY_QUEUE, MAX_COMMAND_BYTES,
};
use signoff_schemas::{Accepted, CommandBody, DecodeError, ErrorReply, Reply, StateSummary};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{error, info, info_span, warn, Instrument};

use crate::clock::Clock;
use crate::identity::{TokenRefusals, TokenVerifier};

/// Attempts at one command when other writers keep winning.
const MAX_ATTEMPTS: usize = 8;
/// Commands a gateway handles at once unless configured
/// (`gateway.maxInFlight`). More in flight lets more commands share each
/// read and write of the connection; at 256 the bench's gateway and relay
/// both ran slower (BENCHMARKS.md).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;

/// Counters, for metrics and tests.
#[derive(Debug, Default)]
pub struct GatewayStats {
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
    pub unauthenticated: AtomicU64,
    pub conflicts: AtomicU64,
    pub duplicates: AtomicU64,
    /// The most commands this gateway has had in flight at once.
    pub peak_in_flight: AtomicU64,
    /// Refused identity tokens by reason (each also counts in `unauthenticated`).
    pub refused_tokens: TokenRefusals,
}

pub struct Gateway {
    client: async_nats::Client,
    store: Arc<EventStore>,
    directory: Arc<dyn TeamDirectory>,
    verifier: TokenVerifier,
    clock: Arc<dyn Clock>,
    max_in_flight: usize,
    pub stats: GatewayStats,
}

/// A running gateway; dropping it does not stop it, [`GatewayHandle::shutdown`] does.
pub struct GatewayHandle {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    pub gateway: Arc<Gateway>,
}

impl GatewayHandle {
    /// Stops taking commands and waits for those in flight.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Stops at once, like a crash: in-flight commands are dropped unanswered.
    pub fn abort(self) {
        self.task.abort();
    }
}

impl Gateway {
    pub fn new(
        client: async_nats::Client,
        store: Arc<EventStore>,
        directory: Arc<dyn TeamDirectory>,
        verifier: TokenVerifier,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            client,
            store,
            directory,
            verifier,
            clock,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            stats: GatewayStats::default(),
        }
    }

    /// Handles at most `max` commands at once (at least 1); the rest wait,
    /// in arrival order, in the subscription.
    pub fn with_max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max.max(1);
        self
    }

    /// The store this gateway appends through (and its cache of loaded requests).
    pub fn store(&self) -> &Arc<EventStore> {
        &self.store
    }

    /// Subscribes (the subscription is live when this returns) and serves in the background.
    pub async fn spawn(self: Arc<Self>) -> Result<GatewayHandle, async_nats::Error> {
        let subscription = self
            .client
            .queue_subscribe(format!("{COMMAND_PREFIX}.>"), GATEWAY_QUEUE.into())
            .await?;
        server_round_trip(&self.client).await?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(self.clone().serve(subscription, async {
            let _ = stopped.await;
        }));
        Ok(GatewayHandle {
            stop: Some(stop),
            task,
            gateway: self,
        })
    }

    /// Takes commands and answers them. Every command in flight is a future
    /// of this one task (at most `max_in_flight`), not a task of its own:
    /// the commands woken together (by one read of the connection: requests,
    /// publish acks) then run together, and their publishes and replies leave
    /// in one write to the server instead of one write each (a task per
    /// command wakes the connection's writer once per message).
    async fn serve(
        self: Arc<Self>,
        mut subscription: async_nats::Subscriber,
        shutdown: impl Future<Output = ()>,
    ) {
        let mut in_flight = FuturesUnordered::new();
        let mut taking = true;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown, if taking => {
                    // Stop taking commands; answer those in flight.
                    taking = false;
                    let _ = subscription.unsubscribe().await;
                }
                Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
                message = subscription.next(), if taking && in_flight.len() < self.max_in_flight => {
                    match message {
                        // Boxed where it is made: the wrappers below then
                        // move a pointer, not the command's whole state
                        // machine (kilobytes, copied once per wrapper).
                        Some(message) => {
                            in_flight.push(
                                AssertUnwindSafe(Box::pin(self.clone().respond(message)))
                                    .catch_unwind()
                                    .map(|outcome| {
                                        if outcome.is_err() {
                                            // As a crashed task would: unanswered, the caller retries.
                                            error!("a command's handling panicked; it was not answered");
                                        }
                                    }),
                            );
                            self.stats
                                .peak_in_flight
                                .fetch_max(in_flight.len() as u64, Ordering::Relaxed);
                        }
                        None => taking = false,
                    }
                }
                else => break,
            }
        }
        let stats = &self.stats;
        info!(
            accepted = stats.accepted.load(Ordering::Relaxed),
            duplicates = stats.duplicates.load(Ordering::Relaxed),
            refused = stats.refused.load(Ordering::Relaxed),
            unauthenticated = stats.unauthenticated.load(Ordering::Relaxed),
            conflicts = stats.conflicts.load(Ordering::Relaxed),
            peak_in_flight = stats.peak_in_flight.load(Ordering::Relaxed),
            "gateway stopped"
        );
    }

    async fn respond(self: Arc<Self>, message: async_nats::Message) {
        let reply = self
            .handle(
                message.subject.as_str(),
                message.headers.as_ref(),
                &message.payload,
            )
            .await;
        if let Some(reply_to) = message.reply {
            let body = serde_json::to_vec(&reply).expect("replies serialize");
            if let Err(e) = self.client.publish(reply_to, body.into()).await {
                warn!(error = %e, "could not send a reply; the caller will retry with the same command id");
            }
        }
    }

    /// Handles one command message and returns the reply. Never panics on input.
    pub async fn handle(
        &self,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: &[u8],
    ) -> Reply {
        let action = subject
            .strip_prefix(COMMAND_PREFIX)
            .and_then(|s| s.strip_prefix('.'))
            .unwrap_or(subject);
        let span = info_span!(
            "command",
            action,
            command_id = tracing::field::Empty,
            request_id = tracing::field::Empty,
            outcome = tracing::field::Empty
        );
        let reply = self
            .handle_inner(action, headers, payload)
            .instrument(span.clone())
            .await;
        let outcome = match &reply {
            Reply::Accepted(a) if a.duplicate => "duplicate",
            Reply::Accepted(_) => "accepted",
            Reply::Error(e) => e.code.as_str(),
        };
        span.record("outcome", outcome);
        let counter = match &reply {
            Reply::Accepted(a) if a.duplicate => &self.stats.duplicates,
            Reply::Accepted(_) => &self.stats.accepted,
            Reply::Error(e) if e.code == codes::UNAUTHENTICATED => &self.stats.unauthenticated,
            Reply::Error(_) => &self.stats.refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        reply
    }

    async fn handle_inner(
        &self,
        action: &str,
        headers: Option<&HeaderMap>,
        payload: &[u8],
    ) -> Reply {
        if payload.len() > MAX_COMMAND_BYTES {
            return error(
                codes::COMMAND_TOO_LARGE,
                format!(
                    "the command is {} bytes; at most {MAX_COMMAND_BYTES} are accepted",
                    payload.len()
                ),
                None,
                false,
            );
        }
        // Made at compile time: a `&str` name is checked and copied per lookup.
        const AUTHORIZATION: HeaderName = HeaderName::from_static(AUTHORIZATION_HEADER);
        let authorization = headers
            .and_then(|h| h.get(AUTHORIZATION))
            .map(|v| v.as_str());
        let actor = match self.verifier.verify_header(authorization) {
            Ok(actor) => actor,
            Err(e) => {
                self.stats.refused_tokens.record(e.reason());
                warn!(reason = e.reason().as_str(), "token refused");
                return error(codes::UNAUTHENTICATED, e.to_string(), None, false);
            }
        };
        let body = match CommandBody::decode(action, payload) {
            Ok(body) => body,
            Err(DecodeError::UnknownAction(a)) => {
                return error(
                    codes::UNKNOWN_COMMAND,
                    DecodeError::UnknownAction(a).to_string(),
                    None,
                    false,
                )
            }
            Err(DecodeError::Malformed { field, problem }) => {
                return error(
                    codes::MALFORMED_COMMAND,
                    format!("{field}: {problem}"),
                    Some(field),
                    false,
                )
            }
        };
        let (command_id, request_id) = body.ids();
        let span = tracing::Span::current();
        span.record("command_id", tracing::field::display(command_id));
        span.record("request_id", tracing::field::display(request_id));
        let command_hash = command_hash(action, payload);
        let command = ApprovalCommand {
            command_id: CommandId(command_id),
            request_id: RequestId(request_id),
            actor,
            at: self.clock.now(),
            action: to_action(body),
        };
        self.execute(command, command_hash).await
    }

    async fn execute(&self, command: ApprovalCommand, command_hash: String) -> Reply {
        let mut unavailable = 0;
        // The first attempt decides on what this gateway already knows, with
        // no round trip to the server: the cached request, or for a submit of
        // a request it never saw, an empty one. Staleness costs nothing but a
        // retry: the append carries the sequence decided on (a conflict or a
        // duplicate command id reloads), and a refusal is only answered after
        // deciding again on a fresh load.
        let mut optimistic = true;
        for attempt in 0..MAX_ATTEMPTS {
            let assumed = if optimistic {
                self.store.cached(command.request_id).or_else(|| {
                    matches!(command.action, Action::Submit { .. })
                        .then(|| Arc::new(Loaded::empty(command.request_id)))
                })
            } else {
                None
            };
            optimistic = false;
            let from_cache = assumed.is_some();
            let loaded = match assumed {
                Some(loaded) => loaded,
                None => match Box::pin(self.store.load_shared(command.request_id)).await {
                    Ok(loaded) => loaded,
                    Err(e) => match Box::pin(retry_or_fail(e, &mut unavailable)).await {
                        Some(reply) => return reply,
                        None => continue,
                    },
                },
            };
            if let Some(applied) = loaded.commands.get(&command.command_id) {
                if applied.command_hash != command_hash {
                    return error(
                        codes::COMMAND_ID_REUSED,
                        format!(
                            "command id {} was already used for a different command (stream sequence {})",
                            command.command_id, applied.sequence
                        ),
                        Some("commandId".into()),
                        false,
                    );
                }
                return Box::pin(self.original_answer(&command, applied.sequence)).await;
            }
            let events = match loaded.aggregate.decide(&command, self.directory.as_ref()) {
                Ok(events) => events,
                // Perhaps refused only because the cached state was stale.
                Err(_) if from_cache => continue,
                Err(e) => {
                    let field = match &e {
                        signoff_eventstore::CommandError::Domain(d) => d.field().map(str::to_owned),
                        _ => None,
                    };
                    return error(e.code(), e.to_string(), field, false);
                }
            };
            let names = event_names(&events);
            let commit = Commit {
                schema_version: EVENT_SCHEMA_VERSION,
                request_id: command.request_id,
                command_id: command.command_id,
                command_hash: command_hash.clone(),
                action: command.action.name().to_owned(),
                actor: command.actor.user.clone(),
                at: command.at,
                events,
            };
            match self.store.append_and_fold_shared(loaded, commit).await {
                Ok(AppendOutcome::Stored { sequence, after }) => {
                    return Reply::Accepted(accepted(
                        &command,
                        sequence,
                        false,
                        names,
                        &after.aggregate,
                    ));
                }
                // Stored before by another attempt with this command id: the reload finds it.
                Ok(AppendOutcome::Duplicate { .. }) => continue,
                Err(StoreError::Conflict { .. }) => {
                    // A stale guess is not a race with another writer.
                    if !from_cache {
                        self.stats.conflicts.fetch_add(1, Ordering::Relaxed);
                    }
                    self.store.forget(command.request_id);
                    Box::pin(tokio::time::sleep(Duration::from_millis(
                        (attempt as u64) * 2,
                    )))
                    .await;
                }
                Err(e) => {
                    if let Some(reply) = Box::pin(retry_or_fail(e, &mut unavailable)).await {
                        return reply;
                    }
                }
            }
        }
        error(
            codes::CONTENDED,
            format!("request {} kept changing under {MAX_ATTEMPTS} attempts; send the same command again", command.request_id),
            None,
            true,
        )
    }

    /// The reply the command got the first time: the state as of its commit.
    async fn original_answer(&self, command: &ApprovalCommand, sequence: u64) -> Reply {
        let commits = match self.store.read_commits(command.request_id, 0).await {
            Ok(commits) => commits,
            Err(e) => return store_failure(e),
        };
        let mut loaded = Loaded::empty(command.request_id);
        let mut events = Vec::new();
        for stored in commits.into_iter().take_while(|c| c.sequence <= sequence) {
            if stored.sequence == sequence {
                events = stored.commit.events.clone();
            }
            loaded.fold(stored.sequence, stored.commit);
        }
        Reply::Accepted(accepted(
            command,
            sequence,
            true,
            event_names(&events),
            &loaded.aggregate,
        ))
    }
}

/// Waits until the server has processed everything this connection sent
/// before (its subscriptions included): a message to our own inbox comes back.
/// `flush` alone only empties the socket buffer.
pub async fn server_round_trip(client: &async_nats::Client) -> Result<(), async_nats::Error> {
    let inbox = client.new_inbox();
    let mut echo = client.subscribe(inbox.clone()).await?;
    client.publish(inbox, bytes::Bytes::new()).await?;
    tokio::time::timeout(Duration::from_secs(10), echo.next())
        .await
        .map_err(|_| "the server did not echo within 10 s")?
        .ok_or("the connection closed")?;
    Ok(())
}

/// Unavailable: retried a few times with the same command id (safe: the log
/// de-duplicates); anything else is answered at once.
async fn retry_or_fail(e: StoreError, unavailable: &mut u32) -> Option<Reply> {
    match e {
        StoreError::Unavailable(_) if *unavailable < 3 => {
            *unavailable += 1;
            tokio::time::sleep(Duration::from_millis(50 * u64::from(*unavailable))).await;
            None
        }
        e => Some(store_failure(e)),
    }
}

/// The answer to a store error not retried here: a history this build
/// cannot read is no reason to retry; anything else may pass.
fn store_failure(e: StoreError) -> Reply {
    match e {
        StoreError::Unavailable(why) => error(codes::UNAVAILABLE, why, None, true),
        StoreError::Decode { .. } | StoreError::UnsupportedSchema { .. } => {
            error(codes::HISTORY_DOES_NOT_REPLAY, e.to_string(), None, false)
        }
        other => error(codes::UNAVAILABLE, other.to_string(), None, true),
    }
}

/// `canonical_hash` of `{"action": action, "body": <payload as JSON, or null>}`:
/// the body read straight from its text (`hash_canonical_text`), through a
/// `Value` only where that declines; the same bytes as the engine's
/// `canonical_json` (unit test, and the `command_decoder` fuzz target).
/// Public, like [`to_action`] and [`accepted`], for the bench's per-step costs.
pub fn command_hash(action: &str, payload: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    use signoff_engine::raw_json::{hash_canonical, hash_canonical_text};
    let mut hasher = Sha256::new();
    // Keys in canonical (sorted) order: "action" < "body".
    hasher.update(b"{\"action\":");
    serde_json::to_writer(&mut hasher, action).expect("hashing does not fail");
    hasher.update(b",\"body\":");
    // Straight from the text; what that declines, through the `Value` (a
    // body that is not JSON hashes as null).
    if !hash_canonical_text(payload, &mut hasher) {
        let body: serde_json::Value =
            serde_json::from_slice(payload).unwrap_or(serde_json::Value::Null);
        hash_canonical(&body, &mut hasher);
    }
    hasher.update(b"}");
    signoff_engine::raw_json::sha256_text(&hasher.finalize())
}

/// The engine's action of a decoded command body.
pub fn to_action(body: CommandBody) -> Action {
    match body {
        CommandBody::Submit(b) => Action::Submit {
            spec: Box::new(b.spec),
            params: b
                .params
                .unwrap_or_else(|| RawJson::parse("{}").expect("valid JSON")),
        },
        CommandBody::Approve(b) => Action::Approve {
            comment: b.comment,
            params_hash: b.params_hash,
        },
        CommandBody::Reject(b) => Action::Reject { reason: b.reason },
        CommandBody::Cancel(b) => Action::Cancel { reason: b.reason },
        CommandBody::Expire(_) => Action::Expire,
        CommandBody::Escalate(b) => Action::Escalate { level: b.level },
        CommandBody::Remind(b) => Action::Remind { number: b.number },
        CommandBody::RecordExecution(b) => Action::RecordExecution {
            outcome: b.outcome,
            summary: b.summary,
            params: b.params,
        },
    }
}

fn event_names(events: &[ApprovalEvent]) -> Vec<String> {
    events.iter().map(|e| e.name().to_owned()).collect()
}

/// The reply to a command stored at `sequence` (or found stored, `duplicate`),
/// with the request as it stands after it.
pub fn accepted(
    command: &ApprovalCommand,
    sequence: u64,
    duplicate: bool,
    events: Vec<String>,
    after: &ApprovalAggregate,
) -> Accepted {
    Accepted {
        request_id: command.request_id.0,
        command_id: command.command_id.0,
        sequence,
        duplicate,
        events,
        state: StateSummary::from(&after.state),
    }
}

fn error(code: &str, message: String, field: Option<String>, retryable: bool) -> Reply {
    Reply::Error(ErrorReply {
        code: code.to_owned(),
        message,
        field,
        retryable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use signoff_engine::raw_json::canonical_json;

    /// The hash of the engine's canonical text of the whole command: what
    /// the gateway hashed before it wrote straight into the hasher.
    fn engine_command_hash(action: &str, payload: &[u8]) -> String {
        let body: serde_json::Value =
            serde_json::from_slice(payload).unwrap_or(serde_json::Value::Null);
        let text = canonical_json(&serde_json::json!({ "action": action, "body": body }));
        format!("sha256:{}", hex::encode(Sha256::digest(text)))
    }

    #[test]
    fn the_command_hash_is_the_engines_canonical_hash() {
        let payloads: &[&str] = &[
            r#"{"commandId":"7b6f","requestId":"x","spec":{"title":"Deploy","approvers":["manager-team"],"expiresIn":86400,"context":{"ticket":"PROJ-1","impact":"low"}},"params":{"amount":50000,"to":"B-2"}}"#,
            r#"{ "z": [1, 2.5, -3, 1e3, 12345678901234567890, -0.0, 1.0E-7], "a": {"y": null, "x": true, "": false} }"#,
            r#"{"esc":"line\nbreak \"quoted\" tab\t \u0041 \u00e9 \ud83d\ude00 /\/ \u0001","ключ":"значение","é":"e","E":"E"}"#,
            r#"{"dup":1,"dup":2}"#,
            r#"{"$serde_json::private::RawValue":"[1,{\"b\":2,\"a\":1}]"}"#,
            r#"{"$serde_json::private::RawValue":"not json"}"#,
            "{\"commandId\":\"c\"} trailing",
            r#"[{"b":1,"a":[{"d":{},"c":[]}]}]"#,
            r#""just a string""#,
            "42",
            "null",
            "not json at all",
            "",
            r#"{"commandId":"c","requestId":"r","comment":"ok"}"#,
        ];
        for payload in payloads {
            for action in ["submit", "approve", "odd\"action"] {
                assert_eq!(
                    command_hash(action, payload.as_bytes()),
                    engine_command_hash(action, payload.as_bytes()),
                    "{action} {payload}"
                );
            }
        }
    }
}

#[cfg(test)]
mod future_size {
    use super::*;

    fn size_of_future<A, B, F: Future>(_: fn(A, B) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every command in flight is one allocation of this future: the cold
    /// paths (a load from the log, the original answer of a duplicate, the
    /// pauses between attempts) are boxed so that their state does not
    /// widen it. It was 7,904 bytes before they were; 3,168 after.
    #[test]
    fn a_commands_future_stays_small() {
        let size = size_of_future(Gateway::respond);
        assert!(size <= 4096, "a command's future is {size} bytes");
    }
}
