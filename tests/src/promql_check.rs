//! Checks PromQL against the metric catalogue: every metric a query names
//! exists, and every label it filters, groups or matches on is one that
//! metric has. The queries are parsed with `promql-parser` (Greptime's port
//! of Prometheus's parser) and the label set of each sub-expression is
//! inferred the way Prometheus computes it, so a `by (vertex)` over a
//! job-level metric, or `a / b` over different label sets (which returns
//! nothing), is an error.

use promql_parser::parser::{self, token, Expr, LabelModifier, VectorMatchCardinality};
use std::collections::{BTreeMap, BTreeSet};
use tidemark_agent::catalogue::{MetricKind, ALL};

/// A set of label names.
pub type LabelSet = BTreeSet<String>;

/// Labels Prometheus adds when it scrapes a target.
const TARGET_LABELS: &[&str] = &["job", "instance"];

/// Series that are not Tidemark's, with their labels: Prometheus's `up`, and
/// the Pushgateway's per-group timestamps (grouping labels of Tidemark's
/// default key: job_name, job_id, instance).
const EXTERNAL: &[(&str, &[&str])] = &[
    ("up", &["job", "instance"]),
    (
        "push_time_seconds",
        &["job", "instance", "job_name", "job_id"],
    ),
    (
        "push_failure_time_seconds",
        &["job", "instance", "job_name", "job_id"],
    ),
];

/// Known series names with their label sets.
pub struct Symbols {
    series: BTreeMap<String, LabelSet>,
}

fn set(labels: &[&str]) -> LabelSet {
    labels.iter().map(|s| s.to_string()).collect()
}

impl Symbols {
    /// Every catalogued series (histograms as `_bucket`, `_sum`, `_count`),
    /// with the target labels, and the external series.
    pub fn catalogue() -> Self {
        let mut series = BTreeMap::new();
        for d in ALL {
            let mut l = set(d.labels);
            l.extend(set(TARGET_LABELS));
            if d.kind == MetricKind::Histogram {
                series.insert(format!("{}_sum", d.name), l.clone());
                series.insert(format!("{}_count", d.name), l.clone());
                l.insert("le".into());
                series.insert(format!("{}_bucket", d.name), l);
            } else {
                series.insert(d.name.to_string(), l);
            }
        }
        for (name, labels) in EXTERNAL {
            series.insert(name.to_string(), set(labels));
        }
        Self { series }
    }

    /// Adds a recording rule's output series.
    pub fn define(&mut self, name: &str, labels: LabelSet) {
        self.series.insert(name.to_string(), labels);
    }

    /// Parses `query` and returns its output labels (`None` for a scalar), or
    /// every problem found.
    pub fn check(&self, query: &str) -> Result<Option<LabelSet>, String> {
        let expr = parser::parse(query).map_err(|e| format!("does not parse: {e}"))?;
        self.labels(&expr)
    }

    fn selector(&self, vs: &parser::VectorSelector) -> Result<Option<LabelSet>, String> {
        let name = vs
            .name
            .as_deref()
            .ok_or("a selector without a metric name")?;
        let labels = self
            .series
            .get(name)
            .ok_or_else(|| format!("metric {name} is not in the catalogue"))?;
        for m in &vs.matchers.matchers {
            if m.name != "__name__" && !labels.contains(&m.name) {
                return Err(format!(
                    "{name} has no label {:?} (it has {labels:?})",
                    m.name
                ));
            }
        }
        Ok(Some(labels.clone()))
    }

    fn labels(&self, e: &Expr) -> Result<Option<LabelSet>, String> {
        match e {
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(None),
            Expr::VectorSelector(vs) => self.selector(vs),
            Expr::MatrixSelector(ms) => self.selector(&ms.vs),
            Expr::Paren(p) => self.labels(&p.expr),
            Expr::Unary(u) => self.labels(&u.expr),
            Expr::Subquery(s) => self.labels(&s.expr),
            Expr::Extension(_) => Err("extension nodes are not PromQL".into()),
            Expr::Call(c) => self.call(c),
            Expr::Aggregate(a) => self.aggregate(a),
            Expr::Binary(b) => self.binary(b),
        }
    }

    fn call(&self, c: &parser::Call) -> Result<Option<LabelSet>, String> {
        let args: Vec<Option<LabelSet>> = c
            .args
            .args
            .iter()
            .map(|a| self.labels(a))
            .collect::<Result<_, _>>()?;
        let first_vector = args.iter().flatten().next().cloned();
        match c.func.name {
            "time" | "scalar" | "pi" => Ok(None),
            "vector" => Ok(Some(LabelSet::new())),
            "histogram_quantile" => {
                let mut l = first_vector.ok_or("histogram_quantile needs a vector")?;
                if !l.remove("le") {
                    return Err("histogram_quantile over a vector without `le`".into());
                }
                Ok(Some(l))
            }
            "label_replace" | "label_join" => {
                let mut l = first_vector.ok_or("label_replace needs a vector")?;
                if let Some(Expr::StringLiteral(dst)) = c.args.args.get(1).map(|b| &**b) {
                    l.insert(dst.val.clone());
                }
                Ok(Some(l))
            }
            _ => Ok(first_vector),
        }
    }

