//! The floor under the gateway: what any gateway of signoff's shape costs on
//! this machine before it does any of signoff's work.
//!
//! [`RelayService`] is a NATS request/reply service in a queue group, like
//! the gateway, that for each command appends one precomputed commit (the
//! raw baseline's payload and headers: `Nats-Expected-Last-Subject-Sequence`,
//! `Nats-Msg-Id`, schema, action, content type), waits for the ack and
//! answers with a reply of the gateway's shape and size. It checks no token,
//! decodes nothing, decides nothing and folds nothing; the caller names the
//! request and the expected sequence in two headers. [`Relay`] drives it
//! with the gateway target's bodies and bearer token.
//!
//! So against the raw publish of the same run, the relay's rate is the most
//! a gateway that takes commands by request/reply can reach here (a command
//! crosses the server three times — request, publish and ack, reply — where
//! a raw publish crosses it once), and the gateway's rate against the
//! relay's is what signoff's own work costs on top.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;
use async_nats::HeaderMap;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use signoff_engine::RequestId;
use signoff_eventstore::commit::publish_message;
use signoff_eventstore::{Commit, Loaded, StreamSettings};
use signoff_schemas::subjects::AUTHORIZATION_HEADER;
use signoff_schemas::{Accepted, ErrorReply, Reply, StateSummary};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::drive::Target;
use crate::{targets, world};

const SUBJECT_PREFIX: &str = "bench.relay";
const QUEUE: &str = "bench-relays";
const REQUEST_HEADER: &str = "Bench-Request";
const EXPECTED_HEADER: &str = "Bench-Expected-Sequence";
/// Commands handled at once, as one gateway does by default.
const MAX_IN_FLIGHT: usize = signoff_api::gateway::DEFAULT_MAX_IN_FLIGHT;

/// What the relay appends and answers for one action.
struct Canned {
    payload: Bytes,
    action: String,
    events: Vec<String>,
    state: StateSummary,
}

impl Canned {
    fn new(commit: &Commit, after: &Loaded) -> anyhow::Result<Self> {
        Ok(Self {
            payload: commit.encode()?.into(),
            action: commit.action.clone(),
            events: commit.events.iter().map(|e| e.name().to_owned()).collect(),
            state: StateSummary::from(&after.aggregate.state),
        })
    }
}

struct Relaying {
    client: async_nats::Client,
    js: jetstream::Context,
    settings: StreamSettings,
    submit: Canned,
    approve: Canned,
}

