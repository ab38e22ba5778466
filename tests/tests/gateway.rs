//! The gateway's guarantees, through the bus: one decision under racing
//! gateways, retries applied once with the original answer, identity from a
//! verified token only, typed refusals that write nothing, decisions read from
//! the log, and cqrs-es running on the same JetStream store.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use cqrs_es::CqrsFramework;
use serde_json::json;
use signoff_api::client::{wait_for_decision, CommandClient};
use signoff_api::config::GatewayConfig;
use signoff_engine::{
    Action, ApprovalCommand, ApprovalEvent, CommandId, RawJson, RequestId, Status, WorkflowSpec,
};
use signoff_eventstore::{ApprovalAggregate, EventStore, Loaded, StreamSettings};
use signoff_schemas::Reply;
use signoff_tests::{accepted, actor, refused, TestEnv};
use uuid::Uuid;

const TWO_APPROVERS: &str = r#"{"title":"Deploy","approvers":["security-team"],"minApprovals":1}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_gateways_on_the_final_approval_produce_exactly_one_decision() {
    let env = TestEnv::start_with_gateways(2).await;
    let mut requests = Vec::new();
    for _ in 0..20 {
        requests.push(env.submit_ok("alice", TWO_APPROVERS, "{}").await.0);
    }
    // Both members of security-team approve every request at the same moment;
    // the queue group spreads the commands over the two gateways.
    let mut races = Vec::new();
    for &id in &requests {
        for user in ["sam", "sofia"] {
            let client = env.client_as(user);
            races.push(tokio::spawn(async move {
                let body = json!({"commandId": Uuid::new_v4(), "requestId": id.0});
                (
                    id,
                    client
                        .send("approve", &body)
                        .await
                        .expect("gateway answers"),
                )
            }));
        }
    }
    let mut accepted_per_request: HashMap<RequestId, usize> = HashMap::new();
    for race in races {
        let (id, reply) = race.await.unwrap();
        match reply {
            Reply::Accepted(a) => {
                assert_eq!(a.state.status, Status::Approved);
                *accepted_per_request.entry(id).or_default() += 1;
            }
            Reply::Error(e) => assert_eq!(e.code, "ALREADY_DECIDED", "{}", e.message),
        }
    }
    for &id in &requests {
        assert_eq!(
            accepted_per_request.get(&id),
            Some(&1),
            "one approval wins per request"
        );
        let decisions = env
            .commits(id)
            .await
            .iter()
            .flat_map(|c| c.commit.events.iter())
            .filter(|e| e.is_decision())
            .count();
        assert_eq!(decisions, 1, "exactly one decision in the log of {id}");
    }
    let handled: u64 = env
        .gateways
        .iter()
        .map(|g| {
            g.gateway.stats.accepted.load(Ordering::Relaxed)
                + g.gateway.stats.refused.load(Ordering::Relaxed)
        })
        .sum();
    assert_eq!(
        handled, 60,
        "20 submits and 40 approvals, each handled once by one gateway"
    );
}

#[tokio::test]
async fn two_stores_racing_on_one_request_conflict_and_the_loser_reloads() {
    let env = TestEnv::start().await;
    let (id, _) = env.submit_ok("alice", TWO_APPROVERS, "{}").await;
    let other = own_store(&env).await;
    let a = env.store.load(id).await.unwrap();
    let b = other.load(id).await.unwrap();
    let directory = env.directory.clone();
    let commit = |loaded: &Loaded, cmd: &ApprovalCommand| approval_commit(loaded, cmd, &directory);
    let (sam, sofia) = (approval(id, "sam"), approval(id, "sofia"));
    let first = env.store.append(&a, commit(&a, &sam)).await.unwrap();
    assert!(!first.duplicate);
    let lost = other.append(&b, commit(&b, &sofia)).await;
    assert!(
        matches!(lost, Err(signoff_eventstore::StoreError::Conflict { .. })),
        "{lost:?}"
    );
    other.forget(id);
    let reloaded = other.load(id).await.unwrap();
    assert_eq!(reloaded.aggregate.state.status, Status::Approved);
    assert!(
        reloaded.aggregate.decide(&sofia, &directory).is_err(),
        "the loser now sees the decision"
    );
}

