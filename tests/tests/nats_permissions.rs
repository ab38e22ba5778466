//! NATS itself keeps the log's door: nats-server runs with the committed
//! `deploy/nats/users.conf` (fresh passwords per test) and
//! - the real gateway, projector and scheduler work under their own users;
//! - a client's direct publish to `signoff.events.<id>` is refused by NATS
//!   (a permissions violation) and the stream holds no such message; a client
//!   cannot delete or purge the stream nor pose as a gateway;
//! - a projector, a webhook dispatcher and a scheduler cannot publish events.
//!
//! The whole `deploy/nats/signoff.conf` is also checked by `nats-server -t`.
//!
//! Each component connects with its user and password written in the URL
//! (`nats://user:pass@host`, as `natsUrl` carries them), through
//! `signoff_client::connect_nats` like every signoff process.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use chrono::Duration as Span;
use serde_json::json;
use signoff_api::client::{wait_for_decision, CommandClient};
use signoff_api::clock::ManualClock;
use signoff_api::config::StreamConfig;
use signoff_api::dev::demo_directory;
use signoff_api::gateway::{Gateway, GatewayHandle};
use signoff_api::identity::{TokenIssuer, TokenVerifier};
use signoff_api::local_nats::{find_nats_server, LocalNats, NatsServerOptions};
use signoff_api::scheduler::{Scheduler, SchedulerHandle};
use signoff_engine::RequestId;
use signoff_eventstore::EventStore;
use signoff_projections::{ProjectionDb, Projector};
use signoff_tests::faults::{eventually, RECOVERY};
use signoff_tests::{accepted, t0, test_auth};
use uuid::Uuid;

const USERS: [(&str, &str); 5] = [
    ("signoff-client", "SIGNOFF_CLIENT_PASSWORD"),
    ("signoff-gateway", "SIGNOFF_GATEWAY_PASSWORD"),
    ("signoff-projector", "SIGNOFF_PROJECTOR_PASSWORD"),
    ("signoff-webhooks", "SIGNOFF_WEBHOOKS_PASSWORD"),
    ("signoff-scheduler", "SIGNOFF_SCHEDULER_PASSWORD"),
];

fn deploy_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/nats"))
}

/// A nats-server running `deploy/nats/users.conf` verbatim, after variable
/// definitions holding a fresh random password per user.
struct SecuredNats {
    nats: LocalNats,
    passwords: HashMap<&'static str, String>,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

impl SecuredNats {
    async fn start() -> Self {
        let users = std::fs::read_to_string(deploy_dir().join("users.conf")).unwrap();
        let mut passwords = HashMap::new();
        let mut config = String::new();
        for (user, variable) in USERS {
            let password = Uuid::new_v4().simple().to_string();
            config.push_str(&format!("{variable}: \"{password}\"\n"));
            passwords.insert(user, password);
        }
        config.push_str(&users);
        let dir = tempfile::tempdir().unwrap();
        let nats = LocalNats::start(NatsServerOptions {
            store_dir: dir.path().join("jetstream"),
            port: None,
            sync_always: true,
            extra_config: Some(config),
            server_name: None,
        })
        .await
        .unwrap_or_else(|e| panic!("nats-server with deploy/nats/users.conf: {e}"));
        SecuredNats {
            nats,
            passwords,
            clock: Arc::new(ManualClock::new(t0())),
            _dir: dir,
        }
    }

    /// `natsUrl` for `user`: its password in the URL, as a config carries it.
    fn url_as(&self, user: &str) -> String {
        format!(
            "nats://{user}:{}@127.0.0.1:{}",
            self.passwords[user],
            self.nats.port()
        )
    }

    /// A connection as `user`, made the way every signoff process connects:
    /// `connect_nats` with the credentials in the URL.
    async fn connect_plain(&self, user: &str) -> async_nats::Client {
        signoff_client::connect_nats(&self.url_as(user))
            .await
            .unwrap_or_else(|e| panic!("connect as {user}: {e}"))
    }

    /// The event store opened on a connection as `user`.
    async fn store(&self, user: &str) -> Arc<EventStore> {
        Arc::new(
            EventStore::open(
                self.connect_plain(user).await,
                StreamConfig::default().settings(),
            )
            .await
            .unwrap_or_else(|e| panic!("open the event store as {user}: {e}")),
        )
    }

    /// The real gateway, connected as signoff-gateway (it creates the stream).
    async fn gateway(&self) -> GatewayHandle {
        let store = self.store("signoff-gateway").await;
        Arc::new(Gateway::new(
            self.connect_plain("signoff-gateway").await,
            store,
            Arc::new(demo_directory()),
            TokenVerifier::new(&test_auth()).unwrap(),
            self.clock.clone(),
        ))
        .spawn()
        .await
        .expect("a gateway under signoff-gateway")
    }

    /// The real scheduler, connected as signoff-scheduler.
    async fn scheduler(&self) -> SchedulerHandle {
        let store = self.store("signoff-scheduler").await;
        Arc::new(Scheduler::new(
            self.connect_plain("signoff-scheduler").await,
            store,
            TokenIssuer::new(&test_auth()).unwrap(),
            self.clock.clone(),
        ))
        .spawn()
    }

