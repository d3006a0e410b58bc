//! `oauthctl completions SHELL`: the shell completion script for bash, zsh, fish, elvish or
//! PowerShell on stdout, generated from the same clap definition that parses the command line, so
//! a subcommand or flag added anywhere is completed without touching this module.

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{Cli, GlobalArgs};
use crate::error::Outcome;
use crate::shell::Shell;

#[derive(clap::Args, Debug)]
#[command(after_help = "Install, e.g.: oauthctl completions bash > \
/usr/share/bash-completion/completions/oauthctl; \
oauthctl completions zsh > /usr/local/share/zsh/site-functions/_oauthctl; \
oauthctl completions fish > ~/.config/fish/completions/oauthctl.fish")]
pub struct Args {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub async fn run(_global: &GlobalArgs, args: Args, shell: &Shell) -> Result<Outcome> {
    shell.raw(&script(args.shell))?;
    Ok(Outcome::Done)
}

/// The completion script of `for_shell` for the whole command tree.
pub fn script(for_shell: clap_complete::Shell) -> Vec<u8> {
    let mut command = Cli::command();
    let name = command.get_name().to_string();
    let mut script = Vec::new();
    clap_complete::generate(for_shell, &mut command, name, &mut script);
    script
}
