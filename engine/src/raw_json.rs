//! Caller-supplied JSON kept byte for byte (`context`, `uiConfig`, action
//! parameters), and its canonical form for hashing.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Deepest nesting accepted in caller-supplied JSON.
pub const MAX_JSON_DEPTH: usize = 32;

/// A JSON document exactly as the caller wrote it.
///
/// In human-readable formats (JSON) it is embedded verbatim; in binary formats
/// (the MessagePack event log) it travels as a string holding the JSON text.
/// Either way the bytes a caller sent are the bytes a reader gets back.
#[derive(Clone, PartialEq, Eq)]
pub struct RawJson(Box<str>);

impl RawJson {
    /// Checks that `text` is one JSON value no deeper than [`MAX_JSON_DEPTH`].
    pub fn parse(text: &str) -> Result<Self, String> {
        check(text)?;
        Ok(Self(text.into()))
    }

    /// [`Self::parse`] keeping the caller's allocation.
    fn parse_owned(text: Box<str>) -> Result<Self, String> {
        check(&text)?;
        Ok(Self(text))
    }

    /// Wraps a value produced by code (compact form).
    pub fn from_value(value: &Value) -> Self {
        Self(value.to_string().into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_value(&self) -> Value {
        // Invariant: the text was checked to be JSON on construction.
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }

    /// `sha256:<hex>` of the canonical form (see [`canonical_json`]).
    pub fn canonical_hash(&self) -> String {
        canonical_hash(&self.to_value())
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawJson({})", self.0)
    }
}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            let raw =
                RawValue::from_string(self.0.to_string()).map_err(serde::ser::Error::custom)?;
            raw.serialize(serializer)
        } else {
            serializer.serialize_str(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text: Box<str> = if deserializer.is_human_readable() {
            let raw: Box<RawValue> = Deserialize::deserialize(deserializer)?;
            raw.into()
        } else {
            String::deserialize(deserializer)?.into_boxed_str()
        };
        RawJson::parse_owned(text).map_err(D::Error::custom)
    }
}

impl JsonSchema for RawJson {
    fn schema_name() -> Cow<'static, str> {
        "AnyJson".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({ "description": "Any JSON value, kept byte for byte." })
    }
}

/// Checks that `text` is one JSON value no deeper than [`MAX_JSON_DEPTH`],
/// without building it: every event read from the log checks its payloads
/// again, so this is on every read path.
fn check(text: &str) -> Result<(), String> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let depth = Depth
        .deserialize(&mut deserializer)
        .and_then(|depth| deserializer.end().map(|()| depth))
        .map_err(|e| e.to_string())?;
    if depth > MAX_JSON_DEPTH {
        return Err(format!(
            "is nested {depth} levels deep; at most {MAX_JSON_DEPTH} are allowed"
        ));
    }
    Ok(())
}

/// Parses any JSON value into how deep it nests, as [`json_depth`] counts.
struct Depth;

impl<'de> DeserializeSeed<'de> for Depth {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Depth {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<usize, E> {
        Ok(1)
    }

    fn visit_i64<E>(self, _: i64) -> Result<usize, E> {
        Ok(1)
    }

    fn visit_u64<E>(self, _: u64) -> Result<usize, E> {
        Ok(1)
    }

    fn visit_f64<E>(self, _: f64) -> Result<usize, E> {
        Ok(1)
    }

    fn visit_str<E>(self, _: &str) -> Result<usize, E> {
        Ok(1)
    }

