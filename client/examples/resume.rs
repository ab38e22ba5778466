//! Resumable waiting: a process that restarts while its request is pending
//! re-attaches by id (stored before it waited) and still gets the decision;
//! an action already executed is never run twice.
//! `cargo run -p signoff-client --example resume -- <request id>`

use serde_json::json;
use signoff_client::{ApprovalConfig, ConnectOptions, RequestId, Signoff};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ok = Signoff::connect(ConnectOptions::from_env()?).await?;
    let params = json!({"version": "2.0.0", "environment": "production"});
    let approval = match std::env::args().nth(1) {
        // After a restart: re-attach with the same parameters.
        Some(id) => ok.attach(RequestId(id.parse()?)).params(params),
        None => {
            let approval = ok
                .require_approval(
                    ApprovalConfig::new("Production Deployment").approvers(["release-managers"]),
                )
                .params(params);
            println!(
                "if this process stops, run again with: -- {}",
                approval.request_id()
            );
            approval
        }
    };
    let value = approval
        .run(|| async { Ok::<_, std::io::Error>("deployed") })
        .await?;
    println!("{value}");
    Ok(())
}
