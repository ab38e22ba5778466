//! Process configuration (a JSON file): where NATS is, how the log is kept,
//! which tokens are trusted, and the team directory.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use signoff_engine::StaticDirectory;
use signoff_eventstore::StreamSettings;

use crate::identity::AuthConfig;
use crate::webhooks::WebhookConfig;

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignoffConfig {
    pub nats_url: String,
    #[serde(default)]
    pub stream: StreamConfig,
    pub auth: AuthConfig,
    pub directory: StaticDirectory,
    /// HTTP endpoints that receive decisions (`signoff webhooks run`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<WebhookConfig>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StreamConfig {
    pub name: String,
    pub subject_prefix: String,
    /// 1 on one machine, 3 in a JetStream cluster.
    pub replicas: usize,
    pub duplicate_window_secs: u64,
}

impl Default for StreamConfig {
    fn default() -> Self {
        let d = StreamSettings::default();
        Self {
            name: d.name,
            subject_prefix: d.subject_prefix,
            replicas: d.replicas,
            duplicate_window_secs: d.duplicate_window.as_secs(),
        }
    }
}

impl StreamConfig {
    pub fn settings(&self) -> StreamSettings {
        StreamSettings {
            name: self.name.clone(),
            subject_prefix: self.subject_prefix.clone(),
            replicas: self.replicas,
            duplicate_window: Duration::from_secs(self.duplicate_window_secs),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {field}: {problem}")]
    Invalid {
        path: String,
        field: String,
        problem: String,
    },
}

impl std::fmt::Debug for SignoffConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignoffConfig")
            .field("nats_url", &signoff_client::redacted_url(&self.nats_url))
            .field("stream", &self.stream)
            .field("auth", &self.auth)
            .field("webhooks", &self.webhooks)
            .finish_non_exhaustive()
    }
}

impl SignoffConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        let mut de = serde_json::Deserializer::from_str(&text);
        let config: SignoffConfig =
            serde_path_to_error::deserialize(&mut de).map_err(|e| ConfigError::Invalid {
                path: shown.clone(),
                field: e.path().to_string(),
                problem: e.into_inner().to_string(),
            })?;
        config
            .directory
            .validate()
            .map_err(|problem| ConfigError::Invalid {
                path: shown.clone(),
                field: "directory".into(),
                problem,
            })?;
        for (i, webhook) in config.webhooks.iter().enumerate() {
            webhook
                .validate()
                .map_err(|(field, problem)| ConfigError::Invalid {
                    path: shown.clone(),
                    field: format!("webhooks[{i}].{field}"),
                    problem,
                })?;
        }
        Ok(config)
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(
            path,
            serde_json::to_string_pretty(self).expect("config serializes") + "\n",
        )
    }
}
