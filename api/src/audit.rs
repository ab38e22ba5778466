//! `signoff audit replay | verify | export | verify-pack`: compliance tools
//! that read the JetStream log itself, never the projection, as the source of
//! truth.
//!
//! - [`replay`]: every request's history re-derived through the engine, one row per event.
//! - [`expected_from_log`], [`trail_from_db`], [`trail_from_api`], [`compare`],
//!   [`check_chain`], [`check_db_indexes`]: the projector's audit trail checked
//!   record by record against the chain the log implies.
//! - [`export`], [`verify_pack`]: an evidence pack for one request, checkable offline.
//!
//! The audit records come from `signoff_projections::audit::records_for_commit`,
//! the same pure function the projector stores, so "what the trail must hold"
//! has one definition.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use signoff_engine::raw_json::canonical_json;
use signoff_engine::{ApprovalRequest, CommandId, RequestId, Status};
use signoff_eventstore::{Commit, EncodedCommit, EventStore, StoreError, StoredCommit};
use signoff_projections::audit::{
    records_for_commit, stored_records_for_commit, unchained_records_for_commit, StoredRecord,
};
use signoff_projections::{keys, AuditRecord, ChainHead, ProjectionDb, GENESIS};
use uuid::Uuid;

use crate::config::SignoffConfig;

/// The `signoff audit` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Re-derive history from the log (not the projection): one row per event,
    /// with the request's status after it, as JSON lines or CSV.
    Replay {
        /// Config file (signoff.json); `signoff dev` writes one into its data dir.
        #[arg(
            long,
            env = "SIGNOFF_CONFIG",
            default_value = ".signoff-dev/signoff.json"
        )]
        config: PathBuf,
        /// Only this request (reads just its subject).
        #[arg(long)]
        request: Option<Uuid>,
        /// Only commits at or after this time (RFC 3339, e.g. 2026-11-26T10:00:00Z).
        #[arg(long, value_parser = parse_time)]
        since: Option<DateTime<Utc>>,
        /// Only commits before this time (RFC 3339; exclusive).
        #[arg(long, value_parser = parse_time)]
        until: Option<DateTime<Utc>>,
        #[arg(long, value_enum, default_value_t = ReplayFormat::Jsonl)]
        format: ReplayFormat,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Recompute the audit chain from the log and compare it record by record
    /// with the projector's trail (over the query API, or its stopped database).
    #[command(group(clap::ArgGroup::new("trail").required(true).args(["api", "db"])))]
    Verify {
        #[arg(
            long,
            env = "SIGNOFF_CONFIG",
            default_value = ".signoff-dev/signoff.json"
        )]
        config: PathBuf,
        /// Query API base URL (http:// only), e.g. http://127.0.0.1:8080.
        #[arg(long)]
        api: Option<String>,
        /// Admin bearer token for --api.
        #[arg(long, env = "SIGNOFF_TOKEN")]
        token: Option<String>,
        /// The projector's sled database; the projector must be stopped (sled locks it).
        #[arg(long)]
        db: Option<PathBuf>,
        /// With --api: how long the API may wait for a lagging projector to reach the log's end (at most 30).
        #[arg(long, default_value_t = 10)]
        wait_secs: u64,
    },
    /// Write an evidence pack for one request: commits, audit records, manifest, VERIFY.md.
    Export {
        #[arg(
            long,
            env = "SIGNOFF_CONFIG",
            default_value = ".signoff-dev/signoff.json"
        )]
        config: PathBuf,
        #[arg(long)]
        request: Uuid,
        /// A directory that does not exist yet, or is empty.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check an evidence pack offline: file hashes, record hashes, the request
    /// chain, and that every record follows from the commits.
    VerifyPack { dir: PathBuf },
}

pub async fn run(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Replay {
            config,
            request,
            since,
            until,
            format,
            out,
        } => {
            let store = open_store(&config).await?;
            let filter = ReplayFilter {
                request: request.map(RequestId),
                since,
                until,
            };
            let summary = match &out {
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    let mut writer = std::io::BufWriter::new(file);
                    let summary = replay(&store, &filter, format, &mut writer).await?;
                    writer.flush()?;
                    summary
                }
                None => {
                    let mut writer = std::io::BufWriter::new(std::io::stdout().lock());
                    let summary = replay(&store, &filter, format, &mut writer).await?;
                    writer.flush()?;
                    summary
                }
            };
            eprintln!(
                "replayed {} events of {} commits ({} request{}){}",
                summary.events,
                summary.commits,
                summary.requests,
                if summary.requests == 1 { "" } else { "s" },
                out.map(|p| format!(" into {}", p.display()))
                    .unwrap_or_default()
            );
            Ok(())
        }
        AuditCommand::Verify {
            config,
            api,
            token,
            db,
            wait_secs,
        } => {
            let store = open_store(&config).await?;
            match (api, db) {
                (_, Some(path)) => verify_db(&store, &path).await,
                (Some(url), None) => {
                    let token =
                        token.context("--api needs an Admin token: --token or SIGNOFF_TOKEN")?;
                    verify_api(&store, &url, &token, Duration::from_secs(wait_secs))
                        .await
                        .map(|_| ())
                }
                (None, None) => bail!("give --db PATH (projector stopped) or --api URL --token T"),
            }
        }
        AuditCommand::Export {
            config,
            request,
            out,
        } => {
            let store = open_store(&config).await?;
            let summary = export(&store, RequestId(request), &out).await?;
            println!(
                "exported request {} ({}): {} commits, {} audit records, request chain head {} into {}",
                request,
                status_name(summary.status),
                summary.commits,
                summary.records,
                summary.request_chain_head,
                out.display()
            );
            Ok(())
        }
        AuditCommand::VerifyPack { dir } => {
            let summary = verify_pack(&dir).context("evidence pack verification FAILED")?;
            println!(
                "evidence pack verified: request {}, {} commits, {} records, request chain head {}",
                summary.request_id, summary.commits, summary.records, summary.request_chain_head
            );
            Ok(())
        }
    }
}

async fn open_store(config: &Path) -> anyhow::Result<EventStore> {
    let config = SignoffConfig::load(config)?;
    let client = signoff_client::connect_nats(&config.nats_url)
        .await
        .with_context(|| {
            format!(
                "connecting to {}",
                signoff_client::redacted_url(&config.nats_url)
            )
        })?;
    Ok(EventStore::open(client, config.stream.settings()).await?)
}

fn parse_time(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time ({e}); e.g. 2026-11-26T10:00:00Z"))
}

fn status_name(status: Status) -> &'static str {
    keys::status_name(status)
}

// ---------------------------------------------------------------------------
// Reading the log
// ---------------------------------------------------------------------------

/// How long the audit API may take to answer one page.
const API_ANSWER: Duration = Duration::from_secs(30);

/// How many times in a row a whole-log pass picks up again after its
/// consumer went silent (for the store's read stall) or failed, without a
/// commit in between, before it gives up.
const RESUMES_WITHOUT_PROGRESS: u32 = 5;

/// Stream sequence of the last commit in the log (0: empty).
pub async fn last_sequence(store: &EventStore) -> anyhow::Result<u64> {
    Ok(stream_extent(store).await?.0)
}

/// The log's last sequence and how many subjects (requests) it holds: a
/// whole-log pass sizes its per-request map with the second.
async fn stream_extent(store: &EventStore) -> anyhow::Result<(u64, u64)> {
    let mut stream = store
        .jetstream()
        .get_stream(&store.settings().name)
        .await
        .context("looking up the event stream")?;
    let state = &stream
        .info()
        .await
        .context("reading the stream's info")?
        .state;
    Ok((state.last_sequence, state.subjects_count))
}

/// Entries to reserve in a map of one entry per request, for a pass over
/// `commits` commits of a log of `requests` requests: growing a map of a
/// million entries by doubling moves every entry twenty times.
fn per_request_capacity(requests: u64, commits: u64) -> usize {
    usize::try_from(requests.min(commits)).unwrap_or(0)
}

/// Which commits to read.
#[derive(Clone, Copy, Debug)]
enum Scope {
    /// Every commit of the stream, in order, up to this sequence (inclusive).
    All { up_to: u64 },
    /// One request's commits (its subject only).
    Request(RequestId),
}

