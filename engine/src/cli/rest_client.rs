//! Reading the REST API of a running job from the command line (reqwest on a
//! one-thread runtime: a command makes a handful of requests), and the job URL.

use serde_json::Value;
use std::time::Duration;

/// `GET url` and parse the body as JSON.
pub fn get_json(url: &str) -> Result<Value, String> {
    request("GET", url, None, None, 200)
}

/// `GET url` for an answer that takes its time (a profile samples for
/// seconds): `patience` on top of the usual 10 s.
pub fn get_json_slow(url: &str, patience: Duration) -> Result<Value, String> {
    send("GET", url, None, None, 200, TIMEOUT + patience)
}

/// How long a request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// One request with an optional JSON body and bearer token; the JSON answer
/// when the status is `ok`.
pub fn request(
    method: &str,
    url: &str,
    body: Option<&Value>,
    token: Option<&str>,
    ok: u16,
) -> Result<Value, String> {
    send(method, url, body, token, ok, TIMEOUT)
}

fn send(
    method: &str,
    url: &str,
    body: Option<&Value>,
    token: Option<&str>,
    ok: u16,
    timeout: Duration,
) -> Result<Value, String> {
    if !url.starts_with("http://") && !url.starts_with("https://") {
        return Err(format!(
            "'{url}': expected an http:// URL of the REST API, e.g. http://127.0.0.1:8081"
        ));
    }
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (status, text) = rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?;
        let mut req = client
            .request(method.clone(), url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.map_err(|e| {
            format!(
                "{method} {url}: {e} (is the job running? its REST address is printed at start)"
            )
        })?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?;
        Ok::<_, String>((status, text))
    })?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{method} {url}: {e}"))?;
    if status != ok {
        return Err(format!("{method} {url}: {status} {}", v["errors"]));
    }
    Ok(v)
}

/// `http://host:port/jobs/<id>` from either that URL or the bare REST address
/// (then the first job listed).
pub fn job_url(url: &str) -> Result<String, String> {
    let url = url.trim_end_matches('/');
    if url.contains("/jobs/") {
        return Ok(url.to_string());
    }
    let jobs = get_json(&format!("{url}/jobs"))?;
    let id = jobs["jobs"][0]["id"]
        .as_str()
        .ok_or_else(|| format!("{url}/jobs lists no job"))?;
    Ok(format!("{url}/jobs/{id}"))
}
