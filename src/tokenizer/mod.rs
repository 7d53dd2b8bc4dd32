//! Tokenizers built from GGUF metadata: byte-level BPE (`gpt2`) and
//! SentencePiece-style (`llama`), matching llama.cpp's tokenization
//! (`llama-vocab.cpp`) id for id, including its defaults for absent keys.
//!
//! `Tokenizer::from_gguf` reads the `tokenizer.ggml.*` keys into a
//! [`TokenizerData`] and builds from that; tests and tools can build a
//! `TokenizerData` by hand.

mod bpe;
mod decode;
mod pretokenize;
mod spm;
mod vocab;

use std::collections::BTreeSet;

pub use decode::StreamDecoder;
pub use pretokenize::PreTokenizer;
use vocab::{attr, Vocab};

use crate::gguf::{Array, Gguf};
use crate::{Error, Result};

/// The tokenizer metadata of a GGUF file, as read from its keys.
#[derive(Clone, Debug, Default)]
pub struct TokenizerData {
    /// `tokenizer.ggml.model`: `"gpt2"` or `"llama"`.
    pub model: String,
    /// `tokenizer.ggml.pre` (BPE only).
    pub pre: Option<String>,
    pub tokens: Vec<String>,
    pub scores: Option<Vec<f32>>,
    /// GGUF token types (1 normal, 2 unknown, 3 control, 4 user-defined,
    /// 5 unused, 6 byte).
    pub token_types: Option<Vec<i64>>,
    /// `"left right"` pairs, highest priority first (BPE only).
    pub merges: Vec<String>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub eot: Option<u32>,
    pub eom: Option<u32>,
    pub unk: Option<u32>,
    pub sep: Option<u32>,
    pub pad: Option<u32>,
    pub fim_pad: Option<u32>,
    pub fim_rep: Option<u32>,
    pub fim_sep: Option<u32>,
    pub add_bos: Option<bool>,
    pub add_eos: Option<bool>,
    pub add_space_prefix: Option<bool>,
}

impl TokenizerData {
    /// Reads the `tokenizer.ggml.*` keys.
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        const P: &str = "tokenizer.ggml.";
        let key = |k: &str| format!("{P}{k}");
        let id = |k: &str| -> Result<Option<u32>> {
            let k = key(k);
            match g.get_u64(&k)? {
                None => Ok(None),
                Some(v) => u32::try_from(v)
                    .map(Some)
                    .map_err(|_| Error::bad_gguf(&k, "token id out of range")),
            }
        };
        let strings = |k: &str| -> Result<Option<Vec<String>>> {
            let k = key(k);
            match g.get_array(&k)? {
                None => Ok(None),
                Some(Array::String(v)) => Ok(Some(v.clone())),
                Some(_) => Err(Error::bad_gguf(&k, "expected an array of strings")),
            }
        };
        let model = g
            .get_str(&key("model"))?
            .ok_or_else(|| Error::bad_gguf(key("model"), "missing"))?
            .to_owned();
        let tokens = strings("tokens")?.ok_or_else(|| Error::bad_gguf(key("tokens"), "missing"))?;
        let scores = match g.get_array(&key("scores"))? {
            None => None,
            Some(Array::F32(v)) => Some(v.clone()),
            Some(Array::Int(v)) => Some(v.iter().map(|&x| x as f32).collect()),
            Some(_) => return Err(Error::bad_gguf(key("scores"), "expected f32 or int array")),
        };
        let token_types = match g.get_array(&key("token_type"))? {
            None => None,
            Some(Array::Int(v)) => Some(v.clone()),
            Some(_) => return Err(Error::bad_gguf(key("token_type"), "expected an int array")),
        };
        Ok(Self {
            model,
            pre: g.get_str(&key("pre"))?.map(str::to_owned),
            tokens,
            scores,
            token_types,
            merges: strings("merges")?.unwrap_or_default(),
            bos: id("bos_token_id")?,
            eos: id("eos_token_id")?,
            eot: id("eot_token_id")?,
            eom: id("eom_token_id")?,
            unk: id("unknown_token_id")?,
            // Sic: llama.cpp's key name.
            sep: id("seperator_token_id")?,
            pad: id("padding_token_id")?,
            fim_pad: id("fim_pad_token_id")?,
            fim_rep: id("fim_rep_token_id")?,
            fim_sep: id("fim_sep_token_id")?,
            add_bos: g.get_bool(&key("add_bos_token"))?,
            add_eos: g.get_bool(&key("add_eos_token"))?,
            add_space_prefix: g.get_bool(&key("add_space_prefix"))?,
        })
    }
}

