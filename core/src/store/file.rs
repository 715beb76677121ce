//! [`FileStore`]: session state in an append-only log on disk, so that a message `publish`
//! accepted survives `kill -9` (and, with [`Durability::Always`], power loss).
//!
//! Written here rather than on an embedded database: the state is a handful of small records
//! whose only query is "replay everything on start", which an append-only log with a CRC per
//! record does in a few hundred lines with one `write` per record and no second copy of the
//! data (redb would fit too, but adds a B-tree, a copy-on-write page cache and a commit per
//! transaction for no query we need; sled is unmaintained and its on-disk format unstable).
//!
//! Layout of the directory given to [`FileStore::open`]:
//! * `tether.lock`: held with an exclusive `flock` while the store is open, so that two
//!   processes never append to the same log (released by the kernel on `kill -9`);
//! * `session.log`: the log, a header record then records, each `len: u32 LE`,
//!   `crc32: u32 LE` (of the rest), `kind: u8`, body (`len` counts kind and body);
//! * `session.log.tmp`: a compaction in progress (written, fsynced, renamed over the log,
//!   then the directory is fsynced).
//!
//! On open the log is replayed: a torn tail (a record cut short by a crash, or one whose CRC
//! fails at the very end) is truncated; a record whose CRC fails with valid records after it
//! is skipped and counted in [`RestoreReport::corrupt`]; a log of a newer format version is
//! refused.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::BytesMut;

use super::{OutgoingState, SessionStore, StoredMessage, StoredSession};
use crate::codec::{decode, Decoded, Packet, PacketId, ProtocolVersion};
use crate::sync::lock;

/// The format this code writes; a log with a larger one is refused.
pub const FORMAT_VERSION: u16 = 1;
const MAGIC: &[u8; 8] = b"TETHSTOR";
const LOG: &str = "session.log";
const TMP: &str = "session.log.tmp";
const LOCK: &str = "tether.lock";
/// A record's fixed part: length and CRC.
const HEAD: usize = 8;
/// Larger than any record we write (a PUBLISH is at most 256 MiB): a length above it is
/// garbage, not a record.
const MAX_RECORD: u32 = 270 * 1024 * 1024;
/// Compact once dead records outweigh live ones and the log is at least this large, so that a
/// small log is not rewritten over and over.
const COMPACT_MIN_BYTES: u64 = 4 * 1024 * 1024;
/// [`Durability::Batched`]: how long a record may wait for its fsync.
pub const DEFAULT_BATCH_INTERVAL: Duration = Duration::from_millis(10);

const K_HEADER: u8 = 0;
const K_META: u8 = 1;
const K_PUT: u8 = 2;
const K_REMOVE: u8 = 3;
const K_IN_PUT: u8 = 4;
const K_IN_REMOVE: u8 = 5;
const K_IN_CLEAR: u8 = 6;

/// When a record written to the store is forced to the disk.
///
/// Every level writes each record to the operating system (`write`) before `publish`
/// returns, so every level survives the process being killed (`kill -9`); they differ in what
/// survives losing power or the kernel.
///
/// ```
/// use tether_core::store::Durability;
/// assert_eq!(Durability::default(), Durability::Batched);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Never fsync (the OS writes back when it likes): survives a process crash only.
    None,
    /// fsync in the background at most [`DEFAULT_BATCH_INTERVAL`] after a write: a power loss
    /// loses at most that window of accepted messages.
    #[default]
    Batched,
    /// fsync before `publish` returns for QoS 1 and 2 (concurrent publishers share one
    /// fsync), and before acknowledgements that depend on a record are sent.
    Always,
}

/// Who the stored session belongs to, recorded so that a store is not resumed by another
/// client by mistake.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionMeta {
    pub client_id: String,
    /// The server the session was made with (`host:port` or URL), for information.
    pub server: String,
    pub session_expiry: u32,
    /// 4 for MQTT 3.1.1, 5 for MQTT 5.0.
    pub protocol: u8,
}

/// What [`FileStore::open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Outgoing messages restored.
    pub messages: usize,
    /// Incoming QoS 2 packet identifiers restored.
    pub incoming_qos2: usize,
    /// Records skipped because their CRC or contents were wrong.
    pub corrupt: usize,
    /// Bytes of a torn tail cut off.
    pub truncated_bytes: u64,
}

