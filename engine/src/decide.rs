//! `decide`: the one function that turns a command and the current state into
//! new events or a typed refusal. Synchronous and pure: the team directory is
//! the only outside fact it reads, and it records what it read in the events.

use chrono::{DateTime, Utc};

use crate::command::{Action, Actor, ApprovalCommand, ExecutionOutcome, Role};
use crate::directory::TeamDirectory;
use crate::error::DomainError;
use crate::event::{
    ApprovalBasis, ApprovalEvent, ApproverVia, ExecutionRecorded, ReminderSent, RequestApproved,
    RequestCancelled, RequestEscalated, RequestExpired, RequestRejected, RequestSubmitted,
    StageApproved, Tally, Vote,
};
use crate::plan::Principal;
use crate::policy::{resolve, SubmissionFacts};
use crate::raw_json::RawJson;
use crate::request::{ApprovalRequest, Status};
use crate::spec::{check_text, limits, OnExpiry};

/// A free-text command field (reason, comment, summary): non-empty, bounded.
fn check_command_text(field: &str, text: &str) -> Result<(), DomainError> {
    check_text(field, text, limits::MAX_TEXT_CHARS).map_err(|e| match e {
        DomainError::InvalidSpec { field, problem } => {
            DomainError::InvalidCommand { field, problem }
        }
        other => other,
    })
}

/// Handles one command against the current state of its request.
pub fn decide(
    state: &ApprovalRequest,
    command: &ApprovalCommand,
    directory: &dyn TeamDirectory,
) -> Result<Vec<ApprovalEvent>, DomainError> {
    match &command.action {
        Action::Submit { spec, params } => submit(state, command, spec, params, directory),
        Action::Approve {
            comment,
            params_hash,
        } => vote(
            state,
            command,
            directory,
            VoteKind::Approve,
            comment.as_deref(),
            params_hash.as_deref(),
        ),
        Action::Reject { reason } => vote(
            state,
            command,
            directory,
            VoteKind::Reject,
            Some(reason),
            None,
        ),
        Action::Cancel { reason } => cancel(state, command, reason.as_deref()),
        Action::Expire => expire(state, command),
        Action::Escalate { level } => escalate(state, command, *level),
        Action::Remind { number } => remind(state, command, *number),
        Action::RecordExecution {
            outcome,
            summary,
            params,
        } => record_execution(state, command, *outcome, summary.as_deref(), params),
    }
}

fn submit(
    state: &ApprovalRequest,
    command: &ApprovalCommand,
    spec: &crate::spec::WorkflowSpec,
    params: &RawJson,
    directory: &dyn TeamDirectory,
) -> Result<Vec<ApprovalEvent>, DomainError> {
    if state.status != Status::NotSubmitted {
        return Err(DomainError::RequestAlreadyExists {
            request_id: command.request_id,
        });
    }
    if params.len() > limits::MAX_PARAMS_BYTES {
        return Err(DomainError::TooLarge {
            field: "params".into(),
            bytes: params.len(),
            max: limits::MAX_PARAMS_BYTES,
        });
    }
    let params_value = params.to_value();
    if !params_value.is_object() {
        return Err(DomainError::InvalidCommand {
            field: "params".into(),
            problem: "must be a JSON object of the action's named parameters".into(),
        });
    }
    let resolved = resolve(
        spec,
        &SubmissionFacts {
            params: &params_value,
            at: command.at,
            requester: &command.actor.user,
            directory,
        },
    )?;
    let no_stages = resolved.plan.stages.is_empty();
    let mut events = vec![ApprovalEvent::RequestSubmitted(Box::new(
        RequestSubmitted {
            request_id: command.request_id,
            requester: command.actor.clone(),
            submitted_at: command.at,
            params_hash: crate::raw_json::canonical_hash(&params_value),
            params: params.clone(),
            context_hash: resolved.context.as_ref().map(RawJson::canonical_hash),
            context: resolved.context,
            plan: resolved.plan,
        },
    ))];
    if no_stages {
        events.push(ApprovalEvent::RequestApproved(RequestApproved {
            at: command.at,
            basis: ApprovalBasis::NotRequired,
        }));
    }
    Ok(events)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum VoteKind {
    Approve,
    Reject,
}

/// When a pending request stops taking votes: the earlier of its own
/// `expiresIn` and the current stage's.
struct Deadline {
    expires_at: DateTime<Utc>,
    /// The current stage, when its own deadline is the earlier one.
    stage: Option<u32>,
}

fn deadline(state: &ApprovalRequest, submitted: &RequestSubmitted) -> Option<Deadline> {
    let stage_deadline = state.current_stage_deadline();
    let expires_at = match (submitted.plan.expires_at, stage_deadline) {
        (Some(request), Some(stage)) => request.min(stage),
        (Some(request), None) => request,
        (None, Some(stage)) => stage,
        (None, None) => return None,
    };
    Some(Deadline {
        expires_at,
        stage: (stage_deadline == Some(expires_at)).then_some(state.current_stage),
    })
}

/// The state must hold a pending request.
fn pending<'a>(
    state: &'a ApprovalRequest,
    command: &ApprovalCommand,
) -> Result<&'a RequestSubmitted, DomainError> {
    match (state.status, &state.submitted) {
        (Status::Pending, Some(submitted)) => Ok(submitted),
        (Status::NotSubmitted, _) | (_, None) => Err(DomainError::RequestNotFound {
            request_id: command.request_id,
        }),
        (status, Some(_)) => Err(DomainError::AlreadyDecided {
            status,
            at: state.decided_at.unwrap_or(command.at),
        }),
    }
}

