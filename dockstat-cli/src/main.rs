//! The `dockstat` binary: argument parsing, the choice of endpoint, output, and exit codes.
//! No protocol logic lives here; it is all in the `dockstat` library. See `dockstat --help`.

#![forbid(unsafe_code)]

mod args;
mod format;
mod get;
mod hosts;
mod list;
mod serve;
mod stats;
mod units;

use std::io::{self, Write};

use dockstat::engine::{ApiVersion, Client, Endpoint};
use dockstat::{Error, ErrorKind, TlsError};
use dockstat_sim::{Listen, Sim};

use args::{Cli, Command};

const USAGE: &str = "\
dockstat: Docker container stats for thousands of containers, from one thread

Usage: dockstat [GLOBAL OPTIONS] COMMAND [OPTIONS]

Commands:
  get [-i] [-N] [--max-time SECS] PATH
                      GET an Engine API path and print the decoded body, like
                      curl -s --unix-socket SOCK http://docker/PATH
                        -i, --include      print the response head first
                        -N, --no-buffer    write each piece as it arrives
                        -m, --max-time S   give up after S seconds (exit 28)
  ps [-a] [-q] [--no-trunc] [--format F]
                      list containers like docker ps
  images [-a] [-q] [--no-trunc] [--format F]
                      list images like docker images
                      F: table (default), json, 'table {{.ID}}\\t{{.Names}}', '{{.ID}}'
  stats [CONTAINER...] [-a] [--no-stream] [--one-shot] [--no-trunc] [--sort KEY] [--limit N]
        [--max-streams N] [--format F]
                      container stats like docker stats (running containers, or those named)
                        -a, --all          include stopped containers
                        --no-stream        one sample per container, then exit
                        --one-shot         --no-stream without waiting for a second reading
                        --cpu-host         CPU % of the whole host (100% = all CPUs busy),
                                           not docker's (100% = one CPU)
                        --sort KEY         busiest first by cpu, mem, net, block or pids
                                           (or name); default: the daemon's order
                        --limit N          show the first N rows (after --sort)
                        --max-streams N    stream at most N containers at once; the rest
                                           wait and take the place of those that go
                      F: table (default), json, ndjson (one line of raw numbers per
                         sample, for pipes), prometheus (with --no-stream: one exposition
                         in the Prometheus text format), or a template like ps
  serve [--listen ADDR] [--with-image] [--label-allowlist K1,K2] [--timeout S]
                      serve /metrics for Prometheus (text format 0.0.4, or OpenMetrics
                      1.0 when the scraper's Accept asks for it): every running container
                      of every host, and the engine's own metrics
                        --listen ADDR      address to serve on (default 127.0.0.1:9323)
                        --with-image       add an image label
                        --label-allowlist K1,K2
                                           container labels to add, as label_<key>
                        --timeout S        close clients that send no complete request
                                           (or stop reading) for S seconds (default 5)
  sim [--socket PATH | --listen ADDR] [-n N] [--cgroup v1|v2] [--interval S] [--stopped N]
      [--churn S] [--split] [--chaos S] [--tls DIR [--tls-verify-client]]
                      run the simulated Docker daemon in the foreground
                      (default: 3 containers on unix:///tmp/dockstat-sim.sock)
                        --churn S          every S seconds stop a container and start a new
                                           one; remove the stopped one 10 s later
                        --split            split each frame across two chunks
                        --chaos S          every S seconds break one open stats stream at
                                           random (reset, truncation, stall, garbage chunk
                                           size, slow drip or a 500); counted in
                                           faults_injected of GET /_sim/counters
                        --tls DIR          TLS on --listen, certificates from DIR (made if none)
                        --tls-verify-client  require client certificates signed by DIR/ca.pem

Global options:
  -H, --host URL      the daemon: unix:///path, tcp://host:port or https://host:port;
                      several -H watch several daemons (stats; the others take one)
                      (default: $DOCKER_HOST, else unix:///var/run/docker.sock)
  --hosts-file FILE   one host per line, each optionally with its own TLS settings
                      (certpath=DIR, tls, tlsverify[=false], tlscacert=, tlscert=, tlskey=)
  --tlsverify[=BOOL]  TLS, verifying the daemon against --tlscacert (default: ca.pem in
                      $DOCKER_CERT_PATH or ~/.docker; without one, the public CA roots)
  --tls               TLS without verifying the daemon (says so on stderr)
  --tlscacert FILE, --tlscert FILE, --tlskey FILE
                      CA to trust; client certificate and key to present (default:
                      cert.pem and key.pem in the certificate directory, when they exist)
  --sim N             start a simulated daemon with N containers in this process and use it
  --sim-cgroup v1|v2, --sim-interval SECS, --sim-stopped N, --sim-seed N, --sim-churn SECS,
  --sim-split, --sim-chaos SECS
                      shape the simulated daemon (as the sim command's options)
  -h, --help          this text
  --version           the version

Environment: DOCKER_HOST, DOCKER_API_VERSION (skip version negotiation), DOCKER_TLS_VERIFY,
  DOCKER_TLS, DOCKER_CERT_PATH (as the docker CLI reads them)

Exit codes (curl's, where curl has one):
   0  success            1  unsupported host scheme      2  usage error
   3  invalid host or path   7  cannot connect           8  malformed response
  18  response cut short    22  HTTP status >= 400       23  cannot write output
  28  timed out             52  empty reply              56  connection failed
  35  TLS handshake failed (client certificate required or rejected, no common version)
  58  unusable certificate or key file    60  server certificate not trusted or invalid
";

/// How a command failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad arguments.
    Usage(String),
    /// Writing to stdout failed (a closed pipe is a normal end).
    Output(io::Error),
    /// The engine reported an error.
    Engine(Error),
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
        Err(e) => return report(Failure::Usage(e)),
    };
    match run(cli) {
        Ok(code) => code,
        Err(failure) => report(failure),
    }
}

fn run(cli: Cli) -> Result<i32, Failure> {
    match &cli.command {
        Command::Help => {
            print!("{USAGE}");
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
        Command::Get(opts) => {
            let status = get::get(one()?, opts)?;
            Ok(if status >= 400 { 22 } else { 0 })
        }
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
        Command::Help | Command::Version | Command::Sim { .. } => Ok(0),
    }
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
        Failure::Usage(msg) => {
            // One line, as every failure has: what was wrong, then where to read more.
            eprintln!("dockstat: {msg} (see 'dockstat --help')");
            2
        }
        Failure::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Failure::Output(e) => {
            eprintln!("dockstat: cannot write output: {e}");
            23
        }
        Failure::Engine(e) => {
            eprintln!("dockstat: {e}");
            exit_code(e.kind())
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
        _ => 1,
    }
}

fn main() {
    std::process::exit(run_main());
}
