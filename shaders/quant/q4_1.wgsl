// Q4_1 (repacked): 4 words of nibbles per 32-block, then one word per block
// holding f16 d (low) and f16 m (high). Nibble order as Q4_0.
fn deq_unit(row: u32, u: u32) -> array<f32, 8> {
    let b = row * (wp.k / 32u) + u / 4u;
    let dm = unpack2x16float(w[wp.scale_offset + b]);
    let q = w[b * 4u + u % 4u];
    var o: array<f32, 8>;
    for (var i = 0u; i < 4u; i++) {
        o[i] = f32(extractBits(q, 8u * i, 4u)) * dm.x + dm.y;
        o[i + 4u] = f32(extractBits(q, 8u * i + 4u, 4u)) * dm.x + dm.y;
    }
    return o;
}

fn unit_col(u: u32, i: u32) -> u32 {
    return (u / 4u) * 32u + (u % 4u) * 4u + (i % 4u) + (i / 4u) * 16u;
}
