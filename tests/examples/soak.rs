//! Soak: a steady command rate for a few minutes on loopback, through a
//! `signoff gateway` process, with a `signoff projector` and a `signoff
//! scheduler` process running (the scheduler expires one request a second).
//! Every window it prints the latency of the commands acknowledged in it
//! (first send to acknowledgement, p50/p99/max), the RSS of each process and
//! the projector's lag; at the end it compares each process's RSS half-way
//! through with the end (caches fill in the first half), checks every
//! acknowledged command is in the log once and every expiry fired, and exits
//! non-zero if anything was lost or memory grew over the second half.
//!
//! `cargo xtask faults --soak` runs it; by hand:
//! `cargo run -p signoff-tests --example soak -- [--minutes 3] [--rate 100] [--window-secs 30]`

use std::time::{Duration, Instant};

use serde_json::json;
use signoff_engine::RequestId;
use signoff_tests::faults::{
    audit_log, last_sequence, percentile, send_until_acknowledged, wait_for_gateway,
    SignoffProcess, Workload, RECOVERY,
};
use signoff_tests::TestEnv;
use uuid::Uuid;

const LANES: u32 = 8;

struct Options {
    minutes: f64,
    rate: f64,
    window: Duration,
}

fn options() -> Options {
    let mut options = Options {
        minutes: 3.0,
        rate: 100.0,
        window: Duration::from_secs(30),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or("");
        match pair[0].as_str() {
            "--minutes" => options.minutes = value.parse().expect("--minutes N"),
            "--rate" => options.rate = value.parse().expect("--rate commands/s"),
            "--window-secs" => {
                options.window = Duration::from_secs(value.parse().expect("--window-secs N"))
            }
            other => panic!("unknown argument {other}; use --minutes, --rate, --window-secs"),
        }
    }
    options
}

struct Window {
    commands: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    rss_kib: [u64; 3],
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let options = options();
    // Warnings only, to stderr: the figures go to stdout.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .try_init();
    let env = TestEnv::start_with_gateways(0).await;
    let config = env.temp_path("signoff.json");
    env.config().save(&config).unwrap();
    let db = env.temp_path("projection");
    let gateway = SignoffProcess::gateway(&config);
    let projector = SignoffProcess::spawn(&[
        "projector".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--db".as_ref(),
        db.as_os_str(),
        "--http".as_ref(),
        "127.0.0.1:0".as_ref(),
    ]);
    let scheduler = SignoffProcess::spawn(&[
        "scheduler".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
    ]);
    wait_for_gateway(&env.client).await;

    // Each lane submits and approves one request per tick: 2 commands.
    let pace = Duration::from_secs_f64(2.0 * f64::from(LANES) / options.rate);
    let load = Workload::start_paced(
        env.client_as("alice"),
        env.client_as("maria"),
        LANES as usize,
        Some(pace),
    );
    // One request a second that nobody approves: the scheduler expires it after 5 s.
    let expiring = {
        let alice = env.client_as("alice");
        let ledger = load.ledger.clone();
        let until = Instant::now() + Duration::from_secs_f64(options.minutes * 60.0);
        tokio::spawn(async move {
            let mut ids = Vec::new();
            let mut ticks = tokio::time::interval(Duration::from_secs(1));
            while Instant::now() < until {
                ticks.tick().await;
                let id = Uuid::new_v4();
                let submit = json!({"commandId": Uuid::new_v4(), "requestId": id,
                    "spec": {"title": "Soak expiry", "approvers": ["manager-team"], "expiresIn": 5}});
                let give_up = Instant::now() + RECOVERY;
                if send_until_acknowledged(&alice, "submit", &submit, &ledger, give_up)
                    .await
                    .is_some()
                {
                    ids.push(RequestId(id));
                }
            }
            ids
        })
    };

