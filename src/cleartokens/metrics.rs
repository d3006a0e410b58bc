//! `cleartokens --metrics-file`: the run as Prometheus text exposition format, for
//! node_exporter's textfile collector. Pure: [`render`] turns a [`RunRecord`] into the file's
//! text and [`previous_success`] reads the one value a run carries over from the file it
//! replaces; writing the file (atomically) is the command's job.
//!
//! Every figure of a finished run comes from the [`Report`] the JSON summary is serialised from,
//! so the two cannot disagree. A run that failed has no report: its file has the run-level
//! gauges only (timestamps, exit code, duration, dry run), and the last success time of the
//! file before it.

use std::fmt::Write;

use super::report::{step_name, Report, StopReason};
use crate::db::{Rules, Step};
use crate::error::exit;

/// Every metric's name starts with this.
pub const PREFIX: &str = "oauthctl_cleartokens_";

/// The gauge an alert on "no successful run lately" watches.
pub const LAST_SUCCESS: &str = "oauthctl_cleartokens_last_success_timestamp_seconds";

/// What one run leaves in the metrics file.
#[derive(Clone, Copy, Debug)]
pub struct RunRecord<'a> {
    /// Unix time the command started (before connecting) and ended, in seconds.
    pub started_at: f64,
    pub ended_at: f64,
    /// The process's exit code.
    pub exit_code: u8,
    /// Whether `--dry-run` was asked for (known even when the run failed).
    pub dry_run: bool,
    /// The summary of a run that got as far as running its steps (exit 0 or 4).
    pub report: Option<&'a Report>,
    /// [`LAST_SUCCESS`] as the previous file had it, if there was one.
    pub previous_success: Option<f64>,
}

impl RunRecord<'_> {
    /// Only exit 0 is a success: a stopped run (exit 4) left work behind, and a cron job that
    /// always hits its time budget must page someone eventually. Never a success: 0.
    pub fn last_success(&self) -> f64 {
        if self.exit_code == exit::OK {
            self.ended_at
        } else {
            self.previous_success.unwrap_or(0.0)
        }
    }

    /// The summary's duration for a finished run (the steps); the command's wall time otherwise.
    fn duration(&self) -> f64 {
        let wall = ((self.ended_at - self.started_at).max(0.0) * 1e6).round() / 1e6;
        self.report.map_or(wall, |report| report.duration_seconds)
    }
}

/// The whole file for `run`, one `# HELP` and `# TYPE` per metric, all gauges.
pub fn render(run: &RunRecord) -> String {
    let mut out = Exposition::default();
    out.gauge(
        "last_run_start_timestamp_seconds",
        "Unix time the last cleartokens run started.",
        &[(None, run.started_at)],
    );
    out.gauge(
        "last_run_end_timestamp_seconds",
        "Unix time the last cleartokens run ended.",
        &[(None, run.ended_at)],
    );
    out.gauge(
        "last_success_timestamp_seconds",
        "Unix time the last cleartokens run that exited 0 ended (0: none yet).",
        &[(None, run.last_success())],
    );
    out.gauge(
        "exit_code",
        "Exit code of the last cleartokens run (0 done, 1 runtime failure, 2 usage, 3 lock held, 4 stopped early).",
        &[(None, f64::from(run.exit_code))],
    );
    out.gauge(
        "duration_seconds",
        "How long the last cleartokens run took.",
        &[(None, run.duration())],
    );
    out.gauge(
        "dry_run",
        "1 if the last cleartokens run was a dry run.",
        &[(None, if run.dry_run { 1.0 } else { 0.0 })],
    );
    if let Some(report) = run.report {
        render_report(&mut out, report);
    }
    out.text
}

