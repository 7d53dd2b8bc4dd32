//! Quantized block layouts and their CPU reference dequantization.
//!
//! GGUF stores each block as ggml does (`block_q4_1` = f16 d, f16 m, 16 bytes
//! of nibbles, ...); `dequant` decodes them exactly as ggml does. `repack`
//! turns them into the GPU layout (quants and scales in separate word runs)
//! described in its module docs, with `dequantize_repacked` as its reader.

mod dequant;
mod repack;

pub use dequant::{dequantize, dequantize_into};
pub use repack::{dequantize_repacked, repack, repacked_words, Repacked, SCALE_TILE_ROWS};
