//! The jar on the agent's disk, read within the run's bounds.
//!
//! The file is opened once, in the plan, and that handle is what the upload reads: it is checked
//! to be a regular file on the handle itself (a FIFO, device or directory put at the path after
//! the glob matched is refused, and opening a FIFO does not wait for a writer). A stamp of the
//! file (size, modification and change times, device and inode) is taken when it is opened;
//! [`Source::check_unchanged`] compares both the handle and the path with it, so a jar rewritten
//! or replaced while the step runs is noticed. Reads run on blocking threads in pieces, each
//! piece checking a stop flag and the deadline, and the async side never waits past the deadline.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use md5::{Digest, Md5};
use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::inputs as i;

/// The piece a read of the plan's hashing takes at once; every block size is a multiple of it.
pub const PIECE: usize = 1024 * 1024;

/// Pieces in flight between the two hashing threads.
const PIECES: usize = 8;

/// What identifies one state of a file, cheaply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub size: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    changed: (i64, i64),
    #[cfg(unix)]
    id: (u64, u64),
}

impl Stamp {
    /// The same file (not necessarily the same content).
    fn same_file(&self, other: &Stamp) -> bool {
        #[cfg(unix)]
        {
            self.id == other.id
        }
        #[cfg(not(unix))]
        {
            let _ = other;
            true
        }
    }

    fn of(m: &std::fs::Metadata) -> Stamp {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Stamp {
            size: m.len(),
            modified: m.modified().ok(),
            #[cfg(unix)]
            changed: (m.ctime(), m.ctime_nsec()),
            #[cfg(unix)]
            id: (m.dev(), m.ino()),
        }
    }
}

#[derive(Debug)]
pub struct Source {
    path: PathBuf,
    file: std::fs::File,
    stamp: Stamp,
}

/// Opening a FIFO for reading waits for a writer unless it is opened non-blocking; regular files
/// ignore the flag.
#[cfg(target_os = "linux")]
const OPEN_NONBLOCK: i32 = libc::O_NONBLOCK;
#[cfg(target_os = "macos")]
const OPEN_NONBLOCK: i32 = 0x0004;
#[cfg(all(unix, not(any(target_os = "linux", target_os = "macos"))))]
const OPEN_NONBLOCK: i32 = 0;

impl Source {
    /// Open the jar, refusing anything but a regular file.
    pub fn open(path: &Path) -> Result<Source> {
        let not_a_file = |what: &str| {
            Error::input(
                i::ARTIFACT_PATH,
                format!("`{}` is {what}, not a regular file", path.display()),
            )
            .with_hint("point artifactPath at the jar the build wrote")
        };
        let mut o = std::fs::OpenOptions::new();
        o.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            if OPEN_NONBLOCK == 0 {
                // No portable non-blocking open here: at least refuse what the path names now.
                match std::fs::metadata(path) {
                    Ok(m) if !m.is_file() => return Err(not_a_file(crate::fsread::kind(&m))),
                    _ => {}
                }
            }
            o.custom_flags(OPEN_NONBLOCK);
        }
        let file = o.open(path).map_err(|e| {
            Error::input(
                i::ARTIFACT_PATH,
                format!("`{}` cannot be read: {e}", path.display()),
            )
        })?;
        let m = file.metadata().map_err(|e| Error::io(path, e))?;
        if !m.is_file() {
            return Err(not_a_file(crate::fsread::kind(&m)));
        }
        Ok(Source {
            path: path.to_owned(),
            stamp: Stamp::of(&m),
            file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn size(&self) -> u64 {
        self.stamp.size
    }

    /// The file, through the open handle and through its path, is as it was when opened.
    pub fn check_unchanged(&self) -> Result<()> {
        let at_path = match std::fs::metadata(&self.path) {
            Ok(m) => Stamp::of(&m),
            Err(_) => return Err(self.changed("was removed or renamed")),
        };
        if !at_path.same_file(&self.stamp) {
            return Err(self.changed("was replaced by another file"));
        }
        let now = self.file.metadata().map_err(|e| Error::io(&self.path, e))?;
        if Stamp::of(&now) != self.stamp || at_path != self.stamp {
            return Err(self.changed("was written to"));
        }
        Ok(())
    }

    /// The error for a jar that changed while the step used it.
    pub fn changed(&self, how: &str) -> Error {
        Error::new(
            ErrorKind::Io,
            format!(
                "`{}` {how} after the plan read it, so what would be uploaded is not what the plan hashed",
                self.path.display()
            ),
        )
        .with_hint("something wrote the jar while this step ran (a build still running, a parallel job on the same agent): let it finish before this step, then run again")
    }

    /// Read `buf.len()` bytes at `offset`.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        read_at(&self.file, buf, offset)
    }
}

#[cfg(unix)]
fn read_at(f: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(windows)]
fn read_at(f: &std::fs::File, buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let n = std::os::windows::fs::FileExt::seek_read(f, &mut buf[done..], offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        done += n;
        offset += n as u64;
    }
    Ok(())
}

/// Stops the blocking readers of one operation: set when the operation fails, times out or is
/// dropped (the run was cancelled).
#[derive(Clone, Default, Debug)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    /// A guard that sets the flag when dropped before [`StopOnDrop::disarm`]: the future that
    /// holds it was dropped (the run was cancelled) or gave up.
    pub fn on_drop(&self) -> StopOnDrop {
        StopOnDrop(Some(self.clone()))
    }
}

