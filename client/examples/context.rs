//! Guide: "Approval with Context" — rich context for the approvers, stored
//! byte for byte and hashed into the audit trail (`signoff show <id>` renders it).

use serde_json::json;
use signoff_client::{ApprovalConfig, ConnectOptions, Signoff};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ok = Signoff::connect(ConnectOptions::from_env()?).await?;
    let contextual_approval = ok.require_approval(
        ApprovalConfig::new("Database Schema Change")
            .description("Update to production database schema")
            .approvers(["database-team"])
            .context(json!({
                "changes": [
                    {"table": "users", "action": "add_column", "column": "last_login_date"},
                    {"table": "sessions", "action": "add_index", "columns": ["user_id", "created_at"]}
                ],
                "impact": "Low - No downtime required",
                "rollback": "Automatic rollback script included",
                "jiraTicket": "PROJ-123"
            })),
    );
    println!(
        "waiting for approval of {}",
        contextual_approval.request_id()
    );
    let value = contextual_approval
        .run(|| async { Ok::<_, std::io::Error>(true) })
        .await?;
    println!("approved; the action returned {value}");
    Ok(())
}
