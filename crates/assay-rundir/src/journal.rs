//! An append-only journal of JSON lines: each batch of finished work is appended in one
//! write and flushed to disk as soon as it is done, so a run killed at any point keeps
//! everything it had finished.
//!
//! One rule for a damaged tail: reading stops at the first line that is torn (no final
//! newline) or does not parse, and opening for appending cuts the file there, so new
//! lines continue on a clean line. Anything after a damaged line is redone.

use crate::{Error, io_error};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// A journal of entries of type `E`.
pub struct Journal<E> {
    path: PathBuf,
    file: File,
    entries: PhantomData<fn(E)>,
}

/// The entries of `path` up to its first damaged line, and the byte length they take.
fn read_valid<E: DeserializeOwned>(path: &Path) -> Result<(Vec<E>, u64), Error> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(io_error("open", path)(e)),
    };
    let (mut entries, mut good) = (Vec::new(), 0u64);
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    loop {
        line.clear();
        let n = match reader.read_line(&mut line) {
            Ok(n) => n,
            // Bytes that are not UTF-8 are a damaged line like any other.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => break,
            Err(e) => return Err(io_error("read", path)(e)),
        };
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        match serde_json::from_str::<E>(&line) {
            Ok(e) => entries.push(e),
            Err(_) => break,
        }
        good += n as u64;
    }
    Ok((entries, good))
}

impl<E: Serialize + DeserializeOwned> Journal<E> {
    /// Opens (creating if needed) the journal at `path` for appending, with the entries
    /// already in it. A damaged tail is cut off.
    pub fn open(path: &Path) -> Result<(Self, Vec<E>), Error> {
        let (entries, good) = read_valid(path)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io_error("open", path))?;
        file.set_len(good).map_err(io_error("repair", path))?;
        let journal = Self {
            path: path.to_owned(),
            file,
            entries: PhantomData,
        };
        Ok((journal, entries))
    }

    /// The entries of the journal at `path` (none if it does not exist), read without
    /// changing it.
    pub fn read(path: &Path) -> Result<Vec<E>, Error> {
        read_valid(path).map(|(entries, _)| entries)
    }

    /// Appends `entries` in a single write and flushes them to disk, so that a crash
    /// leaves whole lines or a torn last line, never an interleaving.
    pub fn append(&mut self, entries: &[E]) -> Result<(), Error> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for e in entries {
            serde_json::to_writer(&mut buf, e).map_err(|e| Error::Damaged {
                path: self.path.clone(),
                message: format!("an entry cannot be written as JSON: {e}"),
            })?;
            buf.push(b'\n');
        }
        self.file
            .write_all(&buf)
            .map_err(io_error("append to", &self.path))?;
        self.file
            .sync_data()
            .map_err(io_error("append to", &self.path))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Entry {
        id: usize,
        text: String,
    }

    fn entry(id: usize) -> Entry {
        Entry {
            id,
            text: format!("answer {id}"),
        }
    }

    #[test]
    fn entries_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let (mut j, old) = Journal::<Entry>::open(&path).unwrap();
        assert!(old.is_empty());
        j.append(&[entry(0), entry(1)]).unwrap();
        j.append(&[entry(2)]).unwrap();
        drop(j);
        let (_, back) = Journal::<Entry>::open(&path).unwrap();
        assert_eq!(back, vec![entry(0), entry(1), entry(2)]);
        assert_eq!(Journal::<Entry>::read(&path).unwrap().len(), 3);
    }

    #[test]
    fn a_torn_tail_is_cut_and_appending_continues_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let (mut j, _) = Journal::<Entry>::open(&path).unwrap();
        j.append(&[entry(0), entry(1)]).unwrap();
        drop(j);
        let whole = std::fs::read(&path).unwrap();
        // A crash in the middle of the second line.
        let first_line = whole.iter().position(|&b| b == b'\n').unwrap() + 1;
        std::fs::write(&path, &whole[..first_line + 5]).unwrap();
        // Reading does not repair; opening does.
        assert_eq!(Journal::<Entry>::read(&path).unwrap(), vec![entry(0)]);
        assert_eq!(std::fs::read(&path).unwrap().len(), first_line + 5);
        let (mut j, back) = Journal::<Entry>::open(&path).unwrap();
        assert_eq!(back, vec![entry(0)]);
        assert_eq!(std::fs::read(&path).unwrap().len(), first_line);
        j.append(&[entry(7)]).unwrap();
        drop(j);
        assert_eq!(
            Journal::<Entry>::read(&path).unwrap(),
            vec![entry(0), entry(7)]
        );
    }

    #[test]
    fn reading_stops_at_a_line_that_does_not_parse() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        std::fs::write(
            &path,
            b"{\"id\":0,\"text\":\"a\"}\nnot json\n{\"id\":2,\"text\":\"c\"}\n\xff\xfe\n",
        )
        .unwrap();
        let (_, back) = Journal::<Entry>::open(&path).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"{\"id\":0,\"text\":\"a\"}\n".to_vec()
        );
        // Bytes that are not UTF-8 count as damage too.
        std::fs::write(&path, b"{\"id\":0,\"text\":\"a\"}\n\xff\xfe\n").unwrap();
        assert_eq!(Journal::<Entry>::read(&path).unwrap().len(), 1);
    }
}
