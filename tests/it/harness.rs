//! Tests of the test harness itself: the environment scrub ([`SCRUBBED_ENV`]) must cover every
//! variable `src/` reads, or a variable set in a developer's shell could silently change what a
//! test checks. The list is kept honest by reading the source, not by remembering.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::support::SCRUBBED_ENV;

/// Environment reads whose argument is neither a string literal nor a `const`: where the name
/// comes from instead. A read the scan cannot place fails the test until it is described here.
struct Indirect {
    /// The argument expression, as written in `env::var(…)`.
    argument: &'static str,
    /// Why the name is not at the read.
    why: &'static str,
    /// `(function call, argument index)` whose string literal argument is the name, if any.
    named_at: Option<(&'static str, usize)>,
}

const INDIRECT: &[Indirect] = &[
    Indirect {
        argument: "env",
        why: "cleanup::pick(flag, flag_name, env) reads the DOT setting named by its callers",
        named_at: Some(("pick(", 2)),
    },
    Indirect {
        argument: "var",
        why: "--client-secret-env: the user names the variable at run time",
        named_at: None,
    },
];

#[test]
fn env_scrub_covers_every_variable_src_reads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources: Vec<(PathBuf, String)> = rust_sources(&root.join("src"))
        .into_iter()
        .map(|(path, text)| (path.strip_prefix(root).unwrap().to_path_buf(), text))
        .collect();
    let read = variables_read(&sources).unwrap_or_else(|e| panic!("{e}"));
    // A scan that finds (almost) nothing no longer matches how src reads the environment.
    assert!(
        read.len() >= 10 && read.contains_key("DATABASE_URL"),
        "the scan of src/ found only {read:?}: update variables_read() in tests/it/harness.rs"
    );
    let missing: Vec<String> = read
        .iter()
        .filter(|(name, _)| !SCRUBBED_ENV.contains(&name.as_str()))
        .map(|(name, at)| format!("{name} (read at {at})"))
        .collect();
    assert!(
        missing.is_empty(),
        "src/ reads environment variables the tests do not scrub; add them to SCRUBBED_ENV in \
         tests/it/support/mod.rs: {}",
        missing.join(", ")
    );
}

#[test]
fn the_scan_finds_each_way_of_reading_the_environment() {
    let fixture = r#"
        const NOW_ENV: &str = "FROM_CONST";
        #[arg(long, env = "FROM_CLAP")]
        #[arg(long, env="FROM_CLAP_TIGHT", default_value = "x")]
        fn f() {
            std::env::var("FROM_VAR");
            std::env::var_os("FROM_VAR_OS");
            var_os("FROM_BARE_VAR_OS");
            std::env::var(NOW_ENV);
            let _ = pick(Some("x"), "--flag", "FROM_PICK");
            std::env::var(env);
            std::env::var(var);
            let environment = "NOT_A_READ";
        }
        pub fn pick(flag: Option<&str>, flag_name: &'static str, env: &'static str) {}
    "#;
    let read = variables_read(&[(PathBuf::from("fixture.rs"), fixture.to_string())]).unwrap();
    let names: BTreeSet<&str> = read.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "FROM_BARE_VAR_OS",
            "FROM_CLAP",
            "FROM_CLAP_TIGHT",
            "FROM_CONST",
            "FROM_PICK",
            "FROM_VAR",
            "FROM_VAR_OS",
        ])
    );
    // A read the scan cannot place is an error, not a silent pass.
    let unknown = "fn g(name: &str) { std::env::var(name); }".to_string();
    let err = variables_read(&[(PathBuf::from("g.rs"), unknown)]).unwrap_err();
    assert!(
        err.contains("std::env::var(name)") || err.contains("`name`"),
        "{err}"
    );
}

/// Every `.rs` file under `dir`, with its text.
fn rust_sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no Rust sources in {}", dir.display());
    out
}

