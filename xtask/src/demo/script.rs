//! The scripted replay: the HTTP requests the demo sends, one per test, each with the
//! status a passing replay returns. Together they reach most of the service's code and
//! leave some of it (other discount codes, some validation) for the report to show.

use std::time::Duration;

use anyhow::Context;

/// One replayed test: a single HTTP request and the status it must answer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step {
    /// The test's id, as the Tusk CLI would use a trace id.
    pub(crate) id: &'static str,
    /// `GET` or `POST`.
    pub(crate) method: &'static str,
    /// Path and query.
    pub(crate) path: &'static str,
    /// What the request is about, when the method and path alone do not say.
    pub(crate) what: Option<&'static str>,
    /// JSON body of a `POST`, if any.
    pub(crate) body: Option<&'static str>,
    /// The status the service must answer.
    pub(crate) expect_status: u16,
}

impl Step {
    /// The display name: method, path and what it is about.
    pub(crate) fn name(&self) -> String {
        match self.what {
            Some(what) => format!("{} {} ({what})", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }
}

/// The demo's tests, in replay order. The state carries over: the order placed by
/// `order-save10` is the one read and cancelled later.
pub(crate) const STEPS: &[Step] = &[
    Step {
        id: "health",
        method: "GET",
        path: "/health",
        what: None,
        body: None,
        expect_status: 200,
    },
    Step {
        id: "list-coffee",
        method: "GET",
        path: "/products?category=coffee&per_page=1",
        what: None,
        body: None,
        expect_status: 200,
    },
    Step {
        id: "list-bad-page",
        method: "GET",
        path: "/products?page=0",
        what: Some("invalid page"),
        body: None,
        expect_status: 422,
    },
    Step {
        id: "get-product",
        method: "GET",
        path: "/products/3",
        what: None,
        body: None,
        expect_status: 200,
    },
    Step {
        id: "get-missing-product",
        method: "GET",
        path: "/products/99",
        what: Some("missing"),
        body: None,
        expect_status: 404,
    },
    Step {
        id: "create-product",
        method: "POST",
        path: "/products",
        what: Some("new product"),
        body: Some(
            r#"{"name": "Gooseneck scale", "category": "Equipment", "price_cents": 3900, "stock": 3}"#,
        ),
        expect_status: 201,
    },
    Step {
        id: "create-invalid-product",
        method: "POST",
        path: "/products",
        what: Some("blank name"),
        body: Some(r#"{"name": "  ", "category": "coffee", "price_cents": 100}"#),
        expect_status: 422,
    },
    Step {
        id: "restock",
        method: "POST",
        path: "/products/5/restock",
        what: None,
        body: Some(r#"{"quantity": 12}"#),
        expect_status: 200,
    },
    Step {
        id: "order-save10",
        method: "POST",
        path: "/orders",
        what: Some("bulk + SAVE10"),
        body: Some(
            r#"{"customer": "ada", "items": [{"product_id": 1, "quantity": 1}, {"product_id": 2, "quantity": 12}], "discount_code": "save10"}"#,
        ),
        expect_status: 201,
    },
    Step {
        id: "order-short-stock",
        method: "POST",
        path: "/orders",
        what: Some("short stock"),
        body: Some(r#"{"customer": "bob", "items": [{"product_id": 4, "quantity": 3}]}"#),
        expect_status: 409,
    },
    Step {
        id: "order-unknown-code",
        method: "POST",
        path: "/orders",
        what: Some("unknown code"),
        body: Some(
            r#"{"customer": "cy", "items": [{"product_id": 2, "quantity": 1}], "discount_code": "HALFOFF"}"#,
        ),
        expect_status: 422,
    },
    Step {
        id: "get-order",
        method: "GET",
        path: "/orders/1",
        what: None,
        body: None,
        expect_status: 200,
    },
    Step {
        id: "cancel-order",
        method: "POST",
        path: "/orders/1/cancel",
        what: None,
        body: None,
        expect_status: 200,
    },
    Step {
        id: "cancel-again",
        method: "POST",
        path: "/orders/1/cancel",
        what: Some("again"),
        body: None,
        expect_status: 409,
    },
];

/// Sends HTTP requests to the service. ureq, blocking: the driver is a sequential script.
pub(crate) struct Client {
    agent: ureq::Agent,
    base: String,
}

impl Client {
    /// A client for the service at `address` (`host:port`).
    pub(crate) fn new(address: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            // Error statuses are expected answers here, not failures of the request.
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        Self {
            agent,
            base: format!("http://{address}"),
        }
    }

    /// Sends `step`'s request and returns the status and body.
    pub(crate) fn send(&self, step: &Step) -> anyhow::Result<(u16, String)> {
        self.request(step.method, step.path, step.body)
    }

    /// Sends one request and returns the status and body.
    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> anyhow::Result<(u16, String)> {
        let url = format!("{}{path}", self.base);
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("POST", Some(body)) => self
                .agent
                .post(&url)
                .header("content-type", "application/json")
                .send(body),
            ("POST", None) => self.agent.post(&url).send_empty(),
            _ => anyhow::bail!("unsupported request {method} {path}"),
        }
        .with_context(|| format!("{method} {url}"))?;
        let status = response.status().as_u16();
        let text = response
            .into_body()
            .read_to_string()
            .with_context(|| format!("reading the answer to {method} {url}"))?;
        Ok((status, text))
    }
}
