//! Given / when / then through the cqrs-es `TestFramework`: every workflow type
//! of the product guide, every rule of `decide` and `policy`, every validation
//! error, and every transition of the table in `request.rs`.
//!
//! Given-lists are real events produced by `decide` (see `common::History`),
//! never hand-built ones.

mod common;

use common::*;
use signoff_engine::event::{
    ApprovalBasis, ApproverVia, ExecutionRecorded, RequestApproved, RequestCancelled,
    RequestEscalated, RequestExpired, RequestRejected, StageApproved, Vote,
};
use signoff_engine::plan::{EscalationLevel, Resolution, StagePlan, PLAN_VERSION};
use signoff_engine::{ApprovalEvent, DomainError, ExecutionOutcome, Status};
use signoff_eventstore::{CommandError, Event};

/// A vote as `decide` records it for `by` on the request of `history`.
fn vote(
    history: &History,
    stage: u32,
    by: &str,
    via: ApproverVia,
    note: Option<&str>,
    at: chrono::DateTime<chrono::Utc>,
    tally: signoff_engine::event::Tally,
) -> Vote {
    Vote {
        stage,
        by: actor(by),
        via,
        note: note.map(str::to_owned),
        params_hash: history.params_hash(),
        context_hash: history.submission().context_hash.clone(),
        at,
        tally,
    }
}

fn direct(id: &str) -> ApproverVia {
    ApproverVia {
        principal: user_principal(id),
        escalation_level: None,
    }
}

fn via_team(id: &str) -> ApproverVia {
    ApproverVia {
        principal: team_principal(id),
        escalation_level: None,
    }
}

fn via_escalation(team_id: &str, level: u32) -> ApproverVia {
    ApproverVia {
        principal: team_principal(team_id),
        escalation_level: Some(level),
    }
}

fn granted(events: &[ApprovalEvent]) -> &Vote {
    match events.first() {
        Some(ApprovalEvent::ApprovalGranted(v)) => v,
        other => panic!("expected ApprovalGranted first, got {other:?}"),
    }
}

// ===========================================================================
// The workflow types of the guide
// ===========================================================================

mod single_approver {
    use super::*;

    #[test]
    fn submit_records_params_byte_for_byte_and_a_one_stage_plan() {
        let events = accepted(Vec::new(), cmd(requester(), t0(), submit(SINGLE, PARAMS)));
        assert_eq!(names(&events), ["RequestSubmitted"]);
        let s = submission_of(&events);
        assert_eq!(s.request_id, request_id());
        assert_eq!(s.requester, requester());
        assert_eq!(s.submitted_at, t0());
        assert_eq!(s.params.as_str(), PARAMS, "params are kept byte for byte");
        assert_eq!(s.params_hash, raw(PARAMS).canonical_hash());
        assert!(s.params_hash.starts_with("sha256:"));
        assert_eq!(s.context, None);
        assert_eq!(s.context_hash, None);
        let plan = &s.plan;
        assert_eq!(plan.plan_version, PLAN_VERSION);
        assert!(plan.spec_hash.starts_with("sha256:"));
        assert_eq!(plan.title, "Delete production database");
        assert_eq!(
            plan.description.as_deref(),
            Some("Drops the orders database")
        );
        assert_eq!(
            plan.stages,
            vec![StagePlan {
                title: "Delete production database".into(),
                description: Some("Drops the orders database".into()),
                approvers: vec![user_principal("bob")],
                min_approvals: 1,
                min_rejections: 1,
                eligible_at_submission: 1,
                expires_in: None,
            }]
        );
        assert_eq!(plan.expires_at, None);
        assert!(plan.escalation.is_empty());
        assert!(!plan.allow_same_approver_across_stages);
        assert_eq!(plan.resolution, Resolution::Approvers);
        assert_eq!(plan.ui_component, None);
        assert_eq!(plan.ui_config, None);
    }

    #[test]
    fn submitting_through_the_framework_yields_exactly_the_helper_s_events() {
        for (spec_json, params) in [
            (SINGLE, PARAMS),
            (ESCALATING, PARAMS),
            (TRANSFER_NO_ELSE, r#"{"amount": 1}"#),
        ] {
            framework()
                .given_no_previous_events()
                .when(cmd(requester(), t0(), submit(spec_json, params)))
                .then_expect_events(submitted(spec_json, params));
        }
    }

    #[test]
    fn same_spec_gives_the_same_spec_hash_whatever_its_formatting() {
        let a = History::submitted(SINGLE, PARAMS);
        let compact = r#"{"approvers":["bob"],"description":"Drops the orders database","title":"Delete production database"}"#;
        let b = History::submitted(compact, PARAMS);
        assert_eq!(a.submission().plan.spec_hash, b.submission().plan.spec_hash);
        let c = History::submitted(TEAM, PARAMS);
        assert_ne!(a.submission().plan.spec_hash, c.submission().plan.spec_hash);
    }

    #[test]
    fn the_named_approver_approves_and_the_request_is_approved() {
        let history = History::submitted(SINGLE, PARAMS);
        let when_at = t0() + minutes(5);
        framework()
            .given(history.events())
            .when(cmd(
                actor("bob"),
                when_at,
                approve_with_comment("looks right"),
            ))
            .then_expect_events(vec![
                Event(ApprovalEvent::ApprovalGranted(vote(
                    &history,
                    0,
                    "bob",
                    direct("bob"),
                    Some("looks right"),
                    when_at,
                    tally(1, 1, 0, 1),
                ))),
                Event(ApprovalEvent::StageApproved(StageApproved {
                    stage: 0,
                    at: when_at,
                })),
                Event(ApprovalEvent::RequestApproved(RequestApproved {
                    at: when_at,
                    basis: ApprovalBasis::Quorum,
                })),
            ]);
    }

    #[test]
    fn the_named_approver_rejects_and_the_request_is_rejected() {
        let history = History::submitted(SINGLE, PARAMS);
        let when_at = t0() + minutes(5);
        let v = vote(
            &history,
            0,
            "bob",
            direct("bob"),
            Some("not today"),
            when_at,
            tally(0, 1, 1, 1),
        );
        framework()
            .given(history.events())
            .when(cmd(actor("bob"), when_at, reject("not today")))
            .then_expect_events(vec![
                Event(ApprovalEvent::RejectionRecorded(v.clone())),
                Event(ApprovalEvent::RequestRejected(RequestRejected {
                    at: when_at,
                    stage: 0,
                    rejections: vec![v],
                    expired_at: None,
                })),
            ]);
    }
}

mod team_approver {
    use super::*;

    #[test]
    fn a_member_approves_via_the_team() {
        let history = History::submitted(TEAM, PARAMS);
        let plan = &history.submission().plan;
        assert_eq!(
            plan.stages[0].approvers,
            vec![team_principal("security-team")]
        );
        assert_eq!(plan.stages[0].eligible_at_submission, 2);
        let when_at = t0() + minutes(1);
        framework()
            .given(history.events())
            .when(cmd(actor("dave"), when_at, approve()))
            .then_expect_events(vec![
                Event(ApprovalEvent::ApprovalGranted(vote(
                    &history,
                    0,
                    "dave",
                    via_team("security-team"),
                    None,
                    when_at,
                    tally(1, 1, 0, 1),
                ))),
                Event(ApprovalEvent::StageApproved(StageApproved {
                    stage: 0,
                    at: when_at,
                })),
                Event(ApprovalEvent::RequestApproved(RequestApproved {
                    at: when_at,
                    basis: ApprovalBasis::Quorum,
                })),
            ]);
    }

    #[test]
    fn the_vote_names_the_person_and_the_team() {
        let history = History::submitted(TEAM, PARAMS);
        let events = accepted(history.events(), cmd(actor("carol"), t0(), approve()));
        let v = granted(&events);
        assert_eq!(v.by.user, user("carol"));
        assert_eq!(v.via.principal, team_principal("security-team"));
        assert_eq!(v.via.escalation_level, None);
    }

    #[test]
    fn someone_outside_the_team_is_not_an_approver() {
        let history = History::submitted(TEAM, PARAMS);
        assert_eq!(
            refused(history.events(), cmd(actor("bob"), t0(), approve())),
            DomainError::NotAnApprover {
                actor: user("bob"),
                stage: 0,
                stage_title: "Deploy to production".into(),
            }
        );
    }

    #[test]
    fn a_person_named_directly_and_through_a_team_is_recorded_as_named_directly() {
        let spec_json = r#"{"title": "Both", "approvers": ["security-team", "carol"]}"#;
        let history = History::submitted(spec_json, PARAMS);
        assert_eq!(
            history.submission().plan.stages[0].eligible_at_submission,
            2
        );
        let events = accepted(history.events(), cmd(actor("carol"), t0(), approve()));
        assert_eq!(granted(&events).via, direct("carol"));
    }
}

mod multi_approver {
    use super::*;

    #[test]
    fn three_distinct_people_are_needed_and_two_leave_it_pending() {
        let history = History::submitted(MULTI, PARAMS);
        let stage = &history.submission().plan.stages[0];
        assert_eq!(
            stage.approvers,
            vec![
                user_principal("user_123"),
                user_principal("user_456"),
                team_principal("security-team")
            ]
        );
        assert_eq!(stage.min_approvals, 3);
        assert_eq!(stage.eligible_at_submission, 4);

        let first = accepted(
            history.events(),
            cmd(actor("user_123"), t0() + minutes(1), approve()),
        );
        assert_eq!(names(&first), ["ApprovalGranted"]);
        assert_eq!(granted(&first).tally, tally(1, 3, 0, 1));
        assert_eq!(granted(&first).via, direct("user_123"));

        let history = history.then(actor("user_123"), t0() + minutes(1), approve());
        let second = accepted(
            history.events(),
            cmd(actor("carol"), t0() + minutes(2), approve()),
        );
        assert_eq!(names(&second), ["ApprovalGranted"]);
        assert_eq!(granted(&second).tally, tally(2, 3, 0, 1));
        assert_eq!(granted(&second).via, via_team("security-team"));

        let history = history.then(actor("carol"), t0() + minutes(2), approve());
        assert_eq!(
            history.state.status,
            Status::Pending,
            "two of three leave it pending"
        );

        let third_at = t0() + minutes(3);
        let third = accepted(
            history.events(),
            cmd(actor("user_456"), third_at, approve()),
        );
        assert_eq!(
            names(&third),
            ["ApprovalGranted", "StageApproved", "RequestApproved"]
        );
        assert_eq!(granted(&third).tally, tally(3, 3, 0, 1));
        assert_eq!(
            third[2],
            ApprovalEvent::RequestApproved(RequestApproved {
                at: third_at,
                basis: ApprovalBasis::Quorum
            })
        );
    }

    #[test]
    fn two_members_of_the_same_team_count_as_two_people() {
        let history = History::submitted(MULTI, PARAMS)
            .then(actor("carol"), t0(), approve())
            .then(actor("dave"), t0(), approve());
        let events = accepted(history.events(), cmd(actor("user_456"), t0(), approve()));
        assert_eq!(
            names(&events),
            ["ApprovalGranted", "StageApproved", "RequestApproved"]
        );
    }
}

mod sequential_chain {
    use super::*;

    #[test]
    fn the_plan_lists_the_stages_in_order() {
        let history = History::submitted(SEQUENTIAL, PARAMS);
        let plan = &history.submission().plan;
        assert_eq!(plan.title, "Release to production");
        assert_eq!(plan.resolution, Resolution::Sequential);
        let titles: Vec<&str> = plan.stages.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(
            titles,
            ["Manager approval", "Security review", "Executive sign-off"]
        );
        let approvers: Vec<_> = plan.stages.iter().map(|s| s.approvers.clone()).collect();
        assert_eq!(
            approvers,
            vec![
                vec![team_principal("manager-team")],
                vec![team_principal("security-team")],
                vec![team_principal("executive-team")],
            ]
        );
        assert_eq!(history.state.stages.len(), 3);
        assert_eq!(history.state.current_stage, 0);
    }

