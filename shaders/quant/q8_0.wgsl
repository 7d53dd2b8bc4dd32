// Q8_0 (repacked): 8 words of int8 per 32-block, then f16 scales two per word.
// A unit is 2 words = 8 consecutive columns of the block.

// Matvec path (see q4_1.wgsl): a unit is 8 consecutive columns.
fn unit_x(u: u32) -> vec2<u32> {
    return vec2<u32>(u * 8u, u * 8u + 4u);
}

fn i8x4(v: u32) -> vec4<f32> {
    let s = bitcast<vec4<i32>>(vec4<u32>(v) << vec4<u32>(24u, 16u, 8u, 0u));
    return vec4<f32>(s >> vec4<u32>(24u));
}

fn unit_dot(row: u32, u: u32, xl: vec4<f32>, xh: vec4<f32>) -> f32 {
    let b = tile_unit(row, u / 4u);
    let j = u % 4u;
    let d = scale_half(tile_unit(row, u / 4u));
    return d * (dot(i8x4(wword(b * 8u + 2u * j)), xl) + dot(i8x4(wword(b * 8u + 2u * j + 1u)), xh));
}

// GEMM path (see q4_1.wgsl).
struct Unit {
    lo: vec4<f32>,
    hi: vec4<f32>,
}

fn unit_w(row: u32, u: u32) -> Unit {
    let b = tile_unit(row, u / 4u);
    let j = u % 4u;
    let d = scale_half(tile_unit(row, u / 4u));
    return Unit(i8x4(wword(b * 8u + 2u * j)) * d, i8x4(wword(b * 8u + 2u * j + 1u)) * d);
}

// Row GEMM path (see q4_1.wgsl): the block's 8 words in two fetches.
struct WBlk {
    a: vec4<u32>, // units 0, 1
    b: vec4<u32>, // units 2, 3
    d: f32,
}

fn blk_w(row: u32, j: u32) -> WBlk {
    let s = tile_unit(row, j);
    return WBlk(wvec4(2u * s), wvec4(2u * s + 1u), scale_half(s));
}

fn blk_unit(b: WBlk, uu: u32) -> Unit {
    let v = select(b.a, b.b, uu >= 2u);
    let i = 2u * (uu % 2u);
    return Unit(i8x4(v[i]) * b.d, i8x4(v[i + 1u]) * b.d);
}
