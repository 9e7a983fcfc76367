//! Where checkpoint bytes live: a local directory or an S3 bucket, behind one
//! small blocking interface. Everything above it (state files, shared SST files,
//! metadata, savepoints) names objects by `/`-separated keys under a
//! [`Location`], so checkpoint code never knows which store it writes to.
//!
//! Local writes go to a temporary name, are fsynced and renamed, so a reader
//! sees a whole object or none; S3 PUTs are atomic by themselves.

use crate::error::{Error, Result};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// A flat store of objects named by keys.
pub trait Blobs: Send + Sync + 'static {
    /// Writes `bytes` under `key`, durably and atomically.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<()>;
    /// Reads the object under `key`.
    fn get(&self, key: &str) -> Result<Vec<u8>>;
    /// Writes the file at `src` under `key` without holding it in memory;
    /// returns its size and CRC32.
    fn put_file(&self, key: &str, src: &Path) -> Result<(u64, u32)>;
    /// Copies the object under `key` into the file `dst` without holding it
    /// in memory; returns its size and CRC32.
    fn get_file(&self, key: &str, dst: &Path) -> Result<(u64, u32)>;
    /// Every object under `prefix/`, as (key, size), recursively.
    fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>>;
    /// Deletes `key`; a missing object is not an error.
    fn delete(&self, key: &str) -> Result<()>;
    /// How a user would name `key` (a path or an `s3://` URL).
    fn describe(&self, key: &str) -> String;
}

/// S3 client settings (`s3.*` keys, else the `AWS_*` environment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// `s3.endpoint` / `AWS_ENDPOINT_URL` / `AWS_ENDPOINT`.
    pub endpoint: Option<String>,
    /// `s3.region` / `AWS_REGION` / `AWS_DEFAULT_REGION`; default us-east-1.
    pub region: Option<String>,
    /// `s3.access-key` / `AWS_ACCESS_KEY_ID`.
    pub access_key: Option<String>,
    /// `s3.secret-key` / `AWS_SECRET_ACCESS_KEY`.
    pub secret_key: Option<String>,
    /// `s3.path.style.access`: `http://host/bucket/key` instead of `http://bucket.host/key`.
    pub path_style: bool,
    /// Retries per request before a write fails (the checkpoint then fails).
    pub max_retries: usize,
}

/// A "directory" inside a store: the store and a key prefix.
#[derive(Clone)]
pub struct Location {
    blobs: Arc<dyn Blobs>,
    key: String,
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.blobs.describe(&self.key))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.blobs.describe(&self.key))
    }
}

