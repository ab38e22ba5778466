//! The three things the command mix runs against.
//!
//! - [`RawLog`]: bare JetStream publishes of commit-sized messages with the
//!   same headers signoff sends (`Nats-Expected-Last-Subject-Sequence`,
//!   `Nats-Msg-Id`, schema, action, content type), one subject per request.
//!   No decoding, no deciding: the limit of the design.
//! - [`Gateway`]: the real command path: JSON command with a JWT over NATS
//!   request/reply to `signoff gateway`'s code, load, decide, append, reply.
//! - [`crate::relay::Relay`] (its own module): the gateway's shape with
//!   none of its work, the floor between the two.
//! - [`Peer`]: the same aggregate driven by cqrs-es's `CqrsFramework` on
//!   postgres-es against a local PostgreSQL.

use std::sync::Arc;

use async_nats::jetstream;
use bytes::Bytes;
use chrono::Utc;
use futures::future::BoxFuture;
use futures::FutureExt;
use signoff_api::client::CommandClient;
use signoff_engine::{RequestId, WorkflowSpec};
use signoff_eventstore::commit::publish_message;
use signoff_eventstore::{ApprovalAggregate, StreamSettings};
use signoff_schemas::Reply;
use uuid::Uuid;

use crate::drive::Target;
use crate::world;

pub struct RawLog {
    js: jetstream::Context,
    settings: StreamSettings,
    submit_payload: Bytes,
    approve_payload: Bytes,
}

impl RawLog {
    /// A second stream (`BENCH_RAW` on `bench.raw.>`) with signoff's stream config.
    pub async fn new(client: async_nats::Client) -> anyhow::Result<Self> {
        let settings = StreamSettings {
            name: "BENCH_RAW".into(),
            subject_prefix: "bench.raw".into(),
            ..StreamSettings::default()
        };
        let js = jetstream::new(client);
        js.get_or_create_stream(settings.stream_config())
            .await
            .map_err(|e| anyhow::anyhow!("creating the raw stream: {e}"))?;
        let (submit, approve) = world::sample_commits();
        Ok(Self {
            js,
            settings,
            submit_payload: submit.encode()?.into(),
            approve_payload: approve.encode()?.into(),
        })
    }

    pub fn sizes(&self) -> (usize, usize) {
        (self.submit_payload.len(), self.approve_payload.len())
    }

    async fn publish(
        &self,
        request: Uuid,
        expected: u64,
        payload: Bytes,
        action: &str,
    ) -> anyhow::Result<u64> {
        let message = publish_message(payload, Uuid::new_v4().to_string(), expected, action);
        let ack = self
            .js
            .send_publish(self.settings.subject(RequestId(request)), message)
            .await
            .map_err(|e| anyhow::anyhow!("raw publish: {e}"))?
            .await
            .map_err(|e| anyhow::anyhow!("raw publish ack: {e}"))?;
        Ok(ack.sequence)
    }
}

impl Target for RawLog {
    fn submit(&self, request: Uuid) -> BoxFuture<'_, anyhow::Result<u64>> {
        self.publish(request, 0, self.submit_payload.clone(), "submit")
            .boxed()
    }

    fn approve(&self, request: Uuid, after: u64) -> BoxFuture<'_, anyhow::Result<u64>> {
        self.publish(request, after, self.approve_payload.clone(), "approve")
            .boxed()
    }
}

pub struct Gateway {
    requester: CommandClient,
    approver: CommandClient,
}

impl Gateway {
    pub fn new(client: async_nats::Client) -> Self {
        let issuer = world::issuer();
        let base = CommandClient::new(client, issuer.issue(world::REQUESTER, &[], 24 * 3600))
            .with_timeout(std::time::Duration::from_secs(60));
        Self {
            approver: base.with_token(issuer.issue(world::APPROVER, &[], 24 * 3600)),
            requester: base,
        }
    }

    async fn send(client: &CommandClient, action: &str, body: String) -> anyhow::Result<u64> {
        match client.send_raw(action, body.into_bytes()).await? {
            Reply::Accepted(a) => Ok(a.sequence),
            Reply::Error(e) => anyhow::bail!("{action} refused: {} {}", e.code, e.message),
        }
    }
}

impl Target for Gateway {
    fn submit(&self, request: Uuid) -> BoxFuture<'_, anyhow::Result<u64>> {
        Self::send(&self.requester, "submit", submit_body(request)).boxed()
    }

    fn approve(&self, request: Uuid, _after: u64) -> BoxFuture<'_, anyhow::Result<u64>> {
        Self::send(&self.approver, "approve", approve_body(request)).boxed()
    }
}

/// The JSON body of the mix's submit of `request` (a fresh command id).
pub fn submit_body(request: Uuid) -> String {
    format!(
        r#"{{"commandId":"{}","requestId":"{request}","spec":{},"params":{}}}"#,
        Uuid::new_v4(),
        world::SPEC,
        world::PARAMS
    )
}

/// The JSON body of the mix's approval of `request`.
pub fn approve_body(request: Uuid) -> String {
    format!(
        r#"{{"commandId":"{}","requestId":"{request}","comment":"ok"}}"#,
        Uuid::new_v4()
    )
}

pub struct Peer {
    cqrs: postgres_es::PostgresCqrs<ApprovalAggregate>,
    spec: WorkflowSpec,
}

impl Peer {
    pub fn new(pool: sqlx::PgPool) -> Self {
        let directory: signoff_eventstore::Services = Arc::new(world::directory());
        Self {
            cqrs: postgres_es::postgres_cqrs(pool, vec![], directory),
            spec: WorkflowSpec::from_json(world::SPEC).expect("bench spec is valid"),
        }
    }

    async fn execute(
        &self,
        request: Uuid,
        user: &str,
        action: signoff_engine::Action,
    ) -> anyhow::Result<u64> {
        let command = world::command(RequestId(request), user, Utc::now(), action);
        self.cqrs
            .execute(&request.to_string(), command)
            .await
            .map_err(|e| anyhow::anyhow!("postgres-es: {e}"))?;
        Ok(1)
    }
}

impl Target for Peer {
    fn submit(&self, request: Uuid) -> BoxFuture<'_, anyhow::Result<u64>> {
        self.execute(request, world::REQUESTER, world::submit_action(&self.spec))
            .boxed()
    }

    fn approve(&self, request: Uuid, _after: u64) -> BoxFuture<'_, anyhow::Result<u64>> {
        self.execute(request, world::APPROVER, world::approve_action())
            .boxed()
    }
}
