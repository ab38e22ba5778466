//! Key layout of the one sled tree. One tree, so a batch of views, audit
//! records and the checkpoint is written by a single atomic `apply_batch`.
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `m:format` | | [`FORMAT`] of this layout (u32 BE) |
//! | `m:checkpoint` | | stream sequence applied (u64 BE) |
//! | `m:audit` | | global chain head (JSON) |
//! | `x:` | request id | submitted ms (u64 BE): where its `r:` key is |
//! | `r:` | submitted ms (BE) request id | `StoredRequest` (MessagePack): the view, the request's chain head, its audit indexes |
//! | `s:` | status `/` submitted ms (BE) request id | — |
//! | `q:` | requester `\0` submitted ms request id | — |
//! | `t:` | sha256(title)[..16] submitted ms request id | — |
//! | `i:` | `u:`user or `t:`team `\0` submitted ms (BE) request id | — (the entry is derived from `r:`) |
//! | `a:` | global index (BE) | `AuditRecord` (JSON) |
//!
//! Per commit the projector writes the request once per batch, one `a:` per
//! event and only the index keys whose membership changed: a submit is
//! `x:`, `r:`, `a:`, `s:`, `q:`, `t:` and one `i:` per approver.
//!
//! Locality: every key but `x:` sorts by submission time (or by audit
//! index), so new requests append at the right edge of the tree and the
//! requests being decided, mostly recent ones, share hot pages. Random
//! request ids reach their request through `x:`, whose small entries keep
//! that index compact. (With the id first, a million random ids scattered
//! 2 KiB values over every leaf: every insert rewrote a cold page.)

use sha2::{Digest, Sha256};
use signoff_engine::plan::Principal;
use signoff_engine::{RequestId, Status};

pub const CHECKPOINT: &[u8] = b"m:checkpoint";
pub const FORMAT_KEY: &[u8] = b"m:format";
/// Version of this key layout and its encodings. A database written in
/// another format is refused at open (rebuild it from the log).
pub const FORMAT: u32 = 2;
pub const AUDIT_HEAD: &[u8] = b"m:audit";

fn join(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Where a request's `r:` key is: its submission time.
pub fn request_locator(id: RequestId) -> Vec<u8> {
    join(&[b"x:", id.0.as_bytes()])
}

/// The request's record, in submission order.
pub fn request(submitted_ms: i64, id: RequestId) -> Vec<u8> {
    indexed(b"r:", submitted_ms, id)
}

/// The submitted ms and id at the end of an `r:`, `s:`, `q:`, `t:` or `i:` key.
pub fn time_and_id(key: &[u8]) -> Option<(i64, RequestId)> {
    let tail = key.len().checked_sub(24).map(|start| &key[start..])?;
    let ms = u64::from_be_bytes(tail[..8].try_into().ok()?) as i64;
    let id = uuid::Uuid::from_bytes(tail[8..].try_into().ok()?);
    Some((ms, RequestId(id)))
}

pub fn status_name(status: Status) -> &'static str {
    match status {
        Status::NotSubmitted => "notSubmitted",
        Status::Pending => "pending",
        Status::Approved => "approved",
        Status::Rejected => "rejected",
        Status::Expired => "expired",
        Status::Cancelled => "cancelled",
    }
}

pub fn status_prefix(status: Status) -> Vec<u8> {
    join(&[b"s:", status_name(status).as_bytes(), b"/"])
}

pub fn requester_prefix(user: &str) -> Vec<u8> {
    join(&[b"q:", user.as_bytes(), b"\0"])
}

pub fn title_prefix(title: &str) -> Vec<u8> {
    join(&[b"t:", &Sha256::digest(title.as_bytes())[..16]])
}

/// `prefix` + submitted ms + id: newest-last order inside a prefix.
pub fn indexed(prefix: &[u8], submitted_ms: i64, id: RequestId) -> Vec<u8> {
    join(&[
        prefix,
        &(submitted_ms as u64).to_be_bytes(),
        id.0.as_bytes(),
    ])
}

pub fn principal_prefix(principal: &Principal) -> Vec<u8> {
    match principal {
        Principal::User(u) => join(&[b"i:u:", u.as_str().as_bytes(), b"\0"]),
        Principal::Team(t) => join(&[b"i:t:", t.as_str().as_bytes(), b"\0"]),
    }
}

pub fn inbox(principal: &Principal, submitted_ms: i64, id: RequestId) -> Vec<u8> {
    indexed(&principal_prefix(principal), submitted_ms, id)
}

pub fn audit(index: u64) -> Vec<u8> {
    join(&[b"a:", &index.to_be_bytes()])
}
