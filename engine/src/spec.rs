//! The workflow spec: what an application asks for, in the product guide's own
//! words (`title`, `approvers`, `minApprovals`, `expiresIn`, `escalation`,
//! `context`, `uiComponent`, `uiConfig`, sequential `stages`, `condition` /
//! `config` / `elseConfig`, custom `logic`). camelCase on the wire.
//!
//! A spec is checked here for shape and limits only ([`WorkflowSpec::validate`]);
//! [`crate::policy`] resolves it against parameters, time and the directory.

use std::fmt;

use schemars::JsonSchema;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::DomainError;
use crate::expr::Condition;
use crate::raw_json::RawJson;

/// Limits that keep one request small enough to load fast and read in full.
pub mod limits {
    pub const MAX_TITLE_CHARS: usize = 200;
    pub const MAX_DESCRIPTION_CHARS: usize = 4_000;
    pub const MAX_APPROVERS: usize = 100;
    pub const MAX_STAGES: usize = 20;
    pub const MAX_ESCALATION_LEVELS: usize = 10;
    pub const MAX_RULES: usize = 50;
    pub const MAX_CONDITION_NESTING: usize = 4;
    /// One year.
    pub const MAX_EXPIRES_IN_SECS: u64 = 366 * 24 * 3600;
    pub const MAX_ESCALATION_MINUTES: u32 = 366 * 24 * 60;
    pub const MAX_CONTEXT_BYTES: usize = 64 * 1024;
    pub const MAX_UI_CONFIG_BYTES: usize = 16 * 1024;
    pub const MAX_PARAMS_BYTES: usize = 64 * 1024;
    pub const MAX_UI_COMPONENT_CHARS: usize = 100;
    pub const MAX_TEXT_CHARS: usize = 4_000;
}
use limits::*;

/// The whole approval requirement for one action.
///
/// Exactly one of `approvers` (single, multi or team approval), `stages`
/// (a sequential chain), `condition` (conditional requirement) or `logic`
/// (custom rules) says who must approve.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkflowSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_TITLE_CHARS))]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_DESCRIPTION_CHARS))]
    pub description: Option<String>,
    /// User ids and team ids; any listed person or member of a listed team may approve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_APPROVERS))]
    pub approvers: Option<Vec<String>>,
    /// Distinct people who must approve (default 1); at most the people able to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_approvals: Option<u32>,
    /// Distinct people whose rejection rejects the request (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_rejections: Option<u32>,
    /// Seconds from submission until the request expires; absent: never. At most one year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = MAX_EXPIRES_IN_SECS))]
    pub expires_in: Option<u64>,
    /// Re-notify the current approvers every this many minutes while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = MAX_ESCALATION_MINUTES))]
    pub remind_every_minutes: Option<u32>,
    /// Name of a configured business-hours calendar: `expiresIn` and escalation
    /// `afterMinutes` then count working time only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_hours: Option<String>,
    /// What expiry does: `expire` (default: the request ends as expired),
    /// `reject`, or `approve` (auto-approval, recorded as such).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_expiry: Option<OnExpiry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<EscalationSpec>,
    /// Anything that helps approvers decide; kept byte for byte. At most 64 KiB
    /// (65,536 bytes as sent), else `TOO_LARGE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<RawJson>,
    /// Name of a dashboard component that renders this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_UI_COMPONENT_CHARS))]
    pub ui_component: Option<String>,
    /// Settings for `uiComponent`; kept byte for byte. At most 16 KiB (16,384
    /// bytes as sent), else `TOO_LARGE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui_config: Option<RawJson>,
    /// A sequential approval chain: every stage must approve, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_STAGES))]
    pub stages: Option<Vec<StageSpec>>,
    /// A CEL expression over the action's parameters choosing `config` (true)
    /// or `elseConfig` (false). Conditions nest at most 4 deep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = crate::expr::MAX_EXPRESSION_CHARS))]
    pub condition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Box<WorkflowSpec>>,
    /// Used when `condition` is false; absent: no approval is required then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub else_config: Option<Box<WorkflowSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logic: Option<CustomLogicSpec>,
    /// May one person approve more than one stage of a chain? Default false (four eyes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_same_approver_across_stages: Option<bool>,
}