/// The figures of a run that ran its steps, as its JSON summary has them.
fn render_report(out: &mut Exposition, report: &Report) {
    let per_step = |value: fn(&super::report::StepReport) -> u64| -> Vec<(Option<Label>, f64)> {
        report
            .steps
            .iter()
            .map(|step| (Some(step_label(step.name)), value(step) as f64))
            .collect()
    };
    out.gauge(
        "deleted_rows",
        "Rows the last cleartokens run deleted, per step.",
        &per_step(|step| step.deleted),
    );
    if report.dry_run {
        out.gauge(
            "would_delete_rows",
            "Rows the last dry run counted as deletable, per step.",
            &per_step(|step| step.would_delete.unwrap_or(0)),
        );
    }
    out.gauge(
        "batches",
        "Batches that found rows in the last cleartokens run.",
        &[(None, report.batches as f64)],
    );
    out.gauge(
        "retries",
        "Attempts the last cleartokens run repeated after a transient error or a lost connection.",
        &[(None, report.retries as f64)],
    );
    out.gauge(
        "longest_lock_seconds",
        "Longest write transaction (row locks held) of a batch in the last cleartokens run.",
        &[(None, report.longest_lock_seconds)],
    );
    let reasons = [
        StopReason::Completed,
        StopReason::MaxDuration,
        StopReason::Signal,
    ];
    let samples: Vec<_> = reasons
        .into_iter()
        .map(|reason| {
            let value = if reason == report.stop_reason {
                1.0
            } else {
                0.0
            };
            (Some(reason_label(reason)), value)
        })
        .collect();
    out.gauge(
        "stop_reason",
        "Why the last cleartokens run ended: 1 for its reason, 0 for the others.",
        &samples,
    );
    let used = report.dot_rules.rules;
    let samples: Vec<_> = Rules::ALL
        .into_iter()
        .map(|rules| {
            let value = if rules == used { 1.0 } else { 0.0 };
            (Some(("rules", rules.name().to_string())), value)
        })
        .collect();
    out.gauge(
        "dot_rules",
        "Whose clear_expired() rules the last cleartokens run followed (--dot-version names): 1 for those, 0 for the others.",
        &samples,
    );
}

/// One label pair of a sample.
type Label = (&'static str, String);

fn step_label(step: Step) -> Label {
    ("step", step_name(step))
}

fn reason_label(reason: StopReason) -> Label {
    let name = serde_json::to_value(reason)
        .ok()
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_default();
    ("reason", name)
}

/// The text being built.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn gauge(&mut self, name: &str, help: &str, samples: &[(Option<Label>, f64)]) {
        let name = format!("{PREFIX}{name}");
        // Writing to a String cannot fail.
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} gauge");
        for (label, value) in samples {
            let labels = label
                .as_ref()
                .map(|(key, value)| format!("{{{key}=\"{}\"}}", escape_label(value)))
                .unwrap_or_default();
            let _ = writeln!(self.text, "{name}{labels} {}", number(*value));
        }
    }
}

/// The exposition format's label value escapes (our values are plain names, but stay safe).
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A sample value: Rust's shortest round-trip form is valid in the format, except for the
/// non-finite values, which it spells differently.
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        value.to_string()
    }
}

