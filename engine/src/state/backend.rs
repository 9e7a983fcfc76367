//! The keyed state backend of one subtask: the tables its functions registered,
//! the restored chunks waiting for their table, and the snapshot of all of them.
//! Tables live on the heap or in one RocksDB instance per subtask.

use crate::checkpoint::blob::Location;
use crate::data::{Data, Key};
use crate::error::{Error, Result};
use crate::state::key_group::KeyGroupRange;
use crate::state::rocks::native_checkpoint::{
    native_checkpoint, CheckpointReader, FullTableSnapshot,
};
use crate::state::rocks::store::RocksStore;
use crate::state::rocks::timers::TimerTableSnapshot;
use crate::state::rocks::transfer::{download, RestoreSource, Uploads};
use crate::state::rocks::{DbHandle, NativeSnapshot, RocksSettings, RocksShared, SharedDb};
use crate::state::state_file::{ChunkRef, Compression, NativeHandle, StateFile, TableSnapshot};
use crate::state::store::{HeapStore, KvStore};
use crate::state::timers::TIMER_TABLE;
use std::any::Any;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Where keyed state lives (`state.backend.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateBackendKind {
    /// Objects on the heap (`hashmap`).
    Heap,
    /// One RocksDB instance per subtask (`rocksdb`).
    RocksDb,
}

/// How state is kept and snapshotted: the backend and the checkpoint options
/// that shape its snapshots.
#[derive(Debug, Clone)]
pub struct StateSettings {
    /// `state.backend.type`.
    pub kind: StateBackendKind,
    /// RocksDB options (used when `kind` is RocksDb).
    pub rocks: RocksSettings,
    /// Memory budgets shared by the instances of one job.
    pub rocks_shared: RocksShared,
    /// `execution.checkpointing.incremental` (RocksDB only).
    pub incremental: bool,
    /// `execution.checkpointing.snapshot-compression`.
    pub compression: Compression,
    /// `execution.state-recovery.from-local`: the root of task-local copies.
    pub local_recovery: Option<PathBuf>,
}

impl Default for StateSettings {
    fn default() -> Self {
        Self {
            kind: StateBackendKind::Heap,
            rocks: RocksSettings::default(),
            rocks_shared: RocksShared::default(),
            incremental: false,
            compression: Compression::None,
            local_recovery: None,
        }
    }
}

/// A RocksDB checkpoint to restore from: its handle, the job folder its keys
/// are relative to, and a task-local copy if one exists.
#[derive(Debug, Clone)]
pub struct RestoredNative {
    /// What the checkpoint recorded.
    pub handle: NativeHandle,
    /// The job folder of the checkpoint.
    pub job: Location,
    /// The task-local copy of this native checkpoint, if local recovery kept one.
    pub local: Option<PathBuf>,
    /// Whether the checkpoint belongs to the running job (its files can be
    /// referenced again, so the next checkpoint stays incremental).
    pub same_job: bool,
}

/// Who owns a backend: for scratch directories, logs and metrics.
#[derive(Debug, Clone)]
pub struct BackendOwner {
    /// Job id.
    pub job_id: String,
    /// Operator uid.
    pub uid: String,
    /// Subtask index.
    pub subtask: usize,
    /// Attempt number.
    pub attempt: u32,
}

/// How the last restore went.
#[derive(Debug, Clone, Copy)]
pub struct RestoreReport {
    /// Where the RocksDB files came from.
    pub source: RestoreSource,
    /// Until the state was ready, milliseconds: download and open of RocksDB
    /// files, or read, verify and load of a full snapshot's chunks.
    pub millis: u64,
    /// A full snapshot (chunks loaded key by key), not RocksDB files.
    pub full: bool,
}

struct Rocks {
    db: SharedDb,
    uploads: Arc<Mutex<Uploads>>,
    cache_bytes: usize,
}

/// A typed reference to a registered table, returned at registration.
#[derive(Debug)]
pub struct TableId<S> {
    idx: usize,
    _p: PhantomData<fn() -> S>,
}

impl<S> Clone for TableId<S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S> Copy for TableId<S> {}

trait ErasedTable<K>: Send {
    fn snapshot(&self) -> Box<dyn TableSnapshot>;
    fn flush(&mut self) -> Result<()>;
    fn prefetch(&mut self, keys: &[K]) -> Result<()>;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

struct Table<K, S> {
    name: String,
    store: Box<dyn KvStore<K, S>>,
}

impl<K: Key, S: Data> ErasedTable<K> for Table<K, S> {
    fn snapshot(&self) -> Box<dyn TableSnapshot> {
        self.store.snapshot(&self.name)
    }
    fn flush(&mut self) -> Result<()> {
        self.store.flush()
    }
    fn prefetch(&mut self, keys: &[K]) -> Result<()> {
        self.store.prefetch(keys)
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// All keyed state of one subtask.
pub struct KeyedStateBackend<K> {
    rocks: Option<Rocks>,
    incremental: bool,
    restore_report: Option<RestoreReport>,
    max_parallelism: u32,
    range: KeyGroupRange,
    tables: Vec<Box<dyn ErasedTable<K>>>,
    names: Vec<String>,
    /// Restored chunks by table name, loaded one at a time when the table is
    /// registered (a function registers its state in `open`, after restore).
    restored: HashMap<String, Vec<ChunkRef>>,
}

impl<K: Key> KeyedStateBackend<K> {
    /// An empty heap backend owning `range` of `max_parallelism` key groups.
    pub fn new(max_parallelism: u32, range: KeyGroupRange) -> Self {
        Self {
            rocks: None,
            incremental: false,
            restore_report: None,
            max_parallelism,
            range,
            tables: Vec::new(),
            names: Vec::new(),
            restored: HashMap::new(),
        }
    }

    /// A backend as `settings` say, with RocksDB files restored from `natives`
    /// (which may cover other key-group ranges: after rescaling, each old
    /// instance's share of `range` is copied in).
    pub fn open(
        settings: &StateSettings,
        owner: &BackendOwner,
        max_parallelism: u32,
        range: KeyGroupRange,
        natives: &[RestoredNative],
    ) -> Result<Self> {
        let mut b = Self::new(max_parallelism, range);
        if settings.kind == StateBackendKind::Heap {
            if !natives.is_empty() {
                return Err(Error::Checkpoint(
                    "this checkpoint holds RocksDB files (an incremental checkpoint); restore it with \
                     state.backend.type: rocksdb, or restore from a savepoint, which any backend reads"
                        .into(),
                ));
            }
            return Ok(b);
        }
        b.incremental = settings.incremental;
        let dir = crate::state::rocks::scratch_dir(
            &settings.rocks,
            &owner.job_id,
            &owner.uid,
            owner.subtask,
            owner.attempt,
        );
        let _ = std::fs::remove_dir_all(&dir);
        let uploads = Arc::new(Mutex::new(Uploads::default()));
        let start = Instant::now();
        let mine: Vec<&RestoredNative> = natives
            .iter()
            .filter(|n| {
                let (s, e) = n.handle.key_groups;
                s <= range.end && e >= range.start
            })
            .collect();
        let db = match mine.as_slice() {
            [one] if one.handle.key_groups == (range.start, range.end) => {
                let source = download(&one.handle, &one.job, one.local.as_deref(), &dir)?;
                b.restore_report = Some(RestoreReport {
                    source,
                    millis: 0,
                    full: false,
                });
                if one.same_job {
                    uploads
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .seed(&one.handle.files);
                }
                DbHandle::open(
                    dir,
                    &settings.rocks,
                    &settings.rocks_shared,
                    &one.handle.tables,
                )?
            }
            _ => {
                let db = DbHandle::open(dir, &settings.rocks, &settings.rocks_shared, &[])?;
                let mut source = None;
                for (i, n) in mine.iter().enumerate() {
                    let s = import_range(&db, n, range, i)?;
                    source = Some(match (source, s) {
                        (Some(RestoreSource::Remote), _) | (_, RestoreSource::Remote) => {
                            RestoreSource::Remote
                        }
                        _ => RestoreSource::Local,
                    });
                }
                b.restore_report = source.map(|source| RestoreReport {
                    source,
                    millis: 0,
                    full: false,
                });
                db
            }
        };
        if let Some(r) = &mut b.restore_report {
            r.millis = start.elapsed().as_millis() as u64;
        }
        b.rocks = Some(Rocks {
            db: Arc::new(db),
            uploads,
            cache_bytes: settings.rocks.cache_bytes,
        });
        Ok(b)
    }

    /// The RocksDB instance, if this backend uses one (for metrics).
    pub fn rocks_db(&self) -> Option<&SharedDb> {
        self.rocks.as_ref().map(|r| &r.db)
    }

    /// Where the restore read RocksDB files from, and how long it took.
    pub fn restore_report(&self) -> Option<RestoreReport> {
        self.restore_report
    }

    /// Checkpoint `id` completed: its uploaded files may be referenced again.
    pub fn notify_complete(&mut self, id: u64) {
        if let Some(r) = &self.rocks {
            r.uploads
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .confirm(id);
        }
    }

    /// Number of key groups.
    pub fn max_parallelism(&self) -> u32 {
        self.max_parallelism
    }

    /// Takes the chunks of this subtask's key groups from restored state files
    /// (one per old subtask: after rescaling, several files hold our groups).
    /// Without RocksDB files, this is a full-snapshot restore: its report
    /// starts with the time the files holding our groups took to read.
    pub fn restore_from(&mut self, files: &[std::sync::Arc<StateFile>]) -> Result<()> {
        let (mut read_ms, mut any, mut all_local) = (0, false, true);
        for f in files {
            let chunks = f.chunk_refs(self.range);
            if !chunks.is_empty() {
                any = true;
                read_ms += f.read_millis();
                all_local &= f.is_local();
            }
            for (name, chunk) in chunks {
                self.restored.entry(name).or_default().push(chunk);
            }
        }
        if any && self.restore_report.is_none() {
            self.restore_report = Some(RestoreReport {
                source: if all_local {
                    RestoreSource::Local
                } else {
                    RestoreSource::Remote
                },
                millis: read_ms,
                full: true,
            });
        }
        Ok(())
    }

    /// The restore is over (the function registered its states, which loads
    /// a full snapshot's chunks): adds `loading` to the report and logs it.
    pub fn finish_restore(&mut self, loading: std::time::Duration, uid: &str, subtask: usize) {
        let rocks = self.rocks.is_some();
        let Some(r) = &mut self.restore_report else {
            return;
        };
        r.millis += loading.as_millis() as u64;
        log::info!(
            "operator {uid} subtask {subtask}: restored {} state from the {} copy in {} ms ({})",
            if rocks { "RocksDB" } else { "heap" },
            if r.source == RestoreSource::Local {
                "task-local"
            } else {
                "checkpoint storage"
            },
            r.millis,
            if r.full {
                "full snapshot"
            } else {
                "RocksDB files"
            }
        );
    }

    /// Takes restored chunks of a table that is not a registered state (timers).
    pub fn take_restored(&mut self, name: &str) -> Result<Vec<Vec<u8>>> {
        self.restored
            .remove(name)
            .unwrap_or_default()
            .iter()
            .map(ChunkRef::load)
            .collect()
    }

    /// Registers a table named `name` holding `S` per key, filled from restored chunks.
    pub fn register<S: Data>(&mut self, name: &str) -> Result<TableId<S>> {
        if self.names.iter().any(|n| n == name) {
            return Err(Error::Task(format!(
                "state '{name}' is registered twice in one operator: give each state its own name"
            )));
        }
        let mut store: Box<dyn KvStore<K, S>> = match &self.rocks {
            None => Box::new(HeapStore::<K, S>::default()),
            Some(r) => Box::new(RocksStore::<K, S>::new(
                r.db.clone(),
                name,
                self.max_parallelism,
                r.cache_bytes,
            )?),
        };
        for chunk in self.restored.remove(name).unwrap_or_default() {
            store.restore_chunk(&chunk.load()?).map_err(|e| {
                Error::Checkpoint(format!(
                    "restoring state '{name}': {e} (was the state's type changed since the checkpoint?)"
                ))
            })?;
        }
        self.tables.push(Box::new(Table {
            name: name.to_string(),
            store,
        }));
        self.names.push(name.to_string());
        Ok(TableId {
            idx: self.tables.len() - 1,
            _p: PhantomData,
        })
    }

    /// Loads the state of `keys` ahead of their records, where loading
    /// costs (RocksDB: one batched lookup per table the function uses).
    pub fn prefetch(&mut self, keys: &[K]) -> Result<()> {
        if self.rocks.is_none() {
            return Ok(());
        }
        self.tables.iter_mut().try_for_each(|t| t.prefetch(keys))
    }

    /// The store behind a table id.
    #[inline]
    pub fn store<S: Data>(&mut self, id: TableId<S>) -> &mut dyn KvStore<K, S> {
        let t = self.tables[id.idx]
            .as_any_mut()
            .downcast_mut::<Table<K, S>>()
            .expect("a TableId always names a table of its own type");
        t.store.as_mut()
    }

    /// Restored tables nobody registered: state the new code no longer has.
    pub fn unclaimed(&self) -> Vec<String> {
        self.restored.keys().cloned().collect()
    }

    /// The synchronous snapshot phase: copies of every table (heap), or a
    /// native checkpoint (RocksDB) to be uploaded file by file when
    /// `incremental` (and not a savepoint), else read back into chunks.
    pub fn snapshot(
        &mut self,
        id: u64,
        savepoint: bool,
    ) -> Result<(Vec<Box<dyn TableSnapshot>>, Option<NativeSnapshot>)> {
        let Some(r) = &self.rocks else {
            return Ok((self.tables.iter().map(|t| t.snapshot()).collect(), None));
        };
        for t in &mut self.tables {
            t.flush()?;
        }
        let dir = native_checkpoint(&r.db, id)?;
        // Every column family: registered states, and timers if they live here.
        let tables = r.db.tables();
        if self.incremental && !savepoint {
            return Ok((
                Vec::new(),
                Some(NativeSnapshot {
                    dir,
                    tables,
                    key_groups: self.range,
                    uploads: r.uploads.clone(),
                }),
            ));
        }
        let reader = CheckpointReader::new(dir, tables.clone(), self.range);
        let mut out: Vec<Box<dyn TableSnapshot>> = self
            .names
            .iter()
            .map(|n| {
                Box::new(FullTableSnapshot {
                    name: n.clone(),
                    reader: reader.clone(),
                }) as Box<dyn TableSnapshot>
            })
            .collect();
        if tables.iter().any(|t| t == TIMER_TABLE) {
            out.push(Box::new(TimerTableSnapshot { reader }));
        }
        Ok((out, None))
    }

    /// The heap tables' copies (tests).
    pub fn snapshot_tables(&self) -> Vec<Box<dyn TableSnapshot>> {
        self.tables.iter().map(|t| t.snapshot()).collect()
    }
}

/// Copies the part of `n` inside `range` into `db`, table by table.
fn import_range(
    db: &DbHandle,
    n: &RestoredNative,
    range: KeyGroupRange,
    i: usize,
) -> Result<RestoreSource> {
    let tmp = db.dir().with_file_name(format!(
        "{}-import-{i}",
        db.dir()
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    let source = download(&n.handle, &n.job, n.local.as_deref(), &tmp)?;
    let result = (|| {
        let ro = crate::state::rocks::native_checkpoint::open_read_only(&tmp, &n.handle.tables)
            .map_err(Error::Checkpoint)?;
        let (s, e) = n.handle.key_groups;
        let part = KeyGroupRange {
            start: s.max(range.start),
            end: e.min(range.end),
        };
        for t in &n.handle.tables {
            db.ensure_table(t)?;
            let cf = db
                .db()
                .cf_handle(t)
                .ok_or_else(|| Error::Checkpoint(format!("column family '{t}' missing")))?;
            let mut batch = rocksdb::WriteBatch::default();
            let mut wo = rocksdb::WriteOptions::default();
            wo.disable_wal(true);
            let mut put = |k: &[u8], v: &[u8]| -> Result<()> {
                batch.put_cf(&cf, k, v);
                if batch.len() >= 10_000 {
                    db.db()
                        .write_opt(std::mem::take(&mut batch), &wo)
                        .map_err(|e| Error::Checkpoint(format!("importing state '{t}': {e}")))?;
                }
                Ok(())
            };
            if t == TIMER_TABLE {
                // Ordered by time: the key group is a filter, not a prefix.
                crate::state::rocks::native_checkpoint::scan_all(&ro, t, &mut |k, v| {
                    if crate::state::rocks::timers::in_range(k, part) {
                        put(k, v)?;
                    }
                    Ok(())
                })?;
            } else {
                crate::state::rocks::native_checkpoint::scan_range(
                    &ro,
                    t,
                    part,
                    &mut |_, k, v| put(k, v),
                )?;
            }
            db.db()
                .write_opt(batch, &wo)
                .map_err(|e| Error::Checkpoint(format!("importing state '{t}': {e}")))?;
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result.map(|_| source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::blob::Location;
    use crate::state::key_group::key_group_range_for_subtask;
    use crate::state::rocks::transfer::upload;
    use crate::state::state_file::{encode, encode_to, OperatorSnapshot, StateHandle};

    fn settings(dir: &std::path::Path, incremental: bool) -> StateSettings {
        let mut s = StateSettings {
            kind: StateBackendKind::RocksDb,
            incremental,
            compression: Compression::Zstd,
            ..StateSettings::default()
        };
        s.rocks.local_dir = dir.to_path_buf();
        s.rocks.cache_bytes = 16 * 100; // about 16 entries: force write-backs while filling
        s
    }

    fn owner(subtask: usize) -> BackendOwner {
        BackendOwner {
            job_id: "j".into(),
            uid: "count".into(),
            subtask,
            attempt: 0,
        }
    }

    fn fill(b: &mut KeyedStateBackend<u64>, n: u64) -> TableId<u64> {
        let t = b.register::<u64>("count").unwrap();
        for k in 0..n {
            b.store(t).insert(k, k * 10).unwrap();
        }
        // Updates through get_mut are written back too.
        for k in 0..n / 2 {
            *b.store(t).get_mut(&k).unwrap().unwrap() += 1;
        }
        b.store(t).remove(&(n - 1)).unwrap();
        t
    }

    fn expected(k: u64, n: u64) -> Option<u64> {
        (k < n - 1).then(|| k * 10 + u64::from(k < n / 2))
    }

    #[test]
    fn a_full_rocksdb_snapshot_is_canonical_and_rescales_into_the_heap() {
        let d = tempfile::tempdir().unwrap();
        let s = settings(d.path(), false);
        let all = KeyGroupRange { start: 0, end: 127 };
        let mut b = KeyedStateBackend::<u64>::open(&s, &owner(0), 128, all, &[]).unwrap();
        fill(&mut b, 1000);
        let (keyed, native) = b.snapshot(1, false).unwrap();
        assert!(native.is_none());
        let snap = OperatorSnapshot {
            keyed,
            ..OperatorSnapshot::default()
        };
        let bytes = encode(&snap, 128, Compression::Zstd).unwrap();
        let loc = Location::local(d.path()).join("f.state");
        loc.put(&bytes).unwrap();
        let file = std::sync::Arc::new(
            StateFile::open(&loc, &StateHandle::of("f.state", &bytes)).unwrap(),
        );
        // Two heap subtasks of the old single range: each reads its half.
        let mut seen = 0;
        for i in 0..2 {
            let r = key_group_range_for_subtask(128, 2, i);
            let mut h = KeyedStateBackend::<u64>::new(128, r);
            h.restore_from(std::slice::from_ref(&file)).unwrap();
            let t = h.register::<u64>("count").unwrap();
            h.finish_restore(std::time::Duration::from_millis(7), "count", i as usize);
            // A full snapshot read from checkpoint storage, timed with its loading.
            let report = h.restore_report().unwrap();
            assert!(report.full && report.source == RestoreSource::Remote);
            assert!(report.millis >= 7);
            seen += h.store(t).len();
            for k in 0..1000u64 {
                if r.contains(crate::state::key_group::assign_to_key_group(&k, 128)) {
                    assert_eq!(
                        h.store(t).get(&k).unwrap().copied(),
                        expected(k, 1000),
                        "key {k}"
                    );
                }
            }
        }
        assert_eq!(seen, 999);
        // Read from a task-local copy, the same restore reports `local`; a
        // subtask whose key groups hold nothing reports no restore at all.
        let local = std::sync::Arc::new(
            StateFile::open(&loc, &StateHandle::of("f.state", &bytes))
                .unwrap()
                .from_local_copy(),
        );
        let mut h = KeyedStateBackend::<u64>::new(128, all);
        h.restore_from(std::slice::from_ref(&local)).unwrap();
        assert_eq!(h.restore_report().unwrap().source, RestoreSource::Local);
        let empty = std::sync::Arc::new(
            StateFile::open(&loc, &StateHandle::of("f.state", &bytes)).unwrap(),
        );
        let mut h = KeyedStateBackend::<u64>::new(
            256,
            KeyGroupRange {
                start: 200,
                end: 255,
            },
        );
        h.restore_from(std::slice::from_ref(&empty)).unwrap();
        assert!(h.restore_report().is_none());
    }

    /// A full snapshot larger than the in-memory limits is encoded through a
    /// spilled file and restored chunk by chunk from the file where it lies.
    #[test]
    fn a_large_full_rocksdb_snapshot_spills_to_a_file_and_restores_from_it() {
        use crate::checkpoint::spool::{Spool, Spooled};
        let d = tempfile::tempdir().unwrap();
        let mut s = settings(d.path(), false);
        s.rocks.cache_bytes = 1 << 20;
        let all = KeyGroupRange { start: 0, end: 127 };
        let mut b = KeyedStateBackend::<u64>::open(&s, &owner(0), 128, all, &[]).unwrap();
        let t = b.register::<Vec<u8>>("blob").unwrap();
        let value = |k: u64| -> Vec<u8> { (0..1000).map(|i| (k * 31 + i) as u8).collect() };
        let n = 20_000u64; // ~20 MB, past both 16 MiB limits
        for k in 0..n {
            b.store(t).insert(k, value(k)).unwrap();
        }
        let (keyed, _) = b.snapshot(1, false).unwrap();
        let snap = OperatorSnapshot {
            keyed,
            operator_state: b"pos".to_vec(),
            ..OperatorSnapshot::default()
        };
        let mut spool = Spool::new(&d.path().join("spill"), 16 << 20);
        let size = encode_to(&snap, 128, Compression::None, &mut spool).unwrap();
        assert!(size > 16 << 20, "{size}");
        let Spooled::File(spilled) = spool.finish().unwrap() else {
            panic!("a {size}-byte snapshot spills to a file")
        };
        let stored = d.path().join("f.state");
        spilled.keep_as(&stored).unwrap();
        let (len, crc32) = crate::checkpoint::blob::file_digest(&stored).unwrap();
        let handle = StateHandle {
            file: "f.state".into(),
            size: len,
            crc32,
            native: None,
        };
        let file = std::sync::Arc::new(
            StateFile::open(&Location::local(d.path()).join("f.state"), &handle).unwrap(),
        );
        assert_eq!(file.operator_state(), b"pos");
        let mut h = KeyedStateBackend::<u64>::new(128, all);
        h.restore_from(std::slice::from_ref(&file)).unwrap();
        let t = h.register::<Vec<u8>>("blob").unwrap();
        assert_eq!(h.store(t).len(), n as usize);
        for k in (0..n).step_by(997) {
            assert_eq!(h.store(t).get(&k).unwrap(), Some(&value(k)), "key {k}");
        }
        // A damaged large file is refused by its CRC32, as a small one is.
        let mut bytes = std::fs::read(&stored).unwrap();
        bytes[1000] ^= 1;
        std::fs::write(&stored, &bytes).unwrap();
        let err = StateFile::open(&Location::local(d.path()).join("f.state"), &handle)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("CRC32"), "{err}");
    }

    #[test]
    fn incremental_snapshots_upload_only_new_files_and_restore_at_any_range() {
        let d = tempfile::tempdir().unwrap();
        let s = settings(d.path(), true);
        let all = KeyGroupRange { start: 0, end: 127 };
        let store = Location::local(&d.path().join("ck")).join("job");
        let mut b = KeyedStateBackend::<u64>::open(&s, &owner(0), 128, all, &[]).unwrap();
        let t = fill(&mut b, 1000);
        let (_, native) = b.snapshot(1, false).unwrap();
        let n1 = native.unwrap();
        let u1 = upload(&n1, &store, "count", 0, 1).unwrap();
        assert!(u1.uploaded_bytes > 0);
        b.notify_complete(1);
        // A second checkpoint after a small change shares the first's SST files.
        b.store(t).insert(5000, 1).unwrap();
        let (_, native) = b.snapshot(2, false).unwrap();
        let n2 = native.unwrap();
        let u2 = upload(&n2, &store, "count", 0, 2).unwrap();
        let full2: u64 = u2.handle.files.iter().map(|f| f.size).sum();
        assert!(
            u2.uploaded_bytes < full2,
            "uploaded {} of {full2}",
            u2.uploaded_bytes
        );
        let shared: Vec<_> = u2
            .handle
            .files
            .iter()
            .filter(|f| f.key.starts_with("shared/count-0-1-"))
            .collect();
        assert!(
            !shared.is_empty(),
            "checkpoint 2 references checkpoint 1's SST files"
        );
        // A savepoint is never incremental.
        let (keyed, native) = b.snapshot(3, true).unwrap();
        assert!(native.is_none() && !keyed.is_empty());
        drop(b);
        // Restore into the same range, and rescaled into two halves.
        let restored = RestoredNative {
            handle: u2.handle.clone(),
            job: store.clone(),
            local: None,
            same_job: true,
        };
        let mut r = KeyedStateBackend::<u64>::open(
            &s,
            &owner(9),
            128,
            all,
            std::slice::from_ref(&restored),
        )
        .unwrap();
        let t = r.register::<u64>("count").unwrap();
        assert_eq!(r.store(t).get(&5000).unwrap().copied(), Some(1));
        assert_eq!(r.store(t).get(&3).unwrap().copied(), expected(3, 1000));
        assert_eq!(r.restore_report().unwrap().source, RestoreSource::Remote);
        drop(r);
        for i in 0..2 {
            let range = key_group_range_for_subtask(128, 2, i);
            let mut h = KeyedStateBackend::<u64>::open(
                &s,
                &owner(10 + i as usize),
                128,
                range,
                std::slice::from_ref(&restored),
            )
            .unwrap();
            let t = h.register::<u64>("count").unwrap();
            for k in 0..1000u64 {
                let kg = crate::state::key_group::assign_to_key_group(&k, 128);
                let want = if range.contains(kg) {
                    expected(k, 1000)
                } else {
                    None
                };
                assert_eq!(
                    h.store(t).get(&k).unwrap().copied(),
                    want,
                    "key {k} in subtask {i}"
                );
            }
        }
        // A corrupted shared file is detected on download.
        let f = &u2
            .handle
            .files
            .iter()
            .find(|f| f.name.ends_with(".sst"))
            .unwrap()
            .key;
        let mut bytes = store.join(f).get().unwrap();
        bytes[10] ^= 0xff;
        store.join(f).put(&bytes).unwrap();
        let err = KeyedStateBackend::<u64>::open(&s, &owner(20), 128, all, &[restored])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("corrupted"), "{err}");
    }

    #[test]
    fn rocksdb_timers_pop_in_time_order_and_survive_full_and_rescaled_snapshots() {
        use crate::state::rocks::timers::RocksTimers;
        use crate::state::timers::{TimeDomain, TimerService, TIMER_TABLE};
        let d = tempfile::tempdir().unwrap();
        let all = KeyGroupRange { start: 0, end: 127 };
        let timers_of = |b: &KeyedStateBackend<u64>| {
            TimerService::in_rocksdb(
                RocksTimers::<u64>::new(b.rocks_db().unwrap().clone(), 128).unwrap(),
            )
        };
        let fill = |t: &mut TimerService<u64>| {
            for k in 0..50u64 {
                t.register(TimeDomain::EventTime, 100 - k as i64 * 3, k)
                    .unwrap();
                t.register(TimeDomain::ProcessingTime, 1_000 + k as i64, k)
                    .unwrap();
            }
            t.register(TimeDomain::EventTime, -100, 99).unwrap();
            t.delete(TimeDomain::EventTime, 100, 0).unwrap();
        };
        let drain = |t: &mut TimerService<u64>, range: Option<KeyGroupRange>| {
            let mut out = Vec::new();
            while let Some(x) = t.pop_due(TimeDomain::EventTime, i64::MAX).unwrap() {
                out.push(x);
            }
            out.retain(|(_, k)| {
                range.is_none_or(|r| {
                    r.contains(crate::state::key_group::assign_to_key_group(k, 128))
                })
            });
            out
        };
        // Reference: the heap timer service.
        let mut heap = TimerService::<u64>::default();
        fill(&mut heap);
        let mut b =
            KeyedStateBackend::<u64>::open(&settings(d.path(), true), &owner(0), 128, all, &[])
                .unwrap();
        let mut t = timers_of(&b);
        fill(&mut t);
        assert_eq!(t.next_processing_time(), Some(1_000));
        assert_eq!(t.pop_due(TimeDomain::EventTime, -101).unwrap(), None);
        assert_eq!(
            t.pop_due(TimeDomain::EventTime, -100).unwrap(),
            Some((-100, 99))
        );
        heap.pop_due(TimeDomain::EventTime, -100).unwrap();
        // A full snapshot writes them as canonical timer chunks the heap reads.
        let (keyed, _) = b.snapshot(1, true).unwrap();
        assert!(keyed.iter().any(|k| k.name() == TIMER_TABLE));
        let bytes = encode(
            &OperatorSnapshot {
                keyed,
                ..OperatorSnapshot::default()
            },
            128,
            Compression::None,
        )
        .unwrap();
        let loc = Location::local(d.path()).join("t.state");
        loc.put(&bytes).unwrap();
        let file = StateFile::open(&loc, &StateHandle::of("t.state", &bytes)).unwrap();
        let mut from_full = TimerService::<u64>::default();
        from_full
            .restore(
                file.chunks_in(all)
                    .unwrap()
                    .into_iter()
                    .filter(|(n, _)| *n == TIMER_TABLE)
                    .map(|(_, c)| c.into_owned())
                    .collect(),
            )
            .unwrap();
        // An incremental snapshot restored at half the range keeps that half.
        let store = Location::local(&d.path().join("ck")).join("job");
        let (_, native) = b.snapshot(2, false).unwrap();
        let up = upload(&native.unwrap(), &store, "count", 0, 2).unwrap();
        let half = crate::state::key_group::key_group_range_for_subtask(128, 2, 1);
        let restored = RestoredNative {
            handle: up.handle,
            job: store,
            local: None,
            same_job: false,
        };
        let h = KeyedStateBackend::<u64>::open(
            &settings(d.path(), true),
            &owner(5),
            128,
            half,
            &[restored],
        )
        .unwrap();
        let mut t_half = timers_of(&h);
        let want = drain(&mut heap, None);
        assert_eq!(drain(&mut t, None), want);
        assert_eq!(drain(&mut from_full, None), want);
        assert_eq!(drain(&mut t_half, None), want.into_iter().filter(|(_, k)| half.contains(crate::state::key_group::assign_to_key_group(k, 128))).collect::<Vec<_>>());
    }
}