/// Calls `each` on every commit of `scope`, in stream order; returns how many.
///
/// Reading and decoding run in a task of their own, a chunk of commits ahead
/// of `each`: a whole-log pass is bound by the slower of the two, not their sum.
/// A whole-log consumer that goes silent for the store's read stall, or
/// fails, is replaced by one that starts after the last commit seen (at most
/// [`RESUMES_WITHOUT_PROGRESS`] times in a row without a commit between):
/// a pass over years of history does not start again from the beginning
/// because the server paused.
async fn for_each_commit(
    store: &EventStore,
    scope: Scope,
    mut each: impl FnMut(StoredCommit) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let up_to = match scope {
        Scope::Request(id) => {
            let commits = store.read_commits(id, 0).await?;
            let count = commits.len() as u64;
            for stored in commits {
                each(stored)?;
            }
            return Ok(count);
        }
        Scope::All { up_to } => up_to,
    };
    if up_to == 0 {
        return Ok(0);
    }
    let stall = store.read_stall();
    let mut progress = Progress::new(up_to);
    let mut reader: Option<LogReader> = None;
    let mut resumes = 0u32;
    let mut count = 0;
    let mut seen = 0;
    while seen < up_to {
        let Some(current) = reader.as_mut() else {
            match LogReader::start(store, seen + 1).await {
                Ok(started) => reader = Some(started),
                Err(e) => {
                    resume_or_give_up(&mut resumes, seen, up_to, &e.to_string()).await?;
                }
            }
            continue;
        };
        let why = match tokio::time::timeout(stall, current.incoming.recv()).await {
            Err(_) => format!("no commit for {} ms", stall.as_millis()),
            Ok(None) => "the consumer ended".to_owned(),
            Ok(Some(chunk)) => {
                let mut failed = None;
                for encoded in chunk {
                    let encoded = match encoded {
                        Ok(encoded) => encoded,
                        Err(StoreError::Unavailable(e)) => {
                            failed = Some(e);
                            break;
                        }
                        Err(e) => return Err(e.into()),
                    };
                    if encoded.sequence <= seen {
                        continue;
                    }
                    if encoded.sequence > up_to {
                        seen = up_to;
                        break;
                    }
                    seen = encoded.sequence;
                    resumes = 0;
                    each(encoded.decode()?)?;
                    count += 1;
                    if seen >= up_to {
                        break;
                    }
                }
                progress.at(seen);
                match failed {
                    Some(e) if seen < up_to => e,
                    _ => continue,
                }
            }
        };
        reader = None;
        resume_or_give_up(&mut resumes, seen, up_to, &why).await?;
    }
    progress.finish();
    Ok(count)
}

/// Counts one more resume of a whole-log pass after `seen`, pausing a little
/// longer each time; fails naming `why` once [`RESUMES_WITHOUT_PROGRESS`]
/// came in a row.
async fn resume_or_give_up(
    resumes: &mut u32,
    seen: u64,
    up_to: u64,
    why: &str,
) -> anyhow::Result<()> {
    if *resumes >= RESUMES_WITHOUT_PROGRESS {
        bail!(
            "the log stopped delivering after sequence {seen} (reading to {up_to}): {why}; \
             {RESUMES_WITHOUT_PROGRESS} fresh consumers in a row delivered nothing"
        );
    }
    tracing::warn!(
        after = seen,
        up_to,
        why,
        "the whole-log read went silent; resuming after the last commit seen"
    );
    tokio::time::sleep(Duration::from_millis(200) * 2u32.pow(*resumes)).await;
    *resumes += 1;
    Ok(())
}

/// A whole-log consumer drained into chunks by a task of its own (aborted
/// when dropped). The task only drains; commits are decoded by the pass,
/// next to the work on them, so the two share the CPU more evenly.
struct LogReader {
    incoming: tokio::sync::mpsc::Receiver<Vec<Result<EncodedCommit, StoreError>>>,
    task: tokio::task::JoinHandle<()>,
}

impl LogReader {
    async fn start(store: &EventStore, from: u64) -> Result<Self, StoreError> {
        let commits = store.watch_all_encoded_from(from).await?;
        let (chunks, incoming) = tokio::sync::mpsc::channel(8);
        let task = tokio::spawn(async move {
            let mut commits = std::pin::pin!(commits.ready_chunks(512));
            while let Some(chunk) = commits.next().await {
                if chunks.send(chunk).await.is_err() {
                    return;
                }
            }
        });
        Ok(Self { incoming, task })
    }
}

impl Drop for LogReader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A progress bar on stderr, shown only when stderr is a terminal and the
/// read has already taken more than a second.
struct Progress {
    bar: ProgressBar,
    started: Instant,
    may_show: bool,
    shown: bool,
}

impl Progress {
    fn new(total: u64) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        if let Ok(style) =
            ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message("reading the log");
        Self {
            bar,
            started: Instant::now(),
            may_show: std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    fn at(&mut self, sequence: u64) {
        self.bar.set_position(sequence);
        if self.may_show && !self.shown && self.started.elapsed() > Duration::from_secs(1) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Both audit chains as the log builds them: the global one and one per request.
#[derive(Default)]
pub struct LogChain {
    global: ChainHead,
    requests: HashMap<RequestId, ChainHead>,
}

impl LogChain {
    /// The records of the next commit (commits must come in stream order).
    pub fn records(&mut self, stored: &StoredCommit) -> Vec<AuditRecord> {
        let request = self.requests.entry(stored.commit.request_id).or_default();
        records_for_commit(stored, &mut self.global, request)
    }

    pub fn global_head(&self) -> &ChainHead {
        &self.global
    }

    pub fn request_head(&self, id: RequestId) -> Option<&ChainHead> {
        self.requests.get(&id)
    }
}

// ---------------------------------------------------------------------------
// Replay
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReplayFormat {
    /// One JSON object per line.
    Jsonl,
    /// CSV with a header row.
    Csv,
}

/// Which rows a replay writes. State is always folded from each request's
/// first commit; the filter only selects what is written.
#[derive(Clone, Debug, Default)]
pub struct ReplayFilter {
    pub request: Option<RequestId>,
    /// Commits at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Commits strictly before this time.
    pub until: Option<DateTime<Utc>>,
}

impl ReplayFilter {
    fn admits(&self, commit: &Commit) -> bool {
        self.since.is_none_or(|since| commit.at >= since)
            && self.until.is_none_or(|until| commit.at < until)
    }
}

/// What a replay wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Commits with at least one row written.
    pub commits: u64,
    /// Rows written (one per event).
    pub events: u64,
    /// Distinct requests with at least one row written.
    pub requests: u64,
}

/// One event of the history, as replay writes it (JSON lines and CSV share
/// these names, in this order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayRow {
    pub sequence: u64,
    pub event_in_commit: u32,
    pub request_id: RequestId,
    /// Position of the event in the request's own history, from 1.
    pub request_index: u64,
    /// When the gateway handled the command.
    pub at: DateTime<Utc>,
    pub command_id: CommandId,
    pub action: String,
    pub actor: String,
    pub auth_method: Option<String>,
    pub auth_key_id: Option<String>,
    pub event: String,
    /// The request's status once the engine has applied this event.
    pub status_after: Status,
    pub stage: Option<u32>,
    pub team: Option<String>,
    pub escalation_level: Option<u32>,
    pub note: Option<String>,
    pub params_hash: Option<String>,
    pub plan_version: Option<u32>,
    pub spec_hash: Option<String>,
    pub approvals: Option<u32>,
    pub min_approvals: Option<u32>,
    pub rejections: Option<u32>,
    pub min_rejections: Option<u32>,
    pub rule: Option<String>,
}

/// The CSV header: [`ReplayRow`]'s fields in order.
pub const REPLAY_COLUMNS: &[&str] = &[
    "sequence",
    "event_in_commit",
    "request_id",
    "request_index",
    "at",
    "command_id",
    "action",
    "actor",
    "auth_method",
    "auth_key_id",
    "event",
    "status_after",
    "stage",
    "team",
    "escalation_level",
    "note",
    "params_hash",
    "plan_version",
    "spec_hash",
    "approvals",
    "min_approvals",
    "rejections",
    "min_rejections",
    "rule",
];

impl ReplayRow {
    fn new(record: AuditRecord, status_after: Status) -> Self {
        let (auth_method, auth_key_id) = match record.authentication {
            Some(a) => (Some(a.method), a.key_id),
            None => (None, None),
        };
        Self {
            sequence: record.sequence,
            event_in_commit: record.event_in_commit,
            request_id: record.request_id,
            request_index: record.request_index,
            at: record.at,
            command_id: record.command_id,
            action: record.action,
            actor: record.actor,
            auth_method,
            auth_key_id,
            event: record.event,
            status_after,
            stage: record.stage,
            team: record.team,
            escalation_level: record.escalation_level,
            note: record.note,
            params_hash: record.params_hash,
            plan_version: record.plan_version,
            spec_hash: record.spec_hash,
            approvals: record.tally.map(|t| t.approvals),
            min_approvals: record.tally.map(|t| t.min_approvals),
            rejections: record.tally.map(|t| t.rejections),
            min_rejections: record.tally.map(|t| t.min_rejections),
            rule: record.rule,
        }
    }
}

enum RowWriter<W: Write> {
    Jsonl(W),
    Csv(Box<csv::Writer<W>>),
}

impl<W: Write> RowWriter<W> {
    fn new(format: ReplayFormat, out: W) -> anyhow::Result<Self> {
        Ok(match format {
            ReplayFormat::Jsonl => Self::Jsonl(out),
            ReplayFormat::Csv => {
                let mut writer = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(out);
                writer.write_record(REPLAY_COLUMNS)?;
                Self::Csv(Box::new(writer))
            }
        })
    }

