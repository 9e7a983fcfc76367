//! The state file of one subtask in one checkpoint.
//!
//! ```text
//! [chunk][chunk]…[operator state][in-flight data][footer: bincode(Footer)][u64 footer length][magic "TMSTATE3"]
//! ```
//! A chunk is `bincode(Vec<(K, S)>)` for one (table, key group), compressed on
//! its own when `execution.checkpointing.snapshot-compression` is set, so
//! every key group stays readable by itself. The format is the same whatever
//! backend wrote it (the canonical format), so a savepoint restores into
//! either backend. The footer
//! indexes every chunk, so a subtask restoring a different key-group range (after
//! rescaling) reads only the chunks it owns. The file's CRC32 and size are
//! recorded in the checkpoint metadata and checked before any byte is used.

use crate::data::Key;
use crate::error::{Error, Result};
use crate::state::key_group::{assign_to_key_group, KeyGroupRange};
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"TMSTATE3";

/// A table copy that can write itself per key group (the asynchronous phase).
pub trait TableSnapshot: Send {
    /// Table (state) name.
    fn name(&self) -> &str;
    /// Writes one chunk per non-empty key group.
    fn write(&self, max_parallelism: u32, w: &mut ChunkWriter<'_, '_>) -> Result<()>;
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
    /// A RocksDB native checkpoint to upload file by file (incremental
    /// checkpoints); its tables are then not in `keyed`.
    pub native: Option<crate::state::rocks::NativeSnapshot>,
}

impl OperatorSnapshot {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.keyed.is_empty()
            && self.operator_state.is_empty()
            && self.channel_state.is_empty()
            && self.native.is_none()
    }
}

/// How chunks are compressed (`execution.checkpointing.snapshot-compression`).
#[derive(Serialize, Deserialize, Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Stored as is.
    #[default]
    None,
    /// Snappy (frame-less raw format).
    Snappy,
    /// LZ4 block with its size prepended.
    Lz4,
    /// Zstandard, level 3.
    Zstd,
}

impl Compression {
    /// Parses a config value.
    pub fn parse(v: &str) -> Option<Self> {
        match v.trim().to_ascii_lowercase().as_str() {
            "none" | "false" | "" => Some(Self::None),
            "snappy" | "true" => Some(Self::Snappy),
            "lz4" => Some(Self::Lz4),
            "zstd" => Some(Self::Zstd),
            _ => None,
        }
    }

    fn compress(self, raw: &[u8]) -> Result<Vec<u8>> {
        Ok(match self {
            Self::None => raw.to_vec(),
            Self::Snappy => snap::raw::Encoder::new()
                .compress_vec(raw)
                .map_err(|e| Error::Codec(format!("snappy: {e}")))?,
            Self::Lz4 => lz4_flex::compress_prepend_size(raw),
            Self::Zstd => {
                zstd::bulk::compress(raw, 3).map_err(|e| Error::Codec(format!("zstd: {e}")))?
            }
        })
    }

    fn decompress(self, data: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>> {
        use std::borrow::Cow;
        Ok(match self {
            Self::None => Cow::Borrowed(data),
            Self::Snappy => {
                let claimed = snap::raw::decompress_len(data)
                    .map_err(|e| Error::Codec(format!("snappy: {e}")))?;
                check_claimed("snappy", claimed, data.len(), SNAPPY_MAX_RATIO)?;
                Cow::Owned(
                    snap::raw::Decoder::new()
                        .decompress_vec(data)
                        .map_err(|e| Error::Codec(format!("snappy: {e}")))?,
                )
            }
            Self::Lz4 => {
                let claimed = data
                    .get(..4)
                    .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
                    .ok_or_else(|| Error::Codec("lz4: chunk shorter than its size".into()))?;
                check_claimed("lz4", claimed, data.len(), LZ4_MAX_RATIO)?;
                Cow::Owned(
                    lz4_flex::decompress_size_prepended(data)
                        .map_err(|e| Error::Codec(format!("lz4: {e}")))?,
                )
            }
            Self::Zstd => Cow::Owned(
                zstd::stream::decode_all(data).map_err(|e| Error::Codec(format!("zstd: {e}")))?,
            ),
        })
    }
}

/// Snappy's densest element is a 3-byte copy of 64 bytes: no valid input
/// expands further (with room for the length header).
const SNAPPY_MAX_RATIO: usize = 22;
/// LZ4's densest run adds 255 bytes of match per extension byte.
const LZ4_MAX_RATIO: usize = 256;

/// Refuses a decompressed size that `compressed` bytes cannot produce: both
/// formats declare it up front and the decoders allocate it at once, so a
/// hostile chunk of a few bytes could otherwise ask for gigabytes.
fn check_claimed(format: &str, claimed: usize, compressed: usize, ratio: usize) -> Result<()> {
    if claimed > compressed.saturating_mul(ratio).saturating_add(64) {
        return Err(Error::Codec(format!(
            "{format}: a {compressed}-byte chunk claims {claimed} bytes decompressed, more than the format can encode"
        )));
    }
    Ok(())
}

#[derive(Serialize, Deserialize, Debug, Default)]
struct Footer {
    compression: Compression,
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

/// A writer that counts the bytes written (the offsets of the index).
struct Counting<'a> {
    out: &'a mut dyn std::io::Write,
    written: u64,
}

impl Counting<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| Error::Checkpoint(format!("writing a state file: {e}")))?;
        self.written += bytes.len() as u64;
        Ok(())
    }
}

