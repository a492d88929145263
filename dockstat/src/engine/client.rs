//! A sequential client for one-off requests (`/_ping`, `/version`, listings), on the reactor.
//!
//! [`Client::get`] sends one request and waits for its whole response, reusing the previous
//! connection when the daemon kept it alive; [`Client::stream`] hands a response over piece by
//! piece as it arrives. It runs the same reactor as the stats engine (with a single
//! connection), so every byte goes through the same parser and limits; it is blocking only in
//! that it polls until the response is complete.

#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::endpoint::Endpoint;
use super::event::Control;
use super::reactor::{ConnEvent, ConnId, Flow, Reactor};
use super::version::ApiVersion;
use crate::conn::ResponseEvent;
use crate::error::{Error, ErrorKind, ProtocolError, Result};

/// The largest response body [`Client::get`] collects. A listing of 10,000 containers is about
/// 15 MB.
pub(crate) const MAX_BODY_LEN: usize = 256 << 20;

/// A complete response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub code: u16,
    /// The head as received.
    pub head: Vec<u8>,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl Response {
    /// The value of the first header field named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        crate::http::parse_response(&self.head)
            .ok()
            .and_then(|s| match s {
                crate::http::Status::Complete(h) => h.header(name),
                crate::http::Status::Partial => None,
            })
    }

    /// The daemon's error message from a JSON error body (`{"message":"…"}`), or the body
    /// as text.
    pub fn error_message(&self) -> String {
        crate::api::daemon_message(&self.body)
    }

    /// The error for this response's error status, in one line as the docker CLI words it
    /// (`Error response from daemon: No such container: web`); a reply without the daemon's
    /// `Api-Version` field and error document is said to come from something that may not be
    /// a Docker daemon. `url` is the endpoint's, `target` the request's.
    pub fn status_error(&self, url: &str, target: &str) -> Error {
        let api_version = self.header("api-version").is_some();
        crate::error::status_error(self.code, api_version, &self.body, url, target)
    }
}

/// Sequential requests to one endpoint. See the [module docs](self).
#[derive(Debug)]
pub struct Client {
    reactor: Reactor<()>,
    endpoint: Arc<Endpoint>,
    conn: Option<ConnId>,
    timeout: Option<Duration>,
    api: Option<ApiVersion>,
    stop: Option<fn() -> bool>,
}

/// How often [`Client::stream`] asks its stop check while nothing arrives.
const STOP_CHECK: Duration = Duration::from_millis(50);

impl Client {
    /// A client for `endpoint`; nothing is connected until the first request.
    pub fn new(endpoint: Endpoint) -> Result<Client> {
        Ok(Client {
            reactor: Reactor::new(16).map_err(|e| Error::io(ErrorKind::Io, e))?,
            endpoint: Arc::new(endpoint),
            conn: None,
            timeout: None,
            api: None,
            stop: None,
        })
    }

    /// Limits each request (connect included) to `timeout`.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// Ends [`Client::stream`] early, as if its callback had said [`Control::Stop`], once
    /// `stop` returns true; it is asked after each event and at least every 50 ms. For a
    /// stream to end on Ctrl-C: [`Process::stop_signal_received`](crate::sys::Process::stop_signal_received)
    /// after [`Process::install_stop_signals`](crate::sys::Process::install_stop_signals).
    pub fn set_stop(&mut self, stop: Option<fn() -> bool>) {
        self.stop = stop;
    }

    /// Uses `version` instead of negotiating (`DOCKER_API_VERSION`).
    pub fn set_api_version(&mut self, version: Option<ApiVersion>) {
        if version.is_some() {
            self.api = version;
        }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.endpoint
    }

    /// The API version to use: `DOCKER_API_VERSION` if given, else negotiated once with
    /// `/_ping`.
    pub fn api_version(&mut self) -> Result<ApiVersion> {
        if let Some(v) = self.api {
            return Ok(v);
        }
        let ping = self.get("/_ping")?;
        if ping.code >= 400 {
            return Err(ping.status_error(self.endpoint.url(), "/_ping"));
        }
        let v = ApiVersion::negotiate(ping.header("api-version"));
        self.api = Some(v);
        Ok(v)
    }

    /// `GET /vX.Y{path}` with the negotiated version.
    pub fn get_api(&mut self, path: &str) -> Result<Response> {
        let v = self.api_version()?;
        self.get(&v.path(path))
    }

    /// Sends `GET target` and collects the whole response.
    pub fn get(&mut self, target: &str) -> Result<Response> {
        let mut head = Vec::new();
        let mut body = Vec::new();
        let code = self.exchange(target, None, &mut |event| {
            match event {
                ResponseEvent::Head(h) => head = h.raw().to_vec(),
                ResponseEvent::Body(data) => {
                    if body.len() + data.len() > MAX_BODY_LEN {
                        return Err(Error::new(ErrorKind::Protocol(ProtocolError::BodyTooLarge)));
                    }
                    body.extend_from_slice(data);
                }
                ResponseEvent::End | ResponseEvent::Excess(_) | ResponseEvent::NeedMore => {}
            }
            Ok(Control::Continue)
        })?;
        Ok(Response { code, head, body })
    }

