//! The router: every route of the service in one table.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};

use crate::store::AppState;
use crate::{inventory, orders};

/// Builds the service's router over `state`. `wrap_api` wraps every route but
/// `/shutdown`; the demo passes `|api| api.layer(coverage.layer())`, so that the Tusk layer
/// records or announces the API but not the shutdown (a recorded shutdown would stop the
/// service in the middle of a replay). `bench-service` compiles this module too and passes
/// the routes through unchanged.
pub(crate) fn router(
    state: AppState,
    wrap_api: impl FnOnce(Router<AppState>) -> Router<AppState>,
) -> Router {
    let api = Router::new()
        .route("/health", get(health))
        .route("/products", get(inventory::list).post(inventory::create))
        .route("/products/{id}", get(inventory::get))
        .route("/products/{id}/restock", post(inventory::restock))
        .route("/orders", post(orders::place))
        .route("/orders/{id}", get(orders::get))
        .route("/orders/{id}/quote", get(orders::quote_in))
        .route("/orders/{id}/cancel", post(orders::cancel));
    wrap_api(api)
        .route("/shutdown", post(shutdown))
        .with_state(state)
}

/// `GET /health`.
async fn health() -> &'static str {
    "ok"
}

/// `POST /shutdown`: answers 202, then the server stops accepting connections, finishes
/// the requests in flight and the process exits normally (writing its LLVM profile).
async fn shutdown(State(state): State<AppState>) -> (StatusCode, &'static str) {
    tracing::info!("shutdown requested over HTTP");
    state.shutdown.notify_one();
    (StatusCode::ACCEPTED, "shutting down\n")
}
