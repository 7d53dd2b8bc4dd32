// Shared by every kernel: per-step parameters written once per step with a
// single writeBuffer (rust: gpu::StepParams, same layout).
struct Step {
    n_tokens: u32,     // tokens in this step (1 for decode)
    pos0: u32,         // position of the first of them
    seed: u32,         // sampler seed
    rep_last_n: u32,   // repetition penalty window
    temperature: f32,  // 0 = greedy
    top_k: u32,        // 0 = off
    top_p: f32,        // 1 = off
    min_p: f32,        // 0 = off
    rep_penalty: f32,  // 1 = off
    counter: u32,      // sampling step counter (mixed into the seed)
    _pad0: u32,
    _pad1: u32,
}

// Linear workgroup index for grids split into 2-D because x > 65535.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}