impl Location {
    /// Parses `uri`: `s3://bucket/prefix` or a local path (`file://` allowed).
    /// `key` names the setting in errors.
    pub fn parse(uri: &str, s3: &S3Settings, key: &str) -> Result<Self> {
        let uri = uri.trim();
        if let Some(rest) = uri.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.len() < 3 || bucket.len() > 63 {
                return Err(Error::Config(format!(
                    "{key}: '{uri}' names bucket '{bucket}': a bucket name has 3 to 63 characters (s3://bucket/prefix)"
                )));
            }
            let blobs = S3Blobs::new(bucket, s3)
                .map_err(|e| Error::Config(format!("{key}: '{uri}': {e}")))?;
            Ok(Self {
                blobs: Arc::new(blobs),
                key: prefix.trim_matches('/').to_string(),
            })
        } else if uri.contains("://") && !uri.starts_with("file://") {
            Err(Error::Config(format!(
                "{key}: '{uri}' has an unsupported scheme: use a local path, file:///path or s3://bucket/prefix"
            )))
        } else {
            Ok(Self::local(Path::new(uri.trim_start_matches("file://"))))
        }
    }

    /// A local directory.
    pub fn local(dir: &Path) -> Self {
        Self {
            blobs: Arc::new(LocalBlobs {
                root: dir.to_path_buf(),
            }),
            key: String::new(),
        }
    }

    /// The location of `name` below this one.
    pub fn join(&self, name: &str) -> Self {
        let key = if self.key.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.key)
        };
        Self {
            blobs: self.blobs.clone(),
            key,
        }
    }

    /// The enclosing location (itself at the root).
    pub fn parent(&self) -> Self {
        let key = self
            .key
            .rsplit_once('/')
            .map(|(p, _)| p.to_string())
            .unwrap_or_default();
        Self {
            blobs: self.blobs.clone(),
            key,
        }
    }

    /// The last component of the key.
    pub fn name(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or("")
    }

    /// Writes this object.
    pub fn put(&self, bytes: &[u8]) -> Result<()> {
        self.blobs.put(&self.key, bytes)
    }

    /// Reads this object.
    pub fn get(&self) -> Result<Vec<u8>> {
        self.blobs.get(&self.key)
    }

    /// Writes the file `src` as this object, streaming; (size, CRC32).
    pub fn put_file(&self, src: &Path) -> Result<(u64, u32)> {
        self.blobs.put_file(&self.key, src)
    }

    /// Copies this object into the file `dst`, streaming; (size, CRC32).
    pub fn get_file(&self, dst: &Path) -> Result<(u64, u32)> {
        self.blobs.get_file(&self.key, dst)
    }

    /// Whether this object exists.
    pub fn exists(&self) -> bool {
        let parent = self.parent();
        parent
            .list()
            .map(|v| v.iter().any(|(k, _)| k.key == self.key))
            .unwrap_or(false)
    }

    /// Objects below this location: (location, size).
    pub fn list(&self) -> Result<Vec<(Location, u64)>> {
        Ok(self
            .blobs
            .list(&self.key)?
            .into_iter()
            .map(|(key, size)| {
                (
                    Location {
                        blobs: self.blobs.clone(),
                        key,
                    },
                    size,
                )
            })
            .collect())
    }

    /// The key relative to `base`, if this lies below it.
    pub fn relative_to(&self, base: &Location) -> Option<String> {
        if base.key.is_empty() {
            return Some(self.key.clone());
        }
        self.key
            .strip_prefix(&base.key)
            .and_then(|r| r.strip_prefix('/'))
            .map(str::to_string)
    }

    /// Deletes this object.
    pub fn delete(&self) -> Result<()> {
        self.blobs.delete(&self.key)
    }

    /// Deletes every object below this location.
    pub fn delete_all(&self) -> Result<()> {
        let mut first = None;
        for (l, _) in self.list()? {
            if let Err(e) = l.delete() {
                first.get_or_insert(e);
            }
        }
        self.blobs.delete(&format!("{}/", self.key)).ok();
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The local path, if this is a local store.
    pub fn local_path(&self) -> Option<PathBuf> {
        let d = self.blobs.describe(&self.key);
        (!d.starts_with("s3://")).then(|| PathBuf::from(d))
    }
}

/// Objects as files under a root directory.
struct LocalBlobs {
    root: PathBuf,
}

impl LocalBlobs {
    fn path(&self, key: &str) -> PathBuf {
        if key.is_empty() {
            self.root.clone()
        } else {
            self.root.join(key)
        }
    }

