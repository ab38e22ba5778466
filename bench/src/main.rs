//! `signoff-bench` (run by `cargo xtask bench [--quick]`): signoff measured
//! against the raw JetStream limit on this machine and against a cqrs-es +
//! postgres-es peer, in one run, printed as one table of figures with their
//! ratio to the baseline of the same run.
//!
//! Everything is real: nats-servers it starts (one per durability setting),
//! the gateway's own code (`signoff_api::dev::start_gateway`) reached through
//! NATS request/reply with JWTs, the projector, the audit code, the `signoff`
//! binary's processes for memory, and a PostgreSQL it starts for the peer.
//! Nothing here asserts a timing; it fails only when the harness or the
//! system misbehaves (a refused command, a count that does not add up).
//!
//! Layout: `world` (servers, identity, engine-built commits), `drive` (the
//! command mix, closed and open loop), `targets` (raw log, gateway, peer),
//! `relay` (the gateway's request/reply shape without its work),
//! `readpath` (raw read, catch-up, audit, load cost), `memory`, `postgres`,
//! `plot` (SVG), this file (the plan, the table, the files written).

/// mimalloc: sled and the fold allocate per key, and glibc malloc spent a
/// third of the projector's time consolidating its free lists (perf).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod costs;
mod drive;
mod memory;
mod plot;
mod postgres;
mod readpath;
mod relay;
mod targets;
mod world;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use drive::{closed_loop, open_loop, RunResult, Target};
use signoff_api::clock::SystemClock;
use world::Server;

/// Most requests an open-loop half-load run submits (and keeps open until
/// its approvals): at half of the maximum rate for `half_load_secs`.
const HALF_LOAD_MAX_REQUESTS: usize = 20_000;

/// Interleaved rounds of the raw read, audit replay and audit verify.
const READPATH_ROUNDS: usize = 3;

/// Sizes of one run.
struct Plan {
    quick: bool,
    /// Requests per run of the concurrency sweep (the plot), and its callers.
    sweep_requests: usize,
    sweep_callers: Vec<usize>,
    /// The larger command run.
    big_requests: usize,
    big_callers: usize,
    /// Seconds of each open-loop half-load run ([`ROUNDS`] per target).
    half_load_secs: f64,
    /// Requests (one submit commit each) in the big log.
    background: usize,
    /// Requests in the small log of the load-cost comparison.
    small_background: usize,
    /// Events in the long request of the load-cost comparison.
    long_history: usize,
    load_reps: usize,
}

impl Plan {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                quick,
                sweep_requests: 200,
                sweep_callers: vec![1, 16, 64],
                big_requests: 1_000,
                big_callers: 64,
                half_load_secs: 0.4,
                background: 10_000,
                small_background: 1_000,
                long_history: 100,
                load_reps: 11,
            }
        } else {
            Self {
                quick,
                sweep_requests: 1_000,
                sweep_callers: vec![1, 4, 16, 64, 256, 1024],
                big_requests: 10_000,
                big_callers: 1024,
                half_load_secs: 3.0,
                background: 1_000_000,
                small_background: 1_000,
                long_history: 1_000,
                load_reps: 51,
            }
        }
    }
}

/// One line of the table.
struct Row {
    figure: String,
    value: f64,
    unit: &'static str,
    /// (baseline name, ratio)
    ratio: Option<(String, f64)>,
    target: Option<(String, bool)>,
}

#[derive(Default)]
struct Table {
    rows: Vec<Row>,
}

impl Table {
    fn add(&mut self, figure: impl Into<String>, value: f64, unit: &'static str) -> &mut Row {
        self.rows.push(Row {
            figure: figure.into(),
            value,
            unit,
            ratio: None,
            target: None,
        });
        let row = self.rows.last_mut().expect("just pushed");
        eprintln!("  {}: {} {}", row.figure, fmt_value(value), unit);
        row
    }

    fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| figure | value | unit | ratio to baseline | target | met |\n|---|---:|---|---|---|---|"
        );
        for r in &self.rows {
            let ratio = r
                .ratio
                .as_ref()
                .map(|(name, x)| format!("{x:.2}x {name}"))
                .unwrap_or_default();
            let (target, met) = r
                .target
                .as_ref()
                .map(|(t, ok)| (t.clone(), if *ok { "yes" } else { "**no**" }.to_owned()))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                r.figure,
                fmt_value(r.value),
                r.unit,
                ratio,
                target,
                met
            );
        }
        out
    }
}

impl Row {
    fn ratio(&mut self, baseline: impl Into<String>, ratio: f64) -> &mut Self {
        self.ratio = Some((baseline.into(), ratio));
        self
    }

    fn target(&mut self, what: impl Into<String>, met: bool) -> &mut Self {
        self.target = Some((what.into(), met));
        self
    }
}

