//! kill -9 of the scheduler as a separate process: killed before its
//! deadlines, then killed again in the middle of firing the overdue ones —
//! after the last restart every deadline has been applied exactly once.
//! Time moves through a clock file (`signoff scheduler --clock-file`), never by waiting.

use std::process::{Child, Command, Stdio};

use chrono::Duration as Span;
use signoff_api::clock::FileClock;
use signoff_tests::{eventually, signoff_binary, t0, TestEnv};

const ESCALATING: &str = r#"{"title":"Critical Fix","approvers":["on-call-team"],"expiresIn":3600,
    "escalation":{"afterMinutes":15,"to":["manager-team"],"afterMinutes2":30,"to2":["executive-team"]}}"#;

async fn consumers(env: &TestEnv) -> usize {
    let mut stream = env
        .store
        .jetstream()
        .get_stream("SIGNOFF_EVENTS")
        .await
        .unwrap();
    stream.info().await.unwrap().state.consumer_count
}

fn kill(mut child: Child) {
    child.kill().expect("SIGKILL the scheduler");
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_killed_before_and_during_firing_applies_every_deadline_once() {
    let env = TestEnv::start().await;
    let binary = signoff_binary();
    let config = env.temp_path("signoff.json");
    env.config().save(&config).unwrap();
    let clock_file = env.temp_path("now");
    FileClock::write(&clock_file, t0()).unwrap();
    let spawn = || -> Child {
        Command::new(&binary)
            .args(["scheduler", "--config"])
            .arg(&config)
            .arg("--clock-file")
            .arg(&clock_file)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the scheduler process")
    };
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(env.submit_ok("alice", ESCALATING, "{}").await.0);
    }

    // 1. Running, following the log, killed before any deadline.
    let before = consumers(&env).await;
    let first = spawn();
    eventually("the scheduler follows the log", || async {
        consumers(&env).await > before
    })
    .await;
    kill(first);
    for &id in &ids {
        assert_eq!(
            env.event_names(id).await,
            ["RequestSubmitted"],
            "nothing fired before its time"
        );
    }

    // 2. Long after every deadline: restart, and kill it while it fires.
    env.clock.advance(Span::hours(3));
    FileClock::write(&clock_file, t0() + Span::hours(3)).unwrap();
    let second = spawn();
    eventually("firing has begun", || async {
        for &id in &ids {
            if env.event_names(id).await.len() > 1 {
                return true;
            }
        }
        false
    })
    .await;
    kill(second);
    let mut applied = 0;
    for &id in &ids {
        applied += env.event_names(id).await.len() - 1;
    }
    eprintln!("the second scheduler was killed after {applied} of 60 deadlines");

    // 3. The last restart finishes the job.
    let third = spawn();
    for &id in &ids {
        eventually("every request expires", || async {
            env.event_names(id).await.contains(&"RequestExpired")
        })
        .await;
    }
    kill(third);
    for &id in &ids {
        assert_eq!(
            env.event_names(id).await,
            [
                "RequestSubmitted",
                "RequestEscalated",
                "RequestEscalated",
                "RequestExpired"
            ],
            "each deadline exactly once, in order"
        );
    }
}
