//! `oauthctl manpages DIR`: roff man pages in DIR — `oauthctl.1` and `oauthctl-<sub>.1` for each
//! subcommand (nested ones as `oauthctl-<sub>-<subsub>.1`). The pages come from walking the clap
//! command tree at run time rather than from a list, so a subcommand added later gets its page
//! without a change here. Generated on demand, not at build time: a `build.rs` would have to
//! compile the whole CLI definition twice, and packagers call this once when they stage files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::{Cli, GlobalArgs};
use crate::error::Outcome;
use crate::shell::Shell;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Prints the path of each page written. View one with `man -l DIR/oauthctl.1`; \
install with e.g. `oauthctl manpages /usr/local/share/man/man1`."
)]
pub struct Args {
    /// Folder to write the pages into (created if missing; existing pages are replaced)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// One rendered man page.
pub struct Page {
    /// File name, e.g. `oauthctl-cleartokens.1`.
    pub file_name: String,
    /// The roff source.
    pub roff: Vec<u8>,
}

pub async fn run(_global: &GlobalArgs, args: Args, shell: &Shell) -> Result<Outcome> {
    let pages = pages()?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating the man page folder {}", args.dir.display()))?;
    for page in &pages {
        let path = write_page(&args.dir, page)?;
        shell.out(path.display())?;
    }
    Ok(Outcome::Done)
}

/// Every page of the command tree: the top-level command first, then each visible subcommand.
pub fn pages() -> Result<Vec<Page>> {
    // Without clap's implicit `help` subcommand there is no page for it: `--help` covers it.
    let mut command = Cli::command().disable_help_subcommand(true);
    // Building gives each subcommand its display name (`oauthctl-cleartokens`) and the
    // global options, so every page names itself right and lists them.
    command.build();
    let mut pages = Vec::new();
    collect(&command, &mut pages)?;
    Ok(pages)
}

fn collect(command: &clap::Command, pages: &mut Vec<Page>) -> Result<()> {
    let man = clap_mangen::Man::new(command.clone());
    let mut roff = Vec::new();
    man.render(&mut roff)
        .with_context(|| format!("rendering the man page of {}", command.get_name()))?;
    pages.push(Page {
        file_name: man.get_filename(),
        roff,
    });
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        collect(sub, pages)?;
    }
    Ok(())
}

/// Writes one page into `dir` through a temporary file and a rename, so a reader (or `man`)
/// never sees half a page; returns its path.
fn write_page(dir: &Path, page: &Page) -> Result<PathBuf> {
    let path = dir.join(&page.file_name);
    let partial = dir.join(format!(".{}.partial", page.file_name));
    std::fs::write(&partial, &page.roff)
        .with_context(|| format!("writing the man page {}", partial.display()))?;
    std::fs::rename(&partial, &path)
        .with_context(|| format!("moving the man page into place as {}", path.display()))?;
    Ok(path)
}
