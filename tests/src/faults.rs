//! The fault suite's harness, on top of [`crate::TestEnv`]: a workload whose
//! callers retry every command with the same command id until it is
//! acknowledged ([`Workload`]), a [`Ledger`] of what was sent and acknowledged,
//! the check of that ledger against the log ([`audit_log`]: every acknowledged
//! command exactly once, at the sequence its reply named), the check that a
//! projection equals a clean rebuild ([`assert_views_equal_rebuild`]),
//! `signoff` processes to kill ([`SignoffProcess`]); and a three-node
//! JetStream cluster with the event stream at 3 replicas ([`ClusterEnv`]).
//!
//! Every test prints one line per fault:
//! `fault=<name> sent=N acknowledged=N in_log=N duplicates=0 lost=0`.
//! Short variants run in `cargo xtask test`; `cargo xtask faults` sets
//! [`LONG_ENV`] for more rounds and longer loads.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use signoff_api::client::{ClientError, CommandClient};
use signoff_api::clock::ManualClock;
use signoff_api::config::{SignoffConfig, StreamConfig};
use signoff_api::dev::start_gateway;
use signoff_api::gateway::GatewayHandle;
use signoff_api::identity::{AuthConfig, TokenIssuer};
use signoff_api::local_nats::{LocalCluster, CLUSTER_SIZE};
use signoff_eventstore::EventStore;
use signoff_projections::ProjectionDb;
use signoff_schemas::{Accepted, Reply};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Set (to anything but `0`) by `cargo xtask faults`: more rounds, longer loads.
pub const LONG_ENV: &str = "SIGNOFF_FAULTS_LONG";

/// How long anything in the fault suite may take to recover before the test fails.
pub const RECOVERY: Duration = Duration::from_secs(60);

