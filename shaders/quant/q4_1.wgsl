// Q4_1 (repacked): 4 words of nibbles per 32-block, then one word per block
// holding f16 d (low) and f16 m (high). Nibble order as Q4_0.

// Matvec path: columns of unit u are two runs of 4 starting at
// unit_x(u).x (low nibbles) and unit_x(u).y (high nibbles).
fn unit_x(u: u32) -> vec2<u32> {
    let c = (u / 4u) * 32u + (u % 4u) * 4u;
    return vec2<u32>(c, c + 16u);
}

// dot(W[row, unit u], x) with xl, xh the x values at unit_x(u).
fn unit_dot(row: u32, u: u32, xl: vec4<f32>, xh: vec4<f32>) -> f32 {
    let b = tile_unit(row, u / 4u);
    let dm = unpack2x16float(wword(wp.scale_offset + tile_unit(row, u / 4u)));
    let q = vec4<u32>(wword(b * 4u + u % 4u)) >> vec4<u32>(0u, 8u, 16u, 24u);
    let lo = vec4<f32>(q & vec4<u32>(15u));
    let hi = vec4<f32>((q >> vec4<u32>(4u)) & vec4<u32>(15u));
    return dm.x * (dot(lo, xl) + dot(hi, xh)) + dm.y * dot(xl + xh, vec4<f32>(1.0));
}

// GEMM path: the 8 weights of unit u, at columns unit_x(u).x.. and .y..
struct Unit {
    lo: vec4<f32>,
    hi: vec4<f32>,
}

fn unit_w(row: u32, u: u32) -> Unit {
    let b = tile_unit(row, u / 4u);
    let dm = unpack2x16float(wword(wp.scale_offset + tile_unit(row, u / 4u)));
    let q = vec4<u32>(wword(b * 4u + u % 4u)) >> vec4<u32>(0u, 8u, 16u, 24u);
    let lo = vec4<f32>(q & vec4<u32>(15u));
    let hi = vec4<f32>((q >> vec4<u32>(4u)) & vec4<u32>(15u));
    return Unit(lo * dm.x + dm.y, hi * dm.x + dm.y);
}

// Row GEMM path (gemm_row.wgsl): block j of `row` in one 16-byte fetch and
// its scale word (blk_w), then its 4 units from registers (blk_unit, uu a
// constant), instead of two fetches per unit.
struct WBlk {
    q: vec4<u32>,
    dm: vec2<f32>,
}

fn blk_w(row: u32, j: u32) -> WBlk {
    let s = tile_unit(row, j);
    return WBlk(wvec4(s), unpack2x16float(wword(wp.scale_offset + s)));
}

fn blk_unit(b: WBlk, uu: u32) -> Unit {
    let q = vec4<u32>(b.q[uu]) >> vec4<u32>(0u, 8u, 16u, 24u);
    let lo = vec4<f32>(q & vec4<u32>(15u));
    let hi = vec4<f32>((q >> vec4<u32>(4u)) & vec4<u32>(15u));
    return Unit(lo * b.dm.x + b.dm.y, hi * b.dm.x + b.dm.y);
}
