//! Run a real, local `nats-server` process with JetStream enabled.
//!
//! Used by `signoff dev`, by the integration-test harness and by benchmarks.
//! [`LocalCluster`] runs three of them as one JetStream cluster (routes on
//! loopback) for the fault suite.
//! The server always listens on `127.0.0.1` only. With `port: None` the kernel
//! picks a free port (no fixed ports, so parallel tests never collide); the
//! chosen port is discovered from the server's ports file (with the log line
//! as a fallback) and kept for [`LocalNats::restart`].
//!
//! Files written per server (all inside `<store_dir>/local-nats/`, next to the
//! `jetstream/` directory that nats-server itself creates in the store dir):
//! - `nats-server.conf` — the generated configuration,
//! - `nats-server.log`  — stdout and stderr of every start (appended),
//! - `ports/`           — the ports file directory of the current run.
//!
//! Binary discovery ([`find_nats_server`]): `SIGNOFF_NATS_SERVER`, then
//! `nats-server` on `PATH`, then `<workspace>/target/tools/nats/bin/nats-server`
//! (where `cargo xtask nats-server` installs it).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// Oldest nats-server this module (and signoff) supports.
pub use signoff_eventstore::jetstream::MIN_SERVER_VERSION;

/// Environment variable naming the nats-server binary to use.
pub const NATS_SERVER_ENV: &str = "SIGNOFF_NATS_SERVER";

/// Environment variable naming the workspace root (set by `cargo xtask`).
pub const WORKSPACE_DIR_ENV: &str = "CARGO_WORKSPACE_DIR";

/// Where `cargo xtask nats-server` installs the binary, relative to the workspace root.
pub const XTASK_INSTALL_PATH: &str = "target/tools/nats/bin/nats-server";

/// How long [`LocalNats::start`] and [`LocalNats::restart`] wait for readiness.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Name of the subdirectory of the store dir holding config, log and ports file.
pub const RUN_SUBDIR: &str = "local-nats";

const HOW_TO_FIX: &str = "run `cargo xtask nats-server` to install a current nats-server \
     (it prints its path), or set SIGNOFF_NATS_SERVER to the path of a nats-server >= 2.10.0";

const LOG_TAIL_LINES: usize = 40;
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Everything that can go wrong while finding, starting or controlling a local nats-server.
#[derive(Debug, thiserror::Error)]
pub enum LocalNatsError {
    /// No nats-server binary was found.
    #[error("nats-server binary not found (searched: {searched}); {HOW_TO_FIX}")]
    BinaryNotFound { searched: String },

    /// The binary found is older than [`MIN_SERVER_VERSION`].
    #[error("nats-server {found} is too old, signoff needs >= {min}; {HOW_TO_FIX}")]
    TooOld { found: String, min: String },

    /// `nats-server --version` could not be run or its output not understood.
    #[error("could not determine the version of {binary}: {detail}; {HOW_TO_FIX}", binary = .binary.display())]
    Version { binary: PathBuf, detail: String },

    /// The server process could not be spawned.
    #[error("failed to spawn nats-server: {0}; {HOW_TO_FIX}")]
    Spawn(#[source] std::io::Error),

    /// A file-system or process-control operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// The server did not become ready (client connect + JetStream answering) in time.
    /// `log_tail` starts with the log file's path.
    #[error("nats-server did not become ready within {waited:?}; {log_tail}")]
    NotReady { waited: Duration, log_tail: String },

    /// The server process exited while we waited for it to become ready.
    /// `log_tail` starts with the log file's path.
    #[error("nats-server exited during startup with {status}; {log_tail}")]
    Exited { status: String, log_tail: String },

    /// The operation needs a running server process, but there is none (e.g. after [`LocalNats::kill`]).
    #[error("nats-server is not running (call `restart` first)")]
    NotRunning,

    /// Sending a signal with `kill(1)` failed.
    #[error("failed to send SIG{signal} to nats-server pid {pid}: {detail}")]
    Signal {
        signal: &'static str,
        pid: u32,
        detail: String,
    },
}

impl LocalNatsError {
    fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        LocalNatsError::Io {
            context: context.into(),
            source,
        }
    }
}

