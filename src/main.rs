use clap::Parser;
use mosip_partner_operator::cli::{self, Cli, Command};

// The image's static binary links musl, whose allocator serialises every allocation behind
// one lock: mimalloc takes ~40 % off the operator's CPU (docs/performance.md). Built without
// transparent huge pages (feature `no_thp`): with them the peak RSS doubled. glibc builds keep
// the system allocator.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let code = match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Run(args) => cli::run::run(&args).await,
        Command::Crd => {
            print!("{}", mosip_partner_operator::api::all_crds_yaml()?);
            Ok(0)
        }
        Command::Approve(args) => cli::approve::run(&args, true).await,
        Command::Deny(args) => cli::approve::run(&args, false).await,
        Command::Rotate(args) => cli::rotate::run(&args).await,
        Command::Verify(args) => Ok(cli::verify::run(&args)),
    }
}