/// Fails writes once the log would grow past a limit, as a full disk would (for tests).
#[derive(Debug, Clone, Copy)]
struct Fault {
    limit: u64,
}

struct Inner {
    dir: PathBuf,
    file: Arc<File>,
    /// Bytes of the log, all of them valid records.
    len: u64,
    /// Bytes of records still needed (header, meta, latest put per message, incoming ids).
    live_bytes: u64,
    /// Latest put record per message, encoded (kept for load and compaction).
    messages: BTreeMap<u64, Vec<u8>>,
    incoming: BTreeSet<PacketId>,
    meta: Option<SessionMeta>,
    /// Records written so far (monotonic), and how many of them are known to be on disk.
    written: u64,
    next_seq: u64,
    /// A background fsync failed: the next write reports it.
    sync_error: Option<io::Error>,
    /// After a failed write that could not be undone the log is closed for writing.
    broken: bool,
    fault: Option<Fault>,
    _lock: File,
}

struct Shared {
    inner: Mutex<Inner>,
    /// Records known to be on disk (group commit: one fsync covers every record before it).
    synced: Mutex<u64>,
    durability: Durability,
    report: RestoreReport,
    /// A client has taken this store: a second one (from cloned options) is refused.
    claimed: std::sync::atomic::AtomicBool,
}

/// An on-disk [`SessionStore`]. Cloning gives another handle onto the same open store.
///
/// ```
/// use tether_core::store::{Durability, FileStore, SessionStore};
/// let dir = std::env::temp_dir().join(format!("tether-doc-{}", std::process::id()));
/// let mut store = FileStore::open(&dir, Durability::Batched)?;
/// assert!(store.load()?.messages.is_empty());
/// # drop(store); std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct FileStore {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = lock(&self.shared.inner);
        f.debug_struct("FileStore")
            .field("dir", &inner.dir)
            .field("durability", &self.shared.durability)
            .field("messages", &inner.messages.len())
            .finish_non_exhaustive()
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn record(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEAD + 1 + body.len());
    let len = (1 + body.len()) as u32;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind]);
    crc.update(body);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.push(kind);
    out.extend_from_slice(body);
    out
}