    fn write(&mut self, row: &ReplayRow) -> anyhow::Result<()> {
        match self {
            Self::Jsonl(out) => {
                serde_json::to_writer(&mut *out, row)?;
                out.write_all(b"\n")?;
            }
            Self::Csv(writer) => writer.serialize(row)?,
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Self::Jsonl(mut out) => out.flush()?,
            Self::Csv(mut writer) => writer.flush()?,
        }
        Ok(())
    }
}

/// What replay keeps of one request: where its audit chain stands (the next
/// index and its plan; hashes are not computed), its state folded so far,
/// and whether a row of it was written.
#[derive(Default)]
struct Replaying {
    chain: ChainHead,
    state: ApprovalRequest,
    shown: bool,
}

/// Reads history straight from the log (every commit in stream order, or with
/// `filter.request` that request's subject only), folds every request through
/// the engine, and writes one row per event of the commits `filter` admits.
/// An event the engine refuses to fold stops the replay with an error.
pub async fn replay<W: Write>(
    store: &EventStore,
    filter: &ReplayFilter,
    format: ReplayFormat,
    out: W,
) -> anyhow::Result<ReplaySummary> {
    let (scope, capacity) = match filter.request {
        Some(id) => (Scope::Request(id), 1),
        None => {
            let (up_to, requests) = stream_extent(store).await?;
            (Scope::All { up_to }, per_request_capacity(requests, up_to))
        }
    };
    let mut rows = RowWriter::new(format, out)?;
    // One entry per request, boxed (an entry is moved when the map grows).
    let mut requests: HashMap<RequestId, Box<Replaying>> = HashMap::with_capacity(capacity);
    let mut summary = ReplaySummary::default();
    let read = for_each_commit(store, scope, |stored| {
        let request = requests.entry(stored.commit.request_id).or_default();
        // Rows carry no hashes: the chains are not computed.
        let records = unchained_records_for_commit(&stored, &mut request.chain);
        let written = !records.is_empty();
        let admitted = filter.admits(&stored.commit);
        let (sequence, request_id) = (stored.sequence, stored.commit.request_id);
        for (event, record) in stored.commit.events.into_iter().zip(records) {
            request.state.apply(event).with_context(|| {
                format!("commit {sequence} of request {request_id} does not replay")
            })?;
            if admitted {
                rows.write(&ReplayRow::new(record, request.state.status))?;
                summary.events += 1;
            }
        }
        if admitted && written {
            summary.commits += 1;
            if !request.shown {
                request.shown = true;
                summary.requests += 1;
            }
        }
        Ok(())
    })
    .await?;
    if read == 0 {
        if let Some(id) = filter.request {
            bail!("request {id} has no commits in the log");
        }
    }
    rows.finish()?;
    Ok(summary)
}

// ---------------------------------------------------------------------------
// Verify
// ---------------------------------------------------------------------------

/// The audit records the log implies, in global chain order: every commit up
/// to `up_to` (default: the log's last sequence now).
pub async fn expected_from_log(
    store: &EventStore,
    up_to: Option<u64>,
) -> anyhow::Result<Vec<AuditRecord>> {
    let up_to = match up_to {
        Some(sequence) => sequence,
        None => last_sequence(store).await?,
    };
    let mut chain = LogChain::default();
    let mut records = Vec::new();
    for_each_commit(store, Scope::All { up_to }, |stored| {
        records.extend(chain.records(&stored));
        Ok(())
    })
    .await?;
    Ok(records)
}

/// The projector's stored trail, in key (global index) order. A value that
/// does not decode is a [`Mismatch`] (downcast the error) naming its index.
pub fn trail_from_db(db: &ProjectionDb) -> anyhow::Result<Vec<AuditRecord>> {
    let mut records = Vec::new();
    for entry in db.tree().scan_prefix(b"a:") {
        let (key, value) = entry?;
        let index = key
            .get(2..)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| {
                anyhow!(
                    "unexpected audit key {:?} in the projection",
                    String::from_utf8_lossy(&key)
                )
            })?;
        let undecodable = |problem: String| Mismatch {
            index,
            request_id: None,
            problem: Problem::Undecodable(problem),
        };
        let raw: serde_json::Value =
            serde_json::from_slice(&value).map_err(|e| undecodable(e.to_string()))?;
        let record: AuditRecord =
            serde_json::from_value(raw.clone()).map_err(|e| undecodable(e.to_string()))?;
        // Serde ignores unknown fields, and `hash` covers only the known ones.
        if let (Some(stored), Ok(serde_json::Value::Object(known))) =
            (raw.as_object(), serde_json::to_value(&record))
        {
            let unknown: Vec<&str> = stored
                .keys()
                .filter(|k| !known.contains_key(*k))
                .map(String::as_str)
                .collect();
            if !unknown.is_empty() {
                return Err(undecodable(format!(
                    "holds fields an audit record does not have: {}",
                    unknown.join(", ")
                ))
                .into());
            }
        }
        records.push(record);
    }
    Ok(records)
}

/// Records per page when reading the trail over HTTP (the API's largest page).
const API_PAGE: usize = 1000;

/// The projector's trail over the query API: `GET {url}/v1/audit?after=N&limit=M`
/// with an Admin bearer token, page after page (http or https).
pub async fn trail_from_api(url: &str, token: &str) -> anyhow::Result<Vec<AuditRecord>> {
    fetch_trail(url, token, None).await
}

/// As [`trail_from_api`], but the first page is answered only once the
/// projection has folded stream sequence `min_sequence` (waiting up to `wait`,
/// at most 30 s: the API's `minSequence`/`waitMs`).
pub async fn trail_from_api_at(
    url: &str,
    token: &str,
    min_sequence: u64,
    wait: Duration,
) -> anyhow::Result<Vec<AuditRecord>> {
    fetch_trail(url, token, Some((min_sequence, wait))).await
}

async fn fetch_trail(
    url: &str,
    token: &str,
    consistency: Option<(u64, Duration)>,
) -> anyhow::Result<Vec<AuditRecord>> {
    let base = api_base(url)?;
    let mut records: Vec<AuditRecord> = Vec::new();
    let mut after = 0u64;
    let mut first = true;
    loop {
        let mut target = format!("{base}/v1/audit?after={after}&limit={API_PAGE}");
        if let (true, Some((min_sequence, wait))) = (first, consistency) {
            let wait_ms = wait.as_millis().min(30_000);
            target.push_str(&format!("&minSequence={min_sequence}&waitMs={wait_ms}"));
        }
        first = false;
        let timeout = API_ANSWER + consistency.map_or(Duration::ZERO, |(_, wait)| wait);
        let body = tokio::time::timeout(timeout, http_get(&target, token))
            .await
            .map_err(|_| anyhow!("GET {target}: no answer within {} s", timeout.as_secs()))??;
        let (page, next) = decode_audit_page(&body).with_context(|| format!("GET {target}"))?;
        let last = page.last().map(|r| r.index);
        records.extend(page);
        match (last, next) {
            (Some(last), Some(next)) if next > after && last > after => after = next,
            (Some(last), Some(_)) => bail!(
                "the trail's indexes go backwards across pages (after {after} came a page ending at {last}): reordered records"
            ),
            _ => break,
        }
    }
    Ok(records)
}

/// One answer of `GET /v1/audit`: `{items, next, checkpoint}`, or a bare
/// array of records (then the next page starts after its last record).
fn decode_audit_page(body: &[u8]) -> anyhow::Result<(Vec<AuditRecord>, Option<u64>)> {
    let value: serde_json::Value =
        serde_json::from_slice(body).context("the answer is not JSON")?;
    let (items, next, bare) = match value {
        serde_json::Value::Array(items) => (items, None, true),
        serde_json::Value::Object(mut page) => {
            let next = match page.remove("next") {
                None | Some(serde_json::Value::Null) => None,
                Some(next) => Some(next.as_u64().context("`next` is not an index")?),
            };
            match page.remove("items") {
                Some(serde_json::Value::Array(items)) => (items, next, false),
                _ => bail!("the answer has no `items` array"),
            }
        }
        _ => bail!("the answer is neither a page nor an array of audit records"),
    };
    let mut records = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let index = item.get("index").and_then(|v| v.as_u64());
        let record: AuditRecord = serde_json::from_value(item).map_err(|e| Mismatch {
            index: index.unwrap_or(0),
            request_id: None,
            problem: Problem::Undecodable(format!("item {i} of the page: {e}")),
        })?;
        records.push(record);
    }
    let next = if bare {
        records.last().map(|r| r.index)
    } else {
        next
    };
    Ok((records, next))
}

/// What a successful verification saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifySummary {
    pub records: u64,
    /// Hash of the last record of the global chain (`GENESIS` when empty).
    pub head: String,
    /// Distinct requests in the trail.
    pub requests: u64,
}

