// Writes to the KV cache buffers kc, vc (array<u32>): word w of the K (V)
// cache.
fn k_store(w: u32, v: u32) {
    kc[w] = v;
}

fn v_store(w: u32, v: u32) {
    vc[w] = v;
}