    #[test]
    fn each_stage_approval_activates_the_next_and_the_last_approves_the_request() {
        let history = History::submitted(SEQUENTIAL, PARAMS);
        let at1 = t0() + minutes(1);
        let stage0 = accepted(history.events(), cmd(actor("bob"), at1, approve()));
        assert_eq!(names(&stage0), ["ApprovalGranted", "StageApproved"]);
        assert_eq!(
            stage0[1],
            ApprovalEvent::StageApproved(StageApproved { stage: 0, at: at1 })
        );
        assert_eq!(granted(&stage0).stage, 0);

        let history = history.then(actor("bob"), at1, approve());
        assert_eq!(history.state.current_stage, 1);
        assert_eq!(history.state.stages[0].approved_at, Some(at1));
        let at2 = t0() + minutes(2);
        let stage1 = accepted(history.events(), cmd(actor("carol"), at2, approve()));
        assert_eq!(names(&stage1), ["ApprovalGranted", "StageApproved"]);
        assert_eq!(granted(&stage1).stage, 1);
        assert_eq!(granted(&stage1).via, via_team("security-team"));
        assert_eq!(granted(&stage1).tally, tally(1, 1, 0, 1));

        let history = history.then(actor("carol"), at2, approve());
        assert_eq!(history.state.current_stage, 2);
        let at3 = t0() + minutes(3);
        let stage2 = accepted(history.events(), cmd(actor("frank"), at3, approve()));
        assert_eq!(
            names(&stage2),
            ["ApprovalGranted", "StageApproved", "RequestApproved"]
        );
        assert_eq!(granted(&stage2).stage, 2);
        assert_eq!(
            stage2[1],
            ApprovalEvent::StageApproved(StageApproved { stage: 2, at: at3 })
        );
        assert_eq!(
            stage2[2],
            ApprovalEvent::RequestApproved(RequestApproved {
                at: at3,
                basis: ApprovalBasis::Quorum
            })
        );
    }

    #[test]
    fn a_later_stage_member_approving_out_of_turn_is_not_an_approver() {
        let history = History::submitted(SEQUENTIAL, PARAMS);
        for member in ["carol", "frank"] {
            assert_eq!(
                refused(history.events(), cmd(actor(member), t0(), approve())),
                DomainError::NotAnApprover {
                    actor: user(member),
                    stage: 0,
                    stage_title: "Manager approval".into(),
                }
            );
        }
        let history = history.then(actor("bob"), t0(), approve());
        assert_eq!(
            refused(history.events(), cmd(actor("frank"), t0(), approve())),
            DomainError::NotAnApprover {
                actor: user("frank"),
                stage: 1,
                stage_title: "Security review".into(),
            }
        );
        assert_eq!(
            refused(history.events(), cmd(actor("erin"), t0(), approve())),
            DomainError::NotAnApprover {
                actor: user("erin"),
                stage: 1,
                stage_title: "Security review".into(),
            },
            "an earlier stage's team no longer approves once its stage is done"
        );
    }

    #[test]
    fn a_rejection_in_a_later_stage_rejects_the_request_at_that_stage() {
        let history = History::submitted(SEQUENTIAL, PARAMS).then(actor("bob"), t0(), approve());
        let at = t0() + minutes(4);
        let events = accepted(
            history.events(),
            cmd(actor("dave"), at, reject("missing threat model")),
        );
        assert_eq!(names(&events), ["RejectionRecorded", "RequestRejected"]);
        let v = match &events[0] {
            ApprovalEvent::RejectionRecorded(v) => v.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(v.stage, 1);
        assert_eq!(v.note.as_deref(), Some("missing threat model"));
        assert_eq!(
            events[1],
            ApprovalEvent::RequestRejected(RequestRejected {
                at,
                stage: 1,
                rejections: vec![v],
                expired_at: None,
            })
        );
    }

    #[test]
    fn plan_title_defaults_to_the_stage_titles() {
        let spec_json = r#"{"stages": [
            {"title": "Manager", "approvers": ["manager-team"]},
            {"title": "Security", "approvers": ["security-team"]}
        ]}"#;
        let history = History::submitted(spec_json, PARAMS);
        assert_eq!(history.submission().plan.title, "Manager → Security");
    }

    #[test]
    fn per_stage_quorums_apply() {
        let spec_json = r#"{"title": "Chain", "stages": [
            {"title": "Two managers", "approvers": ["manager-team"], "minApprovals": 2},
            {"title": "Security", "approvers": ["security-team"], "minRejections": 2}
        ]}"#;
        let history = History::submitted(spec_json, PARAMS);
        let first = accepted(history.events(), cmd(actor("bob"), t0(), approve()));
        assert_eq!(names(&first), ["ApprovalGranted"]);
        assert_eq!(granted(&first).tally, tally(1, 2, 0, 1));
        let history = history.then(actor("bob"), t0(), approve());
        let second = accepted(history.events(), cmd(actor("erin"), t0(), approve()));
        assert_eq!(names(&second), ["ApprovalGranted", "StageApproved"]);
        let history = history.then(actor("erin"), t0(), approve());
        let rejection = accepted(history.events(), cmd(actor("carol"), t0(), reject("hmm")));
        assert_eq!(names(&rejection), ["RejectionRecorded"]);
    }
}

mod conditional {
    use super::*;

