//! The Nexmark benchmark's generator: an online auction's persons, auctions
//! and bids, as Apache Beam's `nexmark.sources.generator` (which Flink's
//! Nexmark port reuses) produces them.
//!
//! - Event `n` is a person, an auction or a bid by `n mod 50`: 1, 3 and 46 of
//!   every 50 (the standard proportions).
//! - Ids follow Beam's formulas: person and auction ids grow with `n`; bids go
//!   to a hot auction (every 100th) half the time and to one of the last 100
//!   auctions otherwise; bidders and sellers are hot (every 100th person) 3 in 4
//!   times and otherwise one of the last 1 000 active people.
//! - Prices are `round(10^(6u) * 100)` cents; categories 10..14; states and
//!   cities from Beam's lists; `extra` pads bids to about 100 bytes, auctions to
//!   500 and persons to 200.
//! - Event time advances by `1000 / event_rate` ms per event, in order.
//!
//! Each event depends only on the seed and `n` (its random numbers come from
//! `splitmix64(seed, n)`), so a restored run replays exactly what a crashed one
//! would have produced, and subtask `s` of `p` produces events `s, s+p, …`.

use super::pacing::Pacing;
use super::{Poll, Source};
use crate::error::Result;
use crate::operator::SubtaskInfo;
use crate::source::datagen::splitmix64;
use serde::{Deserialize, Serialize};

/// A new user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    /// Person id (from 1000).
    pub id: u64,
    /// First and last name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// Credit card number.
    pub credit_card: String,
    /// City.
    pub city: String,
    /// US state, two letters.
    pub state: String,
    /// Event time, ms.
    pub date_time: i64,
    /// Padding.
    pub extra: String,
}

/// An item put up for auction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Auction {
    /// Auction id (from 1000).
    pub id: u64,
    /// Item name.
    pub item_name: String,
    /// Item description.
    pub description: String,
    /// Opening price, cents.
    pub initial_bid: u64,
    /// Reserve price, cents.
    pub reserve: u64,
    /// Event time, ms.
    pub date_time: i64,
    /// When bidding closes, ms.
    pub expires: i64,
    /// Seller's person id.
    pub seller: u64,
    /// Category, 10..14.
    pub category: u64,
    /// Padding.
    pub extra: String,
}

/// A bid on an auction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bid {
    /// Auction id.
    pub auction: u64,
    /// Bidder's person id.
    pub bidder: u64,
    /// Price, cents.
    pub price: u64,
    /// Channel the bid came through.
    pub channel: String,
    /// URL of the bid.
    pub url: String,
    /// Event time, ms.
    pub date_time: i64,
    /// Padding.
    pub extra: String,
}

/// One Nexmark event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NexmarkEvent {
    /// A new person.
    Person(Person),
    /// A new auction.
    Auction(Auction),
    /// A bid.
    Bid(Bid),
}

impl NexmarkEvent {
    /// The person it is about: a person's id, an auction's seller, a bid's bidder.
    pub fn person_id(&self) -> u64 {
        match self {
            NexmarkEvent::Person(p) => p.id,
            NexmarkEvent::Auction(a) => a.seller,
            NexmarkEvent::Bid(b) => b.bidder,
        }
    }

    /// Event time, ms.
    pub fn date_time(&self) -> i64 {
        match self {
            NexmarkEvent::Person(p) => p.date_time,
            NexmarkEvent::Auction(a) => a.date_time,
            NexmarkEvent::Bid(b) => b.date_time,
        }
    }
}

