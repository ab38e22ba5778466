//! signoff's read side: the projector folds the JetStream log into a sled
//! database of request views, approver inboxes, dashboard indexes and a
//! hash-chained audit trail, and serves reads from it.
//!
//! - [`audit`]: audit records and their hash chains, derived from commits alone (pure).
//! - [`db`]: the sled database: batches folded a batch ahead of their atomic write
//!   (with the checkpoint), reads.
//! - [`projector`]: the durable consumer loop, and the rebuild path.
//! - [`keys`], [`view`]: key layout and stored shapes.
//!
//! Must never write to the log or decide anything: state is folded by the
//! engine's own transition table, and everything here can be rebuilt from
//! the log and must come out byte for byte the same.

pub mod audit;
pub mod db;
pub mod keys;
pub mod msgpack;
pub mod projector;
pub mod view;

pub use audit::{AuditRecord, ChainHead, GENESIS};
pub use db::{
    Folded, Folder, ListFilter, Page, ProjectionDb, ProjectionError, StoredRequest,
    DEFAULT_CACHE_MIB,
};
pub use projector::{rebuild, Projector, ProjectorError};
pub use view::{InboxEntry, RequestRecord};
