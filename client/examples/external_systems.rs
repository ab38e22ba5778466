//! Guide: "Using with External Systems" — onApproved records the approval in
//! an external system with who approved. (For delivery guarantees to other
//! services, configure a webhook: `signoff webhooks run`.)

use serde_json::json;
use signoff_client::{ApprovalConfig, ApprovalContext, ConnectOptions, Signoff};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ok = Signoff::connect(ConnectOptions::from_env()?).await?;
    let create_jira_issue = ok
        .require_approval(
            ApprovalConfig::new("Create Jira Issue")
                .description("Create new high-priority issue in Jira")
                .approvers(["project-managers"]),
        )
        .params(json!({"summary": "Checkout fails for EU cards", "priority": "high"}))
        .on_approved(|result: String, context: ApprovalContext| async move {
            // Create record in external system
            println!(
                "external audit record: action=issue_created approvedBy={:?} request={}",
                context.approvers, context.request_id
            );
            result
        });
    println!("waiting for approval of {}", create_jira_issue.request_id());
    let issue = create_jira_issue
        .run_with(|issue_data: serde_json::Value| async move {
            // Implementation: jira_client.create_issue(issue_data)
            Ok::<_, std::io::Error>(format!("created {}", issue_data["summary"]))
        })
        .await?;
    println!("{issue}");
    Ok(())
}
