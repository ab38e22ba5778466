//! The one integration-test harness: [`TestEnv`] starts a real `nats-server`
//! (dynamic port, temporary store, `sync_interval: always`, killed on drop),
//! opens the event store and runs gateways with a clock the test controls.
//! Tests drive the system only through the bus.
//!
//! A missing `nats-server` fails the test with instructions; it never skips.

use std::sync::Arc;

pub mod faults;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use signoff_api::client::CommandClient;
use signoff_api::clock::ManualClock;
use signoff_api::config::{GatewayConfig, SignoffConfig, StreamConfig};
use signoff_api::dev::{start_gateway, start_scheduler};
use signoff_api::gateway::GatewayHandle;
use signoff_api::identity::{AuthConfig, HmacKey, TokenIssuer};
use signoff_api::local_nats::{LocalNats, NatsServerOptions};
use signoff_api::readside::ReadSide;
use signoff_api::scheduler::SchedulerHandle;
use signoff_engine::{Actor, Authentication, RequestId, Role, StaticDirectory, UserId};
use signoff_eventstore::{EventStore, StoredCommit, StreamSettings};
use signoff_schemas::{Accepted, ErrorReply, Reply};
use uuid::Uuid;

pub use signoff_api::dev::demo_directory;

pub mod stack;
pub use stack::eventually;

/// Thursday 2026-11-26 10:00 UTC: the default "now" of a test.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()
}

pub fn test_auth() -> AuthConfig {
    AuthConfig {
        issuer: "signoff-test".into(),
        audience: "signoff".into(),
        keys: vec![HmacKey {
            kid: "test-1".into(),
            secret: "test-secret-test-secret-test-secret!".into(),
        }],
        ed25519_keys: Vec::new(),
        signing_key: None,
        revoked_keys: Vec::new(),
        leeway_secs: 0,
    }
}

pub struct TestEnv {
    pub nats: LocalNats,
    pub client: async_nats::Client,
    pub store: Arc<EventStore>,
    pub auth: AuthConfig,
    pub directory: StaticDirectory,
    pub issuer: TokenIssuer,
    pub clock: Arc<ManualClock>,
    pub gateways: Vec<GatewayHandle>,
    _dir: tempfile::TempDir,
}

impl TestEnv {
    /// A server, the event store and one gateway.
    pub async fn start() -> Self {
        Self::start_with_gateways(1).await
    }

    pub async fn start_with_gateways(count: usize) -> Self {
        // reqwest is built with rustls and no default crypto provider (see the
        // webhooks); tests' HTTP clients need one installed process-wide.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(signoff_api::identity::redact_secrets(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            ))
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().expect("temp dir");
        let nats = LocalNats::start(NatsServerOptions {
            store_dir: dir.path().join("jetstream"),
            port: None,
            sync_always: true,
            extra_config: None,
            server_name: None,
        })
        .await
        .unwrap_or_else(|e| panic!("could not start nats-server: {e}\nRun the tests with `cargo xtask test`, which installs it, or set SIGNOFF_NATS_SERVER."));
        let client = async_nats::connect(nats.url())
            .await
            .expect("connect to nats");
        let store = Arc::new(
            EventStore::open(client.clone(), StreamSettings::default())
                .await
                .expect("open event store"),
        );
        let auth = test_auth();
        let mut env = TestEnv {
            nats,
            client,
            store,
            issuer: TokenIssuer::new(&auth).expect("issuer"),
            auth,
            directory: demo_directory(),
            clock: Arc::new(ManualClock::new(t0())),
            gateways: Vec::new(),
            _dir: dir,
        };
        for _ in 0..count {
            let handle = env.spawn_gateway().await;
            env.gateways.push(handle);
        }
        env
    }

    /// The configuration a process of this environment would load.
    pub fn config(&self) -> SignoffConfig {
        SignoffConfig {
            nats_url: self.nats.url(),
            stream: StreamConfig::default(),
            gateway: Default::default(),
            projection: Default::default(),
            auth: self.auth.clone(),
            directory: self.directory.clone(),
            webhooks: Vec::new(),
        }
    }