    /// The file for `key` and the `.inprogress` file it is written as first
    /// (which `list` skips), with the parent directory created.
    fn staged(&self, key: &str) -> Result<(PathBuf, PathBuf)> {
        let p = self.path(key);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(|e| Error::io("creating directory", d, e))?;
        }
        let mut name = p.file_name().unwrap_or_default().to_os_string();
        name.push(".inprogress");
        let tmp = p.with_file_name(name);
        Ok((p, tmp))
    }

    /// Renames the written `tmp` to `p` and syncs the directory, so the
    /// object appears whole or not at all, and survives a crash once there.
    fn publish(tmp: &Path, p: &Path) -> Result<()> {
        std::fs::rename(tmp, p).map_err(|e| Error::io("renaming into place", p, e))?;
        if let Some(d) = p.parent().and_then(|d| std::fs::File::open(d).ok()) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Blobs for LocalBlobs {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let (p, tmp) = self.staged(key)?;
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io("creating", &tmp, e))?;
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::io("writing", &tmp, e))?;
        Self::publish(&tmp, &p)
    }

    fn get(&self, key: &str) -> Result<Vec<u8>> {
        let p = self.path(key);
        std::fs::read(&p).map_err(|e| Error::io("reading", &p, e))
    }

    fn put_file(&self, key: &str, src: &Path) -> Result<(u64, u32)> {
        let (p, tmp) = self.staged(key)?;
        let r = copy_with_crc(src, &tmp, true)?;
        Self::publish(&tmp, &p)?;
        Ok(r)
    }

    fn get_file(&self, key: &str, dst: &Path) -> Result<(u64, u32)> {
        copy_with_crc(&self.path(key), dst, false)
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        fn walk(dir: &Path, key: &str, out: &mut Vec<(String, u64)>) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let k = if key.is_empty() {
                    name.clone()
                } else {
                    format!("{key}/{name}")
                };
                match e.file_type() {
                    Ok(t) if t.is_dir() => walk(&e.path(), &k, out),
                    Ok(_) if !name.ends_with("inprogress") => {
                        out.push((k, e.metadata().map(|m| m.len()).unwrap_or(0)))
                    }
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.path(prefix), prefix, &mut out);
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<()> {
        let p = self.path(key.trim_end_matches('/'));
        let r = if key.ends_with('/') {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        match r {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("deleting", &p, e)),
            _ => {
                // Drop directories left empty, up to the root.
                let mut d = p.parent();
                while let Some(dir) = d {
                    if dir == self.root || std::fs::remove_dir(dir).is_err() {
                        break;
                    }
                    d = dir.parent();
                }
                Ok(())
            }
        }
    }

    fn describe(&self, key: &str) -> String {
        self.path(key).display().to_string()
    }
}

/// CRC32 (IEEE) of bytes, as recorded for every checkpoint file.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// Size and CRC32 of a file, read in 1 MiB pieces.
pub fn file_digest(path: &Path) -> Result<(u64, u32)> {
    stream_file(path, None)
}

/// Copies `src` to `dst` in 1 MiB pieces, computing the CRC32 on the way;
/// fsyncs `dst` when `durable`.
fn copy_with_crc(src: &Path, dst: &Path, durable: bool) -> Result<(u64, u32)> {
    let mut to = std::fs::File::create(dst).map_err(|e| Error::io("creating", dst, e))?;
    let r = stream_file(src, Some((&mut to, dst)))?;
    if durable {
        to.sync_all().map_err(|e| Error::io("syncing", dst, e))?;
    }
    Ok(r)
}

fn stream_file(src: &Path, mut to: Option<(&mut std::fs::File, &Path)>) -> Result<(u64, u32)> {
    use std::io::Read;
    let mut from = std::fs::File::open(src).map_err(|e| Error::io("opening", src, e))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut crc = crc32fast::Hasher::new();
    let mut n = 0u64;
    loop {
        let k = from
            .read(&mut buf)
            .map_err(|e| Error::io("reading", src, e))?;
        if k == 0 {
            return Ok((n, crc.finalize()));
        }
        crc.update(&buf[..k]);
        if let Some((f, dst)) = &mut to {
            f.write_all(&buf[..k])
                .map_err(|e| Error::io("writing", *dst, e))?;
        }
        n += k as u64;
    }
}

/// Files up to this size go up in one PUT; larger ones in parts of this size.
const PART: usize = 16 << 20;

/// Objects in an S3 bucket, through object_store on a small runtime of its own
/// (callers are plain threads: task snapshot threads and the job master).
struct S3Blobs {
    store: object_store::aws::AmazonS3,
    bucket: String,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("s3-io")
            .enable_all()
            .build()
            .expect("the S3 runtime starts")
    })
}

