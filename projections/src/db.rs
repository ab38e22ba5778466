//! The projector's sled database: folding commits into views (in one atomic
//! batch with the checkpoint) and reading them back.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use signoff_engine::plan::Principal;
use signoff_engine::{ApprovalRequest, RequestId, Status, TeamId, UserId};
use signoff_eventstore::StoredCommit;
use tokio::sync::watch;

use crate::audit::{stored_records_for_commit, AuditRecord, ChainHead};
use crate::keys;
use crate::msgpack;
use crate::view::{InboxEntry, RequestRecord};

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("stored value under {key} does not decode: {problem}")]
    Corrupt { key: String, problem: String },
    #[error("{path}: the projection database is in format {found}; this signoff reads and writes format {expected}: rebuild it from the log (`signoff rebuild`) into an empty directory", expected = keys::FORMAT, path = .path.display())]
    Format {
        path: std::path::PathBuf,
        found: u32,
    },
    /// The log holds a commit the engine cannot fold: stop, do not skip.
    #[error("commit {sequence} of request {request_id} does not replay: {problem}")]
    Replay {
        sequence: u64,
        request_id: RequestId,
        problem: String,
    },
}

/// What the projection keeps of one request under `r:` (MessagePack).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredRequest {
    /// The view the query API serves.
    pub record: RequestRecord,
    /// Where the request's own audit chain stands.
    pub chain: ChainHead,
    /// Global indexes of the request's audit records: entry `i` is request index `i + 1`.
    pub audit: Vec<u64>,
}

impl StoredRequest {
    /// When the request was submitted (ms since the epoch): its place in `r:`.
    pub fn submitted_ms(&self) -> Option<i64> {
        self.record
            .state
            .submitted
            .as_ref()
            .map(|s| s.submitted_at.timestamp_millis())
    }
}

/// One stored key and its value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Which requests a list shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListFilter {
    Status(Status),
    Requester(String),
    Title(String),
}

/// One page of a list, newest first; `next` is the cursor of the following page.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub items: Vec<RequestRecord>,
    pub next: Option<String>,
}

/// The projection database. Cheap to clone; shared by the projector and the query API.
#[derive(Clone)]
pub struct ProjectionDb {
    tree: sled::Tree,
    db: sled::Db,
    applied: watch::Sender<u64>,
}

/// sled's page cache of a projection database unless configured
/// (`projection.cacheMiB`): bounds the projector's memory at some cost in
/// catch-up speed (a rebuild of a large log re-reads evicted pages).
pub const DEFAULT_CACHE_MIB: u64 = 64;

