//! The approver's side of the `signoff` CLI: inbox, show, approve, reject,
//! cancel, submit and watch, through the `signoff-client` crate (commands on
//! the bus, state read from the log) and the HTTP query API (inboxes).
//! Every refusal is printed as the gateway's code, message and field, and
//! the process exits non-zero.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde_json::{json, Value};
use signoff_client::{CommandError, ConnectOptions, DecidedRequest, Decision, Signoff};
use signoff_engine::plan::Resolution;
use signoff_engine::{ApprovalEvent, ApprovalRequest, RequestId};
use signoff_schemas::Accepted;
use uuid::Uuid;

use crate::config::SignoffConfig;
use crate::identity::TokenIssuer;

/// Where signoff is and who is acting.
#[derive(clap::Args, Clone, Debug)]
pub struct Connection {
    /// Config file (signoff.json); `signoff dev` writes one into its data dir.
    #[arg(
        long,
        env = "SIGNOFF_CONFIG",
        default_value = ".signoff-dev/signoff.json"
    )]
    pub config: PathBuf,
    /// Identity token; default: one issued from the config's key for --as.
    #[arg(long, env = "SIGNOFF_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// With no --token, issue a short-lived token for this user from the
    /// config's signing key (local identities only).
    #[arg(long = "as", env = "SIGNOFF_USER")]
    pub user: Option<String>,
}

impl Connection {
    fn token(&self, config: &SignoffConfig) -> anyhow::Result<String> {
        match (&self.token, &self.user) {
            (Some(token), _) => Ok(token.clone()),
            (None, Some(user)) => Ok(TokenIssuer::new(&config.auth)?.issue(user, &[], 300)),
            (None, None) => {
                bail!("give --token (or SIGNOFF_TOKEN), or --as USER to issue one from the config")
            }
        }
    }

    pub async fn connect(&self) -> anyhow::Result<(SignoffConfig, Signoff, String)> {
        let config = SignoffConfig::load(&self.config)?;
        let token = self.token(&config)?;
        let mut options = ConnectOptions::new(config.nats_url.clone(), token.clone());
        options.stream = config.stream.settings();
        let signoff = Signoff::connect(options).await.with_context(|| {
            format!(
                "connecting to signoff at {}",
                signoff_client::redacted_url(&config.nats_url)
            )
        })?;
        Ok((config, signoff, token))
    }
}

fn refused(action: &str, id: Option<RequestId>, error: CommandError) -> anyhow::Error {
    let on = id.map(|i| format!(" {i}")).unwrap_or_default();
    match error {
        CommandError::Refused {
            code,
            message,
            field,
        } => {
            let field = field.map(|f| format!(" (field `{f}`)")).unwrap_or_default();
            anyhow::anyhow!("{action}{on} refused: {code}: {message}{field}")
        }
        CommandError::Transport(e) => anyhow::anyhow!("{action}{on} not delivered: {e}"),
    }
}

fn accepted_line(verb: &str, accepted: &Accepted) -> String {
    let state = &accepted.state;
    let stage = if state.stage_count > 0 && state.current_stage < state.stage_count {
        format!(", stage {}/{}", state.current_stage + 1, state.stage_count)
    } else {
        String::new()
    };
    let status = format!("{:?}", state.status).to_lowercase();
    format!(
        "{verb} {}: now {status}{stage} (events: {}; stream sequence {}{})",
        accepted.request_id,
        accepted.events.join(", "),
        accepted.sequence,
        if accepted.duplicate {
            "; a retry of a command already applied"
        } else {
            ""
        }
    )
}

/// `signoff approve|reject|cancel ID`.
pub async fn act(
    connection: &Connection,
    action: &str,
    id: Uuid,
    note: Option<&str>,
) -> anyhow::Result<()> {
    let (_, signoff, _) = connection.connect().await?;
    let id = RequestId(id);
    let result = match action {
        "approve" => signoff.approve(id, note).await,
        "reject" => {
            signoff
                .reject(id, note.context("a rejection needs --reason")?)
                .await
        }
        "cancel" => signoff.cancel(id, note).await,
        other => bail!("unknown action {other}"),
    };
    let accepted = result.map_err(|e| refused(action, Some(id), e))?;
    let verb = match action {
        "approve" => "approved",
        "reject" => "rejected",
        _ => "cancelled",
    };
    println!("{}", accepted_line(verb, &accepted));
    Ok(())
}

