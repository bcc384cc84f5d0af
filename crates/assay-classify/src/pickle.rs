//! Just enough of Python's pickle format (protocols 2 to 5) to read the scikit-learn
//! models that `joblib.dump` writes, without running Python.
//!
//! This is a data reader, not an unpickler: it builds a tree of [`Value`]s and never
//! calls anything a pickle names. joblib writes each NumPy array's bytes straight after
//! the `BUILD` of its `NumpyArrayWrapper`, outside the pickle stream, so the reader
//! takes them there ([`Value::Array`]) as joblib's own `NumpyUnpickler` does.

use std::collections::HashMap;

/// A value of the pickle stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Id>),
    List(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    /// `module.name` as a `GLOBAL` names it.
    Global(String, String),
    /// An object made by calling (`REDUCE`) or instantiating (`NEWOBJ`) a global, with
    /// the state a later `BUILD` gave it.
    Object {
        class: Id,
        args: Id,
        state: Option<Id>,
    },
    /// A NumPy array that joblib wrote after its wrapper: little-endian bytes.
    Array {
        dtype: String,
        shape: Vec<usize>,
        data: Vec<u8>,
    },
    Mark,
}

/// Where a value lives in the reader's arena (pickle objects can be shared and mutated
/// after they are memoised, so the stack and the memo hold indices).
pub(crate) type Id = usize;

#[derive(Debug, thiserror::Error)]
#[error("byte {offset}: {message}")]
pub(crate) struct PickleError {
    pub offset: usize,
    pub message: String,
}

/// A parsed pickle: the arena and the id of the top value.
#[derive(Debug)]
pub(crate) struct Pickle {
    values: Vec<Value>,
    pub root: Id,
}

impl Pickle {
    pub(crate) fn get(&self, id: Id) -> &Value {
        &self.values[id]
    }

    /// The state of an object of class `module.name` (`None` if `id` is something else).
    pub(crate) fn object_state(&self, id: Id) -> Option<(String, Option<Id>)> {
        match self.get(id) {
            Value::Object { class, state, .. } => match self.get(*class) {
                Value::Global(module, name) => Some((format!("{module}.{name}"), *state)),
                _ => None,
            },
            _ => None,
        }
    }

    /// `key` in the dict `id` (string keys).
    pub(crate) fn dict_get(&self, id: Id, key: &str) -> Option<Id> {
        match self.get(id) {
            Value::Dict(items) => items
                .iter()
                .find(|(k, _)| matches!(self.get(*k), Value::Str(s) if s == key))
                .map(|(_, v)| *v),
            _ => None,
        }
    }

    pub(crate) fn list_items(&self, id: Id) -> Option<&[Id]> {
        match self.get(id) {
            Value::List(items) | Value::Tuple(items) => Some(items),
            _ => None,
        }
    }

