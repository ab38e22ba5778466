//! signoff-client: put a human decision in front of a risky action.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use signoff_client::{ApprovalConfig, ConnectOptions, Signoff};
//!
//! let signoff = Signoff::connect(ConnectOptions::from_env()?).await?;
//! let deployed = signoff
//!     .require_approval(
//!         ApprovalConfig::new("Production Deployment")
//!             .description("Deploy new version to production")
//!             .approvers(["release-managers"]),
//!     )
//!     .params(serde_json::json!({"version": "1.4.2", "environment": "production"}))
//!     .run(|| async { Ok::<_, std::io::Error>("deployed") })
//!     .await?;
//! # let _ = deployed; Ok(()) }
//! ```
//!
//! Everything is read from the event log itself: a decision made while the
//! caller was down is still seen when it re-attaches
//! ([`Signoff::attach`]), and the action receives the parameters that were
//! approved. Commands carry a command id chosen here and are retried with it,
//! so a lost answer never applies a command twice.

mod approval;
mod config;
mod decision;
mod feed;
mod transport;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use signoff_engine::{ApprovalRequest, ExecutionOutcome};
use signoff_eventstore::{EventStore, StreamSettings};
use uuid::Uuid;

pub use approval::Approval;
pub use approval::{ApprovalContext, ApprovalError, NoHook, OnApproved, OnRejected, DEFAULT_WAIT};
pub use config::{
    ApprovalConfig, CustomLogic, CustomLogicSpecBuilt, Escalation, Requirement, Stage,
};
pub use decision::{DecidedRequest, Decision};
pub use feed::{decision_of, DecisionFeed, FeedError, FeedItem};
pub use signoff_engine::event::ApprovalBasis;
pub use signoff_engine::spec::OnExpiry;
pub use signoff_engine::{RequestId, UserId};
pub use signoff_schemas::Accepted;
pub use transport::{connect_nats, redacted_url, ClientError, CommandClient};

/// Where signoff is and who is asking.
#[derive(Clone)]
pub struct ConnectOptions {
    pub nats_url: String,
    /// The caller's identity token (a JWT from your identity provider, or
    /// `signoff token issue` locally).
    pub token: String,
    pub stream: StreamSettings,
    /// How long one command attempt waits for a gateway.
    pub command_timeout: Duration,
    /// How long a command is retried (same command id) before giving up.
    pub retry_for: Duration,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("nats_url", &redacted_url(&self.nats_url))
            .field("token", &"<redacted>")
            .field("stream", &self.stream.name)
            .finish()
    }
}

/// Environment variable naming a signoff config file (`signoff dev` writes one).
pub const CONFIG_ENV: &str = "SIGNOFF_CONFIG";
/// Environment variable holding the caller's token.
pub const TOKEN_ENV: &str = "SIGNOFF_TOKEN";
/// Where `signoff dev` writes its config by default.
pub const DEV_CONFIG: &str = ".signoff-dev/signoff.json";

impl ConnectOptions {
    pub fn new(nats_url: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            nats_url: nats_url.into(),
            token: token.into(),
            stream: StreamSettings::default(),
            command_timeout: Duration::from_secs(5),
            retry_for: Duration::from_secs(30),
        }
    }

    /// The NATS URL and stream of a signoff config file, with `token`.
    pub fn from_config_file(path: &Path, token: impl Into<String>) -> Result<Self, ClientError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Stream {
            name: String,
            subject_prefix: String,
            replicas: usize,
            duplicate_window_secs: u64,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct File {
            nats_url: String,
            stream: Option<Stream>,
        }
        let problem = |p: String| ClientError::Connect {
            url: path.display().to_string(),
            problem: p,
        };
        let text = std::fs::read_to_string(path).map_err(|e| problem(e.to_string()))?;
        let file: File = serde_json::from_str(&text).map_err(|e| problem(e.to_string()))?;
        let mut options = Self::new(file.nats_url, token);
        if let Some(s) = file.stream {
            options.stream = StreamSettings {
                name: s.name,
                subject_prefix: s.subject_prefix,
                replicas: s.replicas,
                duplicate_window: Duration::from_secs(s.duplicate_window_secs),
            };
        }
        Ok(options)
    }

    /// `SIGNOFF_CONFIG` (default `.signoff-dev/signoff.json`) and `SIGNOFF_TOKEN`.
    pub fn from_env() -> Result<Self, ClientError> {
        let path = std::env::var(CONFIG_ENV).unwrap_or_else(|_| DEV_CONFIG.into());
        let token = std::env::var(TOKEN_ENV).map_err(|_| ClientError::Connect {
            url: path.clone(),
            problem: format!("{TOKEN_ENV} is not set: `signoff token issue --user U` makes one"),
        })?;
        Self::from_config_file(Path::new(&path), token)
    }
}

