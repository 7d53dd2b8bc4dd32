// Writes to the KV cache textures kc, vc (texture_storage_2d<r32uint,
// write>): word w of the K (V) cache.
fn k_store(w: u32, v: u32) {
    textureStore(kc, kv_texel(w), vec4<u32>(v, 0u, 0u, 0u));
}

fn v_store(w: u32, v: u32) {
    textureStore(vc, kv_texel(w), vec4<u32>(v, 0u, 0u, 0u));
}
