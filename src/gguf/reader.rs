//! The byte-level GGUF reader (v2 and v3, little-endian).
//!
//! Layout: magic `GGUF`, u32 version, u64 tensor count, u64 metadata count;
//! metadata entries (string key, u32 value type, value); tensor infos
//! (string name, u32 n_dims, u64 dims[n_dims], u32 type, u64 offset relative
//! to the data section); padding to `general.alignment`; tensor data.
//!
//! Every count is checked against a cap and against the bytes left before
//! anything is allocated from it, so a hostile file costs at most a small
//! multiple of its own size in memory and time.

use std::collections::HashSet;

use super::cursor::{bad, At, Cursor, Stop, R};
use super::types::{Array, GgmlType, Gguf, TensorInfo, Value};
use crate::{Error, Result};

/// Longest metadata key accepted.
pub const MAX_KEY_LEN: u64 = 64 << 10;
/// Longest string value accepted (chat templates are ~10 KiB; tokens tiny).
pub const MAX_STRING_LEN: u64 = 64 << 20;
/// Longest tensor name accepted (ggml itself keeps 64 bytes).
pub const MAX_TENSOR_NAME_LEN: u64 = 64 << 10;
/// ggml's `GGML_MAX_DIMS`.
pub const MAX_DIMS: u32 = 4;
/// Most tensors accepted in one file.
pub const MAX_TENSORS: u64 = 1 << 20;
/// Most metadata entries accepted in one file.
pub const MAX_KV: u64 = 1 << 20;
/// Most elements in one metadata array (vocabularies are < 300k; merges
/// lists of the largest vocabularies are ~1M).
pub const MAX_ARRAY_LEN: u64 = 1 << 24;
/// Deepest nesting of arrays inside arrays (an array at top level is depth 1).
pub const MAX_ARRAY_DEPTH: u32 = 4;
/// Data alignment when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// Smallest possible metadata entry: empty key (8) + type (4) + u8 value (1).
const MIN_KV_BYTES: u64 = 13;
/// Smallest possible tensor info: empty name (8) + n_dims (4) + one dim (8)
/// + type (4) + offset (8).
const MIN_TENSOR_INFO_BYTES: u64 = 32;

/// GGUF metadata value type ids.
mod vt {
    pub const U8: u32 = 0;
    pub const I8: u32 = 1;
    pub const U16: u32 = 2;
    pub const I16: u32 = 3;
    pub const U32: u32 = 4;
    pub const I32: u32 = 5;
    pub const F32: u32 = 6;
    pub const BOOL: u32 = 7;
    pub const STRING: u32 = 8;
    pub const ARRAY: u32 = 9;
    pub const U64: u32 = 10;
    pub const I64: u32 = 11;
    pub const F64: u32 = 12;
}

/// Parses a whole GGUF file held in memory.
pub fn parse(bytes: &[u8]) -> Result<Gguf> {
    // A whole file never asks for more, but map it rather than assume it.
    parse_prefix(bytes, bytes.len() as u64)?
        .ok_or_else(|| Error::bad_gguf("file", "unexpected end of file"))
}

/// Parses header, metadata and tensor infos from the first bytes of a file
/// whose total length is `file_len`, checking every tensor's data range
/// against `file_len`. Returns `Ok(None)` when `prefix` ends before the
/// tensor infos do (read more and call again); errors when the file itself
/// is malformed or too short.
///
/// A hostile file can declare a header as long as the whole file (one huge
/// vocabulary string, say), so a streaming caller should cap how far it
/// grows the prefix before giving up.
pub fn parse_prefix(prefix: &[u8], file_len: u64) -> Result<Option<Gguf>> {
    if prefix.len() as u64 > file_len {
        return Err(Error::option(
            "file_len",
            format!(
                "prefix of {} bytes is longer than the file ({file_len} bytes)",
                prefix.len()
            ),
        ));
    }
    let mut c = Cursor::new(prefix, file_len);
    match read_file(&mut c, file_len) {
        Ok(g) => Ok(Some(g)),
        Err(Stop::More) => Ok(None),
        Err(Stop::Bad(e)) => Err(e),
        // Every read names its field; this is a fallback, not expected.
        Err(Stop::Eof) => Err(Error::bad_gguf("file", "unexpected end of file")),
    }
}

