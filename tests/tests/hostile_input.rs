//! Hostile input, through the real gateway and query API on a real
//! nats-server: every case is named, gets a typed error (code and, where the
//! problem is in one place, the field), and writes nothing — the stream's
//! last sequence is checked after each one. Complements the smaller table in
//! `gateway.rs` (`bad_input_gets_a_typed_error_naming_the_field_and_writes_nothing`).

use serde_json::{json, Value};
use signoff_engine::spec::limits;
use signoff_engine::RequestId;
use signoff_eventstore::{Commit, StoreError};
use signoff_schemas::subjects::{event_subject, MAX_COMMAND_BYTES};
use signoff_tests::{accepted, refused, TestEnv};
use uuid::Uuid;

/// One hostile command: who sends it, on which subject, the body, and the
/// error it must get.
struct Case {
    name: &'static str,
    user: &'static str,
    action: &'static str,
    body: Vec<u8>,
    code: &'static str,
    field: Option<&'static str>,
}

fn ids() -> Value {
    json!({"commandId": Uuid::new_v4(), "requestId": Uuid::new_v4()})
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Value::Object(base), Value::Object(extra)) = (&mut base, extra) {
        base.extend(extra);
    }
    base
}

/// A submit body with `spec` (and optional top-level extras).
fn submit(spec: Value) -> Vec<u8> {
    merge(ids(), json!({ "spec": spec }))
        .to_string()
        .into_bytes()
}

/// A submit body whose spec is a valid one plus `extra` fields.
fn submit_with(extra: Value) -> Vec<u8> {
    submit(merge(
        json!({"title": "Deploy", "approvers": ["maria"]}),
        extra,
    ))
}

/// A submit body written as text, `{ids, "spec": <spec_text>}` plus `tail`.
fn submit_text(spec_text: &str, tail: &str) -> Vec<u8> {
    format!(
        r#"{{"commandId":"{}","requestId":"{}","spec":{spec_text}{tail}}}"#,
        Uuid::new_v4(),
        Uuid::new_v4()
    )
    .into_bytes()
}

fn on(request: RequestId, extra: Value) -> Vec<u8> {
    merge(
        json!({"commandId": Uuid::new_v4(), "requestId": request.0}),
        extra,
    )
    .to_string()
    .into_bytes()
}

fn case(
    name: &'static str,
    action: &'static str,
    body: Vec<u8>,
    code: &'static str,
    field: Option<&'static str>,
) -> Case {
    Case {
        name,
        user: "alice",
        action,
        body,
        code,
        field,
    }
}

