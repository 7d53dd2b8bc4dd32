// Parameters of every weight kernel (matvec, GEMM, embed): one struct, the
// WGSL side of `ops::params::WParams`.
struct WParams {
    k: u32,            // columns (the embedding width for embed)
    n: u32,            // output rows (vocabulary rows for embed)
    scale_offset: u32, // first word of the scale region in w
    aux: f32,          // matvec: RMSNorm epsilon when FUSE_NORM; embed: output scale
    base: u32,         // first texel (4 words) of the weight in its store (shared stores)
    x0: u32,           // row GEMM, x as a uniform: the tile's first token (x's view starts there)
    _pad1: u32,
    _pad2: u32,
}

// Slot of block j of `row` in tiles of 16 rows, block-major inside a tile
// (quant::repack): the block's quants (in units of a block's quant words
// from word 0) and its scale (a word for Q4_1, 16 bits for Q8_0 / Q4_0,
// from scale_offset) both sit there. So a 16-row set's blocks j are
// adjacent, their scales one to four 16-byte loads, and a matvec streams
// its weights in order.
fn tile_unit(row: u32, j: u32) -> u32 {
    return (row / 16u) * 16u * (wp.k / 32u) + j * 16u + row % 16u;
}

// The f16 scale in 16-bit unit `u` of the scale region (Q8_0, Q4_0).
fn scale_half(u: u32) -> f32 {
    let sw = unpack2x16float(wword(wp.scale_offset + u / 2u));
    return select(sw.x, sw.y, (u & 1u) == 1u);
}