fn read_file(c: &mut Cursor<'_>, file_len: u64) -> R<Gguf> {
    let magic = c.take(4).at(|| "header.magic".into())?;
    if magic != b"GGUF" {
        return bad(
            "header.magic",
            format!("expected \"GGUF\", found bytes {magic:02x?}"),
        );
    }
    let version = c.u32().at(|| "header.version".into())?;
    match version {
        2 | 3 => {}
        1 => {
            return Err(unsupported(
                "GGUF version 1 (superseded in 2023); re-convert the model",
            ))
        }
        0 => return bad("header.version", "version 0"),
        v if matches!(v.swap_bytes(), 1..=3) => {
            return Err(unsupported("big-endian GGUF files"));
        }
        v => return Err(unsupported(&format!("GGUF version {v} (newer than 3)"))),
    }
    let n_tensors = c.u64().at(|| "header.tensor_count".into())?;
    let n_kv = c.u64().at(|| "header.kv_count".into())?;
    check_count(
        "header.kv_count",
        n_kv,
        MAX_KV,
        MIN_KV_BYTES,
        c.left_in_file(),
    )?;
    // The entries take at least n_kv * 13 bytes before the tensor infos.
    let after_kv = c.left_in_file().saturating_sub(n_kv * MIN_KV_BYTES);
    check_count(
        "header.tensor_count",
        n_tensors,
        MAX_TENSORS,
        MIN_TENSOR_INFO_BYTES,
        after_kv,
    )?;

    let metadata = read_metadata(c, n_kv)?;
    let alignment = alignment(&metadata)?;
    let mut tensors = read_tensor_infos(c, n_tensors, alignment)?;

    // The data section starts at the first aligned offset after the infos.
    let data_offset = align_up(c.pos(), alignment).ok_or_else(|| {
        Stop::Bad(Error::bad_gguf(
            "general.alignment",
            "data offset overflows",
        ))
    })?;
    for t in &mut tensors {
        let start = data_offset.checked_add(t.offset);
        let end = start.and_then(|s| s.checked_add(t.size));
        match (start, end) {
            (Some(s), Some(e)) if e <= file_len => t.offset = s,
            _ => {
                return bad(
                    format!("tensor {} data", t.name),
                    format!(
                        "{} bytes at offset {} of the data section (which starts at byte \
                         {data_offset}) run past the end of the {file_len}-byte file",
                        t.size, t.offset
                    ),
                )
            }
        }
    }
    Ok(Gguf {
        version,
        metadata,
        tensors,
        alignment,
        data_offset,
        file_len,
    })
}

fn unsupported(what: &str) -> Stop {
    Stop::Bad(Error::Unsupported(what.to_owned()))
}

/// Checks an untrusted element count against a cap and against the bytes
/// its smallest possible encoding would need.
fn check_count(field: &str, n: u64, cap: u64, min_bytes: u64, left: u64) -> R<()> {
    if n > cap {
        return bad(field, format!("{n} exceeds the limit of {cap}"));
    }
    // n <= 2^24 and min_bytes <= 32: no overflow, but stay checked.
    match n.checked_mul(min_bytes) {
        Some(need) if need <= left => Ok(()),
        _ => bad(
            field,
            format!("{n} entries need at least {min_bytes} bytes each, only {left} bytes left"),
        ),
    }
}

/// Capacity to reserve for `n` items of at least `min_bytes` each: never
/// more than the bytes actually held could encode, so a streaming caller's
/// short prefix cannot make us reserve for a huge (claimed) file.
fn capacity(c: &Cursor<'_>, n: u64, min_bytes: u64) -> usize {
    let held = c.left_in_prefix() / min_bytes.max(1);
    usize::try_from(n.min(held)).unwrap_or(0)
}

fn read_metadata(c: &mut Cursor<'_>, n_kv: u64) -> R<Vec<(String, Value)>> {
    let mut metadata: Vec<(String, Value)> = Vec::with_capacity(capacity(c, n_kv, MIN_KV_BYTES));
    let mut seen: HashSet<String> = HashSet::new();
    for i in 0..n_kv {
        let key_field = || format!("metadata[{i}].key");
        let key = c.string(MAX_KEY_LEN, key_field)?;
        if !seen.insert(key.clone()) {
            return bad(key_field(), format!("duplicate key {key:?}"));
        }
        let ty = c.u32().at(|| key.clone())?;
        let value = read_value(c, ty, &key)?;
        metadata.push((key, value));
    }
    Ok(metadata)
}