/// Where chunks of one table are appended.
pub struct ChunkWriter<'a, 'b> {
    out: &'a mut Counting<'b>,
    index: &'a mut TableIndex,
    compression: Compression,
}

impl ChunkWriter<'_, '_> {
    /// Appends one already encoded chunk (`bincode(Vec<(K, S)>)`) of key group `kg`.
    pub fn write_raw(&mut self, kg: u32, raw: &[u8]) -> Result<()> {
        let off = self.out.written;
        if self.compression == Compression::None {
            self.out.put(raw)?;
        } else {
            self.out.put(&self.compression.compress(raw)?)?;
        }
        self.index.chunks.push((kg, off, self.out.written - off));
        Ok(())
    }

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
        let mut raw = Vec::new();
        for (kg, g) in groups.iter().enumerate().filter(|(_, g)| !g.is_empty()) {
            raw.clear();
            bincode::serialize_into(&mut raw, g)?;
            self.write_raw(kg as u32, &raw)?;
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
    /// The RocksDB files of an incremental checkpoint, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native: Option<NativeHandle>,
}

impl StateHandle {
    /// The handle of `bytes` stored as `file`.
    pub fn of(file: &str, bytes: &[u8]) -> Self {
        Self {
            file: file.to_string(),
            size: bytes.len() as u64,
            crc32: crc32fast::hash(bytes),
            native: None,
        }
    }

    /// Bytes of the whole state (the state file and every RocksDB file).
    pub fn full_size(&self) -> u64 {
        self.size
            + self
                .native
                .as_ref()
                .map(|n| n.files.iter().map(|f| f.size).sum::<u64>())
                .unwrap_or(0)
    }
}

/// The files of a RocksDB native checkpoint, as stored.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct NativeHandle {
    /// Key-group range of the database that was checkpointed.
    pub key_groups: (u32, u32),
    /// Column families (one per state).
    pub tables: Vec<String>,
    /// Every file of the checkpoint.
    pub files: Vec<NativeFile>,
}

/// One file of a RocksDB native checkpoint.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct NativeFile {
    /// File name inside the database directory.
    pub name: String,
    /// Where it is stored, relative to the job folder of the checkpoint
    /// (`shared/…` for SST files, `chk-<n>/…` for the rest).
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// CRC32 (IEEE).
    pub crc32: u32,
}

/// Encodes `snap` as a state file in memory (the tests' small snapshots).
#[cfg(test)]
pub fn encode(
    snap: &OperatorSnapshot,
    max_parallelism: u32,
    compression: Compression,
) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    encode_to(snap, max_parallelism, compression, &mut buf)?;
    Ok(buf)
}

/// Encodes `snap` as a state file into `out`, chunk by chunk, so that the
/// file never needs to be whole in memory; returns its size.
pub fn encode_to(
    snap: &OperatorSnapshot,
    max_parallelism: u32,
    compression: Compression,
    out: &mut dyn std::io::Write,
) -> Result<u64> {
    let mut w = Counting { out, written: 0 };
    let mut footer = Footer {
        compression,
        ..Footer::default()
    };
    for t in &snap.keyed {
        let mut index = TableIndex {
            name: t.name().to_string(),
            chunks: Vec::new(),
        };
        t.write(
            max_parallelism,
            &mut ChunkWriter {
                out: &mut w,
                index: &mut index,
                compression,
            },
        )?;
        footer.tables.push(index);
    }
    footer.operator_state = (w.written, snap.operator_state.len() as u64);
    w.put(&snap.operator_state)?;
    footer.channel_state = (w.written, snap.channel_state.len() as u64);
    w.put(&snap.channel_state)?;
    let fb = bincode::serialize(&footer)?;
    w.put(&fb)?;
    w.put(&(fb.len() as u64).to_le_bytes())?;
    w.put(MAGIC)?;
    Ok(w.written)
}

