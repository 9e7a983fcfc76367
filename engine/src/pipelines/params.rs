//! Checked pipeline parameters.

use super::{ParamSpec, PipelineSpec};
use crate::config::value::*;
use crate::config::Kind;
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::time::Duration;

/// Parameters that passed validation, with defaults filled in.
#[derive(Debug, Clone)]
pub struct Params {
    values: BTreeMap<String, String>,
}

fn check_one(spec: &ParamSpec, v: &str) -> std::result::Result<(), String> {
    match spec.kind {
        Kind::Duration => parse_duration(v).map(|_| ()),
        Kind::Int(lo, hi) => parse_int(v, lo, hi).map(|_| ()),
        Kind::Float => parse_f64(v).map(|_| ()),
        Kind::Enum(a) => parse_enum(v, a).map(|_| ()),
        Kind::Bool => parse_bool(v).map(|_| ()),
        _ => Ok(()),
    }
}

impl Params {
    /// Validates `given` against `spec`, reporting every problem.
    pub fn check(spec: &PipelineSpec, given: &BTreeMap<String, String>) -> Result<Self> {
        Self::validate(spec, given).map_err(|errors| {
            Error::Config(format!("invalid parameters:\n  {}", errors.join("\n  ")))
        })
    }

    /// Validates `given` against `spec`; on failure, every problem, one line each.
    pub fn validate(
        spec: &PipelineSpec,
        given: &BTreeMap<String, String>,
    ) -> std::result::Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let mut values = BTreeMap::new();
        for (k, v) in given {
            match spec.all_params().find(|p| p.name == k) {
                Some(p) => match check_one(p, v) {
                    Ok(()) => {
                        values.insert(k.clone(), v.clone());
                    }
                    Err(allowed) => errors.push(format!(
                        "params.{k}: '{v}' is not valid: expected {allowed}"
                    )),
                },
                None => {
                    let hint = closest(k, spec.all_params().map(|p| p.name))
                        .map(|c| format!(" (did you mean '{c}'?)"))
                        .unwrap_or_default();
                    let names: Vec<&str> = spec.all_params().map(|p| p.name).collect();
                    errors.push(format!(
                        "params.{k}: unknown parameter of pipeline '{}'{hint}; its parameters are {}",
                        spec.name,
                        names.join(", ")
                    ));
                }
            }
        }
        for p in spec.all_params() {
            if !values.contains_key(p.name) {
                if let Some(d) = p.default {
                    values.insert(p.name.to_string(), d.to_string());
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self { values })
    }

    /// A parameter as text (empty if unset and optional).
    pub fn text(&self, k: &str) -> String {
        self.values.get(k).cloned().unwrap_or_default()
    }
    /// A parameter as text, if set.
    pub fn opt_text(&self, k: &str) -> Option<String> {
        self.values.get(k).filter(|s| !s.is_empty()).cloned()
    }
    /// An integer parameter (validated).
    pub fn int(&self, k: &str) -> i64 {
        self.values
            .get(k)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
    /// An optional positive integer parameter (0 or unset = none).
    pub fn opt_usize(&self, k: &str) -> Option<usize> {
        Some(self.int(k)).filter(|v| *v > 0).map(|v| v as usize)
    }
    /// A float parameter (validated).
    pub fn float(&self, k: &str) -> f64 {
        self.values
            .get(k)
            .and_then(|v| parse_f64(v).ok())
            .unwrap_or(0.0)
    }
    /// A duration parameter (validated).
    pub fn duration(&self, k: &str) -> Duration {
        self.values
            .get(k)
            .and_then(|v| parse_duration(v).ok())
            .unwrap_or_default()
    }
}
