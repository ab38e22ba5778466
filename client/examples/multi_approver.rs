//! Guide: "Multi-Approver Workflows" — three approvals from users and a team.
//! Approve as user_123, user_456 and one of security-team (sam or sofia).

use signoff_client::{ApprovalConfig, ConnectOptions, Signoff};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ok = Signoff::connect(ConnectOptions::from_env()?).await?;
    let critical_action = ok.require_approval(
        ApprovalConfig::new("Critical System Change")
            .description("Update to core system settings")
            .approvers(["user_123", "user_456", "security-team"])
            .min_approvals(3), // Minimum number of approvals required
    );
    println!(
        "waiting for 3 approvals of {}",
        critical_action.request_id()
    );
    let value = critical_action
        .run(|| async { Ok::<_, std::io::Error>(true) })
        .await?;
    println!("approved; the action returned {value}");
    Ok(())
}