const PERSON_PROPORTION: u64 = 1;
const AUCTION_PROPORTION: u64 = 3;
const TOTAL_PROPORTION: u64 = 50;
const FIRST_PERSON_ID: u64 = 1000;
const FIRST_AUCTION_ID: u64 = 1000;
const FIRST_CATEGORY_ID: u64 = 10;
const NUM_CATEGORIES: u64 = 5;
const HOT_RATIO: u64 = 100;
const HOT_AUCTION_RATIO: u64 = 2;
const HOT_SELLERS_RATIO: u64 = 4;
const HOT_BIDDERS_RATIO: u64 = 4;
const NUM_ACTIVE_PEOPLE: u64 = 1000;
const NUM_IN_FLIGHT_AUCTIONS: u64 = 100;
const PERSON_ID_LEAD: u64 = 10;
const AUCTION_ID_LEAD: u64 = 10;
const US_STATES: &[&str] = &["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: &[&str] = &[
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const FIRST_NAMES: &[&str] = &[
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: &[&str] = &[
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];
const HOT_CHANNELS: &[&str] = &["Google", "Facebook", "Baidu", "Apple"];

/// Beam's per-event random numbers, from a counter hash instead of `java.util.Random`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        splitmix64(self.0)
    }
    /// Uniform in `[0, n)`.
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n.max(1) as u128) >> 64) as u64
    }
    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
    /// Exactly `len` lowercase letters.
    fn exact_string(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len);
        while s.len() < len {
            let mut r = self.next();
            for _ in 0..8.min(len - s.len()) {
                s.push((b'a' + (r % 26) as u8) as char);
                r >>= 8;
            }
        }
        s
    }
    /// 3 to `max_len` letters.
    fn string(&mut self, max_len: usize) -> String {
        let len = 3 + self.below(max_len as u64 - 3) as usize;
        self.exact_string(len)
    }
    /// Padding so the record averages `avg` bytes (±20 %), given `current`.
    fn extra(&mut self, current: usize, avg: usize) -> String {
        if current > avg {
            return String::new();
        }
        let want = avg - current;
        let delta = (want as f64 * 0.2).round() as usize;
        let len = want - delta + self.below((2 * delta).max(1) as u64) as usize;
        self.exact_string(len)
    }
    /// Beam's `PriceGenerator.nextPrice`: cents, log-uniform up to a million dollars.
    fn price(&mut self) -> u64 {
        (10f64.powf(self.unit() * 6.0) * 100.0).round() as u64
    }
}

/// The generator's parameters.
#[derive(Debug, Clone)]
pub struct NexmarkConfig {
    /// Events for the whole job; `None` = unbounded.
    pub events: Option<u64>,
    /// Events per second for the whole job (wall clock); 0 = as fast as possible.
    pub rate: u64,
    /// Events per second of event time.
    pub event_rate: u64,
    /// Event time of event 0, ms.
    pub start_ms: i64,
    /// Seed.
    pub seed: u64,
}

fn last_base0_person_id(n: u64) -> u64 {
    let (epoch, offset) = (n / TOTAL_PROPORTION, n % TOTAL_PROPORTION);
    // Beam's formula for any proportion (with 1 person per 50 events, the epoch).
    let offset = if offset >= PERSON_PROPORTION {
        PERSON_PROPORTION - 1
    } else {
        offset
    };
    epoch * PERSON_PROPORTION + offset
}

fn last_base0_auction_id(n: u64) -> u64 {
    let (mut epoch, mut offset) = (n / TOTAL_PROPORTION, n % TOTAL_PROPORTION);
    if offset < PERSON_PROPORTION {
        // Before this epoch's first auction: the last one of the previous epoch.
        if epoch == 0 {
            return 0;
        }
        epoch -= 1;
        offset = AUCTION_PROPORTION - 1;
    } else if offset >= PERSON_PROPORTION + AUCTION_PROPORTION {
        offset = AUCTION_PROPORTION - 1;
    } else {
        offset -= PERSON_PROPORTION;
    }
    epoch * AUCTION_PROPORTION + offset
}

fn next_base0_person_id(n: u64, r: &mut Rng) -> u64 {
    let people = last_base0_person_id(n) + 1;
    let active = people.min(NUM_ACTIVE_PEOPLE);
    people - active + r.below(active + PERSON_ID_LEAD)
}

