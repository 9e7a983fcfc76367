//! Snapshots of a RocksDB instance. The synchronous phase writes the table
//! caches out and takes a native checkpoint (a flush plus hard links, so it
//! costs little however large the state is). The asynchronous phase then
//! either uploads the checkpoint's files (incremental) or reads it back into
//! canonical per-key-group chunks (full snapshots and savepoints).

use super::transfer::Uploads;
use super::{key_group_of, Db, DbHandle};
use crate::error::{Error, Result};
use crate::state::key_group::KeyGroupRange;
use crate::state::state_file::{ChunkWriter, TableSnapshot};
use rocksdb::checkpoint::Checkpoint;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// A native checkpoint to be uploaded file by file.
pub struct NativeSnapshot {
    /// The checkpoint's directory (hard links into the instance).
    pub dir: PathBuf,
    /// Column families in it.
    pub tables: Vec<String>,
    /// Key groups of the instance.
    pub key_groups: KeyGroupRange,
    /// What earlier checkpoints uploaded, to upload only new SST files.
    pub uploads: Arc<Mutex<Uploads>>,
}

/// Takes a native checkpoint of `db` for checkpoint `id`, beside its directory.
pub fn native_checkpoint(db: &DbHandle, id: u64) -> Result<PathBuf> {
    let name = db
        .dir()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let path = db.dir().with_file_name(format!("{name}-chk-{id}"));
    let _ = std::fs::remove_dir_all(&path);
    Checkpoint::new(db.db())
        .and_then(|c| c.create_checkpoint(&path))
        .map_err(|e| {
            Error::Checkpoint(format!("RocksDB native checkpoint {}: {e}", path.display()))
        })?;
    Ok(path)
}

/// A native checkpoint opened read-only on first use, deleted when dropped.
pub struct CheckpointReader {
    dir: PathBuf,
    tables: Vec<String>,
    db: OnceLock<std::result::Result<Db, String>>,
    range: KeyGroupRange,
}

impl CheckpointReader {
    /// Reads `dir`, which holds `tables`, over `range`.
    pub fn new(dir: PathBuf, tables: Vec<String>, range: KeyGroupRange) -> Arc<Self> {
        Arc::new(Self {
            dir,
            tables,
            db: OnceLock::new(),
            range,
        })
    }

    fn db(&self) -> Result<&Db> {
        self.db
            .get_or_init(|| open_read_only(&self.dir, &self.tables))
            .as_ref()
            .map_err(|e| Error::Checkpoint(e.clone()))
    }

    /// Calls `f(key group, stored key, value)` for every entry of `table` in
    /// the reader's key-group range, in key order.
    pub fn scan(
        &self,
        table: &str,
        mut f: impl FnMut(u32, &[u8], &[u8]) -> Result<()>,
    ) -> Result<()> {
        scan_range(self.db()?, table, self.range, &mut f)
    }

    /// Calls `f(stored key, value)` for every entry of `table`.
    pub fn scan_all(
        &self,
        table: &str,
        f: &mut dyn FnMut(&[u8], &[u8]) -> Result<()>,
    ) -> Result<()> {
        scan_all(self.db()?, table, f)
    }
}

impl Drop for CheckpointReader {
    fn drop(&mut self) {
        drop(self.db.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Opens a RocksDB directory read-only with the given column families.
pub fn open_read_only(dir: &Path, tables: &[String]) -> std::result::Result<Db, String> {
    let mut o = rocksdb::Options::default();
    o.set_keep_log_file_num(1);
    Db::open_cf_for_read_only(&o, dir, tables, false)
        .map_err(|e| format!("opening RocksDB checkpoint {}: {e}", dir.display()))
}

/// Scans `table` of `db` over the key groups of `range`.
pub fn scan_range(
    db: &Db,
    table: &str,
    range: KeyGroupRange,
    f: &mut dyn FnMut(u32, &[u8], &[u8]) -> Result<()>,
) -> Result<()> {
    let cf = db
        .cf_handle(table)
        .ok_or_else(|| Error::Checkpoint(format!("RocksDB checkpoint has no table '{table}'")))?;
    let (lo, hi) = super::range_bounds(range);
    let mut ro = rocksdb::ReadOptions::default();
    ro.set_iterate_upper_bound(hi);
    ro.fill_cache(false);
    let mut it = db.raw_iterator_cf_opt(&cf, ro);
    it.seek(&lo);
    while it.valid() {
        let (Some(k), Some(v)) = (it.key(), it.value()) else {
            break;
        };
        f(key_group_of(k), k, v)?;
        it.next();
    }
    it.status()
        .map_err(|e| Error::Checkpoint(format!("scanning RocksDB table '{table}': {e}")))
}

/// Scans every entry of `table` of `db`.
pub fn scan_all(db: &Db, table: &str, f: &mut dyn FnMut(&[u8], &[u8]) -> Result<()>) -> Result<()> {
    let cf = db
        .cf_handle(table)
        .ok_or_else(|| Error::Checkpoint(format!("RocksDB checkpoint has no table '{table}'")))?;
    let mut ro = rocksdb::ReadOptions::default();
    ro.fill_cache(false);
    let mut it = db.raw_iterator_cf_opt(&cf, ro);
    it.seek_to_first();
    while it.valid() {
        let (Some(k), Some(v)) = (it.key(), it.value()) else {
            break;
        };
        f(k, v)?;
        it.next();
    }
    it.status()
        .map_err(|e| Error::Checkpoint(format!("scanning RocksDB table '{table}': {e}")))
}

/// One table of a full snapshot, written as canonical chunks.
pub struct FullTableSnapshot {
    /// The table (column family) name.
    pub name: String,
    /// The checkpoint it is read from, shared by the instance's tables.
    pub reader: Arc<CheckpointReader>,
}

impl TableSnapshot for FullTableSnapshot {
    fn name(&self) -> &str {
        &self.name
    }

    /// A chunk is `bincode(Vec<(K, S)>)`: a u64 count, then each key and value
    /// as bincode bytes, which is exactly the stored key without its key-group
    /// prefix followed by the stored value. So chunks are assembled from raw
    /// bytes, without knowing the types.
    fn write(&self, _max_parallelism: u32, w: &mut ChunkWriter<'_, '_>) -> Result<()> {
        let mut cur: Option<u32> = None;
        let mut count = 0u64;
        let mut body = Vec::new();
        let mut chunk = Vec::new();
        let mut emit = |kg: u32, count: u64, body: &[u8], w: &mut ChunkWriter<'_, '_>| {
            chunk.clear();
            chunk.extend_from_slice(&count.to_le_bytes());
            chunk.extend_from_slice(body);
            w.write_raw(kg, &chunk)
        };
        self.reader.scan(&self.name, |kg, k, v| {
            if cur != Some(kg) {
                if let Some(c) = cur {
                    emit(c, count, &body, w)?;
                }
                cur = Some(kg);
                count = 0;
                body.clear();
            }
            count += 1;
            body.extend_from_slice(&k[2..]);
            body.extend_from_slice(v);
            Ok(())
        })?;
        if let Some(c) = cur {
            emit(c, count, &body, w)?;
        }
        Ok(())
    }
}
