//! The help texts: `dockstat --help` is a short overview, each command's `--help` (and
//! `dockstat help COMMAND`) has its usage line, options and examples, and usage errors point at
//! the command's help. The options each help must mention are read from the argument parser's
//! source, so that an option added there without a line of help fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_dockstat");
const ARGS_RS: &str = include_str!("../src/args.rs");
const COMMANDS: [&str; 7] = ["stats", "ps", "images", "get", "serve", "push", "sim"];

fn dockstat(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("DOCKER_HOST")
        .output()
        .expect("dockstat runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8 help")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The help of `args`, which must succeed quietly.
fn help(args: &[&str]) -> String {
    let out = dockstat(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    assert!(out.stderr.is_empty(), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

/// The options named in `pattern` (the part of a match arm after the command): `--long` for
/// each `Long("long")` and `-s` for each `Short('s')`.
fn options_in(pattern: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = pattern;
    while let Some(at) = rest.find("Long(\"") {
        let name = &rest[at + 6..];
        let end = name.find('"').expect("closing quote");
        found.push(format!("--{}", &name[..end]));
        rest = &name[end..];
    }
    let mut rest = pattern;
    while let Some(at) = rest.find("Short('") {
        let c = &rest[at + 7..at + 8];
        found.push(format!("-{c}"));
        rest = &rest[at + 8..];
    }
    found
}

/// Each command's options, from the parser's arms `(Some("ps" | "images"), Short('a') |
/// Long("all")) =>`; and the options of the arms that name no command (global ones).
fn parser_options() -> (BTreeMap<String, BTreeSet<String>>, BTreeSet<String>) {
    let mut per_command: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut global = BTreeSet::new();
    for line in ARGS_RS.lines() {
        let line = line.trim();
        if line.starts_with("//") || !line.contains("=>") {
            continue;
        }
        let arm = &line[..line.find("=>").unwrap()];
        if let Some(rest) = arm.strip_prefix("(Some(") {
            let close = rest.find(')').expect("Some(…)");
            let commands: Vec<&str> = rest[..close]
                .split('|')
                .map(|c| c.trim().trim_matches('"'))
                .collect();
            for option in options_in(&rest[close..]) {
                for c in &commands {
                    per_command
                        .entry(c.to_string())
                        .or_default()
                        .insert(option.clone());
                }
            }
        } else if arm.starts_with("Short(") || arm.starts_with("Long(") {
            global.extend(options_in(arm));
        }
    }
    (per_command, global)
}

/// Whether `text` mentions `option` as a whole option (`--all`, not the start of `--allow`).
fn mentions(text: &str, option: &str) -> bool {
    text.match_indices(option).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + option.len()..].chars().next();
        !matches!(before, Some(c) if c.is_alphanumeric() || c == '-')
            && !matches!(after, Some(c) if c.is_alphanumeric() || c == '-')
    })
}

#[test]
fn the_parser_source_is_read() {
    let (per_command, global) = parser_options();
    // A few that must be there, so that a change of the parser's layout fails loudly here
    // instead of leaving the tests below with nothing to check.
    assert!(
        per_command["get"].contains("--no-buffer"),
        "{per_command:?}"
    );
    assert!(per_command["stats"].contains("--max-streams"));
    assert!(per_command["ps"].contains("--quiet"));
    assert!(per_command["images"].contains("-a"));
    assert!(per_command["serve"].contains("--label-allowlist"));
    assert!(per_command["sim"].contains("--socket"));
    assert!(global.contains("--host") && global.contains("--sim-chaos"));
    assert!(global.contains("--chaos") && global.contains("-H"));
}

#[test]
fn every_command_help_exits_0_and_starts_with_its_usage_line() {
    for command in COMMANDS {
        for flag in ["--help", "-h"] {
            let text = help(&[command, flag]);
            let first = text.lines().next().unwrap_or_default();
            assert!(
                first.starts_with(&format!("Usage: dockstat {command}")),
                "{command} {flag}: {first:?}"
            );
            let summary = text.lines().nth(2).unwrap_or_default();
            assert!(!summary.is_empty(), "{command}: no summary line");
        }
    }
}

#[test]
fn each_command_help_mentions_every_option_the_parser_takes_after_it() {
    let (per_command, _) = parser_options();
    for command in COMMANDS {
        let text = help(&[command, "--help"]);
        let options = per_command.get(command).cloned().unwrap_or_default();
        assert!(
            !options.is_empty(),
            "{command}: no options found in args.rs"
        );
        for option in options
            .iter()
            .chain(&["-h".to_string(), "--help".to_string()])
        {
            assert!(
                mentions(&text, option),
                "dockstat {command} --help does not mention {option}:\n{text}"
            );
        }
    }
}

#[test]
fn every_option_the_parser_takes_is_in_some_help() {
    let (per_command, global) = parser_options();
    let overview = help(&["--help"]);
    let sim = help(&["sim", "--help"]);
    let mut all = overview.clone();
    for command in COMMANDS {
        all.push_str(&help(&[command, "--help"]));
    }
    for option in per_command.values().flatten().chain(&global) {
        assert!(mentions(&all, option), "no help mentions {option}");
    }
    // The sim's shape options are global with sim- in front: the overview names those, the
    // sim's help the short ones.
    for option in &global {
        if let Some(short) = option.strip_prefix("--sim-") {
            assert!(mentions(&overview, option), "dockstat --help: {option}");
            assert!(
                mentions(&sim, &format!("--{short}")),
                "sim --help: --{short}"
            );
        }
    }
    // And every other global option is in the overview.
    for option in &global {
        let sim_shape = global.contains(&format!("--sim-{}", option.trim_start_matches('-')));
        if !sim_shape {
            assert!(mentions(&overview, option), "dockstat --help: {option}");
        }
    }
}

#[test]
fn help_command_is_the_same_as_command_help() {
    for command in COMMANDS {
        assert_eq!(
            help(&["help", command]),
            help(&[command, "--help"]),
            "{command}"
        );
    }
    assert_eq!(help(&["help"]), help(&["--help"]));
    assert_eq!(help(&[]), help(&["--help"]));
    assert_eq!(help(&["-h"]), help(&["--help"]));
    assert!(help(&["help", "--help"]).starts_with("Usage: dockstat help"));
}

#[test]
fn the_overview_is_short_and_ends_as_docker_does() {
    let text = help(&["--help"]);
    let lines = text.lines().count();
    assert!(lines <= 50, "dockstat --help is {lines} lines");
    assert_eq!(
        text.lines().last(),
        Some("Run 'dockstat COMMAND --help' for more information on a command.")
    );
    for command in COMMANDS {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(&format!("{command} "))),
            "the overview lists {command}"
        );
    }
    for needle in ["Environment:", "DOCKER_HOST", "Exit codes", "--sim-chaos"] {
        assert!(text.contains(needle), "the overview mentions {needle}");
    }
}

