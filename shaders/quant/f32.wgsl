// F32 weights: one f32 per word. A unit is 8 consecutive columns.
fn deq_unit(row: u32, u: u32) -> array<f32, 8> {
    let base = row * wp.k + u * 8u;
    var o: array<f32, 8>;
    for (var i = 0u; i < 8u; i++) {
        o[i] = bitcast<f32>(w[base + i]);
    }
    return o;
}

fn unit_col(u: u32, i: u32) -> u32 {
    return u * 8u + i;
}
