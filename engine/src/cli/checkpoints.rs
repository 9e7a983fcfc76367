//! `tidemark checkpoints DIR`: what is stored, and whether it can be restored.

use crate::checkpoint::metadata::{CheckpointMetadata, FINISHED_FILE, METADATA_FILE};
use crate::checkpoint::restore::verify_files;
use std::path::Path;

/// Formats ms since the epoch as `YYYY-MM-DD HH:MM:SS` UTC.
pub fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil-from-days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Lists checkpoints; returns the exit code.
pub fn list(dir: &Path) -> i32 {
    let Ok(jobs) = std::fs::read_dir(dir) else {
        eprintln!(
            "error: cannot read checkpoint directory '{}'",
            dir.display()
        );
        return super::EXIT_USAGE;
    };
    let mut jobs: Vec<_> = jobs
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    jobs.sort();
    println!(
        "{:<34} {:>6}  {:<20} {:<19}  {:>10}  status",
        "job id", "chk", "job name", "completed (UTC)", "size"
    );
    let mut n = 0;
    for job in jobs {
        let Ok(chks) = std::fs::read_dir(&job) else {
            continue;
        };
        let mut chks: Vec<(u64, std::path::PathBuf)> = chks
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_prefix("chk-")
                    .and_then(|i| i.parse().ok())
                    .map(|i| (i, e.path()))
            })
            .collect();
        chks.sort();
        let job_id = job
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (id, p) in chks {
            n += 1;
            if !p.join(METADATA_FILE).exists() {
                println!("{job_id:<34} {id:>6}  {:<20} {:<19}  {:>10}  incomplete (no _metadata): not restorable", "-", "-", "-");
                continue;
            }
            let loc = crate::checkpoint::blob::Location::local(&p);
            match CheckpointMetadata::load(&loc) {
                Err(e) => println!(
                    "{job_id:<34} {id:>6}  {:<20} {:<19}  {:>10}  damaged: {e}",
                    "-", "-", "-"
                ),
                Ok(m) => {
                    let st = match verify_files(&loc, &m) {
                        Ok(()) if m.is_final => "ok (final)".to_string(),
                        Ok(()) => "ok".to_string(),
                        Err(e) => format!("damaged: {e}"),
                    };
                    println!(
                        "{job_id:<34} {id:>6}  {:<20} {:<19}  {:>10}  {st}",
                        m.job_name,
                        utc(m.completed_ms),
                        super::status_line::bytes(m.state_size())
                    );
                }
            }
        }
        let marker = job.join(FINISHED_FILE);
        if let Ok(bytes) = std::fs::read(&marker) {
            n += 1;
            match CheckpointMetadata::decode(&bytes) {
                Ok(m) => println!(
                    "{job_id:<34} {:>6}  {:<20} {:<19}  {:>10}  finished: --restore latest resumes no checkpoint older than this",
                    "-",
                    m.job_name,
                    utc(m.completed_ms),
                    "-"
                ),
                Err(e) => println!(
                    "{job_id:<34} {:>6}  {:<20} {:<19}  {:>10}  damaged {FINISHED_FILE}: {e}",
                    "-", "-", "-", "-"
                ),
            }
        }
    }
    if n == 0 {
        println!("(no checkpoints under {})", dir.display());
    }
    0
}

/// `--job URL`: the history of a running job with the slowest subtask's time
/// in each phase; returns the exit code.
pub fn history(url: &str) -> i32 {
    match render_history(url) {
        Ok(s) => {
            print!("{s}");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            super::EXIT_FAILED
        }
    }
}

/// The history as text.
pub fn render_history(url: &str) -> Result<String, String> {
    use super::rest_client::{get_json, job_url};
    let job = job_url(url)?;
    let stats = get_json(&format!("{job}/checkpoints"))?;
    let details = get_json(&job)?;
    let vertices: Vec<String> = details["plan"]["nodes"]
        .as_array()
        .map(|n| {
            n.iter()
                .filter_map(|v| v["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let c = &stats["counts"];
    let mut out = format!(
        "checkpoints: {} completed, {} failed, {} in progress, {} restored
phases: the slowest subtask's, in ms

{:>6}  {:<11} {:<19} {:>8} {:>10}  {:>11} {:>9} {:>6} {:>6}
",
        c["completed"],
        c["failed"],
        c["in_progress"],
        c["restored"],
        "id",
        "status",
        "triggered (UTC)",
        "e2e ms",
        "size",
        "start delay",
        "alignment",
        "sync",
        "async"
    );
    for h in stats["history"].as_array().cloned().unwrap_or_default() {
        let id = h["id"].as_u64().unwrap_or(0);
        let (mut delay, mut align, mut sync, mut asy) = (0u64, 0u64, 0u64, 0u64);
        for v in &vertices {
            if let Ok(d) = get_json(&format!("{job}/checkpoints/details/{id}/subtasks/{v}")) {
                let m = |p: &str, q: &str| d["summary"][p][q]["max"].as_u64().unwrap_or(0);
                delay = delay.max(d["summary"]["start_delay"]["max"].as_u64().unwrap_or(0));
                align = align.max(m("alignment", "duration"));
                sync = sync.max(m("checkpoint_duration", "sync"));
                asy = asy.max(m("checkpoint_duration", "async"));
            }
        }
        out.push_str(&format!(
            "{:>6}  {:<11} {:<19} {:>8} {:>10}  {:>11} {:>9} {:>6} {:>6}{}\n",
            id,
            h["status"].as_str().unwrap_or(""),
            utc(h["trigger_timestamp"].as_i64().unwrap_or(0)),
            h["end_to_end_duration"].as_i64().unwrap_or(0),
            super::status_line::bytes(h["state_size"].as_u64().unwrap_or(0)),
            delay,
            align,
            sync,
            asy,
            h["failure_message"]
                .as_str()
                .map(|m| format!("  ({m})"))
                .unwrap_or_default()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formatting() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00");
        assert_eq!(super::utc(1_700_000_000_000), "2023-11-14 22:13:20");
    }
}