/// Runs `f` to completion from any thread, also one inside another runtime.
fn block_on<F: std::future::Future + Send>(f: F) -> F::Output
where
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| {
            s.spawn(|| runtime().block_on(f))
                .join()
                .expect("S3 call panicked")
        })
    } else {
        runtime().block_on(f)
    }
}

fn env_any(keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

impl S3Blobs {
    fn new(bucket: &str, s: &S3Settings) -> std::result::Result<Self, String> {
        let endpoint = s
            .endpoint
            .clone()
            .or_else(|| env_any(&["AWS_ENDPOINT_URL", "AWS_ENDPOINT"]));
        let region = s
            .region
            .clone()
            .or_else(|| env_any(&["AWS_REGION", "AWS_DEFAULT_REGION"]))
            .unwrap_or_else(|| "us-east-1".into());
        // Without keys object_store asks the instance-metadata endpoint, which
        // is off-machine traffic and a long stall; demand them instead.
        let access = s
            .access_key
            .clone()
            .or_else(|| env_any(&["AWS_ACCESS_KEY_ID"]))
            .ok_or("no access key: set s3.access-key or AWS_ACCESS_KEY_ID")?;
        let secret = s
            .secret_key
            .clone()
            .or_else(|| env_any(&["AWS_SECRET_ACCESS_KEY"]))
            .ok_or("no secret key: set s3.secret-key or AWS_SECRET_ACCESS_KEY")?;
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(region)
            .with_access_key_id(access)
            .with_secret_access_key(secret)
            .with_virtual_hosted_style_request(!s.path_style)
            .with_retry(object_store::RetryConfig {
                max_retries: s.max_retries,
                retry_timeout: Duration::from_secs(10),
                backoff: object_store::BackoffConfig {
                    init_backoff: Duration::from_millis(50),
                    max_backoff: Duration::from_secs(1),
                    base: 2.0,
                },
            })
            .with_client_options(
                object_store::ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(120))
                    .with_allow_http(true),
            );
        if let Some(ep) = endpoint {
            b = b.with_endpoint(ep).with_allow_http(true);
        }
        let store = b.build().map_err(|e| e.to_string())?;
        Ok(Self {
            store,
            bucket: bucket.to_string(),
        })
    }
}

fn s3_err(op: &str, url: String, e: object_store::Error) -> Error {
    // The Display of a connection failure does not say "refused"; the source chain does.
    let mut msg = e.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(s) = src {
        if s.source().is_none() {
            msg = format!("{msg} ({s})");
        }
        src = s.source();
    }
    Error::Checkpoint(format!("{op} {url}: {msg}"))
}