#[test]
fn each_command_help_has_examples_and_fits_a_terminal() {
    for command in COMMANDS {
        let text = help(&[command, "--help"]);
        let examples: Vec<&str> = text
            .split("Examples:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("{command}: no examples"))
            .lines()
            .take_while(|l| !l.is_empty())
            .collect();
        assert!(
            (2..=4).contains(&examples.len()),
            "{command}: {} examples",
            examples.len()
        );
        for example in &examples {
            let example = example.trim_start();
            assert!(
                example.starts_with("dockstat ") && example.contains(command),
                "{command}: example {example:?}"
            );
        }
        for line in text.lines() {
            assert!(line.chars().count() <= 92, "{command}: too wide: {line:?}");
        }
    }
}

#[test]
fn stats_help_lists_the_live_view_keys_and_sim_help_says_what_chaos_does() {
    let stats = help(&["stats", "--help"]);
    let keys = stats
        .split("Keys of the live view")
        .nth(1)
        .expect("a keys section");
    for key in ["c", "m", "n", "b", "p", "s", "q"] {
        assert!(
            keys.lines().any(|l| l
                .trim_start()
                .split([',', ' '])
                .take_while(|w| w.len() <= 1)
                .any(|w| w == key)),
            "key {key}:\n{keys}"
        );
    }
    let sim = help(&["sim", "--help"]);
    for word in [
        "--chaos",
        "faults_injected",
        "reset",
        "--sim-chaos",
        "SIGTERM",
    ] {
        assert!(sim.contains(word), "sim --help: {word}");
    }
}

#[test]
fn usage_errors_name_the_command_s_help() {
    let cases: &[(&[&str], &str)] = &[
        (&["stats", "--bogus"], "(see 'dockstat stats --help')"),
        (&["ps", "extra"], "(see 'dockstat ps --help')"),
        (&["images", "--no-such"], "(see 'dockstat images --help')"),
        (&["get"], "(see 'dockstat get --help')"),
        (&["serve", "--listen", "x"], "(see 'dockstat serve --help')"),
        (
            &["sim", "--tls-verify-client"],
            "(see 'dockstat sim --help')",
        ),
        (
            &["--sim", "1", "-H", "unix:///nonexistent.sock", "ps"],
            "(see 'dockstat ps --help')",
        ),
        (&["help", "bogus"], "(see 'dockstat help --help')"),
        (&["bogus"], "(see 'dockstat --help')"),
        (&["bogus", "--help"], "(see 'dockstat --help')"),
        (&["--bogus"], "(see 'dockstat --help')"),
    ];
    for (args, hint) in cases {
        let out = dockstat(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {err}");
        assert!(lines[0].starts_with("dockstat: "), "{args:?}: {err}");
        assert!(lines[0].ends_with(&format!(" {hint}")), "{args:?}: {err}");
    }
}
