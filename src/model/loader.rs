//! Streaming load: GGUF bytes arrive in chunks of any size; the header is
//! parsed once enough has arrived, then each tensor goes to the GPU as soon
//! as its bytes are complete; large single weights (the embedding) go in
//! slabs of rows of about 1 MiB. Only the header prefix, the unit being
//! received and the parts of a fused weight still waiting for their
//! siblings (q/k before v, gate before up) are held, so peak memory stays
//! far below the model size (SmolLM2, 98 MB: about 3-5 MB).
//!
//! `LlamaGpu::load` (a whole file in memory) runs the same path: the file
//! is one chunk, and tensors lying wholly inside a chunk are uploaded
//! straight from it without a copy.

use crate::gguf::{self, GgmlType, Gguf};
use crate::gpu::Gpu;
use crate::model::config::{tensor_names, LlamaConfig, OUTPUT, OUTPUT_NORM, TOKEN_EMBD};
use crate::model::llama_gpu::LlamaGpu;
use crate::ops::{Weight, WeightStore};
use crate::{Error, Result};

/// Largest header (metadata + tensor infos) the loader buffers before it
/// gives up: a hostile file can declare a header as long as itself.
pub const MAX_HEADER_BYTES: usize = 64 << 20;

/// Counts `len` more bytes of a `total`-byte file arriving after
/// `received`; returns the file offset they start at. More bytes than
/// announced are an error (both streaming loads).
pub fn advance(received: &mut u64, total: u64, len: usize) -> Result<u64> {
    let pos = *received;
    *received = pos
        .checked_add(len as u64)
        .filter(|&e| e <= total)
        .ok_or_else(|| Error::option("chunk", format!("more bytes than the {total} announced")))?;
    Ok(pos)
}

/// A file's first bytes until its GGUF header parses, for the streaming
/// loads (this one and `cpu::CpuLoader`): at most `MAX_HEADER_BYTES`,
/// reparsed only each time the prefix doubles, so tiny chunks do not
/// reparse the header over and over.
#[derive(Default)]
pub struct HeaderPrefix {
    bytes: Vec<u8>,
    next_try: usize,
}

impl HeaderPrefix {
    /// Appends what of `chunk` may still be header (of a `total`-byte
    /// file). Returns how many bytes of it were taken and, once the prefix
    /// parses, the header; the prefix itself is then `take`n.
    pub fn push(&mut self, chunk: &[u8], total: u64) -> Result<(usize, Option<Gguf>)> {
        let cap = to_usize(total.min(MAX_HEADER_BYTES as u64), "file")?;
        let take = (cap - self.bytes.len()).min(chunk.len());
        self.bytes.extend_from_slice(&chunk[..take]);
        let full = self.bytes.len() == cap;
        if self.bytes.len() < self.next_try && !full {
            return Ok((take, None));
        }
        let g = gguf::parse_prefix(&self.bytes, total)?;
        if g.is_none() {
            if full {
                return Err(Error::bad_gguf(
                    "header",
                    format!("metadata and tensor infos exceed {MAX_HEADER_BYTES} bytes"),
                ));
            }
            self.next_try = self.bytes.len().saturating_mul(2).max(4096);
        }
        Ok((take, g))
    }

    /// Bytes held.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// The prefix (the file's first bytes), leaving this one empty.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}

/// What a tensor is to the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Embd,
    Output,
    OutNorm,
    AttnNorm(usize),
    /// Part `i` of layer `l`'s fused [q; k; v] weight.
    Qkv(usize, usize),
    Wo(usize),
    FfnNorm(usize),
    /// Part `i` of layer `l`'s fused [gate; up] weight.
    GateUp(usize, usize),
    Down(usize),
}

/// One needed tensor, in file order.
struct Planned {
    name: String,
    role: Role,
    ty: GgmlType,
    offset: u64,
    size: u64,
    rows: usize,
    cols: usize,
}

/// GPU weights of one layer, as the loader hands them to `LlamaGpu`.
pub(crate) struct LayerWeights {
    pub attn_norm: wgpu::Buffer,
    pub qkv: Weight,
    pub wo: Weight,
    pub ffn_norm: wgpu::Buffer,
    pub gate_up: Weight,
    pub down: Weight,
}

