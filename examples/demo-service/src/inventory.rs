//! The catalogue: listing with filters and pagination, lookup (with the price in another
//! currency), creation with validation, and restocking.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::rates::Conversion;
use crate::store::{self, AppState, Product};

/// Page size when the client asks for none.
const DEFAULT_PER_PAGE: usize = 10;
/// The largest page a client may ask for.
const MAX_PER_PAGE: usize = 50;
/// The most units one restock may add.
const MAX_RESTOCK: u32 = 1_000;
/// The highest price a product may have, in cents (1,000,000.00).
const MAX_PRICE_CENTS: u64 = 100_000_000;

/// Query of `GET /products`.
#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    category: Option<String>,
    #[serde(default)]
    in_stock: bool,
    page: Option<usize>,
    per_page: Option<usize>,
}

/// Body of `GET /products`.
#[derive(Debug, Serialize)]
pub(crate) struct ProductPage {
    items: Vec<Product>,
    page: usize,
    per_page: usize,
    total: usize,
    has_more: bool,
}

/// `GET /products?category=&in_stock=&page=&per_page=`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<ProductPage>, ApiError> {
    let page = query.page.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::Invalid("page starts at 1".to_owned()));
    }
    let per_page = match query.per_page {
        None => DEFAULT_PER_PAGE,
        Some(n) if (1..=MAX_PER_PAGE).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::Invalid(format!(
                "per_page must be between 1 and {MAX_PER_PAGE}, not {n}"
            )));
        }
    };
    // Categories are stored in lower case; the filter ignores case as they are created.
    let category = query.category.map(|category| category.to_ascii_lowercase());
    let start = (page - 1).saturating_mul(per_page);

    let mut connection = state.db.acquire().await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM products \
         WHERE ($1::text IS NULL OR category = $1) AND (NOT $2 OR stock > 0)",
    )
    .bind(category.as_deref())
    .bind(query.in_stock)
    .fetch_one(&mut *connection)
    .await?;
    let total = usize::try_from(total).unwrap_or(0);
    let items: Vec<Product> = if start >= total {
        // Past the end: nothing to read.
        Vec::new()
    } else {
        sqlx::query_as(
            "SELECT id, name, category, price_cents, stock FROM products \
             WHERE ($1::text IS NULL OR category = $1) AND (NOT $2 OR stock > 0) \
             ORDER BY id LIMIT $3 OFFSET $4",
        )
        .bind(category.as_deref())
        .bind(query.in_stock)
        .bind(i64::try_from(per_page).unwrap_or(i64::MAX))
        .bind(i64::try_from(start).unwrap_or(i64::MAX))
        .fetch_all(&mut *connection)
        .await?
    };
    Ok(Json(ProductPage {
        has_more: start + items.len() < total,
        items,
        page,
        per_page,
        total,
    }))
}

/// Query of `GET /products/{id}`.
#[derive(Debug, Deserialize)]
pub(crate) struct PriceQuery {
    currency: Option<String>,
}

/// Body of `GET /products/{id}`: the product, and with `?currency=` its price there.
#[derive(Debug, Serialize)]
pub(crate) struct ProductView {
    #[serde(flatten)]
    product: Product,
    #[serde(skip_serializing_if = "Option::is_none")]
    converted: Option<ConvertedPrice>,
}

/// A product's price in another currency.
#[derive(Debug, Serialize)]
pub(crate) struct ConvertedPrice {
    #[serde(flatten)]
    conversion: Conversion,
    /// The price in the currency's minor unit.
    price_minor: u64,
}

/// `GET /products/{id}?currency=`: 404 if unknown; with a currency, the price converted by
/// the rates service (422 for a currency it does not know, 502 if it cannot be reached).
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(id): Path<u64>,
    Query(query): Query<PriceQuery>,
) -> Result<Json<ProductView>, ApiError> {
    let product = find(&state, id).await?;
    let converted = match query.currency.as_deref() {
        None => None,
        Some(currency) => {
            let conversion = state.rates.conversion(currency).await?;
            let price_minor = conversion.convert(store::cents(product.price_cents)?);
            Some(ConvertedPrice {
                conversion,
                price_minor,
            })
        }
    };
    Ok(Json(ProductView { product, converted }))
}

