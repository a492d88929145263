//! The help texts: `dockstat --help` (an overview) and one per command (`dockstat stats
//! --help`, `dockstat help stats`), each with its usage line, a one-line summary, every option
//! the command takes and a few examples, as `docker stats --help` has.

/// The commands that have their own help, in the overview's order.
pub(crate) const COMMANDS: [&str; 7] = ["stats", "ps", "images", "get", "serve", "push", "sim"];

/// The help of `command`, or the overview for `None`; `None` for a command that has none.
pub(crate) fn text(command: Option<&str>) -> Option<&'static str> {
    Some(match command {
        None => GLOBAL,
        Some("stats") => STATS,
        Some("ps") => PS,
        Some("images") => IMAGES,
        Some("get") => GET,
        Some("serve") => SERVE,
        Some("push") => PUSH,
        Some("sim") => SIM,
        Some("help") => HELP,
        Some(_) => return None,
    })
}

/// The end of a usage error's line: where to read the usage of `command`.
pub(crate) fn usage_hint(command: Option<&str>) -> String {
    match command.filter(|c| text(Some(c)).is_some()) {
        Some(c) => format!("(see 'dockstat {c} --help')"),
        None => "(see 'dockstat --help')".into(),
    }
}

const GLOBAL: &str = "\
dockstat: Docker container stats for thousands of containers, from one thread

Usage: dockstat [GLOBAL OPTIONS] COMMAND [OPTIONS]

Commands:
  stats     live resource usage of containers, like docker stats
  ps        list containers, like docker ps
  images    list images, like docker images
  get       GET an Engine API path and print the body, like curl --unix-socket
  serve     serve /metrics for Prometheus and OpenMetrics
  push      send the series to a Prometheus remote-write or OTLP receiver
  sim       run the simulated Docker daemon in the foreground
  version   our version and the daemon's (Docker Engine, Podman Engine), like docker version
  help      a command's help: dockstat help COMMAND

Global options:
  -H, --host URL      the daemon: unix:///path, tcp://host:port or https://host:port;
                      several -H watch several daemons (stats, serve, push; the others take
                      one) (default: $DOCKER_HOST, else unix:///var/run/docker.sock)
  --hosts-file FILE   one host per line, each optionally with its own TLS settings
                      (certpath=DIR, tls, tlsverify[=false], tlscacert=, tlscert=, tlskey=)
  --tlsverify[=BOOL]  TLS, verifying the daemon against --tlscacert (default: ca.pem in
                      $DOCKER_CERT_PATH or ~/.docker; without one, the public CA roots)
  --tls               TLS without verifying the daemon (says so on stderr)
  --tlscacert FILE, --tlscert FILE, --tlskey FILE
                      CA to trust; client certificate and key to present (default:
                      cert.pem and key.pem in the certificate directory, when they exist)
  --sim N             start a simulated daemon with N containers in this process, use it
  --sim-cgroup v1|v2, --sim-flavor docker|podman, --sim-interval S, --sim-stopped N,
  --sim-seed N, --sim-churn S, --sim-split, --sim-chaos S
                      shape it as the sim command's options of the same name do (see
                      dockstat sim --help; --sim-chaos S: a stream fault every S s)
  -h, --help          this text; after a command, that command's help
  --version           the version

Environment: DOCKER_HOST, DOCKER_API_VERSION (skip version negotiation), DOCKER_TLS_VERIFY,
  DOCKER_TLS, DOCKER_CERT_PATH (as the docker CLI reads them)

