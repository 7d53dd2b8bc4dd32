// The weight as a storage buffer bound twice, for the subgroup matvec: a
// vec4 view for the quant blocks (one 16-byte load) and a word view for
// the scales.
@group(0) @binding(2) var<storage, read> w4: array<vec4<u32>>;
@group(0) @binding(6) var<storage, read> w1: array<u32>;

fn wvec4(t: u32) -> vec4<u32> {
    return w4[wp.base + t];
}

fn wword(i: u32) -> u32 {
    return w1[4u * wp.base + i];
}