/// Every weight of the model on the GPU.
pub(crate) struct Weights {
    pub embd: Weight,
    pub output: Option<Weight>,
    pub out_norm: wgpu::Buffer,
    pub layers: Vec<LayerWeights>,
}

/// A part of a fused weight waiting for its siblings: (type, bytes, rows).
type Part = (GgmlType, Vec<u8>, usize);

#[derive(Default)]
struct LayerSlots {
    attn_norm: Option<wgpu::Buffer>,
    qkv_parts: [Option<Part>; 3],
    qkv: Option<Weight>,
    wo: Option<Weight>,
    ffn_norm: Option<wgpu::Buffer>,
    gate_up_parts: [Option<Part>; 2],
    gate_up: Option<Weight>,
    down: Option<Weight>,
    /// The stores [q; k; v] and Wo, [gate; up] and down share (the second
    /// from the texel given), made once one of them arrives; `None` inside
    /// when they cannot share (`Body::home`).
    attn_home: Option<Option<(WeightStore, u32)>>,
    ffn_home: Option<Option<(WeightStore, u32)>>,
}

/// A layer's two weights that one decode kernel reads together on CPU
/// adapters (`ops::qkv_attention_o`, `ops::ffn`), so one store holds
/// them: a stacked weight from texel 0, then the other.
#[derive(Clone, Copy)]
enum Pair {
    /// [q; k; v], then Wo.
    Attn,
    /// [gate; up], then down.
    Ffn,
}

impl Role {
    /// The layer and shared store of a weight that has one.
    fn home(self) -> Option<(usize, Pair)> {
        match self {
            Role::Qkv(l, _) | Role::Wo(l) => Some((l, Pair::Attn)),
            Role::GateUp(l, _) | Role::Down(l) => Some((l, Pair::Ffn)),
            _ => None,
        }
    }
}

/// The tensor-data side of a load: which tensors to take from which bytes,
/// and the weights uploaded so far. Shared by whole-file and streaming loads.
pub(crate) struct Body {
    pub config: LlamaConfig,
    plan: Vec<Planned>,
    /// Index in `plan` of the tensor being received.
    next: usize,
    /// Bytes of the current unit (tensor, or slab of a sliced tensor)
    /// received so far, when it spans chunks.
    cur: Vec<u8>,
    /// `plan[next]` being uploaded slab by slab.
    slab: Option<Sliced>,
    layers: Vec<LayerSlots>,
    embd: Option<Weight>,
    output: Option<Weight>,
    out_norm: Option<wgpu::Buffer>,
    /// Bytes held by fused-weight parts.
    pending: usize,
    /// Bytes held by the caller (the header buffer) while it feeds us.
    pub extra: usize,
    /// Most bytes held at once (`extra` + `cur` + parts).
    pub peak: usize,
}

fn to_usize(v: u64, what: &str) -> Result<usize> {
    usize::try_from(v).map_err(|_| Error::bad_gguf(what, "size exceeds address space"))
}

impl Body {
    /// The plan for a llama GGUF: every needed tensor, sorted by offset.
    pub fn new(g: &Gguf) -> Result<Body> {
        let c = LlamaConfig::from_gguf(g)?;
        c.check_tensors(g)?;
        let (dim, qd, kvd, ffn, vocab) = (c.dim, c.q_dim(), c.kv_dim(), c.ffn_dim, c.vocab_size);
        let mut want: Vec<(String, Role, usize, usize)> = vec![
            (TOKEN_EMBD.into(), Role::Embd, vocab, dim),
            (OUTPUT_NORM.into(), Role::OutNorm, 1, dim),
        ];
        if !c.tied_output {
            want.push((OUTPUT.into(), Role::Output, vocab, dim));
        }
        for l in 0..c.n_layers {
            let n = tensor_names(l);
            want.extend([
                (n.attn_norm, Role::AttnNorm(l), 1, dim),
                (n.attn_q, Role::Qkv(l, 0), qd, dim),
                (n.attn_k, Role::Qkv(l, 1), kvd, dim),
                (n.attn_v, Role::Qkv(l, 2), kvd, dim),
                (n.attn_output, Role::Wo(l), dim, qd),
                (n.ffn_norm, Role::FfnNorm(l), 1, dim),
                (n.ffn_gate, Role::GateUp(l, 0), ffn, dim),
                (n.ffn_up, Role::GateUp(l, 1), ffn, dim),
                (n.ffn_down, Role::Down(l), dim, ffn),
            ]);
        }
        let mut plan = Vec::with_capacity(want.len());
        for (name, role, rows, cols) in want {
            let t = g
                .tensor(&name)
                .ok_or_else(|| Error::shape(&name, "tensor missing"))?;
            plan.push(Planned {
                ty: t.ty,
                offset: t.offset,
                size: t.size,
                name,
                role,
                rows,
                cols,
            });
        }
        plan.sort_by_key(|p| p.offset);
        // Streaming takes each byte once: tensors sharing bytes cannot be fed.
        for w in plan.windows(2) {
            if w[0].offset.saturating_add(w[0].size) > w[1].offset {
                return Err(Error::bad_gguf(
                    &w[1].name,
                    format!("tensor data overlaps {}", w[0].name),
                ));
            }
        }
        let layers = (0..c.n_layers).map(|_| LayerSlots::default()).collect();
        Ok(Body {
            config: c,
            plan,
            next: 0,
            cur: Vec::new(),
            slab: None,
            layers,
            embd: None,
            output: None,
            out_norm: None,
            pending: 0,
            extra: 0,
            peak: 0,
        })
    }

