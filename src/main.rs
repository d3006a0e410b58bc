//! The `oauthctl` binary: parse, set up logging and the runtime, run, print any error once, exit
//! with its documented code.

use clap::Parser;
use oauthctl::error::{self, exit};

fn main() -> std::process::ExitCode {
    let cli = oauthctl::Cli::parse();
    init_logging(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(exit::RUNTIME);
        }
    };
    let result = runtime.block_on(oauthctl::run(cli));
    if let Err(error) = &result {
        eprintln!("{}", error::render(error));
    }
    std::process::ExitCode::from(error::exit_code(&result))
}

/// Tracing on stderr: `RUST_LOG` if set, else warn/info/debug/trace by `-v` count.
fn init_logging(verbose: u8) {
    // sqlx logs every statement over 1 s at WARN, SQL text included: long cleanup counts
    // would flood stderr, so its query log only shows from -vv on.
    let default = match verbose {
        0 => "warn,sqlx::query=error",
        1 => "oauthctl=info,warn,sqlx::query=error",
        2 => "oauthctl=debug,info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