fn fmt_value(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

struct Args {
    quick: bool,
    out: PathBuf,
    /// `commands`, `readpath` (fill, raw read, catch-up, audit), `load`, `memory`.
    phases: Vec<String>,
    /// Overrides the plan's number of requests in the big log.
    background: Option<usize>,
    /// MiB of sled page cache for the catch-up (`projection.cacheMiB`).
    projection_cache_mib: u64,
}

const PHASES: [&str; 4] = ["commands", "readpath", "load", "memory"];
/// Phases run only when named: `costs` (per-commit CPU costs, no server) and
/// `rounds` (the larger default-sync command run of the raw log, the relay
/// and signoff, interleaved over several rounds, with nothing else running:
/// steadier ratios than one run, and a process to profile).
const EXTRA_PHASES: [&str; 2] = ["costs", "rounds"];
/// Rounds of the `rounds` phase.
const ROUNDS: usize = 5;

fn args() -> anyhow::Result<Args> {
    let mut quick = false;
    let mut background = None;
    let mut projection_cache_mib = signoff_projections::DEFAULT_CACHE_MIB;
    let mut out = None;
    let mut phases: Vec<String> = PHASES.iter().map(|p| p.to_string()).collect();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--background" => {
                background = Some(
                    args.next()
                        .context("--background N")?
                        .parse()
                        .context("--background N: a number of requests")?,
                )
            }
            "--projection-cache-mib" => {
                projection_cache_mib = args
                    .next()
                    .context("--projection-cache-mib N")?
                    .parse()
                    .context("--projection-cache-mib N: MiB, at least 1")?;
                anyhow::ensure!(
                    projection_cache_mib > 0,
                    "--projection-cache-mib N: MiB, at least 1"
                );
            }
            "--out" => out = Some(PathBuf::from(args.next().context("--out DIR")?)),
            "--only" => {
                phases = args
                    .next()
                    .context("--only PHASE[,PHASE]")?
                    .split(',')
                    .map(str::to_owned)
                    .collect();
                if let Some(p) = phases
                    .iter()
                    .find(|p| !PHASES.contains(&p.as_str()) && !EXTRA_PHASES.contains(&p.as_str()))
                {
                    anyhow::bail!(
                        "unknown phase {p}; phases: {},{}",
                        PHASES.join(","),
                        EXTRA_PHASES.join(",")
                    );
                }
            }
            "-h" | "--help" => {
                println!("usage: signoff-bench [--quick] [--out DIR] [--only commands,readpath,load,memory,costs,rounds] [--background N] [--projection-cache-mib N]");
                std::process::exit(0);
            }
            other => anyhow::bail!(
                "unknown argument {other}; usage: signoff-bench [--quick] [--out DIR] [--only commands,readpath,load,memory,costs,rounds] [--background N] [--projection-cache-mib N]"
            ),
        }
    }
    let out = out.unwrap_or_else(|| {
        let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR")));
        if quick {
            root.join("../target/bench-quick")
        } else {
            root.join("results")
        }
    });
    Ok(Args {
        quick,
        out,
        phases,
        background,
        projection_cache_mib,
    })
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|k| format!("{:.1} GiB", k / 1024.0 / 1024.0))
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{} CPUs ({cpu}), {mem} RAM, load average at start {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// Closed-loop runs of one target at each concurrency.
async fn sweep<T: Target>(
    name: &str,
    target: &Arc<T>,
    requests: usize,
    callers: &[usize],
) -> anyhow::Result<Vec<(usize, RunResult)>> {
    let mut points = Vec::new();
    for &c in callers {
        let run = closed_loop(target.clone(), requests, c).await?;
        eprintln!(
            "  {name:<28} callers {c:>4}: {:>8.0} commands/s, p50 {:>7.2} ms, p99 {:>7.2} ms",
            run.throughput(),
            run.quantile_ms(0.5),
            run.quantile_ms(0.99)
        );
        points.push((c, run));
    }
    Ok(points)
}

fn best(points: &[(usize, RunResult)]) -> (usize, f64) {
    points
        .iter()
        .map(|(c, r)| (*c, r.throughput()))
        .fold((0, 0.0), |a, b| if b.1 > a.1 { b } else { a })
}

/// The concurrency sweeps, for the plot.
#[derive(Default)]
struct Sweeps {
    raw_always: Vec<(usize, RunResult)>,
    gw_always: Vec<(usize, RunResult)>,
    raw_default: Vec<(usize, RunResult)>,
    relay_default: Vec<(usize, RunResult)>,
    gw_default: Vec<(usize, RunResult)>,
    peer: Vec<(usize, RunResult)>,
    sizes: (usize, usize),
}

/// CPU time per command of one closed-loop run, in microseconds.
#[derive(Clone, Copy)]
struct CpuPerCommand {
    /// This process: the callers, and the gateway or relay where it serves.
    bench_us: f64,
    /// The nats-server the run goes through.
    server_us: f64,
}

/// Runs `run`, reading this process's and the server's CPU time around it
/// (`/proc/<pid>/stat`, in ticks of 10 ms: a run of 20,000 commands spends
/// a few hundred of them).
async fn with_cpu(
    server_pid: u32,
    run: impl std::future::Future<Output = anyhow::Result<RunResult>>,
) -> anyhow::Result<(RunResult, CpuPerCommand)> {
    let me = std::process::id();
    let (bench_before, server_before) = (memory::cpu_ticks(me)?, memory::cpu_ticks(server_pid)?);
    let result = run.await?;
    let (bench_after, server_after) = (memory::cpu_ticks(me)?, memory::cpu_ticks(server_pid)?);
    let per_command = |ticks: u64| ticks as f64 * 10_000.0 / result.commands.max(1) as f64;
    let cpu = CpuPerCommand {
        bench_us: per_command(bench_after - bench_before),
        server_us: per_command(server_after - server_before),
    };
    Ok((result, cpu))
}

/// The relay's rows beside a default-sync command figure: the floor's rate
/// against the raw publish (the most any gateway of this shape reaches here)
/// and signoff's rate against the floor (what signoff's own work costs).
/// `shapes`: the end of each row's figure; `ratios`: each row's (baseline
/// label, ratio).
fn relay_rows(
    table: &mut Table,
    shapes: [&str; 2],
    (relay, signoff): (f64, f64),
    ratios: [(String, f64); 2],
) {
    let [(relay_label, relay_ratio), (signoff_label, signoff_ratio)] = ratios;
    table
        .add(
            format!(
                "relay floor (request/reply + append, no engine), default sync, {}",
                shapes[0]
            ),
            relay,
            "cmds/s",
        )
        .ratio(relay_label, relay_ratio);
    table
        .add(
            format!(
                "commands against the relay floor, default sync, {}",
                shapes[1]
            ),
            signoff,
            "cmds/s",
        )
        .ratio(signoff_label, signoff_ratio);
}

/// Median, lowest and highest of one figure over its rounds (at least one).
fn spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        values[values.len() / 2],
        values[0],
        values[values.len() - 1],
    )
}

