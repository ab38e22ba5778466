//! The projector: a durable JetStream consumer on every request subject,
//! folding batches of commits into the sled database.
//!
//! Exactly-once effect: a batch's views, audit records and the new checkpoint
//! are one atomic sled batch, flushed before the messages are acknowledged.
//! sled's checkpoint, not the consumer's ack floor, says where to resume: at
//! start the consumer is (re)created to deliver from checkpoint + 1, and
//! anything at or below the checkpoint is skipped. A crash between any two
//! steps therefore neither skips nor double-applies an event.

use std::pin::Pin;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures::future::{Fuse, FusedFuture as _};
use futures::{FutureExt as _, StreamExt};
use signoff_eventstore::{Commit, StoreError, StoredCommit, StreamSettings};
use tracing::{debug, info, info_span, warn, Instrument};

use crate::db::{Folder, ProjectionDb, ProjectionError};

/// Default durable consumer name.
pub const CONSUMER: &str = "signoff-projector";

#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    #[error("JetStream: {0}")]
    JetStream(String),
    #[error(transparent)]
    Decode(#[from] signoff_eventstore::StoreError),
}

fn js_error(e: impl std::fmt::Display) -> ProjectorError {
    ProjectorError::JetStream(e.to_string())
}

pub struct Projector {
    js: jetstream::Context,
    settings: StreamSettings,
    db: ProjectionDb,
    consumer_name: String,
    batch_size: usize,
}

impl Projector {
    pub fn new(client: async_nats::Client, settings: StreamSettings, db: ProjectionDb) -> Self {
        Self {
            js: jetstream::new(client),
            settings,
            db,
            consumer_name: CONSUMER.into(),
            batch_size: 1000,
        }
    }

    pub fn with_consumer_name(mut self, name: impl Into<String>) -> Self {
        self.consumer_name = name.into();
        self
    }

    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    pub fn db(&self) -> &ProjectionDb {
        &self.db
    }

