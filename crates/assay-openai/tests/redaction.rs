//! Secrets never reach a message: every error path of the client, with a user name and
//! password in the base URL and an API key that the server repeats back, must show
//! neither. A scripted server (one canned answer per path) drives each path.

use assay_core::{ApiKey, GenerateRequest, LanguageModel, ModelError};
use assay_openai::{ClientConfig, ClientError, GenerationApi, OpenAiModel};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

const USER: &str = "alice-the-user";
const PASSWORD: &str = "pa55-W0RD-secret";
const KEY: &str = "sk-SECRET-key-0042";
const SECRETS: [&str; 3] = [USER, PASSWORD, KEY];

/// What the scripted server answers on a path: status line and body, or silence.
#[derive(Clone)]
enum Reply {
    Answer(&'static str, String),
    /// Keep the connection open without answering.
    Hang,
}

/// A server that answers each request by `route(method, path)`, until the test ends.
fn serve(route: impl Fn(&str, &str) -> Reply + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let route = std::sync::Arc::new(route);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let route = route.clone();
            std::thread::spawn(move || answer(stream, &*route));
        }
    });
    port
}

fn answer(mut stream: TcpStream, route: &dyn Fn(&str, &str) -> Reply) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    match route(method, path.trim_start_matches("/v1")) {
        Reply::Answer(status, body) => {
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
        Reply::Hang => std::thread::sleep(Duration::from_secs(5)),
    }
}

fn models(id: &str) -> Reply {
    Reply::Answer(
        "200 OK",
        format!(r#"{{"object":"list","data":[{{"id":"{id}","object":"model"}}]}}"#),
    )
}

/// An error body that repeats the key and the credentials, as careless servers do.
fn echoing(status: &'static str) -> Reply {
    Reply::Answer(
        status,
        format!(
            r#"{{"error":{{"message":"failed for key {KEY} (user {USER}, password {PASSWORD})"}}}}"#
        ),
    )
}

fn config(port: u16) -> ClientConfig {
    let mut c = ClientConfig::new(format!("http://{USER}:{PASSWORD}@127.0.0.1:{port}/v1"), "m");
    c.api_key = ApiKey::new(KEY);
    c.max_retries = 2;
    c.attempt_timeout = Duration::from_millis(300);
    c.request_deadline = Duration::from_secs(3);
    c.initial_backoff = Duration::from_millis(1);
    c.max_backoff = Duration::from_millis(5);
    c
}

fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(
            !text.contains(secret),
            "{what}: `{secret}` leaked in: {text}"
        );
    }
}

fn connect_error(what: &str, c: ClientConfig) -> ClientError {
    let e = OpenAiModel::connect(c, None)
        .err()
        .unwrap_or_else(|| panic!("{what}: connected"));
    assert_clean(what, &format!("{e} | {e:?}"));
    e
}

/// A model that connects (chat only, no model list), then fails generating.
fn generate_error(what: &str, reply: Reply, tune: impl FnOnce(&mut ClientConfig)) -> ModelError {
    let port = serve(move |_, path| match path {
        "/models" => models("m"),
        "/chat/completions" => reply.clone(),
        _ => Reply::Answer("404 Not Found", "{}".into()),
    });
    let mut c = config(port);
    c.generation_api = GenerationApi::Chat;
    tune(&mut c);
    let model = OpenAiModel::connect(c, None).unwrap();
    let e = model
        .generate(&[GenerateRequest {
            context: "hi".into(),
            until: vec![],
            max_tokens: 4,
            temperature: 0.0,
            seed: None,
        }])
        .unwrap_err();
    assert_clean(what, &format!("{e} | {e:?}"));
    assert_clean(what, &format!("{:?}", model.identity()));
    e
}

#[test]
fn no_client_error_shows_a_secret() {
    // Not a URL at all.
    let mut c = config(1);
    c.base_url = format!("http://{USER}:{PASSWORD}@exa mple/v1");
    let e = connect_error("invalid url", c);
    assert!(matches!(e, ClientError::Unreachable { .. }), "{e}");

    // Nothing listens: the connection error names the URL (reqwest puts it whole).
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let e = connect_error("connection refused", config(port));
    assert!(matches!(e, ClientError::Unreachable { .. }), "{e}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");

    // The key is refused, and the server repeats it.
    let port = serve(|_, _| echoing("401 Unauthorized"));
    let e = connect_error("wrong key", config(port));
    assert!(matches!(e, ClientError::Unauthorized { .. }), "{e}");

    // No such model.
    let port = serve(|_, _| models("other"));
    let e = connect_error("unknown model", config(port));
    assert!(matches!(e, ClientError::UnknownModel { .. }), "{e}");

    // A refused probe that is not about the key: a permanent refusal.
    let port = serve(|_, path| match path {
        "/models" => models("m"),
        _ => echoing("403 Forbidden"),
    });
    let e = connect_error("forbidden", config(port));
    assert!(
        matches!(e, ClientError::Unauthorized { status: 403, .. }),
        "{e}"
    );
}

#[test]
fn no_model_error_shows_a_secret() {
    // A request the server refuses.
    let e = generate_error("refused", echoing("422 Unprocessable Entity"), |_| {});
    assert!(matches!(e, ModelError::Fatal { .. }), "{e}");
    assert!(!e.is_resumable());

    // An answer without choices breaks the protocol.
    let e = generate_error(
        "protocol",
        Reply::Answer("200 OK", r#"{"choices":[]}"#.into()),
        |_| {},
    );
    assert!(e.to_string().contains("no choices"), "{e}");

    // A server that keeps failing: retries run out; resumable.
    let e = generate_error("5xx", echoing("500 Internal Server Error"), |_| {});
    assert!(e.is_resumable(), "{e}");
    assert!(e.to_string().contains("gave up after"), "{e}");

    // Answers that are not JSON.
    let e = generate_error(
        "malformed",
        Reply::Answer("200 OK", format!("{{\"choices\": [{KEY}")),
        |_| {},
    );
    assert!(e.is_resumable(), "{e}");

    // A server that never answers: the deadline passes; resumable.
    let e = generate_error("deadline", Reply::Hang, |c| {
        c.max_retries = 100;
        c.request_deadline = Duration::from_millis(900);
    });
    assert!(e.is_resumable(), "{e}");
    assert!(e.to_string().contains("deadline"), "{e}");
}