fn nested(open: &str, close: &str, depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

fn many(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn submit_cases() -> Vec<Case> {
    use limits::*;
    let long = |n: usize| "x".repeat(n);
    let blob = |bytes: usize| json!({ "blob": "x".repeat(bytes) });
    vec![
        // The body itself.
        case("body_empty", "submit", Vec::new(), "MALFORMED_COMMAND", Some("body")),
        case("body_not_utf8", "submit", vec![0xff, 0xfe, b'{', 0x80], "MALFORMED_COMMAND", Some("body")),
        case("body_json_array", "submit", b"[1,2,3]".to_vec(), "MALFORMED_COMMAND", Some("body")),
        case("body_json_null", "submit", b"null".to_vec(), "MALFORMED_COMMAND", Some("body")),
        case("body_json_string", "submit", br#""submit""#.to_vec(), "MALFORMED_COMMAND", Some("body")),
        case("body_trailing_garbage", "submit", [submit_with(json!({})), b"{}".to_vec()].concat(), "MALFORMED_COMMAND", Some("body")),
        case("body_messagepack_not_json", "submit", vec![0x82, 0xa1, b'a', 0x01, 0xa1, b'b', 0x02], "MALFORMED_COMMAND", Some("body")),
        case("body_duplicate_key", "submit", submit_text(r#"{"title":"T","approvers":["maria"],"title":"U"}"#, ""), "MALFORMED_COMMAND", Some("spec.title")),
        case("command_id_missing", "submit", json!({"requestId": Uuid::new_v4(), "spec": {"title": "T", "approvers": ["maria"]}}).to_string().into_bytes(), "MALFORMED_COMMAND", Some("commandId")),
        case("request_id_not_uuid", "submit", merge(ids(), json!({"requestId": "../../etc/passwd", "spec": {}})).to_string().into_bytes(), "MALFORMED_COMMAND", Some("requestId")),
        case("request_id_number", "submit", merge(ids(), json!({"requestId": 7, "spec": {}})).to_string().into_bytes(), "MALFORMED_COMMAND", Some("requestId")),
        case("spec_missing", "submit", ids().to_string().into_bytes(), "MALFORMED_COMMAND", Some("spec")),
        case("spec_wrong_type", "submit", submit(json!("approve please")), "MALFORMED_COMMAND", Some("spec")),
        case("spec_unknown_field", "submit", submit_with(json!({"approverz": ["maria"]})), "MALFORMED_COMMAND", Some("spec.approverz")),
        case("spec_on_approved_webhook_field_unknown", "submit", submit_with(json!({"onApproved": "https://example.invalid/"})), "MALFORMED_COMMAND", Some("spec.onApproved")),
        case("stage_unknown_field", "submit", submit(json!({"title": "T", "stages": [{"title": "S", "approvers": ["maria"], "quorum": 2}]})), "MALFORMED_COMMAND", Some("spec.stages[0].quorum")),
        case("logic_unknown_field", "submit", submit(json!({"title": "T", "logic": {"rules": [], "default": {"approvers": ["maria"]}, "fallback": 1}})), "MALFORMED_COMMAND", Some("spec.logic.fallback")),
        case("escalation_wrong_shape", "submit", submit_with(json!({"escalation": 15})), "MALFORMED_COMMAND", Some("spec.escalation")),
        case("escalation_unknown_field", "submit", submit_with(json!({"escalation": {"afterMinutes": 15, "to": ["manager-team"], "cc": ["x"]}})), "MALFORMED_COMMAND", Some("spec.escalation")),
        case("approvers_wrong_type", "submit", submit(json!({"title": "T", "approvers": "maria"})), "MALFORMED_COMMAND", Some("spec.approvers")),
        case("approvers_item_number", "submit", submit(json!({"title": "T", "approvers": [42]})), "MALFORMED_COMMAND", Some("spec.approvers[0]")),
        case("on_expiry_unknown_variant", "submit", submit_with(json!({"expiresIn": 60, "onExpiry": "explode"})), "MALFORMED_COMMAND", Some("spec.onExpiry")),
        case("allow_same_approver_wrong_type", "submit", submit(json!({"title": "T", "stages": [{"title": "S", "approvers": ["maria"]}], "allowSameApproverAcrossStages": "yes"})), "MALFORMED_COMMAND", Some("spec.allowSameApproverAcrossStages")),
        case("params_string", "submit", merge(ids(), json!({"spec": {"title": "T", "approvers": ["maria"]}, "params": "amount=5"})).to_string().into_bytes(), "INVALID_COMMAND", Some("params")),
        // Which way the spec says who approves.
        case("spec_no_approvers_stages_condition_or_logic", "submit", submit(json!({"title": "T"})), "INVALID_SPEC", Some("spec")),
        case("spec_approvers_and_stages", "submit", submit(json!({"title": "T", "approvers": ["maria"], "stages": [{"title": "S", "approvers": ["sam"]}]})), "INVALID_SPEC", Some("spec")),
        case("config_without_condition", "submit", submit_with(json!({"config": {"approvers": ["sam"]}})), "INVALID_SPEC", Some("spec.config")),
        case("condition_without_config", "submit", submit(json!({"title": "T", "condition": "true"})), "INVALID_SPEC", Some("spec.config")),
        case("allow_same_approver_on_single_stage", "submit", submit_with(json!({"allowSameApproverAcrossStages": true})), "INVALID_SPEC", Some("spec.allowSameApproverAcrossStages")),
        case("min_approvals_on_chain_level", "submit", submit(json!({"title": "T", "minApprovals": 1, "stages": [{"title": "S", "approvers": ["maria"]}]})), "INVALID_SPEC", Some("spec.minApprovals")),
        case("title_missing", "submit", submit(json!({"approvers": ["maria"]})), "INVALID_SPEC", Some("spec.title")),
        case("title_blank", "submit", submit(json!({"title": "   ", "approvers": ["maria"]})), "INVALID_SPEC", Some("spec.title")),
        case("time_zone_unknown", "submit", submit(json!({"title": "T", "logic": {"timeZone": "Mars/Olympus_Mons", "rules": [], "default": {"approvers": ["maria"]}}})), "INVALID_SPEC", Some("spec.logic.timeZone")),
        case("business_hours_unknown_calendar", "submit", submit_with(json!({"expiresIn": 3600, "businessHours": "moon-office"})), "INVALID_SPEC", Some("spec.businessHours")),
        // Approvers.
        case("stage_approvers_empty", "submit", submit(json!({"title": "T", "stages": [{"title": "S", "approvers": ["maria"]}, {"title": "S2", "approvers": []}]})), "INVALID_SPEC", Some("spec.stages[1].approvers")),
        case("stages_empty", "submit", submit(json!({"title": "T", "stages": []})), "INVALID_SPEC", Some("spec.stages")),
        case("rule_approvers_empty", "submit", submit(json!({"title": "T", "logic": {"rules": [{"when": "hour < 9", "approvers": []}], "default": {"approvers": ["maria"]}}})), "INVALID_SPEC", Some("spec.logic.rules[0].approvers")),
        case("logic_default_approvers_empty", "submit", submit(json!({"title": "T", "logic": {"rules": [], "default": {"approvers": []}}})), "INVALID_SPEC", Some("spec.logic.default.approvers")),
        case("escalation_to_empty", "submit", submit_with(json!({"escalation": {"afterMinutes": 15, "to": []}})), "INVALID_SPEC", Some("spec.escalation.to")),
        case("approver_id_with_spaces", "submit", submit(json!({"title": "T", "approvers": ["maria; drop table"]})), "INVALID_SPEC", Some("spec.approvers[0]")),
        case("approver_id_empty", "submit", submit(json!({"title": "T", "approvers": [""]})), "INVALID_SPEC", Some("spec.approvers[0]")),
        case("approver_id_huge", "submit", submit(json!({"title": "T", "approvers": [long(10_000)]})), "INVALID_SPEC", Some("spec.approvers[0]")),
        case("approver_listed_twice", "submit", submit(json!({"title": "T", "approvers": ["maria", "sam", "maria"]})), "INVALID_SPEC", Some("spec.approvers[2]")),
        case("unknown_approver_in_second_stage", "submit", submit(json!({"title": "T", "stages": [{"title": "S", "approvers": ["maria"]}, {"title": "S2", "approvers": ["ghost-team"]}]})), "UNKNOWN_APPROVER", Some("spec.stages[1].approvers[0]")),
        case("unknown_team_in_escalation", "submit", submit_with(json!({"escalation": {"afterMinutes": 15, "to": ["ghost-team"]}})), "UNKNOWN_APPROVER", Some("spec.escalation.to[0]")),
        case("unknown_approver_in_conditional_branch", "submit", submit(json!({"title": "T", "condition": "true", "config": {"approvers": ["ghost"]}})), "UNKNOWN_APPROVER", Some("spec.config.approvers[0]")),
        case("unknown_approver_in_branch_not_taken", "submit", submit(json!({"title": "T", "condition": "true", "config": {"approvers": ["maria"]}, "elseConfig": {"approvers": ["ghost-team"]}})), "UNKNOWN_APPROVER", Some("spec.elseConfig.approvers[0]")),
        case("unknown_approver_in_rule_not_matched", "submit", submit(json!({"title": "T", "logic": {"rules": [{"when": "false", "approvers": ["ghost"]}], "default": {"approvers": ["maria"]}}})), "UNKNOWN_APPROVER", Some("spec.logic.rules[0].approvers[0]")),
        case("unknown_team_in_second_escalation_level", "submit", submit_with(json!({"escalation": {"afterMinutes": 15, "to": ["manager-team"], "afterMinutes2": 30, "to2": ["ghost-team"]}})), "UNKNOWN_APPROVER", Some("spec.escalation.to2[0]")),
        case("requester_is_the_only_approver", "submit", submit(json!({"title": "T", "approvers": ["alice"]})), "QUORUM_UNREACHABLE", Some("spec.minApprovals")),
        case("min_approvals_above_people_in_stage", "submit", submit(json!({"title": "T", "stages": [{"title": "S", "approvers": ["maria", "sam"], "minApprovals": 3}]})), "QUORUM_UNREACHABLE", Some("spec.stages[0].minApprovals")),
        case("min_approvals_above_team_minus_requester", "submit", submit(json!({"title": "T", "approvers": ["security-team", "alice"], "minApprovals": 3})), "QUORUM_UNREACHABLE", Some("spec.minApprovals")),
        case("min_rejections_above_possible", "submit", submit_with(json!({"minRejections": 2})), "QUORUM_UNREACHABLE", Some("spec.minRejections")),
        case("min_approvals_zero", "submit", submit_with(json!({"minApprovals": 0})), "INVALID_SPEC", Some("spec.minApprovals")),
        case("min_approvals_negative", "submit", submit_with(json!({"minApprovals": -1})), "MALFORMED_COMMAND", Some("spec.minApprovals")),
        case("min_approvals_fractional", "submit", submit_with(json!({"minApprovals": 1.5})), "MALFORMED_COMMAND", Some("spec.minApprovals")),
        case("min_approvals_u32_overflow", "submit", submit_with(json!({"minApprovals": 4_294_967_296u64})), "MALFORMED_COMMAND", Some("spec.minApprovals")),
        case("min_approvals_string", "submit", submit_with(json!({"minApprovals": "2"})), "MALFORMED_COMMAND", Some("spec.minApprovals")),
        // Durations.
        case("expires_in_zero", "submit", submit_with(json!({"expiresIn": 0})), "INVALID_SPEC", Some("spec.expiresIn")),
        case("expires_in_over_a_year", "submit", submit_with(json!({"expiresIn": MAX_EXPIRES_IN_SECS + 1})), "INVALID_SPEC", Some("spec.expiresIn")),
        case("expires_in_u64_max", "submit", submit_with(json!({"expiresIn": u64::MAX})), "INVALID_SPEC", Some("spec.expiresIn")),
        case("expires_in_beyond_u64", "submit", submit_text(r#"{"title":"T","approvers":["maria"],"expiresIn":18446744073709551616}"#, ""), "MALFORMED_COMMAND", Some("spec.expiresIn")),
        case("expires_in_fractional", "submit", submit_with(json!({"expiresIn": 0.5})), "MALFORMED_COMMAND", Some("spec.expiresIn")),
        case("expires_in_exponent", "submit", submit_text(r#"{"title":"T","approvers":["maria"],"expiresIn":1e400}"#, ""), "MALFORMED_COMMAND", Some("spec.expiresIn")),
        case("expires_in_string", "submit", submit_with(json!({"expiresIn": "1h"})), "MALFORMED_COMMAND", Some("spec.expiresIn")),
        case("stage_expires_in_over_a_year", "submit", submit(json!({"title": "T", "stages": [{"title": "S", "approvers": ["maria"], "expiresIn": MAX_EXPIRES_IN_SECS * 2}]})), "INVALID_SPEC", Some("spec.stages[0].expiresIn")),
        case("on_expiry_without_expires_in", "submit", submit_with(json!({"onExpiry": "approve"})), "INVALID_SPEC", Some("spec.onExpiry")),
        case("escalation_after_zero_minutes", "submit", submit_with(json!({"escalation": {"afterMinutes": 0, "to": ["manager-team"]}})), "INVALID_SPEC", Some("spec.escalation.afterMinutes")),
        case("escalation_after_negative_minutes", "submit", submit_with(json!({"escalation": {"afterMinutes": -15, "to": ["manager-team"]}})), "MALFORMED_COMMAND", Some("spec.escalation")),
        case("escalation_after_absurd_minutes", "submit", submit_with(json!({"escalation": [{"afterMinutes": MAX_ESCALATION_MINUTES + 1, "to": ["manager-team"]}]})), "INVALID_SPEC", Some("spec.escalation[0].afterMinutes")),
        case("escalation_second_level_not_later", "submit", submit_with(json!({"escalation": {"afterMinutes": 30, "to": ["manager-team"], "afterMinutes2": 30, "to2": ["executive-team"]}})), "INVALID_SPEC", Some("spec.escalation.afterMinutes2")),
        case("escalation_after_minutes2_without_to2", "submit", submit_with(json!({"escalation": {"afterMinutes": 30, "to": ["manager-team"], "afterMinutes2": 60}})), "INVALID_SPEC", Some("spec.escalation")),
        case("remind_every_zero_minutes", "submit", submit_with(json!({"remindEveryMinutes": 0})), "INVALID_SPEC", Some("spec.remindEveryMinutes")),
        case("remind_every_absurd_minutes", "submit", submit_with(json!({"remindEveryMinutes": u32::MAX})), "INVALID_SPEC", Some("spec.remindEveryMinutes")),
        // Expressions.
        case("condition_syntax_error", "submit", submit(json!({"title": "T", "condition": "amount >>> 1", "config": {"approvers": ["maria"]}})), "INVALID_EXPRESSION", Some("spec.condition")),
        case("condition_empty", "submit", submit(json!({"title": "T", "condition": " ", "config": {"approvers": ["maria"]}})), "INVALID_EXPRESSION", Some("spec.condition")),
        case("condition_unbalanced", "submit", submit(json!({"title": "T", "condition": ")(", "config": {"approvers": ["maria"]}})), "INVALID_EXPRESSION", Some("spec.condition")),
        case("condition_nul_bytes", "submit", submit(json!({"title": "T", "condition": "amount\u{0} > 1", "config": {"approvers": ["maria"]}})), "INVALID_EXPRESSION", Some("spec.condition")),
        case("condition_brackets_40_deep", "submit", submit(json!({"title": "T", "condition": nested("(", ")", 40, "true"), "config": {"approvers": ["maria"]}})), "INVALID_EXPRESSION", Some("spec.condition")),
        case("condition_over_max_chars", "submit", submit(json!({"title": "T", "condition": format!("amount > {}", "1".repeat(crate_expr_max())), "config": {"approvers": ["maria"]}})), "INVALID_EXPRESSION", Some("spec.condition")),
        case("condition_not_a_bool", "submit", merge(ids(), json!({"spec": {"title": "T", "condition": "amount + 1", "config": {"approvers": ["maria"]}}, "params": {"amount": 1}})).to_string().into_bytes(), "CONDITION_FAILED", Some("spec.condition")),
        case("condition_reads_a_missing_parameter", "submit", merge(ids(), json!({"spec": {"title": "T", "condition": "amount > 1", "config": {"approvers": ["maria"]}}, "params": {}})).to_string().into_bytes(), "CONDITION_FAILED", Some("spec.condition")),
        case("rule_when_invalid", "submit", submit(json!({"title": "T", "logic": {"rules": [{"when": "hour <", "approvers": ["maria"]}], "default": {"approvers": ["maria"]}}})), "INVALID_EXPRESSION", Some("spec.logic.rules[0].when")),
        case("conditions_nested_five_deep", "submit", submit(nested_conditions(5)), "INVALID_SPEC", Some("spec.config.config.config.config.condition")),
        // Sizes: documented limits.
        case("command_over_max_bytes", "submit", submit_with(json!({"context": blob(MAX_COMMAND_BYTES)})), "COMMAND_TOO_LARGE", None),
        case("context_over_limit", "submit", submit_with(json!({"context": blob(MAX_CONTEXT_BYTES)})), "TOO_LARGE", Some("spec.context")),
        case("ui_config_over_limit", "submit", submit_with(json!({"uiConfig": blob(MAX_UI_CONFIG_BYTES)})), "TOO_LARGE", Some("spec.uiConfig")),
        case("params_over_limit", "submit", merge(ids(), json!({"spec": {"title": "T", "approvers": ["maria"]}, "params": blob(MAX_PARAMS_BYTES)})).to_string().into_bytes(), "TOO_LARGE", Some("params")),
        case("title_over_limit", "submit", submit(json!({"title": long(MAX_TITLE_CHARS + 1), "approvers": ["maria"]})), "INVALID_SPEC", Some("spec.title")),
        case("description_over_limit", "submit", submit_with(json!({"description": long(MAX_DESCRIPTION_CHARS + 1)})), "INVALID_SPEC", Some("spec.description")),
        case("ui_component_over_limit", "submit", submit_with(json!({"uiComponent": long(MAX_UI_COMPONENT_CHARS + 1)})), "INVALID_SPEC", Some("spec.uiComponent")),
        case("approvers_over_limit", "submit", submit(json!({"title": "T", "approvers": many("user-", MAX_APPROVERS + 1)})), "INVALID_SPEC", Some("spec.approvers")),
        case("stages_over_limit", "submit", submit(json!({"title": "T", "stages": (0..=MAX_STAGES).map(|i| json!({"title": format!("S{i}"), "approvers": ["maria"]})).collect::<Vec<_>>()})), "INVALID_SPEC", Some("spec.stages")),
        case("escalation_levels_over_limit", "submit", submit_with(json!({"escalation": (1..=MAX_ESCALATION_LEVELS as u32 + 1).map(|i| json!({"afterMinutes": i * 10, "to": ["manager-team"]})).collect::<Vec<_>>()})), "INVALID_SPEC", Some("spec.escalation")),
        case("rules_over_limit", "submit", submit(json!({"title": "T", "logic": {"rules": (0..=MAX_RULES).map(|_| json!({"when": "true", "approvers": ["maria"]})).collect::<Vec<_>>(), "default": {"approvers": ["maria"]}}})), "INVALID_SPEC", Some("spec.logic.rules")),
        // Deeply nested JSON: refused by the decoder's depth limit, not by the stack.
        case("context_nested_100k_deep", "submit", submit_text(r#"{"title":"T","approvers":["maria"],"context":"#, &format!("{}}}", nested("[", "]", 100_000, ""))), "MALFORMED_COMMAND", None),
        case("params_nested_100k_deep", "submit", submit_text(r#"{"title":"T","approvers":["maria"]}"#, &format!(r#","params":{{"a":{}}}"#, nested("[", "]", 100_000, ""))), "MALFORMED_COMMAND", None),
        case("ui_config_objects_nested_20k_deep", "submit", submit_text(r#"{"title":"T","approvers":["maria"],"uiConfig":"#, &format!("{}}}", nested(r#"{"a":"#, "}", 20_000, "1"))), "MALFORMED_COMMAND", None),
        case("spec_configs_nested_5k_deep", "submit", submit_text(&nested(r#"{"condition":"true","config":"#, "}", 5_000, r#"{"title":"T","approvers":["maria"]}"#), ""), "MALFORMED_COMMAND", None),
        case("escalation_nested_arrays_deep", "submit", submit_text(&format!(r#"{{"title":"T","approvers":["maria"],"escalation":{}}}"#, nested("[", "]", 50_000, "")), ""), "MALFORMED_COMMAND", None),
    ]
}

fn crate_expr_max() -> usize {
    signoff_engine::expr::MAX_EXPRESSION_CHARS
}

/// `{"condition": "true", "config": {... depth times ...}}`.
fn nested_conditions(depth: usize) -> Value {
    let mut spec = json!({"approvers": ["maria"]});
    for _ in 0..depth {
        spec = json!({"condition": "true", "config": spec});
    }
    spec["title"] = json!("T");
    spec
}

fn other_command_cases(request: RequestId) -> Vec<Case> {
    let as_maria = |mut c: Case| {
        c.user = "maria";
        c
    };
    vec![
        as_maria(case(
            "approve_comment_wrong_type",
            "approve",
            on(request, json!({"comment": 5})),
            "MALFORMED_COMMAND",
            Some("comment"),
        )),
        as_maria(case(
            "approve_unknown_field",
            "approve",
            on(request, json!({"approvedBy": "maria"})),
            "MALFORMED_COMMAND",
            Some("approvedBy"),
        )),
        as_maria(case(
            "approve_comment_over_limit",
            "approve",
            on(
                request,
                json!({"comment": "x".repeat(limits::MAX_TEXT_CHARS + 1)}),
            ),
            "INVALID_COMMAND",
            Some("comment"),
        )),
        as_maria(case(
            "approve_params_hash_mismatch",
            "approve",
            on(request, json!({"paramsHash": "sha256:0000"})),
            "PAYLOAD_MISMATCH",
            Some("paramsHash"),
        )),
        as_maria(case(
            "reject_reason_missing",
            "reject",
            on(request, json!({})),
            "MALFORMED_COMMAND",
            Some("reason"),
        )),
        as_maria(case(
            "reject_reason_blank",
            "reject",
            on(request, json!({"reason": "  "})),
            "INVALID_COMMAND",
            Some("reason"),
        )),
        as_maria(case(
            "reject_reason_null",
            "reject",
            on(request, json!({"reason": null})),
            "MALFORMED_COMMAND",
            Some("reason"),
        )),
        case(
            "cancel_reason_wrong_type",
            "cancel",
            on(request, json!({"reason": ["x"]})),
            "MALFORMED_COMMAND",
            Some("reason"),
        ),
        case(
            "cancel_unknown_field",
            "cancel",
            on(request, json!({"force": true})),
            "MALFORMED_COMMAND",
            Some("force"),
        ),
        case(
            "expire_unknown_field",
            "expire",
            on(request, json!({"at": "now"})),
            "MALFORMED_COMMAND",
            Some("at"),
        ),
        case(
            "escalate_level_negative",
            "escalate",
            on(request, json!({"level": -1})),
            "MALFORMED_COMMAND",
            Some("level"),
        ),
        case(
            "escalate_level_string",
            "escalate",
            on(request, json!({"level": "1"})),
            "MALFORMED_COMMAND",
            Some("level"),
        ),
        case(
            "escalate_level_missing",
            "escalate",
            on(request, json!({})),
            "MALFORMED_COMMAND",
            Some("level"),
        ),
        case(
            "remind_number_overflow",
            "remind",
            on(request, json!({"number": 4_294_967_296u64})),
            "MALFORMED_COMMAND",
            Some("number"),
        ),
        case(
            "record_execution_unknown_outcome",
            "record-execution",
            on(request, json!({"outcome": "exploded", "params": {}})),
            "MALFORMED_COMMAND",
            Some("outcome"),
        ),
        case(
            "record_execution_params_missing",
            "record-execution",
            on(request, json!({"outcome": "succeeded"})),
            "MALFORMED_COMMAND",
            Some("params"),
        ),
        case(
            "unknown_subject_with_wildcard_like_name",
            "approve.*",
            on(request, json!({})),
            "UNKNOWN_COMMAND",
            None,
        ),
        case(
            "unknown_subject_long",
            "x-very-long-action-name-that-is-not-a-command",
            on(request, json!({})),
            "UNKNOWN_COMMAND",
            None,
        ),
    ]
}

async fn assert_refused_and_nothing_written(env: &TestEnv, cases: Vec<Case>) -> Vec<&'static str> {
    let before = env.last_sequence().await;
    let mut names = Vec::new();
    let mut failures = Vec::new();
    for case in cases {
        let client = env.client_as(case.user);
        let reply = client
            .send_raw(case.action, case.body)
            .await
            .unwrap_or_else(|e| panic!("{}: no answer: {e}", case.name));
        let reply = match reply {
            signoff_schemas::Reply::Error(e) => e,
            signoff_schemas::Reply::Accepted(a) => {
                failures.push(format!("{}: accepted at {}", case.name, a.sequence));
                continue;
            }
        };
        if reply.code != case.code || (case.field.is_some() && reply.field.as_deref() != case.field)
        {
            failures.push(format!(
                "{}: got {} field {:?} ({}), want {} field {:?}",
                case.name, reply.code, reply.field, reply.message, case.code, case.field
            ));
        }
        if reply.retryable {
            failures.push(format!("{}: marked retryable", case.name));
        }
        if reply.message.is_empty() {
            failures.push(format!("{}: no message", case.name));
        }
        let after = env.last_sequence().await;
        if after != before {
            failures.push(format!(
                "{}: wrote to the stream ({before} → {after})",
                case.name
            ));
        }
        names.push(case.name);
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    names
}

#[tokio::test]
async fn hostile_submissions_get_typed_errors_and_write_nothing() {
    let env = TestEnv::start().await;
    let names = assert_refused_and_nothing_written(&env, submit_cases()).await;
    println!(
        "{} hostile submissions refused: {}",
        names.len(),
        names.join(", ")
    );
    // The gateway is still healthy: a good submission is accepted after all that.
    let (_, ok) = env
        .submit_ok("alice", r#"{"title":"Deploy","approvers":["maria"]}"#, "{}")
        .await;
    assert_eq!(ok.events, ["RequestSubmitted"]);
    // The deepest spec the limits allow (conditions 4 deep, two escalation
    // levels) is stored and read back within the commit decoder's depth cap.
    let mut deepest = nested_conditions(4);
    deepest["escalation"] = json!({"afterMinutes": 10, "to": ["manager-team"],
                                   "afterMinutes2": 20, "to2": ["executive-team"]});
    let (id, _) = env
        .submit_ok(
            "alice",
            &deepest.to_string(),
            r#"{"nested": {"a": [[[[1]]]]}}"#,
        )
        .await;
    assert_eq!(env.event_names(id).await, ["RequestSubmitted"]);
}

#[tokio::test]
async fn hostile_commands_on_a_pending_request_get_typed_errors_and_write_nothing() {
    let env = TestEnv::start().await;
    let (id, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"Transfer","approvers":["maria"]}"#,
            r#"{"amount": 5}"#,
        )
        .await;
    let names = assert_refused_and_nothing_written(&env, other_command_cases(id)).await;
    println!(
        "{} hostile commands refused: {}",
        names.len(),
        names.join(", ")
    );
    assert_eq!(env.event_names(id).await, ["RequestSubmitted"]);
    accepted(env.approve("maria", id).await);
}

/// The log's decoder: whatever bytes sit in a commit's place are reported
/// typed (`Decode` / `UnsupportedSchema`), never a panic.
#[test]
fn the_commit_decoder_reports_garbage_typed() {
    let valid = Commit {
        schema_version: signoff_engine::EVENT_SCHEMA_VERSION,
        request_id: RequestId(Uuid::new_v4()),
        command_id: signoff_engine::CommandId(Uuid::new_v4()),
        command_hash: "sha256:00".into(),
        action: "submit".into(),
        actor: signoff_engine::UserId::parse("alice").unwrap(),
        at: signoff_tests::t0(),
        events: vec![],
    }
    .encode()
    .unwrap();
    let mut future = Commit::decode(1, &valid).unwrap();
    future.schema_version = 999;
    let future = future.encode().unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("one_byte", vec![0xc1]),
        (
            "json_instead_of_messagepack",
            br#"{"schemaVersion":2}"#.to_vec(),
        ),
        ("truncated_commit", valid[..valid.len() / 2].to_vec()),
        ("array_not_map", vec![0x93, 1, 2, 3]),
        ("map_missing_fields", vec![0x81, 0xa1, b'a', 0x01]),
        ("arrays_nested_1m_deep", vec![0x91; 1_000_000]),
        ("maps_nested_deep", [0x81, 0xa1, b'k'].repeat(300_000)),
        ("huge_declared_length", vec![0xdd, 0xff, 0xff, 0xff, 0xff]),
        (
            "huge_declared_string",
            vec![0xdb, 0xff, 0xff, 0xff, 0xff, b'a'],
        ),
        ("future_schema_version", future),
    ];
    for (name, bytes) in cases {
        match Commit::decode(7, &bytes) {
            Err(StoreError::Decode {
                sequence: 7,
                problem,
            }) => {
                assert!(!problem.is_empty(), "{name}")
            }
            Err(StoreError::UnsupportedSchema { found: 999, .. }) => {
                assert_eq!(name, "future_schema_version")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(Commit::decode(1, &valid).is_ok());
}

/// A message that is not a commit, in a request's place in the log (as only
/// a writer with stream access could put there): commands on that request get
/// `HISTORY_DOES_NOT_REPLAY`, typed and not retryable, and append nothing.
#[tokio::test]
async fn garbage_in_the_log_is_reported_typed_and_nothing_is_appended() {
    let env = TestEnv::start().await;
    let id = RequestId(Uuid::new_v4());
    env.store
        .jetstream()
        .publish(event_subject(&id.0), vec![0x91; 100_000].into())
        .await
        .unwrap()
        .await
        .unwrap();
    let before = env.last_sequence().await;
    for (action, user, extra) in [
        ("approve", "maria", json!({})),
        ("cancel", "alice", json!({})),
        (
            "submit",
            "alice",
            json!({"spec": {"title": "T", "approvers": ["maria"]}}),
        ),
    ] {
        let reply = refused(env.act(user, action, id, extra).await);
        assert_eq!(
            reply.code, "HISTORY_DOES_NOT_REPLAY",
            "{action}: {}",
            reply.message
        );
        assert!(!reply.retryable, "{action}");
    }
    assert_eq!(env.last_sequence().await, before, "nothing appended");
}

/// The query API: bad parameters, cursors and ids are typed 400s naming the
/// parameter (complements the tables in `http_api.rs`).
#[tokio::test]
async fn hostile_queries_get_typed_400s_naming_the_parameter() {
    let env = TestEnv::start().await;
    let read_side = env.start_read_side().await;
    let base = read_side.http_url();
    let http = reqwest::Client::new();
    let admin = env
        .issuer
        .issue("auditor", &[signoff_engine::Role::Admin], 600);
    let (id, _) = env
        .submit_ok("alice", r#"{"title":"Deploy","approvers":["maria"]}"#, "{}")
        .await;
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "status_unknown_value",
            "/v1/requests?status=maybe".into(),
            "status",
        ),
        ("status_empty", "/v1/requests?status=".into(), "status"),
        (
            "two_filters",
            "/v1/requests?status=pending&requester=alice".into(),
            "requester",
        ),
        ("no_filter", "/v1/requests".into(), "status"),
        (
            "limit_not_a_number",
            "/v1/requests?status=pending&limit=ten".into(),
            "limit",
        ),
        (
            "limit_overflow",
            "/v1/requests?status=pending&limit=99999999999999999999999".into(),
            "limit",
        ),
        (
            "limit_negative",
            "/v1/requests?status=pending&limit=-5".into(),
            "limit",
        ),
        (
            "cursor_right_length_wrong_terminator",
            format!("/v1/requests?status=pending&cursor={}", "ab".repeat(25)),
            "cursor",
        ),
        (
            "cursor_not_hex_right_length",
            format!("/v1/requests?status=pending&cursor={}", "zz".repeat(25)),
            "cursor",
        ),
        (
            "cursor_huge",
            format!("/v1/requests?status=pending&cursor={}", "00".repeat(4096)),
            "cursor",
        ),
        (
            "wait_ms_negative",
            "/v1/requests?status=pending&waitMs=-1".into(),
            "waitMs",
        ),
        (
            "min_sequence_not_a_number",
            "/v1/inbox?minSequence=latest".into(),
            "minSequence",
        ),
        (
            "inbox_unknown_parameter",
            "/v1/inbox?user=bob".into(),
            "user",
        ),
        (
            "inbox_user_not_a_user_id",
            "/v1/inbox/not%20a%20user".into(),
            "user",
        ),
        (
            "inbox_user_huge",
            format!("/v1/inbox/{}", "u".repeat(5000)),
            "user",
        ),
        ("request_id_not_uuid", "/v1/requests/123".into(), "id"),
        (
            "request_id_traversal",
            "/v1/requests/..%2F..%2Fetc".into(),
            "id",
        ),
        (
            "audit_request_id_not_uuid",
            "/v1/requests/nope/audit".into(),
            "id",
        ),
        (
            "request_unknown_parameter",
            format!("/v1/requests/{id}?fields=all"),
            "fields",
        ),
        (
            "audit_after_not_a_number",
            "/v1/audit?after=yesterday".into(),
            "after",
        ),
        ("audit_limit_zero", "/v1/audit?limit=0".into(), "limit"),
    ];
    let mut failures = Vec::new();
    for (name, path, parameter) in &cases {
        let response = http
            .get(format!("{base}{path}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status != 400 || body["code"] != "BAD_QUERY" || body["parameter"] != *parameter {
            failures.push(format!("{name} GET {path}: {status} {body}"));
        }
    }
    // A query string that does not decode at all.
    for (name, path) in [
        ("query_bad_percent_encoding", "/v1/requests?status=%zz"),
        ("query_invalid_utf8", "/v1/requests?status=%ff%fe"),
    ] {
        let response = http
            .get(format!("{base}{path}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status != 400 || body["code"] != "BAD_QUERY" {
            failures.push(format!("{name} GET {path}: {status} {body}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!(
        "{} hostile queries refused: {}",
        cases.len() + 2,
        cases.iter().map(|c| c.0).collect::<Vec<_>>().join(", ")
    );
    read_side.shutdown().await;
}