/// The larger default-sync run of the raw log, the relay floor and signoff,
/// [`ROUNDS`] times, interleaved on one server: each target's rate and CPU
/// per command, round by round. One run of 20,000 commands lasts well under
/// a second here, and two such runs of one target differ by up to a third;
/// interleaved rounds meet the same spells of the machine, and their
/// medians (and ratios within a round) are what the table reports.
struct Rounds {
    /// Raw, relay, signoff: (commands/s, CPU) per round.
    runs: [Vec<(f64, CpuPerCommand)>; 3],
}

const ROUND_TARGETS: [&str; 3] = ["raw publish", "relay floor", "signoff command"];

impl Rounds {
    /// On `server` (the default-sync one), whose CPU is read with the bench
    /// process's.
    async fn run(
        server: &Server,
        raw: &Arc<targets::RawLog>,
        relay: &Arc<relay::Relay>,
        signoff: &Arc<targets::Gateway>,
        requests: usize,
        callers: usize,
    ) -> anyhow::Result<Self> {
        eprintln!("== {ROUNDS} rounds: N={requests}, {callers} callers, default sync");
        let server_pid = server.nats.pid().context("the default-sync server's pid")?;
        let mut runs: [Vec<(f64, CpuPerCommand)>; 3] = Default::default();
        for round in 1..=ROUNDS {
            let (r, cpu_r) =
                with_cpu(server_pid, closed_loop(raw.clone(), requests, callers)).await?;
            let (f, cpu_f) =
                with_cpu(server_pid, closed_loop(relay.clone(), requests, callers)).await?;
            let (g, cpu_g) =
                with_cpu(server_pid, closed_loop(signoff.clone(), requests, callers)).await?;
            let (r, f, g) = (r.throughput(), f.throughput(), g.throughput());
            eprintln!(
                "  round {round}: raw {r:>6.0}/s ({:.1}+{:.1} us), relay {f:>6.0}/s ({:.1}+{:.1} us; {:.2}x raw), signoff {g:>6.0}/s ({:.1}+{:.1} us; {:.2}x raw, {:.2}x relay)",
                cpu_r.bench_us, cpu_r.server_us, cpu_f.bench_us, cpu_f.server_us, f / r,
                cpu_g.bench_us, cpu_g.server_us, g / r, g / f
            );
            for (runs, run) in runs.iter_mut().zip([(r, cpu_r), (f, cpu_f), (g, cpu_g)]) {
                runs.push(run);
            }
        }
        Ok(Self { runs })
    }

    /// Target `i`'s rate (median, lowest, highest).
    fn rate(&self, i: usize) -> (f64, f64, f64) {
        spread(self.runs[i].iter().map(|r| r.0).collect())
    }

    /// Target `i`'s rate over target `of`'s in the same round.
    fn ratio(&self, i: usize, of: usize) -> (f64, f64, f64) {
        spread(
            self.runs[i]
                .iter()
                .zip(&self.runs[of])
                .map(|(x, base)| x.0 / base.0)
                .collect(),
        )
    }

    /// Target `i`'s median CPU per command: (bench process, nats-server) in µs.
    fn cpu(&self, i: usize) -> (f64, f64) {
        let bench = spread(self.runs[i].iter().map(|r| r.1.bench_us).collect()).0;
        let server = spread(self.runs[i].iter().map(|r| r.1.server_us).collect()).0;
        (bench, server)
    }

    /// The rows: each rate against the raw publish of its round, signoff
    /// against the relay floor, the CPU per command; and the target.
    fn rows(&self, table: &mut Table, shape: &str) {
        let (raw, lo, hi) = self.rate(0);
        table
            .add(
                format!("raw publish, default sync, {shape} (median of {ROUNDS} rounds: {lo:.0}-{hi:.0})"),
                raw,
                "msgs/s",
            )
            .ratio("baseline", 1.0);
        let (signoff, lo, hi) = self.rate(2);
        let (ratio, rlo, rhi) = self.ratio(2, 0);
        table
            .add(
                format!(
                    "commands, default sync, {shape} (median of {ROUNDS} rounds: {lo:.0}-{hi:.0})"
                ),
                signoff,
                "cmds/s",
            )
            .ratio(
                format!("raw default sync, same round ({rlo:.2}-{rhi:.2})"),
                ratio,
            )
            .target(">= 0.50x raw", ratio >= 0.5);
        let (relay, lo, hi) = self.rate(1);
        let (relay_ratio, relay_lo, relay_hi) = self.ratio(1, 0);
        let (ratio, rlo, rhi) = self.ratio(2, 1);
        relay_rows(
            table,
            [
                &format!("{shape} (median of {ROUNDS} rounds: {lo:.0}-{hi:.0})"),
                shape,
            ],
            (relay, signoff),
            [
                (
                    format!("raw default sync, same round ({relay_lo:.2}-{relay_hi:.2})"),
                    relay_ratio,
                ),
                (
                    format!("relay floor, same round ({rlo:.2}-{rhi:.2})"),
                    ratio,
                ),
            ],
        );
        let (raw_bench, raw_server) = self.cpu(0);
        for (i, what) in ROUND_TARGETS.iter().enumerate() {
            let (bench, server) = self.cpu(i);
            table
                .add(
                    format!("CPU per {what}, default sync, {shape} (bench process + nats-server, medians)"),
                    bench + server,
                    "us",
                )
                .ratio(
                    format!("{bench:.1} + {server:.1} us; raw publish"),
                    (bench + server) / (raw_bench + raw_server),
                );
        }
    }
}

