//! A replayable line source over a file or a directory of files. Subtask `s` of
//! `p` reads the files whose sorted index is `s` modulo `p`; its position is
//! (file index, byte offset), so a restore continues at the next line.

use super::{Poll, Source};
use crate::error::{Error, Result};
use crate::operator::SubtaskInfo;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;

/// Reads lines (without the newline) from files.
pub struct FileSource {
    path: PathBuf,
    files: Vec<PathBuf>,
    file: usize,
    offset: u64,
    reader: Option<BufReader<std::fs::File>>,
}

impl FileSource {
    /// A source over `path` (a file, or a directory whose files are read in name order).
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            files: Vec::new(),
            file: 0,
            offset: 0,
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
            .map(|(_, p)| p)
            .collect();
        Ok(())
    }

    fn restore(&mut self, position: &[u8]) -> Result<()> {
        let (file, offset): (usize, u64) = bincode::deserialize(position)?;
        self.file = file;
        self.offset = offset;
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
            if self.reader.is_none() {
                let p = &self.files[self.file];
                let mut f =
                    std::fs::File::open(p).map_err(|e| Error::io("opening input file", p, e))?;
                f.seek(SeekFrom::Start(self.offset))
                    .map_err(|e| Error::io("seeking input file", p, e))?;
                self.reader = Some(BufReader::new(f));
            }
            let r = self.reader.as_mut().expect("opened above");
            let mut line = String::new();
            let n = r
                .read_line(&mut line)
                .map_err(|e| Error::io("reading input file", &self.files[self.file], e))?;
            if n == 0 {
                self.file += 1;
                self.offset = 0;
                self.reader = None;
                continue;
            }
            self.offset += n as u64;
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
        Ok(bincode::serialize(&(self.file, self.offset))?)
    }
}
