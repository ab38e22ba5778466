//! Fuzz targets for the decoders that read hostile input: the command
//! decoder, the workflow-spec validator (parse, `validate`, policy
//! resolution) and the CEL expression evaluator.
//!
//! Each target takes arbitrary bytes and must never panic, overflow the stack
//! or hang; it also checks the invariants named in its doc. They are plain
//! functions so that libFuzzer (`fuzz_targets/`, nightly) and the stable
//! runner (`tests/tests/fuzz_targets.rs`, in CI) run exactly this code; the
//! stable runner includes this file as a module, so it names crates only by
//! their absolute paths and has no dependencies beyond the engine, the
//! schemas and serde_json.

use chrono::TimeZone;
use signoff_engine::expr::{Bindings, Condition};
use signoff_engine::policy::{resolve, SubmissionFacts};
use signoff_engine::{DomainError, StaticDirectory, UserId, WorkflowSpec};
use signoff_schemas::commands::{CommandBody, DecodeError};
use signoff_schemas::subjects::ACTIONS;

/// Splits `data` at its first NUL: (before, after); no NUL: (all, empty).
fn split_nul(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// The command decoder. The first byte picks the subject's action (one of
/// [`ACTIONS`], or an unknown one); the rest is the body.
///
/// Invariants: an error names a field (never empty); a decoded body
/// re-encodes to JSON that decodes to the same body (what the gateway hashes
/// and what the schema describes agree); the canonical hash the gateway
/// reads straight from a body's text is the hash of the `Value` serde_json
/// reads from it, and what is not JSON it declines.
pub fn command_decoder(data: &[u8]) {
    let Some((selector, body)) = data.split_first() else {
        return;
    };
    let from_text = signoff_engine::raw_json::canonical_hash_of_text(body);
    match serde_json::from_slice::<serde_json::Value>(body) {
        // Declined (serde_json's raw-value token), the gateway hashes the `Value`.
        Ok(value) => assert!(
            from_text
                .as_ref()
                .is_none_or(|hash| *hash == signoff_engine::raw_json::canonical_hash(&value)),
            "the hash of the text is not the hash of its value"
        ),
        Err(_) => assert_eq!(from_text, None, "a body that is not JSON was hashed"),
    }
    let action = ACTIONS
        .get(usize::from(*selector) % (ACTIONS.len() + 1))
        .copied()
        .unwrap_or("launch");
    match CommandBody::decode(action, body) {
        Ok(decoded) => {
            let json = match &decoded {
                CommandBody::Submit(b) => serde_json::to_vec(b),
                CommandBody::Approve(b) => serde_json::to_vec(b),
                CommandBody::Reject(b) => serde_json::to_vec(b),
                CommandBody::Cancel(b) => serde_json::to_vec(b),
                CommandBody::Expire(b) => serde_json::to_vec(b),
                CommandBody::Escalate(b) => serde_json::to_vec(b),
                CommandBody::Remind(b) => serde_json::to_vec(b),
                CommandBody::RecordExecution(b) => serde_json::to_vec(b),
            }
            .expect("a decoded body serializes");
            let again = CommandBody::decode(action, &json)
                .unwrap_or_else(|e| panic!("re-encoded {action} body does not decode: {e}"));
            assert_eq!(
                again, decoded,
                "{action}: decode ∘ encode is not the identity"
            );
        }
        Err(DecodeError::Malformed { field, problem }) => {
            assert!(!field.is_empty(), "{action}: an error with no field");
            assert!(!problem.is_empty(), "{action}: an error with no problem");
        }
        Err(DecodeError::UnknownAction(name)) => assert_eq!(name, action),
    }
}

/// A small directory: people, teams, no calendars.
fn directory() -> StaticDirectory {
    StaticDirectory::default()
        .with_user("alice")
        .with_user("user_123")
        .with_team("security-team", &["sam", "sofia"])
        .with_team("manager-team", &["maria", "mike"])
}

/// The workflow-spec validator: bytes before the first NUL are the spec
/// (JSON), bytes after it the parameters (JSON; absent or invalid: `{}`).
///
/// Invariants: every error names a field; a parsed spec round-trips through
/// its own JSON; a resolved plan never asks for more approvals or rejections
/// than there are eligible people, and has at most the limits' stages.
pub fn spec_validator(data: &[u8]) {
    let (spec_bytes, params_bytes) = split_nul(data);
    let Ok(text) = std::str::from_utf8(spec_bytes) else {
        return;
    };
    let spec = match WorkflowSpec::from_json(text) {
        Ok(spec) => spec,
        Err(e) => {
            assert!(e.field().is_some_and(|f| f.starts_with("spec")), "{e:?}");
            return;
        }
    };
    let json = serde_json::to_string(&spec).expect("a parsed spec serializes");
    let again = WorkflowSpec::from_json(&json)
        .unwrap_or_else(|e| panic!("a spec's own JSON does not parse: {e}\n{json}"));
    assert_eq!(again, spec, "from_json ∘ to_json is not the identity");
    if let Err(e) = spec.validate() {
        assert_named(&e);
        return;
    }
    let params: serde_json::Value = serde_json::from_slice(params_bytes)
        .ok()
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    let requester = UserId::parse("alice").expect("valid id");
    let directory = directory();
    let facts = SubmissionFacts {
        params: &params,
        at: chrono::Utc
            .with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
            .single()
            .expect("a valid time"),
        requester: &requester,
        directory: &directory,
    };
    match resolve(&spec, &facts) {
        Ok(resolved) => {
            let plan = &resolved.plan;
            assert!(
                plan.stages.len() <= signoff_engine::spec::limits::MAX_STAGES,
                "too many stages"
            );
            for stage in &plan.stages {
                assert!(stage.min_approvals >= 1 && stage.min_rejections >= 1);
                assert!(
                    stage.min_approvals <= stage.eligible_at_submission
                        && stage.min_rejections <= stage.eligible_at_submission,
                    "a quorum no one can reach was accepted: {stage:?}"
                );
            }
            // Deterministic: the same facts give the same plan.
            assert_eq!(resolve(&spec, &facts).ok(), Some(resolved));
        }
        Err(e) => assert_named(&e),
    }
}

/// Spec errors carry a field path into the spec (or the parameters).
fn assert_named(e: &DomainError) {
    match e.field() {
        Some(field) => assert!(
            field.starts_with("spec") || field.starts_with("params"),
            "odd field {field:?} in {e:?}"
        ),
        None => panic!("a spec error names no field: {e:?}"),
    }
}

/// The expression evaluator: bytes before the first NUL are the CEL source
/// (lossy UTF-8), after it the parameters (JSON; absent or invalid: a fixed set).
///
/// Invariants: compile errors are `InvalidExpression`, evaluation errors
/// `ConditionFailed`, both naming the field; evaluation is deterministic.
pub fn expression(data: &[u8]) {
    let (source, params_bytes) = split_nul(data);
    let source = String::from_utf8_lossy(source);
    let condition = match Condition::compile("spec.condition", &source) {
        Ok(condition) => condition,
        Err(DomainError::InvalidExpression { field, .. }) => {
            assert_eq!(field, "spec.condition");
            return;
        }
        Err(other) => panic!("compile gave {other:?}"),
    };
    let params: serde_json::Value = serde_json::from_slice(params_bytes)
        .ok()
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| {
            serde_json::json!({"amount": 50000, "env": "prod", "tags": ["a", "b"],
                               "limits": {"daily": 10.5}, "ok": true, "none": null})
        });
    let mut bindings = Bindings::with_params(&params);
    bindings.set("hour", serde_json::json!(10));
    bindings.set("weekdayName", serde_json::json!("Thursday"));
    let first = condition.evaluate(&bindings);
    match &first {
        Ok(_) => {}
        Err(DomainError::ConditionFailed { field, .. }) => assert_eq!(field, "spec.condition"),
        Err(other) => panic!("evaluate gave {other:?}"),
    }
    assert_eq!(
        condition.evaluate(&bindings),
        first,
        "evaluation is not deterministic"
    );
}
