//! `--format` templates: Go text/template with docker's functions, for `ps`, `images` and
//! `stats`.
//!
//! Against the simulated daemon the output is checked as written here; against a real daemon
//! (`DOCKSTAT_REAL_DOCKER`, e.g. `unix:///tmp/dockerd-test/docker.sock`, with the docker CLI
//! on the PATH and the image `bb:latest`) `dockstat ps --format F` must print byte for byte
//! what `docker ps --format F` prints, and a bad template must fail with docker's words.
//! Without `DOCKSTAT_REAL_DOCKER` those tests print `SKIPPED` and pass, unless
//! `DOCKSTAT_REQUIRE_REAL_DOCKER=1`, which makes them fail.

mod common;
use common::real;

use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

const BIN: &str = env!("CARGO_BIN_EXE_dockstat");

fn dockstat(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_API_VERSION")
        .output()
        .expect("run dockstat")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `dockstat --sim 3 ARGS`, which must succeed.
fn sim(args: &[&str]) -> String {
    let mut all = vec!["--sim", "3"];
    all.extend_from_slice(args);
    let out = dockstat(&all);
    assert!(out.status.success(), "dockstat {all:?}: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn sim_ps_templates() {
    assert_eq!(
        sim(&[
            "ps",
            "--format",
            r#"{{.Names}}|{{.Label "sim.workload"}}|{{upper .Names}}|{{json (.Label "nope")}}"#
        ]),
        "memhog-3|memhog|MEMHOG-3|\"\"\nidle-2|idle|IDLE-2|\"\"\nbusy-1|busy|BUSY-1|\"\"\n"
    );
    assert_eq!(
        sim(&[
            "ps",
            "--format",
            r#"table {{.Label "sim.workload"}}\t{{upper .Names}}\t{{printf "%.4s" .ID}}"#
        ]),
        // printf is no text function docker leaves out of headers: "%.4s" cuts it too.
        "workload   NAMES      CONT\n\
         memhog     MEMHOG-3   c2cc\n\
         idle       IDLE-2     1514\n\
         busy       BUSY-1     93b0\n"
    );
    assert_eq!(
        sim(&[
            "ps",
            "--format",
            r#"{{range $i, $p := split .Names "-"}}{{if $i}}+{{end}}{{title $p}}{{end}} {{if eq .State "running"}}up{{else}}down{{end}} {{pad (truncate .Image 3) 1 1}}|"#
        ]),
        "Memhog+3 up  sim |\nIdle+2 up  sim |\nBusy+1 up  sim |\n"
    );
    assert_eq!(
        sim(&["ps", "--format", r#"{{- /* names */ -}} {{ .Names -}} \n"#]),
        "memhog-3\nidle-2\nbusy-1\n"
    );
    assert_eq!(
        sim(&["ps", "--format", r#"{{json (split .Labels ",")}}"#])
            .lines()
            .next(),
        Some(r#"["sim.workload=memhog","sim=1"]"#)
    );
}

#[test]
fn sim_json_output_is_unchanged() {
    // Only docker's keys: the labels kept for `.Label` are not one of them.
    // The same rows, but as docker decides: `{{json .}}` reads `.Size`, so the daemon is asked
    // for sizes; `json` is a word, not a template, and is not.
    let json = sim(&["ps", "--format", "json"]);
    // Each run is a new simulated daemon whose containers were created minutes before it
    // started: two runs a second boundary apart may differ in CreatedAt, and nothing else.
    let created_at_cut = |text: &str| -> String {
        text.lines()
            .map(|line| match line.split_once(r#""CreatedAt":""#) {
                Some((head, rest)) => {
                    let tail = rest.split_once(r#"","#).map_or("", |(_, tail)| tail);
                    format!("{head}{tail}\n")
                }
                None => format!("{line}\n"),
            })
            .collect()
    };
    assert_eq!(
        created_at_cut(&json.replace(r#""Size":"0B","#, r#""Size":"0B (virtual 2.15MB)","#)),
        created_at_cut(&sim(&["ps", "--format", "{{json .}}"]))
    );
    assert!(json.contains(r#""CreatedAt":""#), "{json}");
    let first = json.lines().next().unwrap();
    assert!(first.starts_with(r#"{"Command":""#), "{first}");
    assert!(
        first.contains(r#","Labels":"sim.workload=memhog,sim=1","#),
        "{first}"
    );
    assert!(!first.contains(r#""Label":"#), "{first}");
}

#[test]
fn sim_images_and_stats_templates() {
    assert_eq!(
        sim(&[
            "images",
            "--format",
            r#"{{printf "%-12s" .Repository}}|{{.Tag | upper}}|{{len .ID}}"#
        ]),
        "sim/busybox |LATEST|12\nsim/alpine  |3.20|12\nsim/debian  |BOOKWORM-SLIM|12\n"
    );
    assert_eq!(
        sim(&[
            "images",
            "--format",
            r#"table {{lower .Repository}}\t{{json .Tag}}"#
        ]),
        "REPOSITORY    TAG\n\
         sim/busybox   \"latest\"\n\
         sim/alpine    \"3.20\"\n\
         sim/debian    \"bookworm-slim\"\n"
    );
    assert_eq!(
        sim(&[
            "stats",
            "--no-stream",
            "--format",
            r#"table {{upper .Name}}\t{{if eq .PIDs "1"}}one{{else}}{{.PIDs}}{{end}}"#
        ]),
        "NAME       PIDS\nMEMHOG-3   one\nIDLE-2     one\nBUSY-1     one\n"
    );
}

#[test]
fn sim_bad_templates_exit_2_with_one_message() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["ps", "--format", "{{.Names"],
            "dockstat: failed to parse template: template: :1: unclosed action",
        ),
        (
            &["ps", "--format", "{{nope .Names}}"],
            "dockstat: failed to parse template: template: :1: function \"nope\" not defined",
        ),
        (
            &["ps", "--format", r#"{{join .Names ","}}"#],
            "dockstat: failed to execute template: template: :1:7: executing \"\" at <.Names>: wrong type for value; expected []string; got string",
        ),
        (
            &["images", "--format", "{{if .ID}}"],
            "dockstat: template parsing error: template: :1: unexpected EOF",
        ),
        (
            &["stats", "--no-stream", "--format", r#"{{.Label "a"}}"#],
            "dockstat: template parsing error: template: :1:2: executing \"\" at <.Label>: can't evaluate field Label (fields: ",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["--sim", "3"];
        all.extend_from_slice(args);
        let out = dockstat(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(stdout(&out), "", "{args:?}");
        let err = stderr(&out);
        assert!(
            err.lines().next().unwrap_or("").starts_with(want),
            "{args:?}: {err}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Against a real daemon and the docker CLI

/// The daemon's URL and the lock that runs these tests one at a time (each compares the
/// daemon's whole listing).
fn daemon() -> Option<(String, MutexGuard<'static, ()>)> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let host = real::url()?;
    Some((
        host,
        ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner()),
    ))
}

fn docker(host: &str, args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", host)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_API_VERSION")
        .output()
        .expect("the docker CLI")
}

/// Containers of one test, removed when it ends (also when it fails).
struct Containers {
    host: String,
    names: Vec<String>,
}

impl Containers {
    /// Creates `i13-tmpl-<pid>-<suffix>` with `labels`, running `sleep` unless `created`.
    fn add(&mut self, suffix: &str, labels: &[&str], created: bool) -> String {
        let name = format!("i13-tmpl-{}-{suffix}", std::process::id());
        let mut args = vec![if created { "create" } else { "run" }];
        if !created {
            args.push("-d");
        }
        args.extend(["--name", &name, "--network", "none"]);
        for l in labels {
            args.extend(["--label", l]);
        }
        args.extend(["bb:latest", "sleep", "100000"]);
        let out = docker(&self.host, &args);
        assert!(out.status.success(), "docker {args:?}: {}", stderr(&out));
        self.names.push(name.clone());
        name
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        if !self.names.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(self.names.iter().map(String::as_str));
            docker(&self.host, &args);
        }
    }
}

/// Format strings in the style of docker's documentation; those marked `true` print the
/// labels string, whose order for other containers is not this test's business: only the
/// lines of this test's containers are compared.
const DOCS_FORMATS: &[(&str, bool)] = &[
    (r#"{{.ID}}: {{.Names}}"#, false),
    (r#"table {{.ID}}\t{{.Names}}\t{{.State}}"#, false),
    (r#"{{upper .Names}}"#, false),
    (r#"{{lower (upper .Names)}} {{.State | upper}}"#, false),
    (
        r#"{{title .State}} {{title "hello wORLD-foo bar_baz"}}"#,
        false,
    ),
    (
        r#"{{printf "%-20s|%10.4s|%q|%d" .Names .ID .State (len .Names)}}"#,
        false,
    ),
    (r#"{{println .Names}}"#, false),
    (r#"{{join (split .Names "-") "+"}}"#, false),
    (r#"{{split .Names "-"}} {{json (split .Names "-")}}"#, false),
    (r#"{{truncate .ID 5}}|{{truncate .Names 100}}"#, false),
    (r#"{{pad .Names 2 3}}|{{pad .Ports 1 1}}|"#, false),
    (
        r#"{{if eq .State "running"}}up{{else if eq .State "created"}}new{{else}}other{{end}} {{.Names}}"#,
        false,
    ),
    (
        r#"{{.Names}} {{.Label "a"}}|{{.Label "com.example.version"}}|{{.Label "nope"}}"#,
        false,
    ),
    (r#"{{.Names}} {{json .Labels}} {{json (.Label "u")}}"#, true),
    (r#"{{.Names}}\t{{.Labels}}"#, true),
    (
        r#"table {{upper .Names}}\t{{.Label "com.example.version"}}\t{{.Label "x-y_z"}}"#,
        false,
    ),
    (
        r#"table {{printf "%-24s" .Names}}|{{pad .State 1 1}}|{{.ID}}"#,
        false,
    ),
    (
        r#"table {{.Names}}\t{{if .Label "a"}}{{.Label "a"}}{{else}}-{{end}}\t{{json .Platform}}"#,
        false,
    ),
    (
        r#"{{range $i, $p := split .Names "-"}}{{if $i}},{{end}}{{$i}}={{$p}}{{end}}"#,
        false,
    ),
    (
        r#"{{- .Names -}}   {{/* a comment */}}   {{- if not .Ports}} (no ports){{end}}"#,
        false,
    ),
];

#[test]
fn real_ps_templates_match_docker() {
    let Some((host, _one)) = daemon() else { return };
    let mut c = Containers {
        host: host.clone(),
        names: Vec::new(),
    };
    let prefix = format!("i13-tmpl-{}-", std::process::id());
    c.add(
        "a",
        &["a=b", "com.example.version=1.2", "x-y_z=hé llo", "u=<é&>"],
        false,
    );
    c.add("b", &["a=c"], false);
    c.add("c", &[], true);
    for (format, own_lines_only) in DOCS_FORMATS {
        let mut last = None;
        // Another client may add or remove a container between the two listings: retry.
        for _ in 0..3 {
            let want = docker(&host, &["ps", "-a", "--format", format]);
            assert!(
                want.status.success(),
                "docker ps --format {format}: {}",
                stderr(&want)
            );
            let got = dockstat(&["-H", &host, "ps", "-a", "--format", format]);
            assert!(got.status.success(), "{format}: {}", stderr(&got));
            let (mut want, mut got) = (stdout(&want), stdout(&got));
            assert!(want.lines().count() >= 3, "{format}: {want}");
            if *own_lines_only {
                let own = |s: &str| {
                    s.lines()
                        .filter(|l| l.contains(&prefix))
                        .map(|l| format!("{l}\n"))
                        .collect::<String>()
                };
                (want, got) = (own(&want), own(&got));
            }
            if want == got {
                last = None;
                break;
            }
            last = Some((want, got));
        }
        if let Some((want, got)) = last {
            panic!("--format {format}\ndocker printed:\n{want}\ndockstat printed:\n{got}");
        }
    }
}

#[test]
fn real_bad_templates_fail_as_docker_does() {
    let Some((host, _one)) = daemon() else { return };
    // docker exits 1 and dockstat 2 (a usage error); the message line is docker's, except
    // that an unknown field lists the fields there are instead of a Go type name.
    let cases: &[(&[&str], Option<&str>)] = &[
        (&["ps", "--format", "{{.Names"], None),
        (&["ps", "--format", "{{nope .Names}}"], None),
        (&["ps", "--format", "{{if .Names}}x"], None),
        (&["ps", "--format", "{{end}}"], None),
        (&["ps", "--format", r#"{{ "abc }}"#], None),
        (&["ps", "--format", r#"{{join .Names ","}}"#], None),
        (&["ps", "--format", "{{truncate .Names -1}}"], None),
        (&["ps", "--format", "{{.Label}}"], None),
        (&["ps", "--format", "{{upper}}"], None),
        (&["ps", "--format", r#"{{truncate .Names "a"}}"#], None),
        (
            &["ps", "--format", "{{.Foo}}"],
            Some("can't evaluate field Foo"),
        ),
        (&["images", "--format", "{{.Repository"], None),
        (
            &["images", "--format", "{{.Label \"a\"}}"],
            Some("can't evaluate field Label"),
        ),
        (&["stats", "--no-stream", "--format", "{{end}}"], None),
        (&["stats", "--no-stream", "--format", "{{upper 3}}"], None),
    ];
    for (args, up_to) in cases {
        let want = docker(&host, args);
        assert_eq!(want.status.code(), Some(1), "docker {args:?}");
        assert_eq!(stdout(&want), "", "docker {args:?}");
        let want_line = stderr(&want)
            .lines()
            .find(|l| !l.starts_with("WARNING"))
            .unwrap_or("")
            .to_string();
        let mut all = vec!["-H", host.as_str()];
        all.extend_from_slice(args);
        let got = dockstat(&all);
        assert_eq!(got.status.code(), Some(2), "{args:?}: {}", stderr(&got));
        assert_eq!(stdout(&got), "", "{args:?}");
        let got_err = stderr(&got);
        let got_line = without_help_hint(got_err.lines().next().unwrap_or(""));
        match up_to {
            None => assert_eq!(got_line, format!("dockstat: {want_line}"), "{args:?}"),
            Some(cut) => {
                let end = want_line.find(cut).expect("docker's message") + cut.len();
                let prefix = format!("dockstat: {}", &want_line[..end]);
                assert!(
                    got_line.starts_with(&prefix) && got_line.contains("(fields: "),
                    "{args:?}: {got_line}\ndocker: {want_line}"
                );
            }
        }
    }
}

/// A usage error's line without its closing `(see 'dockstat COMMAND --help')`.
fn without_help_hint(line: &str) -> &str {
    match line.rfind(" (see 'dockstat ") {
        Some(at) if line.ends_with("--help')") => &line[..at],
        _ => line,
    }
}