    fn aggregate(&self, a: &parser::AggregateExpr) -> Result<Option<LabelSet>, String> {
        if let Some(p) = &a.param {
            self.labels(p)?;
        }
        let input = self
            .labels(&a.expr)?
            .ok_or("an aggregation over a scalar")?;
        let keeps_series = matches!(
            a.op.id(),
            token::T_TOPK | token::T_BOTTOMK | token::T_LIMITK
        );
        let out = match &a.modifier {
            Some(LabelModifier::Include(l)) => {
                let by = set_of(&l.labels);
                if let Some(missing) = by.difference(&input).next() {
                    return Err(format!(
                        "{} by ({missing}) over a vector without that label (it has {input:?})",
                        a.op
                    ));
                }
                by
            }
            Some(LabelModifier::Exclude(l)) => {
                input.difference(&set_of(&l.labels)).cloned().collect()
            }
            None => LabelSet::new(),
        };
        Ok(Some(if keeps_series { input } else { out }))
    }

    fn binary(&self, b: &parser::BinaryExpr) -> Result<Option<LabelSet>, String> {
        let (l, r) = (self.labels(&b.lhs)?, self.labels(&b.rhs)?);
        let (l, r) = match (l, r) {
            (None, None) => return Ok(None),
            (Some(v), None) | (None, Some(v)) => return Ok(Some(v)),
            (Some(l), Some(r)) => (l, r),
        };
        let op = b.op.to_string();
        let modifier = b.modifier.as_ref();
        if op == "or" {
            return Ok(Some(l.union(&r).cloned().collect()));
        }
        match modifier.and_then(|m| m.matching.as_ref()) {
            Some(LabelModifier::Include(on)) => {
                for name in &on.labels {
                    if !l.contains(name) || !r.contains(name) {
                        return Err(format!(
                            "{op} on ({name}): both sides need it (left {l:?}, right {r:?})"
                        ));
                    }
                }
            }
            Some(LabelModifier::Exclude(ign)) => {
                let ign = set_of(&ign.labels);
                let (ld, rd): (LabelSet, LabelSet) = (
                    l.difference(&ign).cloned().collect(),
                    r.difference(&ign).cloned().collect(),
                );
                if ld != rd && !b.op.is_set_operator() {
                    return Err(format!("{op} ignoring(..) between different label sets {ld:?} and {rd:?}: no series would match"));
                }
            }
            None if l != r => {
                return Err(format!(
                    "{op} between different label sets {l:?} and {r:?}: no series would match; use on(...)"
                ));
            }
            None => {}
        }
        Ok(Some(match modifier.map(|m| &m.card) {
            Some(VectorMatchCardinality::ManyToOne(extra)) => {
                l.union(&set_of(&extra.labels)).cloned().collect()
            }
            Some(VectorMatchCardinality::OneToMany(extra)) => {
                r.union(&set_of(&extra.labels)).cloned().collect()
            }
            _ => l,
        }))
    }
}

fn set_of(labels: &[String]) -> LabelSet {
    labels.iter().cloned().collect()
}

/// Replaces Grafana's variables with values PromQL parses: range variables
/// become `5m`, the others (inside label matchers) a plain word.
pub fn substitute_grafana_variables(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    let mut rest = q;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let braced = after.starts_with('{');
        let body = if braced { &after[1..] } else { after };
        let n = body
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let name = &body[..n];
        out.push_str(if name.starts_with("__") && name != "__all" {
            "5m"
        } else {
            "x"
        });
        rest = &body[n + usize::from(braced)..];
    }
    out.push_str(rest);
    out
}

/// The labels an alert's templates read (`$labels.name`).
pub fn template_labels(template: &str) -> BTreeSet<String> {
    template
        .match_indices("$labels.")
        .map(|(i, m)| {
            template[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// Queries inside templates (`printf "QUERY" ... | query`), with `%q` filled.
pub fn template_queries(template: &str) -> Vec<String> {
    template
        .match_indices("printf \"")
        .map(|(i, m)| {
            let body = &template[i + m.len()..];
            let end = body.find('"').unwrap_or(body.len());
            body[..end].replace("%q", "\"x\"")
        })
        .collect()
}
