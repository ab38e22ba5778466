//! `cqrs_es::EventStore` on JetStream, so a `CqrsFramework<ApprovalAggregate, _>`
//! runs on the same log as the gateway. cqrs-es numbers events per aggregate
//! (`EventEnvelope::sequence`, from 1); the JetStream stream sequence of the
//! commit holding each event is in its metadata under `streamSequence`.
//!
//! `commit` needs the command's facts in the metadata: `commandId` (required,
//! the idempotency key), `actor`, `action`, `at` (RFC 3339), `commandHash`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use cqrs_es::{AggregateContext, AggregateError, EventEnvelope};
use signoff_engine::{CommandId, RequestId, UserId, EVENT_SCHEMA_VERSION};
use uuid::Uuid;

use crate::aggregate::{ApprovalAggregate, CommandError, Event};
use crate::commit::Commit;
use crate::error::StoreError;
use crate::jetstream::{EventStore, Loaded};

pub const META_STREAM_SEQUENCE: &str = "streamSequence";
pub const META_COMMAND_ID: &str = "commandId";
pub const META_ACTOR: &str = "actor";
pub const META_ACTION: &str = "action";
pub const META_AT: &str = "at";
pub const META_COMMAND_HASH: &str = "commandHash";

type Error = AggregateError<CommandError>;

impl AggregateContext<ApprovalAggregate> for Loaded {
    fn aggregate(&mut self) -> &mut ApprovalAggregate {
        &mut self.aggregate
    }
}

fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::Conflict { .. } => AggregateError::AggregateConflict,
        StoreError::Decode { .. } | StoreError::UnsupportedSchema { .. } => {
            AggregateError::DeserializationError(Box::new(e))
        }
        StoreError::Unavailable(_) => AggregateError::DatabaseConnectionError(Box::new(e)),
        other => AggregateError::UnexpectedError(Box::new(other)),
    }
}

fn unexpected(message: String) -> Error {
    AggregateError::UnexpectedError(message.into())
}

fn request_id(aggregate_id: &str) -> Result<RequestId, Error> {
    Uuid::parse_str(aggregate_id).map(RequestId).map_err(|e| {
        unexpected(format!(
            "aggregate id `{aggregate_id}` is not a request id: {e}"
        ))
    })
}

impl cqrs_es::EventStore<ApprovalAggregate> for EventStore {
    type AC = Loaded;

    async fn load_events(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<EventEnvelope<ApprovalAggregate>>, Error> {
        let id = request_id(aggregate_id)?;
        let commits = self.read_commits(id, 0).await.map_err(store_error)?;
        let mut envelopes = Vec::new();
        for stored in commits {
            let metadata = HashMap::from([
                (META_STREAM_SEQUENCE.to_owned(), stored.sequence.to_string()),
                (
                    META_COMMAND_ID.to_owned(),
                    stored.commit.command_id.to_string(),
                ),
                (META_ACTOR.to_owned(), stored.commit.actor.to_string()),
                (META_ACTION.to_owned(), stored.commit.action.clone()),
                (META_AT.to_owned(), stored.commit.at.to_rfc3339()),
            ]);
            for event in stored.commit.events {
                envelopes.push(EventEnvelope {
                    aggregate_id: aggregate_id.to_owned(),
                    sequence: envelopes.len() + 1,
                    payload: Event(event),
                    metadata: metadata.clone(),
                });
            }
        }
        Ok(envelopes)
    }

    async fn load_aggregate(&self, aggregate_id: &str) -> Result<Loaded, Error> {
        self.load(request_id(aggregate_id)?)
            .await
            .map_err(store_error)
    }

    async fn commit(
        &self,
        events: Vec<Event>,
        context: Loaded,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<ApprovalAggregate>>, Error> {
        let meta = |key: &str| metadata.get(key).cloned();
        let command_id = meta(META_COMMAND_ID)
            .ok_or_else(|| {
                unexpected(format!(
                    "commit needs `{META_COMMAND_ID}` metadata (the idempotency key)"
                ))
            })
            .and_then(|raw| {
                Uuid::parse_str(&raw).map_err(|e| unexpected(format!("`{META_COMMAND_ID}`: {e}")))
            })?;
        let actor = meta(META_ACTOR)
            .ok_or_else(|| unexpected(format!("commit needs `{META_ACTOR}` metadata")))
            .and_then(|raw| {
                UserId::parse(&raw).map_err(|e| unexpected(format!("`{META_ACTOR}`: {e}")))
            })?;
        let at = meta(META_AT)
            .ok_or_else(|| unexpected(format!("commit needs `{META_AT}` metadata")))
            .and_then(|raw| {
                DateTime::parse_from_rfc3339(&raw)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| unexpected(format!("`{META_AT}`: {e}")))
            })?;
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let commit = Commit {
            schema_version: EVENT_SCHEMA_VERSION,
            request_id: context.request_id,
            command_id: CommandId(command_id),
            command_hash: meta(META_COMMAND_HASH).unwrap_or_default(),
            action: meta(META_ACTION).unwrap_or_else(|| "unknown".into()),
            actor,
            at,
            events: events.iter().map(|e| e.0.clone()).collect(),
        };
        let appended = self
            .publish(context.request_id, context.last_sequence, &commit)
            .await
            .map_err(store_error);
        // The context's aggregate already folded these events through the sink:
        // the cached copy is not the one to keep.
        self.forget(context.request_id);
        let appended = appended?;
        let first = context.aggregate.state.events_applied as usize - events.len() + 1;
        let mut metadata = metadata;
        metadata.insert(
            META_STREAM_SEQUENCE.to_owned(),
            appended.sequence.to_string(),
        );
        Ok(events
            .into_iter()
            .enumerate()
            .map(|(i, payload)| EventEnvelope {
                aggregate_id: context.request_id.to_string(),
                sequence: first + i,
                payload,
                metadata: metadata.clone(),
            })
            .collect())
    }
}
