//! Which DOT release made a database, read from Django's `django_migrations` ledger, and the
//! [`Rules`] a run follows: the detected release's, or the one `--dot-version` names.
//!
//! The latest applied `oauth2_provider` migration decides, because each release line ships its
//! own migrations (docs/compatibility.md#which-release-a-database-is): a schema cannot be older
//! than the last migration applied to it, and an upgrade of the code without `migrate` still runs
//! the old tables. A database without the ledger was made by `oauthctl migrate`, whose schema is
//! 3.4.1's.

use anyhow::{bail, Result};

use super::predicates::Rules;
use crate::error::Failure;

/// Django's migration ledger (its name is not configurable).
pub const DJANGO_MIGRATIONS: &str = "django_migrations";

/// DOT's app label in the ledger.
pub const DOT_APP: &str = "oauth2_provider";

/// The newest migration oauthctl knows (3.4.1's last).
const NEWEST_KNOWN: u32 = 22;

/// The release line a migration number belongs to (the release that added it), and its rules.
/// Numbers from each release's wheel (`oauth2_provider/migrations/`).
fn release_of(number: u32) -> (&'static str, Rules) {
    match number {
        0..=5 => ("before 2.0", Rules::Dot2_0),
        6 => ("2.0-2.2", Rules::Dot2_0),
        7 => ("2.3", Rules::Dot2_3),
        8..=10 => ("2.4", Rules::Dot2_3),
        11..=12 => ("3.0-3.1", Rules::Dot2_3),
        13 => ("3.2", Rules::Dot2_3),
        14 => ("3.3", Rules::Dot2_3),
        15..=20 => ("3.4.0", Rules::Dot3_4_0),
        21..=NEWEST_KNOWN => ("3.4.1", Rules::Dot3_4_1),
        _ => ("newer than 3.4.1", Rules::Dot3_4_1),
    }
}

/// A migration name's leading number (`0014_alter_help_text` → 14).
fn migration_number(name: &str) -> Option<u32> {
    let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// What the ledger says about a database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detection {
    /// The release line, e.g. `3.3`, or `3.4.1` when nothing was found.
    pub release: &'static str,
    pub rules: Rules,
    /// The latest applied `oauth2_provider` migration; `None`: no ledger or no DOT row in it.
    pub migration: Option<String>,
    /// Whether the ledger exists.
    pub ledger: bool,
}

impl Detection {
    /// No `django_migrations` table: a database made by `oauthctl migrate` (3.4.1's schema).
    pub fn without_ledger() -> Detection {
        Detection {
            release: "3.4.1",
            rules: Rules::Dot3_4_1,
            migration: None,
            ledger: false,
        }
    }

    /// From the names of the applied `oauth2_provider` migrations (any order).
    pub fn from_migrations(names: &[String]) -> Detection {
        let latest = names
            .iter()
            .filter_map(|name| Some((migration_number(name)?, name)))
            .max();
        match latest {
            Some((number, name)) => {
                let (release, rules) = release_of(number);
                Detection {
                    release,
                    rules,
                    migration: Some(name.clone()),
                    ledger: true,
                }
            }
            None => Detection {
                ledger: true,
                ..Detection::without_ledger()
            },
        }
    }

    /// Where the release came from, for the summary: `django_migrations: 0014_alter_help_text`.
    pub fn source(&self) -> String {
        match (&self.migration, self.ledger) {
            (Some(name), _) => format!("{DJANGO_MIGRATIONS}: {name}"),
            (None, true) => format!("{DJANGO_MIGRATIONS}: no {DOT_APP} migration"),
            (None, false) => format!("no {DJANGO_MIGRATIONS} table"),
        }
    }

    /// The warning a detection itself deserves: a schema newer or older than any release
    /// oauthctl has rules for.
    pub fn warning(&self) -> Option<String> {
        let name = self.migration.as_deref()?;
        let number = migration_number(name)?;
        if number > NEWEST_KNOWN {
            Some(format!(
                "warning: {DJANGO_MIGRATIONS} has {DOT_APP} migration {name}, newer than DOT 3.4.1's; using 3.4.1's cleanup rules"
            ))
        } else if number < 6 {
            Some(format!(
                "warning: {DJANGO_MIGRATIONS} has {DOT_APP} migration {name}, older than DOT 2.0's; using 2.0's cleanup rules (the same as 1.7's)"
            ))
        } else {
            None
        }
    }
}

