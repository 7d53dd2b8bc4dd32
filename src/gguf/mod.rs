//! GGUF v2/v3 container: metadata, tensor infos and tensor data ranges.
//!
//! The file is hostile input. Every count, length, offset and dimension is
//! checked against the bytes that exist before anything is allocated or
//! sliced, with checked arithmetic that also holds for 32-bit `usize`.

mod reader;
mod types;

pub use reader::parse;
pub use types::{Array, GgmlType, Gguf, TensorInfo, Value};