fn header_record() -> Vec<u8> {
    let mut body = MAGIC.to_vec();
    body.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    record(K_HEADER, &body)
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn meta_record(meta: &SessionMeta) -> Vec<u8> {
    let mut body = Vec::new();
    put_string(&mut body, &meta.client_id);
    put_string(&mut body, &meta.server);
    body.extend_from_slice(&meta.session_expiry.to_le_bytes());
    body.push(meta.protocol);
    record(K_META, &body)
}

/// A put record: seq, token, state, packet id (0: none), then the PUBLISH as MQTT 5.0 encodes
/// it (so that every property survives without a format of our own).
fn put_record(message: &StoredMessage) -> io::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(32 + message.publish.payload.len() + message.publish.topic.len());
    body.extend_from_slice(&message.seq.to_le_bytes());
    body.extend_from_slice(&message.token.to_le_bytes());
    body.push(match message.state {
        OutgoingState::Queued => 0,
        OutgoingState::AwaitingAck => 1,
        OutgoingState::AwaitingComp => 2,
    });
    body.extend_from_slice(&message.publish.packet_id.map_or(0, |p| p.get()).to_le_bytes());
    let mut publish = message.publish.clone();
    // A queued QoS>0 message has no identifier yet, but its PUBLISH cannot be encoded without
    // one: a placeholder, dropped again on load (the field above is what counts).
    if publish.packet_id.is_none() && publish.qos > crate::codec::QoS::AtMostOnce {
        publish.packet_id = Some(PacketId::MIN);
    }
    let mut buf = BytesMut::new();
    Packet::Publish(publish)
        .encode(&mut buf)
        .map_err(|e| invalid(format!("cannot store the message: {e}")))?;
    body.extend_from_slice(&buf);
    Ok(record(K_PUT, &body))
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn read_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn read_string(b: &[u8], at: &mut usize) -> Option<String> {
    let len = read_u32(b, *at)? as usize;
    let s = std::str::from_utf8(b.get(*at + 4..*at + 4 + len)?).ok()?.to_owned();
    *at += 4 + len;
    Some(s)
}

fn parse_meta(body: &[u8]) -> Option<SessionMeta> {
    let mut at = 0;
    let client_id = read_string(body, &mut at)?;
    let server = read_string(body, &mut at)?;
    let session_expiry = read_u32(body, at)?;
    let protocol = *body.get(at + 4)?;
    Some(SessionMeta { client_id, server, session_expiry, protocol })
}

/// The message in a put record's body (the body without kind).
fn parse_put(body: &[u8]) -> Option<StoredMessage> {
    let seq = read_u64(body, 0)?;
    let token = read_u64(body, 8)?;
    let state = match body.get(16)? {
        0 => OutgoingState::Queued,
        1 => OutgoingState::AwaitingAck,
        2 => OutgoingState::AwaitingComp,
        _ => return None,
    };
    let packet_id = PacketId::new(u16::from_le_bytes(body.get(17..19)?.try_into().ok()?));
    let mut buf = BytesMut::from(body.get(19..)?);
    let Ok(Decoded::Packet(Packet::Publish(mut publish))) = decode(&mut buf, u32::MAX, ProtocolVersion::V5)
    else {
        return None;
    };
    publish.packet_id = packet_id;
    if state != OutgoingState::Queued && packet_id.is_none() {
        return None;
    }
    Some(StoredMessage { seq, token, publish, state })
}

fn packet_id_body(id: PacketId) -> [u8; 2] {
    id.get().to_le_bytes()
}

/// An exclusive `flock` on the lock file, released by the kernel when the process ends (even
/// by `kill -9`), so a stale lock never outlives its holder.
///
/// A holder that is letting go (a client just closed, whose driver thread is still dropping
/// its last handle; a process just killed) gets a moment: the lock is tried every 10 ms for up
/// to [`LOCK_WAIT`] before the store is called busy.
#[cfg(unix)]
fn lock_exclusive(file: &File, dir: &Path) -> io::Result<()> {
    use rustix::fs::{flock, FlockOperation};
    let tries = LOCK_WAIT.as_millis() / 10;
    for attempt in 0..=tries {
        match flock(file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::WOULDBLOCK) if attempt < tries => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(rustix::io::Errno::WOULDBLOCK) => break,
            Err(e) => return Err(e.into()),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::ResourceBusy,
        format!("session store {} is in use by another client or process", dir.display()),
    ))
}

/// How long opening a store waits for its lock (see `lock_exclusive`).
#[cfg(unix)]
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