    fn visit_unit<E>(self) -> Result<usize, E> {
        Ok(1)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<usize, A::Error> {
        let mut deepest = 0;
        while let Some(depth) = items.next_element_seed(Depth)? {
            deepest = deepest.max(depth);
        }
        Ok(1 + deepest)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<usize, A::Error> {
        let mut deepest = 0;
        while entries.next_key::<IgnoredAny>()?.is_some() {
            deepest = deepest.max(entries.next_value_seed(Depth)?);
        }
        Ok(1 + deepest)
    }
}

/// How deep a value nests (a scalar is 1).
pub fn json_depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(json_depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(json_depth).max().unwrap_or(0),
        _ => 1,
    }
}

/// Canonical JSON v1: compact, object keys sorted by their UTF-8 bytes,
/// strings and numbers as serde_json writes them. Two documents that differ
/// only in white space or key order have the same canonical form.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// `sha256:<hex>` of [`canonical_json`], written straight into the hasher
/// (no canonical text, no string per key or scalar).
pub fn canonical_hash(value: &Value) -> String {
    let mut hasher = Sha256::new();
    hash_canonical(value, &mut hasher);
    sha256_text(&hasher.finalize())
}

/// `sha256:<lowercase hex>` of a finished SHA-256 digest: the text every
/// hash in signoff is written as, built in one buffer (`hex::encode` pushes
/// one `char` at a time, a fifth of a command hash's cost).
pub fn sha256_text(digest: &[u8]) -> String {
    let mut text = [0u8; 64];
    hex::encode_to_slice(digest, &mut text).expect("a SHA-256 digest is 32 bytes");
    let mut hash = String::with_capacity(7 + 64);
    hash.push_str("sha256:");
    hash.push_str(std::str::from_utf8(&text).expect("hex digits are ASCII"));
    hash
}

/// Feeds [`canonical_json`] of `value` to `hasher`: the same bytes, without
/// building them (for hashes over a canonical value inside a larger text).
pub fn hash_canonical(value: &Value, hasher: &mut Sha256) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            // serde_json's map is usually sorted already; a sort confirms it.
            if !entries.is_sorted_by(|a, b| a.0 <= b.0) {
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            }
            hasher.update(b"{");
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    hasher.update(b",");
                }
                serde_json::to_writer(&mut *hasher, key).expect("hashing does not fail");
                hasher.update(b":");
                hash_canonical(item, hasher);
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    hasher.update(b",");
                }
                hash_canonical(item, hasher);
            }
            hasher.update(b"]");
        }
        scalar => serde_json::to_writer(&mut *hasher, scalar).expect("hashing does not fail"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_ignores_key_order_and_white_space() {
        let a: Value = serde_json::from_str(r#"{ "b": [1, {"y":2,"x":1}], "a": "z" }"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":"z","b":[1,{"x":1,"y":2}]}"#).unwrap();
        assert_eq!(canonical_json(&a), r#"{"a":"z","b":[1,{"x":1,"y":2}]}"#);
        assert_eq!(canonical_hash(&a), canonical_hash(&b));
        assert_ne!(canonical_hash(&a), canonical_hash(&json!({"a": "z"})));
    }

    #[test]
    fn the_streamed_hash_is_the_hash_of_the_canonical_text() {
        let texts = [
            r#"{"commandId":"7b6f","spec":{"title":"Deploy","approvers":["manager-team"],"expiresIn":86400,"context":{"ticket":"PROJ-1","impact":"low"}},"params":{"amount":50000,"to":"B-2"}}"#,
            r#"{ "z": [1, 2.5, -3, 1e3, 12345678901234567890, -0.0, 1.0E-7], "a": {"y": null, "x": true, "": false} }"#,
            r#"{"esc":"line\nbreak \"quoted\" tab\t \u0041 \u00e9 \ud83d\ude00 /\/ \u0001","ключ":"значение","é":"e","E":"E","b":1,"aa":2,"a":3}"#,
            r#"[{"b":1,"a":[{"d":{},"c":[]}]}]"#,
            r#""just a string""#,
            "42",
            "-1.5e-300",
            "null",
            "[]",
            "{}",
        ];
        for text in texts {
            let value: Value = serde_json::from_str(text).unwrap();
            let expected = format!(
                "sha256:{}",
                hex::encode(Sha256::digest(canonical_json(&value)))
            );
            assert_eq!(canonical_hash(&value), expected, "{text}");
        }
    }

    #[test]
    fn raw_json_round_trips_byte_for_byte_through_json_and_msgpack_shapes() {
        let text = r#"{ "z": 1,   "a": [true, null] }"#;
        let raw = RawJson::parse(text).unwrap();
        let as_json = serde_json::to_string(&raw).unwrap();
        assert_eq!(as_json, text);
        let back: RawJson = serde_json::from_str(&as_json).unwrap();
        assert_eq!(back.as_str(), text);
    }

    #[test]
    fn too_deep_json_is_refused() {
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        let err = RawJson::parse(&deep).unwrap_err();
        assert!(err.contains("40 levels"), "{err}");
        assert!(RawJson::parse("{").is_err());
    }

    /// The streaming check accepts exactly what parses to a `Value` no
    /// deeper than the limit, with the same depth and the same parse errors.
    #[test]
    fn the_depth_check_agrees_with_building_the_value() {
        let mut documents: Vec<String> = [
            "1",
            "-2.5e3",
            "\"a\\\"b\"",
            "null",
            "true",
            "[]",
            "{}",
            "[[],[[]],{}]",
            r#"{"a":{"b":[1,{"c":null}]},"d":[]}"#,
            r#"{"a":1,"a":2}"#,
            " [1, 2] ",
            "[1,]",
            "{\"a\" 1}",
            "1 2",
            "",
            "nul",
            "[1",
            "\"\\u00e9\"",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for depth in [31, 32, 33, 127, 128, 129, 200] {
            documents.push(format!("{}1{}", "[".repeat(depth), "]".repeat(depth)));
            documents.push(format!("{}1{}", "{\"k\":".repeat(depth), "}".repeat(depth)));
        }
        for text in &documents {
            let reference = serde_json::from_str::<Value>(text)
                .map_err(|e| e.to_string())
                .and_then(|value| match json_depth(&value) {
                    depth if depth > MAX_JSON_DEPTH => Err(format!(
                        "is nested {depth} levels deep; at most {MAX_JSON_DEPTH} are allowed"
                    )),
                    _ => Ok(()),
                });
            assert_eq!(check(text), reference, "{text}");
        }
    }
}
