// The weight as a storage buffer of words (the repacked layout of
// quant::repack): what every adapter can run.
@group(0) @binding(2) var<storage, read> w: array<u32>;

fn wword(i: u32) -> u32 {
    return w[i];
}

fn wvec4(t: u32) -> vec4<u32> {
    return vec4<u32>(w[4u * t], w[4u * t + 1u], w[4u * t + 2u], w[4u * t + 3u]);
}
