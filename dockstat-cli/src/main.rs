//! The `dockstat` binary: argument parsing, the choice of endpoint, output, and exit codes.
//! No protocol logic lives here; it is all in the `dockstat` library. See `dockstat --help`.

// Unsafe code only in term.rs (the terminal's libc calls), each block with its SAFETY note.
#![deny(unsafe_code, clippy::undocumented_unsafe_blocks)]

mod args;
mod format;
mod get;
mod help;
mod hosts;
mod list;
mod push;
mod serve;
mod stats;
mod term;
mod units;

use std::io::{self, Write};

use dockstat::engine::{ApiVersion, Client, Endpoint};
use dockstat::{Error, ErrorKind, TlsError};
use dockstat_sim::{Listen, Sim};

use args::{Cli, Command};

/// How a command failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad arguments.
    Usage(String),
    /// Writing to stdout failed (a closed pipe is a normal end).
    Output(io::Error),
    /// The engine reported an error.
    Engine(Error),
    /// `serve` cannot listen on its address (in use, not local, not permitted): the message.
    Listen(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Engine(e)
    }
}

/// Runs the command line; returns the exit code.
fn run_main() -> i32 {
    let cli = match args::parse(std::env::args_os().skip(1)) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e.command.as_deref(), &e.message),
    };
    let command = cli.command.name();
    match run(cli) {
        Ok(code) => code,
        Err(Failure::Usage(msg)) => usage_error(command, &msg),
        Err(failure) => report(failure),
    }
}

/// Prints a usage error in one line, with where to read the usage of the command it is
/// about; returns 2.
fn usage_error(command: Option<&str>, msg: &str) -> i32 {
    eprintln!("dockstat: {msg} {}", help::usage_hint(command));
    2
}

fn run(cli: Cli) -> Result<i32, Failure> {
    match &cli.command {
        Command::Help(topic) => {
            print!("{}", help::text(*topic).unwrap_or_default());
            return Ok(0);
        }
        Command::Version => {
            println!("dockstat {}", env!("CARGO_PKG_VERSION"));
            return Ok(0);
        }
        Command::Sim { listen, tls } => {
            let config = cli.sim.map(|s| s.config).unwrap_or_default();
            let containers = config.containers;
            let chaos = config.chaos;
            let (listen, cert_dir) = match (listen, tls) {
                (Listen::Tcp(addr), Some(tls)) => {
                    let (pki, generated) = sim_pki(&tls.dir)?;
                    if generated {
                        eprintln!(
                            "dockstat: generated throwaway TLS certificates in {}",
                            pki.dir.display()
                        );
                    }
                    let listen = Listen::Tls {
                        addr: *addr,
                        tls: pki.sim_tls(tls.verify_client),
                    };
                    (listen, Some((pki.dir, tls.verify_client)))
                }
                (listen, _) => (listen.clone(), None),
            };
            dockstat_sim::run_notify(listen, config, |url| {
                let how = match &cert_dir {
                    Some((_, true)) => " (TLS, client certificates required)",
                    Some((_, false)) => " (TLS)",
                    None => "",
                };
                eprintln!("dockstat: simulated daemon with {containers} containers on {url}{how}");
                if let Some(every) = chaos {
                    eprintln!(
                        "dockstat: chaos: a stream fault every {}s (counted in GET /_sim/counters)",
                        every.as_secs_f64()
                    );
                }
                if let Some((dir, _)) = &cert_dir {
                    eprintln!(
                        "export DOCKER_HOST={url} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={}",
                        dir.display()
                    );
                }
            })
            .map_err(|e| Error::io(ErrorKind::Io, e).context("simulated daemon"))?;
            return Ok(0);
        }
        _ => {}
    }

    // The simulated daemon lives as long as this function: it is dropped (and its socket
    // removed) before the process exits.
    let (_sim, endpoints) = match &cli.sim {
        Some(sim) => {
            if cli.hosts.given() {
                return Err(Failure::Usage("--sim and -H exclude each other".into()));
            }
            let path =
                std::env::temp_dir().join(format!("dockstat-sim-{}.sock", std::process::id()));
            let sim = Sim::start(Listen::Unix(path), sim.config.clone()).map_err(|e| {
                Error::io(ErrorKind::Io, e).context("starting the simulated daemon")
            })?;
            let endpoint = Endpoint::parse(&sim.url())?;
            (Some(sim), vec![endpoint])
        }
        None => (
            None,
            hosts::endpoints(&cli.hosts, &mut |line| eprintln!("dockstat: {line}"))?,
        ),
    };
    let one = || -> Result<Endpoint, Failure> {
        match endpoints.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(Failure::Usage(
                "this command talks to one host; stats takes several".into(),
            )),
        }
    };

    match &cli.command {
        Command::Get(opts) => match get::get(one()?, opts)? {
            get::Outcome::Done(status) => Ok(if status >= 400 { 22 } else { 0 }),
            // Ended as killed by the signal once the sim (dropped on return) is gone: see main.
            get::Outcome::Stopped(signal) => Ok(128 + signal),
        },
        Command::Ps(opts) | Command::Images(opts) => {
            let mut client = Client::new(one()?)?;
            client.set_api_version(ApiVersion::from_env()?);
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            if matches!(cli.command, Command::Ps(_)) {
                list::ps(&mut client, opts, &mut out)?;
            } else {
                list::images(&mut client, opts, &mut out)?;
            }
            out.flush().map_err(Failure::Output)?;
            Ok(0)
        }
        Command::Stats(opts) if opts.format.as_deref() == Some("prometheus") => {
            serve::once(endpoints, opts)
        }
        Command::Stats(opts) => stats::stats(endpoints, opts),
        Command::Serve(opts) => serve::serve(endpoints, opts),
        Command::Push(opts) => push::push(endpoints, opts),
        Command::DaemonVersion => {
            // Ours first, as `docker version` prints its client before asking the daemon.
            println!("dockstat {}", env!("CARGO_PKG_VERSION"));
            let endpoint = one()?;
            let url = endpoint.url().to_string();
            let mut client = Client::new(endpoint)?;
            let response = client.get("/version")?;
            if response.code >= 400 {
                return Err(response.status_error(&url, "/version").into());
            }
            println!("Server: {}", daemon_kind(&response, &url));
            Ok(0)
        }
        Command::Help(_) | Command::Version | Command::Sim { .. } => Ok(0),
    }
}

