// Q8_0 (repacked): 8 words of int8 per 32-block, then f16 scales two per word.
// A unit is 2 words = 8 consecutive columns of the block.
fn deq_unit(row: u32, u: u32) -> array<f32, 8> {
    let b = row * (wp.k / 32u) + u / 4u;
    let j = u % 4u;
    let sw = unpack2x16float(w[wp.scale_offset + b / 2u]);
    let d = select(sw.x, sw.y, (b & 1u) == 1u);
    let w0 = w[b * 8u + 2u * j];
    let w1 = w[b * 8u + 2u * j + 1u];
    var o: array<f32, 8>;
    for (var i = 0u; i < 4u; i++) {
        o[i] = f32(extractBits(bitcast<i32>(w0), 8u * i, 8u)) * d;
        o[i + 4u] = f32(extractBits(bitcast<i32>(w1), 8u * i, 8u)) * d;
    }
    return o;
}

fn unit_col(u: u32, i: u32) -> u32 {
    return u * 8u + i;
}
