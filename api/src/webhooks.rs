//! Webhooks: decisions (and, for a webhook that asks, escalations and
//! reminders) delivered to external systems over HTTP, driven from the log. Each configured webhook has a durable JetStream consumer on the
//! event stream (its position lives on the server: the outbox *is* the log),
//! so a dispatcher that crashes resumes where it stopped and loses nothing.
//!
//! Guarantees, per webhook:
//! * **at least once**: a delivery is acknowledged to JetStream only after the
//!   receiver answered 2xx; anything else is retried;
//! * **an idempotency key per delivery** (`Signoff-Delivery-Id`, also sent as
//!   `Idempotency-Key`), stable across retries, restarts and replays —
//!   receivers de-duplicate on it to get exactly-once effects;
//! * **a signature** `Signoff-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256
//!   of "<t>.<body>" with the webhook's secret>` ([`verify_signature`]);
//! * **exponential backoff with jitter** between attempts (JetStream redelivers
//!   after the delay we ask for);
//! * **dead letters**: after `maxAttempts` the delivery is written to the
//!   `SIGNOFF_WEBHOOK_DEAD` stream (one message per delivery, de-duplicated by
//!   its key) and `signoff webhooks replay` delivers them again.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::{self, stream, AckKind};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use signoff_client::decision_of;
use signoff_eventstore::{Commit, EventStore, StoredCommit};
use tokio::task::JoinHandle;
use tracing::{error, info, info_span, warn, Instrument};
use uuid::Uuid;

pub const DEAD_LETTER_STREAM: &str = "SIGNOFF_WEBHOOK_DEAD";
pub const DEAD_LETTER_PREFIX: &str = "signoff.webhooks.dead";
pub const SIGNATURE_HEADER: &str = "Signoff-Signature";
pub const DELIVERY_HEADER: &str = "Signoff-Delivery-Id";
pub const ATTEMPT_HEADER: &str = "Signoff-Delivery-Attempt";
/// Shortest secret accepted (bytes).
pub const MIN_SECRET_BYTES: usize = 16;

/// One HTTP endpoint that receives decisions.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookConfig {
    /// 1..=32 characters of a-z 0-9 - _ (names its consumer and dead letters).
    pub name: String,
    /// `http://` or `https://`.
    pub url: String,
    /// HMAC key for the signature header (at least 16 bytes).
    pub secret: String,
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// How long one attempt may take.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Also deliver the decisions already in the log when the webhook is first
    /// seen (default: only decisions made from then on).
    #[serde(default)]
    pub deliver_history: bool,
    /// What it is sent (default `["decisions"]`): `decisions`, and on request
    /// `escalations` (a level gave more people the right to decide) and
    /// `reminders` (the current approvers are reminded); the body's `type`
    /// says which (`decision`, `escalation`, `reminder`).
    #[serde(default = "default_events")]
    pub events: Vec<WebhookEvent>,
}

/// A kind of notice a webhook can be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WebhookEvent {
    Decisions,
    Escalations,
    Reminders,
}

fn default_events() -> Vec<WebhookEvent> {
    vec![WebhookEvent::Decisions]
}

