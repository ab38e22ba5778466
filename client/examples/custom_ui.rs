//! Guide: "Custom UI Components" — a dashboard component and its config
//! travel with the request (`signoff show <id>` prints them).

use serde::Deserialize;
use serde_json::json;
use signoff_client::{ApprovalConfig, ConnectOptions, Signoff};

#[derive(Deserialize)]
struct Deployment {
    version: String,
    environment: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ok = Signoff::connect(ConnectOptions::from_env()?).await?;
    let deploy_to_production = ok
        .require_approval(
            ApprovalConfig::new("Production Deployment")
                .description("Deploy new version to production")
                .approvers(["release-managers"])
                .ui_component("DeploymentApprovalForm") // Custom component in your dashboard
                .ui_config(
                    json!({"showDiff": true, "showTests": true, "allowPartialApproval": false}),
                ),
        )
        .params(json!({"version": "1.4.2", "environment": "production"}));
    println!(
        "waiting for approval of {}",
        deploy_to_production.request_id()
    );
    let deployed = deploy_to_production
        .run_with(|d: Deployment| async move {
            // Implementation: deployment_system.deploy(version, environment)
            Ok::<_, std::io::Error>(format!("deployed {} to {}", d.version, d.environment))
        })
        .await?;
    println!("{deployed}");
    Ok(())
}