/// Open-loop runs at half of each maximum rate, the raw publish and signoff
/// in turn, under both durability settings, [`ROUNDS`] times interleaved.
/// A p99 is the tail of a few seconds of commands, and one fsync stall of
/// the disk in either run moved the ratio of single runs between 0.03x and
/// 6.7x from one full run to the next; the target is held to the median of
/// the ratios within a round.
struct HalfLoad {
    /// Sync always, default sync: per round, (raw, signoff).
    runs: [Vec<(RunResult, RunResult)>; 2],
}

const DURABILITIES: [&str; 2] = ["sync always", "default sync"];

impl HalfLoad {
    /// `maxima`: (raw, signoff) closed-loop rates per durability.
    async fn run(
        plan: &Plan,
        targets: [(&Arc<targets::RawLog>, &Arc<targets::Gateway>); 2],
        maxima: [(f64, f64); 2],
    ) -> anyhow::Result<Self> {
        eprintln!(
            "== latency at half load (open loop): {ROUNDS} rounds of {} s per target",
            plan.half_load_secs
        );
        // Requests for `half_load_secs` at half of `max`: a request is two
        // commands (submit, approve).
        let half = |max: f64| {
            let rate = max / 2.0;
            let requests =
                ((rate * plan.half_load_secs / 2.0) as usize).clamp(100, HALF_LOAD_MAX_REQUESTS);
            (rate, requests)
        };
        let mut runs: [Vec<(RunResult, RunResult)>; 2] = Default::default();
        for round in 1..=ROUNDS {
            for (d, ((raw, signoff), (raw_max, signoff_max))) in
                targets.iter().zip(maxima).enumerate()
            {
                let (rate, requests) = half(raw_max);
                let r = open_loop((*raw).clone(), requests, rate).await?;
                let (rate, requests) = half(signoff_max);
                let g = open_loop((*signoff).clone(), requests, rate).await?;
                eprintln!(
                    "  round {round}, {}: p99 raw {:.2} ms at {:.0}/s, signoff {:.2} ms at {:.0}/s ({:.2}x)",
                    DURABILITIES[d],
                    r.quantile_ms(0.99),
                    r.throughput(),
                    g.quantile_ms(0.99),
                    g.throughput(),
                    g.quantile_ms(0.99) / r.quantile_ms(0.99)
                );
                runs[d].push((r, g));
            }
        }
        Ok(Self { runs })
    }

    /// Per durability and quantile: the raw latency's median over the rounds,
    /// signoff's, and signoff's p99 against the raw p99 of its round.
    fn rows(&self, table: &mut Table) {
        for (name, runs) in DURABILITIES.iter().zip(&self.runs) {
            let raw_rate = spread(runs.iter().map(|run| run.0.throughput()).collect()).0;
            let signoff_rate = spread(runs.iter().map(|run| run.1.throughput()).collect()).0;
            for (q, label) in [(0.5, "p50"), (0.99, "p99"), (0.999, "p99.9")] {
                let (raw, lo, hi) = spread(runs.iter().map(|run| run.0.quantile_ms(q)).collect());
                table
                    .add(
                        format!("raw publish latency {label}, {name}, at {raw_rate:.0} msgs/s (median of {ROUNDS} rounds: {lo:.2}-{hi:.2})"),
                        raw,
                        "ms",
                    )
                    .ratio("baseline", 1.0);
                let (signoff, lo, hi) =
                    spread(runs.iter().map(|run| run.1.quantile_ms(q)).collect());
                let (ratio, rlo, rhi) = spread(
                    runs.iter()
                        .map(|run| run.1.quantile_ms(q) / run.0.quantile_ms(q))
                        .collect(),
                );
                let row = table.add(
                    format!("command latency {label}, {name}, at {signoff_rate:.0} cmds/s (median of {ROUNDS} rounds: {lo:.2}-{hi:.2})"),
                    signoff,
                    "ms",
                );
                row.ratio(
                    format!("raw {label}, same round ({rlo:.2}-{rhi:.2})"),
                    ratio,
                );
                if label == "p99" {
                    row.target("<= 5x raw p99", ratio <= 5.0);
                }
            }
        }
    }
}

/// `--only rounds`: [`Rounds`] alone on a fresh server, nothing else running
/// in the process (a profile of it is the three targets' and nothing more).
async fn rounds_phase(plan: &Plan, dir: &std::path::Path, table: &mut Table) -> anyhow::Result<()> {
    let default = Server::start(dir, "default", false).await?;
    let mut config = default.config();
    // Every request the rounds open stays loaded, as in the command phase.
    config.gateway.cache_requests = plan.big_requests * ROUNDS;
    let gateway = signoff_api::dev::start_gateway(&config, Arc::new(SystemClock)).await?;
    let raw = Arc::new(targets::RawLog::new(default.client.clone()).await?);
    let signoff = Arc::new(targets::Gateway::new(
        world::connect(&default.nats.url()).await?,
    ));
    let relay_service = relay::RelayService::start(&default.nats.url()).await?;
    let relay = Arc::new(relay::Relay::new(&default.nats.url()).await?);
    let (big, bc) = (plan.big_requests, plan.big_callers);
    let rounds = Rounds::run(&default, &raw, &relay, &signoff, big, bc).await?;
    relay_service.shutdown().await;
    gateway.shutdown().await;
    rounds.rows(table, &format!("N={big}, {bc} callers"));
    Ok(())
}

