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
    /// The hash this record must carry: over every field but `hash`.
    pub fn compute_hash(&self) -> String {
        let mut value = serde_json::to_value(self).expect("audit records serialize");
        value.as_object_mut().expect("object").remove("hash");
        let mut canonical = Vec::with_capacity(1024);
        write_canonical(&value, &mut canonical);
        format!("sha256:{}", hex::encode(Sha256::digest(&canonical)))
    }
}

/// The bytes of `signoff_engine::raw_json::canonical_json` (keys sorted,
/// compact), written straight into `out` without a string per key: the
/// projector hashes one record per event, so this is on its hot path.
fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key).expect("writing to a Vec");
                out.push(b':');
                write_canonical(item, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar).expect("writing to a Vec"),
    }
}

/// The records of one commit, advancing both chains.
pub fn records_for_commit(
    stored: &StoredCommit,
    global: &mut ChainHead,
    request: &mut ChainHead,
) -> Vec<AuditRecord> {
    let commit = &stored.commit;
    commit
        .events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            let facts = facts_of(event);
            if let ApprovalEvent::RequestSubmitted(s) = event {
                request.plan_version = Some(s.plan.plan_version);
                request.spec_hash = Some(s.plan.spec_hash.clone());
            }
            let mut record = AuditRecord {
                format: AUDIT_FORMAT,
                index: global.next_index,
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
                prev_hash: global.hash.clone(),
                request_prev_hash: request.hash.clone(),
                hash: String::new(),
            };
            record.hash = record.compute_hash();
            global.next_index += 1;
            global.hash = record.hash.clone();
            request.next_index += 1;
            request.hash = record.hash.clone();
            record
        })
        .collect()
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
        write_canonical(&value, &mut ours);
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            signoff_engine::raw_json::canonical_json(&value)
        );
    }
}