fn vote(
    state: &ApprovalRequest,
    command: &ApprovalCommand,
    directory: &dyn TeamDirectory,
    kind: VoteKind,
    note: Option<&str>,
    presented_hash: Option<&str>,
) -> Result<Vec<ApprovalEvent>, DomainError> {
    let submitted = pending(state, command)?;
    // A vote after the deadline does not count, whether or not the
    // scheduler has recorded the expiry yet: the request ends by its expiry
    // rule, as it would have had the scheduler been on time.
    if let Some(Deadline { expires_at, stage }) = deadline(state, submitted) {
        if command.at >= expires_at {
            return Err(DomainError::DeadlinePassed {
                deadline: match stage {
                    Some(stage) => format!("stage {stage}'s expiresIn"),
                    None => "the request's expiresIn".into(),
                },
                expired_at: expires_at,
                now: command.at,
            });
        }
    }
    let actor = &command.actor;
    let stage_index = state.current_stage;
    let (Some(stage_plan), Some(progress)) = (
        submitted.plan.stages.get(stage_index as usize),
        state.stages.get(stage_index as usize),
    ) else {
        // Every stage approved but no RequestApproved: only a damaged log gets here.
        return Err(DomainError::InconsistentHistory {
            problem: format!(
                "every stage is approved but the request is still pending (stage {stage_index})"
            ),
        });
    };
    match (kind, note) {
        (VoteKind::Reject, Some(reason)) => check_command_text("reason", reason)?,
        (VoteKind::Approve, Some(comment)) => check_command_text("comment", comment)?,
        _ => {}
    }
    if actor.user == submitted.requester.user {
        return Err(DomainError::SelfApproval {
            actor: actor.user.clone(),
        });
    }
    let earlier = progress
        .approvals
        .iter()
        .map(|v| (v, "approved"))
        .chain(progress.rejections.iter().map(|v| (v, "rejected")))
        .find(|(v, _)| v.by.user == actor.user);
    if let Some((v, what)) = earlier {
        return Err(DomainError::AlreadyVoted {
            actor: actor.user.clone(),
            stage: stage_index,
            vote: what.into(),
            at: v.at,
        });
    }
    if kind == VoteKind::Approve && !submitted.plan.allow_same_approver_across_stages {
        if let Some(earlier_stage) = state.stages[..stage_index as usize]
            .iter()
            .position(|s| s.approvals.iter().any(|v| v.by.user == actor.user))
        {
            return Err(DomainError::AlreadyApprovedEarlierStage {
                actor: actor.user.clone(),
                earlier_stage: earlier_stage as u32,
            });
        }
    }
    let via = eligibility(state, stage_index, actor, directory).ok_or_else(|| {
        DomainError::NotAnApprover {
            actor: actor.user.clone(),
            stage: stage_index,
            stage_title: stage_plan.title.clone(),
        }
    })?;
    if let Some(presented) = presented_hash {
        if presented != submitted.params_hash {
            return Err(DomainError::PayloadMismatch {
                field: "paramsHash".into(),
                approved: submitted.params_hash.clone(),
                presented: presented.to_owned(),
            });
        }
    }
    let mut tally = Tally {
        approvals: progress.approvals.len() as u32,
        min_approvals: stage_plan.min_approvals,
        rejections: progress.rejections.len() as u32,
        min_rejections: stage_plan.min_rejections,
    };
    match kind {
        VoteKind::Approve => tally.approvals += 1,
        VoteKind::Reject => tally.rejections += 1,
    }
    let vote = Vote {
        stage: stage_index,
        by: actor.clone(),
        via,
        note: note.map(str::to_owned),
        params_hash: submitted.params_hash.clone(),
        context_hash: submitted.context_hash.clone(),
        at: command.at,
        tally,
    };
    let mut events = Vec::with_capacity(3);
    match kind {
        VoteKind::Approve => {
            events.push(ApprovalEvent::ApprovalGranted(vote));
            if tally.approvals >= tally.min_approvals {
                events.push(ApprovalEvent::StageApproved(StageApproved {
                    stage: stage_index,
                    at: command.at,
                }));
                if stage_index as usize + 1 == submitted.plan.stages.len() {
                    events.push(ApprovalEvent::RequestApproved(RequestApproved {
                        at: command.at,
                        basis: ApprovalBasis::Quorum,
                    }));
                }
            }
        }
        VoteKind::Reject => {
            events.push(ApprovalEvent::RejectionRecorded(vote.clone()));
            if tally.rejections >= tally.min_rejections {
                let mut rejections = progress.rejections.clone();
                rejections.push(vote);
                events.push(ApprovalEvent::RequestRejected(RequestRejected {
                    at: command.at,
                    stage: stage_index,
                    rejections,
                    expired_at: None,
                }));
            }
        }
    }
    Ok(events)
}

