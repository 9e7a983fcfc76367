//! A replayable line source over a file or a directory of files. Each file is
//! a split: subtask `s` of `p` reads the files whose sorted index is `s`
//! modulo `p`, one after the other; its position is every owned file's byte
//! offset (and whether it is done), so a restore continues at the next line,
//! and a restore at another parallelism hands each file, with its offset, to
//! its new owner.

use super::{Poll, Source};
use crate::error::{Error, Result};
use crate::operator::SubtaskInfo;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;

/// Reads lines (without the newline) from files.
pub struct FileSource {
    path: PathBuf,
    /// Owned files: (index among all files, path), in order.
    files: Vec<(usize, PathBuf)>,
    /// Per owned file: bytes read, and whether it is done.
    progress: Vec<(u64, bool)>,
    /// The owned file being read.
    file: usize,
    reader: Option<BufReader<std::fs::File>>,
}

impl FileSource {
    /// A source over `path` (a file, or a directory whose files are read in name order).
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            files: Vec::new(),
            progress: Vec::new(),
            file: 0,
            reader: None,
        }
    }

    /// The files under `path`, sorted.
    pub fn list(path: &std::path::Path) -> Result<Vec<PathBuf>> {
        if path.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| Error::io("listing input directory", path, e))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            v.sort();
            Ok(v)
        } else if path.is_file() {
            Ok(vec![path.to_path_buf()])
        } else {
            Err(Error::Config(format!(
                "params.input: '{}' is neither a file nor a directory",
                path.display()
            )))
        }
    }
}

impl Source<String> for FileSource {
    fn open(&mut self, info: &SubtaskInfo) -> Result<()> {
        self.files = Self::list(&self.path)?
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % info.parallelism == info.index)
            .collect();
        self.progress = vec![(0, false); self.files.len()];
        Ok(())
    }

    fn restore(&mut self, positions: &[&[u8]]) -> Result<()> {
        let mut by_file = std::collections::BTreeMap::new();
        for p in positions {
            let list: Vec<(usize, u64, bool)> = bincode::deserialize(p).map_err(|e| {
                Error::Checkpoint(format!(
                    "file source position ({} bytes) is not a list of files: {e}",
                    p.len()
                ))
            })?;
            for (i, offset, done) in list {
                by_file.insert(i, (offset, done));
            }
        }
        for ((i, _), pr) in self.files.iter().zip(&mut self.progress) {
            *pr = by_file.get(i).copied().unwrap_or((0, false));
        }
        self.file = self.progress.iter().take_while(|(_, done)| *done).count();
        self.reader = None;
        Ok(())
    }

    fn poll(&mut self, out: &mut Vec<String>, max: usize) -> Result<Poll> {
        while out.len() < max {
            if self.file >= self.files.len() {
                return Ok(if out.is_empty() {
                    Poll::Finished
                } else {
                    Poll::Data
                });
            }
            let (offset, _) = self.progress[self.file];
            if self.reader.is_none() {
                let p = &self.files[self.file].1;
                let mut f =
                    std::fs::File::open(p).map_err(|e| Error::io("opening input file", p, e))?;
                f.seek(SeekFrom::Start(offset))
                    .map_err(|e| Error::io("seeking input file", p, e))?;
                self.reader = Some(BufReader::new(f));
            }
            let r = self.reader.as_mut().expect("opened above");
            let mut line = String::new();
            let n = r
                .read_line(&mut line)
                .map_err(|e| Error::io("reading input file", &self.files[self.file].1, e))?;
            if n == 0 {
                self.progress[self.file].1 = true;
                self.file += 1;
                self.reader = None;
                continue;
            }
            self.progress[self.file].0 += n as u64;
            if line.ends_with('\n') {
                line.pop();
                if line.ends_with('\r') {
                    line.pop();
                }
            }
            out.push(line);
        }
        Ok(Poll::Data)
    }

    fn position(&self) -> Result<Vec<u8>> {
        let list: Vec<(usize, u64, bool)> = self
            .files
            .iter()
            .zip(&self.progress)
            .map(|((i, _), (offset, done))| (*i, *offset, *done))
            .collect();
        Ok(bincode::serialize(&list)?)
    }
}