enum Model {
    Bpe {
        merges: bpe::Merges,
        // Boxed: 1 KiB of tables, next to a unit variant.
        bytes: Box<bpe::ByteMap>,
        pre: PreTokenizer,
        /// Llama 3: a word that is already a token is not merged.
        ignore_merges: bool,
    },
    Spm,
}

/// A tokenizer: text <-> token ids.
pub struct Tokenizer {
    model: Model,
    vocab: Vocab,
    /// Bytes of every token (see `decode::pieces`).
    pieces: decode::Pieces,
    /// Ids split out of raw text before tokenizing (control, user-defined,
    /// unknown), longest text first.
    specials: Vec<u32>,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    unk: Option<u32>,
    eog: BTreeSet<u32>,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
}

/// Texts llama.cpp takes for end-of-turn when no `eot_token_id` is given.
const EOT_NAMES: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];
const FIM_PAD_NAMES: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_NAMES: &[&str] = &[
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
];
const FIM_SEP_NAMES: &[&str] = &["<|file_sep|>"];
/// Texts llama.cpp marks as end-of-generation.
const EOG_NAMES: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

impl Tokenizer {
    /// Builds the tokenizer a GGUF file describes.
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        Self::from_data(&TokenizerData::from_gguf(g)?)
    }

    /// Builds a tokenizer from already extracted metadata, applying
    /// llama.cpp's defaults for whatever is absent.
    pub fn from_data(d: &TokenizerData) -> Result<Self> {
        let mut vocab = Vocab::new(&d.tokens, d.scores.as_deref(), d.token_types.as_deref())?;
        let n = vocab.len();
        // Per-model defaults (llama-vocab.cpp `load`).
        let (model, mut bos, mut eos, mut unk, mut add_bos, mut add_space_prefix) =
            match d.model.as_str() {
                "gpt2" => {
                    let pre_name = d.pre.as_deref().unwrap_or("");
                    let pre = PreTokenizer::from_name(pre_name).ok_or_else(|| {
                        Error::Unsupported(format!("BPE pre-tokenizer `{pre_name}`"))
                    })?;
                    if d.merges.is_empty() {
                        return Err(Error::Tokenizer("BPE vocabulary without merges".into()));
                    }
                    let llama3_group =
                        pre == PreTokenizer::Llama3 && !matches!(pre_name, "dbrx" | "smaug-bpe");
                    let model = Model::Bpe {
                        merges: bpe::Merges::new(&d.merges),
                        bytes: Box::new(bpe::ByteMap::new()),
                        pre,
                        ignore_merges: llama3_group,
                    };
                    (model, Some(11), Some(11), None, llama3_group, false)
                }
                "llama" => (Model::Spm, Some(1), Some(2), Some(0), true, true),
                other => return Err(Error::Unsupported(format!("tokenizer model `{other}`"))),
            };
        // Default ids outside the vocabulary are dropped; given ones replace
        // the defaults when in range (llama.cpp warns and keeps the default).
        let in_range = |id: Option<u32>| id.filter(|&i| (i as usize) < n);
        let pick = |given: Option<u32>, default: Option<u32>| in_range(given).or(in_range(default));
        bos = pick(d.bos, bos);
        eos = pick(d.eos, eos);
        unk = pick(d.unk, unk);
        if let Some(v) = d.add_space_prefix {
            add_space_prefix = v;
        }
        if let Some(v) = d.add_bos {
            add_bos = v;
        }
        let add_eos = d.add_eos.unwrap_or(false);
        if add_bos && bos.is_none() {
            return Err(Error::Tokenizer(
                "add_bos_token is true but there is no BOS token".into(),
            ));
        }
        if add_eos && eos.is_none() {
            return Err(Error::Tokenizer(
                "add_eos_token is true but there is no EOS token".into(),
            ));
        }

        // Special tokens found by name, made CONTROL as llama.cpp does.
        let by_name = |given: Option<u32>, names: &[&str], vocab: &mut Vocab| {
            in_range(given).or_else(|| {
                let id = vocab.first_of(names)?;
                vocab.attrs[id as usize] |= attr::CONTROL;
                Some(id)
            })
        };
        let eot = by_name(d.eot, EOT_NAMES, &mut vocab);
        let eom = by_name(d.eom, &["<|eom_id|>"], &mut vocab);
        let fim_pad = by_name(d.fim_pad, FIM_PAD_NAMES, &mut vocab);
        let fim_rep = by_name(d.fim_rep, FIM_REP_NAMES, &mut vocab);
        let fim_sep = by_name(d.fim_sep, FIM_SEP_NAMES, &mut vocab);
        for a in vocab.attrs.iter_mut().zip(&vocab.texts) {
            if *a.0 & attr::CONTROL != 0 && a.1.contains("unused") {
                *a.0 |= attr::UNUSED;
            }
        }
        let mut eog: BTreeSet<u32> = [fim_pad, fim_rep, fim_sep].into_iter().flatten().collect();
        for name in EOG_NAMES {
            if let Some(id) = vocab.id(name) {
                eog.insert(id);
                vocab.attrs[id as usize] |= attr::CONTROL;
            }
        }
        // gpt-oss: these must always be rendered and parsed.
        for name in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
            if let Some(id) = vocab.id(name) {
                vocab.attrs[id as usize] = attr::USER_DEFINED;
            }
        }
        eog.extend([eos, eot, eom].into_iter().flatten());
        // Harmony / solar-open: `<|end|>` ends a message, not the generation.
        let has =
            |eog: &BTreeSet<u32>, name: &str| vocab.id(name).is_some_and(|i| eog.contains(&i));
        if (has(&eog, "<|return|>") && has(&eog, "<|call|>"))
            || (has(&eog, "<|calls|>") && has(&eog, "<|flush|>"))
        {
            if let Some(end) = vocab.id("<|end|>") {
                eog.remove(&end);
            }
        }
        // Gemma 4 / paddleocr: `</s>` is not end-of-generation there.
        if has(&eog, "<|tool_response>") {
            if let Some(s) = vocab.id("</s>") {
                eog.remove(&s);
            }
        }

        let mut specials: Vec<u32> = (0..n as u32)
            .filter(|&i| vocab.has(i, attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN))
            .collect();
        specials.sort_by_key(|&i| std::cmp::Reverse(vocab.texts[i as usize].len()));
        let pieces = decode::pieces(
            &vocab,
            match &model {
                Model::Bpe { bytes, .. } => Some(bytes),
                Model::Spm => None,
            },
        );
        Ok(Self {
            model,
            vocab,
            pieces,
            specials,
            bos,
            eos,
            eot,
            unk,
            eog,
            add_bos,
            add_eos,
            add_space_prefix,
        })
    }

    /// Text -> ids. `add_special` adds BOS/EOS where the model asks for them
    /// (`tokenizer.ggml.add_bos_token` / `add_eos_token`, else llama.cpp's
    /// per-model defaults); `parse_special` turns control tokens written in
    /// the text (`<|im_start|>`) into their ids (user-defined tokens are
    /// always parsed, as in llama.cpp and Hugging Face).
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if add_special && self.add_bos {
            out.extend(self.bos);
        }
        let frags = self.partition(text, parse_special);
        match &self.model {
            Model::Bpe {
                merges,
                bytes,
                pre,
                ignore_merges,
            } => {
                for f in frags {
                    match f {
                        Frag::Token(id) => out.push(id),
                        Frag::Text(t) => {
                            for word in pre.split(t) {
                                let w = bytes.encode(word);
                                bpe::merge_word(&w, merges, &self.vocab, *ignore_merges, &mut out);
                            }
                        }
                    }
                }
            }
            Model::Spm => {
                // A text fragment at the start or after a special token gets
                // the SentencePiece space prefix.
                let mut prev_special = true;
                for f in frags {
                    match f {
                        Frag::Token(id) => {
                            out.push(id);
                            prev_special = true;
                        }
                        Frag::Text(t) => {
                            let mut s = String::with_capacity(t.len() + 3);
                            if self.add_space_prefix && prev_special {
                                s.push(' ');
                            }
                            s.push_str(t);
                            let s = s.replace(' ', "\u{2581}");
                            spm::tokenize(&s, &self.vocab, &mut out)?;
                            prev_special = false;
                        }
                    }
                }
            }
        }
        if add_special && self.add_eos {
            out.extend(self.eos);
        }
        Ok(out)
    }

    /// Splits `text` on special-token texts, longest token first
    /// (llama.cpp's `tokenizer_st_partition`).
    fn partition<'a>(&self, text: &'a str, parse_special: bool) -> Vec<Frag<'a>> {
        let mut frags = Vec::new();
        if text.is_empty() {
            return frags;
        }
        frags.push(Frag::Text(text));
        for &id in &self.specials {
            if !parse_special && self.vocab.has(id, attr::CONTROL | attr::UNKNOWN) {
                continue;
            }
            let pat = self.vocab.texts[id as usize].as_str();
            if !frags
                .iter()
                .any(|f| matches!(f, Frag::Text(t) if t.contains(pat)))
            {
                continue;
            }
            let mut next = Vec::with_capacity(frags.len() + 2);
            for f in frags {
                let Frag::Text(mut t) = f else {
                    next.push(f);
                    continue;
                };
                while let Some(i) = t.find(pat) {
                    if i > 0 {
                        next.push(Frag::Text(&t[..i]));
                    }
                    next.push(Frag::Token(id));
                    t = &t[i + pat.len()..];
                }
                if !t.is_empty() {
                    next.push(Frag::Text(t));
                }
            }
            frags = next;
        }
        frags
    }

    /// Ids -> text: the tokens' bytes joined (special tokens as their text),
    /// invalid UTF-8 replaced by U+FFFD. As llama.cpp's detokenizer, a
    /// SentencePiece model's first token loses one leading space (the
    /// prefix `encode` added); unlike it, no "clean up" of spaces before
    /// punctuation is done, so streaming and whole decoding agree.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let mut bytes = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            let p = self.token_bytes(id)?;
            let p = match (i, self.add_space_prefix, p.first()) {
                (0, true, Some(b' ')) => &p[1..],
                _ => p,
            };
            bytes.extend_from_slice(p);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The bytes token `id` stands for (may be part of a UTF-8 sequence).
    pub fn token_bytes(&self, id: u32) -> Result<&[u8]> {
        self.pieces.get(id).ok_or_else(|| self.out_of_range(id))
    }

    /// The raw vocabulary text of token `id` (`"Ġthe"`, `"<|im_end|>"`).
    pub fn token_text(&self, id: u32) -> Result<&str> {
        self.vocab
            .texts
            .get(id as usize)
            .map(String::as_str)
            .ok_or_else(|| self.out_of_range(id))
    }

    fn out_of_range(&self, id: u32) -> Error {
        Error::Tokenizer(format!(
            "token id {id} out of range (vocabulary of {})",
            self.vocab.len()
        ))
    }

    /// The id of the token whose vocabulary text is exactly `text`.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.vocab.id(text)
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// End-of-turn token (given, or found by name as llama.cpp does).
    pub fn eot(&self) -> Option<u32> {
        self.eot
    }

    /// The unknown token (SentencePiece vocabularies).
    pub fn unk(&self) -> Option<u32> {
        self.unk
    }

    /// Whether `encode(.., add_special = true, ..)` prepends BOS.
    pub fn adds_bos(&self) -> bool {
        self.add_bos
    }

    /// Whether generation stops at `id` (EOS, EOT, `<|im_end|>`, ...).
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.contains(&id)
    }

    /// All end-of-generation ids, ascending.
    pub fn eog_ids(&self) -> Vec<u32> {
        self.eog.iter().copied().collect()
    }

    /// Whether `id` is a control token (rendered only on request by most
    /// front ends; `decode` renders it).
    pub fn is_control(&self, id: u32) -> bool {
        self.vocab.has(id, attr::CONTROL)
    }
}

enum Frag<'a> {
    Text(&'a str),
    Token(u32),
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
