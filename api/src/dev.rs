//! `signoff dev`: the whole system on one machine. Starts a local JetStream
//! server (`sync_interval: always`, data under the data dir), writes a dev
//! config with a fresh signing key and a demo team directory, runs the
//! gateway, the deadline scheduler and the read side (projector + HTTP query API), prints where to connect, and runs until Ctrl-C.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use signoff_engine::{Role, StaticDirectory};
use signoff_eventstore::EventStore;

use crate::clock::{Clock, SystemClock};
use crate::config::{SignoffConfig, StreamConfig};
use crate::gateway::{Gateway, GatewayHandle};
use crate::identity::{dev_auth_config, TokenIssuer, TokenVerifier};
use crate::local_nats::{LocalNats, NatsServerOptions};
use crate::scheduler::{Scheduler, SchedulerHandle};

pub struct DevOptions {
    pub data_dir: PathBuf,
    pub port: Option<u16>,
    /// Where the HTTP query API listens.
    pub http: std::net::SocketAddr,
    /// Run the demo feed once everything is up.
    pub demo: bool,
}

/// The team directory of the product guide's examples.
pub fn demo_directory() -> StaticDirectory {
    StaticDirectory::default()
        .with_user("alice")
        .with_user("user_123")
        .with_user("user_456")
        .with_team("security-team", &["sam", "sofia"])
        .with_team("manager-team", &["maria", "mike"])
        .with_team("executive-team", &["erin", "ed"])
        .with_team("finance-team", &["fiona", "frank"])
        .with_team("on-call-team", &["oscar", "olivia"])
        .with_team("database-team", &["dana", "dave"])
        .with_team("release-managers", &["rita", "rob"])
        .with_team("operations-team", &["otto", "opal"])
        .with_team("project-managers", &["paul", "pia"])
        .with_calendar("eu-office", eu_office())
}

/// Monday to Friday, 09:00–17:00 in Berlin: the demo's business hours.
pub fn eu_office() -> signoff_engine::calendar::BusinessCalendar {
    let day = serde_json::json!([{"start": "09:00", "end": "17:00"}]);
    serde_json::from_value(serde_json::json!({
        "timeZone": "Europe/Berlin",
        "hours": {"monday": day, "tuesday": day, "wednesday": day, "thursday": day, "friday": day},
        "holidays": ["2026-12-25", "2026-12-26"],
    }))
    .expect("a valid calendar")
}

