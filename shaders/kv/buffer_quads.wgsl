// Reads of the KV cache buffers kc, vc (array<vec2<u32>>, one 8-byte load
// a quad): quad i, the f16 dims 4i..4i+3 (attn_kv.wgsl).
fn k_quad(i: u32) -> vec2<u32> {
    return kc[i];
}

fn v_quad(i: u32) -> vec2<u32> {
    return vc[i];
}
