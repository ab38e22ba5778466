//! Guide: "Escalation Paths" — on-call first; after 15 minutes the manager
//! team may approve too, after 30 the executive team.

use signoff_client::{ApprovalConfig, ConnectOptions, Escalation, Signoff};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ok = Signoff::connect(ConnectOptions::from_env()?).await?;
    let action_with_escalation = ok.require_approval(
        ApprovalConfig::new("Critical Fix")
            .description("Apply critical system fix")
            .approvers(["on-call-team"])
            .escalation(
                Escalation::after_minutes(15, ["manager-team"])
                    .then_after_minutes(30, ["executive-team"]),
            ),
    );
    println!(
        "waiting for approval of {}",
        action_with_escalation.request_id()
    );
    let value = action_with_escalation
        .run(|| async { Ok::<_, std::io::Error>(true) })
        .await?;
    println!("approved; the action returned {value}");
    Ok(())
}
