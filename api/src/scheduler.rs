//! The scheduler: turns deadlines (expiry, escalation levels) into commands.
//!
//! Its timers are derived from the log, never kept elsewhere: it follows every
//! request's commits from the start of the stream, adds a request's deadlines
//! when it is submitted, drops a level once `RequestEscalated` for it is in the
//! log and drops everything once the request is decided. A restart therefore
//! loses none; overdue deadlines fire at once, in order.
//!
//! A deadline fires as an ordinary command through the gateway, with a
//! command id derived from (request, kind, level): fired twice — after a crash,
//! or by two schedulers at once — it is applied once (the second gets the
//! original answer or a typed refusal). The gateway checks the time itself
//! (`NOT_YET_DUE`), so a scheduler whose clock runs ahead cannot fire early.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::json;
use signoff_engine::{ApprovalEvent, RequestId, Role};
use signoff_eventstore::{EventStore, StoreError, StoredCommit};
use signoff_schemas::replies::codes;
use signoff_schemas::Reply;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{debug, error, info, info_span, warn, Instrument};
use uuid::Uuid;

use crate::client::CommandClient;
use crate::clock::Clock;
use crate::identity::TokenIssuer;

/// Namespace of deadline command ids (UUID v5).
const DEADLINE_NAMESPACE: Uuid = Uuid::from_u128(0x5167_6f66_2d64_6561_646c_696e_6573_0001);
/// How often the scheduler looks at its clock when nothing else wakes it.
const TICK: Duration = Duration::from_millis(50);
/// How long after a failed or ended watch of the log it is opened again.
const REOPEN_AFTER: Duration = Duration::from_secs(1);

