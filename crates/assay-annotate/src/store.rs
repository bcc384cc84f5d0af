//! The vote store: SQLite in the run directory. Each vote is its own committed
//! transaction (synchronous=FULL), so an answer the page has acknowledged survives a
//! crash or power loss. A second vote by the same annotator on the same item replaces
//! the first (a corrected click); an annotator may take back their last vote (undo) or
//! put an item off until the others are done (skip), both kept in the store too.

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

/// One annotator's progress, for the organiser.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub annotator: String,
    pub votes: usize,
    pub skipped: usize,
    pub last_vote: Option<String>,
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
                 voted_at TEXT NOT NULL, PRIMARY KEY (annotator, item));
             CREATE TABLE IF NOT EXISTS skips (
                 annotator TEXT NOT NULL, item TEXT NOT NULL, skipped_at TEXT NOT NULL,
                 PRIMARY KEY (annotator, item));",
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

    /// Items the annotator put off (and has not voted on since).
    pub fn skipped_items(&self, annotator: &str) -> Result<HashSet<String>, Error> {
        let mut st = self
            .conn
            .prepare_cached("SELECT item FROM skips WHERE annotator = ?1")
            .map_err(self.fail())?;
        let rows = st
            .query_map([annotator], |r| r.get(0))
            .map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
    }

    /// Puts `item` off until the annotator's other items are done.
    pub fn skip(&self, annotator: &str, item: &str) -> Result<(), Error> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO skips VALUES (?1, ?2, ?3)",
                params![annotator, item, now()],
            )
            .map_err(self.fail())?;
        Ok(())
    }

    /// Takes back the annotator's most recent vote; returns its item (None: no vote).
    pub fn undo_last(&self, annotator: &str) -> Result<Option<String>, Error> {
        let last: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT rowid, item FROM votes WHERE annotator = ?1 ORDER BY rowid DESC LIMIT 1",
                [annotator],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.fail())?;
        let Some((rowid, item)) = last else {
            return Ok(None);
        };
        self.conn
            .execute("DELETE FROM votes WHERE rowid = ?1", [rowid])
            .map_err(self.fail())?;
        Ok(Some(item))
    }

    /// Per annotator: votes cast, items skipped, and the time of the last vote.
    pub fn progress(&self) -> Result<Vec<Progress>, Error> {
        let mut out = Vec::new();
        for (name, _) in self.annotators()? {
            let (votes, last): (i64, Option<String>) = self
                .conn
                .query_row(
                    "SELECT COUNT(*), MAX(voted_at) FROM votes WHERE annotator = ?1",
                    [&name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(self.fail())?;
            let skipped = self.skipped_items(&name)?.len();
            out.push(Progress {
                annotator: name,
                votes: votes as usize,
                skipped,
                last_vote: last,
            });
        }
        Ok(out)
    }

    /// The organiser's token (for the progress page), made on first use.
    pub fn organiser_token(&self) -> Result<String, Error> {
        if let Some(t) = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'organiser_token'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.fail())?
        {
            return Ok(t);
        }
        let token = hex::encode(rand::random::<[u8; 16]>());
        self.conn
            .execute("INSERT INTO meta VALUES ('organiser_token', ?1)", [&token])
            .map_err(self.fail())?;
        Ok(token)
    }

    pub fn record(
        &self,
        annotator: &str,
        item: &Item,
        left: &str,
        right: &str,
        choice: Choice,
    ) -> Result<(), Error> {
        // The vote and the end of its skip together: one transaction, one commit.
        let tx = self.conn.unchecked_transaction().map_err(self.fail())?;
        tx.execute(
            "INSERT OR REPLACE INTO votes VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                annotator,
                item.id,
                item.prompt_id,
                left,
                right,
                choice.as_str(),
                now()
            ],
        )
        .map_err(self.fail())?;
        tx.execute(
            "DELETE FROM skips WHERE annotator = ?1 AND item = ?2",
            params![annotator, item.id],
        )
        .map_err(self.fail())?;
        tx.commit().map_err(self.fail())?;
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

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
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
