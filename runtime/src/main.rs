//! `quiesce`: run a streaming job on real worker processes, stop it four ways, restore it,
//! and verify that its output is exactly once.

use clap::{Parser, Subcommand};
use quiesce_core::WorkerId;
use quiesce_runtime::{admin, launch, verify, worker};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Exit codes.
const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_INTERNAL: u8 = 3;

#[derive(Parser)]
#[command(
    name = "quiesce",
    version,
    about = "Run a streaming job on real worker processes under the quiesce controller; stop it, restore it, verify it",
    after_help = "Exit codes: 0 the job ended Stopped or Finished (verify: exactly-once holds); \
1 the job Failed (verify: exactly-once is violated); 2 a usage, configuration or state-directory \
error; 3 an internal error (a file or socket the runtime needs failed).\n\n\
Logs go to stderr (RUST_LOG sets the filter, e.g. RUST_LOG=quiesce_runtime=debug); events to stdout."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a job: sources -> keyed count -> two-phase-commit file sink, on worker processes.
    ///
    /// SIGINT or SIGTERM asks a checkpoint stop; a second, an immediate stop; a third, a
    /// force stop; a fourth kills every worker and leaves.
    Run(launch::RunArgs),
    /// Ask the job running in a state directory to stop, and wait until it has.
    Stop {
        /// How to stop.
        #[arg(long, value_enum, default_value_t = launch::Mode::Checkpoint)]
        mode: launch::Mode,
        /// The running job's state directory.
        #[arg(long)]
        state_dir: PathBuf,
        /// Give up waiting after this long (default: the job's own stop bound, plus 5 s).
        #[arg(long, value_parser = humantime::parse_duration)]
        timeout: Option<Duration>,
    },
    /// Check that a state directory's committed output is exactly once: per source partition,
    /// the offsets missing and duplicated in the sinks, and keyed state against the records.
    Verify {
        /// The state directory.
        #[arg(long)]
        state_dir: PathBuf,
    },
    /// A worker process (started by `quiesce run` only).
    #[command(hide = true)]
    Worker {
        #[arg(long)]
        worker: u32,
        #[arg(long)]
        generation: u64,
        #[arg(long)]
        controller: std::net::SocketAddr,
        #[arg(long)]
        state_dir: PathBuf,
        /// The controller's pid: the worker leaves if its parent is already another.
        #[arg(long)]
        parent: u32,
    },
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    let log_args = match cli.log_format {
        LogFormat::Text => vec![],
        LogFormat::Json => vec!["--log-format".to_string(), "json".to_string()],
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::from(EXIT_INTERNAL);
        }
    };
    let local = tokio::task::LocalSet::new();
    match cli.command {
        Cmd::Run(args) => match local.block_on(&runtime, launch::run(args, log_args)) {
            Ok(code) => ExitCode::from(code),
            Err(launch::LaunchError::Usage(e)) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_USAGE)
            }
            Err(launch::LaunchError::Internal(e)) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_INTERNAL)
            }
        },
        Cmd::Stop {
            mode,
            state_dir,
            timeout,
        } => {
            ExitCode::from(local.block_on(&runtime, admin::stop(mode.into(), &state_dir, timeout)))
        }
        Cmd::Verify { state_dir } => {
            match verify::verify(&quiesce_runtime::store::StateDir::new(&state_dir)) {
                Ok(report) => {
                    println!("{report}");
                    if report.exactly_once() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(EXIT_FAILED)
                    }
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(EXIT_USAGE)
                }
            }
        }
        Cmd::Worker {
            worker: w,
            generation,
            controller,
            state_dir,
            parent,
        } => {
            if let Err(e) = worker::die_with_parent(parent) {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_INTERNAL);
            }
            let token = match std::env::var("QUIESCE_TOKEN")
                .map_err(|_| "QUIESCE_TOKEN is not set".to_string())
                .and_then(|t| quiesce_runtime::wire::Token::from_hex(&t))
            {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: {e} (workers are started by `quiesce run`)");
                    return ExitCode::from(EXIT_USAGE);
                }
            };
            let args = worker::WorkerArgs {
                worker: WorkerId(w),
                generation: quiesce_core::Generation(generation),
                controller,
                state_dir,
                token,
            };
            match local.block_on(&runtime, worker::run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "the worker ends");
                    ExitCode::from(EXIT_FAILED)
                }
            }
        }
    }
}