/// The first record where the trail departs from what it must be.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("record {index}{}: {problem}", .request_id.map(|r| format!(" (request {r})")).unwrap_or_default())]
pub struct Mismatch {
    /// Global chain index (from 1) of the first bad record.
    pub index: u64,
    pub request_id: Option<RequestId>,
    pub problem: Problem,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("missing from the trail{}", .found_instead.map(|i| format!(" (record {i} stands in its place)")).unwrap_or_default())]
    Missing { found_instead: Option<u64> },
    #[error("out of order: record {found_instead} stands in its place")]
    Order { found_instead: u64 },
    #[error("extra: the log implies no such record")]
    Extra,
    #[error("field `{field}` differs: the log implies {expected}, the trail holds {found}")]
    Field {
        field: &'static str,
        expected: String,
        found: String,
    },
    #[error("stored hash {stored} is not the hash of the record's content ({computed})")]
    Hash { stored: String, computed: String },
    #[error("chain link `{field}` is {found}, but the previous record's hash is {expected}")]
    Link {
        field: &'static str,
        expected: String,
        found: String,
    },
    #[error("does not decode: {0}")]
    Undecodable(String),
    #[error("index entry {key}: {problem}")]
    Index { key: String, problem: String },
}

impl Mismatch {
    /// What differs, in one word: `missing`, `order`, `extra`, the field's
    /// JSON name, `hash`, the link's name, `undecodable` or `index`.
    pub fn what(&self) -> &str {
        match &self.problem {
            Problem::Missing { .. } => "missing",
            Problem::Order { .. } => "order",
            Problem::Extra => "extra",
            Problem::Field { field, .. } | Problem::Link { field, .. } => field,
            Problem::Hash { .. } => "hash",
            Problem::Undecodable(_) => "undecodable",
            Problem::Index { .. } => "index",
        }
    }
}

fn shown<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("<{e}>"))
}

/// The first field (in declaration order, JSON name) where two records differ.
fn first_difference(
    expected: &AuditRecord,
    found: &AuditRecord,
    with_chain: bool,
) -> Option<Problem> {
    macro_rules! fields {
        ($($field:ident => $name:literal),* $(,)?) => {
            $(
                if expected.$field != found.$field {
                    return Some(Problem::Field {
                        field: $name,
                        expected: shown(&expected.$field),
                        found: shown(&found.$field),
                    });
                }
            )*
        };
    }
    fields!(
        index => "index",
        request_index => "requestIndex",
        sequence => "sequence",
        event_in_commit => "eventInCommit",
        request_id => "requestId",
        command_id => "commandId",
        event => "event",
        action => "action",
        actor => "actor",
        authentication => "authentication",
        at => "at",
        outcome => "outcome",
        stage => "stage",
        team => "team",
        escalation_level => "escalationLevel",
        note => "note",
        params_hash => "paramsHash",
        plan_version => "planVersion",
        spec_hash => "specHash",
        tally => "tally",
        rule => "rule",
    );
    if with_chain {
        fields!(
            prev_hash => "prevHash",
            request_prev_hash => "requestPrevHash",
            hash => "hash",
        );
    }
    None
}

/// Checks a record's own hash and both links against the records before it.
struct ChainCheck {
    prev: String,
    requests: HashMap<RequestId, String>,
}

impl ChainCheck {
    fn new() -> Self {
        Self {
            prev: GENESIS.to_owned(),
            requests: HashMap::new(),
        }
    }

    fn check(&self, found: &AuditRecord) -> Option<Problem> {
        let computed = found.compute_hash();
        if found.hash != computed {
            return Some(Problem::Hash {
                stored: found.hash.clone(),
                computed,
            });
        }
        if found.prev_hash != self.prev {
            return Some(Problem::Link {
                field: "prevHash",
                expected: self.prev.clone(),
                found: found.prev_hash.clone(),
            });
        }
        let request_prev = self
            .requests
            .get(&found.request_id)
            .map(String::as_str)
            .unwrap_or(GENESIS);
        if found.request_prev_hash != request_prev {
            return Some(Problem::Link {
                field: "requestPrevHash",
                expected: request_prev.to_owned(),
                found: found.request_prev_hash.clone(),
            });
        }
        None
    }

    fn advance(&mut self, found: &AuditRecord) {
        self.prev = found.hash.clone();
        self.requests.insert(found.request_id, found.hash.clone());
    }
}

/// Compares the trail with the records the log implies, record by record:
/// same count and order; for each index every field equal, `hash ==
/// compute_hash()`, and `prevHash`/`requestPrevHash` linking to the records
/// before it. Names the first bad record.
pub fn compare<E>(expected: E, found: &[AuditRecord]) -> Result<VerifySummary, Mismatch>
where
    E: IntoIterator,
    E::Item: Borrow<AuditRecord>,
{
    let mut present: HashSet<u64> = HashSet::with_capacity(found.len());
    present.extend(found.iter().map(|r| r.index));
    let mut expected = expected.into_iter();
    let mut chain = ChainCheck::new();
    let mut records = 0u64;
    for position in 0.. {
        let (e, f) = match (expected.next(), found.get(position)) {
            (None, None) => break,
            (Some(e), None) => {
                let e = e.borrow();
                return Err(Mismatch {
                    index: e.index,
                    request_id: Some(e.request_id),
                    problem: Problem::Missing {
                        found_instead: None,
                    },
                });
            }
            (None, Some(f)) => {
                return Err(Mismatch {
                    index: f.index,
                    request_id: Some(f.request_id),
                    problem: Problem::Extra,
                })
            }
            (Some(e), Some(f)) => (e, f),
        };
        let e = e.borrow();
        let fail = |problem| Mismatch {
            index: e.index,
            request_id: Some(e.request_id),
            problem,
        };
        if f.index != e.index {
            return Err(fail(if present.contains(&e.index) {
                Problem::Order {
                    found_instead: f.index,
                }
            } else {
                Problem::Missing {
                    found_instead: Some(f.index),
                }
            }));
        }
        if let Some(problem) = first_difference(e, f, false)
            .or_else(|| chain.check(f))
            .or_else(|| first_difference(e, f, true))
        {
            return Err(fail(problem));
        }
        chain.advance(f);
        records += 1;
    }
    Ok(VerifySummary {
        records,
        head: chain.prev,
        requests: chain.requests.len() as u64,
    })
}

/// The trail's own integrity, without the log: indexes 1, 2, 3...; request
/// indexes counting per request; every `hash == compute_hash()`; both chains
/// linked from `GENESIS`. Catches edits that did not re-hash the whole rest
/// of the chain (a record re-hashed alone breaks the next record's link).
pub fn check_chain(found: &[AuditRecord]) -> Result<VerifySummary, Mismatch> {
    let mut chain = ChainCheck::new();
    let mut request_counts: HashMap<RequestId, u64> = HashMap::new();
    for (position, f) in found.iter().enumerate() {
        let wanted = position as u64 + 1;
        let fail = |problem| Mismatch {
            index: wanted,
            request_id: Some(f.request_id),
            problem,
        };
        if f.index != wanted {
            return Err(fail(if f.index > wanted {
                Problem::Missing {
                    found_instead: Some(f.index),
                }
            } else {
                Problem::Order {
                    found_instead: f.index,
                }
            }));
        }
        let request_index = request_counts.get(&f.request_id).copied().unwrap_or(0) + 1;
        if f.request_index != request_index {
            return Err(fail(Problem::Field {
                field: "requestIndex",
                expected: request_index.to_string(),
                found: f.request_index.to_string(),
            }));
        }
        if let Some(problem) = chain.check(f) {
            return Err(fail(problem));
        }
        chain.advance(f);
        request_counts.insert(f.request_id, request_index);
    }
    Ok(VerifySummary {
        records: found.len() as u64,
        head: chain.prev,
        requests: chain.requests.len() as u64,
    })
}

/// What the projection's own pointers into the trail must hold, built
/// record by record (or commit by commit) from the log, so verify need not
/// keep the records: per request, where its chain ends and the global index
/// of each of its records; and where the global chain ends. One map entry
/// per request is all a whole-log verify keeps.
#[derive(Default)]
pub struct ExpectedIndexes {
    requests: HashMap<RequestId, RequestExpectation>,
    global: ChainHead,
    /// Records pushed.
    pub records: u64,
}

#[derive(Default)]
struct RequestExpectation {
    head: ChainHead,
    indexes: Vec<u64>,
}

impl ExpectedIndexes {
    /// Room for `requests` requests.
    pub fn with_capacity(requests: usize) -> Self {
        Self {
            requests: HashMap::with_capacity(requests),
            ..Self::default()
        }
    }

    /// Counts a record the caller derived elsewhere (records must come in
    /// global chain order).
    pub fn push(&mut self, record: AuditRecord) {
        let request = self.requests.entry(record.request_id).or_default();
        request.indexes.push(record.index);
        request.head = ChainHead {
            next_index: record.request_index + 1,
            hash: record.hash.clone(),
            plan_version: record.plan_version,
            spec_hash: record.spec_hash,
        };
        self.global = ChainHead {
            next_index: record.index + 1,
            hash: record.hash,
            plan_version: None,
            spec_hash: None,
        };
        self.records += 1;
    }

    /// The records of the next commit (commits must come in stream order),
    /// with the bytes the projector stores for each, derived and counted:
    /// [`LogChain::records`] and [`Self::push`] in one.
    pub fn stored_records(&mut self, stored: &StoredCommit) -> Vec<StoredRecord> {
        let request = self.requests.entry(stored.commit.request_id).or_default();
        let records = stored_records_for_commit(stored, &mut self.global, &mut request.head);
        request
            .indexes
            .extend(records.iter().map(|r| r.record.index));
        self.records += records.len() as u64;
        records
    }

