//! The `oauthctl` binary: parse, set up logging and the runtime, run, print any error once, exit
//! with its documented code.

use clap::Parser;
use oauthctl::error::{self, exit};
use oauthctl::logging;

fn main() -> std::process::ExitCode {
    let cli = oauthctl::Cli::parse();
    let log_format = cli.global.log_format();
    logging::init(cli.global.verbose, log_format);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let message = format!("error: cannot start the async runtime: {e}");
            eprintln!("{}", logging::error_line(log_format, &message));
            return std::process::ExitCode::from(exit::RUNTIME);
        }
    };
    let result = runtime.block_on(oauthctl::run(cli));
    if let Err(error) = &result {
        eprintln!("{}", logging::error_line(log_format, &error::render(error)));
    }
    std::process::ExitCode::from(error::exit_code(&result))
}
