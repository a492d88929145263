//! The project's calls into the C library, behind safe functions: the open-files limit,
//! socket options, signals, thread priority, the local time zone, process CPU time.
//!
//! This is one of the two modules where `unsafe` is allowed (the other is the SIMD scan in
//! `stats/skip.rs`); every other module of every crate here forbids it. Each `unsafe` block
//! is one C call, with the reason it is sound beside it. The simulated daemon, the CLI and the
//! load bench call these too, so that they need no `unsafe` of their own.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

/// The soft and hard `RLIMIT_NOFILE`: one file descriptor per stream, so 10,000 containers
/// need a soft limit above 10,000, while most systems start processes at 1,024.
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
        // SAFETY: `lim` is a valid, exclusive pointer to an rlimit for the call's duration.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
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
            // SAFETY: `lim` points to an initialised rlimit that the call only reads.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == 0 {
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

/// Socket calls the standard library does not offer, on a descriptor the caller keeps open
/// for the duration of each call.
#[derive(Clone, Copy, Debug)]
pub struct SocketFd(pub RawFd);

impl SocketFd {
    /// `send(2)` with `MSG_NOSIGNAL`: a peer that went away is `EPIPE`, not `SIGPIPE`.
    pub fn send_nosignal(self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: the fd is an open socket the caller keeps alive for the call, and `buf` is
        // a valid slice of `buf.len()` readable bytes.
        let n = unsafe { libc::send(self.0, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    /// Unacknowledged bytes in a TCP socket's send queue (`SIOCOUTQ`); 0 if the ioctl fails.
    pub fn unsent_bytes(self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: the fd is an open socket kept alive by the caller; TIOCOUTQ (SIOCOUTQ for
        // sockets) writes one c_int through the pointer, which is valid for that.
        let rc = unsafe { libc::ioctl(self.0, libc::TIOCOUTQ, &mut n) };
        if rc == 0 {
            usize::try_from(n).unwrap_or(0)
        } else {
            0
        }
    }

    /// `SO_LINGER` on with a zero timeout: `close` then resets the connection. Failing
    /// leaves a graceful close, which is all there is to do then.
    pub fn linger_zero(self) {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: the fd is an open socket kept alive by the caller; the option value is a
        // valid `linger` of the size passed.
        unsafe {
            libc::setsockopt(
                self.0,
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                std::ptr::from_ref(&linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    }

    /// `listen(2)` again on a listening socket, which only updates its backlog (the kernel
    /// caps it at somaxconn).
    pub fn listen(self, backlog: i32) -> io::Result<()> {
        // SAFETY: listen(2) on an open socket fd; no memory is involved.
        if unsafe { libc::listen(self.0, backlog) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

static STOP_SIGNAL: AtomicBool = AtomicBool::new(false);
/// The number of the first stop signal received (0: none).
static STOP_SIGNAL_NUMBER: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_stop_signal(signal: libc::c_int) {
    // Only atomic operations: async-signal-safe.
    let _ = STOP_SIGNAL_NUMBER.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
    STOP_SIGNAL.store(true, Ordering::SeqCst);
}

/// Process-wide facts and settings: the stop signals, CPU time, the heap, the local time zone.
#[derive(Debug)]
pub struct Process;

impl Process {
    /// SIGINT and SIGTERM as a flag, so that a long-running command can stop cleanly: installs
    /// the handlers (process-wide), without `SA_RESTART`, so that a signal also interrupts a
    /// blocking `epoll_wait` and the main loop sees [`Process::stop_signal_received`] at once.
    pub fn install_stop_signals() {
        for signal in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: `sigaction` is called with a zero-initialised struct whose handler is
            // an `extern "C" fn(c_int)` that only stores to an atomic; the old action is not
            // needed.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction =
                    on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                libc::sigemptyset(&mut action.sa_mask);
                action.sa_flags = 0;
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
    }

    /// Whether SIGINT or SIGTERM arrived since [`Process::install_stop_signals`].
    pub fn stop_signal_received() -> bool {
        STOP_SIGNAL.load(Ordering::SeqCst)
    }

    /// The first stop signal that arrived (`libc::SIGINT` or `libc::SIGTERM`), if any.
    pub fn stop_signal() -> Option<i32> {
        match STOP_SIGNAL_NUMBER.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(signal),
        }
    }

    /// Ends the process as killed by `signal`, once it has cleaned up: the signal's default
    /// action is restored and the signal raised, so that the parent sees what it would see of
    /// a program without handlers (a shell: 128 + the signal's number; a shell script that
    /// ran it stops, as on Ctrl-C). Should the signal not end the process (it is blocked),
    /// exits with status 128 + `signal`.
    pub fn exit_by_signal(signal: i32) -> ! {
        // SAFETY: `signal` and `raise` take plain integers and touch no memory of ours;
        // SIG_DFL is a valid disposition for any signal, and an invalid number only fails.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
        std::process::exit(128 + signal)
    }

    /// The local UTC offset in seconds and the zone abbreviation at `secs` since the epoch, from
    /// the C library (which reads `TZ` and `/etc/localtime` as Go does).
    pub fn local_offset(secs: i64) -> (i64, String) {
        let t: libc::time_t = secs as libc::time_t;
        // SAFETY: `tm` is plain data that localtime_r fills in; both pointers are valid for the
        // call, and `tm_zone` (when non-null) points to a NUL-terminated string owned by the C
        // library that stays valid at least until the next tzset, which nothing here calls.
        unsafe {
            let mut tm: libc::tm = std::mem::zeroed();
            if libc::localtime_r(&t, &mut tm).is_null() {
                return (0, "UTC".into());
            }
            let zone = if tm.tm_zone.is_null() {
                "UTC".to_string()
            } else {
                std::ffi::CStr::from_ptr(tm.tm_zone)
                    .to_string_lossy()
                    .into_owned()
            };
            (tm.tm_gmtoff, zone)
        }
    }

    /// User and system CPU time of this process (all threads).
    pub fn cpu_time() -> (Duration, Duration) {
        // SAFETY: `rusage` is plain old data, so all-zero is a valid value.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage writes only into the struct we pass, valid for the call.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
            return (Duration::ZERO, Duration::ZERO);
        }
        let d = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec.max(0) as u64)
                + Duration::from_micros(t.tv_usec.max(0) as u64)
        };
        (d(ru.ru_utime), d(ru.ru_stime))
    }

    /// Gives freed heap memory back to the OS (glibc `malloc_trim`), so that a resident-memory
    /// reading that follows counts what is in use, not what was freed.
    pub fn trim_heap() {
        // SAFETY: malloc_trim takes no pointers and only releases memory malloc owns and has
        // already freed; it is safe to call at any time.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// Lowers the calling thread's scheduling priority to nice 10. Failure (not permitted)
/// changes nothing.
#[cfg(feature = "prometheus")]
pub(crate) fn lower_thread_priority() {
    // SAFETY: gettid and setpriority take plain integers and touch no memory of ours; on
    // Linux, PRIO_PROCESS with a thread id applies to that thread only.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
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

    #[test]
    fn cpu_time_moves() {
        let (u0, s0) = Process::cpu_time();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let (u1, s1) = Process::cpu_time();
        assert!(u1 + s1 > u0 + s0);
    }
}
