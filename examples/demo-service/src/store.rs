//! The service's state, kept in PostgreSQL: the schema and the seeded catalogue, the rows
//! as the API shows them, loading an order, ending a transaction, and what every handler
//! shares.

use std::sync::Arc;

use serde::Serialize;
use sqlx::postgres::{PgConnection, PgPool, PgRow};
use sqlx::{Postgres, Row, Transaction};
use tokio::sync::Notify;

use crate::error::ApiError;
use crate::pricing::Quote;
use crate::rates::Rates;

/// The schema and the seeded catalogue, as one simple-protocol batch (one implicit
/// transaction): the service owns its database, and every start begins from the same
/// state, the five products below and no orders, with ids counted from 1 again. The demo's
/// script and every recording rely on that.
///
/// Product names are unique whatever their case (`products_name_key`). Stock never goes
/// below zero, and every amount is in US cents.
const SCHEMA_AND_SEED: &str = "\
DROP TABLE IF EXISTS order_lines, orders, products;
CREATE TABLE products (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    category text NOT NULL,
    price_cents bigint NOT NULL CHECK (price_cents > 0),
    stock integer NOT NULL CHECK (stock >= 0)
);
CREATE UNIQUE INDEX products_name_key ON products (lower(name));
CREATE TABLE orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer text NOT NULL,
    status text NOT NULL CHECK (status IN ('placed', 'cancelled')),
    subtotal_cents bigint NOT NULL,
    discount_cents bigint NOT NULL,
    shipping_cents bigint NOT NULL,
    total_cents bigint NOT NULL,
    applied text[] NOT NULL
);
CREATE TABLE order_lines (
    order_id bigint NOT NULL REFERENCES orders (id),
    line_no integer NOT NULL,
    product_id bigint NOT NULL REFERENCES products (id),
    quantity integer NOT NULL CHECK (quantity > 0),
    unit_price_cents bigint NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
INSERT INTO products (name, category, price_cents, stock) VALUES
    ('Espresso beans 1kg', 'coffee', 2450, 40),
    ('Filter papers', 'coffee', 399, 200),
    ('Pour-over kettle', 'equipment', 5900, 5),
    ('Burr grinder', 'equipment', 12900, 2),
    ('Ceramic mug', 'kitchen', 1200, 0);
";

/// Creates the schema and seeds the catalogue, dropping what a previous run left.
pub(crate) async fn reset(db: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(SCHEMA_AND_SEED).execute(db).await?;
    Ok(())
}

/// A product in the catalogue.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Product {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) category: String,
    pub(crate) price_cents: i64,
    pub(crate) stock: i32,
}

impl sqlx::FromRow<'_, PgRow> for Product {
    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        Ok(Product {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            category: row.try_get("category")?,
            price_cents: row.try_get("price_cents")?,
            stock: row.try_get("stock")?,
        })
    }
}

/// Where an order is in its life (the `status` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OrderStatus {
    Placed,
    Cancelled,
}

impl OrderStatus {
    /// The column's text.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "placed",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    /// The status a column's text names.
    pub(crate) fn parse(text: &str) -> Result<Self, ApiError> {
        match text {
            "placed" => Ok(OrderStatus::Placed),
            "cancelled" => Ok(OrderStatus::Cancelled),
            other => Err(ApiError::Internal(format!(
                "unknown order status `{other}`"
            ))),
        }
    }
}

/// One line of a placed order.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct OrderLine {
    pub(crate) product_id: i64,
    pub(crate) quantity: i32,
    pub(crate) unit_price_cents: i64,
}

/// A placed order.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Order {
    pub(crate) id: i64,
    pub(crate) customer: String,
    pub(crate) lines: Vec<OrderLine>,
    pub(crate) quote: Quote,
    pub(crate) status: OrderStatus,
}

/// An amount read from the database as the pricing rules count it (the columns' checks keep
/// them positive).
pub(crate) fn cents(value: i64) -> Result<u64, ApiError> {
    u64::try_from(value).map_err(|_| ApiError::Internal(format!("negative amount {value}")))
}

/// An amount of the pricing rules as a column holds it.
pub(crate) fn column(value: u64) -> Result<i64, ApiError> {
    i64::try_from(value).map_err(|_| ApiError::Invalid(format!("amount {value} is too large")))
}

/// The order `id` with its lines, read on `connection` (a pooled connection or an open
/// transaction).
pub(crate) async fn load_order(
    connection: &mut PgConnection,
    id: i64,
) -> Result<Option<Order>, ApiError> {
    let row = sqlx::query(
        "SELECT id, customer, status, subtotal_cents, discount_cents, shipping_cents, \
         total_cents, applied FROM orders WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *connection)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let lines = sqlx::query(
        "SELECT product_id, quantity, unit_price_cents FROM order_lines \
         WHERE order_id = $1 ORDER BY line_no",
    )
    .bind(id)
    .fetch_all(&mut *connection)
    .await?
    .iter()
    .map(|line| {
        Ok(OrderLine {
            product_id: line.try_get("product_id")?,
            quantity: line.try_get("quantity")?,
            unit_price_cents: line.try_get("unit_price_cents")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Some(Order {
        id: row.try_get("id")?,
        customer: row.try_get("customer")?,
        lines,
        quote: Quote {
            subtotal_cents: cents(row.try_get("subtotal_cents")?)?,
            discount_cents: cents(row.try_get("discount_cents")?)?,
            shipping_cents: cents(row.try_get("shipping_cents")?)?,
            total_cents: cents(row.try_get("total_cents")?)?,
            applied: row.try_get("applied")?,
        },
        status: OrderStatus::parse(row.try_get("status")?)?,
    }))
}

/// Ends `transaction` as `outcome` says, COMMIT on success and ROLLBACK on an error, and
/// returns the outcome. Always explicit: a dropped sqlx transaction rolls back only when its
/// connection is next used, which may be for another request.
pub(crate) async fn finish<T>(
    transaction: Transaction<'static, Postgres>,
    outcome: Result<T, ApiError>,
) -> Result<T, ApiError> {
    match outcome {
        Ok(value) => {
            transaction.commit().await?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) = transaction.rollback().await {
                // The answer stays the original error; the connection is closed by sqlx.
                tracing::error!(error = %rollback, "ROLLBACK failed");
            }
            Err(error)
        }
    }
}

/// What every handler shares: the database, the rates service and the shutdown trigger.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    pub(crate) db: PgPool,
    pub(crate) rates: Rates,
    /// Notified by `POST /shutdown`; the server then shuts down gracefully.
    pub(crate) shutdown: Arc<Notify>,
}

impl AppState {
    pub(crate) fn new(db: PgPool, rates: Rates) -> Self {
        Self {
            db,
            rates,
            shutdown: Arc::new(Notify::new()),
        }
    }
}
