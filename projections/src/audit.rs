//! The audit trail: one record per event, derived from the log alone, each
//! hash-chained to the previous record globally and within its request. Any
//! edit, deletion or reordering of stored records changes a hash.
//!
//! Pure: the projector stores these records; `signoff audit verify` derives
//! them again from the log and compares.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use signoff_engine::event::{ApprovalBasis, Tally};
use signoff_engine::plan::{Principal, Resolution};
use signoff_engine::raw_json::{sha256_text, write_canonical_bytes};
use signoff_engine::{
    ApprovalEvent, Authentication, CommandId, ExecutionOutcome, RequestId, Status,
};
use signoff_eventstore::StoredCommit;

/// Version of the audit record format. Every field, the wording of `rule`
/// included, is inside the hash: changing either bumps this.
pub const AUDIT_FORMAT: u32 = 1;

/// `prev_hash` of the first record of a chain.
pub const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditRecord {
    /// [`AUDIT_FORMAT`] of this record.
    pub format: u32,
    /// Position in the global chain, from 1.
    pub index: u64,
    /// Position in the request's own chain, from 1.
    pub request_index: u64,
    /// Stream sequence of the commit holding the event.
    pub sequence: u64,
    /// Position of the event inside its commit.
    pub event_in_commit: u32,
    pub request_id: RequestId,
    pub command_id: CommandId,
    /// Event type (`ApprovalGranted`, `RequestExpired`, ...).
    pub event: String,
    /// Command that produced it (`approve`, `expire`, ...).
    pub action: String,
    /// Who sent the command.
    pub actor: String,
    /// How the actor was authenticated, when the event carries it.
    pub authentication: Option<Authentication>,
    pub at: DateTime<Utc>,
    /// Request status once this event is applied.
    pub outcome: Status,
    pub stage: Option<u32>,
    /// Team through which the actor was eligible.
    pub team: Option<String>,
    pub escalation_level: Option<u32>,
    /// Comment, reason or summary.
    pub note: Option<String>,
    pub params_hash: Option<String>,
    /// Plan version and spec hash of the request (every record of a request carries them).
    pub plan_version: Option<u32>,
    pub spec_hash: Option<String>,
    /// Quorum tally of the stage after the event.
    pub tally: Option<Tally>,
    /// The rule that caused the event (branch taken, custom rule, expiry, escalation level, ...).
    pub rule: Option<String>,
    pub prev_hash: String,
    pub request_prev_hash: String,
    /// `sha256:` of the canonical JSON of every field above.
    pub hash: String,
}

/// Where a chain stands: the next index and the hash of the last record.
/// A request's chain also remembers the plan its records belong to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainHead {
    pub next_index: u64,
    pub hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_hash: Option<String>,
}

impl Default for ChainHead {
    fn default() -> Self {
        Self {
            next_index: 1,
            hash: GENESIS.to_owned(),
            plan_version: None,
            spec_hash: None,
        }
    }
}

impl AuditRecord {
    /// The hash this record must carry: over every field but `hash`, as
    /// canonical JSON (keys sorted, compact).
    pub fn compute_hash(&self) -> String {
        let mut canonical = Vec::with_capacity(1024);
        self.write_canonical(&mut canonical);
        hash_of(&canonical)
    }

    /// [`Self::compute_hash`] the slow, obviously right way: through a
    /// `serde_json::Value` with its keys sorted. The fast path must agree.
    pub fn compute_hash_via_value(&self) -> String {
        let mut value = serde_json::to_value(self).expect("audit records serialize");
        value.as_object_mut().expect("object").remove("hash");
        let mut canonical = Vec::with_capacity(1024);
        write_canonical_bytes(&value, &mut canonical);
        format!("sha256:{}", hex::encode(Sha256::digest(&canonical)))
    }

    /// The record as the projector stores it: its canonical JSON with
    /// `hash` included (keys sorted at every level, compact), so that the
    /// stored bytes without `"hash":…` are exactly the bytes hashed. Decodes
    /// to the same record as any other JSON of it.
    pub fn to_stored_json(&self) -> Vec<u8> {
        let mut canonical = Vec::with_capacity(1024);
        let split = self.write_canonical(&mut canonical);
        with_hash(&canonical, split, &self.hash)
    }

