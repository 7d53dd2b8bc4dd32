// The KV cache in r32uint textures (ops::KvCache): word w of a layer's K
// (V) cache `(n_kv_heads, ctx, head_dim / 2)` is texel (w % 4096, w /
// 4096) (ops::kv::KV_WORDS_PER_ROW). Why textures: on CPU drivers a
// storage load with a per-lane address is a loop over the lanes (a stack
// slot and a stalled reload per lane on hosts without AVX-512), a texel
// fetch a gather.
const KV_ROW_SHIFT: u32 = 12u;

fn kv_texel(w: u32) -> vec2<u32> {
    return vec2<u32>(w & ((1u << KV_ROW_SHIFT) - 1u), w >> KV_ROW_SHIFT);
}