/// Which principal of the stage (or of an escalation level) makes `actor`
/// eligible: the person named directly first, then their teams.
fn eligibility(
    state: &ApprovalRequest,
    stage: u32,
    actor: &Actor,
    directory: &dyn TeamDirectory,
) -> Option<ApproverVia> {
    let plan = state.plan()?;
    let teams = directory.teams_of(&actor.user);
    let named = plan.stages[stage as usize]
        .approvers
        .iter()
        .map(|p| (None, p));
    let escalated = state.stages[stage as usize]
        .escalated_to
        .iter()
        .map(|(level, p)| (Some(*level), p));
    let candidates: Vec<(Option<u32>, &Principal)> = named.chain(escalated).collect();
    let direct = candidates
        .iter()
        .find(|(_, p)| matches!(p, Principal::User(u) if *u == actor.user));
    let via_team = || {
        candidates
            .iter()
            .find(|(_, p)| matches!(p, Principal::Team(t) if teams.contains(t)))
    };
    direct.or_else(via_team).map(|(level, p)| ApproverVia {
        principal: (*p).clone(),
        escalation_level: *level,
    })
}

fn cancel(
    state: &ApprovalRequest,
    command: &ApprovalCommand,
    reason: Option<&str>,
) -> Result<Vec<ApprovalEvent>, DomainError> {
    let submitted = pending(state, command)?;
    let actor = &command.actor;
    if actor.user != submitted.requester.user && !actor.has_role(Role::Admin) {
        return Err(DomainError::NotPermitted {
            actor: actor.user.clone(),
            action: "cancel".into(),
            requirement: "only the requester or an admin may cancel a request".into(),
        });
    }
    if let Some(reason) = reason {
        check_command_text("reason", reason)?;
    }
    Ok(vec![ApprovalEvent::RequestCancelled(RequestCancelled {
        by: actor.clone(),
        reason: reason.map(str::to_owned),
        at: command.at,
    })])
}

fn require_scheduler(command: &ApprovalCommand, action: &str) -> Result<(), DomainError> {
    let actor = &command.actor;
    if actor.has_role(Role::Scheduler) || actor.has_role(Role::Admin) {
        Ok(())
    } else {
        Err(DomainError::NotPermitted {
            actor: actor.user.clone(),
            action: action.into(),
            requirement: "only the scheduler (or an admin) fires deadlines".into(),
        })
    }
}

fn expire(
    state: &ApprovalRequest,
    command: &ApprovalCommand,
) -> Result<Vec<ApprovalEvent>, DomainError> {
    require_scheduler(command, "expire")?;
    let submitted = pending(state, command)?;
    let Some(Deadline {
        expires_at,
        stage: stage_expired,
    }) = deadline(state, submitted)
    else {
        return Err(DomainError::NoExpiry);
    };
    if command.at < expires_at {
        return Err(DomainError::NotYetDue {
            deadline: "expiry".into(),
            due_at: expires_at,
            now: command.at,
        });
    }
    let at = command.at;
    // Auto-approval is the request's own rule: a stage that ran out of time
    // before the request did has no approvals to show, and approving the
    // request for it would skip that stage and every one after it. Such a
    // request expires instead.
    let stage_ran_out_first =
        stage_expired.is_some() && submitted.plan.expires_at != Some(expires_at);
    let on_expiry = match submitted.plan.on_expiry {
        OnExpiry::Approve if stage_ran_out_first => OnExpiry::Expire,
        rule => rule,
    };
    Ok(vec![match on_expiry {
        OnExpiry::Expire => ApprovalEvent::RequestExpired(RequestExpired {
            by: command.actor.clone(),
            expires_at,
            stage: stage_expired,
            at,
        }),
        OnExpiry::Reject => ApprovalEvent::RequestRejected(RequestRejected {
            at,
            stage: state.current_stage,
            rejections: Vec::new(),
            expired_at: Some(expires_at),
        }),
        OnExpiry::Approve => ApprovalEvent::RequestApproved(RequestApproved {
            at,
            basis: ApprovalBasis::ExpiryRule { expires_at },
        }),
    }])
}

