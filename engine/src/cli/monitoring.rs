//! `tidemark dashboards DIR` and `tidemark alert-rules`: write the shipped
//! Grafana dashboards and Prometheus rules (see `tidemark_agent::monitoring`).

use super::EXIT_USAGE;
use std::path::Path;
use tidemark_agent::monitoring::{dashboards, rules, settings::AlertSettings};

/// Writes every dashboard as `DIR/<name>.json`.
pub fn write_dashboards(dir: &Path) -> i32 {
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return EXIT_USAGE;
    }
    for (file, d) in dashboards::all() {
        let path = dir.join(file);
        let mut text = serde_json::to_string_pretty(&d.to_json()).expect("JSON values serialise");
        text.push('\n');
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return EXIT_USAGE;
        }
        println!("wrote {}", path.display());
    }
    0
}

/// Prints the rule file, with `name=value` overrides of the thresholds.
pub fn print_rules(overrides: &[String]) -> i32 {
    match AlertSettings::with_overrides(overrides.iter().map(String::as_str)) {
        Ok(s) => {
            print!("{}", rules::render(&s));
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_USAGE
        }
    }
}
