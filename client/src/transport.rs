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

/// Connects to NATS at `url`, which may carry a NATS user and password
/// (`nats://user:password@host:port`; percent-encoded characters decoded):
/// async-nats does not read credentials from the URL itself. Several servers
/// may be given separated by commas; credentials come from the first that has them.
pub async fn connect_nats(url: &str) -> Result<async_nats::Client, ClientError> {
    let (servers, credentials) = split_credentials(url);
    let options = match credentials {
        Some((user, password)) => {
            async_nats::ConnectOptions::with_user_and_password(user, password)
        }
        None => async_nats::ConnectOptions::new(),
    };
    options
        .connect(servers.as_str())
        .await
        .map_err(|e| ClientError::Connect {
            url: servers.clone(),
            problem: e.to_string(),
        })
}

/// `nats://u:p@h:1,nats://h2:2` → (`nats://h:1,nats://h2:2`, Some((u, p))).
pub fn split_credentials(url: &str) -> (String, Option<(String, String)>) {
    let mut credentials = None;
    let servers: Vec<String> = url
        .split(',')
        .map(|server| {
            let server = server.trim();
            let (scheme, rest) = match server.split_once("://") {
                Some((scheme, rest)) => (Some(scheme), rest),
                None => (None, server),
            };
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let host = match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    if credentials.is_none() {
                        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                        credentials = Some((percent_decode(user), percent_decode(password)));
                    }
                    host
                }
                None => authority,
            };
            match scheme {
                Some(scheme) => format!("{scheme}://{host}{path}"),
                None => format!("{host}{path}"),
            }
        })
        .collect();
    (servers.join(","), credentials)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `url` fit for logs and errors: credentials replaced by the user name only
/// (`nats://127.0.0.1:4222 (as signoff-gateway)`).
pub fn redacted_url(url: &str) -> String {
    match split_credentials(url) {
        (servers, Some((user, _))) => format!("{servers} (as {user})"),
        (servers, None) => servers,
    }
}

#[cfg(test)]
mod tests {
    use super::split_credentials;

    #[test]
    fn credentials_come_out_of_the_url() {
        assert_eq!(
            split_credentials("nats://signoff-client:s%40cret@127.0.0.1:4222"),
            (
                "nats://127.0.0.1:4222".to_string(),
                Some(("signoff-client".to_string(), "s@cret".to_string()))
            )
        );
        assert_eq!(
            split_credentials("nats://127.0.0.1:4222"),
            ("nats://127.0.0.1:4222".to_string(), None)
        );
        assert_eq!(
            super::redacted_url("nats://gw:secret@127.0.0.1:4222"),
            "nats://127.0.0.1:4222 (as gw)"
        );
        assert_eq!(
            split_credentials("nats://u:p@a:1, nats://b:2"),
            (
                "nats://a:1,nats://b:2".to_string(),
                Some(("u".to_string(), "p".to_string()))
            )
        );
    }
}
