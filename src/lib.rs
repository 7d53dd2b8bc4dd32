//! edge-llm: quantized LLM inference on WebGPU (through wgpu), in the browser
//! and natively.
//!
//! Layers, each depending only on those above it:
//! `gguf` -> `quant` -> `tokenizer` -> `reference` -> `gpu` -> `ops` -> `model`
//! -> `engine` -> `wasm`. See ARCHITECTURE.md.

pub mod cpu;
pub mod engine;
pub mod error;
pub mod gguf;
pub mod gpu;
pub mod model;
#[cfg(not(target_arch = "wasm32"))]
pub mod models;
pub mod ops;
pub mod quant;
pub mod reference;
pub mod tokenizer;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use error::{Error, Result};
