//! Workflow configurations in the product guide's words, built in Rust.
//! Each builder produces the engine's [`WorkflowSpec`], which travels as JSON
//! and is validated by the engine: a builder never decides a rule itself.

use std::time::Duration;

use serde_json::Value;
use signoff_engine::spec::{
    CustomLogicSpec, EscalationLevelSpec, EscalationSpec, OnExpiry, RequirementSpec, RuleSpec,
    StageSpec,
};
use signoff_engine::{RawJson, WorkflowSpec};

/// `{title, description, approvers, minApprovals, expiresIn, escalation,
/// context, uiComponent, uiConfig, ...}` of the guide.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApprovalConfig {
    spec: WorkflowSpec,
}

impl ApprovalConfig {
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            spec: WorkflowSpec {
                title: Some(title.into()),
                ..WorkflowSpec::default()
            },
        }
    }

    /// A configuration written as the guide's JSON object (checked by the engine on submit).
    pub fn from_json(value: Value) -> Result<Self, serde_json::Error> {
        Ok(Self {
            spec: serde_json::from_value(value)?,
        })
    }

    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.spec.description = Some(text.into());
        self
    }

    /// User ids and team ids; a team means any one of its members.
    pub fn approvers<I, S>(mut self, approvers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.spec.approvers = Some(approvers.into_iter().map(Into::into).collect());
        self
    }

    /// A sequential chain under this configuration's title and settings
    /// (expiry, escalation, reminders, context, UI,
    /// `allow_same_approver_across_stages`), in place of `approvers`:
    /// `require_sequential_approval` with everything else the guide offers.
    pub fn stages(mut self, stages: impl IntoIterator<Item = Stage>) -> Self {
        self.spec.stages = Some(stages.into_iter().map(|s| s.spec).collect());
        self.spec.approvers = None;
        self
    }

    pub fn min_approvals(mut self, n: u32) -> Self {
        self.spec.min_approvals = Some(n);
        self
    }

    pub fn min_rejections(mut self, n: u32) -> Self {
        self.spec.min_rejections = Some(n);
        self
    }

    /// How long the request may stay undecided (whole seconds).
    pub fn expires_in(mut self, after: Duration) -> Self {
        self.spec.expires_in = Some(after.as_secs());
        self
    }

    /// What expiry means: expire (default), reject or approve.
    pub fn on_expiry(mut self, rule: OnExpiry) -> Self {
        self.spec.on_expiry = Some(rule);
        self
    }

    pub fn remind_every_minutes(mut self, minutes: u32) -> Self {
        self.spec.remind_every_minutes = Some(minutes);
        self
    }

    /// Count `expiresIn` and escalation in this configured calendar's business hours.
    pub fn business_hours(mut self, calendar: impl Into<String>) -> Self {
        self.spec.business_hours = Some(calendar.into());
        self
    }

    pub fn escalation(mut self, escalation: Escalation) -> Self {
        self.spec.escalation = Some(EscalationSpec::List(escalation.levels));
        self
    }

    /// Rich context shown to approvers, stored byte for byte and hashed into the audit trail.
    pub fn context(mut self, context: Value) -> Self {
        self.spec.context = Some(RawJson::from_value(&context));
        self
    }

    /// The dashboard component that renders this request.
    pub fn ui_component(mut self, name: impl Into<String>) -> Self {
        self.spec.ui_component = Some(name.into());
        self
    }

    pub fn ui_config(mut self, config: Value) -> Self {
        self.spec.ui_config = Some(RawJson::from_value(&config));
        self
    }

    /// Allow one person to approve more than one stage (four-eyes is the default).
    pub fn allow_same_approver_across_stages(mut self, allow: bool) -> Self {
        self.spec.allow_same_approver_across_stages = Some(allow);
        self
    }

    pub fn spec(&self) -> &WorkflowSpec {
        &self.spec
    }

    pub fn into_spec(self) -> WorkflowSpec {
        self.spec
    }
}

impl From<WorkflowSpec> for ApprovalConfig {
    fn from(spec: WorkflowSpec) -> Self {
        Self { spec }
    }
}

impl From<ApprovalConfig> for WorkflowSpec {
    fn from(config: ApprovalConfig) -> Self {
        config.spec
    }
}

/// One stage of a sequential chain.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    spec: StageSpec,
}

