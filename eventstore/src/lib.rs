//! The signoff event log on NATS JetStream, and the cqrs-es glue around the
//! pure engine.
//!
//! - [`aggregate`]: `ApprovalAggregate`, the engine's state machine as a `cqrs_es::Aggregate`.
//! - [`commit`]: one message per command (MessagePack, schema version header).
//! - [`jetstream`]: the stream, loads by subject, appends with optimistic concurrency.
//! - [`cqrs`]: the same store behind `cqrs_es::EventStore`, so `CqrsFramework` runs on it.
//!
//! Must never decide anything: every rule lives in `signoff-engine`; this
//! crate only stores, loads and orders.

pub mod aggregate;
pub mod commit;
pub mod cqrs;
pub mod error;
pub mod jetstream;

pub use aggregate::{ApprovalAggregate, CommandError, Event, Services};
pub use commit::{Commit, StoredCommit};
pub use error::StoreError;
pub use jetstream::{
    AppendOutcome, Appended, EncodedCommit, EventStore, Loaded, StreamSettings,
    DEFAULT_CACHE_CAPACITY, DEFAULT_READ_STALL,
};