fn default_max_attempts() -> u32 {
    8
}
fn default_initial_backoff_ms() -> u64 {
    1_000
}
fn default_max_backoff_ms() -> u64 {
    300_000
}
fn default_timeout_ms() -> u64 {
    10_000
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

impl WebhookConfig {
    /// Checks the configuration: `(field, problem)` names what is wrong.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 32
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !name_ok {
            return Err((
                "name",
                format!(
                    "`{}` is not 1..=32 characters of a-z 0-9 - _",
                    self.name.chars().take(40).collect::<String>()
                ),
            ));
        }
        match reqwest::Url::parse(&self.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            Ok(url) => {
                return Err((
                    "url",
                    format!("scheme `{}` is not http or https", url.scheme()),
                ))
            }
            Err(e) => return Err(("url", format!("not a URL: {e}"))),
        }
        if self.secret.len() < MIN_SECRET_BYTES {
            return Err(("secret", format!("shorter than {MIN_SECRET_BYTES} bytes")));
        }
        if self.max_attempts == 0 || self.max_attempts > 100 {
            return Err(("maxAttempts", "must be 1..=100".into()));
        }
        if self.initial_backoff_ms == 0 || self.initial_backoff_ms > self.max_backoff_ms {
            return Err((
                "initialBackoffMs",
                "must be at least 1 and at most maxBackoffMs".into(),
            ));
        }
        if self.timeout_ms == 0 || self.timeout_ms > 300_000 {
            return Err(("timeoutMs", "must be 1..=300000".into()));
        }
        if self.events.is_empty() {
            return Err((
                "events",
                "must name at least one of decisions, escalations, reminders".into(),
            ));
        }
        if let Some((i, _)) = self
            .events
            .iter()
            .enumerate()
            .find(|(i, e)| self.events[..*i].contains(e))
        {
            return Err((
                "events",
                format!("lists {:?} twice (at {i})", self.events[i]),
            ));
        }
        Ok(())
    }

    /// Its durable consumer on the event stream (its position in the log).
    pub fn consumer_name(&self) -> String {
        format!("webhook-{}", self.name)
    }

    fn dead_letter_subject(&self) -> String {
        format!("{DEAD_LETTER_PREFIX}.{}", self.name)
    }

    /// Delay before attempt `attempt + 1` after `attempt` failed: exponential,
    /// capped, with "equal jitter" (half fixed, half random).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .initial_backoff_ms
            .saturating_mul(1u64 << attempt.saturating_sub(1).min(32))
            .min(self.max_backoff_ms);
        let half = exp / 2;
        let jitter = if half == 0 {
            0
        } else {
            random_u64() % (half + 1)
        };
        Duration::from_millis(half + jitter)
    }
}

fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    hasher.finish()
}

/// The idempotency key of the delivery of the commit at `sequence` to `webhook`.
pub fn delivery_id(stream: &str, webhook: &str, sequence: u64) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("signoff-webhook/{stream}/{webhook}/{sequence}").as_bytes(),
    )
}

/// `t=<unix>,v1=<hex>` for `body` at `timestamp`.
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// What a receiver runs: the signature header is valid for `body` and no
/// older than `tolerance` at `now` (unix seconds). Constant-time comparison.
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now: u64,
    tolerance: Duration,
) -> bool {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<u64>().ok(),
            Some(("v1", v)) => signature = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return false;
    };
    if now.abs_diff(timestamp) > tolerance.as_secs() {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// A delivery that ran out of attempts, as kept in the dead-letter stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub delivery_id: Uuid,
    pub webhook: String,
    pub sequence: u64,
    pub request_id: Uuid,
    pub attempts: u32,
    pub last_error: String,
    /// The exact body that was sent (re-sent as is by a replay).
    pub body: String,
}

#[derive(Debug, Default)]
pub struct WebhookStats {
    pub delivered: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub dead_lettered: AtomicU64,
    /// Commits this build could not read, left on the consumer (each
    /// offer counts).
    pub unreadable: AtomicU64,
}

/// When a commit this build cannot read is offered again.
const UNREADABLE_RETRY: Duration = Duration::from_secs(60);

/// One running dispatcher (all configured webhooks).
pub struct DispatcherHandle {
    pub stats: Vec<(String, Arc<WebhookStats>)>,
    tasks: Vec<JoinHandle<()>>,
}

impl DispatcherHandle {
    pub fn stats(&self, webhook: &str) -> Option<&Arc<WebhookStats>> {
        self.stats
            .iter()
            .find(|(n, _)| n == webhook)
            .map(|(_, s)| s)
    }

