//! What Tidemark ships for watching it: Grafana dashboards and Prometheus
//! rules, generated here so that they change with the metrics they query.
//!
//! | file | owns |
//! |---|---|
//! | [`grafana`] | a small dashboard model and its Grafana JSON |
//! | [`dashboards`] | the five dashboards: every panel's query and description |
//! | [`settings`] | the alert thresholds a user tunes (`--set name=value`) |
//! | [`rules`] | recording and alerting rules, rendered to a Prometheus rule file |
//!
//! The committed `dashboards/*.json` and `alerts/tidemark.rules.yml` are the
//! output of `tidemark dashboards` and `tidemark alert-rules`; CI fails when
//! they differ, and the integration tests check every query they hold against
//! the metric catalogue and a live Prometheus.

pub mod dashboards;
pub mod grafana;
pub mod rules;
pub mod settings;
