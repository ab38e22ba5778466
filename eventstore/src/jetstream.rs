//! The event log on NATS JetStream: one subject per request
//! (`signoff.events.<request id>`), one message per commit, optimistic
//! concurrency with `Nats-Expected-Last-Subject-Sequence`, idempotency with
//! `Nats-Msg-Id` = request id `/` command id. Loads read only the request's own subject
//! (direct get, `next_by_subj`), so their cost does not grow with the stream.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use futures::{Stream, StreamExt};
use signoff_engine::{CommandId, RequestId, EVENT_SCHEMA_VERSION};
use tracing::{debug, instrument};

use crate::aggregate::ApprovalAggregate;
use crate::commit::{publish_message, Commit, StoredCommit};
use crate::error::StoreError;

/// Oldest nats-server signoff runs against, and why.
pub const MIN_SERVER_VERSION: (u64, u64, u64) = (2, 10, 0);
pub const MIN_SERVER_VERSION_WHY: &str =
    "direct gets by subject with next_by_subj on streams with allow_direct, and `sync_interval: always`, are relied on as they behave from 2.10";

/// Commits of one request read by direct gets (a round trip each) before the
/// rest of its history is streamed through one ordered consumer (a JetStream
/// API call to create, then no round trip per commit).
const DIRECT_READS_BEFORE_STREAMING: usize = 32;
/// How long a read may wait for the log's next message unless
/// [`EventStore::with_read_stall`] says otherwise.
pub const DEFAULT_READ_STALL: Duration = Duration::from_secs(10);

/// Where the log lives and how it is kept.
#[derive(Clone, Debug)]
pub struct StreamSettings {
    pub name: String,
    pub subject_prefix: String,
    /// 1 on one machine; 3 in a cluster.
    pub replicas: usize,
    /// How long JetStream remembers a `Nats-Msg-Id` (retries inside it get the duplicate ack).
    pub duplicate_window: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            name: "SIGNOFF_EVENTS".into(),
            subject_prefix: "signoff.events".into(),
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
        }
    }
}

impl StreamSettings {
    /// `<prefix>.<request id, hyphenated>`, built in one allocation (on
    /// every append; `format!` through `Display` was 0.5% of a command run).
    pub fn subject(&self, request: RequestId) -> String {
        let mut id = uuid::Uuid::encode_buffer();
        let id = request.0.hyphenated().encode_lower(&mut id);
        let mut subject = String::with_capacity(self.subject_prefix.len() + 1 + id.len());
        subject.push_str(&self.subject_prefix);
        subject.push('.');
        subject.push_str(id);
        subject
    }

    pub fn all_subjects(&self) -> String {
        format!("{}.>", self.subject_prefix)
    }

    /// The stream as signoff needs it: no deletes, no purges, new writes refused
    /// rather than old history dropped, unlimited messages per subject.
    pub fn stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.name.clone(),
            description: Some(
                "signoff approval events: one subject per request, one message per command".into(),
            ),
            subjects: vec![self.all_subjects()],
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            discard: stream::DiscardPolicy::New,
            max_messages_per_subject: -1,
            max_messages: -1,
            max_bytes: -1,
            num_replicas: self.replicas,
            duplicate_window: self.duplicate_window,
            deny_delete: true,
            deny_purge: true,
            allow_rollup: false,
            allow_direct: true,
            ..Default::default()
        }
    }
}

/// Requests kept by one [`EventStore`] unless [`EventStore::with_cache_capacity`] says otherwise.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// The loaded requests an [`EventStore`] keeps, at most `capacity`; when
/// full, the one written least recently goes (a request being worked on
/// stays; one evicted only costs a load). Shared (`Arc`), so a hit costs a
/// reference count, not a copy of the request.
struct LoadCache {
    capacity: usize,
    entries: HashMap<RequestId, (Arc<Loaded>, u64)>,
    /// Write stamp → request, oldest first.
    order: BTreeMap<u64, RequestId>,
    next_stamp: u64,
}

