//! The terminal of the live `stats` view: its size, keys read without blocking, and a
//! [`Screen`] guard that puts the terminal in cbreak mode without echo, on the alternate
//! screen with the cursor hidden, and restores it when dropped or when the process panics.
//! Ctrl-Z gives the terminal back while the process is stopped and takes it again when it
//! continues; a change of the window's size asks for a redraw at once.
//!
//! The CLI's one room for unsafe code (the libc calls `tcgetattr`, `tcsetattr`, `ioctl`,
//! `poll`, `read` and `write`); everything else in the CLI forbids it. It renders nothing:
//! what is drawn is `stats.rs`'s business.

#![allow(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

/// Alternate screen on, cursor hidden.
const ENTER: &[u8] = b"\x1b[?1049h\x1b[?25l";
/// Cursor shown, alternate screen off (the screen as it was before comes back).
const LEAVE: &[u8] = b"\x1b[?25h\x1b[?1049l";

/// What has to be undone, while a [`Screen`] is up: taken by whoever restores first (the
/// guard's `Drop` or the panic hook), so the terminal is restored exactly once.
static ACTIVE: Mutex<Option<Saved>> = Mutex::new(None);

struct Saved {
    /// stdin's settings before cbreak mode, when keys are read.
    termios: Option<libc::termios>,
}

/// Ctrl-Z (SIGTSTP) arrived: the next [`Screen::keys`] restores the terminal and stops.
static SUSPEND: AtomicBool = AtomicBool::new(false);

/// The window changed size (SIGWINCH): the next [`Screen::keys`] asks for a redraw.
static RESIZED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_suspend(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    SUSPEND.store(true, Ordering::SeqCst);
}

extern "C" fn on_resize(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    RESIZED.store(true, Ordering::SeqCst);
}

/// The terminal's size as (rows, columns), from stdout's `TIOCGWINSZ`; `None` when stdout
/// is not a terminal or the size is unknown (0).
pub(crate) fn size() -> Option<(usize, usize)> {
    // SAFETY: `winsize` is plain old data, so all-zero is a valid value.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which is valid for the call.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    (ok && ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row as usize, ws.ws_col as usize))
}

/// The live view's hold on the terminal; dropping it restores the terminal.
pub(crate) struct Screen {
    /// Keys are read from stdin (it is a terminal, in cbreak mode).
    keys: bool,
}

impl Screen {
    /// Switches to the alternate screen and hides the cursor; with `keys` (stdin is a
    /// terminal) also turns off line buffering and echo, keeping signals (Ctrl-C still sends
    /// SIGINT). If stdin's settings cannot be read or changed, or the process is not in the
    /// terminal's foreground (`dockstat stats &`), keys are not read.
    pub(crate) fn enter(keys: bool) -> Screen {
        install_panic_hook();
        let termios = if keys && foreground() { cbreak() } else { None };
        if termios.is_some() {
            set_handler(libc::SIGTSTP, Some(on_suspend));
        }
        set_handler(libc::SIGWINCH, Some(on_resize));
        *lock() = Some(Saved { termios });
        write_all(ENTER);
        Screen {
            keys: termios.is_some(),
        }
    }

