//! Reads of several pages that overlap at the device instead of queueing one behind another.
//!
//! A re-rank needs a few dozen records from a file that may be far larger than memory. Read
//! one after another, each page that is not in the OS page cache costs a full device round
//! trip (~0.1 ms on an SSD), and they add up. So a group of pages is read in two steps:
//! [`read_cached`] first takes every page the OS already holds (`preadv2` with `RWF_NOWAIT`,
//! which fails with `EAGAIN` instead of waiting for the device: no extra system call when
//! everything is cached), then [`will_need`] starts the device reads of all the others at once
//! (`posix_fadvise(WILLNEED)`), and the blocking reads that follow wait for reads that are
//! already in flight. Both are hints: where the kernel or the filesystem does not support
//! them, reads simply block as before.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// Cleared the first time the kernel says it does not support `RWF_NOWAIT` reads.
static NOWAIT_SUPPORTED: AtomicBool = AtomicBool::new(true);

/// Reads `buf.len()` bytes at `off` if the OS page cache holds all of them, without waiting
/// for the device. `false` when the bytes are not all cached (or the file ends early, or the
/// kernel cannot tell): the caller then reads them the ordinary way.
pub(crate) fn read_cached(file: &File, buf: &mut [u8], off: u64) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if !NOWAIT_SUPPORTED.load(Relaxed) {
            return false;
        }
        let iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        // SAFETY: `iov` describes `buf`, which is valid for writes of its length for the whole
        // call; the descriptor is open for the lifetime of `file`.
        let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, off as libc::off_t, libc::RWF_NOWAIT) };
        if n == buf.len() as isize {
            return true;
        }
        if n < 0 {
            let errno = std::io::Error::last_os_error().raw_os_error();
            if matches!(errno, Some(libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL)) {
                NOWAIT_SUPPORTED.store(false, Relaxed);
            }
        }
        false
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, buf, off, &NOWAIT_SUPPORTED);
        false
    }
}

/// Asks the kernel to start reading `len` bytes at `off` into its page cache now (a hint:
/// failure is ignored).
pub(crate) fn will_need(file: &File, off: u64, len: u64) {
    #[cfg(target_os = "linux")]
    advise(file, off, len, libc::POSIX_FADV_WILLNEED);
    #[cfg(not(target_os = "linux"))]
    let _ = (file, off, len);
}

/// Tells the kernel that reads of `file` will be random (no readahead around them; a hint).
pub(crate) fn random_access(file: &File) {
    #[cfg(target_os = "linux")]
    advise(file, 0, 0, libc::POSIX_FADV_RANDOM);
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

#[cfg(target_os = "linux")]
fn advise(file: &File, off: u64, len: u64, advice: i32) {
    use std::os::fd::AsRawFd;
    // SAFETY: posix_fadvise only reads its integer arguments; the descriptor is open for the
    // lifetime of `file`.
    let _ = unsafe { libc::posix_fadvise(file.as_raw_fd(), off as libc::off_t, len as libc::off_t, advice) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn cached_read_returns_the_bytes_or_declines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..3 * 4096).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let f = File::open(&p).unwrap();
        will_need(&f, 0, data.len() as u64);
        let mut buf = vec![0u8; 4096];
        // Just written, the pages are in the page cache: a no-wait read returns them, unless
        // the kernel declines (then the ordinary read must still work).
        if read_cached(&f, &mut buf, 4096) {
            assert_eq!(&buf[..], &data[4096..8192]);
        }
        // Past the end of the file nothing is read.
        assert!(!read_cached(&f, &mut buf, 3 * 4096 - 100));
        f.read_exact_at(&mut buf, 8192).unwrap();
        assert_eq!(&buf[..], &data[8192..]);
    }
}