/// Which daemon answered `GET /version`, in one line: `Podman Engine 4.9.3 (API 1.41) at URL`.
///
/// Podman's compat API names its component `Podman Engine` and sends `Server: Libpod/…`;
/// Docker's is `Engine`, with `Server: Docker/…`. The numbers of `stats` do not depend on
/// this: frames are read by what they hold (see the library's `stats::math`).
fn daemon_kind(response: &dockstat::engine::Response, url: &str) -> String {
    let header = |name| {
        response
            .header(name)
            .map(|v| String::from_utf8_lossy(v).trim().to_string())
    };
    let server = header("server").unwrap_or_default();
    let body = String::from_utf8_lossy(&response.body);
    let name = if server.starts_with("Libpod/") || body.contains("\"Name\":\"Podman Engine\"") {
        "Podman Engine"
    } else if server.starts_with("Docker/") || body.contains("\"Name\":\"Engine\"") {
        "Docker Engine"
    } else {
        "unknown daemon"
    };
    // The version: the top-level `"Version":"…"` (Go writes it after `Components`).
    let version = body
        .rfind("\"Version\":\"")
        .map(|at| &body[at + 11..])
        .and_then(|rest| rest.split('"').next())
        .filter(|v| !v.is_empty() && v.len() < 64 && !v.contains(['\\', '\n']))
        .map(|v| format!(" {v}"))
        .unwrap_or_default();
    let api = header("api-version")
        .filter(|v| v.len() < 16)
        .map(|v| format!(" (API {v})"))
        .unwrap_or_default();
    format!("{name}{version}{api} at {url}")
}

/// The PKI of `dockstat sim --tls DIR`: DIR's, or a fresh one generated there if DIR has
/// none of its files (true then). DIR is made absolute, for `DOCKER_CERT_PATH`.
fn sim_pki(dir: &std::path::Path) -> Result<(dockstat_sim::certs::Pki, bool), Failure> {
    use dockstat_sim::certs::{Pki, PkiOptions};
    let failed = |e| Failure::from(Error::io(ErrorKind::Io, e).context("TLS certificates"));
    let dir = std::path::absolute(dir).map_err(failed)?;
    match Pki::open(&dir).map_err(failed)? {
        Some(pki) => Ok((pki, false)),
        None => Pki::generate(&dir, &PkiOptions::default())
            .map(|pki| (pki, true))
            .map_err(failed),
    }
}

/// Prints one line about the failure on stderr and returns its exit code.
fn report(failure: Failure) -> i32 {
    match failure {
        Failure::Usage(msg) => usage_error(None, &msg),
        Failure::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Failure::Output(e) => {
            eprintln!("dockstat: cannot write output: {e}");
            23
        }
        Failure::Engine(e) => {
            eprintln!("dockstat: {e}");
            exit_code(e.kind())
        }
        // curl's code for a local address it cannot bind (`--local-port`, `--interface`).
        Failure::Listen(msg) => {
            eprintln!("dockstat: {msg}");
            45
        }
    }
}

/// The exit code for an error kind: curl's code where curl has one, so scripts written for
/// `curl --unix-socket` keep working.
pub(crate) fn exit_code(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::UnsupportedScheme => 1,
        ErrorKind::InvalidEndpoint | ErrorKind::InvalidRequest(_) => 3,
        ErrorKind::Connect => 7,
        ErrorKind::Protocol(_) | ErrorKind::Decode(_) => 8,
        ErrorKind::Truncated => 18,
        ErrorKind::Status(_) => 22,
        ErrorKind::Timeout => 28,
        ErrorKind::EmptyReply => 52,
        ErrorKind::Io => 56,
        ErrorKind::Tls(TlsError::Config) => 58,
        ErrorKind::Tls(
            TlsError::UnknownIssuer
            | TlsError::Expired
            | TlsError::NotYetValid
            | TlsError::WrongHost
            | TlsError::BadServerCertificate,
        ) => 60,
        ErrorKind::Tls(_) => 35,
        // curl's "couldn't read a file": a container's cgroup or the host's /proc.
        ErrorKind::Cgroup(_) => 37,
        _ => 1,
    }
}

fn main() {
    let code = run_main();
    // `get` stopped by SIGINT or SIGTERM, its output written and the sim's socket removed,
    // ends as curl does: killed by the signal (the shell shows 130 or 143 alike).
    if let Some(signal) = dockstat::sys::Process::stop_signal().filter(|s| code == 128 + s) {
        dockstat::sys::Process::exit_by_signal(signal);
    }
    std::process::exit(code);
}
