//! Command bodies (JSON). Every body has the caller-chosen `commandId` (re-used
//! on retry) and the `requestId` it acts on. Unknown fields are refused.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use signoff_engine::spec::limits::MAX_TEXT_CHARS;
use signoff_engine::{ExecutionOutcome, RawJson, WorkflowSpec};
use uuid::Uuid;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubmitBody {
    pub command_id: Uuid,
    pub request_id: Uuid,
    pub spec: WorkflowSpec,
    /// The action's named parameters (a JSON object); bound to the approval by
    /// hash. At most 64 KiB (65,536 bytes as sent), else `TOO_LARGE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<RawJson>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApproveBody {
    pub command_id: Uuid,
    pub request_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_TEXT_CHARS))]
    pub comment: Option<String>,
    /// The parameters hash the approver saw; refused if it is not the request's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params_hash: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RejectBody {
    pub command_id: Uuid,
    pub request_id: Uuid,
    #[schemars(length(min = 1, max = MAX_TEXT_CHARS))]
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelBody {
    pub command_id: Uuid,
    pub request_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_TEXT_CHARS))]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpireBody {
    pub command_id: Uuid,
    pub request_id: Uuid,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EscalateBody {
    pub command_id: Uuid,
    pub request_id: Uuid,
    /// 1 for the first level.
    pub level: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemindBody {
    pub command_id: Uuid,
    pub request_id: Uuid,
    /// Which reminder period (from 1); a late reminder covers the periods it missed.
    pub number: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordExecutionBody {
    pub command_id: Uuid,
    pub request_id: Uuid,
    pub outcome: ExecutionOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_TEXT_CHARS))]
    pub summary: Option<String>,
    /// The parameters the action ran with; must hash to the approved ones.
    pub params: RawJson,
}

/// Any command body, by action.
#[derive(Clone, Debug, PartialEq, JsonSchema)]
pub enum CommandBody {
    Submit(Box<SubmitBody>),
    Approve(ApproveBody),
    Reject(RejectBody),
    Cancel(CancelBody),
    Expire(ExpireBody),
    Escalate(EscalateBody),
    Remind(RemindBody),
    RecordExecution(RecordExecutionBody),
}

/// The `$defs` name of an action's body in `commands.schema.json`.
pub fn body_name(action: &str) -> &'static str {
    match action {
        "submit" => "SubmitBody",
        "approve" => "ApproveBody",
        "reject" => "RejectBody",
        "cancel" => "CancelBody",
        "expire" => "ExpireBody",
        "escalate" => "EscalateBody",
        "remind" => "RemindBody",
        "record-execution" => "RecordExecutionBody",
        _ => "",
    }
}

/// Why a body could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown command `{0}`; known: submit, approve, reject, cancel, expire, escalate, remind, record-execution")]
    UnknownAction(String),
    #[error("{field}: {problem}")]
    Malformed { field: String, problem: String },
}

impl CommandBody {
    /// Decodes the JSON body of `action`, naming the field of the first problem.
    pub fn decode(action: &str, body: &[u8]) -> Result<Self, DecodeError> {
        fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, DecodeError> {
            // serde would also read a struct from a JSON array, by position.
            let first = body.iter().find(|b| !b.is_ascii_whitespace());
            if first.is_some_and(|b| *b != b'{') {
                return Err(DecodeError::Malformed {
                    field: "body".into(),
                    problem: "must be a JSON object".into(),
                });
            }
            // The common case, a valid body, without tracking the path of
            // every field (two fifths of a submit's decode); only a refused
            // body is read again to name its field. Both readers accept
            // exactly the same texts: the path tracker only wraps serde_json.
            if let Ok(value) = serde_json::from_slice(body) {
                return Ok(value);
            }
            let mut de = serde_json::Deserializer::from_slice(body);
            let value = decode_naming_the_field(&mut de)?;
            de.end().map_err(|e| DecodeError::Malformed {
                field: "body".into(),
                problem: e.to_string(),
            })?;
            Ok(value)
        }
        Ok(match action {
            "submit" => CommandBody::Submit(Box::new(parse(body)?)),
            "approve" => CommandBody::Approve(parse(body)?),
            "reject" => CommandBody::Reject(parse(body)?),
            "cancel" => CommandBody::Cancel(parse(body)?),
            "expire" => CommandBody::Expire(parse(body)?),
            "escalate" => CommandBody::Escalate(parse(body)?),
            "remind" => CommandBody::Remind(parse(body)?),
            "record-execution" => CommandBody::RecordExecution(parse(body)?),
            other => return Err(DecodeError::UnknownAction(other.chars().take(64).collect())),
        })
    }

    pub fn ids(&self) -> (Uuid, Uuid) {
        match self {
            CommandBody::Submit(b) => (b.command_id, b.request_id),
            CommandBody::Approve(b) => (b.command_id, b.request_id),
            CommandBody::Reject(b) => (b.command_id, b.request_id),
            CommandBody::Cancel(b) => (b.command_id, b.request_id),
            CommandBody::Expire(b) => (b.command_id, b.request_id),
            CommandBody::Escalate(b) => (b.command_id, b.request_id),
            CommandBody::Remind(b) => (b.command_id, b.request_id),
            CommandBody::RecordExecution(b) => (b.command_id, b.request_id),
        }
    }
}

fn decode_naming_the_field<'de, T: Deserialize<'de>>(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>,
) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let problem = e.into_inner().to_string();
        let at_body = path == "." || path == "?";
        // A missing or repeated field is reported at its parent: name the field itself.
        let missing = ["missing field `", "duplicate field `"]
            .iter()
            .find_map(|prefix| problem.strip_prefix(prefix))
            .and_then(|rest| rest.split('`').next());
        // The path names the field, an unknown one included; `.`/`?`: the body itself.
        let field = match (at_body, missing) {
            (true, Some(name)) => name.to_owned(),
            (false, Some(name)) => format!("{path}.{name}"),
            (true, None) => "body".to_owned(),
            (false, None) => path,
        };
        // An unknown field named "" leaves the path empty or ending in a dot.
        let field = match field.trim_end_matches('.') {
            "" => "body".to_owned(),
            trimmed => trimmed.to_owned(),
        };
        DecodeError::Malformed { field, problem }
    })
}
