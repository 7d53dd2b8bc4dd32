//! Quantized block layouts and their CPU reference dequantization.
//!
//! GGUF stores each block as ggml does (`block_q4_1` = f16 d, f16 m, 16 bytes
//! of nibbles, ...). `repack` turns them into the GPU layout described there.
