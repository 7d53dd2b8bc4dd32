//! The CPU path's streaming load: a GGUF's chunks in, each tensor converted
//! (`Part::convert`) as soon as its bytes are all in, its bytes dropped.
//!
//! Why: holding the whole file until the end and converting it then made
//! the load's peak the file plus its conversion (~2.2x the file); this way
//! it is the conversion plus the largest tensor's bytes (SmolLM2: its
//! 30 MB embedding). In wasm, whose memory never shrinks, that peak is what
//! the page keeps.
//!
//! ```text
//! let mut l = CpuLoader::new(total_len);
//! for chunk in download { l.push(&chunk)?; }
//! let (gguf, model) = l.finish(ctx)?;
//! ```

use std::collections::HashMap;

use crate::gguf::Gguf;
use crate::model::config::LlamaConfig;
use crate::model::loader::{advance, HeaderPrefix};
use crate::{Error, Result};

use super::llama::{tensor_list, CpuLlama, Part};

/// A tensor still to come: its data's file range and name.
struct Pending {
    start: u64,
    end: u64,
    name: String,
}

pub struct CpuLoader {
    total: u64,
    received: u64,
    /// The file's first bytes, until the header parses.
    header: HeaderPrefix,
    gguf: Option<Gguf>,
    /// The tensors the model reads, by data offset, and how many are done.
    order: Vec<Pending>,
    next: usize,
    /// File bytes from `buf_at` on that a pending tensor may still need.
    buf: Vec<u8>,
    buf_at: u64,
    parts: HashMap<String, Part>,
    /// The most file bytes buffered at once.
    peak: usize,
    failed: bool,
}

impl CpuLoader {
    /// A loader for a file of `total_len` bytes.
    pub fn new(total_len: u64) -> CpuLoader {
        CpuLoader {
            total: total_len,
            received: 0,
            header: HeaderPrefix::default(),
            gguf: None,
            order: Vec::new(),
            next: 0,
            buf: Vec::new(),
            buf_at: 0,
            parts: HashMap::new(),
            peak: 0,
            failed: false,
        }
    }

    /// The parsed header, once enough bytes have arrived.
    pub fn header(&self) -> Option<&Gguf> {
        self.gguf.as_ref()
    }

    /// Total file length given to `new`.
    pub fn total_len(&self) -> u64 {
        self.total
    }

    /// Bytes pushed so far.
    pub fn received_bytes(&self) -> u64 {
        self.received
    }

    /// Most file bytes held at once (header prefix, or a tensor not yet
    /// whole and the chunk that completes it).
    pub fn peak_buffered_bytes(&self) -> usize {
        self.peak
    }

    /// Takes the next `chunk` of the file (any size, in order) and converts
    /// the tensors it completes. After an error the loader is unusable.
    pub fn push(&mut self, chunk: &[u8]) -> Result<()> {
        if self.failed {
            return Err(Error::option("push", "the load failed earlier"));
        }
        let r = self.push_inner(chunk);
        self.failed = r.is_err();
        r
    }

    fn push_inner(&mut self, chunk: &[u8]) -> Result<()> {
        let pos = advance(&mut self.received, self.total, chunk.len())?;
        if self.gguf.is_some() {
            return self.feed(pos, chunk);
        }
        let (take, g) = self.header.push(chunk, self.total)?;
        self.peak = self.peak.max(self.header.capacity());
        let Some(g) = g else {
            return Ok(());
        };
        // What cannot run fails now, not after the download.
        let config = LlamaConfig::from_gguf(&g)?;
        config.check_tensors(&g)?;
        for name in tensor_list(&config) {
            let t = g
                .tensor(&name)
                .ok_or_else(|| Error::shape(&name, "tensor missing"))?;
            self.order.push(Pending {
                start: t.offset,
                end: t.offset.saturating_add(t.size),
                name,
            });
        }
        self.order.sort_by_key(|p| p.start);
        self.gguf = Some(g);
        let header = self.header.take();
        self.feed(0, &header)?;
        drop(header);
        self.feed(pos + take as u64, &chunk[take..])
    }

