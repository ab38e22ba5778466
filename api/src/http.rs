//! The HTTP query API (being written): routes over the projection database.

use std::future::Future;
use std::sync::Arc;

use signoff_engine::TeamDirectory;
use signoff_projections::ProjectionDb;

use crate::identity::TokenVerifier;

/// What every route reads from.
#[derive(Clone)]
pub struct ApiState {
    pub db: ProjectionDb,
    pub verifier: TokenVerifier,
    pub directory: Arc<dyn TeamDirectory>,
}

pub fn router(state: ApiState) -> axum::Router {
    let _ = state;
    axum::Router::new()
}

/// Serves `router(state)` on an already-bound listener until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}