/// What falls due.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeadlineKind {
    Expire,
    /// A stage's own `expiresIn`, counted from when it became current.
    StageExpire {
        stage: u32,
    },
    Escalate {
        level: u32,
    },
    /// Reminder `number`: when late, the latest period due is fired (one reminder, not a burst).
    Remind {
        number: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline {
    pub due_at: DateTime<Utc>,
    pub request_id: RequestId,
    pub kind: DeadlineKind,
}

impl Deadline {
    /// The command id every scheduler uses for this deadline.
    pub fn command_id(&self) -> Uuid {
        let name = match self.kind {
            DeadlineKind::Expire => format!("{}/expire", self.request_id),
            DeadlineKind::StageExpire { stage } => {
                format!("{}/expire/stage/{stage}", self.request_id)
            }
            DeadlineKind::Escalate { level } => format!("{}/escalate/{level}", self.request_id),
            DeadlineKind::Remind { number } => format!("{}/remind/{number}", self.request_id),
        };
        Uuid::new_v5(&DEADLINE_NAMESPACE, name.as_bytes())
    }
}

/// The pending deadlines, as the log says.
#[derive(Debug, Default)]
pub struct Deadlines {
    pending: BTreeSet<Deadline>,
    by_request: HashMap<RequestId, Vec<Deadline>>,
    /// Reminder schedules: submission time and period in minutes.
    reminders: HashMap<RequestId, (DateTime<Utc>, u32)>,
    /// Each stage's own `expiresIn` (seconds), for requests that have any.
    stage_expiry: HashMap<RequestId, Vec<Option<u64>>>,
}

impl Deadlines {
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn next(&self) -> Option<&Deadline> {
        self.pending.first()
    }

    /// Every deadline due at `now`, earliest first. A late reminder is moved
    /// to the latest period already due.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<Deadline> {
        self.pending
            .iter()
            .take_while(|d| d.due_at <= now)
            .map(|d| match (d.kind, self.reminders.get(&d.request_id)) {
                (DeadlineKind::Remind { number }, Some((submitted_at, every))) => {
                    let periods = (now - *submitted_at).num_minutes() / i64::from((*every).max(1));
                    let latest = u32::try_from(periods).unwrap_or(u32::MAX).max(number);
                    let due_at = *submitted_at
                        + chrono::Duration::minutes(i64::from(*every) * i64::from(latest));
                    Deadline {
                        due_at,
                        request_id: d.request_id,
                        kind: DeadlineKind::Remind { number: latest },
                    }
                }
                _ => *d,
            })
            .collect()
    }

    /// Folds one commit: submissions add deadlines, escalations and decisions remove them.
    pub fn fold(&mut self, stored: &StoredCommit) {
        let id = stored.commit.request_id;
        for event in &stored.commit.events {
            match event {
                ApprovalEvent::RequestSubmitted(s) => {
                    let mut added = Vec::new();
                    if let Some(due_at) = s.plan.expires_at {
                        added.push(Deadline {
                            due_at,
                            request_id: id,
                            kind: DeadlineKind::Expire,
                        });
                    }
                    added.extend(s.plan.escalation.iter().map(|level| Deadline {
                        due_at: level.due_at,
                        request_id: id,
                        kind: DeadlineKind::Escalate { level: level.level },
                    }));
                    let stage_expiry: Vec<Option<u64>> =
                        s.plan.stages.iter().map(|st| st.expires_in).collect();
                    if let Some(Some(secs)) = stage_expiry.first() {
                        added.push(Deadline {
                            due_at: s.submitted_at + chrono::Duration::seconds(*secs as i64),
                            request_id: id,
                            kind: DeadlineKind::StageExpire { stage: 0 },
                        });
                    }
                    if stage_expiry.iter().any(Option::is_some) {
                        self.stage_expiry.insert(id, stage_expiry);
                    }
                    if let (Some(every), Some(due_at)) = (
                        s.plan.remind_every_minutes,
                        s.plan.reminder_due(s.submitted_at, 1),
                    ) {
                        self.reminders.insert(id, (s.submitted_at, every));
                        added.push(Deadline {
                            due_at,
                            request_id: id,
                            kind: DeadlineKind::Remind { number: 1 },
                        });
                    }
                    self.pending.extend(added.iter().copied());
                    self.by_request.insert(id, added);
                }
                ApprovalEvent::StageApproved(approved) => {
                    self.remove(id, |d| {
                        d.kind
                            == DeadlineKind::StageExpire {
                                stage: approved.stage,
                            }
                    });
                    let next = approved.stage + 1;
                    if let Some(Some(secs)) = self
                        .stage_expiry
                        .get(&id)
                        .and_then(|s| s.get(next as usize))
                    {
                        let deadline = Deadline {
                            due_at: approved.at + chrono::Duration::seconds(*secs as i64),
                            request_id: id,
                            kind: DeadlineKind::StageExpire { stage: next },
                        };
                        self.pending.insert(deadline);
                        self.by_request.entry(id).or_default().push(deadline);
                    }
                }
                ApprovalEvent::ReminderSent(r) => {
                    self.remove(id, |d| matches!(d.kind, DeadlineKind::Remind { .. }));
                    if let Some((submitted_at, every)) = self.reminders.get(&id).copied() {
                        let next = Deadline {
                            due_at: submitted_at
                                + chrono::Duration::minutes(
                                    i64::from(every) * i64::from(r.number + 1),
                                ),
                            request_id: id,
                            kind: DeadlineKind::Remind {
                                number: r.number + 1,
                            },
                        };
                        self.pending.insert(next);
                        self.by_request.entry(id).or_default().push(next);
                    }
                }
                ApprovalEvent::RequestEscalated(e) => {
                    self.remove(id, |d| d.kind == DeadlineKind::Escalate { level: e.level })
                }
                e if e.is_decision() => {
                    self.remove(id, |_| true);
                    self.reminders.remove(&id);
                    self.stage_expiry.remove(&id);
                }
                _ => {}
            }
        }
    }

    fn remove(&mut self, id: RequestId, which: impl Fn(&Deadline) -> bool) {
        let Some(deadlines) = self.by_request.get_mut(&id) else {
            return;
        };
        deadlines.retain(|d| {
            if which(d) {
                self.pending.remove(d);
                false
            } else {
                true
            }
        });
        if deadlines.is_empty() {
            self.by_request.remove(&id);
        }
    }
}