    #[test]
    fn a_large_transfer_takes_the_config_branch() {
        let history = History::submitted(TRANSFER, r#"{"amount": 50000, "toAccount": "DE89"}"#);
        let plan = &history.submission().plan;
        assert_eq!(plan.title, "Large transfer", "the branch's own title wins");
        assert_eq!(
            plan.stages[0].approvers,
            vec![
                team_principal("finance-team"),
                team_principal("security-team")
            ]
        );
        assert_eq!(plan.stages[0].min_approvals, 2);
        assert_eq!(
            plan.resolution,
            Resolution::Condition {
                expression: "amount > 10000".into(),
                result: true,
                branch: "config".into(),
                then: Box::new(Resolution::Approvers),
            }
        );
        let one = accepted(history.events(), cmd(actor("heidi"), t0(), approve()));
        assert_eq!(names(&one), ["ApprovalGranted"]);
        let history = history.then(actor("heidi"), t0(), approve());
        let two = accepted(history.events(), cmd(actor("carol"), t0(), approve()));
        assert_eq!(
            names(&two),
            ["ApprovalGranted", "StageApproved", "RequestApproved"]
        );
    }

    #[test]
    fn a_small_transfer_takes_the_else_branch() {
        let history = History::submitted(TRANSFER, r#"{"amount": 500}"#);
        let plan = &history.submission().plan;
        assert_eq!(plan.title, "Small transfer");
        assert_eq!(
            plan.stages[0].approvers,
            vec![team_principal("finance-team")]
        );
        assert_eq!(plan.stages[0].min_approvals, 1);
        assert_eq!(
            plan.resolution,
            Resolution::Condition {
                expression: "amount > 10000".into(),
                result: false,
                branch: "elseConfig".into(),
                then: Box::new(Resolution::Approvers),
            }
        );
        assert!(matches!(
            refused(history.events(), cmd(actor("carol"), t0(), approve())),
            DomainError::NotAnApprover { .. }
        ));
        let events = accepted(history.events(), cmd(actor("ivan"), t0(), approve()));
        assert_eq!(
            names(&events),
            ["ApprovalGranted", "StageApproved", "RequestApproved"]
        );
    }

    #[test]
    fn a_false_condition_without_else_config_needs_no_approval() {
        let at = t0() + seconds(7);
        let events = accepted(
            Vec::new(),
            cmd(
                requester(),
                at,
                submit(TRANSFER_NO_ELSE, r#"{"amount": 500}"#),
            ),
        );
        assert_eq!(names(&events), ["RequestSubmitted", "RequestApproved"]);
        let plan = &submission_of(&events).plan;
        assert!(plan.stages.is_empty());
        assert_eq!(plan.title, "Wire transfer");
        assert_eq!(
            plan.resolution,
            Resolution::Condition {
                expression: "amount > 10000".into(),
                result: false,
                branch: "none".into(),
                then: Box::new(Resolution::NotRequired),
            }
        );
        assert_eq!(
            events[1],
            ApprovalEvent::RequestApproved(RequestApproved {
                at,
                basis: ApprovalBasis::NotRequired,
            })
        );
        // The approved action may be recorded right away.
        let given: Vec<Event> = events.into_iter().map(Event).collect();
        let executed = accepted(
            given,
            cmd(requester(), at, record_execution(r#"{"amount":500}"#)),
        );
        assert_eq!(names(&executed), ["ExecutionRecorded"]);
    }

    #[test]
    fn without_any_title_a_request_that_needs_no_approval_says_so() {
        let spec_json = r#"{"condition": "amount > 10000",
            "config": {"title": "Large", "approvers": ["finance-team"]}}"#;
        let events = accepted(
            Vec::new(),
            cmd(requester(), t0(), submit(spec_json, r#"{"amount": 1}"#)),
        );
        assert_eq!(submission_of(&events).plan.title, "Approval not required");
    }

    #[test]
    fn the_condition_reads_parameters_through_params_too() {
        let spec_json = r#"{"title": "T", "condition": "params.amount > 10000 && currency == 'EUR'",
            "config": {"title": "Big", "approvers": ["finance-team"]}}"#;
        let history = History::submitted(spec_json, r#"{"amount": 20000, "currency": "EUR"}"#);
        assert_eq!(history.submission().plan.title, "Big");
    }

    #[test]
    fn the_parent_hands_settings_down_and_the_branch_s_own_win() {
        let spec_json = r#"{
            "title": "Parent",
            "description": "from the parent",
            "expiresIn": 600,
            "uiComponent": "TransferReview",
            "context": {"ticket": "OPS-1"},
            "condition": "amount > 10",
            "config": {"title": "Branch", "approvers": ["finance-team"], "expiresIn": 1200}
        }"#;
        let history = History::submitted(spec_json, r#"{"amount": 11}"#);
        let s = history.submission();
        assert_eq!(s.plan.title, "Branch");
        assert_eq!(s.plan.description.as_deref(), Some("from the parent"));
        assert_eq!(s.plan.expires_at, Some(t0() + seconds(1200)));
        assert_eq!(s.plan.ui_component.as_deref(), Some("TransferReview"));
        assert_eq!(
            s.context.as_ref().map(|c| c.as_str()),
            Some(r#"{"ticket": "OPS-1"}"#)
        );
    }

    #[test]
    fn conditions_nest() {
        let spec_json = r#"{
            "title": "Nested",
            "condition": "amount > 1000",
            "config": {
                "condition": "amount > 100000",
                "config": {"title": "Huge", "approvers": ["executive-team"]},
                "elseConfig": {"title": "Large", "approvers": ["finance-team"]}
            }
        }"#;
        let history = History::submitted(spec_json, r#"{"amount": 5000}"#);
        let plan = &history.submission().plan;
        assert_eq!(plan.title, "Large");
        assert_eq!(
            plan.resolution,
            Resolution::Condition {
                expression: "amount > 1000".into(),
                result: true,
                branch: "config".into(),
                then: Box::new(Resolution::Condition {
                    expression: "amount > 100000".into(),
                    result: false,
                    branch: "elseConfig".into(),
                    then: Box::new(Resolution::Approvers),
                }),
            }
        );
    }

    #[test]
    fn a_branch_may_be_a_sequential_chain() {
        let spec_json = r#"{
            "title": "Transfer",
            "allowSameApproverAcrossStages": true,
            "condition": "amount > 1000",
            "config": {"stages": [
                {"title": "Release", "approvers": ["release-managers"]},
                {"title": "Security", "approvers": ["security-team"]}
            ]}
        }"#;
        let history = History::submitted(spec_json, r#"{"amount": 5000}"#);
        let plan = &history.submission().plan;
        assert_eq!(plan.stages.len(), 2);
        assert!(
            plan.allow_same_approver_across_stages,
            "inherited from the conditional parent"
        );
        let history = history.then(actor("carol"), t0(), approve());
        let events = accepted(history.events(), cmd(actor("carol"), t0(), approve()));
        assert_eq!(
            names(&events),
            ["ApprovalGranted", "StageApproved", "RequestApproved"]
        );
    }
}

mod custom_logic {
    use super::*;

    #[test]
    fn the_reference_instant_is_a_thursday() {
        use chrono::Datelike;
        assert_eq!(t0().weekday(), chrono::Weekday::Thu);
    }

    #[test]
    fn during_business_hours_the_first_rule_applies() {
        // 09:00 UTC is 10:00 in Berlin (CET) on a Thursday.
        let history = History::submitted_at(BUSINESS_HOURS, "{}", at("2026-11-26T09:00:00Z"));
        let plan = &history.submission().plan;
        assert_eq!(
            plan.stages[0].approvers,
            vec![team_principal("manager-team")]
        );
        assert_eq!(plan.stages[0].min_approvals, 1);
        assert_eq!(plan.title, "Restart the payment service");
        assert_eq!(
            plan.resolution,
            Resolution::CustomRule {
                time_zone: "Europe/Berlin".into(),
                local_time: "2026-11-26T10:00:00+01:00".into(),
                matched_rule: Some(0),
                when: Some("weekday <= 5 && hour >= 9 && hour < 17".into()),
            }
        );
        let events = accepted(
            history.events(),
            cmd(actor("bob"), at("2026-11-26T09:05:00Z"), approve()),
        );
        assert_eq!(
            names(&events),
            ["ApprovalGranted", "StageApproved", "RequestApproved"]
        );
    }

    #[test]
    fn at_night_the_default_applies() {
        // 21:00 UTC is 22:00 in Berlin.
        let history = History::submitted_at(BUSINESS_HOURS, "{}", at("2026-11-26T21:00:00Z"));
        let plan = &history.submission().plan;
        assert_eq!(
            plan.stages[0].approvers,
            vec![
                team_principal("on-call-team"),
                team_principal("manager-team")
            ]
        );
        assert_eq!(plan.stages[0].min_approvals, 2);
        assert_eq!(plan.stages[0].eligible_at_submission, 4);
        assert_eq!(
            plan.resolution,
            Resolution::CustomRule {
                time_zone: "Europe/Berlin".into(),
                local_time: "2026-11-26T22:00:00+01:00".into(),
                matched_rule: None,
                when: None,
            }
        );
        let history = history.then(actor("judy"), at("2026-11-26T21:10:00Z"), approve());
        let events = accepted(
            history.events(),
            cmd(actor("bob"), at("2026-11-26T21:20:00Z"), approve()),
        );
        assert_eq!(
            names(&events),
            ["ApprovalGranted", "StageApproved", "RequestApproved"]
        );
    }

    #[test]
    fn the_time_zone_decides_not_utc() {
        // 16:30 UTC is 17:30 in Berlin: after hours there, though within 9..17 in UTC.
        let history = History::submitted_at(BUSINESS_HOURS, "{}", at("2026-11-26T16:30:00Z"));
        assert!(matches!(
            history.submission().plan.resolution,
            Resolution::CustomRule {
                matched_rule: None,
                ..
            }
        ));
        // 08:30 UTC is 09:30 in Berlin: within hours there, though before 9 in UTC.
        let history = History::submitted_at(BUSINESS_HOURS, "{}", at("2026-11-26T08:30:00Z"));
        assert!(matches!(
            history.submission().plan.resolution,
            Resolution::CustomRule {
                matched_rule: Some(0),
                ..
            }
        ));
    }

    #[test]
    fn on_a_weekend_the_default_applies() {
        let history = History::submitted_at(BUSINESS_HOURS, "{}", at("2026-11-28T10:00:00Z"));
        assert!(matches!(
            history.submission().plan.resolution,
            Resolution::CustomRule {
                matched_rule: None,
                ..
            }
        ));
    }

    #[test]
    fn rules_see_weekday_names_dates_and_parameters_and_the_first_match_wins() {
        let spec_json = r#"{"title": "Rules", "logic": {
            "rules": [
                {"when": "weekdayName == 'Friday'", "approvers": ["executive-team"]},
                {"when": "date == '2026-11-26' && env == 'prod'", "approvers": ["database-team"]},
                {"when": "true", "approvers": ["finance-team"]}
            ],
            "default": {"approvers": ["manager-team"]}
        }}"#;
        let history = History::submitted(spec_json, r#"{"env": "prod"}"#);
        let plan = &history.submission().plan;
        assert_eq!(
            plan.stages[0].approvers,
            vec![team_principal("database-team")]
        );
        match &plan.resolution {
            Resolution::CustomRule {
                time_zone,
                local_time,
                matched_rule,
                ..
            } => {
                assert_eq!(time_zone, "UTC", "the default time zone");
                assert_eq!(local_time, "2026-11-26T10:00:00+00:00");
                assert_eq!(*matched_rule, Some(1));
            }
            other => panic!("{other:?}"),
        }
    }
}

mod expiry {
    use super::*;

    #[test]
    fn expires_in_sets_the_deadline_from_submission() {
        let history = History::submitted(EXPIRING, PARAMS);
        assert_eq!(
            history.submission().plan.expires_at,
            Some(t0() + seconds(3600))
        );
    }

    #[test]
    fn expiring_before_the_deadline_is_not_yet_due() {
        let history = History::submitted(EXPIRING, PARAMS);
        let now = t0() + seconds(3599);
        assert_eq!(
            refused(history.events(), cmd(scheduler(), now, expire())),
            DomainError::NotYetDue {
                deadline: "expiry".into(),
                due_at: t0() + seconds(3600),
                now,
            }
        );
    }

    #[test]
    fn at_and_after_the_deadline_the_request_expires() {
        let history = History::submitted(EXPIRING, PARAMS);
        for late in [0, 1, 86_400] {
            let now = t0() + seconds(3600 + late);
            framework()
                .given(history.events())
                .when(cmd(scheduler(), now, expire()))
                .then_expect_events(vec![Event(ApprovalEvent::RequestExpired(RequestExpired {
                    by: scheduler(),
                    expires_at: t0() + seconds(3600),
                    stage: None,
                    at: now,
                }))]);
        }
    }

    #[test]
    fn an_expired_request_is_expired_never_rejected_and_takes_no_more_votes() {
        let expired_at = t0() + minutes(61);
        let history = History::submitted(EXPIRING, PARAMS).then(scheduler(), expired_at, expire());
        assert_eq!(history.state.status, Status::Expired);
        assert_eq!(history.state.decided_at, Some(expired_at));
        assert_eq!(
            refused(
                history.events(),
                cmd(actor("erin"), expired_at + minutes(1), approve())
            ),
            DomainError::AlreadyDecided {
                status: Status::Expired,
                at: expired_at,
            }
        );
    }

    #[test]
    fn an_admin_may_expire_but_nobody_else() {
        let history = History::submitted(EXPIRING, PARAMS);
        let due = t0() + minutes(60);
        let events = accepted(history.events(), cmd(admin("root"), due, expire()));
        assert_eq!(names(&events), ["RequestExpired"]);
        for who in [requester(), actor("erin"), actor("mallory")] {
            assert!(matches!(
                refused(history.events(), cmd(who.clone(), due, expire())),
                DomainError::NotPermitted { actor, action, .. } if actor == who.user && action == "expire"
            ));
        }
    }

    #[test]
    fn a_vote_at_or_after_the_deadline_does_not_count() {
        let history = History::submitted(EXPIRING, PARAMS);
        let just_in_time = t0() + seconds(3599);
        assert_eq!(
            names(&accepted(
                history.events(),
                cmd(actor("erin"), just_in_time, approve())
            )),
            ["ApprovalGranted", "StageApproved", "RequestApproved"]
        );
        // The scheduler has not recorded the expiry yet: the votes still do not count.
        for late in [0, 1, 86_400] {
            let now = t0() + seconds(3600 + late);
            for action in [approve(), reject("too late anyway")] {
                assert_eq!(
                    refused(history.events(), cmd(actor("erin"), now, action)),
                    DomainError::DeadlinePassed {
                        deadline: "the request's expiresIn".into(),
                        expired_at: t0() + seconds(3600),
                        now,
                    }
                );
            }
        }
    }

    #[test]
    fn on_expiry_rejects_or_approves_by_the_rule_that_did_it() {
        let due = t0() + seconds(3600);
        let rule = |on_expiry: &str| {
            EXPIRING.replace(
                r#""expiresIn": 3600"#,
                &format!(r#""expiresIn": 3600, "onExpiry": "{on_expiry}""#),
            )
        };
        framework()
            .given(History::submitted(&rule("reject"), PARAMS).events())
            .when(cmd(scheduler(), due, expire()))
            .then_expect_events(vec![Event(ApprovalEvent::RequestRejected(
                RequestRejected {
                    at: due,
                    stage: 0,
                    rejections: Vec::new(),
                    expired_at: Some(due),
                },
            ))]);
        framework()
            .given(History::submitted(&rule("approve"), PARAMS).events())
            .when(cmd(scheduler(), due, expire()))
            .then_expect_events(vec![Event(ApprovalEvent::RequestApproved(
                RequestApproved {
                    at: due,
                    basis: ApprovalBasis::ExpiryRule { expires_at: due },
                },
            ))]);
    }

    /// A chain whose first stage has a minute, the request a day, and the
    /// request's rule `on_expiry`.
    fn timed_chain(on_expiry: &str) -> String {
        format!(
            r#"{{"title": "Release", "expiresIn": 86400, "onExpiry": "{on_expiry}", "stages": [
                {{"title": "Review", "approvers": ["bob"], "expiresIn": 60}},
                {{"title": "Sign-off", "approvers": ["carol"]}}
            ]}}"#
        )
    }

    #[test]
    fn a_stage_that_runs_out_of_time_never_approves_the_chain() {
        let history = History::submitted(&timed_chain("approve"), PARAMS);
        let due = t0() + seconds(60);
        framework()
            .given(history.events())
            .when(cmd(scheduler(), due, expire()))
            .then_expect_events(vec![Event(ApprovalEvent::RequestExpired(RequestExpired {
                by: scheduler(),
                expires_at: due,
                stage: Some(0),
                at: due,
            }))]);
        assert_eq!(
            refused(history.events(), cmd(actor("bob"), due, approve())),
            DomainError::DeadlinePassed {
                deadline: "stage 0's expiresIn".into(),
                expired_at: due,
                now: due,
            }
        );
        // The request's own deadline still approves by the rule.
        let reviewed = history.then(actor("bob"), t0() + seconds(30), approve());
        let day = t0() + seconds(86_400);
        assert_eq!(
            names(&accepted(
                reviewed.events(),
                cmd(scheduler(), day, expire())
            )),
            ["RequestApproved"]
        );
    }

    #[test]
    fn a_stage_deadline_that_is_also_the_requests_applies_the_requests_rule() {
        let spec = r#"{"title": "Release", "expiresIn": 60, "onExpiry": "approve", "stages": [
            {"title": "Review", "approvers": ["bob"], "expiresIn": 60}
        ]}"#;
        let history = History::submitted(spec, PARAMS);
        let due = t0() + seconds(60);
        assert_eq!(
            names(&accepted(history.events(), cmd(scheduler(), due, expire()))),
            ["RequestApproved"]
        );
    }

    #[test]
    fn a_stage_that_runs_out_of_time_rejects_the_request_under_on_expiry_reject() {
        let history = History::submitted(&timed_chain("reject"), PARAMS);
        let due = t0() + seconds(60);
        framework()
            .given(history.events())
            .when(cmd(scheduler(), due, expire()))
            .then_expect_events(vec![Event(ApprovalEvent::RequestRejected(
                RequestRejected {
                    at: due,
                    stage: 0,
                    rejections: Vec::new(),
                    expired_at: Some(due),
                },
            ))]);
    }

    #[test]
    fn a_request_without_expires_in_cannot_expire() {
        let history = History::submitted(SINGLE, PARAMS);
        assert_eq!(
            refused(
                history.events(),
                cmd(scheduler(), t0() + minutes(100_000), expire())
            ),
            DomainError::NoExpiry
        );
    }
}

mod escalation {
    use super::*;

    fn guide_levels() -> Vec<EscalationLevel> {
        vec![
            EscalationLevel {
                level: 1,
                after_minutes: 15,
                due_at: t0() + minutes(15),
                to: vec![team_principal("manager-team")],
            },
            EscalationLevel {
                level: 2,
                after_minutes: 30,
                due_at: t0() + minutes(30),
                to: vec![team_principal("executive-team")],
            },
        ]
    }

    #[test]
    fn the_guide_form_resolves_into_two_levels() {
        let history = History::submitted(ESCALATING, PARAMS);
        assert_eq!(history.submission().plan.escalation, guide_levels());
    }

    #[test]
    fn the_list_form_and_the_levels_form_are_accepted_too() {
        let list = r#"{"title": "Fail over the primary database", "approvers": ["on-call-team"],
            "escalation": [
                {"afterMinutes": 15, "to": ["manager-team"]},
                {"afterMinutes": 30, "to": ["executive-team"]}
            ]}"#;
        let levels = r#"{"title": "Fail over the primary database", "approvers": ["on-call-team"],
            "escalation": {"levels": [
                {"afterMinutes": 15, "to": ["manager-team"]},
                {"afterMinutes": 30, "to": ["executive-team"]}
            ]}}"#;
        for spec_json in [list, levels] {
            let history = History::submitted(spec_json, PARAMS);
            assert_eq!(
                history.submission().plan.escalation,
                guide_levels(),
                "{spec_json}"
            );
        }
        let one_level = r#"{"title": "T", "approvers": ["on-call-team"],
            "escalation": {"afterMinutes": 5, "to": ["bob", "security-team"]}}"#;
        let history = History::submitted(one_level, PARAMS);
        assert_eq!(
            history.submission().plan.escalation,
            vec![EscalationLevel {
                level: 1,
                after_minutes: 5,
                due_at: t0() + minutes(5),
                to: vec![user_principal("bob"), team_principal("security-team")],
            }]
        );
    }

    #[test]
    fn escalating_before_the_level_is_due_is_not_yet_due() {
        let history = History::submitted(ESCALATING, PARAMS);
        let now = t0() + minutes(15) - seconds(1);
        assert_eq!(
            refused(history.events(), cmd(scheduler(), now, escalate(1))),
            DomainError::NotYetDue {
                deadline: "escalation level 1".into(),
                due_at: t0() + minutes(15),
                now,
            }
        );
    }

    #[test]
    fn at_fifteen_minutes_the_manager_team_is_added() {
        let history = History::submitted(ESCALATING, PARAMS);
        let now = t0() + minutes(15);
        framework()
            .given(history.events())
            .when(cmd(scheduler(), now, escalate(1)))
            .then_expect_events(vec![Event(ApprovalEvent::RequestEscalated(
                RequestEscalated {
                    by: scheduler(),
                    level: 1,
                    stage: 0,
                    added: vec![team_principal("manager-team")],
                    due_at: now,
                    at: now,
                },
            ))]);
    }

    #[test]
    fn a_manager_approves_only_after_the_escalation_and_the_vote_says_so() {
        let history = History::submitted(ESCALATING, PARAMS);
        assert!(matches!(
            refused(
                history.events(),
                cmd(actor("bob"), t0() + minutes(10), approve())
            ),
            DomainError::NotAnApprover { .. }
        ));
        let history = history.then(scheduler(), t0() + minutes(16), escalate(1));
        assert_eq!(history.state.escalation_level, 1);
        let events = accepted(
            history.events(),
            cmd(actor("bob"), t0() + minutes(17), approve()),
        );
        assert_eq!(
            names(&events),
            ["ApprovalGranted", "StageApproved", "RequestApproved"]
        );
        assert_eq!(granted(&events).via, via_escalation("manager-team", 1));
        // The original approvers keep approving as themselves.
        let events = accepted(
            history.events(),
            cmd(actor("judy"), t0() + minutes(17), approve()),
        );
        assert_eq!(granted(&events).via, via_team("on-call-team"));
        // Executives only from level 2 on.
        assert!(matches!(
            refused(
                history.events(),
                cmd(actor("frank"), t0() + minutes(17), approve())
            ),
            DomainError::NotAnApprover { .. }
        ));
        let history = history.then(scheduler(), t0() + minutes(30), escalate(2));
        let events = accepted(
            history.events(),
            cmd(actor("frank"), t0() + minutes(31), approve()),
        );
        assert_eq!(granted(&events).via, via_escalation("executive-team", 2));
    }

    #[test]
    fn levels_fire_in_order_once_each() {
        let history = History::submitted(ESCALATING, PARAMS);
        let late = t0() + minutes(45);
        assert_eq!(
            refused(history.events(), cmd(scheduler(), late, escalate(2))),
            DomainError::EscalationOutOfOrder {
                requested: 2,
                next: 1,
                defined: 2,
            }
        );
        let history = history.then(scheduler(), late, escalate(1));
        assert_eq!(
            refused(history.events(), cmd(scheduler(), late, escalate(1))),
            DomainError::EscalationOutOfOrder {
                requested: 1,
                next: 2,
                defined: 2,
            }
        );
        let history = history.then(scheduler(), late, escalate(2));
        assert_eq!(
            refused(history.events(), cmd(scheduler(), late, escalate(3))),
            DomainError::EscalationOutOfOrder {
                requested: 3,
                next: 3,
                defined: 2,
            }
        );
        assert_eq!(
            refused(history.events(), cmd(scheduler(), late, escalate(0))),
            DomainError::EscalationOutOfOrder {
                requested: 0,
                next: 3,
                defined: 2,
            }
        );
    }

    #[test]
    fn a_request_without_escalation_has_no_level_to_fire() {
        let history = History::submitted(SINGLE, PARAMS);
        assert_eq!(
            refused(
                history.events(),
                cmd(scheduler(), t0() + minutes(60), escalate(1))
            ),
            DomainError::EscalationOutOfOrder {
                requested: 1,
                next: 1,
                defined: 0,
            }
        );
    }

    #[test]
    fn only_the_scheduler_or_an_admin_escalates() {
        let history = History::submitted(ESCALATING, PARAMS);
        let now = t0() + minutes(15);
        assert_eq!(
            names(&accepted(
                history.events(),
                cmd(admin("root"), now, escalate(1))
            )),
            ["RequestEscalated"]
        );
        for who in [requester(), actor("judy"), actor("mallory")] {
            assert!(matches!(
                refused(history.events(), cmd(who.clone(), now, escalate(1))),
                DomainError::NotPermitted { actor, action, .. } if actor == who.user && action == "escalate"
            ));
        }
    }

    #[test]
    fn escalation_adds_approvers_to_the_stage_that_is_current() {
        let spec_json = r#"{"title": "Chain", "stages": [
                {"title": "Managers", "approvers": ["manager-team"]},
                {"title": "Security", "approvers": ["security-team"]}
            ],
            "escalation": {"afterMinutes": 10, "to": ["executive-team"]}}"#;
        let history = History::submitted(spec_json, PARAMS).then(actor("bob"), t0(), approve());
        let events = accepted(
            history.events(),
            cmd(scheduler(), t0() + minutes(10), escalate(1)),
        );
        assert!(matches!(&events[0], ApprovalEvent::RequestEscalated(e) if e.stage == 1));
        let history = history.then(scheduler(), t0() + minutes(10), escalate(1));
        assert_eq!(
            history.state.stages[1].escalated_to,
            vec![(1, team_principal("executive-team"))]
        );
        assert!(history.state.stages[0].escalated_to.is_empty());
        let events = accepted(
            history.events(),
            cmd(actor("grace"), t0() + minutes(11), approve()),
        );
        assert_eq!(granted(&events).via, via_escalation("executive-team", 1));
        assert_eq!(
            names(&events),
            ["ApprovalGranted", "StageApproved", "RequestApproved"]
        );
    }
}

