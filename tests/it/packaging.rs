//! Packaging: the shell completion scripts and man pages the binary generates, and the deployment
//! recipes in `deploy/` (crontab line, systemd service and timer, Kubernetes CronJob) with the
//! Dockerfile.
//!
//! Each artefact is checked by the program that consumes it — bash, zsh, fish, groff/man,
//! systemd-analyze — and every recipe's oauthctl command is run as written (paths swapped for
//! the built binary and a test database) on each backend, so a recipe cannot drift from the
//! command line it drives. The tools are found on the PATH ([`Need::Tool`]); tests/run.sh
//! installs them, and without them a plain `cargo test` notes what it did not run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use clap::CommandFactory;
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use crate::support::{
    available, backend_test, bin, code, oauthctl_command, require, scrub_env, stderr, stdout, Cli,
    Need, TestDb,
};

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy");
const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// Where the shipped recipes expect the binary; swapped for the built one when they are run.
const INSTALLED_BINARY: &str = "/usr/local/bin/oauthctl";

fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

/// `oauthctl ARGS` with a scrubbed environment, which must succeed; its stdout.
fn oauthctl_ok(args: &[&str]) -> Vec<u8> {
    let out = run(oauthctl_command().args(args));
    assert_eq!(code(&out), 0, "oauthctl {args:?}: {}", stderr(&out));
    out.stdout
}

fn completion_script(shell: &str, dir: &Path) -> PathBuf {
    let path = dir.join(format!("oauthctl.{shell}"));
    std::fs::write(&path, oauthctl_ok(&["completions", shell])).unwrap();
    path
}

