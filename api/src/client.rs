//! The command client (from `signoff-client`, re-exported for the processes
//! and tests that already use it here) and a raw follower of one request's
//! log until its decision event.

use std::time::Duration;

use futures::StreamExt;
use signoff_engine::{ApprovalEvent, RequestId};
use signoff_eventstore::{EventStore, StoredCommit};

pub use signoff_client::{ClientError, CommandClient};

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