fn escalate(
    state: &ApprovalRequest,
    command: &ApprovalCommand,
    level: u32,
) -> Result<Vec<ApprovalEvent>, DomainError> {
    require_scheduler(command, "escalate")?;
    let submitted = pending(state, command)?;
    let levels = &submitted.plan.escalation;
    let next = state.escalation_level + 1;
    let Some(plan_level) = levels
        .iter()
        .find(|l| l.level == level)
        .filter(|_| level == next)
    else {
        return Err(DomainError::EscalationOutOfOrder {
            requested: level,
            next,
            defined: levels.len() as u32,
        });
    };
    if command.at < plan_level.due_at {
        return Err(DomainError::NotYetDue {
            deadline: format!("escalation level {level}"),
            due_at: plan_level.due_at,
            now: command.at,
        });
    }
    Ok(vec![ApprovalEvent::RequestEscalated(RequestEscalated {
        by: command.actor.clone(),
        level,
        stage: state.current_stage,
        added: plan_level.to.clone(),
        due_at: plan_level.due_at,
        at: command.at,
    })])
}

fn remind(
    state: &ApprovalRequest,
    command: &ApprovalCommand,
    number: u32,
) -> Result<Vec<ApprovalEvent>, DomainError> {
    require_scheduler(command, "remind")?;
    let submitted = pending(state, command)?;
    let out_of_order = DomainError::ReminderOutOfOrder {
        requested: number,
        last: state.last_reminder,
    };
    if number <= state.last_reminder {
        return Err(out_of_order);
    }
    let due_at = submitted
        .plan
        .reminder_due(submitted.submitted_at, number)
        .ok_or(out_of_order)?;
    if command.at < due_at {
        return Err(DomainError::NotYetDue {
            deadline: format!("reminder {number}"),
            due_at,
            now: command.at,
        });
    }
    let stage = state.current_stage;
    let mut to: Vec<Principal> = submitted
        .plan
        .stages
        .get(stage as usize)
        .map(|s| s.approvers.clone())
        .unwrap_or_default();
    if let Some(progress) = state.stages.get(stage as usize) {
        for (_, principal) in &progress.escalated_to {
            if !to.contains(principal) {
                to.push(principal.clone());
            }
        }
    }
    Ok(vec![ApprovalEvent::ReminderSent(ReminderSent {
        by: command.actor.clone(),
        number,
        stage,
        to,
        due_at,
        at: command.at,
    })])
}

fn record_execution(
    state: &ApprovalRequest,
    command: &ApprovalCommand,
    outcome: ExecutionOutcome,
    summary: Option<&str>,
    params: &RawJson,
) -> Result<Vec<ApprovalEvent>, DomainError> {
    let Some(submitted) = &state.submitted else {
        return Err(DomainError::RequestNotFound {
            request_id: command.request_id,
        });
    };
    if state.status != Status::Approved {
        return Err(DomainError::NotApproved {
            status: state.status,
        });
    }
    if let Some(done) = &state.execution {
        return Err(DomainError::ExecutionAlreadyRecorded { at: done.at });
    }
    let actor = &command.actor;
    if actor.user != submitted.requester.user && !actor.has_role(Role::Admin) {
        return Err(DomainError::NotPermitted {
            actor: actor.user.clone(),
            action: "record the execution".into(),
            requirement: "only the requester (or an admin) records how the approved action ran"
                .into(),
        });
    }
    let presented = params.canonical_hash();
    if presented != submitted.params_hash {
        return Err(DomainError::PayloadMismatch {
            field: "params".into(),
            approved: submitted.params_hash.clone(),
            presented,
        });
    }
    if let Some(summary) = summary {
        check_command_text("summary", summary)?;
    }
    Ok(vec![ApprovalEvent::ExecutionRecorded(ExecutionRecorded {
        by: actor.clone(),
        outcome,
        summary: summary.map(str::to_owned),
        params_hash: presented,
        at: command.at,
    })])
}