fn next_base0_auction_id(n: u64, r: &mut Rng) -> u64 {
    let max = last_base0_auction_id(n);
    let min = max.saturating_sub(NUM_IN_FLIGHT_AUCTIONS);
    min + r.below(max - min + 1 + AUCTION_ID_LEAD)
}

impl NexmarkConfig {
    /// Event time of event `n`, ms.
    pub fn timestamp(&self, n: u64) -> i64 {
        let rate = self.event_rate.max(1);
        self.start_ms + (n / rate * 1000 + (n % rate) * 1000 / rate) as i64
    }

    /// Event `n` of the job.
    pub fn event(&self, n: u64) -> NexmarkEvent {
        let mut r = Rng(splitmix64(
            self.seed ^ n.wrapping_mul(0x2545_f491_4f6c_dd1d),
        ));
        let ts = self.timestamp(n);
        let offset = n % TOTAL_PROPORTION;
        if offset < PERSON_PROPORTION {
            let id = last_base0_person_id(n) + FIRST_PERSON_ID;
            let name = format!("{} {}", r.pick(FIRST_NAMES), r.pick(LAST_NAMES));
            let email = format!("{}@{}.com", r.string(7), r.string(5));
            let credit_card = format!(
                "{:04} {:04} {:04} {:04}",
                r.below(10000),
                r.below(10000),
                r.below(10000),
                r.below(10000)
            );
            let (city, state) = (r.pick(US_CITIES).to_string(), r.pick(US_STATES).to_string());
            let size =
                8 + name.len() + email.len() + credit_card.len() + city.len() + state.len() + 8;
            NexmarkEvent::Person(Person {
                id,
                extra: r.extra(size, 200),
                name,
                email,
                credit_card,
                city,
                state,
                date_time: ts,
            })
        } else if offset < PERSON_PROPORTION + AUCTION_PROPORTION {
            let id = last_base0_auction_id(n) + FIRST_AUCTION_ID;
            let seller = if r.below(HOT_SELLERS_RATIO) > 0 {
                last_base0_person_id(n) / HOT_RATIO * HOT_RATIO
            } else {
                next_base0_person_id(n, &mut r)
            } + FIRST_PERSON_ID;
            let category = FIRST_CATEGORY_ID + r.below(NUM_CATEGORIES);
            let initial_bid = r.price();
            let horizon = self
                .timestamp(n + NUM_IN_FLIGHT_AUCTIONS * TOTAL_PROPORTION / AUCTION_PROPORTION)
                - ts;
            let expires = ts + 1 + r.below((horizon * 2).max(1) as u64) as i64;
            let (item_name, description) = (r.string(20), r.string(100));
            let reserve = initial_bid + r.price();
            let size = 8 + item_name.len() + description.len() + 8 * 6;
            NexmarkEvent::Auction(Auction {
                id,
                extra: r.extra(size, 500),
                item_name,
                description,
                initial_bid,
                reserve,
                date_time: ts,
                expires,
                seller,
                category,
            })
        } else {
            let auction = if r.below(HOT_AUCTION_RATIO) > 0 {
                last_base0_auction_id(n) / HOT_RATIO * HOT_RATIO
            } else {
                next_base0_auction_id(n, &mut r)
            } + FIRST_AUCTION_ID;
            let bidder = if r.below(HOT_BIDDERS_RATIO) > 0 {
                last_base0_person_id(n) / HOT_RATIO * HOT_RATIO + 1
            } else {
                next_base0_person_id(n, &mut r)
            } + FIRST_PERSON_ID;
            let price = r.price();
            let (channel, url) = if r.below(2) > 0 {
                let i = r.below(HOT_CHANNELS.len() as u64) as usize;
                (
                    HOT_CHANNELS[i].to_string(),
                    format!(
                        "https://www.nexmark.com/{}/item.htm?query=1",
                        HOT_CHANNELS[i].to_lowercase()
                    ),
                )
            } else {
                let c = r.below(10_000);
                (
                    format!("channel-{c}"),
                    format!(
                        "https://www.nexmark.com/{}/item.htm?query=1&channel_id={c}",
                        r.string(5)
                    ),
                )
            };
            let extra = r.extra(8 * 4 + channel.len() + url.len(), 100);
            NexmarkEvent::Bid(Bid {
                auction,
                bidder,
                price,
                channel,
                url,
                date_time: ts,
                extra,
            })
        }
    }
}

