//! GGUF v2/v3 container: metadata, tensor infos and tensor data ranges.
//!
//! The file is hostile input. Every count, length, offset and dimension is
//! checked against the bytes that exist before anything is allocated or
//! sliced, with checked arithmetic that also holds for 32-bit `usize`.

mod cursor;
mod reader;
mod types;

pub use reader::{
    parse, parse_prefix, DEFAULT_ALIGNMENT, MAX_ARRAY_DEPTH, MAX_ARRAY_LEN, MAX_DIMS, MAX_KEY_LEN,
    MAX_KV, MAX_STRING_LEN, MAX_TENSORS, MAX_TENSOR_NAME_LEN,
};
pub use types::{Array, GgmlType, Gguf, TensorInfo, Value};