mod context_and_ui {
    use super::*;

    const CONTEXT: &str = r#"{ "ticket":"OPS-4242",  "impact": {"users": 120000, "regions": ["eu-west-1","us-east-1"]},
        "rollback" : "restore from snapshot 2026-11-25", "cost": 1.50, "note": "caf\u00e9 \ud83d\ude80" }"#;
    const UI_CONFIG: &str =
        r##"{"showDiff":true ,"fields":[ "database" , "reason" ], "theme": {"accent":"#c00"}}"##;

    fn rich_spec() -> String {
        format!(
            r#"{{"title": "Delete production database", "approvers": ["database-team"],
                "context": {CONTEXT},
                "uiComponent": "DatabaseDeletionReview",
                "uiConfig": {UI_CONFIG}}}"#
        )
    }

    #[test]
    fn context_and_ui_config_are_carried_byte_for_byte() {
        let events = accepted(
            Vec::new(),
            cmd(requester(), t0(), submit(&rich_spec(), PARAMS)),
        );
        let s = submission_of(&events);
        assert_eq!(s.context.as_ref().map(|c| c.as_str()), Some(CONTEXT));
        assert_eq!(s.context_hash, Some(raw(CONTEXT).canonical_hash()));
        assert_eq!(
            s.plan.ui_component.as_deref(),
            Some("DatabaseDeletionReview")
        );
        assert_eq!(
            s.plan.ui_config.as_ref().map(|c| c.as_str()),
            Some(UI_CONFIG)
        );
    }

    #[test]
    fn the_bytes_survive_json_and_messagepack_round_trips() {
        let events = accepted(
            Vec::new(),
            cmd(requester(), t0(), submit(&rich_spec(), PARAMS)),
        );
        let event = Event(events[0].clone());
        let json = serde_json::to_string(&event).unwrap();
        let from_json: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(from_json, event);
        let packed = rmp_serde::to_vec_named(&event).unwrap();
        let from_pack: Event = rmp_serde::from_slice(&packed).unwrap();
        assert_eq!(from_pack, event);
        let s = submission_of(std::slice::from_ref(&from_pack.0));
        assert_eq!(s.context.as_ref().unwrap().as_str(), CONTEXT);
        assert_eq!(s.plan.ui_config.as_ref().unwrap().as_str(), UI_CONFIG);
        assert_eq!(s.params.as_str(), PARAMS);
    }

    #[test]
    fn votes_bind_to_the_context_hash_the_approver_saw() {
        let history = History::submitted(&rich_spec(), PARAMS);
        let events = accepted(history.events(), cmd(actor("peggy"), t0(), approve()));
        assert_eq!(
            granted(&events).context_hash,
            Some(raw(CONTEXT).canonical_hash())
        );
        assert_eq!(granted(&events).params_hash, raw(PARAMS).canonical_hash());
    }
}

// ===========================================================================
// The rules
// ===========================================================================

mod rules {
    use super::*;

    #[test]
    fn the_same_person_approving_twice_is_already_voted() {
        let first_at = t0() + minutes(1);
        let history =
            History::submitted(MULTI, PARAMS).then(actor("user_123"), first_at, approve());
        assert_eq!(
            refused(
                history.events(),
                cmd(actor("user_123"), t0() + minutes(2), approve())
            ),
            DomainError::AlreadyVoted {
                actor: user("user_123"),
                stage: 0,
                vote: "approved".into(),
                at: first_at,
            }
        );
    }

    #[test]
    fn approve_then_reject_by_the_same_person_is_already_voted() {
        let history = History::submitted(MULTI, PARAMS).then(actor("carol"), t0(), approve());
        assert_eq!(
            refused(
                history.events(),
                cmd(actor("carol"), t0() + minutes(1), reject("changed my mind"))
            ),
            DomainError::AlreadyVoted {
                actor: user("carol"),
                stage: 0,
                vote: "approved".into(),
                at: t0(),
            }
        );
    }

    #[test]
    fn reject_then_approve_or_reject_again_by_the_same_person_is_already_voted() {
        let spec_json =
            r#"{"title": "T", "approvers": ["security-team", "bob"], "minRejections": 2}"#;
        let history =
            History::submitted(spec_json, PARAMS).then(actor("carol"), t0(), reject("no"));
        for action in [approve(), reject("still no")] {
            assert_eq!(
                refused(
                    history.events(),
                    cmd(actor("carol"), t0() + minutes(1), action)
                ),
                DomainError::AlreadyVoted {
                    actor: user("carol"),
                    stage: 0,
                    vote: "rejected".into(),
                    at: t0(),
                }
            );
        }
    }

    #[test]
    fn the_requester_cannot_decide_their_own_request_even_as_a_team_member() {
        let history = History::submitted(FOUR_EYES, PARAMS);
        for action in [approve(), reject("no")] {
            assert_eq!(
                refused(history.events(), cmd(requester(), t0(), action)),
                DomainError::SelfApproval {
                    actor: user(REQUESTER)
                }
            );
        }
        // Not even as an admin.
        assert_eq!(
            refused(history.events(), cmd(admin(REQUESTER), t0(), approve())),
            DomainError::SelfApproval {
                actor: user(REQUESTER)
            }
        );
    }

    #[test]
    fn the_requester_named_directly_is_not_eligible() {
        let spec_json = r#"{"title": "T", "approvers": ["alice", "bob"]}"#;
        let history = History::submitted(spec_json, PARAMS);
        assert_eq!(
            history.submission().plan.stages[0].eligible_at_submission,
            1
        );
        assert_eq!(
            refused(history.events(), cmd(requester(), t0(), approve())),
            DomainError::SelfApproval {
                actor: user(REQUESTER)
            }
        );
    }

    #[test]
    fn by_default_one_rejection_rejects_the_stage_and_the_request() {
        let history = History::submitted(MULTI, PARAMS)
            .then(actor("user_123"), t0(), approve())
            .then(actor("user_456"), t0(), approve());
        let at = t0() + minutes(3);
        let events = accepted(
            history.events(),
            cmd(actor("dave"), at, reject("too risky")),
        );
        let v = vote(
            &history,
            0,
            "dave",
            via_team("security-team"),
            Some("too risky"),
            at,
            tally(2, 3, 1, 1),
        );
        assert_eq!(
            events,
            vec![
                ApprovalEvent::RejectionRecorded(v.clone()),
                ApprovalEvent::RequestRejected(RequestRejected {
                    at,
                    stage: 0,
                    rejections: vec![v],
                    expired_at: None,
                }),
            ]
        );
    }

