// Entry point of shaders/attention_dims_sg.wgsl: one workgroup per (KV
// head, token).
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    store_outs(wid.x, wid.y, lane, attend(wid.x, wid.y, lane));
}