/// Checks bytes read back against the size and CRC32 recorded when they were written.
pub fn verify(bytes: &[u8], size: u64, crc32: u32, what: &str) -> Result<()> {
    verify_digest(
        (bytes.len() as u64, crc32fast::hash(bytes)),
        size,
        crc32,
        what,
    )
}

/// Checks the (size, CRC32) of what was read against what was recorded.
pub fn verify_digest((got, crc): (u64, u32), size: u64, crc32: u32, what: &str) -> Result<()> {
    if got != size {
        return Err(Error::Checkpoint(format!(
            "{what} is {got} bytes, the metadata says {size}: the file was truncated or replaced",
        )));
    }
    if crc != crc32 {
        return Err(Error::Checkpoint(format!(
            "{what} has CRC32 {crc:08x}, the metadata says {crc32:08x}: the file is corrupted"
        )));
    }
    Ok(())
}

/// A verified state file, ready to hand out chunks.
pub struct StateFile {
    data: Data,
    footer: Footer,
    operator_state: Vec<u8>,
    channel_state: Vec<u8>,
    /// How long reading and verifying it took, for the restore's report.
    read_millis: u64,
    /// Read from a task-local copy rather than checkpoint storage.
    local: bool,
}

/// Where a state file's bytes are.
enum Data {
    Memory(Vec<u8>),
    /// An open file; the temporary download, if it is one, goes when dropped.
    File {
        file: std::fs::File,
        _download: Option<crate::checkpoint::spool::TempFile>,
    },
}

impl Data {
    fn len(&self) -> Result<u64> {
        Ok(match self {
            Data::Memory(b) => b.len() as u64,
            Data::File { file, .. } => file
                .metadata()
                .map_err(|e| Error::Checkpoint(format!("reading a state file's size: {e}")))?
                .len(),
        })
    }

    fn read(&self, off: u64, len: u64) -> Result<std::borrow::Cow<'_, [u8]>> {
        use std::borrow::Cow;
        match self {
            Data::Memory(b) => off
                .checked_add(len)
                .and_then(|end| b.get(usize::try_from(off).ok()?..usize::try_from(end).ok()?))
                .map(Cow::Borrowed)
                .ok_or_else(|| Error::Codec("section out of range".into())),
            Data::File { file, .. } => {
                use std::os::unix::fs::FileExt;
                let mut buf = vec![0; len as usize];
                file.read_exact_at(&mut buf, off).map_err(|e| {
                    Error::Checkpoint(format!("reading a state file at {off}: {e}"))
                })?;
                Ok(Cow::Owned(buf))
            }
        }
    }
}

/// One chunk of a restored state file, read and decompressed when loaded.
pub struct ChunkRef {
    file: std::sync::Arc<StateFile>,
    off: u64,
    len: u64,
}

impl ChunkRef {
    /// The chunk's decompressed bytes (`bincode(Vec<(K, S)>)`).
    pub fn load(&self) -> Result<Vec<u8>> {
        let data = self.file.data.read(self.off, self.len)?;
        Ok(self.file.footer.compression.decompress(&data)?.into_owned())
    }
}

impl StateFile {
    /// Files up to this size are read into memory; larger ones are read where
    /// they lie (a task-local copy) or downloaded to a temporary file, and their
    /// chunks are read one at a time, so a restore never holds the whole state.
    pub const IN_MEMORY_LIMIT: u64 = 16 << 20;

    /// Reads the state file at `loc` and checks it against its handle (size,
    /// CRC32, format); a large remote file is downloaded into the system's
    /// temporary directory.
    pub fn open(loc: &crate::checkpoint::blob::Location, handle: &StateHandle) -> Result<Self> {
        Self::open_in(loc, handle, &std::env::temp_dir())
    }

