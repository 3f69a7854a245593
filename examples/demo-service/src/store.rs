//! The service's state: products and orders in memory, behind one mutex that is never held
//! across an `.await`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::sync::Notify;

use crate::pricing::Quote;

/// A product in the catalogue.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Product {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) category: String,
    pub(crate) price_cents: u64,
    pub(crate) stock: u32,
}

/// Where an order is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OrderStatus {
    Placed,
    Cancelled,
}

/// One line of a placed order.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct OrderLine {
    pub(crate) product_id: u64,
    pub(crate) quantity: u32,
    pub(crate) unit_price_cents: u64,
}

/// A placed order.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Order {
    pub(crate) id: u64,
    pub(crate) customer: String,
    pub(crate) lines: Vec<OrderLine>,
    pub(crate) quote: Quote,
    pub(crate) status: OrderStatus,
}

/// Products and orders, with the next free id of each.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub(crate) products: BTreeMap<u64, Product>,
    pub(crate) orders: BTreeMap<u64, Order>,
    next_product_id: u64,
    next_order_id: u64,
}

impl Store {
    /// A store with a small seeded catalogue, so a fresh service has something to sell.
    pub(crate) fn seeded() -> Self {
        let mut store = Store::default();
        for (name, category, price_cents, stock) in [
            ("Espresso beans 1kg", "coffee", 2_450, 40),
            ("Filter papers", "coffee", 399, 200),
            ("Pour-over kettle", "equipment", 5_900, 5),
            ("Burr grinder", "equipment", 12_900, 2),
            ("Ceramic mug", "kitchen", 1_200, 0),
        ] {
            store.add_product(name.to_owned(), category.to_owned(), price_cents, stock);
        }
        store
    }

    /// Adds a product and returns it with its new id.
    pub(crate) fn add_product(
        &mut self,
        name: String,
        category: String,
        price_cents: u64,
        stock: u32,
    ) -> Product {
        self.next_product_id += 1;
        let product = Product {
            id: self.next_product_id,
            name,
            category,
            price_cents,
            stock,
        };
        self.products.insert(product.id, product.clone());
        product
    }

    /// The id the next order gets.
    pub(crate) fn take_order_id(&mut self) -> u64 {
        self.next_order_id += 1;
        self.next_order_id
    }
}

/// What every handler shares: the store and the shutdown trigger.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    store: Arc<Mutex<Store>>,
    /// Notified by `POST /shutdown`; the server then shuts down gracefully.
    pub(crate) shutdown: Arc<Notify>,
}

impl AppState {
    pub(crate) fn new(store: Store) -> Self {
        Self {
            store: Arc::new(Mutex::new(store)),
            shutdown: Arc::new(Notify::new()),
        }
    }

    /// Locks the store. A handler that panicked while holding the lock cannot leave the
    /// maps half-updated in a way later requests would misread, so poison is ignored.
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