/// What happens when `expiresIn` elapses before a decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OnExpiry {
    /// The request ends as expired, an outcome of its own.
    #[default]
    Expire,
    /// The request ends as rejected, recorded as rejected by the expiry rule.
    Reject,
    /// The request ends as approved, recorded as approved by the expiry rule.
    Approve,
}

/// One stage of a sequential chain.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StageSpec {
    #[schemars(length(min = 1, max = MAX_TITLE_CHARS))]
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_DESCRIPTION_CHARS))]
    pub description: Option<String>,
    #[schemars(length(min = 1, max = MAX_APPROVERS))]
    pub approvers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_approvals: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_rejections: Option<u32>,
    /// Seconds this stage may stay current (counted from when it became current).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = MAX_EXPIRES_IN_SECS))]
    pub expires_in: Option<u64>,
}

/// Custom approval logic: ordered rules, first match wins, else `default`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomLogicSpec {
    /// IANA time zone the clock variables are read in (default `UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[schemars(length(max = MAX_RULES))]
    pub rules: Vec<RuleSpec>,
    pub default: RequirementSpec,
}

/// `when` is a CEL expression over `hour`, `minute`, `weekday` (1 = Monday),
/// `weekdayName`, `date`, `params` and each parameter by name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleSpec {
    #[schemars(length(min = 1, max = crate::expr::MAX_EXPRESSION_CHARS))]
    pub when: String,
    #[schemars(length(min = 1, max = MAX_APPROVERS))]
    pub approvers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_approvals: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_rejections: Option<u32>,
}

/// What a custom rule (or its default) yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequirementSpec {
    #[schemars(length(min = 1, max = MAX_APPROVERS))]
    pub approvers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_approvals: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_rejections: Option<u32>,
}

/// One escalation level: after `afterMinutes` undecided, `to` may approve too.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EscalationLevelSpec {
    #[schemars(range(min = 1, max = MAX_ESCALATION_MINUTES))]
    pub after_minutes: u32,
    #[schemars(length(min = 1, max = MAX_APPROVERS))]
    pub to: Vec<String>,
}

/// The guide's two-level form: `{afterMinutes, to, afterMinutes2, to2}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuideEscalationSpec {
    #[schemars(range(min = 1, max = MAX_ESCALATION_MINUTES))]
    pub after_minutes: u32,
    #[schemars(length(min = 1, max = MAX_APPROVERS))]
    pub to: Vec<String>,
    #[serde(
        default,
        rename = "afterMinutes2",
        skip_serializing_if = "Option::is_none"
    )]
    pub after_minutes2: Option<u32>,
    #[serde(default, rename = "to2", skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_APPROVERS))]
    pub to2: Option<Vec<String>>,
}

/// Escalation levels, written either as the guide's form, as a list of levels,
/// or as `{"levels": [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum EscalationSpec {
    Guide(GuideEscalationSpec),
    List(Vec<EscalationLevelSpec>),
    Levels { levels: Vec<EscalationLevelSpec> },
}

impl<'de> Deserialize<'de> for EscalationSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Decided by shape first, so the error names the form that was meant.
        let value = Value::deserialize(deserializer)?;
        let decoded = match &value {
            Value::Array(_) => serde_path_to_error::deserialize(&value).map(EscalationSpec::List),
            Value::Object(map) if map.contains_key("levels") => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Levels {
                    levels: Vec<EscalationLevelSpec>,
                }
                serde_path_to_error::deserialize::<_, Levels>(&value)
                    .map(|l| EscalationSpec::Levels { levels: l.levels })
            }
            Value::Object(_) => serde_path_to_error::deserialize(&value).map(EscalationSpec::Guide),
            _ => {
                return Err(D::Error::custom(
                    "expected {afterMinutes, to, afterMinutes2?, to2?}, a list of {afterMinutes, to}, or {levels: [...]}",
                ))
            }
        };
        decoded.map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                D::Error::custom(e.into_inner())
            } else {
                D::Error::custom(format!("{path}: {}", e.into_inner()))
            }
        })
    }
}

