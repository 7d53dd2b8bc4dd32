// The weight as a storage buffer of words (the repacked layout of
// quant::repack): what every adapter can run.
@group(0) @binding(2) var<storage, read> w: array<u32>;

fn wword(i: u32) -> u32 {
    return w[4u * wp.base + i];
}

fn wvec4(t: u32) -> vec4<u32> {
    let b = 4u * (wp.base + t);
    return vec4<u32>(w[b], w[b + 1u], w[b + 2u], w[b + 3u]);
}
