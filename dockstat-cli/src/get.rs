//! `dockstat get PATH`: what `curl -s --unix-socket SOCK http://docker/PATH` does.
//!
//! The decoded body goes to stdout as it arrives (with `-N`, flushed piece by piece so a stats
//! stream flows line by line into `jq`); `-i` first writes the response head as received.
//! The request runs on the reactor like every other connection.

use std::io::{self, BufWriter, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dockstat::engine::{ConnEvent, Endpoint, Flow, Reactor};
use dockstat::{Error, ErrorKind};

use crate::Failure;

#[derive(Clone, Debug, Default)]
pub(crate) struct GetOpts {
    pub(crate) include: bool,
    pub(crate) no_buffer: bool,
    pub(crate) max_time: Option<Duration>,
    pub(crate) path: String,
}

/// Runs the request; returns the response's status code.
pub(crate) fn get(endpoint: Endpoint, opts: &GetOpts) -> Result<u16, Failure> {
    let endpoint = Arc::new(endpoint);
    let mut reactor: Reactor<()> = Reactor::new(16).map_err(|e| Error::io(ErrorKind::Io, e))?;
    let id = reactor.open(&endpoint, &opts.path, ())?;
    if let Some(t) = opts.max_time {
        reactor.set_deadline(id, Some(Instant::now() + t));
    }

    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 << 10, stdout.lock());
    let mut status = 0;
    let mut finished: Option<Result<(), Error>> = None;
    let mut write_failed: Option<io::Error> = None;
    while finished.is_none() {
        reactor
            .poll(None, &mut |_, _, event| {
                let written = match event {
                    ConnEvent::Head(head) => {
                        status = head.code;
                        if opts.include {
                            out.write_all(head.raw())
                        } else {
                            Ok(())
                        }
                    }
                    ConnEvent::Body(data) => out
                        .write_all(data)
                        .and_then(|()| if opts.no_buffer { out.flush() } else { Ok(()) }),
                    // Keep the connection for the rest of this read: bytes after the end of
                    // the response (a 204 with a body, say) then fail it with
                    // `UnexpectedData` instead of going unnoticed.
                    ConnEvent::End { .. } | ConnEvent::Closed => {
                        finished = Some(Ok(()));
                        return Flow::Continue;
                    }
                    ConnEvent::Failed(e) => {
                        finished = Some(Err(e));
                        return Flow::Close;
                    }
                };
                match written {
                    Ok(()) => Flow::Continue,
                    Err(e) => {
                        write_failed = Some(e);
                        finished = Some(Ok(()));
                        Flow::Close
                    }
                }
            })
            .map_err(|e| Error::io(ErrorKind::Io, e))?;
    }
    // What was received before a failure is written before the failure is reported.
    if write_failed.is_none() {
        if let Err(e) = out.flush() {
            write_failed = Some(e);
        }
    }
    if let Some(e) = write_failed {
        return Err(Failure::Output(e));
    }
    match finished {
        Some(Err(e)) => Err(Failure::Engine(e.context(&opts.path))),
        _ => Ok(status),
    }
}
