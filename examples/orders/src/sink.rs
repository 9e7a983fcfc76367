//! A two-phase sink of its own: verdicts go to a hidden file per transaction;
//! `pre_commit` (at the barrier) makes the file durable and names it in the
//! checkpoint; `commit` (when the checkpoint completed) renames it into view.
//! After a crash, `open` commits what the restored checkpoint names and
//! deletes what was written after it, so each verdict is visible once.

use crate::model::Line;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use tidemark::operator::SubtaskInfo;
use tidemark::prelude::*;

pub struct TwoPhaseFiles {
    dir: PathBuf,
    /// `<job id>-<subtask>`: unique to this run and subtask.
    prefix: String,
    subtask: usize,
    /// The open transaction: its name and file.
    current: Option<(String, File)>,
    next_txn: u64,
    /// Pre-committed transactions and the checkpoint that covers them.
    pending: Vec<(u64, String)>,
}

impl TwoPhaseFiles {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            prefix: String::new(),
            subtask: 0,
            current: None,
            next_txn: 0,
            pending: Vec::new(),
        }
    }

    fn hidden(&self, name: &str) -> PathBuf {
        self.dir.join(format!(".pending-{name}"))
    }

    fn visible(&self, name: &str) -> PathBuf {
        self.dir.join(format!("part-{name}"))
    }

    /// Makes a pre-committed transaction visible; done once, whoever asks.
    fn publish(&self, name: &str) -> Result<()> {
        let (from, to) = (self.hidden(name), self.visible(name));
        match fs::rename(&from, &to) {
            Ok(()) => Ok(()),
            Err(_) if to.exists() => Ok(()),
            Err(e) => Err(Error::io("committing", from, e)),
        }
    }
}

fn io<T>(r: std::io::Result<T>, what: &'static str, p: &Path) -> Result<T> {
    r.map_err(|e| Error::io(what, p, e))
}

// ANCHOR: sink-open
impl<T: Data + Line> Sink<T> for TwoPhaseFiles {
    fn open(&mut self, info: &SubtaskInfo, restored: &[(usize, &[u8])]) -> Result<()> {
        self.subtask = info.index;
        self.prefix = format!("{}-{}", info.job_id, info.index);
        io(fs::create_dir_all(&self.dir), "creating", &self.dir)?;
        // Transactions the checkpoint covers: make them visible.
        for (_, bytes) in restored {
            let names: Vec<String> = bincode::deserialize(bytes)?;
            for name in names {
                self.publish(&name)?;
            }
        }
        // Anything else this subtask left hidden was written after the
        // checkpoint and will be written again: drop it.
        let mine = format!("-{}-", self.subtask);
        for e in io(fs::read_dir(&self.dir), "listing", &self.dir)? {
            let name = e
                .map_err(|e| Error::io("listing", &self.dir, e))?
                .file_name();
            let name = name.to_string_lossy();
            if let Some(txn) = name.strip_prefix(".pending-") {
                if txn.contains(&mine) {
                    let p = self.dir.join(name.as_ref());
                    io(fs::remove_file(&p), "removing", &p)?;
                }
            }
        }
        Ok(())
    }

    // ANCHOR_END: sink-open

    fn write(&mut self, batch: Vec<T>) -> Result<()> {
        if self.current.is_none() {
            let name = format!("{}-{}", self.prefix, self.next_txn);
            self.next_txn += 1;
            let p = self.hidden(&name);
            self.current = Some((name, io(File::create(&p), "creating", &p)?));
        }
        let (name, f) = self.current.as_mut().expect("opened above");
        let mut text = String::new();
        for v in &batch {
            text.push_str(&v.line());
            text.push('\n');
        }
        let p = self.dir.join(format!(".pending-{name}"));
        io(f.write_all(text.as_bytes()), "writing", &p)
    }

    // ANCHOR: sink-phases
    fn pre_commit(&mut self, checkpoint_id: u64) -> Result<Vec<u8>> {
        if let Some((name, f)) = self.current.take() {
            let p = self.hidden(&name);
            io(f.sync_all(), "syncing", &p)?;
            self.pending.push((checkpoint_id, name));
        }
        let names: Vec<&String> = self.pending.iter().map(|(_, n)| n).collect();
        Ok(bincode::serialize(&names)?)
    }

    fn commit(&mut self, checkpoint_id: u64) -> Result<()> {
        let (done, rest) = self
            .pending
            .drain(..)
            .partition(|(id, _)| *id <= checkpoint_id);
        self.pending = rest;
        for (_, name) in done {
            self.publish(&name)?;
        }
        Ok(())
    }

    // ANCHOR_END: sink-phases

    fn finish(&mut self) -> Result<()> {
        // No checkpoint after the last record (checkpointing off).
        if let Some((name, f)) = self.current.take() {
            io(f.sync_all(), "syncing", &self.hidden(&name))?;
            self.publish(&name)?;
        }
        Ok(())
    }
}
