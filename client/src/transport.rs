//! Commands over NATS request/reply: one JSON body to `signoff.cmd.<action>`
//! with the caller's token, answered by a gateway with a typed [`Reply`].
//! A retry re-sends the same body (same command id), so the gateway answers
//! it with the original outcome instead of applying it twice.

use std::time::Duration;

use async_nats::HeaderMap;
use serde::Serialize;
use signoff_schemas::subjects::{command_subject, AUTHORIZATION_HEADER};
use signoff_schemas::Reply;
use tokio::time::Instant;

/// A command could not be delivered or its answer not read. Nothing here
/// says whether the command was applied: retry it with the same command id.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no gateway answered on {subject} within {timeout:?}")]
    NoAnswer { subject: String, timeout: Duration },
    #[error("NATS request failed: {0}")]
    Request(String),
    #[error("the gateway's reply does not decode: {0}")]
    BadReply(String),
    #[error("cannot connect to NATS at {url}: {problem}")]
    Connect { url: String, problem: String },
    #[error(transparent)]
    Store(#[from] signoff_eventstore::StoreError),
}

impl ClientError {
    /// True when the same command may simply be sent again.
    pub fn is_transient(&self) -> bool {
        matches!(self, ClientError::NoAnswer { .. } | ClientError::Request(_))
    }
}

#[derive(Clone)]
pub struct CommandClient {
    client: async_nats::Client,
    token: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for CommandClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandClient")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl CommandClient {
    pub fn new(client: async_nats::Client, token: impl Into<String>) -> Self {
        Self {
            client,
            token: Some(token.into()),
            timeout: Duration::from_secs(10),
        }
    }

    /// A client that sends no token (for tests of refusals).
    pub fn anonymous(client: async_nats::Client) -> Self {
        Self {
            client,
            token: None,
            timeout: Duration::from_secs(10),
        }
    }

    pub fn with_token(&self, token: impl Into<String>) -> Self {
        Self {
            token: Some(token.into()),
            ..self.clone()
        }
    }

    /// How long one attempt waits for a gateway's answer.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn nats(&self) -> &async_nats::Client {
        &self.client
    }

    /// Sends one command body (serialized as JSON) to `signoff.cmd.<action>`, once.
    pub async fn send(&self, action: &str, body: &impl Serialize) -> Result<Reply, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Request(e.to_string()))?;
        self.send_raw(action, bytes).await
    }

    /// Sends raw bytes as the body (for callers that hold JSON text already).
    pub async fn send_raw(&self, action: &str, body: Vec<u8>) -> Result<Reply, ClientError> {
        let subject = command_subject(action);
        let mut headers = HeaderMap::new();
        if let Some(token) = &self.token {
            headers.insert(AUTHORIZATION_HEADER, format!("Bearer {token}").as_str());
        }
        let request = self
            .client
            .request_with_headers(subject.clone(), headers, body.into());
        let message = tokio::time::timeout(self.timeout, request)
            .await
            .map_err(|_| ClientError::NoAnswer {
                subject: subject.clone(),
                timeout: self.timeout,
            })?
            .map_err(|e| match e.kind() {
                async_nats::RequestErrorKind::TimedOut => ClientError::NoAnswer {
                    subject: subject.clone(),
                    timeout: self.timeout,
                },
                _ => ClientError::Request(e.to_string()),
            })?;
        serde_json::from_slice(&message.payload).map_err(|e| ClientError::BadReply(e.to_string()))
    }

    /// Sends the same body until a gateway gives a final answer or `retry_for`
    /// has passed: transport failures and retryable refusals (`UNAVAILABLE`,
    /// `CONTENDED`) are retried with backoff. Safe because the body keeps its
    /// command id: a command applied before its answer was lost is answered
    /// with its original outcome.
    pub async fn send_until_answered(
        &self,
        action: &str,
        body: &impl Serialize,
        retry_for: Duration,
    ) -> Result<Reply, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Request(e.to_string()))?;
        let deadline = Instant::now() + retry_for;
        let mut pause = Duration::from_millis(50);
        loop {
            let outcome = self.send_raw(action, bytes.clone()).await;
            let retry = match &outcome {
                Ok(Reply::Error(e)) => e.retryable,
                Ok(Reply::Accepted(_)) => false,
                Err(e) => e.is_transient(),
            };
            if !retry || Instant::now() + pause > deadline {
                return outcome;
            }
            tracing::debug!(
                action,
                ?pause,
                "no final answer yet; retrying with the same command id"
            );
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }
}
