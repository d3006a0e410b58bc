//! The `oauthctl` binary: parse, run, print any error once, exit with its documented code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = oauthctl::Cli::parse();
    oauthctl::init_logging(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(oauthctl::exit::RUNTIME);
        }
    };
    match runtime.block_on(oauthctl::run(cli)) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(error) => {
            let message = oauthctl::error_message(&error);
            // DOT's validation report is printed as DOT prints it; everything else is `error: …`.
            if message.starts_with(oauthctl::application::REPORT_HEADER) {
                eprintln!("{message}");
            } else {
                eprintln!("error: {message}");
            }
            std::process::ExitCode::from(oauthctl::exit_code_for(&error))
        }
    }
}
