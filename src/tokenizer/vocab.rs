//! The vocabulary: token texts, scores, attributes (llama.cpp's
//! `llama_token_attr`), and the text -> id map.

use std::collections::HashMap;

use crate::{Error, Result};

/// Token attribute bits, as llama.cpp derives them from
/// `tokenizer.ggml.token_type` (one type per token, plus bits it adds by
/// name, e.g. CONTROL on `<|im_end|>`, UNUSED on control tokens named
/// "unused").
pub mod attr {
    pub const UNKNOWN: u8 = 1 << 0;
    pub const UNUSED: u8 = 1 << 1;
    pub const NORMAL: u8 = 1 << 2;
    pub const CONTROL: u8 = 1 << 3;
    pub const USER_DEFINED: u8 = 1 << 4;
    pub const BYTE: u8 = 1 << 5;

    /// GGUF token type (1 normal, 2 unknown, 3 control, 4 user-defined,
    /// 5 unused, 6 byte) to attribute bits; other values are "undefined" (0).
    pub fn from_token_type(t: i64) -> u8 {
        match t {
            1 => NORMAL,
            2 => UNKNOWN,
            3 => CONTROL,
            4 => USER_DEFINED,
            5 => UNUSED,
            6 => BYTE,
            _ => 0,
        }
    }
}

pub struct Vocab {
    pub texts: Vec<String>,
    pub scores: Vec<f32>,
    pub attrs: Vec<u8>,
    ids: HashMap<String, u32>,
}

impl Vocab {
    /// Builds the vocabulary. `scores` and `types`, when present, must cover
    /// every token. Empty texts become `[EMPTY_<id>]` and a repeated text is
    /// an error, both as in llama.cpp.
    pub fn new(tokens: &[String], scores: Option<&[f32]>, types: Option<&[i64]>) -> Result<Self> {
        let n = tokens.len();
        if n == 0 {
            return Err(Error::Tokenizer("empty vocabulary".into()));
        }
        if u32::try_from(n).is_err() {
            return Err(Error::Tokenizer(format!(
                "vocabulary of {n} tokens is too large"
            )));
        }
        if let Some(s) = scores {
            if s.len() < n {
                return Err(Error::Tokenizer(format!(
                    "{} scores for {n} tokens",
                    s.len()
                )));
            }
        }
        if let Some(t) = types {
            if t.len() < n {
                return Err(Error::Tokenizer(format!(
                    "{} token types for {n} tokens",
                    t.len()
                )));
            }
        }
        let mut texts = Vec::with_capacity(n);
        let mut ids = HashMap::with_capacity(n);
        for (i, t) in tokens.iter().enumerate() {
            let text = if t.is_empty() {
                format!("[EMPTY_{i}]")
            } else {
                t.clone()
            };
            if let Some(prev) = ids.insert(text.clone(), i as u32) {
                return Err(Error::Tokenizer(format!(
                    "duplicate token {text:?} has ids {prev} and {i}"
                )));
            }
            texts.push(text);
        }
        let scores = match scores {
            Some(s) => s[..n].to_vec(),
            None => vec![0.0; n],
        };
        let attrs = match types {
            Some(t) => t[..n].iter().map(|&t| attr::from_token_type(t)).collect(),
            None => vec![attr::NORMAL; n],
        };
        Ok(Self {
            texts,
            scores,
            attrs,
            ids,
        })
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// The id of the token whose text is exactly `text`.
    pub fn id(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    pub fn attr(&self, id: u32) -> u8 {
        self.attrs.get(id as usize).copied().unwrap_or(0)
    }

    pub fn has(&self, id: u32, bits: u8) -> bool {
        self.attr(id) & bits != 0
    }

    /// The first of `names` (in that priority order) that is a token.
    pub fn first_of(&self, names: &[&str]) -> Option<u32> {
        names.iter().find_map(|n| self.id(n))
    }
}