    /// Runs until `shutdown` resolves; on a consumer error it recreates the
    /// consumer from the checkpoint and goes on. On shutdown a batch being
    /// written is finished, flushed and acknowledged before this returns, so
    /// the database can be reopened at once (sled locks it while open).
    pub async fn run(
        &self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), ProjectorError> {
        let shutdown = shutdown.fuse();
        tokio::pin!(shutdown);
        loop {
            let result = self.run_consumer(shutdown.as_mut()).await;
            let pause = match result {
                Err(ProjectorError::Projection(e)) => return Err(e.into()),
                // A commit this build cannot read (a newer writer's, or
                // damaged): going on would leave a hole in the audit chain,
                // and recreating the consumer would meet it again.
                Err(ProjectorError::Decode(
                    e @ (StoreError::Decode { .. } | StoreError::UnsupportedSchema { .. }),
                )) => return Err(e.into()),
                _ if shutdown.is_terminated() => return Ok(()),
                Err(e) => {
                    warn!(error = %e, "consumer failed; recreating it from the checkpoint");
                    Duration::from_millis(500)
                }
                Ok(()) => Duration::from_millis(100),
            };
            tokio::select! {
                _ = shutdown.as_mut() => return Ok(()),
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn consumer(&self, start: u64) -> Result<consumer::PullConsumer, ProjectorError> {
        let stream = self
            .js
            .get_stream(&self.settings.name)
            .await
            .map_err(js_error)?;
        // Ignore "not found": the point is a consumer that starts at `start`.
        let _ = stream.delete_consumer(&self.consumer_name).await;
        stream
            .create_consumer(consumer::pull::Config {
                durable_name: Some(self.consumer_name.clone()),
                filter_subject: self.settings.all_subjects(),
                deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: start,
                },
                ack_policy: consumer::AckPolicy::All,
                // A batch being written, one being folded, one in the
                // channel, one being read, and the client's prefetch.
                max_ack_pending: (self.batch_size * 8) as i64,
                ack_wait: Duration::from_secs(60),
                ..Default::default()
            })
            .await
            .map_err(js_error)
    }

    /// One consumer from the checkpoint until it fails, ends or `shutdown`
    /// resolves (then with `Ok` once the batch in hand is written).
    async fn run_consumer<F: std::future::Future<Output = ()>>(
        &self,
        mut shutdown: Pin<&mut Fuse<F>>,
    ) -> Result<(), ProjectorError> {
        let checkpoint = self.db.checkpoint()?;
        info!(checkpoint, consumer = %self.consumer_name, "projector resuming after the checkpoint");
        let messages = tokio::select! {
            _ = shutdown.as_mut() => return Ok(()),
            messages = async {
                self.consumer(checkpoint + 1)
                    .await?
                    .stream()
                    .max_messages_per_batch(self.batch_size)
                    .heartbeat(Duration::from_secs(5))
                    .messages()
                    .await
                    .map_err(js_error)
            } => messages?,
        };
        // The reader receives and decodes the next batch while this task
        // folds and writes the previous one: one batch in the channel, one
        // being applied.
        let (batches, mut incoming) = tokio::sync::mpsc::channel(1);
        let reader = tokio::spawn(read_batches(messages, checkpoint, self.batch_size, batches));
        let result = self.fold_and_write(&mut incoming, shutdown).await;
        reader.abort();
        result
    }

    /// Three stages at once: the reader decodes batch N + 2, this task folds
    /// batch N + 1 (on a blocking thread), and batch N is being written and
    /// flushed. A batch's messages are acknowledged once it is flushed.
    async fn fold_and_write<F: std::future::Future<Output = ()>>(
        &self,
        incoming: &mut tokio::sync::mpsc::Receiver<Result<Batch, ProjectorError>>,
        shutdown: Pin<&mut Fuse<F>>,
    ) -> Result<(), ProjectorError> {
        let mut folder = Some(Folder::new(self.db.clone())?);
        let mut writing: Option<(
            tokio::task::JoinHandle<Result<u64, ProjectionError>>,
            jetstream::Message,
        )> = None;
        let result = self
            .fold_and_write_loop(incoming, shutdown, &mut folder, &mut writing)
            .await;
        // Never leave a write behind: the next consumer starts from the
        // checkpoint it sets, and the database stays open until it ends.
        if let Some((write, last)) = writing.take() {
            let written = acknowledge(write.await, last).await;
            result?;
            return written;
        }
        result
    }

    async fn fold_and_write_loop<F: std::future::Future<Output = ()>>(
        &self,
        incoming: &mut tokio::sync::mpsc::Receiver<Result<Batch, ProjectorError>>,
        mut shutdown: Pin<&mut Fuse<F>>,
        folder: &mut Option<Folder>,
        writing: &mut Option<(
            tokio::task::JoinHandle<Result<u64, ProjectionError>>,
            jetstream::Message,
        )>,
    ) -> Result<(), ProjectorError> {
        loop {
            let batch = tokio::select! {
                biased;
                written = async { (&mut writing.as_mut().expect("guarded").0).await }, if writing.is_some() => {
                    let (_, last) = writing.take().expect("guarded");
                    acknowledge(written, last).await?;
                    continue;
                }
                // Stop taking batches; the one being written is finished above.
                _ = shutdown.as_mut() => break,
                batch = incoming.recv() => batch,
            };
            let Some(batch) = batch else { break };
            let Batch { commits, last } = batch?;
            let span = info_span!(
                "projection_batch",
                commits = commits.len(),
                last_sequence = commits.last().map(|c| c.sequence).unwrap_or(0)
            );
            let (folded, returned) = folder
                .take()
                .expect("the folder is handed back")
                .fold_blocking(commits)
                .instrument(span.clone())
                .await?;
            *folder = Some(returned);
            // Writes go in fold order: the previous one first.
            if let Some((write, previous)) = writing.take() {
                acknowledge(write.await, previous).await?;
            }
            match folded {
                Some(folded) => {
                    let db = self.db.clone();
                    let write =
                        tokio::spawn(async move { db.write(folded).await }.instrument(span));
                    *writing = Some((write, last));
                }
                // Nothing new (a redelivery): acknowledge it as it is.
                None => last.ack().await.map_err(js_error)?,
            }
        }
        Ok(())
    }
}

/// Acknowledges a batch once its write has flushed (AckPolicy::All acks
/// everything up to `last`).
async fn acknowledge(
    written: Result<Result<u64, ProjectionError>, tokio::task::JoinError>,
    last: jetstream::Message,
) -> Result<(), ProjectorError> {
    let applied = written.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    debug!(applied, "batch applied and flushed");
    last.ack().await.map_err(js_error)
}

/// One batch as the reader hands it over: the decoded commits and the
/// message to acknowledge once they are flushed.
struct Batch {
    commits: Vec<StoredCommit>,
    last: jetstream::Message,
}

/// Receives messages into batches (whatever is already here, up to
/// `batch_size`), decodes them, and sends them on until the consumer or the
/// receiver ends. A consumer or decode error is sent as the last item.
///
/// The stream refuses deletes and purges, so its sequences have no holes:
/// the messages after `checkpoint` must come as checkpoint + 1, + 2, ...
/// A message already passed is a redelivery and is dropped; a message past
/// the next one is a gap in the delivery (a consumer moved to a new leader
/// can deliver on before redelivering what it lost), which ends this
/// consumer with an error so that it is recreated from the checkpoint.
async fn read_batches(
    mut messages: consumer::pull::Stream,
    checkpoint: u64,
    batch_size: usize,
    batches: tokio::sync::mpsc::Sender<Result<Batch, ProjectorError>>,
) {
    let mut next = checkpoint + 1;
    loop {
        let batch = async {
            let Some(first) = messages.next().await else {
                return Ok(None);
            };
            let mut received = vec![first.map_err(js_error)?];
            while received.len() < batch_size {
                match tokio::time::timeout(Duration::from_millis(2), messages.next()).await {
                    Ok(Some(message)) => received.push(message.map_err(js_error)?),
                    _ => break,
                }
            }
            let mut commits = Vec::with_capacity(received.len());
            for message in &received {
                let sequence = message.info().map_err(js_error)?.stream_sequence;
                if sequence < next {
                    continue;
                }
                if sequence > next {
                    return Err(ProjectorError::JetStream(format!(
                        "the consumer delivered sequence {sequence} before {next}: a gap in its delivery"
                    )));
                }
                next += 1;
                commits.push(StoredCommit {
                    sequence,
                    subject: message.subject.to_string(),
                    commit: Commit::decode(sequence, &message.payload)?,
                });
            }
            let last = received.pop().expect("non-empty batch");
            Ok(Some(Batch { commits, last }))
        }
        .await;
        let end = !matches!(batch, Ok(Some(_)));
        let sent = match batch {
            Ok(Some(batch)) => batches.send(Ok(batch)).await,
            Ok(None) => return,
            Err(e) => batches.send(Err(e)).await,
        };
        if end || sent.is_err() {
            return;
        }
    }
}

/// Folds the whole log into `db` from sequence 1 (or from its checkpoint),
/// without a durable consumer: the rebuild path. Returns the checkpoint reached.
pub async fn rebuild(
    client: async_nats::Client,
    settings: &StreamSettings,
    db: &ProjectionDb,
    batch_size: usize,
) -> Result<u64, ProjectorError> {
    let batch_size = batch_size.max(1);
    let js = jetstream::new(client);
    let mut stream = js.get_stream(&settings.name).await.map_err(js_error)?;
    let last = stream.info().await.map_err(js_error)?.state.last_sequence;
    let mut checkpoint = db.checkpoint()?;
    if checkpoint >= last {
        return Ok(checkpoint);
    }
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: settings.all_subjects(),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: checkpoint + 1,
            },
            ..Default::default()
        })
        .await
        .map_err(js_error)?;
    let mut messages = consumer.messages().await.map_err(js_error)?;
    let mut commits = Vec::with_capacity(batch_size);
    while checkpoint < last {
        let Some(message) = messages.next().await else {
            break;
        };
        let message = message.map_err(js_error)?;
        let info = message.info().map_err(js_error)?;
        let sequence = info.stream_sequence;
        commits.push(StoredCommit {
            sequence,
            subject: message.subject.to_string(),
            commit: Commit::decode(sequence, &message.payload)?,
        });
        if commits.len() == batch_size || sequence >= last {
            let batch = std::mem::replace(&mut commits, Vec::with_capacity(batch_size));
            let span = info_span!(
                "projection_batch",
                rebuild = true,
                commits = batch.len(),
                last_sequence = sequence
            );
            checkpoint = db.apply_owned(batch).instrument(span).await?;
        }
    }
    Ok(checkpoint)
}