/// `--dot-version`: `auto`, or the rule set to apply whatever the database says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DotVersion {
    Auto,
    Fixed(Rules),
}

impl DotVersion {
    /// Parses the option's text; `what` names the flag or variable in the error.
    pub fn parse(text: &str, what: &str) -> Result<DotVersion> {
        let text = text.trim();
        if text.is_empty() || text == "auto" {
            return Ok(DotVersion::Auto);
        }
        match Rules::from_name(text).or_else(|| rules_of_release(text)) {
            Some(rules) => Ok(DotVersion::Fixed(rules)),
            None => bail!(Failure::Usage(format!(
                "{what} must be auto, 2.0, 2.3, 3.4.0 or 3.4.1 (or a release from 2.0.0 to 3.4.1: 2.0 covers 2.0-2.2, 2.3 covers 2.3-3.3): got {}",
                crate::django::repr::repr_str(text)
            ))),
        }
    }
}

/// The rule set of a release named `major.minor[.patch]` (`2.4`, `3.3.0`); 3.4 needs its patch.
fn rules_of_release(text: &str) -> Option<Rules> {
    let mut parts = text.split('.');
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    let patch: Option<u32> = match parts.next() {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    if parts.next().is_some() {
        return None;
    }
    match (major, minor, patch) {
        (2, 0..=2, _) => Some(Rules::Dot2_0),
        (2, 3..=4, _) | (3, 0..=3, _) => Some(Rules::Dot2_3),
        (3, 4, Some(0)) => Some(Rules::Dot3_4_0),
        (3, 4, Some(1)) => Some(Rules::Dot3_4_1),
        _ => None,
    }
}

/// The rules a run follows, with where they came from (the JSON summary's `dot_rules`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RulesInUse {
    /// The rule set (`--dot-version`'s names).
    #[serde(serialize_with = "rules_name")]
    pub rules: Rules,
    /// The release line they stand for: the detected one, or the flag's releases.
    pub release: String,
    /// `django_migrations: <name>`, `no django_migrations table`, or the flag or variable.
    pub source: String,
    /// What the ledger said, when a flag overrode it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detected: Option<String>,
}

fn rules_name<S: serde::Serializer>(rules: &Rules, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(rules.name())
}

impl Default for RulesInUse {
    fn default() -> Self {
        RulesInUse::detected(&Detection::without_ledger())
    }
}

impl RulesInUse {
    /// The detected release's rules.
    pub fn detected(detection: &Detection) -> RulesInUse {
        RulesInUse {
            rules: detection.rules,
            release: detection.release.to_string(),
            source: detection.source(),
            detected: None,
        }
    }

    /// The rules `requested` (from `what`, the flag or variable) and the detection select,
    /// with the warnings to print: at most one for the detection, one for a flag that
    /// disagrees with the ledger.
    pub fn choose(
        requested: DotVersion,
        what: &str,
        detection: &Detection,
    ) -> (RulesInUse, Vec<String>) {
        let mut warnings: Vec<String> = detection.warning().into_iter().collect();
        let DotVersion::Fixed(rules) = requested else {
            return (RulesInUse::detected(detection), warnings);
        };
        let disagrees = detection.migration.is_some() && detection.rules != rules;
        if disagrees {
            warnings = vec![format!(
                "warning: {what} {} disagrees with the database ({}, DOT {}, whose rules are {}); using {}'s rules as asked",
                rules.name(),
                detection.source(),
                detection.release,
                detection.rules.name(),
                rules.name()
            )];
        }
        let chosen = RulesInUse {
            rules,
            release: rules.releases().to_string(),
            source: what.to_string(),
            detected: detection
                .migration
                .is_some()
                .then(|| format!("{} ({})", detection.release, detection.source())),
        };
        (chosen, warnings)
    }