impl Stage {
    pub fn new<I, S>(title: impl Into<String>, approvers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            spec: StageSpec {
                title: title.into(),
                approvers: approvers.into_iter().map(Into::into).collect(),
                ..StageSpec::default()
            },
        }
    }

    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.spec.description = Some(text.into());
        self
    }

    pub fn min_approvals(mut self, n: u32) -> Self {
        self.spec.min_approvals = Some(n);
        self
    }

    pub fn min_rejections(mut self, n: u32) -> Self {
        self.spec.min_rejections = Some(n);
        self
    }

    /// How long this stage may stay current, counted from when it became current.
    pub fn expires_in(mut self, after: Duration) -> Self {
        self.spec.expires_in = Some(after.as_secs());
        self
    }
}

/// The sequential chain as one spec, titled by its stages ("A → B → C"),
/// cut to the engine's title limit with "…" (the caller never wrote that
/// title, so it must not be the field a submit is refused for;
/// [`ApprovalConfig::stages`] gives a chain a title of its own).
pub(crate) fn sequential_spec(stages: Vec<Stage>) -> WorkflowSpec {
    use signoff_engine::spec::limits::MAX_TITLE_CHARS;
    let joined = stages
        .iter()
        .map(|s| s.spec.title.as_str())
        .collect::<Vec<_>>()
        .join(" → ");
    let title = if joined.chars().count() > MAX_TITLE_CHARS {
        let mut cut: String = joined.chars().take(MAX_TITLE_CHARS - 1).collect();
        cut.push('…');
        cut
    } else {
        joined
    };
    WorkflowSpec {
        title: (!stages.is_empty()).then_some(title),
        stages: Some(stages.into_iter().map(|s| s.spec).collect()),
        ..WorkflowSpec::default()
    }
}

/// `condition` (a CEL expression over the action's parameters, evaluated by
/// the engine so the audit trail records the branch), `config`, `elseConfig`.
pub(crate) fn conditional_spec(
    condition: &str,
    config: ApprovalConfig,
    else_config: Option<ApprovalConfig>,
) -> WorkflowSpec {
    WorkflowSpec {
        title: config.spec.title.clone(),
        condition: Some(condition.to_owned()),
        config: Some(Box::new(config.spec)),
        else_config: else_config.map(|c| Box::new(c.spec)),
        ..WorkflowSpec::default()
    }
}

/// Escalation levels: after N minutes undecided, more people may approve.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Escalation {
    levels: Vec<EscalationLevelSpec>,
}

impl Escalation {
    pub fn after_minutes<I, S>(minutes: u32, to: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::default().then_after_minutes(minutes, to)
    }

    pub fn then_after_minutes<I, S>(mut self, minutes: u32, to: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.levels.push(EscalationLevelSpec {
            after_minutes: minutes,
            to: to.into_iter().map(Into::into).collect(),
        });
        self
    }
}

/// Who must approve: approvers and quorums.
#[derive(Clone, Debug, PartialEq)]
pub struct Requirement {
    approvers: Vec<String>,
    min_approvals: Option<u32>,
    min_rejections: Option<u32>,
}

impl Requirement {
    pub fn new<I, S>(approvers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            approvers: approvers.into_iter().map(Into::into).collect(),
            min_approvals: None,
            min_rejections: None,
        }
    }

    pub fn min_approvals(mut self, n: u32) -> Self {
        self.min_approvals = Some(n);
        self
    }

    pub fn min_rejections(mut self, n: u32) -> Self {
        self.min_rejections = Some(n);
        self
    }
}

/// Custom approval logic: ordered rules (`when` is a CEL expression over
/// `hour`, `minute`, `weekday`, `weekdayName`, `date`, `params` and each
/// parameter by name), first match wins, else the default. The engine
/// evaluates it at submission, in the configured time zone, and records which
/// rule applied.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomLogic {
    time_zone: Option<String>,
    rules: Vec<RuleSpec>,
}

impl CustomLogic {
    pub fn new() -> Self {
        Self {
            time_zone: None,
            rules: Vec::new(),
        }
    }

    /// IANA time zone the clock variables are read in (default UTC).
    pub fn time_zone(mut self, zone: impl Into<String>) -> Self {
        self.time_zone = Some(zone.into());
        self
    }

    pub fn rule(mut self, when: impl Into<String>, then: Requirement) -> Self {
        self.rules.push(RuleSpec {
            when: when.into(),
            approvers: then.approvers,
            min_approvals: then.min_approvals,
            min_rejections: then.min_rejections,
        });
        self
    }