    /// Bytes held now.
    pub fn buffered(&self) -> usize {
        self.extra + self.cur.capacity() + self.pending
    }

    fn note_peak(&mut self) {
        self.peak = self.peak.max(self.buffered());
    }

    /// True when every needed tensor has been uploaded.
    pub fn complete(&self) -> bool {
        self.next == self.plan.len()
    }

    /// Takes `bytes`, which start at file offset `pos`; uploads every tensor
    /// (or slab of rows of a large tensor) they complete. Bytes outside
    /// needed tensors are skipped.
    pub fn feed(&mut self, gpu: &Gpu, mut pos: u64, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            let Some(t) = self.plan.get(self.next) else {
                return Ok(());
            };
            let (offset, size, role) = (t.offset, t.size, t.role);
            if pos < offset {
                let skip = to_usize((offset - pos).min(bytes.len() as u64), "file")?;
                bytes = &bytes[skip..];
                pos += skip as u64;
                continue;
            }
            if self.slab.is_none() && self.cur.is_empty() && pos == offset {
                let home = match role.home() {
                    Some((l, pair)) => self.home(gpu, l, pair)?,
                    None => None,
                };
                self.slab = Sliced::start(gpu, &self.plan[self.next], home)?;
            }
            let t = &self.plan[self.next];
            let done = self.slab.as_ref().map_or(0, |s| s.done);
            let have = done + self.cur.len() as u64;
            if pos != offset + have {
                // Only possible when a chunk starts past bytes we never got.
                return Err(Error::bad_gguf(&t.name, "tensor bytes out of order"));
            }
            // The unit to complete: the next slab, or the whole tensor.
            let unit = self
                .slab
                .as_ref()
                .map_or(size, |s| s.slab_bytes.min(size - done));
            let need = to_usize(unit, &t.name)? - self.cur.len();
            if self.cur.is_empty() && bytes.len() >= need {
                // The whole unit is in this chunk: no copy.
                self.note_peak();
                self.complete_unit(gpu, &bytes[..need])?;
            } else {
                if self.cur.is_empty() {
                    self.cur.reserve_exact(to_usize(unit, &t.name)?);
                }
                let take = need.min(bytes.len());
                self.cur.extend_from_slice(&bytes[..take]);
                self.note_peak();
                if take < need {
                    return Ok(());
                }
                let data = std::mem::take(&mut self.cur);
                self.complete_unit(gpu, &data)?;
                if self.slab.is_some() {
                    // Reuse the slab buffer for the next slab.
                    self.cur = data;
                    self.cur.clear();
                }
            }
            bytes = &bytes[need..];
            pos += need as u64;
        }
        Ok(())
    }

    /// Uploads a completed unit of `plan[next]`; moves to the next tensor
    /// once the tensor is complete.
    fn complete_unit(&mut self, gpu: &Gpu, data: &[u8]) -> Result<()> {
        let Some(s) = self.slab.as_mut() else {
            self.deliver(gpu, self.next, data)?;
            self.next += 1;
            return Ok(());
        };
        s.write(gpu, data)?;
        if s.done < self.plan[self.next].size {
            return Ok(());
        }
        let w = s.weight(&self.plan[self.next]);
        self.slab = None;
        self.cur = Vec::new();
        match self.plan[self.next].role {
            Role::Embd => self.embd = Some(w),
            Role::Output => self.output = Some(w),
            Role::Wo(l) => slot(&mut self.layers, l)?.wo = Some(w),
            Role::Down(l) => slot(&mut self.layers, l)?.down = Some(w),
            _ => return Err(Error::shape(&self.plan[self.next].name, "cannot be sliced")),
        }
        gpu.queue.submit(std::iter::empty());
        self.next += 1;
        Ok(())
    }

    /// Uploads plan entry `i` from its `data`, or holds it until its fused
    /// siblings arrive.
    fn deliver(&mut self, gpu: &Gpu, i: usize, data: &[u8]) -> Result<()> {
        let home = match self.plan[i].role.home() {
            Some((l, pair)) => self.home(gpu, l, pair)?,
            None => None,
        };
        let t = &self.plan[i];
        let (name, ty, rows, cols) = (t.name.as_str(), t.ty, t.rows, t.cols);
        let upload = |label: &str| Weight::upload(gpu, label, ty, data, rows, cols);
        match t.role {
            Role::Embd => self.embd = Some(upload(name)?),
            Role::Output => self.output = Some(upload(name)?),
            Role::OutNorm => self.out_norm = Some(f32_buffer(gpu, name, ty, data)?),
            Role::AttnNorm(l) => {
                slot(&mut self.layers, l)?.attn_norm = Some(f32_buffer(gpu, name, ty, data)?)
            }
            Role::FfnNorm(l) => {
                slot(&mut self.layers, l)?.ffn_norm = Some(f32_buffer(gpu, name, ty, data)?)
            }
            Role::Wo(l) | Role::Down(l) => {
                let w = match home {
                    Some((store, base)) => {
                        Weight::upload_at(gpu, name, ty, data, rows, cols, &store, base)?
                    }
                    None => upload(name)?,
                };
                let s = slot(&mut self.layers, l)?;
                if matches!(t.role, Role::Wo(_)) {
                    s.wo = Some(w);
                } else {
                    s.down = Some(w);
                }
            }
            Role::Qkv(l, p) => {
                let s = slot(&mut self.layers, l)?;
                let label = format!("blk.{l}.qkv");
                if let Some((ty, bytes, rows)) = stack(
                    &label,
                    &mut s.qkv_parts,
                    p,
                    (ty, data, rows),
                    &mut self.pending,
                )? {
                    s.qkv = Some(match home {
                        Some((store, _)) => {
                            Weight::upload_at(gpu, &label, ty, &bytes, rows, cols, &store, 0)?
                        }
                        None => Weight::upload(gpu, &label, ty, &bytes, rows, cols)?,
                    });
                }
            }
            Role::GateUp(l, p) => {
                let s = slot(&mut self.layers, l)?;
                let label = format!("blk.{l}.gate_up");
                if let Some((ty, bytes, rows)) = stack(
                    &label,
                    &mut s.gate_up_parts,
                    p,
                    (ty, data, rows),
                    &mut self.pending,
                )? {
                    s.gate_up = Some(match home {
                        Some((store, _)) => {
                            Weight::upload_at(gpu, &label, ty, &bytes, rows, cols, &store, 0)?
                        }
                        None => Weight::upload(gpu, &label, ty, &bytes, rows, cols)?,
                    });
                }
            }
        }
        // Native wgpu stages written data until the next submit: flush it
        // so staging memory does not grow to the model size.
        gpu.queue.submit(std::iter::empty());
        Ok(())
    }

    /// The store layer `l`'s `pair` shares, and the second weight's first
    /// texel in it: made when the first of them arrives, from the plan's
    /// shapes. Why: on CPU adapters one decode kernel reads both
    /// (`Pair`), and a kernel binds one store. `None` where they cannot
    /// share one (stacked parts of different types or widths, a type the
    /// GPU layout lacks, or more than one binding holds).
    fn home(&mut self, gpu: &Gpu, l: usize, pair: Pair) -> Result<Option<(WeightStore, u32)>> {
        let cached = |s: &LayerSlots| match pair {
            Pair::Attn => s.attn_home.clone(),
            Pair::Ffn => s.ffn_home.clone(),
        };
        if let Some(home) = cached(slot(&mut self.layers, l)?) {
            return Ok(home);
        }
        let find = |role: Role| self.plan.iter().find(|t| t.role == role);
        let (stacked, second, label): (Vec<Option<&Planned>>, _, _) = match pair {
            Pair::Attn => (
                (0..3).map(|i| find(Role::Qkv(l, i))).collect(),
                find(Role::Wo(l)),
                format!("blk.{l}.attn"),
            ),
            Pair::Ffn => (
                (0..2).map(|i| find(Role::GateUp(l, i))).collect(),
                find(Role::Down(l)),
                format!("blk.{l}.ffn"),
            ),
        };
        let parts: Option<Vec<&Planned>> = stacked.into_iter().collect();
        let home = match (parts, second) {
            (Some(p), Some(d)) if p.iter().all(|t| t.ty == p[0].ty && t.cols == p[0].cols) => {
                let rows = p.iter().map(|t| t.rows).sum();
                let sizes = crate::quant::repacked_words(p[0].ty, rows, p[0].cols)
                    .and_then(|a| Ok((a, crate::quant::repacked_words(d.ty, d.rows, d.cols)?)));
                match sizes {
                    Ok((a, b)) => {
                        // The second starts on a whole texel (u64: usize is
                        // 32 bits on wasm32).
                        let base = (a as u64).div_ceil(4);
                        let total = base * 4 + b as u64;
                        let fits = total * 4 <= gpu.info.max_storage_binding
                            && u32::try_from(total).is_ok();
                        if fits {
                            let store =
                                WeightStore::new(gpu, &label, total, gpu.info.weight_textures)?;
                            // base < total, which fits a u32.
                            Some((store, u32::try_from(base).unwrap_or(u32::MAX)))
                        } else {
                            None
                        }
                    }
                    // Left to the uploads to refuse.
                    Err(_) => None,
                }
            }
            _ => None,
        };
        let s = slot(&mut self.layers, l)?;
        match pair {
            Pair::Attn => s.attn_home = Some(home.clone()),
            Pair::Ffn => s.ffn_home = Some(home.clone()),
        }
        Ok(home)
    }

    /// The uploaded weights; errors when any tensor is missing.
    pub fn finish(self) -> Result<Weights> {
        if let Some(t) = self.plan.get(self.next) {
            return Err(Error::bad_gguf(
                &t.name,
                "file truncated: tensor data incomplete",
            ));
        }
        let missing = |what: &str| Error::shape(what, "tensor missing");
        let mut layers = Vec::with_capacity(self.layers.len());
        for (l, s) in self.layers.into_iter().enumerate() {
            let n = tensor_names(l);
            layers.push(LayerWeights {
                attn_norm: s.attn_norm.ok_or_else(|| missing(&n.attn_norm))?,
                qkv: s.qkv.ok_or_else(|| missing(&n.attn_q))?,
                wo: s.wo.ok_or_else(|| missing(&n.attn_output))?,
                ffn_norm: s.ffn_norm.ok_or_else(|| missing(&n.ffn_norm))?,
                gate_up: s.gate_up.ok_or_else(|| missing(&n.ffn_gate))?,
                down: s.down.ok_or_else(|| missing(&n.ffn_down))?,
            });
        }
        Ok(Weights {
            embd: self.embd.ok_or_else(|| missing(TOKEN_EMBD))?,
            output: self.output,
            out_norm: self.out_norm.ok_or_else(|| missing(OUTPUT_NORM))?,
            layers,
        })
    }
}

