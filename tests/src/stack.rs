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

/// Polls `condition` until it holds (bounded): waiting for an effect, never for a deadline.
pub async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