impl EscalationSpec {
    /// The levels in the order they fire.
    pub fn levels(&self) -> Vec<EscalationLevelSpec> {
        match self {
            EscalationSpec::Guide(g) => {
                let mut levels = vec![EscalationLevelSpec {
                    after_minutes: g.after_minutes,
                    to: g.to.clone(),
                }];
                if let (Some(after), Some(to)) = (g.after_minutes2, &g.to2) {
                    levels.push(EscalationLevelSpec {
                        after_minutes: after,
                        to: to.clone(),
                    });
                }
                levels
            }
            EscalationSpec::List(levels) | EscalationSpec::Levels { levels } => levels.clone(),
        }
    }
}

/// Which way a spec says who approves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecKind {
    Approvers,
    Sequential,
    Conditional,
    Custom,
}

impl WorkflowSpec {
    /// Decodes a spec from JSON text, naming the field of the first problem.
    pub fn from_json(text: &str) -> Result<Self, DomainError> {
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de).map_err(|e| DomainError::InvalidSpec {
            field: format!("spec.{}", e.path())
                .trim_end_matches('.')
                .to_owned(),
            problem: e.into_inner().to_string(),
        })
    }

    pub fn kind(&self) -> Result<SpecKind, DomainError> {
        self.kind_at("spec")
    }

    fn kind_at(&self, at: &str) -> Result<SpecKind, DomainError> {
        let present: Vec<(&str, SpecKind)> = [
            (self.approvers.is_some(), "approvers", SpecKind::Approvers),
            (self.stages.is_some(), "stages", SpecKind::Sequential),
            (self.condition.is_some(), "condition", SpecKind::Conditional),
            (self.logic.is_some(), "logic", SpecKind::Custom),
        ]
        .into_iter()
        .filter(|(on, _, _)| *on)
        .map(|(_, name, kind)| (name, kind))
        .collect();
        match present.as_slice() {
            [(_, kind)] => Ok(*kind),
            [] => Err(invalid(
                at,
                "says nobody must approve: give one of `approvers`, `stages`, `condition` or `logic`",
            )),
            many => Err(invalid(
                at,
                &format!(
                    "gives {}: use exactly one of `approvers`, `stages`, `condition` or `logic`",
                    many.iter().map(|(n, _)| format!("`{n}`")).collect::<Vec<_>>().join(" and ")
                ),
            )),
        }
    }

    /// Shape and limit checks that need no parameters, clock or directory.
    pub fn validate(&self) -> Result<(), DomainError> {
        self.validate_at("spec", 0, false)
    }

    fn validate_at(
        &self,
        at: &str,
        nesting: usize,
        title_inherited: bool,
    ) -> Result<(), DomainError> {
        let kind = self.kind_at(at)?;
        let field = |name: &'static str| FieldPath(at, name);
        check_opt_text(field("title"), self.title.as_deref(), MAX_TITLE_CHARS)?;
        check_opt_text(
            field("description"),
            self.description.as_deref(),
            MAX_DESCRIPTION_CHARS,
        )?;
        if let Some(secs) = self.expires_in {
            if secs == 0 || secs > MAX_EXPIRES_IN_SECS {
                return Err(invalid(
                    field("expiresIn"),
                    &format!("is {secs} seconds; it must be between 1 and {MAX_EXPIRES_IN_SECS} (one year)"),
                ));
            }
        }
        if let Some(minutes) = self.remind_every_minutes {
            if minutes == 0 || minutes > MAX_ESCALATION_MINUTES {
                return Err(invalid(
                    field("remindEveryMinutes"),
                    &format!("is {minutes}; it must be between 1 and {MAX_ESCALATION_MINUTES}"),
                ));
            }
        }
        if let Some(escalation) = &self.escalation {
            check_escalation(&field("escalation").to_string(), escalation)?;
        }
        check_raw_size(field("context"), self.context.as_ref(), MAX_CONTEXT_BYTES)?;
        check_raw_size(
            field("uiConfig"),
            self.ui_config.as_ref(),
            MAX_UI_CONFIG_BYTES,
        )?;
        if let Some(component) = &self.ui_component {
            check_text(field("uiComponent"), component, MAX_UI_COMPONENT_CHARS)?;
        }
        let forbid = |on: bool, name: &'static str, why: &str| -> Result<(), DomainError> {
            if on {
                Err(invalid(field(name), why))
            } else {
                Ok(())
            }
        };
        match kind {
            SpecKind::Approvers => {
                if self.title.is_none() && !title_inherited {
                    return Err(invalid(field("title"), "is required"));
                }
                check_requirement(
                    at,
                    self.approvers.as_deref().unwrap_or_default(),
                    self.min_approvals,
                    self.min_rejections,
                )?;
            }
            SpecKind::Sequential => {
                let per_stage = "is set per stage in a sequential chain";
                forbid(self.min_approvals.is_some(), "minApprovals", per_stage)?;
                forbid(self.min_rejections.is_some(), "minRejections", per_stage)?;
                let stages = self.stages.as_deref().unwrap_or_default();
                if stages.is_empty() {
                    return Err(invalid(field("stages"), "must list at least one stage"));
                }
                if stages.len() > MAX_STAGES {
                    return Err(invalid(
                        field("stages"),
                        &format!(
                            "lists {} stages; at most {MAX_STAGES} are allowed",
                            stages.len()
                        ),
                    ));
                }
                for (i, stage) in stages.iter().enumerate() {
                    let at = format!("{at}.stages[{i}]");
                    check_text(FieldPath(&at, "title"), &stage.title, MAX_TITLE_CHARS)?;
                    check_opt_text(
                        FieldPath(&at, "description"),
                        stage.description.as_deref(),
                        MAX_DESCRIPTION_CHARS,
                    )?;
                    check_requirement(
                        &at,
                        &stage.approvers,
                        stage.min_approvals,
                        stage.min_rejections,
                    )?;
                    if let Some(secs) = stage.expires_in {
                        if secs == 0 || secs > MAX_EXPIRES_IN_SECS {
                            return Err(invalid(
                                format!("{at}.expiresIn"),
                                &format!("is {secs} seconds; it must be between 1 and {MAX_EXPIRES_IN_SECS} (one year)"),
                            ));
                        }
                    }
                }
            }
            SpecKind::Conditional => {
                let in_branch = "belongs in `config` / `elseConfig` of a conditional spec";
                forbid(self.min_approvals.is_some(), "minApprovals", in_branch)?;
                forbid(self.min_rejections.is_some(), "minRejections", in_branch)?;
                if nesting >= MAX_CONDITION_NESTING {
                    return Err(invalid(
                        field("condition"),
                        &format!("conditions nest more than {MAX_CONDITION_NESTING} deep"),
                    ));
                }
                let condition = self.condition.as_deref().unwrap_or_default();
                Condition::compile(&field("condition").to_string(), condition)?;
                let Some(config) = &self.config else {
                    return Err(invalid(field("config"), "is required with `condition`"));
                };
                config.validate_at(
                    &field("config").to_string(),
                    nesting + 1,
                    title_inherited || self.title.is_some(),
                )?;
                if let Some(else_config) = &self.else_config {
                    else_config.validate_at(
                        &field("elseConfig").to_string(),
                        nesting + 1,
                        title_inherited || self.title.is_some(),
                    )?;
                }
            }
            SpecKind::Custom => {
                forbid(
                    self.min_approvals.is_some(),
                    "minApprovals",
                    "is set per rule in custom logic",
                )?;
                forbid(
                    self.min_rejections.is_some(),
                    "minRejections",
                    "is set per rule in custom logic",
                )?;
                if self.title.is_none() && !title_inherited {
                    return Err(invalid(field("title"), "is required"));
                }
                let logic = self.logic.as_ref().expect("kind is Custom");
                let at = field("logic").to_string();
                if let Some(zone) = &logic.time_zone {
                    zone.parse::<chrono_tz::Tz>().map_err(|_| {
                        invalid(
                            format!("{at}.timeZone"),
                            &format!("`{zone}` is not an IANA time zone name"),
                        )
                    })?;
                }
                if logic.rules.len() > MAX_RULES {
                    return Err(invalid(
                        format!("{at}.rules"),
                        &format!(
                            "lists {} rules; at most {MAX_RULES} are allowed",
                            logic.rules.len()
                        ),
                    ));
                }
                for (i, rule) in logic.rules.iter().enumerate() {
                    let at = format!("{at}.rules[{i}]");
                    Condition::compile(&format!("{at}.when"), &rule.when)?;
                    check_requirement(
                        &at,
                        &rule.approvers,
                        rule.min_approvals,
                        rule.min_rejections,
                    )?;
                }
                let d = &logic.default;
                check_requirement(
                    &format!("{at}.default"),
                    &d.approvers,
                    d.min_approvals,
                    d.min_rejections,
                )?;
            }
        }
        if kind != SpecKind::Conditional {
            forbid(
                self.config.is_some(),
                "config",
                "applies only with `condition`",
            )?;
            forbid(
                self.else_config.is_some(),
                "elseConfig",
                "applies only with `condition`",
            )?;
        }
        if kind != SpecKind::Sequential {
            forbid(
                self.allow_same_approver_across_stages.is_some() && kind != SpecKind::Conditional,
                "allowSameApproverAcrossStages",
                "applies only to sequential chains",
            )?;
        }
        Ok(())
    }
}