    /// Sends `GET target` and hands the response to `on` as it arrives: the final head
    /// ([`ResponseEvent::Head`]), each piece of the decoded body ([`ResponseEvent::Body`]),
    /// then [`ResponseEvent::End`]; returns the status code. For a body that never ends, such
    /// as a stats stream, this returns when `on` says [`Control::Stop`] (the connection is then
    /// closed) or the timeout ([`Client::set_timeout`]) passes.
    ///
    /// Bytes after the end of the response that arrive with it (a pipelined response, a body
    /// after a 204) do not fail the request: they are handed to `on` as
    /// [`ResponseEvent::Excess`] after [`ResponseEvent::End`], and the connection is closed
    /// rather than reused.
    pub fn stream(
        &mut self,
        target: &str,
        on: &mut dyn FnMut(ResponseEvent<'_>) -> Control,
    ) -> Result<u16> {
        let stop = self.stop;
        self.exchange(target, stop, &mut |event| Ok(on(event)))
    }

    /// One request and its response; `stop` ends it early (see [`Client::set_stop`]).
    fn exchange(
        &mut self,
        target: &str,
        stop: Option<fn() -> bool>,
        on: &mut dyn FnMut(ResponseEvent<'_>) -> Result<Control>,
    ) -> Result<u16> {
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let id = match self.conn.take() {
            Some(id) => match self.reactor.send_get(id, target) {
                Ok(()) => id,
                // The idle connection is gone (closed by the daemon): open a new one.
                Err(_) => self.reactor.open(&self.endpoint, target, ())?,
            },
            None => self.reactor.open(&self.endpoint, target, ())?,
        };
        self.reactor.set_deadline(id, deadline);

        let mut code = 0;
        // Some(Ok(keep)): the exchange is over, and the connection may carry the next one.
        let mut outcome: Option<Result<bool>> = None;
        while outcome.is_none() {
            if stop.is_some_and(|stop| stop()) {
                // As a `Control::Stop` from `on`: the exchange ends and the connection closes.
                self.reactor.close(id);
                outcome = Some(Ok(false));
                break;
            }
            self.reactor
                .poll(stop.map(|_| STOP_CHECK), &mut |_, _, event| match event {
                    ConnEvent::Head(head) => {
                        code = head.code;
                        flow(on(ResponseEvent::Head(head)), &mut outcome)
                    }
                    ConnEvent::Body(data) => flow(on(ResponseEvent::Body(data)), &mut outcome),
                    ConnEvent::End { reusable } => {
                        let flow = flow(on(ResponseEvent::End), &mut outcome);
                        if outcome.is_none() {
                            outcome = Some(Ok(reusable));
                        }
                        // Even so, the rest of this read is looked at: bytes after the end of
                        // the response (a 204 with a body, say) then come as `Excess`
                        // instead of going unnoticed.
                        flow
                    }
                    ConnEvent::Excess(data) => {
                        // The response stands; the connection goes (the reactor closes it).
                        if let Some(Ok(keep)) = &mut outcome {
                            *keep = false;
                        }
                        let _ = flow(on(ResponseEvent::Excess(data)), &mut outcome);
                        Flow::Close
                    }
                    ConnEvent::Closed => {
                        // The daemon may close the connection right after a complete
                        // response, and both can arrive in one read: the response stands.
                        if outcome.is_none() {
                            outcome = Some(Err(Error::new(ErrorKind::EmptyReply)));
                        }
                        Flow::Close
                    }
                    ConnEvent::Failed(e) => {
                        outcome = Some(Err(e));
                        Flow::Close
                    }
                })
                .map_err(|e| Error::io(ErrorKind::Io, e))?;
        }
        match outcome {
            Some(Ok(keep)) => {
                if keep {
                    self.reactor.set_deadline(id, None);
                    self.conn = Some(id);
                }
                Ok(code)
            }
            Some(Err(e)) => Err(e.context(target)),
            None => Err(Error::new(ErrorKind::Io)),
        }
    }
}

/// What the reactor does with the connection after the caller's `answer`; an answer that ends
/// the exchange early becomes its `outcome`.
fn flow(answer: Result<Control>, outcome: &mut Option<Result<bool>>) -> Flow {
    match answer {
        Ok(Control::Continue) => Flow::Continue,
        Ok(Control::Stop) => {
            *outcome = Some(Ok(false));
            Flow::Close
        }
        Err(e) => {
            *outcome = Some(Err(e));
            Flow::Close
        }
    }
}
