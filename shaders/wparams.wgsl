// Parameters of every weight kernel (matvec, GEMM, embed): one struct, the
// WGSL side of `ops::params::WParams`.
struct WParams {
    k: u32,            // columns (the embedding width for embed)
    n: u32,            // output rows (vocabulary rows for embed)
    scale_offset: u32, // first word of the scale region in w
    aux: f32,          // matvec: RMSNorm epsilon when FUSE_NORM; embed: output scale
}