    println!(
        "soak: {:.1} min at {} commands/s ({LANES} callers, 1 expiring request/s), windows of {:?}",
        options.minutes, options.rate, options.window
    );
    println!(
        "{:>6} {:>8} {:>9} {:>9} {:>9} {:>12} {:>13} {:>13} {:>13}",
        "t(s)",
        "commands",
        "p50(ms)",
        "p99(ms)",
        "max(ms)",
        "proj. lag",
        "gateway MiB",
        "projector MiB",
        "scheduler MiB"
    );
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(options.minutes * 60.0);
    let mut windows = Vec::new();
    let mut seen = 0;
    while Instant::now() < end {
        tokio::time::sleep(options.window.min(end - Instant::now())).await;
        let latencies = load.ledger.latencies_since(seen);
        seen += latencies.len();
        let rss = [&gateway, &projector, &scheduler].map(|p| p.rss_kib().unwrap_or(0));
        let lag = projector_lag(&env).await;
        let window = Window {
            commands: latencies.len(),
            p50: percentile(&latencies, 50.0),
            p99: percentile(&latencies, 99.0),
            max: percentile(&latencies, 100.0),
            rss_kib: rss,
        };
        println!(
            "{:>6.0} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>12} {:>13.1} {:>13.1} {:>13.1}",
            started.elapsed().as_secs_f64(),
            window.commands,
            window.p50.as_secs_f64() * 1e3,
            window.p99.as_secs_f64() * 1e3,
            window.max.as_secs_f64() * 1e3,
            lag,
            mib(rss[0]),
            mib(rss[1]),
            mib(rss[2])
        );
        windows.push(window);
    }

    let ledger = load.finish().await;
    let expiring = expiring.await.unwrap();
    let deadline = Instant::now() + RECOVERY;
    let mut expired = 0;
    for &id in &expiring {
        while !env.event_names(id).await.contains(&"RequestExpired") {
            assert!(
                Instant::now() < deadline,
                "request {id} never expired ({expired} of {} did)",
                expiring.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        expired += 1;
    }
    let audit = audit_log(&env.store, &ledger).await;
    let all = ledger.latencies();
    println!(
        "{} retries={} refused={} expired={expired}/{} overall_p50_ms={:.1} overall_p99_ms={:.1} log_commits={}",
        audit.summary("soak"),
        ledger.retries(),
        ledger.refused().len(),
        expiring.len(),
        percentile(&all, 50.0).as_secs_f64() * 1e3,
        percentile(&all, 99.0).as_secs_f64() * 1e3,
        audit.commits
    );

    let (first, middle, last) = match windows.as_slice() {
        [] => panic!("the soak ran no window"),
        all => (&all[0], &all[all.len() / 2], &all[all.len() - 1]),
    };
    // Caches fill first (the gateway's load cache holds 10,000 requests); the
    // verdict is on the second half of the run, where memory must be flat.
    let mut grew = Vec::new();
    for (i, name) in ["gateway", "projector", "scheduler"].iter().enumerate() {
        let (start, half, end) = (first.rss_kib[i], middle.rss_kib[i], last.rss_kib[i]);
        // Allowance: a tenth more plus 4 MiB (allocator noise).
        let verdict = if end <= half + half / 10 + 4 * 1024 {
            "flat over the second half"
        } else {
            grew.push(*name);
            "GREW over the second half"
        };
        println!(
            "rss {name}: {:.1} MiB after the first window, {:.1} MiB half-way, {:.1} MiB at the end ({verdict})",
            mib(start),
            mib(half),
            mib(end)
        );
    }
    println!(
        "p99: {:.1} ms in the first window, {:.1} ms in the last",
        first.p99.as_secs_f64() * 1e3,
        last.p99.as_secs_f64() * 1e3
    );
    drop((gateway, projector, scheduler));
    let ok = audit.lost == 0
        && audit.duplicates == 0
        && audit.mismatched == 0
        && ledger.refused().is_empty()
        && grew.is_empty();
    if !ok {
        eprintln!(
            "soak FAILED: {audit:?}, refused {:?}, memory grew in {grew:?}",
            ledger.refused()
        );
        // `exit` skips destructors: stop the nats-server first.
        drop(env);
        std::process::exit(1);
    }
    println!(
        "soak passed (last sequence {})",
        last_sequence(&env.store).await
    );
}

/// Messages the projector's durable consumer has not yet acknowledged.
async fn projector_lag(env: &TestEnv) -> String {
    let Ok(stream) = env.store.jetstream().get_stream("SIGNOFF_EVENTS").await else {
        return "?".into();
    };
    let Ok(mut consumer) = stream
        .get_consumer::<async_nats::jetstream::consumer::pull::Config>(
            signoff_projections::projector::CONSUMER,
        )
        .await
    else {
        return "?".into();
    };
    match consumer.info().await {
        Ok(info) => (info.num_pending + info.num_ack_pending as u64).to_string(),
        Err(_) => "?".into(),
    }
}
