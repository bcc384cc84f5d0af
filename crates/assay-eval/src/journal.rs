//! The journal of an unfinished run: one JSON line per answered sample, appended and
//! flushed as each sample finishes, in a directory named after the run spec's hash.
//! Running the same command again reads it back and answers only what is missing; a
//! line torn by a crash is dropped.

use crate::Error;
use crate::results::SampleRecord;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

pub(crate) struct Journal {
    pub(crate) dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

impl Journal {
    pub(crate) fn open(dir: PathBuf) -> Result<Self, Error> {
        let samples = dir.join("samples");
        std::fs::create_dir_all(&samples).map_err(io(&samples))?;
        Ok(Self { dir })
    }

    fn path(&self, task: &str) -> PathBuf {
        self.dir.join("samples").join(format!("{task}.jsonl"))
    }

    /// Records already answered for `task`, keyed by (subtask, index). A torn last line
    /// is cut off so that appending continues on a clean line.
    pub(crate) fn load(&self, task: &str) -> Result<HashMap<(String, usize), SampleRecord>, Error> {
        let path = self.path(task);
        let mut done = HashMap::new();
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(done),
            Err(e) => return Err(io(&path)(e)),
        };
        let mut good_bytes = 0u64;
        let mut reader = BufReader::new(file);
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader.read_line(&mut line).map_err(io(&path))?;
            if n == 0 {
                break;
            }
            if !line.ends_with('\n') {
                break; // torn write
            }
            match serde_json::from_str::<SampleRecord>(&line) {
                Ok(r) => {
                    done.insert((r.subtask.clone(), r.index), r);
                    good_bytes += n as u64;
                }
                Err(_) => break,
            }
        }
        let f = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        f.set_len(good_bytes).map_err(io(&path))?;
        Ok(done)
    }

    pub(crate) fn writer(&self, task: &str) -> Result<JournalWriter, Error> {
        let path = self.path(task);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        Ok(JournalWriter { file, path })
    }
}

pub(crate) struct JournalWriter {
    file: File,
    path: PathBuf,
}

impl JournalWriter {
    /// Appends one record in a single write, so a crash leaves whole lines or a torn
    /// last line, never an interleaving.
    pub(crate) fn append(&mut self, record: &SampleRecord) -> Result<(), Error> {
        let mut line = serde_json::to_vec(record).expect("records serialize");
        line.push(b'\n');
        self.file.write_all(&line).map_err(io(&self.path))
    }
}
