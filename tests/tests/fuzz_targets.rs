//! The cargo-fuzz targets (`fuzz/src/lib.rs`) on stable Rust, for CI: every
//! committed seed in `fuzz/corpus/<target>/`, then mutations of them drawn
//! from a seeded generator (bit flips, interesting bytes, deletions,
//! duplications that deepen nesting, dictionary tokens, splices, repeats).
//! Not coverage-guided — that is what `cargo +nightly fuzz run <target>` adds —
//! but the same code, the same invariants, on every CI run.
//!
//! `SIGNOFF_FUZZ_ITERATIONS` (default 20,000 mutants for the decoder and the
//! validator, 5,000 for the slower expression evaluator) and
//! `SIGNOFF_FUZZ_SEED` (default fixed, so CI is reproducible) tune it; a
//! failure prints the seed, the iteration and the input.

#[path = "../../fuzz/src/lib.rs"]
mod targets;

use std::path::PathBuf;

/// splitmix64: small, fast, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: &[u8] = b"\x00\xff\"{}[],:\\0123456789-+.eEtfn \n'()!<>=&|?u";

const JSON_WORDS: &[&str] = &[
    "\"title\":",
    "\"approvers\":",
    "\"minApprovals\":",
    "\"minRejections\":",
    "\"expiresIn\":",
    "\"stages\":",
    "\"condition\":",
    "\"config\":",
    "\"elseConfig\":",
    "\"logic\":",
    "\"rules\":",
    "\"when\":",
    "\"default\":",
    "\"escalation\":",
    "\"afterMinutes\":",
    "\"to\":",
    "\"afterMinutes2\":",
    "\"to2\":",
    "\"levels\":",
    "\"context\":",
    "\"uiComponent\":",
    "\"uiConfig\":",
    "\"onExpiry\":",
    "\"remindEveryMinutes\":",
    "\"businessHours\":",
    "\"allowSameApproverAcrossStages\":",
    "\"timeZone\":",
    "\"commandId\":",
    "\"requestId\":",
    "\"spec\":",
    "\"params\":",
    "\"comment\":",
    "\"paramsHash\":",
    "\"reason\":",
    "\"level\":",
    "\"number\":",
    "\"outcome\":",
    "\"summary\":",
    "\"maria\"",
    "\"security-team\"",
    "\"ghost\"",
    "\"alice\"",
    "-1",
    "0",
    "4294967296",
    "18446744073709551616",
    "1e400",
    "-0",
    "null",
    "true",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "{}",
    "[]",
    "[[[[",
    "{\"a\":{\"a\":",
    "\"approve\"",
    "\"reject\"",
    "\"succeeded\"",
    "\"Europe/Berlin\"",
    "\"Mars/Base\"",
    "\"amount > 1\"",
    "\"0b6c8b9e-6f4d-4c3a-9b1e-2f1d3c4b5a69\"",
];

const CEL_WORDS: &[&str] = &[
    "&&",
    "||",
    "!",
    "==",
    "!=",
    "<",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    " ? ",
    " : ",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ".",
    " in ",
    "size(",
    "has(",
    "matches(",
    "int(",
    "uint(",
    "double(",
    "string(",
    "timestamp(",
    "duration(",
    "amount",
    "params",
    "env",
    "tags",
    "hour",
    "limits",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615u",
    "1.0e308",
    "'s'",
    "\"s\"",
    "b'x'",
    "r'\\d'",
    "[1, 2]",
    "{'a': 1}",
    ".exists(x, x > 1)",
    ".all(x, x)",
    ".map(x, x)",
    ".filter(x, x)",
    "0x7fffffff",
    "null",
    "true",
    "false",
    "\0",
    "\0{\"x\":[",
];

