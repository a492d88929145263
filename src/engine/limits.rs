//! The open-files limit: one file descriptor per stream, so 10,000 containers need a soft
//! `RLIMIT_NOFILE` above 10,000, while most systems start processes at 1,024.

use std::io;

/// The soft and hard `RLIMIT_NOFILE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileLimit {
    pub soft: u64,
    pub hard: u64,
}

impl FileLimit {
    /// The current limit.
    pub fn current() -> io::Result<FileLimit> {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if !getrlimit(&mut lim) {
            return Err(io::Error::last_os_error());
        }
        // `rlim_t` is u64 on 64-bit Linux but not on every target.
        #[allow(clippy::unnecessary_cast)]
        Ok(FileLimit {
            soft: lim.rlim_cur as u64,
            hard: lim.rlim_max as u64,
        })
    }

    /// Raises the soft limit to the hard one (the most an unprivileged process may) and
    /// returns the limit now in force.
    pub fn raise() -> io::Result<FileLimit> {
        let mut now = FileLimit::current()?;
        if now.soft < now.hard {
            let lim = libc::rlimit {
                rlim_cur: now.hard as libc::rlim_t,
                rlim_max: now.hard as libc::rlim_t,
            };
            if setrlimit(&lim) {
                now.soft = now.hard;
            }
        }
        Ok(now)
    }

    /// How many streams fit, keeping `reserve` descriptors for everything else (stdio, the
    /// poll, discovery connections, files the caller opens).
    pub fn streams(&self, reserve: u64) -> u64 {
        self.soft.saturating_sub(reserve)
    }
}

#[allow(unsafe_code)]
fn getrlimit(lim: &mut libc::rlimit) -> bool {
    // SAFETY: `lim` is a valid, exclusive pointer to an rlimit for the call's duration.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, lim) == 0 }
}

#[allow(unsafe_code)]
fn setrlimit(lim: &libc::rlimit) -> bool {
    // SAFETY: `lim` points to an initialised rlimit that the call only reads.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, lim) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raise_reaches_the_hard_limit() {
        let before = FileLimit::current().unwrap();
        let after = FileLimit::raise().unwrap();
        assert_eq!(after.hard, before.hard);
        assert_eq!(after.soft, after.hard);
        assert_eq!(after.streams(64), after.soft - 64);
    }
}
