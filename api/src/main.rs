//! The `signoff` command: `dev` runs everything locally; `gateway` runs one
//! command gateway; `token issue` makes identity tokens; `submit`, `approve`,
//! `reject`, `cancel` and `watch` talk to a running system.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use signoff_api::cli::{self, Connection};
use signoff_api::clock::SystemClock;
use signoff_api::config::SignoffConfig;
use signoff_api::identity::TokenIssuer;
use signoff_engine::Role;
use signoff_eventstore::EventStore;

/// mimalloc: sled and the fold allocate per key, and glibc malloc spent a
/// third of the projector's time consolidating its free lists (perf).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use uuid::Uuid;

#[derive(Parser)]
#[command(
    name = "signoff",
    version,
    about = "Human approval workflows on NATS JetStream"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole system locally (JetStream, gateway, scheduler, projector, query API, webhooks) and a demo feed.
    Dev {
        #[arg(long, default_value = ".signoff-dev")]
        data_dir: PathBuf,
        /// NATS client port (default: any free port).
        #[arg(long)]
        port: Option<u16>,
        /// Where the HTTP query API listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: std::net::SocketAddr,
        /// Skip the demo feed (start the system and wait).
        #[arg(long)]
        no_demo: bool,
    },
    /// Run one command gateway (join any number to the same queue group).
    Gateway {
        #[arg(long, env = "SIGNOFF_CONFIG")]
        config: PathBuf,
    },
    /// Run the read side: the projector (durable consumer → sled) and the HTTP query API.
    Projector {
        #[arg(long, env = "SIGNOFF_CONFIG")]
        config: PathBuf,
        /// The projector's sled database (one process at a time).
        #[arg(long)]
        db: PathBuf,
        /// Where the HTTP query API listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: std::net::SocketAddr,
    },
    /// Run the deadline scheduler (expiry and escalation); any number may run.
    Scheduler {
        #[arg(long, env = "SIGNOFF_CONFIG")]
        config: PathBuf,
        /// Read the current time from this file (one RFC 3339 instant) instead
        /// of the system clock: for rehearsing deadlines without waiting.
        #[arg(long)]
        clock_file: Option<PathBuf>,
    },
    /// Fold the whole log into a new projection database (from sequence 1) and exit.
    Rebuild {
        #[arg(long, env = "SIGNOFF_CONFIG")]
        config: PathBuf,
        /// A database path that does not exist yet (or one to catch up).
        #[arg(long)]
        db: PathBuf,
    },
    /// Compliance: replay the history, verify the audit trail, export evidence.
    Audit {
        #[command(subcommand)]
        command: signoff_api::audit::AuditCommand,
    },
    /// Identity tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Ask for approval: the spec is a JSON file (or - for stdin).
    Submit {
        #[command(flatten)]
        connection: Connection,
        #[arg(long)]
        spec: PathBuf,
        /// The action's parameters as a JSON object.
        #[arg(long, default_value = "{}")]
        params: String,
        #[arg(long)]
        request_id: Option<Uuid>,
        /// Wait up to this many seconds for the decision and print it.
        #[arg(long)]
        wait: Option<u64>,
    },
    /// What waits for you (or, for admins, --user's inbox), from the query API.
    Inbox {
        #[command(flatten)]
        connection: Connection,
        /// The HTTP query API (`signoff dev` and `signoff projector` print it).
        #[arg(long, env = "SIGNOFF_API", default_value = "http://127.0.0.1:8080")]
        api: String,
        /// Another user's inbox (admins only).
        #[arg(long = "user")]
        of: Option<String>,
    },
    /// A request as its log tells it: parameters, context, UI hints, votes, execution.
    Show {
        #[command(flatten)]
        connection: Connection,
        request_id: Uuid,
    },
    /// Approve the current stage of a request.
    Approve {
        #[command(flatten)]
        connection: Connection,
        request_id: Uuid,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reject a request.
    Reject {
        #[command(flatten)]
        connection: Connection,
        request_id: Uuid,
        #[arg(long)]
        reason: String,
    },
    /// Withdraw a pending request (requester or admin).
    Cancel {
        #[command(flatten)]
        connection: Connection,
        request_id: Uuid,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Live decisions of every request (or wait for one request's decision).
    Watch {
        #[command(flatten)]
        connection: Connection,
        /// Only this request: wait for its decision and exit.
        request_id: Option<Uuid>,
        #[arg(long, default_value_t = 3600)]
        timeout_secs: u64,
        /// Replay every decision from the start of the log first.
        #[arg(long)]
        from_start: bool,
    },
    /// Webhooks: deliver decisions to HTTP endpoints; inspect and replay dead letters.
    Webhooks {
        #[command(subcommand)]
        command: WebhooksCommand,
    },
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// Run the dispatcher for every webhook in the config.
    Run {
        #[arg(long, env = "SIGNOFF_CONFIG")]
        config: PathBuf,
    },
    /// List the deliveries that ran out of attempts.
    DeadLetters {
        #[arg(long, env = "SIGNOFF_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        webhook: Option<String>,
    },
    /// Deliver a webhook's dead letters again (same body and key); delivered ones are removed.
    Replay {
        #[arg(long, env = "SIGNOFF_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        webhook: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issue a token signed with the config's signing key.
    Issue {
        #[arg(long, env = "SIGNOFF_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        user: String,
        /// admin or scheduler; repeat for several.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Check that the user is in this team of the config's directory
        /// (membership comes from the directory, never from the token); repeatable.
        #[arg(long = "team")]
        teams: Vec<String>,
        #[arg(long, default_value_t = 3600)]
        ttl_secs: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(signoff_api::identity::redact_secrets(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "signoff=info,warn".into()),
        ))
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Dev {
            data_dir,
            port,
            http,
            no_demo,
        } => {
            signoff_api::dev::run(signoff_api::dev::DevOptions {
                data_dir,
                port,
                http,
                demo: !no_demo,
            })
            .await
        }
        Command::Gateway { config } => run_gateway(config).await,
        Command::Projector { config, db, http } => {
            let config = SignoffConfig::load(&config)?;
            let mut read_side = signoff_api::readside::start(&config, &db, http).await?;
            println!("query API: {}", read_side.http_url());
            tracing::info!(db = %db.display(), "projector running; Ctrl-C stops it");
            let stopped = read_side.ctrl_c_or_failure().await?;
            read_side.shutdown().await;
            Ok(stopped?)
        }
        Command::Rebuild { config, db } => {
            let config = SignoffConfig::load(&config)?;
            let client = signoff_client::connect_nats(&config.nats_url).await?;
            let projection = signoff_projections::ProjectionDb::open_with_cache(
                &db,
                config.projection.cache_mib,
            )?;
            let started = std::time::Instant::now();
            let checkpoint =
                signoff_projections::rebuild(client, &config.stream.settings(), &projection, 1000)
                    .await?;
            println!(
                "rebuilt {} to stream sequence {checkpoint} in {:.1?}",
                db.display(),
                started.elapsed()
            );
            Ok(())
        }
        Command::Scheduler { config, clock_file } => {
            let config = SignoffConfig::load(&config)?;
            let clock: Arc<dyn signoff_api::clock::Clock> = match clock_file {
                Some(path) => Arc::new(signoff_api::clock::FileClock::new(path)),
                None => Arc::new(SystemClock),
            };
            let handle = signoff_api::dev::start_scheduler(&config, clock).await?;
            tracing::info!("scheduler running; Ctrl-C stops it");
            tokio::signal::ctrl_c().await?;
            handle.shutdown().await;
            Ok(())
        }
        Command::Audit { command } => signoff_api::audit::run(command).await,
        Command::Token {
            command:
                TokenCommand::Issue {
                    config,
                    user,
                    roles,
                    teams,
                    ttl_secs,
                },
        } => {
            let config = SignoffConfig::load(&config)?;
            check_teams(&config, &user, &teams)?;
            let roles = roles
                .iter()
                .map(|r| parse_role(r))
                .collect::<anyhow::Result<Vec<_>>>()?;
            println!(
                "{}",
                TokenIssuer::new(&config.auth)?.issue(&user, &roles, ttl_secs)
            );
            Ok(())
        }
        Command::Submit {
            connection,
            spec,
            params,
            request_id,
            wait,
        } => cli::submit(&connection, &spec, &params, request_id, wait).await,
        Command::Inbox {
            connection,
            api,
            of,
        } => cli::inbox(&connection, &api, of.as_deref()).await,
        Command::Show {
            connection,
            request_id,
        } => cli::show(&connection, request_id).await,
        Command::Approve {
            connection,
            request_id,
            comment,
        } => cli::act(&connection, "approve", request_id, comment.as_deref()).await,
        Command::Reject {
            connection,
            request_id,
            reason,
        } => cli::act(&connection, "reject", request_id, Some(&reason)).await,
        Command::Cancel {
            connection,
            request_id,
            reason,
        } => cli::act(&connection, "cancel", request_id, reason.as_deref()).await,
        Command::Watch {
            connection,
            request_id,
            timeout_secs,
            from_start,
        } => cli::watch(&connection, request_id, timeout_secs, from_start).await,
        Command::Webhooks { command } => run_webhooks(command).await,
    }
}

async fn run_webhooks(command: WebhooksCommand) -> anyhow::Result<()> {
    use signoff_api::webhooks;
    let (WebhooksCommand::Run { config }
    | WebhooksCommand::DeadLetters { config, .. }
    | WebhooksCommand::Replay { config, .. }) = &command;
    let config = SignoffConfig::load(config)?;
    let client = signoff_client::connect_nats(&config.nats_url)
        .await
        .with_context(|| {
            format!(
                "connecting to {}",
                signoff_client::redacted_url(&config.nats_url)
            )
        })?;
    let store = Arc::new(EventStore::open(client, config.stream.settings()).await?);
    match command {
        WebhooksCommand::Run { .. } => {
            if config.webhooks.is_empty() {
                bail!("the config has no `webhooks`: nothing to deliver");
            }
            let handle = webhooks::start(store, &config.webhooks).await?;
            for webhook in &config.webhooks {
                tracing::info!(name = %webhook.name, url = %webhook.url, "delivering decisions");
            }
            tokio::signal::ctrl_c().await?;
            handle.shutdown().await;
            Ok(())
        }
        WebhooksCommand::DeadLetters { webhook, .. } => {
            let letters = webhooks::dead_letters(store.jetstream(), webhook.as_deref()).await?;
            for (_, letter) in &letters {
                println!(
                    "{}  webhook {}  request {}  log sequence {}  after {} attempts: {}",
                    letter.delivery_id,
                    letter.webhook,
                    letter.request_id,
                    letter.sequence,
                    letter.attempts,
                    letter.last_error
                );
            }
            println!("{} dead letter(s)", letters.len());
            Ok(())
        }
        WebhooksCommand::Replay { webhook, .. } => {
            let hook = config
                .webhooks
                .iter()
                .find(|w| w.name == webhook)
                .ok_or_else(|| webhooks::WebhookError::Unknown(webhook.clone()))?;
            let report = webhooks::replay_dead_letters(store.jetstream(), hook).await?;
            for id in &report.delivered {
                println!("delivered {id}");
            }
            for (id, problem) in &report.still_failing {
                println!("still failing {id}: {problem}");
            }
            println!(
                "replayed {}: {} delivered, {} still failing",
                report.delivered.len() + report.still_failing.len(),
                report.delivered.len(),
                report.still_failing.len()
            );
            if report.still_failing.is_empty() {
                Ok(())
            } else {
                bail!(
                    "{} dead letter(s) still failing",
                    report.still_failing.len()
                )
            }
        }
    }
}

/// `--team T`: the user must be a member of T in the config's directory.
fn check_teams(config: &SignoffConfig, user: &str, teams: &[String]) -> anyhow::Result<()> {
    use signoff_engine::TeamDirectory;
    for team in teams {
        let id = signoff_engine::TeamId::parse(team)
            .map_err(|e| anyhow::anyhow!("--team {team}: {e}"))?;
        let members = config.directory.members(&id);
        if members.is_empty() {
            bail!("--team {team}: no such team in the directory of the config");
        }
        if !members.iter().any(|m| m.as_str() == user) {
            let names: Vec<&str> = members.iter().map(|m| m.as_str()).collect();
            bail!(
                "{user} is not a member of {team} (members: {}); team membership comes from the directory in the config, not from the token",
                names.join(", ")
            );
        }
    }
    Ok(())
}

fn parse_role(raw: &str) -> anyhow::Result<Role> {
    match raw {
        "admin" => Ok(Role::Admin),
        "scheduler" => Ok(Role::Scheduler),
        other => bail!("unknown role `{other}`: use admin or scheduler"),
    }
}

async fn run_gateway(config: PathBuf) -> anyhow::Result<()> {
    let config = SignoffConfig::load(&config)?;
    let handle = signoff_api::dev::start_gateway(&config, Arc::new(SystemClock)).await?;
    tracing::info!(
        nats = %signoff_client::redacted_url(&config.nats_url),
        cache_requests = config.gateway.cache_requests,
        max_in_flight = config.gateway.max_in_flight,
        "gateway running; Ctrl-C stops it"
    );
    tokio::signal::ctrl_c().await?;
    handle.shutdown().await;
    Ok(())
}