    /// Where the global chain ends.
    pub fn global_head(&self) -> &ChainHead {
        &self.global
    }

    /// The global index of the last record (0: none).
    fn last_index(&self) -> u64 {
        self.global.next_index - 1
    }
}

/// The projection's own pointers into the trail, against the expected
/// records: each request's stored audit indexes name exactly its records in
/// request order, its stored chain head is where its chain ends, no other
/// request holds audit indexes, and `m:audit` is where the global chain ends.
/// (Per-request reads go through these.)
pub fn check_db_indexes(db: &ProjectionDb, expected: &[AuditRecord]) -> Result<(), Mismatch> {
    let mut indexes = ExpectedIndexes::default();
    for record in expected {
        indexes.push(record.clone());
    }
    check_db_indexes_against(db, &indexes)
}

/// [`check_db_indexes`] against expectations built record by record.
pub fn check_db_indexes_against(
    db: &ProjectionDb,
    expected: &ExpectedIndexes,
) -> Result<(), Mismatch> {
    // A mismatch names the last record of the request (or chain) at fault.
    let bad = |at: Option<(u64, RequestId)>, key: &[u8], problem: String| Mismatch {
        index: at.map_or(0, |(index, _)| index),
        request_id: at.map(|(_, id)| id),
        problem: Problem::Index {
            key: printable_key(key),
            problem,
        },
    };
    let last_of = |id: RequestId, wanted: &RequestExpectation| {
        Some((wanted.indexes.last().copied().unwrap_or(0), id))
    };
    let mut seen = 0usize;
    for stored in db.stored_pointers() {
        let (id, chain, audit) = stored.map_err(|e| bad(None, b"r:", e.to_string()))?;
        let key = keys::request_locator(id);
        let Some(wanted) = expected.requests.get(&id) else {
            if audit.is_empty() && chain == ChainHead::default() {
                continue;
            }
            return Err(bad(
                None,
                &key,
                format!(
                    "holds {} audit indexes for a request the log has no records of",
                    audit.len()
                ),
            ));
        };
        seen += 1;
        for (position, index) in wanted.indexes.iter().enumerate() {
            let problem = match audit.get(position) {
                Some(found) if found == index => continue,
                Some(found) => format!(
                    "request index {} points to {found}, not {index}",
                    position + 1
                ),
                None => format!("request index {} is missing", position + 1),
            };
            return Err(bad(Some((*index, id)), &key, problem));
        }
        if audit.len() != wanted.indexes.len() {
            return Err(bad(
                last_of(id, wanted),
                &key,
                format!(
                    "{} audit indexes for {} records",
                    audit.len(),
                    wanted.indexes.len()
                ),
            ));
        }
        if chain != wanted.head {
            return Err(bad(
                last_of(id, wanted),
                &key,
                format!(
                    "chain head is {}, the log implies {}",
                    shown(&chain),
                    shown(&wanted.head)
                ),
            ));
        }
    }
    if seen != expected.requests.len() {
        let missing = expected
            .requests
            .iter()
            .filter(|(id, _)| matches!(db.stored_request(**id), Ok(None)))
            .filter_map(|(id, wanted)| last_of(*id, wanted))
            .min_by_key(|(index, _)| *index);
        let key = missing.map_or_else(Vec::new, |(_, id)| keys::request_locator(id));
        return Err(bad(missing, &key, "missing".into()));
    }
    // The last record of the global chain, for a mismatch of its head.
    let at = || {
        let last = expected.last_index();
        expected
            .requests
            .iter()
            .find(|(_, r)| r.indexes.last() == Some(&last))
            .map(|(id, _)| (last, *id))
    };
    let stored = db
        .global_head()
        .map_err(|e| bad(at(), keys::AUDIT_HEAD, e.to_string()))?;
    if stored != expected.global {
        return Err(bad(
            at(),
            keys::AUDIT_HEAD,
            format!(
                "is {}, the log implies {}",
                shown(&stored),
                shown(&expected.global)
            ),
        ));
    }
    Ok(())
}

fn printable_key(key: &[u8]) -> String {
    match key.get(..2) {
        Some(prefix) if prefix.ends_with(b":") && key.len() > 2 => {
            format!(
                "{}{}",
                String::from_utf8_lossy(prefix),
                hex::encode(&key[2..])
            )
        }
        _ => String::from_utf8_lossy(key).into_owned(),
    }
}

fn verified(summary: &VerifySummary) {
    println!(
        "audit verified: {} records, head {}",
        summary.records, summary.head
    );
}

/// Explains a failed comparison (with what the trail's own chain says) and fails.
fn failed(mismatch: Mismatch, found: &[AuditRecord]) -> anyhow::Error {
    match check_chain(found) {
        Ok(_) => eprintln!(
            "note: the trail's own hash chain is intact (records cut from its end, or rewritten and re-chained consistently): only the log shows the difference"
        ),
        Err(chain) => eprintln!("note: the trail's own hash chain breaks at {chain}"),
    }
    anyhow::Error::new(mismatch).context("audit verification FAILED")
}

async fn verify_db(store: &EventStore, path: &Path) -> anyhow::Result<()> {
    if !path.exists() {
        bail!("{}: no such projection database", path.display());
    }
    let db = ProjectionDb::open(path).with_context(|| {
        format!(
            "opening {} (sled locks a database to one process: stop the projector, or use --api)",
            path.display()
        )
    })?;
    let checkpoint = db.checkpoint()?;
    let last = last_sequence(store).await?;
    if checkpoint > last {
        bail!("the projection's checkpoint {checkpoint} is past the log's last sequence {last}: is it a database of another stream?");
    }
    let summary = verify_projection(store, &db).await?;
    if checkpoint < last {
        eprintln!("note: the projection has applied the log up to sequence {checkpoint} of {last}; verified up to {checkpoint}");
    }
    verified(&summary);
    Ok(())
}

/// Verifies the projector's trail in `db` against the log, up to the
/// projection's checkpoint: every record equal to the one the log implies
/// (fields, hash, both links), nothing missing or extra, and the
/// projection's own pointers (per-request indexes, chain heads) right.
///
/// One streaming pass, bounded in memory by the number of requests: the log
/// is read and its records derived in one task while the trail is read out
/// of sled and decoded on a blocking thread. A record equal to the derived
/// one, hash and links included, is necessarily well hashed and well linked
/// (the derived one is). At the first departure the whole trail is read and
/// compared again ([`compare`]) to name the problem precisely. A failure is
/// an error holding a [`Mismatch`] (downcast it).
pub async fn verify_projection(
    store: &EventStore,
    db: &ProjectionDb,
) -> anyhow::Result<VerifySummary> {
    let checkpoint = db.checkpoint()?;
    // The trail's stored bytes, read off sled on a blocking thread: the
    // projector stored each record as its canonical JSON
    // (`AuditRecord::to_stored_json`), as `expected` below is, so an intact
    // record is byte for byte the derived one.
    let (chunks, found) = std::sync::mpsc::sync_channel::<Option<Vec<sled::IVec>>>(8);
    let trail = db.clone();
    let reader = tokio::task::spawn_blocking(move || {
        let mut chunk = Vec::with_capacity(1024);
        for entry in trail.tree().scan_prefix(b"a:") {
            let Ok((_, value)) = entry else {
                // Unreadable: the slow path names it.
                let _ = chunks.send(None);
                return;
            };
            chunk.push(value);
            if chunk.len() == 1024
                && chunks
                    .send(Some(std::mem::replace(
                        &mut chunk,
                        Vec::with_capacity(1024),
                    )))
                    .is_err()
            {
                return;
            }
        }
        if !chunk.is_empty() {
            let _ = chunks.send(Some(chunk));
        }
    });
    let (_, requests) = stream_extent(store).await?;
    let capacity = per_request_capacity(requests, checkpoint);
    // The projection's own pointers, read at the same time on another
    // blocking thread (a pass over every request's value), as digests.
    let digest = PointerDigest::new();
    let pointers = tokio::task::spawn_blocking({
        let (db, digest) = (db.clone(), digest.clone());
        move || StoredPointerDigests::read(&db, &digest, capacity)
    });
    let mut trail = TrailCursor {
        found,
        chunk: Vec::new().into_iter(),
        unreadable: false,
    };
    let mut indexes = ExpectedIndexes::with_capacity(capacity);
    let streamed = for_each_commit(store, Scope::All { up_to: checkpoint }, |stored| {
        for expected in indexes.stored_records(&stored) {
            let intact = match trail.next() {
                Some(found) if found.as_ref() == expected.json.as_slice() => true,
                // Other bytes may still be the same record (a store that
                // re-encoded it, or one written in another key order):
                // decode and compare field by field.
                Some(found) => serde_json::from_slice::<AuditRecord>(&found)
                    .is_ok_and(|found| found == expected.record),
                None => false,
            };
            if !intact {
                return Err(anyhow::Error::new(Departed));
            }
        }
        Ok(())
    })
    .await;
    let departed = match streamed {
        Ok(_) => trail.next().is_some() || trail.unreadable,
        Err(e) if e.is::<Departed>() => true,
        Err(e) => return Err(e),
    };
    drop(trail);
    reader.await.context("reading the trail")?;
    let pointers = pointers
        .await
        .context("reading the projection's pointers")?;
    if departed {
        return Err(diagnose(store, db, checkpoint).await);
    }
    let global_head = db.global_head().ok();
    let (agree, indexes) =
        tokio::task::spawn_blocking(move || (pointers.agree_with(&indexes, &digest), indexes))
            .await
            .context("comparing the projection's pointers")?;
    if agree && global_head.as_ref() == Some(&indexes.global) {
        return Ok(summary_of(&indexes));
    }
    // Something differs (or did not read): the exact check reads the
    // pointers again and names the first problem.
    check_db_indexes_against(db, &indexes)
        .map_err(|m| anyhow::Error::new(m).context("audit verification FAILED"))?;
    bail!(
        "audit verification FAILED: the projection's pointers changed while they were read (run verify again with the projector stopped)"
    )
}