#[cfg(not(unix))]
fn lock_exclusive(_file: &File, _dir: &Path) -> io::Result<()> {
    Ok(())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    // Makes a rename (or a new file) itself durable; a directory opens read-only on Unix.
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

impl FileStore {
    /// Open (or create) the store in directory `path` and replay its log. Fails when another
    /// process (or another handle in this one) has it open (after waiting up to a second for
    /// a holder that is letting go, such as a client just closed), when the log was written by a
    /// newer format, or on an I/O error. Corrupt records are skipped and reported in
    /// [`FileStore::restore_report`] and a warning is logged.
    ///
    /// ```
    /// use tether_core::store::{Durability, FileStore};
    /// let dir = std::env::temp_dir().join(format!("tether-doc-open-{}", std::process::id()));
    /// let store = FileStore::open(&dir, Durability::Always)?;
    /// // A second open of the same directory is refused while the first is open.
    /// assert!(FileStore::open(&dir, Durability::Always).is_err());
    /// # drop(store); std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>, durability: Durability) -> io::Result<FileStore> {
        Self::open_with_interval(path, durability, DEFAULT_BATCH_INTERVAL)
    }

    /// [`FileStore::open`] with another fsync interval for [`Durability::Batched`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use tether_core::store::{Durability, FileStore};
    /// let dir = std::env::temp_dir().join(format!("tether-doc-iv-{}", std::process::id()));
    /// let store = FileStore::open_with_interval(&dir, Durability::Batched, Duration::from_millis(50))?;
    /// # drop(store); std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open_with_interval(
        path: impl AsRef<Path>,
        durability: Durability,
        interval: Duration,
    ) -> io::Result<FileStore> {
        let dir = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)?;
        let lock_file = OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(LOCK))?;
        lock_exclusive(&lock_file, &dir)?;
        // A compaction that did not reach its rename is abandoned: the log is still whole.
        let _ = std::fs::remove_file(dir.join(TMP));
        let mut file =
            OpenOptions::new().create(true).truncate(false).read(true).write(true).open(dir.join(LOG))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut inner = Inner {
            dir: dir.clone(),
            file: Arc::new(file.try_clone()?),
            len: 0,
            live_bytes: 0,
            messages: BTreeMap::new(),
            incoming: BTreeSet::new(),
            meta: None,
            written: 0,
            next_seq: 1,
            sync_error: None,
            broken: false,
            fault: None,
            _lock: lock_file,
        };
        let mut report = RestoreReport::default();
        let valid = if bytes.is_empty() {
            let header = header_record();
            file.write_all(&header)?;
            file.sync_all()?;
            sync_dir(&dir)?;
            header.len() as u64
        } else {
            inner.replay(&bytes, &mut report)?
        };
        if valid < bytes.len() as u64 {
            report.truncated_bytes = bytes.len() as u64 - valid;
            tracing::info!(store = %dir.display(), bytes = report.truncated_bytes, "session store: torn tail cut off");
            file.set_len(valid)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::Start(valid))?;
        inner.len = valid;
        inner.file = Arc::new(file);
        inner.recount_live();
        report.messages = inner.messages.len();
        report.incoming_qos2 = inner.incoming.len();
        if report.corrupt > 0 {
            tracing::warn!(store = %dir.display(), corrupt = report.corrupt, "session store: corrupt records skipped");
        }
        let shared = Arc::new(Shared {
            inner: Mutex::new(inner),
            synced: Mutex::new(0),
            durability,
            report,
            claimed: std::sync::atomic::AtomicBool::new(false),
        });
        if durability == Durability::Batched {
            let weak = Arc::downgrade(&shared);
            std::thread::Builder::new()
                .name("tether-store-sync".into())
                .spawn(move || background_sync(weak, interval))?;
        }
        Ok(FileStore { shared })
    }

    /// What opening the store found: messages restored, corrupt records skipped, bytes of a
    /// torn tail cut off.
    ///
    /// ```
    /// use tether_core::store::{Durability, FileStore};
    /// let dir = std::env::temp_dir().join(format!("tether-doc-report-{}", std::process::id()));
    /// let store = FileStore::open(&dir, Durability::None)?;
    /// assert_eq!(store.restore_report().corrupt, 0);
    /// # drop(store); std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn restore_report(&self) -> RestoreReport {
        self.shared.report.clone()
    }

    /// The durability level the store was opened with.
    ///
    /// ```
    /// use tether_core::store::{Durability, FileStore};
    /// let dir = std::env::temp_dir().join(format!("tether-doc-durability-{}", std::process::id()));
    /// let store = FileStore::open(&dir, Durability::None)?;
    /// assert_eq!(store.durability(), Durability::None);
    /// # drop(store); std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn durability(&self) -> Durability {
        self.shared.durability
    }

    /// The session metadata last recorded, if any.
    ///
    /// ```
    /// use tether_core::store::{Durability, FileStore};
    /// let dir = std::env::temp_dir().join(format!("tether-doc-meta-{}", std::process::id()));
    /// let store = FileStore::open(&dir, Durability::None)?;
    /// assert!(store.meta().is_none());
    /// # drop(store); std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn meta(&self) -> Option<SessionMeta> {
        lock(&self.shared.inner).meta.clone()
    }

    /// Record who the session belongs to (written only when it changed).
    ///
    /// ```
    /// use tether_core::store::{Durability, FileStore};
    /// let dir = std::env::temp_dir().join(format!("tether-doc-setmeta-{}", std::process::id()));
    /// let store = FileStore::open(&dir, Durability::None)?;
    /// let meta = tether_core::store::SessionMeta { client_id: "c".into(), ..Default::default() };
    /// store.set_meta(&meta)?;
    /// assert_eq!(store.meta(), Some(meta));
    /// # drop(store); std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_meta(&self, meta: &SessionMeta) -> io::Result<()> {
        let mut inner = lock(&self.shared.inner);
        if inner.meta.as_ref() == Some(meta) {
            return Ok(());
        }
        inner.append(&meta_record(meta))?;
        inner.meta = Some(meta.clone());
        inner.recount_live();
        Ok(())
    }

    /// Accept a message from the publishing thread: give it the next sequence number, write
    /// its record (QoS > 0 only), then `then(seq)` (the hand-off to the driver) while the
    /// store is still locked, so that hand-off order is sequence order. With
    /// [`Durability::Always`] the record is on disk when this returns. Used by the client.
    pub(crate) fn accept<T>(
        &self,
        message: impl FnOnce(u64) -> Option<StoredMessage>,
        then: impl FnOnce(u64) -> T,
    ) -> io::Result<T> {
        let written = {
            let mut inner = lock(&self.shared.inner);
            let seq = inner.next_seq;
            let mut written = None;
            if let Some(message) = message(seq) {
                inner.put(&message)?;
                written = Some(inner.written);
            }
            inner.next_seq = seq + 1;
            let out = then(seq);
            (out, written)
        };
        if let (Some(upto), Durability::Always) = (written.1, self.shared.durability) {
            self.sync_upto(upto)?;
        }
        Ok(written.0)
    }

    /// Take the store for one client; a second client on the same open store is refused, as
    /// a second process is by the lock.
    pub(crate) fn claim(&self) -> io::Result<()> {
        if self.shared.claimed.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return Err(io::Error::new(
                io::ErrorKind::ResourceBusy,
                "this session store is already used by another client; open one store per client",
            ));
        }
        Ok(())
    }

    /// The next sequence number the store will hand out (above every restored message).
    ///
    /// ```
    /// use tether_core::store::{Durability, FileStore};
    /// let dir = std::env::temp_dir().join(format!("tether-doc-nextseq-{}", std::process::id()));
    /// let store = FileStore::open(&dir, Durability::None)?;
    /// assert_eq!(store.next_seq(), 1);
    /// # drop(store); std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn next_seq(&self) -> u64 {
        lock(&self.shared.inner).next_seq
    }

    /// Force every record written so far to disk, whatever the durability level.
    ///
    /// ```
    /// use tether_core::store::{Durability, FileStore};
    /// let dir = std::env::temp_dir().join(format!("tether-doc-sync-{}", std::process::id()));
    /// let store = FileStore::open(&dir, Durability::None)?;
    /// store.sync()?;
    /// # drop(store); std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn sync(&self) -> io::Result<()> {
        let upto = lock(&self.shared.inner).written;
        self.sync_upto(upto)
    }

    /// Group commit: one fsync covers every record written before it, so concurrent callers
    /// that find their record already covered return without one.
    fn sync_upto(&self, upto: u64) -> io::Result<()> {
        let mut synced = lock(&self.shared.synced);
        if *synced >= upto {
            return Ok(());
        }
        let (file, written) = {
            let inner = lock(&self.shared.inner);
            (inner.file.clone(), inner.written)
        };
        file.sync_data()?;
        *synced = written;
        Ok(())
    }

    /// Make writes fail with "no space left" once the log would exceed `limit` bytes, as a
    /// full disk does (for tests of the error paths).
    #[doc(hidden)]
    pub fn fail_writes_beyond(&self, limit: Option<u64>) {
        lock(&self.shared.inner).fault = limit.map(|limit| Fault { limit });
    }

    /// Bytes in the log now (for tests of compaction).
    #[doc(hidden)]
    pub fn log_len(&self) -> u64 {
        lock(&self.shared.inner).len
    }
}

