//! Helpers shared by the binary's integration tests.

#![allow(dead_code)]

pub(crate) mod experiment;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `assay` binary under test, ready for arguments.
pub(crate) fn command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_assay"))
}

/// Runs `assay ARGS` to completion.
pub(crate) fn assay(args: &[&str]) -> Output {
    command().args(args).output().expect("assay runs")
}

/// Standard error as text.
pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Standard output as text.
pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The benchmark data (`../shared/data` beside the repository; `ASSAY_SHARED_DATA`
/// overrides).
pub(crate) fn data_dir() -> PathBuf {
    std::env::var_os("ASSAY_SHARED_DATA").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
        PathBuf::from,
    )
}

/// Runs `assay eval` on the shared data, writing under `out`, with `extra` arguments.
pub(crate) fn eval(out: &Path, extra: &[&str]) -> Output {
    let data = data_dir();
    let mut args = vec![
        "eval",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    assay(&args)
}

/// The single finished run directory under `out`.
pub(crate) fn run_dir(out: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("results.json").exists())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

/// The Chromium binary for browser tests: `ASSAY_CHROMIUM`, else the first on PATH
/// (`scripts/test` installs it).
pub(crate) fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("ASSAY_CHROMIUM") {
        return PathBuf::from(p);
    }
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        if let Ok(o) = std::process::Command::new("which").arg(name).output()
            && o.status.success()
        {
            return PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
        }
    }
    panic!(
        "no Chromium found: scripts/test installs it (apt-get install chromium), or set ASSAY_CHROMIUM"
    );
}

/// A headless Chromium driven over the DevTools protocol.
pub(crate) fn browser() -> headless_chrome::Browser {
    headless_chrome::Browser::new(
        headless_chrome::LaunchOptions::default_builder()
            .path(Some(chromium()))
            .sandbox(false)
            .headless(true)
            .idle_browser_timeout(std::time::Duration::from_secs(120))
            .build()
            .unwrap(),
    )
    .unwrap()
}

/// Collects what a page reports as an error: console messages at error level (a
/// content-security violation among them) and uncaught exceptions. Call before loading.
pub(crate) fn console_errors(
    tab: &headless_chrome::Tab,
) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use headless_chrome::protocol::cdp::Log::LogEntryLevel;
    use headless_chrome::protocol::cdp::types::Event;
    tab.enable_log().unwrap().enable_runtime().unwrap();
    let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&errors);
    tab.add_event_listener(std::sync::Arc::new(move |event: &Event| match event {
        Event::LogEntryAdded(e) if e.params.entry.level == LogEntryLevel::Error => {
            sink.lock().unwrap().push(e.params.entry.text.clone());
        }
        Event::RuntimeExceptionThrown(e) => {
            sink.lock()
                .unwrap()
                .push(e.params.exception_details.text.clone());
        }
        _ => {}
    }))
    .unwrap();
    errors
}

/// A screenshot of the tab as PNG, checked to be a real, non-blank picture: a page of one
/// colour compresses to a few kilobytes.
pub(crate) fn screenshot(tab: &headless_chrome::Tab, name: &str) -> Vec<u8> {
    use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 20_000,
        "{name}: a blank page compresses to almost nothing: {} bytes",
        png.len()
    );
    if let Some(keep) = std::env::var_os("ASSAY_TEST_ARTIFACTS") {
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::write(PathBuf::from(keep).join(format!("{name}.png")), &png).unwrap();
    }
    png
}

/// An `assay view` server on a free port, stopped when dropped.
pub(crate) struct Viewer {
    child: std::process::Child,
    /// Its link, as printed (`http://127.0.0.1:PORT/`).
    pub url: String,
}

impl Drop for Viewer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `assay view DIR --port 0`.
pub(crate) fn view(dir: &Path) -> Viewer {
    use std::io::BufRead;
    let mut child = command()
        .args(["view", dir.to_str().unwrap(), "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = std::io::BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    Viewer { child, url }
}