    #[test]
    fn min_rejections_two_needs_two_people() {
        let spec_json = r#"{"title": "T", "approvers": ["user_123", "user_456", "security-team"],
            "minApprovals": 3, "minRejections": 2}"#;
        let history = History::submitted(spec_json, PARAMS);
        let first = accepted(history.events(), cmd(actor("carol"), t0(), reject("one")));
        assert_eq!(names(&first), ["RejectionRecorded"]);
        let history = history.then(actor("carol"), t0(), reject("one"));
        assert_eq!(history.state.status, Status::Pending);
        let at = t0() + minutes(2);
        let second = accepted(history.events(), cmd(actor("user_456"), at, reject("two")));
        assert_eq!(names(&second), ["RejectionRecorded", "RequestRejected"]);
        match &second[1] {
            ApprovalEvent::RequestRejected(r) => {
                let who: Vec<&str> = r.rejections.iter().map(|v| v.by.user.as_str()).collect();
                assert_eq!(who, ["carol", "user_456"]);
                assert_eq!(r.rejections[1].tally, tally(0, 3, 2, 2));
                assert_eq!(r.at, at);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_stage_reaching_its_approvals_wins_over_pending_rejections() {
        let spec_json =
            r#"{"title": "T", "approvers": ["security-team", "bob"], "minRejections": 2}"#;
        let history =
            History::submitted(spec_json, PARAMS).then(actor("carol"), t0(), reject("no"));
        let events = accepted(history.events(), cmd(actor("bob"), t0(), approve()));
        assert_eq!(
            names(&events),
            ["ApprovalGranted", "StageApproved", "RequestApproved"]
        );
        assert_eq!(granted(&events).tally, tally(1, 1, 1, 2));
    }

    #[test]
    fn four_eyes_one_person_may_not_approve_two_stages() {
        let history = History::submitted(FOUR_EYES, PARAMS);
        assert!(!history.submission().plan.allow_same_approver_across_stages);
        let history = history.then(actor("carol"), t0(), approve());
        assert_eq!(history.state.current_stage, 1);
        assert_eq!(
            refused(
                history.events(),
                cmd(actor("carol"), t0() + minutes(1), approve())
            ),
            DomainError::AlreadyApprovedEarlierStage {
                actor: user("carol"),
                earlier_stage: 0,
            }
        );
        let events = accepted(
            history.events(),
            cmd(actor("dave"), t0() + minutes(1), approve()),
        );
        assert_eq!(
            names(&events),
            ["ApprovalGranted", "StageApproved", "RequestApproved"]
        );
    }

    #[test]
    fn four_eyes_can_be_relaxed_per_spec() {
        let history = History::submitted(FOUR_EYES_RELAXED, PARAMS);
        assert!(history.submission().plan.allow_same_approver_across_stages);
        let history = history.then(actor("carol"), t0(), approve());
        let events = accepted(
            history.events(),
            cmd(actor("carol"), t0() + minutes(1), approve()),
        );
        assert_eq!(
            names(&events),
            ["ApprovalGranted", "StageApproved", "RequestApproved"]
        );
        assert_eq!(granted(&events).stage, 1);
    }

    #[test]
    fn four_eyes_applies_to_approvals_not_to_rejections() {
        // carol approved stage 0; she may still reject stage 1 (documented current behaviour).
        let history = History::submitted(FOUR_EYES, PARAMS).then(actor("carol"), t0(), approve());
        let events = accepted(
            history.events(),
            cmd(actor("carol"), t0(), reject("found a problem")),
        );
        assert_eq!(names(&events), ["RejectionRecorded", "RequestRejected"]);
    }

    #[test]
    fn someone_who_is_not_an_approver_cannot_vote() {
        let given = submitted(SINGLE, PARAMS);
        for action in [approve(), reject("no")] {
            assert_eq!(
                refused(given.clone(), cmd(actor("mallory"), t0(), action)),
                DomainError::NotAnApprover {
                    actor: user("mallory"),
                    stage: 0,
                    stage_title: "Delete production database".into(),
                }
            );
        }
        // An admin role does not make anyone an approver.
        assert!(matches!(
            refused(given, cmd(admin("mallory"), t0(), approve())),
            DomainError::NotAnApprover { .. }
        ));
    }

    #[test]
    fn team_membership_is_read_when_the_person_acts() {
        let history = History::submitted(TEAM, PARAMS);
        let moved =
            std::sync::Arc::new(static_directory().with_team("security-team", &["mallory"]));
        let result = cqrs_es::test::TestFramework::<signoff_eventstore::ApprovalAggregate>::with(
            moved.clone(),
        )
        .given(history.events())
        .when(cmd(actor("carol"), t0(), approve()))
        .inspect_result();
        assert!(matches!(
            result,
            Err(CommandError::Domain(DomainError::NotAnApprover { .. }))
        ));
        let result =
            cqrs_es::test::TestFramework::<signoff_eventstore::ApprovalAggregate>::with(moved)
                .given(history.events())
                .when(cmd(actor("mallory"), t0(), approve()))
                .inspect_result()
                .unwrap();
        assert_eq!(result.len(), 3);
    }

    #[test]
    fn a_matching_params_hash_is_accepted_and_a_wrong_one_is_a_payload_mismatch() {
        let history = History::submitted(SINGLE, PARAMS);
        let good = history.params_hash();
        let events = accepted(
            history.events(),
            cmd(actor("bob"), t0(), approve_hash(&good)),
        );
        assert_eq!(granted(&events).params_hash, good);
        // The same parameters written differently hash the same.
        let reordered = raw(r#"{"reason":"cleanup","database":"orders"}"#).canonical_hash();
        assert_eq!(reordered, good);
        let other = raw(r#"{"database": "customers", "reason": "cleanup"}"#).canonical_hash();
        assert_eq!(
            refused(
                history.events(),
                cmd(actor("bob"), t0(), approve_hash(&other))
            ),
            DomainError::PayloadMismatch {
                field: "paramsHash".into(),
                approved: good.clone(),
                presented: other,
            }
        );
        assert_eq!(
            refused(
                history.events(),
                cmd(actor("bob"), t0(), approve_hash("sha256:nope"))
            )
            .code(),
            "PAYLOAD_MISMATCH"
        );
    }

    #[test]
    fn comments_and_reasons_are_limited_in_length() {
        let history = History::submitted(SINGLE, PARAMS);
        let long = "x".repeat(4_001);
        let err = refused(
            history.events(),
            cmd(actor("bob"), t0(), approve_with_comment(&long)),
        );
        assert_eq!(err.field(), Some("comment"));
        let err = refused(history.events(), cmd(actor("bob"), t0(), reject(&long)));
        assert_eq!(err.field(), Some("reason"));
        let err = refused(
            history.events(),
            cmd(requester(), t0(), cancel_because(&long)),
        );
        assert_eq!(err.field(), Some("reason"));
        let ok = "y".repeat(4_000);
        assert_eq!(
            accepted(history.events(), cmd(actor("bob"), t0(), reject(&ok))).len(),
            2
        );
    }

    #[test]
    fn submitting_twice_is_request_already_exists() {
        let history = History::submitted(SINGLE, PARAMS);
        assert_eq!(
            refused(
                history.events(),
                cmd(requester(), t0(), submit(SINGLE, PARAMS))
            ),
            DomainError::RequestAlreadyExists {
                request_id: request_id()
            }
        );
        let decided = history.then(actor("bob"), t0(), approve());
        assert_eq!(
            refused(
                decided.events(),
                cmd(actor("carol"), t0(), submit(TEAM, PARAMS))
            )
            .code(),
            "REQUEST_ALREADY_EXISTS"
        );
    }

    #[test]
    fn commands_on_an_unsubmitted_request_are_request_not_found() {
        let not_found = DomainError::RequestNotFound {
            request_id: request_id(),
        };
        for (who, action) in [
            (actor("bob"), approve()),
            (actor("bob"), reject("no")),
            (requester(), cancel()),
            (admin("root"), cancel()),
            (scheduler(), expire()),
            (scheduler(), escalate(1)),
            (requester(), record_execution(PARAMS)),
        ] {
            let what = action.name();
            assert_eq!(
                refused(Vec::new(), cmd(who, t0(), action)),
                not_found,
                "{what}"
            );
        }
    }
}

mod cancel {
    use super::*;

    #[test]
    fn the_requester_cancels() {
        let history = History::submitted(SEQUENTIAL, PARAMS).then(actor("bob"), t0(), approve());
        let at = t0() + minutes(9);
        framework()
            .given(history.events())
            .when(cmd(requester(), at, cancel_because("no longer needed")))
            .then_expect_events(vec![Event(ApprovalEvent::RequestCancelled(
                RequestCancelled {
                    by: requester(),
                    reason: Some("no longer needed".into()),
                    at,
                },
            ))]);
    }

    #[test]
    fn an_admin_cancels_without_a_reason() {
        let history = History::submitted(SINGLE, PARAMS);
        let at = t0() + minutes(9);
        framework()
            .given(history.events())
            .when(cmd(admin("root"), at, cancel()))
            .then_expect_events(vec![Event(ApprovalEvent::RequestCancelled(
                RequestCancelled {
                    by: admin("root"),
                    reason: None,
                    at,
                },
            ))]);
    }

    #[test]
    fn nobody_else_may_cancel() {
        let history = History::submitted(SINGLE, PARAMS);
        for who in [actor("bob"), actor("mallory"), scheduler()] {
            assert!(matches!(
                refused(history.events(), cmd(who.clone(), t0(), cancel())),
                DomainError::NotPermitted { actor, action, .. } if actor == who.user && action == "cancel"
            ));
        }
    }
}

mod terminal_states {
    use super::*;

    const BOTH_DEADLINES: &str = r#"{"title": "Scale down", "approvers": ["operations-team"],
        "expiresIn": 3600, "escalation": {"afterMinutes": 15, "to": ["manager-team"]}}"#;

    /// (status, decided at, history) for each way a request ends.
    fn decided_histories() -> Vec<(Status, chrono::DateTime<chrono::Utc>, History)> {
        let base = History::submitted(BOTH_DEADLINES, PARAMS);
        // Votes count until the deadline; the expiry comes at it.
        let at = t0() + minutes(59);
        let due = t0() + minutes(60);
        vec![
            (
                Status::Approved,
                at,
                base.clone().then(actor("erin"), at, approve()),
            ),
            (
                Status::Rejected,
                at,
                base.clone().then(actor("frank"), at, reject("no")),
            ),
            (
                Status::Expired,
                due,
                base.clone().then(scheduler(), due, expire()),
            ),
            (Status::Cancelled, at, base.then(requester(), at, cancel())),
        ]
    }

    #[test]
    fn every_decision_is_final() {
        let later = t0() + minutes(90);
        for (status, decided_at, history) in decided_histories() {
            assert_eq!(history.state.status, status);
            let already = DomainError::AlreadyDecided {
                status,
                at: decided_at,
            };
            for (who, action) in [
                (actor("frank"), approve()),
                (actor("erin"), approve()),
                (actor("frank"), reject("late")),
                (actor("erin"), reject("late")),
                (requester(), cancel()),
                (admin("root"), cancel()),
                (scheduler(), expire()),
                (scheduler(), escalate(1)),
            ] {
                let what = action.name();
                assert_eq!(
                    refused(history.events(), cmd(who, later, action)),
                    already,
                    "{what} on a {status} request"
                );
            }
        }
    }

    #[test]
    fn execution_is_recorded_only_for_an_approved_request() {
        for (status, _, history) in decided_histories() {
            let result = when(
                history.events(),
                cmd(requester(), t0() + minutes(90), record_execution(PARAMS)),
            );
            if status == Status::Approved {
                assert!(result.is_ok(), "{result:?}");
            } else {
                assert_eq!(
                    result,
                    Err(CommandError::Domain(DomainError::NotApproved { status }))
                );
            }
        }
    }
}

mod execution {
    use super::*;

    fn approved() -> History {
        History::submitted(SINGLE, PARAMS).then(actor("bob"), t0(), approve())
    }

    #[test]
    fn on_a_pending_request_it_is_not_approved() {
        let history = History::submitted(SINGLE, PARAMS);
        assert_eq!(
            refused(
                history.events(),
                cmd(requester(), t0(), record_execution(PARAMS))
            ),
            DomainError::NotApproved {
                status: Status::Pending
            }
        );
    }

    #[test]
    fn the_same_parameters_written_differently_are_accepted() {
        let history = approved();
        let at = t0() + minutes(5);
        let rewritten = "{\n  \"reason\" : \"cleanup\",\n  \"database\":\"orders\"\n}";
        framework()
            .given(history.events())
            .when(cmd(
                requester(),
                at,
                signoff_engine::Action::RecordExecution {
                    outcome: ExecutionOutcome::Failed,
                    summary: Some("disk full".into()),
                    params: raw(rewritten),
                },
            ))
            .then_expect_events(vec![Event(ApprovalEvent::ExecutionRecorded(
                ExecutionRecorded {
                    by: requester(),
                    outcome: ExecutionOutcome::Failed,
                    summary: Some("disk full".into()),
                    params_hash: history.params_hash(),
                    at,
                },
            ))]);
    }

    #[test]
    fn different_parameters_are_a_payload_mismatch() {
        let history = approved();
        let other = r#"{"database": "customers", "reason": "cleanup"}"#;
        assert_eq!(
            refused(
                history.events(),
                cmd(requester(), t0(), record_execution(other))
            ),
            DomainError::PayloadMismatch {
                field: "params".into(),
                approved: history.params_hash(),
                presented: raw(other).canonical_hash(),
            }
        );
        // A value of another type (1 vs "1") is a different payload.
        let typed = r#"{"database": "orders", "reason": "cleanup", "n": 1}"#;
        let history = History::submitted(SINGLE, typed).then(actor("bob"), t0(), approve());
        assert!(matches!(
            refused(
                history.events(),
                cmd(
                    requester(),
                    t0(),
                    record_execution(r#"{"database": "orders", "reason": "cleanup", "n": "1"}"#)
                )
            ),
            DomainError::PayloadMismatch { .. }
        ));
    }

    #[test]
    fn twice_is_execution_already_recorded() {
        let first_at = t0() + minutes(5);
        let history = approved().then(requester(), first_at, record_execution(PARAMS));
        assert_eq!(
            refused(
                history.events(),
                cmd(requester(), t0() + minutes(6), record_execution(PARAMS))
            ),
            DomainError::ExecutionAlreadyRecorded { at: first_at }
        );
    }

    #[test]
    fn the_summary_is_limited_in_length() {
        let history = approved();
        let err = refused(
            history.events(),
            cmd(
                requester(),
                t0(),
                signoff_engine::Action::RecordExecution {
                    outcome: ExecutionOutcome::Succeeded,
                    summary: Some("s".repeat(4_001)),
                    params: raw(PARAMS),
                },
            ),
        );
        assert_eq!(err.field(), Some("summary"));
    }

    #[test]
    fn only_the_requester_or_an_admin_records_it() {
        let history = approved();
        assert!(matches!(
            refused(
                history.events(),
                cmd(actor("bob"), t0(), record_execution(PARAMS))
            ),
            DomainError::NotPermitted { .. }
        ));
        assert_eq!(
            names(&accepted(
                history.events(),
                cmd(admin("root"), t0(), record_execution(PARAMS))
            )),
            ["ExecutionRecorded"]
        );
    }
}

// ===========================================================================
// Validation: every error names its field
// ===========================================================================

mod validation {
    use super::*;
    use signoff_engine::WorkflowSpec;

    #[track_caller]
    fn invalid_spec_field(spec_json: &str) -> String {
        match submit_refused(spec_json, PARAMS) {
            DomainError::InvalidSpec { field, .. } => field,
            other => panic!("expected InvalidSpec, got {other:?}"),
        }
    }

    #[test]
    fn an_unknown_approver_is_named_by_its_position() {
        assert_eq!(
            submit_refused(
                r#"{"title": "T", "approvers": ["bob", "ghost-team"]}"#,
                PARAMS
            ),
            DomainError::UnknownApprover {
                field: "spec.approvers[1]".into(),
                id: "ghost-team".into(),
            }
        );
        assert_eq!(
            submit_refused(
                r#"{"title": "T", "stages": [
                    {"title": "A", "approvers": ["bob"]},
                    {"title": "B", "approvers": ["ghost"]}
                ]}"#,
                PARAMS
            ),
            DomainError::UnknownApprover {
                field: "spec.stages[1].approvers[0]".into(),
                id: "ghost".into(),
            }
        );
        assert_eq!(
            submit_refused(
                r#"{"title": "T", "condition": "true", "config": {"title": "C", "approvers": ["ghost"]}}"#,
                PARAMS
            ),
            DomainError::UnknownApprover {
                field: "spec.config.approvers[0]".into(),
                id: "ghost".into(),
            }
        );
        assert_eq!(
            submit_refused(
                r#"{"title": "T", "logic": {"rules": [{"when": "true", "approvers": ["bob", "ghost"]}],
                    "default": {"approvers": ["bob"]}}}"#,
                PARAMS
            ),
            DomainError::UnknownApprover {
                field: "spec.logic.rules[0].approvers[1]".into(),
                id: "ghost".into(),
            }
        );
        assert_eq!(
            submit_refused(
                r#"{"title": "T", "logic": {"rules": [], "default": {"approvers": ["ghost"]}}}"#,
                PARAMS
            ),
            DomainError::UnknownApprover {
                field: "spec.logic.default.approvers[0]".into(),
                id: "ghost".into(),
            }
        );
    }

