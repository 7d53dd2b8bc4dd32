//! Byte-level BPE (GGUF `tokenizer.ggml.model == "gpt2"`): GPT-2's
//! byte-to-unicode alphabet and rank-ordered merges inside each word, as
//! llama.cpp's `llm_tokenizer_bpe_session`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::vocab::Vocab;

/// GPT-2's reversible map from bytes to printable chars: printable Latin-1
/// bytes map to themselves, the other 68 bytes to U+0100.. in byte order.
pub struct ByteMap {
    to_char: [char; 256],
    to_byte: HashMap<char, u8>,
}

impl ByteMap {
    pub fn new() -> Self {
        let mut to_char = ['\0'; 256];
        let printable = |b: u32| {
            (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b)
        };
        let mut next = 256u32;
        for b in 0u32..256 {
            let cp = if printable(b) {
                b
            } else {
                next += 1;
                next - 1
            };
            // All values are < 0x144, valid scalar values.
            to_char[b as usize] = char::from_u32(cp).unwrap_or('\u{FFFD}');
        }
        let to_byte = (0u8..=255).map(|b| (to_char[b as usize], b)).collect();
        Self { to_char, to_byte }
    }

    /// `word`'s UTF-8 bytes written in the byte alphabet.
    pub fn encode(&self, word: &str) -> String {
        word.bytes().map(|b| self.to_char[b as usize]).collect()
    }

    /// The bytes a vocabulary entry stands for. A char outside the alphabet
    /// (not produced by any converter we know) keeps its own UTF-8 bytes.
    pub fn decode(&self, text: &str, out: &mut Vec<u8>) {
        for c in text.chars() {
            match self.to_byte.get(&c) {
                Some(&b) => out.push(b),
                None => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
    }
}

/// Merge ranks. Merge halves are interned so a candidate pair is looked up
/// without allocating: `ranks[(part(left), part(right))]`.
pub struct Merges {
    parts: HashMap<String, u32>,
    ranks: HashMap<(u32, u32), u32>,
}

impl Merges {
    /// `merges[i]` is `"left right"` with rank `i`; like llama.cpp, the split
    /// is at the first space after the first byte, a line without one is
    /// the pair ("", ""), and a repeated pair keeps its first rank.
    pub fn new(merges: &[String]) -> Self {
        let mut parts: HashMap<String, u32> = HashMap::new();
        let mut ranks = HashMap::with_capacity(merges.len());
        let intern = |s: &str, parts: &mut HashMap<String, u32>| -> u32 {
            if let Some(&id) = parts.get(s) {
                return id;
            }
            let id = parts.len() as u32;
            parts.insert(s.to_owned(), id);
            id
        };
        for (rank, m) in merges.iter().enumerate() {
            // The space is ASCII, so both slices start on char boundaries.
            let space = m.bytes().skip(1).position(|b| b == b' ').map(|i| i + 1);
            let (l, r) = match space {
                Some(i) => (&m[..i], &m[i + 1..]),
                None => ("", ""),
            };
            let key = (intern(l, &mut parts), intern(r, &mut parts));
            ranks.entry(key).or_insert(rank as u32);
        }
        Self { parts, ranks }
    }

    fn rank(&self, left: &str, right: &str) -> Option<u32> {
        let l = *self.parts.get(left)?;
        let r = *self.parts.get(right)?;
        self.ranks.get(&(l, r)).copied()
    }
}

/// A run of the word: `start..start + len` bytes; `len == 0` once merged
/// into its left neighbour.
#[derive(Clone, Copy)]
struct Sym {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A mergeable pair: (rank, left, right, left len, right len) at push time.
type Candidate = (u32, usize, usize, usize, usize);

/// Tokenizes one pre-tokenized word, already in the byte alphabet.
pub fn merge_word(
    word: &str,
    merges: &Merges,
    vocab: &Vocab,
    ignore_merges: bool,
    out: &mut Vec<u32>,
) {
    if ignore_merges {
        if let Some(id) = vocab.id(word) {
            out.push(id);
            return;
        }
    }
    let mut syms: Vec<Sym> = Vec::with_capacity(word.len());
    for (i, (start, c)) in word.char_indices().enumerate() {
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
    let text = |s: &Sym| &word[s.start..s.start + s.len];
    // Lowest rank first, then leftmost.
    let mut heap: BinaryHeap<Reverse<Candidate>> = BinaryHeap::new();
    let push = |heap: &mut BinaryHeap<_>, syms: &[Sym], l: Option<usize>, r: Option<usize>| {
        let (Some(l), Some(r)) = (l, r) else { return };
        let (a, b) = (&syms[l], &syms[r]);
        if let Some(rank) = merges.rank(text(a), text(b)) {
            heap.push(Reverse((rank, l, r, a.len, b.len)));
        }
    };
    for i in 1..syms.len() {
        push(&mut heap, &syms, Some(i - 1), Some(i));
    }
    while let Some(Reverse((_, l, r, l_len, r_len))) = heap.pop() {
        // Symbols only grow, so unchanged lengths mean the pair is current.
        if syms[l].len != l_len || syms[r].len != r_len || l_len == 0 || r_len == 0 {
            continue;
        }
        syms[l].len += r_len;
        syms[r].len = 0;
        syms[l].next = syms[r].next;
        if let Some(n) = syms[r].next {
            syms[n].prev = Some(l);
        }
        push(&mut heap, &syms, syms[l].prev, Some(l));
        push(&mut heap, &syms, Some(l), syms[l].next);
    }
    for s in syms.iter().filter(|s| s.len > 0) {
        let t = text(s);
        match vocab.id(t) {
            Some(id) => out.push(id),
            // No token for the merged text: one token per single-char
            // string of its bytes, where such a token exists (as llama.cpp).
            None => {
                for b in t.bytes().filter(u8::is_ascii) {
                    let mut buf = [0u8; 4];
                    if let Some(id) = vocab.id(char::from(b).encode_utf8(&mut buf)) {
                        out.push(id);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn byte_map_is_gpt2() {
        let m = ByteMap::new();
        assert_eq!(m.encode(" a\n"), "\u{120}a\u{10A}");
        assert_eq!(m.encode("é"), "\u{C3}\u{A9}");
        let mut out = Vec::new();
        m.decode("\u{120}a\u{10A}\u{C3}\u{A9}", &mut out);
        assert_eq!(out, " a\né".as_bytes());
        for b in 0u8..=255 {
            let mut out = Vec::new();
            m.decode(&m.to_char[b as usize].to_string(), &mut out);
            assert_eq!(out, [b]);
        }
    }

    #[test]
    fn merges_split_like_llama_cpp() {
        let m = Merges::new(&[
            "a b".into(),
            "ab c".into(),
            "a b".into(),
            "x".into(),
            "\u{120} t".into(),
        ]);
        assert_eq!(m.rank("a", "b"), Some(0));
        assert_eq!(m.rank("ab", "c"), Some(1));
        assert_eq!(m.rank("", ""), Some(3));
        assert_eq!(m.rank("\u{120}", "t"), Some(4));
    }
}