/// The visible subcommands of the real command line, as clap defines them (so a subcommand added
/// later is expected everywhere without touching these tests).
fn subcommands() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .map(|sub| sub.get_name().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Completions

#[test]
fn bash_completion_loads_and_completes_a_subcommand_a_flag_and_a_value() {
    require!(Need::Tool("bash"));
    // Loaded the documented way, from the binary's own output.
    let script = r#"
        source <("$OAUTHCTL" completions bash) || exit 9
        complete -p oauthctl
        ask() {  # the words on the line; completes the last one
            COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
            COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
            COMPREPLY=()
            _oauthctl oauthctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            echo "${COMPREPLY[*]}"
        }
        ask oauthctl cle
        ask oauthctl cleartokens --dry
        ask oauthctl cleartokens --format j
        ask oauthctl completions fi
    "#;
    let mut cmd = Command::new("bash");
    scrub_env(&mut cmd);
    let out = run(cmd
        .args(["--norc", "--noprofile", "-c", script])
        .env("OAUTHCTL", bin()));
    assert_eq!(code(&out), 0, "bash: {}", stderr(&out));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(
        lines,
        [
            "complete -o bashdefault -o default -o nosort -F _oauthctl oauthctl",
            "cleartokens",
            "--dry-run",
            "json",
            "fish",
        ],
        "stderr: {}",
        stderr(&out)
    );
}

#[test]
fn zsh_completion_parses_and_registers_for_oauthctl() {
    require!(Need::Tool("zsh"));
    let dir = tempfile::tempdir().unwrap();
    let script = completion_script("zsh", dir.path());
    let out = run(Command::new("zsh").arg("-n").arg(&script));
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "zsh -n: {}",
        stderr(&out)
    );
    // Loaded into a bare zsh with compinit, it defines _oauthctl and binds it to oauthctl.
    let load = r#"autoload -U compinit && compinit -u -D && source "$1" &&
        (( $+functions[_oauthctl] )) && print -r -- "${_comps[oauthctl]}""#;
    let out = run(Command::new("zsh")
        .args(["-f", "-c", load, "zsh"])
        .arg(&script)
        .env("HOME", dir.path()));
    assert_eq!(
        (code(&out), stdout(&out).trim()),
        (0, "_oauthctl"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn fish_completion_parses_and_completes_a_subcommand_and_a_flag() {
    require!(Need::Tool("fish"));
    let dir = tempfile::tempdir().unwrap();
    let script = completion_script("fish", dir.path());
    let out = run(Command::new("fish").arg("-n").arg(&script));
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "fish -n: {}",
        stderr(&out)
    );
    let complete = |line: &str| -> Vec<String> {
        let command = format!("source {}; complete -C '{line}'", script.display());
        let out = run(Command::new("fish")
            .args(["--no-config", "-c", &command])
            .env("HOME", dir.path()));
        assert_eq!(code(&out), 0, "fish: {}", stderr(&out));
        // Each candidate is `word<TAB>description`.
        stdout(&out)
            .lines()
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(complete("oauthctl cle"), ["cleartokens"]);
    assert_eq!(complete("oauthctl cleartokens --dry"), ["--dry-run"]);
}

#[test]
fn every_shell_gets_a_script_naming_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = String::from_utf8(oauthctl_ok(&["completions", shell])).unwrap();
        for sub in subcommands() {
            assert!(
                script.contains(&sub),
                "the {shell} completion script does not mention the subcommand {sub}"
            );
        }
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = run(oauthctl_command().args(["completions", "tcsh"]));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("'tcsh'"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Man pages

/// `oauthctl manpages DIR` into a new folder below `root`; the paths it printed.
fn write_manpages(root: &Path) -> (PathBuf, Vec<PathBuf>) {
    let dir = root.join("man1");
    let printed = String::from_utf8(oauthctl_ok(&["manpages", dir.to_str().unwrap()])).unwrap();
    (dir, printed.lines().map(PathBuf::from).collect())
}

/// The page of `command` (`PREFIX.1`) and of every visible subcommand below it, nested ones
/// included (`oauthctl-indexes-show.1`), as `oauthctl manpages` names them.
fn page_names(command: &clap::Command, prefix: &str, names: &mut BTreeSet<String>) {
    names.insert(format!("{prefix}.1"));
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        page_names(sub, &format!("{prefix}-{}", sub.get_name()), names);
    }
}

#[test]
fn manpages_cover_every_subcommand_and_render_without_warnings() {
    require!(Need::Tool("groff"), Need::Tool("man"));
    let root = tempfile::tempdir().unwrap();
    let (dir, printed) = write_manpages(root.path());
    let mut expected = BTreeSet::new();
    page_names(&Cli::command(), "oauthctl", &mut expected);
    let written: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written, expected, "files in {}", dir.display());
    let printed: BTreeSet<PathBuf> = printed.into_iter().collect();
    assert_eq!(
        printed,
        expected.iter().map(|name| dir.join(name)).collect(),
        "printed paths"
    );
    for name in &expected {
        let page = dir.join(name);
        // groff with every warning enabled, output discarded: any diagnostic is a defect.
        let out = run(Command::new("groff").args(["-ww", "-z", "-man"]).arg(&page));
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "groff -ww on {name}: {}",
            stderr(&out)
        );
        let out = run(Command::new("man")
            .args(["-l", "-Tutf8"])
            .arg(&page)
            .env("MANWIDTH", "80"));
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "man -l {name}: {}",
            stderr(&out)
        );
        let text = without_overstrike(&stdout(&out));
        let command = name.trim_end_matches(".1");
        assert!(
            text.contains("NAME") && text.contains(command) && text.contains("OPTIONS"),
            "man -l {name} rendered no NAME/OPTIONS for {command}:\n{text}"
        );
    }
}

/// Terminal text without nroff's bold and underline (`X\bX`, `_\bX`): the letters only.
fn without_overstrike(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\u{8}' {
            plain.pop();
        } else {
            plain.push(c);
        }
    }
    plain
}

#[test]
fn manpages_into_a_file_is_one_line_and_exit_1() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("not-a-folder");
    std::fs::write(&file, "x").unwrap();
    let out = run(oauthctl_command().arg("manpages").arg(&file));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: creating the man page folder") && err.contains("not-a-folder"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(read(&file), "x");
}

// ---------------------------------------------------------------------------------------------
// systemd

/// A systemd unit file's `[Section]` → `Key=value` entries, in order (keys may repeat).
fn unit_entries(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut entries = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not a Key=value line: {line}"));
        entries.push((section.clone(), key.to_string(), value.to_string()));
    }
    entries
}

fn unit_values(entries: &[(String, String, String)], section: &str, key: &str) -> Vec<String> {
    entries
        .iter()
        .filter(|(s, k, _)| s == section && k == key)
        .map(|(_, _, v)| v.clone())
        .collect()
}

