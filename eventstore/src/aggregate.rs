//! The engine's `ApprovalRequest` as a `cqrs_es::Aggregate`. A thin shell:
//! `handle` calls the pure [`signoff_engine::decide`], `apply` calls the pure
//! transition table. A history the table refuses marks the aggregate broken
//! (cqrs-es's `apply` cannot fail) and every later command is refused.

use std::sync::Arc;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use signoff_engine::{
    decide, ApprovalCommand, ApprovalEvent, ApprovalRequest, DomainError, TeamDirectory,
    EVENT_SCHEMA_VERSION,
};

/// An engine event as cqrs-es sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Event(pub ApprovalEvent);

impl DomainEvent for Event {
    fn event_type(&self) -> String {
        self.0.name().to_owned()
    }

    fn event_version(&self) -> String {
        EVENT_SCHEMA_VERSION.to_string()
    }
}

/// Why a command was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CommandError {
    /// The domain refused the command; the reply carries the error's code.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The stored history does not fold (a bug or an incompatible change): an
    /// operator must look; retrying does not help.
    #[error("the stored history of this request does not replay: {0}")]
    HistoryDoesNotReplay(String),
}

impl CommandError {
    pub fn code(&self) -> &'static str {
        match self {
            CommandError::Domain(e) => e.code(),
            CommandError::HistoryDoesNotReplay(_) => "HISTORY_DOES_NOT_REPLAY",
        }
    }
}

/// The services `handle` may consult: the team directory.
pub type Services = Arc<dyn TeamDirectory>;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ApprovalAggregate {
    pub state: ApprovalRequest,
    /// Set when an event could not be folded; the aggregate refuses all commands.
    pub broken: Option<String>,
}

impl ApprovalAggregate {
    /// The pure decision, for callers that want the events without a sink.
    pub fn decide(
        &self,
        command: &ApprovalCommand,
        directory: &dyn TeamDirectory,
    ) -> Result<Vec<ApprovalEvent>, CommandError> {
        if let Some(why) = &self.broken {
            return Err(CommandError::HistoryDoesNotReplay(why.clone()));
        }
        Ok(decide(&self.state, command, directory)?)
    }

    /// Folds one event; a refused event marks the aggregate broken.
    pub fn fold(&mut self, event: ApprovalEvent) {
        if self.broken.is_none() {
            if let Err(e) = self.state.apply(event) {
                self.broken = Some(e.to_string());
            }
        }
    }
}

impl Aggregate for ApprovalAggregate {
    const TYPE: &'static str = "ApprovalRequest";
    type Command = ApprovalCommand;
    type Event = Event;
    type Error = CommandError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(&command, services.as_ref())? {
            sink.write(Event(event), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.fold(event.0);
    }
}
