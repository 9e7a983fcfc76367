//! Reading the REST API of a running job from the command line: a plain
//! HTTP/1.1 GET over a TCP stream (loopback by default), and the job URL.

use serde_json::Value;
use std::io::{Read, Write};
use std::time::Duration;

/// `GET url` and parse the body as JSON.
pub fn get_json(url: &str) -> Result<Value, String> {
    request("GET", url, None, None, 200)
}

/// One request with an optional JSON body and bearer token; the JSON answer
/// when the status is `ok`.
pub fn request(
    method: &str,
    url: &str,
    body: Option<&Value>,
    token: Option<&str>,
    ok: u16,
) -> Result<Value, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("'{url}': expected an http:// URL of the REST API, e.g. http://127.0.0.1:8081")
    })?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut s = std::net::TcpStream::connect(host).map_err(|e| format!("cannot connect to {host}: {e} (is the job running? its REST address is printed at start)"))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("malformed HTTP response")?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let v: Value = serde_json::from_str(body).map_err(|e| format!("{method} {url}: {e}"))?;
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