/// The one value of `key` in `[section]`.
fn unit_value(entries: &[(String, String, String)], section: &str, key: &str) -> String {
    match unit_values(entries, section, key).as_slice() {
        [value] => value.clone(),
        other => panic!("[{section}] {key}= should be set once, found {other:?}"),
    }
}

fn service_path() -> PathBuf {
    Path::new(DEPLOY).join("systemd/oauthctl-cleartokens.service")
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    require!(Need::Tool("systemd-analyze"));
    let dir = tempfile::tempdir().unwrap();
    // verify insists that ExecStart's binary exists: the copies point at the built one. The
    // shipped path stays the conventional install location.
    let service = read(service_path());
    assert!(service.contains(&format!("ExecStart={INSTALLED_BINARY} ")));
    let units = dir.path().join("units");
    std::fs::create_dir(&units).unwrap();
    std::fs::write(
        units.join("oauthctl-cleartokens.service"),
        service.replace(INSTALLED_BINARY, bin()),
    )
    .unwrap();
    std::fs::copy(
        Path::new(DEPLOY).join("systemd/oauthctl-cleartokens.timer"),
        units.join("oauthctl-cleartokens.timer"),
    )
    .unwrap();
    // Documentation=man:oauthctl-cleartokens(1) is checked too: against the generated pages.
    write_manpages(dir.path());
    let out = run(Command::new("systemd-analyze")
        .arg("verify")
        .arg(units.join("oauthctl-cleartokens.service"))
        .arg(units.join("oauthctl-cleartokens.timer"))
        .env("MANPATH", dir.path()));
    // verify exits 0 on unknown keys and only warns: any output at all is a defect.
    assert!(
        out.status.success() && out.stderr.is_empty() && out.stdout.is_empty(),
        "systemd-analyze verify (exit {}): {}{}",
        code(&out),
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn systemd_service_runs_unprivileged_in_a_hardened_sandbox() {
    require!(Need::Tool("systemd-analyze"));
    let entries = unit_entries(&read(service_path()));
    let user = unit_value(&entries, "Service", "User");
    assert!(
        !user.is_empty() && user != "root" && user != "0",
        "User={user}"
    );
    let sysusers = read(Path::new(DEPLOY).join("systemd/oauthctl.sysusers"));
    assert!(
        sysusers
            .lines()
            .any(|l| l.starts_with(&format!("u {user} "))),
        "deploy/systemd/oauthctl.sysusers does not create the user {user}"
    );
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
    ] {
        assert_eq!(unit_value(&entries, "Service", key), value, "{key}=");
    }
    assert!(
        unit_values(&entries, "Service", "SystemCallFilter").contains(&"@system-service".into()),
        "SystemCallFilter=@system-service"
    );
    assert!(unit_value(&entries, "Service", "EnvironmentFile").starts_with("/etc/"));
    // systemd's own score of the sandbox (0 best, 10 worst), in tenths: at most 2.0 ("OK").
    let out = run(Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20", "--no-pager"])
        .arg(service_path()));
    assert!(
        out.status.success(),
        "systemd-analyze security rates the service above 2.0:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// A systemd time span in seconds, by systemd's own parser.
fn systemd_seconds(span: &str) -> f64 {
    let out = run(Command::new("systemd-analyze").args(["timespan", span]));
    assert_eq!(
        code(&out),
        0,
        "systemd-analyze timespan {span}: {}",
        stderr(&out)
    );
    let micros = stdout(&out)
        .lines()
        .find_map(|l| l.trim().strip_prefix("μs: ").map(str::to_string))
        .unwrap_or_else(|| panic!("no μs line: {}", stdout(&out)));
    micros.trim().parse::<f64>().unwrap() / 1e6
}

// ---------------------------------------------------------------------------------------------
// Kubernetes and the Dockerfile

fn cronjob() -> Yaml {
    let text = read(Path::new(DEPLOY).join("kubernetes/cronjob.yaml"));
    let mut docs = YamlLoader::load_from_str(&text).expect("cronjob.yaml is YAML");
    assert_eq!(docs.len(), 1, "one document");
    docs.remove(0)
}

/// The node at a path of mapping keys and sequence indexes (`"containers", "0"`).
fn at<'a>(node: &'a Yaml, path: &[&str]) -> &'a Yaml {
    path.iter().fold(node, |node, key| {
        let next = match key.parse::<usize>() {
            Ok(index) => &node[index],
            Err(_) => &node[*key],
        };
        assert!(
            !next.is_badvalue(),
            "cronjob.yaml has no {}",
            path.join(".")
        );
        next
    })
}

const POD: &[&str] = &["spec", "jobTemplate", "spec", "template", "spec"];

fn container(job: &Yaml) -> &Yaml {
    let containers = at(job, &[POD, &["containers"]].concat());
    assert_eq!(containers.as_vec().map(Vec::len), Some(1), "one container");
    &containers[0]
}

#[test]
fn kubernetes_cronjob_keeps_its_invariants() {
    let job = cronjob();
    assert_eq!(at(&job, &["kind"]).as_str(), Some("CronJob"));
    assert_eq!(at(&job, &["apiVersion"]).as_str(), Some("batch/v1"));
    assert_eq!(
        at(&job, &["spec", "concurrencyPolicy"]).as_str(),
        Some("Forbid")
    );
    assert_eq!(
        at(&job, &[POD, &["restartPolicy"]].concat()).as_str(),
        Some("Never")
    );
    assert_eq!(
        at(&job, &[POD, &["securityContext", "runAsNonRoot"]].concat()).as_bool(),
        Some(true)
    );
    let container = container(&job);
    let security = at(container, &["securityContext"]);
    assert_eq!(
        at(security, &["readOnlyRootFilesystem"]).as_bool(),
        Some(true)
    );
    assert_eq!(
        at(security, &["allowPrivilegeEscalation"]).as_bool(),
        Some(false)
    );
    assert_eq!(
        at(security, &["capabilities", "drop"]).as_vec(),
        Some(&vec![Yaml::String("ALL".into())])
    );
    assert!(
        container["command"].is_badvalue(),
        "no command: the image's ENTRYPOINT runs oauthctl"
    );
    // The database URL only from a Secret; no plain value for it anywhere.
    let env = at(container, &["env"]).as_vec().expect("env is a list");
    let database_url: Vec<&Yaml> = env
        .iter()
        .filter(|e| e["name"].as_str() == Some("DATABASE_URL"))
        .collect();
    assert_eq!(database_url.len(), 1, "DATABASE_URL once in env");
    assert!(
        database_url[0]["value"].is_badvalue(),
        "DATABASE_URL as a plain value"
    );
    let secret = at(database_url[0], &["valueFrom", "secretKeyRef"]);
    assert!(at(secret, &["name"])
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert!(at(secret, &["key"]).as_str().is_some_and(|s| !s.is_empty()));
    // The pod runs as the image's user (a uid, so the kubelet can check runAsNonRoot).
    let uid = at(&job, &[POD, &["securityContext", "runAsUser"]].concat())
        .as_i64()
        .expect("runAsUser is a number");
    assert_ne!(uid, 0);
    assert_eq!(dockerfile_user(), format!("{uid}:{uid}"));
}

/// The `USER` of the Dockerfile's final stage.
fn dockerfile_user() -> String {
    let text = read(Path::new(REPO).join("Dockerfile"));
    let last_stage = text.rsplit_once("\nFROM ").expect("a FROM line").1;
    last_stage
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .expect("the final stage sets USER")
        .trim()
        .to_string()
}

#[test]
fn dockerfile_is_multi_stage_non_root_with_oauthctl_as_entry_point() {
    let text = read(Path::new(REPO).join("Dockerfile"));
    let stages = text.lines().filter(|l| l.starts_with("FROM ")).count();
    assert!(stages >= 2, "multi-stage: {stages} FROM line(s)");
    let user = dockerfile_user();
    assert!(
        !user.starts_with("root") && !user.starts_with("0:") && user != "0",
        "USER {user}"
    );
    let last_stage = text.rsplit_once("\nFROM ").unwrap().1;
    assert!(
        last_stage
            .lines()
            .any(|l| l.trim() == r#"ENTRYPOINT ["oauthctl"]"#),
        "the final stage's ENTRYPOINT is [\"oauthctl\"]"
    );
    // The build context keeps to what the build needs (no target/, no local databases).
    let ignore = read(Path::new(REPO).join(".dockerignore"));
    assert_eq!(ignore.lines().find(|l| !l.starts_with('#')), Some("*"));
    for needed in ["!Cargo.toml", "!Cargo.lock", "!src/", "!migrations/"] {
        assert!(
            ignore.lines().any(|l| l == needed),
            ".dockerignore lacks {needed}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The crontab line

/// The crontab's one job line split into its five time fields and the command.
fn crontab_job() -> (Vec<String>, String) {
    let text = read(Path::new(DEPLOY).join("crontab"));
    let jobs: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(jobs.len(), 1, "one job line in deploy/crontab: {jobs:?}");
    let mut rest = jobs[0];
    let mut fields = Vec::new();
    for _ in 0..5 {
        let (field, tail) = rest
            .split_once(char::is_whitespace)
            .expect("five time fields and a command");
        fields.push(field.to_string());
        rest = tail.trim_start();
    }
    (fields, rest.to_string())
}

/// Whether a crontab time field is valid for values in `min..=max`: `*`, numbers, ranges,
/// lists and steps (`*/15`, `1-5`, `0,30`).
fn cron_field_ok(field: &str, min: u32, max: u32) -> bool {
    let in_range = |n: &str| n.parse::<u32>().is_ok_and(|n| (min..=max).contains(&n));
    field.split(',').all(|item| {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        let step_ok = step.map_or(true, |s| s.parse::<u32>().is_ok_and(|s| s > 0));
        let range_ok = range == "*"
            || match range.split_once('-') {
                Some((a, b)) => {
                    in_range(a) && in_range(b) && a.parse::<u32>().ok() <= b.parse::<u32>().ok()
                }
                None => in_range(range),
            };
        step_ok && range_ok
    })
}

#[test]
fn cron_field_check_rejects_what_cron_rejects() {
    assert!(cron_field_ok("*/15", 0, 59) && cron_field_ok("1-5,7", 0, 7));
    assert!(!cron_field_ok("60", 0, 59) && !cron_field_ok("5-1", 0, 59));
    assert!(!cron_field_ok("*/0", 0, 59) && !cron_field_ok("", 0, 59));
    assert!(!cron_field_ok("0", 1, 31) && !cron_field_ok("x", 0, 23));
}

#[test]
fn crontab_line_has_five_valid_fields_and_no_percent_sign() {
    let (fields, command) = crontab_job();
    let limits = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
    for (field, (min, max)) in fields.iter().zip(limits) {
        assert!(cron_field_ok(field, min, max), "crontab field {field:?}");
    }
    // cron turns % into a newline: the command must not contain one.
    assert!(!command.contains('%'), "{command}");
    assert!(command.contains(&format!("{INSTALLED_BINARY} cleartokens ")));
}

// ---------------------------------------------------------------------------------------------
// Every recipe's command, run as written

/// `KEY="value"` lines of the example environment file, comments left out.
fn example_env() -> Vec<(String, String)> {
    read(Path::new(DEPLOY).join("systemd/cleartokens.env.example"))
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (key, value) = l.split_once('=').expect("KEY=value");
            (key.to_string(), value.trim_matches('"').to_string())
        })
        .collect()
}

/// A finished run's JSON summary (its stdout) of a recipe that must succeed.
fn summary(recipe: &str, out: &Output, stdout_text: &str) -> Value {
    assert_eq!(
        code(out),
        0,
        "{recipe}: exit {}: {}{stdout_text}",
        code(out),
        stderr(out)
    );
    let line = stdout_text
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("{recipe}: no JSON summary in {stdout_text:?}"));
    let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{recipe}: {e}"));
    assert_eq!(value["stop_reason"], "completed", "{recipe}: {value}");
    assert_eq!(value["dry_run"], false, "{recipe}: {value}");
    value
}

fn max_duration_seconds(recipe: &str, summary: &Value) -> f64 {
    summary["settings"]["max_duration_seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("{recipe} sets no --max-duration: {summary}"))
}

/// The crontab command through `sh`, with the installed paths swapped for the built binary, an
/// env file (the example's, pointed at `db`) and a log in `dir`; the run's JSON summary.
fn run_crontab(db: &TestDb, dir: &Path) -> Value {
    let env_file = dir.join("cleartokens.env");
    let env: String = example_env()
        .into_iter()
        .map(|(key, value)| match key.as_str() {
            "DATABASE_URL" => format!("{key}=\"{}\"\n", db.url),
            _ => format!("{key}=\"{value}\"\n"),
        })
        .collect();
    std::fs::write(&env_file, env).unwrap();
    let log = dir.join("cleartokens.log");
    let (_, command) = crontab_job();
    let command = command
        .replace("/etc/oauthctl/cleartokens.env", env_file.to_str().unwrap())
        .replace("/var/log/oauthctl/cleartokens.log", log.to_str().unwrap())
        .replace(INSTALLED_BINARY, bin());
    assert!(
        !command.contains("/etc/") && !command.contains("/var/"),
        "{command}"
    );
    let mut sh = Command::new("sh");
    scrub_env(&mut sh);
    let out = run(sh.args(["-c", &command]).current_dir(dir));
    let value = summary("deploy/crontab", &out, &read(&log));
    assert_eq!(
        value["settings"]["refresh_token_expire_seconds"], 86400.0,
        "the env file's REFRESH_TOKEN_EXPIRE_SECONDS reached the run on {:?}",
        db.backend
    );
    value
}

/// The service's ExecStart with the example env file's settings (DATABASE_URL pointed at `db`).
fn run_systemd_exec_start(db: &TestDb) -> Value {
    let entries = unit_entries(&read(service_path()));
    let exec = unit_value(&entries, "Service", "ExecStart");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some(INSTALLED_BINARY), "ExecStart={exec}");
    let args: Vec<&str> = words.collect();
    assert!(!exec.contains(['"', '\'', '$']), "plain words only: {exec}");
    let mut cmd = db.oauthctl(&args);
    for (key, value) in example_env() {
        if key != "DATABASE_URL" {
            cmd.env(key, value);
        }
    }
    let out = run(&mut cmd);
    summary("the systemd ExecStart", &out, &stdout(&out))
}

/// The CronJob container's args with its plain env values, the Secret's URL pointed at `db`.
fn run_cronjob_args(db: &TestDb) -> Value {
    let job = cronjob();
    let container = container(&job);
    let args: Vec<&str> = at(container, &["args"])
        .as_vec()
        .expect("args is a list")
        .iter()
        .map(|a| a.as_str().expect("each arg is a string"))
        .collect();
    let mut cmd = db.oauthctl(&args);
    for var in at(container, &["env"]).as_vec().unwrap() {
        if let Some(value) = var["value"].as_str() {
            cmd.env(var["name"].as_str().unwrap(), value);
        }
    }
    let out = run(&mut cmd);
    summary("the CronJob's args", &out, &stdout(&out))
}

backend_test!(recipes_run_as_written_and_their_deadlines_hold, |backend| {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::migrated(backend, "recipes");

    let cron = run_crontab(&db, dir.path());
    assert!(
        max_duration_seconds("deploy/crontab", &cron) < 24.0 * 3600.0,
        "the cron run must stop before the next day's"
    );

    let systemd = run_systemd_exec_start(&db);
    if available(Need::Tool("systemd-analyze")) {
        let entries = unit_entries(&read(service_path()));
        let timeout = systemd_seconds(&unit_value(&entries, "Service", "TimeoutStartSec"));
        let budget = max_duration_seconds("the systemd ExecStart", &systemd);
        assert!(
            timeout > budget,
            "TimeoutStartSec ({timeout} s) must exceed --max-duration ({budget} s)"
        );
    }

    let kubernetes = run_cronjob_args(&db);
    let deadline = at(
        &cronjob(),
        &["spec", "jobTemplate", "spec", "activeDeadlineSeconds"],
    )
    .as_i64()
    .expect("activeDeadlineSeconds is a number") as f64;
    let budget = max_duration_seconds("the CronJob's args", &kubernetes);
    assert!(
        deadline > budget,
        "activeDeadlineSeconds ({deadline} s) must exceed --max-duration ({budget} s)"
    );
});