    /// Stops at once (like a crash: unacknowledged deliveries are redelivered later).
    pub async fn shutdown(self) {
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook `{0}` is not configured")]
    Unknown(String),
    #[error("JetStream: {0}")]
    JetStream(String),
    #[error("webhooks[{index}].{field}: {problem}")]
    Invalid {
        index: usize,
        field: &'static str,
        problem: String,
    },
}

fn js_error(e: impl std::fmt::Display) -> WebhookError {
    WebhookError::JetStream(e.to_string())
}

async fn dead_letter_stream(js: &jetstream::Context) -> Result<stream::Stream, WebhookError> {
    js.get_or_create_stream(stream::Config {
        name: DEAD_LETTER_STREAM.into(),
        description: Some("signoff webhook deliveries that ran out of attempts".into()),
        subjects: vec![format!("{DEAD_LETTER_PREFIX}.>")],
        storage: stream::StorageType::File,
        duplicate_window: Duration::from_secs(600),
        allow_direct: true,
        ..Default::default()
    })
    .await
    .map_err(js_error)
}

fn http_client() -> reqwest::Client {
    // rustls with the ring provider (already in the tree through async-nats).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("signoff-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("an HTTP client")
}

/// Starts one delivery loop per webhook.
pub async fn start(
    store: Arc<EventStore>,
    webhooks: &[WebhookConfig],
) -> Result<DispatcherHandle, WebhookError> {
    for (index, webhook) in webhooks.iter().enumerate() {
        webhook
            .validate()
            .map_err(|(field, problem)| WebhookError::Invalid {
                index,
                field,
                problem,
            })?;
    }
    let js = store.jetstream().clone();
    dead_letter_stream(&js).await?;
    let events = js
        .get_stream(&store.settings().name)
        .await
        .map_err(js_error)?;
    let http = http_client();
    let mut handle = DispatcherHandle {
        stats: Vec::new(),
        tasks: Vec::new(),
    };
    for webhook in webhooks {
        let consumer = events
            .get_or_create_consumer(
                &webhook.consumer_name(),
                pull::Config {
                    durable_name: Some(webhook.consumer_name()),
                    description: Some(format!("signoff webhook `{}`", webhook.name)),
                    filter_subject: store.settings().all_subjects(),
                    deliver_policy: if webhook.deliver_history {
                        DeliverPolicy::All
                    } else {
                        DeliverPolicy::New
                    },
                    ack_policy: AckPolicy::Explicit,
                    // A crashed dispatcher's in-flight deliveries come back after this.
                    ack_wait: Duration::from_millis(webhook.timeout_ms) + Duration::from_secs(5),
                    max_ack_pending: 256,
                    ..Default::default()
                },
            )
            .await
            .map_err(js_error)?;
        let stats = Arc::new(WebhookStats::default());
        let worker = Worker {
            webhook: webhook.clone(),
            store: store.clone(),
            js: js.clone(),
            http: http.clone(),
            stats: stats.clone(),
        };
        let span = info_span!("webhook", name = %webhook.name);
        handle.tasks.push(tokio::spawn(
            async move { worker.run(consumer).await }.instrument(span),
        ));
        handle.stats.push((webhook.name.clone(), stats));
    }
    Ok(handle)
}

struct Worker {
    webhook: WebhookConfig,
    store: Arc<EventStore>,
    js: jetstream::Context,
    http: reqwest::Client,
    stats: Arc<WebhookStats>,
}

impl Worker {
    async fn run(self, consumer: jetstream::consumer::PullConsumer) {
        loop {
            // One at a time, as they are handled: a batch fetched ahead
            // would run out its ack wait behind a slow receiver and come
            // back as redeliveries, counted as attempts never made.
            let messages = match consumer
                .stream()
                .max_messages_per_batch(1)
                .heartbeat(Duration::from_secs(5))
                .messages()
                .await
            {
                Ok(messages) => messages,
                Err(e) => {
                    warn!(error = %e, "cannot read the log; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let mut messages = std::pin::pin!(messages);
            while let Some(message) = messages.next().await {
                match message {
                    Ok(message) => self.handle(message).await,
                    Err(e) => {
                        warn!(error = %e, "the consumer failed; re-subscribing");
                        break;
                    }
                }
            }
        }
    }

    async fn handle(&self, message: jetstream::Message) {
        let Ok(info) = message.info() else {
            return;
        };
        let sequence = info.stream_sequence;
        let attempt = info.delivered.max(1) as u32;
        let span = info_span!("delivery", sequence, attempt);
        async {
            let stored = match Commit::decode(sequence, &message.payload) {
                Ok(commit) => StoredCommit {
                    sequence,
                    subject: message.subject.to_string(),
                    commit,
                },
                Err(e) => {
                    // Perhaps a decision a newer build wrote (a rolling
                    // upgrade): kept on the consumer, offered again a minute
                    // later, so that a dispatcher that can read it delivers it.
                    self.stats.unreadable.fetch_add(1, Ordering::Relaxed);
                    error!(error = %e, "commit does not decode; not delivered, offered again in a minute");
                    let _ = message
                        .ack_with(AckKind::Nak(Some(UNREADABLE_RETRY)))
                        .await;
                    return;
                }
            };
            let notice = match notice_of(&self.store, &stored, &self.webhook.events).await {
                Ok(Some(notice)) => notice,
                Ok(None) => {
                    let _ = message.ack().await;
                    return;
                }
                Err(e) => {
                    warn!(error = %e, "cannot read the request; retrying later");
                    let _ = message
                        .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                        .await;
                    return;
                }
            };
            let id = delivery_id(&self.store.settings().name, &self.webhook.name, sequence);
            let mut body = notice.body;
            body["deliveryId"] = serde_json::json!(id);
            body["webhook"] = serde_json::json!(self.webhook.name);
            let body = serde_json::to_vec(&body).expect("JSON");
            match deliver(&self.http, &self.webhook, id, attempt, &body).await {
                Ok(()) => {
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    info!(delivery = %id, "delivered");
                    if let Err(e) = message.double_ack().await {
                        // Redelivered later with the same key: the receiver de-duplicates.
                        warn!(error = %e, "delivered but not acknowledged");
                    }
                }
                Err(problem) if attempt >= self.webhook.max_attempts => {
                    self.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    let letter = DeadLetter {
                        delivery_id: id,
                        webhook: self.webhook.name.clone(),
                        sequence,
                        request_id: notice.request_id.0,
                        attempts: attempt,
                        last_error: problem.clone(),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    };
                    match self.dead_letter(&letter).await {
                        Ok(()) => {
                            self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                            warn!(delivery = %id, %problem, "out of attempts: dead-lettered");
                            let _ = message.double_ack().await;
                        }
                        Err(e) => {
                            warn!(error = %e, "cannot write the dead letter; retrying later");
                            let _ = message
                                .ack_with(AckKind::Nak(Some(self.webhook.backoff(attempt))))
                                .await;
                        }
                    }
                }
                Err(problem) => {
                    self.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    let delay = self.webhook.backoff(attempt);
                    warn!(delivery = %id, %problem, ?delay, "attempt failed; backing off");
                    let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), WebhookError> {
        let payload = serde_json::to_vec(letter).expect("JSON");
        let message = jetstream::message::PublishMessage::build()
            .payload(payload.into())
            .message_id(letter.delivery_id.to_string());
        self.js
            .send_publish(self.webhook.dead_letter_subject(), message)
            .await
            .map_err(js_error)?
            .await
            .map_err(js_error)?;
        Ok(())
    }
}

/// What one commit sends a webhook, if anything, and for which request.
struct Notice {
    request_id: signoff_engine::RequestId,
    body: serde_json::Value,
}

/// The notice `stored` makes for a webhook sent `events`: its decision
/// (the request folded up to it), or an escalation or reminder with the
/// request's title and requester; `None` for any other commit.
async fn notice_of(
    store: &EventStore,
    stored: &StoredCommit,
    events: &[WebhookEvent],
) -> Result<Option<Notice>, signoff_client::FeedError> {
    use serde_json::json;
    use signoff_engine::ApprovalEvent;
    let wants = |kind| events.contains(&kind);
    if wants(WebhookEvent::Decisions) {
        if let Some(decided) = decision_of(store, stored).await? {
            let mut body = serde_json::to_value(&decided).expect("a decision serializes");
            body["type"] = json!("decision");
            return Ok(Some(Notice {
                request_id: decided.request_id,
                body,
            }));
        }
    }
    let Some((kind, details)) = stored.commit.events.iter().find_map(|event| match event {
        ApprovalEvent::RequestEscalated(e) if wants(WebhookEvent::Escalations) => Some((
            "escalation",
            json!({"level": e.level, "stage": e.stage, "added": e.added, "dueAt": e.due_at, "at": e.at}),
        )),
        ApprovalEvent::ReminderSent(r) if wants(WebhookEvent::Reminders) => Some((
            "reminder",
            json!({"number": r.number, "stage": r.stage, "to": r.to, "dueAt": r.due_at, "at": r.at}),
        )),
        _ => None,
    }) else {
        return Ok(None);
    };
    let request_id = stored.commit.request_id;
    let loaded = store.load(request_id).await?;
    let submitted = loaded.aggregate.state.submitted.as_ref();
    let mut body = details;
    body["type"] = json!(kind);
    body["requestId"] = json!(request_id);
    body["sequence"] = json!(stored.sequence);
    body["title"] = json!(submitted.map(|s| &s.plan.title));
    body["requester"] = json!(submitted.map(|s| &s.requester.user));
    Ok(Some(Notice { request_id, body }))
}

/// One attempt: POST the body with the key and a fresh signature.
async fn deliver(
    http: &reqwest::Client,
    webhook: &WebhookConfig,
    id: Uuid,
    attempt: u32,
    body: &[u8],
) -> Result<(), String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let response = http
        .post(&webhook.url)
        .timeout(Duration::from_millis(webhook.timeout_ms))
        .header("Content-Type", "application/json")
        .header(DELIVERY_HEADER, id.to_string())
        .header("Idempotency-Key", id.to_string())
        .header(ATTEMPT_HEADER, attempt.to_string())
        .header(SIGNATURE_HEADER, sign(&webhook.secret, now, body))
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("receiver answered {}", response.status()))
    }
}

/// The dead letters of `webhook` (all webhooks when `None`), oldest first,
/// with their sequence in the dead-letter stream.
pub async fn dead_letters(
    js: &jetstream::Context,
    webhook: Option<&str>,
) -> Result<Vec<(u64, DeadLetter)>, WebhookError> {
    let stream = dead_letter_stream(js).await?;
    let subject = match webhook {
        Some(name) => format!("{DEAD_LETTER_PREFIX}.{name}"),
        None => format!("{DEAD_LETTER_PREFIX}.>"),
    };
    let mut letters = Vec::new();
    let mut next = 1;
    loop {
        match stream
            .direct_get_next_for_subject(subject.clone(), Some(next))
            .await
        {
            Ok(message) => {
                next = message.sequence + 1;
                let letter: DeadLetter = serde_json::from_slice(&message.payload).map_err(|e| {
                    WebhookError::JetStream(format!(
                        "dead letter {} does not decode: {e}",
                        message.sequence
                    ))
                })?;
                letters.push((message.sequence, letter));
            }
            Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => return Ok(letters),
            Err(e) => return Err(js_error(e)),
        }
    }
}

/// What a replay did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    pub delivered: Vec<Uuid>,
    pub still_failing: Vec<(Uuid, String)>,
}

/// Delivers `webhook`'s dead letters again (same body, same key, a fresh
/// signature); each one delivered is removed from the dead-letter stream,
/// the others stay for a later replay.
pub async fn replay_dead_letters(
    js: &jetstream::Context,
    webhook: &WebhookConfig,
) -> Result<ReplayReport, WebhookError> {
    let stream = dead_letter_stream(js).await?;
    let http = http_client();
    let mut report = ReplayReport::default();
    for (sequence, letter) in dead_letters(js, Some(&webhook.name)).await? {
        let attempt = letter.attempts + 1;
        match deliver(
            &http,
            webhook,
            letter.delivery_id,
            attempt,
            letter.body.as_bytes(),
        )
        .await
        {
            Ok(()) => {
                stream.delete_message(sequence).await.map_err(js_error)?;
                report.delivered.push(letter.delivery_id);
            }
            Err(problem) => report.still_failing.push((letter.delivery_id, problem)),
        }
    }
    Ok(report)
}