    pub fn otherwise(self, default: Requirement) -> CustomLogicSpecBuilt {
        CustomLogicSpecBuilt(CustomLogicSpec {
            time_zone: self.time_zone,
            rules: self.rules,
            default: RequirementSpec {
                approvers: default.approvers,
                min_approvals: default.min_approvals,
                min_rejections: default.min_rejections,
            },
        })
    }
}

impl Default for CustomLogic {
    fn default() -> Self {
        Self::new()
    }
}

/// Custom logic with its default: ready for `require_custom_approval`.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomLogicSpecBuilt(pub(crate) CustomLogicSpec);

pub(crate) fn custom_spec(config: ApprovalConfig, logic: CustomLogicSpecBuilt) -> WorkflowSpec {
    WorkflowSpec {
        logic: Some(logic.0),
        ..config.spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builders_write_the_guides_json() {
        let config = ApprovalConfig::new("Critical Fix")
            .description("Apply critical system fix")
            .approvers(["on-call-team"])
            .escalation(
                Escalation::after_minutes(15, ["manager-team"])
                    .then_after_minutes(30, ["executive-team"]),
            );
        assert_eq!(
            serde_json::to_value(config.spec()).unwrap(),
            json!({
                "title": "Critical Fix",
                "description": "Apply critical system fix",
                "approvers": ["on-call-team"],
                "escalation": [
                    {"afterMinutes": 15, "to": ["manager-team"]},
                    {"afterMinutes": 30, "to": ["executive-team"]}
                ]
            })
        );
    }

    #[test]
    fn a_chain_takes_every_setting_and_a_joined_title_stays_inside_the_limit() {
        let chain = ApprovalConfig::new("Release 1.4.2")
            .stages([
                Stage::new("Manager Approval", ["manager-team"]),
                Stage::new("Security Review", ["security-team"])
                    .expires_in(Duration::from_secs(600)),
            ])
            .expires_in(Duration::from_secs(3600))
            .escalation(Escalation::after_minutes(15, ["executive-team"]))
            .context(json!({"ticket": "PROJ-1"}))
            .allow_same_approver_across_stages(true);
        let value = serde_json::to_value(chain.spec()).unwrap();
        assert_eq!(value["title"], "Release 1.4.2");
        assert_eq!(value["stages"][1]["expiresIn"], 600);
        assert_eq!(value["expiresIn"], 3600);
        assert_eq!(value["escalation"][0]["to"][0], "executive-team");
        assert_eq!(value["context"]["ticket"], "PROJ-1");
        assert_eq!(value["allowSameApproverAcrossStages"], true);
        assert!(value.get("approvers").is_none());

        let long = "x".repeat(70);
        let spec = sequential_spec(
            (0..3)
                .map(|_| Stage::new(long.clone(), ["manager-team"]))
                .collect(),
        );
        let title = spec.title.unwrap();
        assert_eq!(
            title.chars().count(),
            signoff_engine::spec::limits::MAX_TITLE_CHARS
        );
        assert!(title.ends_with('…'));
        let short = sequential_spec(vec![
            Stage::new("A", ["manager-team"]),
            Stage::new("B", ["security-team"]),
        ]);
        assert_eq!(short.title.as_deref(), Some("A → B"));
    }

    #[test]
    fn conditional_and_custom_specs_keep_their_branches() {
        let spec = conditional_spec(
            "amount > 10000",
            ApprovalConfig::new("High-Value Transfer").approvers(["finance-team"]),
            Some(ApprovalConfig::new("Standard Transfer").approvers(["finance-team"])),
        );
        let value = serde_json::to_value(&spec).unwrap();
        assert_eq!(value["condition"], "amount > 10000");
        assert_eq!(value["config"]["title"], "High-Value Transfer");
        assert_eq!(value["elseConfig"]["title"], "Standard Transfer");

        let custom = custom_spec(
            ApprovalConfig::new("Complex Decision"),
            CustomLogic::new()
                .time_zone("Europe/Berlin")
                .rule(
                    "hour >= 9 && hour <= 17",
                    Requirement::new(["manager-team"]),
                )
                .otherwise(Requirement::new(["on-call-team", "manager-team"]).min_approvals(2)),
        );
        let value = serde_json::to_value(&custom).unwrap();
        assert_eq!(value["logic"]["timeZone"], "Europe/Berlin");
        assert_eq!(value["logic"]["default"]["minApprovals"], 2);
    }
}