/// `signoff submit --spec FILE [--params JSON] [--wait]`.
pub async fn submit(
    connection: &Connection,
    spec: &std::path::Path,
    params: &str,
    request_id: Option<Uuid>,
    wait: Option<u64>,
) -> anyhow::Result<()> {
    let spec_text = if spec.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(spec).with_context(|| format!("reading {}", spec.display()))?
    };
    let spec: Value = serde_json::from_str(&spec_text).context("the spec is not JSON")?;
    let params: Value = serde_json::from_str(params).context("--params is not JSON")?;
    let (_, signoff, _) = connection.connect().await?;
    let id = RequestId(request_id.unwrap_or_else(Uuid::new_v4));
    let body =
        json!({"commandId": Uuid::new_v4(), "requestId": id.0, "spec": spec, "params": params});
    let accepted = signoff
        .send("submit", &body)
        .await
        .map_err(|e| refused("submit", Some(id), e))?;
    println!("{}", accepted_line("submitted", &accepted));
    if let Some(secs) = wait {
        let outcome = signoff
            .wait(id, Duration::from_secs(secs))
            .await
            .with_context(|| format!("waiting for the decision on {id}"))?;
        println!("{}", decision_line(&outcome.decided));
    }
    Ok(())
}

/// `signoff show ID`: the request as its log tells it.
pub async fn show(connection: &Connection, id: Uuid) -> anyhow::Result<()> {
    let (_, signoff, _) = connection.connect().await?;
    let id = RequestId(id);
    let state = signoff
        .request(id)
        .await?
        .with_context(|| format!("request {id} is not in the log"))?;
    print!("{}", render_request(&state));
    Ok(())
}

fn pretty(value: &Value, indent: &str) -> String {
    serde_json::to_string_pretty(value)
        .unwrap_or_default()
        .lines()
        .map(|l| format!("{indent}{l}\n"))
        .collect()
}

fn resolution_text(resolution: &Resolution) -> String {
    match resolution {
        Resolution::Condition {
            expression,
            result,
            branch,
            then,
        } => format!(
            "condition `{expression}` was {result} → {branch} ({})",
            resolution_text(then)
        ),
        other => serde_json::to_value(other)
            .ok()
            .map(|v| match v {
                Value::String(s) => s,
                v => v.to_string(),
            })
            .unwrap_or_default(),
    }
}

