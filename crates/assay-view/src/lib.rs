//! See the evidence: `assay view`, a local read-only web app over a results folder
//! (every run of every kind listed, a page per run: an evaluation's metrics, intervals
//! and samples, an A/B analysis's report, a pipeline's funnel), and `assay report`, the
//! same page of one run as a self-contained file.
//!
//! The pages are HTML and inline SVG without script, served with a policy that allows
//! no script and no outside resource; text from runs is always escaped. The viewer reads
//! the folder at each request, so a run being written shows its progress, and it never
//! writes.

pub mod catalog;
pub mod export;
pub mod pages;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::path::PathBuf;
use std::sync::Arc;

/// The folder the viewer shows.
pub struct Viewer {
    pub root: PathBuf,
}

fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(pages::POLICY),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn not_found(message: &str) -> Response {
    html(
        StatusCode::NOT_FOUND,
        pages::page(
            "not found",
            &format!(
                "<nav><a href=\"/\">all runs</a></nav><h1>Not found</h1><p>{}</p>",
                assay_render::escape_html(message)
            ),
        ),
    )
}

async fn index(State(v): State<Arc<Viewer>>, Query(q): Query<pages::ListQuery>) -> Response {
    let (entries, cut) = catalog::scan(&v.root);
    html(StatusCode::OK, pages::index(&v.root, &entries, cut, &q))
}

#[derive(serde::Deserialize)]
struct RunQuery {
    #[serde(default)]
    id: String,
    #[serde(flatten)]
    samples: pages::SampleQuery,
}

async fn run(State(v): State<Arc<Viewer>>, Query(q): Query<RunQuery>) -> Response {
    let Some(dir) = catalog::resolve(&v.root, &q.id) else {
        return not_found(&format!("no run `{}` in this folder", q.id));
    };
    let Some(entry) = catalog::entry(&v.root, &dir) else {
        return not_found(&format!("`{}` holds no run", q.id));
    };
    match pages::run_page(&entry, &q.samples, true) {
        Ok(page) => html(StatusCode::OK, page),
        Err(e) => html(
            StatusCode::UNPROCESSABLE_ENTITY,
            pages::page(
                "damaged run",
                &format!(
                    "<nav><a href=\"/\">all runs</a></nav><h1>This run cannot be shown</h1><p>{}</p>",
                    assay_render::escape_html(&e.to_string())
                ),
            ),
        ),
    }
}

#[derive(serde::Deserialize)]
struct CompareQuery {
    #[serde(default)]
    a: String,
    #[serde(default)]
    b: String,
}

async fn compare(State(v): State<Arc<Viewer>>, Query(q): Query<CompareQuery>) -> Response {
    let (Some(a), Some(b)) = (
        catalog::resolve(&v.root, &q.a),
        catalog::resolve(&v.root, &q.b),
    ) else {
        return not_found("compare needs two runs of this folder: ?a=RUN&b=RUN");
    };
    match pages::compare_page(&a, &q.a, &b, &q.b) {
        Ok(page) => html(StatusCode::OK, page),
        Err(e) => html(
            StatusCode::UNPROCESSABLE_ENTITY,
            pages::page(
                "cannot compare",
                &format!(
                    "<nav><a href=\"/\">all runs</a></nav><h1>These runs cannot be compared</h1><p>{}</p>",
                    assay_render::escape_html(&e.to_string())
                ),
            ),
        ),
    }
}

#[derive(serde::Deserialize)]
struct ExportQuery {
    #[serde(default)]
    table: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    a: String,
    #[serde(default)]
    b: String,
    #[serde(default)]
    format: String,
}

/// A table as CSV or Markdown, shown as text (`text/plain`, so a browser shows it and a
/// script can fetch it).
async fn export(State(v): State<Arc<Viewer>>, Query(q): Query<ExportQuery>) -> Response {
    let table = match q.table.as_str() {
        "runs" => Ok(export::runs(&catalog::scan(&v.root).0)),
        "differences" => match (
            catalog::resolve(&v.root, &q.a),
            catalog::resolve(&v.root, &q.b),
        ) {
            (Some(a), Some(b)) => export::differences(&a, &b),
            _ => return not_found("differences need two runs of this folder: a=RUN&b=RUN"),
        },
        name => match catalog::resolve(&v.root, &q.id) {
            Some(dir) => export::of_run(&dir, name),
            None => return not_found(&format!("no run `{}` in this folder", q.id)),
        },
    };
    let table = match table {
        Ok(t) => t,
        Err(e) => return not_found(&e.to_string()),
    };
    let (body, extension) = match q.format.as_str() {
        "md" | "markdown" => (table.markdown(), "md"),
        _ => (table.csv(), "csv"),
    };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Ok(v) =
        HeaderValue::from_str(&format!("inline; filename=\"{}.{extension}\"", table.name))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub fn router(viewer: Arc<Viewer>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/export", get(export))
        .route("/run", get(run))
        .route("/compare", get(compare))
        // Browsers ask for an icon; none is an answer, not an error in their console.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .with_state(viewer)
}

/// The self-contained page of the run in `dir` (any kind), for `assay report`.
pub fn report(dir: &std::path::Path) -> Result<String, pages::PageError> {
    let root = dir.parent().unwrap_or(dir);
    // A run's file that does not read as JSON is damaged, which is not "no run".
    for file in ["results.json", "analysis.json"] {
        let path = dir.join(file);
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Err(e) = serde_json::from_str::<serde_json::Value>(&text)
        {
            return Err(pages::PageError(format!(
                "{} is damaged: {e}",
                path.display()
            )));
        }
    }
    let entry = catalog::entry(root, dir).ok_or_else(|| {
        pages::PageError(format!(
            "{} holds no run (an evaluation, pairwise run, pipeline or A/B analysis)",
            dir.display()
        ))
    })?;
    pages::run_page(&entry, &pages::SampleQuery::default(), false)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cut_results_file_is_damaged_and_a_folder_without_one_holds_no_run() {
        let dir = tempfile::tempdir().unwrap();
        let e = super::report(dir.path()).unwrap_err().to_string();
        assert!(e.contains("holds no run"), "{e}");
        std::fs::write(dir.path().join("results.json"), "{\"schema\": \"assay.res").unwrap();
        let e = super::report(dir.path()).unwrap_err().to_string();
        assert!(e.contains("results.json is damaged"), "{e}");
    }
}
