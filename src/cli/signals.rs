//! SIGINT and SIGTERM as a flag, so that streaming commands can stop cleanly: finish the
//! line being written, flush, exit 0.
//!
//! The handlers are installed without `SA_RESTART`, so a signal also interrupts the reactor's
//! `epoll_wait` and the main loop sees the flag at once.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

/// Installs the handlers for SIGINT and SIGTERM.
#[allow(unsafe_code)]
pub(crate) fn install() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `sigaction` is called with a zero-initialised struct whose handler is an
        // `extern "C" fn(c_int)` that only stores to an atomic; the old action is not needed.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = 0;
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// Whether SIGINT or SIGTERM arrived.
pub(crate) fn stopped() -> bool {
    STOP.load(Ordering::SeqCst)
}
