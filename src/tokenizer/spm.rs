//! SentencePiece-style BPE (GGUF `tokenizer.ggml.model == "llama"`), as
//! llama.cpp's `llm_tokenizer_spm`: start from single chars, repeatedly
//! merge the adjacent pair whose concatenation is the highest-scoring token
//! (leftmost on ties), then emit tokens, falling back to `<0xNN>` byte
//! tokens for text that never became a token.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::vocab::Vocab;
use crate::{Error, Result};

#[derive(Clone, Copy)]
struct Sym {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

struct Bigram {
    left: usize,
    right: usize,
    score: f32,
    size: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Bigram {
    /// Max-heap order: higher score first, then the leftmost pair.
    fn cmp(&self, o: &Self) -> Ordering {
        self.score
            .total_cmp(&o.score)
            .then_with(|| o.left.cmp(&self.left))
    }
}

/// The byte-fallback token of `b`: `<0xNN>`, else a token that is the byte
/// itself (ASCII only; other single bytes are not valid token text).
pub fn byte_token(vocab: &Vocab, b: u8) -> Result<u32> {
    if let Some(id) = vocab.id(&format!("<0x{b:02X}>")) {
        return Ok(id);
    }
    let mut buf = [0u8; 4];
    b.is_ascii()
        .then(|| vocab.id(char::from(b).encode_utf8(&mut buf)))
        .flatten()
        .ok_or_else(|| Error::Tokenizer(format!("no byte-fallback token for byte 0x{b:02X}")))
}

/// Tokenizes `text` (spaces already escaped to U+2581) and appends the ids.
pub fn tokenize(text: &str, vocab: &Vocab, out: &mut Vec<u32>) -> Result<()> {
    let mut syms: Vec<Sym> = Vec::with_capacity(text.len());
    for (i, (start, c)) in text.char_indices().enumerate() {
        syms.push(Sym {
            start,
            len: c.len_utf8(),
            prev: i.checked_sub(1),
            next: None,
        });
        if i > 0 {
            syms[i - 1].next = Some(i);
        }
    }
    let mut heap = BinaryHeap::new();
    // llama.cpp also records which pair each merged text came from, to
    // re-split a final symbol that is not a token; but a pair is only merged
    // when its text is a token, so every final symbol is a token or a single
    // char, and that path never runs. Single chars without a token fall back
    // to bytes.
    let add = |heap: &mut BinaryHeap<Bigram>, syms: &[Sym], l: Option<usize>, r: Option<usize>| {
        let (Some(l), Some(r)) = (l, r) else { return };
        let (a, b) = (&syms[l], &syms[r]);
        let joined = &text[a.start..b.start + b.len];
        if let Some(id) = vocab.id(joined) {
            heap.push(Bigram {
                left: l,
                right: r,
                score: vocab.scores[id as usize],
                size: joined.len(),
            });
        }
    };
    for i in 1..syms.len() {
        add(&mut heap, &syms, Some(i - 1), Some(i));
    }
    while let Some(bg) = heap.pop() {
        let (l, r) = (syms[bg.left], syms[bg.right]);
        if l.len == 0 || r.len == 0 || l.len + r.len != bg.size {
            continue;
        }
        syms[bg.left].len += r.len;
        syms[bg.right].len = 0;
        syms[bg.left].next = r.next;
        if let Some(n) = r.next {
            syms[n].prev = Some(bg.left);
        }
        add(&mut heap, &syms, syms[bg.left].prev, Some(bg.left));
        add(&mut heap, &syms, Some(bg.left), syms[bg.left].next);
    }
    let mut i = if syms.is_empty() { None } else { Some(0) };
    while let Some(k) = i {
        let s = syms[k];
        let t = &text[s.start..s.start + s.len];
        match vocab.id(t) {
            Some(id) => out.push(id),
            None => {
                for b in t.bytes() {
                    out.push(byte_token(vocab, b)?);
                }
            }
        }
        i = s.next;
    }
    Ok(())
}
