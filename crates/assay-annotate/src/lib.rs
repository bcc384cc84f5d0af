//! `assay annotate`: a local web page where people compare two anonymous answers to a
//! prompt (from a side-by-side run directory) and pick the better one.
//!
//! Each annotator has an access token (printed once as a URL; kept in the store so the
//! command can print it again). Each sees every comparison once, in an order and with
//! left/right sides drawn from their own seed, so position effects average out. Every
//! vote is committed to SQLite (`annotations.sqlite` in the run directory, WAL,
//! synchronous=FULL) before the page shows the next item, so a crash loses nothing.
//! Votes export as an arena-style battle log for `assay rank`, and agreement between
//! annotators and between the LLM judge and people is computed from the store.

pub mod agreement;
pub mod store;

use assay_arena::run::Saved;
use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use store::Store;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("annotation store `{path}`: {source}")]
    Store {
        path: std::path::PathBuf,
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Run(#[from] assay_arena::Error),
    #[error("{0}")]
    Invalid(String),
}

/// One comparison: a prompt and two contestants (`x` < `y` in run order).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: String,
    pub prompt_id: String,
    pub prompt: String,
    pub x: String,
    pub y: String,
    pub answer_x: String,
    pub answer_y: String,
}

fn digest(parts: &[&str]) -> [u8; 32] {
    let mut bytes = Vec::new();
    for p in parts {
        bytes.extend_from_slice(p.as_bytes());
        bytes.push(0);
    }
    assay_rundir::sha256(&bytes)
}

/// Every comparison of a run: each prompt, each pair of contestants with answers.
pub fn items(saved: &Saved) -> Vec<Item> {
    let answers: HashMap<(&str, &str), &str> = saved
        .answers
        .iter()
        .map(|a| {
            (
                (a.contestant.as_str(), a.prompt_id.as_str()),
                a.text.as_str(),
            )
        })
        .collect();
    let mut out = Vec::new();
    for p in &saved.prompts {
        for (i, x) in saved.contestants.iter().enumerate() {
            for y in &saved.contestants[i + 1..] {
                let (Some(ax), Some(ay)) = (
                    answers.get(&(x.as_str(), p.id.as_str())),
                    answers.get(&(y.as_str(), p.id.as_str())),
                ) else {
                    continue;
                };
                out.push(Item {
                    id: hex::encode(&digest(&[&p.id, x, y])[..8]),
                    prompt_id: p.id.clone(),
                    prompt: p.prompt.clone(),
                    x: x.clone(),
                    y: y.clone(),
                    answer_x: (*ax).to_owned(),
                    answer_y: (*ay).to_owned(),
                });
            }
        }
    }
    out
}

/// The order in which `annotator` sees the items: sorted by a per-annotator hash, so it
/// is shuffled, stable across restarts, and different between annotators.
pub fn order_for(annotator: &str, items: &[Item]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| digest(&["order", annotator, &items[i].id]));
    order
}

/// Whether `annotator` sees `y` on the left for this item.
pub fn swapped_for(annotator: &str, item: &Item) -> bool {
    digest(&["side", annotator, &item.id])[0] & 1 == 1
}

pub struct App {
    items: Vec<Item>,
    index: HashMap<String, usize>,
    /// token → annotator
    tokens: HashMap<String, String>,
    /// annotator → the order of their items (hashing every item, so made once)
    orders: HashMap<String, Vec<usize>>,
    store: Mutex<Store>,
}

impl App {
    pub fn new(items: Vec<Item>, store: Store) -> Result<Self, Error> {
        let annotators = store.annotators()?;
        let orders = annotators
            .iter()
            .map(|(name, _)| (name.clone(), order_for(name, &items)))
            .collect();
        let tokens = annotators
            .into_iter()
            .map(|(name, token)| (token, name))
            .collect();
        let index = items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.id.clone(), i))
            .collect();
        Ok(Self {
            items,
            index,
            tokens,
            orders,
            store: Mutex::new(store),
        })
    }

    fn state(&self, annotator: &str) -> Result<serde_json::Value, Error> {
        let voted = self
            .store
            .lock()
            .expect("store lock")
            .voted_items(annotator)?;
        let done = self.items.iter().filter(|i| voted.contains(&i.id)).count();
        let next = self.orders[annotator]
            .iter()
            .map(|&i| &self.items[i])
            .find(|i| !voted.contains(&i.id));
        let item = next.map(|i| {
            let (left, right) = if swapped_for(annotator, i) {
                (&i.answer_y, &i.answer_x)
            } else {
                (&i.answer_x, &i.answer_y)
            };
            serde_json::json!({"id": i.id, "prompt": i.prompt, "left": left, "right": right})
        });
        Ok(
            serde_json::json!({"annotator": annotator, "done": done, "total": self.items.len(), "item": item}),
        )
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({"error": message.into()}))).into_response()
}

fn annotator(app: &App, token: &str) -> Result<String, Box<Response>> {
    app.tokens.get(token).cloned().ok_or_else(|| {
        Box::new(error(
            StatusCode::UNAUTHORIZED,
            "unknown access token: open the link `assay annotate` printed for you",
        ))
    })
}

#[derive(serde::Deserialize)]
struct NextQuery {
    #[serde(default)]
    token: String,
}

async fn next(State(app): State<Arc<App>>, Query(q): Query<NextQuery>) -> Response {
    let who = match annotator(&app, &q.token) {
        Ok(w) => w,
        Err(r) => return *r,
    };
    match app.state(&who) {
        Ok(s) => Json(s).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(serde::Deserialize)]
struct VoteBody {
    token: String,
    item: String,
    choice: String,
}

async fn vote(State(app): State<Arc<App>>, body: axum::body::Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<VoteBody>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the body must be JSON with `token`, `item` and `choice`",
        );
    };
    let who = match annotator(&app, &body.token) {
        Ok(w) => w,
        Err(r) => return *r,
    };
    let Some(&i) = app.index.get(&body.item) else {
        return error(StatusCode::BAD_REQUEST, format!("no item `{}`", body.item));
    };
    let item = &app.items[i];
    let (left, right) = if swapped_for(&who, item) {
        (&item.y, &item.x)
    } else {
        (&item.x, &item.y)
    };
    let Some(choice) = store::Choice::parse(&body.choice) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "choice `{}` is not left, right, tie or bothbad",
                body.choice
            ),
        );
    };
    let saved = app
        .store
        .lock()
        .expect("store lock")
        .record(&who, item, left, right, choice);
    if let Err(e) = saved {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the vote was not saved: {e}"),
        );
    }
    match app.state(&who) {
        Ok(s) => Json(s).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let headers = r.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async {
                asset(
                    "text/html; charset=utf-8",
                    include_str!("../assets/index.html"),
                )
            }),
        )
        .route(
            "/app.js",
            get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("../assets/app.js"),
                )
            }),
        )
        .route(
            "/app.css",
            get(|| async { asset("text/css; charset=utf-8", include_str!("../assets/app.css")) }),
        )
        .route("/api/next", get(next))
        .route("/api/vote", post(vote))
        .with_state(app)
}
