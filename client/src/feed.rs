//! The decisions feed: every request's decision, in log order, for services
//! that react to many requests. Two ways to resume after a restart:
//!
//! * **durable** — a named JetStream consumer keeps the position on the
//!   server; each decision is redelivered until [`FeedItem::ack`] (at least once);
//! * **from a position** — the caller stores [`DecidedRequest::sequence`] with
//!   its own state and restarts with `starting_at(last + 1)`.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::AckKind;
use futures::{Stream, StreamExt};
use signoff_engine::RequestId;
use signoff_eventstore::{Commit, EventStore, StoreError, StoredCommit};

use crate::decision::{DecidedRequest, Folder};

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("the decisions feed is unavailable: {0}")]
    Unavailable(String),
    #[error("a durable feed name must be 1..=64 characters of A-Z a-z 0-9 - _, not `{0}`")]
    BadName(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct FeedBuilder {
    store: Arc<EventStore>,
}

impl FeedBuilder {
    pub(crate) fn new(store: Arc<EventStore>) -> Self {
        Self { store }
    }

    /// A durable feed named `name`: its position lives on the server, so a
    /// restarted service continues after the last decision it acknowledged.
    pub async fn durable(self, name: &str) -> Result<DecisionFeed, FeedError> {
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(FeedError::BadName(name.chars().take(80).collect()));
        }
        let settings = self.store.settings();
        let durable = format!("decisions-{name}");
        let stream = self
            .store
            .jetstream()
            .get_stream(&settings.name)
            .await
            .map_err(|e| FeedError::Unavailable(e.to_string()))?;
        let consumer = stream
            .get_or_create_consumer(
                &durable,
                pull::Config {
                    durable_name: Some(durable.clone()),
                    description: Some(format!("signoff decisions feed `{name}`")),
                    filter_subject: settings.all_subjects(),
                    deliver_policy: DeliverPolicy::All,
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(30),
                    // One decision at a time: delivered in log order.
                    max_ack_pending: 1,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| FeedError::Unavailable(e.to_string()))?;
        Ok(DecisionFeed {
            store: self.store,
            source: Source::Durable(Box::new(consumer)),
        })
    }

    /// Every decision from stream sequence `start` on (1: from the beginning);
    /// the caller keeps the position.
    pub async fn starting_at(self, start: u64) -> Result<DecisionFeed, FeedError> {
        let settings = self.store.settings();
        let stream = self
            .store
            .jetstream()
            .get_stream(&settings.name)
            .await
            .map_err(|e| FeedError::Unavailable(e.to_string()))?;
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: settings.all_subjects(),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: start.max(1),
                },
                ..Default::default()
            })
            .await
            .map_err(|e| FeedError::Unavailable(e.to_string()))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| FeedError::Unavailable(e.to_string()))?;
        let source = messages.map(|message| {
            let message = message.map_err(|e| FeedError::Unavailable(e.to_string()))?;
            let info = message
                .info()
                .map_err(|e| FeedError::Unavailable(e.to_string()))?;
            let sequence = info.stream_sequence;
            Ok((
                StoredCommit {
                    sequence,
                    subject: message.subject.to_string(),
                    commit: Commit::decode(sequence, &message.payload)?,
                },
                None,
            ))
        });
        Ok(DecisionFeed {
            store: self.store,
            source: Source::Ordered(Box::pin(source)),
        })
    }
}

type Delivered = (StoredCommit, Option<async_nats::jetstream::Message>);

enum Source {
    /// Fetched one message at a time, only when asked: nothing is held
    /// unacknowledged by a feed that is dropped between two `next` calls.
    Durable(Box<async_nats::jetstream::consumer::PullConsumer>),
    Ordered(Pin<Box<dyn Stream<Item = Result<Delivered, FeedError>> + Send>>),
}