    /// A float, whether a Python float or a NumPy scalar (`numpy…scalar(dtype, bytes)`).
    pub(crate) fn float(&self, id: Id) -> Option<f64> {
        match self.get(id) {
            Value::Float(x) => Some(*x),
            Value::Int(i) => Some(*i as f64),
            Value::Object { class, args, .. } => {
                let Value::Global(module, name) = self.get(*class) else {
                    return None;
                };
                if !module.starts_with("numpy") || name != "scalar" {
                    return None;
                }
                let items = self.list_items(*args)?;
                let (dtype, bytes) = (self.dtype(*items.first()?)?, items.get(1)?);
                let Value::Bytes(bytes) = self.get(*bytes) else {
                    return None;
                };
                match (dtype.as_str(), bytes.len()) {
                    ("<f8", 8) => Some(f64::from_le_bytes(bytes[..].try_into().ok()?)),
                    ("<f4", 4) => Some(f32::from_le_bytes(bytes[..].try_into().ok()?).into()),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// A NumPy dtype object as its `<f8`-style description.
    fn dtype(&self, id: Id) -> Option<String> {
        let Value::Object { class, args, state } = self.get(id) else {
            return None;
        };
        let Value::Global(module, name) = self.get(*class) else {
            return None;
        };
        if !module.starts_with("numpy") || name != "dtype" {
            return None;
        }
        let Value::Str(kind) = self.get(*self.list_items(*args)?.first()?) else {
            return None;
        };
        // The state tuple's second item is the byte order: `<`, `>`, `|` (not
        // applicable) or `=` (native, which joblib writes as `<` on the machines that
        // made these files).
        let order = match state.and_then(|s| self.list_items(s)?.get(1).copied()) {
            Some(o) => match self.get(o) {
                Value::Str(o) => o.clone(),
                _ => return None,
            },
            None => "|".into(),
        };
        let order = if order == "|" || order == "=" {
            "<"
        } else {
            &order
        };
        Some(format!("{order}{kind}"))
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    values: Vec<Value>,
    stack: Vec<Id>,
    memo: HashMap<u32, Id>,
}

/// Reads a pickle stream, with joblib's arrays in place of their wrappers.
pub(crate) fn read(bytes: &[u8]) -> Result<Pickle, PickleError> {
    let mut reader = Reader {
        bytes,
        pos: 0,
        values: Vec::new(),
        stack: Vec::new(),
        memo: HashMap::new(),
    };
    let root = reader.run()?;
    Ok(Pickle {
        values: reader.values,
        root,
    })
}

impl Reader<'_> {
    fn error(&self, message: impl Into<String>) -> PickleError {
        PickleError {
            offset: self.pos,
            message: message.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| self.error(format!("the file ends inside a {n}-byte field")))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, PickleError> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, PickleError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn len(&mut self, n: u64) -> Result<usize, PickleError> {
        usize::try_from(n).map_err(|_| self.error("a length does not fit in memory"))
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.bytes[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.error("a GLOBAL name has no end of line"))?;
        let text = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.pos += end + 1;
        Ok(text)
    }

    fn string(&mut self, n: usize) -> Result<String, PickleError> {
        let bytes = self.take(n)?.to_vec();
        String::from_utf8(bytes).map_err(|_| self.error("a string is not UTF-8"))
    }

    fn push(&mut self, value: Value) {
        self.values.push(value);
        self.stack.push(self.values.len() - 1);
    }

    fn pop(&mut self) -> Result<Id, PickleError> {
        self.stack
            .pop()
            .ok_or_else(|| self.error("an operation found the stack empty"))
    }

    fn top(&self) -> Result<Id, PickleError> {
        self.stack
            .last()
            .copied()
            .ok_or_else(|| self.error("an operation found the stack empty"))
    }

    fn pop_mark(&mut self) -> Result<Vec<Id>, PickleError> {
        let at = self
            .stack
            .iter()
            .rposition(|&id| self.values[id] == Value::Mark)
            .ok_or_else(|| self.error("no MARK before a sequence operation"))?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items)
    }

    fn memo_get(&mut self, key: u32) -> Result<(), PickleError> {
        let id = *self
            .memo
            .get(&key)
            .ok_or_else(|| self.error(format!("memo entry {key} is read before it is written")))?;
        self.stack.push(id);
        Ok(())
    }

    fn memo_put(&mut self, key: u32) -> Result<(), PickleError> {
        let id = self.top()?;
        self.memo.insert(key, id);
        Ok(())
    }

    fn extend_dict(&mut self, dict: Id, items: Vec<Id>) -> Result<(), PickleError> {
        if !items.len().is_multiple_of(2) {
            return Err(self.error("SETITEMS with an odd number of items"));
        }
        let pairs = items.chunks(2).map(|p| (p[0], p[1]));
        match &mut self.values[dict] {
            Value::Dict(entries) => {
                entries.extend(pairs);
                Ok(())
            }
            _ => Err(self.error("SETITEM(S) on something that is not a dict")),
        }
    }

    fn extend_list(&mut self, list: Id, items: Vec<Id>) -> Result<(), PickleError> {
        match &mut self.values[list] {
            Value::List(entries) => {
                entries.extend(items);
                Ok(())
            }
            _ => Err(self.error("APPEND(S) on something that is not a list")),
        }
    }

    fn run(&mut self) -> Result<Id, PickleError> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let protocol = self.u8()?;
                    if !(2..=5).contains(&protocol) {
                        return Err(self.error(format!("pickle protocol {protocol} is not read")));
                    }
                }
                // FRAME: a length hint; the operations follow inline.
                0x95 => {
                    self.u64()?;
                }
                b'.' => return self.pop(),
                b'(' => self.push(Value::Mark),
                b'0' => {
                    self.pop()?;
                }
                0x94 => {
                    let key = u32::try_from(self.memo.len()).expect("memo fits u32");
                    self.memo_put(key)?;
                }
                b'q' => {
                    let key = self.u8()?.into();
                    self.memo_put(key)?;
                }
                b'r' => {
                    let key = self.u32()?;
                    self.memo_put(key)?;
                }
                b'h' => {
                    let key = self.u8()?.into();
                    self.memo_get(key)?;
                }
                b'j' => {
                    let key = self.u32()?;
                    self.memo_get(key)?;
                }
                b'N' => self.push(Value::None),
                0x88 => self.push(Value::Bool(true)),
                0x89 => self.push(Value::Bool(false)),
                b'K' => {
                    let v = self.u8()?.into();
                    self.push(Value::Int(v));
                }
                b'M' => {
                    let v = self.u16()?.into();
                    self.push(Value::Int(v));
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"));
                    self.push(Value::Int(v.into()));
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let bytes = self.take(n)?.to_vec();
                    if n > 8 {
                        return Err(self.error("an integer wider than 64 bits"));
                    }
                    let fill = if bytes.last().is_some_and(|b| b & 0x80 != 0) {
                        0xff
                    } else {
                        0
                    };
                    let mut wide = [fill; 8];
                    wide[..n].copy_from_slice(&bytes);
                    self.push(Value::Int(i64::from_le_bytes(wide)));
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes"));
                    self.push(Value::Float(v));
                }
                0x8c => {
                    let n = self.u8()?.into();
                    let s = self.string(n)?;
                    self.push(Value::Str(s));
                }
                b'X' => {
                    let n = self.u32()?.into();
                    let n = self.len(n)?;
                    let s = self.string(n)?;
                    self.push(Value::Str(s));
                }
                0x8d => {
                    let n = self.u64()?;
                    let n = self.len(n)?;
                    let s = self.string(n)?;
                    self.push(Value::Str(s));
                }
                b'C' => {
                    let n = self.u8()?.into();
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b));
                }
                b'B' => {
                    let n = self.u32()?.into();
                    let n = self.len(n)?;
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b));
                }
                0x8e => {
                    let n = self.u64()?;
                    let n = self.len(n)?;
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b));
                }
                b')' => self.push(Value::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < n {
                        return Err(self.error("TUPLE with too few items on the stack"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(Value::Tuple(items));
                }
                b']' => self.push(Value::List(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(items));
                }
                b'a' => {
                    let item = self.pop()?;
                    let list = self.top()?;
                    self.extend_list(list, vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let list = self.top()?;
                    self.extend_list(list, items)?;
                }
                b'}' => self.push(Value::Dict(Vec::new())),
                b'd' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Dict(Vec::new()));
                    let dict = self.top()?;
                    self.extend_dict(dict, items)?;
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    let dict = self.top()?;
                    self.extend_dict(dict, vec![key, value])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let dict = self.top()?;
                    self.extend_dict(dict, items)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Value::Global(module, name));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (&self.values[module], &self.values[name]) {
                        (Value::Str(m), Value::Str(n)) => {
                            let global = Value::Global(m.clone(), n.clone());
                            self.push(global);
                        }
                        _ => return Err(self.error("STACK_GLOBAL without two strings")),
                    }
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let class = self.pop()?;
                    self.push(Value::Object {
                        class,
                        args,
                        state: None,
                    });
                }
                b'b' => {
                    let new_state = self.pop()?;
                    let object = self.top()?;
                    match &mut self.values[object] {
                        Value::Object { state, .. } => *state = Some(new_state),
                        _ => return Err(self.error("BUILD on something that is not an object")),
                    }
                    self.read_joblib_array(object)?;
                }
                other => {
                    return Err(PickleError {
                        offset: self.pos - 1,
                        message: format!("pickle operation 0x{other:02x} is not read"),
                    });
                }
            }
        }
    }

    /// If `object` is joblib's `NumpyArrayWrapper`, reads the array bytes that follow
    /// it and puts the array in its place (joblib's `NumpyArrayWrapper.read_array`).
    fn read_joblib_array(&mut self, object: Id) -> Result<(), PickleError> {
        let snapshot = Pickle {
            values: std::mem::take(&mut self.values),
            root: object,
        };
        let wrapper = match snapshot.object_state(object) {
            Some((class, Some(state))) if class == "joblib.numpy_pickle.NumpyArrayWrapper" => {
                Some(state)
            }
            _ => None,
        };
        let parsed = wrapper.map(|state| {
            let dtype = snapshot
                .dict_get(state, "dtype")
                .and_then(|d| snapshot.dtype(d));
            let shape = snapshot.dict_get(state, "shape").and_then(|s| {
                snapshot
                    .list_items(s)?
                    .iter()
                    .map(|&d| match snapshot.get(d) {
                        Value::Int(n) => usize::try_from(*n).ok(),
                        _ => None,
                    })
                    .collect::<Option<Vec<usize>>>()
            });
            let order = snapshot
                .dict_get(state, "order")
                .map(|o| snapshot.get(o).clone());
            let aligned = snapshot
                .dict_get(state, "numpy_array_alignment_bytes")
                .is_some_and(|a| !matches!(snapshot.get(a), Value::None));
            (dtype, shape, order, aligned)
        });
        self.values = snapshot.values;
        let Some((dtype, shape, order, aligned)) = parsed else {
            return Ok(());
        };
        let dtype = dtype.ok_or_else(|| self.error("a joblib array with an unreadable dtype"))?;
        let shape = shape.ok_or_else(|| self.error("a joblib array with an unreadable shape"))?;
        let item = match dtype.as_str() {
            "<f8" | "<i8" | "<u8" => 8,
            "<f4" | "<i4" | "<u4" => 4,
            "<i2" | "<u2" => 2,
            "<i1" | "<u1" | "<b1" => 1,
            other => {
                return Err(self.error(format!(
                    "a joblib array of dtype `{other}` is not read (numbers only)"
                )));
            }
        };
        if shape.len() > 1 && order != Some(Value::Str("C".into())) {
            return Err(self.error("a joblib array in Fortran order is not read"));
        }
        if aligned {
            let padding = self.u8()?.into();
            self.take(padding)?;
        }
        let count = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .and_then(|c| c.checked_mul(item))
            .ok_or_else(|| self.error("a joblib array too large to read"))?;
        let data = self.take(count)?.to_vec();
        self.values[object] = Value::Array { dtype, shape, data };
        Ok(())
    }
}