fn summary_of(indexes: &ExpectedIndexes) -> VerifySummary {
    VerifySummary {
        records: indexes.records,
        head: indexes.global_head().hash.clone(),
        requests: indexes.requests.len() as u64,
    }
}

/// A keyed 128-bit digest of one request's audit pointers (its chain head
/// and the global indexes of its records), to compare the projection's with
/// the log's without keeping both. The keys are drawn afresh for every
/// verify, so a projection cannot be edited to collide with what the log
/// implies; two different pointers collide by chance with probability 2^-128.
#[derive(Clone)]
struct PointerDigest(std::hash::RandomState, std::hash::RandomState);

impl PointerDigest {
    fn new() -> Self {
        Self(std::hash::RandomState::new(), std::hash::RandomState::new())
    }

    fn of(&self, chain: &ChainHead, audit: &[u64]) -> Digest128 {
        use std::hash::{BuildHasher, Hash, Hasher};
        fn feed(hasher: &mut impl Hasher, chain: &ChainHead, audit: &[u64]) -> u64 {
            // Every field `ChainHead`'s equality compares, each self-delimiting.
            let ChainHead {
                next_index,
                hash,
                plan_version,
                spec_hash,
            } = chain;
            next_index.hash(hasher);
            hash.hash(hasher);
            plan_version.hash(hasher);
            spec_hash.hash(hasher);
            audit.hash(hasher);
            hasher.finish()
        }
        (
            feed(&mut self.0.build_hasher(), chain, audit),
            feed(&mut self.1.build_hasher(), chain, audit),
        )
    }
}

/// The digest of every request's stored pointers and how many of them are
/// empty (no audit index, a fresh chain), or `None` when one did not read
/// (the exact check names it).
struct StoredPointerDigests(Option<(HashMap<RequestId, Digest128>, usize)>);

/// A [`PointerDigest`] value.
type Digest128 = (u64, u64);

impl StoredPointerDigests {
    fn read(db: &ProjectionDb, digest: &PointerDigest, capacity: usize) -> Self {
        let empty = digest.of(&ChainHead::default(), &[]);
        let mut digests = HashMap::with_capacity(capacity);
        let mut empties = 0;
        for stored in db.stored_pointers() {
            let Ok((id, chain, audit)) = stored else {
                return Self(None);
            };
            let found = digest.of(&chain, &audit);
            empties += usize::from(found == empty);
            digests.insert(id, found);
        }
        Self(Some((digests, empties)))
    }

    /// What [`check_db_indexes_against`] checks of the per-request pointers:
    /// every request of the log stored with its chain head and indexes, and
    /// no other request holding any. A request of the log has records, so
    /// its digest is not the empty one: the stored requests that match none
    /// of the log's must be exactly the empty ones. The log's digests are
    /// computed on two threads (the stream is over; both cores are free).
    fn agree_with(&self, expected: &ExpectedIndexes, digest: &PointerDigest) -> bool {
        const THREADS: usize = 2;
        let Some((stored, empties)) = &self.0 else {
            return false;
        };
        let all_match = std::thread::scope(|scope| {
            let workers: Vec<_> =
                (0..THREADS)
                    .map(|part| {
                        scope.spawn(move || {
                            expected.requests.iter().skip(part).step_by(THREADS).all(
                                |(id, wanted)| {
                                    stored.get(id)
                                        == Some(&digest.of(&wanted.head, &wanted.indexes))
                                },
                            )
                        })
                    })
                    .collect();
            workers
                .into_iter()
                .all(|worker| worker.join().unwrap_or(false))
        });
        all_match && stored.len().checked_sub(expected.requests.len()) == Some(*empties)
    }
}

/// The trail and the log part ways (the streaming pass stopped there).
#[derive(Debug, thiserror::Error)]
#[error("the trail departs from the log")]
struct Departed;

/// The projector's trail, chunk by chunk from the reading thread.
struct TrailCursor {
    found: std::sync::mpsc::Receiver<Option<Vec<sled::IVec>>>,
    chunk: std::vec::IntoIter<sled::IVec>,
    unreadable: bool,
}

impl TrailCursor {
    fn next(&mut self) -> Option<sled::IVec> {
        loop {
            if let Some(record) = self.chunk.next() {
                return Some(record);
            }
            // The reader is a chunk or more ahead but for the first one;
            // waiting here is rare and short.
            match self.found.recv() {
                Ok(Some(chunk)) => self.chunk = chunk.into_iter(),
                Ok(None) => {
                    self.unreadable = true;
                    return None;
                }
                Err(_) => return None,
            }
        }
    }
}

/// Reads the whole trail and the whole log again to name the first
/// departure, with what the trail's own chain says about it.
async fn diagnose(store: &EventStore, db: &ProjectionDb, checkpoint: u64) -> anyhow::Error {
    let expected = match expected_from_log(store, Some(checkpoint)).await {
        Ok(expected) => expected,
        Err(e) => return e,
    };
    let found = match trail_from_db(db) {
        Ok(found) => found,
        Err(e) => match e.downcast::<Mismatch>() {
            Ok(mismatch) => {
                return anyhow::Error::new(mismatch).context("audit verification FAILED")
            }
            Err(e) => return e,
        },
    };
    match compare(&expected, &found) {
        Err(mismatch) => failed(mismatch, &found),
        Ok(_) => anyhow!(
            "audit verification FAILED: the trail changed while it was read (run verify again with the projector stopped)"
        ),
    }
}

pub async fn verify_api(
    store: &EventStore,
    url: &str,
    token: &str,
    wait: Duration,
) -> anyhow::Result<VerifySummary> {
    let last = last_sequence(store).await?;
    let expected = expected_from_log(store, Some(last)).await?;
    // The projector may lag behind the log: the API waits until it has folded `last`.
    let mut found = trail_from_api_at(url, token, last, wait).await?;
    // Commits appended after the log was read are checked next time.
    let mut newer = 0;
    while found.last().is_some_and(|r| r.sequence > last) {
        found.pop();
        newer += 1;
    }
    let summary = compare(&expected, &found).map_err(|m| failed(m, &found))?;
    if newer > 0 {
        eprintln!(
            "note: {newer} records after log sequence {last} not checked (appended during the run)"
        );
    }
    verified(&summary);
    Ok(summary)
}

// ---------------------------------------------------------------------------
// HTTP (reqwest: http:// and https://)
// ---------------------------------------------------------------------------

/// The API's base URL, checked: http or https, with a host, no query or fragment.
fn api_base(url: &str) -> anyhow::Result<String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| anyhow!("{url}: not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("{url}: expected an http:// or https:// URL");
    }
    if parsed.host().is_none() {
        bail!("{url}: no host");
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        bail!("{url}: give the base URL only, without a query or fragment");
    }
    Ok(url.trim_end_matches('/').to_owned())
}

async fn http_get(url: &str, token: &str) -> anyhow::Result<Vec<u8>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .header("Accept", "application/json")
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .with_context(|| format!("GET {url}: reading the answer"))?;
    if status != reqwest::StatusCode::OK {
        let text: String = String::from_utf8_lossy(&body).chars().take(500).collect();
        bail!("GET {url}: HTTP {}: {text}", status.as_u16());
    }
    Ok(body.to_vec())
}

// ---------------------------------------------------------------------------
// Evidence packs
// ---------------------------------------------------------------------------

/// Version of the evidence pack layout.
pub const PACK_FORMAT: u32 = 1;
pub const PACK_COMMITS: &str = "commits.jsonl";
pub const PACK_AUDIT: &str = "audit.jsonl";
pub const PACK_MANIFEST: &str = "manifest.json";
pub const PACK_VERIFY: &str = "VERIFY.md";

/// One line of `commits.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PackCommit {
    pub sequence: u64,
    pub subject: String,
    pub commit: Commit,
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: u32,
    pub request_id: RequestId,
    pub exported_at: DateTime<Utc>,
    /// The request's status after its last commit.
    pub status: Status,
    pub commits: u64,
    pub first_sequence: u64,
    pub last_sequence: u64,
    /// Audit records (lines of `audit.jsonl`).
    pub records: u64,
    /// `hash` of the request's last audit record.
    pub request_chain_head: String,
    /// File name → hex SHA-256 of its bytes (as `sha256sum` prints it).
    pub files: BTreeMap<String, String>,
}

