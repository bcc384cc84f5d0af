//! SHA-256: of bytes, of a file (streamed), or of whatever goes through a writer.

use crate::{Error, io_error};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// SHA-256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha256(bytes))
}

/// SHA-256 of a file's contents as lowercase hex, streamed (model files are large).
pub fn sha256_file(path: &Path) -> Result<String, Error> {
    let mut file = std::fs::File::open(path).map_err(io_error("open", path))?;
    let mut hashing = HashingWriter::new(std::io::sink());
    std::io::copy(&mut file, &mut hashing).map_err(io_error("read", path))?;
    Ok(hashing.finish().1)
}

/// A writer that hashes everything written through it, so that a file can be copied and
/// hashed in one pass.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The inner writer and the hex SHA-256 of what was written.
    pub fn finish(self) -> (W, String) {
        (self.inner, hex::encode(self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        // FIPS 180-2 test vector.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &big).unwrap();
        assert_eq!(sha256_file(&path).unwrap(), sha256_hex(&big));
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(&big[..10]).unwrap();
        w.write_all(&big[10..]).unwrap();
        let (copy, hex) = w.finish();
        assert_eq!((copy, hex), (big.clone(), sha256_hex(&big)));
    }

    #[test]
    fn a_missing_file_is_named() {
        let e = sha256_file(Path::new("/nonexistent/model.gguf")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/model.gguf"), "{e}");
    }
}
