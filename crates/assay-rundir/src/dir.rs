//! A run directory holds exactly one run, named by its spec.
//!
//! The rule, the same for every kind of run: `run.json` in the directory pins what the
//! run is (the spec: models, data hashes, settings). Opening the directory with the same
//! spec resumes the run; with a different spec it is refused, naming the fields that
//! differ, rather than mixing two runs' work. Nothing in the directory is touched when it
//! is refused.

use crate::{Error, Journal, io_error, write_atomic};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// The file that pins a run directory's spec.
const SPEC_FILE: &str = "run.json";

/// Whether [`RunDir::open`] started a run or found it begun.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    Fresh,
    Resumed,
}

/// A directory holding one run. While it is open for a run, no other process can open
/// it for one (an advisory lock on the directory itself, released when this is dropped,
/// also when the process dies).
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    _lock: Option<std::fs::File>,
}

/// Takes the run lock of a directory: two runs writing one directory would both do all
/// the work and then trip over each other's files.
fn lock(path: &Path) -> Result<std::fs::File, Error> {
    let dir = std::fs::File::open(path).map_err(io_error("open", path))?;
    match dir.try_lock() {
        Ok(()) => Ok(dir),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Busy {
            dir: path.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io_error("lock", path)(e)),
    }
}

/// The top-level fields of two specs whose values differ, for a refusal message.
fn differing_fields(old: &serde_json::Value, new: &serde_json::Value) -> String {
    match (old.as_object(), new.as_object()) {
        (Some(o), Some(n)) => {
            let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
            keys.sort();
            keys.dedup();
            let differ: Vec<&str> = keys
                .into_iter()
                .filter(|k| o.get(*k) != n.get(*k))
                .map(String::as_str)
                .collect();
            format!("its {}", differ.join(", "))
        }
        _ => "its spec".into(),
    }
}

impl RunDir {
    /// Opens `path` (creating it if needed) for the run that `spec` describes: fresh when
    /// the directory holds no run, resumed when it holds this one, refused when it holds
    /// another.
    pub fn open(path: &Path, spec: &impl Serialize) -> Result<(Self, Opened), Error> {
        let spec = serde_json::to_value(spec).map_err(|e| Error::Damaged {
            path: path.join(SPEC_FILE),
            message: format!("the run's spec cannot be written as JSON: {e}"),
        })?;
        let spec_path = path.join(SPEC_FILE);
        if !path.is_dir() {
            std::fs::create_dir_all(path).map_err(io_error("create", path))?;
        }
        let held = lock(path)?;
        let opened = match std::fs::read(&spec_path) {
            Ok(bytes) => {
                let old: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|e| Error::Damaged {
                        path: spec_path.clone(),
                        message: format!(
                            "not valid JSON ({e}); remove the directory to start over"
                        ),
                    })?;
                if old != spec {
                    return Err(Error::Conflict {
                        dir: path.to_owned(),
                        differs: differing_fields(&old, &spec),
                    });
                }
                Opened::Resumed
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let text = serde_json::to_vec_pretty(&spec).expect("a JSON value serializes");
                write_atomic(&spec_path, &text)?;
                Opened::Fresh
            }
            Err(e) => return Err(io_error("read", &spec_path)(e)),
        };
        Ok((
            Self {
                path: path.to_owned(),
                _lock: Some(held),
            },
            opened,
        ))
    }

    /// An existing run directory, for reading what a run left (no spec check).
    pub fn existing(path: &Path) -> Result<Self, Error> {
        let spec_path = path.join(SPEC_FILE);
        if !spec_path.is_file() {
            return Err(Error::Io {
                action: "read",
                path: spec_path,
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no run here (no run.json)",
                ),
            });
        }
        Ok(Self {
            path: path.to_owned(),
            _lock: None,
        })
    }

    /// The spec pinned in the directory.
    pub fn spec<S: DeserializeOwned>(&self) -> Result<S, Error> {
        let path = self.path.join(SPEC_FILE);
        let bytes = std::fs::read(&path).map_err(io_error("read", &path))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Damaged {
            path,
            message: format!("not a run spec this version reads: {e}"),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the run directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }

    /// Opens the journal `name` (a path relative to the directory) with its entries.
    pub fn journal<E: Serialize + DeserializeOwned>(
        &self,
        name: impl AsRef<Path>,
    ) -> Result<(Journal<E>, Vec<E>), Error> {
        let path = self.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_error("create", parent))?;
        }
        Journal::open(&path)
    }

    /// Writes a finished output of the run atomically.
    pub fn publish(&self, name: impl AsRef<Path>, bytes: &[u8]) -> Result<(), Error> {
        write_atomic(&self.join(name), bytes)
    }

    /// Moves the whole directory to `dest` (one rename, so the finished run appears
    /// whole) and returns it there.
    pub fn rename_to(self, dest: &Path) -> Result<Self, Error> {
        std::fs::rename(&self.path, dest).map_err(io_error("move the run to", dest))?;
        // The lock belongs to the directory itself, so it moves with it.
        Ok(Self {
            path: dest.to_owned(),
            _lock: self._lock,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_directory_open_for_a_run_is_refused_to_a_second_one_until_it_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let spec = json!({"model": "a"});
        let (first, _) = RunDir::open(&run, &spec).unwrap();
        let e = RunDir::open(&run, &spec).unwrap_err();
        assert!(matches!(e, Error::Busy { .. }), "{e}");
        assert!(e.to_string().contains("in use by another assay run"), "{e}");
        drop(first);
        let (_, opened) = RunDir::open(&run, &spec).unwrap();
        assert_eq!(opened, Opened::Resumed);
    }

    #[test]
    fn same_spec_resumes_other_spec_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let spec = json!({"model": "a", "prompts_sha256": "x", "seed": 1});
        let (d, opened) = RunDir::open(&run, &spec).unwrap();
        assert_eq!(opened, Opened::Fresh);
        let (mut j, _) = d.journal::<u32>("journal.jsonl").unwrap();
        j.append(&[1, 2]).unwrap();
        drop((j, d));
        let (d, opened) = RunDir::open(&run, &spec).unwrap();
        assert_eq!(opened, Opened::Resumed);
        assert_eq!(d.journal::<u32>("journal.jsonl").unwrap().1, vec![1, 2]);
        assert_eq!(d.spec::<serde_json::Value>().unwrap(), spec);
        drop(d);

        let before = std::fs::read(run.join("run.json")).unwrap();
        let other = json!({"model": "b", "prompts_sha256": "x", "seed": 2});
        let e = RunDir::open(&run, &other).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("holds a different run"), "{text}");
        assert!(text.contains("its model, seed differ"), "{text}");
        assert_eq!(std::fs::read(run.join("run.json")).unwrap(), before);
    }

    #[test]
    fn a_damaged_spec_is_named_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("run.json"), "{not json").unwrap();
        let e = RunDir::open(dir.path(), &json!({"a": 1})).unwrap_err();
        assert!(e.to_string().contains("run.json` is damaged"), "{e}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("run.json")).unwrap(),
            "{not json"
        );
    }

    #[test]
    fn a_finished_run_moves_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (d, _) = RunDir::open(&dir.path().join(".partial-1"), &json!({})).unwrap();
        d.publish("results.json", b"{}").unwrap();
        let moved = d.rename_to(&dir.path().join("final")).unwrap();
        assert!(moved.join("results.json").is_file());
        assert!(!dir.path().join(".partial-1").exists());
        assert!(RunDir::existing(&dir.path().join("nothing")).is_err());
    }
}