pub struct StopOnDrop(Option<Stop>);

impl StopOnDrop {
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(s) = &self.0 {
            s.set();
        }
    }
}

/// Why a blocking read gave up.
#[derive(Debug)]
pub enum ReadFailure {
    Io(std::io::Error),
    Stopped,
    Deadline,
}

impl ReadFailure {
    pub fn into_error(self, src: &Source, what: &str) -> Error {
        match self {
            ReadFailure::Io(e) => Error::io(src.path(), e),
            ReadFailure::Stopped => Error::new(
                ErrorKind::Canceled,
                format!("{what} `{}` was stopped", src.path().display()),
            ),
            ReadFailure::Deadline => past_deadline(src, what),
        }
    }
}

impl From<std::io::Error> for ReadFailure {
    fn from(e: std::io::Error) -> Self {
        ReadFailure::Io(e)
    }
}

pub fn past_deadline(src: &Source, what: &str) -> Error {
    Error::timeout(format!(
        "{what} `{}` did not finish within the run's time limit",
        src.path().display()
    ))
    .with_hint("raise timeoutSeconds, or check that the agent's disk and network are not stalled")
}

/// Run a blocking read on the blocking pool: never waited for past `deadline`; stopped at its
/// next piece when the deadline passes or the returned future is dropped.
pub async fn blocking<T: Send + 'static>(
    src: &Arc<Source>,
    what: &str,
    deadline: Instant,
    stop: &Stop,
    f: impl FnOnce(&Source, &Stop, std::time::Instant) -> Result<T, ReadFailure> + Send + 'static,
) -> Result<T> {
    let guard = stop.on_drop();
    let (s, st, d) = (src.clone(), stop.clone(), deadline.into_std());
    let task = tokio::task::spawn_blocking(move || f(&s, &st, d));
    match tokio::time::timeout_at(deadline, task).await {
        Ok(Ok(r)) => {
            guard.disarm();
            r.map_err(|e| e.into_error(src, what))
        }
        Ok(Err(e)) => Err(Error::io(src.path(), e)),
        // The guard stops the reader at its next piece.
        Err(_) => Err(past_deadline(src, what)),
    }
}

fn check(stop: &Stop, deadline: std::time::Instant) -> Result<(), ReadFailure> {
    if stop.is_set() {
        return Err(ReadFailure::Stopped);
    }
    if std::time::Instant::now() >= deadline {
        return Err(ReadFailure::Deadline);
    }
    Ok(())
}

/// The file's MD5 and the MD5 of each of its `block_size` blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digests {
    pub whole: [u8; 16],
    pub blocks: Vec<[u8; 16]>,
}

