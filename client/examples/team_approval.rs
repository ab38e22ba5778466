//! Guide: "Team-Based Approval" — any member of a team may approve.
//! Approve with `signoff approve <id> --as sam` (a member of security-team).

use signoff_client::{ApprovalConfig, ConnectOptions, Signoff};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ok = Signoff::connect(ConnectOptions::from_env()?).await?;
    let secure_action = ok.require_approval(
        ApprovalConfig::new("Security Change")
            .description("Update to security settings")
            .approvers(["security-team"]), // Team ID
    );
    println!("waiting for approval of {}", secure_action.request_id());
    let value = secure_action
        .run(|| async { Ok::<_, std::io::Error>(true) })
        .await?;
    println!("approved; the action returned {value}");
    Ok(())
}
