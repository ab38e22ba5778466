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
    /// The command gateway's settings.
    #[serde(default)]
    pub gateway: GatewayConfig,
    /// The projector's (and `signoff rebuild`'s) database settings.
    #[serde(default)]
    pub projection: ProjectionConfig,
    /// HTTP endpoints that receive decisions (`signoff webhooks run`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<WebhookConfig>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayConfig {
    /// Requests a gateway keeps loaded, the least recently written evicted
    /// first (a few KiB each). A command on a request not kept first reads
    /// its history from the log (two direct gets for a short one), so size
    /// this to the requests open at once.
    pub cache_requests: usize,
    /// Commands a gateway handles at once; the rest wait in its
    /// subscription in arrival order. More lets more commands share each
    /// read and write of the connection, at about 3 KiB each in flight.
    pub max_in_flight: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            cache_requests: signoff_eventstore::DEFAULT_CACHE_CAPACITY,
            max_in_flight: crate::gateway::DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectionConfig {
    /// MiB of sled's page cache for the projection database (default 64).
    /// The projector's memory grows with it; a catch-up over a database
    /// larger than the cache re-reads evicted pages from disk, so a rebuild
    /// of a large log runs faster with more (see docs/operations.md).
    #[serde(rename = "cacheMiB")]
    pub cache_mib: u64,
    /// The projector's durable consumer (default `signoff-projector`). Each
    /// read side needs its own: a projector recreates its consumer from its
    /// database's checkpoint, so two on one name delete each other's.
    #[serde(rename = "consumerName")]
    pub consumer_name: String,
}