    #[test]
    fn approvers_must_name_someone() {
        assert_eq!(
            invalid_spec_field(r#"{"title": "T", "approvers": []}"#),
            "spec.approvers"
        );
        assert_eq!(
            invalid_spec_field(r#"{"title": "T", "stages": [{"title": "A", "approvers": []}]}"#),
            "spec.stages[0].approvers"
        );
        assert_eq!(
            invalid_spec_field(r#"{"title": "T", "stages": []}"#),
            "spec.stages"
        );
        assert_eq!(
            invalid_spec_field(r#"{"title": "T", "approvers": ["bob", "bob"]}"#),
            "spec.approvers[1]",
            "listed twice"
        );
        assert_eq!(
            invalid_spec_field(r#"{"title": "T", "approvers": ["b ob"]}"#),
            "spec.approvers[0]"
        );
        assert_eq!(
            invalid_spec_field(r#"{"title": "T", "approvers": [""]}"#),
            "spec.approvers[0]"
        );
    }

    #[test]
    fn a_quorum_a_split_vote_could_leave_pending_for_good_is_refused() {
        // release-managers less alice, who requests: bob and carol. With both
        // needed to approve and both to reject, one of each decides nothing
        // and nobody is left to vote.
        assert_eq!(
            submit_refused(
                r#"{"title": "T", "approvers": ["release-managers"], "minApprovals": 2, "minRejections": 2}"#,
                PARAMS
            ),
            DomainError::UndecidableQuorum {
                field: "spec.minRejections".into(),
                min_approvals: 2,
                min_rejections: 2,
                eligible: 2,
            }
        );
        assert_eq!(
            submit_refused(
                r#"{"title": "T", "stages": [
                    {"title": "A", "approvers": ["bob"]},
                    {"title": "B", "approvers": ["release-managers"], "minApprovals": 2, "minRejections": 2}
                ]}"#,
                PARAMS
            )
            .code(),
            "UNDECIDABLE_QUORUM"
        );
        // Every split that uses up the voters decides the stage.
        for (approvals, rejections) in [(2, 1), (1, 2), (1, 1)] {
            let spec = format!(
                r#"{{"title": "T", "approvers": ["release-managers"], "minApprovals": {approvals}, "minRejections": {rejections}}}"#
            );
            assert_eq!(
                History::submitted(&spec, PARAMS).state.status,
                Status::Pending
            );
        }
    }

    #[test]
    fn a_branchs_settings_are_named_by_their_path_taken_or_not() {
        // A calendar nobody configured, in the branch this submission does not take.
        assert_eq!(
            invalid_spec_field(
                r#"{"title": "T", "condition": "true", "config": {"approvers": ["bob"]},
                    "elseConfig": {"approvers": ["carol"], "businessHours": "moon-office"}}"#
            ),
            "spec.elseConfig.businessHours"
        );
        assert_eq!(
            invalid_spec_field(
                r#"{"title": "T", "condition": "true",
                    "config": {"approvers": ["bob"], "businessHours": "moon-office"}}"#
            ),
            "spec.config.businessHours"
        );
        assert_eq!(
            invalid_spec_field(
                r#"{"title": "T", "condition": "true",
                    "config": {"approvers": ["bob"], "onExpiry": "reject"}}"#
            ),
            "spec.config.onExpiry"
        );
        // With `expiresIn` handed down from the parent, the branch's rule applies.
        let inherited = History::submitted(
            r#"{"title": "T", "expiresIn": 60, "condition": "true",
                "config": {"approvers": ["bob"], "onExpiry": "reject"}}"#,
            PARAMS,
        );
        assert_eq!(
            inherited.submission().plan.on_expiry,
            signoff_engine::spec::OnExpiry::Reject
        );
    }

