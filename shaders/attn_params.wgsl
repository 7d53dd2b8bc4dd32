// Parameters of every attention kernel (rust: ops::params::AttnParams).
struct AttnParams {
    n_heads: u32,
    n_kv_heads: u32,
    head_dim: u32,   // <= 256
    ctx: u32,
    window: u32,     // sliding window in tokens; 0 = none
    _pad0: u32,
    scale: f32,      // usually 1/sqrt(head_dim)
    _pad1: u32,
}

// Keys [x, y) that token t of the step attends to: causal, and the last
// `window` of them when the layer has a sliding window.
fn key_range(t: u32) -> vec2<u32> {
    let n_keys = step.pos0 + t + 1u;
    var start = 0u;
    if p.window > 0u && n_keys > p.window {
        start = n_keys - p.window;
    }
    return vec2<u32>(start, n_keys);
}
