//! Guide: "Time-Based Expiration" — approve within an hour or it expires
//! (the scheduler fires the deadline; the outcome comes back typed).

use std::time::Duration;

use signoff_client::{ApprovalConfig, ApprovalError, ConnectOptions, Signoff};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ok = Signoff::connect(ConnectOptions::from_env()?).await?;
    let time_constrained_action = ok.require_approval(
        ApprovalConfig::new("Time-Sensitive Action")
            .description("Must be approved within 1 hour")
            .approvers(["operations-team"])
            .expires_in(Duration::from_secs(60 * 60)), // 1 hour
    );
    println!(
        "waiting for approval of {}",
        time_constrained_action.request_id()
    );
    match time_constrained_action
        .run(|| async { Ok::<_, std::io::Error>(true) })
        .await
    {
        Ok(value) => println!("approved in time; the action returned {value}"),
        Err(ApprovalError::Expired { expires_at, .. }) => {
            println!("nobody approved by {expires_at}: the action did not run")
        }
        Err(other) => return Err(other.into()),
    }
    Ok(())
}
