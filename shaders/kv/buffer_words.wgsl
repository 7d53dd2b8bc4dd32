// Reads of the KV cache buffers kc, vc (array<u32>): word w.
fn k_word(w: u32) -> u32 {
    return kc[w];
}

fn v_word(w: u32) -> u32 {
    return vc[w];
}
