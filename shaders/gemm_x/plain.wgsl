// x of one unit for the 8 tokens, each invocation loading all 16 vectors
// (gemm_row.wgsl without subgroups). `c`: the unit's two vec4 columns;
// with NORM, the squares go to the tokens' slots of `sq` before the norm
// weight scales the vectors.
fn x_unit(base: u32, last: u32, k4: u32, c: vec2<u32>, lane: u32,
          sq: ptr<function, Acc>) -> XUnit {
    var xu: XUnit;
    var gl = vec4<f32>(1.0);
    var gh = vec4<f32>(1.0);
    if NORM {
        let i = 4u * c;
        gl = vec4<f32>(norm_w(i.x), norm_w(i.x + 1u), norm_w(i.x + 2u), norm_w(i.x + 3u));
        gh = vec4<f32>(norm_w(i.y), norm_w(i.y + 1u), norm_w(i.y + 2u), norm_w(i.y + 3u));
    }
    for (var j = 0u; j < TOK; j++) {
        let o = base + min(j, last) * k4;
        let l = x_at(o + c.x);
        let h = x_at(o + c.y);
        xu.lo[j] = l;
        xu.hi[j] = h;
        if NORM {
            let q = dot(l, l) + dot(h, h);
            if j < 4u {
                (*sq).a[j] += q;
            } else {
                (*sq).b[j - 4u] += q;
            }
            xu.lo[j] = l * gl;
            xu.hi[j] = h * gh;
        }
    }
    return xu;
}

// Never called: ROPE needs subgroups (ops::gemm_in_layout rejects it here).
fn pair_partner(v: vec4<f32>) -> vec4<f32> {
    return v;
}

// Each invocation has every token's square sum.
fn sq_total(sq: Acc) -> Acc {
    return sq;
}

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    gemm_rows(wid, tid, 0u);
}
