//! The state file of one subtask in one checkpoint.
//!
//! ```text
//! [chunk][chunk]…[operator state][in-flight data][footer: bincode(Footer)][u64 footer length][magic "TMSTATE1"]
//! ```
//! A chunk is `bincode(Vec<(K, S)>)` for one (table, key group). The footer
//! indexes every chunk, so a subtask restoring a different key-group range (after
//! rescaling) reads only the chunks it owns. The file's CRC32 and size are
//! recorded in the checkpoint metadata and checked before any byte is used.

use crate::data::Key;
use crate::error::{Error, Result};
use crate::state::key_group::{assign_to_key_group, KeyGroupRange};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

const MAGIC: &[u8; 8] = b"TMSTATE2";

/// A table copy that can write itself per key group (the asynchronous phase).
pub trait TableSnapshot: Send {
    /// Table (state) name.
    fn name(&self) -> &str;
    /// Writes one chunk per non-empty key group.
    fn write(&self, max_parallelism: u32, w: &mut ChunkWriter<'_>) -> Result<()>;
}

/// What a subtask's synchronous snapshot phase produced.
#[derive(Default)]
pub struct OperatorSnapshot {
    /// Keyed tables (and timers), to be written per key group.
    pub keyed: Vec<Box<dyn TableSnapshot>>,
    /// Non-keyed operator state (source positions, sink transactions), already encoded.
    pub operator_state: Vec<u8>,
    /// In-flight records of an unaligned checkpoint, already encoded
    /// ([`crate::checkpoint::channel_state::ChannelState`]); empty otherwise.
    pub channel_state: Vec<u8>,
}

impl OperatorSnapshot {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.keyed.is_empty() && self.operator_state.is_empty() && self.channel_state.is_empty()
    }
}

#[derive(Serialize, Deserialize, Debug, Default)]
struct Footer {
    tables: Vec<TableIndex>,
    operator_state: (u64, u64),
    channel_state: (u64, u64),
}

#[derive(Serialize, Deserialize, Debug)]
struct TableIndex {
    name: String,
    /// (key group, offset, length)
    chunks: Vec<(u32, u64, u64)>,
}

/// Where chunks of one table are appended.
pub struct ChunkWriter<'a> {
    buf: &'a mut Vec<u8>,
    index: &'a mut TableIndex,
}

impl ChunkWriter<'_> {
    /// Groups `entries` by key group and appends one chunk per group.
    pub fn write_grouped<K: Key, S: Serialize>(
        &mut self,
        entries: &[(K, S)],
        max_parallelism: u32,
    ) -> Result<()> {
        let mut groups: Vec<Vec<&(K, S)>> = (0..max_parallelism).map(|_| Vec::new()).collect();
        for e in entries {
            groups[assign_to_key_group(&e.0, max_parallelism) as usize].push(e);
        }
        for (kg, g) in groups.iter().enumerate().filter(|(_, g)| !g.is_empty()) {
            let off = self.buf.len() as u64;
            bincode::serialize_into(&mut *self.buf, g)?;
            self.index
                .chunks
                .push((kg as u32, off, self.buf.len() as u64 - off));
        }
        Ok(())
    }
}

/// Where a written state file is and how to check it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct StateHandle {
    /// File name inside the checkpoint directory.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// CRC32 (IEEE) of the whole file.
    pub crc32: u32,
}

/// Encodes a snapshot into bytes (the asynchronous phase calls this off the task thread).
pub fn encode(snap: &OperatorSnapshot, max_parallelism: u32) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut footer = Footer::default();
    for t in &snap.keyed {
        let mut index = TableIndex {
            name: t.name().to_string(),
            chunks: Vec::new(),
        };
        t.write(
            max_parallelism,
            &mut ChunkWriter {
                buf: &mut buf,
                index: &mut index,
            },
        )?;
        footer.tables.push(index);
    }
    footer.operator_state = (buf.len() as u64, snap.operator_state.len() as u64);
    buf.extend_from_slice(&snap.operator_state);
    footer.channel_state = (buf.len() as u64, snap.channel_state.len() as u64);
    buf.extend_from_slice(&snap.channel_state);
    let fb = bincode::serialize(&footer)?;
    buf.extend_from_slice(&fb);
    buf.extend_from_slice(&(fb.len() as u64).to_le_bytes());
    buf.extend_from_slice(MAGIC);
    Ok(buf)
}

