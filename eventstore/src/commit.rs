//! One commit = one JetStream message = all events of one command, so a
//! command's events are stored atomically. MessagePack (named fields) with the
//! schema version in a header and in the body.

use async_nats::header::{HeaderName, HeaderValue};
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
/// (`Nats-Msg-Id`: [`crate::jetstream::message_id`]), the schema version, the action and the
/// content type.
pub fn publish_message(
    payload: bytes::Bytes,
    message_id: String,
    expected_last: u64,
    action: &str,
) -> async_nats::jetstream::message::PublishMessage {
    // Names made at compile time: a `&str` name is checked and copied per
    // message (each command's append goes through here).
    const SCHEMA: HeaderName = HeaderName::from_static(HEADER_SCHEMA);
    const ACTION: HeaderName = HeaderName::from_static(HEADER_ACTION);
    const TYPE: HeaderName = HeaderName::from_static("Content-Type");
    async_nats::jetstream::message::PublishMessage::build()
        .payload(payload)
        .message_id(message_id)
        .expected_last_subject_sequence(expected_last)
        .header(SCHEMA, HeaderValue::from(EVENT_SCHEMA_VERSION))
        .header(ACTION, action)
        .header(TYPE, CONTENT_TYPE)
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

/// Bytes one shared encoding buffer holds: the commits of a few dozen
/// commands share one allocation.
const ENCODE_CHUNK: usize = 64 * 1024;
/// Room left in the chunk below which the next commit starts a new one (a
/// commit is 0.7-1.2 KB; a larger one only grows the buffer once).
const ENCODE_ROOM: usize = 4 * 1024;

thread_local! {
    /// Where [`Commit::encode_shared`] writes: each payload is a slice of
    /// it, the chunk freed when the last of them is.
    static ENCODE_BUFFER: std::cell::RefCell<bytes::BytesMut> =
        std::cell::RefCell::new(bytes::BytesMut::new());
}

impl Commit {
    /// The encoded commit as a payload to publish, written into a chunk
    /// shared with the commits encoded before it on this thread. A payload
    /// is freed wherever the connection writes it, usually on another
    /// thread; one allocation per payload made the allocator collect those
    /// frees on every command (about half of the encoding's 3% of the
    /// bench process in a profile), one per chunk does so per few dozen.
    pub fn encode_shared(&self) -> Result<bytes::Bytes, StoreError> {
        use bytes::BufMut as _;
        ENCODE_BUFFER.with(|buffer| {
            let mut buffer = buffer.borrow_mut();
            if buffer.capacity() - buffer.len() < ENCODE_ROOM {
                // Reuses the chunk in place when every payload cut from it is gone.
                buffer.reserve(ENCODE_CHUNK);
            }
            let mut writer = (&mut *buffer).writer();
            let written = rmp_serde::encode::write_named(&mut writer, self);
            let encoded = buffer.split().freeze();
            written.map_err(|e| StoreError::Encode(e.to_string()))?;
            Ok(encoded)
        })
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(hash_len: usize, i: u128) -> Commit {
        Commit {
            schema_version: EVENT_SCHEMA_VERSION,
            request_id: RequestId(uuid::Uuid::from_u128(i)),
            command_id: CommandId(uuid::Uuid::from_u128(i + 1)),
            command_hash: "h".repeat(hash_len),
            action: "approve".into(),
            actor: UserId::parse("alice").expect("a valid user id"),
            at: DateTime::from_timestamp_millis(1_700_000_000_000).expect("a valid instant"),
            events: Vec::new(),
        }
    }

    #[test]
    fn shared_encodings_are_the_plain_encoding_and_stay_intact_across_chunks() {
        // Sizes around the room left and the chunk itself, then many typical
        // ones: several chunks, each payload kept while later ones are written.
        let sizes = [0, ENCODE_ROOM - 200, ENCODE_ROOM + 10, ENCODE_CHUNK + 1, 3]
            .into_iter()
            .chain(std::iter::repeat_n(1_000, 300));
        let commits: Vec<Commit> = sizes
            .enumerate()
            .map(|(i, len)| commit(len, i as u128 * 2))
            .collect();
        let shared: Vec<bytes::Bytes> = commits
            .iter()
            .map(|c| c.encode_shared().expect("encodes"))
            .collect();
        for (i, (c, payload)) in commits.iter().zip(&shared).enumerate() {
            assert_eq!(payload.as_ref(), c.encode().expect("encodes"), "commit {i}");
            assert_eq!(
                &Commit::decode(1, payload).expect("decodes"),
                c,
                "commit {i}"
            );
        }
    }
}
