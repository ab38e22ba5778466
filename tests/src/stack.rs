//! The SDK's view of a [`TestEnv`]: `signoff-client` connections acting as
//! a given user, with their own NATS connection like a separate service.

use std::time::Duration;

use signoff_client::{ConnectOptions, Signoff};

use crate::TestEnv;

impl TestEnv {
    /// A client-crate connection (its own NATS connection) acting as `user`.
    pub async fn sdk(&self, user: &str) -> Signoff {
        let mut options = ConnectOptions::new(self.nats.url(), self.token(user));
        options.command_timeout = Duration::from_secs(5);
        Signoff::connect(options).await.expect("the SDK connects")
    }
}

/// Polls `condition` until it holds (up to 30 s): waiting for an effect, never for a deadline.
pub async fn eventually<F, Fut>(what: &str, condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_within(what, Duration::from_secs(30), condition).await
}

/// Polls `condition` every 20 ms until it holds; fails the test after `timeout`.
pub async fn eventually_within<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