/// How to run the server.
#[derive(Debug, Clone, Default)]
pub struct NatsServerOptions {
    /// JetStream store directory (created if missing). nats-server keeps its data in
    /// `<store_dir>/jetstream`; this module keeps config and log in `<store_dir>/local-nats`.
    pub store_dir: PathBuf,
    /// Client port on 127.0.0.1; `None` lets the kernel pick a free one.
    pub port: Option<u16>,
    /// `jetstream { sync_interval: always }`: fsync every write, so acknowledged
    /// messages survive `kill -9` / power loss.
    pub sync_always: bool,
    /// Appended verbatim to the generated config file (accounts, authorization, limits ...).
    /// With authorization configured, readiness is judged by the server's "Server is ready"
    /// log line instead of an unauthenticated JetStream request.
    pub extra_config: Option<String>,
    /// `server_name` in the config (nats-server generates one when absent).
    pub server_name: Option<String>,
}

impl NatsServerOptions {
    /// Options with a dynamic port, default fsync behaviour and nothing extra.
    pub fn new(store_dir: impl Into<PathBuf>) -> Self {
        NatsServerOptions {
            store_dir: store_dir.into(),
            ..Default::default()
        }
    }

    /// Render the nats-server configuration file for this options set, listening on
    /// `port` (`None` = dynamic).
    pub fn render_config(&self, port: Option<u16>) -> String {
        let mut cfg = String::from("# generated by signoff_api::local_nats; do not edit\n");
        if let Some(name) = &self.server_name {
            let _ = writeln!(cfg, "server_name: {}", quote(name));
        }
        let port = port.map_or_else(|| "-1".to_string(), |p| p.to_string());
        let _ = writeln!(cfg, "listen: \"127.0.0.1:{port}\"");
        cfg.push_str("jetstream {\n");
        let _ = writeln!(
            cfg,
            "  store_dir: {}",
            quote(&self.store_dir.to_string_lossy())
        );
        if self.sync_always {
            cfg.push_str("  sync_interval: always\n");
        }
        cfg.push_str("}\n");
        if let Some(extra) = &self.extra_config {
            cfg.push('\n');
            cfg.push_str(extra);
            cfg.push('\n');
        }
        cfg
    }
}

/// Quote a string for the nats-server config format (JSON-compatible double quotes).
fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("serialising a string cannot fail")
}

/// Locate a nats-server binary.
///
/// Order: `$SIGNOFF_NATS_SERVER` (an error if set but missing), `nats-server` on `PATH`,
/// `<workspace>/target/tools/nats/bin/nats-server`. A `PATH` binary older than
/// [`MIN_SERVER_VERSION`] is skipped when the workspace-installed one exists.
pub fn find_nats_server() -> Result<PathBuf, LocalNatsError> {
    if let Some(value) = std::env::var_os(NATS_SERVER_ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        if is_executable_file(&path) {
            return Ok(absolutize(path));
        }
        return Err(LocalNatsError::BinaryNotFound {
            searched: format!(
                "{NATS_SERVER_ENV}={} (set, but not an executable file)",
                path.display()
            ),
        });
    }

    let mut searched = vec![format!("${NATS_SERVER_ENV} (unset)")];
    let on_path = find_on_path("nats-server");
    searched.push("nats-server on PATH".to_string());

    let workspace_candidates: Vec<PathBuf> = workspace_roots()
        .into_iter()
        .map(|root| root.join(XTASK_INSTALL_PATH))
        .collect();
    for c in &workspace_candidates {
        searched.push(c.display().to_string());
    }
    let installed = workspace_candidates
        .into_iter()
        .find(|p| is_executable_file(p));

    match (on_path, installed) {
        (Some(p), None) => Ok(p),
        (Some(p), Some(installed)) => match server_version(&p) {
            Ok(v) if v >= MIN_SERVER_VERSION => Ok(p),
            _ => Ok(installed),
        },
        (None, Some(installed)) => Ok(installed),
        (None, None) => Err(LocalNatsError::BinaryNotFound {
            searched: searched.join(", "),
        }),
    }
}

