//! The Prometheus Pushgateway exporter (Flink's `PrometheusPushGatewayReporter`
//! keys). Each interval it PUTs the whole exposition to the job's group, which
//! replaces the group. The grouping key is per job by default
//! (`job_name`, `job_id`, `instance`), so two jobs never overwrite each other;
//! label values holding `/` (or empty) use the `@base64` path form. On shutdown
//! the group is deleted, and at start the groups of earlier runs of this job
//! that crashed (their job ids come from the restored checkpoint) are deleted too.

use super::delivery::{PushRequest, PushTarget, Schedule};
use crate::encode::prometheus;
use crate::registry::FamilySnapshot;
use base64::Engine;

/// A Pushgateway reporter's settings.
#[derive(Debug, Clone)]
pub struct PushgatewayConfig {
    /// Name, interval and timeout.
    pub schedule: Schedule,
    /// `hostUrl`, e.g. `http://127.0.0.1:9091`.
    pub host_url: String,
    /// `jobName` (the `job` grouping label).
    pub job_name: String,
    /// `randomJobNameSuffix`.
    pub random_suffix: bool,
    /// `deleteOnShutdown`.
    pub delete_on_shutdown: bool,
    /// `groupingKey` (`k1=v1;k2=v2`, values may hold `{job_name}` / `{job_id}`);
    /// empty = the per-job default.
    pub grouping_key: Vec<(String, String)>,
    /// Basic-auth user and password (the password from env or file).
    pub basic_auth: Option<(String, String)>,
}

/// The Pushgateway exporter of one job.
pub struct Pushgateway {
    cfg: PushgatewayConfig,
    group_url: String,
    stale_urls: Vec<String>,
    auth: Option<String>,
}

/// Appends `/<name>/<value>`, or `/<name>@base64/<urlsafe b64>` when the value
/// would not survive as a path segment.
pub fn path_segment(out: &mut String, name: &str, value: &str) {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if plain {
        out.push('/');
        out.push_str(name);
        out.push('/');
        out.push_str(value);
    } else {
        out.push('/');
        out.push_str(name);
        out.push_str("@base64/");
        let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.as_bytes());
        out.push_str(if enc.is_empty() { "=" } else { &enc });
    }
}

/// The instance label: this host's name.
pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The URLs of the groups in a Pushgateway's `GET /api/v1/metrics` answer
/// that an agent watching cluster `cluster` left behind: a metric in them
/// carries `cluster="<cluster>"` and their `job_id` is none of `running`
/// (the agent stopped before it could delete them). Others' groups are not
/// touched.
pub fn stale_agent_groups(
    api_metrics: &serde_json::Value,
    host_url: &str,
    cluster: &str,
    running: &[String],
) -> Vec<String> {
    let groups = api_metrics["data"].as_array().cloned().unwrap_or_default();
    groups
        .iter()
        .filter(|g| {
            let labels = &g["labels"];
            let ours = g.as_object().into_iter().flatten().any(|(_, family)| {
                family["metrics"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|m| m["labels"][crate::labels::CLUSTER] == cluster)
            });
            let id = labels[crate::labels::JOB_ID].as_str();
            ours && id.is_some_and(|id| !running.iter().any(|r| r == id))
        })
        .filter_map(|g| {
            let labels = g["labels"].as_object()?;
            let mut u = host_url.trim_end_matches('/').to_string();
            u.push_str("/metrics");
            path_segment(&mut u, "job", labels.get("job")?.as_str()?);
            for (k, v) in labels.iter().filter(|(k, _)| *k != "job") {
                path_segment(&mut u, k, v.as_str()?);
            }
            Some(u)
        })
        .collect()
}

