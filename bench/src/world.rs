//! What every measurement shares: a nats-server per durability setting, the
//! identity config, the workflow spec of the command mix, and real commits
//! built by the engine (`decide` + `apply`) for writing background volume
//! straight to the log.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use futures::StreamExt;
use signoff_api::config::{SignoffConfig, StreamConfig};
use signoff_api::identity::{AuthConfig, TokenIssuer};
use signoff_api::local_nats::{LocalNats, NatsServerOptions};
use signoff_engine::{
    decide, Action, ApprovalCommand, ApprovalRequest, Authentication, CommandId, RawJson,
    RequestId, Role, StaticDirectory, UserId, WorkflowSpec, EVENT_SCHEMA_VERSION,
};
use signoff_eventstore::{Commit, EventStore, Loaded, StreamSettings};
use uuid::Uuid;

/// The spec of the command mix: one approver team, an expiry (so the
/// scheduler holds a deadline per pending request), caller context.
pub const SPEC: &str = r#"{"title":"Deploy","description":"Roll out build 4711 to production","approvers":["manager-team"],"expiresIn":86400,"context":{"ticket":"PROJ-1","impact":"low"}}"#;
/// The same with a reminder every minute: long histories are legal reminders.
pub const SPEC_REMINDING: &str = r#"{"title":"Deploy","approvers":["manager-team"],"expiresIn":31536000,"remindEveryMinutes":1}"#;
pub const PARAMS: &str = r#"{"amount":50000,"to":"B-2"}"#;
pub const REQUESTER: &str = "alice";
pub const APPROVER: &str = "maria";

/// Thursday 2026-11-26 10:00 UTC: the submission time of generated commits.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()
}

/// The development identity config (one HS256 key, made once per run).
pub fn auth() -> AuthConfig {
    static AUTH: std::sync::OnceLock<AuthConfig> = std::sync::OnceLock::new();
    AUTH.get_or_init(signoff_api::identity::dev_auth_config)
        .clone()
}

pub fn directory() -> StaticDirectory {
    signoff_api::dev::demo_directory()
}

pub fn issuer() -> TokenIssuer {
    TokenIssuer::new(&auth()).expect("bench auth config is valid")
}

/// One nats-server with JetStream in a temp dir, killed on drop.
pub struct Server {
    pub nats: LocalNats,
    pub client: async_nats::Client,
    pub store: Arc<EventStore>,
}

impl Server {
    pub async fn start(dir: &Path, name: &str, sync_always: bool) -> anyhow::Result<Self> {
        let nats = LocalNats::start(NatsServerOptions {
            store_dir: dir.join(name),
            port: None,
            sync_always,
            extra_config: None,
            server_name: Some(format!("bench-{name}")),
        })
        .await
        .context(
            "starting nats-server (cargo xtask bench installs one; or set SIGNOFF_NATS_SERVER)",
        )?;
        let client = connect(&nats.url()).await?;
        let store = Arc::new(EventStore::open(client.clone(), StreamSettings::default()).await?);
        Ok(Self {
            nats,
            client,
            store,
        })
    }

    /// The config a `signoff` process of this server loads: the named parts,
    /// everything else at its default (built through serde, so options added
    /// to the config later need no change here).
    pub fn config(&self) -> SignoffConfig {
        serde_json::from_value(serde_json::json!({
            "natsUrl": self.nats.url(),
            "stream": StreamConfig::default(),
            "auth": auth(),
            "directory": directory(),
        }))
        .expect("a valid config")
    }

    pub fn settings(&self) -> &StreamSettings {
        self.store.settings()
    }

    pub async fn last_sequence(&self) -> anyhow::Result<u64> {
        signoff_api::audit::last_sequence(&self.store).await
    }
}

pub async fn connect(url: &str) -> anyhow::Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .request_timeout(Some(std::time::Duration::from_secs(60)))
        .connect(url)
        .await
        .with_context(|| format!("connecting to {url}"))
}

fn actor(user: &str, roles: Vec<Role>) -> signoff_engine::Actor {
    signoff_engine::Actor {
        user: UserId::parse(user).expect("valid user id"),
        roles,
        authentication: Authentication {
            method: "jwt/HS256".into(),
            key_id: Some("dev-1".into()),
            issuer: Some("signoff-dev".into()),
            token_id: None,
        },
    }
}

/// An engine command as the gateway would build it from a verified token.
pub fn command(
    request: RequestId,
    user: &str,
    at: DateTime<Utc>,
    action: Action,
) -> ApprovalCommand {
    let roles = if user == "scheduler" {
        vec![Role::Scheduler]
    } else {
        vec![]
    };
    ApprovalCommand {
        command_id: CommandId(Uuid::new_v4()),
        request_id: request,
        actor: actor(user, roles),
        at,
        action,
    }
}

