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
        canonical_hash_of_text(self.0.as_bytes())
            .unwrap_or_else(|| canonical_hash(&self.to_value()))
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

/// Feeds [`canonical_json`] of `value` to `hasher` (for hashes over a
/// canonical value inside a larger text): the same bytes, written by
/// serde_json into one buffer and hashed in one update rather than fed to
/// SHA-256 token by token.
pub fn hash_canonical(value: &Value, hasher: &mut Sha256) {
    let mut out = Vec::with_capacity(256);
    write_canonical_bytes(value, &mut out);
    hasher.update(&out);
}

/// The bytes of [`canonical_json`] (keys sorted, compact), written by
/// serde_json straight into `out` without a string per key (the projector
/// writes one audit record per event through it).
pub fn write_canonical_bytes(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            // serde_json's map is usually sorted already; a sort confirms it.
            if !entries.is_sorted_by(|a, b| a.0 <= b.0) {
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            }
            write_object(out, entries, write_canonical_bytes);
        }
        Value::Array(items) => write_array(out, items, write_canonical_bytes),
        scalar => write_json(out, scalar),
    }
}

/// `value` as serde_json writes it (a scalar, a string or a key).
fn write_json(out: &mut Vec<u8>, value: &(impl Serialize + ?Sized)) {
    serde_json::to_writer(&mut *out, value).expect("writing to a Vec does not fail");
}

/// `[item,item]`, each item written by `write`.
fn write_array<T>(out: &mut Vec<u8>, items: &[T], write: impl Fn(&T, &mut Vec<u8>)) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(item, out);
    }
    out.push(b']');
}

/// `{"key":item,…}` of entries already in canonical order, each item
/// written by `write`.
fn write_object<K: AsRef<str>, T>(
    out: &mut Vec<u8>,
    entries: impl IntoIterator<Item = (K, T)>,
    write: impl Fn(T, &mut Vec<u8>),
) {
    out.push(b'{');
    for (i, (key, item)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json(out, key.as_ref());
        out.push(b':');
        write(item, out);
    }
    out.push(b'}');
}

/// Feeds [`canonical_json`] of the JSON document `text` to `hasher`, as
/// [`hash_canonical`] does for the `Value` serde_json would read from it,
/// without building that `Value`: strings and keys stay borrowed from
/// `text`, each object is one vector sorted in place. A command's hash is
/// taken over its whole body, so this is a tenth of a submit's work in the
/// gateway.
///
/// Returns `false`, having fed nothing, when `text` is not one JSON document
/// or holds what serde_json's `Value` reads in its own way (an object whose
/// first key is serde_json's raw-value token): the caller then hashes the
/// `Value`, so the hash is always the one [`hash_canonical`] gives.
pub fn hash_canonical_text(text: &[u8], hasher: &mut Sha256) -> bool {
    let mut out = Vec::with_capacity(text.len());
    if !write_canonical_plain(text, &mut out) {
        let mut deserializer = serde_json::Deserializer::from_slice(text);
        let Ok(tree) = Tree::deserialize(&mut deserializer) else {
            return false;
        };
        if deserializer.end().is_err() {
            return false;
        }
        tree.write(&mut out);
    }
    hasher.update(&out);
    true
}

/// Deepest nesting [`write_canonical_plain`] follows before it declines
/// (serde_json's own limit is 128).
const PLAIN_MAX_DEPTH: usize = 64;

/// [`hash_canonical_text`]'s fast path, for the JSON that programs usually
/// send: strings without escapes and integers of at most 18 digits. Their
/// canonical form is made of the text's own bytes — serde_json writes a
/// string that needed no escape back exactly as it came (it escapes only
/// `"`, `\` and control characters, which such a string cannot hold), and
/// an integer of that size as the same digits — so the text is copied and
/// its objects' entries reordered, nothing decoded. A third of the general
/// path's work on a command body (`--only costs`).
///
/// Declines, leaving `out` as it was, at the first escape, fraction,
/// exponent, longer integer, `-0`, duplicate key, serde_json's raw-value
/// token as a key, nesting deeper than [`PLAIN_MAX_DEPTH`], or anything that
/// is not one JSON document; the caller then takes the general path, so
/// what it writes is always [`write_canonical_bytes`] of the `Value`
/// serde_json reads from `text` (property test against it).
fn write_canonical_plain(text: &[u8], out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let mut reader = PlainReader {
        text,
        at: 0,
        depth: 0,
    };
    let written =
        std::str::from_utf8(text).is_ok() && reader.value(out).is_some() && reader.peek().is_none();
    if !written {
        out.truncate(start);
    }
    written
}

