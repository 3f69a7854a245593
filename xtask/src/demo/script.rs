//! The demo's script: the HTTP requests recorded, one per test, each with the status the
//! service answers. Together they reach most of the service's code, its calls to the
//! rates service and its statements of every kind (reads, transactions, failed
//! statements), and leave some of it (other discount codes, some validation) for the
//! report to show.

use cov_driver::replay::Test;

/// A scripted test, as written in [`SCRIPT`].
struct Scripted {
    id: &'static str,
    method: &'static str,
    path: &'static str,
    /// What the request is about, when the method and path alone do not say.
    what: Option<&'static str>,
    /// JSON body of a `POST`, if any.
    body: Option<&'static str>,
    expect_status: u16,
}

/// The demo's tests, in replay order.
pub(crate) fn steps() -> Vec<Test> {
    SCRIPT
        .iter()
        .map(|scripted| Test {
            id: scripted.id.to_owned(),
            name: match scripted.what {
                Some(what) => format!("{} {} ({what})", scripted.method, scripted.path),
                None => format!("{} {}", scripted.method, scripted.path),
            },
            method: scripted.method.to_owned(),
            target: scripted.path.to_owned(),
            headers: match scripted.body {
                Some(_) => vec![("content-type".to_owned(), "application/json".to_owned())],
                None => Vec::new(),
            },
            body: scripted.body.map(|body| body.as_bytes().to_vec()),
            expect_status: scripted.expect_status,
        })
        .collect()
}

/// The script, in replay order. The state carries over: the order placed by
/// `order-save10` is the one read and cancelled later.
const SCRIPT: &[Scripted] = &[
    Scripted {
        id: "health",
        method: "GET",
        path: "/health",
        what: None,
        body: None,
        expect_status: 200,
    },
    Scripted {
        id: "list-coffee",
        method: "GET",
        path: "/products?category=coffee&per_page=1",
        what: None,
        body: None,
        expect_status: 200,
    },
    Scripted {
        id: "list-bad-page",
        method: "GET",
        path: "/products?page=0",
        what: Some("invalid page"),
        body: None,
        expect_status: 422,
    },
    Scripted {
        id: "get-product",
        method: "GET",
        path: "/products/3",
        what: None,
        body: None,
        expect_status: 200,
    },
    Scripted {
        id: "get-missing-product",
        method: "GET",
        path: "/products/99",
        what: Some("missing"),
        body: None,
        expect_status: 404,
    },
    Scripted {
        id: "get-product-eur",
        method: "GET",
        path: "/products/1?currency=EUR",
        what: None,
        body: None,
        expect_status: 200,
    },
    Scripted {
        id: "get-product-usd",
        method: "GET",
        path: "/products/2?currency=usd",
        what: None,
        body: None,
        expect_status: 200,
    },
    Scripted {
        id: "get-product-unknown-currency",
        method: "GET",
        path: "/products/1?currency=XAU",
        what: Some("unknown"),
        body: None,
        expect_status: 422,
    },
    Scripted {
        id: "get-product-bad-currency",
        method: "GET",
        path: "/products/1?currency=EURO",
        what: Some("not a code"),
        body: None,
        expect_status: 422,
    },
    Scripted {
        id: "create-product",
        method: "POST",
        path: "/products",
        what: Some("new product"),
        body: Some(
            r#"{"name": "Gooseneck scale", "category": "Equipment", "price_cents": 3900, "stock": 3}"#,
        ),
        expect_status: 201,
    },
    Scripted {
        id: "create-duplicate-product",
        method: "POST",
        path: "/products",
        what: Some("duplicate name"),
        body: Some(r#"{"name": "GOOSENECK scale", "category": "equipment", "price_cents": 3900}"#),
        expect_status: 409,
    },
    Scripted {
        id: "create-invalid-product",
        method: "POST",
        path: "/products",
        what: Some("blank name"),
        body: Some(r#"{"name": "  ", "category": "coffee", "price_cents": 100}"#),
        expect_status: 422,
    },
    Scripted {
        id: "restock",
        method: "POST",
        path: "/products/5/restock",
        what: None,
        body: Some(r#"{"quantity": 12}"#),
        expect_status: 200,
    },
    Scripted {
        id: "order-save10",
        method: "POST",
        path: "/orders",
        what: Some("bulk + SAVE10"),
        body: Some(
            r#"{"customer": "ada", "items": [{"product_id": 1, "quantity": 1}, {"product_id": 2, "quantity": 12}], "discount_code": "save10"}"#,
        ),
        expect_status: 201,
    },
    Scripted {
        id: "order-short-stock",
        method: "POST",
        path: "/orders",
        what: Some("short stock"),
        body: Some(r#"{"customer": "bob", "items": [{"product_id": 4, "quantity": 3}]}"#),
        expect_status: 409,
    },
    Scripted {
        id: "order-unknown-code",
        method: "POST",
        path: "/orders",
        what: Some("unknown code"),
        body: Some(
            r#"{"customer": "cy", "items": [{"product_id": 2, "quantity": 1}], "discount_code": "HALFOFF"}"#,
        ),
        expect_status: 422,
    },
    Scripted {
        id: "order-unknown-product",
        method: "POST",
        path: "/orders",
        what: Some("unknown product"),
        body: Some(
            r#"{"customer": "dee", "items": [{"product_id": 2, "quantity": 1}, {"product_id": 42, "quantity": 1}]}"#,
        ),
        expect_status: 404,
    },
    Scripted {
        id: "get-order",
        method: "GET",
        path: "/orders/1",
        what: None,
        body: None,
        expect_status: 200,
    },
    Scripted {
        id: "quote-order-jpy",
        method: "GET",
        path: "/orders/1/quote?currency=JPY",
        what: None,
        body: None,
        expect_status: 200,
    },
    Scripted {
        id: "quote-order-no-currency",
        method: "GET",
        path: "/orders/1/quote",
        what: Some("no currency"),
        body: None,
        expect_status: 422,
    },
    Scripted {
        id: "cancel-order",
        method: "POST",
        path: "/orders/1/cancel",
        what: None,
        body: None,
        expect_status: 200,
    },
    Scripted {
        id: "cancel-again",
        method: "POST",
        path: "/orders/1/cancel",
        what: Some("again"),
        body: None,
        expect_status: 409,
    },
    Scripted {
        id: "quote-cancelled-order",
        method: "GET",
        path: "/orders/1/quote?currency=GBP",
        what: Some("cancelled"),
        body: None,
        expect_status: 409,
    },
];