/// How long opening waits for sled's lock on the database, which a handle
/// closed a moment ago in this process can still hold.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl ProjectionDb {
    /// Opens (or creates) the database with the default page cache ([`DEFAULT_CACHE_MIB`]).
    pub fn open(path: &Path) -> Result<Self, ProjectionError> {
        Self::open_with_cache(path, DEFAULT_CACHE_MIB)
    }

    /// Opens (or creates) the database with a page cache of `cache_mib` MiB
    /// (at least 1): more memory, faster catch-up once the database
    /// outgrows the cache. Waits up to [`LOCK_WAIT`] for the database's lock.
    pub fn open_with_cache(path: &Path, cache_mib: u64) -> Result<Self, ProjectionError> {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(cache_mib.max(1) * 1024 * 1024);
        // A database closed a moment ago in this process may still be locked
        // by sled's background threads finishing: wait for the lock a little
        // (another process holding it still fails, naming the lock).
        let give_up = std::time::Instant::now() + LOCK_WAIT;
        let db = loop {
            match config.open() {
                Err(sled::Error::Io(e))
                    if e.to_string().starts_with("could not acquire lock")
                        && std::time::Instant::now() < give_up =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                opened => break opened?,
            }
        };
        let tree = db.open_tree("signoff")?;
        match tree.get(keys::FORMAT_KEY)? {
            None if tree.is_empty() => {
                tree.insert(keys::FORMAT_KEY, &keys::FORMAT.to_be_bytes())?;
            }
            found => {
                let found = found
                    .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
                    .map_or(1, u32::from_be_bytes);
                if found != keys::FORMAT {
                    return Err(ProjectionError::Format {
                        path: path.to_owned(),
                        found,
                    });
                }
            }
        }
        let checkpoint = read_u64(&tree, keys::CHECKPOINT)?;
        let (applied, _) = watch::channel(checkpoint);
        Ok(Self { tree, db, applied })
    }

    /// Stream sequence of the last commit applied (0: none).
    pub fn checkpoint(&self) -> Result<u64, ProjectionError> {
        read_u64(&self.tree, keys::CHECKPOINT)
    }

    /// Applies commits in stream order as one atomic batch with the new
    /// checkpoint, then flushes: after this returns the effects survive a crash.
    /// Commits at or below the checkpoint are skipped (a redelivery).
    pub async fn apply(&self, commits: &[StoredCommit]) -> Result<u64, ProjectionError> {
        self.apply_owned(commits.to_vec()).await
    }

    /// [`Self::apply`] on commits the caller gives up: their events move into
    /// the folded state instead of being cloned.
    pub async fn apply_owned(&self, commits: Vec<StoredCommit>) -> Result<u64, ProjectionError> {
        let folder = Folder::new(self.clone())?;
        let (folded, _) = folder.fold_blocking(commits).await?;
        match folded {
            Some(folded) => self.write(folded).await,
            None => self.checkpoint(),
        }
    }

    /// Writes a folded batch (one atomic sled batch with its checkpoint) and
    /// flushes it: after this returns the effects survive a crash. Batches
    /// must be written in the order they were folded.
    pub async fn write(&self, folded: Folded) -> Result<u64, ProjectionError> {
        let Folded { batch, last } = folded;
        // sled's insertion is CPU work of tens of milliseconds per batch:
        // off the async workers.
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.tree.apply_batch(batch))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        self.db.flush_async().await?;
        self.applied.send_replace(last);
        Ok(last)
    }

    /// Waits until the checkpoint reaches `sequence` (read-your-writes), or the timeout.
    pub async fn wait_for(
        &self,
        sequence: u64,
        timeout: std::time::Duration,
    ) -> Result<bool, ProjectionError> {
        let mut applied = self.applied.subscribe();
        let reached = tokio::time::timeout(timeout, applied.wait_for(|s| *s >= sequence)).await;
        Ok(matches!(reached, Ok(Ok(_))))
    }

    pub fn request(&self, id: RequestId) -> Result<Option<RequestRecord>, ProjectionError> {
        Ok(self.stored_request(id)?.map(|stored| stored.record))
    }

    /// What the projection keeps of one request: its view, where its audit
    /// chain stands and the global indexes of its audit records.
    pub fn stored_request(&self, id: RequestId) -> Result<Option<StoredRequest>, ProjectionError> {
        let locator = keys::request_locator(id);
        let Some(ms) = self.tree.get(&locator)? else {
            return Ok(None);
        };
        let ms = u64::from_be_bytes(
            ms.as_ref()
                .try_into()
                .map_err(|_| corrupt(&locator, "not a u64"))?,
        ) as i64;
        self.stored_request_at(ms, id)
    }

    /// The stored request under `r:` + `submitted_ms` + `id` (what index keys end with).
    fn stored_request_at(
        &self,
        submitted_ms: i64,
        id: RequestId,
    ) -> Result<Option<StoredRequest>, ProjectionError> {
        let key = keys::request(submitted_ms, id);
        self.tree
            .get(&key)?
            .map(|value| decode_stored(&key, &value))
            .transpose()
    }

    /// Each stored request's audit pointers (its chain head and the global
    /// indexes of its records), in submission order, without decoding its
    /// view: what verify checks against the log.
    pub fn stored_pointers(
        &self,
    ) -> impl Iterator<Item = Result<(RequestId, ChainHead, Vec<u64>), ProjectionError>> + '_ {
        self.tree.scan_prefix(b"r:").map(|entry| {
            let (key, value) = entry?;
            let (_, id) =
                keys::time_and_id(&key).ok_or_else(|| corrupt(&key, "is not a request key"))?;
            let (chain, audit) = stored_pointers_of(&value).map_err(|e| corrupt(&key, &e))?;
            Ok((id, chain, audit))
        })
    }

    /// Overwrites what is stored of one request, outside any batch: raw
    /// access for tools and tests (tampering checks), like [`Self::tree`].
    pub fn put_stored_request(&self, stored: &StoredRequest) -> Result<(), ProjectionError> {
        let id = stored.record.request_id;
        let ms = stored
            .submitted_ms()
            .ok_or_else(|| ProjectionError::Corrupt {
                key: format!("request {id}"),
                problem: "a stored request is a submitted one".into(),
            })?;
        self.tree
            .insert(keys::request_locator(id), &(ms as u64).to_be_bytes())?;
        self.tree
            .insert(keys::request(ms, id), encode_stored(stored))?;
        Ok(())
    }

    /// Where the global audit chain stands.
    pub fn global_head(&self) -> Result<ChainHead, ProjectionError> {
        Ok(get_json(&self.tree, keys::AUDIT_HEAD)?.unwrap_or_default())
    }

    /// A page of requests matching `filter`, newest first.
    pub fn list(
        &self,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page, ProjectionError> {
        let prefix = match filter {
            ListFilter::Status(s) => keys::status_prefix(*s),
            ListFilter::Requester(u) => keys::requester_prefix(u),
            ListFilter::Title(t) => keys::title_prefix(t),
        };
        let start = prefix.clone();
        // A cursor is what `next` returned: submitted ms (8) + request id (16) + 0.
        let end = match cursor.map(hex::decode) {
            Some(Ok(suffix)) if suffix.len() == 25 && suffix[24] == 0 => {
                [prefix.as_slice(), &suffix].concat()
            }
            Some(_) => {
                return Err(ProjectionError::Corrupt {
                    key: "cursor".into(),
                    problem: "is not a cursor this API returned".into(),
                })
            }
            None => {
                let mut end = prefix.clone();
                end.push(0xff);
                end
            }
        };
        let mut items = Vec::new();
        let mut next = None;
        for entry in self.tree.range(start..end).rev() {
            let (key, _) = entry?;
            if items.len() == limit {
                next = Some(hex::encode(&key[prefix.len()..]));
                break;
            }
            let (ms, id) =
                keys::time_and_id(&key).ok_or_else(|| corrupt(&key, "is not an index key"))?;
            if let Some(stored) = self.stored_request_at(ms, id)? {
                items.push(stored.record);
            }
        }
        // `next` names the first key of the next page; a page ends before it.
        if let Some(cursor) = &next {
            let mut bytes = hex::decode(cursor).expect("own cursor");
            bytes.push(0);
            next = Some(hex::encode(bytes));
        }
        Ok(Page { items, next })
    }

    /// What `user` can act on now: entries filed under the user or any of
    /// `teams`, less requests they submitted, already voted on in this stage,
    /// or (four eyes) approved an earlier stage of.
    pub fn inbox(
        &self,
        user: &UserId,
        teams: &BTreeSet<TeamId>,
    ) -> Result<Vec<InboxEntry>, ProjectionError> {
        let mut principals = vec![Principal::User(user.clone())];
        principals.extend(teams.iter().cloned().map(Principal::Team));
        // Entries are derived from the request as folded now; the key only
        // says under which principal it is filed (the first match wins).
        let mut filed: BTreeMap<RequestId, (i64, Principal)> = BTreeMap::new();
        for principal in &principals {
            let prefix = keys::principal_prefix(principal);
            for entry in self.tree.scan_prefix(&prefix) {
                let (key, _) = entry?;
                let (ms, id) = keys::time_and_id(&key[prefix.len()..])
                    .ok_or_else(|| corrupt(&key, "is not an inbox key"))?;
                filed.entry(id).or_insert_with(|| (ms, principal.clone()));
            }
        }
        let mut actionable = Vec::new();
        for (id, (ms, principal)) in filed {
            let Some(StoredRequest { record, .. }) = self.stored_request_at(ms, id)? else {
                continue;
            };
            if !can_act(&record.state, user) {
                continue;
            }
            if let Some(entry) = inbox_entries(id, &record.state).remove(&principal) {
                actionable.push(entry);
            }
        }
        actionable.sort_by(|a, b| {
            a.submitted_at
                .cmp(&b.submitted_at)
                .then(a.request_id.cmp(&b.request_id))
        });
        Ok(actionable)
    }

    /// The audit records of one request, in chain order.
    pub fn audit_for_request(&self, id: RequestId) -> Result<Vec<AuditRecord>, ProjectionError> {
        let Some(stored) = self.stored_request(id)? else {
            return Ok(Vec::new());
        };
        let mut records = Vec::with_capacity(stored.audit.len());
        for index in stored.audit {
            let record =
                get_json::<AuditRecord>(&self.tree, &keys::audit(index))?.ok_or_else(|| {
                    corrupt(
                        &keys::request_locator(id),
                        &format!("points at audit record {index}, which is missing"),
                    )
                })?;
            records.push(record);
        }
        Ok(records)
    }

    /// Global audit records with index > `after`, at most `limit`.
    pub fn audit_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, ProjectionError> {
        let mut records = Vec::new();
        for entry in self
            .tree
            .range(keys::audit(after + 1)..keys::audit(u64::MAX))
            .take(limit)
        {
            let (key, value) = entry?;
            records.push(decode(&key, &value)?);
        }
        Ok(records)
    }

    /// Every key and value, in key order: two databases built from the same
    /// log must dump identically.
    pub fn dump(&self) -> Result<Vec<KeyValue>, ProjectionError> {
        self.tree
            .iter()
            .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(Into::into))
            .collect()
    }

    /// Raw access for tools and tests (tampering checks).
    pub fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    pub async fn flush(&self) -> Result<(), ProjectionError> {
        self.db.flush_async().await?;
        Ok(())
    }
}

