//! How many CPU threads a command uses.
//!
//! candle sizes its pools from `RAYON_NUM_THREADS` and reads it again for every matrix
//! product, so the count must be in the environment from the start. Changing a running
//! process's environment is unsound once threads exist, so a command given `--threads N`
//! starts itself again with the variable set (once: the new process finds it set) and
//! sizes rayon's global pool to match.

use anyhow::{Context, Result, bail};

/// The environment variable candle and rayon read.
const VARIABLE: &str = "RAYON_NUM_THREADS";

/// Uses `requested` threads (all cores when none) and returns the count. May not return:
/// the process is replaced by itself with the variable set.
pub(crate) fn use_threads(requested: Option<usize>) -> Result<usize> {
    let threads = match requested {
        Some(0) => bail!("--threads must be at least 1"),
        Some(n) => n,
        None => match std::env::var(VARIABLE).ok().and_then(|v| v.parse().ok()) {
            Some(n) if n > 0 => n,
            _ => std::thread::available_parallelism().map_or(1, |n| n.get()),
        },
    };
    if std::env::var(VARIABLE).ok() != Some(threads.to_string()) {
        restart_with(threads)?;
    }
    // candle's own pools read the variable; rayon's global pool is sized to match (an
    // error means it was already built, with the same variable).
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global();
    Ok(threads)
}

#[cfg(unix)]
fn restart_with(threads: usize) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().context("cannot find this program to set --threads")?;
    let error = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(VARIABLE, threads.to_string())
        .exec();
    Err(error).context("cannot restart with --threads set")
}

#[cfg(not(unix))]
fn restart_with(threads: usize) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find this program to set --threads")?;
    let status = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(VARIABLE, threads.to_string())
        .status()
        .context("cannot restart with --threads set")?;
    std::process::exit(status.code().unwrap_or(2));
}
