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
use dockstat::{Error, ErrorKind};

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
    // For the line about an error status: the reason phrase, and whether the daemon's
    // Api-Version field was there.
    let mut status_line = (String::new(), true);
    // The first bytes of any data after the end of the response, for the warning.
    let mut excess: Option<Vec<u8>> = None;
    let result = client.stream(&opts.path, &mut |event| {
        if let ResponseEvent::Excess(data) = &event {
            let shown = &data[..data.len().min(EXCESS_SHOWN + 1)];
            excess.get_or_insert_with(|| shown.to_vec());
        }
        if let ResponseEvent::Head(head) = &event {
            // The daemon's own 404 for an unknown route has no Api-Version, but is JSON.
            let docker = head.header("api-version").is_some()
                || (head.header("content-type"))
                    .is_some_and(|t| t.starts_with(b"application/json"));
            status_line = (reason(head.reason), docker);
        }
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
    if let Some(signal) = Process::stop_signal() {
        return Ok(Outcome::Stopped(signal));
    }
    if code >= 400 {
        // As `curl -f` does: the body went to stdout, one line names the status.
        let (reason, api_version) = status_line;
        let hint = if api_version {
            ""
        } else {
            " without an Api-Version header: it may not be a Docker daemon"
        };
        let line = format!(
            "{}: the daemon answered {code}{reason}{hint}",
            opts.path.escape_debug()
        );
        return Err(Failure::Engine(
            Error::new(ErrorKind::Status(code)).context(line),
        ));
    }
    if let Some(data) = excess {
        // As Go's net/http and curl do: the response stands, the connection is not reused.
        eprintln!("dockstat: warning: {}", excess_warning(&data));
    }
    Ok(Outcome::Done(code))
}

/// How many bytes of the data after a response the warning shows.
const EXCESS_SHOWN: usize = 32;

/// The warning for data after the end of the response, of which `data` is the start.
fn excess_warning(data: &[u8]) -> String {
    let shown = &data[..data.len().min(EXCESS_SHOWN)];
    let more = if data.len() > EXCESS_SHOWN { "…" } else { "" };
    format!(
        "data after the end of the response (\"{}\"{more}) was discarded and the connection \
         closed",
        shown.escape_ascii()
    )
}

/// A reason phrase from the network as shown: printable ASCII, at most 60 characters, with
/// a space before it; empty when there is none.
fn reason(raw: &[u8]) -> String {
    let text: String = raw
        .iter()
        .take(60)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    match text.trim() {
        "" => String::new(),
        t => format!(" {t}"),
    }
}
