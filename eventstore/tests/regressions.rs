//! Regressions: each test pins a bug found by review of the engine (fixed).
//!
//! Run with `cargo test -p signoff-eventstore --test regressions`.

mod common;

use common::*;
use signoff_engine::{DomainError, Status};
use signoff_eventstore::CommandError;

/// engine/src/spec.rs, `WorkflowSpec::validate_at`, `SpecKind::Approvers` arm
/// (`if self.title.is_none()`, line 324 at the time of writing; also line 398
/// in the `SpecKind::Custom` arm): a conditional branch of kind
/// `approvers` (or `logic`) must carry its own `title`, although
/// `policy::Inherited` hands the parent's `title` down to the branch
/// (policy.rs `overlay`, "the branch's own win"). The guide's conditional
/// transfer, with the title on the conditional and bare branches, is refused
/// with `InvalidSpec { field: "spec.config.title", problem: "is required" }`.
/// It should be accepted, the plan titled "Wire transfer".
#[test]
fn bug_conditional_branches_inherit_the_title_of_the_conditional() {
    let guide_transfer = r#"{
        "title": "Wire transfer",
        "condition": "amount > 10000",
        "config": {"approvers": ["finance-team", "security-team"], "minApprovals": 2},
        "elseConfig": {"approvers": ["finance-team"], "minApprovals": 1}
    }"#;
    let result = when(
        Vec::new(),
        cmd(
            requester(),
            t0(),
            submit(guide_transfer, r#"{"amount": 50000}"#),
        ),
    );
    let events = result.expect("the guide's conditional transfer should be accepted");
    assert_eq!(submission_of(&events).plan.title, "Wire transfer");
}

/// engine/src/policy.rs, `finish_plan` (line 269 at the time of writing):
/// an unknown escalation approver is reported as
/// `spec.escalation.levels[0].to[0]` whatever form the caller used; for the
/// guide form `{afterMinutes, to, afterMinutes2, to2}` there is no `levels`
/// field. The field should be named as written, like `spec.rs`'s
/// `escalation_field` does for validation errors: `spec.escalation.to[0]` for
/// level 1 and `spec.escalation.to2[0]` for level 2 of the guide form,
/// `spec.escalation[1].to[0]` for the list form.
#[test]
fn bug_unknown_escalation_approver_names_the_field_as_written() {
    let level1 = r#"{"title": "T", "approvers": ["bob"],
        "escalation": {"afterMinutes": 15, "to": ["ghost"]}}"#;
    assert_eq!(
        submit_refused(level1, PARAMS),
        DomainError::UnknownApprover {
            field: "spec.escalation.to[0]".into(),
            id: "ghost".into(),
        }
    );
    let level2 = r#"{"title": "T", "approvers": ["bob"],
        "escalation": {"afterMinutes": 15, "to": ["carol"], "afterMinutes2": 30, "to2": ["ghost"]}}"#;
    assert_eq!(
        submit_refused(level2, PARAMS),
        DomainError::UnknownApprover {
            field: "spec.escalation.to2[0]".into(),
            id: "ghost".into(),
        }
    );
    let list = r#"{"title": "T", "approvers": ["bob"],
        "escalation": [{"afterMinutes": 15, "to": ["carol"]}, {"afterMinutes": 30, "to": ["ghost"]}]}"#;
    assert_eq!(
        submit_refused(list, PARAMS),
        DomainError::UnknownApprover {
            field: "spec.escalation[1].to[0]".into(),
            id: "ghost".into(),
        }
    );
}

/// engine/src/spec.rs, `check_escalation` (`format!("{at}.{}", name.0)`,
/// lines 513 and 533) with `escalation_field` (line 550): for the list form of
/// `escalation`, `escalation_field` returns `[1].afterMinutes` and the caller
/// joins it with a dot, giving `spec.escalation.[1].afterMinutes` (and
/// `spec.escalation.[0].to`). It should be `spec.escalation[1].afterMinutes`.
#[test]
fn bug_list_form_escalation_fields_have_no_stray_dot() {
    let not_increasing = r#"{"title": "T", "approvers": ["bob"],
        "escalation": [{"afterMinutes": 30, "to": ["carol"]}, {"afterMinutes": 10, "to": ["dave"]}]}"#;
    assert_eq!(
        submit_refused(not_increasing, PARAMS).field(),
        Some("spec.escalation[1].afterMinutes")
    );
    let empty_to =
        r#"{"title": "T", "approvers": ["bob"], "escalation": [{"afterMinutes": 30, "to": []}]}"#;
    assert_eq!(
        submit_refused(empty_to, PARAMS).field(),
        Some("spec.escalation[0].to")
    );
}

