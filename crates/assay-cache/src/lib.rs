//! The response cache: every answer a model gives is stored in SQLite as soon as it
//! arrives, keyed by the model's identity and the exact request. A run that was killed
//! and started again finds its answers here and sends only what is missing; a later run
//! of another task that asks the same thing reuses them.
//!
//! Durability: the database runs in WAL mode, and each answer is committed on its own,
//! so a killed process (kill -9 included) loses at most the answer it was writing.
//! Several processes may share one file (SQLite locks it; writers wait up to 30 s).
//!
//! Secrets never reach this file: callers key entries by a model label and request
//! that hold no credentials (the OpenAI client's label is the model name and base URL
//! without user info or query).

use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Bumped when the table layout or the meaning of keys changes; older files are
/// refused with a message instead of being misread.
const SCHEMA_VERSION: i64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("response cache `{path}`: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot create the directory of the response cache `{path}`: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "response cache `{path}` has layout version {found}, this assay reads version {SCHEMA_VERSION}; \
         use another file (`--cache PATH`) or clear it (`assay cache clear`)"
    )]
    Version { path: PathBuf, found: i64 },
    #[error("response cache `{path}`: stored answer for key {key} is not JSON: {source}")]
    Corrupt {
        path: PathBuf,
        key: String,
        source: serde_json::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One stored answer.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// Identifies the model (`name @ base url`, or a weights hash): entries of one
    /// model are listed and pruned together.
    pub model: &'a str,
    /// The request kind (`loglikelihood`, `generate`, ...).
    pub kind: &'a str,
    pub request: &'a serde_json::Value,
    pub response: &'a serde_json::Value,
}

/// What `assay cache list` shows per model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSummary {
    pub model: String,
    pub entries: u64,
    /// Bytes of stored request and response text.
    pub bytes: u64,
    /// Unix seconds of the oldest and newest entry.
    pub oldest: i64,
    pub newest: i64,
}

pub struct ResponseCache {
    conn: Mutex<Connection>,
    path: PathBuf,
}

/// The key of a request: SHA-256 over the model label, the kind and the request's
/// canonical JSON (serde_json writes object fields in insertion order, which for our
/// request structs is their declaration order, so equal requests give equal text).
pub fn key(model: &str, kind: &str, request: &serde_json::Value) -> String {
    let mut bytes = [model.as_bytes(), b"\0", kind.as_bytes(), b"\0"].concat();
    serde_json::to_writer(&mut bytes, request).expect("JSON values serialize");
    assay_rundir::sha256_hex(&bytes)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl ResponseCache {
    /// Opens (creating if needed) the cache file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Dir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let sql = |source| Error::Sqlite {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(sql)?;
        // WAL + NORMAL: a committed answer survives the process being killed (the
        // WAL is in the OS's hands); only a power cut may lose the last few.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS responses (
                 key TEXT PRIMARY KEY,
                 model TEXT NOT NULL,
                 kind TEXT NOT NULL,
                 request TEXT NOT NULL,
                 response TEXT NOT NULL,
                 created_at INTEGER NOT NULL
             );
             CREATE INDEX IF NOT EXISTS responses_model ON responses(model);",
        )
        .map_err(sql)?;
        let found: Option<i64> = conn
            .query_row(
                "SELECT value FROM meta WHERE name = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        match found {
            None => {
                conn.execute(
                    "INSERT OR IGNORE INTO meta (name, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION],
                )
                .map_err(sql)?;
            }
            Some(v) if v != SCHEMA_VERSION => {
                return Err(Error::Version {
                    path: path.to_owned(),
                    found: v,
                });
            }
            Some(_) => {}
        }
        Ok(Self {
            conn: Mutex::new(conn),
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql(&self) -> impl FnOnce(rusqlite::Error) -> Error + '_ {
        move |source| Error::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable: every statement
        // is its own transaction.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, key: &str) -> Result<Option<serde_json::Value>> {
        let text: Option<String> = self
            .conn()
            .query_row(
                "SELECT response FROM responses WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql())?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|source| Error::Corrupt {
                path: self.path.clone(),
                key: key.to_owned(),
                source,
            })
        })
        .transpose()
    }

    /// Stores an answer, committed before this returns. Returns its key.
    pub fn put(&self, entry: &Entry<'_>) -> Result<String> {
        let k = key(entry.model, entry.kind, entry.request);
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO responses (key, model, kind, request, response, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    k,
                    entry.model,
                    entry.kind,
                    entry.request.to_string(),
                    entry.response.to_string(),
                    now()
                ],
            )
            .map_err(self.sql())?;
        Ok(k)
    }

    /// Number of stored answers.
    pub fn len(&self) -> Result<u64> {
        self.conn()
            .query_row("SELECT COUNT(*) FROM responses", [], |r| r.get(0))
            .map_err(self.sql())
    }

    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Every stored key (tests and `assay cache` use it).
    pub fn keys(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT key FROM responses ORDER BY key")
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .map_err(self.sql())?
            .collect::<Result<Vec<String>, _>>()
            .map_err(self.sql())?;
        Ok(rows)
    }

    /// Every stored request with its kind, oldest first.
    pub fn requests(&self) -> Result<Vec<(String, serde_json::Value)>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT kind, request FROM responses ORDER BY created_at, rowid")
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(self.sql())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.sql())?;
        Ok(rows
            .into_iter()
            .map(|(kind, text)| (kind, serde_json::from_str(&text).unwrap_or_default()))
            .collect())
    }

    pub fn list(&self) -> Result<Vec<ModelSummary>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT model, COUNT(*), SUM(LENGTH(request) + LENGTH(response)),
                        MIN(created_at), MAX(created_at)
                 FROM responses GROUP BY model ORDER BY model",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ModelSummary {
                    model: r.get(0)?,
                    entries: r.get(1)?,
                    bytes: r.get(2)?,
                    oldest: r.get(3)?,
                    newest: r.get(4)?,
                })
            })
            .map_err(self.sql())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.sql())?;
        Ok(rows)
    }

    /// Deletes entries older than `older_than` and/or of models whose label contains
    /// `model`; at least one filter must be given (use [`clear`](Self::clear) for all).
    /// Returns how many were deleted.
    pub fn prune(&self, older_than: Option<Duration>, model: Option<&str>) -> Result<usize> {
        let cutoff = older_than.map_or(i64::MAX, |d| now() - d.as_secs() as i64);
        let pattern = model.map_or("%".to_owned(), |m| {
            format!(
                "%{}%",
                m.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        });
        let n = self
            .conn()
            .execute(
                "DELETE FROM responses WHERE created_at < ?1 AND model LIKE ?2 ESCAPE '\\'",
                params![cutoff, pattern],
            )
            .map_err(self.sql())?;
        self.vacuum()?;
        Ok(n)
    }

    pub fn clear(&self) -> Result<usize> {
        let n = self
            .conn()
            .execute("DELETE FROM responses", [])
            .map_err(self.sql())?;
        self.vacuum()?;
        Ok(n)
    }

    fn vacuum(&self) -> Result<()> {
        self.conn().execute_batch("VACUUM").map_err(self.sql())
    }
}

