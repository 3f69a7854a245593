//! Orders: placing one (validation, stock reservation, pricing, in one transaction),
//! looking it up, quoting it in another currency, and cancelling it (which puts the stock
//! back).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::postgres::PgConnection;

use crate::error::ApiError;
use crate::pricing::{self, PricedLine, Quote};
use crate::rates::Conversion;
use crate::store::{self, AppState, Order, OrderLine, OrderStatus};

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
/// none is: the reservation is one transaction, rolled back on any of these errors.
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
        let total = wanted.entry(item.product_id).or_default();
        *total = total.saturating_add(item.quantity);
    }

    let mut transaction = state.db.begin().await?;
    let outcome = reserve_and_record(
        &mut transaction,
        customer,
        &wanted,
        new.discount_code.as_deref(),
    )
    .await;
    let order = store::finish(transaction, outcome).await?;
    tracing::info!(
        id = order.id,
        total = order.quote.total_cents,
        "order placed"
    );
    Ok((StatusCode::CREATED, Json(order)))
}

/// Inside the order's transaction: locks and reserves each product in id order (so two
/// orders never wait on each other crosswise), prices the lines and records the order.
async fn reserve_and_record(
    connection: &mut PgConnection,
    customer: &str,
    wanted: &BTreeMap<u64, u32>,
    discount_code: Option<&str>,
) -> Result<Order, ApiError> {
    let mut lines = Vec::with_capacity(wanted.len());
    for (&product_id, &quantity) in wanted {
        let not_found = || ApiError::NotFound(format!("no product {product_id}"));
        let key = i64::try_from(product_id).map_err(|_| not_found())?;
        let row =
            sqlx::query("SELECT name, price_cents, stock FROM products WHERE id = $1 FOR UPDATE")
                .bind(key)
                .fetch_optional(&mut *connection)
                .await?
                .ok_or_else(not_found)?;
        let stock: i32 = row.try_get("stock")?;
        let quantity = i32::try_from(quantity).unwrap_or(i32::MAX);
        if stock < quantity {
            let name: String = row.try_get("name")?;
            return Err(ApiError::Conflict(format!(
                "only {stock} of `{name}` in stock, {quantity} wanted"
            )));
        }
        sqlx::query("UPDATE products SET stock = stock - $2 WHERE id = $1")
            .bind(key)
            .bind(quantity)
            .execute(&mut *connection)
            .await?;
        lines.push(OrderLine {
            product_id: key,
            quantity,
            unit_price_cents: row.try_get("price_cents")?,
        });
    }

    let priced = lines
        .iter()
        .map(|line| {
            Ok(PricedLine {
                unit_price_cents: store::cents(line.unit_price_cents)?,
                quantity: u32::try_from(line.quantity).unwrap_or(0),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let quote = pricing::quote(&priced, discount_code).map_err(ApiError::Invalid)?;

    let id: i64 = sqlx::query_scalar(
        "INSERT INTO orders (customer, status, subtotal_cents, discount_cents, shipping_cents, \
         total_cents, applied) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(customer)
    .bind(OrderStatus::Placed.as_str())
    .bind(store::column(quote.subtotal_cents)?)
    .bind(store::column(quote.discount_cents)?)
    .bind(store::column(quote.shipping_cents)?)
    .bind(store::column(quote.total_cents)?)
    .bind(&quote.applied)
    .fetch_one(&mut *connection)
    .await?;
    for (line_no, line) in (1_i32..).zip(&lines) {
        sqlx::query(
            "INSERT INTO order_lines (order_id, line_no, product_id, quantity, \
             unit_price_cents) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(line_no)
        .bind(line.product_id)
        .bind(line.quantity)
        .bind(line.unit_price_cents)
        .execute(&mut *connection)
        .await?;
    }
    Ok(Order {
        id,
        customer: customer.to_owned(),
        lines,
        quote,
        status: OrderStatus::Placed,
    })
}

/// `GET /orders/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Json<Order>, ApiError> {
    let mut connection = state.db.acquire().await?;
    find(&mut connection, id).await.map(Json)
}

/// The order `id`, or a 404.
async fn find(connection: &mut PgConnection, id: u64) -> Result<Order, ApiError> {
    let not_found = || ApiError::NotFound(format!("no order {id}"));
    let key = i64::try_from(id).map_err(|_| not_found())?;
    store::load_order(connection, key)
        .await?
        .ok_or_else(not_found)
}

/// Query of `GET /orders/{id}/quote`.
#[derive(Debug, Deserialize)]
pub(crate) struct QuoteQuery {
    currency: Option<String>,
}

/// Body of `GET /orders/{id}/quote`: the order's quote in the currency's minor unit.
#[derive(Debug, Serialize)]
pub(crate) struct CurrencyQuote {
    order_id: i64,
    #[serde(flatten)]
    conversion: Conversion,
    subtotal: u64,
    discount: u64,
    shipping: u64,
    /// `subtotal - discount + shipping`, each converted on its own, so the quote adds up
    /// in the currency it is shown in.
    total: u64,
    applied: Vec<String>,
}

/// `GET /orders/{id}/quote?currency=`: the order's quote converted by the rates service;
/// 422 without a currency or for one it does not know, 404 for an unknown order, 409 for a
/// cancelled one, 502 if the rates service cannot be reached.
pub(crate) async fn quote_in(
    State(state): State<AppState>,
    Path(id): Path<u64>,
    Query(query): Query<QuoteQuery>,
) -> Result<Json<CurrencyQuote>, ApiError> {
    let currency = query
        .currency
        .ok_or_else(|| ApiError::Invalid("currency is required".to_owned()))?;
    let order = {
        let mut connection = state.db.acquire().await?;
        find(&mut connection, id).await?
        // The connection goes back to the pool before the rates service is called.
    };
    if order.status == OrderStatus::Cancelled {
        return Err(ApiError::Conflict(format!("order {id} is cancelled")));
    }
    let conversion = state.rates.conversion(&currency).await?;
    let Quote {
        subtotal_cents,
        discount_cents,
        shipping_cents,
        applied,
        ..
    } = order.quote;
    let subtotal = conversion.convert(subtotal_cents);
    let discount = conversion.convert(discount_cents).min(subtotal);
    let shipping = conversion.convert(shipping_cents);
    Ok(Json(CurrencyQuote {
        order_id: order.id,
        total: (subtotal - discount).saturating_add(shipping),
        conversion,
        subtotal,
        discount,
        shipping,
        applied,
    }))
}

/// `POST /orders/{id}/cancel`: puts the stock back; 409 when already cancelled. One
/// transaction, rolled back on either error.
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Json<Order>, ApiError> {
    let mut transaction = state.db.begin().await?;
    let outcome = cancel_in(&mut transaction, id).await;
    store::finish(transaction, outcome).await.map(Json)
}

/// Inside the cancellation's transaction.
async fn cancel_in(connection: &mut PgConnection, id: u64) -> Result<Order, ApiError> {
    let not_found = || ApiError::NotFound(format!("no order {id}"));
    let key = i64::try_from(id).map_err(|_| not_found())?;
    let status: String = sqlx::query_scalar("SELECT status FROM orders WHERE id = $1 FOR UPDATE")
        .bind(key)
        .fetch_optional(&mut *connection)
        .await?
        .ok_or_else(not_found)?;
    if OrderStatus::parse(&status)? == OrderStatus::Cancelled {
        return Err(ApiError::Conflict(format!(
            "order {id} is already cancelled"
        )));
    }
    sqlx::query("UPDATE orders SET status = $2 WHERE id = $1")
        .bind(key)
        .bind(OrderStatus::Cancelled.as_str())
        .execute(&mut *connection)
        .await?;
    sqlx::query(
        "UPDATE products AS p \
         SET stock = LEAST(p.stock::bigint + l.quantity, 2147483647)::integer \
         FROM order_lines AS l WHERE l.order_id = $1 AND p.id = l.product_id",
    )
    .bind(key)
    .execute(&mut *connection)
    .await?;
    store::load_order(connection, key)
        .await?
        .ok_or_else(not_found)
}
