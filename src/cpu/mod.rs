//! The CPU path: the same llama forward as the GPU's, on the CPU, with the
//! weights kept quantized and SIMD block dots in wasm (`dot`).
//!
//! Why it exists: where the only WebGPU adapter is a software one
//! (Chromium's SwiftShader on machines without a GPU), shaders run ~10x
//! slower per weight than this code on one thread, and llama.cpp's own
//! wasm build (wllama) is the engine to beat there.

pub mod dot;
pub mod llama;
pub mod loader;
pub mod qmat;
pub mod sample;
pub mod session;

pub use llama::CpuLlama;
pub use loader::CpuLoader;
pub use qmat::{QMat, QVec};
pub use session::CpuSession;
