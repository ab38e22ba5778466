//! Guide: "Basic Configuration" — a single approver.
//!
//! Run against `cargo xtask run` (or `signoff dev`):
//! `SIGNOFF_TOKEN=$(signoff token issue --config .signoff-dev/signoff.json --user alice) \
//!  cargo run -p signoff-client --example basic`, then approve as user_123:
//! `signoff approve <id> --as user_123`.

use signoff_client::{ApprovalConfig, ConnectOptions, Signoff};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ok = Signoff::connect(ConnectOptions::from_env()?).await?;
    let secure_action = ok.require_approval(
        ApprovalConfig::new("Important Action")
            .description("This action requires approval")
            .approvers(["user_123"]), // User ID of the approver
    );
    println!("waiting for approval of {}", secure_action.request_id());
    let value = secure_action
        .run(|| async {
            // Function implementation
            Ok::<_, std::io::Error>(true)
        })
        .await?;
    println!("approved; the action returned {value}");
    Ok(())
}