    /// Another gateway with its own connection and store (its own cache), in the same queue group.
    pub async fn spawn_gateway(&self) -> GatewayHandle {
        self.spawn_gateway_with(GatewayConfig::default()).await
    }

    /// [`TestEnv::spawn_gateway`] with the gateway's own sizes.
    pub async fn spawn_gateway_with(&self, gateway: GatewayConfig) -> GatewayHandle {
        let config = SignoffConfig {
            gateway,
            ..self.config()
        };
        start_gateway(&config, self.clock.clone())
            .await
            .expect("gateway starts")
    }

    /// A deadline scheduler in this process, on the environment's clock.
    pub async fn start_scheduler(&self) -> SchedulerHandle {
        start_scheduler(&self.config(), self.clock.clone())
            .await
            .expect("scheduler starts")
    }

    /// The read side in this process: a projector into a fresh sled database
    /// under the environment's temp dir, and the HTTP query API on a free port.
    pub async fn start_read_side(&self) -> ReadSide {
        let path = self
            ._dir
            .path()
            .join(format!("projection-{}", Uuid::new_v4()));
        self.start_read_side_at(&path).await
    }

    /// The read side on an existing (or new) database at `path`.
    pub async fn start_read_side_at(&self, path: &std::path::Path) -> ReadSide {
        signoff_api::readside::start(&self.config(), path, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("read side starts")
    }

    /// A directory inside the environment's temp dir.
    pub fn temp_path(&self, name: &str) -> std::path::PathBuf {
        self._dir.path().join(name)
    }

    /// Sequence of the last message in the stream.
    pub async fn last_sequence(&self) -> u64 {
        let mut stream = self
            .store
            .jetstream()
            .get_stream(&self.store.settings().name)
            .await
            .expect("stream");
        stream
            .info()
            .await
            .expect("stream info")
            .state
            .last_sequence
    }

    pub fn token(&self, user: &str) -> String {
        self.issuer.issue(user, &[], 3600)
    }

    pub fn client_as(&self, user: &str) -> CommandClient {
        CommandClient::new(self.client.clone(), self.token(user))
    }

    pub fn scheduler(&self) -> CommandClient {
        CommandClient::new(
            self.client.clone(),
            self.issuer.issue("scheduler", &[Role::Scheduler], 3600),
        )
    }

    /// Submits `spec` (JSON text) with `params` (JSON text) as `user`.
    pub async fn submit(&self, user: &str, spec: &str, params: &str) -> (RequestId, Reply) {
        let request_id = Uuid::new_v4();
        let body = format!(
            r#"{{"commandId":"{}","requestId":"{}","spec":{spec},"params":{params}}}"#,
            Uuid::new_v4(),
            request_id
        );
        let reply = self
            .client_as(user)
            .send_raw("submit", body.into_bytes())
            .await
            .expect("gateway answers");
        (RequestId(request_id), reply)
    }

    /// Submits and expects acceptance.
    pub async fn submit_ok(&self, user: &str, spec: &str, params: &str) -> (RequestId, Accepted) {
        let (id, reply) = self.submit(user, spec, params).await;
        (id, accepted(reply))
    }

    pub async fn approve(&self, user: &str, request: RequestId) -> Reply {
        self.act(
            user,
            "approve",
            request,
            json!({"comment": format!("ok from {user}")}),
        )
        .await
    }

    pub async fn reject(&self, user: &str, request: RequestId, reason: &str) -> Reply {
        self.act(user, "reject", request, json!({"reason": reason}))
            .await
    }

    /// Sends `action` on `request` as `user`, with `extra` fields merged into the body.
    pub async fn act(&self, user: &str, action: &str, request: RequestId, extra: Value) -> Reply {
        let client = if user == "scheduler" {
            self.scheduler()
        } else {
            self.client_as(user)
        };
        let mut body = json!({"commandId": Uuid::new_v4(), "requestId": request.0});
        if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
            body.extend(extra);
        }
        client.send(action, &body).await.expect("gateway answers")
    }

