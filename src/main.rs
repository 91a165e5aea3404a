use clap::Parser;
use mosip_partner_operator::cli::{self, Cli, Command};

// The image's static binary links musl, whose allocator serialises every allocation behind
// one lock: mimalloc takes ~40 % off the operator's CPU (docs/performance.md). Built without
// transparent huge pages (feature `no_thp`): with them the peak RSS doubled. glibc builds keep
// the system allocator.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc keeps freed pages resident for a while (1 s in mimalloc 3.3) in case they are
/// reused. The operator frees in bursts — a listing's response, a reconcile wave's buffers — and
/// the pages it kept after a burst showed as resident memory it no longer used: at 10,000
/// partners the same binary held 99 MiB converged and 149 MiB after a restart, against 89 and
/// 103 MiB with freed pages returned at once (docs/performance.md, eighth round).
/// `MIMALLOC_PURGE_DELAY` in the environment still decides.
#[cfg(target_env = "musl")]
mod allocator {
    use std::ffi::{c_int, c_long};

    unsafe extern "C" {
        fn mi_option_set(option: c_int, value: c_long);
    }

    /// `mi_option_purge_delay` in mimalloc 3's `mi_option_t`: the C source libmimalloc-sys
    /// 0.1.49 (pinned in Cargo.lock) vendors, `c_src/mimalloc/v3/include/mimalloc.h`; mimalloc
    /// keeps retired options in place as `deprecated_*`, so the number does not move.
    const PURGE_DELAY: c_int = 15;

    pub fn return_freed_pages_at_once() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: a plain C call on mimalloc's option table, which takes any option number and
        // value.
        unsafe { mi_option_set(PURGE_DELAY, 0) }
    }
}

#[tokio::main]
async fn main() {
    #[cfg(target_env = "musl")]
    allocator::return_freed_pages_at_once();
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
