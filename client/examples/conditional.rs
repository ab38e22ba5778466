//! Guide: "Conditional Approval Requirements" — transfers above $10,000 need
//! finance and security; others one finance approval. The condition is a CEL
//! expression evaluated by the engine, so the audit trail records the branch.
//! `cargo run -p signoff-client --example conditional -- 50000`

use serde::Deserialize;
use serde_json::json;
use signoff_client::{ApprovalConfig, ConnectOptions, Signoff};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Transfer {
    from_account: String,
    to_account: String,
    amount: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let amount: u64 = std::env::args().nth(1).unwrap_or("50000".into()).parse()?;
    let ok = Signoff::connect(ConnectOptions::from_env()?).await?;
    let transfer_funds = ok
        .require_approval_if(
            "amount > 10000",
            ApprovalConfig::new("High-Value Transfer")
                .description("Transfer exceeding $10,000")
                .approvers(["finance-team", "security-team"])
                .min_approvals(2),
            Some(
                ApprovalConfig::new("Standard Transfer")
                    .description("Regular fund transfer")
                    .approvers(["finance-team"])
                    .min_approvals(1),
            ),
        )
        .params(json!({"fromAccount": "ACC-001", "toAccount": "ACC-002", "amount": amount}));
    println!("waiting for approval of {}", transfer_funds.request_id());
    // The action receives exactly the parameters that were approved.
    let receipt = transfer_funds
        .run_with(|t: Transfer| async move {
            Ok::<_, std::io::Error>(format!(
                "moved ${} from {} to {}",
                t.amount, t.from_account, t.to_account
            ))
        })
        .await?;
    println!("{receipt}");
    Ok(())
}
