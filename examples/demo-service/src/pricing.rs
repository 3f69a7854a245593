//! Pricing: discount codes, bulk discounts and shipping. Pure functions of an order's lines,
//! so each rule is a separate branch that a test either reaches or does not.

use serde::Serialize;

/// Orders whose discounted subtotal reaches this ship for free.
pub(crate) const FREE_SHIPPING_FROM_CENTS: u64 = 5_000;
/// Flat shipping fee below [`FREE_SHIPPING_FROM_CENTS`].
pub(crate) const SHIPPING_CENTS: u64 = 499;
/// A line with at least this many units gets [`BULK_PERCENT`] off.
pub(crate) const BULK_QUANTITY: u32 = 10;
/// The bulk discount, in percent of the line's price.
pub(crate) const BULK_PERCENT: u64 = 5;

/// One order line as pricing sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PricedLine {
    pub(crate) unit_price_cents: u64,
    pub(crate) quantity: u32,
}

/// What an order costs and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Quote {
    pub(crate) subtotal_cents: u64,
    pub(crate) discount_cents: u64,
    pub(crate) shipping_cents: u64,
    pub(crate) total_cents: u64,
    /// The names of the rules that changed the price, in the order they were applied.
    pub(crate) applied: Vec<String>,
}

/// Prices `lines` with an optional discount `code`. Unknown codes and codes whose
/// condition is not met are errors, so a customer is never silently charged full price.
pub(crate) fn quote(lines: &[PricedLine], code: Option<&str>) -> Result<Quote, String> {
    let mut applied = Vec::new();
    let mut subtotal_cents = 0;
    let mut discount_cents = 0;
    for line in lines {
        let line_cents = line.unit_price_cents * u64::from(line.quantity);
        subtotal_cents += line_cents;
        if line.quantity >= BULK_QUANTITY {
            discount_cents += line_cents * BULK_PERCENT / 100;
            if !applied.iter().any(|rule| rule == "bulk") {
                applied.push("bulk".to_owned());
            }
        }
    }

    let mut free_shipping = false;
    match code.map(str::trim).map(str::to_ascii_uppercase).as_deref() {
        None | Some("") => {}
        Some("SAVE10") => {
            discount_cents += (subtotal_cents - discount_cents) / 10;
            applied.push("SAVE10".to_owned());
        }
        Some("FLAT5") => {
            if subtotal_cents < 2_000 {
                return Err("FLAT5 needs a subtotal of at least 20.00".to_owned());
            }
            discount_cents += 500;
            applied.push("FLAT5".to_owned());
        }
        Some("FREESHIP") => {
            free_shipping = true;
            applied.push("FREESHIP".to_owned());
        }
        Some(other) => return Err(format!("unknown discount code `{other}`")),
    }

    let discounted_cents = subtotal_cents.saturating_sub(discount_cents);
    let shipping_cents = if free_shipping || discounted_cents >= FREE_SHIPPING_FROM_CENTS {
        0
    } else {
        SHIPPING_CENTS
    };
    Ok(Quote {
        subtotal_cents,
        discount_cents,
        shipping_cents,
        total_cents: discounted_cents + shipping_cents,
        applied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(unit_price_cents: u64, quantity: u32) -> PricedLine {
        PricedLine {
            unit_price_cents,
            quantity,
        }
    }

    #[test]
    fn small_order_pays_shipping() {
        let quote = quote(&[line(399, 2)], None).unwrap();
        assert_eq!(quote.subtotal_cents, 798);
        assert_eq!(quote.shipping_cents, SHIPPING_CENTS);
        assert_eq!(quote.total_cents, 798 + SHIPPING_CENTS);
        assert!(quote.applied.is_empty());
    }

    #[test]
    fn bulk_then_code_discounts_stack() {
        let quote = quote(&[line(399, 12), line(2_450, 1)], Some(" save10 ")).unwrap();
        // 4788 + 2450 = 7238; bulk 5 % of 4788 = 239; 10 % of 6999 = 699.
        assert_eq!(quote.discount_cents, 239 + 699);
        assert_eq!(quote.shipping_cents, 0);
        assert_eq!(quote.applied, ["bulk", "SAVE10"]);
    }

    #[test]
    fn codes_with_unmet_conditions_or_unknown_names_are_errors() {
        assert!(quote(&[line(399, 1)], Some("FLAT5")).is_err());
        assert!(quote(&[line(399, 1)], Some("HALFOFF")).is_err());
        let free = quote(&[line(399, 1)], Some("freeship")).unwrap();
        assert_eq!(free.shipping_cents, 0);
    }
}