/// Run `<binary> --version` and parse output like `nats-server: v2.15.1`.
pub fn server_version(binary: &Path) -> Result<(u64, u64, u64), LocalNatsError> {
    let out = std::process::Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LocalNatsError::Version {
            binary: binary.to_path_buf(),
            detail: e.to_string(),
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    parse_version(&text).ok_or_else(|| LocalNatsError::Version {
        binary: binary.to_path_buf(),
        detail: format!(
            "unexpected `--version` output ({}): {:?}",
            out.status,
            text.trim()
        ),
    })
}

/// Parse `nats-server: v2.15.1` (also `v2.11.0-RC.1`, `2.10.3`) into a triple.
pub fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    text.split_whitespace().find_map(|word| {
        let v = word.strip_prefix('v').unwrap_or(word);
        let mut parts = v.splitn(3, '.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch_str = parts.next()?;
        let digits: String = patch_str
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        let patch = digits.parse().ok()?;
        Some((major, minor, patch))
    })
}

fn fmt_version(v: (u64, u64, u64)) -> String {
    format!("{}.{}.{}", v.0, v.1, v.2)
}

fn is_executable_file(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn absolutize(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| absolutize(dir.join(name)))
        .find(|p| is_executable_file(p))
}

/// Candidate workspace roots: `$CARGO_WORKSPACE_DIR`, else the first ancestor of the current
/// directory and of this crate's manifest dir whose `Cargo.toml` has a `[workspace]` table.
pub fn workspace_roots() -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os(WORKSPACE_DIR_ENV).filter(|v| !v.is_empty()) {
        return vec![PathBuf::from(dir)];
    }
    let mut roots = Vec::new();
    let starts = [
        std::env::current_dir().ok(),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR"))),
    ];
    for start in starts.into_iter().flatten() {
        if let Some(root) = start.ancestors().find(|dir| is_workspace_root(dir)) {
            if !roots.iter().any(|r| r == root) {
                roots.push(root.to_path_buf());
            }
        }
    }
    roots
}

fn is_workspace_root(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .map(|s| s.lines().any(|l| l.trim() == "[workspace]"))
        .unwrap_or(false)
}

/// A nats-server child process with JetStream enabled, killed when dropped.
#[derive(Debug)]
pub struct LocalNats {
    opts: NatsServerOptions,
    binary: PathBuf,
    version: (u64, u64, u64),
    run_dir: PathBuf,
    config_path: PathBuf,
    log_path: PathBuf,
    port: u16,
    child: Option<Child>,
    ready_timeout: Duration,
}

impl LocalNats {
    /// Find the binary, check its version, write the config, start the server and wait
    /// (up to [`DEFAULT_READY_TIMEOUT`]) until a client can connect and JetStream answers.
    pub async fn start(opts: NatsServerOptions) -> Result<Self, LocalNatsError> {
        Self::start_with_timeout(opts, DEFAULT_READY_TIMEOUT).await
    }

    /// [`LocalNats::start`] with an explicit readiness timeout (also used by `restart`).
    pub async fn start_with_timeout(
        opts: NatsServerOptions,
        ready_timeout: Duration,
    ) -> Result<Self, LocalNatsError> {
        let binary = tokio::task::spawn_blocking(find_nats_server)
            .await
            .map_err(|e| LocalNatsError::io("finding nats-server", std::io::Error::other(e)))??;
        Self::start_binary(binary, opts, ready_timeout).await
    }

    /// Start a specific nats-server binary (skips [`find_nats_server`]).
    pub async fn start_binary(
        binary: PathBuf,
        mut opts: NatsServerOptions,
        ready_timeout: Duration,
    ) -> Result<Self, LocalNatsError> {
        let version = {
            let b = binary.clone();
            tokio::task::spawn_blocking(move || server_version(&b))
                .await
                .map_err(|e| {
                    LocalNatsError::io("checking nats-server version", std::io::Error::other(e))
                })??
        };
        if version < MIN_SERVER_VERSION {
            return Err(LocalNatsError::TooOld {
                found: format!("{} (at {})", fmt_version(version), binary.display()),
                min: fmt_version(MIN_SERVER_VERSION),
            });
        }

        tokio::fs::create_dir_all(&opts.store_dir)
            .await
            .map_err(|e| {
                LocalNatsError::io(
                    format!("creating store dir {}", opts.store_dir.display()),
                    e,
                )
            })?;
        // nats-server resolves a relative store_dir against its own cwd; pin it.
        opts.store_dir = tokio::fs::canonicalize(&opts.store_dir)
            .await
            .map_err(|e| {
                LocalNatsError::io(
                    format!("resolving store dir {}", opts.store_dir.display()),
                    e,
                )
            })?;
        let run_dir = opts.store_dir.join(RUN_SUBDIR);
        let mut this = LocalNats {
            config_path: run_dir.join("nats-server.conf"),
            log_path: run_dir.join("nats-server.log"),
            run_dir,
            binary,
            version,
            port: opts.port.unwrap_or(0),
            opts,
            child: None,
            ready_timeout,
        };
        let fixed_port = this.opts.port;
        this.spawn_and_wait(fixed_port).await?;
        Ok(this)
    }