/// The numbers of an array value, as f64.
pub(crate) fn array_f64(value: &Value) -> Option<(Vec<usize>, Vec<f64>)> {
    let Value::Array { dtype, shape, data } = value else {
        return None;
    };
    let numbers = match dtype.as_str() {
        "<f8" => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect(),
        "<f4" => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")).into())
            .collect(),
        "<i8" => data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as f64)
            .collect(),
        "<i4" => data
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")).into())
            .collect(),
        _ => return None,
    };
    Some((shape.clone(), numbers))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pickle.dumps({'a': [1, 2.5, 'x'], 'b': (True, None)}, protocol=4)` in CPython 3.11.
    #[test]
    fn reads_a_python_pickle() {
        let bytes: &[u8] = b"\x80\x04\x95$\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94]\x94(K\x01G@\x04\x00\x00\x00\x00\x00\x00\x8c\x01x\x94e\x8c\x01b\x94\x88N\x86\x94u.";
        let p = read(bytes).unwrap();
        let a = p.dict_get(p.root, "a").unwrap();
        let items = p.list_items(a).unwrap();
        assert_eq!(p.get(items[0]), &Value::Int(1));
        assert_eq!(p.float(items[1]), Some(2.5));
        assert_eq!(p.get(items[2]), &Value::Str("x".into()));
        let b = p.list_items(p.dict_get(p.root, "b").unwrap()).unwrap();
        assert_eq!(p.get(b[0]), &Value::Bool(true));
        assert_eq!(p.get(b[1]), &Value::None);
    }

    #[test]
    fn truncated_and_unknown_input_is_an_error_with_its_offset() {
        let bytes: &[u8] = b"\x80\x04\x95\x1e\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x05ab";
        let e = read(bytes).unwrap_err();
        assert!(e.to_string().contains("ends inside a 5-byte field"), "{e}");
        let e = read(b"\x80\x04\xff").unwrap_err();
        assert_eq!(e.offset, 2, "{e}");
        assert!(read(b"\x80\x04.").is_err(), "STOP on an empty stack");
    }
}