/// 1, 2 and 7: the command mix on raw JetStream, the gateway and the peer.
async fn command_phase(
    plan: &Plan,
    dir: &std::path::Path,
    table: &mut Table,
) -> anyhow::Result<Sweeps> {
    // --- servers, gateways, peer ---------------------------------------
    let always = Server::start(dir, "always", true).await?;
    let default = Server::start(dir, "default", false).await?;
    // Each gateway keeps every request a run holds open at once, as
    // docs/operations.md says to size it: a half-load run opens up to
    // HALF_LOAD_MAX_REQUESTS requests before approving them in shuffled
    // order, and with the default 10,000 half its approvals read their
    // history from the log.
    let open = plan.big_requests.max(HALF_LOAD_MAX_REQUESTS);
    let gateway_config = |server: &Server| {
        let mut config = server.config();
        config.gateway.cache_requests = open;
        config
    };
    eprintln!("gateways keep {open} requests loaded (gateway.cacheRequests)");
    let gateways = [
        signoff_api::dev::start_gateway(&gateway_config(&always), Arc::new(SystemClock)).await?,
        signoff_api::dev::start_gateway(&gateway_config(&default), Arc::new(SystemClock)).await?,
    ];
    let raw_always = Arc::new(targets::RawLog::new(always.client.clone()).await?);
    let raw_default = Arc::new(targets::RawLog::new(default.client.clone()).await?);
    let gw_always = Arc::new(targets::Gateway::new(
        world::connect(&always.nats.url()).await?,
    ));
    let gw_default = Arc::new(targets::Gateway::new(
        world::connect(&default.nats.url()).await?,
    ));
    // The floor between the two: the gateway's request/reply shape, none of
    // its work (default sync, where the target is CPU and not the fsync).
    let relay_service = relay::RelayService::start(&default.nats.url()).await?;
    let relay_default = Arc::new(relay::Relay::new(&default.nats.url()).await?);
    let (submit_size, approve_size) = raw_always.sizes();
    eprintln!("commit sizes: submit {submit_size} B, approve {approve_size} B");
    let pg = postgres::LocalPostgres::start().await?;
    eprintln!("PostgreSQL on port {}", pg.port);

    // --- 1+2: the command mix, closed loop, across concurrency ----------
    eprintln!(
        "== commands: {} requests (submit + approve), callers {:?}",
        plan.sweep_requests, plan.sweep_callers
    );
    // Interleaved by concurrency, so a slow spell of the machine (the disk's
    // fsync rate swings) hits every target alike.
    let (mut sw_raw_always, mut sw_gw_always, mut sw_raw_default, mut sw_gw_default, mut sw_peer) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut sw_relay_default = Vec::new();
    for &c in &plan.sweep_callers {
        let n = plan.sweep_requests;
        sw_raw_always.extend(sweep("raw JetStream, sync always", &raw_always, n, &[c]).await?);
        sw_gw_always.extend(sweep("signoff, sync always", &gw_always, n, &[c]).await?);
        sw_raw_default.extend(sweep("raw JetStream, default sync", &raw_default, n, &[c]).await?);
        sw_relay_default.extend(sweep("relay floor, default sync", &relay_default, n, &[c]).await?);
        sw_gw_default.extend(sweep("signoff, default sync", &gw_default, n, &[c]).await?);
        let pool = pg.pool(c.clamp(2, 100) as u32).await?;
        let peer = Arc::new(targets::Peer::new(pool.clone()));
        sw_peer.extend(sweep("cqrs-es + postgres-es", &peer, n, &[c]).await?);
        pool.close().await;
    }

    let n = plan.sweep_requests;
    let (c_ra, raw_a) = best(&sw_raw_always);
    let (c_ga, gw_a) = best(&sw_gw_always);
    let (c_rd, raw_d) = best(&sw_raw_default);
    let (c_gd, gw_d) = best(&sw_gw_default);
    let (c_fd, relay_d) = best(&sw_relay_default);
    let (c_p, peer_best) = best(&sw_peer);
    table
        .add(
            format!("raw publish, sync always, N={n} (best of callers, at {c_ra})"),
            raw_a,
            "msgs/s",
        )
        .ratio("baseline", 1.0);
    table
        .add(
            format!("commands, sync always, N={n} (at {c_ga} callers)"),
            gw_a,
            "cmds/s",
        )
        .ratio("raw sync always", gw_a / raw_a)
        .target(">= 0.75x raw, same durability", gw_a >= 0.75 * raw_a);
    table
        .add(
            format!("raw publish, default sync, N={n} (at {c_rd})"),
            raw_d,
            "msgs/s",
        )
        .ratio("baseline", 1.0);
    table
        .add(
            format!("commands, default sync, N={n} (at {c_gd} callers)"),
            gw_d,
            "cmds/s",
        )
        .ratio("raw default sync", gw_d / raw_d)
        .target(">= 0.50x raw pipelined", gw_d >= 0.5 * raw_d);
    let shape = format!("N={n} (at {c_fd} callers)");
    relay_rows(
        table,
        [&shape, &shape],
        (relay_d, gw_d),
        [
            ("raw default sync".to_owned(), relay_d / raw_d),
            ("relay floor".to_owned(), gw_d / relay_d),
        ],
    );
    table
        .add(
            format!("peer cqrs-es + postgres-es, N={n} (at {c_p} callers)"),
            peer_best,
            "cmds/s",
        )
        .ratio("signoff sync always / peer", gw_a / peer_best)
        .target("signoff faster than the peer", gw_a > peer_best);

    // --- the larger run -------------------------------------------------
    let big = plan.big_requests;
    let bc = plan.big_callers;
    eprintln!("== commands: {big} requests, {bc} callers");
    let big_raw_a = closed_loop(raw_always.clone(), big, bc).await?;
    let big_gw_a = closed_loop(gw_always.clone(), big, bc).await?;
    let rounds = Rounds::run(&default, &raw_default, &relay_default, &gw_default, big, bc).await?;
    let pool = pg.pool(bc.clamp(2, 100) as u32).await?;
    let before = postgres::LocalPostgres::count_events(&pool).await?;
    let big_peer = closed_loop(Arc::new(targets::Peer::new(pool.clone())), big, bc).await?;
    let after = postgres::LocalPostgres::count_events(&pool).await?;
    anyhow::ensure!(after > before, "the peer stored no events");
    pool.close().await;
    table
        .add(
            format!("raw publish, sync always, N={big}, {bc} callers"),
            big_raw_a.throughput(),
            "msgs/s",
        )
        .ratio("baseline", 1.0);
    table
        .add(
            format!("commands, sync always, N={big}, {bc} callers"),
            big_gw_a.throughput(),
            "cmds/s",
        )
        .ratio(
            "raw sync always",
            big_gw_a.throughput() / big_raw_a.throughput(),
        )
        .target(
            ">= 0.75x raw",
            big_gw_a.throughput() >= 0.75 * big_raw_a.throughput(),
        );
    rounds.rows(table, &format!("N={big}, {bc} callers"));
    table
        .add(
            format!("peer cqrs-es + postgres-es, N={big}, {bc} callers"),
            big_peer.throughput(),
            "cmds/s",
        )
        .ratio(
            "signoff sync always / peer",
            big_gw_a.throughput() / big_peer.throughput(),
        )
        .target(
            "signoff faster than the peer",
            big_gw_a.throughput() > big_peer.throughput(),
        );

    // --- latency at half of the maximum throughput (open loop) ---------
    // The maximum is the larger run's closed-loop rate (the sweep's short
    // runs swing more with the fsync rate of the moment).
    let maxima = [
        (big_raw_a.throughput(), big_gw_a.throughput()),
        (rounds.rate(0).0, rounds.rate(2).0),
    ];
    let half_load = HalfLoad::run(
        plan,
        [(&raw_always, &gw_always), (&raw_default, &gw_default)],
        maxima,
    )
    .await?;
    half_load.rows(table);
    for g in gateways {
        g.shutdown().await;
    }
    relay_service.shutdown().await;
    drop(pg);
    Ok(Sweeps {
        raw_always: sw_raw_always,
        gw_always: sw_gw_always,
        raw_default: sw_raw_default,
        relay_default: sw_relay_default,
        gw_default: sw_gw_default,
        peer: sw_peer,
        sizes: (submit_size, approve_size),
    })
}

