//! The read side as one process: the projector (durable consumer → sled) and
//! the HTTP query API over the same database. sled locks its database to one
//! process, so each query API runs beside its own projector.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use signoff_projections::{ProjectionDb, Projector};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::SignoffConfig;
use crate::http::{self, ApiState};
use crate::identity::TokenVerifier;

/// The projector of a read side stopped on an error it cannot get past.
#[derive(Debug, thiserror::Error)]
#[error("the projector stopped: {0}")]
pub struct ProjectorStopped(pub String);

/// A running projector and query API.
pub struct ReadSide {
    pub db: ProjectionDb,
    /// Where the HTTP API listens.
    pub http_addr: SocketAddr,
    stop: Vec<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
    /// The projector's error, once it stops on one it cannot get past.
    failure: Option<oneshot::Receiver<String>>,
}

impl ReadSide {
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Resolves when the projector has stopped on an error it cannot get
    /// past (the disk full, a commit that does not replay, a corrupt
    /// database), with that error; never, while it runs. The process should
    /// then exit and say why, rather than serve a projection that no longer
    /// advances (read-your-writes callers would wait on it forever).
    pub async fn failed(&mut self) -> String {
        // Awaited in place, so a caller that selects on this and on other
        // things, and drops it, loses nothing; never polled once answered.
        if let Some(failure) = self.failure.as_mut() {
            let outcome = failure.await;
            self.failure = None;
            if let Ok(error) = outcome {
                return error;
            }
            // Stopped without an error (shut down): nothing to report.
        }
        std::future::pending().await
    }

    /// Waits for Ctrl-C (`Ok(Ok(()))`) or for the projector to fail
    /// (`Ok(Err(..))`): what a process running a read side waits on before
    /// shutting down, returning the inner error after it has (so that it
    /// exits non-zero: a supervisor restarts it, an operator sees why).
    pub async fn ctrl_c_or_failure(&mut self) -> std::io::Result<Result<(), ProjectorStopped>> {
        tokio::select! {
            stopped = tokio::signal::ctrl_c() => stopped.map(Ok),
            error = self.failed() => Ok(Err(ProjectorStopped(error))),
        }
    }

    /// Stops both and waits (the database is flushed after every batch anyway).
    pub async fn shutdown(mut self) {
        for stop in self.stop.drain(..) {
            let _ = stop.send(());
        }
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

/// Opens (or creates) the database at `db_path`, starts the projector and
/// serves the query API on `http`.
pub async fn start(
    config: &SignoffConfig,
    db_path: &Path,
    http: SocketAddr,
) -> anyhow::Result<ReadSide> {
    let db = ProjectionDb::open_with_cache(db_path, config.projection.cache_mib)
        .with_context(|| format!("opening {}", db_path.display()))?;
    let client = signoff_client::connect_nats(&config.nats_url)
        .await
        .with_context(|| {
            format!(
                "connecting to {}",
                signoff_client::redacted_url(&config.nats_url)
            )
        })?;
    let projector = Projector::new(client, config.stream.settings(), db.clone())
        .with_consumer_name(config.projection.consumer_name.clone());
    let (stop_projector, projector_stopped) = oneshot::channel::<()>();
    let (report_failure, failure) = oneshot::channel::<String>();
    let projector_task = tokio::spawn(async move {
        if let Err(e) = projector
            .run(async {
                let _ = projector_stopped.await;
            })
            .await
        {
            tracing::error!(error = %e, "projector stopped");
            let _ = report_failure.send(e.to_string());
        }
    });
    let listener = tokio::net::TcpListener::bind(http)
        .await
        .with_context(|| format!("binding {http}"))?;
    let http_addr = listener.local_addr()?;
    let state = ApiState {
        db: db.clone(),
        verifier: TokenVerifier::new(&config.auth)?,
        directory: Arc::new(config.directory.clone()),
    };
    let (stop_http, http_stopped) = oneshot::channel::<()>();
    let http_task = tokio::spawn(async move {
        let shutdown = async {
            let _ = http_stopped.await;
        };
        if let Err(e) = http::serve(listener, state, shutdown).await {
            tracing::error!(error = %e, "query API stopped");
        }
    });
    Ok(ReadSide {
        db,
        http_addr,
        stop: vec![stop_projector, stop_http],
        tasks: vec![projector_task, http_task],
        failure: Some(failure),
    })
}
