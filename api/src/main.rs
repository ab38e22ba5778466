//! The `signoff` command: `dev` runs everything locally; `gateway` runs one
//! command gateway; `token issue` makes identity tokens; `submit`, `approve`,
//! `reject`, `cancel` and `watch` talk to a running system.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use serde_json::json;
use signoff_api::client::{wait_for_decision, CommandClient};
use signoff_api::clock::SystemClock;
use signoff_api::config::SignoffConfig;
use signoff_api::identity::TokenIssuer;
use signoff_engine::{RequestId, Role};
use signoff_eventstore::EventStore;
use signoff_schemas::Reply;
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

#[derive(clap::Args)]
struct Connection {
    /// Config file (signoff.json); `signoff dev` writes one into its data dir.
    #[arg(
        long,
        env = "SIGNOFF_CONFIG",
        default_value = ".signoff-dev/signoff.json"
    )]
    config: PathBuf,
    /// Identity token; default: one issued from the config's key for --as.
    #[arg(long, env = "SIGNOFF_TOKEN")]
    token: Option<String>,
    /// With no --token, issue a token for this user from the config (dev only).
    #[arg(long = "as", env = "SIGNOFF_USER")]
    user: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole system locally: a JetStream server and the gateway.
    Dev {
        #[arg(long, default_value = ".signoff-dev")]
        data_dir: PathBuf,
        /// NATS client port (default: any free port).
        #[arg(long)]
        port: Option<u16>,
        /// Where the HTTP query API listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: std::net::SocketAddr,
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
    /// Follow a request's log until its decision.
    Watch {
        #[command(flatten)]
        connection: Connection,
        request_id: Uuid,
        #[arg(long, default_value_t = 3600)]
        timeout_secs: u64,
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
        } => {
            signoff_api::dev::run(signoff_api::dev::DevOptions {
                data_dir,
                port,
                http,
            })
            .await
        }
        Command::Gateway { config } => run_gateway(config).await,
        Command::Projector { config, db, http } => {
            let config = SignoffConfig::load(&config)?;
            let read_side = signoff_api::readside::start(&config, &db, http).await?;
            println!("query API: {}", read_side.http_url());
            tracing::info!(db = %db.display(), "projector running; Ctrl-C stops it");
            tokio::signal::ctrl_c().await?;
            read_side.shutdown().await;
            Ok(())
        }
        Command::Rebuild { config, db } => {
            let config = SignoffConfig::load(&config)?;
            let client = async_nats::connect(&config.nats_url).await?;
            let projection = signoff_projections::ProjectionDb::open(&db)?;
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
                    ttl_secs,
                },
        } => {
            let config = SignoffConfig::load(&config)?;
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
        } => {
            let spec_text = if spec.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&spec)
                    .with_context(|| format!("reading {}", spec.display()))?
            };
            let spec: serde_json::Value =
                serde_json::from_str(&spec_text).context("the spec is not JSON")?;
            let params: serde_json::Value =
                serde_json::from_str(&params).context("--params is not JSON")?;
            let body = json!({
                "commandId": Uuid::new_v4(),
                "requestId": request_id.unwrap_or_else(Uuid::new_v4),
                "spec": spec,
                "params": params,
            });
            send(&connection, "submit", body).await
        }
        Command::Approve {
            connection,
            request_id,
            comment,
        } => {
            act(
                &connection,
                "approve",
                request_id,
                json!({"comment": comment}),
            )
            .await
        }
        Command::Reject {
            connection,
            request_id,
            reason,
        } => act(&connection, "reject", request_id, json!({"reason": reason})).await,
        Command::Cancel {
            connection,
            request_id,
            reason,
        } => act(&connection, "cancel", request_id, json!({"reason": reason})).await,
        Command::Watch {
            connection,
            request_id,
            timeout_secs,
        } => {
            let config = SignoffConfig::load(&connection.config)?;
            let client = async_nats::connect(&config.nats_url).await?;
            let store = EventStore::open(client, config.stream.settings()).await?;
            match wait_for_decision(
                &store,
                RequestId(request_id),
                Duration::from_secs(timeout_secs),
            )
            .await?
            {
                Some((stored, decision)) => {
                    println!("{} at stream sequence {}", decision.name(), stored.sequence);
                    Ok(())
                }
                None => bail!("no decision within {timeout_secs} s"),
            }
        }
    }
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
    tracing::info!(nats = %config.nats_url, "gateway running; Ctrl-C stops it");
    tokio::signal::ctrl_c().await?;
    handle.shutdown().await;
    Ok(())
}

/// Sends `action` on an existing request: a fresh command id, the request id and `fields`.
async fn act(
    connection: &Connection,
    action: &str,
    request_id: Uuid,
    fields: serde_json::Value,
) -> anyhow::Result<()> {
    let mut body = json!({"commandId": Uuid::new_v4(), "requestId": request_id});
    if let (Some(body), serde_json::Value::Object(fields)) = (body.as_object_mut(), fields) {
        body.extend(fields);
    }
    send(connection, action, body).await
}

async fn send(
    connection: &Connection,
    action: &str,
    body: serde_json::Value,
) -> anyhow::Result<()> {
    let config = SignoffConfig::load(&connection.config)?;
    let token = match (&connection.token, &connection.user) {
        (Some(token), _) => token.clone(),
        (None, Some(user)) => TokenIssuer::new(&config.auth)?.issue(user, &[], 300),
        (None, None) => {
            bail!("give --token (or SIGNOFF_TOKEN), or --as USER to issue one from the config")
        }
    };
    let client = async_nats::connect(&config.nats_url).await?;
    let reply = CommandClient::new(client, token)
        .send(action, &body)
        .await?;
    println!("{}", serde_json::to_string_pretty(&reply)?);
    match reply {
        Reply::Accepted(_) => Ok(()),
        Reply::Error(e) => bail!("{}: {}", e.code, e.message),
    }
}
