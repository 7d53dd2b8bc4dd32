//! The wasm-bindgen layer: the JS API of the `edge-llm` npm package.
//!
//! Thin on purpose: each export converts JS inputs, calls the library and maps
//! `crate::Error` to a JS `Error` carrying `code` (see [`to_js_error`]). No
//! panic may cross into JS (a wasm panic aborts the instance), so nothing here
//! unwraps.

mod engine;

use wasm_bindgen::prelude::*;

pub use engine::{RawEngine, RawLoader};

use crate::{gpu, Error};

/// A JS `Error` whose `message` is the Display text and whose `code` property
/// is [`Error::code`] (`"bad_gguf"`, `"no_webgpu"`, ...).
pub fn to_js_error(e: Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    // Reflect::set fails only on frozen/proxy objects; a fresh Error is neither,
    // and losing `code` beats panicking.
    let _ = js_sys::Reflect::set(
        &err,
        &JsValue::from_str("code"),
        &JsValue::from_str(e.code()),
    );
    err.into()
}

/// The crate version (Cargo.toml), which is also the npm package version.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Opens the WebGPU adapter and device and describes them:
/// `{ name, backend, driver, subgroups, shader_f16, max_storage_binding,
/// max_buffer_size }`. Rejects with code `no_webgpu` when there is no adapter.
#[wasm_bindgen]
pub async fn probe() -> Result<JsValue, JsValue> {
    let g = gpu::Gpu::new().await.map_err(to_js_error)?;
    serde_wasm_bindgen::to_value(&g.info)
        .map_err(|e| to_js_error(Error::Gpu(format!("adapter info to JS: {e}"))))
}

/// Bytes of wasm linear memory now. It only grows, so after a load this is
/// the peak the load needed.
#[wasm_bindgen]
pub fn wasm_memory_bytes() -> f64 {
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .ok()
        .and_then(|m| m.buffer().dyn_into::<js_sys::ArrayBuffer>().ok())
        .map_or(0.0, |b| f64::from(b.byte_length()))
}
