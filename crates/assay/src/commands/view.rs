//! `assay view` (a local read-only viewer over a results folder) and `assay report` (one
//! run's page as a self-contained file).

use anyhow::{Context, Result, bail};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

const VIEW_EXAMPLES: &str = "\
Examples:
  # Every run under results/, in the browser at the printed link
  assay view

  # Another folder, on a fixed port
  assay view runs/ --port 8766";

const REPORT_EXAMPLES: &str = "\
Examples:
  # An evaluation's page as one file (no network needed to open it)
  assay report results/SmolLM2-135M-Instruct.Q4_1-arc_easy-first100-20261201T180000 --out report.html

  # A pipeline's funnel, or an A/B analysis folder written with --out
  assay report results/pipeline-release --out release.html";

#[derive(Args)]
#[command(after_help = VIEW_EXAMPLES)]
pub(crate) struct ViewArgs {
    /// The results folder (runs are looked for up to four levels down).
    #[arg(default_value = "results")]
    dir: PathBuf,
    /// Address to listen on (local only by default).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 8765)]
    port: u16,
}

#[derive(Args)]
#[command(after_help = REPORT_EXAMPLES)]
pub(crate) struct ReportArgs {
    /// A run's folder.
    dir: PathBuf,
    /// The HTML file to write (atomically).
    #[arg(long)]
    out: PathBuf,
}

pub(crate) fn view(args: ViewArgs) -> Result<ExitCode> {
    if !args.dir.is_dir() {
        bail!(
            "{}: no such folder (give the results folder to look at)",
            args.dir.display()
        );
    }
    let viewer = Arc::new(assay_view::Viewer {
        root: args.dir.clone(),
    });
    super::serve_http(assay_view::router(viewer), &args.host, args.port, |addr| {
        let shown = super::link_address(addr);
        // Best effort: a reader that stopped reading must not stop the server.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "http://{shown}/");
        let _ = out.flush();
        eprintln!("viewing {} (read-only; Ctrl-C stops)", args.dir.display());
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn report(args: ReportArgs) -> Result<ExitCode> {
    let page = assay_view::report(&args.dir)?;
    assay_rundir::write_atomic(&args.out, page.as_bytes())
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
