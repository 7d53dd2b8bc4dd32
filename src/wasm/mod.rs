//! The wasm-bindgen layer: the JS API of the `edge-llm` npm package.
//!
//! Thin on purpose: each export converts JS inputs, calls the library and maps
//! `crate::Error` to a JS `Error` carrying `code` (see [`to_js_error`]). No
//! panic may cross into JS (a wasm panic aborts the instance), so nothing here
//! unwraps.

use wasm_bindgen::prelude::*;

use crate::{gguf, gpu, tokenizer, Error};

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

/// Tokenizes `text` with the tokenizer embedded in a GGUF file (`bytes`: the
/// whole file), adding BOS/EOS as the model asks and parsing special tokens.
#[wasm_bindgen]
pub fn tokenize_gguf(bytes: &[u8], text: &str) -> Result<Vec<u32>, JsValue> {
    let g = gguf::parse(bytes).map_err(to_js_error)?;
    let tok = tokenizer::Tokenizer::from_gguf(&g).map_err(to_js_error)?;
    tok.encode(text, true, true).map_err(to_js_error)
}