/// A cursor over JSON text for [`write_canonical_plain`]; `None` from any
/// step means "decline".
struct PlainReader<'a> {
    text: &'a [u8],
    at: usize,
    depth: usize,
}

impl PlainReader<'_> {
    /// The next byte that is not JSON white space, not consumed.
    fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.text.get(self.at) {
            self.at += 1;
        }
        self.text.get(self.at).copied()
    }

    /// Consumes `byte` if it comes next.
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn value(&mut self, out: &mut Vec<u8>) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(out),
            b'[' => self.array(out),
            b'"' => {
                let content = self.string()?;
                out.push(b'"');
                out.extend_from_slice(&self.text[content]);
                out.push(b'"');
                Some(())
            }
            b't' => self.word(b"true", out),
            b'f' => self.word(b"false", out),
            b'n' => self.word(b"null", out),
            b'-' | b'0'..=b'9' => self.integer(out),
            _ => None,
        }
    }

    fn word(&mut self, word: &[u8], out: &mut Vec<u8>) -> Option<()> {
        self.text[self.at..].starts_with(word).then(|| {
            self.at += word.len();
            out.extend_from_slice(word);
        })
    }

    /// At a `"`: the range of the string's content, which has no escape
    /// and no control character.
    fn string(&mut self) -> Option<std::ops::Range<usize>> {
        let begin = self.at + 1;
        let length = self.text[begin..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        let end = begin + length;
        (self.text[end] == b'"').then(|| {
            self.at = end + 1;
            begin..end
        })
    }

    /// An integer of 1 to 18 digits without a leading zero, not `-0`, with
    /// no fraction or exponent: serde_json reads it as an `i64` or `u64`
    /// and writes the same digits.
    fn integer(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let begin = self.at;
        let negative = self.text[begin] == b'-';
        let digits_begin = begin + usize::from(negative);
        let digits = self.text[digits_begin..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let first = *self.text.get(digits_begin)?;
        let end = digits_begin + digits;
        if digits == 0
            || digits > 18
            || (first == b'0' && (digits > 1 || negative))
            || matches!(self.text.get(end), Some(b'.' | b'e' | b'E'))
        {
            return None;
        }
        self.at = end;
        out.extend_from_slice(&self.text[begin..end]);
        Some(())
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        self.at += 1;
        (self.depth <= PLAIN_MAX_DEPTH).then_some(())
    }

    fn array(&mut self, out: &mut Vec<u8>) -> Option<()> {
        self.enter()?;
        out.push(b'[');
        if self.eat(b']').is_none() {
            loop {
                self.value(out)?;
                if self.eat(b',').is_none() {
                    self.eat(b']')?;
                    break;
                }
                out.push(b',');
            }
        }
        out.push(b']');
        self.depth -= 1;
        Some(())
    }

    /// Entries are written as they come; only an object whose keys are not
    /// already in order is rewritten, entry by entry, in order.
    fn object(&mut self, out: &mut Vec<u8>) -> Option<()> {
        self.enter()?;
        out.push(b'{');
        let start = out.len();
        // (key's range in the text, the whole entry's range in `out`)
        let mut entries: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> = Vec::new();
        if self.eat(b'}').is_none() {
            loop {
                if !entries.is_empty() {
                    out.push(b',');
                }
                if self.peek()? != b'"' {
                    return None;
                }
                let key = self.string()?;
                if &self.text[key.clone()] == RAW_VALUE_TOKEN.as_bytes() {
                    return None;
                }
                let entry = out.len();
                out.push(b'"');
                out.extend_from_slice(&self.text[key.clone()]);
                out.extend_from_slice(b"\":");
                self.eat(b':')?;
                self.value(out)?;
                entries.push((key, entry..out.len()));
                if self.eat(b',').is_none() {
                    self.eat(b'}')?;
                    break;
                }
            }
        }
        let text = self.text;
        let key = |entry: &(std::ops::Range<usize>, std::ops::Range<usize>)| &text[entry.0.clone()];
        if !entries.is_sorted_by(|a, b| key(a) < key(b)) {
            entries.sort_unstable_by(|a, b| key(a).cmp(key(b)));
            // Of duplicate keys serde_json keeps the last: the general path's business.
            if entries
                .windows(2)
                .any(|pair| key(&pair[0]) == key(&pair[1]))
            {
                return None;
            }
            let written = out.split_off(start);
            for (i, (_, entry)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&written[entry.start - start..entry.end - start]);
            }
        }
        out.push(b'}');
        self.depth -= 1;
        Some(())
    }
}