impl LoadCache {
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next_stamp: 0,
        }
    }

    fn get(&self, request_id: RequestId) -> Option<Arc<Loaded>> {
        self.entries
            .get(&request_id)
            .map(|(loaded, _)| loaded.clone())
    }

    /// Keeps `loaded` as the newest entry; returns what it replaced or evicted.
    fn insert(&mut self, loaded: Arc<Loaded>) -> Vec<Arc<Loaded>> {
        let mut dropped = Vec::new();
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        self.order.insert(stamp, loaded.request_id);
        if let Some((previous, old_stamp)) = self.entries.insert(loaded.request_id, (loaded, stamp))
        {
            self.order.remove(&old_stamp);
            dropped.push(previous);
        }
        while self.entries.len() > self.capacity {
            let Some((_, victim)) = self.order.pop_first() else {
                break;
            };
            if let Some((evicted, _)) = self.entries.remove(&victim) {
                dropped.push(evicted);
            }
        }
        dropped
    }

    fn remove(&mut self, request_id: RequestId) -> Option<Arc<Loaded>> {
        let (loaded, stamp) = self.entries.remove(&request_id)?;
        self.order.remove(&stamp);
        Some(loaded)
    }
}

/// A command already in a request's log.
#[derive(Clone, Debug, PartialEq)]
pub struct AppliedCommand {
    pub sequence: u64,
    pub command_hash: String,
}

/// A request as loaded: its aggregate, where its subject ends, and the
/// commands already applied to it (for idempotent retries past the duplicate window).
#[derive(Clone, Debug)]
pub struct Loaded {
    pub request_id: RequestId,
    pub aggregate: ApprovalAggregate,
    /// Stream sequence of the request's last commit; 0 when it has none.
    pub last_sequence: u64,
    pub commands: HashMap<CommandId, AppliedCommand>,
}

impl Loaded {
    pub fn empty(request_id: RequestId) -> Self {
        Self {
            request_id,
            aggregate: ApprovalAggregate::default(),
            last_sequence: 0,
            commands: HashMap::new(),
        }
    }

    pub fn fold(&mut self, sequence: u64, commit: Commit) {
        self.commands.insert(
            commit.command_id,
            AppliedCommand {
                sequence,
                command_hash: commit.command_hash,
            },
        );
        for event in commit.events {
            self.aggregate.fold(event);
        }
        self.last_sequence = sequence;
    }
}

/// The result of an append with the request as it stands after it
/// ([`EventStore::append_and_fold`]).
#[derive(Clone, Debug)]
pub enum AppendOutcome {
    /// Stored at `sequence`; `after` is the loaded request with the commit
    /// folded in (what the cache now holds).
    Stored { sequence: u64, after: Arc<Loaded> },
    /// JetStream had already stored a message with this command id (a retry)
    /// at `sequence`; the cache entry was dropped, a load finds the commit.
    Duplicate { sequence: u64 },
}

/// The result of an append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    pub sequence: u64,
    /// JetStream had already stored a message with this command id (a retry).
    pub duplicate: bool,
}

/// `Nats-Msg-Id` of a commit: the command id within its request. JetStream
/// de-duplicates message ids across the whole stream, and a request's own
/// history knows only its own command ids; with the bare command id, one
/// re-used on another request was swallowed as a duplicate while the window
/// lasted (the caller got `CONTENDED`, retryable, and retried in vain) and
/// accepted after it. Scoped, a command id means the same at any time: a
/// retry of a command on its request.
pub fn message_id(request_id: RequestId, command_id: CommandId) -> String {
    let mut id = String::with_capacity(73);
    id.push_str(
        request_id
            .0
            .hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer()),
    );
    id.push('/');
    id.push_str(
        command_id
            .0
            .hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer()),
    );
    id
}

/// The JetStream event store. Cheap to share (`Arc`); safe for concurrent use.
pub struct EventStore {
    js: jetstream::Context,
    stream: stream::Stream,
    settings: StreamSettings,
    cache: Mutex<LoadCache>,
    read_stall: Duration,
}

