//! Reading a GGUF file's header and metadata.

use crate::{Error, Result};
use candle_core::quantized::gguf_file::{Content, Value};
use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// An open GGUF file: its parsed header and a reader positioned anywhere.
pub struct GgufFile {
    pub path: PathBuf,
    pub content: Content,
    pub reader: BufReader<File>,
}

impl GgufFile {
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut reader = BufReader::new(file);
        let content = Content::read(&mut reader).map_err(|e| Error::InvalidGguf {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        // Check the tensor data really is there: a truncated download parses fine up to
        // here and fails much later otherwise.
        let file_len = reader.seek(SeekFrom::End(0)).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        let needed = content
            .tensor_infos
            .values()
            .map(|t| {
                let elems: usize = t.shape.elem_count();
                content.tensor_data_offset
                    + t.offset
                    + (elems / t.ggml_dtype.block_size() * t.ggml_dtype.type_size()) as u64
            })
            .max()
            .unwrap_or(0);
        if needed > file_len {
            return Err(Error::InvalidGguf {
                path: path.to_owned(),
                message: format!(
                    "the file is truncated: tensors need {needed} bytes, the file has {file_len}"
                ),
            });
        }
        Ok(Self {
            path: path.to_owned(),
            content,
            reader,
        })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    fn missing(&self, key: &str, problem: &str) -> Error {
        Error::Metadata {
            path: self.path.clone(),
            key: key.to_owned(),
            problem: problem.to_owned(),
        }
    }

    pub fn string(&self, key: &str) -> Result<&str> {
        match self.get(key) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(self.missing(key, "is not a string")),
            None => Err(self.missing(key, "is missing")),
        }
    }

    pub fn opt_string(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// Any integer type, as GGUF writers differ in the width they pick.
    pub fn uint(&self, key: &str) -> Result<u64> {
        self.opt_uint(key).ok_or_else(|| match self.get(key) {
            Some(_) => self.missing(key, "is not a non-negative integer"),
            None => self.missing(key, "is missing"),
        })
    }

    pub fn opt_uint(&self, key: &str) -> Option<u64> {
        match self.get(key)? {
            Value::U8(v) => Some(*v as u64),
            Value::U16(v) => Some(*v as u64),
            Value::U32(v) => Some(*v as u64),
            Value::U64(v) => Some(*v),
            Value::I8(v) => u64::try_from(*v).ok(),
            Value::I16(v) => u64::try_from(*v).ok(),
            Value::I32(v) => u64::try_from(*v).ok(),
            Value::I64(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }

    pub fn opt_float(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            Value::F32(v) => Some(*v as f64),
            Value::F64(v) => Some(*v),
            _ => None,
        }
    }

    pub fn opt_bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(v) => Some(*v),
            _ => None,
        }
    }

    pub fn strings(&self, key: &str) -> Result<Vec<String>> {
        let Some(Value::Array(values)) = self.get(key) else {
            return Err(self.missing(key, "is missing or not an array"));
        };
        values
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(self.missing(key, "holds a non-string entry")),
            })
            .collect()
    }

    /// An array's entries, each converted by `entry` (`None` when the key is missing,
    /// not an array, or holds an entry `entry` refuses).
    fn array<T>(&self, key: &str, entry: impl Fn(&Value) -> Option<T>) -> Option<Vec<T>> {
        let Some(Value::Array(values)) = self.get(key) else {
            return None;
        };
        values.iter().map(entry).collect()
    }

    pub fn bools(&self, key: &str) -> Option<Vec<bool>> {
        self.array(key, |v| match v {
            Value::Bool(x) => Some(*x),
            _ => None,
        })
    }

    pub fn floats(&self, key: &str) -> Option<Vec<f32>> {
        self.array(key, |v| match v {
            Value::F32(x) => Some(*x),
            Value::F64(x) => Some(*x as f32),
            _ => None,
        })
    }

    pub fn ints(&self, key: &str) -> Option<Vec<i64>> {
        self.array(key, |v| match v {
            Value::I32(x) => Some(*x as i64),
            Value::U32(x) => Some(*x as i64),
            Value::I8(x) => Some(*x as i64),
            Value::U8(x) => Some(*x as i64),
            Value::I64(x) => Some(*x),
            _ => None,
        })
    }

    pub fn tensor(&mut self, name: &str) -> Result<candle_core::quantized::QTensor> {
        if !self.content.tensor_infos.contains_key(name) {
            return Err(Error::InvalidGguf {
                path: self.path.clone(),
                message: format!("tensor `{name}` is missing"),
            });
        }
        self.content
            .tensor(&mut self.reader, name, &candle_core::Device::Cpu)
            .map_err(|e| Error::InvalidGguf {
                path: self.path.clone(),
                message: format!("tensor `{name}`: {e}"),
            })
    }

    pub fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }
}
