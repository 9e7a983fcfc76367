//! Reference text generated from the code's own tables.

use crate::config::keys::{Kind, KEYS};
use crate::pipelines::PipelineSpec;
use tidemark_agent::export::config::OPTIONS;

fn kind(k: Kind) -> String {
    match k {
        Kind::Duration => "duration".into(),
        Kind::Int(lo, hi) if hi == i64::MAX || hi == i32::MAX as i64 => format!("integer >= {lo}"),
        Kind::Int(lo, hi) => format!("integer {lo}..{hi}"),
        Kind::Float => "number > 0".into(),
        Kind::Ratio => "number in (0, 1)".into(),
        Kind::Bytes => "memory size (64mb, 1gb)".into(),
        Kind::Bool => "true, false".into(),
        Kind::Enum(v) => v.join(" \\| "),
        Kind::Path => "path".into(),
        Kind::Text => "text".into(),
        Kind::List => "list".into(),
    }
}

/// The pipelines and their parameters.
pub fn pipelines(pipelines: &[&'static PipelineSpec]) -> String {
    let mut s = String::new();
    for p in pipelines {
        s.push_str(&format!("{}: {}\n", p.name, p.doc));
        for q in p.all_params() {
            s.push_str(&format!(
                "  {:<20} {:<28} {}{}\n",
                q.name,
                kind(q.kind).replace("\\|", "|"),
                q.doc,
                q.default
                    .filter(|d| !d.is_empty())
                    .map(|d| format!(" [default: {d}]"))
                    .unwrap_or_default()
            ));
        }
        s.push('\n');
    }
    s
}

/// `docs/configuration.md`.
pub fn configuration() -> String {
    let mut s = String::from(
        "# Configuration\n\nGenerated from `engine/src/config/keys.rs` by `tidemark config-doc`; do not edit by hand.\n\
         Keys are Apache Flink's (2.x names; the 1.x names in the aliases column are accepted with a warning).\n\
         Set them under `config:` in a job file (flat or nested YAML) or with `--set key=value`.\n\n\
         | key | aliases | default | values | meaning |\n|---|---|---|---|---|\n",
    );
    for k in KEYS {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            k.key,
            k.aliases
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", "),
            k.default
                .map(|d| format!("`{d}`"))
                .unwrap_or_else(|| "-".into()),
            kind(k.kind),
            k.doc
        ));
    }
    s.push_str(
        "\nReporter options, `metrics.reporter.<name>.<option>`; `*` applies to every kind. The default reporter `prom` \
         is a prometheus reporter on 127.0.0.1:9249. Credentials are read only from the environment variable or file named \
         by the `-env` / `-file` options.\n\n| kind | option | meaning |\n|---|---|---|\n",
    );
    for (kind, opts) in OPTIONS {
        for (o, d) in *opts {
            s.push_str(&format!("| {kind} | `{o}` | {d} |\n"));
        }
    }
    s
}