    /// Writes the canonical JSON of every field but `hash` into `out` and
    /// returns where `hash` sorts in: the offset of the `,` before `"index"`
    /// (`hash` sorts between `format` and `index`).
    fn write_canonical(&self, out: &mut Vec<u8>) -> usize {
        let (head, tail) = Canonical::of(self);
        let start = out.len();
        serde_json::to_writer(&mut *out, &head).expect("audit records serialize");
        // `{…"format":N}` then `{"index":…}`: one object, split at `hash`.
        out.pop();
        let split = out.len();
        serde_json::to_writer(&mut *out, &tail).expect("audit records serialize");
        debug_assert_eq!(out[split], b'{');
        out[split] = b',';
        debug_assert!(out[start..].starts_with(b"{\"action\":"));
        split
    }
}

/// `sha256:<hex>` of `bytes`.
fn hash_of(bytes: &[u8]) -> String {
    sha256_text(&Sha256::digest(bytes))
}

/// `canonical` (from [`AuditRecord::write_canonical`], split at `split`)
/// with `"hash":"<hash>"` in its sorted place.
fn with_hash(canonical: &[u8], split: usize, hash: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(canonical.len() + hash.len() + 10);
    out.extend_from_slice(&canonical[..split]);
    out.extend_from_slice(b",\"hash\":");
    serde_json::to_writer(&mut out, hash).expect("writing to a Vec");
    out.extend_from_slice(&canonical[split..]);
    out
}

/// An [`AuditRecord`] without `hash`, its fields declared in the sorted order
/// of their JSON names, so that serializing it writes the canonical JSON
/// directly: no `Value`, no sorting, one buffer. It comes in two halves, the
/// fields that sort before `hash` and those after, so that the stored JSON
/// (with `hash`) is the hashed bytes with `hash` spliced in. The projector
/// hashes one record per event and verify hashes every record again, so this
/// is on both hot paths. `compute_hash_via_value` is the reference (tests
/// compare them over every event kind and every optional field).
#[derive(Serialize)]
struct Canonical<'a> {
    #[serde(rename = "action")]
    action: &'a str,
    #[serde(rename = "actor")]
    actor: &'a str,
    #[serde(rename = "at")]
    at: &'a DateTime<Utc>,
    #[serde(rename = "authentication")]
    authentication: Option<CanonicalAuthentication<'a>>,
    #[serde(rename = "commandId")]
    command_id: &'a CommandId,
    #[serde(rename = "escalationLevel")]
    escalation_level: Option<u32>,
    #[serde(rename = "event")]
    event: &'a str,
    #[serde(rename = "eventInCommit")]
    event_in_commit: u32,
    #[serde(rename = "format")]
    format: u32,
}

/// The fields of an [`AuditRecord`] that sort after `hash`, in that order.
#[derive(Serialize)]
struct CanonicalTail<'a> {
    #[serde(rename = "index")]
    index: u64,
    #[serde(rename = "note")]
    note: Option<&'a str>,
    #[serde(rename = "outcome")]
    outcome: Status,
    #[serde(rename = "paramsHash")]
    params_hash: Option<&'a str>,
    #[serde(rename = "planVersion")]
    plan_version: Option<u32>,
    #[serde(rename = "prevHash")]
    prev_hash: &'a str,
    #[serde(rename = "requestId")]
    request_id: &'a RequestId,
    #[serde(rename = "requestIndex")]
    request_index: u64,
    #[serde(rename = "requestPrevHash")]
    request_prev_hash: &'a str,
    #[serde(rename = "rule")]
    rule: Option<&'a str>,
    #[serde(rename = "sequence")]
    sequence: u64,
    #[serde(rename = "specHash")]
    spec_hash: Option<&'a str>,
    #[serde(rename = "stage")]
    stage: Option<u32>,
    #[serde(rename = "tally")]
    tally: Option<CanonicalTally>,
    #[serde(rename = "team")]
    team: Option<&'a str>,
}

