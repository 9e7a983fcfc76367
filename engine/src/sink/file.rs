//! An exactly-once file sink (two-phase commit, as Flink's `FileSink`).
//!
//! Records go to a hidden in-progress file `.part-<subtask>-<run>-<n>.inprogress`.
//! At a barrier the file is synced and closed, and (in-progress name, final
//! name) becomes pending state in the checkpoint. When the checkpoint completes
//! it is renamed to `part-<subtask>-<run>-<n>`, visible to readers. After a
//! crash, the restored pending files are committed (the checkpoint holding them
//! did complete) and every other in-progress file of the subtask is deleted:
//! its records come again from the restored source positions. A reader that
//! ignores dot-files therefore never sees uncommitted or duplicated output.

use super::Sink;
use crate::error::{Error, Result};
use crate::operator::SubtaskInfo;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingFile {
    checkpoint_id: u64,
    in_progress: String,
    final_name: String,
}

/// Writes lines into part files, committed on checkpoint completion.
pub struct FileSink<T> {
    dir: PathBuf,
    format: Arc<dyn Fn(&T, &mut String) + Send + Sync>,
    subtask: usize,
    run: String,
    seq: u64,
    current: Option<(BufWriter<File>, String)>,
    pending: Vec<PendingFile>,
    line: String,
}

impl<T> FileSink<T> {
    /// A sink writing `format(record)` lines into `dir`.
    pub fn new(dir: PathBuf, format: Arc<dyn Fn(&T, &mut String) + Send + Sync>) -> Self {
        Self {
            dir,
            format,
            subtask: 0,
            run: String::new(),
            seq: 0,
            current: None,
            pending: Vec::new(),
            line: String::new(),
        }
    }

    fn commit_file(&self, p: &PendingFile) -> Result<()> {
        let from = self.dir.join(&p.in_progress);
        let to = self.dir.join(&p.final_name);
        if to.exists() {
            return Ok(()); // committed before a crash
        }
        fs::rename(&from, &to).map_err(|e| {
            Error::io(
                "committing part file (the checkpoint names it, but it is gone)",
                &from,
                e,
            )
        })
    }

    /// Makes the renames that committed files durable. A failure is the
    /// task's: a commit that may not survive a crash is not a commit.
    fn sync_dir(&self) -> Result<()> {
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io("syncing the output directory", &self.dir, e))
    }

    fn close_current(&mut self) -> Result<Option<String>> {
        let Some((mut w, name)) = self.current.take() else {
            return Ok(None);
        };
        let p = self.dir.join(&name);
        w.flush()
            .map_err(|e| Error::io("flushing part file", &p, e))?;
        w.get_ref()
            .sync_all()
            .map_err(|e| Error::io("syncing part file", &p, e))?;
        Ok(Some(name))
    }

    fn final_name(&self, in_progress: &str) -> String {
        in_progress
            .trim_start_matches('.')
            .trim_end_matches(".inprogress")
            .to_string()
    }
}

/// Deletes the in-progress files of `subtask` in `dir` that are not in `keep`.
fn remove_leftovers(dir: &Path, subtask: usize, keep: &[String]) -> Result<usize> {
    let prefix = format!(".part-{subtask}-");
    let mut n = 0;
    for e in fs::read_dir(dir)
        .map_err(|e| Error::io("listing output directory", dir, e))?
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(".inprogress") && !keep.contains(&name) {
            fs::remove_file(e.path())
                .map_err(|er| Error::io("removing uncommitted part file", e.path(), er))?;
            n += 1;
        }
    }
    Ok(n)
}

impl<T: Send + 'static> Sink<T> for FileSink<T> {
    fn open(&mut self, info: &SubtaskInfo, restored: &[(usize, &[u8])]) -> Result<()> {
        fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io("creating output directory", &self.dir, e))?;
        self.subtask = info.index;
        self.run = format!(
            "{}{:02}",
            &info.job_id[..8.min(info.job_id.len())],
            info.attempt
        );
        // The pending files of every old subtask handed to this one: its own,
        // or after a rescale those of old subtasks i with i mod p == index.
        let mut removed = 0;
        for (old, bytes) in restored {
            if !bytes.is_empty() {
                let pending: Vec<PendingFile> = bincode::deserialize(bytes)?;
                for p in &pending {
                    self.commit_file(p)?;
                }
                self.sync_dir()?;
            }
            if *old != self.subtask {
                removed += remove_leftovers(&self.dir, *old, &[])?;
            }
        }
        removed += remove_leftovers(&self.dir, self.subtask, &[])?;
        if removed > 0 {
            log::info!(
                "{}#{}: removed {removed} uncommitted part file(s) left by an earlier run",
                info.vertex,
                info.index
            );
        }
        Ok(())
    }

    fn write(&mut self, batch: Vec<T>) -> Result<()> {
        if self.current.is_none() {
            let name = format!(
                ".part-{}-{}-{}.inprogress",
                self.subtask, self.run, self.seq
            );
            self.seq += 1;
            let p = self.dir.join(&name);
            let f = File::create(&p).map_err(|e| Error::io("creating part file", &p, e))?;
            self.current = Some((BufWriter::with_capacity(1 << 16, f), name));
        }
        let (w, name) = self.current.as_mut().expect("opened above");
        for r in &batch {
            self.line.clear();
            (self.format)(r, &mut self.line);
            self.line.push('\n');
            w.write_all(self.line.as_bytes())
                .map_err(|e| Error::io("writing part file", self.dir.join(&*name), e))?;
        }
        Ok(())
    }

    fn pre_commit(&mut self, checkpoint_id: u64) -> Result<Vec<u8>> {
        if let Some(name) = self.close_current()? {
            let final_name = self.final_name(&name);
            self.pending.push(PendingFile {
                checkpoint_id,
                in_progress: name,
                final_name,
            });
        }
        Ok(bincode::serialize(&self.pending)?)
    }

    fn commit(&mut self, checkpoint_id: u64) -> Result<()> {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.checkpoint_id <= checkpoint_id);
        self.pending = later;
        for p in &due {
            self.commit_file(p)?;
        }
        if !due.is_empty() {
            self.sync_dir()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        if let Some(name) = self.close_current()? {
            let p = PendingFile {
                checkpoint_id: 0,
                final_name: self.final_name(&name),
                in_progress: name,
            };
            self.commit_file(&p)?;
            self.sync_dir()?;
        }
        Ok(())
    }
}