Exit codes (curl's, where curl has one):
   0  success                  1  unsupported host scheme; stats ended while failing
   2  usage error              3  invalid host, path or DOCKER_API_VERSION
   7  cannot connect           8  malformed response         18  response cut short
  22  HTTP status >= 400      23  cannot write output        28  timed out
  52  empty reply             56  connection failed          37  cannot read a cgroup
  35  TLS handshake failed (client certificate required or rejected, no common version)
  45  serve cannot listen on its address (in use, not local, not permitted)
  58  unusable certificate or key file    60  server certificate not trusted or invalid
  A get stopped by Ctrl-C or SIGTERM ends killed by it, as curl does (shell: 130, 143).

Run 'dockstat COMMAND --help' for more information on a command.
";

const STATS: &str = "\
Usage: dockstat stats [OPTIONS] [CONTAINER...]

Live resource usage of containers (the running ones, or those named), like docker stats

Options:
  -a, --all             include stopped containers
      --no-stream       one sample per container, then exit
      --one-shot        --no-stream without waiting for a second reading
      --no-trunc        do not truncate container IDs
      --cpu-host        CPU % of the whole host (100% = all CPUs busy), not docker's
                        (100% = one CPU)
      --cpu-limit       CPU % of the container's own CPU limit (100% = all it may
                        use; without a limit, all CPUs); json adds CPULimit and
                        CPULimitPerc
      --pressure        add the CPU PSI, MEM PSI and IO PSI columns: the share of the
                        last 10 s some task waited for CPU, memory or I/O (cgroup v2
                        pressure, from the cgroupfs source; -- where there is none)
      --sort KEY        busiest first by cpu, mem, net, block or pids (or name);
                        default: the daemon's order
      --limit N         show the first N rows (after --sort)
      --max-streams N   stream at most N containers at once; the rest wait and take
                        the place of those that go
      --read-period S   read each stream at most once per S seconds (default 0: as
                        frames come); one read then takes every frame since the last,
                        for much less CPU; samples come up to S seconds late, each with
                        its own time
      --source S        where the numbers come from: api (default: the daemon's stats
                        stream), cgroupfs (each container's cgroup files, read here;
                        the daemon must be on this machine), auto (cgroupfs for a
                        unix socket's containers whose cgroup is found, else api)
      --interval S      cgroupfs: read every container each S seconds, all at one
                        moment, aligned to S on the clock (default 1)
      --cgroup-root DIR the host's /sys/fs/cgroup (default; in a container, where the
                        host's is mounted)
      --proc-root DIR   the host's /proc (default /proc)
      --format F        table (default); json; ndjson (one line of raw numbers per
                        sample, for pipes); prometheus (with --no-stream: one exposition
                        in the Prometheus text format); 'table TEMPLATE' or 'TEMPLATE',
                        a Go template as docker's ('{{.Name}}\\t{{.CPUPerc}}')
  -h, --help            this text

Keys of the live view (on a terminal):
  c, m, n, b, p         sort by CPU, memory, network I/O, block I/O or PIDs; the same
                        key again reverses the order
  s                     sort by name
  q                     quit (as Ctrl-C does)

Ctrl-C, SIGTERM and a closed pipe end it with status 0, after complete lines.

Examples:
  dockstat stats
  dockstat stats --no-stream --format 'table {{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}'
  dockstat --sim 5000 stats --sort cpu --limit 20
  dockstat -H unix:///run/a.sock -H unix:///run/b.sock stats --format ndjson | jq -c .

Global options (-H, TLS, --sim): dockstat --help
";

const PS: &str = "\
Usage: dockstat ps [OPTIONS]

List containers, like docker ps

Options:
  -a, --all             show all containers (default: just the running ones)
  -f, --filter K=V      show those that match (repeatable): status, name, label, id,
                        ancestor, exited, health, network, volume, before, since,
                        is-task, publish or expose (the daemon filters)
  -n, --last N          show the N last created containers (all states)
  -l, --latest          show the last created container (all states)
  -s, --size            add the SIZE column (total file sizes)
  -q, --quiet           only container IDs
      --no-trunc        do not truncate output
      --format F        table (default), json, 'table TEMPLATE' or 'TEMPLATE', a Go
                        template as docker's ('{{.ID}}\\t{{.Names}}')
  -h, --help            this text

Examples:
  dockstat ps -a
  dockstat ps -q --filter status=exited
  dockstat ps --format 'table {{.ID}}\\t{{.Names}}\\t{{.Status}}'

Global options (-H, TLS, --sim): dockstat --help
";

const IMAGES: &str = "\
Usage: dockstat images [OPTIONS] [REPOSITORY[:TAG]]

List images, like docker images

Options:
  -a, --all             show all images (default: hides intermediate images)
      --digests         add the DIGEST column
  -f, --filter K=V      show those that match (repeatable): dangling, reference,
                        label, before or since (the daemon filters)
  -q, --quiet           only image IDs
      --no-trunc        do not truncate output
      --format F        table (default), json, 'table TEMPLATE' or 'TEMPLATE', a Go
                        template as docker's ('{{.Repository}}:{{.Tag}}')
  -h, --help            this text

Examples:
  dockstat images
  dockstat images busybox
  dockstat images -q --filter dangling=true

Global options (-H, TLS, --sim): dockstat --help
";

const GET: &str = "\
Usage: dockstat get [OPTIONS] PATH

GET an Engine API path and print the decoded body, as
curl -s --unix-socket SOCK http://docker/PATH does

Options:
  -i, --include         print the response head (as received) first
  -N, --no-buffer       write each piece as it arrives (a stats stream, line by line)
  -m, --max-time SECS   give up after SECS seconds (exit 28)
  -h, --help            this text

The path is sent as given: /containers/json, or with a version, /v1.41/containers/json.
A status >= 400 prints the body and exits 22. Ctrl-C or SIGTERM ends a transfer: what
arrived is written out first, then dockstat ends as curl does, killed by that signal (the
shell shows 130 or 143).

Examples:
  dockstat get /version
  dockstat get -N /containers/busy-1/stats | jq -c .cpu_stats
  dockstat get -i '/containers/json?all=1'
  dockstat --sim 3 get -N /containers/busy-1/stats | head -n 3

Global options (-H, TLS, --sim): dockstat --help
";

const SERVE: &str = "\
Usage: dockstat serve [OPTIONS]

Serve /metrics for Prometheus: every running container of every host (-H), and the
engine's own metrics, in text format 0.0.4 or OpenMetrics 1.0 when the scraper's Accept
asks for it

Options:
      --listen ADDR     address to serve on (default 127.0.0.1:9323)
      --with-image      add an image label
      --label-allowlist K1,K2
                        container labels to add, as label_<key>
      --timeout S       close clients that send no complete request (or stop reading)
                        for S seconds (default 5)
      --read-period S   read each stream at most once per S seconds (default 5; 0: as
                        frames come): values are at most S seconds older than the
                        daemon's, far fresher than a scrape interval, for a fraction
                        of the CPU
      --source S        where the numbers come from: api (default: the daemon's stats
                        stream), cgroupfs (each container's cgroup files, read here;
                        the daemon must be on this machine), auto (cgroupfs for a
                        unix socket's containers whose cgroup is found, else api)
      --interval S      cgroupfs: read every container each S seconds, all at one
                        moment, aligned to S on the clock (default 1)
      --cgroup-root DIR the host's /sys/fs/cgroup (default; in a container, where the
                        host's is mounted)
      --proc-root DIR   the host's /proc (default /proc)
  -h, --help            this text

Ctrl-C or SIGTERM stops it with status 0.

Examples:
  dockstat serve
  dockstat serve --listen 127.0.0.1:9417 --with-image --label-allowlist com.example.team
  dockstat -H unix:///run/a.sock -H unix:///run/b.sock serve
  dockstat --sim 100 serve

Global options (-H, TLS, --sim): dockstat --help
";

const PUSH: &str = "\
Usage: dockstat push [--remote-write URL] [--otlp URL [--otlp-gzip]] [OPTIONS]

Send every running container's samples (the series of dockstat serve, each with the time
the daemon took its reading), the hosts' states and the engine's and sender's own metrics
to a Prometheus remote-write 1.0 receiver (Prometheus with
--web.enable-remote-write-receiver, Mimir, Thanos, VictoriaMetrics...) every --every
seconds. Batches wait in a buffer while the receiver is down or slow (the oldest dropped
first when it is full, and counted) and are retried with backoff after connection errors,
timeouts, 5xx and 429 (after its Retry-After); another 4xx is reported and not retried.
With --otlp, an OTLP/HTTP metrics receiver (the OpenTelemetry Collector, ...) gets the
OpenTelemetry container metrics: container.cpu.time, .memory.usage, .network.io and
.disk.io. With both, each receiver has its own buffer, retries and counters

Options:
      --remote-write URL  the receiver: http://HOST:PORT/PATH or https://HOST:PORT/PATH
      --otlp URL          an OTLP/HTTP receiver's full URL (http://HOST:4318/v1/metrics)
      --otlp-gzip         gzip the OTLP requests
      --every S           send a batch every S seconds (default 15)
      --header 'K: V'     a header field for every request (Authorization, X-Scope-OrgID);
                          repeatable
      --label NAME=VALUE  a label for every remote-write series; repeatable. By default
                          instance (this machine's name) and job=dockstat, as a scrape
                          adds them; NAME= removes one
      --timeout S         time allowed for one request, and for sending what is left
                          after Ctrl-C (default 10)
      --buffer N          batches kept while the receiver cannot take them (default 60)
      --with-image        add an image label (always with --otlp: container.image.name)
      --label-allowlist K1,K2
                          container labels to add, as label_<key>
      --push-tlscacert FILE
                          CA to trust for an https:// receiver (default: the public roots)
      --push-tlscert FILE, --push-tlskey FILE
                          client certificate and key to present to it
      --record FILE       write each batch's series (or that it was dropped) to FILE
      --source S, --interval S, --cgroup-root DIR, --proc-root DIR
                          where the numbers come from, as for dockstat serve
  -h, --help              this text

A failure is reported once when it starts (and when its reason changes), and again when
delivery resumes. Ctrl-C or SIGTERM sends the last rows and what is buffered within
--timeout, then stops with status 0.

Examples:
  dockstat push --remote-write http://127.0.0.1:9090/api/v1/write
  dockstat --sim 100 push --remote-write http://127.0.0.1:9090/api/v1/write --every 5
  dockstat push --remote-write https://127.0.0.1:8443/push --header 'X-Scope-OrgID: a'
  dockstat push --otlp http://127.0.0.1:4318/v1/metrics --otlp-gzip

Global options (-H, TLS, --sim): dockstat --help
";

const SIM: &str = "\
Usage: dockstat sim [OPTIONS]

Run the simulated Docker daemon in the foreground (default: 3 containers on
unix:///tmp/dockstat-sim.sock), until Ctrl-C or SIGTERM: it then exits with status 0 and
removes its socket. The docker CLI and dockstat -H work against it.

Options:
      --socket PATH     listen on this unix socket (default /tmp/dockstat-sim.sock)
      --listen ADDR     listen on TCP instead (127.0.0.1:0 picks a free port)
      --tls DIR         TLS on --listen, certificates from DIR (made if there are none)
      --tls-verify-client
                        require client certificates signed by DIR/ca.pem
  -n, --containers N    N running containers (default 3)
      --stopped N       N exited containers besides (listed with -a)
      --cgroup v1|v2    the cgroup version the stats frames have (default v1)
      --flavor docker|podman
                        the daemon it passes for (default docker); podman: the frames,
                        headers and /version of Podman 4's Docker-compatible API
      --interval S      seconds between the frames of a stream (default 1; podman 5)
      --seed N          the seed of ids and counters: the same seed, the same
                        containers (default 1)
      --churn S         every S seconds stop a container and start a new one; remove the
                        stopped one 10 s later
      --split           split each frame across two chunks
      --chaos S         every S seconds break one open stats stream at random: a reset,
                        a truncation, a stall, a garbage chunk size, a slow drip or a
                        500; counted in faults_injected of GET /_sim/counters
  -h, --help            this text

Each option is also a global option with sim- in front (--sim-chaos S), for the
simulated daemon that --sim N starts inside another command.

Examples:
  dockstat sim -n 100 --stopped 20
  dockstat sim --listen 127.0.0.1:0 --tls /tmp/sim-tls --tls-verify-client
  dockstat sim --chaos 2 --socket /tmp/chaos.sock
  dockstat --sim 50 --sim-chaos 0.5 stats
";

const HELP: &str = "\
Usage: dockstat help [COMMAND]

Show a command's help (the same as dockstat COMMAND --help), or the overview

Examples:
  dockstat help
  dockstat help stats
";
