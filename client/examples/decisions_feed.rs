//! A service that reacts to every decision: a durable feed keeps its position
//! on the server, so after a restart it continues after the last decision it
//! acknowledged — none is missed.

use signoff_client::{ConnectOptions, Signoff};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let signoff = Signoff::connect(ConnectOptions::from_env()?).await?;
    let mut feed = signoff.decisions().durable("example-service").await?;
    while let Some(item) = feed.next().await {
        let item = item?;
        let d = &item.decided;
        println!(
            "{} \"{}\" asked by {}: {} (log position {})",
            d.request_id,
            d.title,
            d.requester,
            d.decision.name(),
            d.sequence
        );
        item.ack().await?;
    }
    Ok(())
}
