//! Key layout of the one sled tree. One tree, so a batch of views, audit
//! records and the checkpoint is written by a single atomic `apply_batch`.
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `m:checkpoint` | | stream sequence applied (u64 BE) |
//! | `m:audit` | | global chain head (JSON) |
//! | `r:` | request id | `RequestRecord` (JSON) |
//! | `s:` | status `/` submitted ms (BE) request id | — |
//! | `q:` | requester `\0` submitted ms request id | — |
//! | `t:` | sha256(title)[..16] submitted ms request id | — |
//! | `i:` | `u:`user or `t:`team `\0` request id | `InboxEntry` (JSON) |
//! | `a:` | global index (BE) | `AuditRecord` (JSON) |
//! | `b:` | request id, request index (BE) | global index (BE) |
//! | `h:` | request id | request chain head (JSON) |

use sha2::{Digest, Sha256};
use signoff_engine::plan::Principal;
use signoff_engine::{RequestId, Status};

pub const CHECKPOINT: &[u8] = b"m:checkpoint";
pub const AUDIT_HEAD: &[u8] = b"m:audit";

fn join(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

pub fn request(id: RequestId) -> Vec<u8> {
    join(&[b"r:", id.0.as_bytes()])
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

pub fn inbox(principal: &Principal, id: RequestId) -> Vec<u8> {
    join(&[&principal_prefix(principal), id.0.as_bytes()])
}

pub fn audit(index: u64) -> Vec<u8> {
    join(&[b"a:", &index.to_be_bytes()])
}

pub fn audit_by_request_prefix(id: RequestId) -> Vec<u8> {
    join(&[b"b:", id.0.as_bytes()])
}

pub fn audit_by_request(id: RequestId, request_index: u64) -> Vec<u8> {
    join(&[&audit_by_request_prefix(id), &request_index.to_be_bytes()])
}

pub fn request_head(id: RequestId) -> Vec<u8> {
    join(&[b"h:", id.0.as_bytes()])
}