/// 3 and 4: the raw read of the big log, the projector's catch-up, audit
/// replay and verify. Returns the raw read rate (messages/s).
async fn readpath_phase(
    dir: &std::path::Path,
    big_log: &Server,
    commits: u64,
    events: u64,
    cache_mib: u64,
    table: &mut Table,
) -> anyhow::Result<f64> {
    let rounds = READPATH_ROUNDS;
    let events_per_commit = events as f64 / commits as f64;
    let (caught, catch_secs, db) =
        readpath::catch_up(big_log, &dir.join("catchup"), cache_mib).await?;
    let catch_rate = caught as f64 / catch_secs;
    // The raw read swings by half from one read to the next here (105,000
    // to 170,000 messages/s over full runs), so the raw read, replay and
    // verify run in interleaved rounds and each figure is its median.
    let mut reads = Vec::with_capacity(rounds);
    let mut replays = Vec::with_capacity(rounds);
    let mut verifies = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        let (read, read_secs) = readpath::raw_read(big_log).await?;
        anyhow::ensure!(
            read == commits,
            "the raw read saw {read} of {commits} messages"
        );
        reads.push(read as f64 / read_secs);
        let (replayed, replay_secs) = readpath::audit_replay(&big_log.store).await?;
        anyhow::ensure!(
            replayed == events,
            "audit replay saw {replayed} of {events} events"
        );
        replays.push(replayed as f64 / replay_secs);
        let (verified, verify_secs) = readpath::audit_verify(&big_log.store, &db).await?;
        anyhow::ensure!(
            verified == events,
            "audit verify saw {verified} of {events} records"
        );
        verifies.push(verified as f64 / verify_secs);
        eprintln!(
            "  round {round} of {rounds}: raw read {:.0} msgs/s, replay {:.0} and verify {:.0} events/s",
            reads[round - 1],
            replays[round - 1],
            verifies[round - 1]
        );
    }
    let (raw_read_rate, read_range) = median_and_range(&reads);
    let (replay_rate, replay_range) = median_and_range(&replays);
    let (verify_rate, verify_range) = median_and_range(&verifies);
    table
        .add(
            format!("raw ordered-consumer read of {commits} messages (median of {rounds}; {read_range})"),
            raw_read_rate,
            "msgs/s",
        )
        .ratio("baseline", 1.0);
    table.add(
        format!(
            "projector catch-up: {events} events ({caught} commits) into sled with checkpoints, {cache_mib} MiB page cache"
        ),
        events as f64 / catch_secs,
        "events/s",
    );
    table
        .add("projector catch-up", catch_rate, "commits/s")
        .ratio("raw read", catch_rate / raw_read_rate)
        .target(">= 0.50x raw read", catch_rate >= 0.5 * raw_read_rate);
    table
        .add(
            format!("audit replay from the log (JSON lines; median of {rounds}; {replay_range})"),
            replay_rate,
            "events/s",
        )
        .ratio(
            "raw read (events)",
            replay_rate / (raw_read_rate * events_per_commit),
        )
        .target(
            ">= 0.50x raw read",
            replay_rate >= 0.5 * raw_read_rate * events_per_commit,
        );
    table
        .add(
            format!("audit verify: log vs projector trail (median of {rounds}; {verify_range})"),
            verify_rate,
            "events/s",
        )
        .ratio(
            "raw read (events)",
            verify_rate / (raw_read_rate * events_per_commit),
        )
        .target(
            ">= 0.50x raw read",
            verify_rate >= 0.5 * raw_read_rate * events_per_commit,
        );
    drop(db);
    Ok(raw_read_rate)
}