/// [`canonical_hash`] of the `Value` serde_json reads from `text`, read
/// straight from the text ([`hash_canonical_text`]); `None` where that
/// declines.
pub fn canonical_hash_of_text(text: &[u8]) -> Option<String> {
    let mut hasher = Sha256::new();
    hash_canonical_text(text, &mut hasher).then(|| sha256_text(&hasher.finalize()))
}

/// A JSON document as serde_json's `Value` reads it, borrowing its strings:
/// objects keep the last of duplicate keys, sorted by their UTF-8 bytes.
enum Tree<'a> {
    /// `null`, a boolean or a number: written as serde_json writes it.
    Scalar(Value),
    String(Cow<'a, str>),
    Array(Vec<Tree<'a>>),
    Object(Vec<(Cow<'a, str>, Tree<'a>)>),
}

impl Tree<'_> {
    /// Its canonical JSON, as [`write_canonical_bytes`] writes its `Value`.
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Tree::Scalar(scalar) => write_json(out, scalar),
            Tree::String(text) => write_json(out, text.as_ref()),
            Tree::Array(items) => write_array(out, items, Tree::write),
            Tree::Object(entries) => write_object(
                out,
                entries.iter().map(|(key, item)| (key, item)),
                Tree::write,
            ),
        }
    }
}

impl<'de> Deserialize<'de> for Tree<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Tree<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Tree<'de>, E> {
        Ok(Tree::Scalar(Value::Bool(value)))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Tree<'de>, E> {
        Ok(Tree::Scalar(Value::Number(value.into())))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Tree<'de>, E> {
        Ok(Tree::Scalar(Value::Number(value.into())))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Tree<'de>, E> {
        // As serde_json's `Value` does: a number without a finite f64 is null.
        Ok(Tree::Scalar(
            serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Tree<'de>, E> {
        Ok(Tree::String(Cow::Borrowed(value)))
    }

    fn visit_str<E>(self, value: &str) -> Result<Tree<'de>, E> {
        Ok(Tree::String(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E>(self, value: String) -> Result<Tree<'de>, E> {
        Ok(Tree::String(Cow::Owned(value)))
    }

    fn visit_unit<E>(self) -> Result<Tree<'de>, E> {
        Ok(Tree::Scalar(Value::Null))
    }

    fn visit_none<E>(self) -> Result<Tree<'de>, E> {
        Ok(Tree::Scalar(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Tree<'de>, D::Error> {
        Tree::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Tree<'de>, A::Error> {
        let mut tree = Vec::with_capacity(items.size_hint().unwrap_or(0));
        while let Some(item) = items.next_element()? {
            tree.push(item);
        }
        Ok(Tree::Array(tree))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Tree<'de>, A::Error> {
        let mut tree: Vec<(Cow<'de, str>, Tree<'de>)> = Vec::new();
        while let Some(Key(key)) = entries.next_key()? {
            if tree.is_empty() && key == RAW_VALUE_TOKEN {
                return Err(A::Error::custom("serde_json's raw-value token"));
            }
            tree.push((key, entries.next_value()?));
        }
        // Sorted by key, duplicates in the order written (a stable sort);
        // of equal keys the last one wins, as in `Value`'s map.
        if !tree.is_sorted_by(|a, b| a.0 < b.0) {
            tree.sort_by(|a, b| a.0.cmp(&b.0));
            tree.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    std::mem::swap(later, kept);
                }
                same
            });
        }
        Ok(Tree::Object(tree))
    }
}