    /// As [`Self::open`], downloading a large remote file into `scratch`
    /// (beside the state it restores, not a `/tmp` that may be memory).
    pub fn open_in(
        loc: &crate::checkpoint::blob::Location,
        handle: &StateHandle,
        scratch: &std::path::Path,
    ) -> Result<Self> {
        let start = std::time::Instant::now();
        let what = loc.to_string();
        let data = if handle.size <= Self::IN_MEMORY_LIMIT {
            let bytes = loc.get()?;
            verify(&bytes, handle.size, handle.crc32, &what)?;
            Data::Memory(bytes)
        } else if let Some(path) = loc.local_path() {
            verify_digest(
                crate::checkpoint::blob::file_digest(&path)?,
                handle.size,
                handle.crc32,
                &what,
            )?;
            let f = std::fs::File::open(&path).map_err(|e| Error::io("opening", &path, e))?;
            Data::File {
                file: f,
                _download: None,
            }
        } else {
            let tmp = crate::checkpoint::spool::TempFile::new(scratch, "restore")?;
            verify_digest(loc.get_file(tmp.path())?, handle.size, handle.crc32, &what)?;
            let f =
                std::fs::File::open(tmp.path()).map_err(|e| Error::io("opening", tmp.path(), e))?;
            Data::File {
                file: f,
                _download: Some(tmp),
            }
        };
        let mut f = Self::parse(data).map_err(|e| Error::Checkpoint(format!("{loc}: {e}")))?;
        f.read_millis = start.elapsed().as_millis() as u64;
        Ok(f)
    }

    /// Marks the file as read from a task-local copy.
    pub fn from_local_copy(mut self) -> Self {
        self.local = true;
        self
    }

    /// Whether it was read from a task-local copy.
    pub fn is_local(&self) -> bool {
        self.local
    }

    /// How long reading and verifying it took, in milliseconds.
    pub fn read_millis(&self) -> u64 {
        self.read_millis
    }

