//! `require_approval(config).run(action)`: submit, wait for the decision from
//! the log, run the action only if approved — with exactly the parameters
//! that were approved — record how it ran, and return a typed result.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use signoff_engine::event::ApprovalBasis;
use signoff_engine::{ApprovalRequest, ExecutionOutcome, RawJson, RequestId, UserId, WorkflowSpec};
use signoff_schemas::Reply;
use uuid::Uuid;

use crate::decision::{DecidedRequest, Decision};
use crate::transport::ClientError;
use crate::{CommandError, Signoff, WaitError};

/// What an approved action's hooks learn about the approval.
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalContext {
    pub request_id: RequestId,
    pub title: String,
    /// Everyone whose approval counted.
    pub approvers: Vec<UserId>,
    pub basis: ApprovalBasis,
    pub decided_at: chrono::DateTime<chrono::Utc>,
    /// Stream sequence of the deciding commit.
    pub sequence: u64,
    /// The parameters that were approved (and passed to the action).
    pub params: Value,
}

/// Why an approved action did not return a value.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError<E = std::convert::Infallible> {
    #[error("request {request_id} was rejected by {}: {reason}", by.as_ref().map(|u| u.as_str()).unwrap_or("the expiry rule"))]
    Rejected {
        request_id: RequestId,
        by: Option<UserId>,
        reason: String,
    },
    #[error("request {request_id} expired at {expires_at} undecided")]
    Expired {
        request_id: RequestId,
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    #[error("request {request_id} was cancelled by {by}")]
    Cancelled {
        request_id: RequestId,
        by: UserId,
        reason: Option<String>,
    },
    /// Still pending: re-attach later with `Signoff::attach(request_id)`.
    #[error("request {request_id} is still pending after {waited:?}; re-attach to keep waiting")]
    TimedOut {
        request_id: RequestId,
        waited: Duration,
    },
    /// The gateway refused a command (an invalid spec, an unknown approver, ...).
    #[error("request {request_id}: {code}: {message}")]
    Refused {
        request_id: RequestId,
        code: String,
        message: String,
        field: Option<String>,
    },
    /// The parameters presented now are not the ones that were approved: the action did not run.
    #[error("request {request_id} was approved for parameters {approved}, not {presented}; the action did not run")]
    ParamsChanged {
        request_id: RequestId,
        approved: String,
        presented: String,
    },
    /// The approved parameters do not decode into the action's parameter type.
    #[error("request {request_id}: the approved parameters do not fit the action: {problem}")]
    ParamsType {
        request_id: RequestId,
        problem: String,
    },
    /// The approved action already ran (its execution is on record): it is not run twice.
    #[error("request {request_id} already ran ({outcome:?} at {at}); it is not run twice")]
    AlreadyExecuted {
        request_id: RequestId,
        outcome: ExecutionOutcome,
        at: chrono::DateTime<chrono::Utc>,
    },
    #[error("request {request_id} not found in the log")]
    NotFound { request_id: RequestId },
    /// The action ran and failed; the failure is recorded on the request.
    #[error("request {request_id}: the approved action failed: {error}")]
    Action { request_id: RequestId, error: E },
    #[error("request {request_id}: {source}")]
    Transport {
        request_id: RequestId,
        source: ClientError,
    },
}

impl<E> ApprovalError<E> {
    pub fn request_id(&self) -> RequestId {
        match self {
            ApprovalError::Rejected { request_id, .. }
            | ApprovalError::Expired { request_id, .. }
            | ApprovalError::Cancelled { request_id, .. }
            | ApprovalError::TimedOut { request_id, .. }
            | ApprovalError::Refused { request_id, .. }
            | ApprovalError::ParamsChanged { request_id, .. }
            | ApprovalError::ParamsType { request_id, .. }
            | ApprovalError::AlreadyExecuted { request_id, .. }
            | ApprovalError::NotFound { request_id }
            | ApprovalError::Action { request_id, .. }
            | ApprovalError::Transport { request_id, .. } => *request_id,
        }
    }
}

/// No hook: the value passes through unchanged.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHook;

/// Runs after the approved action succeeded, with its value and the approval
/// (the guide's `onApproved: (result, context) => result`).
pub trait OnApproved<T>: Send {
    fn call(self, value: T, context: ApprovalContext) -> impl Future<Output = T> + Send;
}

impl<T: Send> OnApproved<T> for NoHook {
    async fn call(self, value: T, _: ApprovalContext) -> T {
        value
    }
}

impl<T, F, Fut> OnApproved<T> for F
where
    F: FnOnce(T, ApprovalContext) -> Fut + Send,
    Fut: Future<Output = T> + Send,
{
    fn call(self, value: T, context: ApprovalContext) -> impl Future<Output = T> + Send {
        self(value, context)
    }
}

