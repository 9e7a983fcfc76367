//! A small model of a Grafana dashboard, rendered to the JSON Grafana imports.
//!
//! Only what the shipped dashboards use: time series, stat and table panels
//! over Prometheus, rows, and variables. Panel ids and grid positions are
//! assigned here so that the dashboards only say what each panel shows. The
//! output is deterministic (keys sorted), so CI can diff it against the
//! committed copy.

use serde_json::{json, Value};

/// The dashboard schema version written: Grafana 12's current one. Older
/// Grafana versions load a newer version as it is (migrations only run upward).
pub const SCHEMA_VERSION: u32 = 41;

/// Every query refers to the datasource through this variable, never by uid.
const DATASOURCE: &str = "${datasource}";

/// How a panel draws its queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Lines over time.
    TimeSeries,
    /// Lines over time, stacked (parts of a whole).
    Stacked,
    /// One big number per series (last value).
    Stat,
    /// An instant query as a table, one row per series.
    Table,
}

/// One PromQL query of a panel.
#[derive(Debug, Clone)]
pub struct Query {
    /// The expression, with dashboard variables (`$job_name`, `$__rate_interval`).
    pub expr: String,
    /// Legend template (`{{vertex}}`).
    pub legend: String,
}

/// A panel: what it shows (title, description) and how.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Short title.
    pub title: &'static str,
    /// What the panel shows and what a bad value means.
    pub description: &'static str,
    /// How it is drawn.
    pub kind: Kind,
    /// Grafana unit id: `s`, `bytes`, `percentunit`, `ops`, `short`.
    pub unit: &'static str,
    /// Grid columns out of 24.
    pub width: u32,
    /// Values at which the colour turns orange and red, if any.
    pub thresholds: Option<(f64, f64)>,
    /// The queries.
    pub queries: Vec<Query>,
}

impl Panel {
    /// A panel with defaults: time series, 12 columns, no unit, no thresholds.
    pub fn new(title: &'static str, description: &'static str) -> Self {
        Self {
            title,
            description,
            kind: Kind::TimeSeries,
            unit: "short",
            width: 12,
            thresholds: None,
            queries: Vec::new(),
        }
    }
    /// Adds a query with a legend.
    pub fn query(mut self, expr: impl Into<String>, legend: &str) -> Self {
        self.queries.push(Query {
            expr: expr.into(),
            legend: legend.into(),
        });
        self
    }
    /// Sets the unit.
    pub fn unit(mut self, unit: &'static str) -> Self {
        self.unit = unit;
        self
    }
    /// Sets the kind.
    pub fn kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }
    /// Sets the width in grid columns.
    pub fn width(mut self, w: u32) -> Self {
        self.width = w;
        self
    }
    /// Orange from `warn`, red from `bad`.
    pub fn thresholds(mut self, warn: f64, bad: f64) -> Self {
        self.thresholds = Some((warn, bad));
        self
    }
}

/// One item of a dashboard, top to bottom.
#[derive(Debug, Clone)]
pub enum Item {
    /// A row header that starts a new line.
    Row(&'static str),
    /// A panel, placed left to right.
    Panel(Panel),
}

/// A template variable.
#[derive(Debug, Clone)]
pub struct Var {
    /// `$name` in queries.
    pub name: &'static str,
    /// Shown beside the drop-down.
    pub label: &'static str,
    /// `label_values(...)` query.
    pub query: String,
}

/// A dashboard.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// Stable uid (links and provisioning use it).
    pub uid: &'static str,
    /// Title shown in Grafana.
    pub title: &'static str,
    /// What question the dashboard answers.
    pub description: &'static str,
    /// Variables after `datasource`, in order.
    pub vars: Vec<Var>,
    /// Rows and panels.
    pub items: Vec<Item>,
}

fn datasource_ref() -> Value {
    json!({"type": "prometheus", "uid": DATASOURCE})
}