/// The gateway's append folds a stored commit into the cached request
/// itself when no other command holds that version, and into a copy when
/// one does (whose version then stays as it was); either way the cache ends
/// holding what the append returned.
#[tokio::test]
async fn a_stored_commit_is_folded_into_the_cached_request_unless_another_command_holds_it() {
    let env = TestEnv::start().await;
    let store = own_store(&env).await;
    for held_elsewhere in [false, true] {
        let (id, _) = env.submit_ok("alice", TWO_APPROVERS, "{}").await;
        let loaded = store.load_shared(id).await.unwrap();
        let submitted_at = loaded.last_sequence;
        let version = Arc::as_ptr(&loaded);
        let held = held_elsewhere.then(|| loaded.clone());
        let commit = approval_commit(&loaded, &approval(id, "sam"), &env.directory);
        let outcome = store.append_and_fold_shared(loaded, commit).await.unwrap();
        let signoff_eventstore::AppendOutcome::Stored { sequence, after } = outcome else {
            panic!("{outcome:?}");
        };
        assert!(sequence > submitted_at);
        assert_eq!(after.last_sequence, sequence);
        assert_eq!(after.aggregate.state.status, Status::Approved);
        assert!(Arc::ptr_eq(&store.cached(id).unwrap(), &after));
        match held {
            None => assert_eq!(Arc::as_ptr(&after), version, "folded in place"),
            Some(held) => {
                assert!(!Arc::ptr_eq(&held, &after), "folded into a copy");
                assert_eq!(held.last_sequence, submitted_at);
                assert_eq!(held.aggregate.state.status, Status::Pending);
            }
        }
    }
}

#[tokio::test]
async fn a_retried_command_is_applied_once_and_gets_the_original_answer() {
    let env = TestEnv::start().await;
    let (id, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"T","approvers":["manager-team"],"minApprovals":2}"#,
            "{}",
        )
        .await;
    let body = json!({"commandId": Uuid::new_v4(), "requestId": id.0, "comment": "lgtm"});
    let maria = env.client_as("maria");
    let first = accepted(maria.send("approve", &body).await.unwrap());
    // A second approval lands in between: the retry must still answer as the first time.
    accepted(env.approve("mike", id).await);
    let retry = accepted(maria.send("approve", &body).await.unwrap());
    assert!(retry.duplicate && !first.duplicate);
    assert_eq!(retry.sequence, first.sequence);
    assert_eq!(retry.events, first.events);
    assert_eq!(retry.state, first.state);
    let votes = env
        .event_names(id)
        .await
        .iter()
        .filter(|n| **n == "ApprovalGranted")
        .count();
    assert_eq!(votes, 2, "maria's approval is in the log once");
    // A submit retried with the same ids is also answered, not refused as a duplicate request.
    let submit = format!(
        r#"{{"commandId":"{}","requestId":"{}","spec":{{"title":"T","approvers":["maria"]}}}}"#,
        Uuid::new_v4(),
        Uuid::new_v4()
    );
    let alice = env.client_as("alice");
    let one = accepted(
        alice
            .send_raw("submit", submit.clone().into_bytes())
            .await
            .unwrap(),
    );
    let two = accepted(alice.send_raw("submit", submit.into_bytes()).await.unwrap());
    assert_eq!((one.sequence, two.duplicate), (two.sequence, true));
}

#[tokio::test]
async fn a_command_id_reused_for_another_command_is_refused() {
    let env = TestEnv::start().await;
    let (id, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"T","approvers":["manager-team"],"minApprovals":2}"#,
            "{}",
        )
        .await;
    let command_id = Uuid::new_v4();
    accepted(
        env.client_as("maria")
            .send(
                "approve",
                &json!({"commandId": command_id, "requestId": id.0}),
            )
            .await
            .unwrap(),
    );
    let reused = refused(
        env.client_as("maria")
            .send(
                "approve",
                &json!({"commandId": command_id, "requestId": id.0, "comment": "different"}),
            )
            .await
            .unwrap(),
    );
    assert_eq!(reused.code, "COMMAND_ID_REUSED");
    assert_eq!(reused.field.as_deref(), Some("commandId"));
}

/// A command id is scoped to its request: sent for another request (at
/// once, inside JetStream's duplicate window) it is that request's command,
/// not a retry swallowed as a duplicate.
#[tokio::test]
async fn a_command_id_used_on_two_requests_is_a_command_on_each() {
    let env = TestEnv::start().await;
    let command_id = Uuid::new_v4();
    let alice = env.client_as("alice");
    let mut sequences = Vec::new();
    for _ in 0..2 {
        let request_id = Uuid::new_v4();
        let reply = accepted(
            alice
                .send(
                    "submit",
                    &json!({"commandId": command_id, "requestId": request_id,
                            "spec": {"title": "T", "approvers": ["maria"]}}),
                )
                .await
                .unwrap(),
        );
        assert!(!reply.duplicate);
        assert_eq!(reply.request_id, request_id);
        assert_eq!(
            env.event_names(RequestId(request_id)).await,
            ["RequestSubmitted"]
        );
        sequences.push(reply.sequence);
    }
    assert_ne!(sequences[0], sequences[1]);
}

