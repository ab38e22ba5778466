//! signoff's domain: workflow specs in the users' vocabulary, policy
//! resolution into a concrete [`Plan`], and the [`ApprovalRequest`] state
//! machine with its commands, events and typed errors.
//!
//! This crate must never do I/O, read a clock, draw randomness or depend on an
//! async runtime: time, ids, the verified actor and team membership are inputs.
//! That is what makes [`ApprovalRequest::apply`] deterministic and lets every
//! rule be tested without a server.
//!
//! # Layout
//! - [`spec`]: the workflow spec (`title`, `approvers`, `minApprovals`, ...) and its validation.
//! - [`expr`]: CEL conditions for `condition` and custom `logic` rules.
//! - [`policy`]: spec + parameters + time + directory → [`Plan`].
//! - [`decide`](mod@decide): command + state → events or [`DomainError`].
//! - [`request`]: the state and its transition table ([`ApprovalRequest::apply`]).
//! - [`event`], [`command`], [`error`], [`ids`], [`raw_json`], [`time`], [`directory`].

pub mod calendar;
pub mod command;
pub mod decide;
pub mod directory;
pub mod error;
pub mod event;
pub mod expr;
pub mod ids;
pub mod plan;
pub mod policy;
pub mod raw_json;
pub mod request;
pub mod spec;
pub mod time;

pub use command::{Action, Actor, ApprovalCommand, Authentication, ExecutionOutcome, Role};
pub use decide::decide;
pub use directory::{StaticDirectory, TeamDirectory};
pub use error::{DomainError, ReplayError};
pub use event::{ApprovalEvent, EVENT_SCHEMA_VERSION};
pub use ids::{CommandId, RequestId, TeamId, UserId};
pub use plan::{Plan, Principal};
pub use raw_json::RawJson;
pub use request::{ApprovalRequest, Status};
pub use spec::WorkflowSpec;