impl Pushgateway {
    /// The exporter for job (`job_name`, `job_id`); `previous_job_ids` are runs
    /// of the same job whose groups may have been left behind by a crash.
    pub fn new(
        cfg: PushgatewayConfig,
        job_name: &str,
        job_id: &str,
        previous_job_ids: &[String],
    ) -> Self {
        let job = if cfg.random_suffix {
            format!("{}{}", cfg.job_name, &job_id[..job_id.len().min(32)])
        } else {
            cfg.job_name.clone()
        };
        let url_for = |id: &str| {
            let mut u = cfg.host_url.trim_end_matches('/').to_string();
            u.push_str("/metrics");
            path_segment(&mut u, "job", &job);
            if cfg.grouping_key.is_empty() {
                path_segment(&mut u, "job_name", job_name);
                path_segment(&mut u, "job_id", id);
                path_segment(&mut u, "instance", &hostname());
            } else {
                for (k, v) in &cfg.grouping_key {
                    path_segment(
                        &mut u,
                        k,
                        &v.replace("{job_name}", job_name).replace("{job_id}", id),
                    );
                }
            }
            u
        };
        let group_url = url_for(job_id);
        let stale_urls = previous_job_ids
            .iter()
            .filter(|p| p.as_str() != job_id)
            .map(|p| url_for(p))
            .filter(|u| *u != group_url)
            .collect();
        let auth = cfg.basic_auth.as_ref().map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        });
        Self {
            cfg,
            group_url,
            stale_urls,
            auth,
        }
    }

    /// The URL of this job's group.
    pub fn group_url(&self) -> &str {
        &self.group_url
    }

    fn request(&self, method: reqwest::Method, url: &str, body: Vec<u8>) -> PushRequest {
        let mut headers = vec![(
            "content-type".to_string(),
            prometheus::CONTENT_TYPE.to_string(),
        )];
        if let Some(a) = &self.auth {
            headers.push(("authorization".into(), a.clone()));
        }
        PushRequest {
            method,
            url: url.to_string(),
            headers,
            body,
        }
    }
}

impl PushTarget for Pushgateway {
    fn schedule(&self) -> &Schedule {
        &self.cfg.schedule
    }
    fn kind(&self) -> &'static str {
        "pushgateway"
    }
    fn latest_only(&self) -> bool {
        true
    }
    fn encode(&self, families: &[FamilySnapshot], _now_ms: i64) -> Vec<PushRequest> {
        vec![self.request(
            reqwest::Method::PUT,
            &self.group_url,
            prometheus::encode(families).into_bytes(),
        )]
    }
    fn on_start(&self) -> Vec<PushRequest> {
        self.stale_urls
            .iter()
            .map(|u| self.request(reqwest::Method::DELETE, u, Vec::new()))
            .collect()
    }
    fn on_shutdown(&self) -> Vec<PushRequest> {
        if self.cfg.delete_on_shutdown {
            vec![self.request(reqwest::Method::DELETE, &self.group_url, Vec::new())]
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cfg(grouping: Vec<(String, String)>) -> PushgatewayConfig {
        PushgatewayConfig {
            host_url: "http://127.0.0.1:9091/".into(),
            job_name: "tidemark".into(),
            random_suffix: false,
            delete_on_shutdown: true,
            grouping_key: grouping,
            schedule: Schedule {
                name: "pgw".into(),
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(1),
            },
            basic_auth: None,
        }
    }

    #[test]
    fn per_job_group_with_base64_for_awkward_values_and_stale_groups() {
        let p = Pushgateway::new(
            cfg(vec![]),
            "etl/daily",
            "ab12",
            &["old1".into(), "ab12".into()],
        );
        let u = p.group_url();
        assert!(u.starts_with("http://127.0.0.1:9091/metrics/job/tidemark/job_name@base64/ZXRsL2RhaWx5/job_id/ab12/instance/"), "{u}");
        let starts = p.on_start();
        assert_eq!(starts.len(), 1, "only the other run's group is stale");
        assert!(starts[0].url.contains("/job_id/old1/"));
        assert_eq!(starts[0].method, reqwest::Method::DELETE);
        let p = Pushgateway::new(
            cfg(vec![
                ("team".into(), "".into()),
                ("job".into(), "{job_id}".into()),
            ]),
            "x",
            "id9",
            &[],
        );
        assert_eq!(
            p.group_url(),
            "http://127.0.0.1:9091/metrics/job/tidemark/team@base64/=/job/id9"
        );
    }

    #[test]
    fn only_this_cluster_s_groups_of_jobs_that_no_longer_run_are_stale() {
        let group = |id: &str, cluster: &str| {
            serde_json::json!({
                "labels": {"job": "tidemark", "job_name": "wc", "job_id": id, "instance": "agent-1"},
                "last_push_successful": true,
                "tidemark_bridge_jobs": {"type": "GAUGE", "metrics": []},
                "tidemark_task_busy_seconds_total": {"type": "COUNTER", "metrics": [
                    {"labels": {"job": "tidemark", "job_id": id, "cluster": cluster}, "value": "1"}
                ]}
            })
        };
        let answer = serde_json::json!({"status": "success", "data": [
            group("gone", "prod"), group("running", "prod"), group("gone2", "staging")
        ]});
        let running = ["running".to_string()];
        assert_eq!(
            stale_agent_groups(&answer, "http://pgw:9091/", "prod", &running),
            ["http://pgw:9091/metrics/job/tidemark/instance/agent-1/job_id/gone/job_name/wc"]
        );
    }
}