impl Default for ProjectionConfig {
    fn default() -> Self {
        Self {
            cache_mib: signoff_projections::DEFAULT_CACHE_MIB,
            consumer_name: signoff_projections::projector::CONSUMER.into(),
        }
    }
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
    /// What JetStream would refuse later, with an error that names no
    /// field, refused here by name.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let token_ok = |t: &str| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_graphic() && !b"*>.".contains(&b))
        };
        if !token_ok(&self.name) || self.name.contains(['/', '\\']) {
            return Err((
                "name",
                format!("`{}` is not a stream name: printable ASCII without `.`, `*`, `>`, `/`, `\\` or spaces", self.name),
            ));
        }
        if !self.subject_prefix.split('.').all(token_ok) {
            return Err((
                "subjectPrefix",
                format!("`{}` is not a subject prefix: dot-separated tokens, none empty, no wildcards or spaces", self.subject_prefix),
            ));
        }
        if !(1..=5).contains(&self.replicas) {
            return Err((
                "replicas",
                format!(
                    "is {}; JetStream keeps 1 to 5 replicas (3 in a cluster)",
                    self.replicas
                ),
            ));
        }
        if self.duplicate_window_secs == 0 {
            return Err(("duplicateWindowSecs", "must be at least 1".into()));
        }
        Ok(())
    }

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
            .field("gateway", &self.gateway)
            .field("projection", &self.projection)
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
        let sizes = [
            (
                "gateway.cacheRequests",
                config.gateway.cache_requests as u64,
            ),
            ("gateway.maxInFlight", config.gateway.max_in_flight as u64),
            ("projection.cacheMiB", config.projection.cache_mib),
        ];
        if let Some((field, _)) = sizes.iter().find(|(_, size)| *size == 0) {
            return Err(ConfigError::Invalid {
                path: shown,
                field: (*field).into(),
                problem: "must be at least 1".into(),
            });
        }
        let consumer = &config.projection.consumer_name;
        if consumer.is_empty()
            || consumer.len() > 64
            || !consumer
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ConfigError::Invalid {
                path: shown,
                field: "projection.consumerName".into(),
                problem: format!("`{consumer}` is not a consumer name: 1 to 64 of a-z A-Z 0-9 - _"),
            });
        }
        config
            .stream
            .validate()
            .map_err(|(field, problem)| ConfigError::Invalid {
                path: shown.clone(),
                field: format!("stream.{field}"),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load_with(
        dir: &Path,
        change: impl FnOnce(&mut serde_json::Value),
    ) -> Result<SignoffConfig, ConfigError> {
        let mut value = serde_json::json!({
            "natsUrl": "nats://127.0.0.1:4222",
            "auth": crate::identity::dev_auth_config(),
            "directory": crate::dev::demo_directory(),
        });
        change(&mut value);
        let path = dir.join("signoff.json");
        std::fs::write(&path, value.to_string()).unwrap();
        SignoffConfig::load(&path)
    }

    #[test]
    fn the_gateway_sizes_default_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let defaults = GatewayConfig {
            cache_requests: signoff_eventstore::DEFAULT_CACHE_CAPACITY,
            max_in_flight: crate::gateway::DEFAULT_MAX_IN_FLIGHT,
        };
        assert_eq!(GatewayConfig::default(), defaults);
        // Absent, empty, or either size alone: the rest at their defaults.
        for (gateway, expected) in [
            (None, defaults.clone()),
            (Some(serde_json::json!({})), defaults.clone()),
            (
                Some(serde_json::json!({"cacheRequests": 50000})),
                GatewayConfig {
                    cache_requests: 50_000,
                    ..defaults.clone()
                },
            ),
            (
                Some(serde_json::json!({"maxInFlight": 64})),
                GatewayConfig {
                    max_in_flight: 64,
                    ..defaults.clone()
                },
            ),
        ] {
            let config = load_with(dir.path(), |v| {
                if let Some(gateway) = &gateway {
                    v["gateway"] = gateway.clone();
                }
            })
            .unwrap();
            assert_eq!(config.gateway, expected, "{gateway:?}");
        }
        for (gateway, field, problem) in [
            (
                serde_json::json!({"maxInFlight": 0}),
                "gateway.maxInFlight",
                "must be at least 1",
            ),
            (
                serde_json::json!({"maxInFlight": "many"}),
                "gateway.maxInFlight",
                "invalid type",
            ),
            (
                serde_json::json!({"cacheRequests": 0}),
                "gateway.cacheRequests",
                "must be at least 1",
            ),
            (
                serde_json::json!({"cacheRequests": -1}),
                "gateway.cacheRequests",
                "invalid value",
            ),
            (
                serde_json::json!({"cacheSize": 5}),
                "gateway.cacheSize",
                "unknown field `cacheSize`",
            ),
        ] {
            assert_refused(dir.path(), "gateway", gateway, field, problem);
        }
    }

    #[test]
    fn the_projection_cache_defaults_and_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let config = load_with(dir.path(), |_| {}).unwrap();
        assert_eq!(
            config.projection.cache_mib,
            signoff_projections::DEFAULT_CACHE_MIB
        );
        let config = load_with(dir.path(), |v| {
            v["projection"] = serde_json::json!({"cacheMiB": 1024})
        })
        .unwrap();
        assert_eq!(config.projection.cache_mib, 1024);
        for (projection, field, problem) in [
            (
                serde_json::json!({"cacheMiB": 0}),
                "projection.cacheMiB",
                "must be at least 1",
            ),
            (
                serde_json::json!({"cacheMiB": "1 GiB"}),
                "projection.cacheMiB",
                "invalid type",
            ),
            (
                serde_json::json!({"cacheMib": 512}),
                "projection.cacheMib",
                "unknown field `cacheMib`",
            ),
            (
                serde_json::json!({"consumerName": ""}),
                "projection.consumerName",
                "not a consumer name",
            ),
            (
                serde_json::json!({"consumerName": "read.side"}),
                "projection.consumerName",
                "not a consumer name",
            ),
        ] {
            assert_refused(dir.path(), "projection", projection, field, problem);
        }
        let named = load_with(dir.path(), |v| {
            v["projection"] = serde_json::json!({"consumerName": "projector-eu-1"})
        })
        .unwrap();
        assert_eq!(
            named.projection,
            ProjectionConfig {
                consumer_name: "projector-eu-1".into(),
                ..ProjectionConfig::default()
            }
        );
    }

    #[test]
    fn stream_settings_jetstream_would_refuse_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let stream = |change: serde_json::Value| {
            let mut value = serde_json::to_value(StreamConfig::default()).unwrap();
            for (k, v) in change.as_object().unwrap() {
                value[k] = v.clone();
            }
            value
        };
        for (change, field, problem) in [
            (
                serde_json::json!({"replicas": 0}),
                "stream.replicas",
                "1 to 5",
            ),
            (
                serde_json::json!({"replicas": 7}),
                "stream.replicas",
                "1 to 5",
            ),
            (
                serde_json::json!({"name": ""}),
                "stream.name",
                "not a stream name",
            ),
            (
                serde_json::json!({"name": "SIGNOFF.EVENTS"}),
                "stream.name",
                "not a stream name",
            ),
            (
                serde_json::json!({"name": "my stream"}),
                "stream.name",
                "not a stream name",
            ),
            (
                serde_json::json!({"subjectPrefix": "signoff..events"}),
                "stream.subjectPrefix",
                "not a subject prefix",
            ),
            (
                serde_json::json!({"subjectPrefix": "signoff.*"}),
                "stream.subjectPrefix",
                "not a subject prefix",
            ),
            (
                serde_json::json!({"subjectPrefix": ""}),
                "stream.subjectPrefix",
                "not a subject prefix",
            ),
            (
                serde_json::json!({"duplicateWindowSecs": 0}),
                "stream.duplicateWindowSecs",
                "at least 1",
            ),
        ] {
            assert_refused(dir.path(), "stream", stream(change), field, problem);
        }
        let cluster = load_with(dir.path(), |v| {
            v["stream"] = stream(serde_json::json!({"replicas": 3}))
        });
        assert!(cluster.is_ok(), "{cluster:?}");
    }

    /// A config whose `section` is `value` is refused, naming `field` and `problem`.
    fn assert_refused(
        dir: &Path,
        section: &str,
        value: serde_json::Value,
        field: &str,
        problem: &str,
    ) {
        match load_with(dir, |v| v[section] = value.clone()) {
            Err(ConfigError::Invalid {
                field: f,
                problem: p,
                ..
            }) => {
                assert_eq!(f, field, "{value}");
                assert!(p.contains(problem), "{value}: {p}");
            }
            other => panic!("{value}: {other:?}"),
        }
    }
}