    #[test]
    fn an_escalation_level_that_could_never_fire_is_refused() {
        for (after_minutes, refused) in [(9, false), (10, true), (15, true)] {
            let spec = format!(
                r#"{{"title": "T", "approvers": ["bob"], "expiresIn": 600,
                    "escalation": {{"afterMinutes": {after_minutes}, "to": ["carol"]}}}}"#
            );
            if refused {
                assert_eq!(invalid_spec_field(&spec), "spec.escalation.afterMinutes");
            } else {
                assert_eq!(
                    History::submitted(&spec, PARAMS).state.status,
                    Status::Pending
                );
            }
        }
        assert_eq!(
            invalid_spec_field(
                r#"{"title": "T", "approvers": ["bob"], "expiresIn": 3600,
                    "escalation": [{"afterMinutes": 30, "to": ["carol"]}, {"afterMinutes": 90, "to": ["dave"]}]}"#
            ),
            "spec.escalation[1].afterMinutes"
        );
    }

    #[test]
    fn escalation_targets_are_limited_like_approvers() {
        assert_eq!(
            invalid_spec_field(
                r#"{"title": "T", "approvers": ["bob"], "escalation": {"afterMinutes": 5, "to": ["carol", "carol"]}}"#
            ),
            "spec.escalation.to[1]"
        );
        let many: Vec<String> = (0..101).map(|i| format!("\"u{i}\"")).collect();
        assert_eq!(
            invalid_spec_field(&format!(
                r#"{{"title": "T", "approvers": ["bob"], "escalation": [{{"afterMinutes": 5, "to": [{}]}}]}}"#,
                many.join(",")
            )),
            "spec.escalation[0].to"
        );
    }

    #[test]
    fn a_quorum_above_the_eligible_people_is_unreachable_and_the_requester_does_not_count() {
        // release-managers is alice, bob and carol; alice requests, so two can approve.
        assert_eq!(
            submit_refused(
                r#"{"title": "T", "approvers": ["release-managers"], "minApprovals": 3}"#,
                PARAMS
            ),
            DomainError::QuorumUnreachable {
                field: "spec.minApprovals".into(),
                required: 3,
                eligible: 2,
            }
        );
        assert!(
            History::submitted(
                r#"{"title": "T", "approvers": ["release-managers"], "minApprovals": 2}"#,
                PARAMS
            )
            .state
            .status
                == Status::Pending
        );
        assert_eq!(
            submit_refused(
                r#"{"title": "T", "approvers": ["bob"], "minRejections": 2}"#,
                PARAMS
            ),
            DomainError::QuorumUnreachable {
                field: "spec.minRejections".into(),
                required: 2,
                eligible: 1,
            }
        );
        assert_eq!(
            submit_refused(r#"{"title": "T", "approvers": ["alice"]}"#, PARAMS),
            DomainError::QuorumUnreachable {
                field: "spec.minApprovals".into(),
                required: 1,
                eligible: 0,
            }
        );
        assert_eq!(
            submit_refused(
                r#"{"title": "T", "stages": [
                    {"title": "A", "approvers": ["bob"]},
                    {"title": "B", "approvers": ["security-team"], "minApprovals": 3}
                ]}"#,
                PARAMS
            ),
            DomainError::QuorumUnreachable {
                field: "spec.stages[1].minApprovals".into(),
                required: 3,
                eligible: 2,
            }
        );
        // Someone else submitting the same spec has three eligible people.
        let events = accepted(
            Vec::new(),
            cmd(
                actor("mallory"),
                t0(),
                submit(
                    r#"{"title": "T", "approvers": ["release-managers"], "minApprovals": 3}"#,
                    PARAMS,
                ),
            ),
        );
        assert_eq!(
            submission_of(&events).plan.stages[0].eligible_at_submission,
            3
        );
    }

    #[test]
    fn quorums_of_zero_are_invalid() {
        assert_eq!(
            invalid_spec_field(r#"{"title": "T", "approvers": ["bob"], "minApprovals": 0}"#),
            "spec.minApprovals"
        );
        assert_eq!(
            invalid_spec_field(r#"{"title": "T", "approvers": ["bob"], "minRejections": 0}"#),
            "spec.minRejections"
        );
    }

    #[test]
    fn a_negative_expires_in_is_named_when_decoding() {
        let err =
            WorkflowSpec::from_json(r#"{"title": "T", "approvers": ["bob"], "expiresIn": -60}"#)
                .unwrap_err();
        assert!(
            matches!(&err, DomainError::InvalidSpec { field, .. } if field == "spec.expiresIn"),
            "{err:?}"
        );
        let err =
            WorkflowSpec::from_json(r#"{"title": "T", "approvers": ["bob"], "expiresIn": "1h"}"#)
                .unwrap_err();
        assert_eq!(err.field(), Some("spec.expiresIn"));
    }

    #[test]
    fn expires_in_must_be_between_one_second_and_a_year() {
        assert_eq!(
            invalid_spec_field(r#"{"title": "T", "approvers": ["bob"], "expiresIn": 0}"#),
            "spec.expiresIn"
        );
        assert_eq!(
            invalid_spec_field(r#"{"title": "T", "approvers": ["bob"], "expiresIn": 31622401}"#),
            "spec.expiresIn"
        );
        let history = History::submitted(
            r#"{"title": "T", "approvers": ["bob"], "expiresIn": 31622400}"#,
            PARAMS,
        );
        assert_eq!(
            history.submission().plan.expires_at,
            Some(t0() + seconds(31_622_400))
        );
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let err =
            WorkflowSpec::from_json(r#"{"title": "T", "approvers": ["bob"], "minApproval": 2}"#)
                .unwrap_err();
        match err {
            DomainError::InvalidSpec { field, problem } => {
                assert_eq!(field, "spec.minApproval");
                assert!(problem.contains("unknown field `minApproval`"), "{problem}");
            }
            other => panic!("{other:?}"),
        }
        let err = WorkflowSpec::from_json(
            r#"{"title": "T", "stages": [{"title": "A", "approvers": ["bob"], "quorum": 1}]}"#,
        )
        .unwrap_err();
        assert_eq!(err.field(), Some("spec.stages[0].quorum"));
        let err = WorkflowSpec::from_json(
            r#"{"title": "T", "approvers": ["bob"], "escalation": {"afterMinutes": 5, "to": ["bob"], "after": 1}}"#,
        )
        .unwrap_err();
        assert_eq!(err.field(), Some("spec.escalation"));
        assert!(err.to_string().contains("after"), "{err}");
    }

    #[test]
    fn an_invalid_expression_is_named() {
        match submit_refused(
            r#"{"title": "T", "condition": "amount >", "config": {"title": "C", "approvers": ["bob"]}}"#,
            PARAMS,
        ) {
            DomainError::InvalidExpression {
                field, expression, ..
            } => {
                assert_eq!(field, "spec.condition");
                assert_eq!(expression, "amount >");
            }
            other => panic!("{other:?}"),
        }
        let err = submit_refused(
            r#"{"title": "T", "logic": {"rules": [{"when": "true", "approvers": ["bob"]},
                {"when": "hour >>> 3", "approvers": ["bob"]}], "default": {"approvers": ["bob"]}}}"#,
            PARAMS,
        );
        assert_eq!(err.code(), "INVALID_EXPRESSION");
        assert_eq!(
            err.field(),
            Some("spec.logic.rules[1].when"),
            "even a rule that would not be reached"
        );
        let err = submit_refused(
            r#"{"title": "T", "condition": "   ", "config": {"title": "C", "approvers": ["bob"]}}"#,
            PARAMS,
        );
        assert_eq!(err.code(), "INVALID_EXPRESSION");
    }

    #[test]
    fn a_condition_that_does_not_yield_a_bool_fails_with_its_field() {
        match submit_refused(
            r#"{"title": "T", "condition": "amount + 1", "config": {"title": "C", "approvers": ["bob"]}}"#,
            r#"{"amount": 5}"#,
        ) {
            DomainError::ConditionFailed { field, problem, .. } => {
                assert_eq!(field, "spec.condition");
                assert!(problem.contains("not a bool"), "{problem}");
            }
            other => panic!("{other:?}"),
        }
        // A parameter the condition reads but the caller did not send.
        let err = submit_refused(
            r#"{"title": "T", "condition": "amount > 5", "config": {"title": "C", "approvers": ["bob"]}}"#,
            r#"{"total": 5}"#,
        );
        assert_eq!(err.code(), "CONDITION_FAILED");
        assert_eq!(err.field(), Some("spec.condition"));
        let err = submit_refused(
            r#"{"title": "T", "logic": {"rules": [{"when": "hour", "approvers": ["bob"]}],
                "default": {"approvers": ["bob"]}}}"#,
            PARAMS,
        );
        assert_eq!(err.code(), "CONDITION_FAILED");
        assert_eq!(err.field(), Some("spec.logic.rules[0].when"));
    }

    #[test]
    fn exactly_one_kind_is_required() {
        match submit_refused(
            r#"{"title": "T", "approvers": ["bob"], "stages": [{"title": "A", "approvers": ["bob"]}]}"#,
            PARAMS,
        ) {
            DomainError::InvalidSpec { field, problem } => {
                assert_eq!(field, "spec");
                assert!(problem.contains("`approvers` and `stages`"), "{problem}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(invalid_spec_field(r#"{"title": "T"}"#), "spec");
        assert_eq!(
            invalid_spec_field(
                r#"{"title": "T", "condition": "true", "config": {"title": "C", "approvers": ["bob"], "logic": {"rules": [], "default": {"approvers": ["bob"]}}}}"#
            ),
            "spec.config"
        );
    }

    #[test]
    fn settings_that_do_not_belong_to_a_kind_are_named() {
        assert_eq!(
            invalid_spec_field(
                r#"{"title": "T", "minApprovals": 1, "stages": [{"title": "A", "approvers": ["bob"]}]}"#
            ),
            "spec.minApprovals"
        );
        assert_eq!(
            invalid_spec_field(
                r#"{"title": "T", "minApprovals": 1, "condition": "true", "config": {"title": "C", "approvers": ["bob"]}}"#
            ),
            "spec.minApprovals"
        );
        assert_eq!(
            invalid_spec_field(
                r#"{"title": "T", "approvers": ["bob"], "allowSameApproverAcrossStages": true}"#
            ),
            "spec.allowSameApproverAcrossStages"
        );
        assert_eq!(
            invalid_spec_field(r#"{"title": "T", "condition": "true"}"#),
            "spec.config"
        );
        assert_eq!(
            invalid_spec_field(r#"{"approvers": ["bob"]}"#),
            "spec.title"
        );
        assert_eq!(
            invalid_spec_field(r#"{"title": "   ", "approvers": ["bob"]}"#),
            "spec.title"
        );
        assert_eq!(
            invalid_spec_field(
                r#"{"title": "T", "stages": [{"title": "", "approvers": ["bob"]}]}"#
            ),
            "spec.stages[0].title"
        );
        assert_eq!(
            invalid_spec_field(
                r#"{"title": "T", "logic": {"timeZone": "Mars/Olympus", "rules": [], "default": {"approvers": ["bob"]}}}"#
            ),
            "spec.logic.timeZone"
        );
    }

    #[test]
    fn conditions_nest_at_most_four_deep() {
        let leaf = r#"{"title": "C", "approvers": ["bob"]}"#;
        let mut spec_json = leaf.to_owned();
        for _ in 0..4 {
            spec_json = format!(r#"{{"condition": "true", "config": {spec_json}}}"#);
        }
        assert!(when(
            Vec::new(),
            cmd(requester(), t0(), submit(&spec_json, PARAMS))
        )
        .is_ok());
        let deeper = format!(r#"{{"condition": "true", "config": {spec_json}}}"#);
        assert_eq!(
            invalid_spec_field(&deeper),
            "spec.config.config.config.config.condition"
        );
    }

    #[test]
    fn escalation_levels_must_come_later_and_later() {
        assert_eq!(
            invalid_spec_field(
                r#"{"title": "T", "approvers": ["bob"], "escalation": {"afterMinutes": 30, "to": ["carol"], "afterMinutes2": 30, "to2": ["dave"]}}"#
            ),
            "spec.escalation.afterMinutes2"
        );
        // The list form names the level too (the exact spelling of this path is
        // pinned in found_bugs.rs: it currently reads `spec.escalation.[1]...`).
        let field = invalid_spec_field(
            r#"{"title": "T", "approvers": ["bob"], "escalation": [{"afterMinutes": 30, "to": ["carol"]}, {"afterMinutes": 10, "to": ["dave"]}]}"#,
        );
        assert!(
            field.starts_with("spec.escalation") && field.ends_with("[1].afterMinutes"),
            "{field}"
        );
        assert_eq!(
            invalid_spec_field(
                r#"{"title": "T", "approvers": ["bob"], "escalation": {"levels": [{"afterMinutes": 30, "to": ["carol"]}, {"afterMinutes": 29, "to": ["dave"]}]}}"#
            ),
            "spec.escalation.levels[1].afterMinutes"
        );
        assert_eq!(
            invalid_spec_field(
                r#"{"title": "T", "approvers": ["bob"], "escalation": {"afterMinutes": 0, "to": ["carol"]}}"#
            ),
            "spec.escalation.afterMinutes"
        );
        assert_eq!(
            invalid_spec_field(
                r#"{"title": "T", "approvers": ["bob"], "escalation": {"afterMinutes": 10, "to": ["carol"], "afterMinutes2": 20}}"#
            ),
            "spec.escalation"
        );
        assert_eq!(
            invalid_spec_field(
                r#"{"title": "T", "approvers": ["bob"], "escalation": {"afterMinutes": 10, "to": []}}"#
            ),
            "spec.escalation.to"
        );
        assert_eq!(
            invalid_spec_field(r#"{"title": "T", "approvers": ["bob"], "escalation": []}"#),
            "spec.escalation"
        );
        let err =
            WorkflowSpec::from_json(r#"{"title": "T", "approvers": ["bob"], "escalation": 15}"#)
                .unwrap_err();
        assert_eq!(err.field(), Some("spec.escalation"));
    }

    #[test]
    fn documents_over_their_limits_are_too_large() {
        let big = format!(r#"{{"blob": "{}"}}"#, "x".repeat(64 * 1024));
        let spec_json = format!(r#"{{"title": "T", "approvers": ["bob"], "context": {big}}}"#);
        assert_eq!(
            submit_refused(&spec_json, PARAMS),
            DomainError::TooLarge {
                field: "spec.context".into(),
                bytes: big.len(),
                max: 64 * 1024,
            }
        );
        let ui = format!(r#"{{"blob": "{}"}}"#, "x".repeat(16 * 1024));
        let spec_json = format!(r#"{{"title": "T", "approvers": ["bob"], "uiConfig": {ui}}}"#);
        assert_eq!(
            submit_refused(&spec_json, PARAMS),
            DomainError::TooLarge {
                field: "spec.uiConfig".into(),
                bytes: ui.len(),
                max: 16 * 1024,
            }
        );
        assert_eq!(
            submit_refused(SINGLE, &big),
            DomainError::TooLarge {
                field: "params".into(),
                bytes: big.len(),
                max: 64 * 1024,
            }
        );
        let spec_json = format!(
            r#"{{"title": "T", "approvers": ["bob"], "uiComponent": "{}"}}"#,
            "C".repeat(101)
        );
        assert_eq!(invalid_spec_field(&spec_json), "spec.uiComponent");
        let spec_json = format!(
            r#"{{"title": "{}", "approvers": ["bob"]}}"#,
            "t".repeat(201)
        );
        assert_eq!(invalid_spec_field(&spec_json), "spec.title");
    }

    #[test]
    fn params_must_be_an_object() {
        for params in ["[1, 2]", r#""x""#, "null", "42", "true"] {
            assert_eq!(
                submit_refused(SINGLE, params),
                DomainError::InvalidCommand {
                    field: "params".into(),
                    problem: "must be a JSON object of the action's named parameters".into(),
                },
                "{params}"
            );
        }
        assert!(when(Vec::new(), cmd(requester(), t0(), submit(SINGLE, "{}"))).is_ok());
    }

    #[test]
    fn error_codes_are_stable() {
        let cases = [
            (
                submit_refused(r#"{"title": "T", "approvers": ["ghost"]}"#, PARAMS),
                "UNKNOWN_APPROVER",
            ),
            (
                submit_refused(r#"{"title": "T", "approvers": []}"#, PARAMS),
                "INVALID_SPEC",
            ),
            (submit_refused(SINGLE, "[]"), "INVALID_COMMAND"),
            (
                submit_refused(
                    r#"{"title": "T", "approvers": ["bob"], "minApprovals": 2}"#,
                    PARAMS,
                ),
                "QUORUM_UNREACHABLE",
            ),
        ];
        for (err, code) in cases {
            assert_eq!(err.code(), code, "{err:?}");
        }
    }
}

// ===========================================================================
// The transition table and histories that do not replay
// ===========================================================================

mod transition_table {
    use super::*;
    use signoff_engine::ApprovalRequest;
    use signoff_eventstore::ApprovalAggregate;

    /// Real events of a few complete requests, to splice into bad histories.
    struct Samples {
        submitted: ApprovalEvent,
        /// Granted, StageApproved(0) of the 3-stage chain.
        stage0: Vec<ApprovalEvent>,
        /// Granted(stage 1) of the 3-stage chain.
        granted_stage1: ApprovalEvent,
        stage_approved_1: ApprovalEvent,
        rejection: ApprovalEvent,
        rejected: ApprovalEvent,
        approved: ApprovalEvent,
        cancelled: ApprovalEvent,
        expired: ApprovalEvent,
        escalated1: ApprovalEvent,
        escalated2: ApprovalEvent,
        executed: ApprovalEvent,
    }

    const CHAIN: &str = r#"{"title": "Chain", "expiresIn": 3600,
        "escalation": {"afterMinutes": 15, "to": ["finance-team"], "afterMinutes2": 30, "to2": ["database-team"]},
        "stages": [
            {"title": "Managers", "approvers": ["manager-team"]},
            {"title": "Security", "approvers": ["security-team"]},
            {"title": "Executives", "approvers": ["executive-team"]}
        ]}"#;

    fn samples() -> Samples {
        let base = History::submitted(CHAIN, PARAMS);
        let s0 = base.clone().then(actor("bob"), t0(), approve());
        let s1 = s0.clone().then(actor("carol"), t0(), approve());
        let done = s1.clone().then(actor("frank"), t0(), approve());
        let executed = done
            .clone()
            .then(requester(), t0(), record_execution(PARAMS));
        let rejected = base.clone().then(actor("erin"), t0(), reject("no"));
        let cancelled = base.clone().then(requester(), t0(), cancel());
        let expired = base.clone().then(scheduler(), t0() + minutes(60), expire());
        let escalated = base
            .clone()
            .then(scheduler(), t0() + minutes(15), escalate(1))
            .then(scheduler(), t0() + minutes(30), escalate(2));
        Samples {
            submitted: base.events[0].clone(),
            stage0: s0.events[1..].to_vec(),
            granted_stage1: s1.events[3].clone(),
            stage_approved_1: s1.events[4].clone(),
            rejection: rejected.events[1].clone(),
            rejected: rejected.events[2].clone(),
            approved: done.events.last().unwrap().clone(),
            cancelled: cancelled.events[1].clone(),
            expired: expired.events[1].clone(),
            escalated1: escalated.events[1].clone(),
            escalated2: escalated.events[2].clone(),
            executed: executed.events.last().unwrap().clone(),
        }
    }

    fn replay(events: &[ApprovalEvent]) -> Result<ApprovalRequest, signoff_engine::ReplayError> {
        ApprovalRequest::replay(events)
    }

    #[test]
    fn every_accepted_transition_moves_the_state_as_documented() {
        let s = samples();
        let mut state = ApprovalRequest::default();
        assert_eq!(state.status, Status::NotSubmitted);

        // NotSubmitted + RequestSubmitted → Pending.
        state.apply(s.submitted.clone()).unwrap();
        assert_eq!(state.status, Status::Pending);
        assert_eq!(state.stages.len(), 3);
        assert_eq!(state.current_stage, 0);
        assert_eq!(state.request_id(), Some(request_id()));
        assert_eq!(state.requester(), Some(&requester()));
        assert_eq!(state.params().map(|p| p.as_str()), Some(PARAMS));
        assert_eq!(
            state.current_stage_plan().map(|p| p.title.as_str()),
            Some("Managers")
        );

        // Pending + RequestEscalated(level = current + 1).
        state.apply(s.escalated1.clone()).unwrap();
        assert_eq!(state.escalation_level, 1);
        assert_eq!(
            state.stages[0].escalated_to,
            vec![(1, team_principal("finance-team"))]
        );
        state.apply(s.escalated2.clone()).unwrap();
        assert_eq!(state.escalation_level, 2);
        assert_eq!(state.status, Status::Pending);

        // Pending + ApprovalGranted(current stage), + StageApproved(current stage).
        state.apply(s.stage0[0].clone()).unwrap();
        assert_eq!(state.stages[0].approvals.len(), 1);
        state.apply(s.stage0[1].clone()).unwrap();
        assert_eq!(state.current_stage, 1);
        assert_eq!(state.stages[0].approved_at, Some(t0()));
        assert_eq!(
            state.current_stage_plan().map(|p| p.title.as_str()),
            Some("Security")
        );

        // Pending + RejectionRecorded(current stage).
        let mut rejected = ApprovalRequest::replay([&s.submitted]).unwrap();
        rejected.apply(s.rejection.clone()).unwrap();
        assert_eq!(rejected.stages[0].rejections.len(), 1);
        assert_eq!(rejected.status, Status::Pending);
        // Pending + RequestRejected → Rejected.
        rejected.apply(s.rejected.clone()).unwrap();
        assert_eq!(rejected.status, Status::Rejected);
        assert_eq!(rejected.decided_at, Some(t0()));

        // Pending + RequestCancelled → Cancelled; + RequestExpired → Expired.
        let cancelled = replay(&[s.submitted.clone(), s.cancelled.clone()]).unwrap();
        assert_eq!(cancelled.status, Status::Cancelled);
        let expired = replay(&[s.submitted.clone(), s.expired.clone()]).unwrap();
        assert_eq!(expired.status, Status::Expired);
        assert_eq!(expired.decided_at, Some(t0() + minutes(60)));

        // Pending + RequestApproved → Approved; Approved + ExecutionRecorded.
        let approved = replay(&[s.submitted.clone(), s.approved.clone()]).unwrap();
        assert_eq!(approved.status, Status::Approved);
        let mut executed = approved.clone();
        executed.apply(s.executed.clone()).unwrap();
        assert!(executed.execution.is_some());
        assert_eq!(executed.status, Status::Approved);
        assert_eq!(executed.events_applied, 3);
    }

    #[test]
    fn every_refused_transition_names_the_event_and_leaves_the_state_alone() {
        let s = samples();
        let after = |prefix: &[ApprovalEvent]| replay(prefix).expect("prefix replays");
        let cases: Vec<(&str, Vec<ApprovalEvent>, ApprovalEvent, Status)> = vec![
            (
                "a vote before submission",
                vec![],
                s.stage0[0].clone(),
                Status::NotSubmitted,
            ),
            (
                "a decision before submission",
                vec![],
                s.approved.clone(),
                Status::NotSubmitted,
            ),
            (
                "an escalation before submission",
                vec![],
                s.escalated1.clone(),
                Status::NotSubmitted,
            ),
            (
                "submitted twice",
                vec![s.submitted.clone()],
                s.submitted.clone(),
                Status::Pending,
            ),
            (
                "a vote on a later stage",
                vec![s.submitted.clone()],
                s.granted_stage1.clone(),
                Status::Pending,
            ),
            (
                "a later stage approved first",
                vec![s.submitted.clone()],
                s.stage_approved_1.clone(),
                Status::Pending,
            ),
            (
                "a vote on an earlier stage",
                [vec![s.submitted.clone()], s.stage0.clone()].concat(),
                s.stage0[0].clone(),
                Status::Pending,
            ),
            (
                "an escalation level skipped",
                vec![s.submitted.clone()],
                s.escalated2.clone(),
                Status::Pending,
            ),
            (
                "an escalation level repeated",
                vec![s.submitted.clone(), s.escalated1.clone()],
                s.escalated1.clone(),
                Status::Pending,
            ),
            (
                "execution while pending",
                vec![s.submitted.clone()],
                s.executed.clone(),
                Status::Pending,
            ),
            (
                "execution recorded twice",
                vec![s.submitted.clone(), s.approved.clone(), s.executed.clone()],
                s.executed.clone(),
                Status::Approved,
            ),
            (
                "execution after a rejection",
                vec![s.submitted.clone(), s.rejected.clone()],
                s.executed.clone(),
                Status::Rejected,
            ),
            (
                "a vote after approval",
                vec![s.submitted.clone(), s.approved.clone()],
                s.stage0[0].clone(),
                Status::Approved,
            ),
            (
                "a second decision",
                vec![s.submitted.clone(), s.approved.clone()],
                s.rejected.clone(),
                Status::Approved,
            ),
            (
                "approval after cancellation",
                vec![s.submitted.clone(), s.cancelled.clone()],
                s.approved.clone(),
                Status::Cancelled,
            ),
            (
                "escalation after expiry",
                vec![s.submitted.clone(), s.expired.clone()],
                s.escalated1.clone(),
                Status::Expired,
            ),
            (
                "a stage approval after a rejection",
                vec![s.submitted.clone(), s.rejected.clone()],
                s.stage0[1].clone(),
                Status::Rejected,
            ),
            (
                "cancelling after expiry",
                vec![s.submitted.clone(), s.expired.clone()],
                s.cancelled.clone(),
                Status::Expired,
            ),
        ];
        for (what, prefix, event, status) in cases {
            let mut state = after(&prefix);
            let before = state.clone();
            let err = state.apply(event.clone()).expect_err(what);
            assert_eq!(err.index, prefix.len() as u64, "{what}");
            assert_eq!(err.event, event.name(), "{what}");
            assert_eq!(err.status, status, "{what}");
            assert_eq!(state, before, "{what}: a refused event changes nothing");
        }
    }

    #[test]
    fn a_history_the_table_refuses_makes_every_command_history_does_not_replay() {
        let s = samples();
        let bad_histories: Vec<(Vec<ApprovalEvent>, &str)> = vec![
            (
                vec![s.stage0[0].clone(), s.submitted.clone()],
                "event #0 (ApprovalGranted) cannot follow a request in state not submitted",
            ),
            (
                vec![s.submitted.clone(), s.submitted.clone()],
                "event #1 (RequestSubmitted) cannot follow a request in state pending",
            ),
            (
                vec![s.submitted.clone(), s.granted_stage1.clone()],
                "event #1 (ApprovalGranted) cannot follow a request in state pending",
            ),
            (
                vec![s.submitted.clone(), s.rejected.clone(), s.approved.clone()],
                "event #2 (RequestApproved) cannot follow a request in state rejected",
            ),
        ];
        for (history, why) in bad_histories {
            let given: Vec<Event> = history.into_iter().map(Event).collect();
            let expected = CommandError::HistoryDoesNotReplay(why.into());
            for (who, action) in [
                (actor("bob"), approve()),
                (actor("bob"), reject("no")),
                (requester(), cancel()),
                (scheduler(), expire()),
                (scheduler(), escalate(1)),
                (requester(), record_execution(PARAMS)),
                (requester(), submit(SINGLE, PARAMS)),
            ] {
                framework()
                    .given(given.clone())
                    .when(cmd(who, t0() + minutes(90), action))
                    .then_expect_error(expected.clone());
            }
            assert_eq!(expected.code(), "HISTORY_DOES_NOT_REPLAY");
        }
    }

    #[test]
    fn a_broken_aggregate_ignores_later_events_and_keeps_the_first_reason() {
        use cqrs_es::Aggregate;
        let s = samples();
        let mut aggregate = ApprovalAggregate::default();
        aggregate.apply(Event(s.approved.clone()));
        assert!(aggregate.broken.is_some());
        let reason = aggregate.broken.clone();
        aggregate.apply(Event(s.submitted.clone()));
        assert_eq!(aggregate.broken, reason);
        assert_eq!(aggregate.state, ApprovalRequest::default());
    }

    #[test]
    fn the_aggregate_folds_exactly_like_replay() {
        use cqrs_es::Aggregate;
        let history = History::submitted(SEQUENTIAL, PARAMS)
            .then(actor("bob"), t0(), approve())
            .then(actor("carol"), t0(), approve())
            .then(actor("grace"), t0(), approve())
            .then(requester(), t0(), record_execution(PARAMS));
        let mut aggregate = ApprovalAggregate::default();
        for event in history.events() {
            aggregate.apply(event);
        }
        assert_eq!(aggregate.broken, None);
        assert_eq!(
            aggregate.state,
            ApprovalRequest::replay(&history.events).unwrap()
        );
        assert_eq!(aggregate.state, history.state);
        assert_eq!(aggregate.state.events_applied, history.events.len() as u64);
    }

    #[test]
    fn event_types_and_versions_are_the_engine_s() {
        use cqrs_es::DomainEvent;
        let s = samples();
        for event in [s.submitted, s.approved, s.executed, s.escalated1] {
            let wrapped = Event(event.clone());
            assert_eq!(wrapped.event_type(), event.name());
            assert_eq!(
                wrapped.event_version(),
                signoff_engine::EVENT_SCHEMA_VERSION.to_string()
            );
        }
    }

    #[test]
    fn when_async_works_inside_a_runtime() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let history = History::submitted(SINGLE, PARAMS);
        let result = runtime.block_on(async {
            framework()
                .given(history.events())
                .when_async(cmd(actor("bob"), t0(), approve()))
                .await
                .inspect_result()
        });
        assert_eq!(result.unwrap().len(), 3);
    }
}
