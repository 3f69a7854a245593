//! The catalogue: listing with filters and pagination, lookup, creation with validation,
//! and restocking.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::store::{AppState, Product};

/// Page size when the client asks for none.
const DEFAULT_PER_PAGE: usize = 10;
/// The largest page a client may ask for.
const MAX_PER_PAGE: usize = 50;
/// The most units one restock may add.
const MAX_RESTOCK: u32 = 1_000;

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

    let store = state.store();
    let matching: Vec<&Product> = store
        .products
        .values()
        .filter(|product| {
            query
                .category
                .as_deref()
                .is_none_or(|category| product.category.eq_ignore_ascii_case(category))
        })
        .filter(|product| !query.in_stock || product.stock > 0)
        .collect();
    let total = matching.len();
    let start = (page - 1).saturating_mul(per_page);
    let items: Vec<Product> = matching
        .into_iter()
        .skip(start)
        .take(per_page)
        .cloned()
        .collect();
    Ok(Json(ProductPage {
        has_more: start + items.len() < total,
        items,
        page,
        per_page,
        total,
    }))
}

/// `GET /products/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Json<Product>, ApiError> {
    state
        .store()
        .products
        .get(&id)
        .cloned()
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no product {id}")))
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
    if new.price_cents == 0 {
        return Err(ApiError::Invalid("price_cents must be positive".to_owned()));
    }

    let mut store = state.store();
    if store
        .products
        .values()
        .any(|product| product.name.eq_ignore_ascii_case(name))
    {
        return Err(ApiError::Conflict(format!(
            "a product named `{name}` exists"
        )));
    }
    let product = store.add_product(name.to_owned(), category, new.price_cents, new.stock);
    tracing::info!(id = product.id, "product created");
    Ok((StatusCode::CREATED, Json(product)))
}

/// Body of `POST /products/{id}/restock`.
#[derive(Debug, Deserialize)]
pub(crate) struct Restock {
    quantity: u32,
}

/// `POST /products/{id}/restock`: adds between 1 and 1000 units.
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
    let mut store = state.store();
    let product = store
        .products
        .get_mut(&id)
        .ok_or_else(|| ApiError::NotFound(format!("no product {id}")))?;
    product.stock = product.stock.saturating_add(restock.quantity);
    Ok(Json(product.clone()))
}