/// Parses durations such as `30s`, `15m`, `12h`, `7d`, `2w` (for `assay cache prune`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit; write e.g. 7d, 12h, 30m"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a whole number"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`; use s, m, h, d or w"
            ));
        }
    };
    Ok(Duration::from_secs(n * secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_survive_reopening_and_are_keyed_by_model_and_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/cache.sqlite");
        let request = json!({"context": "a", "continuation": " b"});
        let response = json!({"logprob": -1.5, "is_greedy": false, "tokens": 1});
        {
            let cache = ResponseCache::open(&path).unwrap();
            let k = cache
                .put(&Entry {
                    model: "m @ http://x",
                    kind: "loglikelihood",
                    request: &request,
                    response: &response,
                })
                .unwrap();
            assert_eq!(k, key("m @ http://x", "loglikelihood", &request));
        }
        let cache = ResponseCache::open(&path).unwrap();
        let k = key("m @ http://x", "loglikelihood", &request);
        assert_eq!(cache.get(&k).unwrap(), Some(response));
        assert_eq!(
            cache.get(&key("other", "loglikelihood", &request)).unwrap(),
            None
        );
        assert_eq!(
            cache
                .get(&key("m @ http://x", "generate", &request))
                .unwrap(),
            None
        );
        let list = cache.list().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].entries, 1);
    }

    #[test]
    fn prune_by_model_and_clear() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ResponseCache::open(&dir.path().join("c.sqlite")).unwrap();
        for (model, i) in [("alpha_1", 1), ("alpha_1", 2), ("beta", 3)] {
            cache
                .put(&Entry {
                    model,
                    kind: "generate",
                    request: &json!(i),
                    response: &json!("x"),
                })
                .unwrap();
        }
        // `_` is a literal, not a LIKE wildcard.
        assert_eq!(cache.prune(None, Some("a_1")).unwrap(), 2);
        assert_eq!(cache.prune(None, Some("alphaX1")).unwrap(), 0);
        // Nothing is older than an hour.
        assert_eq!(
            cache.prune(Some(Duration::from_secs(3600)), None).unwrap(),
            0
        );
        assert_eq!(cache.len().unwrap(), 1);
        assert_eq!(cache.clear().unwrap(), 1);
        assert!(cache.is_empty().unwrap());
    }

    #[test]
    fn a_newer_layout_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sqlite");
        drop(ResponseCache::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE meta SET value = 99 WHERE name = 'schema_version'",
            [],
        )
        .unwrap();
        drop(conn);
        let err = ResponseCache::open(&path).err().unwrap().to_string();
        assert!(err.contains("layout version 99"), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(parse_duration("90m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("7").unwrap_err().contains("no unit"));
        assert!(parse_duration("3y").unwrap_err().contains("unknown unit"));
    }
}
