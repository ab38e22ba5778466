//! Real messages produced by the running system validate against the JSON
//! Schema documents committed in `schemas/json/`: command bodies as sent,
//! replies as received, and every event of the log (in its JSON form).

use std::path::PathBuf;

use serde_json::{json, Value};
use signoff_tests::{accepted, TestEnv};
use uuid::Uuid;

fn schema(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas/json")
        .join(name);
    serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

#[track_caller]
fn assert_valid(schema: &Value, instance: &Value, what: &str) {
    let validator = jsonschema::validator_for(schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match its schema:\n{}\n{instance:#}",
        errors.join("\n")
    );
}

/// A schema for one command body: the commands document's `$defs` with a root `$ref`.
fn body_schema(commands: &Value, action: &str) -> Value {
    let subject = format!("signoff.cmd.{action}");
    let mut root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": commands["$defs"].clone(),
    });
    let body = &commands["x-subjects"][&subject];
    for (k, v) in body.as_object().expect("body schema") {
        root[k] = v.clone();
    }
    root
}

#[tokio::test]
async fn commands_replies_and_events_of_a_real_run_match_the_schemas() {
    let env = TestEnv::start().await;
    let commands = schema("commands.schema.json");
    let replies = schema("replies.schema.json");
    let events = schema("events.schema.json");
    let invalid = json!({"result": "accepted", "requestId": "not-a-uuid"});
    assert!(
        !jsonschema::validator_for(&replies)
            .unwrap()
            .is_valid(&invalid),
        "the reply schema rejects a malformed reply"
    );
    let request_id = Uuid::new_v4();
    let sent = vec![
        (
            "alice",
            "submit",
            json!({"commandId": Uuid::new_v4(), "requestId": request_id, "params": {"amount": 50000},
                "spec": {"condition": "amount > 10000",
                    "config": {"title": "High-Value Transfer", "approvers": ["finance-team", "security-team"], "minApprovals": 2,
                        "expiresIn": 3600, "escalation": {"afterMinutes": 15, "to": ["manager-team"]},
                        "context": {"ticket": "PROJ-1"}, "uiComponent": "TransferForm", "uiConfig": {"showDiff": true}},
                    "elseConfig": {"title": "Standard Transfer", "approvers": ["finance-team"]}}}),
        ),
        (
            "fiona",
            "approve",
            json!({"commandId": Uuid::new_v4(), "requestId": request_id, "comment": "ok"}),
        ),
        (
            "fiona",
            "approve",
            json!({"commandId": Uuid::new_v4(), "requestId": request_id}),
        ),
        (
            "sam",
            "approve",
            json!({"commandId": Uuid::new_v4(), "requestId": request_id}),
        ),
        (
            "alice",
            "record-execution",
            json!({"commandId": Uuid::new_v4(), "requestId": request_id, "outcome": "succeeded", "params": {"amount": 50000}}),
        ),
    ];
    for (user, action, body) in &sent {
        assert_valid(
            &body_schema(&commands, action),
            body,
            &format!("{action} body"),
        );
        let reply = env.client_as(user).send(action, body).await.unwrap();
        assert_valid(
            &replies,
            &serde_json::to_value(&reply).unwrap(),
            &format!("reply to {action}"),
        );
    }
    let (rejected, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"T","approvers":["maria"],"expiresIn":60}"#,
            "{}",
        )
        .await;
    accepted(env.reject("maria", rejected, "no").await);
    let mut seen = std::collections::BTreeSet::new();
    for id in [signoff_engine::RequestId(request_id), rejected] {
        for stored in env.commits(id).await {
            seen.extend(stored.commit.events.iter().map(|e| e.name()));
            assert_valid(
                &events,
                &serde_json::to_value(&stored.commit).unwrap(),
                &format!("commit {}", stored.sequence),
            );
        }
    }
    assert!(seen.len() >= 7, "covered events: {seen:?}");
}
