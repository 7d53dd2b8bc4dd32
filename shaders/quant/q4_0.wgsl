// Q4_0 (repacked): 4 words of nibbles per 32-block, then f16 scales two per
// word. Byte j of a block holds column j (low nibble) and j+16 (high nibble),
// so unit u (word j = u % 4) covers columns 4j..4j+3 and 4j+16..4j+19.

// Matvec path (see q4_1.wgsl).
fn unit_x(u: u32) -> vec2<u32> {
    let c = (u / 4u) * 32u + (u % 4u) * 4u;
    return vec2<u32>(c, c + 16u);
}

fn unit_dot(row: u32, u: u32, xl: vec4<f32>, xh: vec4<f32>) -> f32 {
    let b = tile_unit(row, u / 4u);
    let d = scale_half(tile_unit(row, u / 4u));
    let q = vec4<u32>(wword(b * 4u + u % 4u)) >> vec4<u32>(0u, 8u, 16u, 24u);
    let lo = vec4<f32>(q & vec4<u32>(15u)) - vec4<f32>(8.0);
    let hi = vec4<f32>((q >> vec4<u32>(4u)) & vec4<u32>(15u)) - vec4<f32>(8.0);
    return d * (dot(lo, xl) + dot(hi, xh));
}

// GEMM path (see q4_1.wgsl).
struct Unit {
    lo: vec4<f32>,
    hi: vec4<f32>,
}

fn unit_w(row: u32, u: u32) -> Unit {
    let b = tile_unit(row, u / 4u);
    let d = scale_half(tile_unit(row, u / 4u));
    let q = vec4<u32>(wword(b * 4u + u % 4u)) >> vec4<u32>(0u, 8u, 16u, 24u);
    let lo = vec4<f32>(q & vec4<u32>(15u)) - vec4<f32>(8.0);
    let hi = vec4<f32>((q >> vec4<u32>(4u)) & vec4<u32>(15u)) - vec4<f32>(8.0);
    return Unit(lo * d, hi * d);
}

// Row GEMM path (see q4_1.wgsl).
struct WBlk {
    q: vec4<u32>,
    d: f32,
}

fn blk_w(row: u32, j: u32) -> WBlk {
    let s = tile_unit(row, j);
    return WBlk(wvec4(s), scale_half(s));
}

fn blk_unit(b: WBlk, uu: u32) -> Unit {
    let q = vec4<u32>(b.q[uu]) >> vec4<u32>(0u, 8u, 16u, 24u);
    let lo = vec4<f32>(q & vec4<u32>(15u)) - vec4<f32>(8.0);
    let hi = vec4<f32>((q >> vec4<u32>(4u)) & vec4<u32>(15u)) - vec4<f32>(8.0);
    return Unit(lo * b.d, hi * b.d);
}