/// Tensors above this size are uploaded in slabs of rows of about this
/// size, so a large embedding is never held whole.
pub const SLAB_BYTES: u64 = 1 << 20;

/// A weight uploaded slab by slab into a buffer allocated up front. The
/// layout of `quant::repack` (all quant words in block order, then all
/// scale words in tiles of 16 rows) lets each slab of `rows` rows be
/// repacked alone and written at its place: slabs of a multiple of 16 rows
/// hold whole scale tiles, and every slab starts on a whole texel (4
/// words) for weight textures.
struct Sliced {
    store: WeightStore,
    /// First texel of the weight in `store` (a shared store).
    base: u32,
    ty: GgmlType,
    cols: usize,
    layout: SlabLayout,
    /// Bytes of one full slab in the GGUF.
    slab_bytes: u64,
    /// Slabs written so far, and their bytes.
    j: usize,
    done: u64,
}

/// Where the words of each slab go, in `u32` words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SlabLayout {
    /// Rows per full slab (a multiple of 16).
    rows: usize,
    /// Quant words of a full slab; scale words of a full slab.
    quant: usize,
    scale: usize,
    /// First scale word of the whole weight; total words.
    scale_offset: usize,
    total: usize,
}

impl SlabLayout {
    /// The layout of a `rows x cols` `ty` weight cut into slabs of
    /// `slab_rows` (a multiple of 16) rows, learnt by repacking zero slabs (zero is a
    /// valid value of every type).
    fn new(ty: GgmlType, rows: usize, cols: usize, slab_rows: usize) -> Result<SlabLayout> {
        let row_bytes = to_usize(
            ty.bytes_for(cols as u64)
                .ok_or_else(|| Error::shape("slab", "row size"))?,
            "slab",
        )?;
        let n_full = rows / slab_rows;
        let rest = rows % slab_rows;
        let split = |r: usize| -> Result<(usize, usize)> {
            if r == 0 {
                return Ok((0, 0));
            }
            let p = crate::quant::repack(ty, &vec![0u8; r * row_bytes], r, cols)?;
            let q = if p.scale_offset == 0 {
                p.words.len()
            } else {
                p.scale_offset as usize
            };
            Ok((q, p.words.len() - q))
        };
        let (quant, scale) = split(slab_rows)?;
        let (rq, rs) = split(rest)?;
        let scale_offset = n_full * quant + rq;
        Ok(SlabLayout {
            rows: slab_rows,
            quant,
            scale,
            scale_offset,
            total: scale_offset + n_full * scale + rs,
        })
    }

