//! The records, and the generator both sources and the test's oracle use.

use serde::{Deserialize, Serialize};

/// A payment comes at most this long (event time) after its order.
pub const MAX_DELAY_MS: i64 = 4_000;

/// An order; order `i` happens at `10 i` ms of event time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub customer: u32,
    pub amount_cents: u64,
    pub time_ms: i64,
}

/// The payment of one order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    pub order_id: u64,
    pub time_ms: i64,
}

/// What the job says about an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub order_id: u64,
    pub customer: u32,
    pub amount_cents: u64,
    pub paid: bool,
}

/// How a record is written: one line of text.
pub trait Line {
    fn line(&self) -> String;
}

impl Line for Payment {
    /// `order_id,time_ms`.
    fn line(&self) -> String {
        format!("{},{}", self.order_id, self.time_ms)
    }
}

impl Line for Verdict {
    /// `order_id,customer,amount_cents,paid|unpaid`.
    fn line(&self) -> String {
        format!(
            "{},{},{},{}",
            self.order_id,
            self.customer,
            self.amount_cents,
            if self.paid { "paid" } else { "unpaid" }
        )
    }
}

impl Verdict {
    pub fn of(o: &Order, paid: bool) -> Self {
        Self {
            order_id: o.id,
            customer: o.customer,
            amount_cents: o.amount_cents,
            paid,
        }
    }
}

/// Orders and payments from a seed: record `i` of either stream is a pure
/// function of `(seed, i)`, so a source resumes anywhere by its index.
#[derive(Debug, Clone, Copy)]
pub struct Generator {
    pub orders: u64,
    pub seed: u64,
}

impl Generator {
    fn hash(&self, i: u64, stream: u64) -> u64 {
        // SplitMix64 of (seed, stream, i).
        let mut z = self
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(i)
            .wrapping_add(stream << 56);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn order(&self, i: u64) -> Order {
        let h = self.hash(i, 1);
        Order {
            id: i,
            customer: (h % 1000) as u32,
            amount_cents: (h >> 10) % 100_000,
            time_ms: 10 * i as i64,
        }
    }

    /// Order `i`'s payment: four orders in five are paid, 0 to
    /// [`MAX_DELAY_MS`] after the order.
    pub fn payment(&self, i: u64) -> Option<Payment> {
        let h = self.hash(i, 2);
        (h % 5 != 0).then(|| Payment {
            order_id: i,
            time_ms: 10 * i as i64 + ((h >> 8) % (MAX_DELAY_MS as u64 + 1)) as i64,
        })
    }
}

/// A record a [`Generator`] makes at index `i` (`None`: nothing at `i`).
pub trait Generated: Sized {
    fn at(g: &Generator, i: u64) -> Option<Self>;
}

impl Generated for Order {
    fn at(g: &Generator, i: u64) -> Option<Self> {
        Some(g.order(i))
    }
}

impl Generated for Payment {
    fn at(g: &Generator, i: u64) -> Option<Self> {
        g.payment(i)
    }
}