/// Whether the long variants were asked for.
pub fn long() -> bool {
    std::env::var(LONG_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `short` in the normal test run, `long` under `cargo xtask faults`.
pub fn rounds(short: usize, long_rounds: usize) -> usize {
    if long() {
        long_rounds
    } else {
        short
    }
}

pub use crate::stack::eventually_within as eventually;

/// What the callers sent and what was acknowledged, by command id.
#[derive(Default)]
pub struct Ledger {
    inner: Mutex<LedgerInner>,
    acknowledged: AtomicU64,
}

#[derive(Default)]
struct LedgerInner {
    sent: Vec<Uuid>,
    /// command id → the acknowledgement (sequence, events) it finally got.
    acknowledged: HashMap<Uuid, Acknowledgement>,
    refused: Vec<(Uuid, String)>,
    /// Sends after the first for the same command id.
    retries: u64,
    /// Acknowledgements with `duplicate: true` for a command whose earlier
    /// attempts got no answer at all: it was appended, the reply was lost.
    recovered_answers: u64,
    /// First send to acknowledgement, per acknowledged command.
    latencies: Vec<Duration>,
}

/// An acknowledgement as the caller received it.
#[derive(Clone, Debug)]
pub struct Acknowledgement {
    pub sequence: u64,
    pub events: Vec<String>,
    pub duplicate: bool,
}

impl Ledger {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Acknowledged commands so far.
    pub fn acknowledged(&self) -> u64 {
        self.acknowledged.load(Ordering::Relaxed)
    }

    pub fn sent(&self) -> usize {
        self.lock().sent.len()
    }

    pub fn retries(&self) -> u64 {
        self.lock().retries
    }

    /// Commands appended whose reply was lost, answered again on retry.
    pub fn recovered_answers(&self) -> u64 {
        self.lock().recovered_answers
    }

    /// Every acknowledgement, by command id.
    pub fn acknowledgements(&self) -> HashMap<Uuid, Acknowledgement> {
        self.lock().acknowledged.clone()
    }

    /// Refusals (non-retryable errors); a fault must cause none.
    pub fn refused(&self) -> Vec<(Uuid, String)> {
        self.lock().refused.clone()
    }

    /// Latencies of the acknowledged commands, first send to acknowledgement.
    pub fn latencies(&self) -> Vec<Duration> {
        self.lock().latencies.clone()
    }

    /// Latencies recorded since `from` (an index into [`Ledger::latencies`]).
    pub fn latencies_since(&self, from: usize) -> Vec<Duration> {
        self.lock().latencies[from..].to_vec()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LedgerInner> {
        self.inner.lock().expect("ledger lock")
    }
}

/// Sends `body` (which carries its `commandId`) to `signoff.cmd.<action>`
/// until a gateway acknowledges it, re-using the command id on every retry,
/// as a caller must. Errors marked retryable, timeouts and "no responders"
/// are retried (50 ms apart) until `give_up`; a non-retryable refusal is
/// recorded in the ledger and returned as `None`.
pub async fn send_until_acknowledged(
    client: &CommandClient,
    action: &str,
    body: &Value,
    ledger: &Ledger,
    give_up: Instant,
) -> Option<Accepted> {
    let command_id: Uuid = body["commandId"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("the body carries a commandId");
    ledger.lock().sent.push(command_id);
    let started = Instant::now();
    let mut unanswered = 0u32;
    let mut attempts = 0u32;
    loop {
        if attempts > 0 {
            ledger.lock().retries += 1;
        }
        attempts += 1;
        match client.send(action, body).await {
            Ok(Reply::Accepted(accepted)) => {
                let mut inner = ledger.lock();
                if accepted.duplicate && unanswered > 0 {
                    inner.recovered_answers += 1;
                }
                inner.latencies.push(started.elapsed());
                inner.acknowledged.insert(
                    command_id,
                    Acknowledgement {
                        sequence: accepted.sequence,
                        events: accepted.events.clone(),
                        duplicate: accepted.duplicate,
                    },
                );
                drop(inner);
                ledger.acknowledged.fetch_add(1, Ordering::Relaxed);
                return Some(accepted);
            }
            Ok(Reply::Error(e)) if e.retryable => {}
            Ok(Reply::Error(e)) => {
                ledger
                    .lock()
                    .refused
                    .push((command_id, format!("{}: {}", e.code, e.message)));
                return None;
            }
            Err(ClientError::NoAnswer { .. }) => unanswered += 1,
            Err(ClientError::Request(_)) => {
                // "no responders" (no gateway subscribed) or a broken connection:
                // nothing reached a gateway, or it did and the answer was lost.
                unanswered += 1;
            }
            Err(e) => panic!("{action} {command_id}: {e}"),
        }
        if Instant::now() >= give_up {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The spec every workload request uses: one approval from the manager team.
pub const WORKLOAD_SPEC: &str = r#"{"title":"Deploy","approvers":["manager-team"]}"#;

/// Callers that each submit a request (as alice) and approve it (as maria),
/// over and over, until stopped; every command is sent until acknowledged.
pub struct Workload {
    stop: Arc<AtomicBool>,
    lanes: Vec<JoinHandle<()>>,
    pub ledger: Arc<Ledger>,
}

impl Workload {
    /// `lanes` concurrent callers; `alice` and `maria` carry their tokens and
    /// the per-attempt timeout.
    pub fn start(alice: CommandClient, maria: CommandClient, lanes: usize) -> Self {
        Self::start_paced(alice, maria, lanes, None)
    }

    /// Like [`Workload::start`]; with `pace`, each lane starts one request per `pace`.
    pub fn start_paced(
        alice: CommandClient,
        maria: CommandClient,
        lanes: usize,
        pace: Option<Duration>,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let ledger = Ledger::new();
        let lanes = (0..lanes)
            .map(|_| {
                let (alice, maria) = (alice.clone(), maria.clone());
                let (stop, ledger) = (stop.clone(), ledger.clone());
                tokio::spawn(async move {
                    let mut ticks = pace.map(|p| {
                        let mut t = tokio::time::interval(p);
                        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        t
                    });
                    while !stop.load(Ordering::Relaxed) {
                        if let Some(ticks) = ticks.as_mut() {
                            ticks.tick().await;
                        }
                        let give_up = Instant::now() + RECOVERY;
                        let request_id = Uuid::new_v4();
                        let submit = json!({"commandId": Uuid::new_v4(), "requestId": request_id,
                            "spec": serde_json::from_str::<Value>(WORKLOAD_SPEC).unwrap()});
                        if send_until_acknowledged(&alice, "submit", &submit, &ledger, give_up)
                            .await
                            .is_none()
                        {
                            continue;
                        }
                        let approve = json!({"commandId": Uuid::new_v4(), "requestId": request_id,
                            "comment": "ok"});
                        send_until_acknowledged(&maria, "approve", &approve, &ledger, give_up)
                            .await;
                    }
                })
            })
            .collect();
        Workload {
            stop,
            lanes,
            ledger,
        }
    }

    /// Waits until `more` commands beyond the current count are acknowledged.
    pub async fn progress(&self, what: &str, more: u64) {
        let target = self.ledger.acknowledged() + more;
        eventually(what, RECOVERY, || async {
            self.ledger.acknowledged() >= target
        })
        .await;
    }

    /// Stops the callers after the commands they are sending are acknowledged.
    pub async fn finish(self) -> Arc<Ledger> {
        self.stop.store(true, Ordering::Relaxed);
        for lane in self.lanes {
            lane.await.expect("a workload lane panicked");
        }
        self.ledger
    }
}

/// The ledger checked against the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogAudit {
    pub sent: usize,
    pub acknowledged: usize,
    /// Acknowledged commands found in the log.
    pub in_log: usize,
    /// Command ids that occur in more than one commit (any command, not only the ledger's).
    pub duplicates: usize,
    /// Acknowledged commands missing from the log.
    pub lost: usize,
    /// Acknowledged commands whose reply named another sequence or other events than the log holds.
    pub mismatched: usize,
    /// Commits in the log.
    pub commits: usize,
    /// The first few lost or mismatched commands, for the failure message.
    pub problems: Vec<String>,
}

impl LogAudit {
    /// `fault=<name> sent=N acknowledged=N in_log=N duplicates=0 lost=0`.
    pub fn summary(&self, fault: &str) -> String {
        format!(
            "fault={fault} sent={} acknowledged={} in_log={} duplicates={} lost={}",
            self.sent, self.acknowledged, self.in_log, self.duplicates, self.lost
        )
    }

    /// Prints the summary line and fails the test unless nothing acknowledged
    /// was lost, nothing was applied twice, every reply matched the log, and
    /// no command was refused.
    #[track_caller]
    pub fn print_and_assert(&self, fault: &str, ledger: &Ledger, extra: &str) {
        let line = self.summary(fault);
        println!("{line} {extra}");
        let problems = &self.problems;
        let refused = ledger.refused();
        assert_eq!(
            self.lost, 0,
            "{line}: acknowledged commands missing from the log: {problems:?}"
        );
        assert_eq!(self.duplicates, 0, "{line}: a command applied twice");
        assert_eq!(
            self.mismatched, 0,
            "{line}: a reply disagrees with the log: {problems:?}; refused: {refused:?}"
        );
        assert_eq!(self.in_log, self.acknowledged, "{line}");
        assert!(self.acknowledged > 0, "{line}: nothing was acknowledged");
        assert!(refused.is_empty(), "{line}: refused: {refused:?}");
    }
}

/// Reads the whole stream (an ordered consumer from sequence 1, through the
/// stream leader) and checks the ledger against it.
pub async fn audit_log(store: &EventStore, ledger: &Ledger) -> LogAudit {
    let last = last_sequence(store).await;
    let mut by_command: BTreeMap<Uuid, Vec<(u64, Vec<String>)>> = BTreeMap::new();
    let mut commits = 0usize;
    if last > 0 {
        let mut all = Box::pin(store.watch_all().await.expect("read the log"));
        let read = async {
            while let Some(stored) = all.next().await {
                let stored = stored.expect("a commit decodes");
                commits += 1;
                let events = stored
                    .commit
                    .events
                    .iter()
                    .map(|e| e.name().to_string())
                    .collect();
                by_command
                    .entry(stored.commit.command_id.0)
                    .or_default()
                    .push((stored.sequence, events));
                if stored.sequence >= last {
                    break;
                }
            }
        };
        tokio::time::timeout(RECOVERY, read)
            .await
            .expect("the whole log is read in time");
    }
    let acknowledgements = ledger.acknowledgements();
    let mut in_log = 0;
    let mut lost = 0;
    let mut mismatched = 0;
    let mut problems = Vec::new();
    for (command_id, ack) in &acknowledgements {
        match by_command.get(command_id).map(Vec::as_slice) {
            Some([(sequence, events), ..]) => {
                in_log += 1;
                if *sequence != ack.sequence || *events != ack.events {
                    mismatched += 1;
                    if problems.len() < 5 {
                        problems.push(format!(
                            "{command_id}: the log has {events:?} at {sequence}, the reply said {:?} at {} (duplicate: {})",
                            ack.events, ack.sequence, ack.duplicate
                        ));
                    }
                }
            }
            _ => {
                lost += 1;
                if problems.len() < 5 {
                    problems.push(format!(
                        "{command_id}: acknowledged {ack:?}, not in the log"
                    ));
                }
            }
        }
    }
    LogAudit {
        sent: ledger.sent(),
        acknowledged: acknowledgements.len(),
        in_log,
        duplicates: by_command.values().filter(|c| c.len() > 1).count(),
        lost,
        mismatched,
        commits,
        problems,
    }
}

/// The stream's last sequence.
pub async fn last_sequence(store: &EventStore) -> u64 {
    let mut stream = store
        .jetstream()
        .get_stream(&store.settings().name)
        .await
        .expect("stream");
    stream
        .info()
        .await
        .expect("stream info")
        .state
        .last_sequence
}

/// Waits until `db` has projected the whole log, folds the log into a fresh
/// database at `scratch` and fails the test unless both hold the same bytes.
pub async fn assert_views_equal_rebuild(
    client: async_nats::Client,
    store: &EventStore,
    db: &ProjectionDb,
    scratch: &Path,
) {
    let last = last_sequence(store).await;
    let settings = store.settings();
    assert!(
        db.wait_for(last, RECOVERY).await.expect("projection"),
        "the projector did not reach sequence {last} within {RECOVERY:?}: its checkpoint is {}",
        db.checkpoint().expect("checkpoint")
    );
    let clean = ProjectionDb::open(scratch).expect("fresh database");
    let reached = signoff_projections::rebuild(client, settings, &clean, 500)
        .await
        .expect("rebuild");
    assert_eq!(reached, last, "the rebuild read the whole log");
    let projected = db.dump().expect("dump");
    let rebuilt = clean.dump().expect("dump");
    assert_eq!(projected.len(), rebuilt.len(), "same number of keys");
    assert!(projected == rebuilt, "every view equals a clean rebuild");
}

/// How every fault test ends: the summary line, every acknowledged command in
/// the log exactly once, and the read side equal to a clean rebuild.
pub async fn assert_nothing_lost(
    fault: &str,
    ledger: &Ledger,
    extra: &str,
    client: async_nats::Client,
    store: &EventStore,
    db: &ProjectionDb,
    scratch: &Path,
) {
    audit_log(store, ledger)
        .await
        .print_and_assert(fault, ledger, extra);
    assert_views_equal_rebuild(client, store, db, scratch).await;
}

/// A `signoff` process (gateway, projector, scheduler) the test can freeze and kill.
pub struct SignoffProcess {
    child: Child,
}

impl SignoffProcess {
    /// Runs `signoff <args>` (stdout and stderr discarded, `RUST_LOG=warn`).
    pub fn spawn(args: &[&std::ffi::OsStr]) -> Self {
        let child = Command::new(crate::signoff_binary())
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a signoff process");
        SignoffProcess { child }
    }

    /// `signoff gateway --config <config>`.
    pub fn gateway(config: &Path) -> Self {
        Self::spawn(&["gateway".as_ref(), "--config".as_ref(), config.as_os_str()])
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// kill -9, and reap it.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap the killed process");
    }

    /// Resident set size in KiB, from `/proc/<pid>/status`.
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid())
    }
}

impl Drop for SignoffProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident set size of `pid` in KiB (`VmRSS` in `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Waits until some gateway answers on the bus: an unauthenticated probe is
/// refused (`UNAUTHENTICATED`), which writes nothing.
pub async fn wait_for_gateway(client: &async_nats::Client) {
    let probe = CommandClient::anonymous(client.clone()).with_timeout(Duration::from_secs(1));
    eventually("a gateway answers", RECOVERY, || {
        let probe = probe.clone();
        async move {
            matches!(
                probe.send("submit", &json!({})).await,
                Ok(Reply::Error(e)) if e.code == "UNAUTHENTICATED"
            )
        }
    })
    .await;
}

/// The given percentile (0–100) of `samples`, nearest rank.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A three-node JetStream cluster on loopback ([`LocalCluster`]) with the
/// event stream at 3 replicas and one gateway connected to each node; the
/// test's own connection is to node 0. Clients fail over to the nodes the
/// server advertises when theirs dies.
pub struct ClusterEnv {
    pub cluster: LocalCluster,
    pub client: async_nats::Client,
    pub store: Arc<EventStore>,
    pub auth: AuthConfig,
    pub issuer: TokenIssuer,
    pub clock: Arc<ManualClock>,
    pub gateways: Vec<GatewayHandle>,
    dir: tempfile::TempDir,
}

impl ClusterEnv {
    pub async fn start() -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().expect("temp dir");
        let cluster = LocalCluster::start(dir.path(), "signoff", false, None)
            .await
            .unwrap_or_else(|e| panic!("could not start a 3-node nats cluster: {e}"));
        let client = async_nats::connect(cluster.url(0))
            .await
            .expect("connect to node 0");
        let auth = crate::test_auth();
        let mut env = ClusterEnv {
            store: Arc::new(
                EventStore::open(client.clone(), Self::stream().settings())
                    .await
                    .expect("open the replicated event store"),
            ),
            cluster,
            client,
            issuer: TokenIssuer::new(&auth).expect("issuer"),
            auth,
            clock: Arc::new(ManualClock::new(crate::t0())),
            gateways: Vec::new(),
            dir,
        };
        for node in 0..CLUSTER_SIZE {
            let gateway = start_gateway(&env.config(node), env.clock.clone())
                .await
                .expect("gateway starts");
            env.gateways.push(gateway);
        }
        env
    }

    /// The event stream with 3 replicas.
    pub fn stream() -> StreamConfig {
        StreamConfig {
            replicas: CLUSTER_SIZE,
            ..StreamConfig::default()
        }
    }

    /// The configuration of a process connected to `node`.
    pub fn config(&self, node: usize) -> SignoffConfig {
        // Through the file format, so fields added later keep their defaults.
        serde_json::from_value(json!({
            "natsUrl": self.cluster.url(node),
            "stream": Self::stream(),
            "auth": self.auth,
            "directory": crate::demo_directory(),
        }))
        .expect("a valid configuration")
    }

    pub fn client_as(&self, user: &str) -> CommandClient {
        CommandClient::new(self.client.clone(), self.issuer.issue(user, &[], 3600))
    }

    pub fn temp_path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// The stream's cluster state, as the current leader reports it (retried
    /// while there is none).
    pub async fn stream_cluster(&self) -> async_nats::jetstream::stream::ClusterInfo {
        let deadline = Instant::now() + RECOVERY;
        loop {
            let info = async {
                let mut stream = self
                    .store
                    .jetstream()
                    .get_stream(&self.store.settings().name)
                    .await
                    .ok()?;
                let cluster = stream.info().await.ok()?.cluster.clone()?;
                cluster.leader.is_some().then_some(cluster)
            };
            if let Some(cluster) = info.await {
                return cluster;
            }
            assert!(Instant::now() < deadline, "the stream has no leader");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Index of the node leading the event stream.
    pub async fn stream_leader(&self) -> usize {
        let leader = self.stream_cluster().await.leader.expect("a leader");
        self.cluster
            .index_of(&leader)
            .unwrap_or_else(|| panic!("unknown leader {leader}"))
    }

    /// Waits until every replica is up, current and not lagging.
    pub async fn wait_until_replicas_current(&self) {
        eventually("every replica is current", RECOVERY, || async {
            let cluster = self.stream_cluster().await;
            cluster.replicas.len() == CLUSTER_SIZE - 1
                && cluster
                    .replicas
                    .iter()
                    .all(|r| r.current && !r.offline && r.lag.unwrap_or(0) == 0)
        })
        .await;
    }
}