/// Runs when the request is rejected (by people or by the expiry rule).
pub trait OnRejected: Send {
    fn call(self, decided: DecidedRequest) -> impl Future<Output = ()> + Send;
}

impl OnRejected for NoHook {
    async fn call(self, _: DecidedRequest) {}
}

impl<F, Fut> OnRejected for F
where
    F: FnOnce(DecidedRequest) -> Fut + Send,
    Fut: Future<Output = ()> + Send,
{
    fn call(self, decided: DecidedRequest) -> impl Future<Output = ()> + Send {
        self(decided)
    }
}

#[derive(Clone, Debug)]
enum Start {
    Submit(Box<WorkflowSpec>),
    Attach,
}

/// One approval to ask for (or re-attach to) and the action it guards.
#[must_use = "an approval does nothing until `run` is awaited"]
pub struct Approval<A = NoHook, R = NoHook> {
    signoff: Signoff,
    start: Start,
    request_id: RequestId,
    submit_command: Uuid,
    params: Option<Value>,
    wait_for: Duration,
    success_summary: Option<String>,
    on_approved: A,
    on_rejected: R,
}

/// Default: wait up to a day for a decision (re-attach to wait longer).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(24 * 3600);

impl Approval {
    pub(crate) fn submit(signoff: Signoff, spec: WorkflowSpec) -> Self {
        Self::new(
            signoff,
            Start::Submit(Box::new(spec)),
            RequestId(Uuid::new_v4()),
        )
    }

    pub(crate) fn attach(signoff: Signoff, request_id: RequestId) -> Self {
        Self::new(signoff, Start::Attach, request_id)
    }

    fn new(signoff: Signoff, start: Start, request_id: RequestId) -> Self {
        Self {
            signoff,
            start,
            request_id,
            submit_command: Uuid::new_v4(),
            params: None,
            wait_for: DEFAULT_WAIT,
            success_summary: None,
            on_approved: NoHook,
            on_rejected: NoHook,
        }
    }
}

impl<A, R> Approval<A, R> {
    /// The request's id, known before `run`: store it to re-attach after a restart.
    pub fn request_id(&self) -> RequestId {
        self.request_id
    }

    /// Choose the request id (for example one derived from your own job id,
    /// so a restarted submitter re-attaches instead of asking twice).
    pub fn with_request_id(mut self, request_id: RequestId) -> Self {
        self.request_id = request_id;
        self
    }

    /// The action's parameters, bound to the approval by hash: approvers see
    /// them, and the action runs with exactly these. When re-attaching, the
    /// parameters given here must equal the approved ones.
    pub fn params(mut self, params: impl serde::Serialize) -> Self {
        self.params = Some(serde_json::to_value(params).unwrap_or(Value::Null));
        self
    }

    /// How long `run` waits for a decision before `TimedOut` (the request stays pending).
    pub fn wait_for(mut self, wait: Duration) -> Self {
        self.wait_for = wait;
        self
    }

    /// Text recorded with a successful execution.
    pub fn success_summary(mut self, summary: impl Into<String>) -> Self {
        self.success_summary = Some(summary.into());
        self
    }

    pub fn on_approved<H>(self, hook: H) -> Approval<H, R> {
        Approval {
            signoff: self.signoff,
            start: self.start,
            request_id: self.request_id,
            submit_command: self.submit_command,
            params: self.params,
            wait_for: self.wait_for,
            success_summary: self.success_summary,
            on_approved: hook,
            on_rejected: self.on_rejected,
        }
    }

    pub fn on_rejected<H>(self, hook: H) -> Approval<A, H> {
        Approval {
            signoff: self.signoff,
            start: self.start,
            request_id: self.request_id,
            submit_command: self.submit_command,
            params: self.params,
            wait_for: self.wait_for,
            success_summary: self.success_summary,
            on_approved: self.on_approved,
            on_rejected: hook,
        }
    }

    /// Submits the request (unless re-attaching) and returns once the gateway
    /// accepted it; `run` then waits. Useful to hand the id to someone first.
    pub async fn submit_only<E>(&mut self) -> Result<(), ApprovalError<E>> {
        let Start::Submit(spec) = &self.start else {
            return Ok(());
        };
        let mut body = json!({
            "commandId": self.submit_command,
            "requestId": self.request_id.0,
            "spec": spec,
        });
        if let Some(params) = &self.params {
            body["params"] = params.clone();
        }
        match self.signoff.send("submit", &body).await {
            Ok(_) => {
                self.start = Start::Attach;
                Ok(())
            }
            Err(e) => Err(command_error(self.request_id, e)),
        }
    }