/// Connects to NATS, opens the event store and runs one gateway for `config`.
pub async fn start_gateway(
    config: &SignoffConfig,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<GatewayHandle> {
    let client = signoff_client::connect_nats(&config.nats_url)
        .await
        .with_context(|| {
            format!(
                "connecting to {}",
                signoff_client::redacted_url(&config.nats_url)
            )
        })?;
    let store = Arc::new(
        EventStore::open(client.clone(), config.stream.settings())
            .await?
            .with_cache_capacity(config.gateway.cache_requests),
    );
    let gateway = Arc::new(
        Gateway::new(
            client,
            store,
            Arc::new(config.directory.clone()),
            TokenVerifier::new(&config.auth)?,
            clock,
        )
        .with_max_in_flight(config.gateway.max_in_flight),
    );
    gateway
        .spawn()
        .await
        .map_err(|e| anyhow::anyhow!("starting the gateway: {e}"))
}

/// Connects to NATS and runs one deadline scheduler for `config`.
pub async fn start_scheduler(
    config: &SignoffConfig,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<SchedulerHandle> {
    let client = signoff_client::connect_nats(&config.nats_url)
        .await
        .with_context(|| {
            format!(
                "connecting to {}",
                signoff_client::redacted_url(&config.nats_url)
            )
        })?;
    let store = Arc::new(EventStore::open(client.clone(), config.stream.settings()).await?);
    let scheduler = Scheduler::new(client, store, TokenIssuer::new(&config.auth)?, clock);
    Ok(Arc::new(scheduler).spawn())
}

pub async fn run(options: DevOptions) -> anyhow::Result<()> {
    std::fs::create_dir_all(&options.data_dir)
        .with_context(|| format!("creating {}", options.data_dir.display()))?;
    let data_dir = options.data_dir.canonicalize()?;
    let mut nats = LocalNats::start(NatsServerOptions {
        store_dir: data_dir.join("jetstream"),
        port: options.port,
        sync_always: true,
        extra_config: None,
        server_name: Some("signoff-dev".into()),
    })
    .await
    .context("starting the local nats-server")?;

    let config_path = data_dir.join("signoff.json");
    let mut config = if config_path.exists() {
        SignoffConfig::load(&config_path)?
    } else {
        SignoffConfig {
            nats_url: nats.url(),
            stream: StreamConfig::default(),
            gateway: Default::default(),
            projection: Default::default(),
            auth: dev_auth_config(),
            directory: demo_directory(),
            webhooks: Vec::new(),
        }
    };
    config.nats_url = nats.url();
    config.save(&config_path)?;

    let handle = start_gateway(&config, Arc::new(SystemClock)).await?;
    let scheduler = start_scheduler(&config, Arc::new(SystemClock)).await?;
    let mut read_side =
        crate::readside::start(&config, &data_dir.join("projection"), options.http).await?;

    let webhooks = if config.webhooks.is_empty() {
        None
    } else {
        let client = signoff_client::connect_nats(&config.nats_url).await?;
        let store = Arc::new(EventStore::open(client, config.stream.settings()).await?);
        Some(crate::webhooks::start(store, &config.webhooks).await?)
    };

    print_connection_info(&config, &config_path, &data_dir, &read_side.http_url())?;
    if options.demo {
        let verified = crate::demo::run(&config, &read_side.http_url())
            .await
            .context("the demo feed failed")?;
        println!();
        print_connection_info(&config, &config_path, &data_dir, &read_side.http_url())?;
        println!(
            "demo done: {verified}. signoff keeps running (`signoff dev --no-demo` skips the demo); Ctrl-C stops it."
        );
    } else {
        println!("Press Ctrl-C to stop.");
    }
    let stopped = read_side.ctrl_c_or_failure().await?;
    println!("stopping...");
    handle.shutdown().await;
    if let Some(webhooks) = webhooks {
        webhooks.shutdown().await;
    }
    read_side.shutdown().await;
    scheduler.shutdown().await;
    nats.kill().await?;
    Ok(stopped?)
}

fn print_connection_info(
    config: &SignoffConfig,
    config_path: &std::path::Path,
    data_dir: &std::path::Path,
    api: &str,
) -> anyhow::Result<()> {
    let issuer = TokenIssuer::new(&config.auth)?;
    println!("signoff is running.");
    println!(
        "  NATS (JetStream, sync_interval: always): {}",
        signoff_client::redacted_url(&config.nats_url)
    );
    println!(
        "  commands: request/reply on signoff.cmd.<{}>",
        signoff_schemas::subjects::ACTIONS.join("|")
    );
    println!(
        "  events:   stream {} on {}.<request id>",
        config.stream.name, config.stream.subject_prefix
    );
    println!("  query API: {api} (OpenAPI at {api}/openapi.json)");
    if !config.webhooks.is_empty() {
        let names: Vec<&str> = config.webhooks.iter().map(|w| w.name.as_str()).collect();
        println!("  webhooks: {}", names.join(", "));
    }
    println!("  config:   {}", config_path.display());
    println!("  data:     {}", data_dir.display());
    println!(
        "  try:      signoff inbox --as sam --api {api}   |   signoff watch --as alice   |   signoff show <id> --as alice"
    );
    println!(
        "  tokens (valid 12 h; `signoff token issue --config {} --user U` makes more):",
        config_path.display()
    );
    for (user, roles) in [
        ("alice", vec![]),
        ("maria", vec![]),
        ("sam", vec![]),
        ("scheduler", vec![Role::Scheduler]),
    ] {
        println!("    {user:<10} {}", issuer.issue(user, &roles, 12 * 3600));
    }
    Ok(())
}
