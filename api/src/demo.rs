//! The demo feed of `signoff dev`: one request of each kind from the product
//! guide, asked through `signoff-client` by an application ("alice"), with
//! simulated approvers acting on them — approvals, a rejection, a
//! cancellation, an expiry and an escalation (times shortened so the demo
//! takes about a minute) — while a timeline of every event and decision is
//! printed as it is read back from the log. It ends by verifying the audit
//! trail of the running query API against the log.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use signoff_client::{
    decision_of, Approval, ApprovalConfig, ApprovalContext, ApprovalError, ConnectOptions,
    CustomLogic, Escalation, OnApproved, OnRejected, Requirement, Signoff, Stage,
};
use signoff_engine::{ApprovalEvent, RequestId, Role, Status};
use tokio::task::JoinHandle;

use crate::cli::{decision_line, event_text};
use crate::config::SignoffConfig;
use crate::identity::TokenIssuer;

/// Who does what on a request, in order.
#[derive(Clone, Debug)]
enum Step {
    Approve(&'static str, &'static str),
    Reject(&'static str, &'static str),
    Cancel(&'static str),
    /// Approve with as many members of the current stage as its quorum needs.
    ApproveQuorum(&'static [&'static str]),
    /// Wait until the request has escalated to this level.
    AwaitEscalation(u32),
    /// Do nothing: let the scheduler decide.
    Nobody,
}

struct Demo {
    app: Signoff,
    issuer: TokenIssuer,
    nats_url: String,
    stream: signoff_eventstore::StreamSettings,
    people: tokio::sync::Mutex<HashMap<&'static str, Signoff>>,
}

impl Demo {
    async fn person(&self, user: &'static str) -> anyhow::Result<Signoff> {
        let mut people = self.people.lock().await;
        if let Some(signoff) = people.get(user) {
            return Ok(signoff.clone());
        }
        let mut options =
            ConnectOptions::new(self.nats_url.clone(), self.issuer.issue(user, &[], 3600));
        options.stream = self.stream.clone();
        let signoff = Signoff::connect(options).await?;
        people.insert(user, signoff.clone());
        Ok(signoff)
    }

    /// Plays `steps` on request `id` once it is in the log.
    async fn play(self: Arc<Self>, id: RequestId, delay: Duration, steps: Vec<Step>) {
        if let Err(e) = self.clone().try_play(id, delay, steps).await {
            println!("  ! demo approver on {}: {e:#}", short(id));
        }
    }

    async fn try_play(
        self: Arc<Self>,
        id: RequestId,
        delay: Duration,
        steps: Vec<Step>,
    ) -> anyhow::Result<()> {
        while self.app.request(id).await?.is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(delay).await;
        for step in steps {
            tokio::time::sleep(Duration::from_millis(400)).await;
            match step {
                Step::Approve(user, comment) => {
                    self.person(user).await?.approve(id, Some(comment)).await?;
                }
                Step::Reject(user, reason) => {
                    self.person(user).await?.reject(id, reason).await?;
                }
                Step::Cancel(reason) => {
                    self.app.cancel(id, Some(reason)).await?;
                }
                Step::ApproveQuorum(candidates) => {
                    let state = self.app.request(id).await?.context("request gone")?;
                    let plan = &state.submitted.as_ref().context("not submitted")?.plan;
                    let needed = plan.stages[state.current_stage as usize].min_approvals as usize;
                    let mut done = 0;
                    for user in candidates {
                        if done == needed {
                            break;
                        }
                        // Only people the plan made eligible can approve; others are refused.
                        if self
                            .person(user)
                            .await?
                            .approve(id, Some("fine by the rule that applied"))
                            .await
                            .is_ok()
                        {
                            done += 1;
                            tokio::time::sleep(Duration::from_millis(300)).await;
                        }
                    }
                }
                Step::AwaitEscalation(level) => loop {
                    let state = self.app.request(id).await?.context("request gone")?;
                    if state.escalation_level >= level || state.status.is_terminal() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                },
                Step::Nobody => {}
            }
        }
        Ok(())
    }
}

fn short(id: RequestId) -> String {
    id.0.to_string()[..8].to_owned()
}

type Failure = std::io::Error;