/// engine/src/decide.rs, `vote` (lines 151, 153), `cancel` (line 304) and
/// `record_execution` (line 422) check a command's
/// `reason` / `comment` / `summary` with `spec::check_text`, which returns
/// `DomainError::InvalidSpec` (wire code `INVALID_SPEC`, documented as "the
/// workflow spec is malformed"). An empty or too-long rejection reason is a
/// malformed *command* field: it should be `DomainError::InvalidCommand`
/// (`INVALID_COMMAND`) naming `reason` / `comment` / `summary`.
#[test]
fn bug_command_text_errors_are_invalid_command_not_invalid_spec() {
    let history = History::submitted(SINGLE, PARAMS);
    let cases = [
        (actor("bob"), reject(""), "reason"),
        (actor("bob"), approve_with_comment("   "), "comment"),
        (requester(), cancel_because(""), "reason"),
    ];
    for (who, action, field) in cases {
        let err = refused(history.events(), cmd(who, t0(), action));
        assert_eq!(err.code(), "INVALID_COMMAND", "{err:?}");
        assert_eq!(err.field(), Some(field));
    }
    let approved = history.then(actor("bob"), t0(), approve());
    let err = refused(
        approved.events(),
        cmd(
            requester(),
            t0(),
            signoff_engine::Action::RecordExecution {
                outcome: signoff_engine::ExecutionOutcome::Succeeded,
                summary: Some(String::new()),
                params: raw(PARAMS),
            },
        ),
    );
    assert_eq!(err.code(), "INVALID_COMMAND", "{err:?}");
    assert_eq!(err.field(), Some("summary"));
}

/// engine/src/spec.rs, `WorkflowSpec::validate_at`: `config` and `elseConfig`
/// are only read for a `condition` spec, but are accepted silently on any
/// other kind, unvalidated. A spec with `approvers` and a stray
/// `elseConfig` naming an unknown team is accepted. Misplaced settings are
/// refused elsewhere (`minApprovals` on a chain, `allowSameApproverAcrossStages`
/// outside a chain); this should be `InvalidSpec { field: "spec.elseConfig" }`
/// ("belongs to a `condition` spec").
#[test]
fn bug_config_without_condition_is_refused() {
    let stray_else = r#"{"title": "T", "approvers": ["bob"],
        "elseConfig": {"title": "E", "approvers": ["ghost-team"]}}"#;
    let result = when(
        Vec::new(),
        cmd(requester(), t0(), submit(stray_else, PARAMS)),
    );
    assert!(
        matches!(&result, Err(CommandError::Domain(DomainError::InvalidSpec { field, .. })) if field == "spec.elseConfig"),
        "{result:?}"
    );
    let stray_config = r#"{"title": "T", "approvers": ["bob"],
        "config": {"title": "C", "approvers": ["carol"]}}"#;
    let result = when(
        Vec::new(),
        cmd(requester(), t0(), submit(stray_config, PARAMS)),
    );
    assert!(
        matches!(&result, Err(CommandError::Domain(DomainError::InvalidSpec { field, .. })) if field == "spec.config"),
        "{result:?}"
    );
}

/// engine/src/request.rs, `ApprovalRequest::apply` (line 129) accepts
/// `StageApproved` for the last stage
/// without a following decision, leaving `status == Pending` with
/// `current_stage == stages.len()`. `decide`'s `vote` then indexes
/// `submitted.plan.stages[stage_index]` (engine/src/decide.rs line 148) out of
/// bounds and **panics** inside `Aggregate::handle`, instead of refusing.
/// Such a history is never written by `decide` (it always appends
/// `RequestApproved` in the same commit), so this is only reachable with a
/// damaged or hand-written log, but the aggregate promises to refuse every
/// command on a history it cannot use (`CommandError::HistoryDoesNotReplay`),
/// not to crash. Either the table should refuse a `StageApproved` of the
/// last stage that is not followed by a decision (it cannot know that
/// event-by-event, so more simply: `vote` should check
/// `current_stage_plan()` and return a typed error), or `apply` should
/// refuse `StageApproved` that leaves no stage while still pending.
#[test]
fn bug_a_pending_request_past_its_last_stage_refuses_votes_without_panicking() {
    let approved = History::submitted(SINGLE, PARAMS).then(actor("bob"), t0(), approve());
    // RequestSubmitted, ApprovalGranted, StageApproved -- without RequestApproved.
    let truncated: Vec<_> = approved.events()[..3].to_vec();
    let state = signoff_engine::ApprovalRequest::replay(truncated.iter().map(|e| &e.0)).unwrap();
    assert_eq!(
        state.status,
        Status::Pending,
        "the table accepted the truncated history"
    );
    let outcome = std::panic::catch_unwind(|| {
        when(truncated.clone(), cmd(actor("carol"), t0(), reject("late")))
    });
    match outcome {
        Err(_) => panic!(
            "handling a vote on this history panicked (index out of bounds in decide.rs `vote`)"
        ),
        Ok(result) => assert!(result.is_err(), "{result:?}"),
    }
}
