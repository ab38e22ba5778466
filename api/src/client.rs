//! A small command client over NATS: sends a command with the caller's token
//! and returns the gateway's typed reply; follows a request's log until its
//! decision. (The full SDK with `require_approval` builds on this.)

use std::time::Duration;

use async_nats::HeaderMap;
use futures::StreamExt;
use serde::Serialize;
use signoff_engine::{ApprovalEvent, RequestId};
use signoff_eventstore::{EventStore, StoreError, StoredCommit};
use signoff_schemas::subjects::{command_subject, AUTHORIZATION_HEADER};
use signoff_schemas::Reply;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no gateway answered on {subject} within {timeout:?}")]
    NoAnswer { subject: String, timeout: Duration },
    #[error("NATS request failed: {0}")]
    Request(String),
    #[error("the gateway's reply does not decode: {0}")]
    BadReply(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct CommandClient {
    client: async_nats::Client,
    token: Option<String>,
    timeout: Duration,
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

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends one command body (serialized as JSON) to `signoff.cmd.<action>`.
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
            .map_err(|e| ClientError::Request(e.to_string()))?;
        serde_json::from_slice(&message.payload).map_err(|e| ClientError::BadReply(e.to_string()))
    }
}

/// Follows a request's log from its first commit until a decision event
/// (approved, rejected, expired, cancelled) and returns it with its commit.
/// Reads the log itself, so a decision made while nobody watched is still seen.
pub async fn wait_for_decision(
    store: &EventStore,
    request_id: RequestId,
    timeout: Duration,
) -> Result<Option<(StoredCommit, ApprovalEvent)>, ClientError> {
    let mut commits = Box::pin(store.watch(request_id).await?);
    let watch = async {
        while let Some(stored) = commits.next().await {
            let stored = stored?;
            if let Some(decision) = stored
                .commit
                .events
                .iter()
                .find(|e| e.is_decision())
                .cloned()
            {
                return Ok(Some((stored, decision)));
            }
        }
        Ok(None)
    };
    match tokio::time::timeout(timeout, watch).await {
        Ok(result) => result,
        Err(_) => Ok(None),
    }
}