/// Read the file once, in order, and hash it twice at the same time: the whole file on this
/// thread, the blocks on a second one (they are independent, so two cores halve the wait).
pub fn digest(
    src: &Source,
    block_size: u64,
    stop: &Stop,
    deadline: std::time::Instant,
) -> Result<Digests, ReadFailure> {
    assert!(block_size > 0 && block_size.is_multiple_of(PIECE as u64));
    let size = src.size();
    let (to_blocks, pieces) = std::sync::mpsc::sync_channel::<Arc<Vec<u8>>>(PIECES);
    let (give_back, returned) = std::sync::mpsc::channel::<Arc<Vec<u8>>>();
    std::thread::scope(|scope| {
        let blocks = scope.spawn(move || {
            let mut out = vec![];
            let mut h = Md5::new();
            let mut in_block = 0u64;
            for piece in pieces {
                h.update(&piece[..]);
                in_block += piece.len() as u64;
                if in_block == block_size {
                    out.push(h.finalize_reset().into());
                    in_block = 0;
                }
                // Nobody waits for it once the reader has stopped.
                let _ = give_back.send(piece);
            }
            if in_block > 0 {
                out.push(h.finalize().into());
            }
            out
        });
        let mut whole = Md5::new();
        let mut offset = 0u64;
        let mut made = 0;
        let read = loop {
            if offset >= size {
                break Ok(());
            }
            if let Err(e) = check(stop, deadline) {
                break Err(e);
            }
            // At most PIECES pieces exist, so either thread can run ahead of the other by a few
            // while the machine is busy, and memory stays small.
            let mut piece = match returned.try_recv() {
                Ok(p) => p,
                Err(_) if made < PIECES => {
                    made += 1;
                    Arc::new(Vec::with_capacity(PIECE))
                }
                Err(_) => match returned.recv() {
                    Ok(p) => p,
                    Err(_) => break Err(ReadFailure::Stopped),
                },
            };
            let len = (size - offset).min(PIECE as u64) as usize;
            let buf = Arc::get_mut(&mut piece).expect("a returned piece has no other owner");
            buf.resize(len, 0);
            if let Err(e) = src.read_at(buf, offset) {
                break Err(e.into());
            }
            whole.update(&buf[..]);
            offset += len as u64;
            if to_blocks.send(piece).is_err() {
                break Err(ReadFailure::Stopped);
            }
        };
        drop(to_blocks);
        let blocks = blocks.join().map_err(|_| ReadFailure::Stopped)?;
        read?;
        Ok(Digests {
            whole: whole.finalize().into(),
            blocks,
        })
    })
}

/// The whole file's MD5, fed with blocks in file order by upload workers that finish reading in
/// any order: a worker waits (on its blocking thread) until the blocks before its own are in.
pub struct InOrder {
    state: Mutex<(u64, Md5)>,
    turn: Condvar,
}

impl Default for InOrder {
    fn default() -> Self {
        Self {
            state: Mutex::new((0, Md5::new())),
            turn: Condvar::new(),
        }
    }
}

impl InOrder {
    /// Add block `index`, after every block before it.
    pub fn feed(&self, index: u64, data: &[u8], stop: &Stop) -> Result<(), ReadFailure> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while s.0 != index {
            if stop.is_set() {
                return Err(ReadFailure::Stopped);
            }
            s = self
                .turn
                .wait_timeout(s, Duration::from_millis(50))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        s.1.update(data);
        s.0 += 1;
        self.turn.notify_all();
        Ok(())
    }

    /// The MD5 once every one of `count` blocks is in.
    pub fn finish(&self, count: u64) -> Option<[u8; 16]> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (s.0 == count).then(|| s.1.clone().finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    fn data(n: usize) -> Vec<u8> {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn far() -> std::time::Instant {
        std::time::Instant::now() + Duration::from_secs(60)
    }

    #[test]
    fn digests_are_the_md5s_of_the_file_and_of_each_block() {
        let d = tempfile::tempdir().unwrap();
        for n in [0, 1, PIECE - 1, PIECE, 2 * PIECE + 7, 5 * PIECE] {
            let bytes = data(n);
            let src = Source::open(&write(d.path(), "j.jar", &bytes)).unwrap();
            let got = digest(&src, 2 * PIECE as u64, &Stop::default(), far()).unwrap();
            let want: [u8; 16] = Md5::digest(&bytes).into();
            assert_eq!(got.whole, want, "{n}");
            let blocks: Vec<[u8; 16]> = bytes
                .chunks(2 * PIECE)
                .map(|c| Md5::digest(c).into())
                .collect();
            assert_eq!(got.blocks, blocks, "{n}");
        }
    }

    #[test]
    fn hashing_stops_when_asked_and_at_the_deadline() {
        let d = tempfile::tempdir().unwrap();
        let src = Source::open(&write(d.path(), "j.jar", &data(3 * PIECE))).unwrap();
        let stop = Stop::default();
        stop.set();
        assert!(matches!(
            digest(&src, PIECE as u64, &stop, far()),
            Err(ReadFailure::Stopped)
        ));
        assert!(matches!(
            digest(
                &src,
                PIECE as u64,
                &Stop::default(),
                std::time::Instant::now()
            ),
            Err(ReadFailure::Deadline)
        ));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_fifo_a_directory_and_a_device_are_refused_without_waiting() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("job.jar");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // No writer ever opens it: a blocking open would hang here.
        let e = Source::open(&fifo).unwrap_err();
        assert!(e.message.starts_with("input `artifactPath`: "), "{e}");
        assert!(
            e.message
                .contains("is a named pipe (FIFO), not a regular file"),
            "{e}"
        );
        let e = Source::open(d.path()).unwrap_err();
        assert!(e.message.contains("is a directory"), "{e}");
        let e = Source::open(Path::new("/dev/null")).unwrap_err();
        assert!(e.message.contains("is a device"), "{e}");
    }

    #[test]
    fn a_rewritten_or_replaced_file_is_noticed() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "j.jar", b"0123456789");
        let src = Source::open(&p).unwrap();
        src.check_unchanged().unwrap();
        // Same size, in place.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&p, b"9876543210").unwrap();
        let e = src.check_unchanged().unwrap_err();
        assert!(
            e.message
                .contains("j.jar` was written to after the plan read it"),
            "{e}"
        );
        assert!(e.hint.unwrap().contains("let it finish before this step"));

        let src = Source::open(&p).unwrap();
        let other = write(d.path(), "other", b"9876543210");
        std::fs::rename(&other, &p).unwrap();
        let e = src.check_unchanged().unwrap_err();
        assert!(e.message.contains("was replaced by another file"), "{e}");
    }

