//! The team directory port: which ids are people, which are teams, and who is
//! in a team *now*. The gateway loads it from configuration; the engine asks it
//! while handling a command and records the answer in the event, so replay
//! never asks again.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::calendar::{BusinessCalendar, CheckedCalendar};
use crate::ids::{TeamId, UserId};

/// What an approver id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    User,
    Team,
}

/// Read-only view of users and teams at the moment a command is handled.
pub trait TeamDirectory: Send + Sync {
    fn kind_of(&self, id: &str) -> Option<PrincipalKind>;
    fn members(&self, team: &TeamId) -> BTreeSet<UserId>;
    fn teams_of(&self, user: &UserId) -> BTreeSet<TeamId>;
    /// A configured business-hours calendar by name.
    fn calendar(&self, _name: &str) -> Option<CheckedCalendar> {
        None
    }
}

/// A directory held in memory, loaded from a JSON document:
/// `{"users": ["alice"], "teams": {"security-team": ["bob", "carol"]}}`.
/// Every team member is a user even when not listed under `users`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticDirectory {
    #[serde(default)]
    pub users: BTreeSet<UserId>,
    #[serde(default)]
    pub teams: BTreeMap<TeamId, BTreeSet<UserId>>,
    /// Business-hours calendars that specs name in `businessHours`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub calendars: BTreeMap<String, BusinessCalendar>,
}

impl StaticDirectory {
    pub fn with_user(mut self, user: &str) -> Self {
        self.users
            .insert(UserId::parse(user).expect("valid user id"));
        self
    }

    pub fn with_team(mut self, team: &str, members: &[&str]) -> Self {
        let members = members
            .iter()
            .map(|m| UserId::parse(m).expect("valid user id"))
            .collect();
        self.teams
            .insert(TeamId::parse(team).expect("valid team id"), members);
        self
    }

    pub fn with_calendar(mut self, name: &str, calendar: BusinessCalendar) -> Self {
        self.calendars.insert(name.to_owned(), calendar);
        self
    }

    /// Checks that no id is both a user and a team, and every calendar.
    pub fn validate(&self) -> Result<(), String> {
        for (name, calendar) in &self.calendars {
            calendar
                .validate(&format!("calendars.{name}"))
                .map_err(|e| e.to_string())?;
        }
        for team in self.teams.keys() {
            if self.users.iter().any(|u| u.as_str() == team.as_str()) {
                return Err(format!("`{team}` is listed both as a user and as a team"));
            }
        }
        Ok(())
    }
}

impl TeamDirectory for StaticDirectory {
    fn kind_of(&self, id: &str) -> Option<PrincipalKind> {
        if self.teams.keys().any(|t| t.as_str() == id) {
            Some(PrincipalKind::Team)
        } else if self.users.iter().any(|u| u.as_str() == id)
            || self
                .teams
                .values()
                .any(|m| m.iter().any(|u| u.as_str() == id))
        {
            Some(PrincipalKind::User)
        } else {
            None
        }
    }

    fn members(&self, team: &TeamId) -> BTreeSet<UserId> {
        self.teams.get(team).cloned().unwrap_or_default()
    }

    fn calendar(&self, name: &str) -> Option<CheckedCalendar> {
        self.calendars
            .get(name)?
            .validate(&format!("calendars.{name}"))
            .ok()
    }

    fn teams_of(&self, user: &UserId) -> BTreeSet<TeamId> {
        self.teams
            .iter()
            .filter(|(_, members)| members.contains(user))
            .map(|(team, _)| team.clone())
            .collect()
    }
}