/// The product `id`, or a 404.
async fn find(state: &AppState, id: u64) -> Result<Product, ApiError> {
    let not_found = || ApiError::NotFound(format!("no product {id}"));
    // Ids are positive `bigint`s: a larger one names no product.
    let key = i64::try_from(id).map_err(|_| not_found())?;
    sqlx::query_as("SELECT id, name, category, price_cents, stock FROM products WHERE id = $1")
        .bind(key)
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(not_found)
}

/// Body of `POST /products`.
#[derive(Debug, Deserialize)]
pub(crate) struct NewProduct {
    name: String,
    category: String,
    price_cents: u64,
    #[serde(default)]
    stock: u32,
}

/// `POST /products`: 201 with the product, 422 on invalid fields, 409 on a duplicate name.
pub(crate) async fn create(
    State(state): State<AppState>,
    Json(new): Json<NewProduct>,
) -> Result<(StatusCode, Json<Product>), ApiError> {
    let name = new.name.trim();
    if name.is_empty() || name.len() > 64 {
        return Err(ApiError::Invalid(
            "name must have between 1 and 64 characters".to_owned(),
        ));
    }
    let category = new.category.trim().to_ascii_lowercase();
    if category.is_empty()
        || !category
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(ApiError::Invalid(
            "category must be letters, digits and dashes".to_owned(),
        ));
    }
    if new.price_cents == 0 || new.price_cents > MAX_PRICE_CENTS {
        return Err(ApiError::Invalid(format!(
            "price_cents must be between 1 and {MAX_PRICE_CENTS}"
        )));
    }
    let stock = i32::try_from(new.stock)
        .map_err(|_| ApiError::Invalid(format!("stock must be at most {}", i32::MAX)))?;

    // The unique index on lower(name) decides duplicates, so two concurrent creations of
    // the same name cannot both succeed.
    let inserted = sqlx::query_as(
        "INSERT INTO products (name, category, price_cents, stock) VALUES ($1, $2, $3, $4) \
         RETURNING id, name, category, price_cents, stock",
    )
    .bind(name)
    .bind(&category)
    .bind(store::column(new.price_cents)?)
    .bind(stock)
    .fetch_one(&state.db)
    .await;
    let product: Product = match inserted {
        Ok(product) => product,
        Err(sqlx::Error::Database(error)) if error.constraint() == Some("products_name_key") => {
            return Err(ApiError::Conflict(format!(
                "a product named `{name}` exists"
            )));
        }
        Err(error) => return Err(error.into()),
    };
    tracing::info!(id = product.id, "product created");
    Ok((StatusCode::CREATED, Json(product)))
}

/// Body of `POST /products/{id}/restock`.
#[derive(Debug, Deserialize)]
pub(crate) struct Restock {
    quantity: u32,
}

/// `POST /products/{id}/restock`: adds between 1 and 1000 units (stock saturates at the
/// column's maximum).
pub(crate) async fn restock(
    State(state): State<AppState>,
    Path(id): Path<u64>,
    Json(restock): Json<Restock>,
) -> Result<Json<Product>, ApiError> {
    if restock.quantity == 0 || restock.quantity > MAX_RESTOCK {
        return Err(ApiError::Invalid(format!(
            "quantity must be between 1 and {MAX_RESTOCK}"
        )));
    }
    let not_found = || ApiError::NotFound(format!("no product {id}"));
    let key = i64::try_from(id).map_err(|_| not_found())?;
    sqlx::query_as(
        "UPDATE products SET stock = LEAST(stock::bigint + $2, 2147483647)::integer \
         WHERE id = $1 RETURNING id, name, category, price_cents, stock",
    )
    .bind(key)
    .bind(i64::from(restock.quantity))
    .fetch_optional(&state.db)
    .await?
    .map(Json)
    .ok_or_else(not_found)
}