/// One random mutation of `input`, using `others` for splices.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>, others: &[Vec<u8>], words: &[&str]) {
    let at = |rng: &mut Rng, v: &Vec<u8>| rng.below(v.len() + 1);
    match rng.below(8) {
        0 if !input.is_empty() => {
            let i = rng.below(input.len());
            input[i] ^= 1 << rng.below(8);
        }
        1 if !input.is_empty() => {
            let i = rng.below(input.len());
            input[i] = INTERESTING[rng.below(INTERESTING.len())];
        }
        2 if !input.is_empty() => {
            let start = rng.below(input.len());
            let len = 1 + rng.below((input.len() - start).min(32));
            input.drain(start..start + len);
        }
        3 if !input.is_empty() => {
            // Duplicate a range in place: `{"a":[` becomes `{"a":[{"a":[`, deepening nesting.
            let start = rng.below(input.len());
            let len = 1 + rng.below((input.len() - start).min(64));
            let chunk: Vec<u8> = input[start..start + len].to_vec();
            let most = if rng.below(8) == 0 { 400 } else { 3 };
            let times = 1 + rng.below(most);
            let at = start + len;
            input.splice(at..at, chunk.iter().copied().cycle().take(len * times));
        }
        4 | 5 => {
            let word = words[rng.below(words.len())].as_bytes();
            let i = at(rng, input);
            input.splice(i..i, word.iter().copied());
        }
        6 if !others.is_empty() => {
            let other = &others[rng.below(others.len())];
            let cut = at(rng, input);
            let from = rng.below(other.len() + 1);
            input.truncate(cut);
            input.extend_from_slice(&other[from..]);
        }
        _ => {
            let i = at(rng, input);
            let byte = INTERESTING[rng.below(INTERESTING.len())];
            input.insert(i, byte);
        }
    }
    input.truncate(256 * 1024);
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seed-"))
        })
        .collect();
    entries.sort();
    assert!(!entries.is_empty(), "no seeds in {}", dir.display());
    entries
        .iter()
        .map(|p| std::fs::read(p).expect("read seed"))
        .collect()
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `target` over its corpus and `iterations` mutants; returns how many inputs ran.
fn run(name: &str, target: fn(&[u8]), words: &[&str], default_iterations: u64) -> u64 {
    let seeds = corpus(name);
    let iterations = env_u64("SIGNOFF_FUZZ_ITERATIONS", default_iterations);
    let seed = env_u64("SIGNOFF_FUZZ_SEED", 0x5167_0ff0);
    let mut rng = Rng(seed);
    let started = std::time::Instant::now();
    let mut executed = 0u64;
    let mut slowest = (std::time::Duration::ZERO, 0usize);
    let mut check = |label: &str, input: &[u8]| {
        let one = std::time::Instant::now();
        let outcome = std::panic::catch_unwind(|| target(input));
        let took = one.elapsed();
        if took > slowest.0 {
            slowest = (took, input.len());
        }
        if let Err(panic) = outcome {
            eprintln!(
                "{name}: {label} (SIGNOFF_FUZZ_SEED={seed}) panicked on input ({} bytes): {:?}",
                input.len(),
                String::from_utf8_lossy(&input[..input.len().min(2_000)])
            );
            std::panic::resume_unwind(panic);
        }
        executed += 1;
    };
    for (i, input) in seeds.iter().enumerate() {
        check(&format!("seed #{i}"), input);
    }
    for iteration in 0..iterations {
        let mut input = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(4) {
            mutate(&mut rng, &mut input, &seeds, words);
        }
        check(&format!("iteration {iteration}"), &input);
    }
    println!(
        "fuzz {name}: {executed} inputs ({} seeds + {iterations} mutants, seed {seed}) in {:.1} s; \
         slowest {:.1} ms ({} bytes)",
        seeds.len(),
        started.elapsed().as_secs_f64(),
        slowest.0.as_secs_f64() * 1e3,
        slowest.1
    );
    executed
}

#[test]
fn fuzz_command_decoder_on_stable() {
    assert!(
        run(
            "command_decoder",
            targets::command_decoder,
            JSON_WORDS,
            20_000
        ) > 0
    );
}

#[test]
fn fuzz_spec_validator_on_stable() {
    assert!(
        run(
            "spec_validator",
            targets::spec_validator,
            JSON_WORDS,
            20_000
        ) > 0
    );
}

#[test]
fn fuzz_expression_on_stable() {
    assert!(run("expression", targets::expression, CEL_WORDS, 5_000) > 0);
}