/// The running relay; [`RelayService::shutdown`] stops it.
pub struct RelayService {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RelayService {
    /// Its own connection and stream (`BENCH_RELAY` on `bench.relaylog.>`,
    /// signoff's stream config); the subscription is live when this returns.
    pub async fn start(url: &str) -> anyhow::Result<Self> {
        let client = world::connect(url).await?;
        let settings = StreamSettings {
            name: "BENCH_RELAY".into(),
            subject_prefix: "bench.relaylog".into(),
            ..StreamSettings::default()
        };
        let js = jetstream::new(client.clone());
        js.get_or_create_stream(settings.stream_config())
            .await
            .map_err(|e| anyhow::anyhow!("creating the relay's stream: {e}"))?;
        let (submit, approve) = world::sample_commits();
        let mut loaded = Loaded::empty(submit.request_id);
        loaded.fold(1, submit.clone());
        let submit = Canned::new(&submit, &loaded)?;
        loaded.fold(2, approve.clone());
        let approve = Canned::new(&approve, &loaded)?;
        let subscription = client
            .queue_subscribe(format!("{SUBJECT_PREFIX}.>"), QUEUE.into())
            .await
            .map_err(|e| anyhow::anyhow!("subscribing the relay: {e}"))?;
        signoff_api::gateway::server_round_trip(&client)
            .await
            .map_err(|e| anyhow::anyhow!("the relay's subscription: {e}"))?;
        let relaying = Arc::new(Relaying {
            client,
            js,
            settings,
            submit,
            approve,
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(relaying.serve(subscription, stopped));
        Ok(Self {
            stop: Some(stop),
            task,
        })
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Relaying {
    /// The gateway's loop: every command in flight a future of this task.
    async fn serve(
        self: Arc<Self>,
        mut subscription: async_nats::Subscriber,
        mut stopped: oneshot::Receiver<()>,
    ) {
        let mut in_flight = FuturesUnordered::new();
        loop {
            tokio::select! {
                biased;
                _ = &mut stopped => break,
                Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
                message = subscription.next(), if in_flight.len() < MAX_IN_FLIGHT => match message {
                    Some(message) => in_flight.push(Box::pin(self.clone().respond(message))),
                    None => break,
                },
            }
        }
        while in_flight.next().await.is_some() {}
    }

    async fn respond(self: Arc<Self>, message: async_nats::Message) {
        let reply = match self.append(&message).await {
            Ok(accepted) => Reply::Accepted(accepted),
            Err(e) => Reply::Error(ErrorReply {
                code: "BENCH_RELAY_FAILED".into(),
                message: format!("{e:#}"),
                field: None,
                retryable: false,
            }),
        };
        if let Some(reply_to) = message.reply {
            let body = serde_json::to_vec(&reply).expect("replies serialize");
            // A lost reply shows as the caller's timeout.
            let _ = self.client.publish(reply_to, body.into()).await;
        }
    }

    async fn append(&self, message: &async_nats::Message) -> anyhow::Result<Accepted> {
        let header = |name: &str| {
            message
                .headers
                .as_ref()
                .and_then(|h| h.get(name))
                .map(|v| v.as_str().to_owned())
                .with_context(|| format!("no {name} header"))
        };
        let request: Uuid = header(REQUEST_HEADER)?.parse()?;
        let expected: u64 = header(EXPECTED_HEADER)?.parse()?;
        let canned = match message.subject.as_str().rsplit('.').next() {
            Some("submit") => &self.submit,
            Some("approve") => &self.approve,
            other => anyhow::bail!("no such action: {other:?}"),
        };
        let command_id = Uuid::new_v4();
        let publish = publish_message(
            canned.payload.clone(),
            command_id.to_string(),
            expected,
            &canned.action,
        );
        let ack = self
            .js
            .send_publish(self.settings.subject(RequestId(request)), publish)
            .await
            .map_err(|e| anyhow::anyhow!("relay publish: {e}"))?
            .await
            .map_err(|e| anyhow::anyhow!("relay publish ack: {e}"))?;
        Ok(Accepted {
            request_id: request,
            command_id,
            sequence: ack.sequence,
            duplicate: false,
            events: canned.events.clone(),
            state: canned.state.clone(),
        })
    }
}

/// The command mix sent to the relay: the gateway target's bodies and token.
pub struct Relay {
    client: async_nats::Client,
    requester: String,
    approver: String,
}

impl Relay {
    pub async fn new(url: &str) -> anyhow::Result<Self> {
        let issuer = world::issuer();
        let bearer = |user: &str| format!("Bearer {}", issuer.issue(user, &[], 24 * 3600));
        Ok(Self {
            client: world::connect(url).await?,
            requester: bearer(world::REQUESTER),
            approver: bearer(world::APPROVER),
        })
    }

    async fn send(
        &self,
        action: &str,
        token: &str,
        request: Uuid,
        expected: u64,
        body: String,
    ) -> anyhow::Result<u64> {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION_HEADER, token);
        headers.insert(REQUEST_HEADER, request.to_string().as_str());
        headers.insert(EXPECTED_HEADER, expected.to_string().as_str());
        let answer = tokio::time::timeout(
            Duration::from_secs(60),
            self.client.request_with_headers(
                format!("{SUBJECT_PREFIX}.{action}"),
                headers,
                body.into(),
            ),
        )
        .await
        .with_context(|| format!("the relay did not answer a {action} within 60 s"))?
        .map_err(|e| anyhow::anyhow!("relay {action}: {e}"))?;
        match serde_json::from_slice(&answer.payload)? {
            Reply::Accepted(a) => Ok(a.sequence),
            Reply::Error(e) => anyhow::bail!("relay {action} refused: {} {}", e.code, e.message),
        }
    }
}

impl Target for Relay {
    fn submit(&self, request: Uuid) -> BoxFuture<'_, anyhow::Result<u64>> {
        let body = targets::submit_body(request);
        self.send("submit", &self.requester, request, 0, body)
            .boxed()
    }

    fn approve(&self, request: Uuid, after: u64) -> BoxFuture<'_, anyhow::Result<u64>> {
        let body = targets::approve_body(request);
        self.send("approve", &self.approver, request, after, body)
            .boxed()
    }
}