/// The variables the sources read, each with one place it is read (`file:line`): clap's
/// `env = "X"`, `env::var("X")`, `env::var_os("X")`, `var_os("X")`, the same with a `const`
/// argument, and the indirect reads of [`INDIRECT`]. Errors on a read it cannot place.
fn variables_read(sources: &[(PathBuf, String)]) -> Result<BTreeMap<String, String>, String> {
    let consts = string_consts(sources);
    let mut read = BTreeMap::new();
    let mut note = |name: String, file: &Path, text: &str, at: usize| {
        let line = line_of(text, at);
        read.entry(name)
            .or_insert_with(|| format!("{}:{line}", file.display()));
    };
    for (file, text) in sources {
        for at in starts_of(text, "env") {
            let rest = text[at + 3..].trim_start();
            let Some(rest) = rest.strip_prefix('=') else {
                continue;
            };
            if rest.starts_with('=') {
                continue; // `env == …`
            }
            if let Some(name) = string_literal(rest.trim_start()) {
                note(name, file, text, at);
            }
        }
        for (at, call) in env_reads(text) {
            let argument = call.trim();
            if let Some(name) = string_literal(argument) {
                note(name, file, text, at);
            } else if let Some(name) = consts.get(argument) {
                note(name.clone(), file, text, at);
            } else if INDIRECT.iter().any(|i| i.argument == argument) {
                // Placed below, at the indirect reader's call sites.
            } else {
                return Err(format!(
                    "{}:{}: cannot tell which variable `{argument}` names in an environment \
                     read; describe it in INDIRECT in tests/it/harness.rs",
                    file.display(),
                    line_of(text, at)
                ));
            }
        }
    }
    for indirect in INDIRECT {
        let Some((call, index)) = indirect.named_at else {
            continue;
        };
        let mut sites = 0;
        for (file, text) in sources {
            for at in starts_of(text, call) {
                if text[..at].trim_end().ends_with("fn") {
                    continue; // the definition
                }
                let Some(args) = call_arguments(&text[at + call.len()..]) else {
                    continue;
                };
                sites += 1;
                let Some(argument) = args.get(index).map(|a| a.trim()) else {
                    return Err(format!(
                        "{}: a call of {call}…) without argument {index} ({})",
                        file.display(),
                        indirect.why
                    ));
                };
                match string_literal(argument).or_else(|| consts.get(argument).cloned()) {
                    Some(name) => note(name, file, text, at),
                    None => {
                        return Err(format!(
                            "{}: {call}…) with argument {index} `{argument}`: not a literal ({})",
                            file.display(),
                            indirect.why
                        ))
                    }
                }
            }
        }
        if sites == 0
            && sources.iter().any(|(_, t)| {
                env_reads(t)
                    .iter()
                    .any(|(_, a)| a.trim() == indirect.argument)
            })
        {
            return Err(format!(
                "no call of {call}…) found, yet an environment read takes `{}` ({}): update \
                 INDIRECT in tests/it/harness.rs",
                indirect.argument, indirect.why
            ));
        }
    }
    Ok(read)
}

/// The 1-based line of byte offset `at`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count() + 1
}

/// Where `word` starts in `text` as a whole word (not inside a longer identifier).
fn starts_of<'a>(text: &'a str, word: &'a str) -> impl Iterator<Item = usize> + 'a {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word)
        .map(|(at, _)| at)
        .filter(move |&at| {
            let before = text[..at].chars().next_back();
            let first = word.chars().next().unwrap();
            let last = word.chars().next_back().unwrap();
            let after = text[at + word.len()..].chars().next();
            let glued_before = ident(first) && before.is_some_and(ident);
            let glued_after = ident(last) && after.is_some_and(ident);
            !(glued_before || glued_after)
        })
}

/// The argument text of each `env::var(…)`, `env::var_os(…)` and `var_os(…)` call.
fn env_reads(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for call in ["var(", "var_os("] {
        for at in starts_of(text, call) {
            let before = text[..at].trim_end();
            let qualified = before.ends_with("env::");
            // A bare `var(` is too common a name to count; a bare `var_os(` is not.
            if !qualified && (call == "var(" || before.ends_with('.') || before.ends_with("fn")) {
                continue;
            }
            if let Some(args) = call_arguments(&text[at + call.len()..]) {
                out.push((at, args.join(",")));
            }
        }
    }
    out
}

/// The top-level, comma-separated arguments of a call whose `(` was just consumed.
fn call_arguments(text: &str) -> Option<Vec<String>> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let (mut args, mut current) = (Vec::new(), String::new());
    for c in text.chars() {
        if in_string {
            current.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                current.push(c);
            }
            '(' | '[' | '{' => {
                depth += 1;
                current.push(c);
            }
            ')' | ']' | '}' if depth == 0 => {
                args.push(std::mem::take(&mut current));
                return Some(args);
            }
            ')' | ']' | '}' => {
                depth -= 1;
                current.push(c);
            }
            ',' if depth == 0 => args.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    None
}

/// The text of a string literal at the start of `text` (plain literals: env names need no more).
fn string_literal(text: &str) -> Option<String> {
    let rest = text.strip_prefix('"')?;
    let end = rest.find('"')?;
    let name = &rest[..end];
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    plain.then(|| name.to_string())
}

/// `const NAME: &str = "VALUE";` anywhere in the sources, as NAME → VALUE.
fn string_consts(sources: &[(PathBuf, String)]) -> BTreeMap<String, String> {
    let mut consts = BTreeMap::new();
    for (_, text) in sources {
        for at in starts_of(text, "const") {
            let rest = text[at + "const".len()..].trim_start();
            let Some((name, rest)) = rest.split_once(':') else {
                continue;
            };
            let Some(rest) = rest.trim_start().strip_prefix("&") else {
                continue;
            };
            let rest = rest.trim_start();
            let rest = rest.strip_prefix("'static").unwrap_or(rest).trim_start();
            let Some(rest) = rest.strip_prefix("str") else {
                continue;
            };
            let Some(rest) = rest.trim_start().strip_prefix('=') else {
                continue;
            };
            if let Some(value) = string_literal(rest.trim_start()) {
                consts.insert(name.trim().to_string(), value);
            }
        }
    }
    consts
}