impl EventStore {
    /// Checks the server version, creates the stream or checks that the
    /// existing one keeps signoff's guarantees.
    pub async fn open(
        client: async_nats::Client,
        settings: StreamSettings,
    ) -> Result<Self, StoreError> {
        check_server_version(&client.server_info().version)?;
        let js = jetstream::new(client);
        let wanted = settings.stream_config();
        let mut stream = js
            .get_or_create_stream(wanted.clone())
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let info = stream
            .info()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        check_stream(&info.config, &wanted)?;
        Ok(Self {
            js,
            stream,
            settings,
            cache: Mutex::new(LoadCache::new(DEFAULT_CACHE_CAPACITY)),
            read_stall: DEFAULT_READ_STALL,
        })
    }

    /// Keeps at most `capacity` loaded requests (at least one), the least
    /// recently written evicted first; starts empty. A gateway sized to the
    /// requests open at once decides every command on them without a read.
    pub fn with_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache = Mutex::new(LoadCache::new(capacity));
        self
    }

    /// How long a read of the log may go without a message before it is
    /// treated as stalled (default [`DEFAULT_READ_STALL`]): a request's
    /// history read then fails as unavailable, and a whole-log pass resumes
    /// from the last commit it saw.
    pub fn with_read_stall(mut self, stall: Duration) -> Self {
        self.read_stall = stall;
        self
    }

    /// See [`Self::with_read_stall`].
    pub fn read_stall(&self) -> Duration {
        self.read_stall
    }

    pub fn settings(&self) -> &StreamSettings {
        &self.settings
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// Loads a request: from the cache if present, then whatever its subject
    /// holds past the cached sequence.
    #[instrument(level = "debug", skip(self), fields(request = %request_id))]
    pub async fn load(&self, request_id: RequestId) -> Result<Loaded, StoreError> {
        let loaded = self.load_shared(request_id).await?;
        Ok(Arc::unwrap_or_clone(loaded))
    }

    /// [`EventStore::load`] without copying the request out of the cache
    /// when the server has nothing newer.
    pub async fn load_shared(&self, request_id: RequestId) -> Result<Arc<Loaded>, StoreError> {
        let cached = self.cached(request_id);
        let after = cached.as_ref().map_or(0, |c| c.last_sequence);
        let commits = self.read_commits(request_id, after).await?;
        if let (Some(cached), true) = (&cached, commits.is_empty()) {
            return Ok(cached.clone());
        }
        let mut loaded = cached.map_or_else(|| Loaded::empty(request_id), Arc::unwrap_or_clone);
        for stored in commits {
            loaded.fold(stored.sequence, stored.commit);
        }
        let loaded = Arc::new(loaded);
        self.remember(loaded.clone());
        Ok(loaded)
    }

    /// The cached copy of a request, without asking the server. It may be
    /// stale: a caller that decides on it must append with its
    /// `last_sequence` (a conflict says it was stale) and must not answer a
    /// refusal decided on it without loading again.
    pub fn cached(&self, request_id: RequestId) -> Option<Arc<Loaded>> {
        self.cache.lock().expect("cache lock").get(request_id)
    }

    /// Every commit of a request after stream sequence `after` (0: all), in order.
    pub async fn read_commits(
        &self,
        request_id: RequestId,
        after: u64,
    ) -> Result<Vec<StoredCommit>, StoreError> {
        let subject = self.settings.subject(request_id);
        let mut next = after + 1;
        let mut commits = Vec::new();
        loop {
            if commits.len() == DIRECT_READS_BEFORE_STREAMING {
                // A long history: one consumer streams the rest instead of a
                // round trip per commit.
                commits.extend(self.stream_commits(subject, next).await?);
                return Ok(commits);
            }
            // A direct get may be answered by any replica, including one still
            // catching up (stale); with replicas, read from the stream leader.
            let got = if self.settings.replicas > 1 {
                self.stream
                    .raw_message_builder()
                    .sequence(next)
                    .next_by_subject(subject.clone())
                    .send()
                    .await
                    .map_err(|e| match e.kind() {
                        stream::LastRawMessageErrorKind::NoMessageFound => None,
                        _ => Some(e.to_string()),
                    })
            } else {
                self.stream
                    .direct_get_next_for_subject(subject.clone(), Some(next))
                    .await
                    .map_err(|e| match e.kind() {
                        stream::DirectGetErrorKind::NotFound => None,
                        _ => Some(e.to_string()),
                    })
            };
            match got {
                Ok(message) => {
                    next = message.sequence + 1;
                    commits.push(StoredCommit {
                        sequence: message.sequence,
                        subject: message.subject.to_string(),
                        commit: Commit::decode(message.sequence, &message.payload)?,
                    });
                }
                Err(None) => return Ok(commits),
                Err(Some(e)) => return Err(StoreError::Unavailable(e)),
            }
        }
    }

    /// The subject's commits from stream sequence `from` on, as the stream
    /// holds them when the consumer is created, through one ordered consumer.
    async fn stream_commits(
        &self,
        subject: String,
        from: u64,
    ) -> Result<Vec<StoredCommit>, StoreError> {
        let unavailable = |e: &dyn std::fmt::Display| StoreError::Unavailable(e.to_string());
        let consumer = self
            .stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig {
                filter_subject: subject,
                deliver_policy: jetstream::consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: from,
                },
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable(&e))?;
        let mut pending = consumer.cached_info().num_pending;
        let mut commits = Vec::with_capacity(pending as usize);
        if pending == 0 {
            return Ok(commits);
        }
        let mut messages = consumer.messages().await.map_err(|e| unavailable(&e))?;
        while pending > 0 {
            let message = tokio::time::timeout(self.read_stall, messages.next())
                .await
                .map_err(|_| unavailable(&"reading a request's history stalled"))?
                .ok_or_else(|| unavailable(&"the history consumer ended early"))?
                .map_err(|e| unavailable(&e))?;
            let info = message.info().map_err(|e| unavailable(&e))?;
            let sequence = info.stream_sequence;
            pending = info.pending;
            commits.push(StoredCommit {
                sequence,
                subject: message.subject.to_string(),
                commit: Commit::decode(sequence, &message.payload)?,
            });
        }
        Ok(commits)
    }

    /// Appends one commit after `loaded.last_sequence`. A conflict means
    /// someone else appended first: reload and decide again.
    pub async fn append(&self, loaded: &Loaded, commit: Commit) -> Result<Appended, StoreError> {
        Ok(match self.append_and_fold(loaded, commit).await? {
            AppendOutcome::Stored { sequence, .. } => Appended {
                sequence,
                duplicate: false,
            },
            AppendOutcome::Duplicate { sequence } => Appended {
                sequence,
                duplicate: true,
            },
        })
    }

    /// [`EventStore::append`], returning the request with the commit folded in.
    pub async fn append_and_fold(
        &self,
        loaded: &Loaded,
        commit: Commit,
    ) -> Result<AppendOutcome, StoreError> {
        self.append_and_fold_shared(Arc::new(loaded.clone()), commit)
            .await
    }

    /// [`EventStore::append_and_fold`] on a request the caller gives up (as
    /// [`EventStore::cached`] handed it out): once stored, the commit is
    /// folded into that same request when nothing but the cache still
    /// holds it, instead of into a copy while the old version waits to be
    /// freed (the copy and the later free touch the whole request, most
    /// often cold, on every command).
    #[instrument(level = "debug", skip(self, loaded, commit), fields(request = %loaded.request_id, command = %commit.command_id))]
    pub async fn append_and_fold_shared(
        &self,
        mut loaded: Arc<Loaded>,
        commit: Commit,
    ) -> Result<AppendOutcome, StoreError> {
        let appended = self
            .publish(loaded.request_id, loaded.last_sequence, &commit)
            .await?;
        if appended.duplicate {
            debug!(
                sequence = appended.sequence,
                "duplicate command id; JetStream kept the first"
            );
            self.forget(loaded.request_id);
            return Ok(AppendOutcome::Duplicate {
                sequence: appended.sequence,
            });
        }
        // The cache's reference goes first (it is replaced below anyway), so
        // that `make_mut` copies only when another command still holds this
        // version. No await until it is back: other commands find it cached.
        let evicted = self
            .cache
            .lock()
            .expect("cache lock")
            .remove(loaded.request_id);
        drop(evicted);
        Arc::make_mut(&mut loaded).fold(appended.sequence, commit);
        self.remember(loaded.clone());
        Ok(AppendOutcome::Stored {
            sequence: appended.sequence,
            after: loaded,
        })
    }

    /// Publishes one commit with the concurrency and idempotency headers; leaves the cache alone.
    pub(crate) async fn publish(
        &self,
        request_id: RequestId,
        expected_last: u64,
        commit: &Commit,
    ) -> Result<Appended, StoreError> {
        debug_assert_eq!(commit.schema_version, EVENT_SCHEMA_VERSION);
        let message = publish_message(
            commit.encode_shared()?,
            message_id(request_id, commit.command_id),
            expected_last,
            &commit.action,
        );
        let subject = self.settings.subject(request_id);
        let ack = match self.js.send_publish(subject, message).await {
            Ok(future) => future.await,
            Err(e) => return Err(StoreError::Unavailable(e.to_string())),
        };
        let ack = ack.map_err(|e| match e.kind() {
            PublishErrorKind::WrongLastSequence => StoreError::Conflict {
                expected: expected_last,
            },
            PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe => {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Refused(e.to_string()),
        })?;
        Ok(Appended {
            sequence: ack.sequence,
            duplicate: ack.duplicate,
        })
    }

    /// Drops a request from the cache (after a conflict or a duplicate).
    pub fn forget(&self, request_id: RequestId) {
        let forgotten = self.cache.lock().expect("cache lock").remove(request_id);
        drop(forgotten);
    }

    fn remember(&self, loaded: Arc<Loaded>) {
        let dropped = self.cache.lock().expect("cache lock").insert(loaded);
        // Freed after the lock is released.
        drop(dropped);
    }

    /// Follows one request's commits as they are appended, from the first
    /// (an ordered consumer on its subject): a decision cannot be missed,
    /// whenever the watcher starts.
    pub async fn watch(
        &self,
        request_id: RequestId,
    ) -> Result<impl Stream<Item = Result<StoredCommit, StoreError>>, StoreError> {
        self.watch_subject(self.settings.subject(request_id)).await
    }

    /// Follows every request's commits, from the start of the stream.
    pub async fn watch_all(
        &self,
    ) -> Result<impl Stream<Item = Result<StoredCommit, StoreError>>, StoreError> {
        self.watch_all_from(1).await
    }

    /// [`Self::watch_all`] from stream sequence `start` on (1: the
    /// beginning), for a follower that picks up again where its watch ended.
    /// A commit that does not decode is an `Err` item naming its sequence;
    /// the commits after it still come.
    pub async fn watch_all_from(
        &self,
        start: u64,
    ) -> Result<impl Stream<Item = Result<StoredCommit, StoreError>>, StoreError> {
        Ok(self
            .watch_all_encoded_from(start)
            .await?
            .map(|commit| commit.and_then(EncodedCommit::decode)))
    }

    /// [`Self::watch_all`] without decoding, from stream sequence `start`
    /// on (1: the beginning; later: where a whole-log pass whose consumer
    /// went silent picks up again): each commit as delivered, for a reader
    /// that decodes on another task than the one draining the consumer
    /// (decoding costs more than receiving).
    pub async fn watch_all_encoded_from(
        &self,
        start: u64,
    ) -> Result<impl Stream<Item = Result<EncodedCommit, StoreError>>, StoreError> {
        let deliver_policy = if start <= 1 {
            jetstream::consumer::DeliverPolicy::All
        } else {
            jetstream::consumer::DeliverPolicy::ByStartSequence {
                start_sequence: start,
            }
        };
        self.watch_encoded(self.settings.all_subjects(), deliver_policy)
            .await
    }

    async fn watch_subject(
        &self,
        filter_subject: String,
    ) -> Result<impl Stream<Item = Result<StoredCommit, StoreError>>, StoreError> {
        let encoded = self
            .watch_encoded(filter_subject, jetstream::consumer::DeliverPolicy::All)
            .await?;
        Ok(encoded.map(|commit| commit.and_then(EncodedCommit::decode)))
    }

    async fn watch_encoded(
        &self,
        filter_subject: String,
        deliver_policy: jetstream::consumer::DeliverPolicy,
    ) -> Result<impl Stream<Item = Result<EncodedCommit, StoreError>>, StoreError> {
        let consumer = self
            .stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig {
                filter_subject,
                deliver_policy,
                ..Default::default()
            })
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(messages.map(|message| {
            let message = message.map_err(|e| StoreError::Unavailable(e.to_string()))?;
            let info = message
                .info()
                .map_err(|e| StoreError::Refused(e.to_string()))?;
            let sequence = info.stream_sequence;
            let message = message.split().0;
            Ok(EncodedCommit {
                sequence,
                subject: message.subject,
                payload: message.payload,
            })
        }))
    }
}