    /// Word offsets of slab `j`'s quant and scale words.
    fn offsets(&self, j: usize) -> (usize, usize) {
        (j * self.quant, self.scale_offset + j * self.scale)
    }
}

impl Sliced {
    /// Starts a sliced upload of `t` when it is a large single weight, into
    /// `home` (a shared store and the weight's first texel) when given.
    fn start(gpu: &Gpu, t: &Planned, home: Option<(WeightStore, u32)>) -> Result<Option<Sliced>> {
        let single = matches!(
            t.role,
            Role::Embd | Role::Output | Role::Wo(_) | Role::Down(_)
        );
        let unit = if t.ty.block_elems() == 1 {
            8
        } else {
            t.ty.block_elems() as usize
        };
        let repackable = matches!(
            t.ty,
            GgmlType::F32 | GgmlType::F16 | GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q4_1
        );
        let row_bytes = t.size / t.rows.max(1) as u64;
        if !single
            || !repackable
            || t.size <= SLAB_BYTES
            || t.cols == 0
            || !t.cols.is_multiple_of(unit)
            || row_bytes == 0
        {
            // Small, fused, or left to `Weight::upload` to accept or refuse.
            return Ok(None);
        }
        // Whole scale tiles (quant::SCALE_TILE_ROWS = 16), so each slab's
        // scales are one run of the weight's.
        let slab_rows = (to_usize(SLAB_BYTES / row_bytes, &t.name)? & !15).max(16);
        if slab_rows >= t.rows {
            return Ok(None);
        }
        let layout = SlabLayout::new(t.ty, t.rows, t.cols, slab_rows)?;
        if u32::try_from(layout.total).is_err() {
            return Ok(None);
        }
        let (store, base) = match home {
            Some((store, base)) => {
                let end = u64::from(base) * 4 + layout.total as u64;
                if end * 4 > store.bytes() {
                    return Err(Error::shape(&t.name, "does not fit its shared store"));
                }
                (store, base)
            }
            None => (
                WeightStore::new(gpu, &t.name, layout.total as u64, gpu.info.weight_textures)?,
                0,
            ),
        };
        Ok(Some(Sliced {
            store,
            base,
            ty: t.ty,
            cols: t.cols,
            layout,
            slab_bytes: slab_rows as u64 * row_bytes,
            j: 0,
            done: 0,
        }))
    }

