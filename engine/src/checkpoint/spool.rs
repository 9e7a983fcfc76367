//! Where a state file is encoded before it is stored: in memory while it is
//! small, then in a file, so that a full snapshot of a large state never sits
//! whole in memory (the file is uploaded streaming and can become the
//! task-local copy by a rename). Also the temporary file a large state file is
//! downloaded into for a restore.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A file deleted when dropped, unless kept.
pub struct TempFile {
    path: Option<PathBuf>,
}

impl TempFile {
    /// A new, unique path in `dir` (created if needed); the file is not created.
    pub fn new(dir: &Path, what: &str) -> Result<Self> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
        let name = format!(
            ".tidemark-{what}-{}-{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Ok(Self {
            path: Some(dir.join(name)),
        })
    }

    /// The process that made the temporary file named `name`, if it is one
    /// (`.tidemark-<what>-<pid>-<n>.tmp`), so that leftovers can be removed.
    pub fn owner_pid(name: &str) -> Option<u32> {
        let rest = name.strip_prefix(".tidemark-")?.strip_suffix(".tmp")?;
        let mut parts = rest.rsplitn(3, '-');
        let _n = parts.next()?.parse::<u64>().ok()?;
        parts.next()?.parse().ok()
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("a kept file is gone")
    }

    /// Renames the file to `dst` (copies it when `dst` is on another file
    /// system); it is no longer deleted.
    pub fn keep_as(mut self, dst: &Path) -> Result<()> {
        let src = self.path.take().expect("kept once");
        if std::fs::rename(&src, dst).is_err() {
            let copied = std::fs::copy(&src, dst).map_err(|e| Error::io("copying to", dst, e));
            let _ = std::fs::remove_file(&src);
            copied?;
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// What a [`Spool`] holds when finished.
pub enum Spooled {
    /// The whole file, small enough to stay in memory.
    Memory(Vec<u8>),
    /// Spilled to a file.
    File(TempFile),
}

/// A writer that keeps up to `limit` bytes in memory, then moves them to a
/// file in `dir` and writes on there.
pub struct Spool {
    mem: Vec<u8>,
    file: Option<(std::io::BufWriter<std::fs::File>, TempFile)>,
    dir: PathBuf,
    limit: usize,
}

impl Spool {
    /// Spills into `dir` past `limit` bytes.
    pub fn new(dir: &Path, limit: usize) -> Self {
        Self {
            mem: Vec::new(),
            file: None,
            dir: dir.to_path_buf(),
            limit,
        }
    }

    fn spill(&mut self) -> std::io::Result<()> {
        let tmp = TempFile::new(&self.dir, "state").map_err(std::io::Error::other)?;
        let f = std::fs::File::create(tmp.path())?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        w.write_all(&self.mem)?;
        self.mem = Vec::new();
        self.file = Some((w, tmp));
        Ok(())
    }

    /// The bytes written, in memory or in their (flushed) file.
    pub fn finish(self) -> Result<Spooled> {
        match self.file {
            None => Ok(Spooled::Memory(self.mem)),
            Some((w, tmp)) => {
                let f = w
                    .into_inner()
                    .map_err(|e| Error::io("writing", tmp.path(), e.into_error()))?;
                drop(f);
                Ok(Spooled::File(tmp))
            }
        }
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some((w, _)) = &mut self.file {
            return w.write(buf);
        }
        self.mem.extend_from_slice(buf);
        if self.mem.len() > self.limit {
            self.spill()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some((w, _)) => w.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_stays_in_memory_large_spills_and_temp_files_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Spool::new(d.path(), 10);
        s.write_all(b"0123456789").unwrap();
        assert!(matches!(s.finish().unwrap(), Spooled::Memory(b) if b == b"0123456789"));

        let mut s = Spool::new(d.path(), 10);
        s.write_all(b"0123456789").unwrap();
        s.write_all(b"abc").unwrap();
        s.write_all(b"def").unwrap();
        let Spooled::File(f) = s.finish().unwrap() else {
            panic!("spilled")
        };
        assert_eq!(std::fs::read(f.path()).unwrap(), b"0123456789abcdef");
        let path = f.path().to_path_buf();
        drop(f);
        assert!(!path.exists(), "a dropped temp file is deleted");

        let mut s = Spool::new(d.path(), 0);
        s.write_all(b"kept").unwrap();
        let Spooled::File(f) = s.finish().unwrap() else {
            panic!("spilled")
        };
        assert_eq!(
            TempFile::owner_pid(f.path().file_name().unwrap().to_str().unwrap()),
            Some(std::process::id())
        );
        assert_eq!(TempFile::owner_pid("job_x_1"), None);
        let dst = d.path().join("kept.state");
        f.keep_as(&dst).unwrap();
        assert_eq!(std::fs::read(&dst).unwrap(), b"kept");
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            1,
            "only the kept file"
        );
    }
}
