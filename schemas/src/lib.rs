//! The signoff wire contract: the subject map, command bodies, replies and
//! error codes, as Rust types from which the JSON Schema documents under
//! `schemas/json/` are generated (`cargo xtask bless-schemas`).
//!
//! Wire types are separate from domain types; the gateway converts explicitly.
//! Must never hold behaviour beyond shape: rules live in `signoff-engine`.
//!
//! Commands travel as JSON over NATS request/reply to `signoff.cmd.<action>`
//! with the caller's identity token in the `Authorization: Bearer <jwt>` header;
//! events are MessagePack in the JetStream stream `SIGNOFF_EVENTS` on
//! `signoff.events.<request id>`.

pub mod commands;
pub mod generate;
pub mod replies;
pub mod subjects;

pub use commands::*;
pub use replies::*;

/// Version of the command and reply JSON contract.
pub const WIRE_VERSION: u32 = 7;
