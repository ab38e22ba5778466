//! Peak resident memory (`VmHWM`) of the real `signoff gateway`, `signoff
//! projector` and `signoff scheduler` processes against a log that holds the
//! background volume.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::drive::Target;
use crate::world::{self, Server};

/// Kills the child on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// Peak resident set of `pid`, in MiB.
pub fn peak_rss_mib(pid: u32) -> anyhow::Result<f64> {
    Ok(status_kib(pid, "VmHWM:")? as f64 / 1024.0)
}

/// utime + stime of `pid`, in clock ticks (`USER_HZ`: 100 per second).
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').context("malformed stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
}

/// Waits until the process has used (almost) no CPU for `quiet` (it has
/// finished loading), at most `timeout`.
async fn wait_idle(child: &mut Child, quiet: Duration, timeout: Duration) -> anyhow::Result<()> {
    let pid = child.id();
    let deadline = Instant::now() + timeout;
    let mut window = (Instant::now(), cpu_ticks(pid)?);
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Some(status) = child.try_wait()? {
            bail!("the process exited: {status}");
        }
        let now = cpu_ticks(pid)?;
        if now > window.1 + 2 {
            window = (Instant::now(), now);
        } else if window.0.elapsed() >= quiet {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the process was still busy after {timeout:?}");
        }
    }
}

fn spawn(binary: &Path, args: &[&str], config: &Path, log: &Path) -> anyhow::Result<Process> {
    let log = std::fs::File::create(log)?;
    Command::new(binary)
        .args(args)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map(Process)
        .with_context(|| format!("starting {} {}", binary.display(), args.join(" ")))
}

/// `GET /v1/health` over plain HTTP/1.0: the projector's checkpoint.
async fn health_checkpoint(port: u16) -> Option<u64> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    stream
        .write_all(b"GET /v1/health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let body = response.split("\r\n\r\n").nth(1)?;
    let health: serde_json::Value = serde_json::from_str(body).ok()?;
    health.get("checkpoint")?.as_u64()
}

pub struct Memory {
    pub gateway_mib: f64,
    pub projector_mib: f64,
    pub projector_secs: f64,
    pub scheduler_mib: f64,
}

/// Runs each process against `server`'s log and reads its peak RSS:
/// the gateway after `commands` submits through it, the projector once its
/// checkpoint reaches the end of the log, the scheduler once it has loaded
/// every deadline (it goes idle; its clock is pinned before any deadline).
pub async fn measure(server: &Server, dir: &Path, commands: usize) -> anyhow::Result<Memory> {
    let binary = world::signoff_binary()?;
    let config = dir.join("signoff.json");
    server.config().save(&config)?;
    let clock = dir.join("clock");
    std::fs::write(&clock, "2026-11-26T10:00:00Z\n")?;
    let last = server.last_sequence().await?;

    // Gateway: the only one on this server, so it answers every command.
    let mut gateway = spawn(&binary, &["gateway"], &config, &dir.join("gateway.log"))?;
    let client = world::connect(&server.nats.url()).await?;
    let target = Arc::new(crate::targets::Gateway::new(client));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match target.submit(uuid::Uuid::new_v4()).await {
            Ok(_) => break,
            Err(_) if Instant::now() < deadline => {
                if let Some(status) = gateway.0.try_wait()? {
                    bail!("signoff gateway exited: {status}");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e.context("the gateway process did not answer")),
        }
    }
    crate::drive::closed_loop(target, commands / 2, 64).await?;
    let gateway_mib = peak_rss_mib(gateway.0.id())?;
    drop(gateway);

    // Projector and scheduler together (they are separate processes anyway).
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let db = dir.join("projection");
    let started = Instant::now();
    let mut projector = spawn(
        &binary,
        &[
            "projector",
            "--db",
            db.to_str().context("utf-8 path")?,
            "--http",
            &format!("127.0.0.1:{port}"),
        ],
        &config,
        &dir.join("projector.log"),
    )?;
    let mut scheduler = spawn(
        &binary,
        &[
            "scheduler",
            "--clock-file",
            clock.to_str().context("utf-8 path")?,
        ],
        &config,
        &dir.join("scheduler.log"),
    )?;
    let last = last.max(server.last_sequence().await?);
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        if health_checkpoint(port).await.is_some_and(|c| c >= last) {
            break;
        }
        if let Some(status) = projector.0.try_wait()? {
            bail!("signoff projector exited: {status}");
        }
        if Instant::now() > deadline {
            bail!("the projector did not reach {last}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let projector_secs = started.elapsed().as_secs_f64();
    let projector_mib = peak_rss_mib(projector.0.id())?;
    drop(projector);
    wait_idle(
        &mut scheduler.0,
        Duration::from_secs(3),
        Duration::from_secs(3600),
    )
    .await?;
    let scheduler_mib = peak_rss_mib(scheduler.0.id())?;
    drop(scheduler);
    Ok(Memory {
        gateway_mib,
        projector_mib,
        projector_secs,
        scheduler_mib,
    })
}
