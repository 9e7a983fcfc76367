//! The RocksDB state backend (`state.backend.type: rocksdb`).
//!
//! One RocksDB instance per stateful subtask, in a scratch directory under
//! `state.backend.rocksdb.localdir`; one column family per registered state.
//! Keys are `[key group: u16 big-endian][bincode(key)]`, so one key group, and
//! a range of them, is one contiguous scan; values are `bincode(state)`.
//!
//! | file | owns |
//! |---|---|
//! | [`options`] | settings, profiles and the shared memory budget |
//! | [`store`] | one table: the `KvStore` over a column family, with a write-back cache |
//! | [`timers`] | timers in a column family ordered by time (`timer-service.factory: ROCKSDB`) |
//! | [`native_checkpoint`] | native checkpoints: canonical chunks for full snapshots, files for incremental ones |
//! | [`transfer`] | uploading native checkpoints (incremental, shared files) and downloading them for restore |
//! | [`metrics`] | native properties and statistics tickers as gauges |

pub mod metrics;
pub mod native_checkpoint;
pub mod options;
pub mod store;
pub mod timers;
pub mod transfer;

pub use native_checkpoint::NativeSnapshot;
pub use options::{RocksSettings, RocksShared};

use crate::error::{Error, Result};
use crate::state::key_group::KeyGroupRange;
use rocksdb::{ColumnFamilyDescriptor, DBWithThreadMode, MultiThreaded, Options};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The database type: column families can be created through `&self`.
pub type Db = DBWithThreadMode<MultiThreaded>;

/// An open instance that deletes its scratch directory when the last user
/// (the backend or a table) lets go of it.
pub struct DbHandle {
    db: Option<Db>,
    dir: PathBuf,
    opts: Options,
    /// Its share of the memory budget, kept alive with it.
    pub budget: Option<options::MemoryBudget>,
    /// Where its tables time lookups, once its metrics are started.
    pub lookup_metrics: std::sync::OnceLock<metrics::LookupMetrics>,
}

impl DbHandle {
    /// The database.
    #[inline]
    pub fn db(&self) -> &Db {
        self.db.as_ref().expect("open until dropped")
    }

    /// Its working directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options it was opened with (statistics live here).
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Opens (or creates) the instance in `dir` with `tables` as column families.
    pub fn open(
        dir: PathBuf,
        settings: &RocksSettings,
        shared: &RocksShared,
        tables: &[String],
    ) -> Result<Self> {
        if let Some(parent) = dir.parent() {
            clean_stale(parent);
        }
        let budget = shared.budgets.budget(settings);
        let opts = options::options(settings, budget.as_ref());
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io("creating RocksDB directory", &dir, e))?;
        let cfs: Vec<_> = tables
            .iter()
            .map(|t| ColumnFamilyDescriptor::new(t, opts.clone()))
            .collect();
        let db = Db::open_cf_descriptors(&opts, &dir, cfs)
            .map_err(|e| Error::Checkpoint(format!("opening RocksDB in {}: {e}", dir.display())))?;
        Ok(Self {
            db: Some(db),
            dir,
            opts,
            budget,
            lookup_metrics: std::sync::OnceLock::new(),
        })
    }

    /// Creates column family `name` if it does not exist.
    pub fn ensure_table(&self, name: &str) -> Result<()> {
        if self.db().cf_handle(name).is_none() {
            self.db().create_cf(name, &self.opts).map_err(|e| {
                Error::Checkpoint(format!("creating RocksDB column family '{name}': {e}"))
            })?;
        }
        Ok(())
    }

    /// Column families other than `default`.
    pub fn tables(&self) -> Vec<String> {
        Db::list_cf(&self.opts, &self.dir)
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n != "default")
            .collect()
    }
}

impl Drop for DbHandle {
    fn drop(&mut self) {
        drop(self.db.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The first bytes of every key of key group `kg`.
#[inline]
pub fn key_group_prefix(kg: u32) -> [u8; 2] {
    (kg as u16).to_be_bytes()
}

/// The key group a stored key belongs to.
#[inline]
pub fn key_group_of(stored: &[u8]) -> u32 {
    u16::from_be_bytes([stored[0], stored[1]]) as u32
}

/// Bounds of a scan over `range`: `[start prefix, end prefix + 1)`.
pub fn range_bounds(range: KeyGroupRange) -> (Vec<u8>, Vec<u8>) {
    (
        key_group_prefix(range.start).to_vec(),
        (range.end + 1).to_be_bytes()[2..].to_vec(),
    )
}

/// Deletes scratch directories (instances, native checkpoints, imports) and
/// temporary files (spilled snapshots, restore downloads) that processes no
/// longer running left behind, e.g. after a SIGKILL: they are named after the
/// process that made them.
pub fn clean_stale(local_dir: &Path) {
    let Ok(rd) = std::fs::read_dir(local_dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = if name.starts_with("job_") {
            let base = name.split('-').next().unwrap_or(&name);
            base.rsplit('_').next().and_then(|p| p.parse::<u32>().ok())
        } else {
            crate::checkpoint::spool::TempFile::owner_pid(&name)
        };
        if let Some(pid) = pid {
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                log::info!(
                    "removing {}, left by process {pid} which is gone",
                    e.path().display()
                );
                let _ = if e.path().is_dir() {
                    std::fs::remove_dir_all(e.path())
                } else {
                    std::fs::remove_file(e.path())
                };
            }
        }
    }
}

/// A unique scratch directory for one instance.
pub fn scratch_dir(
    settings: &RocksSettings,
    job_id: &str,
    uid: &str,
    subtask: usize,
    attempt: u32,
) -> PathBuf {
    settings.local_dir.join(format!(
        "job_{job_id}_op_{uid}_{subtask}_attempt_{attempt}_{}",
        std::process::id()
    ))
}

/// Shared handle type.
pub type SharedDb = Arc<DbHandle>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_scratch_directories_of_dead_processes_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let mine = d
            .path()
            .join(format!("job_a_op_count_0_attempt_0_{}", std::process::id()));
        let dead = d.path().join("job_a_op_count_0_attempt_0_4000000000");
        let dead_chk = d.path().join("job_a_op_count_0_attempt_0_4000000000-chk-7");
        for p in [&mine, &dead, &dead_chk] {
            std::fs::create_dir_all(p).unwrap();
        }
        // A spilled snapshot of a dead process, and one of this process.
        let dead_spill = d.path().join(".tidemark-state-4000000000-3.tmp");
        let my_spill = d
            .path()
            .join(format!(".tidemark-restore-{}-0.tmp", std::process::id()));
        std::fs::write(&dead_spill, b"x").unwrap();
        std::fs::write(&my_spill, b"x").unwrap();
        clean_stale(d.path());
        assert!(mine.exists() && my_spill.exists());
        assert!(!dead.exists() && !dead_chk.exists() && !dead_spill.exists());
    }

    #[test]
    fn key_group_prefixes_sort_by_group() {
        assert!(key_group_prefix(1) < key_group_prefix(2));
        assert!(key_group_prefix(255) < key_group_prefix(256));
        let (lo, hi) = range_bounds(KeyGroupRange { start: 3, end: 300 });
        assert_eq!(lo, vec![0, 3]);
        assert_eq!(hi, vec![1, 45]);
        assert_eq!(key_group_of(&[1, 44, 9]), 300);
    }
}
