// x of one unit for the 8 tokens, each invocation loading all 16 vectors
// (gemm_row.wgsl without subgroups). `c`: the unit's two vec4 columns.
fn x_unit(base: u32, last: u32, k4: u32, c: vec2<u32>, lane: u32) -> XUnit {
    var xu: XUnit;
    for (var j = 0u; j < TOK; j++) {
        let o = base + min(j, last) * k4;
        xu.lo[j] = x[o + c.x];
        xu.hi[j] = x[o + c.y];
    }
    return xu;
}

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    gemm_rows(wid, tid, 0u);
}
