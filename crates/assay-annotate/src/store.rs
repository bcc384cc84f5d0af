//! The vote store: SQLite in the run directory. Each vote is its own committed
//! transaction (synchronous=FULL), so an answer the page has acknowledged survives a
//! crash or power loss. A second vote by the same annotator on the same item replaces
//! the first (a corrected click).

use crate::{Error, Item};
use assay_rank::battles::{BattleLogWriter, Winner};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub const STORE_VERSION: i64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Left,
    Right,
    Tie,
    BothBad,
}

impl Choice {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "left" => Choice::Left,
            "right" => Choice::Right,
            "tie" => Choice::Tie,
            "bothbad" => Choice::BothBad,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Choice::Left => "left",
            Choice::Right => "right",
            Choice::Tie => "tie",
            Choice::BothBad => "bothbad",
        }
    }

    /// The battle outcome with the left answer as `model_a`.
    pub fn winner(self) -> Winner {
        match self {
            Choice::Left => Winner::A,
            Choice::Right => Winner::B,
            Choice::Tie => Winner::Tie,
            Choice::BothBad => Winner::BothBad,
        }
    }
}

/// One stored vote.
#[derive(Debug, Clone, PartialEq)]
pub struct Vote {
    pub annotator: String,
    pub item: String,
    pub prompt_id: String,
    pub left: String,
    pub right: String,
    pub choice: Choice,
    pub voted_at: String,
}

pub struct Store {
    path: PathBuf,
    conn: Connection,
}

impl Store {
    pub fn open(path: &Path) -> Result<Self, Error> {
        let fail = |source| Error::Store {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(fail)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS annotators (name TEXT PRIMARY KEY, token TEXT NOT NULL UNIQUE);
             CREATE TABLE IF NOT EXISTS votes (
                 annotator TEXT NOT NULL, item TEXT NOT NULL, prompt_id TEXT NOT NULL,
                 model_left TEXT NOT NULL, model_right TEXT NOT NULL, choice TEXT NOT NULL,
                 voted_at TEXT NOT NULL, PRIMARY KEY (annotator, item));",
        )
        .map_err(fail)?;
        let version: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(fail)?;
        match version {
            None => {
                conn.execute(
                    "INSERT INTO meta VALUES ('schema', ?1)",
                    [STORE_VERSION.to_string()],
                )
                .map_err(fail)?;
            }
            Some(v) if v == STORE_VERSION.to_string() => {}
            Some(v) => {
                return Err(Error::Invalid(format!(
                    "`{}` has schema {v}; this assay reads schema {STORE_VERSION}",
                    path.display()
                )));
            }
        }
        Ok(Self {
            path: path.to_owned(),
            conn,
        })
    }

    fn fail(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        |source| Error::Store {
            path: self.path.clone(),
            source,
        }
    }

    /// The annotator's token, made (from the OS's random source) on first use.
    pub fn token_for(&self, name: &str) -> Result<String, Error> {
        if let Some(t) = self
            .conn
            .query_row(
                "SELECT token FROM annotators WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.fail())?
        {
            return Ok(t);
        }
        let bytes: [u8; 16] = rand::random();
        let token = hex::encode(bytes);
        self.conn
            .execute(
                "INSERT INTO annotators VALUES (?1, ?2)",
                params![name, token],
            )
            .map_err(self.fail())?;
        Ok(token)
    }

    /// (name, token) of every annotator.
    pub fn annotators(&self) -> Result<Vec<(String, String)>, Error> {
        let mut st = self
            .conn
            .prepare("SELECT name, token FROM annotators ORDER BY name")
            .map_err(self.fail())?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
    }

    pub fn voted_items(&self, annotator: &str) -> Result<HashSet<String>, Error> {
        let mut st = self
            .conn
            .prepare_cached("SELECT item FROM votes WHERE annotator = ?1")
            .map_err(self.fail())?;
        let rows = st
            .query_map([annotator], |r| r.get(0))
            .map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
    }

    pub fn record(
        &self,
        annotator: &str,
        item: &Item,
        left: &str,
        right: &str,
        choice: Choice,
    ) -> Result<(), Error> {
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        self.conn
            .execute(
                "INSERT OR REPLACE INTO votes VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    annotator,
                    item.id,
                    item.prompt_id,
                    left,
                    right,
                    choice.as_str(),
                    now
                ],
            )
            .map_err(self.fail())?;
        Ok(())
    }

    pub fn votes(&self) -> Result<Vec<Vote>, Error> {
        let mut st = self
            .conn
            .prepare("SELECT annotator, item, prompt_id, model_left, model_right, choice, voted_at FROM votes ORDER BY voted_at, annotator, item")
            .map_err(self.fail())?;
        let rows = st
            .query_map([], |r| {
                let choice: String = r.get(5)?;
                Ok(Vote {
                    annotator: r.get(0)?,
                    item: r.get(1)?,
                    prompt_id: r.get(2)?,
                    left: r.get(3)?,
                    right: r.get(4)?,
                    choice: Choice::parse(&choice).unwrap_or(Choice::Tie),
                    voted_at: r.get(6)?,
                })
            })
            .map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
    }
}

/// The votes as an arena-style battle log (CSV): the left answer is `model_a`.
pub fn battle_log(votes: &[Vote]) -> Vec<u8> {
    let mut log = BattleLogWriter::new(&["prompt_id", "annotator", "voted_at"]);
    for v in votes {
        log.push(
            &v.left,
            &v.right,
            v.choice.winner(),
            &[&v.prompt_id, &v.annotator, &v.voted_at],
        );
    }
    log.finish()
}