    /// A state file already in memory, unchecked against any handle (the
    /// fuzz targets' way in; a restore goes through [`Self::open_in`]).
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        Self::parse(Data::Memory(bytes))
    }

    fn parse(data: Data) -> Result<Self> {
        let n = data.len()?;
        let tail = if n >= 16 {
            data.read(n - 16, 16)?
        } else {
            Default::default()
        };
        if n < 16 || &tail[8..] != MAGIC {
            return Err(Error::Codec("not a Tidemark state file (bad magic)".into()));
        }
        let flen = u64::from_le_bytes(tail[..8].try_into().expect("8 bytes"));
        if flen > n - 16 {
            return Err(Error::Codec("footer length out of range".into()));
        }
        let body = n - 16 - flen;
        let footer: Footer = bincode::deserialize(&data.read(body, flen)?)?;
        // Every offset is checked once here, so no later read (of a chunk, in
        // a file that may be gigabytes) sizes a buffer from an unchecked length.
        let in_body = |(off, len): (u64, u64)| off.checked_add(len).is_some_and(|end| end <= body);
        for t in &footer.tables {
            if let Some(&(kg, off, len)) = t.chunks.iter().find(|&&(_, o, l)| !in_body((o, l))) {
                return Err(Error::Codec(format!(
                    "table '{}' key group {kg}: chunk at {off}+{len} lies outside the file's {body} data bytes",
                    t.name
                )));
            }
        }
        let section = |(off, len): (u64, u64)| -> Result<Vec<u8>> {
            if !in_body((off, len)) {
                return Err(Error::Codec("section out of range".into()));
            }
            Ok(data.read(off, len)?.into_owned())
        };
        let operator_state = section(footer.operator_state)?;
        let channel_state = section(footer.channel_state)?;
        Ok(Self {
            data,
            footer,
            operator_state,
            channel_state,
            read_millis: 0,
            local: false,
        })
    }

    /// The chunks of every table whose key group lies in `range`, as (table,
    /// chunk), to be loaded one at a time.
    pub fn chunk_refs(
        self: &std::sync::Arc<Self>,
        range: KeyGroupRange,
    ) -> Vec<(String, ChunkRef)> {
        let mut out = Vec::new();
        for t in &self.footer.tables {
            for &(kg, off, len) in &t.chunks {
                if range.contains(kg) {
                    out.push((
                        t.name.clone(),
                        ChunkRef {
                            file: self.clone(),
                            off,
                            len,
                        },
                    ));
                }
            }
        }
        out
    }

    /// The chunks of every table whose key group lies in `range`, as (table,
    /// decompressed bytes), all at once (the tests' view of a file).
    #[cfg(test)]
    pub fn chunks_in(
        &self,
        range: KeyGroupRange,
    ) -> Result<Vec<(&str, std::borrow::Cow<'_, [u8]>)>> {
        let mut out = Vec::new();
        for t in &self.footer.tables {
            for &(kg, off, len) in &t.chunks {
                if range.contains(kg) {
                    let data = self.data.read(off, len)?;
                    let raw = self.footer.compression.decompress(&data)?.into_owned();
                    out.push((t.name.as_str(), std::borrow::Cow::Owned(raw)));
                }
            }
        }
        Ok(out)
    }

    /// The non-keyed operator state.
    pub fn operator_state(&self) -> &[u8] {
        &self.operator_state
    }

    /// The in-flight records of an unaligned checkpoint (empty if none).
    pub fn channel_state(&self) -> &[u8] {
        &self.channel_state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::store::HeapSnapshot;

    #[test]
    fn round_trip_per_key_group_with_every_compression_and_detect_corruption() {
        use crate::checkpoint::blob::Location;
        for c in [
            Compression::None,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let snap = OperatorSnapshot {
                keyed: vec![Box::new(HeapSnapshot {
                    name: "count".into(),
                    entries: vec![(0i32, 10u64), (2, 20), (42, 30)],
                })],
                operator_state: b"pos=7".to_vec(),
                channel_state: b"in-flight".to_vec(),
                native: None,
            };
            let dir = tempfile::tempdir().unwrap();
            let loc = Location::local(dir.path()).join("s");
            let bytes = encode(&snap, 128, c).unwrap();
            loc.put(&bytes).unwrap();
            let h = StateHandle::of("s", &bytes);
            let f = StateFile::open(&loc, &h).unwrap();
            assert_eq!(f.operator_state(), b"pos=7");
            assert_eq!(f.channel_state(), b"in-flight");
            // key 42 is in key group 29, 0 in 94, 2 in 127 (Flink vectors).
            let low = f.chunks_in(KeyGroupRange { start: 0, end: 42 }).unwrap();
            assert_eq!(low.len(), 1);
            let e: Vec<(i32, u64)> = bincode::deserialize(&low[0].1).unwrap();
            assert_eq!(e, vec![(42, 30)], "{c:?}");
            let high = f
                .chunks_in(KeyGroupRange {
                    start: 86,
                    end: 127,
                })
                .unwrap();
            assert_eq!(high.len(), 2);

            let mut bad = bytes.clone();
            bad[3] ^= 1;
            loc.put(&bad).unwrap();
            let err = StateFile::open(&loc, &h).err().unwrap().to_string();
            assert!(err.contains("corrupted"), "{err}");
            loc.put(&bytes[..10]).unwrap();
            let err = StateFile::open(&loc, &h).err().unwrap().to_string();
            assert!(err.contains("truncated"), "{err}");
        }
    }

    /// A file whose footer is hand-made: what a hostile checkpoint could hold.
    fn with_footer(body: &[u8], footer: &Footer) -> Vec<u8> {
        let mut b = body.to_vec();
        let fb = bincode::serialize(footer).unwrap();
        b.extend_from_slice(&fb);
        b.extend_from_slice(&(fb.len() as u64).to_le_bytes());
        b.extend_from_slice(MAGIC);
        b
    }

    #[test]
    fn chunks_outside_the_file_are_refused_when_it_is_opened() {
        for (off, len) in [(u64::MAX, 2), (0, 1 << 40), (3, 6)] {
            let footer = Footer {
                tables: vec![TableIndex {
                    name: "count".into(),
                    chunks: vec![(7, off, len)],
                }],
                ..Footer::default()
            };
            let err = StateFile::from_bytes(with_footer(b"abcdefgh", &footer))
                .err()
                .unwrap()
                .to_string();
            assert!(
                err.contains("key group 7") && err.contains("outside the file's 8 data bytes"),
                "{err}"
            );
        }
        let footer = Footer {
            operator_state: (u64::MAX, 1),
            ..Footer::default()
        };
        let err = StateFile::from_bytes(with_footer(b"x", &footer))
            .err()
            .unwrap();
        assert!(err.to_string().contains("out of range"), "{err}");
    }

    #[test]
    fn a_chunk_claiming_more_than_its_format_can_encode_is_refused() {
        // Snappy's length header (varint 2^32-1) and LZ4's size prefix on a few bytes.
        let snappy = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        let err = Compression::Snappy
            .decompress(&snappy)
            .unwrap_err()
            .to_string();
        assert!(err.contains("claims 4294967295 bytes"), "{err}");
        let mut lz4 = u32::MAX.to_le_bytes().to_vec();
        lz4.extend_from_slice(&[0x10, 0x61]);
        let err = Compression::Lz4.decompress(&lz4).unwrap_err().to_string();
        assert!(err.contains("claims 4294967295 bytes"), "{err}");
    }

    #[test]
    fn the_densest_real_chunks_still_round_trip() {
        // 8 MiB of one byte: each format at its best ratio, under the bound.
        let raw = vec![0u8; 8 << 20];
        for c in [Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let packed = c.compress(&raw).unwrap();
            assert!(packed.len() < raw.len() / 20, "{c:?}: {}", packed.len());
            assert_eq!(c.decompress(&packed).unwrap().as_ref(), &raw[..], "{c:?}");
        }
    }
}