/// `Authentication` in canonical key order (absent options are omitted, as
/// its own `Serialize` omits them).
#[derive(Serialize)]
struct CanonicalAuthentication<'a> {
    #[serde(rename = "issuer", skip_serializing_if = "Option::is_none")]
    issuer: Option<&'a str>,
    #[serde(rename = "keyId", skip_serializing_if = "Option::is_none")]
    key_id: Option<&'a str>,
    #[serde(rename = "method")]
    method: &'a str,
    #[serde(rename = "tokenId", skip_serializing_if = "Option::is_none")]
    token_id: Option<&'a str>,
}

/// `Tally` in canonical key order.
#[derive(Serialize)]
struct CanonicalTally {
    #[serde(rename = "approvals")]
    approvals: u32,
    #[serde(rename = "minApprovals")]
    min_approvals: u32,
    #[serde(rename = "minRejections")]
    min_rejections: u32,
    #[serde(rename = "rejections")]
    rejections: u32,
}

impl<'a> Canonical<'a> {
    fn of(r: &'a AuditRecord) -> (Self, CanonicalTail<'a>) {
        // Destructured, so a field added to `AuditRecord` fails to compile here.
        let AuditRecord {
            format,
            index,
            request_index,
            sequence,
            event_in_commit,
            request_id,
            command_id,
            event,
            action,
            actor,
            authentication,
            at,
            outcome,
            stage,
            team,
            escalation_level,
            note,
            params_hash,
            plan_version,
            spec_hash,
            tally,
            rule,
            prev_hash,
            request_prev_hash,
            hash: _,
        } = r;
        let head = Self {
            action,
            actor,
            at,
            authentication: authentication.as_ref().map(|a| {
                let Authentication {
                    method,
                    key_id,
                    issuer,
                    token_id,
                } = a;
                CanonicalAuthentication {
                    issuer: issuer.as_deref(),
                    key_id: key_id.as_deref(),
                    method,
                    token_id: token_id.as_deref(),
                }
            }),
            command_id,
            escalation_level: *escalation_level,
            event,
            event_in_commit: *event_in_commit,
            format: *format,
        };
        let tail = CanonicalTail {
            index: *index,
            note: note.as_deref(),
            outcome: *outcome,
            params_hash: params_hash.as_deref(),
            plan_version: *plan_version,
            prev_hash,
            request_id,
            request_index: *request_index,
            request_prev_hash,
            rule: rule.as_deref(),
            sequence: *sequence,
            spec_hash: spec_hash.as_deref(),
            stage: *stage,
            tally: tally.map(|t| {
                let Tally {
                    approvals,
                    min_approvals,
                    rejections,
                    min_rejections,
                } = t;
                CanonicalTally {
                    approvals,
                    min_approvals,
                    min_rejections,
                    rejections,
                }
            }),
            team: team.as_deref(),
        };
        (head, tail)
    }
}

/// The records of one commit, advancing both chains.
pub fn records_for_commit(
    stored: &StoredCommit,
    global: &mut ChainHead,
    request: &mut ChainHead,
) -> Vec<AuditRecord> {
    chained_records(stored, global, request, |record, _, _| record)
}

/// A derived record with the bytes the projector stores for it
/// ([`AuditRecord::to_stored_json`]).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRecord {
    pub record: AuditRecord,
    pub json: Vec<u8>,
}

/// [`records_for_commit`] with each record's stored bytes, from the same
/// serialization that hashed it: what the projector writes and what verify
/// compares the trail with.
pub fn stored_records_for_commit(
    stored: &StoredCommit,
    global: &mut ChainHead,
    request: &mut ChainHead,
) -> Vec<StoredRecord> {
    chained_records(stored, global, request, |record, canonical, split| {
        let json = with_hash(canonical, split, &record.hash);
        StoredRecord { record, json }
    })
}