/// A request rendered for people: status, who may act, parameters, context,
/// UI hints, votes and execution.
pub fn render_request(state: &ApprovalRequest) -> String {
    let mut out = String::new();
    let Some(submitted) = &state.submitted else {
        return "not submitted\n".into();
    };
    let plan = &submitted.plan;
    let _ = writeln!(
        out,
        "{}  {}  [{:?}]",
        submitted.request_id, plan.title, state.status
    );
    if let Some(description) = &plan.description {
        let _ = writeln!(out, "  {description}");
    }
    let _ = writeln!(
        out,
        "  requested by {} at {}",
        submitted.requester.user,
        submitted.submitted_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let _ = writeln!(out, "  how chosen: {}", resolution_text(&plan.resolution));
    if let Some(expires_at) = plan.expires_at {
        let _ = writeln!(
            out,
            "  expires at {} (onExpiry: {:?}){}",
            expires_at.format("%Y-%m-%d %H:%M:%S UTC"),
            plan.on_expiry,
            plan.business_hours
                .as_ref()
                .map(|c| format!(", counted in business hours of {c}"))
                .unwrap_or_default()
        );
    }
    for level in &plan.escalation {
        let to: Vec<String> = level.to.iter().map(|p| p.to_string()).collect();
        let _ = writeln!(
            out,
            "  escalation level {}: after {} min ({}) → {}{}",
            level.level,
            level.after_minutes,
            level.due_at.format("%H:%M UTC"),
            to.join(", "),
            if state.escalation_level >= level.level {
                "  [escalated]"
            } else {
                ""
            }
        );
    }
    for (i, stage) in plan.stages.iter().enumerate() {
        let progress = state.stages.get(i);
        let approvals = progress.map(|p| p.approvals.len()).unwrap_or(0);
        let marker = if (i as u32) < state.current_stage {
            "done"
        } else if i as u32 == state.current_stage && !state.status.is_terminal() {
            "current"
        } else {
            ""
        };
        let approvers: Vec<String> = stage.approvers.iter().map(|p| p.to_string()).collect();
        let _ = writeln!(
            out,
            "  stage {}/{}: {} — {approvals}/{} approvals {}",
            i + 1,
            plan.stages.len(),
            stage.title,
            stage.min_approvals,
            if marker.is_empty() {
                String::new()
            } else {
                format!("[{marker}]")
            }
        );
        let _ = writeln!(out, "      approvers: {}", approvers.join(", "));
        if let Some(progress) = progress {
            for vote in &progress.approvals {
                let _ = writeln!(
                    out,
                    "      ✓ {} at {}{}",
                    vote.by.user,
                    vote.at.format("%H:%M:%S"),
                    vote.note
                        .as_ref()
                        .map(|n| format!(" — \"{n}\""))
                        .unwrap_or_default()
                );
            }
            for vote in &progress.rejections {
                let _ = writeln!(
                    out,
                    "      ✗ {} at {} — \"{}\"",
                    vote.by.user,
                    vote.at.format("%H:%M:%S"),
                    vote.note.as_deref().unwrap_or("")
                );
            }
        }
    }
    let _ = writeln!(out, "  parameters ({}):", submitted.params_hash);
    out.push_str(&pretty(&submitted.params.to_value(), "      "));
    if let (Some(context), Some(hash)) = (&submitted.context, &submitted.context_hash) {
        let _ = writeln!(out, "  context ({hash}):");
        out.push_str(&pretty(&context.to_value(), "      "));
    }
    if plan.ui_component.is_some() || plan.ui_config.is_some() {
        let _ = writeln!(
            out,
            "  dashboard component: {}",
            plan.ui_component.as_deref().unwrap_or("(default)")
        );
        if let Some(config) = &plan.ui_config {
            out.push_str("      uiConfig:\n");
            out.push_str(&pretty(&config.to_value(), "        "));
        }
    }
    if let Some(execution) = &state.execution {
        let _ = writeln!(
            out,
            "  execution: {:?} at {} by {}{}",
            execution.outcome,
            execution.at.format("%Y-%m-%d %H:%M:%S UTC"),
            execution.by.user,
            execution
                .summary
                .as_ref()
                .map(|s| format!(" — {s}"))
                .unwrap_or_default()
        );
    }
    out
}

/// One line for a decision.
pub fn decision_line(decided: &DecidedRequest) -> String {
    let what = match &decided.decision {
        Decision::Approved {
            approvers, basis, ..
        } => {
            let names: Vec<&str> = approvers.iter().map(|u| u.as_str()).collect();
            match basis {
                signoff_client::ApprovalBasis::Quorum => {
                    format!("APPROVED by {}", names.join(", "))
                }
                signoff_client::ApprovalBasis::NotRequired => {
                    "APPROVED (no approval required: the condition was false)".into()
                }
                signoff_client::ApprovalBasis::ExpiryRule { .. } => {
                    "APPROVED by the expiry rule (onExpiry: approve)".into()
                }
            }
        }
        Decision::Rejected { by, reason, .. } => match by {
            Some(by) => format!("REJECTED by {by}: \"{reason}\""),
            None => format!("REJECTED: {reason}"),
        },
        Decision::Expired { stage, .. } => match stage {
            Some(stage) => format!("EXPIRED (stage {} ran out of time)", stage + 1),
            None => "EXPIRED undecided".into(),
        },
        Decision::Cancelled { by, reason, .. } => format!(
            "CANCELLED by {by}{}",
            reason
                .as_ref()
                .map(|r| format!(": \"{r}\""))
                .unwrap_or_default()
        ),
    };
    format!(
        "{}  {}  \"{}\"  {what}",
        decided.decision.at().format("%H:%M:%S"),
        decided.request_id,
        decided.title
    )
}

/// `signoff watch [ID]`: one request's decision, or every decision live.
pub async fn watch(
    connection: &Connection,
    id: Option<Uuid>,
    timeout_secs: u64,
    from_start: bool,
) -> anyhow::Result<()> {
    let (_, signoff, _) = connection.connect().await?;
    if let Some(id) = id {
        let outcome = signoff
            .wait(RequestId(id), Duration::from_secs(timeout_secs))
            .await
            .with_context(|| format!("waiting for the decision on {id}"))?;
        println!("{}", decision_line(&outcome.decided));
        return Ok(());
    }
    let start = if from_start {
        1
    } else {
        let mut stream = signoff
            .store()
            .jetstream()
            .get_stream(&signoff.store().settings().name)
            .await?;
        stream.info().await?.state.last_sequence + 1
    };
    eprintln!("watching decisions (Ctrl-C stops)...");
    let mut feed = signoff.decisions().starting_at(start).await?;
    while let Some(item) = feed.next().await {
        println!("{}", decision_line(&item?.decided));
    }
    Ok(())
}

/// `signoff inbox [--user U]`: what waits for the caller (or, for admins, anyone).
pub async fn inbox(connection: &Connection, api: &str, user: Option<&str>) -> anyhow::Result<()> {
    let config = SignoffConfig::load(&connection.config)?;
    let token = connection.token(&config)?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = match user {
        Some(user) => format!("{}/v1/inbox/{user}", api.trim_end_matches('/')),
        None => format!("{}/v1/inbox", api.trim_end_matches('/')),
    };
    let response = reqwest::Client::new()
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("reading {url} (is the query API running? see --api)"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("{url} did not answer JSON"))?;
    if !status.is_success() {
        bail!(
            "{url}: {status}: {}: {}",
            body["code"].as_str().unwrap_or("ERROR"),
            body["message"].as_str().unwrap_or("")
        );
    }
    let items = body["items"].as_array().cloned().unwrap_or_default();
    println!(
        "inbox of {} (teams: {}): {} waiting",
        body["user"].as_str().unwrap_or("?"),
        body["teams"]
            .as_array()
            .map(|t| t
                .iter()
                .filter_map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default(),
        items.len()
    );
    for item in items {
        println!(
            "  {}  {}  — stage \"{}\" via {}, asked by {} at {}{}",
            item["requestId"].as_str().unwrap_or("?"),
            item["title"].as_str().unwrap_or("?"),
            item["stageTitle"].as_str().unwrap_or("?"),
            principal_text(&item["principal"]),
            item["requester"].as_str().unwrap_or("?"),
            item["submittedAt"].as_str().unwrap_or("?"),
            item["expiresAt"]
                .as_str()
                .map(|e| format!(", expires {e}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

fn principal_text(value: &Value) -> String {
    if let Some(user) = value.get("user").and_then(|v| v.as_str()) {
        format!("user {user}")
    } else if let Some(team) = value.get("team").and_then(|v| v.as_str()) {
        format!("team {team}")
    } else {
        value.to_string()
    }
}

/// A decision's events, for timelines.
pub fn event_text(event: &ApprovalEvent) -> Option<String> {
    Some(match event {
        ApprovalEvent::ApprovalGranted(v) => format!(
            "{} approved stage {}{}",
            v.by.user,
            v.stage + 1,
            v.note
                .as_ref()
                .map(|n| format!(" — \"{n}\""))
                .unwrap_or_default()
        ),
        ApprovalEvent::RejectionRecorded(v) => format!(
            "{} rejected stage {} — \"{}\"",
            v.by.user,
            v.stage + 1,
            v.note.as_deref().unwrap_or("")
        ),
        ApprovalEvent::StageApproved(s) => format!("stage {} approved", s.stage + 1),
        ApprovalEvent::RequestEscalated(e) => {
            let to: Vec<String> = e.added.iter().map(|p| p.to_string()).collect();
            format!("escalated (level {}) to {}", e.level, to.join(", "))
        }
        ApprovalEvent::ReminderSent(r) => {
            let to: Vec<String> = r.to.iter().map(|p| p.to_string()).collect();
            format!("reminder {} sent to {}", r.number, to.join(", "))
        }
        ApprovalEvent::ExecutionRecorded(x) => format!(
            "action ran: {:?}{}",
            x.outcome,
            x.summary
                .as_ref()
                .map(|s| format!(" — {s}"))
                .unwrap_or_default()
        ),
        _ => return None,
    })
}