fn variable(v: &Var) -> Value {
    json!({
        "name": v.name,
        "label": v.label,
        "type": "query",
        "datasource": datasource_ref(),
        "query": {"query": v.query, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
        "refresh": 2,
        "sort": 1,
        "multi": true,
        "includeAll": true,
        "allValue": ".*",
        "current": {"selected": true, "text": ["All"], "value": ["$__all"]},
        "hide": 0,
        "options": [],
        "regex": "",
        "skipUrlSync": false
    })
}

fn panel_json(p: &Panel, id: u32, x: u32, y: u32, h: u32) -> Value {
    let table = p.kind == Kind::Table;
    let targets: Vec<Value> = p
        .queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            json!({
                "refId": ((b'A' + i as u8) as char).to_string(),
                "datasource": datasource_ref(),
                "expr": q.expr,
                "legendFormat": q.legend,
                "range": !table,
                "instant": table,
                "format": if table { "table" } else { "time_series" },
                "editorMode": "code"
            })
        })
        .collect();
    let steps = match p.thresholds {
        Some((warn, bad)) => json!([
            {"color": "green", "value": null},
            {"color": "orange", "value": warn},
            {"color": "red", "value": bad}
        ]),
        None => json!([{"color": "green", "value": null}]),
    };
    let mut defaults = json!({
        "unit": p.unit,
        "thresholds": {"mode": "absolute", "steps": steps},
        "color": {"mode": if p.thresholds.is_some() && p.kind == Kind::Stat { "thresholds" } else { "palette-classic" }}
    });
    if p.unit == "percentunit" {
        defaults["min"] = json!(0);
        defaults["max"] = json!(1);
    }
    let (type_, options) = match p.kind {
        Kind::TimeSeries | Kind::Stacked => {
            let stacked = p.kind == Kind::Stacked;
            defaults["custom"] = json!({
                "drawStyle": "line",
                "lineWidth": 1,
                "fillOpacity": if stacked { 30 } else { 0 },
                "showPoints": "never",
                "spanNulls": false,
                "stacking": {"mode": if stacked { "normal" } else { "none" }, "group": "A"},
                "thresholdsStyle": {"mode": if p.thresholds.is_some() { "line" } else { "off" }}
            });
            (
                "timeseries",
                json!({
                    "legend": {"displayMode": "table", "placement": "bottom", "showLegend": true, "calcs": ["lastNotNull", "max"]},
                    "tooltip": {"mode": "multi", "sort": "desc"}
                }),
            )
        }
        Kind::Stat => (
            "stat",
            json!({
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
                "colorMode": "value",
                "graphMode": "area",
                "justifyMode": "auto",
                "orientation": "auto",
                "textMode": "auto"
            }),
        ),
        Kind::Table => (
            "table",
            json!({"showHeader": true, "cellHeight": "sm", "footer": {"show": false, "reducer": ["sum"], "countRows": false, "fields": ""}}),
        ),
    };
    let mut panel = json!({
        "id": id,
        "type": type_,
        "title": p.title,
        "description": p.description,
        "datasource": datasource_ref(),
        "gridPos": {"h": h, "w": p.width, "x": x, "y": y},
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options
    });
    if table {
        panel["transformations"] =
            json!([{"id": "organize", "options": {"excludeByName": {"Time": true}}}]);
    }
    panel
}

impl Dashboard {
    /// The Grafana JSON model.
    pub fn to_json(&self) -> Value {
        let mut panels = Vec::new();
        let (mut x, mut y, mut id) = (0u32, 0u32, 1u32);
        let mut row_h = 0;
        for item in &self.items {
            match item {
                Item::Row(title) => {
                    if x > 0 {
                        y += row_h;
                    }
                    panels.push(json!({
                        "id": id, "type": "row", "title": title, "collapsed": false,
                        "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []
                    }));
                    (x, y, row_h) = (0, y + 1, 0);
                }
                Item::Panel(p) => {
                    let h = if p.kind == Kind::Stat { 5 } else { 8 };
                    if x + p.width > 24 {
                        (x, y) = (0, y + row_h);
                        row_h = 0;
                    }
                    panels.push(panel_json(p, id, x, y, h));
                    x += p.width;
                    row_h = row_h.max(h);
                }
            }
            id += 1;
        }
        let mut vars = vec![json!({
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "options": [],
            "refresh": 1,
            "regex": "",
            "skipUrlSync": false
        })];
        vars.extend(self.vars.iter().map(variable));
        json!({
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["tidemark"],
            "timezone": "browser",
            "editable": true,
            "graphTooltip": 1,
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "refresh": "30s",
            "time": {"from": "now-1h", "to": "now"},
            "timepicker": {},
            "fiscalYearStartMonth": 0,
            "liveNow": false,
            "weekStart": "",
            "links": [{
                "title": "Tidemark dashboards", "type": "dashboards", "tags": ["tidemark"], "asDropdown": true,
                "includeVars": true, "keepTime": true, "icon": "external link", "targetBlank": false,
                "tooltip": "", "url": ""
            }],
            "annotations": {"list": []},
            "templating": {"list": vars},
            "panels": panels
        })
    }

    /// Every query of every panel, with the panel title (for checks).
    pub fn queries(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        self.items.iter().flat_map(|i| match i {
            Item::Panel(p) => p
                .queries
                .iter()
                .map(|q| (p.title, q.expr.as_str()))
                .collect::<Vec<_>>(),
            Item::Row(_) => Vec::new(),
        })
    }
}