/// What an export wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportSummary {
    pub commits: u64,
    pub records: u64,
    pub status: Status,
    pub request_chain_head: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes the evidence pack of `request` into `dir` (created; must be empty
/// if it exists): its commits, its audit records derived from the log (with
/// their global index and `prevHash` as the projector stores them, which
/// needs the whole log up to the request's last commit), the manifest and
/// the offline procedure.
pub async fn export(
    store: &EventStore,
    request: RequestId,
    dir: &Path,
) -> anyhow::Result<ExportSummary> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!(
            "{} is not empty; export into a new directory",
            dir.display()
        );
    }
    let commits = store.read_commits(request, 0).await?;
    let (Some(first), Some(last)) = (commits.first(), commits.last()) else {
        bail!("request {request} has no commits in the log")
    };
    let (first_sequence, last_sequence) = (first.sequence, last.sequence);

    // The global chain positions need every commit before the request's last.
    let mut chain = LogChain::default();
    let mut records = Vec::new();
    for_each_commit(
        store,
        Scope::All {
            up_to: last_sequence,
        },
        |stored| {
            let derived = chain.records(&stored);
            if stored.commit.request_id == request {
                records.extend(derived);
            }
            Ok(())
        },
    )
    .await?;
    let mut state = ApprovalRequest::default();
    for stored in &commits {
        for event in &stored.commit.events {
            state.apply(event.clone()).with_context(|| {
                format!(
                    "commit {} of request {request} does not replay",
                    stored.sequence
                )
            })?;
        }
    }
    let from_subject: Vec<u64> = commits.iter().map(|c| c.sequence).collect();
    let mut from_stream: Vec<u64> = records.iter().map(|r| r.sequence).collect();
    from_stream.dedup();
    let events: usize = commits.iter().map(|c| c.commit.events.len()).sum();
    if from_stream != from_subject || records.len() != events {
        bail!("the request's subject and the whole stream disagree about its commits ({from_subject:?} vs {from_stream:?})");
    }

    let mut commits_text = String::new();
    for stored in &commits {
        let line = PackCommit {
            sequence: stored.sequence,
            subject: stored.subject.clone(),
            commit: stored.commit.clone(),
        };
        commits_text.push_str(&serde_json::to_string(&line)?);
        commits_text.push('\n');
    }
    let mut audit_text = String::new();
    for record in &records {
        audit_text.push_str(&serde_json::to_string(record)?);
        audit_text.push('\n');
    }
    let head = records
        .last()
        .map(|r| r.hash.clone())
        .unwrap_or_else(|| GENESIS.to_owned());
    let verify_text = verify_md(request, &head, records.len());

    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut files = BTreeMap::new();
    for (name, text) in [
        (PACK_COMMITS, &commits_text),
        (PACK_AUDIT, &audit_text),
        (PACK_VERIFY, &verify_text),
    ] {
        std::fs::write(dir.join(name), text).with_context(|| format!("writing {name}"))?;
        files.insert(name.to_owned(), sha256_hex(text.as_bytes()));
    }
    let manifest = Manifest {
        format: PACK_FORMAT,
        request_id: request,
        exported_at: Utc::now(),
        status: state.status,
        commits: commits.len() as u64,
        first_sequence,
        last_sequence,
        records: records.len() as u64,
        request_chain_head: head.clone(),
        files,
    };
    std::fs::write(
        dir.join(PACK_MANIFEST),
        serde_json::to_string_pretty(&manifest)? + "\n",
    )
    .context("writing manifest.json")?;
    Ok(ExportSummary {
        commits: commits.len() as u64,
        records: records.len() as u64,
        status: state.status,
        request_chain_head: head,
    })
}

/// Why an evidence pack does not verify.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("{file}: {problem}")]
    Unreadable { file: String, problem: String },
    #[error("manifest.json: {0}")]
    Manifest(String),
    #[error("{file}: sha256 is {found}, manifest.json says {expected}")]
    FileHash {
        file: String,
        expected: String,
        found: String,
    },
    #[error("audit.jsonl line {line}: {problem}")]
    Record { line: usize, problem: String },
    #[error("commits.jsonl line {line} (sequence {sequence}): {problem}")]
    Commit {
        line: usize,
        sequence: u64,
        problem: String,
    },
}

/// What a pack verification checked.
#[derive(Clone, Debug, PartialEq)]
pub struct PackSummary {
    pub request_id: RequestId,
    pub commits: u64,
    pub records: u64,
    pub request_chain_head: String,
    pub status: Status,
}

/// Checks an evidence pack offline (no log, no projection):
/// 1. every file's SHA-256 is the manifest's;
/// 2. each line of `audit.jsonl` hashes (canonical JSON without `hash`) to its
///    `hash`, `requestIndex` counts from 1, `requestPrevHash` links from
///    `GENESIS`, and the last hash is the manifest's `requestChainHead`;
/// 3. the commits fold through the engine, and re-deriving each commit's
///    records (from the global position the pack states) gives exactly the
///    records of `audit.jsonl`.
pub fn verify_pack(dir: &Path) -> Result<PackSummary, PackError> {
    let read = |name: &str| {
        std::fs::read(dir.join(name)).map_err(|e| PackError::Unreadable {
            file: name.to_owned(),
            problem: e.to_string(),
        })
    };
    let manifest: Manifest = serde_json::from_slice(&read(PACK_MANIFEST)?)
        .map_err(|e| PackError::Manifest(format!("does not decode: {e}")))?;
    if manifest.format != PACK_FORMAT {
        return Err(PackError::Manifest(format!(
            "format {} (this signoff reads format {PACK_FORMAT})",
            manifest.format
        )));
    }
    for name in [PACK_COMMITS, PACK_AUDIT, PACK_VERIFY] {
        if !manifest.files.contains_key(name) {
            return Err(PackError::Manifest(format!("`files` does not list {name}")));
        }
    }
    let mut contents = BTreeMap::new();
    for (name, expected) in &manifest.files {
        if name.contains(['/', '\\']) || name == ".." {
            return Err(PackError::Manifest(format!(
                "`files` names {name:?}, outside the pack"
            )));
        }
        let bytes = read(name)?;
        let found = sha256_hex(&bytes);
        if !found.eq_ignore_ascii_case(expected) {
            return Err(PackError::FileHash {
                file: name.clone(),
                expected: expected.clone(),
                found,
            });
        }
        contents.insert(name.as_str(), bytes);
    }
    let text = |name: &str| {
        std::str::from_utf8(&contents[name]).map_err(|e| PackError::Unreadable {
            file: name.to_owned(),
            problem: e.to_string(),
        })
    };

    // 2. The records and the request chain, as the offline procedure checks them.
    let mut records = Vec::new();
    let mut prev = GENESIS.to_owned();
    for (i, line) in text(PACK_AUDIT)?.lines().enumerate() {
        let line_no = i + 1;
        let bad = |problem: String| PackError::Record {
            line: line_no,
            problem,
        };
        let mut value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
        let record: AuditRecord = serde_json::from_value(value.clone())
            .map_err(|e| bad(format!("not an audit record: {e}")))?;
        if serde_json::to_value(&record).ok().as_ref() != Some(&value) {
            return Err(bad("holds fields an audit record does not have".into()));
        }
        let claimed = value
            .as_object_mut()
            .and_then(|o| o.remove("hash"))
            .and_then(|h| h.as_str().map(str::to_owned))
            .unwrap_or_default();
        let computed = format!("sha256:{}", sha256_hex(canonical_json(&value).as_bytes()));
        if claimed != computed {
            return Err(bad(format!(
                "hash is {claimed}, the record's content hashes to {computed}"
            )));
        }
        if record.request_id != manifest.request_id {
            return Err(bad(format!(
                "belongs to request {}, not {}",
                record.request_id, manifest.request_id
            )));
        }
        if record.request_index != line_no as u64 {
            return Err(bad(format!(
                "requestIndex is {}, expected {line_no}",
                record.request_index
            )));
        }
        if record.request_prev_hash != prev {
            return Err(bad(format!(
                "requestPrevHash is {}, but the previous record's hash is {prev}",
                record.request_prev_hash
            )));
        }
        prev = record.hash.clone();
        records.push(record);
    }
    if records.len() as u64 != manifest.records {
        return Err(PackError::Manifest(format!(
            "says {} records, audit.jsonl holds {}",
            manifest.records,
            records.len()
        )));
    }
    if prev != manifest.request_chain_head {
        return Err(PackError::Manifest(format!(
            "requestChainHead is {}, the chain ends at {prev}",
            manifest.request_chain_head
        )));
    }

    // 3. The records follow from the commits.
    let mut state = ApprovalRequest::default();
    let mut request_head = ChainHead::default();
    let mut remaining = records.as_slice();
    let mut last_sequence = 0;
    let mut commits = 0u64;
    for (i, line) in text(PACK_COMMITS)?.lines().enumerate() {
        let line_no = i + 1;
        let stored: PackCommit = serde_json::from_str(line).map_err(|e| PackError::Commit {
            line: line_no,
            sequence: 0,
            problem: format!("not a commit: {e}"),
        })?;
        let sequence = stored.sequence;
        let bad = |problem: String| PackError::Commit {
            line: line_no,
            sequence,
            problem,
        };
        if stored.commit.request_id != manifest.request_id {
            return Err(bad(format!(
                "belongs to request {}",
                stored.commit.request_id
            )));
        }
        if stored.sequence <= last_sequence {
            return Err(bad(format!(
                "comes after sequence {last_sequence}: out of order"
            )));
        }
        last_sequence = stored.sequence;
        for event in &stored.commit.events {
            state
                .apply(event.clone())
                .map_err(|e| bad(format!("does not replay: {e}")))?;
        }
        let count = stored.commit.events.len();
        let Some(first) = remaining.first() else {
            return Err(bad("has no audit records".into()));
        };
        let mut global = ChainHead {
            next_index: first.index,
            hash: first.prev_hash.clone(),
            ..ChainHead::default()
        };
        let stored = StoredCommit {
            sequence,
            subject: stored.subject,
            commit: stored.commit,
        };
        let derived = records_for_commit(&stored, &mut global, &mut request_head);
        if remaining.len() < count {
            return Err(bad(format!(
                "has {count} events, audit.jsonl has {} more records",
                remaining.len()
            )));
        }
        for (expected, found) in derived.iter().zip(&remaining[..count]) {
            if let Some(problem) = first_difference(expected, found, true) {
                return Err(PackError::Record {
                    line: found.request_index as usize,
                    problem: format!("does not follow from commit {}: {problem}", stored.sequence),
                });
            }
        }
        remaining = &remaining[count..];
        commits += 1;
    }
    if let Some(extra) = remaining.first() {
        return Err(PackError::Record {
            line: extra.request_index as usize,
            problem: "no commit of commits.jsonl produces it".into(),
        });
    }
    if commits != manifest.commits {
        return Err(PackError::Manifest(format!(
            "says {} commits, commits.jsonl holds {commits}",
            manifest.commits
        )));
    }
    if state.status != manifest.status {
        return Err(PackError::Manifest(format!(
            "says status {}, the commits fold to {}",
            status_name(manifest.status),
            status_name(state.status)
        )));
    }
    Ok(PackSummary {
        request_id: manifest.request_id,
        commits,
        records: records.len() as u64,
        request_chain_head: prev,
        status: state.status,
    })
}