    /// The request's commits, straight from the log.
    pub async fn commits(&self, request: RequestId) -> Vec<StoredCommit> {
        self.store
            .read_commits(request, 0)
            .await
            .expect("read the log")
    }

    /// Names of every event of the request, in order.
    pub async fn event_names(&self, request: RequestId) -> Vec<&'static str> {
        self.commits(request)
            .await
            .iter()
            .flat_map(|c| c.commit.events.iter().map(|e| e.name()))
            .collect()
    }

    /// Messages in the whole stream.
    pub async fn stream_messages(&self) -> u64 {
        let mut stream = self
            .store
            .jetstream()
            .get_stream(&self.store.settings().name)
            .await
            .expect("stream");
        stream.info().await.expect("stream info").state.messages
    }

    /// Appends, on a fresh request's subject, a message no build can read
    /// as a commit (as a newer writer's would look to this one); returns its
    /// stream sequence.
    pub async fn append_unreadable_commit(&self) -> u64 {
        async_nats::jetstream::new(self.client.clone())
            .publish(
                self.store.settings().subject(RequestId(Uuid::new_v4())),
                bytes::Bytes::from_static(b"\xc1 not a commit"),
            )
            .await
            .expect("publish")
            .await
            .expect("stored")
            .sequence
    }
}

/// A person acting with no roles, as a verified token would yield.
pub fn actor(user: &str) -> Actor {
    Actor {
        user: UserId::parse(user).expect("valid user id"),
        roles: vec![],
        authentication: Authentication {
            method: "test".into(),
            key_id: None,
            issuer: None,
            token_id: None,
        },
    }
}

/// The `signoff` binary of this workspace, for tests that run and kill it as
/// a separate process. `cargo test --workspace` builds it (the api crate has
/// integration tests) with the same features as the tests; when it is missing
/// or older than the workspace's sources it is built here, so a test never
/// runs stale code.
pub fn signoff_binary() -> std::path::PathBuf {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    // target/<profile>/deps/<test> → target/<profile>/signoff
    let exe = std::env::current_exe().expect("test executable path");
    let binary = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("signoff");
    let built = std::fs::metadata(&binary).and_then(|m| m.modified()).ok();
    let stale = match built {
        None => true,
        Some(built) => [
            "api",
            "client",
            "engine",
            "eventstore",
            "projections",
            "schemas",
        ]
        .iter()
        .any(|krate| newer_than(&root.join(krate), built)),
    };
    if stale {
        let status = std::process::Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "--package",
                "signoff",
                "--bin",
                "signoff",
            ])
            .current_dir(root)
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the signoff binary failed");
    }
    assert!(binary.exists(), "{} missing", binary.display());
    binary
}

/// Is any source file (or Cargo.toml) under `dir` newer than `than`?
fn newer_than(dir: &std::path::Path, than: std::time::SystemTime) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            newer_than(&path, than)
        } else {
            let source =
                path.extension().is_some_and(|e| e == "rs") || path.ends_with("Cargo.toml");
            source
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|m| m > than)
        }
    })
}

/// The reply must be an acceptance; otherwise the test fails with the error.
#[track_caller]
pub fn accepted(reply: Reply) -> Accepted {
    match reply {
        Reply::Accepted(a) => a,
        Reply::Error(e) => panic!(
            "expected acceptance, got {}: {} (field {:?})",
            e.code, e.message, e.field
        ),
    }
}

/// The reply must be a refusal; otherwise the test fails.
#[track_caller]
pub fn refused(reply: Reply) -> ErrorReply {
    match reply {
        Reply::Error(e) => e,
        Reply::Accepted(a) => panic!(
            "expected a refusal, got acceptance at sequence {} ({:?})",
            a.sequence, a.events
        ),
    }
}
