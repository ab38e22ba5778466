//! The `signoff` binary as a user runs it: help, token issuing, and clear
//! refusals for bad configuration. (Also makes `cargo test` build the binary
//! that the process-level fault tests start and kill.)

use std::process::Command;

use signoff_api::config::{SignoffConfig, StreamConfig};
use signoff_api::identity::{dev_auth_config, TokenVerifier};
use signoff_engine::Role;

fn signoff() -> Command {
    Command::new(env!("CARGO_BIN_EXE_signoff"))
}

fn write_config(dir: &std::path::Path) -> (std::path::PathBuf, SignoffConfig) {
    let config = SignoffConfig {
        nats_url: "nats://127.0.0.1:1".into(),
        stream: StreamConfig::default(),
        gateway: Default::default(),
        projection: Default::default(),
        auth: dev_auth_config(),
        directory: signoff_api::dev::demo_directory(),
        webhooks: Vec::new(),
    };
    let path = dir.join("signoff.json");
    config.save(&path).unwrap();
    (path, config)
}

#[test]
fn help_lists_every_command() {
    let output = signoff().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for command in [
        "dev",
        "gateway",
        "projector",
        "rebuild",
        "audit",
        "token",
        "submit",
        "approve",
        "reject",
        "cancel",
        "watch",
    ] {
        assert!(
            help.contains(command),
            "`{command}` missing from --help:\n{help}"
        );
    }
}

#[test]
fn token_issue_signs_a_token_the_gateway_accepts_with_its_roles() {
    let dir = tempfile::tempdir().unwrap();
    let (path, config) = write_config(dir.path());
    let output = signoff()
        .args(["token", "issue", "--config"])
        .arg(&path)
        .args(["--user", "maria", "--role", "admin", "--ttl-secs", "60"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap();
    let actor = TokenVerifier::new(&config.auth)
        .unwrap()
        .verify(token.trim())
        .unwrap();
    assert_eq!(
        (actor.user.as_str(), actor.roles),
        ("maria", vec![Role::Admin])
    );
}

#[test]
fn bad_roles_and_bad_configs_are_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut config) = write_config(dir.path());
    let output = signoff()
        .args(["token", "issue", "--config"])
        .arg(&path)
        .args(["--user", "maria", "--role", "root"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown role `root`"));

    config.auth.keys[0].secret = "short".into();
    config.save(&path).unwrap();
    let output = signoff()
        .args(["token", "issue", "--config"])
        .arg(&path)
        .args(["--user", "maria"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least 32 are required"));

    std::fs::write(&path, r#"{"natsUrl": 5}"#).unwrap();
    let output = signoff()
        .args(["token", "issue", "--config"])
        .arg(&path)
        .args(["--user", "maria"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("natsUrl"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
