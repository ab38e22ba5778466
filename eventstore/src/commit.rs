//! One commit = one JetStream message = all events of one command, so a
//! command's events are stored atomically. MessagePack (named fields) with the
//! schema version in a header and in the body.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use signoff_engine::{ApprovalEvent, CommandId, RequestId, UserId, EVENT_SCHEMA_VERSION};

use crate::error::StoreError;

pub const HEADER_SCHEMA: &str = "Signoff-Schema";
pub const HEADER_ACTION: &str = "Signoff-Action";
pub const CONTENT_TYPE: &str = "application/msgpack";
/// Deepest MessagePack nesting a stored commit may have.
pub const MAX_COMMIT_DEPTH: usize = 64;

/// The JetStream message of one encoded commit: the concurrency header
/// (`Nats-Expected-Last-Subject-Sequence`: the request's last sequence the
/// command was decided on, 0 for none), the idempotency header
/// (`Nats-Msg-Id`: the command id), the schema version, the action and the
/// content type.
pub fn publish_message(
    payload: bytes::Bytes,
    message_id: String,
    expected_last: u64,
    action: &str,
) -> async_nats::jetstream::message::PublishMessage {
    async_nats::jetstream::message::PublishMessage::build()
        .payload(payload)
        .message_id(message_id)
        .expected_last_subject_sequence(expected_last)
        .header(HEADER_SCHEMA, EVENT_SCHEMA_VERSION.to_string().as_str())
        .header(HEADER_ACTION, action)
        .header("Content-Type", CONTENT_TYPE)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Commit {
    pub schema_version: u32,
    pub request_id: RequestId,
    pub command_id: CommandId,
    /// `sha256:` of the command as received; a re-used command id with other content is refused.
    pub command_hash: String,
    /// `submit`, `approve`, ...
    pub action: String,
    pub actor: UserId,
    #[serde(with = "signoff_engine::time")]
    #[schemars(with = "DateTime<Utc>")]
    pub at: DateTime<Utc>,
    pub events: Vec<ApprovalEvent>,
}

impl Commit {
    pub fn encode(&self) -> Result<Vec<u8>, StoreError> {
        // Sized for a typical commit (0.7-1.2 KB), so encoding does not regrow the buffer.
        let mut out = Vec::with_capacity(2048);
        rmp_serde::encode::write_named(&mut out, self)
            .map_err(|e| StoreError::Encode(e.to_string()))?;
        Ok(out)
    }

    pub fn decode(sequence: u64, payload: &[u8]) -> Result<Self, StoreError> {
        let mut decoder = rmp_serde::Deserializer::from_read_ref(payload);
        // A real commit nests about a dozen levels (caller JSON is a string);
        // rmp-serde's default of 1024 overflows a 2 MiB thread stack on hostile input.
        decoder.set_max_depth(MAX_COMMIT_DEPTH);
        let commit = Commit::deserialize(&mut decoder).map_err(|e| StoreError::Decode {
            sequence,
            problem: e.to_string(),
        })?;
        if commit.schema_version != EVENT_SCHEMA_VERSION {
            return Err(StoreError::UnsupportedSchema {
                sequence,
                found: commit.schema_version,
                supported: EVENT_SCHEMA_VERSION,
            });
        }
        Ok(commit)
    }
}

/// A commit as read back, with its place in the stream.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredCommit {
    pub sequence: u64,
    pub subject: String,
    pub commit: Commit,
}
