//! The approver CLI as a person runs it, against the real stack: `signoff
//! inbox`, `show`, `approve`, `reject`, `cancel`, `watch`, `submit`, `token
//! issue --team` and `webhooks dead-letters` — each answer readable, each
//! refusal named by its code with a non-zero exit. And the main job: `signoff
//! dev` runs the whole system, plays the demo feed with its timeline, and ends
//! with "audit verified".

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::json;
use signoff_client::ApprovalConfig;
use signoff_engine::RequestId;
use signoff_tests::{signoff_binary, TestEnv};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

struct Cli {
    binary: PathBuf,
    config: PathBuf,
    api: String,
}

impl Cli {
    async fn run(&self, user: &str, args: &[&str]) -> Output {
        Command::new(&self.binary)
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .args(["--as", user])
            .env("SIGNOFF_API", &self.api)
            .env_remove("SIGNOFF_TOKEN")
            .output()
            .await
            .expect("run signoff")
    }

    async fn ok(&self, user: &str, args: &[&str]) -> String {
        let out = self.run(user, args).await;
        assert!(
            out.status.success(),
            "signoff {args:?} as {user} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    async fn refused(&self, user: &str, args: &[&str], code: &str) -> String {
        let out = self.run(user, args).await;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success(),
            "signoff {args:?} as {user} should fail"
        );
        assert!(stderr.contains(code), "expected {code} in: {stderr}");
        stderr
    }
}

fn write_config(env: &TestEnv) -> PathBuf {
    let path = env.temp_path("signoff.json");
    env.config().save(&path).unwrap();
    path
}

