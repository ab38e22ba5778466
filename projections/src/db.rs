//! The projector's sled database: folding commits into views (in one atomic
//! batch with the checkpoint) and reading them back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;
use signoff_engine::plan::Principal;
use signoff_engine::{ApprovalRequest, RequestId, Status, TeamId, UserId};
use signoff_eventstore::StoredCommit;
use tokio::sync::watch;

use crate::audit::{records_for_commit, AuditRecord, ChainHead};
use crate::keys;
use crate::view::{InboxEntry, RequestRecord};

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("stored value under {key} does not decode: {problem}")]
    Corrupt { key: String, problem: String },
    /// The log holds a commit the engine cannot fold: stop, do not skip.
    #[error("commit {sequence} of request {request_id} does not replay: {problem}")]
    Replay {
        sequence: u64,
        request_id: RequestId,
        problem: String,
    },
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

impl ProjectionDb {
    pub fn open(path: &Path) -> Result<Self, ProjectionError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(64 * 1024 * 1024)
            .open()?;
        let tree = db.open_tree("signoff")?;
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
        let checkpoint = self.checkpoint()?;
        let mut writer = Writer::new(&self.tree);
        let mut last = checkpoint;
        for stored in commits.iter().filter(|c| c.sequence > checkpoint) {
            if stored.sequence <= last {
                continue;
            }
            fold_commit(&mut writer, stored)?;
            last = stored.sequence;
        }
        if last == checkpoint {
            return Ok(checkpoint);
        }
        writer.put(keys::CHECKPOINT.to_vec(), last.to_be_bytes().to_vec());
        self.tree.apply_batch(writer.into_batch())?;
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
        get_json(&self.tree, &keys::request(id))
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
            let id_bytes: [u8; 16] = key[key.len() - 16..].try_into().expect("16-byte id");
            let id = RequestId(uuid::Uuid::from_bytes(id_bytes));
            if let Some(record) = self.request(id)? {
                items.push(record);
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
        let mut entries: BTreeMap<RequestId, InboxEntry> = BTreeMap::new();
        for principal in &principals {
            for entry in self.tree.scan_prefix(keys::principal_prefix(principal)) {
                let (key, value) = entry?;
                let inbox: InboxEntry = decode(&key, &value)?;
                entries.entry(inbox.request_id).or_insert(inbox);
            }
        }
        let mut actionable = Vec::new();
        for (id, entry) in entries {
            let Some(record) = self.request(id)? else {
                continue;
            };
            if can_act(&record.state, user) {
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
        let mut records = Vec::new();
        for entry in self.tree.scan_prefix(keys::audit_by_request_prefix(id)) {
            let (key, value) = entry?;
            let index = u64::from_be_bytes(
                value
                    .as_ref()
                    .try_into()
                    .map_err(|_| corrupt(&key, "not an index"))?,
            );
            let record =
                get_json::<AuditRecord>(&self.tree, &keys::audit(index))?.ok_or_else(|| {
                    corrupt(
                        &key,
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

/// Pending writes of one batch, read back before they reach sled.
struct Writer<'a> {
    tree: &'a sled::Tree,
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> Writer<'a> {
    fn new(tree: &'a sled::Tree) -> Self {
        Self {
            tree,
            pending: BTreeMap::new(),
        }
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ProjectionError> {
        match self.pending.get(key) {
            Some(value) => Ok(value.clone()),
            None => Ok(self.tree.get(key)?.map(|v| v.to_vec())),
        }
    }

    fn get_json<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, ProjectionError> {
        self.get(key)?.map(|v| decode(key, &v)).transpose()
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.pending.insert(key, Some(value));
    }

    fn put_json<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        self.put(key, serde_json::to_vec(value).expect("views serialize"));
    }

    fn remove(&mut self, key: Vec<u8>) {
        self.pending.insert(key, None);
    }

    fn into_batch(self) -> sled::Batch {
        let mut batch = sled::Batch::default();
        for (key, value) in self.pending {
            match value {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            }
        }
        batch
    }
}

fn fold_commit(writer: &mut Writer<'_>, stored: &StoredCommit) -> Result<(), ProjectionError> {
    let id = stored.commit.request_id;
    let key = keys::request(id);
    let mut record = writer
        .get_json::<RequestRecord>(&key)?
        .unwrap_or(RequestRecord {
            request_id: id,
            last_sequence: 0,
            state: ApprovalRequest::default(),
        });
    if stored.sequence <= record.last_sequence {
        return Ok(());
    }
    let before = record.state.clone();
    for event in &stored.commit.events {
        record
            .state
            .apply(event.clone())
            .map_err(|e| ProjectionError::Replay {
                sequence: stored.sequence,
                request_id: id,
                problem: e.to_string(),
            })?;
    }
    record.last_sequence = stored.sequence;

    let mut global: ChainHead = writer.get_json(keys::AUDIT_HEAD)?.unwrap_or_default();
    let mut chain: ChainHead = writer
        .get_json(&keys::request_head(id))?
        .unwrap_or_default();
    for audit in records_for_commit(stored, &mut global, &mut chain) {
        writer.put(
            keys::audit_by_request(id, audit.request_index),
            audit.index.to_be_bytes().to_vec(),
        );
        writer.put_json(keys::audit(audit.index), &audit);
    }
    writer.put_json(keys::AUDIT_HEAD.to_vec(), &global);
    writer.put_json(keys::request_head(id), &chain);

    update_indexes(writer, id, &before, &record.state);
    writer.put_json(key, &record);
    Ok(())
}

fn update_indexes(
    writer: &mut Writer<'_>,
    id: RequestId,
    before: &ApprovalRequest,
    after: &ApprovalRequest,
) {
    let Some(submitted) = &after.submitted else {
        return;
    };
    let ms = submitted.submitted_at.timestamp_millis();
    if before.submitted.is_none() {
        writer.put(
            keys::indexed(
                &keys::requester_prefix(submitted.requester.user.as_str()),
                ms,
                id,
            ),
            Vec::new(),
        );
        writer.put(
            keys::indexed(&keys::title_prefix(&submitted.plan.title), ms, id),
            Vec::new(),
        );
    }
    if before.status != after.status {
        if before.submitted.is_some() {
            writer.remove(keys::indexed(&keys::status_prefix(before.status), ms, id));
        }
        writer.put(
            keys::indexed(&keys::status_prefix(after.status), ms, id),
            Vec::new(),
        );
    }
    let old = inbox_entries(id, before);
    let new = inbox_entries(id, after);
    for principal in old.keys().filter(|p| !new.contains_key(*p)) {
        writer.remove(keys::inbox(principal, id));
    }
    for (principal, entry) in new {
        if old.get(&principal) != Some(&entry) {
            writer.put_json(keys::inbox(&principal, id), &entry);
        }
    }
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
