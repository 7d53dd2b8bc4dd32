//! The GPU device, its limits and features, buffers, kernels and the
//! pipeline cache.

mod context;
mod counters;
mod kernels;
mod readback;
#[cfg(target_arch = "wasm32")]
mod web;

pub use context::{Gpu, GpuInfo};
pub use counters::{CounterSnapshot, Counters};
pub use kernels::{kernel_source, Binding, Kernel, MatvecLayout};
pub use readback::TokenRing;

/// Milliseconds on a monotonic-enough clock (`Date.now()` in the browser,
/// where `Instant` does not exist), for timings and tuning.
pub fn now_ms() -> f64 {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::sync::OnceLock;
        static T0: OnceLock<std::time::Instant> = OnceLock::new();
        T0.get_or_init(std::time::Instant::now)
            .elapsed()
            .as_secs_f64()
            * 1000.0
    }
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::Date::now()
    }
}

/// Per-step parameters shared by every kernel (WGSL `Step` in
/// shaders/common.wgsl; `ops::params::tests` checks the two agree).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StepParams {
    pub n_tokens: u32,
    pub pos0: u32,
    pub seed: u32,
    pub rep_last_n: u32,
    pub temperature: f32,
    pub top_k: u32,
    pub top_p: f32,
    pub min_p: f32,
    pub rep_penalty: f32,
    pub counter: u32,
    pub _pad: [u32; 2],
}
