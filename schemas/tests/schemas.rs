//! The committed JSON Schema documents are exactly what the code generates,
//! and a document never changes without its version changing.
//!
//! Regenerate with `cargo xtask bless-schemas` (SIGNOFF_BLESS_SCHEMAS=1).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use sha2_like::sha256_hex;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("json")
}

fn bless() -> bool {
    std::env::var_os("SIGNOFF_BLESS_SCHEMAS").is_some()
}

/// `file -> (version, sha256 of content)`: a content change needs a version change.
type Lock = BTreeMap<String, (u64, String)>;

fn version_of(text: &str) -> u64 {
    let value: Value = serde_json::from_str(text).expect("generated JSON");
    value
        .get("x-signoff-version")
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

#[test]
fn committed_schemas_match_the_code_and_changes_bump_the_version() {
    let lock_path = dir().join("versions.lock.json");
    let old_lock: Lock = std::fs::read_to_string(&lock_path)
        .ok()
        .map(|t| serde_json::from_str(&t).expect("versions.lock.json parses"))
        .unwrap_or_default();
    let mut new_lock = Lock::new();
    let mut problems = Vec::new();
    for (name, generated) in signoff_schemas::generate::documents() {
        let path = dir().join(name);
        let version = version_of(&generated);
        let hash = sha256_hex(generated.as_bytes());
        if let Some((locked_version, locked_hash)) = old_lock.get(name) {
            if *locked_hash != hash && *locked_version == version && name != "subjects.json" {
                problems.push(format!(
                    "{name} changed but its x-signoff-version is still {version}: bump WIRE_VERSION or EVENT_SCHEMA_VERSION"
                ));
            }
        }
        new_lock.insert(name.to_owned(), (version, hash));
        if bless() {
            std::fs::create_dir_all(dir()).unwrap();
            std::fs::write(&path, &generated).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(committed) if committed == generated => {}
            Ok(_) => problems.push(format!(
                "{name} differs from what the code generates: run `cargo xtask bless-schemas`"
            )),
            Err(e) => problems.push(format!(
                "{name} missing ({e}): run `cargo xtask bless-schemas`"
            )),
        }
    }
    if bless() && problems.is_empty() {
        std::fs::write(
            &lock_path,
            serde_json::to_string_pretty(&new_lock).unwrap() + "\n",
        )
        .unwrap();
    } else if !bless() && old_lock != new_lock && problems.is_empty() {
        problems.push("versions.lock.json is stale: run `cargo xtask bless-schemas`".into());
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_command_subject_has_a_body_schema() {
    // From the generator (the test above checks the committed file equals it),
    // so this never reads a file that blessing is rewriting.
    let documents = signoff_schemas::generate::documents();
    let (_, text) = documents
        .iter()
        .find(|(name, _)| *name == "commands.schema.json")
        .expect("commands schema");
    let schema: Value = serde_json::from_str(text).unwrap();
    for action in signoff_schemas::subjects::ACTIONS {
        let subject = signoff_schemas::subjects::command_subject(action);
        assert!(
            schema["x-subjects"].get(&subject).is_some(),
            "no body schema for {subject}"
        );
    }
}

mod sha2_like {
    /// SHA-256 as hex, via the engine's canonical hasher on a JSON string.
    pub fn sha256_hex(bytes: &[u8]) -> String {
        signoff_engine::raw_json::canonical_hash(&serde_json::Value::String(
            String::from_utf8_lossy(bytes).into_owned(),
        ))
    }
}
