//! Transports that carry encoded metrics to monitoring systems.

pub mod scrape;