    /// `nats://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port (stable across [`LocalNats::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Pid of the running server process, `None` after [`LocalNats::kill`].
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// The JetStream store directory (absolute).
    pub fn store_dir(&self) -> &Path {
        &self.opts.store_dir
    }

    /// The options the server runs with (`store_dir` made absolute).
    pub fn options(&self) -> &NatsServerOptions {
        &self.opts
    }

    /// The nats-server binary in use.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The version of the binary in use.
    pub fn version(&self) -> (u64, u64, u64) {
        self.version
    }

    /// The server's log file (stdout + stderr of every start, appended).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The generated configuration file.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        read_tail(&self.log_path, 0, lines)
    }

    /// Whether the server process is alive (a paused process counts as alive).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILL the server (no graceful shutdown, like `kill -9`) and wait until it is gone.
    /// A no-op when it is not running.
    pub async fn kill(&mut self) -> Result<(), LocalNatsError> {
        if let Some(mut child) = self.child.take() {
            if let Err(e) = child.kill().await {
                // `kill` fails with InvalidInput when the child has already been reaped.
                if e.kind() != std::io::ErrorKind::InvalidInput {
                    return Err(LocalNatsError::io("killing nats-server", e));
                }
            }
        }
        Ok(())
    }

    /// Graceful shutdown: SIGTERM, then wait up to `timeout` for exit, then SIGKILL.
    pub async fn stop(&mut self, timeout: Duration) -> Result<(), LocalNatsError> {
        if self.child.is_none() {
            return Ok(());
        }
        // A stopped process does not act on SIGTERM until continued.
        let _ = self.resume();
        self.signal_stop()?;
        let child = self.child.as_mut().expect("checked above");
        match tokio::time::timeout(timeout, child.wait()).await {
            Ok(Ok(_)) => {
                self.child = None;
                Ok(())
            }
            Ok(Err(e)) => Err(LocalNatsError::io("waiting for nats-server to exit", e)),
            Err(_) => self.kill().await,
        }
    }

    /// Ask the server to shut down gracefully (SIGTERM) without waiting.
    pub fn signal_stop(&self) -> Result<(), LocalNatsError> {
        self.send_signal("TERM")
    }

    /// Freeze the server process (SIGSTOP): connections stay open but nothing is answered.
    pub fn pause(&self) -> Result<(), LocalNatsError> {
        self.send_signal("STOP")
    }

    /// Continue a server frozen with [`LocalNats::pause`] (SIGCONT).
    pub fn resume(&self) -> Result<(), LocalNatsError> {
        self.send_signal("CONT")
    }

    /// Kill the server if it runs, then start it again on the same port with the same
    /// store dir and wait until it is ready.
    pub async fn restart(&mut self) -> Result<(), LocalNatsError> {
        self.kill().await?;
        let port = self.port;
        self.spawn_and_wait(Some(port)).await
    }

    fn send_signal(&self, signal: &'static str) -> Result<(), LocalNatsError> {
        let pid = self.pid().ok_or(LocalNatsError::NotRunning)?;
        let out = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| LocalNatsError::Signal {
                signal,
                pid,
                detail: format!("could not run `kill`: {e}"),
            })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(LocalNatsError::Signal {
                signal,
                pid,
                detail: format!(
                    "`kill` {}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            })
        }
    }

    async fn spawn_and_wait(&mut self, port: Option<u16>) -> Result<(), LocalNatsError> {
        let ports_dir = self.run_dir.join("ports");
        match tokio::fs::remove_dir_all(&ports_dir).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(LocalNatsError::io(
                    format!("clearing {}", ports_dir.display()),
                    e,
                ))
            }
        }
        tokio::fs::create_dir_all(&ports_dir)
            .await
            .map_err(|e| LocalNatsError::io(format!("creating {}", ports_dir.display()), e))?;
        tokio::fs::write(&self.config_path, self.opts.render_config(port))
            .await
            .map_err(|e| {
                LocalNatsError::io(format!("writing {}", self.config_path.display()), e)
            })?;

        let log_offset = tokio::fs::metadata(&self.log_path)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| LocalNatsError::io(format!("opening {}", self.log_path.display()), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| LocalNatsError::io("duplicating the log file handle", e))?;

        let mut cmd = Command::new(&self.binary);
        cmd.arg("--config")
            .arg(&self.config_path)
            .arg("--ports_file_dir")
            .arg(&ports_dir)
            .current_dir(&self.run_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(LocalNatsError::Spawn)?;
        let pid = child.id().unwrap_or(0);
        tracing::debug!(
            pid,
            binary = %self.binary.display(),
            config = %self.config_path.display(),
            "started nats-server"
        );
        self.child = Some(child);

        match self.wait_ready(pid, &ports_dir, log_offset).await {
            Ok(found_port) => {
                self.port = found_port;
                tracing::info!(
                    pid,
                    url = %self.url(),
                    store_dir = %self.opts.store_dir.display(),
                    "nats-server ready"
                );
                Ok(())
            }
            Err(e) => {
                let _ = self.kill().await;
                Err(e)
            }
        }
    }

    async fn wait_ready(
        &mut self,
        pid: u32,
        ports_dir: &Path,
        log_offset: u64,
    ) -> Result<u16, LocalNatsError> {
        let started = Instant::now();
        let deadline = started + self.ready_timeout;
        let mut port: Option<u16> = None;
        let mut last_problem = String::from("no client port reported yet");
        loop {
            // Did it die?
            if let Some(child) = self.child.as_mut() {
                match child.try_wait() {
                    Ok(Some(status)) => {
                        self.child = None;
                        return Err(LocalNatsError::Exited {
                            status: status.to_string(),
                            log_tail: log_report(&self.log_path, log_offset),
                        });
                    }
                    Ok(None) => {}
                    Err(e) => return Err(LocalNatsError::io("polling nats-server", e)),
                }
            }

            if port.is_none() {
                port = discover_port(ports_dir, pid, &self.log_path, log_offset);
            }
            if let Some(p) = port {
                let remaining = deadline.saturating_duration_since(Instant::now());
                match probe(p, remaining.min(Duration::from_secs(2))).await {
                    Probe::Ready => return Ok(p),
                    Probe::AuthRequired => {
                        // Authorization in extra_config: we cannot ask JetStream as an
                        // anonymous client; the server logs "Server is ready" only after
                        // JetStream has started and the listeners are up.
                        if log_since(&self.log_path, log_offset).contains("Server is ready") {
                            return Ok(p);
                        }
                        last_problem =
                            "authorization required; waiting for \"Server is ready\" in the log"
                                .into();
                    }
                    Probe::NotYet(why) => last_problem = why,
                }
            }

            if Instant::now() >= deadline {
                let mut tail = log_report(&self.log_path, log_offset);
                let _ = write!(tail, "\n(last readiness problem: {last_problem})");
                return Err(LocalNatsError::NotReady {
                    waited: started.elapsed(),
                    log_tail: tail,
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

impl Drop for LocalNats {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

enum Probe {
    Ready,
    AuthRequired,
    NotYet(String),
}

async fn probe(port: u16, timeout: Duration) -> Probe {
    let timeout = timeout.max(Duration::from_millis(100));
    let connect = async_nats::ConnectOptions::new()
        .name("signoff-local-nats-probe")
        .connection_timeout(timeout)
        .request_timeout(Some(timeout))
        .max_reconnects(Some(1))
        .connect(format!("nats://127.0.0.1:{port}"));
    let client = match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => {
            return match e.kind() {
                async_nats::ConnectErrorKind::AuthorizationViolation
                | async_nats::ConnectErrorKind::Authentication => Probe::AuthRequired,
                _ => Probe::NotYet(format!("client connect failed: {e}")),
            }
        }
        Err(_) => return Probe::NotYet("client connect timed out".into()),
    };
    let js = async_nats::jetstream::new(client.clone());
    let result = match tokio::time::timeout(timeout, js.query_account()).await {
        Ok(Ok(_)) => Probe::Ready,
        Ok(Err(e)) => Probe::NotYet(format!("JetStream account info failed: {e}")),
        Err(_) => Probe::NotYet("JetStream account info timed out".into()),
    };
    drop(js);
    let _ = client.drain().await;
    result
}

/// Port from `<ports_dir>/<exe>_<pid>.ports` (`{"nats":["nats://127.0.0.1:PORT"],...}`),
/// falling back to the log line `Listening for client connections on 127.0.0.1:PORT`.
fn discover_port(ports_dir: &Path, pid: u32, log_path: &Path, log_offset: u64) -> Option<u16> {
    let suffix = format!("_{pid}.ports");
    if let Ok(entries) = std::fs::read_dir(ports_dir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().ends_with(&suffix) {
                continue;
            }
            // The file may be half-written; an unparsable one is retried on the next poll.
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            let urls = json.get("nats").and_then(|v| v.as_array());
            if let Some(port) = urls
                .into_iter()
                .flatten()
                .filter_map(|u| u.as_str())
                .find_map(|u| u.rsplit(':').next()?.parse::<u16>().ok())
            {
                return Some(port);
            }
        }
    }
    const MARKER: &str = "Listening for client connections on ";
    let log = log_since(log_path, log_offset);
    log.lines().find_map(|line| {
        let rest = &line[line.find(MARKER)? + MARKER.len()..];
        rest.trim().rsplit(':').next()?.parse().ok()
    })
}

fn log_since(log_path: &Path, offset: u64) -> String {
    let bytes = std::fs::read(log_path).unwrap_or_default();
    let start = usize::try_from(offset).unwrap_or(0).min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// "log <path>, last lines:\n..." for error messages.
fn log_report(log_path: &Path, offset: u64) -> String {
    format!(
        "log {}, last lines of this start:\n{}",
        log_path.display(),
        read_tail(log_path, offset, LOG_TAIL_LINES)
    )
}

fn read_tail(log_path: &Path, offset: u64, lines: usize) -> String {
    let text = log_since(log_path, offset);
    let all: Vec<&str> = text.lines().collect();
    let tail = &all[all.len().saturating_sub(lines)..];
    if tail.is_empty() {
        "(log is empty)".to_string()
    } else {
        tail.join("\n")
    }
}

/// Nodes of a [`LocalCluster`].
pub const CLUSTER_SIZE: usize = 3;

/// A three-node JetStream cluster on loopback: one [`LocalNats`] per node, each
/// with its own store dir, `server_name` (`<name>-1` ...), dynamic client port
/// and a route port chosen free at start and kept across restarts, so a node
/// killed with [`LocalCluster::kill`] comes back into the same cluster with
/// [`LocalCluster::restart`]. Clients connected to one node learn the others
/// from the server (`connect_urls`) and fail over to them.
#[derive(Debug)]
pub struct LocalCluster {
    name: String,
    nodes: Vec<LocalNats>,
}

impl LocalCluster {
    /// Starts the nodes under `base_dir/<server name>/` and waits until each
    /// answers a JetStream request (which needs an elected meta leader).
    /// `sync_always` as in [`NatsServerOptions`]; a cluster usually relies on
    /// replicas instead. `extra_config` is appended to every node's config.
    pub async fn start(
        base_dir: &Path,
        name: &str,
        sync_always: bool,
        extra_config: Option<String>,
    ) -> Result<Self, LocalNatsError> {
        let route_ports = free_ports(CLUSTER_SIZE)?;
        let routes = route_ports
            .iter()
            .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let starts = route_ports.iter().enumerate().map(|(i, route_port)| {
            let server_name = format!("{name}-{}", i + 1);
            let mut config = format!(
                "cluster {{\n  name: {}\n  listen: \"127.0.0.1:{route_port}\"\n  routes: [{routes}]\n}}\n",
                quote(name)
            );
            if let Some(extra) = &extra_config {
                config.push_str(extra);
                config.push('\n');
            }
            LocalNats::start(NatsServerOptions {
                store_dir: base_dir.join(&server_name),
                port: None,
                sync_always,
                extra_config: Some(config),
                server_name: Some(server_name),
            })
        });
        // Concurrently: JetStream in a cluster is ready only when a quorum of nodes is up.
        let mut nodes = Vec::with_capacity(CLUSTER_SIZE);
        for result in futures::future::join_all(starts).await {
            nodes.push(result?);
        }
        Ok(LocalCluster {
            name: name.to_string(),
            nodes,
        })
    }

    /// The cluster's name (`cluster { name }`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The nodes, in start order.
    pub fn nodes(&self) -> &[LocalNats] {
        &self.nodes
    }

    /// Node `index` (0-based).
    pub fn node_mut(&mut self, index: usize) -> &mut LocalNats {
        &mut self.nodes[index]
    }

    /// `nats://127.0.0.1:PORT` of node `index`.
    pub fn url(&self, index: usize) -> String {
        self.nodes[index].url()
    }

    /// The `server_name` of node `index`.
    pub fn server_name(&self, index: usize) -> &str {
        self.nodes[index]
            .options()
            .server_name
            .as_deref()
            .expect("cluster nodes are named")
    }

    /// The index of the node named `server_name` (as JetStream reports leaders).
    pub fn index_of(&self, server_name: &str) -> Option<usize> {
        (0..self.nodes.len()).find(|&i| self.server_name(i) == server_name)
    }

    /// `kill -9` node `index`.
    pub async fn kill(&mut self, index: usize) -> Result<(), LocalNatsError> {
        self.nodes[index].kill().await
    }

    /// Starts node `index` again on its client and route ports with its store.
    pub async fn restart(&mut self, index: usize) -> Result<(), LocalNatsError> {
        self.nodes[index].restart().await
    }
}

/// `count` distinct ports that were free a moment ago (bound to 127.0.0.1:0,
/// then released). Route ports must be known to every node before any starts.
fn free_ports(count: usize) -> Result<Vec<u16>, LocalNatsError> {
    let listeners = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| LocalNatsError::io("finding a free route port", e))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| LocalNatsError::io("finding a free route port", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_nats::jetstream;

    #[test]
    fn parses_versions() {
        assert_eq!(parse_version("nats-server: v2.15.1\n"), Some((2, 15, 1)));
        assert_eq!(parse_version("nats-server: v2.11.0-RC.1"), Some((2, 11, 0)));
        assert_eq!(parse_version("2.10.3"), Some((2, 10, 3)));
        assert_eq!(parse_version("nats-server: unknown"), None);
        assert!((2, 9, 25) < MIN_SERVER_VERSION && (2, 10, 0) >= MIN_SERVER_VERSION);
    }

    #[test]
    fn renders_config() {
        let opts = NatsServerOptions {
            store_dir: PathBuf::from("/tmp/a \"b\""),
            port: None,
            sync_always: true,
            extra_config: Some("max_payload: 2MB".into()),
            server_name: Some("dev".into()),
        };
        let cfg = opts.render_config(None);
        assert!(cfg.contains("listen: \"127.0.0.1:-1\""), "{cfg}");
        assert!(cfg.contains(r#"store_dir: "/tmp/a \"b\"""#), "{cfg}");
        assert!(cfg.contains("sync_interval: always"), "{cfg}");
        assert!(cfg.contains("server_name: \"dev\""), "{cfg}");
        assert!(cfg.trim_end().ends_with("max_payload: 2MB"), "{cfg}");
        let cfg = NatsServerOptions::new("/x").render_config(Some(4333));
        assert!(cfg.contains("listen: \"127.0.0.1:4333\""), "{cfg}");
        assert!(!cfg.contains("sync_interval"), "{cfg}");
    }

    #[test]
    fn finds_a_current_server() {
        let bin = find_nats_server().expect("nats-server must be available for the tests");
        let v = server_version(&bin).expect("version");
        assert!(v >= MIN_SERVER_VERSION, "{v:?} at {}", bin.display());
    }

    async fn stream_with_one_message(js: &jetstream::Context) {
        js.create_stream(jetstream::stream::Config {
            name: "EVENTS".into(),
            subjects: vec!["events.>".into()],
            ..Default::default()
        })
        .await
        .expect("create stream");
        js.publish("events.one", "hello".into())
            .await
            .expect("publish")
            .await
            .expect("publish ack");
    }

    #[tokio::test]
    async fn survives_kill_9_and_restarts_on_same_port() {
        let dir = tempfile::tempdir().unwrap();
        let mut nats = LocalNats::start(NatsServerOptions {
            store_dir: dir.path().join("store"),
            port: None,
            sync_always: true,
            extra_config: None,
            server_name: Some("local-nats-test".into()),
        })
        .await
        .expect("start nats-server");
        let port = nats.port();
        assert_ne!(port, 0);
        assert_eq!(nats.url(), format!("nats://127.0.0.1:{port}"));
        let pid = nats.pid().expect("running");
        assert!(nats.store_dir().is_absolute());
        assert!(nats.store_dir().join("jetstream").is_dir());

        // Stays connected across the kill, as clients of a crashing server do.
        let held = async_nats::connect(nats.url()).await.expect("connect");
        stream_with_one_message(&jetstream::new(held.clone())).await;

        nats.kill().await.expect("kill -9");
        assert_eq!(nats.pid(), None);
        assert!(!nats.is_running());
        assert!(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err(),
            "port must be closed after kill"
        );

        nats.restart().await.expect("restart");
        assert_eq!(nats.port(), port, "restart keeps the port");
        assert_ne!(nats.pid(), Some(pid));

        let client = async_nats::connect(nats.url()).await.expect("reconnect");
        let js = jetstream::new(client.clone());
        let stream = js.get_stream("EVENTS").await.expect("stream survived");
        let msg = stream
            .get_last_raw_message_by_subject("events.one")
            .await
            .expect("message survived kill -9");
        assert_eq!(&msg.payload[..], b"hello");

        // restart while running kills first
        nats.restart().await.expect("restart while running");
        assert_eq!(nats.port(), port);
        drop(client);
        drop(held);

        let log = std::fs::read_to_string(nats.log_path()).unwrap();
        assert!(log.contains("Server is ready"), "{log}");
    }

    #[tokio::test]
    async fn pause_and_resume() {
        let dir = tempfile::tempdir().unwrap();
        let mut nats = LocalNats::start(NatsServerOptions::new(dir.path()))
            .await
            .expect("start nats-server");
        let client = async_nats::ConnectOptions::new()
            .request_timeout(Some(Duration::from_millis(300)))
            .connect(nats.url())
            .await
            .expect("connect");

        nats.pause().expect("SIGSTOP");
        let paused = client.request("no.responder", "x".into()).await;
        assert!(paused.is_err(), "a paused server answers nothing");

        nats.resume().expect("SIGCONT");
        let js = jetstream::new(client.clone());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match js.query_account().await {
                Ok(_) => break,
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!("waiting after resume: {e}");
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
                Err(e) => panic!("JetStream did not answer after resume: {e}"),
            }
        }

        nats.stop(Duration::from_secs(10)).await.expect("stop");
        assert_eq!(nats.pid(), None);
        assert!(matches!(nats.pause(), Err(LocalNatsError::NotRunning)));
    }

    #[tokio::test]
    async fn authorization_in_extra_config() {
        let dir = tempfile::tempdir().unwrap();
        let nats = LocalNats::start(NatsServerOptions {
            extra_config: Some(
                "authorization { users: [ { user: alice, password: s3cret } ] }".into(),
            ),
            ..NatsServerOptions::new(dir.path())
        })
        .await
        .expect("start nats-server with authorization");
        let client =
            async_nats::ConnectOptions::with_user_and_password("alice".into(), "s3cret".into())
                .connect(nats.url())
                .await
                .expect("connect as alice");
        jetstream::new(client)
            .query_account()
            .await
            .expect("JetStream answers alice");
    }

    #[tokio::test]
    async fn bad_config_reports_log_tail() {
        let dir = tempfile::tempdir().unwrap();
        let err = LocalNats::start(NatsServerOptions {
            extra_config: Some("this is { not valid".into()),
            ..NatsServerOptions::new(dir.path())
        })
        .await
        .expect_err("invalid config must fail");
        match &err {
            LocalNatsError::Exited { log_tail, .. } => {
                assert!(!log_tail.is_empty(), "{err}")
            }
            other => panic!("expected Exited, got {other}"),
        }
    }

    #[test]
    fn errors_tell_how_to_fix() {
        let err = LocalNatsError::BinaryNotFound {
            searched: "x".into(),
        };
        assert!(err.to_string().contains("cargo xtask nats-server"));
    }
}