impl Source {
    async fn next(&mut self) -> Option<Result<Delivered, FeedError>> {
        match self {
            Source::Ordered(stream) => stream.next().await,
            Source::Durable(consumer) => loop {
                let batch = consumer
                    .fetch()
                    .max_messages(1)
                    .expires(Duration::from_secs(5))
                    .messages()
                    .await;
                let mut batch = match batch {
                    Ok(batch) => batch,
                    Err(e) => return Some(Err(FeedError::Unavailable(e.to_string()))),
                };
                let Some(message) = batch.next().await else {
                    continue;
                };
                let message = match message {
                    Ok(message) => message,
                    Err(e) => return Some(Err(FeedError::Unavailable(e.to_string()))),
                };
                return Some(decode_delivery(message));
            },
        }
    }
}

fn decode_delivery(message: async_nats::jetstream::Message) -> Result<Delivered, FeedError> {
    let info = message
        .info()
        .map_err(|e| FeedError::Unavailable(e.to_string()))?;
    let sequence = info.stream_sequence;
    let commit = Commit::decode(sequence, &message.payload)?;
    Ok((
        StoredCommit {
            sequence,
            subject: message.subject.to_string(),
            commit,
        },
        Some(message),
    ))
}

/// A stream of decisions; see the module docs for how it resumes.
pub struct DecisionFeed {
    store: Arc<EventStore>,
    source: Source,
}

/// One decision; acknowledge it once handled (durable feeds redeliver it otherwise).
pub struct FeedItem {
    pub decided: DecidedRequest,
    message: Option<async_nats::jetstream::Message>,
}

impl std::fmt::Debug for FeedItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedItem")
            .field("decided", &self.decided)
            .finish()
    }
}

impl FeedItem {
    /// Marks the decision handled (a no-op for position-based feeds).
    pub async fn ack(self) -> Result<(), FeedError> {
        if let Some(message) = self.message {
            message
                .double_ack()
                .await
                .map_err(|e| FeedError::Unavailable(e.to_string()))?;
        }
        Ok(())
    }

    /// Asks for the decision again later (durable feeds only).
    pub async fn retry_later(self, delay: Duration) -> Result<(), FeedError> {
        if let Some(message) = self.message {
            message
                .ack_with(AckKind::Nak(Some(delay)))
                .await
                .map_err(|e| FeedError::Unavailable(e.to_string()))?;
        }
        Ok(())
    }
}

impl DecisionFeed {
    /// The next decision; commits that decide nothing are passed over (and
    /// acknowledged). `None` only if the server ends the feed.
    pub async fn next(&mut self) -> Option<Result<FeedItem, FeedError>> {
        loop {
            let (stored, message) = match self.source.next().await? {
                Ok(item) => item,
                Err(e) => return Some(Err(e)),
            };
            if !stored.commit.events.iter().any(|e| e.is_decision()) {
                if let Some(message) = message {
                    if let Err(e) = message.ack().await {
                        return Some(Err(FeedError::Unavailable(e.to_string())));
                    }
                }
                continue;
            }
            return Some(
                self.decided(stored)
                    .await
                    .map(|decided| FeedItem { decided, message }),
            );
        }
    }

    async fn decided(&self, stored: StoredCommit) -> Result<DecidedRequest, FeedError> {
        decision_of(&self.store, &stored).await?.ok_or_else(|| {
            FeedError::Unavailable(format!(
                "commit {} decides request {} but its history does not fold",
                stored.sequence, stored.commit.request_id
            ))
        })
    }
}

/// The decision a commit makes, if any, with the request folded up to it (so
/// the decision names its approvers and title).
pub async fn decision_of(
    store: &EventStore,
    stored: &StoredCommit,
) -> Result<Option<DecidedRequest>, FeedError> {
    if !stored.commit.events.iter().any(|e| e.is_decision()) {
        return Ok(None);
    }
    let request_id = RequestId(stored.commit.request_id.0);
    let mut folder = Folder::default();
    for earlier in store.read_commits(request_id, 0).await? {
        if earlier.sequence >= stored.sequence {
            break;
        }
        folder.apply(&earlier);
    }
    Ok(folder.apply(stored))
}