/// The records of one commit without their chains, for what shows only the
/// facts of each event (replay): `index` is 0 and the three hashes are
/// empty; `request` advances (`next_index`, the plan's version and spec
/// hash) but its `hash` is left alone. Every other field is the chained
/// record's, at a fraction of the cost (no serialization, no SHA-256).
pub fn unchained_records_for_commit(
    stored: &StoredCommit,
    request: &mut ChainHead,
) -> Vec<AuditRecord> {
    let commit = &stored.commit;
    commit
        .events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            let record = bare_record(stored, i, event, 0, request, String::new(), String::new());
            request.next_index += 1;
            record
        })
        .collect()
}

/// Derives, hashes and chains each record of `stored`, handing `keep` the
/// record with its canonical bytes and where `hash` sorts into them.
fn chained_records<T>(
    stored: &StoredCommit,
    global: &mut ChainHead,
    request: &mut ChainHead,
    mut keep: impl FnMut(AuditRecord, &[u8], usize) -> T,
) -> Vec<T> {
    let mut canonical = Vec::with_capacity(1024);
    stored
        .commit
        .events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            let mut record = bare_record(
                stored,
                i,
                event,
                global.next_index,
                request,
                global.hash.clone(),
                request.hash.clone(),
            );
            canonical.clear();
            let split = record.write_canonical(&mut canonical);
            record.hash = hash_of(&canonical);
            global.next_index += 1;
            global.hash.clone_from(&record.hash);
            request.next_index += 1;
            request.hash.clone_from(&record.hash);
            keep(record, &canonical, split)
        })
        .collect()
}

/// The record of event `i` of `stored` without its `hash`, at `index` in the
/// global chain and next in `request`'s (whose plan it notes on submission).
fn bare_record(
    stored: &StoredCommit,
    i: usize,
    event: &ApprovalEvent,
    index: u64,
    request: &mut ChainHead,
    prev_hash: String,
    request_prev_hash: String,
) -> AuditRecord {
    let commit = &stored.commit;
    let facts = facts_of(event);
    if let ApprovalEvent::RequestSubmitted(s) = event {
        request.plan_version = Some(s.plan.plan_version);
        request.spec_hash = Some(s.plan.spec_hash.clone());
    }
    AuditRecord {
        format: AUDIT_FORMAT,
        index,
        request_index: request.next_index,
        sequence: stored.sequence,
        event_in_commit: i as u32,
        request_id: commit.request_id,
        command_id: commit.command_id,
        event: event.name().to_owned(),
        action: commit.action.clone(),
        actor: commit.actor.to_string(),
        authentication: facts.authentication,
        at: commit.at,
        outcome: facts.outcome,
        stage: facts.stage,
        team: facts.team,
        escalation_level: facts.escalation_level,
        note: facts.note,
        params_hash: facts.params_hash,
        plan_version: request.plan_version,
        spec_hash: request.spec_hash.clone(),
        tally: facts.tally,
        rule: facts.rule,
        prev_hash,
        request_prev_hash,
        hash: String::new(),
    }
}

#[derive(Default)]
struct Facts {
    authentication: Option<Authentication>,
    outcome: Status,
    stage: Option<u32>,
    team: Option<String>,
    escalation_level: Option<u32>,
    note: Option<String>,
    params_hash: Option<String>,
    tally: Option<Tally>,
    rule: Option<String>,
}