    /// Asks for approval and runs `action` only if approved.
    pub async fn run<T, E, F, Fut>(self, action: F) -> Result<T, ApprovalError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Display,
        A: OnApproved<T>,
        R: OnRejected,
    {
        self.run_with(|_: Value| action()).await
    }

    /// Like [`run`](Self::run), passing the action the approved parameters,
    /// read back from the log and decoded into `P`.
    pub async fn run_with<P, T, E, F, Fut>(mut self, action: F) -> Result<T, ApprovalError<E>>
    where
        P: DeserializeOwned,
        F: FnOnce(P) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Display,
        A: OnApproved<T>,
        R: OnRejected,
    {
        let request_id = self.request_id;
        self.submit_only().await?;
        let outcome = match self.signoff.wait(request_id, self.wait_for).await {
            Ok(outcome) => outcome,
            Err(WaitError::TimedOut { waited, .. }) => {
                return Err(ApprovalError::TimedOut { request_id, waited })
            }
            Err(WaitError::NotFound { .. }) => return Err(ApprovalError::NotFound { request_id }),
            Err(WaitError::Transport(source)) => {
                return Err(ApprovalError::Transport { request_id, source })
            }
        };
        let decided = outcome.decided;
        let approvers = match decided.decision.clone() {
            Decision::Approved { approvers, .. } => approvers,
            Decision::Rejected { by, reason, .. } => {
                self.on_rejected.call(decided).await;
                return Err(ApprovalError::Rejected {
                    request_id,
                    by,
                    reason,
                });
            }
            Decision::Expired { expires_at, .. } => {
                return Err(ApprovalError::Expired {
                    request_id,
                    expires_at,
                })
            }
            Decision::Cancelled { by, reason, .. } => {
                return Err(ApprovalError::Cancelled {
                    request_id,
                    by,
                    reason,
                })
            }
        };
        // The request as it is now: an execution recorded after the decision counts.
        let state: ApprovalRequest = match self.signoff.request(request_id).await {
            Ok(Some(state)) => state,
            Ok(None) => outcome.state,
            Err(source) => return Err(ApprovalError::Transport { request_id, source }),
        };
        let submitted = state
            .submitted
            .as_ref()
            .ok_or(ApprovalError::NotFound { request_id })?;
        if let Some(presented) = &self.params {
            let presented = RawJson::from_value(presented).canonical_hash();
            if presented != submitted.params_hash {
                return Err(ApprovalError::ParamsChanged {
                    request_id,
                    approved: submitted.params_hash.clone(),
                    presented,
                });
            }
        }
        if let Some(done) = &state.execution {
            return Err(ApprovalError::AlreadyExecuted {
                request_id,
                outcome: done.outcome,
                at: done.at,
            });
        }
        let approved_params = submitted.params.to_value();
        let params: P = serde_json::from_value(approved_params.clone()).map_err(|e| {
            ApprovalError::ParamsType {
                request_id,
                problem: e.to_string(),
            }
        })?;
        let context = ApprovalContext {
            request_id,
            title: decided.title.clone(),
            approvers,
            basis: match &decided.decision {
                Decision::Approved { basis, .. } => basis.clone(),
                _ => unreachable!("only an approval gets here"),
            },
            decided_at: decided.decision.at(),
            sequence: decided.sequence,
            params: approved_params.clone(),
        };
        let result = action(params).await;
        let (outcome, summary) = match &result {
            Ok(_) => (ExecutionOutcome::Succeeded, self.success_summary.clone()),
            Err(e) => (ExecutionOutcome::Failed, Some(e.to_string())),
        };
        self.signoff
            .record_execution(request_id, outcome, summary, &approved_params)
            .await;
        match result {
            Ok(value) => Ok(self.on_approved.call(value, context).await),
            Err(error) => Err(ApprovalError::Action { request_id, error }),
        }
    }
}

fn command_error<E>(request_id: RequestId, error: CommandError) -> ApprovalError<E> {
    match error {
        CommandError::Refused {
            code,
            message,
            field,
        } => ApprovalError::Refused {
            request_id,
            code,
            message,
            field,
        },
        CommandError::Transport(source) => ApprovalError::Transport { request_id, source },
    }
}

/// The reply of an accepted command, or why not.
pub(crate) fn into_result(reply: Reply) -> Result<signoff_schemas::Accepted, CommandError> {
    match reply {
        Reply::Accepted(accepted) => Ok(accepted),
        Reply::Error(e) => Err(CommandError::Refused {
            code: e.code,
            message: e.message,
            field: e.field,
        }),
    }
}