/// Writes `bytes` to `path` durably and returns its handle.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<StateHandle> {
    let mut f =
        std::fs::File::create(path).map_err(|e| Error::io("creating state file", path, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io("writing state file", path, e))?;
    Ok(StateHandle {
        file: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        size: bytes.len() as u64,
        crc32: crc32fast::hash(bytes),
    })
}

/// A verified state file, ready to hand out chunks.
pub struct StateFile {
    bytes: Vec<u8>,
    footer: Footer,
}

impl StateFile {
    /// Reads `path` and checks it against its handle (size, CRC32, format).
    pub fn open(path: &Path, handle: &StateHandle) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("reading state file", path, e))?;
        if bytes.len() as u64 != handle.size {
            return Err(Error::Checkpoint(format!(
                "{} is {} bytes, the metadata says {}: the file was truncated or replaced",
                path.display(),
                bytes.len(),
                handle.size
            )));
        }
        let crc = crc32fast::hash(&bytes);
        if crc != handle.crc32 {
            return Err(Error::Checkpoint(format!(
                "{} has CRC32 {crc:08x}, the metadata says {:08x}: the file is corrupted",
                path.display(),
                handle.crc32
            )));
        }
        Self::parse(bytes).map_err(|e| Error::Checkpoint(format!("{}: {e}", path.display())))
    }

    fn parse(bytes: Vec<u8>) -> Result<Self> {
        let n = bytes.len();
        if n < 16 || &bytes[n - 8..] != MAGIC {
            return Err(Error::Codec("not a Tidemark state file (bad magic)".into()));
        }
        let flen = u64::from_le_bytes(bytes[n - 16..n - 8].try_into().expect("8 bytes")) as usize;
        if flen > n - 16 {
            return Err(Error::Codec("footer length out of range".into()));
        }
        let footer: Footer = bincode::deserialize(&bytes[n - 16 - flen..n - 16])?;
        Ok(Self { bytes, footer })
    }

    /// The chunks of every table whose key group lies in `range`, as (table, bytes).
    pub fn chunks_in(&self, range: KeyGroupRange) -> Vec<(&str, &[u8])> {
        let mut out = Vec::new();
        for t in &self.footer.tables {
            for &(kg, off, len) in &t.chunks {
                if range.contains(kg) {
                    out.push((
                        t.name.as_str(),
                        &self.bytes[off as usize..(off + len) as usize],
                    ));
                }
            }
        }
        out
    }

    /// The non-keyed operator state.
    pub fn operator_state(&self) -> &[u8] {
        self.section(self.footer.operator_state)
    }

    /// The in-flight records of an unaligned checkpoint (empty if none).
    pub fn channel_state(&self) -> &[u8] {
        self.section(self.footer.channel_state)
    }

    fn section(&self, (off, len): (u64, u64)) -> &[u8] {
        &self.bytes[off as usize..(off + len) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::store::HeapSnapshot;

    #[test]
    fn round_trip_per_key_group_and_detect_corruption() {
        let snap = OperatorSnapshot {
            keyed: vec![Box::new(HeapSnapshot {
                name: "count".into(),
                entries: vec![(0i32, 10u64), (2, 20), (42, 30)],
            })],
            operator_state: b"pos=7".to_vec(),
            channel_state: b"in-flight".to_vec(),
        };
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        let bytes = encode(&snap, 128).unwrap();
        let h = write_file(&p, &bytes).unwrap();
        let f = StateFile::open(&p, &h).unwrap();
        assert_eq!(f.operator_state(), b"pos=7");
        assert_eq!(f.channel_state(), b"in-flight");
        // key 42 is in key group 29, 0 in 94, 2 in 127 (Flink vectors).
        let low = f.chunks_in(KeyGroupRange { start: 0, end: 42 });
        assert_eq!(low.len(), 1);
        let e: Vec<(i32, u64)> = bincode::deserialize(low[0].1).unwrap();
        assert_eq!(e, vec![(42, 30)]);
        assert_eq!(
            f.chunks_in(KeyGroupRange {
                start: 86,
                end: 127
            })
            .len(),
            2
        );

        let mut bad = bytes.clone();
        bad[3] ^= 1;
        std::fs::write(&p, &bad).unwrap();
        let err = StateFile::open(&p, &h).err().unwrap().to_string();
        assert!(err.contains("corrupted"), "{err}");
        std::fs::write(&p, &bytes[..10]).unwrap();
        let err = StateFile::open(&p, &h).err().unwrap().to_string();
        assert!(err.contains("truncated"), "{err}");
    }
}