/// The median of a few rates and their range as text (`min-max`).
fn median_and_range(rates: &[f64]) -> (f64, String) {
    let (median, lowest, highest) = spread(rates.to_vec());
    (median, format!("{lowest:.0}-{highest:.0}"))
}

/// 5: loading one request, by stream size and by history length.
async fn load_phase(
    plan: &Plan,
    dir: &std::path::Path,
    big_log: &Server,
    table: &mut Table,
) -> anyhow::Result<()> {
    // --- 5: load cost ---------------------------------------------------
    eprintln!("== load cost");
    let small_log = Server::start(dir, "small", false).await?;
    world::fill_pending(&small_log.store, plan.small_background, 256).await?;
    let mut stores = Vec::new();
    for server in [&small_log, big_log] {
        let short = world::write_long_request(&server.store, 10).await?;
        let long = world::write_long_request(&server.store, plan.long_history).await?;
        let fresh =
            signoff_eventstore::EventStore::open(server.client.clone(), server.settings().clone())
                .await?;
        stores.push((fresh, short, long));
    }
    let requests: Vec<_> = stores
        .iter()
        .flat_map(|(store, short, long)| [(store, *short), (store, *long)])
        .collect();
    let costs = readpath::load_costs(&requests, plan.load_reps).await?;
    let loads: Vec<_> = costs.chunks(2).map(|c| (c[0], c[1])).collect();
    for (short, long) in &loads {
        anyhow::ensure!(
            short.2 == 10 && long.2 == plan.long_history as u64,
            "loads folded {} and {} events, not 10 and {}",
            short.2,
            long.2,
            plan.long_history
        );
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (small_short, small_long) = loads[0];
    let (big_short, big_long) = loads[1];
    let bg_small = plan.small_background;
    let bg_big = plan.background;
    table
        .add(
            format!(
                "load, {} events, {bg_small} other requests (uncached)",
                small_short.2
            ),
            ms(small_short.0),
            "ms",
        )
        .ratio("baseline", 1.0);
    let flat = ms(big_short.0) / ms(small_short.0);
    table
        .add(
            format!(
                "load, {} events, {bg_big} other requests (uncached)",
                big_short.2
            ),
            ms(big_short.0),
            "ms",
        )
        .ratio(format!("{bg_small} others"), flat)
        .target("flat: within 20%", (0.8..=1.2).contains(&flat));
    let flat_long = ms(big_long.0) / ms(small_long.0);
    table.add(
        format!(
            "load, {} events, {bg_small} other requests (uncached)",
            small_long.2
        ),
        ms(small_long.0),
        "ms",
    );
    table
        .add(
            format!(
                "load, {} events, {bg_big} other requests (uncached)",
                big_long.2
            ),
            ms(big_long.0),
            "ms",
        )
        .ratio(format!("{bg_small} others"), flat_long)
        .target("flat: within 20%", (0.8..=1.2).contains(&flat_long));
    let history = ms(big_long.0) / ms(big_short.0);
    let events_ratio = big_long.2 as f64 / big_short.2 as f64;
    table
        .add(
            format!(
                "load cost per event, {} vs {} events",
                big_long.2, big_short.2
            ),
            ms(big_long.0) / big_long.2 as f64 * 1e3,
            "us/event",
        )
        .ratio(format!("time ratio for {events_ratio:.0}x events"), history)
        .target("linear or better", history <= events_ratio * 1.2);
    table
        .add(
            format!("load, {} events, cached in the gateway", big_long.2),
            ms(big_long.1),
            "ms",
        )
        .ratio("uncached", ms(big_long.1) / ms(big_long.0));
    drop(small_log);
    Ok(())
}

/// 6: peak RSS of the processes.
async fn memory_phase(
    plan: &Plan,
    dir: &std::path::Path,
    big_log: &Server,
    commits: u64,
    raw_read_rate: Option<f64>,
    table: &mut Table,
) -> anyhow::Result<()> {
    let bg_big = plan.background;
    // --- 6: memory --------------------------------------------------------
    eprintln!("== memory: signoff gateway, projector, scheduler processes");
    let mem_dir = dir.join("memory");
    std::fs::create_dir_all(&mem_dir)?;
    let mem = memory::measure(big_log, &mem_dir, 2_000).await?;
    table.add(
        format!("peak RSS, signoff gateway ({bg_big} requests in the log, after 2000 commands)"),
        mem.gateway_mib,
        "MiB",
    );
    table.add(
        format!("peak RSS, signoff projector (caught up {bg_big} requests)"),
        mem.projector_mib,
        "MiB",
    );
    table.add(
        format!("peak RSS, signoff scheduler (loaded {bg_big} pending requests' deadlines)"),
        mem.scheduler_mib,
        "MiB",
    );
    let rate = commits as f64 / mem.projector_secs;
    let row = table.add("signoff projector process catch-up", rate, "commits/s");
    if let Some(raw) = raw_read_rate {
        row.ratio("raw read", rate / raw);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let mut plan = Plan::new(args.quick);
    if let Some(background) = args.background {
        plan.background = background;
    }
    std::fs::create_dir_all(&args.out)?;
    let started = Instant::now();
    let machine = machine();
    eprintln!(
        "signoff-bench{}: {machine}",
        if plan.quick { " --quick" } else { "" }
    );
    let dir = tempfile::Builder::new().prefix("signoff-bench").tempdir()?;
    let mut table = Table::default();
    if args.phases.iter().any(|p| p == "costs") {
        anyhow::ensure!(
            args.phases.len() == 1,
            "--only costs runs alone (it measures one thread with nothing else running)"
        );
        eprintln!("== CPU cost per step of a commit on the read path (fastest of 5 passes)");
        let iterations = if plan.quick { 2_000 } else { 20_000 };
        for (what, ns) in costs::measure(iterations)? {
            table.add(what, ns, "ns");
        }
        eprintln!("== CPU cost per step of a command in the gateway (fastest of 5 passes)");
        for (what, ns) in costs::command_steps(iterations)? {
            table.add(what, ns, "ns");
        }
        println!();
        println!("{}", table.render());
        return Ok(());
    }

    if args.phases.iter().any(|p| p == "rounds") {
        anyhow::ensure!(
            args.phases.len() == 1,
            "--only rounds runs alone (its CPU figures are the whole process's)"
        );
        rounds_phase(&plan, dir.path(), &mut table).await?;
        println!();
        println!("{}", table.render());
        return Ok(());
    }

    let sweeps = if args.phases.iter().any(|p| p == "commands") {
        command_phase(&plan, dir.path(), &mut table).await?
    } else {
        Sweeps::default()
    };
    let (submit_size, approve_size) = sweeps.sizes;

    // --- 3+4: the big log: raw read, catch-up, audit -------------------
    let phase = |name: &str| args.phases.iter().any(|p| p == name);
    // Kept to the end of the run: its server goes with it.
    let mut big_log = None;
    if ["readpath", "load", "memory"].into_iter().any(phase) {
        eprintln!("== filling a log with {} pending requests", plan.background);
        let log = big_log.insert(Server::start(dir.path(), "big", false).await?);
        let fill_started = Instant::now();
        let (commits, events) = world::fill_pending(&log.store, plan.background, 512).await?;
        let fill_secs = fill_started.elapsed().as_secs_f64();
        table.add(
            format!("fill: {commits} submit commits through EventStore::append (512 in flight, default sync)"),
            commits as f64 / fill_secs,
            "commits/s",
        );
        let raw_read_rate = if phase("readpath") {
            Some(
                readpath_phase(
                    dir.path(),
                    log,
                    commits,
                    events,
                    args.projection_cache_mib,
                    &mut table,
                )
                .await?,
            )
        } else {
            None
        };
        if phase("load") {
            load_phase(&plan, dir.path(), log, &mut table).await?;
        }
        if phase("memory") {
            memory_phase(&plan, dir.path(), log, commits, raw_read_rate, &mut table).await?;
        }
    }

    // --- the table, the plot, the files ----------------------------------
    let total = started.elapsed().as_secs_f64();
    let rendered = table.render();
    println!();
    println!("{rendered}");
    println!(
        "{} in {total:.0} s on {machine}",
        if plan.quick {
            "signoff-bench --quick"
        } else {
            "signoff-bench"
        }
    );
    let series = |name: &str, color: &'static str, points: &[(usize, RunResult)]| plot::Series {
        name: name.to_owned(),
        color,
        points: points
            .iter()
            .map(|(c, r)| (*c, r.throughput(), r.quantile_ms(0.5), r.quantile_ms(0.99)))
            .collect(),
    };
    let svg = plot::render(
        &format!(
            "{} requests (submit + approve) per point; {machine}",
            plan.sweep_requests
        ),
        &[
            series(
                "raw JetStream publish, sync always",
                "#1f77b4",
                &sweeps.raw_always,
            ),
            series(
                "signoff commands, sync always",
                "#d62728",
                &sweeps.gw_always,
            ),
            series(
                "raw JetStream publish, default sync",
                "#7fb8e0",
                &sweeps.raw_default,
            ),
            series(
                "signoff commands, default sync",
                "#f08080",
                &sweeps.gw_default,
            ),
            series("cqrs-es + postgres-es (fsync on)", "#2ca02c", &sweeps.peer),
        ],
    );
    std::fs::write(args.out.join("concurrency.svg"), svg)?;
    std::fs::write(
        args.out.join("table.md"),
        format!(
            "{rendered}\n`{}` in {total:.0} s on {machine}; commit sizes: submit {submit_size} B, approve {approve_size} B.\n",
            if plan.quick { "cargo xtask bench --quick" } else { "cargo xtask bench" }
        ),
    )?;
    let sweep_csv: String = [
        ("raw-always", &sweeps.raw_always),
        ("signoff-always", &sweeps.gw_always),
        ("raw-default", &sweeps.raw_default),
        ("relay-default", &sweeps.relay_default),
        ("signoff-default", &sweeps.gw_default),
        ("peer", &sweeps.peer),
    ]
    .iter()
    .flat_map(|(name, points)| {
        points.iter().map(move |(c, r)| {
            format!(
                "{name},{c},{:.1},{:.3},{:.3},{:.3}\n",
                r.throughput(),
                r.quantile_ms(0.5),
                r.quantile_ms(0.99),
                r.quantile_ms(0.999)
            )
        })
    })
    .collect();
    std::fs::write(
        args.out.join("concurrency.csv"),
        format!("target,callers,commands_per_s,p50_ms,p99_ms,p999_ms\n{sweep_csv}"),
    )?;
    eprintln!("wrote {}", args.out.display());
    drop(big_log);
    Ok(())
}
