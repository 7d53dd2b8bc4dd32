//! WebGPU `subgroups` in the browser, which wgpu's web backend neither
//! requests nor reports (its feature table has no entry for it; wgpu 30).
//! Subgroup reductions are the decode matvec's fast path (DESIGN.md), and
//! Chromium grants them even on SwiftShader (4 lanes), so the engine asks
//! for them itself: `request_device` adds `"subgroups"` to the features
//! of the one `requestDevice` call wgpu makes, and `has_subgroups` reads
//! the granted set back. Shaders then need `enable subgroups;`, which
//! naga (native) rejects, so it is prepended on the web only
//! (`SHADER_PREFIX`).

use wasm_bindgen::prelude::*;

// Why JS: wgpu builds the device descriptor and calls
// `adapter.requestDevice(desc)` itself; the only way in is to wrap that
// method for the one synchronous call (no other script runs between
// `begin` and `end`: JS is single-threaded and nothing is awaited there).
#[wasm_bindgen(inline_js = r#"
let saved = null;
export function edge_llm_subgroups_begin() {
  const proto = globalThis.GPUAdapter && GPUAdapter.prototype;
  if (!proto || saved) return;
  saved = proto.requestDevice;
  const orig = saved;
  proto.requestDevice = function (desc) {
    const d = Object.assign({}, desc);
    if (this.features && this.features.has("subgroups")) {
      d.requiredFeatures = [...(d.requiredFeatures || []), "subgroups"];
    }
    return orig.call(this, d);
  };
}
export function edge_llm_subgroups_end() {
  if (saved) {
    GPUAdapter.prototype.requestDevice = saved;
    saved = null;
  }
}
export function edge_llm_has_subgroups(device) {
  return !!(device && device.features && device.features.has("subgroups"));
}
"#)]
extern "C" {
    fn edge_llm_subgroups_begin();
    fn edge_llm_subgroups_end();
    fn edge_llm_has_subgroups(device: &JsValue) -> bool;
}

/// Prepended to every kernel when the device has subgroups: Chromium's
/// compiler needs the extension enabled, and its uniformity analysis
/// rejects subgroup ops under lane-dependent branches that our kernels
/// only take uniformly (the loops run the same count on every lane).
pub const SHADER_PREFIX: &str = "enable subgroups;\ndiagnostic(off, subgroup_uniformity);\n";

/// `adapter.request_device(desc)` with `"subgroups"` added where the
/// adapter has it.
pub async fn request_device(
    adapter: &wgpu::Adapter,
    desc: &wgpu::DeviceDescriptor<'_>,
) -> Result<(wgpu::Device, wgpu::Queue), wgpu::RequestDeviceError> {
    edge_llm_subgroups_begin();
    // wgpu calls `requestDevice` here, before the first await.
    let pending = adapter.request_device(desc);
    edge_llm_subgroups_end();
    pending.await
}

/// Whether the browser granted `subgroups` to `device`.
pub fn has_subgroups(device: &wgpu::Device) -> bool {
    device
        .as_webgpu()
        .is_some_and(|d| edge_llm_has_subgroups(d.as_ref()))
}
