//! The paging path's pieces the tests share: the shipped rules as users
//! generate them, the shipped Alertmanager example pointed at a test's
//! webhook, and the alerts that webhook received.

use crate::bin;
use crate::servers::Webhook;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The repository's root.
pub fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `tidemark alert-rules` with `--set` overrides: the rules users load.
pub fn rules(overrides: &[&str]) -> String {
    let mut c = Command::new(bin());
    c.arg("alert-rules");
    for o in overrides {
        c.args(["--set", o]);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The shipped Alertmanager example, pointed at `hook` and with second-sized waits.
pub fn alertmanager_config(hook: &Webhook) -> String {
    let mut cfg = std::fs::read_to_string(repo().join("alerts/alertmanager.example.yml")).unwrap();
    for (from, to) in [
        (
            "http://pager.example.internal/alertmanager",
            format!("{}/pager", hook.url),
        ),
        (
            "http://tickets.example.internal/alertmanager",
            format!("{}/ticket", hook.url),
        ),
        ("group_wait: 30s", "group_wait: 1s".into()),
        ("group_interval: 5m", "group_interval: 1s".into()),
    ] {
        assert!(cfg.contains(from), "the example no longer has {from:?}");
        cfg = cfg.replace(from, &to);
    }
    cfg
}

/// Alerts named `alertname` with `status`, from the notifications at `path`.
pub fn alerts(hook: &Webhook, path: &str, alertname: &str, status: &str) -> Vec<Value> {
    hook.received()
        .into_iter()
        .filter(|n| n.path == path)
        .flat_map(|n| n.body["alerts"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["labels"]["alertname"] == alertname && a["status"] == status)
        .collect()
}