/// The key serde_json's `Value` reads as an embedded raw value, not a map.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// An object key, borrowed from the text where it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("an object key")
            }

            fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(value)))
            }

            fn visit_str<E>(self, value: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(value.to_owned())))
            }

            fn visit_string<E>(self, value: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(value)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
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

    /// The hash read straight from the text is the hash of the `Value`
    /// serde_json reads from it, on every shape, escape, number form,
    /// duplicate key and nesting, on thousands of generated documents; and
    /// on what is not JSON, or is read by `Value` its own way, it declines.
    #[test]
    fn the_hash_of_the_text_is_the_hash_of_its_value() {
        let hash_of_text = |text: &str| canonical_hash_of_text(text.as_bytes());
        let mut documents: Vec<String> = [
            r#"{"commandId":"7b6f","spec":{"title":"Deploy","approvers":["manager-team"],"expiresIn":86400,"context":{"ticket":"PROJ-1","impact":"low"}},"params":{"amount":50000,"to":"B-2"}}"#,
            r#"{ "z": [1, 2.5, -3, 1e3, 12345678901234567890, 123456789012345678901234, -9223372036854775808, -0.0, 1.0E-7, 5e-324], "a": {"y": null, "x": true, "": false} }"#,
            r#"{"esc":"line\nbreak \"quoted\" tab\t \u0041 \u00e9 \ud83d\ude00 /\/ \u0001","ключ":"значение","é":"e","E":"E","b":1,"aa":2,"a":3}"#,
            r#"{"dup":1,"dup":2,"a":{"k":[1],"k":{"z":0,"z":null}},"dup":3}"#,
            r#"{"\u0061":1,"a":2}"#,
            r#"{"b\n":1,"b":2,"b\u0000":3}"#,
            r#"[{"b":1,"a":[{"d":{},"c":[]}]}]"#,
            r#""just a string""#,
            "42",
            "-1.5e-300",
            "null",
            "true",
            "[]",
            "{}",
            " \n[ 1 , 2 ]\t",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        fn generate(next: &mut dyn FnMut() -> u64, depth: u32) -> String {
            const KEYS: [&str; 7] = ["a", "b", "ab", "é", "a\\u0000", "\\\"q", "Z"];
            match next() % if depth == 0 { 4 } else { 6 } {
                0 => ["null", "true", "false"][(next() % 3) as usize].to_string(),
                1 => match next() % 4 {
                    0 => (next() as i64).to_string(),
                    1 => next().to_string(),
                    2 => format!("{}e{}", next() % 1000, (next() % 40) as i64 - 20),
                    _ => format!("-{}.{}", next() % 100, next() % 1000),
                },
                2 => format!("\"{}\"", KEYS[(next() % 7) as usize]),
                3 => format!("\"x{}\"", next() % 10),
                4 => {
                    let items: Vec<String> =
                        (0..next() % 4).map(|_| generate(next, depth - 1)).collect();
                    format!("[{}]", items.join(","))
                }
                _ => {
                    let entries: Vec<String> = (0..next() % 5)
                        .map(|_| {
                            format!(
                                "\"{}\":{}",
                                KEYS[(next() % 7) as usize],
                                generate(next, depth - 1)
                            )
                        })
                        .collect();
                    format!("{{{}}}", entries.join(", "))
                }
            }
        }
        for _ in 0..5_000 {
            documents.push(generate(&mut next, 4));
        }
        for text in &documents {
            let value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(hash_of_text(text), Some(canonical_hash(&value)), "{text}");
            let raw = RawJson::parse(text).unwrap();
            assert_eq!(raw.canonical_hash(), canonical_hash(&value), "{text}");
        }
        for declined in [
            "",
            "{",
            "[1,]",
            "1 2",
            "nul",
            r#"{"$serde_json::private::RawValue":"[1,2]"}"#,
        ] {
            assert_eq!(hash_of_text(declined), None, "{declined}");
        }
        // Not first, the token is an ordinary key to `Value` too.
        let text = r#"{"a":1,"$serde_json::private::RawValue":"[1,2]"}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(hash_of_text(text), Some(canonical_hash(&value)));
    }

    /// The fast path takes the JSON it is meant for, and writes what the
    /// `Value` path writes; everything else it leaves to that path.
    #[test]
    fn the_plain_path_writes_what_the_value_path_writes() {
        let plain = |text: &str| {
            let mut out = b"kept".to_vec();
            let taken = write_canonical_plain(text.as_bytes(), &mut out);
            (taken, out)
        };
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // Plain documents only: no escapes, integers of up to 18 digits,
        // distinct keys in any order, white space anywhere.
        fn generate(next: &mut dyn FnMut() -> u64, depth: u32) -> String {
            const KEYS: [&str; 8] = ["a", "b", "ab", "é", "ключ", "Z", "", "a b"];
            let space =
                |next: &mut dyn FnMut() -> u64| [" ", "", "\n\t", ""][(next() % 4) as usize];
            match next() % if depth == 0 { 4 } else { 6 } {
                0 => ["null", "true", "false"][(next() % 3) as usize].to_string(),
                1 => {
                    let digits = 1 + next() % 18;
                    let n = next() % 10u64.pow(digits as u32);
                    let sign = if n != 0 && next().is_multiple_of(2) {
                        "-"
                    } else {
                        ""
                    };
                    format!("{sign}{n}")
                }
                2 => format!("\"{}\"", KEYS[(next() % 8) as usize]),
                3 => format!("\"x/{}\u{7f}\"", next() % 10),
                4 => {
                    let items: Vec<String> =
                        (0..next() % 4).map(|_| generate(next, depth - 1)).collect();
                    format!("[{}{}]", space(next), items.join(","))
                }
                _ => {
                    let mut keys = KEYS.to_vec();
                    let entries: Vec<String> = (0..next() % 6)
                        .map(|_| {
                            let key = keys.remove((next() % keys.len() as u64) as usize);
                            let gap = space(next);
                            format!("{gap}\"{key}\"{gap}:{}", generate(next, depth - 1))
                        })
                        .collect();
                    format!("{{{}}}", entries.join(", "))
                }
            }
        }
        for _ in 0..5_000 {
            let text = generate(&mut next, 4);
            let value: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let mut expected = b"kept".to_vec();
            write_canonical_bytes(&value, &mut expected);
            assert_eq!(plain(&text), (true, expected), "{text}");
        }
        let declined = [
            r#"{"a":"line\nbreak"}"#,
            r#"{"a\u0041":1}"#,
            r#"{"a":1.5}"#,
            r#"{"a":1e3}"#,
            r#"{"a":1E3}"#,
            "-0",
            "[0, -0]",
            "1234567890123456789",
            "01",
            "+1",
            "[1,]",
            "{,}",
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"b":1,"a":2,"b":3}"#,
            r#"{"$serde_json::private::RawValue":"[1]"}"#,
            r#"{"a":1,"$serde_json::private::RawValue":"[1]"}"#,
            "\"tab\there\"",
            "\"unterminated",
            "1 2",
            "nul",
            "tru",
            "",
            "   ",
            "[1",
        ];
        for text in declined {
            assert_eq!(plain(text), (false, b"kept".to_vec()), "{text}");
        }
        let deep = format!("{}1{}", "[".repeat(65), "]".repeat(65));
        assert_eq!(plain(&deep), (false, b"kept".to_vec()));
        let not_utf8 = [b'"', 0xff, b'"'];
        let mut out = Vec::new();
        assert!(!write_canonical_plain(&not_utf8, &mut out) && out.is_empty());
        // What the bench sends is what the path is for.
        for body in [
            r#"{"commandId":"7b6f","requestId":"x","spec":{"title":"Deploy","approvers":["manager-team"],"expiresIn":86400,"context":{"ticket":"PROJ-1","impact":"low"}},"params":{"amount":50000,"to":"B-2"}}"#,
            r#"{"commandId":"c","requestId":"r","comment":"ok"}"#,
        ] {
            assert!(plain(body).0, "{body}");
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
