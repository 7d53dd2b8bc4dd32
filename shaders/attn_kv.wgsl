// Dims 4i..4i+3 of the K (V) cache, stored as f16 pairs (rope_kv.wgsl),
// for the subgroup attention kernels (kc, vc: vec2 views).
fn k4(i: u32) -> vec4<f32> {
    let w = kc[i];
    return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}

fn v4(i: u32) -> vec4<f32> {
    let w = vc[i];
    return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}
