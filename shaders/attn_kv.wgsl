// Dims 4i..4i+3 of the K (V) cache, stored as f16 pairs (rope_kv.wgsl),
// for the subgroup attention kernels; `k_quad` / `v_quad` read a buffer or
// a texture (shaders/kv/).
fn k4(i: u32) -> vec4<f32> {
    let w = k_quad(i);
    return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}

fn v4(i: u32) -> vec4<f32> {
    let w = v_quad(i);
    return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}
