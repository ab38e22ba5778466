//! Guide: "Custom Approval Logic" — during business hours a manager approves;
//! outside them, on-call and a manager. The rules are evaluated by the engine
//! at submission (in the given time zone) and the rule that applied is recorded.

use signoff_client::{ApprovalConfig, ConnectOptions, CustomLogic, Requirement, Signoff};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ok = Signoff::connect(ConnectOptions::from_env()?).await?;
    let custom_logic_approval = ok.require_custom_approval(
        ApprovalConfig::new("Complex Decision").description("Requires custom approval logic"),
        CustomLogic::new()
            .time_zone("Europe/Berlin")
            // During business hours, require manager approval
            .rule(
                "hour >= 9 && hour <= 17",
                Requirement::new(["manager-team"]).min_approvals(1),
            )
            // Outside business hours, require both on-call and manager approval
            .otherwise(Requirement::new(["on-call-team", "manager-team"]).min_approvals(2)),
    );
    println!(
        "waiting for approval of {}",
        custom_logic_approval.request_id()
    );
    let value = custom_logic_approval
        .run(|| async { Ok::<_, std::io::Error>(true) })
        .await?;
    println!("approved; the action returned {value}");
    Ok(())
}