/// Runs `approval` like an application would, reporting the typed outcome.
fn launch<A, R>(name: &'static str, approval: Approval<A, R>) -> (RequestId, JoinHandle<String>)
where
    A: OnApproved<String> + 'static,
    R: OnRejected + 'static,
{
    let id = approval.request_id();
    let task = tokio::spawn(async move {
        let outcome = approval
            .run(move || async move { Ok::<_, Failure>(format!("{name}: done")) })
            .await;
        report(id, outcome)
    });
    (id, task)
}

fn report<T: std::fmt::Display>(
    id: RequestId,
    outcome: Result<T, ApprovalError<Failure>>,
) -> String {
    match outcome {
        Ok(value) => format!("  ↳ app {}: approved, the action ran → {value}", short(id)),
        Err(ApprovalError::Rejected { by, reason, .. }) => format!(
            "  ↳ app {}: Rejected by {}: \"{reason}\" — the action did not run",
            short(id),
            by.map(|u| u.to_string())
                .unwrap_or_else(|| "the expiry rule".into())
        ),
        Err(ApprovalError::Expired { .. }) => {
            format!("  ↳ app {}: Expired — the action did not run", short(id))
        }
        Err(ApprovalError::Cancelled { by, .. }) => format!(
            "  ↳ app {}: Cancelled by {by} — the action did not run",
            short(id)
        ),
        Err(other) => format!("  ↳ app {}: {other}", short(id)),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Transfer {
    from_account: String,
    to_account: String,
    amount: u64,
}

#[derive(Deserialize)]
struct Deployment {
    version: String,
    environment: String,
}

/// Prints every commit from stream sequence `start` on, as it is appended.
async fn timeline(app: Signoff, start: u64) -> anyhow::Result<()> {
    let mut titles: HashMap<RequestId, String> = HashMap::new();
    let mut commits = Box::pin(app.store().watch_all().await?);
    while let Some(stored) = commits.next().await {
        let stored = stored?;
        if stored.sequence < start {
            continue;
        }
        let id = stored.commit.request_id;
        let at = stored.commit.at.format("%H:%M:%S");
        for event in &stored.commit.events {
            if let ApprovalEvent::RequestSubmitted(s) = event {
                titles.insert(id, s.plan.title.clone());
                let stages: Vec<String> = s
                    .plan
                    .stages
                    .iter()
                    .map(|stage| {
                        let who: Vec<String> =
                            stage.approvers.iter().map(|p| p.to_string()).collect();
                        format!("{} of {}", stage.min_approvals, who.join(" + "))
                    })
                    .collect();
                println!(
                    "{at}  {}  \"{}\"  submitted by {} → needs {}",
                    short(id),
                    s.plan.title,
                    s.requester.user,
                    if stages.is_empty() {
                        "no approval (condition false)".into()
                    } else {
                        stages.join(", then ")
                    }
                );
            } else if let Some(text) = event_text(event) {
                let title = titles.get(&id).cloned().unwrap_or_default();
                println!("{at}  {}  \"{title}\"  {text}", short(id));
            }
        }
        if let Some(decided) = decision_of(app.store(), &stored).await? {
            println!(
                "{}",
                decision_line(&decided).replacen(&id.to_string(), &short(id), 1)
            );
        }
    }
    Ok(())
}

/// Runs the demo against a running system; returns once every demo request
/// is decided and the audit trail is verified (with what was verified).
pub async fn run(config: &SignoffConfig, api_url: &str) -> anyhow::Result<String> {
    let issuer = TokenIssuer::new(&config.auth)?;
    let mut options =
        ConnectOptions::new(config.nats_url.clone(), issuer.issue("alice", &[], 3600));
    options.stream = config.stream.settings();
    let app = Signoff::connect(options).await?;
    let start = crate::audit::last_sequence(app.store()).await? + 1;
    let printer = tokio::spawn(timeline(app.clone(), start));
    let demo = Arc::new(Demo {
        app: app.clone(),
        issuer: TokenIssuer::new(&config.auth)?,
        nats_url: config.nats_url.clone(),
        stream: config.stream.settings(),
        people: tokio::sync::Mutex::new(HashMap::new()),
    });
    println!("\n── demo: one request of each kind from the guide, asked by the app `alice` ──");
    println!(
        "   (expiry shortened to 10 s and escalation to 1 min so it all fits in about a minute)\n"
    );

    let mut outcomes: Vec<JoinHandle<String>> = Vec::new();
    let mut scripts: Vec<JoinHandle<()>> = Vec::new();
    let mut play = |id: RequestId, delay_ms: u64, steps: Vec<Step>| {
        scripts.push(tokio::spawn(demo.clone().play(
            id,
            Duration::from_millis(delay_ms),
            steps,
        )));
    };

    let (id, task) = launch(
        "Important Action",
        app.require_approval(
            ApprovalConfig::new("Important Action")
                .description("This action requires approval")
                .approvers(["user_123"]),
        ),
    );
    outcomes.push(task);
    play(id, 0, vec![Step::Approve("user_123", "ok")]);

    let (id, task) = launch(
        "Security Change",
        app.require_approval(
            ApprovalConfig::new("Security Change")
                .description("Update to security settings")
                .approvers(["security-team"]),
        ),
    );
    outcomes.push(task);
    play(
        id,
        300,
        vec![Step::Reject("sam", "not during the change freeze")],
    );

    let (id, task) = launch(
        "Critical System Change",
        app.require_approval(
            ApprovalConfig::new("Critical System Change")
                .description("Update to core system settings")
                .approvers(["user_123", "user_456", "security-team"])
                .min_approvals(3),
        ),
    );
    outcomes.push(task);
    play(
        id,
        600,
        vec![
            Step::Approve("user_123", "ok"),
            Step::Approve("user_456", "ok"),
            Step::Approve("sofia", "reviewed the diff"),
        ],
    );

    let (id, task) = launch(
        "Sequential chain",
        app.require_sequential_approval([
            Stage::new("Manager Approval", ["manager-team"])
                .description("First-level approval by manager"),
            Stage::new("Security Review", ["security-team"]).description("Security team review"),
            Stage::new("Executive Sign-off", ["executive-team"])
                .description("Final executive approval"),
        ]),
    );
    outcomes.push(task);
    play(
        id,
        900,
        vec![
            Step::Approve("mike", "budget ok"),
            Step::Approve("sofia", "no findings"),
            Step::Approve("ed", "go"),
        ],
    );

    for (amount, steps) in [
        (
            50_000u64,
            vec![
                Step::Approve("fiona", "verified the payee"),
                Step::Approve("sam", "no fraud signals"),
            ],
        ),
        (500, vec![Step::Approve("frank", "routine")]),
    ] {
        let approval = app
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
        let id = approval.request_id();
        outcomes.push(tokio::spawn(async move {
            let outcome = approval
                .run_with(|t: Transfer| async move {
                    Ok::<_, Failure>(format!(
                        "transferred ${} from {} to {}",
                        t.amount, t.from_account, t.to_account
                    ))
                })
                .await;
            report(id, outcome)
        }));
        play(id, 1200, steps);
    }

    let (id, task) = launch(
        "Time-Sensitive Action",
        app.require_approval(
            ApprovalConfig::new("Time-Sensitive Action")
                .description("Must be approved within 10 seconds (the guide says 1 hour)")
                .approvers(["operations-team"])
                .expires_in(Duration::from_secs(10)),
        ),
    );
    outcomes.push(task);
    play(id, 0, vec![Step::Nobody]);

    let (id, task) = launch(
        "Critical Fix",
        app.require_approval(
            ApprovalConfig::new("Critical Fix")
                .description("Apply critical system fix (escalates after 1 min; the guide says 15)")
                .approvers(["on-call-team"])
                .escalation(
                    Escalation::after_minutes(1, ["manager-team"])
                        .then_after_minutes(2, ["executive-team"]),
                ),
        ),
    );
    outcomes.push(task);
    play(
        id,
        0,
        vec![
            Step::AwaitEscalation(1),
            Step::Approve("maria", "on-call is asleep; approving as manager"),
        ],
    );

    let (id, task) = launch(
        "Complex Decision",
        app.require_custom_approval(
            ApprovalConfig::new("Complex Decision").description("Requires custom approval logic"),
            CustomLogic::new()
                .time_zone("Europe/Berlin")
                .rule(
                    "hour >= 9 && hour <= 17",
                    Requirement::new(["manager-team"]).min_approvals(1),
                )
                .otherwise(Requirement::new(["on-call-team", "manager-team"]).min_approvals(2)),
        ),
    );
    outcomes.push(task);
    play(
        id,
        1500,
        vec![Step::ApproveQuorum(&["mike", "oscar", "maria"])],
    );

    let (id, task) = launch(
        "Database Schema Change",
        app.require_approval(
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
        ),
    );
    outcomes.push(task);
    play(
        id,
        1800,
        vec![Step::Approve("dana", "index is online-safe")],
    );

    let jira = app
        .require_approval(
            ApprovalConfig::new("Create Jira Issue")
                .description("Create new high-priority issue in Jira")
                .approvers(["project-managers"]),
        )
        .params(json!({"summary": "Checkout fails for EU cards", "priority": "high"}))
        .on_approved(|issue: String, context: ApprovalContext| async move {
            let approvers: Vec<String> = context.approvers.iter().map(|u| u.to_string()).collect();
            println!(
                "  ↳ onApproved {}: external audit record {{action: issue_created, approvedBy: [{}]}}",
                short(context.request_id),
                approvers.join(", ")
            );
            issue
        });
    let id = jira.request_id();
    outcomes.push(tokio::spawn(async move {
        let outcome = jira
            .run_with(|issue: serde_json::Value| async move {
                Ok::<_, Failure>(format!(
                    "created issue \"{}\"",
                    issue["summary"].as_str().unwrap_or_default()
                ))
            })
            .await;
        report(id, outcome)
    }));
    play(id, 2100, vec![Step::Approve("paul", "priority confirmed")]);

    let deploy = app
        .require_approval(
            ApprovalConfig::new("Production Deployment")
                .description("Deploy new version to production")
                .approvers(["release-managers"])
                .ui_component("DeploymentApprovalForm")
                .ui_config(
                    json!({"showDiff": true, "showTests": true, "allowPartialApproval": false}),
                ),
        )
        .params(json!({"version": "1.4.2", "environment": "production"}));
    let id = deploy.request_id();
    outcomes.push(tokio::spawn(async move {
        let outcome = deploy
            .run_with(|d: Deployment| async move {
                Ok::<_, Failure>(format!("deployed {} to {}", d.version, d.environment))
            })
            .await;
        report(id, outcome)
    }));
    play(id, 2400, vec![Step::Approve("rita", "tests green")]);

    let (id, task) = launch(
        "Withdrawn Change",
        app.require_approval(
            ApprovalConfig::new("Withdrawn Change")
                .description("Asked by mistake")
                .approvers(["user_456"]),
        ),
    );
    outcomes.push(task);
    play(id, 2700, vec![Step::Cancel("asked by mistake")]);

    let all = futures::future::join_all(outcomes);
    let outcomes = tokio::time::timeout(Duration::from_secs(240), all)
        .await
        .context("the demo requests were not all decided within 4 minutes")?;
    for script in scripts {
        let _ = script.await;
    }
    settle().await;
    println!("\n── what the application saw ──");
    for outcome in outcomes {
        println!("{}", outcome.unwrap_or_else(|e| format!("  ! {e}")));
    }
    println!("\n── audit: the query API's trail checked against the log ──");
    let admin = issuer.issue("demo-auditor", &[Role::Admin], 600);
    let summary =
        crate::audit::verify_api(app.store(), api_url, &admin, Duration::from_secs(30)).await?;
    let statuses = count_statuses(&app).await;
    println!("requests by status: {statuses}");
    printer.abort();
    Ok(format!(
        "audit verified ({} records over {} requests, head {})",
        summary.records, summary.requests, summary.head
    ))
}

/// Lets the timeline print the last commits before the summary.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

async fn count_statuses(app: &Signoff) -> String {
    let Ok(stream) = app
        .store()
        .jetstream()
        .get_stream(&app.store().settings().name)
        .await
    else {
        return String::new();
    };
    let subjects = stream
        .info_with_subjects(app.store().settings().all_subjects())
        .await;
    let mut counts: HashMap<Status, usize> = HashMap::new();
    if let Ok(mut subjects) = subjects {
        while let Some(Ok((subject, _))) = subjects.next().await {
            let Some(id) = subject
                .rsplit('.')
                .next()
                .and_then(|s| s.parse().ok())
                .map(RequestId)
            else {
                continue;
            };
            if let Ok(Some(state)) = app.request(id).await {
                *counts.entry(state.status).or_default() += 1;
            }
        }
    }
    let mut parts: Vec<String> = counts
        .into_iter()
        .map(|(status, n)| format!("{status:?} {n}").to_lowercase())
        .collect();
    parts.sort();
    parts.join(", ")
}