fn background_sync(store: Weak<Shared>, interval: Duration) {
    loop {
        std::thread::sleep(interval);
        let Some(shared) = store.upgrade() else { return };
        let (file, written) = {
            let inner = lock(&shared.inner);
            (inner.file.clone(), inner.written)
        };
        let mut synced = lock(&shared.synced);
        if *synced >= written {
            continue;
        }
        match file.sync_data() {
            Ok(()) => *synced = written,
            Err(e) => {
                tracing::warn!(error = %e, "session store: background fsync failed");
                lock(&shared.inner).sync_error = Some(e);
            }
        }
    }
}

impl Inner {
    /// Apply the records of `bytes`; returns how many bytes are valid (the rest is a torn
    /// tail).
    fn replay(&mut self, bytes: &[u8], report: &mut RestoreReport) -> io::Result<u64> {
        let mut at = 0usize;
        let mut first = true;
        while at < bytes.len() {
            let Some(len) = read_u32(bytes, at) else { break };
            let Some(crc) = read_u32(bytes, at + 4) else { break };
            if len == 0 || len > MAX_RECORD || at + HEAD + len as usize > bytes.len() {
                // Cut short, or a length that is no length (zeros after a power loss): the
                // tail from here on cannot be trusted.
                break;
            }
            let end = at + HEAD + len as usize;
            let payload = &bytes[at + HEAD..end];
            if crc32fast::hash(payload) != crc {
                if end == bytes.len() {
                    // The last record, half written when the process died.
                    break;
                }
                report.corrupt += 1;
                at = end;
                continue;
            }
            let (kind, body) = (payload[0], &payload[1..]);
            if first {
                if kind != K_HEADER || body.get(..8) != Some(&MAGIC[..]) {
                    return Err(invalid("not a tether session store (bad header)".into()));
                }
                let version = u16::from_le_bytes([body[8], body[9]]);
                if version > FORMAT_VERSION {
                    return Err(invalid(format!(
                        "session store format version {version} is newer than this tether \
                         understands ({FORMAT_VERSION}); upgrade tether or use another store path"
                    )));
                }
                first = false;
                at = end;
                continue;
            }
            if !self.apply(kind, body, payload) {
                report.corrupt += 1;
            }
            at = end;
        }
        if first && at == 0 && !bytes.is_empty() {
            return Err(invalid("not a tether session store (no header)".into()));
        }
        Ok(at as u64)
    }

