//! The `ripple` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ripple::config::{Config, LogFormat};
use ripple::server::{self, RunOptions};
use ripple_dataflows::runtime::{serve_member, Communication, RuntimeConfig};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// The engine allocates small rows at a high rate; mimalloc is several times cheaper per
/// allocation than glibc's malloc under that load (BENCHMARKS.md, engine profile).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Live Cypher queries over PostgreSQL logical replication.
#[derive(Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Run(RunArgs),
    /// Check a config file, compile its queries and print every problem.
    Validate {
        /// The config file.
        #[arg(long, short)]
        config: PathBuf,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// The config file.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Timely worker threads (in each process of a cluster).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: u16,
    /// Cluster mode: how many processes run the dataflows (timely's -n).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
    processes: u16,
    /// Cluster mode: this process's index (timely's -p). Process 0 runs sources, queries,
    /// reactions and the REST API; the others run workers only.
    #[arg(long, default_value_t = 0)]
    process: u16,
    /// Cluster mode: one host:port per line, in process order (timely's -h); default
    /// localhost:2101, localhost:2102, ...
    #[arg(long)]
    hostfile: Option<PathBuf>,
    /// Log line format; overrides the config's `log_format`.
    #[arg(long, value_enum)]
    log_format: Option<LogFormatArg>,
}

/// `--log-format`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormatArg {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Validate { config }) => validate(&config),
        Some(Command::Run(args)) => run(args),
        None => run(cli.run),
    }
}

fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|errors| {
        eprintln!("{errors}");
        ExitCode::from(2)
    })
}

/// Loads the file and compiles every query, printing every problem found, each located.
fn validate(path: &std::path::Path) -> ExitCode {
    let compile =
        |text: &str| ripple_dataflows::compile(text).map(drop).map_err(|e| e.render(text));
    match Config::load_checked(path, Some(&compile)) {
        Ok(config) => {
            println!("{}", config.summary());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::from(2)
        }
    }
}

fn run(args: RunArgs) -> ExitCode {
    let Some(path) = args.config else {
        eprintln!("error: --config FILE is required (see ripple --help)");
        return ExitCode::from(2);
    };
    let config = match load(&path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let format = match args.log_format {
        Some(LogFormatArg::Text) => LogFormat::Text,
        Some(LogFormatArg::Json) => LogFormat::Json,
        None => config.log_format,
    };
    let communication = match ripple::cluster::communication(
        usize::from(args.processes),
        usize::from(args.process),
        args.hostfile.as_deref(),
    ) {
        Ok(communication) => communication,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config.log_level, format);
    // A panic on any thread (a timely worker's, or timely's network threads when another
    // process of the cluster dies) would leave the other workers waiting forever: the panic
    // hook runs on the panicking thread before it unwinds, so exit from there, and let a
    // supervisor restart the process.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        tracing::error!(message = "A thread panicked; exiting.", panic = %info);
        std::process::exit(70);
    }));
    let workers = usize::from(args.workers);
    if let Communication::Cluster { process: process @ 1.., addresses } = &communication {
        tracing::info!(
            message = "Cluster member: running dataflow workers only.",
            process,
            processes = addresses.len(),
            workers
        );
        return match serve_member(RuntimeConfig { workers }, communication.clone()) {
            Ok(()) => {
                tracing::info!(message = "Shut down by process 0.");
                ExitCode::SUCCESS
            }
            Err(error) => {
                tracing::error!(message = "Cluster member stopped with an error.", %error);
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let options = RunOptions { workers, communication };
    let result = runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(server::cancel_on_signal(shutdown.clone()));
        server::run(config, options, shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(
                message = "ripple stopped with an error.",
                error = format!("{error:#}")
            );
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `log_level` from the config; `RUST_LOG` overrides it. JSON lines carry the same fields,
/// flattened, for log collectors.
fn init_logging(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!("{level},tower_http=warn,pgwire_replication=warn"))
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
