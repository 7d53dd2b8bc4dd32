//! Plain scalar f32 implementations: the oracle every GPU kernel and the GPU
//! forward pass are tested against.
//!
//! `ops` holds the kernels (shapes documented on each), `llama` the whole
//! llama forward pass built from them.

pub mod llama;
pub mod ops;

pub use llama::RefLlama;
pub use ops::{
    add, argmax, attention, dot, log_softmax, matmul, rmsnorm, rope_neox, rope_norm, round_q8_1,
    silu, silu_mul, softmax, AttnDims,
};
