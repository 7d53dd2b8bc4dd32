// F16 weights: two halves per word, even element in the low half.
fn deq_unit(row: u32, u: u32) -> array<f32, 8> {
    let base = (row * wp.k + u * 8u) / 2u;
    var o: array<f32, 8>;
    for (var i = 0u; i < 4u; i++) {
        let h = unpack2x16float(w[base + i]);
        o[2u * i] = h.x;
        o[2u * i + 1u] = h.y;
    }
    return o;
}

fn unit_col(u: u32, i: u32) -> u32 {
    return u * 8u + i;
}