/// One batch folded and not yet written: the sled batch (views, audit
/// records, indexes, chain head, checkpoint) and the checkpoint it writes.
pub struct Folded {
    batch: sled::Batch,
    last: u64,
}

impl Folded {
    /// Stream sequence this batch brings the checkpoint to.
    pub fn last(&self) -> u64 {
        self.last
    }
}

/// Folds batches of commits for one writer, a batch ahead of what is
/// written: requests touched by batches folded but not yet written are read
/// from memory (newest first), everything else from sled, so batch N + 1 is
/// folded while batch N is being written. Only one `Folder` may write to a
/// database at a time (the projector's, or a rebuild's).
pub struct Folder {
    db: ProjectionDb,
    /// Last sequence folded.
    checkpoint: u64,
    /// The global chain as of the last folded batch.
    global: ChainHead,
    /// Batches folded and maybe not yet written: (their checkpoint, the requests as they left them).
    unwritten: VecDeque<(u64, HashMap<RequestId, StoredRequest>)>,
}

impl Folder {
    pub fn new(db: ProjectionDb) -> Result<Self, ProjectionError> {
        Ok(Self {
            checkpoint: db.checkpoint()?,
            global: db.global_head()?,
            db,
            unwritten: VecDeque::new(),
        })
    }

    /// [`Self::fold`] on a blocking thread; hands the folder back.
    pub async fn fold_blocking(
        mut self,
        commits: Vec<StoredCommit>,
    ) -> Result<(Option<Folded>, Self), ProjectionError> {
        tokio::task::spawn_blocking(move || {
            let folded = self.fold(commits)?;
            Ok((folded, self))
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }

    /// The writes of one batch: every touched request read once, folded,
    /// and written once; audit records appended; indexes diffed between the
    /// request's state before the batch and after it. Commits at or below
    /// the last sequence folded are skipped (a redelivery). `None` when
    /// nothing is new.
    pub fn fold(&mut self, commits: Vec<StoredCommit>) -> Result<Option<Folded>, ProjectionError> {
        // What the writer has flushed no longer needs to be kept here.
        let written = *self.db.applied.borrow();
        while self
            .unwritten
            .front()
            .is_some_and(|(last, _)| *last <= written)
        {
            self.unwritten.pop_front();
        }
        let mut batch = sled::Batch::default();
        let mut touched: HashMap<RequestId, Touched> = HashMap::with_capacity(commits.len());
        let mut global = self.global.clone();
        let mut last = self.checkpoint;
        for stored in commits {
            if stored.sequence <= last {
                continue;
            }
            last = stored.sequence;
            let id = stored.commit.request_id;
            let request = match touched.entry(id) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => {
                    let unwritten = self
                        .unwritten
                        .iter()
                        .rev()
                        .find_map(|(_, requests)| requests.get(&id));
                    let stored = match unwritten {
                        Some(stored) => Some(stored.clone()),
                        None => self.db.stored_request(id)?,
                    };
                    entry.insert(Touched::new(id, stored))
                }
            };
            if stored.sequence <= request.stored.record.last_sequence {
                continue;
            }
            for audit in stored_records_for_commit(&stored, &mut global, &mut request.stored.chain)
            {
                request.stored.audit.push(audit.record.index);
                batch.insert(keys::audit(audit.record.index), audit.json);
            }
            let StoredCommit {
                sequence, commit, ..
            } = stored;
            for event in commit.events {
                request
                    .stored
                    .record
                    .state
                    .apply(event)
                    .map_err(|e| ProjectionError::Replay {
                        sequence,
                        request_id: id,
                        problem: e.to_string(),
                    })?;
            }
            request.stored.record.last_sequence = sequence;
        }
        if last == self.checkpoint {
            return Ok(None);
        }
        let mut requests = HashMap::with_capacity(touched.len());
        for (id, request) in touched {
            // Every request's first commit submits it (the engine folds
            // nothing else into an empty history), so it has a time here.
            let Some(ms) = request.stored.submitted_ms() else {
                return Err(ProjectionError::Replay {
                    sequence: request.stored.record.last_sequence,
                    request_id: id,
                    problem: "the request's history does not begin with its submission".into(),
                });
            };
            update_indexes(
                &mut batch,
                id,
                ms,
                &request.before,
                &request.stored.record.state,
            );
            if !request.before.submitted {
                batch.insert(keys::request_locator(id), &(ms as u64).to_be_bytes());
            }
            batch.insert(keys::request(ms, id), encode_stored(&request.stored));
            requests.insert(id, request.stored);
        }
        batch.insert(
            keys::AUDIT_HEAD,
            serde_json::to_vec(&global).expect("chain heads serialize"),
        );
        batch.insert(keys::CHECKPOINT, &last.to_be_bytes());
        // Committed to memory only once the whole batch folded: a refused
        // commit leaves the folder as it was.
        self.checkpoint = last;
        self.global = global;
        self.unwritten.push_back((last, requests));
        Ok(Some(Folded { batch, last }))
    }
}

/// May `user` approve or reject the current stage of `state` (directory aside)?
fn can_act(state: &ApprovalRequest, user: &UserId) -> bool {
    let Some(submitted) = &state.submitted else {
        return false;
    };
    if state.status != Status::Pending || submitted.requester.user == *user {
        return false;
    }
    let stage = state.current_stage as usize;
    let Some(progress) = state.stages.get(stage) else {
        return false;
    };
    let voted = |votes: &[signoff_engine::event::Vote]| votes.iter().any(|v| v.by.user == *user);
    if voted(&progress.approvals) || voted(&progress.rejections) {
        return false;
    }
    submitted.plan.allow_same_approver_across_stages
        || !state.stages[..stage].iter().any(|s| voted(&s.approvals))
}

/// A request touched by the batch being folded.
struct Touched {
    stored: StoredRequest,
    /// What the indexes say of it before the batch.
    before: Indexed,
}

impl Touched {
    fn new(id: RequestId, stored: Option<StoredRequest>) -> Self {
        let stored = stored.unwrap_or_else(|| StoredRequest {
            record: RequestRecord {
                request_id: id,
                last_sequence: 0,
                state: ApprovalRequest::default(),
            },
            chain: ChainHead::default(),
            audit: Vec::new(),
        });
        let before = Indexed::of(&stored.record.state);
        Self { stored, before }
    }
}

/// What the list and inbox indexes hold for one request.
struct Indexed {
    submitted: bool,
    status: Status,
    inbox: BTreeSet<Principal>,
}

impl Indexed {
    fn of(state: &ApprovalRequest) -> Self {
        Self {
            submitted: state.submitted.is_some(),
            status: state.status,
            inbox: inbox_principals(state),
        }
    }
}

fn update_indexes(
    batch: &mut sled::Batch,
    id: RequestId,
    ms: i64,
    before: &Indexed,
    after: &ApprovalRequest,
) {
    let Some(submitted) = &after.submitted else {
        return;
    };
    if !before.submitted {
        batch.insert(
            keys::indexed(
                &keys::requester_prefix(submitted.requester.user.as_str()),
                ms,
                id,
            ),
            &[],
        );
        batch.insert(
            keys::indexed(&keys::title_prefix(&submitted.plan.title), ms, id),
            &[],
        );
    }
    if before.status != after.status {
        if before.submitted {
            batch.remove(keys::indexed(&keys::status_prefix(before.status), ms, id));
        }
        batch.insert(
            keys::indexed(&keys::status_prefix(after.status), ms, id),
            &[],
        );
    }
    let now = inbox_principals(after);
    for principal in before.inbox.difference(&now) {
        batch.remove(keys::inbox(principal, ms, id));
    }
    for principal in now.difference(&before.inbox) {
        batch.insert(keys::inbox(principal, ms, id), &[]);
    }
}

/// The principals a request is filed under while pending: its current
/// stage's approvers and those escalation added to it.
fn inbox_principals(state: &ApprovalRequest) -> BTreeSet<Principal> {
    let (Some(submitted), Status::Pending) = (&state.submitted, state.status) else {
        return BTreeSet::new();
    };
    let stage = state.current_stage as usize;
    let (Some(plan), Some(progress)) = (submitted.plan.stages.get(stage), state.stages.get(stage))
    else {
        return BTreeSet::new();
    };
    plan.approvers
        .iter()
        .chain(progress.escalated_to.iter().map(|(_, p)| p))
        .cloned()
        .collect()
}

/// The inbox entries a request files while pending: its current stage's
/// principals and those escalation added to it.
fn inbox_entries(id: RequestId, state: &ApprovalRequest) -> BTreeMap<Principal, InboxEntry> {
    let mut entries = BTreeMap::new();
    let (Some(submitted), Status::Pending) = (&state.submitted, state.status) else {
        return entries;
    };
    let stage = state.current_stage;
    let (Some(plan), Some(progress)) = (
        submitted.plan.stages.get(stage as usize),
        state.stages.get(stage as usize),
    ) else {
        return entries;
    };
    let named = plan.approvers.iter().map(|p| (None, p));
    let escalated = progress
        .escalated_to
        .iter()
        .map(|(level, p)| (Some(*level), p));
    for (level, principal) in named.chain(escalated) {
        entries
            .entry(principal.clone())
            .or_insert_with(|| InboxEntry {
                request_id: id,
                title: submitted.plan.title.clone(),
                stage,
                stage_title: plan.title.clone(),
                principal: principal.clone(),
                escalation_level: level,
                requester: submitted.requester.user.to_string(),
                submitted_at: submitted.submitted_at,
                expires_at: submitted.plan.expires_at,
            });
    }
    entries
}

/// The `chain` and `audit` of a stored request's MessagePack, stepping over
/// its `record` undecoded; each of the three must be there once (as decoding
/// the whole [`StoredRequest`] requires), other keys are ignored.
fn stored_pointers_of(value: &[u8]) -> Result<(ChainHead, Vec<u64>), String> {
    let entries = msgpack::map_entries(value)
        .ok_or("is not a MessagePack map of named fields (truncated?)")?;
    let (mut record, mut chain, mut audit) = (None, None, None);
    for (key, raw) in entries {
        let slot = match key {
            "record" => &mut record,
            "chain" => &mut chain,
            "audit" => &mut audit,
            _ => continue,
        };
        if slot.replace(raw).is_some() {
            return Err(format!("duplicate field `{key}`"));
        }
    }
    fn field<'a>(raw: Option<&'a [u8]>, name: &str) -> Result<&'a [u8], String> {
        raw.ok_or_else(|| format!("missing field `{name}`"))
    }
    field(record, "record")?;
    let chain = rmp_serde::from_slice(field(chain, "chain")?).map_err(|e| format!("chain: {e}"))?;
    let audit = rmp_serde::from_slice(field(audit, "audit")?).map_err(|e| format!("audit: {e}"))?;
    Ok((chain, audit))
}

