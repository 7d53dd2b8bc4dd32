//! Quantized block layouts and their CPU reference dequantization.
//!
//! GGUF stores each block as ggml does (`block_q4_1` = f16 d, f16 m, 16 bytes
//! of nibbles, ...). `repack` turns them into the GPU layout described there.

use crate::gguf::GgmlType;
use crate::{Error, Result};

/// TEMPORARY STUB (branch h-ref): the real CPU dequantization lands from the
/// quant branch and replaces this at merge. Signature is the contract:
/// `n_elems` elements of type `ty` from `bytes` -> f32, row-major.
pub fn dequantize(ty: GgmlType, bytes: &[u8], n_elems: usize) -> Result<Vec<f32>> {
    let _ = (bytes, n_elems);
    Err(Error::Unsupported(format!(
        "dequantize {} (quant module not merged yet)",
        ty.name()
    )))
}
