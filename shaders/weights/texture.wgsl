// The weight as an rgba32uint texture: the same words as the buffer, four
// to a texel, WEIGHT_TEXELS_PER_ROW texels to a row (ops::weight). Why: on
// CPU drivers a storage load with a per-lane address is a scalar loop over
// the lanes with a bounds check each, while a texel fetch is one gather of
// 16 bytes per lane; lavapipe runs the decode matvec ~1.7-2x faster so
// (ops::tune measures it on each adapter).
@group(0) @binding(2) var wt: texture_2d<u32>;

const WEIGHT_ROW_SHIFT: u32 = 13u; // log2 of the texels per row (8192)

fn wvec4(t: u32) -> vec4<u32> {
    let row_mask = (1u << WEIGHT_ROW_SHIFT) - 1u;
    let b = wp.base + t;
    return textureLoad(wt, vec2<u32>(b & row_mask, b >> WEIGHT_ROW_SHIFT), 0);
}

fn wword(i: u32) -> u32 {
    return wvec4(i / 4u)[i % 4u];
}
