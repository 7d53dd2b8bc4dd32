// Parameters of rmsnorm.wgsl and quant_x.wgsl (`ops::NormParams`).
struct NormParams {
    dim: u32,
    eps: f32,
    _pad0: u32,
    _pad1: u32,
}
