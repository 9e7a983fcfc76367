//! Moving native checkpoints between an instance and checkpoint storage.
//!
//! Upload (incremental checkpoints): SST files are immutable and named
//! uniquely within an instance, so an SST file that a completed checkpoint
//! already stored is referenced again instead of uploaded; new ones go to the
//! job's `shared/` folder. The few small non-SST files (MANIFEST, CURRENT,
//! OPTIONS) go to the checkpoint's own folder every time. Reuse is only of
//! files confirmed by a *completed* checkpoint, so a file of an aborted
//! checkpoint is never referenced and can be collected.
//!
//! Download (restore): every file is checked against the size and CRC32 the
//! checkpoint recorded before the instance opens it.

use super::native_checkpoint::NativeSnapshot;
use crate::checkpoint::blob::Location;
use crate::checkpoint::storage::shared_key;
use crate::error::{Error, Result};
use crate::state::state_file::{verify_digest, NativeFile, NativeHandle};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// What this instance has stored: files of the last completed checkpoint, and
/// of checkpoints still pending.
#[derive(Debug, Default)]
pub struct Uploads {
    confirmed: HashMap<String, NativeFile>,
    pending: BTreeMap<u64, Vec<NativeFile>>,
}

impl Uploads {
    /// Starts from the files of a restored checkpoint of the same job, so the
    /// first checkpoint after a failover is incremental too.
    pub fn seed(&mut self, files: &[NativeFile]) {
        self.confirmed = files
            .iter()
            .filter(|f| f.name.ends_with(".sst"))
            .map(|f| (f.name.clone(), f.clone()))
            .collect();
    }

    /// Checkpoint `id` completed: its files become the ones to reuse.
    pub fn confirm(&mut self, id: u64) {
        if let Some(files) = self.pending.remove(&id) {
            self.seed(&files);
        }
        self.pending.retain(|&p, _| p > id);
    }
}

/// The outcome of uploading one native checkpoint.
#[derive(Debug)]
pub struct Uploaded {
    /// What the checkpoint metadata records.
    pub handle: NativeHandle,
    /// Bytes uploaded now (the checkpointed, incremental size).
    pub uploaded_bytes: u64,
}

/// Uploads `snap` for checkpoint `id` of subtask `uid`/`subtask` into `job`
/// (the job's checkpoint folder), reusing confirmed SST files.
pub fn upload(
    snap: &NativeSnapshot,
    job: &Location,
    uid: &str,
    subtask: usize,
    id: u64,
) -> Result<Uploaded> {
    let confirmed: HashMap<String, NativeFile> = snap
        .uploads
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .confirmed
        .clone();
    let mut names: Vec<(String, u64)> = std::fs::read_dir(&snap.dir)
        .map_err(|e| Error::io("listing native checkpoint", &snap.dir, e))?
        .flatten()
        .filter_map(|e| {
            let size = e.metadata().ok()?.len();
            Some((e.file_name().to_string_lossy().into_owned(), size))
        })
        .collect();
    names.sort();
    let mut files = Vec::with_capacity(names.len());
    let mut uploaded = 0u64;
    for (name, size) in names {
        if let Some(f) = confirmed.get(&name).filter(|f| f.size == size) {
            files.push(f.clone());
            continue;
        }
        let key = if name.ends_with(".sst") {
            shared_key(uid, subtask, id, &name)
        } else {
            format!("chk-{id}/{uid}-{subtask}/{name}")
        };
        let (size, crc32) = job.join(&key).put_file(&snap.dir.join(&name))?;
        uploaded += size;
        files.push(NativeFile {
            name,
            key,
            size,
            crc32,
        });
    }
    snap.uploads
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pending
        .insert(id, files.clone());
    Ok(Uploaded {
        handle: NativeHandle {
            key_groups: (snap.key_groups.start, snap.key_groups.end),
            tables: snap.tables.clone(),
            files,
        },
        uploaded_bytes: uploaded,
    })
}

/// Where a restore read its files from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreSource {
    /// The task-local copy.
    Local,
    /// Checkpoint storage.
    Remote,
}

impl RestoreSource {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Remote => "remote",
        }
    }
}

/// Materialises `handle` into the empty directory `dst`: from the verified
/// local copy `local` if there is one, else from `job` in checkpoint storage.
pub fn download(
    handle: &NativeHandle,
    job: &Location,
    local: Option<&Path>,
    dst: &Path,
) -> Result<RestoreSource> {
    std::fs::create_dir_all(dst).map_err(|e| Error::io("creating", dst, e))?;
    if let Some(l) = local {
        match link_local(handle, l, dst) {
            Ok(()) => return Ok(RestoreSource::Local),
            Err(e) => {
                log::warn!(
                    "local state copy {} is unusable ({e}); restoring from checkpoint storage",
                    l.display()
                );
                let _ = std::fs::remove_dir_all(dst);
                std::fs::create_dir_all(dst).map_err(|e| Error::io("creating", dst, e))?;
            }
        }
    }
    for f in &handle.files {
        let loc = job.join(&f.key);
        let got = loc.get_file(&dst.join(&f.name))?;
        verify_digest(got, f.size, f.crc32, &loc.to_string())?;
    }
    Ok(RestoreSource::Remote)
}

/// Checks every file of the local copy and hard-links it into `dst`.
fn link_local(handle: &NativeHandle, local: &Path, dst: &Path) -> Result<()> {
    for f in &handle.files {
        let src = local.join(&f.name);
        let p = dst.join(&f.name);
        // SST files are immutable: link them (and read them once to check
        // them). The rest (MANIFEST, CURRENT, OPTIONS) is small and RocksDB
        // may rewrite it: copy it.
        let got = if f.name.ends_with(".sst") && std::fs::hard_link(&src, &p).is_ok() {
            crate::checkpoint::blob::file_digest(&src)?
        } else {
            Location::local(local).join(&f.name).get_file(&p)?
        };
        verify_digest(got, f.size, f.crc32, &src.display().to_string())?;
    }
    Ok(())
}