    #[tokio::test]
    async fn a_finished_read_leaves_the_stop_flag_alone_and_a_dropped_one_sets_it() {
        let d = tempfile::tempdir().unwrap();
        let src = Arc::new(Source::open(&write(d.path(), "j.jar", b"abc")).unwrap());
        let stop = Stop::default();
        let far = Instant::now() + Duration::from_secs(60);
        let n = blocking(&src, "reading", far, &stop, |s, _, _| Ok(s.size()))
            .await
            .unwrap();
        assert_eq!(n, 3);
        assert!(!stop.is_set(), "other readers of the same operation go on");
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let started = std::sync::Arc::new(std::sync::Barrier::new(2));
        let b = started.clone();
        let (src2, stop2) = (src.clone(), stop.clone());
        let pending = async move {
            blocking(&src2, "reading", far, &stop2, move |_, stop, _| {
                b.wait();
                while !stop.is_set() {
                    std::thread::sleep(Duration::from_millis(5));
                }
                let _ = tx.send(());
                Err::<(), _>(ReadFailure::Stopped)
            })
            .await
        };
        let task = tokio::spawn(pending);
        tokio::task::spawn_blocking(move || started.wait())
            .await
            .unwrap();
        task.abort();
        let _ = task.await;
        // The reader saw the flag and ended.
        tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(5)))
            .await
            .unwrap()
            .unwrap();
        assert!(stop.is_set());
        // Past the deadline, the caller does not wait for the reader.
        let stop = Stop::default();
        let started = std::time::Instant::now();
        let e = blocking(
            &src,
            "hashing",
            Instant::now() + Duration::from_millis(100),
            &stop,
            |_, stop, _| {
                while !stop.is_set() {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err::<(), _>(ReadFailure::Stopped)
            },
        )
        .await
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(e.kind, ErrorKind::Timeout);
        assert!(
            e.message.contains("hashing `")
                && e.message
                    .contains("did not finish within the run's time limit"),
            "{e}"
        );
        assert!(stop.is_set());
    }

    #[test]
    fn in_order_hashing_takes_blocks_in_file_order_whatever_order_they_come() {
        let parts: Vec<Vec<u8>> = (0..6).map(|k| data(1000 + k * 37)).collect();
        let h = Arc::new(InOrder::default());
        let stop = Stop::default();
        std::thread::scope(|s| {
            for k in [5usize, 2, 4, 0, 3, 1] {
                let (h, stop, part) = (h.clone(), stop.clone(), &parts[k]);
                s.spawn(move || h.feed(k as u64, part, &stop).unwrap());
            }
        });
        let all: Vec<u8> = parts.concat();
        assert_eq!(h.finish(6), Some(Md5::digest(&all).into()));
        assert_eq!(h.finish(7), None);
        // A stop releases a worker waiting for a block that never comes.
        let h = InOrder::default();
        let stop = Stop::default();
        stop.set();
        assert!(matches!(h.feed(1, b"x", &stop), Err(ReadFailure::Stopped)));
    }
}