/// The offline procedure, written into every pack.
fn verify_md(request: RequestId, head: &str, records: usize) -> String {
    format!(
        r#"# Evidence pack: approval request {request}

Exported by `signoff audit export`. Everything here is derived from the
signoff event log (JetStream stream, subject `signoff.events.{request}`),
not from a projection.

| file | what |
|---|---|
| `commits.jsonl` | every commit of the request, in log order: `{{"sequence", "subject", "commit"}}`; a commit is one command's events |
| `audit.jsonl` | the request's audit records ({records}), one per event, in order |
| `manifest.json` | request id, export time, status, counts, `requestChainHead` ({head}), and the SHA-256 of the other files |
| `VERIFY.md` | this procedure |

## 1. The files are the ones exported

```sh
jq -r '.files | to_entries[] | "\(.value)  \(.key)"' manifest.json | sha256sum -c -
```

or run `sha256sum commits.jsonl audit.jsonl VERIFY.md` and compare each line
with `files` in `manifest.json`.

## 2. Every record's hash, and the request's chain

A record's `hash` is `sha256:` followed by the hex SHA-256 of the record
*without* its `hash` field, written as canonical JSON: object keys sorted (by
code point), no white space, strings escaped as JSON does (non-ASCII left as
UTF-8), integers as written. Record 1 has `requestIndex` 1 and
`requestPrevHash` = GENESIS (`sha256:` and 64 zeros); record n has
`requestIndex` n and `requestPrevHash` = the `hash` of record n-1. The last
hash is `requestChainHead` in `manifest.json`, and `records` is the number of
lines. With Python 3 (standard library only), in this directory:

```python
import hashlib, json
GENESIS = "sha256:" + "0" * 64
manifest = json.load(open("manifest.json", encoding="utf-8"))
prev, n = GENESIS, 0
for n, line in enumerate(open("audit.jsonl", encoding="utf-8"), 1):
    record = json.loads(line)
    claimed = record.pop("hash")
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    computed = "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert computed == claimed, f"record {{n}}: hash {{claimed}}, content hashes to {{computed}}"
    assert record["requestId"] == manifest["requestId"], f"record {{n}}: another request"
    assert record["requestIndex"] == n, f"record {{n}}: requestIndex {{record['requestIndex']}}"
    assert record["requestPrevHash"] == prev, f"record {{n}}: requestPrevHash breaks the chain"
    prev = claimed
assert n == manifest["records"], f"{{n}} records, manifest says {{manifest['records']}}"
assert prev == manifest["requestChainHead"], "the chain does not end at requestChainHead"
print(f"OK: {{n}} records, request chain head {{prev}}")
```

## 3. The records follow from the commits

`signoff audit verify-pack DIR` does steps 1 and 2 and also folds
`commits.jsonl` through signoff's engine (an invalid history is refused) and
re-derives every audit record from the commits: who acted, through which
team, on which parameters hash, the status after each event, and the rule
that applied must be exactly what `audit.jsonl` says.

## What this pack proves, and what it does not

- The **request chain** (`requestIndex`, `requestPrevHash`) is
  self-contained: it starts at GENESIS and involves only this request's
  records, so steps 1-3 check it completely from this directory.
- The **global chain** fields (`index`, `prevHash`) place each record in the
  trail of the whole system: they depend on every commit of every request
  before it in the log. They are exported as the projector stores them (so the
  records can be found in that trail), and every `hash` covers them, but their
  values can only be checked against the whole log: run `signoff audit verify`
  on the live system.
- The pack is not signed. Whoever can rewrite all of its files can make them
  agree with each other. Its anchor is `requestChainHead` (or the SHA-256 of
  `manifest.json`): keep it somewhere independent (the change ticket, a signed
  message), or export the request again from the live log and compare
  `audit.jsonl`, which must be identical byte for byte.
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pointer_digest_sees_every_field_and_every_index() {
        let digest = PointerDigest::new();
        let chain = ChainHead {
            next_index: 3,
            hash: "sha256:aa".into(),
            plan_version: Some(1),
            spec_hash: Some("sha256:bb".into()),
        };
        let audit = [4, 9];
        let base = digest.of(&chain, &audit);
        assert_eq!(base, digest.of(&chain.clone(), &audit.clone()));
        let changed = [
            ChainHead {
                next_index: 4,
                ..chain.clone()
            },
            ChainHead {
                hash: "sha256:ab".into(),
                ..chain.clone()
            },
            ChainHead {
                plan_version: None,
                ..chain.clone()
            },
            ChainHead {
                plan_version: Some(2),
                ..chain.clone()
            },
            ChainHead {
                spec_hash: None,
                ..chain.clone()
            },
            // Moving bytes between fields changes it too.
            ChainHead {
                hash: "sha256:aasha256:bb".into(),
                spec_hash: Some(String::new()),
                ..chain.clone()
            },
        ];
        for other in &changed {
            assert_ne!(digest.of(other, &audit), base, "{other:?}");
        }
        for other in [&[4][..], &[4, 9, 10], &[9, 4], &[4, 8], &[]] {
            assert_ne!(digest.of(&chain, other), base, "{other:?}");
        }
        // A verify of its own draws other keys.
        assert_ne!(PointerDigest::new().of(&chain, &audit), base);
    }

    #[test]
    fn replay_columns_are_the_row_fields_in_order() {
        let row = ReplayRow {
            sequence: 1,
            event_in_commit: 0,
            request_id: RequestId(Uuid::nil()),
            request_index: 1,
            at: DateTime::UNIX_EPOCH,
            command_id: CommandId(Uuid::nil()),
            action: "submit".into(),
            actor: "alice".into(),
            auth_method: None,
            auth_key_id: None,
            event: "RequestSubmitted".into(),
            status_after: Status::Pending,
            stage: None,
            team: None,
            escalation_level: None,
            note: None,
            params_hash: None,
            plan_version: None,
            spec_hash: None,
            approvals: None,
            min_approvals: None,
            rejections: None,
            min_rejections: None,
            rule: None,
        };
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.serialize(&row).unwrap();
        let text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
        assert_eq!(text.lines().next().unwrap(), REPLAY_COLUMNS.join(","));
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(json.as_object().unwrap().len(), REPLAY_COLUMNS.len());
    }

    #[test]
    fn api_urls_are_checked() {
        assert_eq!(
            api_base("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            api_base("https://signoff.internal/read").unwrap(),
            "https://signoff.internal/read"
        );
        assert!(api_base("ftp://example.com").is_err());
        assert!(api_base("http://example.com/?a=1").is_err());
        assert!(api_base("not a url").is_err());
    }
}