    /// Repacks the next slab (`data`, whole rows) and writes it in place.
    fn write(&mut self, gpu: &Gpu, data: &[u8]) -> Result<()> {
        let l = &self.layout;
        let row_bytes = to_usize(self.slab_bytes, "slab")? / l.rows;
        let rows = data.len() / row_bytes.max(1);
        let p = crate::quant::repack(self.ty, data, rows, self.cols)?;
        let (qo, so) = l.offsets(self.j);
        let q = if p.scale_offset == 0 {
            p.words.len()
        } else {
            p.scale_offset as usize
        };
        let (qw, sw) = p.words.split_at(q);
        for (at, words) in [(qo, qw), (so, sw)] {
            if !words.is_empty() {
                let at = u64::from(self.base) * 4 + at as u64;
                self.store.write(gpu, at, words)?;
            }
        }
        self.j += 1;
        self.done += data.len() as u64;
        Ok(())
    }

    /// The finished weight.
    fn weight(&self, t: &Planned) -> Weight {
        Weight {
            store: self.store.clone(),
            ty: self.ty,
            rows: t.rows,
            cols: self.cols,
            scale_offset: self.layout.scale_offset as u32,
            base: self.base,
        }
    }
}

fn slot(layers: &mut [LayerSlots], l: usize) -> Result<&mut LayerSlots> {
    layers
        .get_mut(l)
        .ok_or_else(|| Error::shape("layer", format!("{l} out of range")))
}