/// [`LAST_SUCCESS`] from a metrics file's text, if it has a finite one.
pub fn previous_success(text: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(LAST_SUCCESS)?;
        // A sample line: the name, then a space (no labels on this gauge), then the value and
        // perhaps a timestamp.
        let value = rest.strip_prefix(' ')?.split_whitespace().next()?;
        value.parse::<f64>().ok().filter(|v| v.is_finite())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cleartokens::report::{StepReport, StepStatus};

    fn failed(exit_code: u8, previous_success: Option<f64>) -> RunRecord<'static> {
        RunRecord {
            started_at: 1_700_000_000.25,
            ended_at: 1_700_000_003.75,
            exit_code,
            dry_run: false,
            report: None,
            previous_success,
        }
    }

    /// The value of the sample line that starts with `series` (name and labels).
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn success_is_exit_0_only() {
        assert_eq!(failed(0, Some(5.0)).last_success(), 1_700_000_003.75);
        for code in [1, 2, 3, 4] {
            assert_eq!(failed(code, Some(5.0)).last_success(), 5.0);
            assert_eq!(failed(code, None).last_success(), 0.0);
        }
    }

    #[test]
    fn a_failed_run_has_the_run_level_gauges_only() {
        let text = render(&failed(1, Some(1_600_000_000.5)));
        assert_eq!(sample(&text, LAST_SUCCESS), Some(1_600_000_000.5));
        assert_eq!(sample(&text, "oauthctl_cleartokens_exit_code"), Some(1.0));
        assert_eq!(
            sample(&text, "oauthctl_cleartokens_duration_seconds"),
            Some(3.5)
        );
        assert_eq!(
            sample(
                &text,
                "oauthctl_cleartokens_last_run_start_timestamp_seconds"
            ),
            Some(1_700_000_000.25)
        );
        assert!(!text.contains("deleted_rows"), "{text}");
        assert!(!text.contains("stop_reason"), "{text}");
    }

    #[test]
    fn every_sample_has_help_and_type_before_it() {
        let text = render(&failed(0, None));
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert_eq!(kind, "gauge");
                declared.push(name.to_string());
            } else if !line.starts_with("# HELP ") {
                let name = line.split([' ', '{']).next().unwrap();
                assert_eq!(declared.last().map(String::as_str), Some(name), "{line}");
                assert!(name.starts_with(PREFIX));
            }
        }
        assert_eq!(declared.len(), 6);
    }

    #[test]
    fn the_previous_success_is_read_back() {
        let text = render(&failed(0, None));
        assert_eq!(previous_success(&text), Some(1_700_000_003.75));
        assert_eq!(previous_success(""), None);
        assert_eq!(previous_success("garbage\n"), None);
        // A longer name that starts with the same text is another metric.
        assert_eq!(previous_success(&format!("{LAST_SUCCESS}_x 7\n")), None);
        assert_eq!(previous_success(&format!("{LAST_SUCCESS} NaN\n")), None);
        assert_eq!(
            previous_success(&format!("{LAST_SUCCESS} 12 1000\n")),
            Some(12.0)
        );
    }

    #[test]
    fn stop_reason_is_one_hot_and_steps_are_labelled_as_in_json() {
        let mut step = StepReport::new(Step::ExpiredGrants, StepStatus::Partial);
        step.deleted = 7;
        step.batches = 1;
        let report = Report {
            now: String::new(),
            dry_run: false,
            dot_rules: crate::db::RulesInUse::choose(
                crate::db::DotVersion::Fixed(Rules::Dot2_3),
                "--dot-version",
                &crate::db::Detection::without_ledger(),
            )
            .0,
            cutoffs: crate::cleartokens::report::CutoffReport {
                refresh_revoked_at: None,
                refresh_expire_at: None,
                expires_before: String::new(),
            },
            settings: crate::cleartokens::report::SettingsReport {
                refresh_token_expire_seconds: None,
                refresh_token_grace_period_seconds: 0.0,
                refresh_token_reuse_protection: false,
                batch_size: 1,
                batch_interval_seconds: 0.0,
                max_duration_seconds: Some(1.0),
                lock_budget_seconds: None,
            },
            steps: vec![step],
            deleted_total: 7,
            would_delete_total: None,
            batches: 1,
            duration_seconds: 1.5,
            slowest_batch_seconds: 0.25,
            longest_lock_seconds: 0.125,
            retries: 2,
            stop_reason: StopReason::MaxDuration,
            mode: None,
        };
        let mut run = failed(4, None);
        run.report = Some(&report);
        let text = render(&run);
        let series = |s: &str| sample(&text, &format!("{PREFIX}{s}"));
        assert_eq!(series("deleted_rows{step=\"expired_grants\"}"), Some(7.0));
        assert_eq!(series("stop_reason{reason=\"max_duration\"}"), Some(1.0));
        assert_eq!(series("stop_reason{reason=\"completed\"}"), Some(0.0));
        assert_eq!(series("stop_reason{reason=\"signal\"}"), Some(0.0));
        assert_eq!(series("retries"), Some(2.0));
        assert_eq!(series("longest_lock_seconds"), Some(0.125));
        assert_eq!(series("duration_seconds"), Some(1.5), "the summary's");
        assert_eq!(series(&LAST_SUCCESS[PREFIX.len()..]), Some(0.0));
        assert!(!text.contains("would_delete_rows"), "not a dry run");
        assert_eq!(series("dot_rules{rules=\"2.3\"}"), Some(1.0));
        assert_eq!(series("dot_rules{rules=\"3.4.1\"}"), Some(0.0));
    }

    #[test]
    fn numbers_are_in_the_formats_spelling() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(1.5), "1.5");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
