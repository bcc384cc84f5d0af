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
    /// The prompt set's reference answer, shown to annotators when it has one.
    pub reference: Option<String>,
    /// Whether each answer was cut by the token limit (shown, so that a cut answer is
    /// not mistaken for a finished one).
    pub truncated_x: bool,
    pub truncated_y: bool,
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
    let answers: HashMap<(&str, &str), (&str, bool)> = saved
        .answers
        .iter()
        .map(|a| {
            (
                (a.contestant.as_str(), a.prompt_id.as_str()),
                (
                    a.text.as_str(),
                    a.finish_reason == assay_core::FinishReason::Length,
                ),
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
                    answer_x: ax.0.to_owned(),
                    answer_y: ay.0.to_owned(),
                    reference: p.reference.clone(),
                    truncated_x: ax.1,
                    truncated_y: ay.1,
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
    /// The organiser's token, for the progress page.
    organiser: String,
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
            organiser: store.organiser_token()?,
            store: Mutex::new(store),
        })
    }

    fn state(&self, annotator: &str) -> Result<serde_json::Value, Error> {
        let (voted, skipped) = {
            let store = self.store.lock().expect("store lock");
            (
                store.voted_items(annotator)?,
                store.skipped_items(annotator)?,
            )
        };
        let done = self.items.iter().filter(|i| voted.contains(&i.id)).count();
        let open = || {
            self.orders[annotator]
                .iter()
                .map(|&i| &self.items[i])
                .filter(|i| !voted.contains(&i.id))
        };
        // Items put off come back once every other one has a vote.
        let next = open()
            .find(|i| !skipped.contains(&i.id))
            .or_else(|| open().next());
        let item = next.map(|i| {
            let swapped = swapped_for(annotator, i);
            let (left, right, left_cut, right_cut) = if swapped {
                (&i.answer_y, &i.answer_x, i.truncated_y, i.truncated_x)
            } else {
                (&i.answer_x, &i.answer_y, i.truncated_x, i.truncated_y)
            };
            serde_json::json!({
                "id": i.id, "prompt": i.prompt, "left": left, "right": right,
                "left_truncated": left_cut, "right_truncated": right_cut,
                "reference": i.reference, "skipped": skipped.contains(&i.id),
            })
        });
        let skipped_open = open().filter(|i| skipped.contains(&i.id)).count();
        Ok(serde_json::json!({
            "annotator": annotator, "done": done, "total": self.items.len(),
            "skipped": skipped_open, "can_undo": done > 0, "item": item,
        }))
    }

    /// The organiser's page: each annotator's votes, skips and last vote, as HTML.
    fn progress_page(&self) -> Result<String, Error> {
        use assay_render::escape_html as esc;
        let rows = self.store.lock().expect("store lock").progress()?;
        let total = self.items.len();
        let mut body = String::new();
        for p in rows {
            body.push_str(&format!(
                "<tr data-annotator=\"{}\" data-done=\"{}\" data-skipped=\"{}\"><td>{}</td><td>{} of {total}</td><td>{}</td><td>{}</td></tr>",
                esc(&p.annotator),
                p.votes,
                p.skipped,
                esc(&p.annotator),
                p.votes,
                p.skipped,
                esc(p.last_vote.as_deref().unwrap_or("-"))
            ));
        }
        Ok(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>annotation progress</title><link rel=\"stylesheet\" href=\"/app.css\"></head><body><h1>Annotation progress</h1><table id=\"progress-table\"><thead><tr><th>annotator</th><th>votes</th><th>skipped</th><th>last vote (UTC)</th></tr></thead><tbody>{body}</tbody></table></body></html>"
        ))
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

#[derive(serde::Deserialize)]
struct ItemBody {
    token: String,
    #[serde(default)]
    item: String,
}

fn item_body(app: &App, body: &[u8]) -> Result<(String, ItemBody), Box<Response>> {
    let body = serde_json::from_slice::<ItemBody>(body).map_err(|_| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            "the body must be JSON with `token` (and `item`)",
        ))
    })?;
    Ok((annotator(app, &body.token)?, body))
}

async fn skip(State(app): State<Arc<App>>, body: axum::body::Bytes) -> Response {
    let (who, body) = match item_body(&app, &body) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    if !app.index.contains_key(&body.item) {
        return error(StatusCode::BAD_REQUEST, format!("no item `{}`", body.item));
    }
    if let Err(e) = app.store.lock().expect("store lock").skip(&who, &body.item) {
        return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    match app.state(&who) {
        Ok(s) => Json(s).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn undo(State(app): State<Arc<App>>, body: axum::body::Bytes) -> Response {
    let (who, _) = match item_body(&app, &body) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    if let Err(e) = app.store.lock().expect("store lock").undo_last(&who) {
        return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    match app.state(&who) {
        Ok(s) => Json(s).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn progress(State(app): State<Arc<App>>, Query(q): Query<NextQuery>) -> Response {
    if q.token != app.organiser {
        return error(
            StatusCode::UNAUTHORIZED,
            "the progress page needs the organiser's link `assay annotate` printed",
        );
    }
    match app.progress_page() {
        Ok(page) => {
            let mut r = page.into_response();
            secure(&mut r, "text/html; charset=utf-8");
            r
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

impl App {
    /// The organiser's token, for the progress page's link.
    pub fn organiser_token(&self) -> &str {
        &self.organiser
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    secure(&mut r, content_type);
    r
}

/// The headers every page and asset goes out with: its type, a policy that allows only
/// this server's own script and style (no inline script, no other origin), no sniffing,
/// no caching.
fn secure(r: &mut Response, content_type: &'static str) {
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
        .route("/api/skip", post(skip))
        .route("/api/undo", post(undo))
        .route("/progress", get(progress))
        // Browsers ask for an icon; none is an answer, not an error in their console.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .with_state(app)
}
