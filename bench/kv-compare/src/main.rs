//! The projector's write pattern, storage only, on three embedded stores:
//! per commit one lookup of a random request id (absent), then a locator
//! (`x:` random id, 8 B), the request record (`r:` time-ordered, 1.3 KB), an
//! audit record (`a:` sequential, 800 B), three list-index keys and one inbox
//! key (time-ordered, empty values); one atomic batch of 1,000 commits with a
//! checkpoint, made durable (fsync) per batch.
//!
//! ```sh
//! cd bench/kv-compare && cargo run --release -- sled     # also: sled-ht, sled-big, fjall, redb
//! KV_VARIANT=noidx cargo run --release -- sled          # prices one part of the pattern
//! ```
//!
//! `KV_VARIANT` holds any of: `small` (a 300 B request record and a 200 B
//! audit record instead of 1.3 KB and 800 B), `nox` (no `x:` locator
//! insert; the lookup stays), `noidx` (none of the four index keys).
//!
//! No fold, no decoding: the upper bound each store puts on catch-up.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Instant;
use rand::RngCore;
use redb::ReadableTable;

/// Commits per run.
const N: u64 = 200_000;
const BATCH: u64 = 1000;

fn items(i: u64, rng: &mut impl RngCore) -> (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>) {
    let variant = std::env::var("KV_VARIANT").unwrap_or_default();
    let (small, no_locator, no_indexes) =
        (variant.contains("small"), variant.contains("nox"), variant.contains("noidx"));
    let mut id = [0u8; 16];
    rng.fill_bytes(&mut id);
    let ms = (1_700_000_000_000u64 + i).to_be_bytes();
    let mut v = vec![0u8; if small { 300 } else { 1300 }];
    rng.fill_bytes(&mut v[..200]);
    let mut a = vec![b'x'; if small { 200 } else { 800 }];
    rng.fill_bytes(&mut a[..100]);
    let x = [b"x:".as_slice(), &id].concat();
    let kv = vec![
        (x.clone(), ms.to_vec()),
        ([b"r:".as_slice(), &ms, &id].concat(), v),
        ([b"a:".as_slice(), &i.to_be_bytes()].concat(), a),
        ([b"s:pending/".as_slice(), &ms, &id].concat(), vec![]),
        ([b"q:alice\0".as_slice(), &ms, &id].concat(), vec![]),
        ([b"t:0123456789abcdef".as_slice(), &ms, &id].concat(), vec![]),
        ([b"i:u:bob\0".as_slice(), &ms, &id].concat(), vec![]),
    ];
    let kv = kv
        .into_iter()
        .filter(|(k, _)| !(no_locator && k.starts_with(b"x:")))
        .filter(|(k, _)| !(no_indexes && [b"s:", b"q:", b"t:", b"i:"].iter().any(|p| k.starts_with(*p))))
        .collect();
    (x, kv)
}

fn main() {
    let which = std::env::args().nth(1).unwrap();
    let dir = tempfile_dir(&which);
    let mut rng = rand::thread_rng();
    let t = Instant::now();
    match which.as_str() {
        "sled" | "sled-ht" | "sled-big" => {
            let mut cfg = sled::Config::new().path(&dir).cache_capacity(64 << 20);
            if which == "sled-ht" { cfg = cfg.mode(sled::Mode::HighThroughput); }
            if which == "sled-big" { cfg = cfg.mode(sled::Mode::HighThroughput).segment_size(8 << 20); }
            let db = cfg.open().unwrap();
            let tree = db.open_tree("t").unwrap();
            for b in 0..N / BATCH {
                let mut batch = sled::Batch::default();
                for i in b * BATCH..(b + 1) * BATCH {
                    let (x, kv) = items(i, &mut rng);
                    assert!(tree.get(&x).unwrap().is_none());
                    for (k, v) in kv { batch.insert(k, v); }
                }
                batch.insert(b"m:checkpoint".as_slice(), &((b + 1) * BATCH).to_be_bytes());
                tree.apply_batch(batch).unwrap();
                db.flush().unwrap();
            }
            println!("sled size {}", db.size_on_disk().unwrap());
        }
        "fjall" => {
            let ks = fjall::Config::new(&dir).open().unwrap();
            let part = ks.open_partition("t", fjall::PartitionCreateOptions::default()).unwrap();
            for b in 0..N / BATCH {
                let mut batch = ks.batch();
                for i in b * BATCH..(b + 1) * BATCH {
                    let (x, kv) = items(i, &mut rng);
                    assert!(part.get(&x).unwrap().is_none());
                    for (k, v) in kv { batch.insert(&part, k, v); }
                }
                batch.insert(&part, b"m:checkpoint".as_slice(), ((b + 1) * BATCH).to_be_bytes());
                batch.commit().unwrap();
                ks.persist(fjall::PersistMode::SyncAll).unwrap();
            }
            println!("fjall size {}", ks.disk_space());
        }
        "redb" => {
            const T: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("t");
            let db = redb::Database::create(dir.join("db")).unwrap();
            for b in 0..N / BATCH {
                let tx = db.begin_write().unwrap();
                {
                    let mut t = tx.open_table(T).unwrap();
                    for i in b * BATCH..(b + 1) * BATCH {
                        let (x, kv) = items(i, &mut rng);
                        assert!(t.get(x.as_slice()).unwrap().is_none());
                        for (k, v) in kv { t.insert(k.as_slice(), v.as_slice()).unwrap(); }
                    }
                    t.insert(b"m:checkpoint".as_slice(), ((b + 1) * BATCH).to_be_bytes().as_slice()).unwrap();
                }
                tx.commit().unwrap();
            }
            println!("redb size {}", std::fs::metadata(dir.join("db")).unwrap().len());
        }
        _ => panic!(),
    }
    let s = t.elapsed().as_secs_f64();
    println!("{which}: {N} commits in {s:.2}s = {:.0} commits/s", N as f64 / s);
    std::fs::remove_dir_all(&dir).ok();
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("scratch-kv-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