/// A command the gateway did not accept.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{code}: {message}")]
    Refused {
        code: String,
        message: String,
        field: Option<String>,
    },
    #[error(transparent)]
    Transport(#[from] ClientError),
}

impl CommandError {
    pub fn code(&self) -> Option<&str> {
        match self {
            CommandError::Refused { code, .. } => Some(code),
            CommandError::Transport(_) => None,
        }
    }
}

/// Why no decision was returned.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("request {request_id} is still pending after {waited:?}")]
    TimedOut {
        request_id: RequestId,
        waited: Duration,
    },
    #[error("request {request_id} is not in the log")]
    NotFound { request_id: RequestId },
    #[error(transparent)]
    Transport(#[from] ClientError),
}

/// A decision and the request as folded up to it.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub decided: DecidedRequest,
    pub state: ApprovalRequest,
}

/// A connection to signoff: ask for approvals, act on them, follow decisions.
/// Cheap to clone.
#[derive(Clone)]
pub struct Signoff {
    commands: CommandClient,
    store: Arc<EventStore>,
    retry_for: Duration,
}

impl Signoff {
    pub async fn connect(options: ConnectOptions) -> Result<Self, ClientError> {
        let client = connect_nats(&options.nats_url).await?;
        let store = Arc::new(EventStore::open(client.clone(), options.stream.clone()).await?);
        Ok(Self {
            commands: CommandClient::new(client, options.token)
                .with_timeout(options.command_timeout),
            store,
            retry_for: options.retry_for,
        })
    }

    /// From a NATS connection and event store the caller already holds.
    pub fn from_parts(
        client: async_nats::Client,
        store: Arc<EventStore>,
        token: impl Into<String>,
    ) -> Self {
        Self {
            commands: CommandClient::new(client, token).with_timeout(Duration::from_secs(5)),
            store,
            retry_for: Duration::from_secs(30),
        }
    }

    /// The same connection acting as someone else.
    pub fn with_token(&self, token: impl Into<String>) -> Self {
        Self {
            commands: self.commands.with_token(token),
            ..self.clone()
        }
    }

    pub fn commands(&self) -> &CommandClient {
        &self.commands
    }

    pub fn store(&self) -> &Arc<EventStore> {
        &self.store
    }

    /// `requireApproval(config)`: single approver, teams, quorums, expiry,
    /// escalation, context, UI hints — whatever the config says.
    pub fn require_approval(&self, config: impl Into<ApprovalConfig>) -> Approval {
        Approval::submit(self.clone(), config.into().into_spec())
    }

    /// `requireSequentialApproval([...])`: stages approved in order.
    pub fn require_sequential_approval(&self, stages: impl IntoIterator<Item = Stage>) -> Approval {
        Approval::submit(
            self.clone(),
            config::sequential_spec(stages.into_iter().collect()),
        )
    }

    /// `requireApprovalIf({condition, config, elseConfig})`: `condition` is a
    /// CEL expression over the action's parameters (`amount > 10000`),
    /// evaluated by the engine at submission, so the audit trail records which
    /// branch applied. Without `else_config` a false condition needs no approval.
    pub fn require_approval_if(
        &self,
        condition: &str,
        config: ApprovalConfig,
        else_config: Option<ApprovalConfig>,
    ) -> Approval {
        Approval::submit(
            self.clone(),
            config::conditional_spec(condition, config, else_config),
        )
    }

    /// `requireCustomApproval({title, description, logic})`: the logic's rules
    /// are evaluated by the engine at submission and the applied rule recorded.
    pub fn require_custom_approval(
        &self,
        config: ApprovalConfig,
        logic: CustomLogicSpecBuilt,
    ) -> Approval {
        Approval::submit(self.clone(), config::custom_spec(config, logic))
    }