/// Stores part `p` of a fused weight; when every part is there, returns
/// them stacked by rows (quant blocks never cross rows, so stacking the raw
/// bytes stacks the rows) and frees the parts.
fn stack<const N: usize>(
    label: &str,
    parts: &mut [Option<Part>; N],
    p: usize,
    (ty, data, rows): (GgmlType, &[u8], usize),
    pending: &mut usize,
) -> Result<Option<Part>> {
    let entry = parts
        .get_mut(p)
        .ok_or_else(|| Error::shape(label, format!("part {p} out of range")))?;
    *pending += data.len();
    *entry = Some((ty, data.to_vec(), rows));
    if parts.iter().any(Option::is_none) {
        return Ok(None);
    }
    let got: Vec<Part> = parts.iter_mut().filter_map(Option::take).collect();
    *pending -= got.iter().map(|g| g.1.len()).sum::<usize>();
    if got.iter().any(|g| g.0 != ty) {
        let types: Vec<&str> = got.iter().map(|g| g.0.name()).collect();
        return Err(Error::Unsupported(format!(
            "{label}: mixed weight types {types:?} cannot be fused yet"
        )));
    }
    let rows = got.iter().map(|g| g.2).sum();
    let bytes: Vec<u8> = got.into_iter().flat_map(|g| g.1).collect();
    Ok(Some((ty, bytes, rows)))
}

fn f32_buffer(gpu: &Gpu, name: &str, ty: GgmlType, data: &[u8]) -> Result<wgpu::Buffer> {
    if ty != GgmlType::F32 {
        return Err(Error::Unsupported(format!(
            "{name}: norm weights of type {}",
            ty.name()
        )));
    }
    gpu.storage_init(name, data)
}

/// Loads a llama GGUF from chunks as they arrive (a download), uploading
/// each tensor to the GPU once its bytes are complete.
///
/// ```text
/// let mut l = StreamLoader::new(total_len);
/// for chunk in download { l.push(&gpu, &chunk)?; }
/// let (gguf, model) = l.finish(&gpu, ctx, max_batch)?;
/// ```
pub struct StreamLoader {
    total_len: u64,
    received: u64,
    /// Header bytes until the header parses.
    header: HeaderPrefix,
    gguf: Option<Gguf>,
    body: Option<Body>,
    peak: usize,
    failed: bool,
}

impl StreamLoader {
    /// A loader for a file of `total_len` bytes.
    pub fn new(total_len: u64) -> StreamLoader {
        StreamLoader {
            total_len,
            received: 0,
            header: HeaderPrefix::default(),
            gguf: None,
            body: None,
            peak: 0,
            failed: false,
        }
    }

    /// The parsed header, once enough bytes have arrived.
    pub fn header(&self) -> Option<&Gguf> {
        self.gguf.as_ref()
    }

    /// Bytes pushed so far.
    pub fn received_bytes(&self) -> u64 {
        self.received
    }

    /// Total file length given to `new`.
    pub fn total_len(&self) -> u64 {
        self.total_len
    }

    /// Bytes the loader holds now (header prefix, partial tensor, parts of
    /// fused weights).
    pub fn buffered_bytes(&self) -> usize {
        self.header.capacity() + self.body.as_ref().map_or(0, Body::buffered)
    }

