//! Guide: "Sequential Approval Chains" — manager, then security, then executive.
//! Approve in order as maria (manager-team), sam (security-team), erin (executive-team).

use signoff_client::{ConnectOptions, Signoff, Stage};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ok = Signoff::connect(ConnectOptions::from_env()?).await?;
    let sequential_approval = ok.require_sequential_approval([
        Stage::new("Manager Approval", ["manager-team"])
            .description("First-level approval by manager"),
        Stage::new("Security Review", ["security-team"]).description("Security team review"),
        Stage::new("Executive Sign-off", ["executive-team"])
            .description("Final executive approval"),
    ]);
    println!(
        "waiting for the chain on {}",
        sequential_approval.request_id()
    );
    let value = sequential_approval
        .run(|| async { Ok::<_, std::io::Error>(true) })
        .await?;
    println!("every stage approved; the action returned {value}");
    Ok(())
}
