//! Properties over random command sequences on the guide's workflow types.
//!
//! Each case submits one spec from a small set, then runs a random sequence of
//! approvals, rejections, cancels, deadlines and execution records by random
//! people at random (non-decreasing) times, through `signoff_engine::decide`
//! and `ApprovalRequest::apply`, keeping only accepted events. The same
//! sequence also runs through `ApprovalAggregate` and must agree.

mod common;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use common::*;
use proptest::prelude::*;
use signoff_engine::{
    decide, Action, Actor, ApprovalEvent, ApprovalRequest, ExecutionOutcome, RawJson,
    StaticDirectory, Status,
};
use signoff_eventstore::{ApprovalAggregate, Event};

// ---------------------------------------------------------------------------
// The alphabet
// ---------------------------------------------------------------------------

/// Specs covering the guide's types, with the parameters they are submitted with.
const SPECS: &[(&str, &str)] = &[
    (SINGLE, PARAMS),
    (
        r#"{"title": "Deploy", "approvers": ["security-team"], "minRejections": 2}"#,
        r#"{"service": "api", "version": "1.2.3"}"#,
    ),
    (MULTI, PARAMS),
    (
        r##"{"title": "Delete production database", "approvers": ["database-team", "bob"],
            "context": { "ticket":"OPS-1", "rows" : 120000, "note": "caf\u00e9" },
            "uiComponent": "DatabaseDeletionReview", "uiConfig": {"accent": "#c00" , "fields": ["db"]}}"##,
        r#"{ "database" : "orders",  "dryRun": false, "limits": {"rows": 1.5e3} }"#,
    ),
    (
        r#"{"title": "Release to production", "expiresIn": 3600,
            "escalation": {"afterMinutes": 15, "to": ["operations-team"], "afterMinutes2": 30, "to2": ["database-team"]},
            "stages": [
                {"title": "Manager approval", "approvers": ["manager-team"]},
                {"title": "Security review", "approvers": ["security-team"]},
                {"title": "Executive sign-off", "approvers": ["executive-team"]}
            ]}"#,
        PARAMS,
    ),
    (FOUR_EYES, PARAMS),
    (FOUR_EYES_RELAXED, PARAMS),
    (TRANSFER, r#"{"amount": 50000, "toAccount": "DE89 3704"}"#),
    (TRANSFER, r#"{"amount": 500, "toAccount": "DE89 3704"}"#),
    (TRANSFER_NO_ELSE, r#"{"amount": 500}"#),
    (BUSINESS_HOURS, r#"{"service": "payments"}"#),
    (EXPIRING, r#"{"nodes": 3}"#),
    (ESCALATING, PARAMS),
    (
        r#"{"title": "Chain with quorums", "allowSameApproverAcrossStages": false,
            "escalation": [{"afterMinutes": 5, "to": ["user_123"]}, {"afterMinutes": 20, "to": ["finance-team"]}],
            "stages": [
                {"title": "Two managers", "approvers": ["manager-team"], "minApprovals": 2},
                {"title": "Security or bob", "approvers": ["security-team", "bob"], "minApprovals": 2, "minRejections": 2}
            ]}"#,
        r#"{"change": "CHG-1", "risk": "high"}"#,
    ),
];

/// Everyone who may act; `alice` is the requester.
const PEOPLE: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "oscar",
    "peggy", "user_123", "user_456", "mallory",
];

#[derive(Clone, Copy, Debug)]
enum HashChoice {
    None,
    Right,
    Wrong,
}

#[derive(Clone, Copy, Debug)]
enum Who {
    Requester,
    Admin,
    Person(usize),
}

#[derive(Clone, Copy, Debug)]
enum DeadlineActor {
    Scheduler,
    Admin,
    Person(usize),
}

#[derive(Clone, Copy, Debug)]
enum ParamsChoice {
    Same,
    Rewritten,
    Different,
}

#[derive(Clone, Debug)]
enum Step {
    Approve { who: usize, hash: HashChoice },
    Reject { who: usize },
    Cancel { who: Who },
    Expire { by: DeadlineActor },
    Escalate { level: u32, by: DeadlineActor },
    RecordExecution { who: Who, params: ParamsChoice },
    Submit { who: Who },
}

#[derive(Clone, Debug)]
struct Op {
    /// Minutes the clock moves before this command.
    advance: i64,
    step: Step,
}

#[derive(Clone, Debug)]
struct Case {
    spec: usize,
    /// Hours after t0 the request is submitted (moves the custom rules' clock).
    submit_after_hours: i64,
    ops: Vec<Op>,
}

fn person() -> impl Strategy<Value = usize> {
    0..PEOPLE.len()
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        2 => Just(Who::Requester),
        1 => Just(Who::Admin),
        1 => person().prop_map(Who::Person),
    ]
}

fn deadline_actor() -> impl Strategy<Value = DeadlineActor> {
    prop_oneof![
        4 => Just(DeadlineActor::Scheduler),
        1 => Just(DeadlineActor::Admin),
        1 => person().prop_map(DeadlineActor::Person),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let hash = prop_oneof![
        3 => Just(HashChoice::None),
        2 => Just(HashChoice::Right),
        1 => Just(HashChoice::Wrong),
    ];
    let params = prop_oneof![
        Just(ParamsChoice::Same),
        Just(ParamsChoice::Rewritten),
        Just(ParamsChoice::Different),
    ];
    prop_oneof![
        8 => (person(), hash).prop_map(|(who, hash)| Step::Approve { who, hash }),
        3 => person().prop_map(|who| Step::Reject { who }),
        1 => who().prop_map(|who| Step::Cancel { who }),
        1 => deadline_actor().prop_map(|by| Step::Expire { by }),
        2 => (0u32..=3, deadline_actor()).prop_map(|(level, by)| Step::Escalate { level, by }),
        2 => (who(), params).prop_map(|(who, params)| Step::RecordExecution { who, params }),
        1 => who().prop_map(|who| Step::Submit { who }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let advance = prop_oneof![3 => Just(0i64), 3 => 0i64..5, 1 => 0i64..40];
    (advance, step()).prop_map(|(advance, step)| Op { advance, step })
}

fn case() -> impl Strategy<Value = Case> {
    (0..SPECS.len(), 0i64..24, prop::collection::vec(op(), 0..24)).prop_map(
        |(spec, submit_after_hours, ops)| Case {
            spec,
            submit_after_hours,
            ops,
        },
    )
}

// ---------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------

/// What happened to one command.
struct Outcome {
    before: ApprovalRequest,
    action: Action,
    accepted: Option<Vec<ApprovalEvent>>,
}

struct Run {
    directory: StaticDirectory,
    state: ApprovalRequest,
    events: Vec<ApprovalEvent>,
    outcomes: Vec<Outcome>,
    aggregate: ApprovalAggregate,
}

fn resolve_who(who: Who) -> Actor {
    match who {
        Who::Requester => requester(),
        Who::Admin => admin("root"),
        Who::Person(i) => actor(PEOPLE[i]),
    }
}

fn resolve_deadline_actor(by: DeadlineActor) -> Actor {
    match by {
        DeadlineActor::Scheduler => scheduler(),
        DeadlineActor::Admin => admin("root"),
        DeadlineActor::Person(i) => actor(PEOPLE[i]),
    }
}

fn params_variant(params: &str, choice: ParamsChoice) -> RawJson {
    let value: serde_json::Value = serde_json::from_str(params).unwrap();
    match choice {
        ParamsChoice::Same => raw(params),
        // Same content, other white space and (serde_json's sorted) key order.
        ParamsChoice::Rewritten => raw(&serde_json::to_string_pretty(&value).unwrap()),
        ParamsChoice::Different => {
            let mut value = value;
            value["tampered"] = serde_json::json!(true);
            RawJson::from_value(&value)
        }
    }
}

fn to_command(step: &Step, spec_json: &str, params: &str, at: DateTime<Utc>) -> (Actor, Action) {
    match *step {
        Step::Approve { who, hash } => {
            let params_hash = match hash {
                HashChoice::None => None,
                HashChoice::Right => Some(raw(params).canonical_hash()),
                HashChoice::Wrong => {
                    Some(params_variant(params, ParamsChoice::Different).canonical_hash())
                }
            };
            (
                actor(PEOPLE[who]),
                Action::Approve {
                    comment: None,
                    params_hash,
                },
            )
        }
        Step::Reject { who } => (actor(PEOPLE[who]), reject("not like this")),
        Step::Cancel { who } => (resolve_who(who), cancel_because("changed plans")),
        Step::Expire { by } => (resolve_deadline_actor(by), expire()),
        Step::Escalate { level, by } => (resolve_deadline_actor(by), escalate(level)),
        Step::RecordExecution {
            who,
            params: choice,
        } => (
            resolve_who(who),
            Action::RecordExecution {
                outcome: if at.timestamp() % 2 == 0 {
                    ExecutionOutcome::Succeeded
                } else {
                    ExecutionOutcome::Failed
                },
                summary: Some("ran".into()),
                params: params_variant(params, choice),
            },
        ),
        Step::Submit { who } => (resolve_who(who), submit(spec_json, params)),
    }
}

fn run(case: &Case) -> Run {
    use cqrs_es::Aggregate;
    let (spec_json, params) = SPECS[case.spec];
    let mut clock = t0() + chrono::Duration::hours(case.submit_after_hours);
    let mut commands = vec![(requester(), submit(spec_json, params), clock)];
    for op in &case.ops {
        clock += chrono::Duration::minutes(op.advance);
        let (who, action) = to_command(&op.step, spec_json, params, clock);
        commands.push((who, action, clock));
    }
    let mut run = Run {
        directory: static_directory(),
        state: ApprovalRequest::default(),
        events: Vec::new(),
        outcomes: Vec::new(),
        aggregate: ApprovalAggregate::default(),
    };
    for (who, action, at) in commands {
        let command = cmd(who, at, action.clone());
        let result = decide(&run.state, &command, &run.directory);
        // The aggregate (what the gateway runs) must decide exactly the same.
        let through_aggregate = run.aggregate.decide(&command, &run.directory);
        match (&result, &through_aggregate) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(signoff_eventstore::CommandError::Domain(b))) => assert_eq!(a, b),
            (a, b) => panic!("engine and aggregate disagree: {a:?} vs {b:?}"),
        }
        let before = run.state.clone();
        let accepted = result.ok();
        if let Some(events) = &accepted {
            for event in events {
                run.state
                    .apply(event.clone())
                    .unwrap_or_else(|e| panic!("decide produced an event the table refuses: {e}"));
                run.aggregate.apply(Event(event.clone()));
                run.events.push(event.clone());
            }
        }
        run.outcomes.push(Outcome {
            before,
            action,
            accepted,
        });
    }
    run
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// (a) Replay determinism: the accepted events, sent through JSON and
    /// MessagePack (named) and back, are unchanged, and replaying them from
    /// scratch gives the state built incrementally (and the aggregate's).
    #[test]
    fn replay_is_deterministic_and_survives_serialization(case in case()) {
        let run = run(&case);
        let mut decoded = Vec::with_capacity(run.events.len());
        for event in &run.events {
            let json = serde_json::to_vec(event).unwrap();
            let from_json: ApprovalEvent = serde_json::from_slice(&json).unwrap();
            prop_assert_eq!(&from_json, event);
            let wrapped = serde_json::to_string(&Event(event.clone())).unwrap();
            prop_assert_eq!(String::from_utf8(json).unwrap(), wrapped, "Event is transparent");
            let packed = rmp_serde::to_vec_named(&from_json).unwrap();
            let from_pack: ApprovalEvent = rmp_serde::from_slice(&packed).unwrap();
            prop_assert_eq!(&from_pack, event);
            let packed_wrapper = rmp_serde::to_vec_named(&Event(event.clone())).unwrap();
            let from_pack_wrapper: Event = rmp_serde::from_slice(&packed_wrapper).unwrap();
            prop_assert_eq!(&from_pack_wrapper.0, event);
            decoded.push(from_pack);
        }
        let replayed = ApprovalRequest::replay(&decoded).unwrap();
        prop_assert_eq!(&replayed, &run.state);
        prop_assert_eq!(ApprovalRequest::replay(&run.events).unwrap(), replayed);
        prop_assert_eq!(&run.aggregate.state, &run.state);
        prop_assert_eq!(&run.aggregate.broken, &None);
        prop_assert_eq!(run.state.events_applied, run.events.len() as u64);
    }

    /// (b) At most one decision event ever appears, and after it only an
    /// execution record may follow (once, and only after an approval).
    #[test]
    fn at_most_one_decision(case in case()) {
        let run = run(&case);
        let decisions: Vec<usize> = run
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.is_decision())
            .map(|(i, _)| i)
            .collect();
        prop_assert!(decisions.len() <= 1, "{:?}", decisions);
        if let Some(&at) = decisions.first() {
            let after: Vec<&str> = run.events[at + 1..].iter().map(ApprovalEvent::name).collect();
            prop_assert!(after.is_empty() || (after == ["ExecutionRecorded"] && run.state.status == Status::Approved),
                "{:?} after {}", after, run.events[at].name());
            prop_assert!(run.state.status.is_terminal());
        } else {
            prop_assert_eq!(run.state.status, Status::Pending);
        }
        let executions = run.events.iter().filter(|e| matches!(e, ApprovalEvent::ExecutionRecorded(_))).count();
        prop_assert!(executions <= 1);
        // Exactly one submission, first.
        prop_assert!(matches!(run.events.first(), Some(ApprovalEvent::RequestSubmitted(_))));
        prop_assert_eq!(run.events.iter().filter(|e| matches!(e, ApprovalEvent::RequestSubmitted(_))).count(), 1);
    }

    /// (c) Per stage, approvals never exceed the quorum, and `StageApproved`
    /// appears exactly when (in the same command as) the tally reaches it.
    #[test]
    fn stages_are_approved_exactly_at_their_quorum(case in case()) {
        let run = run(&case);
        let plan = run.state.plan().unwrap().clone();
        for outcome in &run.outcomes {
            let Some(events) = &outcome.accepted else { continue };
            for (i, event) in events.iter().enumerate() {
                match event {
                    ApprovalEvent::ApprovalGranted(v) => {
                        let stage = &plan.stages[v.stage as usize];
                        let before = &outcome.before.stages[v.stage as usize];
                        prop_assert_eq!(v.stage, outcome.before.current_stage);
                        prop_assert_eq!(v.tally.approvals as usize, before.approvals.len() + 1);
                        prop_assert_eq!(v.tally.rejections as usize, before.rejections.len());
                        prop_assert_eq!(v.tally.min_approvals, stage.min_approvals);
                        prop_assert_eq!(v.tally.min_rejections, stage.min_rejections);
                        prop_assert!(v.tally.approvals <= v.tally.min_approvals);
                        let stage_approved = events.get(i + 1).is_some_and(|next| {
                            matches!(next, ApprovalEvent::StageApproved(s) if s.stage == v.stage)
                        });
                        prop_assert_eq!(stage_approved, v.tally.approvals == v.tally.min_approvals);
                        let is_last = v.stage as usize + 1 == plan.stages.len();
                        let request_approved = stage_approved && matches!(
                            events.get(i + 2),
                            Some(ApprovalEvent::RequestApproved(_))
                        );
                        prop_assert_eq!(request_approved, stage_approved && is_last);
                    }
                    ApprovalEvent::RejectionRecorded(v) => {
                        prop_assert!(v.tally.rejections <= v.tally.min_rejections);
                        let rejected = matches!(events.get(i + 1), Some(ApprovalEvent::RequestRejected(r)) if r.stage == v.stage);
                        prop_assert_eq!(rejected, v.tally.rejections == v.tally.min_rejections);
                    }
                    ApprovalEvent::StageApproved(s) => {
                        prop_assert!(i > 0 && matches!(&events[i - 1], ApprovalEvent::ApprovalGranted(v) if v.stage == s.stage));
                    }
                    _ => {}
                }
            }
        }
        for (i, (progress, stage)) in run.state.stages.iter().zip(&plan.stages).enumerate() {
            prop_assert!(progress.approvals.len() as u32 <= stage.min_approvals);
            prop_assert!(progress.rejections.len() as u32 <= stage.min_rejections);
            prop_assert_eq!(progress.approved_at.is_some(), progress.approvals.len() as u32 == stage.min_approvals);
            prop_assert_eq!(progress.approved_at.is_some(), (i as u32) < run.state.current_stage);
        }
        if run.state.status == Status::Approved && !plan.stages.is_empty() {
            prop_assert_eq!(run.state.current_stage as usize, plan.stages.len());
        }
    }

    /// (d) Terminal states absorb: every later command is refused and the
    /// state stays as it was, except one execution record after an approval.
    #[test]
    fn terminal_states_absorb(case in case()) {
        let run = run(&case);
        for outcome in &run.outcomes {
            if !outcome.before.status.is_terminal() {
                continue;
            }
            let may_record = outcome.before.status == Status::Approved
                && outcome.before.execution.is_none()
                && matches!(outcome.action, Action::RecordExecution { .. });
            match &outcome.accepted {
                None => {}
                Some(events) => {
                    prop_assert!(may_record, "{:?} accepted on a {} request: {:?}",
                        outcome.action.name(), outcome.before.status, events);
                    prop_assert_eq!(events.len(), 1);
                    prop_assert!(matches!(events[0], ApprovalEvent::ExecutionRecorded(_)));
                }
            }
        }
        // Replaying only up to the decision and applying nothing else gives the
        // same status and decision time as the final state.
        if let Some(at) = run.events.iter().position(ApprovalEvent::is_decision) {
            let at_decision = ApprovalRequest::replay(&run.events[..=at]).unwrap();
            prop_assert_eq!(at_decision.status, run.state.status);
            prop_assert_eq!(at_decision.decided_at, run.state.decided_at);
            prop_assert_eq!(&at_decision.stages, &run.state.stages);
            prop_assert_eq!(at_decision.escalation_level, run.state.escalation_level);
        }
    }

    /// (e) Every approval is by a distinct person within its stage, never the
    /// requester, and (four eyes) not by someone who approved an earlier stage
    /// unless the plan allows it; rejections likewise are one per person.
    #[test]
    fn approvers_are_distinct_and_never_the_requester(case in case()) {
        let run = run(&case);
        let submitted = run.state.submitted.as_ref().unwrap();
        let requester = &submitted.requester.user;
        let mut earlier_stages: BTreeSet<String> = BTreeSet::new();
        for (i, progress) in run.state.stages.iter().enumerate() {
            let mut voters = BTreeSet::new();
            for v in progress.approvals.iter().chain(&progress.rejections) {
                prop_assert_eq!(v.stage as usize, i);
                prop_assert!(&v.by.user != requester, "the requester voted");
                prop_assert!(voters.insert(v.by.user.as_str().to_owned()), "{} voted twice on stage {}", v.by.user, i);
                prop_assert_eq!(&v.params_hash, &submitted.params_hash);
            }
            let approvers: BTreeSet<String> = progress.approvals.iter().map(|v| v.by.user.as_str().to_owned()).collect();
            if !submitted.plan.allow_same_approver_across_stages {
                prop_assert!(approvers.is_disjoint(&earlier_stages), "four eyes broken at stage {}", i);
            }
            earlier_stages.extend(approvers);
        }
        // The same holds event by event.
        let mut seen: BTreeSet<(u32, String)> = BTreeSet::new();
        for event in &run.events {
            if let ApprovalEvent::ApprovalGranted(v) | ApprovalEvent::RejectionRecorded(v) = event {
                prop_assert!(&v.by.user != requester);
                prop_assert!(seen.insert((v.stage, v.by.user.as_str().to_owned())));
            }
        }
    }
}

/// The generator reaches the interesting states: run a fixed number of cases
/// and check every terminal status and every event kind shows up.
#[test]
fn the_generator_covers_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let strategy = case();
    let mut statuses = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    for _ in 0..400 {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        let run = run(&case);
        statuses.insert(format!("{:?}", run.state.status));
        kinds.extend(run.events.iter().map(ApprovalEvent::name));
    }
    for status in ["Pending", "Approved", "Rejected", "Expired", "Cancelled"] {
        assert!(
            statuses.contains(status),
            "no case ended {status}: {statuses:?}"
        );
    }
    for kind in [
        "RequestSubmitted",
        "ApprovalGranted",
        "RejectionRecorded",
        "StageApproved",
        "RequestApproved",
        "RequestRejected",
        "RequestCancelled",
        "RequestExpired",
        "RequestEscalated",
        "ExecutionRecorded",
    ] {
        assert!(kinds.contains(kind), "no case produced {kind}: {kinds:?}");
    }
}
