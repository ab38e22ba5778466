//! Errors of the event store adapter. Domain refusals are not here: they never
//! reach the store.

/// What went wrong talking to JetStream or reading what it holds.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another command appended to the request first (JetStream error 10071).
    /// Reload and decide again.
    #[error("request was changed concurrently (expected last sequence {expected})")]
    Conflict { expected: u64 },
    /// The server cannot be reached or did not answer in time; retry with the same command id.
    #[error("JetStream unavailable: {0}")]
    Unavailable(String),
    /// The server answered with an error we do not handle.
    #[error("JetStream refused: {0}")]
    Refused(String),
    /// The server is older than signoff needs.
    #[error("nats-server {found} is too old: signoff needs {min} or newer ({why})")]
    ServerTooOld {
        found: String,
        min: String,
        why: &'static str,
    },
    /// The stream exists with settings that break signoff's guarantees.
    #[error("stream {stream} is misconfigured: {problem}")]
    StreamMisconfigured { stream: String, problem: String },
    #[error("could not encode a commit: {0}")]
    Encode(String),
    /// A stored message does not decode: the log holds something this build cannot read.
    #[error("message {sequence} does not decode: {problem}")]
    Decode { sequence: u64, problem: String },
    #[error("message {sequence} has schema version {found}; this build reads {supported}")]
    UnsupportedSchema {
        sequence: u64,
        found: u32,
        supported: u32,
    },
}