    /// The bytes typed since the last call, without waiting; empty without keys. A stdin at
    /// its end (or failing) stops key reading. After Ctrl-Z and the process's continuation,
    /// or when the window changed size, a NUL byte stands for "redraw all".
    pub(crate) fn keys(&mut self) -> Vec<u8> {
        if self.keys && SUSPEND.swap(false, Ordering::SeqCst) {
            return self.suspend();
        }
        if RESIZED.swap(false, Ordering::SeqCst) {
            return vec![0];
        }
        if !self.keys {
            return Vec::new();
        }
        let mut fds = libc::pollfd {
            fd: libc::STDIN_FILENO,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid `pollfd`, counted as 1, lives for the call (timeout 0: no wait).
        let ready = unsafe { libc::poll(&mut fds, 1, 0) };
        if ready <= 0 {
            // Nothing typed, or a signal interrupted the wait (the caller checks for it).
            return Vec::new();
        }
        let mut buf = [0u8; 64];
        // SAFETY: `read` writes at most `buf.len()` bytes into `buf`, valid for the call.
        let n = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            if n == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                self.keys = false;
            }
            return Vec::new();
        }
        buf[..n as usize].to_vec()
    }

    /// Gives the terminal back, stops the process as Ctrl-Z would have, and once it
    /// continues (`fg`) takes the terminal again.
    fn suspend(&mut self) -> Vec<u8> {
        let Some(saved) = lock().take() else {
            return Vec::new();
        };
        if let Some(termios) = saved.termios {
            // SAFETY: tcsetattr reads the `termios` we pass, valid for the call.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &termios) };
        }
        write_all(LEAVE);
        // SAFETY: raise takes a plain signal number; SIGSTOP cannot be caught, so this
        // returns once the process is continued.
        unsafe { libc::raise(libc::SIGSTOP) };
        let termios = if foreground() { cbreak() } else { None };
        *lock() = Some(Saved { termios });
        write_all(ENTER);
        if termios.is_none() {
            // Continued in the background (`bg`): no keys from now on.
            self.keys = false;
        }
        vec![0]
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        set_handler(libc::SIGTSTP, None);
        set_handler(libc::SIGWINCH, None);
        restore();
    }
}

/// Whether this process is in the foreground of stdin's terminal (a background process that
/// changed the terminal's settings would be stopped by SIGTTOU).
fn foreground() -> bool {
    // SAFETY: tcgetpgrp and getpgrp take plain integers and touch no memory of ours.
    unsafe { libc::tcgetpgrp(libc::STDIN_FILENO) == libc::getpgrp() }
}

/// Catches `signal` with `handler` (which only stores to an atomic), or gives the signal
/// its default action back.
fn set_handler(signal: libc::c_int, handler: Option<extern "C" fn(libc::c_int)>) {
    // SAFETY: `sigaction` is called with a zero-initialised struct whose handler is either
    // SIG_DFL or an `extern "C" fn(c_int)` that only stores to an atomic; the old action is
    // not needed.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = match handler {
            Some(f) => f as libc::sighandler_t,
            None => libc::SIG_DFL,
        };
        libc::sigemptyset(&mut action.sa_mask);
        action.sa_flags = libc::SA_RESTART;
        libc::sigaction(signal, &action, std::ptr::null_mut());
    }
}

/// Puts stdin in cbreak mode without echo; returns the settings to restore.
fn cbreak() -> Option<libc::termios> {
    // SAFETY: `termios` is plain old data, so all-zero is a valid value.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: tcgetattr fills in the `termios` we pass, valid for the call.
    if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut saved) } != 0 {
        return None;
    }
    let mut raw = saved;
    // No line buffering, no echo; ISIG stays on, so Ctrl-C and Ctrl-\ still signal.
    raw.c_lflag &= !(libc::ICANON | libc::ECHO);
    raw.c_cc[libc::VMIN] = 1;
    raw.c_cc[libc::VTIME] = 0;
    // SAFETY: tcsetattr reads the `termios` we pass, valid for the call.
    if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) } != 0 {
        return None;
    }
    Some(saved)
}

/// Undoes what [`Screen::enter`] did, once.
fn restore() {
    let Some(saved) = lock().take() else { return };
    if let Some(termios) = saved.termios {
        // SAFETY: tcsetattr reads the `termios` we pass, valid for the call.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &termios) };
    }
    write_all(LEAVE);
}

fn lock() -> std::sync::MutexGuard<'static, Option<Saved>> {
    // Nothing panics while holding it; a poisoned lock still holds valid settings.
    ACTIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A panic restores the terminal before its message is printed, so the message lands on the
/// normal screen and the shell gets its echo back (the guard's `Drop` then finds nothing to
/// do).
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// Writes straight to fd 1, past std's stdout buffer and its lock: usable from the panic
/// hook whatever state a panicking write left them in. Errors are ignored (nothing to tell
/// them to).
fn write_all(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `write` reads at most `bytes.len()` bytes from `bytes`, valid for the call.
        let n = unsafe { libc::write(libc::STDOUT_FILENO, bytes.as_ptr().cast(), bytes.len()) };
        if n > 0 {
            bytes = &bytes[n as usize..];
        } else if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        {
            continue;
        } else {
            return;
        }
    }
}
