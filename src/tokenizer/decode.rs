//! Token -> bytes, and incremental detokenization.

use super::bpe::ByteMap;
use super::vocab::{attr, Vocab};
use super::Tokenizer;
use crate::Result;

/// The bytes of every token, in one buffer: token `i` is
/// `bytes[starts[i]..starts[i + 1]]` (one allocation rather than one per
/// token; Gemma's vocabulary has 262k tokens).
pub struct Pieces {
    bytes: Vec<u8>,
    starts: Vec<usize>,
}

impl Pieces {
    pub fn get(&self, id: u32) -> Option<&[u8]> {
        let i = id as usize;
        let (&a, &b) = (self.starts.get(i)?, self.starts.get(i + 1)?);
        self.bytes.get(a..b)
    }
}

/// The bytes every token stands for, as llama.cpp's `token_to_piece` with
/// `special = true`: control, unknown and user-defined tokens are their
/// text; normal tokens are decoded (byte alphabet for BPE, U+2581 -> space
/// for SentencePiece); byte tokens `<0xNN>` are that byte; unused or
/// undefined tokens are empty.
pub fn pieces(vocab: &Vocab, bytes: Option<&ByteMap>) -> Pieces {
    let mut out = Vec::new();
    let mut starts = Vec::with_capacity(vocab.len() + 1);
    for (text, &a) in vocab.texts.iter().zip(&vocab.attrs) {
        starts.push(out.len());
        if a & (attr::CONTROL | attr::UNKNOWN | attr::USER_DEFINED) != 0 {
            out.extend_from_slice(text.as_bytes());
        } else if a & attr::NORMAL != 0 {
            match bytes {
                Some(map) => map.decode(text, &mut out),
                None => out.extend_from_slice(text.replace('\u{2581}', " ").as_bytes()),
            }
        } else if a & attr::BYTE != 0 {
            if let Some(b) = text.get(3..5).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
            }
        }
    }
    starts.push(out.len());
    Pieces { bytes: out, starts }
}

/// Incremental detokenizer for streaming: each pushed token returns the
/// text that is complete so far; an incomplete UTF-8 sequence at the end is
/// held back until the bytes that complete it arrive (a token may carry
/// half a character, e.g. one byte of an emoji). Invalid bytes become
/// U+FFFD.
#[derive(Debug, Default, Clone)]
pub struct StreamDecoder {
    pending: Vec<u8>,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends token `id` and returns the newly completed text (possibly "").
    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> Result<String> {
        self.pending.extend_from_slice(tok.token_bytes(id)?);
        Ok(self.take_complete())
    }

    /// Flushes what is held back (an unfinished sequence becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }

    /// Bytes held back, waiting for the rest of a character.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    fn take_complete(&mut self) -> String {
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    // `good` is valid UTF-8 by construction.
                    out.push_str(&String::from_utf8_lossy(good));
                    match e.error_len() {
                        // Invalid bytes: replace and go on.
                        Some(n) => {
                            out.push('\u{FFFD}');
                            rest = &bad[n..];
                        }
                        // A sequence cut short by the end: keep it.
                        None => {
                            rest = bad;
                            break;
                        }
                    }
                }
            }
        }
        let keep = rest.len();
        let start = self.pending.len() - keep;
        self.pending.drain(..start);
        out
    }
}
