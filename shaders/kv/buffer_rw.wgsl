// The KV cache buffers kc, vc (array<vec2<u32>>) for a kernel that appends
// to them and then reads them (shaders/entry/qkv_attn_o_sg.wgsl): word w
// written as half of quad w / 2, quad i (f16 dims 4i..4i+3) read in one
// 8-byte load (attn_kv.wgsl).
fn k_store(w: u32, v: u32) {
    kc[w / 2u][w % 2u] = v;
}

fn v_store(w: u32, v: u32) {
    vc[w / 2u][w % 2u] = v;
}

fn k_quad(i: u32) -> vec2<u32> {
    return kc[i];
}

fn v_quad(i: u32) -> vec2<u32> {
    return vc[i];
}
