//! signoff's process edge: the command gateway (NATS request/reply), the read
//! side process (projector + HTTP query API), the audit tools, identity
//! tokens, configuration, the webhook dispatcher, the local dev runner and the
//! local nats-server manager. The `signoff` binary (`main.rs`) wires them to a CLI.
//!
//! Must never decide a request's fate itself: every rule is in
//! `signoff-engine`; this crate authenticates, decodes, loads, appends, replies.

pub mod audit;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod demo;
pub mod dev;
pub mod gateway;
pub mod http;
pub mod identity;
pub mod local_nats;
pub mod readside;
pub mod scheduler;
pub mod webhooks;