fn check_requirement(
    at: &str,
    approvers: &[String],
    min_approvals: Option<u32>,
    min_rejections: Option<u32>,
) -> Result<(), DomainError> {
    let field = FieldPath(at, "approvers");
    if approvers.is_empty() {
        return Err(invalid(field, "must name at least one user or team"));
    }
    if approvers.len() > MAX_APPROVERS {
        return Err(invalid(
            field,
            &format!(
                "names {} approvers; at most {MAX_APPROVERS} are allowed",
                approvers.len()
            ),
        ));
    }
    for (i, id) in approvers.iter().enumerate() {
        crate::ids::UserId::parse(id)
            .map_err(|e| invalid(format!("{field}[{i}]"), &format!("`{id}` {e}")))?;
        if approvers[..i].contains(id) {
            return Err(invalid(
                format!("{field}[{i}]"),
                &format!("`{id}` is listed twice"),
            ));
        }
    }
    if min_approvals == Some(0) {
        return Err(invalid(format!("{at}.minApprovals"), "must be at least 1"));
    }
    if min_rejections == Some(0) {
        return Err(invalid(format!("{at}.minRejections"), "must be at least 1"));
    }
    Ok(())
}

fn check_escalation(at: &str, escalation: &EscalationSpec) -> Result<(), DomainError> {
    if let EscalationSpec::Guide(g) = escalation {
        if g.after_minutes2.is_some() != g.to2.is_some() {
            return Err(invalid(at, "`afterMinutes2` and `to2` go together"));
        }
    }
    let levels = escalation.levels();
    if levels.is_empty() {
        return Err(invalid(at, "must have at least one level"));
    }
    if levels.len() > MAX_ESCALATION_LEVELS {
        return Err(invalid(
            at,
            &format!(
                "has {} levels; at most {MAX_ESCALATION_LEVELS} are allowed",
                levels.len()
            ),
        ));
    }
    let mut previous = 0;
    for (i, level) in levels.iter().enumerate() {
        let name = escalation_field(escalation, i);
        let after = format!("{at}{}", name.0);
        if level.after_minutes == 0 || level.after_minutes > MAX_ESCALATION_MINUTES {
            return Err(invalid(
                &after,
                &format!(
                    "is {} minutes; it must be between 1 and {MAX_ESCALATION_MINUTES}",
                    level.after_minutes
                ),
            ));
        }
        if level.after_minutes <= previous {
            return Err(invalid(
                &after,
                &format!(
                    "is {} minutes, not later than the level before ({previous})",
                    level.after_minutes
                ),
            ));
        }
        previous = level.after_minutes;
        let to = format!("{at}{}", name.1);
        if level.to.is_empty() {
            return Err(invalid(&to, "must name at least one user or team"));
        }
        if level.to.len() > MAX_APPROVERS {
            return Err(invalid(
                &to,
                &format!(
                    "names {} users and teams; at most {MAX_APPROVERS} are allowed",
                    level.to.len()
                ),
            ));
        }
        for (j, id) in level.to.iter().enumerate() {
            crate::ids::UserId::parse(id)
                .map_err(|e| invalid(format!("{to}[{j}]"), &format!("`{id}` {e}")))?;
            if level.to[..j].contains(id) {
                return Err(invalid(
                    format!("{to}[{j}]"),
                    &format!("`{id}` is listed twice"),
                ));
            }
        }
    }
    Ok(())
}