fn encode_stored(stored: &StoredRequest) -> Vec<u8> {
    rmp_serde::to_vec_named(stored).expect("stored requests serialize")
}

fn decode_stored(key: &[u8], value: &[u8]) -> Result<StoredRequest, ProjectionError> {
    rmp_serde::from_slice(value).map_err(|e| corrupt(key, &e.to_string()))
}

fn read_u64(tree: &sled::Tree, key: &[u8]) -> Result<u64, ProjectionError> {
    match tree.get(key)? {
        Some(bytes) => Ok(u64::from_be_bytes(
            bytes
                .as_ref()
                .try_into()
                .map_err(|_| corrupt(key, "not a u64"))?,
        )),
        None => Ok(0),
    }
}

fn get_json<T: DeserializeOwned>(
    tree: &sled::Tree,
    key: &[u8],
) -> Result<Option<T>, ProjectionError> {
    tree.get(key)?.map(|v| decode(key, &v)).transpose()
}

fn decode<T: DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T, ProjectionError> {
    serde_json::from_slice(value).map_err(|e| corrupt(key, &e.to_string()))
}

fn corrupt(key: &[u8], problem: &str) -> ProjectionError {
    ProjectionError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        problem: problem.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(audit: Vec<u64>) -> StoredRequest {
        StoredRequest {
            record: RequestRecord {
                request_id: RequestId(uuid::Uuid::from_u128(7)),
                last_sequence: 12,
                state: ApprovalRequest::default(),
            },
            chain: ChainHead {
                next_index: 3,
                hash: "sha256:ab".into(),
                plan_version: Some(2),
                spec_hash: Some("sha256:cd".into()),
            },
            audit,
        }
    }

    #[test]
    fn pointers_read_past_the_view_are_the_decoded_ones() {
        for audit in [vec![], vec![4, 9], (0..300).collect()] {
            let stored = stored(audit);
            let bytes = encode_stored(&stored);
            assert_eq!(
                stored_pointers_of(&bytes),
                Ok((stored.chain.clone(), stored.audit.clone()))
            );
        }
    }

    #[test]
    fn pointers_of_a_value_that_is_not_a_stored_request_are_refused() {
        let named = |value: serde_json::Value| rmp_serde::to_vec_named(&value).unwrap();
        let chain = serde_json::to_value(stored(vec![]).chain).unwrap();
        let cases = [
            (
                named(serde_json::json!({"chain": chain, "audit": []})),
                "missing field `record`",
            ),
            (
                named(serde_json::json!({"record": 1, "audit": []})),
                "missing field `chain`",
            ),
            (
                named(serde_json::json!({"record": 1, "chain": chain, "audit": "x"})),
                "audit:",
            ),
            (named(serde_json::json!([1, 2])), "is not a MessagePack map"),
        ];
        for (bytes, problem) in cases {
            let refused = stored_pointers_of(&bytes).unwrap_err();
            assert!(refused.contains(problem), "{refused} / {problem}");
        }
        // A field twice (hand-written: maps from serde have unique keys).
        let mut twice = vec![0x83];
        for key in ["record", "record"] {
            twice.push(0xa0 | key.len() as u8);
            twice.extend_from_slice(key.as_bytes());
            twice.push(0x01);
        }
        twice.extend_from_slice(&[0xa5, b'a', b'u', b'd', b'i', b't', 0x90]);
        assert_eq!(
            stored_pointers_of(&twice),
            Err("duplicate field `record`".into())
        );
        // Cut short.
        let whole = encode_stored(&stored(vec![1]));
        assert!(stored_pointers_of(&whole[..whole.len() - 1]).is_err());
    }
}