/// One subtask of the generator.
pub struct NexmarkSource {
    cfg: NexmarkConfig,
    pacing: Pacing,
}

impl NexmarkSource {
    /// A generator for `cfg`.
    pub fn new(cfg: NexmarkConfig) -> Self {
        let pacing = Pacing::new(cfg.events, cfg.rate, 0);
        Self { cfg, pacing }
    }
}

impl Source<NexmarkEvent> for NexmarkSource {
    fn open(&mut self, info: &SubtaskInfo) -> Result<()> {
        self.pacing.open(info);
        Ok(())
    }

    fn restore(&mut self, positions: &[&[u8]]) -> Result<()> {
        self.pacing.restore(positions, "nexmark")
    }

    fn poll(&mut self, out: &mut Vec<NexmarkEvent>, max: usize) -> Result<Poll> {
        let cfg = &self.cfg;
        Ok(self.pacing.fill(out, max, |_| {}, |i| cfg.event(i)))
    }

    fn position(&self) -> Result<Vec<u8>> {
        Ok(self.pacing.position())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> NexmarkConfig {
        NexmarkConfig {
            events: None,
            rate: 0,
            event_rate: 1000,
            start_ms: 0,
            seed: 42,
        }
    }

    #[test]
    fn proportions_ids_and_ranges_follow_nexmark() {
        let c = cfg();
        let (mut persons, mut auctions, mut bids) = (0, 0, 0);
        let (mut hot_bids, mut bid_bytes) = (0u64, 0usize);
        for n in 0..50_000 {
            match c.event(n) {
                NexmarkEvent::Person(p) => {
                    assert_eq!(p.id, FIRST_PERSON_ID + persons);
                    assert!(US_STATES.contains(&p.state.as_str()));
                    persons += 1;
                }
                NexmarkEvent::Auction(a) => {
                    assert_eq!(a.id, FIRST_AUCTION_ID + auctions);
                    assert!((10..15).contains(&a.category));
                    assert!(a.reserve >= a.initial_bid && a.expires > a.date_time);
                    assert!(
                        a.seller >= FIRST_PERSON_ID
                            && a.seller < FIRST_PERSON_ID + persons + PERSON_ID_LEAD
                    );
                    auctions += 1;
                }
                NexmarkEvent::Bid(b) => {
                    assert!(
                        b.auction >= FIRST_AUCTION_ID
                            && b.auction < FIRST_AUCTION_ID + auctions + AUCTION_ID_LEAD
                    );
                    assert!(b.price >= 100 && b.price <= 100_000_000);
                    hot_bids += u64::from((b.auction - FIRST_AUCTION_ID) % HOT_RATIO == 0);
                    bid_bytes += 32 + b.channel.len() + b.url.len() + b.extra.len();
                    bids += 1;
                }
            }
        }
        assert_eq!((persons, auctions, bids), (1000, 3000, 46_000));
        // Half the bids go to a hot auction (plus the in-flight ones that happen to be).
        let hot = hot_bids as f64 / bids as f64;
        assert!((0.5..0.56).contains(&hot), "{hot}");
        let avg = bid_bytes as f64 / bids as f64;
        assert!((90.0..110.0).contains(&avg), "average bid size {avg}");
        // Deterministic, and time advances by 1000 / event_rate ms per event.
        assert_eq!(c.event(1234), c.event(1234));
        assert_eq!(c.timestamp(2500), 2500);
    }
}