/// Field paths (relative to `escalation`) of level `i`'s `afterMinutes` and
/// `to`, as the caller wrote them.
pub(crate) fn escalation_field(spec: &EscalationSpec, i: usize) -> (String, String) {
    match spec {
        EscalationSpec::Guide(_) if i == 0 => (".afterMinutes".into(), ".to".into()),
        EscalationSpec::Guide(_) => (".afterMinutes2".into(), ".to2".into()),
        EscalationSpec::List(_) => (format!("[{i}].afterMinutes"), format!("[{i}].to")),
        EscalationSpec::Levels { .. } => (
            format!(".levels[{i}].afterMinutes"),
            format!(".levels[{i}].to"),
        ),
    }
}

fn check_raw_size(
    field: impl fmt::Display,
    raw: Option<&RawJson>,
    max: usize,
) -> Result<(), DomainError> {
    match raw {
        Some(raw) if raw.len() > max => Err(DomainError::TooLarge {
            field: field.to_string(),
            bytes: raw.len(),
            max,
        }),
        _ => Ok(()),
    }
}

pub(crate) fn check_text(
    field: impl fmt::Display,
    text: &str,
    max_chars: usize,
) -> Result<(), DomainError> {
    let chars = text.chars().count();
    if text.trim().is_empty() {
        Err(invalid(field, "must not be empty"))
    } else if chars > max_chars {
        Err(invalid(
            field,
            &format!("is {chars} characters long; at most {max_chars} are allowed"),
        ))
    } else {
        Ok(())
    }
}

fn check_opt_text(
    field: impl fmt::Display,
    text: Option<&str>,
    max_chars: usize,
) -> Result<(), DomainError> {
    text.map_or(Ok(()), |t| check_text(field, t, max_chars))
}

/// The path `parent.name` of a field, written out only when an error names
/// it: a valid spec is checked without building a path string per field.
#[derive(Clone, Copy)]
pub(crate) struct FieldPath<'a>(pub &'a str, pub &'static str);

impl fmt::Display for FieldPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

pub(crate) fn invalid(field: impl fmt::Display, problem: &str) -> DomainError {
    DomainError::InvalidSpec {
        field: field.to_string(),
        problem: problem.to_owned(),
    }
}
