//! The subject map. `schemas/json/subjects.json` is generated from [`subject_map`].

use serde::Serialize;

/// Commands: `signoff.cmd.<action>`, NATS request/reply.
pub const COMMAND_PREFIX: &str = "signoff.cmd";
/// Queue group every gateway joins, so each command is handled once.
pub const GATEWAY_QUEUE: &str = "signoff-gateways";
/// Events: `signoff.events.<request id>` in the stream [`EVENT_STREAM`].
pub const EVENT_PREFIX: &str = "signoff.events";
pub const EVENT_STREAM: &str = "SIGNOFF_EVENTS";
/// Header carrying the caller's identity token.
pub const AUTHORIZATION_HEADER: &str = "Authorization";
/// Largest command body the gateway reads.
pub const MAX_COMMAND_BYTES: usize = 256 * 1024;

/// Every command action, in subject order.
pub const ACTIONS: [&str; 8] = [
    "submit",
    "approve",
    "reject",
    "cancel",
    "expire",
    "escalate",
    "remind",
    "record-execution",
];

pub fn command_subject(action: &str) -> String {
    format!("{COMMAND_PREFIX}.{action}")
}

pub fn event_subject(request_id: &uuid::Uuid) -> String {
    format!("{EVENT_PREFIX}.{request_id}")
}

#[derive(Serialize)]
pub struct SubjectEntry {
    pub subject: String,
    pub kind: &'static str,
    pub body: String,
    pub reply: &'static str,
    pub who: &'static str,
}

/// The subject map as a document.
pub fn subject_map() -> Vec<SubjectEntry> {
    let mut entries: Vec<SubjectEntry> = ACTIONS
        .iter()
        .map(|action| SubjectEntry {
            subject: command_subject(action),
            kind: "request/reply (queue group signoff-gateways)",
            body: format!(
                "commands.schema.json#/$defs/{}",
                crate::commands::body_name(action)
            ),
            reply: "replies.schema.json",
            who: match *action {
                "expire" | "escalate" | "remind" => "the scheduler (role scheduler or admin)",
                "cancel" => "the requester or an admin",
                "submit" | "record-execution" => "the requester",
                _ => "an approver of the current stage",
            },
        })
        .collect();
    entries.push(SubjectEntry {
        subject: format!("{EVENT_PREFIX}.<request id>"),
        kind: "JetStream stream SIGNOFF_EVENTS; one MessagePack commit per command; read with an ordered consumer or direct get",
        body: "events.schema.json (MessagePack with named fields; header Signoff-Schema: 2)".into(),
        reply: "-",
        who: "written only by gateways",
    });
    entries
}