#[tokio::test]
async fn forged_missing_and_expired_tokens_are_refused_and_write_nothing() {
    let env = TestEnv::start().await;
    let before = env.stream_messages().await;
    let request_id = Uuid::new_v4();
    let body = json!({"commandId": Uuid::new_v4(), "requestId": request_id, "spec": {"title":"T","approvers":["maria"]}});
    let mut forged_auth = signoff_tests::test_auth();
    forged_auth.keys[0].secret = "an-attacker-secret-an-attacker-secret".into();
    let forged = signoff_api::identity::TokenIssuer::new(&forged_auth)
        .unwrap()
        .issue("alice", &[], 60);
    let expired = env.issuer.sign(&signoff_api::identity::Claims {
        sub: "alice".into(),
        iss: "signoff-test".into(),
        aud: "signoff".into(),
        exp: 1,
        iat: 0,
        jti: None,
        roles: vec![],
    });
    for (what, client) in [
        ("forged", CommandClient::new(env.client.clone(), forged)),
        ("expired", CommandClient::new(env.client.clone(), expired)),
        (
            "garbage",
            CommandClient::new(env.client.clone(), "not-a-jwt"),
        ),
        ("missing", CommandClient::anonymous(env.client.clone())),
    ] {
        let reply = refused(client.send("submit", &body).await.unwrap());
        assert_eq!(reply.code, "UNAUTHENTICATED", "{what}: {}", reply.message);
    }
    assert_eq!(env.stream_messages().await, before, "nothing was written");
    assert!(env.commits(RequestId(request_id)).await.is_empty());
    assert_eq!(
        env.gateways[0]
            .gateway
            .stats
            .unauthenticated
            .load(Ordering::Relaxed),
        4
    );
}

