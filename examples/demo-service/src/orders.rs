//! Orders: placing one (validation, stock reservation, pricing), looking it up, and
//! cancelling it (which puts the stock back).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use crate::error::ApiError;
use crate::pricing::{self, PricedLine};
use crate::store::{AppState, Order, OrderLine, OrderStatus};

/// The most units of one product a single order may hold.
const MAX_QUANTITY: u32 = 100;

/// One requested line of `POST /orders`.
#[derive(Debug, Deserialize)]
pub(crate) struct RequestedLine {
    product_id: u64,
    quantity: u32,
}

/// Body of `POST /orders`.
#[derive(Debug, Deserialize)]
pub(crate) struct NewOrder {
    customer: String,
    items: Vec<RequestedLine>,
    discount_code: Option<String>,
}

/// `POST /orders`: 201 with the order; 422 on invalid input or an unusable discount code,
/// 404 for an unknown product, 409 when stock is short. Either every line is reserved or
/// none is.
pub(crate) async fn place(
    State(state): State<AppState>,
    Json(new): Json<NewOrder>,
) -> Result<(StatusCode, Json<Order>), ApiError> {
    let customer = new.customer.trim();
    if customer.is_empty() {
        return Err(ApiError::Invalid("customer is required".to_owned()));
    }
    if new.items.is_empty() {
        return Err(ApiError::Invalid(
            "an order needs at least one item".to_owned(),
        ));
    }
    // Merge repeated products so the stock check sees the whole quantity.
    let mut wanted: BTreeMap<u64, u32> = BTreeMap::new();
    for item in &new.items {
        if item.quantity == 0 || item.quantity > MAX_QUANTITY {
            return Err(ApiError::Invalid(format!(
                "quantity of product {} must be between 1 and {MAX_QUANTITY}",
                item.product_id
            )));
        }
        *wanted.entry(item.product_id).or_default() += item.quantity;
    }

    let mut store = state.store();
    let mut lines = Vec::with_capacity(wanted.len());
    for (&product_id, &quantity) in &wanted {
        let product = store
            .products
            .get(&product_id)
            .ok_or_else(|| ApiError::NotFound(format!("no product {product_id}")))?;
        if product.stock < quantity {
            return Err(ApiError::Conflict(format!(
                "only {} of `{}` in stock, {quantity} wanted",
                product.stock, product.name
            )));
        }
        lines.push(OrderLine {
            product_id,
            quantity,
            unit_price_cents: product.price_cents,
        });
    }

    let priced: Vec<PricedLine> = lines
        .iter()
        .map(|line| PricedLine {
            unit_price_cents: line.unit_price_cents,
            quantity: line.quantity,
        })
        .collect();
    let quote = pricing::quote(&priced, new.discount_code.as_deref()).map_err(ApiError::Invalid)?;

    for line in &lines {
        if let Some(product) = store.products.get_mut(&line.product_id) {
            product.stock -= line.quantity;
        }
    }
    let order = Order {
        id: store.take_order_id(),
        customer: customer.to_owned(),
        lines,
        quote,
        status: OrderStatus::Placed,
    };
    store.orders.insert(order.id, order.clone());
    tracing::info!(
        id = order.id,
        total = order.quote.total_cents,
        "order placed"
    );
    Ok((StatusCode::CREATED, Json(order)))
}

/// `GET /orders/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Json<Order>, ApiError> {
    state
        .store()
        .orders
        .get(&id)
        .cloned()
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no order {id}")))
}

/// `POST /orders/{id}/cancel`: puts the stock back; 409 when already cancelled.
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Json<Order>, ApiError> {
    let mut store = state.store();
    let order = store
        .orders
        .get_mut(&id)
        .ok_or_else(|| ApiError::NotFound(format!("no order {id}")))?;
    if order.status == OrderStatus::Cancelled {
        return Err(ApiError::Conflict(format!(
            "order {id} is already cancelled"
        )));
    }
    order.status = OrderStatus::Cancelled;
    let order = order.clone();
    for line in &order.lines {
        if let Some(product) = store.products.get_mut(&line.product_id) {
            product.stock = product.stock.saturating_add(line.quantity);
        }
    }
    Ok(Json(order))
}