fn read_value(c: &mut Cursor<'_>, ty: u32, key: &str) -> R<Value> {
    let f = || key.to_owned();
    Ok(match ty {
        vt::U8 => Value::U8(c.u8().at(f)?),
        vt::I8 => Value::I8(c.u8().at(f)? as i8),
        vt::U16 => Value::U16(c.u16().at(f)?),
        vt::I16 => Value::I16(c.u16().at(f)? as i16),
        vt::U32 => Value::U32(c.u32().at(f)?),
        vt::I32 => Value::I32(c.u32().at(f)? as i32),
        vt::U64 => Value::U64(c.u64().at(f)?),
        vt::I64 => Value::I64(c.u64().at(f)? as i64),
        vt::F32 => Value::F32(c.f32().at(f)?),
        vt::F64 => Value::F64(c.f64().at(f)?),
        vt::BOOL => Value::Bool(c.bool(f)?),
        vt::STRING => Value::String(c.string(MAX_STRING_LEN, f)?),
        vt::ARRAY => Value::Array(read_array(c, key, 1)?),
        t => return bad(key, format!("unknown value type {t}")),
    })
}

/// Bytes of the smallest encoding of one value of type `ty` (a string is at
/// least its length prefix, an array at least its type and count).
fn min_value_bytes(ty: u32) -> Option<u64> {
    Some(match ty {
        vt::U8 | vt::I8 | vt::BOOL => 1,
        vt::U16 | vt::I16 => 2,
        vt::U32 | vt::I32 | vt::F32 => 4,
        vt::U64 | vt::I64 | vt::F64 | vt::STRING => 8,
        vt::ARRAY => 12,
        _ => return None,
    })
}

/// Reads an array at nesting `depth` (1 = a top-level value). `field` names
/// it; element `i` is named `field[i]`.
fn read_array(c: &mut Cursor<'_>, field: &str, depth: u32) -> R<Array> {
    let f = || field.to_owned();
    let ty = c.u32().at(f)?;
    let n = c.u64().at(f)?;
    let Some(min) = min_value_bytes(ty) else {
        return bad(field, format!("unknown array element type {ty}"));
    };
    if n > MAX_ARRAY_LEN {
        return bad(
            field,
            format!("array of {n} elements exceeds the limit of {MAX_ARRAY_LEN}"),
        );
    }
    match n.checked_mul(min) {
        Some(need) if need <= c.left_in_file() => {}
        _ => {
            return bad(
                field,
                format!(
                    "array of {n} elements needs at least {min} bytes each, only {} bytes left",
                    c.left_in_file()
                ),
            )
        }
    }
    let cap = capacity(c, n, min);
    let elem = |i: u64| format!("{field}[{i}]");
    // Integers of every width widen to i64 (see `Array`).
    let ints = |c: &mut Cursor<'_>, read: fn(&mut Cursor<'_>) -> R<i64>| -> R<Array> {
        let mut v = Vec::with_capacity(cap);
        for i in 0..n {
            v.push(read(c).at(|| elem(i))?);
        }
        Ok(Array::Int(v))
    };
    match ty {
        vt::U8 => ints(c, |c| c.u8().map(i64::from)),
        vt::I8 => ints(c, |c| c.u8().map(|x| i64::from(x as i8))),
        vt::U16 => ints(c, |c| c.u16().map(i64::from)),
        vt::I16 => ints(c, |c| c.u16().map(|x| i64::from(x as i16))),
        vt::U32 => ints(c, |c| c.u32().map(i64::from)),
        vt::I32 => ints(c, |c| c.u32().map(|x| i64::from(x as i32))),
        vt::I64 => ints(c, |c| c.u64().map(|x| x as i64)),
        vt::U64 => {
            let mut v = Vec::with_capacity(cap);
            for i in 0..n {
                let x = c.u64().at(|| elem(i))?;
                match i64::try_from(x) {
                    Ok(x) => v.push(x),
                    Err(_) => return bad(elem(i), format!("u64 value {x} does not fit i64")),
                }
            }
            Ok(Array::Int(v))
        }
        vt::F32 => {
            let mut v = Vec::with_capacity(cap);
            for i in 0..n {
                v.push(c.f32().at(|| elem(i))?);
            }
            Ok(Array::F32(v))
        }
        vt::F64 => {
            let mut v = Vec::with_capacity(cap);
            for i in 0..n {
                v.push(c.f64().at(|| elem(i))?);
            }
            Ok(Array::F64(v))
        }
        vt::BOOL => {
            let mut v = Vec::with_capacity(cap);
            for i in 0..n {
                v.push(c.bool(|| elem(i))?);
            }
            Ok(Array::Bool(v))
        }
        vt::STRING => {
            let mut v = Vec::with_capacity(cap);
            for i in 0..n {
                v.push(c.string(MAX_STRING_LEN, || elem(i))?);
            }
            Ok(Array::String(v))
        }
        // vt::ARRAY: walked for validity (each costs >= 12 bytes, so the
        // walk is linear in the file), then only its length is kept.
        _ => {
            if depth >= MAX_ARRAY_DEPTH {
                return bad(
                    field,
                    format!("arrays nested deeper than {MAX_ARRAY_DEPTH} levels"),
                );
            }
            for i in 0..n {
                read_array(c, &elem(i), depth + 1)?;
            }
            // n <= MAX_ARRAY_LEN = 2^24 fits every usize we target.
            let len = usize::try_from(n)
                .map_err(|_| Stop::Bad(Error::bad_gguf(field, "array length overflows usize")))?;
            Ok(Array::Nested(len))
        }
    }
}