#[tokio::test]
async fn bad_input_gets_a_typed_error_naming_the_field_and_writes_nothing() {
    let env = TestEnv::start().await;
    let before = env.stream_messages().await;
    let alice = env.client_as("alice");
    let cases: Vec<(&str, String, &str, &str)> = vec![
        ("submit", "{not json".into(), "MALFORMED_COMMAND", "body"),
        ("submit", json!({"commandId": Uuid::new_v4(), "requestId": Uuid::new_v4(), "spec": {"title":"T","approvers":["maria"]}, "extra": 1}).to_string(), "MALFORMED_COMMAND", "extra"),
        ("submit", json!({"commandId": "nope", "requestId": Uuid::new_v4(), "spec": {}}).to_string(), "MALFORMED_COMMAND", "commandId"),
        ("submit", json!({"commandId": Uuid::new_v4(), "requestId": Uuid::new_v4(), "spec": {"title":"T","approvers":["maria"],"expiresIn": -5}}).to_string(), "MALFORMED_COMMAND", "spec.expiresIn"),
        ("submit", json!({"commandId": Uuid::new_v4(), "requestId": Uuid::new_v4(), "spec": {"title":"T","approvers":[]}}).to_string(), "INVALID_SPEC", "spec.approvers"),
        ("submit", json!({"commandId": Uuid::new_v4(), "requestId": Uuid::new_v4(), "spec": {"title":"T","approvers":["maria","nobody-known"]}}).to_string(), "UNKNOWN_APPROVER", "spec.approvers[1]"),
        ("submit", json!({"commandId": Uuid::new_v4(), "requestId": Uuid::new_v4(), "spec": {"title":"T","approvers":["manager-team"],"minApprovals":3}}).to_string(), "QUORUM_UNREACHABLE", "spec.minApprovals"),
        ("submit", json!({"commandId": Uuid::new_v4(), "requestId": Uuid::new_v4(), "spec": {"condition":"amount >","config":{"title":"T","approvers":["maria"]}}}).to_string(), "INVALID_EXPRESSION", "spec.condition"),
        ("submit", json!({"commandId": Uuid::new_v4(), "requestId": Uuid::new_v4(), "spec": {"title":"T","approvers":["maria"]}, "params": [1]}).to_string(), "INVALID_COMMAND", "params"),
        ("approve", json!({"commandId": Uuid::new_v4(), "requestId": Uuid::new_v4()}).to_string(), "REQUEST_NOT_FOUND", ""),
        ("launch", "{}".into(), "UNKNOWN_COMMAND", ""),
    ];
    for (action, body, code, field) in cases {
        let reply = refused(
            alice
                .send_raw(action, body.clone().into_bytes())
                .await
                .unwrap(),
        );
        assert_eq!(reply.code, code, "{action} {body}: {}", reply.message);
        if !field.is_empty() {
            assert_eq!(
                reply.field.as_deref(),
                Some(field),
                "{action} {body}: {}",
                reply.message
            );
        }
        assert!(!reply.retryable);
    }
    let too_large = format!(r#"{{"pad":"{}"}}"#, "x".repeat(300 * 1024));
    assert_eq!(
        refused(
            alice
                .send_raw("submit", too_large.into_bytes())
                .await
                .unwrap()
        )
        .code,
        "COMMAND_TOO_LARGE"
    );
    assert_eq!(env.stream_messages().await, before, "nothing was written");
}

#[tokio::test]
async fn a_decision_is_read_from_the_log_even_when_made_before_anyone_watched() {
    let env = TestEnv::start().await;
    let (id, _) = env
        .submit_ok("alice", r#"{"title":"T","approvers":["maria"]}"#, "{}")
        .await;
    accepted(env.approve("maria", id).await);
    let (stored, decision) = wait_for_decision(&env.store, id, Duration::from_secs(10))
        .await
        .unwrap()
        .expect("decision");
    assert_eq!(decision.name(), "RequestApproved");
    assert_eq!(
        stored.sequence,
        env.commits(id).await.last().unwrap().sequence
    );

    let (pending, _) = env
        .submit_ok("alice", r#"{"title":"T","approvers":["maria"]}"#, "{}")
        .await;
    let store = env.store.clone();
    let watcher =
        tokio::spawn(
            async move { wait_for_decision(&store, pending, Duration::from_secs(10)).await },
        );
    accepted(env.reject("maria", pending, "no").await);
    let (_, decision) = watcher
        .await
        .unwrap()
        .unwrap()
        .expect("decision while watching");
    assert!(matches!(decision, ApprovalEvent::RequestRejected(_)));
}

#[tokio::test]
async fn cqrs_framework_runs_on_the_jetstream_store() {
    let env = TestEnv::start().await;
    let store = own_store(&env).await;
    let services: signoff_eventstore::Services = Arc::new(env.directory.clone());
    let cqrs = CqrsFramework::<ApprovalAggregate, _>::new(store, vec![], services);
    let id = RequestId(Uuid::new_v4());
    let run = |user: &str, action: Action| {
        let command_id = Uuid::new_v4();
        let metadata = HashMap::from([
            ("commandId".to_owned(), command_id.to_string()),
            ("actor".to_owned(), user.to_owned()),
            ("action".to_owned(), action.name().to_owned()),
            ("at".to_owned(), signoff_tests::t0().to_rfc3339()),
        ]);
        let command = ApprovalCommand {
            command_id: CommandId(command_id),
            request_id: id,
            actor: actor(user),
            at: signoff_tests::t0(),
            action,
        };
        (command, metadata)
    };
    let spec = WorkflowSpec::from_json(r#"{"title":"T","approvers":["maria"]}"#).unwrap();
    let (submit, meta) = run(
        "alice",
        Action::Submit {
            spec: Box::new(spec),
            params: RawJson::parse("{}").unwrap(),
        },
    );
    cqrs.execute_with_metadata(&id.to_string(), submit, meta)
        .await
        .unwrap();
    let (approve, meta) = run(
        "maria",
        Action::Approve {
            comment: None,
            params_hash: None,
        },
    );
    cqrs.execute_with_metadata(&id.to_string(), approve, meta)
        .await
        .unwrap();
    let (again, meta) = run(
        "maria",
        Action::Approve {
            comment: None,
            params_hash: None,
        },
    );
    let refused = cqrs
        .execute_with_metadata(&id.to_string(), again, meta)
        .await;
    assert!(matches!(
        refused,
        Err(cqrs_es::AggregateError::UserError(_))
    ));
    assert_eq!(
        env.event_names(id).await,
        [
            "RequestSubmitted",
            "ApprovalGranted",
            "StageApproved",
            "RequestApproved"
        ]
    );
}

/// `gateway.cacheRequests` bounds what a gateway keeps loaded: with room for
/// two, a third request evicts the least recently written one, and a command
/// on the evicted request is still decided right, from the log.
#[tokio::test]
async fn a_gateway_keeps_as_many_requests_as_its_config_says() {
    let mut env = TestEnv::start_with_gateways(0).await;
    let gateway = env
        .spawn_gateway_with(GatewayConfig {
            cache_requests: 2,
            ..Default::default()
        })
        .await;
    env.gateways.push(gateway);
    let store = env.gateways[0].gateway.store().clone();
    let spec = r#"{"title":"Deploy","approvers":["security-team"]}"#;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(env.submit_ok("alice", spec, "{}").await.0);
    }
    assert!(
        store.cached(ids[0]).is_none(),
        "the least recently written went"
    );
    assert!(store.cached(ids[1]).is_some() && store.cached(ids[2]).is_some());

    match env.approve("sam", ids[0]).await {
        Reply::Accepted(a) => assert_eq!(a.state.status, Status::Approved),
        Reply::Error(e) => panic!("{}: {}", e.code, e.message),
    }
    assert!(store.cached(ids[0]).is_some(), "written again, kept again");
    assert!(store.cached(ids[1]).is_none());
}

/// `gateway.maxInFlight` bounds the commands a gateway handles at once: 64
/// sent together to a gateway allowed 2 are all answered, in turn (its peak
/// stays at 2), while the default lets them run together.
#[tokio::test]
async fn a_gateway_handles_at_most_max_in_flight_commands_at_once_and_answers_the_rest() {
    let mut env = TestEnv::start_with_gateways(0).await;
    let gateway = env
        .spawn_gateway_with(GatewayConfig {
            max_in_flight: 2,
            ..Default::default()
        })
        .await;
    env.gateways.push(gateway);
    let ids = submit_burst(&env, 64).await;
    assert_eq!(
        ids.iter().collect::<std::collections::HashSet<_>>().len(),
        64
    );
    let stats = &env.gateways[0].gateway.stats;
    assert_eq!(stats.accepted.load(Ordering::Relaxed), 64);
    assert_eq!(stats.peak_in_flight.load(Ordering::Relaxed), 2);

    env.gateways.pop().unwrap().shutdown().await;
    let gateway = env.spawn_gateway().await;
    env.gateways.push(gateway);
    submit_burst(&env, 64).await;
    let stats = &env.gateways[0].gateway.stats;
    assert_eq!(stats.accepted.load(Ordering::Relaxed), 64);
    assert!(
        stats.peak_in_flight.load(Ordering::Relaxed) > 2,
        "the default ({}) lets a burst run together",
        signoff_api::gateway::DEFAULT_MAX_IN_FLIGHT
    );
}

/// `count` submits sent at once; each accepted, their request ids returned.
async fn submit_burst(env: &TestEnv, count: usize) -> Vec<RequestId> {
    let spec = r#"{"title":"Deploy","approvers":["security-team"]}"#;
    futures::future::join_all((0..count).map(|_| async move {
        let (id, accepted) = env.submit_ok("alice", spec, "{}").await;
        assert_eq!(accepted.request_id, id.0);
        id
    }))
    .await
}

/// A store of its own on the test's server (its own connection and load
/// cache), beside the one the test environment's gateway uses.
async fn own_store(env: &TestEnv) -> EventStore {
    let client = async_nats::connect(env.nats.url()).await.unwrap();
    EventStore::open(client, StreamSettings::default())
        .await
        .unwrap()
}

/// `user` approves request `id`.
fn approval(id: RequestId, user: &str) -> ApprovalCommand {
    ApprovalCommand {
        command_id: CommandId(Uuid::new_v4()),
        request_id: id,
        actor: actor(user),
        at: signoff_tests::t0(),
        action: Action::Approve {
            comment: None,
            params_hash: None,
        },
    }
}

/// The commit a gateway would append for `command` decided on `loaded`.
fn approval_commit(
    loaded: &Loaded,
    command: &ApprovalCommand,
    directory: &dyn signoff_engine::TeamDirectory,
) -> signoff_eventstore::Commit {
    signoff_eventstore::Commit {
        schema_version: signoff_engine::EVENT_SCHEMA_VERSION,
        request_id: command.request_id,
        command_id: command.command_id,
        command_hash: "test".into(),
        action: "approve".into(),
        actor: command.actor.user.clone(),
        at: command.at,
        events: loaded.aggregate.decide(command, directory).unwrap(),
    }
}