impl Blobs for S3Blobs {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let payload = PutPayload::from(bytes::Bytes::copy_from_slice(bytes));
        block_on(self.store.put(&ObjPath::from(key), payload))
            .map(|_| ())
            .map_err(|e| s3_err("writing", self.describe(key), e))
    }

    fn get(&self, key: &str) -> Result<Vec<u8>> {
        block_on(async {
            let r = self.store.get(&ObjPath::from(key)).await?;
            r.bytes().await
        })
        .map(|b| b.to_vec())
        .map_err(|e| s3_err("reading", self.describe(key), e))
    }

    fn put_file(&self, key: &str, src: &Path) -> Result<(u64, u32)> {
        use std::io::Read;
        let url = self.describe(key);
        let mut f = std::fs::File::open(src).map_err(|e| Error::io("opening", src, e))?;
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let mut crc = crc32fast::Hasher::new();
        if len as usize <= PART {
            let mut v = Vec::with_capacity(len as usize);
            f.read_to_end(&mut v)
                .map_err(|e| Error::io("reading", src, e))?;
            crc.update(&v);
            let n = v.len() as u64;
            block_on(self.store.put(&ObjPath::from(key), PutPayload::from(v)))
                .map_err(|e| s3_err("writing", url, e))?;
            return Ok((n, crc.finalize()));
        }
        // Multipart: at most a few parts in memory at once.
        block_on(async {
            let up = self.store.put_multipart(&ObjPath::from(key)).await?;
            let mut w = object_store::WriteMultipart::new_with_chunk_size(up, PART);
            let mut buf = vec![0u8; PART];
            let mut n = 0u64;
            loop {
                let k = match f.read(&mut buf) {
                    Ok(k) => k,
                    Err(e) => {
                        let _ = w.abort().await;
                        return Err(object_store::Error::Generic {
                            store: "local file",
                            source: Box::new(e),
                        });
                    }
                };
                if k == 0 {
                    break;
                }
                crc.update(&buf[..k]);
                n += k as u64;
                w.wait_for_capacity(2).await?;
                w.write(&buf[..k]);
            }
            w.finish().await?;
            Ok(n)
        })
        .map(|n| (n, crc.finalize()))
        .map_err(|e| s3_err("writing", url, e))
    }

    fn get_file(&self, key: &str, dst: &Path) -> Result<(u64, u32)> {
        use futures::StreamExt;
        let url = self.describe(key);
        let mut to = std::fs::File::create(dst).map_err(|e| Error::io("creating", dst, e))?;
        let mut crc = crc32fast::Hasher::new();
        let mut n = 0u64;
        let mut werr = None;
        block_on(async {
            let mut s = self.store.get(&ObjPath::from(key)).await?.into_stream();
            while let Some(chunk) = s.next().await {
                let chunk = chunk?;
                crc.update(&chunk);
                n += chunk.len() as u64;
                if let Err(e) = to.write_all(&chunk) {
                    werr = Some(e);
                    break;
                }
            }
            Ok::<_, object_store::Error>(())
        })
        .map_err(|e| s3_err("reading", url, e))?;
        if let Some(e) = werr {
            return Err(Error::io("writing", dst, e));
        }
        Ok((n, crc.finalize()))
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        use futures::TryStreamExt;
        let p = ObjPath::from(prefix);
        block_on(async {
            self.store
                .list(if prefix.is_empty() { None } else { Some(&p) })
                .try_collect::<Vec<_>>()
                .await
        })
        .map(|v| {
            v.into_iter()
                .map(|m| (m.location.to_string(), m.size))
                .collect()
        })
        .map_err(|e| s3_err("listing", self.describe(prefix), e))
    }

    fn delete(&self, key: &str) -> Result<()> {
        if key.ends_with('/') {
            return Ok(()); // no directories in S3
        }
        match block_on(self.store.delete(&ObjPath::from(key))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(s3_err("deleting", self.describe(key), e)),
        }
    }

    fn describe(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_put_list_get_delete() {
        let d = tempfile::tempdir().unwrap();
        let root = Location::local(d.path());
        let a = root.join("job").join("chk-1").join("a.state");
        a.put(b"hello").unwrap();
        root.join("job")
            .join("shared")
            .join("x")
            .put(b"xy")
            .unwrap();
        assert_eq!(a.get().unwrap(), b"hello");
        assert!(a.exists());
        let mut l: Vec<_> = root
            .join("job")
            .list()
            .unwrap()
            .into_iter()
            .map(|(l, s)| (l.relative_to(&root.join("job")).unwrap(), s))
            .collect();
        l.sort();
        assert_eq!(
            l,
            vec![
                ("chk-1/a.state".to_string(), 5),
                ("shared/x".to_string(), 2)
            ]
        );
        root.join("job").join("chk-1").delete_all().unwrap();
        assert!(!d.path().join("job/chk-1").exists());
        assert_eq!(a.parent().name(), "chk-1");
    }

    #[test]
    fn bad_uris_name_the_key() {
        let e = Location::parse(
            "hdfs://x/y",
            &S3Settings::default(),
            "execution.checkpointing.dir",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("execution.checkpointing.dir") && e.contains("s3://"),
            "{e}"
        );
        let e = Location::parse("s3://b/y", &S3Settings::default(), "k")
            .unwrap_err()
            .to_string();
        assert!(e.contains("3 to 63"), "{e}");
    }
}