#[tokio::test]
async fn approvers_work_their_inbox_from_the_cli_with_clear_refusals() {
    let env = TestEnv::start().await;
    let read_side = env.start_read_side().await;
    let cli = Cli {
        binary: signoff_binary(),
        config: write_config(&env),
        api: read_side.http_url(),
    };
    let app = env.sdk("alice").await;

    let mut deploy = app
        .require_approval(
            ApprovalConfig::new("Production Deployment")
                .description("Deploy new version to production")
                .approvers(["release-managers"])
                .context(json!({"changelog": "fixes checkout", "jiraTicket": "PROJ-9"}))
                .ui_component("DeploymentApprovalForm")
                .ui_config(json!({"showDiff": true})),
        )
        .params(json!({"version": "1.4.2", "environment": "production"}));
    deploy.submit_only::<std::io::Error>().await.unwrap();
    let id = deploy.request_id().0.to_string();

    // The inbox (from the query API) lists it for a release manager, not for others.
    let mut inbox = String::new();
    for _ in 0..100 {
        inbox = cli.ok("rita", &["inbox"]).await;
        if inbox.contains(&id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        inbox.contains(&id),
        "the projector files it in rita's inbox: {inbox}"
    );
    assert!(inbox.contains("Production Deployment"), "{inbox}");
    assert!(inbox.contains("team release-managers"), "{inbox}");
    assert!(!cli.ok("sam", &["inbox"]).await.contains(&id));
    cli.refused("sam", &["inbox", "--user", "rita"], "FORBIDDEN")
        .await;

    // `show` renders parameters, context and the dashboard hints readably.
    let shown = cli.ok("rita", &["show", &id]).await;
    for expected in [
        "Production Deployment",
        "[Pending]",
        "requested by alice",
        "\"version\": \"1.4.2\"",
        "\"jiraTicket\": \"PROJ-9\"",
        "dashboard component: DeploymentApprovalForm",
        "\"showDiff\": true",
        "approvers: team release-managers",
    ] {
        assert!(
            shown.contains(expected),
            "`{expected}` missing from:\n{shown}"
        );
    }

    // Refusals, each with its code.
    cli.refused("maria", &["approve", &id], "NOT_AN_APPROVER")
        .await;
    cli.refused("alice", &["approve", &id], "SELF_APPROVAL")
        .await;
    cli.refused("rita", &["cancel", &id], "NOT_PERMITTED").await;
    let missing = uuid::Uuid::new_v4().to_string();
    cli.refused("rita", &["approve", &missing], "REQUEST_NOT_FOUND")
        .await;
    cli.refused("rita", &["show", &missing], "not in the log")
        .await;

    // Approve with a comment; a second decision is refused as already decided.
    let approved = cli
        .ok("rita", &["approve", &id, "--comment", "tests green"])
        .await;
    assert!(
        approved.starts_with(&format!("approved {id}: now approved")),
        "{approved}"
    );
    cli.refused("rob", &["approve", &id], "ALREADY_DECIDED")
        .await;
    cli.refused(
        "rob",
        &["reject", &id, "--reason", "late"],
        "ALREADY_DECIDED",
    )
    .await;
    let watched = cli
        .ok("alice", &["watch", &id, "--timeout-secs", "10"])
        .await;
    assert!(watched.contains("APPROVED by rita"), "{watched}");
    assert!(cli.ok("rita", &["show", &id]).await.contains("✓ rita"));

    // Reject and cancel from the CLI.
    let spec = env.temp_path("spec.json");
    std::fs::write(
        &spec,
        r#"{"title":"Security Change","approvers":["security-team"]}"#,
    )
    .unwrap();
    let submitted = cli
        .ok("alice", &["submit", "--spec", spec.to_str().unwrap()])
        .await;
    let second = submitted
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(':')
        .to_owned();
    let rejected = cli
        .ok("sam", &["reject", &second, "--reason", "change freeze"])
        .await;
    assert!(rejected.contains("now rejected"), "{rejected}");
    let watched = cli.ok("alice", &["watch", &second]).await;
    assert!(
        watched.contains("REJECTED by sam: \"change freeze\""),
        "{watched}"
    );

    let submitted = cli
        .ok("alice", &["submit", "--spec", spec.to_str().unwrap()])
        .await;
    let third = submitted
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(':')
        .to_owned();
    cli.ok("alice", &["cancel", &third, "--reason", "by mistake"])
        .await;
    cli.refused("sam", &["approve", &third], "ALREADY_DECIDED")
        .await;

    // A bad spec is refused naming the field; nothing is written.
    std::fs::write(&spec, r#"{"title":"X","approvers":[]}"#).unwrap();
    let stderr = cli
        .refused(
            "alice",
            &["submit", "--spec", spec.to_str().unwrap()],
            "INVALID_SPEC",
        )
        .await;
    assert!(stderr.contains("spec.approvers"), "{stderr}");

    // `watch` with no id follows every decision (here: replayed from the start).
    let mut child = Command::new(&cli.binary)
        .args(["watch", "--from-start", "--config"])
        .arg(&cli.config)
        .args(["--as", "alice"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("a decision line")
            .unwrap()
            .expect("watch keeps running");
        seen.push(line);
    }
    assert!(
        seen[0].contains(&id) && seen[0].contains("APPROVED by rita"),
        "{seen:?}"
    );
    assert!(
        seen[1].contains(&second) && seen[1].contains("REJECTED"),
        "{seen:?}"
    );
    assert!(
        seen[2].contains(&third) && seen[2].contains("CANCELLED by alice"),
        "{seen:?}"
    );
    child.kill().await.unwrap();

    // Tokens for local identities: team membership is checked against the directory.
    let token_args = |team: &str| {
        vec![
            "token".to_string(),
            "issue".into(),
            "--user".into(),
            "sam".into(),
            "--team".into(),
            team.into(),
        ]
    };
    let issue = |args: Vec<String>| {
        let binary = cli.binary.clone();
        let config = cli.config.clone();
        async move {
            Command::new(binary)
                .args(args)
                .arg("--config")
                .arg(config)
                .output()
                .await
                .unwrap()
        }
    };
    let out = issue(token_args("security-team")).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = issue(token_args("finance-team")).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sam is not a member of finance-team"));

    let out = Command::new(&cli.binary)
        .args(["webhooks", "dead-letters", "--config"])
        .arg(&cli.config)
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 dead letter(s)"));
    read_side.shutdown().await;
}

/// `signoff dev` (what `cargo xtask run` starts): the whole system and the
/// demo feed, ending with the audit verified. Takes about a minute: the
/// demo's escalation fires after one real minute.
#[tokio::test]
async fn the_main_job_plays_every_kind_of_request_and_ends_with_audit_verified() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(signoff_binary())
        .args(["dev", "--data-dir"])
        .arg(dir.path())
        .args(["--http", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut output = String::new();
    let done = tokio::time::timeout(Duration::from_secs(240), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            output.push_str(&line);
            output.push('\n');
            if line.starts_with("demo done: audit verified") {
                return true;
            }
        }
        false
    })
    .await;
    // Stopped as a user stops it (Ctrl-C): it stops its own nats-server too.
    // (A SIGKILL would leave that server running, orphaned.)
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &child.id().expect("running").to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let exited = tokio::time::timeout(Duration::from_secs(60), child.wait()).await;
    assert_eq!(done, Ok(true), "the demo did not finish:\n{output}");
    let status = exited.expect("signoff dev stops on Ctrl-C").unwrap();
    assert!(status.success(), "signoff dev exited with {status}");
    let leftover = std::process::Command::new("pgrep")
        .args(["-f", &dir.path().display().to_string()])
        .output()
        .unwrap();
    assert!(
        leftover.stdout.is_empty(),
        "processes left running on the data dir: {}",
        String::from_utf8_lossy(&leftover.stdout)
    );
    for expected in [
        "submitted by alice",
        "APPROVED by user_123",
        "APPROVED by mike, sofia, ed",
        "REJECTED by sam",
        "EXPIRED undecided",
        "escalated (level 1) to team manager-team",
        "APPROVED by maria",
        "CANCELLED by alice",
        "onApproved",
        "transferred $50000",
        "deployed 1.4.2 to production",
        "audit verified:",
        "requests by status: approved 10, cancelled 1, expired 1, rejected 1",
        "query API: http://127.0.0.1:",
    ] {
        assert!(
            output.contains(expected),
            "`{expected}` missing from:\n{output}"
        );
    }
    assert!(!output.contains("  ! "), "a demo step failed:\n{output}");
    let _ = Path::new(dir.path());
    let _ = RequestId(uuid::Uuid::nil());
}
