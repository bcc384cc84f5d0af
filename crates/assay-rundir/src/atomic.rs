//! Atomic publishing: a reader sees the old file or the new one, never half of either.

use crate::{Error, io_error};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary file beside `path` that [`write_atomic`] renames into place: hidden, and
/// in the same directory so that the rename cannot cross file systems.
fn temporary(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.tmp"))
}

/// Writes `bytes` to the temporary file of `path`, flushed to disk; removed on failure.
fn stage(path: &Path, bytes: &[u8]) -> Result<PathBuf, Error> {
    let tmp = temporary(path);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_data()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error("write", &tmp)(e));
    }
    Ok(tmp)
}

/// Writes `bytes` to `path` through a temporary file, flushed to disk and renamed into
/// place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = stage(path, bytes)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error("write", path)(e)
    })
}

/// Publishes several files together: every file is written and flushed first, then each
/// is renamed into place, the ones it replaces kept aside until all are in. On any
/// failure the files already placed are put back, so the folder holds the old set or
/// the new one, never a new report beside an old analysis (a crash between two renames
/// leaves the old file under its hidden `.NAME.old` name).
pub fn write_all_atomic(files: &[(&Path, &[u8])]) -> Result<(), Error> {
    if let Some((path, _)) = files.iter().find(|(p, _)| p.is_dir()) {
        return Err(io_error("write", path)(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "a directory stands there",
        )));
    }
    let mut staged: Vec<PathBuf> = Vec::new();
    for (path, bytes) in files {
        match stage(path, bytes) {
            Ok(tmp) => staged.push(tmp),
            Err(e) => {
                for tmp in &staged {
                    let _ = std::fs::remove_file(tmp);
                }
                return Err(e);
            }
        }
    }
    let aside = |path: &Path| temporary(path).with_extension("old");
    // (target, whether an old file was set aside)
    let mut placed: Vec<(&Path, bool)> = Vec::new();
    let mut failure = None;
    for ((path, _), tmp) in files.iter().zip(&staged) {
        let had_old = path.exists();
        if had_old && let Err(e) = std::fs::rename(path, aside(path)) {
            failure = Some(io_error("replace", path)(e));
            break;
        }
        if let Err(e) = std::fs::rename(tmp, path) {
            if had_old {
                let _ = std::fs::rename(aside(path), path);
            }
            failure = Some(io_error("write", path)(e));
            break;
        }
        placed.push((path, had_old));
    }
    match failure {
        None => {
            for (path, had_old) in placed {
                if had_old {
                    let _ = std::fs::remove_file(aside(path));
                }
            }
            Ok(())
        }
        Some(e) => {
            for (path, had_old) in placed.into_iter().rev() {
                if had_old {
                    let _ = std::fs::rename(aside(path), path);
                } else {
                    let _ = std::fs::remove_file(path);
                }
            }
            for tmp in &staged {
                let _ = std::fs::remove_file(tmp);
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.json");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new contents").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new contents");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("results.json")]);
    }

    #[test]
    fn a_set_of_files_is_published_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            dir.path().join("report.html"),
            dir.path().join("analysis.json"),
        );
        write_all_atomic(&[(&a, b"old report"), (&b, b"old analysis")]).unwrap();
        // The second target cannot be replaced (a directory stands there): the first,
        // already renamed into place, is put back.
        std::fs::remove_file(&b).unwrap();
        std::fs::create_dir(&b).unwrap();
        std::fs::write(b.join("keep"), b"x").unwrap();
        assert!(write_all_atomic(&[(&a, b"new report"), (&b, b"new analysis")]).is_err());
        assert_eq!(std::fs::read(&a).unwrap(), b"old report");
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["analysis.json", "report.html"]);
        std::fs::remove_dir_all(&b).unwrap();
        write_all_atomic(&[(&a, b"new report"), (&b, b"new analysis")]).unwrap();
        assert_eq!(std::fs::read(&b).unwrap(), b"new analysis");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_failed_write_names_the_file_and_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("out.json");
        let e = write_atomic(&path, b"x").unwrap_err();
        assert!(e.to_string().contains("out.json"), "{e}");
    }
}
