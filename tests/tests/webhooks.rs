//! The webhook dispatcher against a real HTTP receiver on loopback that fails
//! on purpose: every decision arrives, signed, and is accepted once per
//! idempotency key despite failed attempts (once more only if it was
//! accepted just before a dispatcher crash lost its acknowledgement); a
//! delivery that never succeeds becomes a dead letter, and a replay delivers
//! it once the receiver is fixed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use signoff_api::webhooks::{
    self, delivery_id, verify_signature, DispatcherHandle, WebhookConfig, DELIVERY_HEADER,
    SIGNATURE_HEADER,
};
use signoff_client::{ApprovalConfig, RequestId, Signoff};
use signoff_tests::{eventually, TestEnv};

const SECRET: &str = "webhook-secret-for-tests-0123456789";

#[derive(Default)]
struct Receiver {
    /// Every attempt seen, by delivery id.
    attempts: Mutex<HashMap<String, u32>>,
    /// 2xx answers given, by delivery id (the receiver's "effects").
    accepted: Mutex<HashMap<String, u32>>,
    bodies: Mutex<HashMap<String, serde_json::Value>>,
    bad_signatures: Mutex<u32>,
    /// While set, deliveries of requests titled "Poison" always fail.
    poison_fails: AtomicBool,
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !verify_signature(SECRET, signature, &body, now, Duration::from_secs(300)) {
        *receiver.bad_signatures.lock().unwrap() += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let id = headers
        .get(DELIVERY_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let attempt = {
        let mut attempts = receiver.attempts.lock().unwrap();
        let n = attempts.entry(id.clone()).or_default();
        *n += 1;
        *n
    };
    let poison = value["title"] == "Poison";
    // Fail the first attempt of every delivery, and always fail the poison one.
    if attempt == 1 || (poison && receiver.poison_fails.load(Ordering::SeqCst)) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    *receiver
        .accepted
        .lock()
        .unwrap()
        .entry(id.clone())
        .or_default() += 1;
    receiver.bodies.lock().unwrap().insert(id, value);
    StatusCode::OK
}

async fn start_receiver() -> (Arc<Receiver>, String) {
    let receiver = Arc::new(Receiver {
        poison_fails: AtomicBool::new(true),
        ..Receiver::default()
    });
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (receiver, url)
}

fn webhook(url: &str) -> WebhookConfig {
    serde_json::from_value(serde_json::json!({
        "name": "ticketing",
        "url": url,
        "secret": SECRET,
        "maxAttempts": 3,
        "initialBackoffMs": 20,
        "maxBackoffMs": 100,
        "timeoutMs": 2000
    }))
    .unwrap()
}

/// A failing-on-purpose receiver, the webhook that points at it, alice's SDK
/// and a dispatcher running the webhook.
async fn dispatching(env: &TestEnv) -> (Arc<Receiver>, WebhookConfig, Signoff, DispatcherHandle) {
    let (receiver, url) = start_receiver().await;
    let hook = webhook(&url);
    let app = env.sdk("alice").await;
    let dispatcher = webhooks::start(env.store.clone(), std::slice::from_ref(&hook))
        .await
        .unwrap();
    (receiver, hook, app, dispatcher)
}

/// Submits a request titled `title` and decides it: approve, reject or cancel.
async fn decided(env: &TestEnv, app: &Signoff, title: &str, how: usize) -> RequestId {
    let mut approval = app.require_approval(ApprovalConfig::new(title).approvers(["user_123"]));
    approval.submit_only::<std::io::Error>().await.unwrap();
    let id = approval.request_id();
    let approver = env.sdk("user_123").await;
    match how % 3 {
        0 => approver.approve(id, None).await.map(|_| ()).unwrap(),
        1 => approver.reject(id, "no").await.map(|_| ()).unwrap(),
        _ => app.cancel(id, None).await.map(|_| ()).unwrap(),
    }
    id
}

#[tokio::test]
async fn every_decision_is_accepted_once_per_key_despite_failures_and_a_crash() {
    let env = TestEnv::start().await;
    let (receiver, hook, app, dispatcher) = dispatching(&env).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(decided(&env, &app, &format!("Request {i}"), i).await);
    }
    let poison = decided(&env, &app, "Poison", 0).await;
    let stats = dispatcher.stats("ticketing").unwrap().clone();
    eventually("the first decisions are delivered", || async {
        stats.delivered.load(Ordering::SeqCst) >= 3
    })
    .await;

    // The dispatcher crashes; decisions go on; a new one resumes from the log.
    dispatcher.shutdown().await;
    // A delivery the receiver accepted just before the crash, whose
    // acknowledgement the crash lost, is delivered again under the same key
    // (at least once): only these may be accepted twice.
    let accepted_before_crash = receiver.accepted.lock().unwrap().clone();
    for i in 6..10 {
        ids.push(decided(&env, &app, &format!("Request {i}"), i).await);
    }
    let dispatcher = webhooks::start(env.store.clone(), std::slice::from_ref(&hook))
        .await
        .unwrap();
    let expected: Vec<String> = {
        let mut keys = Vec::new();
        for id in &ids {
            let commits = env.commits(*id).await;
            let deciding = commits
                .iter()
                .find(|c| c.commit.events.iter().any(|e| e.is_decision()))
                .unwrap();
            keys.push(delivery_id("SIGNOFF_EVENTS", "ticketing", deciding.sequence).to_string());
        }
        keys
    };
    eventually("every decision is accepted", || async {
        let accepted = receiver.accepted.lock().unwrap();
        expected.iter().all(|k| accepted.contains_key(k))
    })
    .await;
    eventually("the poison delivery is dead-lettered", || async {
        webhooks::dead_letters(env.store.jetstream(), Some("ticketing"))
            .await
            .unwrap()
            .len()
            == 1
    })
    .await;

    {
        let accepted = receiver.accepted.lock().unwrap();
        let attempts = receiver.attempts.lock().unwrap();
        for key in &expected {
            let limit = if accepted_before_crash.contains_key(key) {
                2
            } else {
                1
            };
            assert!(
                (1..=limit).contains(&accepted[key]),
                "accepted {} times, at most {limit}: {key}",
                accepted[key]
            );
            assert!(
                attempts[key] >= 2,
                "the injected failure was retried: {key}"
            );
        }
        assert_eq!(accepted.len(), expected.len(), "nothing else was accepted");
        let bodies = receiver.bodies.lock().unwrap();
        let first = &bodies[&expected[0]];
        assert_eq!(first["requestId"], ids[0].0.to_string());
        assert_eq!(first["decision"]["decision"], "approved");
        assert_eq!(first["decision"]["approvers"][0], "user_123");
        assert_eq!(bodies[&expected[1]]["decision"]["decision"], "rejected");
        assert_eq!(bodies[&expected[2]]["decision"]["decision"], "cancelled");
        assert_eq!(first["deliveryId"], expected[0]);
    }
    assert_eq!(*receiver.bad_signatures.lock().unwrap(), 0);

    let letters = webhooks::dead_letters(env.store.jetstream(), Some("ticketing"))
        .await
        .unwrap();
    let (_, letter) = &letters[0];
    assert_eq!(letter.request_id, poison.0);
    assert_eq!(letter.attempts, 3, "maxAttempts");
    assert!(letter.last_error.contains("503"), "{}", letter.last_error);
    let poison_key = letter.delivery_id.to_string();
    assert!(!receiver.accepted.lock().unwrap().contains_key(&poison_key));

    // A replay while the receiver still fails keeps the letter.
    let report = webhooks::replay_dead_letters(env.store.jetstream(), &hook)
        .await
        .unwrap();
    assert_eq!(report.delivered.len(), 0);
    assert_eq!(report.still_failing.len(), 1);

    // Fixed receiver: the replay delivers it once, with the same key, and removes it.
    receiver.poison_fails.store(false, Ordering::SeqCst);
    let report = webhooks::replay_dead_letters(env.store.jetstream(), &hook)
        .await
        .unwrap();
    assert_eq!(report.delivered, vec![letter.delivery_id]);
    assert_eq!(receiver.accepted.lock().unwrap()[&poison_key], 1);
    assert!(
        webhooks::dead_letters(env.store.jetstream(), Some("ticketing"))
            .await
            .unwrap()
            .is_empty()
    );
    let report = webhooks::replay_dead_letters(env.store.jetstream(), &hook)
        .await
        .unwrap();
    assert_eq!(
        report,
        webhooks::ReplayReport::default(),
        "nothing left to replay"
    );
    dispatcher.shutdown().await;
}

#[test]
fn signatures_verify_only_for_the_same_body_secret_and_a_fresh_timestamp() {
    let body = br#"{"decision":"approved"}"#;
    let header = webhooks::sign(SECRET, 1_000, body);
    let tolerance = Duration::from_secs(300);
    assert!(verify_signature(SECRET, &header, body, 1_100, tolerance));
    assert!(
        !verify_signature(SECRET, &header, b"{}", 1_100, tolerance),
        "other body"
    );
    assert!(!verify_signature(
        "another-secret-0123456789",
        &header,
        body,
        1_100,
        tolerance
    ));
    assert!(
        !verify_signature(SECRET, &header, body, 2_000, tolerance),
        "too old"
    );
    assert!(
        !verify_signature(SECRET, "v1=00", body, 1_000, tolerance),
        "no timestamp"
    );
}

#[test]
fn webhook_configs_are_checked_field_by_field() {
    let good = webhook("https://hooks.example.com/signoff");
    assert!(good.validate().is_ok());
    for (change, field) in [
        (serde_json::json!({"name": "Has Spaces"}), "name"),
        (serde_json::json!({"url": "ftp://example.com"}), "url"),
        (serde_json::json!({"url": "not a url"}), "url"),
        (serde_json::json!({"secret": "short"}), "secret"),
        (serde_json::json!({"maxAttempts": 0}), "maxAttempts"),
        (
            serde_json::json!({"initialBackoffMs": 0}),
            "initialBackoffMs",
        ),
        (serde_json::json!({"events": []}), "events"),
        (
            serde_json::json!({"events": ["decisions", "escalations", "decisions"]}),
            "events",
        ),
    ] {
        let mut value = serde_json::to_value(&good).unwrap();
        for (k, v) in change.as_object().unwrap() {
            value[k] = v.clone();
        }
        let config: WebhookConfig = serde_json::from_value(value).unwrap();
        assert_eq!(config.validate().unwrap_err().0, field);
    }
    let backoff = webhook("http://127.0.0.1:1/");
    for attempt in 1..10 {
        let delay = backoff.backoff(attempt).as_millis() as u64;
        let cap = (20u64 << (attempt - 1)).min(100);
        assert!(
            delay >= cap / 2 && delay <= cap,
            "attempt {attempt}: {delay} ms"
        );
    }
}

/// A commit the dispatcher cannot read (as a newer writer's would look)
/// is neither delivered nor acknowledged away: it stays on the webhook's
/// consumer, below its acknowledgement floor, for a dispatcher that can read
/// it; the decisions after it are delivered meanwhile.
#[tokio::test]
async fn an_unreadable_commit_stays_on_the_consumer_and_later_decisions_still_arrive() {
    let env = TestEnv::start().await;
    let (receiver, hook, app, dispatcher) = dispatching(&env).await;
    let unreadable = env.append_unreadable_commit().await;
    let id = decided(&env, &app, "After the unreadable one", 0).await;
    let deciding = env
        .commits(id)
        .await
        .into_iter()
        .find(|c| c.commit.events.iter().any(|e| e.is_decision()))
        .unwrap();
    let key = delivery_id("SIGNOFF_EVENTS", "ticketing", deciding.sequence).to_string();
    eventually("the later decision is delivered", || async {
        receiver.accepted.lock().unwrap().contains_key(&key)
    })
    .await;
    let stats = dispatcher.stats("ticketing").unwrap().clone();
    assert!(stats.unreadable.load(Ordering::SeqCst) >= 1);
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = env
        .store
        .jetstream()
        .get_stream("SIGNOFF_EVENTS")
        .await
        .unwrap()
        .get_consumer(&hook.consumer_name())
        .await
        .unwrap();
    let info = consumer.info().await.unwrap();
    assert!(
        info.ack_floor.stream_sequence < unreadable,
        "acknowledged up to {} past the unreadable commit {unreadable}",
        info.ack_floor.stream_sequence
    );
    dispatcher.shutdown().await;
}

/// A webhook that asks for escalations and reminders is sent them, typed,
/// with the request's title and requester and who was added or reminded;
/// one left at the default is sent the decision only.
#[tokio::test]
async fn escalations_and_reminders_reach_a_webhook_that_asks_for_them() {
    let env = TestEnv::start().await;
    let (receiver, url) = start_receiver().await;
    let mut everything = webhook(&url);
    everything.name = "oncall".into();
    everything.events = vec![
        webhooks::WebhookEvent::Decisions,
        webhooks::WebhookEvent::Escalations,
        webhooks::WebhookEvent::Reminders,
    ];
    let decisions_only = webhook(&url);
    let dispatcher = webhooks::start(
        env.store.clone(),
        &[everything.clone(), decisions_only.clone()],
    )
    .await
    .unwrap();
    let scheduler = env.start_scheduler().await;
    let (id, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"Critical Fix","approvers":["on-call-team"],"remindEveryMinutes":10,
                "escalation":{"afterMinutes":15,"to":["manager-team"]}}"#,
            "{}",
        )
        .await;
    env.clock.advance(chrono::Duration::minutes(16));
    let sequence_of = |name: &'static str| {
        let env = &env;
        async move {
            env.commits(id)
                .await
                .into_iter()
                .find(|c| c.commit.events.iter().any(|e| e.name() == name))
                .map(|c| c.sequence)
        }
    };
    eventually(
        "the request escalates and a reminder is recorded",
        || async {
            sequence_of("RequestEscalated").await.is_some()
                && sequence_of("ReminderSent").await.is_some()
        },
    )
    .await;
    env.approve("maria", id).await;
    let deciding = eventually_decided(&env, id).await;
    let key = |hook: &str, sequence: u64| delivery_id("SIGNOFF_EVENTS", hook, sequence).to_string();
    let escalated = key("oncall", sequence_of("RequestEscalated").await.unwrap());
    let reminded = key("oncall", sequence_of("ReminderSent").await.unwrap());
    let decided = key("oncall", deciding);
    eventually(
        "the escalation, the reminder and the decision arrive",
        || async {
            let bodies = receiver.bodies.lock().unwrap();
            [&escalated, &reminded, &decided]
                .iter()
                .all(|k| bodies.contains_key(*k))
                && bodies.contains_key(&key("ticketing", deciding))
        },
    )
    .await;
    let bodies = receiver.bodies.lock().unwrap().clone();
    let escalation = &bodies[&escalated];
    assert_eq!(escalation["type"], "escalation");
    assert_eq!(escalation["requestId"], id.0.to_string());
    assert_eq!(escalation["title"], "Critical Fix");
    assert_eq!(escalation["requester"], "alice");
    assert_eq!(escalation["level"], 1);
    assert_eq!(escalation["webhook"], "oncall");
    assert!(
        escalation["added"].to_string().contains("manager-team"),
        "{escalation}"
    );
    let reminder = &bodies[&reminded];
    assert_eq!(reminder["type"], "reminder");
    assert!(
        reminder["to"].to_string().contains("on-call-team"),
        "{reminder}"
    );
    assert_eq!(bodies[&decided]["type"], "decision");
    assert_eq!(bodies[&key("ticketing", deciding)]["type"], "decision");
    // The default webhook was sent the decision and nothing else.
    let sequences = [
        sequence_of("RequestEscalated").await.unwrap(),
        sequence_of("ReminderSent").await.unwrap(),
    ];
    for sequence in sequences {
        assert!(!bodies.contains_key(&key("ticketing", sequence)));
    }
    scheduler.shutdown().await;
    dispatcher.shutdown().await;
}

/// The stream sequence of the commit that decided `id`, once there is one.
async fn eventually_decided(env: &TestEnv, id: RequestId) -> u64 {
    let deciding = || async {
        env.commits(id)
            .await
            .into_iter()
            .find(|c| c.commit.events.iter().any(|e| e.is_decision()))
            .map(|c| c.sequence)
    };
    eventually("the request is decided", || async {
        deciding().await.is_some()
    })
    .await;
    deciding().await.unwrap()
}