    /// A connection as `user` that records the errors the server reports to it.
    async fn connect(&self, user: &str) -> (async_nats::Client, ServerErrors) {
        let errors = ServerErrors::default();
        let seen = errors.0.clone();
        let client = async_nats::ConnectOptions::new()
            .event_callback(move |event| {
                let seen = seen.clone();
                async move {
                    if let async_nats::Event::ServerError(e) = event {
                        seen.lock().unwrap().push(e.to_string());
                    }
                }
            })
            .user_and_password(user.into(), self.passwords[user].clone())
            .connect(self.nats.url())
            .await
            .unwrap_or_else(|e| panic!("connect as {user}: {e}"));
        (client, errors)
    }

    fn token(&self, user: &str) -> String {
        signoff_api::identity::TokenIssuer::new(&test_auth())
            .unwrap()
            .issue(user, &[], 3600)
    }
}

#[derive(Clone, Default)]
struct ServerErrors(Arc<Mutex<Vec<String>>>);

impl ServerErrors {
    /// Waits until the server has reported a permissions violation naming `subject`.
    async fn violation_for(&self, subject: &str) {
        eventually(
            &format!("a permissions violation for {subject}"),
            RECOVERY,
            || async {
                self.0.lock().unwrap().iter().any(|e| {
                    e.to_lowercase().contains("permissions violation") && e.contains(subject)
                })
            },
        )
        .await;
    }
}

/// The stream as the gateway user sees it.
async fn stream(secured: &SecuredNats) -> jetstream::stream::Stream {
    let (observer, _) = secured.connect("signoff-gateway").await;
    jetstream::new(observer)
        .get_stream("SIGNOFF_EVENTS")
        .await
        .expect("the stream exists")
}

/// `user` publishes a commit-shaped message straight to the log: NATS refuses
/// it, reports a permissions violation, and the stream holds nothing there.
async fn direct_write_is_refused(secured: &SecuredNats, user: &str) {
    let (client, errors) = secured.connect(user).await;
    let mut stream = stream(secured).await;
    let before = stream.info().await.unwrap().state.messages;
    let subject = format!("signoff.events.{}", Uuid::new_v4());
    let mut js = jetstream::new(client.clone());
    js.set_timeout(Duration::from_secs(2));
    let published = match js.publish(subject.clone(), "forged".into()).await {
        Ok(ack) => ack.await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(
        published.is_err(),
        "{user}: a direct write to {subject} must not be acknowledged"
    );
    errors.violation_for(&subject).await;
    assert!(
        stream.direct_get_last_for_subject(&subject).await.is_err(),
        "{user}: the stream holds no message on {subject}"
    );
    assert_eq!(stream.info().await.unwrap().state.messages, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_server_configuration_is_valid() {
    let binary = find_nats_server().expect("nats-server");
    let mut check = std::process::Command::new(binary);
    check
        .arg("-t")
        .arg("-c")
        .arg(deploy_dir().join("signoff.conf"));
    for (_, variable) in USERS {
        check.env(variable, Uuid::new_v4().simple().to_string());
    }
    let out = check.output().unwrap();
    assert!(
        out.status.success(),
        "nats-server -t: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_projector_scheduler_and_clients_work_under_their_own_users() {
    let secured = SecuredNats::start().await;
    let anonymous = async_nats::ConnectOptions::new()
        .max_reconnects(Some(1))
        .connect(format!("nats://127.0.0.1:{}", secured.nats.port()))
        .await;
    assert!(anonymous.is_err(), "no anonymous access");

    // The gateway creates the stream: it must come first.
    let gateway = secured.gateway().await;
    let scheduler = secured.scheduler().await;
    let projection = tempfile::tempdir().unwrap();
    let db = ProjectionDb::open(&projection.path().join("db")).unwrap();
    let projector = Projector::new(
        secured.connect_plain("signoff-projector").await,
        StreamConfig::default().settings(),
        db.clone(),
    );
    let (stop_projector, projector_stopped) = tokio::sync::oneshot::channel::<()>();
    let projector = tokio::spawn(async move {
        projector
            .run(async {
                let _ = projector_stopped.await;
            })
            .await
    });

    // A client's command works end to end, and it watches the decision in the log.
    let (client, errors) = secured.connect("signoff-client").await;
    let alice = CommandClient::new(client.clone(), secured.token("alice"));
    let maria = CommandClient::new(client.clone(), secured.token("maria"));
    let approved = Uuid::new_v4();
    accepted(
        alice
            .send(
                "submit",
                &json!({"commandId": Uuid::new_v4(), "requestId": approved,
                    "spec": {"title": "Deploy", "approvers": ["manager-team"]}}),
            )
            .await
            .unwrap(),
    );
    let approval = accepted(
        maria
            .send(
                "approve",
                &json!({"commandId": Uuid::new_v4(), "requestId": approved}),
            )
            .await
            .unwrap(),
    );
    assert!(approval.events.iter().any(|e| e == "RequestApproved"));
    let store = EventStore::open(client.clone(), StreamConfig::default().settings())
        .await
        .expect("a client reads the log");
    let (_, decision) = wait_for_decision(&store, RequestId(approved), RECOVERY)
        .await
        .unwrap()
        .expect("the decision is in the log");
    assert_eq!(decision.name(), "RequestApproved");

    // The scheduler fires an expiry through the gateway.
    let expiring = Uuid::new_v4();
    accepted(
        alice
            .send(
                "submit",
                &json!({"commandId": Uuid::new_v4(), "requestId": expiring,
                    "spec": {"title": "Soon", "approvers": ["manager-team"], "expiresIn": 60}}),
            )
            .await
            .unwrap(),
    );
    secured.clock.advance(Span::minutes(2));
    let (_, expiry) = wait_for_decision(&store, RequestId(expiring), RECOVERY)
        .await
        .unwrap()
        .expect("the scheduler expired it");
    assert_eq!(expiry.name(), "RequestExpired");

    // The SDK works under the client user from a URL with its credentials:
    // submit, decide, the wait (direct gets + an ordered consumer) and the action.
    let sdk = signoff_client::Signoff::connect(signoff_client::ConnectOptions::new(
        secured.url_as("signoff-client"),
        secured.token("alice"),
    ))
    .await
    .expect("the SDK connects as signoff-client");
    let approval = sdk.require_approval(
        signoff_client::ApprovalConfig::new("Deploy").approvers(["manager-team"]),
    );
    let id = approval.request_id();
    let run = tokio::spawn(approval.run(|| async { Ok::<_, std::io::Error>("ran") }));
    eventually("the SDK's request is in the log", RECOVERY, || async {
        sdk.request(id).await.unwrap().is_some()
    })
    .await;
    sdk.with_token(secured.token("maria"))
        .approve(id, None)
        .await
        .unwrap();
    assert_eq!(run.await.unwrap().unwrap(), "ran");

    // The projector follows the whole log.
    let mut events = jetstream::new(client)
        .get_stream("SIGNOFF_EVENTS")
        .await
        .unwrap();
    let last = events.info().await.unwrap().state.last_sequence;
    assert!(db.wait_for(last, RECOVERY).await.unwrap());
    let view = db.request(RequestId(approved)).unwrap().unwrap();
    assert_eq!(view.state.status, signoff_engine::Status::Approved);
    assert!(
        errors.0.lock().unwrap().is_empty(),
        "the client's own work raised no violations: {:?}",
        errors.0.lock().unwrap()
    );

    stop_projector.send(()).unwrap();
    projector
        .await
        .unwrap()
        .expect("the projector ran without error");
    scheduler.shutdown().await;
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cannot_write_the_log_change_the_stream_or_pose_as_a_gateway() {
    let secured = SecuredNats::start().await;
    let gateway = secured.gateway().await;
    let (client, errors) = secured.connect("signoff-client").await;
    let alice = CommandClient::new(client.clone(), secured.token("alice"));
    accepted(
        alice
            .send(
                "submit",
                &json!({"commandId": Uuid::new_v4(), "requestId": Uuid::new_v4(),
                    "spec": {"title": "Deploy", "approvers": ["manager-team"]}}),
            )
            .await
            .unwrap(),
    );

    direct_write_is_refused(&secured, "signoff-client").await;

    // The JetStream API cannot modify the stream.
    let mut js = jetstream::new(client.clone());
    js.set_timeout(Duration::from_secs(2));
    assert!(js.delete_stream("SIGNOFF_EVENTS").await.is_err());
    errors
        .violation_for("$JS.API.STREAM.DELETE.SIGNOFF_EVENTS")
        .await;
    assert!(js
        .update_stream(jetstream::stream::Config {
            name: "SIGNOFF_EVENTS".into(),
            subjects: vec!["signoff.events.>".into()],
            ..Default::default()
        })
        .await
        .is_err());
    errors
        .violation_for("$JS.API.STREAM.UPDATE.SIGNOFF_EVENTS")
        .await;
    let mut events = stream(&secured).await;
    let info = events.info().await.unwrap();
    assert_eq!(info.state.messages, 1, "the stream keeps its one commit");
    assert!(info.config.deny_delete && info.config.deny_purge);

    // Nor answer commands in a gateway's place.
    let _spy = client.subscribe("signoff.cmd.>").await.unwrap();
    errors.violation_for("signoff.cmd.>").await;

    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projectors_webhook_dispatchers_and_schedulers_cannot_publish_events() {
    let secured = SecuredNats::start().await;
    let gateway = secured.gateway().await;
    for user in ["signoff-projector", "signoff-webhooks", "signoff-scheduler"] {
        direct_write_is_refused(&secured, user).await;
    }
    // A projector cannot send commands either.
    let (projector, errors) = secured.connect("signoff-projector").await;
    projector
        .publish("signoff.cmd.approve", "{}".into())
        .await
        .unwrap();
    errors.violation_for("signoff.cmd.approve").await;
    gateway.shutdown().await;
}