/// A commit as the log delivered it, not yet decoded.
#[derive(Clone, Debug)]
pub struct EncodedCommit {
    pub sequence: u64,
    pub subject: async_nats::Subject,
    pub payload: bytes::Bytes,
}

impl EncodedCommit {
    /// Decodes the payload ([`Commit::decode`]).
    pub fn decode(self) -> Result<StoredCommit, StoreError> {
        Ok(StoredCommit {
            sequence: self.sequence,
            commit: Commit::decode(self.sequence, &self.payload)?,
            subject: self.subject.to_string(),
        })
    }
}

/// `2.15.1` (or `2.15.1-beta`) against [`MIN_SERVER_VERSION`].
pub fn check_server_version(version: &str) -> Result<(), StoreError> {
    let parsed = parse_version(version);
    if parsed.is_some_and(|v| v >= MIN_SERVER_VERSION) {
        return Ok(());
    }
    let (a, b, c) = MIN_SERVER_VERSION;
    Err(StoreError::ServerTooOld {
        found: if version.is_empty() {
            "(unknown)".into()
        } else {
            version.into()
        },
        min: format!("{a}.{b}.{c}"),
        why: MIN_SERVER_VERSION_WHY,
    })
}

pub fn parse_version(version: &str) -> Option<(u64, u64, u64)> {
    let core = version.trim().trim_start_matches('v');
    let core = core.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

fn check_stream(found: &stream::Config, wanted: &stream::Config) -> Result<(), StoreError> {
    let problem = |what: &str| {
        Err(StoreError::StreamMisconfigured {
            stream: found.name.clone(),
            problem: what.to_owned(),
        })
    };
    if !found.deny_delete || !found.deny_purge {
        return problem("it allows deletes or purges; signoff's log must be append-only");
    }
    if !found.allow_direct {
        return problem("allow_direct is off; loads need direct gets by subject");
    }
    if found.discard != stream::DiscardPolicy::New {
        return problem(
            "discard policy is `old`; at a limit it would drop history instead of refusing writes",
        );
    }
    if found.max_messages_per_subject != -1 && found.max_messages_per_subject != 0 {
        return problem(
            "max_messages_per_subject is limited; a request's history must be kept whole",
        );
    }
    if found.subjects != wanted.subjects {
        return problem(&format!(
            "its subjects are {:?}, not {:?}",
            found.subjects, wanted.subjects
        ));
    }
    if found.retention != stream::RetentionPolicy::Limits {
        return problem(
            "its retention is not `limits`; interest or work-queue retention deletes commits once consumed",
        );
    }
    if found.storage != stream::StorageType::File {
        return problem("it is kept in memory; a server restart would lose the log");
    }
    if !found.max_age.is_zero() {
        return problem(&format!(
            "max_age is {:?}; history must never expire",
            found.max_age
        ));
    }
    if found.allow_rollup {
        return problem("it allows rollups; a rollup replaces a request's history");
    }
    if found.num_replicas < wanted.num_replicas {
        return problem(&format!(
            "it has {} replica(s) where the configuration asks for {}",
            found.num_replicas, wanted.num_replicas
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each setting that would lose or rewrite history, or durability, is
    /// refused by name; the stream signoff creates passes.
    #[test]
    fn an_existing_stream_that_could_lose_history_is_refused() {
        let wanted = StreamSettings {
            replicas: 3,
            ..StreamSettings::default()
        }
        .stream_config();
        assert!(check_stream(&wanted, &wanted).is_ok());
        let more_replicas = stream::Config {
            num_replicas: 5,
            ..wanted.clone()
        };
        assert!(check_stream(&more_replicas, &wanted).is_ok());
        type Break = fn(&mut stream::Config);
        let broken: [(&str, Break); 11] = [
            ("deletes", |c| c.deny_delete = false),
            ("purges", |c| c.deny_purge = false),
            ("allow_direct", |c| c.allow_direct = false),
            ("discard", |c| c.discard = stream::DiscardPolicy::Old),
            ("max_messages_per_subject", |c| {
                c.max_messages_per_subject = 10
            }),
            ("subjects", |c| c.subjects = vec!["other.>".into()]),
            ("retention", |c| {
                c.retention = stream::RetentionPolicy::Interest
            }),
            ("memory", |c| c.storage = stream::StorageType::Memory),
            ("max_age", |c| c.max_age = Duration::from_secs(86_400)),
            ("rollups", |c| c.allow_rollup = true),
            ("replica", |c| c.num_replicas = 1),
        ];
        for (named, break_it) in broken {
            let mut found = wanted.clone();
            break_it(&mut found);
            match check_stream(&found, &wanted) {
                Err(StoreError::StreamMisconfigured { problem, .. }) => {
                    assert!(problem.contains(named), "{named}: {problem}")
                }
                other => panic!("{named}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_requests_subject_is_the_prefix_and_its_hyphenated_id() {
        let settings = StreamSettings::default();
        for id in [
            0u128,
            1,
            u128::MAX,
            0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
        ] {
            let request = RequestId(uuid::Uuid::from_u128(id));
            assert_eq!(
                settings.subject(request),
                format!("{}.{request}", settings.subject_prefix)
            );
        }
    }

    #[test]
    fn the_load_cache_evicts_the_request_written_least_recently() {
        let ids: Vec<RequestId> = (1..=4u128)
            .map(|i| RequestId(uuid::Uuid::from_u128(i)))
            .collect();
        let entry = |i: usize| Arc::new(Loaded::empty(ids[i]));
        let mut cache = LoadCache::new(3);
        for i in 0..3 {
            assert!(cache.insert(entry(i)).is_empty());
        }
        // Rewriting 0 makes 1 the oldest.
        assert_eq!(cache.insert(entry(0)).len(), 1);
        let evicted = cache.insert(entry(3));
        assert_eq!(evicted.len(), 1);
        assert_eq!(evicted[0].request_id, ids[1]);
        assert!(cache.get(ids[1]).is_none());
        for i in [0, 2, 3] {
            assert!(cache.get(ids[i]).is_some());
        }
        assert!(cache.remove(ids[2]).is_some());
        assert!(cache.remove(ids[2]).is_none());
        assert_eq!(cache.entries.len(), 2);
        assert_eq!(cache.order.len(), 2);
    }

    #[test]
    fn server_versions_are_compared_numerically() {
        assert_eq!(parse_version("2.15.1"), Some((2, 15, 1)));
        assert_eq!(parse_version("v2.10.0-beta.1"), Some((2, 10, 0)));
        assert!(check_server_version("2.15.1").is_ok());
        assert!(check_server_version("2.10.0").is_ok());
        assert!(matches!(
            check_server_version("2.9.25"),
            Err(StoreError::ServerTooOld { .. })
        ));
        assert!(check_server_version("").is_err());
    }
}