    /// Re-attach to a request submitted earlier (by this process before a
    /// restart, or by anyone): waits for its decision and runs the action if approved.
    pub fn attach(&self, request_id: RequestId) -> Approval {
        Approval::attach(self.clone(), request_id)
    }

    /// Approve the current stage of a request as this connection's user.
    pub async fn approve(
        &self,
        request_id: RequestId,
        comment: Option<&str>,
    ) -> Result<Accepted, CommandError> {
        self.send(
            "approve",
            &json!({"commandId": Uuid::new_v4(), "requestId": request_id.0, "comment": comment}),
        )
        .await
    }

    pub async fn reject(
        &self,
        request_id: RequestId,
        reason: &str,
    ) -> Result<Accepted, CommandError> {
        self.send(
            "reject",
            &json!({"commandId": Uuid::new_v4(), "requestId": request_id.0, "reason": reason}),
        )
        .await
    }

    /// Withdraw a pending request (its requester, or an admin).
    pub async fn cancel(
        &self,
        request_id: RequestId,
        reason: Option<&str>,
    ) -> Result<Accepted, CommandError> {
        self.send(
            "cancel",
            &json!({"commandId": Uuid::new_v4(), "requestId": request_id.0, "reason": reason}),
        )
        .await
    }

    /// Sends one command body (with its command id) until a final answer.
    pub async fn send(&self, action: &str, body: &Value) -> Result<Accepted, CommandError> {
        let reply = self
            .commands
            .send_until_answered(action, body, self.retry_for)
            .await?;
        approval::into_result(reply)
    }

    /// Records how an approved action ran. The command id is derived from the
    /// request, so a retry — or a second process re-attaching — cannot record
    /// two executions. A failure to record is logged: the action has run.
    pub(crate) async fn record_execution(
        &self,
        request_id: RequestId,
        outcome: ExecutionOutcome,
        summary: Option<String>,
        params: &Value,
    ) {
        let command_id = Uuid::new_v5(&request_id.0, b"record-execution");
        let body = json!({
            "commandId": command_id,
            "requestId": request_id.0,
            "outcome": outcome,
            "summary": summary,
            "params": params,
        });
        if let Err(e) = self.send("record-execution", &body).await {
            tracing::warn!(request = %request_id, error = %e, "the execution could not be recorded");
        }
    }

    /// The request as folded from its commits so far (`None`: not in the log).
    pub async fn request(
        &self,
        request_id: RequestId,
    ) -> Result<Option<ApprovalRequest>, ClientError> {
        let mut folder = decision::Folder::default();
        for stored in self.store.read_commits(request_id, 0).await? {
            folder.apply(&stored);
        }
        Ok(folder.submitted().is_some().then_some(folder.state))
    }

    /// Waits for a request's decision, read from the log: a decision made
    /// before the call is returned at once.
    pub async fn wait(
        &self,
        request_id: RequestId,
        timeout: Duration,
    ) -> Result<Outcome, WaitError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut folder = decision::Folder::default();
        for stored in self
            .store
            .read_commits(request_id, 0)
            .await
            .map_err(ClientError::from)?
        {
            if let Some(decided) = folder.apply(&stored) {
                return Ok(Outcome {
                    decided,
                    state: folder.state,
                });
            }
        }
        if folder.submitted().is_none() {
            return Err(WaitError::NotFound { request_id });
        }
        let watch = async {
            let mut commits = Box::pin(
                self.store
                    .watch(request_id)
                    .await
                    .map_err(ClientError::from)?,
            );
            while let Some(stored) = commits.next().await {
                let stored = stored.map_err(ClientError::from)?;
                if stored.sequence <= folder.last_sequence {
                    continue;
                }
                if let Some(decided) = folder.apply(&stored) {
                    return Ok(Outcome {
                        decided,
                        state: folder.state.clone(),
                    });
                }
            }
            Err(WaitError::Transport(ClientError::Request(
                "the request's log stopped".into(),
            )))
        };
        match tokio::time::timeout_at(deadline, watch).await {
            Ok(result) => result,
            Err(_) => Err(WaitError::TimedOut {
                request_id,
                waited: timeout,
            }),
        }
    }

    /// Decisions of every request, from the log.
    pub fn decisions(&self) -> feed::FeedBuilder {
        feed::FeedBuilder::new(self.store.clone())
    }
}
