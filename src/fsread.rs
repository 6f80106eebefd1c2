//! Reading the files the task is given, bounded: only regular files, never more than a stated
//! size, and never a call that can block. A FIFO, a device or a directory named as a spec file
//! or CA file would otherwise hold the run in `open(2)` or `read(2)` for ever, deaf to its
//! timeout and to a cancel (the runtime's thread is stuck in the kernel, not at an await).
//!
//! The file is opened without following into a blocking open (`O_NONBLOCK`, which a FIFO
//! honours and a regular file ignores), then checked on the open descriptor, so a file swapped
//! between a check and the open cannot slip through.

use std::fs::{File, Metadata};
use std::io::Read;
use std::path::Path;

/// Why a file cannot be read, in words for the error that names the input.
#[derive(Debug)]
pub enum Refused {
    /// Not there, no permission, ...
    Io(std::io::Error),
    /// A FIFO, a socket, a device or a directory; the text names which.
    NotRegular(&'static str),
    /// Larger than the limit; (size, limit).
    TooLarge(u64, u64),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Io(e) => write!(f, "cannot be read: {e}"),
            Refused::NotRegular(kind) => write!(
                f,
                "is {kind}, not a regular file; the task reads only regular files"
            ),
            Refused::TooLarge(size, limit) => write!(
                f,
                "is {} bytes, more than the {} the task reads from such a file",
                size,
                bytes(*limit)
            ),
        }
    }
}

/// A size for messages: `64 KiB`, `16 MiB`.
pub fn bytes(n: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// What a path that is not a regular file is, for messages.
pub fn kind(m: &Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
    }
    "not a regular file"
}

/// Open a regular file for reading without ever blocking in `open(2)`, and return it with its
/// metadata (read from the open descriptor). For callers that stream a file (an upload) and
/// keep its size.
pub fn open_regular(path: &Path) -> Result<(File, Metadata), Refused> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc_nonblock());
    }
    let file = opts.open(path).map_err(|e| {
        // A directory opens fine on Unix; elsewhere it may fail with an unhelpful error.
        match std::fs::metadata(path) {
            Ok(m) if !m.is_file() => Refused::NotRegular(kind(&m)),
            _ => Refused::Io(e),
        }
    })?;
    let meta = file.metadata().map_err(Refused::Io)?;
    if !meta.is_file() {
        return Err(Refused::NotRegular(kind(&meta)));
    }
    Ok((file, meta))
}

#[cfg(unix)]
fn libc_nonblock() -> i32 {
    // O_NONBLOCK: 0o4000 on Linux and the BSDs' 0x0004 on macOS; taken from libc where we link it.
    #[cfg(target_os = "linux")]
    {
        libc::O_NONBLOCK
    }
    #[cfg(not(target_os = "linux"))]
    {
        0x0004
    }
}

/// Read a whole regular file of at most `limit` bytes. The limit also holds for a file that
/// grows while it is read (or that reports a size of 0, as files in /proc do).
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, Refused> {
    let (file, meta) = open_regular(path)?;
    if meta.len() > limit {
        return Err(Refused::TooLarge(meta.len(), limit));
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(Refused::Io)?;
    if buf.len() as u64 > limit {
        return Err(Refused::TooLarge(buf.len() as u64, limit));
    }
    Ok(buf)
}

/// [`read_regular`] as text (UTF-8).
pub fn read_text(path: &Path, limit: u64) -> Result<String, Refused> {
    let b = read_regular(path, limit)?;
    String::from_utf8(b).map_err(|e| {
        Refused::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text ({e})"),
        ))
    })
}

/// Whether two paths name the same file (following links), for refusing to write over a file
/// the run reads. Paths that do not exist (yet) compare by their absolute, lexically normalised
/// form.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => normalise(a) == normalise(b),
    }
}

/// `a/./b/../c` as `a/c`, without touching the file system.
pub fn normalise(p: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            c => out.push(c.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_read_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("spec.yaml");
        std::fs::write(&f, b"kind: Deployment\n").unwrap();
        assert_eq!(read_text(&f, 100).unwrap(), "kind: Deployment\n");
        let e = read_regular(&f, 4).unwrap_err();
        assert!(matches!(e, Refused::TooLarge(17, 4)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "is 17 bytes, more than the 4 bytes the task reads from such a file"
        );
        let e = read_regular(&dir.path().join("missing"), 4).unwrap_err();
        assert!(matches!(e, Refused::Io(_)));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_fifo_a_device_and_a_directory_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("spec.yaml");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo reads the NUL-terminated path only.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Without a writer, a blocking open would never return: the test would hang here.
        let e = read_regular(&fifo, 1024).unwrap_err();
        assert_eq!(
            e.to_string(),
            "is a named pipe (FIFO), not a regular file; the task reads only regular files"
        );
        let e = read_regular(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(matches!(e, Refused::NotRegular("a device")), "{e:?}");
        let e = read_regular(dir.path(), 1024).unwrap_err();
        assert!(matches!(e, Refused::NotRegular("a directory")), "{e:?}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_that_reports_no_size_is_still_bounded() {
        // /proc files report a size of 0 whatever they hold.
        let e = read_regular(Path::new("/proc/self/maps"), 16).unwrap_err();
        assert!(matches!(e, Refused::TooLarge(17, 16)), "{e:?}");
    }

    #[test]
    fn same_file_sees_through_links_and_dots() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("spec.yaml");
        std::fs::write(&a, b"x").unwrap();
        let dotted = dir.path().join("sub/../spec.yaml");
        assert!(same_file(&a, &dotted));
        #[cfg(unix)]
        {
            let link = dir.path().join("link.yaml");
            std::os::unix::fs::symlink(&a, &link).unwrap();
            assert!(same_file(&a, &link));
        }
        assert!(!same_file(&a, &dir.path().join("other.yaml")));
        assert!(same_file(
            &dir.path().join("new/out.yaml"),
            &dir.path().join("new/./x/../out.yaml")
        ));
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(bytes(16 * 1024 * 1024), "16 MiB");
        assert_eq!(bytes(64 * 1024), "64 KiB");
        assert_eq!(bytes(17), "17 bytes");
    }
}
