//! A fixed-answer OpenAI-compatible server for measuring a client's own overhead: it
//! answers completions (with echo and logprobs, text or token-id prompts) and chat
//! instantly with made-up numbers. Benchmark use only (bench/client_overhead.sh).
//!
//!     cargo run --release -p assay-openai --example loopback_server -- [PORT]

#[path = "../tests/support/fake_server.rs"]
mod fake_server;

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let server = fake_server::FakeServer::start_on(port, fake_server::FakeConfig::default());
    eprintln!(
        "loopback server at {} (model `{}`)",
        server.url,
        fake_server::MODEL
    );
    loop {
        std::thread::sleep(std::time::Duration::from_secs(5));
        let n = server.requests.load(std::sync::atomic::Ordering::Relaxed);
        eprintln!("requests so far: {n}");
    }
}