fn facts_of(event: &ApprovalEvent) -> Facts {
    use ApprovalEvent as E;
    match event {
        E::RequestSubmitted(s) => Facts {
            authentication: Some(s.requester.authentication.clone()),
            outcome: Status::Pending,
            params_hash: Some(s.params_hash.clone()),
            rule: Some(describe_resolution(&s.plan.resolution)),
            ..Facts::default()
        },
        E::ApprovalGranted(v) | E::RejectionRecorded(v) => Facts {
            authentication: Some(v.by.authentication.clone()),
            outcome: Status::Pending,
            stage: Some(v.stage),
            team: match &v.via.principal {
                Principal::Team(t) => Some(t.to_string()),
                Principal::User(_) => None,
            },
            escalation_level: v.via.escalation_level,
            note: v.note.clone(),
            params_hash: Some(v.params_hash.clone()),
            tally: Some(v.tally),
            ..Facts::default()
        },
        E::StageApproved(s) => Facts {
            outcome: Status::Pending,
            stage: Some(s.stage),
            rule: Some("quorum reached".into()),
            ..Facts::default()
        },
        E::RequestApproved(d) => Facts {
            outcome: Status::Approved,
            rule: Some(match d.basis {
                ApprovalBasis::Quorum => "every stage reached its quorum".into(),
                ApprovalBasis::NotRequired => "no approval required by the resolved plan".into(),
                ApprovalBasis::ExpiryRule { expires_at } => {
                    format!(
                        "onExpiry: approve, expiresIn elapsed at {}",
                        expires_at.to_rfc3339()
                    )
                }
            }),
            ..Facts::default()
        },
        E::RequestRejected(d) => Facts {
            outcome: Status::Rejected,
            stage: Some(d.stage),
            note: d.rejections.last().and_then(|v| v.note.clone()),
            tally: d.rejections.last().map(|v| v.tally),
            rule: Some(match d.expired_at {
                Some(expired_at) => format!(
                    "onExpiry: reject, expiresIn elapsed at {}",
                    expired_at.to_rfc3339()
                ),
                None => format!("{} rejection(s) reached minRejections", d.rejections.len()),
            }),
            ..Facts::default()
        },
        E::RequestCancelled(d) => Facts {
            authentication: Some(d.by.authentication.clone()),
            outcome: Status::Cancelled,
            note: d.reason.clone(),
            ..Facts::default()
        },
        E::RequestExpired(d) => Facts {
            authentication: Some(d.by.authentication.clone()),
            outcome: Status::Expired,
            rule: Some(format!(
                "expiresIn elapsed at {}",
                d.expires_at.to_rfc3339()
            )),
            ..Facts::default()
        },
        E::RequestEscalated(d) => Facts {
            authentication: Some(d.by.authentication.clone()),
            outcome: Status::Pending,
            stage: Some(d.stage),
            escalation_level: Some(d.level),
            rule: Some(format!(
                "escalation level {} due at {}: added {}",
                d.level,
                d.due_at.to_rfc3339(),
                d.added
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            ..Facts::default()
        },
        E::ReminderSent(r) => Facts {
            authentication: Some(r.by.authentication.clone()),
            outcome: Status::Pending,
            stage: Some(r.stage),
            rule: Some(format!(
                "reminder {} due at {}: to {}",
                r.number,
                r.due_at.to_rfc3339(),
                r.to.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            ..Facts::default()
        },
        E::ExecutionRecorded(x) => Facts {
            authentication: Some(x.by.authentication.clone()),
            outcome: Status::Approved,
            note: x.summary.clone(),
            params_hash: Some(x.params_hash.clone()),
            rule: Some(
                match x.outcome {
                    ExecutionOutcome::Succeeded => "execution succeeded",
                    ExecutionOutcome::Failed => "execution failed",
                }
                .into(),
            ),
            ..Facts::default()
        },
    }
}

fn describe_resolution(resolution: &Resolution) -> String {
    match resolution {
        Resolution::Approvers => "approvers".into(),
        Resolution::Sequential => "sequential stages".into(),
        Resolution::NotRequired => "no approval required".into(),
        Resolution::Condition {
            expression,
            result,
            branch,
            then,
        } => {
            format!(
                "condition `{expression}` was {result}: {branch} ({})",
                describe_resolution(then)
            )
        }
        Resolution::CustomRule {
            time_zone,
            local_time,
            matched_rule,
            when,
        } => match (matched_rule, when) {
            (Some(i), Some(when)) => {
                format!("custom rule {i} `{when}` matched at {local_time} ({time_zone})")
            }
            _ => format!("custom logic default at {local_time} ({time_zone})"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_bytes_are_the_engines() {
        let value: serde_json::Value = serde_json::from_str(
            r#"{"z":[1,2.5,-3e-7,{"b":null,"a":true}],"a":"quote \" slash \\ tab \t é ☃ \u0001","m":{"y":{},"x":[]},"n":18446744073709551615}"#,
        )
        .unwrap();
        let mut ours = Vec::new();
        write_canonical_bytes(&value, &mut ours);
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            signoff_engine::raw_json::canonical_json(&value)
        );
    }

    fn record(full: bool) -> AuditRecord {
        let text = |s: &str| full.then(|| s.to_owned());
        AuditRecord {
            format: AUDIT_FORMAT,
            index: 18_446_744_073_709_551_615,
            request_index: 2,
            sequence: 77,
            event_in_commit: 1,
            request_id: RequestId(uuid::Uuid::from_u128(0x0123_4567_89ab_cdef)),
            command_id: CommandId(uuid::Uuid::from_u128(42)),
            event: "ApprovalGranted".into(),
            action: "approve".into(),
            actor: "alice \"the\" \\ approver\t☃ \u{1}".into(),
            authentication: Some(Authentication {
                method: "jwt/EdDSA".into(),
                key_id: text("k1"),
                issuer: text("signoff"),
                token_id: text("jti-1"),
            }),
            at: DateTime::parse_from_rfc3339("2026-11-26T13:00:00.123456789+00:00")
                .unwrap()
                .with_timezone(&Utc),
            outcome: if full {
                Status::Approved
            } else {
                Status::Pending
            },
            stage: full.then_some(3),
            team: text("payments-leads"),
            escalation_level: full.then_some(2),
            note: text("looks \"fine\"\n é"),
            params_hash: text("sha256:ab"),
            plan_version: full.then_some(1),
            spec_hash: text("sha256:cd"),
            tally: full.then_some(Tally {
                approvals: 1,
                min_approvals: 2,
                rejections: 0,
                min_rejections: 1,
            }),
            rule: text("quorum reached"),
            prev_hash: GENESIS.into(),
            request_prev_hash: GENESIS.into(),
            hash: "ignored".into(),
        }
    }

    #[test]
    fn the_fast_canonical_hash_is_the_value_hash() {
        for full in [true, false] {
            let mut r = record(full);
            assert_eq!(r.compute_hash(), r.compute_hash_via_value(), "full={full}");
            r.authentication = None;
            assert_eq!(r.compute_hash(), r.compute_hash_via_value(), "no auth");
            // `hash` itself is outside the hash.
            r.hash = "other".into();
            assert_eq!(r.compute_hash(), r.compute_hash_via_value());
        }
        // Every field is inside it.
        let base = record(true);
        let mut changed = base.clone();
        changed.tally.as_mut().unwrap().min_rejections = 9;
        assert_ne!(changed.compute_hash(), base.compute_hash());
        let mut changed = base.clone();
        changed.authentication.as_mut().unwrap().token_id = None;
        assert_ne!(changed.compute_hash(), base.compute_hash());
        assert_eq!(changed.compute_hash(), changed.compute_hash_via_value());
    }

    #[test]
    fn the_stored_json_is_the_whole_records_canonical_json() {
        for (full, auth) in [(true, true), (false, true), (true, false), (false, false)] {
            let mut r = record(full);
            if !auth {
                r.authentication = None;
            }
            r.hash = r.compute_hash();
            let stored = r.to_stored_json();
            // Keys sorted at every level, `hash` in its place, compact.
            let value: serde_json::Value = serde_json::from_slice(&stored).unwrap();
            let mut canonical = Vec::new();
            write_canonical_bytes(&value, &mut canonical);
            assert_eq!(
                String::from_utf8(stored.clone()).unwrap(),
                String::from_utf8(canonical).unwrap(),
                "full={full} auth={auth}"
            );
            // It decodes to the record, and without `hash` it is what was hashed.
            assert_eq!(serde_json::from_slice::<AuditRecord>(&stored).unwrap(), r);
            let mut unhashed = value;
            unhashed.as_object_mut().unwrap().remove("hash");
            let mut bytes = Vec::new();
            write_canonical_bytes(&unhashed, &mut bytes);
            assert_eq!(
                format!("sha256:{}", hex::encode(Sha256::digest(&bytes))),
                r.hash
            );
        }
    }
}
