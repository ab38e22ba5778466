//! The command mix and the two ways of driving it.
//!
//! The mix over N requests: N submits, then N approvals in a shuffled order
//! (so all N requests are open at once, as N concurrent requests are). An
//! approval never goes out before its request's submit was answered; it
//! carries the sequence that answer gave (the raw baseline needs it for its
//! expected-last-subject-sequence header).
//!
//! - [`closed_loop`]: C callers, each sending its next command when the last
//!   is answered: the maximum throughput at concurrency C.
//! - [`open_loop`]: commands start on a fixed schedule at a given rate,
//!   whether or not earlier ones were answered; latency counts from the
//!   scheduled start, so a stall is not hidden (no coordinated omission).
//!
//! Either way the callers (or the commands in flight) are futures of one
//! task, not a task each: the commands that are ready together go out in one
//! write to the server. A task per caller woke the connection's writer once
//! per command, and its cost (a write system call per message) was the load
//! generator's, not the target's. Every target is driven the same way.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tokio::sync::watch;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Submit,
    Approve,
}

#[derive(Clone, Copy, Debug)]
pub struct Op {
    pub request: usize,
    pub kind: OpKind,
}

/// N submits in order, then N approvals shuffled (a fixed seed: every target
/// gets the same order).
pub fn mix(n: usize) -> Vec<Op> {
    let mut approvals: Vec<usize> = (0..n).collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..approvals.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        approvals.swap(i, (x % (i as u64 + 1)) as usize);
    }
    (0..n)
        .map(|request| Op {
            request,
            kind: OpKind::Submit,
        })
        .chain(approvals.into_iter().map(|request| Op {
            request,
            kind: OpKind::Approve,
        }))
        .collect()
}

/// Something that takes the mix: the raw log, the gateway, the peer.
pub trait Target: Send + Sync + 'static {
    /// Returns a positive sequence (or 1 where the store has none).
    fn submit(&self, request: Uuid) -> BoxFuture<'_, anyhow::Result<u64>>;
    fn approve(&self, request: Uuid, after: u64) -> BoxFuture<'_, anyhow::Result<u64>>;
}

#[derive(Clone, Debug, Default)]
pub struct RunResult {
    pub commands: usize,
    pub elapsed: Duration,
    /// Sorted.
    pub latencies: Vec<Duration>,
}

impl RunResult {
    pub fn throughput(&self) -> f64 {
        self.commands as f64 / self.elapsed.as_secs_f64()
    }

    /// Latency at quantile `q` (0..=1), in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies.len() as f64 * q).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[i - 1].as_secs_f64() * 1e3
    }
}

struct Run<T> {
    target: Arc<T>,
    ops: Vec<Op>,
    ids: Vec<Uuid>,
    answered: Vec<watch::Sender<u64>>,
}

impl<T: Target> Run<T> {
    fn new(target: Arc<T>, n: usize) -> Arc<Self> {
        Arc::new(Self {
            target,
            ops: mix(n),
            ids: (0..n).map(|_| Uuid::new_v4()).collect(),
            answered: (0..n).map(|_| watch::Sender::new(0)).collect(),
        })
    }

    /// Waits for the op's dependency; returns when it may be sent.
    async fn ready(&self, op: Op) -> anyhow::Result<u64> {
        match op.kind {
            OpKind::Submit => Ok(0),
            OpKind::Approve => {
                let mut rx = self.answered[op.request].subscribe();
                let after = *rx.wait_for(|s| *s > 0).await?;
                Ok(after)
            }
        }
    }

    async fn send(&self, op: Op, after: u64) -> anyhow::Result<()> {
        let id = self.ids[op.request];
        match op.kind {
            OpKind::Submit => {
                let sequence = self.target.submit(id).await?;
                anyhow::ensure!(sequence > 0, "submit of {id} answered sequence 0");
                self.answered[op.request].send_replace(sequence);
            }
            OpKind::Approve => {
                self.target.approve(id, after).await?;
            }
        }
        Ok(())
    }
}

/// `concurrency` callers work through the mix over `n` requests.
pub async fn closed_loop<T: Target>(
    target: Arc<T>,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<RunResult> {
    let run = Run::new(target, n);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let callers: FuturesUnordered<_> = (0..concurrency.max(1))
        .map(|_| {
            let run = run.clone();
            let next = next.clone();
            async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&op) = run.ops.get(i) else {
                        return anyhow::Ok(latencies);
                    };
                    let after = run.ready(op).await?;
                    let sent = Instant::now();
                    run.send(op, after).await?;
                    latencies.push(sent.elapsed());
                }
            }
        })
        .collect();
    // One task on the runtime's workers (not the thread that called us).
    let per_caller: Vec<Vec<Duration>> = tokio::spawn(async move {
        let mut callers = callers;
        let mut done = Vec::new();
        while let Some(latencies) = callers.next().await {
            done.push(latencies?);
        }
        anyhow::Ok(done)
    })
    .await??;
    let elapsed = started.elapsed();
    let mut latencies: Vec<Duration> = per_caller.into_iter().flatten().collect();
    latencies.sort_unstable();
    Ok(RunResult {
        commands: run.ops.len(),
        elapsed,
        latencies,
    })
}

/// The mix over `n` requests started at `rate` commands per second.
pub async fn open_loop<T: Target>(
    target: Arc<T>,
    n: usize,
    rate: f64,
) -> anyhow::Result<RunResult> {
    let run = Run::new(target, n);
    let commands = run.ops.len();
    let (elapsed, mut latencies) = tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        let mut in_flight = FuturesUnordered::new();
        let mut latencies = Vec::with_capacity(run.ops.len());
        for (k, &op) in run.ops.iter().enumerate() {
            let scheduled = started + Duration::from_secs_f64(k as f64 / rate);
            // Until this command's start, take the answers of earlier ones.
            let start = tokio::time::sleep_until(scheduled);
            tokio::pin!(start);
            loop {
                tokio::select! {
                    biased;
                    () = &mut start => break,
                    Some(latency) = in_flight.next(), if !in_flight.is_empty() => {
                        latencies.push(latency?);
                    }
                }
            }
            let run = run.clone();
            in_flight.push(async move {
                let after = run.ready(op).await?;
                run.send(op, after).await?;
                anyhow::Ok(scheduled.elapsed())
            });
        }
        while let Some(latency) = in_flight.next().await {
            latencies.push(latency?);
        }
        anyhow::Ok((started.elapsed(), latencies))
    })
    .await??;
    latencies.sort_unstable();
    Ok(RunResult {
        commands,
        elapsed,
        latencies,
    })
}