    /// Bytes `pos..` of the file: converts what they complete, keeps what a
    /// pending tensor still needs.
    fn feed(&mut self, pos: u64, bytes: &[u8]) -> Result<()> {
        let Some(next_start) = self.order.get(self.next).map(|p| p.start) else {
            return Ok(()); // every tensor is in: the rest is padding
        };
        if self.buf.is_empty() {
            // Nothing buffered: start at the next tensor's first byte.
            self.buf_at = self.buf_at.max(pos).max(next_start);
        }
        let skip = usize::try_from(self.buf_at.saturating_sub(pos))
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let bytes = &bytes[skip..];
        if !bytes.is_empty() {
            // Room for the next tensor whole at once: growing by doubling
            // would leave up to twice that (wasm memory never shrinks).
            let next_end = self.order.get(self.next).map_or(0, |p| p.end);
            let want = usize::try_from(next_end.saturating_sub(self.buf_at))
                .unwrap_or(usize::MAX)
                .max(self.buf.len() + bytes.len());
            self.buf
                .try_reserve_exact(want - self.buf.len())
                .map_err(|e| Error::OutOfMemory(format!("model file: {e}")))?;
            self.buf.extend_from_slice(bytes);
        }
        self.peak = self.peak.max(self.buf.capacity());
        let have = self.buf_at + self.buf.len() as u64;
        let Some(g) = self.gguf.as_ref() else {
            return Ok(());
        };
        while let Some(p) = self.order.get(self.next).filter(|p| p.end <= have) {
            let t = g
                .tensor(&p.name)
                .ok_or_else(|| Error::shape(&p.name, "tensor missing"))?;
            // start >= buf_at: bytes before the next pending start are dropped.
            let at = p
                .start
                .checked_sub(self.buf_at)
                .and_then(|a| usize::try_from(a).ok())
                .ok_or_else(|| Error::bad_gguf(&p.name, "tensor data before the buffer"))?;
            let len = usize::try_from(t.size).unwrap_or(usize::MAX);
            let data = self
                .buf
                .get(at..at.saturating_add(len))
                .ok_or_else(|| Error::bad_gguf(&p.name, "tensor data past the buffer"))?;
            self.parts.insert(p.name.clone(), Part::convert(t, data)?);
            self.next += 1;
        }
        // Keep from the next pending tensor's start on (all later ones start
        // there or after: `order` is sorted).
        let keep = self.order.get(self.next).map_or(have, |p| p.start);
        if keep > self.buf_at {
            let drop = usize::try_from(keep - self.buf_at)
                .unwrap_or(usize::MAX)
                .min(self.buf.len());
            self.buf.drain(..drop);
            self.buf_at = keep;
        }
        Ok(())
    }

    /// The model, once every byte has arrived (KV cache of up to `ctx`
    /// positions). A missing byte is an error (`bad_gguf`), never a
    /// half-loaded model.
    pub fn finish(mut self, ctx: usize) -> Result<(Gguf, CpuLlama)> {
        if self.failed {
            return Err(Error::option("finish", "the load failed earlier"));
        }
        let truncated = |what: &str| {
            Error::bad_gguf(
                "file",
                format!("truncated: {} of {} bytes{what}", self.received, self.total),
            )
        };
        let Some(g) = self.gguf.take() else {
            return Err(truncated(", header incomplete"));
        };
        if self.received < self.total || self.next < self.order.len() {
            return Err(truncated(""));
        }
        drop(std::mem::take(&mut self.buf));
        let mut parts = std::mem::take(&mut self.parts);
        let model = CpuLlama::build(&g, ctx, |name| {
            parts
                .remove(name)
                .ok_or_else(|| Error::shape(name, "tensor missing"))
        })?;
        Ok((g, model))
    }
}