    /// One line for the text output: `DOT 3.3 cleanup rules (2.3's; django_migrations: 0014_…)`.
    pub fn describe(&self) -> String {
        format!(
            "DOT {} cleanup rules ({}'s; {})",
            self.release,
            self.rules.name(),
            self.source
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn latest_migration_picks_the_release() {
        let cases = [
            ("0005_auto_20211222_2352", "before 2.0", Rules::Dot2_0),
            (
                "0006_alter_application_client_secret",
                "2.0-2.2",
                Rules::Dot2_0,
            ),
            (
                "0007_application_post_logout_redirect_uris",
                "2.3",
                Rules::Dot2_3,
            ),
            ("0010_application_allowed_origins", "2.4", Rules::Dot2_3),
            ("0012_add_token_checksum", "3.0-3.1", Rules::Dot2_3),
            (
                "0013_alter_application_authorization_grant_type_device",
                "3.2",
                Rules::Dot2_3,
            ),
            ("0014_alter_help_text", "3.3", Rules::Dot2_3),
            ("0015_refreshtoken_token_checksum", "3.4.0", Rules::Dot3_4_0),
            ("0020_cimd_application_fields", "3.4.0", Rules::Dot3_4_0),
            ("0021_translatable_field_labels", "3.4.1", Rules::Dot3_4_1),
            (
                "0022_refreshtoken_token_family_index",
                "3.4.1",
                Rules::Dot3_4_1,
            ),
            ("0023_something_new", "newer than 3.4.1", Rules::Dot3_4_1),
        ];
        for (latest, release, rules) in cases {
            // The ledger's order is not the migrations' order.
            let d = Detection::from_migrations(&names(&[latest, "0001_initial", "0002_auto"]));
            assert_eq!((d.release, d.rules), (release, rules), "{latest}");
            assert_eq!(d.migration.as_deref(), Some(latest));
            assert_eq!(d.source(), format!("django_migrations: {latest}"));
        }
    }

    #[test]
    fn warnings_for_unknown_schemas_only() {
        let d = |n: &str| Detection::from_migrations(&names(&[n]));
        assert!(d("0023_x")
            .warning()
            .unwrap()
            .contains("newer than DOT 3.4.1's"));
        assert!(d("0004_x")
            .warning()
            .unwrap()
            .contains("older than DOT 2.0's"));
        assert_eq!(d("0014_alter_help_text").warning(), None);
        assert_eq!(d("0022_x").warning(), None);
        assert_eq!(Detection::without_ledger().warning(), None);
        let empty = Detection::from_migrations(&[]);
        assert_eq!(empty.rules, Rules::Dot3_4_1);
        assert_eq!(
            empty.source(),
            "django_migrations: no oauth2_provider migration"
        );
        assert_eq!(
            Detection::without_ledger().source(),
            "no django_migrations table"
        );
    }

    #[test]
    fn a_flag_wins_and_warns_once_when_it_disagrees() {
        let d = Detection::from_migrations(&names(&["0014_alter_help_text"]));
        let (auto, warnings) = RulesInUse::choose(DotVersion::Auto, "--dot-version", &d);
        assert_eq!(auto.rules, Rules::Dot2_3);
        assert_eq!(auto.release, "3.3");
        assert!(warnings.is_empty());
        let fixed = DotVersion::Fixed(Rules::Dot3_4_1);
        let (chosen, warnings) = RulesInUse::choose(fixed, "--dot-version", &d);
        assert_eq!(chosen.rules, Rules::Dot3_4_1);
        assert_eq!(chosen.source, "--dot-version");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("disagrees"), "{}", warnings[0]);
        let (_, agreeing) =
            RulesInUse::choose(DotVersion::Fixed(Rules::Dot2_3), "--dot-version", &d);
        assert!(agreeing.is_empty());
        let (_, no_ledger) =
            RulesInUse::choose(fixed, "--dot-version", &Detection::without_ledger());
        assert!(no_ledger.is_empty());
    }

    #[test]
    fn dot_version_parses_the_rule_set_names() {
        assert_eq!(DotVersion::parse("auto", "x").unwrap(), DotVersion::Auto);
        assert_eq!(DotVersion::parse("", "x").unwrap(), DotVersion::Auto);
        for rules in Rules::ALL {
            assert_eq!(
                DotVersion::parse(rules.name(), "x").unwrap(),
                DotVersion::Fixed(rules)
            );
        }
        let fixed = |t| DotVersion::parse(t, "x").unwrap();
        assert_eq!(fixed("2.2.0"), DotVersion::Fixed(Rules::Dot2_0));
        assert_eq!(fixed("2.4"), DotVersion::Fixed(Rules::Dot2_3));
        assert_eq!(fixed("3.3.0"), DotVersion::Fixed(Rules::Dot2_3));
        for bad in ["3.4", "3.5.0", "1.7", "latest", "2.x", "3.4.1.1"] {
            let e = DotVersion::parse(bad, "--dot-version")
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("--dot-version must be auto, 2.0, 2.3, 3.4.0 or 3.4.1"),
                "{e}"
            );
        }
    }
}