/// Counters, for metrics and tests.
#[derive(Debug, Default)]
pub struct SchedulerStats {
    /// Commands sent and accepted as new.
    pub fired: AtomicU64,
    /// Commands answered with the original answer (another scheduler, or an earlier run, fired first).
    pub duplicates: AtomicU64,
    /// Deadlines dropped because the request was decided or the level passed.
    pub moot: AtomicU64,
    /// Deadlines pending, as of the last commit folded.
    pub pending: AtomicU64,
    /// Stream sequence of the last commit folded (or skipped as unreadable).
    pub position: AtomicU64,
    /// Commits this build could not read, skipped.
    pub unreadable: AtomicU64,
    /// Deadline commands refused for a reason that does not pass by itself.
    pub refused: AtomicU64,
}

pub struct Scheduler {
    store: Arc<EventStore>,
    commands: CommandClient,
    issuer: TokenIssuer,
    clock: Arc<dyn Clock>,
    pub stats: SchedulerStats,
}

/// A running scheduler.
pub struct SchedulerHandle {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    pub scheduler: Arc<Scheduler>,
}

impl SchedulerHandle {
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Stops at once, like a crash.
    pub fn abort(self) {
        self.task.abort();
    }
}

impl Scheduler {
    /// `issuer` signs the scheduler's own tokens (role `scheduler`).
    pub fn new(
        client: async_nats::Client,
        store: Arc<EventStore>,
        issuer: TokenIssuer,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            commands: CommandClient::anonymous(client),
            issuer,
            clock,
            stats: SchedulerStats::default(),
        }
    }

    pub fn spawn(self: Arc<Self>) -> SchedulerHandle {
        let (stop, stopped) = oneshot::channel();
        let this = self.clone();
        let task = tokio::spawn(async move { this.run(stopped).await });
        SchedulerHandle {
            stop: Some(stop),
            task,
            scheduler: self,
        }
    }

    /// Follows the log until stopped. Nothing else ends it: a watch that
    /// fails or ends is opened again after the last commit folded (the
    /// deadlines already folded stay), and a commit this build cannot read
    /// is skipped with an error and counted (`unreadable`) instead of
    /// stopping every request's deadlines for one.
    async fn run(&self, mut stopped: oneshot::Receiver<()>) {
        let mut deadlines = Deadlines::default();
        let mut commits = None;
        let mut reopen_at = tokio::time::Instant::now();
        // Deadlines whose command was refused for a passing reason, with when to try again.
        let mut retry_at: HashMap<Deadline, DateTime<Utc>> = HashMap::new();
        loop {
            if commits.is_none() && tokio::time::Instant::now() >= reopen_at {
                let from = self.stats.position.load(Ordering::Relaxed) + 1;
                match self.store.watch_all_from(from).await {
                    Ok(watch) => {
                        info!(from, "scheduler following the log");
                        commits = Some(Box::pin(watch));
                    }
                    Err(e) => {
                        warn!(error = %e, from, "cannot follow the log; trying again");
                        reopen_at = tokio::time::Instant::now() + REOPEN_AFTER;
                    }
                }
            }
            tokio::select! {
                _ = &mut stopped => return,
                // Lazy: the block runs only when polled, which the guard allows only with a watch.
                commit = async { commits.as_mut().expect("guarded").next().await }, if commits.is_some() => match commit {
                    Some(Ok(stored)) => {
                        deadlines.fold(&stored);
                        self.stats.pending.store(deadlines.len() as u64, Ordering::Relaxed);
                        self.stats.position.store(stored.sequence, Ordering::Relaxed);
                    }
                    Some(Err(
                        e @ (StoreError::Decode { sequence, .. }
                        | StoreError::UnsupportedSchema { sequence, .. }),
                    )) => {
                        self.stats.unreadable.fetch_add(1, Ordering::Relaxed);
                        self.stats.position.store(sequence, Ordering::Relaxed);
                        error!(error = %e, "skipping a commit this build cannot read: the deadlines it sets or ends are not followed");
                    }
                    Some(Err(e)) => {
                        warn!(error = %e, "the log watch failed; opening it again after the last commit folded");
                        commits = None;
                        reopen_at = tokio::time::Instant::now() + REOPEN_AFTER;
                    }
                    None => {
                        warn!("the log watch ended; opening it again after the last commit folded");
                        commits = None;
                        reopen_at = tokio::time::Instant::now() + REOPEN_AFTER;
                    }
                },
                _ = tokio::time::sleep(TICK) => {}
            }
            let now = self.clock.now();
            let due = deadlines.due(now);
            if !due.is_empty() {
                retry_at.retain(|d, _| deadlines.by_request.contains_key(&d.request_id));
            }
            for deadline in due {
                if retry_at.get(&deadline).is_some_and(|at| *at > now) {
                    continue;
                }
                let span = info_span!("deadline", request = %deadline.request_id, kind = ?deadline.kind, due_at = %deadline.due_at);
                match self.fire(&deadline).instrument(span).await {
                    // Applied: its event is on the way through the log, which drops it.
                    Fired::Done => {
                        retry_at.insert(deadline, now + chrono::Duration::seconds(10));
                    }
                    Fired::Retry => {
                        retry_at.insert(deadline, now + chrono::Duration::seconds(1));
                    }
                    Fired::Refused => {
                        retry_at.insert(deadline, now + chrono::Duration::seconds(60));
                    }
                }
            }
        }
    }

    async fn fire(&self, deadline: &Deadline) -> Fired {
        let (action, body) = match deadline.kind {
            DeadlineKind::Expire | DeadlineKind::StageExpire { .. } => (
                "expire",
                json!({"commandId": deadline.command_id(), "requestId": deadline.request_id.0}),
            ),
            DeadlineKind::Remind { number } => (
                "remind",
                json!({"commandId": deadline.command_id(), "requestId": deadline.request_id.0, "number": number}),
            ),
            DeadlineKind::Escalate { level } => (
                "escalate",
                json!({"commandId": deadline.command_id(), "requestId": deadline.request_id.0, "level": level}),
            ),
        };
        let token = self.issuer.issue("scheduler", &[Role::Scheduler], 300);
        match self.commands.with_token(token).send(action, &body).await {
            Ok(Reply::Accepted(a)) if a.duplicate => {
                self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                Fired::Done
            }
            Ok(Reply::Accepted(a)) => {
                self.stats.fired.fetch_add(1, Ordering::Relaxed);
                debug!(sequence = a.sequence, "deadline fired");
                Fired::Done
            }
            // Decided meanwhile, or the level already passed: the log will drop it.
            Ok(Reply::Error(e))
                if matches!(
                    e.code.as_str(),
                    "ALREADY_DECIDED" | "ESCALATION_OUT_OF_ORDER" | "REMINDER_OUT_OF_ORDER"
                ) =>
            {
                self.stats.moot.fetch_add(1, Ordering::Relaxed);
                Fired::Retry
            }
            Ok(Reply::Error(e))
                if e.retryable || e.code == "NOT_YET_DUE" || e.code == codes::UNAVAILABLE =>
            {
                debug!(code = %e.code, "deadline not applied yet; retrying");
                Fired::Retry
            }
            // Not a passing reason (a token the gateway does not take, a
            // history it cannot fold): tried again only once a minute, so
            // that a fixed gateway applies it and a broken one is not flooded.
            Ok(Reply::Error(e)) => {
                self.stats.refused.fetch_add(1, Ordering::Relaxed);
                warn!(code = %e.code, message = %e.message, "deadline refused; trying again in a minute");
                Fired::Refused
            }
            Err(e) => {
                warn!(error = %e, "no gateway answered; retrying");
                Fired::Retry
            }
        }
    }
}

enum Fired {
    Done,
    Retry,
    Refused,
}