/// `general.alignment`: any unsigned integer type, a non-zero power of two.
fn alignment(metadata: &[(String, Value)]) -> R<u64> {
    const KEY: &str = "general.alignment";
    let Some((_, v)) = metadata.iter().find(|(k, _)| k == KEY) else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    let a = match *v {
        Value::U8(x) => u64::from(x),
        Value::U16(x) => u64::from(x),
        Value::U32(x) => u64::from(x),
        Value::U64(x) => x,
        Value::I32(x) if x >= 0 => x as u64,
        Value::I64(x) if x >= 0 => x as u64,
        _ => return bad(KEY, format!("expected an unsigned integer, found {v:?}")),
    };
    if !a.is_power_of_two() || a > u64::from(u32::MAX) {
        return bad(KEY, format!("{a} is not a power of two below 2^32"));
    }
    Ok(a)
}

fn align_up(x: u64, a: u64) -> Option<u64> {
    // a is a power of two.
    x.checked_add(a - 1).map(|y| y & !(a - 1))
}

fn read_tensor_infos(c: &mut Cursor<'_>, n: u64, alignment: u64) -> R<Vec<TensorInfo>> {
    let mut tensors = Vec::with_capacity(capacity(c, n, MIN_TENSOR_INFO_BYTES));
    let mut seen: HashSet<String> = HashSet::new();
    for i in 0..n {
        let name = c.string(MAX_TENSOR_NAME_LEN, || format!("tensor[{i}].name"))?;
        let field = |what: &str| format!("tensor {name} {what}");
        if !seen.insert(name.clone()) {
            return bad(field("name"), "duplicate tensor name");
        }
        let n_dims = c.u32().at(|| field("dims"))?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return bad(
                field("dims"),
                format!("{n_dims} dimensions (must be 1..={MAX_DIMS})"),
            );
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        let mut n_elems: u64 = 1;
        for _ in 0..n_dims {
            let d = c.u64().at(|| field("dims"))?;
            if d == 0 {
                return bad(field("dims"), "a dimension is 0");
            }
            // ggml keeps element counts in int64_t.
            n_elems = match n_elems.checked_mul(d) {
                Some(p) if p <= i64::MAX as u64 => p,
                _ => return bad(field("dims"), "element count overflows"),
            };
            dims.push(d);
        }
        let id = c.u32().at(|| field("type"))?;
        let ty = GgmlType::from_id(id, &field("type"))?;
        let offset = c.u64().at(|| field("offset"))?;

        // Whole blocks along the contiguous dimension, as ggml requires.
        let be = ty.block_elems();
        if !dims[0].is_multiple_of(be) {
            return bad(
                field("dims"),
                format!(
                    "first dimension {} is not a multiple of the {} block size {be}",
                    dims[0],
                    ty.name()
                ),
            );
        }
        let size = (n_elems / be)
            .checked_mul(ty.block_bytes())
            .ok_or_else(|| Stop::Bad(Error::bad_gguf(field("dims"), "byte size overflows")))?;
        if !offset.is_multiple_of(alignment) {
            return bad(
                field("offset"),
                format!("{offset} is not a multiple of the alignment {alignment}"),
            );
        }
        tensors.push(TensorInfo {
            name,
            dims,
            ty,
            offset,
            size,
        });
    }
    Ok(tensors)
}
