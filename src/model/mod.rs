//! Model architectures: hyper-parameters from GGUF keys, weights with their
//! expected shapes, and the forward pass built from `ops`.

pub mod config;
pub mod llama_gpu;
pub mod loader;