    /// One record during replay; false if its contents make no sense.
    fn apply(&mut self, kind: u8, body: &[u8], payload: &[u8]) -> bool {
        match kind {
            K_META => match parse_meta(body) {
                Some(meta) => self.meta = Some(meta),
                None => return false,
            },
            K_PUT => match parse_put(body) {
                Some(m) => {
                    self.next_seq = self.next_seq.max(m.seq + 1);
                    self.messages.insert(m.seq, record_from_payload(payload));
                }
                None => return false,
            },
            K_REMOVE => match read_u64(body, 0) {
                Some(seq) => {
                    self.messages.remove(&seq);
                    self.next_seq = self.next_seq.max(seq + 1);
                }
                None => return false,
            },
            K_IN_PUT | K_IN_REMOVE => {
                let Some(id) = body.get(..2).and_then(|b| PacketId::new(u16::from_le_bytes([b[0], b[1]])))
                else {
                    return false;
                };
                if kind == K_IN_PUT {
                    self.incoming.insert(id);
                } else {
                    self.incoming.remove(&id);
                }
            }
            K_IN_CLEAR => self.incoming.clear(),
            _ => return false,
        }
        true
    }

    fn recount_live(&mut self) {
        let meta = self.meta.as_ref().map_or(0, |m| meta_record(m).len());
        let messages: usize = self.messages.values().map(Vec::len).sum();
        self.live_bytes = (header_record().len() + meta + messages + self.incoming.len() * (HEAD + 3)) as u64;
    }

    /// Append one record with one `write`; on failure the log is cut back to where it was so
    /// that a half-written record never sits before later ones.
    fn append(&mut self, rec: &[u8]) -> io::Result<()> {
        if self.broken {
            return Err(io::Error::other("session store closed for writing after an earlier I/O error"));
        }
        if let Some(e) = self.sync_error.take() {
            return Err(e);
        }
        let result = match self.fault {
            Some(Fault { limit }) if self.len + rec.len() as u64 > limit => {
                // Write what fits, as a full disk would, then fail.
                let fits = limit.saturating_sub(self.len) as usize;
                let _ = (&*self.file).write_all(&rec[..fits.min(rec.len())]);
                Err(io::Error::new(io::ErrorKind::StorageFull, "no space left on device (injected)"))
            }
            _ => (&*self.file).write_all(rec),
        };
        if let Err(e) = result {
            let undo =
                self.file.set_len(self.len).and_then(|()| (&*self.file).seek(SeekFrom::Start(self.len)));
            if undo.is_err() {
                self.broken = true;
            }
            return Err(e);
        }
        self.len += rec.len() as u64;
        self.written += 1;
        Ok(())
    }

    fn put(&mut self, message: &StoredMessage) -> io::Result<()> {
        let rec = put_record(message)?;
        self.append(&rec)?;
        let old = self.messages.insert(message.seq, rec);
        self.live_bytes += self.messages[&message.seq].len() as u64;
        self.live_bytes -= old.map_or(0, |o| o.len() as u64);
        self.maybe_compact()
    }

