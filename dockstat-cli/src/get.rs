//! `dockstat get PATH`: what `curl -s --unix-socket SOCK http://docker/PATH` does.
//!
//! The decoded body goes to stdout as it arrives (with `-N`, flushed piece by piece so a stats
//! stream flows line by line into `jq`); `-i` first writes the response head as received.
//! The request runs on the reactor like every other connection.
//!
//! SIGINT and SIGTERM end the transfer: what arrived is written out, and the caller then ends
//! the process as killed by that signal, as curl is (it has no handler), once the in-process
//! sim (`--sim`) has removed its socket.

use std::io::{self, BufWriter, Write};
use std::time::Duration;

use dockstat::conn::ResponseEvent;
use dockstat::engine::{Client, Control, Endpoint};
use dockstat::sys::Process;

use crate::Failure;

#[derive(Clone, Debug, Default)]
pub(crate) struct GetOpts {
    pub(crate) include: bool,
    pub(crate) no_buffer: bool,
    pub(crate) max_time: Option<Duration>,
    pub(crate) path: String,
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The whole response arrived, with this status code.
    Done(u16),
    /// SIGINT or SIGTERM (the signal's number) ended it; what arrived was written.
    Stopped(i32),
}

/// Runs the request.
pub(crate) fn get(endpoint: Endpoint, opts: &GetOpts) -> Result<Outcome, Failure> {
    let mut client = Client::new(endpoint)?;
    client.set_timeout(opts.max_time);
    Process::install_stop_signals();
    client.set_stop(Some(Process::stop_signal_received));

    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 << 10, stdout.lock());
    let mut write_failed: Option<io::Error> = None;
    let result = client.stream(&opts.path, &mut |event| {
        let written = match event {
            ResponseEvent::Head(head) if opts.include => out.write_all(head.raw()),
            ResponseEvent::Body(data) => out
                .write_all(data)
                .and_then(|()| if opts.no_buffer { out.flush() } else { Ok(()) }),
            _ => Ok(()),
        };
        match written {
            Ok(()) => Control::Continue,
            Err(e) => {
                write_failed = Some(e);
                Control::Stop
            }
        }
    });
    // What was received before a failure is written before the failure is reported.
    if write_failed.is_none() {
        if let Err(e) = out.flush() {
            write_failed = Some(e);
        }
    }
    if let Some(e) = write_failed {
        return Err(Failure::Output(e));
    }
    let code = result.map_err(Failure::Engine)?;
    Ok(match Process::stop_signal() {
        Some(signal) => Outcome::Stopped(signal),
        None => Outcome::Done(code),
    })
}