    /// Most bytes held at once so far (transient repacking copies of one
    /// tensor during its upload are not counted).
    pub fn peak_buffered_bytes(&self) -> usize {
        self.peak.max(self.body.as_ref().map_or(0, |b| b.peak))
    }

    /// Takes the next `chunk` of the file (any size, in order) and uploads
    /// the tensors it completes. After an error the loader is unusable.
    pub fn push(&mut self, gpu: &Gpu, chunk: &[u8]) -> Result<()> {
        if self.failed {
            return Err(Error::option("push", "the load failed earlier"));
        }
        let r = self.push_inner(gpu, chunk);
        self.failed = r.is_err();
        r
    }

    fn push_inner(&mut self, gpu: &Gpu, chunk: &[u8]) -> Result<()> {
        let pos = advance(&mut self.received, self.total_len, chunk.len())?;
        if let Some(b) = self.body.as_mut() {
            return b.feed(gpu, pos, chunk);
        }
        let (take, g) = self.header.push(chunk, self.total_len)?;
        self.peak = self.peak.max(self.header.capacity());
        let Some(g) = g else {
            return Ok(());
        };
        let mut body = Body::new(&g)?;
        self.gguf = Some(g);
        let header = self.header.take();
        body.extra = header.capacity();
        body.feed(gpu, 0, &header)?;
        body.extra = 0;
        drop(header);
        let at = pos + take as u64;
        body.feed(gpu, at, &chunk[take..])?;
        self.body = Some(body);
        Ok(())
    }

    /// Builds the model once every byte has arrived (KV cache of `ctx`
    /// tokens, prefill steps of up to `max_batch`). A missing byte is an
    /// error (`bad_gguf`), never a half-loaded model.
    pub fn finish(self, gpu: &Gpu, ctx: usize, max_batch: usize) -> Result<(Gguf, LlamaGpu)> {
        if self.failed {
            return Err(Error::option("finish", "the load failed earlier"));
        }
        let (Some(g), Some(body)) = (self.gguf, self.body) else {
            return Err(Error::bad_gguf(
                "file",
                format!(
                    "truncated: {} of {} bytes, header incomplete",
                    self.received, self.total_len
                ),
            ));
        };
        if self.received < self.total_len || !body.complete() {
            return Err(Error::bad_gguf(
                "file",
                format!("truncated: {} of {} bytes", self.received, self.total_len),
            ));
        }
        let config = body.config.clone();
        let weights = body.finish()?;
        let model = LlamaGpu::assemble(gpu, config, weights, ctx, max_batch)?;
        Ok((g, model))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slabs repacked alone and written at `SlabLayout::offsets` give the
    /// words of one whole repack, for every type, with an odd number of
    /// blocks per row and a short last slab.
    #[test]
    fn slabs_assemble_to_the_whole_repack() {
        let (rows, cols, slab_rows) = (37, 96, 16); // 3 blocks per row
        for ty in [
            GgmlType::F32,
            GgmlType::F16,
            GgmlType::Q8_0,
            GgmlType::Q4_0,
            GgmlType::Q4_1,
        ] {
            let row_bytes = ty.bytes_for(cols as u64).unwrap() as usize;
            let mut x = 12345u32;
            let bytes: Vec<u8> = (0..rows * row_bytes)
                .map(|_| {
                    x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (x >> 24) as u8
                })
                .collect();
            let whole = crate::quant::repack(ty, &bytes, rows, cols).unwrap();
            let l = SlabLayout::new(ty, rows, cols, slab_rows).unwrap();
            assert_eq!(l.total, whole.words.len(), "{ty:?}");
            if whole.scale_offset != 0 {
                assert_eq!(l.scale_offset, whole.scale_offset as usize, "{ty:?}");
            }
            let mut got = vec![0u32; l.total];
            for (j, slab) in bytes.chunks(slab_rows * row_bytes).enumerate() {
                let p = crate::quant::repack(ty, slab, slab.len() / row_bytes, cols).unwrap();
                let q = if p.scale_offset == 0 {
                    p.words.len()
                } else {
                    p.scale_offset as usize
                };
                let (qo, so) = l.offsets(j);
                got[qo..qo + q].copy_from_slice(&p.words[..q]);
                got[so..so + p.words.len() - q].copy_from_slice(&p.words[q..]);
            }
            assert_eq!(got, whole.words, "{ty:?}");
        }
    }
}