pub fn submit_action(spec: &WorkflowSpec) -> Action {
    Action::Submit {
        spec: Box::new(spec.clone()),
        params: RawJson::parse(PARAMS).expect("valid JSON"),
    }
}

pub fn approve_action() -> Action {
    Action::Approve {
        comment: Some("ok".into()),
        params_hash: None,
    }
}

/// Builds commits for one request the way the gateway does: decide, fold, wrap.
pub struct CommitBuilder<'a> {
    pub directory: &'a StaticDirectory,
    pub state: ApprovalRequest,
    pub request: RequestId,
}

impl<'a> CommitBuilder<'a> {
    pub fn new(directory: &'a StaticDirectory) -> Self {
        Self {
            directory,
            state: ApprovalRequest::default(),
            request: RequestId(Uuid::new_v4()),
        }
    }

    pub fn commit(&mut self, user: &str, at: DateTime<Utc>, action: Action) -> Commit {
        let command = command(self.request, user, at, action);
        let events = decide(&self.state, &command, self.directory).expect("a valid command");
        for event in &events {
            self.state
                .apply(event.clone())
                .expect("the engine folds its own events");
        }
        Commit {
            schema_version: EVENT_SCHEMA_VERSION,
            request_id: self.request,
            command_id: command.command_id,
            command_hash: format!("sha256:{}", "0".repeat(64)),
            action: command.action.name().into(),
            actor: command.actor.user.clone(),
            at: command.at,
            events,
        }
    }
}

/// The submit and approve commits of one request of the mix (for sizes).
pub fn sample_commits() -> (Commit, Commit) {
    let directory = directory();
    let spec = WorkflowSpec::from_json(SPEC).expect("bench spec is valid");
    let mut b = CommitBuilder::new(&directory);
    let submit = b.commit(REQUESTER, t0(), submit_action(&spec));
    let approve = b.commit(APPROVER, t0(), approve_action());
    (submit, approve)
}

/// When the `n`th request of a filled log was submitted: one millisecond
/// after the one before, as a gateway's clock stamps requests that arrive
/// one after another (every request at the same instant would sort the
/// projector's time-ordered keys by random request id alone).
pub fn submitted_at(n: usize) -> DateTime<Utc> {
    t0() + ChronoDuration::milliseconds(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Writes `requests` pending requests (one submit commit each) through
/// `EventStore::append`, `in_flight` at once. Returns (commits, events).
pub async fn fill_pending(
    store: &EventStore,
    requests: usize,
    in_flight: usize,
) -> anyhow::Result<(u64, u64)> {
    let directory = directory();
    let spec = WorkflowSpec::from_json(SPEC).expect("bench spec is valid");
    let events = futures::stream::iter(0..requests)
        .map(|n| {
            let mut b = CommitBuilder::new(&directory);
            let commit = b.commit(REQUESTER, submitted_at(n), submit_action(&spec));
            async move {
                let n = commit.events.len() as u64;
                store
                    .append(&Loaded::empty(commit.request_id), commit)
                    .await
                    .map(|_| n)
            }
        })
        .buffer_unordered(in_flight)
        .fold(Ok(0u64), |acc, r| async move { Ok(acc? + r?) })
        .await
        .map_err(|e: signoff_eventstore::StoreError| anyhow::anyhow!("filling the log: {e}"))?;
    Ok((requests as u64, events))
}

/// One request with `events` events: a submit, then reminders one minute
/// apart (each `ReminderSent` is a commit), written through `EventStore::append`.
pub async fn write_long_request(store: &EventStore, events: usize) -> anyhow::Result<RequestId> {
    let directory = directory();
    let spec = WorkflowSpec::from_json(SPEC_REMINDING).expect("bench spec is valid");
    let mut b = CommitBuilder::new(&directory);
    let mut loaded = Loaded::empty(b.request);
    let submit = b.commit(REQUESTER, t0(), submit_action(&spec));
    let mut written = submit.events.len();
    let appended = store.append(&loaded, submit.clone()).await?;
    loaded.fold(appended.sequence, submit);
    let mut number = 0u32;
    while written < events {
        number += 1;
        let at = t0() + ChronoDuration::minutes(i64::from(number));
        let commit = b.commit("scheduler", at, Action::Remind { number });
        written += commit.events.len();
        let appended = store.append(&loaded, commit.clone()).await?;
        loaded.fold(appended.sequence, commit);
    }
    store.forget(b.request);
    Ok(b.request)
}

pub fn signoff_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("SIGNOFF_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let path = exe
        .parent()
        .context("bench executable has no directory")?
        .join("signoff");
    anyhow::ensure!(
        path.exists(),
        "{} missing: build it with `cargo build --release -p signoff` (cargo xtask bench does)",
        path.display()
    );
    Ok(path)
}
