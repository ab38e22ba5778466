//! Identifiers. Request and command ids are UUIDs chosen by the caller (so a
//! retried command carries the same id); user and team ids are directory names.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest user or team id accepted anywhere.
pub const MAX_PRINCIPAL_ID_LEN: usize = 128;

/// One approval request; also the aggregate id and the event subject suffix.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct RequestId(pub Uuid);

/// One command as sent by a caller. A retry re-uses the id; the log applies it once.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct CommandId(pub Uuid);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

macro_rules! principal_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Accepts 1..=128 characters with no white space or control characters.
            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                check_principal_id(raw).map(|()| Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

principal_id!(
    /// A person, as named by the identity token's subject and the team directory.
    UserId
);
principal_id!(
    /// A team of the team directory (`security-team`).
    TeamId
);

/// Why a user or team id was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidId {
    #[error("must not be empty")]
    Empty,
    #[error("is {len} characters long; at most {MAX_PRINCIPAL_ID_LEN} are allowed")]
    TooLong { len: usize },
    #[error("contains white space or a control character")]
    BadCharacter,
}

fn check_principal_id(raw: &str) -> Result<(), InvalidId> {
    let len = raw.chars().count();
    if len == 0 {
        Err(InvalidId::Empty)
    } else if len > MAX_PRINCIPAL_ID_LEN {
        Err(InvalidId::TooLong { len })
    } else if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err(InvalidId::BadCharacter)
    } else {
        Ok(())
    }
}