    fn remove(&mut self, seq: u64) -> io::Result<()> {
        if !self.messages.contains_key(&seq) {
            return Ok(());
        }
        self.append(&record(K_REMOVE, &seq.to_le_bytes()))?;
        if let Some(old) = self.messages.remove(&seq) {
            self.live_bytes -= old.len() as u64;
        }
        self.maybe_compact()
    }

    fn maybe_compact(&mut self) -> io::Result<()> {
        if self.len < COMPACT_MIN_BYTES || self.len - self.live_bytes.min(self.len) <= self.live_bytes {
            return Ok(());
        }
        self.compact()
    }

    /// Write the live records to a new segment, make it durable, and put it in place of the
    /// log (rename, then fsync the directory so that the rename itself survives).
    fn compact(&mut self) -> io::Result<()> {
        let tmp_path = self.dir.join(TMP);
        let mut out = Vec::with_capacity(self.live_bytes as usize);
        out.extend_from_slice(&header_record());
        if let Some(meta) = &self.meta {
            out.extend_from_slice(&meta_record(meta));
        }
        for rec in self.messages.values() {
            out.extend_from_slice(rec);
        }
        for id in &self.incoming {
            out.extend_from_slice(&record(K_IN_PUT, &packet_id_body(*id)));
        }
        if let Some(Fault { limit }) = self.fault {
            if out.len() as u64 > limit {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "no space left on device (injected)"));
            }
        }
        let mut tmp =
            OpenOptions::new().create(true).truncate(true).write(true).read(true).open(&tmp_path)?;
        tmp.write_all(&out)?;
        tmp.sync_all()?;
        std::fs::rename(&tmp_path, self.dir.join(LOG))?;
        sync_dir(&self.dir)?;
        tmp.seek(SeekFrom::Start(out.len() as u64))?;
        self.file = Arc::new(tmp);
        self.len = out.len() as u64;
        self.live_bytes = self.len;
        tracing::debug!(bytes = self.len, "session store compacted");
        Ok(())
    }
}

fn record_from_payload(payload: &[u8]) -> Vec<u8> {
    record(payload[0], &payload[1..])
}

impl SessionStore for FileStore {
    fn put_outgoing(&mut self, message: &StoredMessage) -> io::Result<()> {
        let mut inner = lock(&self.shared.inner);
        inner.next_seq = inner.next_seq.max(message.seq + 1);
        inner.put(message)
    }
    fn remove_outgoing(&mut self, seq: u64) -> io::Result<()> {
        lock(&self.shared.inner).remove(seq)
    }
    fn put_incoming_qos2(&mut self, packet_id: PacketId) -> io::Result<()> {
        let mut inner = lock(&self.shared.inner);
        if inner.incoming.contains(&packet_id) {
            return Ok(());
        }
        inner.append(&record(K_IN_PUT, &packet_id_body(packet_id)))?;
        inner.incoming.insert(packet_id);
        inner.live_bytes += (HEAD + 3) as u64;
        Ok(())
    }
    fn remove_incoming_qos2(&mut self, packet_id: PacketId) -> io::Result<()> {
        let mut inner = lock(&self.shared.inner);
        if !inner.incoming.contains(&packet_id) {
            return Ok(());
        }
        inner.append(&record(K_IN_REMOVE, &packet_id_body(packet_id)))?;
        inner.incoming.remove(&packet_id);
        inner.live_bytes -= (HEAD + 3) as u64;
        inner.maybe_compact()
    }
    fn clear_incoming(&mut self) -> io::Result<()> {
        let mut inner = lock(&self.shared.inner);
        if inner.incoming.is_empty() {
            return Ok(());
        }
        inner.append(&record(K_IN_CLEAR, &[]))?;
        inner.live_bytes -= (inner.incoming.len() * (HEAD + 3)) as u64;
        inner.incoming.clear();
        Ok(())
    }
    fn load(&mut self) -> io::Result<StoredSession> {
        let inner = lock(&self.shared.inner);
        let mut messages = Vec::with_capacity(inner.messages.len());
        for rec in inner.messages.values() {
            // Every record here was parsed when written or replayed.
            if let Some(m) = parse_put(&rec[HEAD + 1..]) {
                messages.push(m);
            }
        }
        Ok(StoredSession { messages, incoming_qos2: inner.incoming.iter().copied().collect() })
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.shared.durability == Durability::Always {
            self.sync()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
