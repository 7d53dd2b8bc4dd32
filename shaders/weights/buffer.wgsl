// The weight as a storage buffer of words (the repacked layout of
// quant::repack): what every adapter can run.
@group(0) @binding(2) var<storage, read> w: array<u32>;

fn wword(i: u32) -> u32 {
    return w[i];
}
