// Reads of the KV cache textures kc, vc (texture_2d<u32>): words (the
// portable attention) and quads, the f16 dims 4i..4i+3 (attn_kv.wgsl).
fn k_word(w: u32) -> u32 {
    return textureLoad(kc, kv_texel(w), 0).x;
}

fn v_word(w: u32) -> u32 {
    return textureLoad(vc, kv_texel(w), 0).x;
}

fn k_quad(i: u32) -> vec2<u32> {
    return vec2<u32>(k_word(2u * i), k_word(2u * i + 1u));
}

fn v_quad(i: u32) -> vec2<u32> {
    return vec2<u32>(v_word(2u * i), v_word(2u * i + 1u));
}
