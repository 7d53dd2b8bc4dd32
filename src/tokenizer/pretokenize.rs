//! Pre-tokenizers of the byte-level BPE family: split text into words before
//! BPE merges run inside each word.
//!
//! llama.cpp runs a list of regexes one after the other, each splitting the
//! pieces the previous one left (a later regex never joins pieces), and runs
//! its most common regexes (GPT-2's and Llama 3's) through hand-written
//! matchers rather than a regex engine. We do the same, by hand, for every
//! pattern we support. Why not `fancy-regex`: llama.cpp's hand-written
//! matchers are what the reference tokenizes with, and they differ from a
//! regex engine at piece boundaries (a lookahead such as `\s+(?!\S)` cannot
//! see past the end of the current piece); copying their logic is the only
//! way to agree on every input, and it is also much faster. Character
//! classes (`\p{L}`, `\p{N}`, `\p{P}`) come from the Unicode general category
//! table of the `unicode-general-category` crate; `\s` is Unicode White_Space
//! (`char::is_whitespace`), as in llama.cpp's table.

use unicode_general_category::{get_general_category, GeneralCategory as Gc};

/// The pre-tokenizer named by `tokenizer.ggml.pre`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreTokenizer {
    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    Gpt2,
    /// SmolLM / StarCoder: every `\p{N}` alone first, then GPT-2's regex.
    Smollm,
    /// Llama 3: case-insensitive contractions, `\p{N}{1,3}`, newline runs.
    Llama3,
    /// Qwen 2: Llama 3's regex with `\p{N}` (one digit per word).
    Qwen2,
    /// llama.cpp's fallback when a BPE GGUF names no pre-tokenizer:
    /// `[\p{P}$+<=>^~|]+`, then GPT-2, then `\p{N}+`, then `[0-9][0-9][0-9]`.
    Default,
}

impl PreTokenizer {
    /// Maps a `tokenizer.ggml.pre` value the way llama.cpp's vocab loader
    /// groups them; `None` for names we do not implement.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "" | "default" => Self::Default,
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral"
            | "midm-2.0" | "lfm2" | "jina-v5-nano" | "dbrx" | "smaug-bpe" => Self::Llama3,
            "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "stablelm2" | "hunyuan"
            | "solar-open" | "megrez" => Self::Qwen2,
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone"
            | "minerva-7b" | "mellum2" => Self::Smollm,
            "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es"
            | "jina-v2-de" | "a.x-4.0" | "mellum" | "modern-bert" | "mpt" | "olmo" | "jais"
            | "trillion" | "granite-docling" | "exaone4" => Self::Gpt2,
            _ => return None,
        })
    }

    /// Splits `text` into words (substrings, in order, covering all of it).
    pub fn split(self, text: &str) -> Vec<&str> {
        let chars: Vec<char> = text.chars().collect();
        // Piece lengths in chars; one piece covering everything to start.
        let mut pieces = vec![chars.len()];
        let passes: &[Pass] = match self {
            Self::Gpt2 => &[Pass::Gpt2],
            Self::Smollm => &[Pass::EachNumber, Pass::Gpt2],
            Self::Llama3 => &[Pass::Llama3 { max_digits: 3 }],
            Self::Qwen2 => &[Pass::Llama3 { max_digits: 1 }],
            Self::Default => &[
                Pass::PunctRuns,
                Pass::Gpt2,
                Pass::NumberRuns,
                Pass::AsciiDigitTriples,
            ],
        };
        for pass in passes {
            pieces = run_pass(*pass, &chars, &pieces);
        }
        // Char lengths -> byte ranges of `text`.
        let mut words = Vec::with_capacity(pieces.len());
        let mut byte = 0;
        let mut ch = 0;
        for len in pieces {
            let start = byte;
            for c in &chars[ch..ch + len] {
                byte += c.len_utf8();
            }
            ch += len;
            if let Some(w) = text.get(start..byte) {
                words.push(w);
            }
        }
        words
    }
}

#[derive(Clone, Copy, Debug)]
enum Pass {
    Gpt2,
    /// Llama 3's regex with `\p{N}{1,max_digits}`. llama.cpp runs the Qwen 2
    /// variant through `std::regex` rather than its Llama 3 matcher; both
    /// implement the same regex (checked against llama.cpp in
    /// tests/tokenizer_parity.rs).
    Llama3 {
        max_digits: usize,
    },
    /// `\p{N}`: each number char is its own piece.
    EachNumber,
    /// `\p{N}+`.
    NumberRuns,
    /// `[\p{P}\$\+<=>\^~\|]+`.
    PunctRuns,
    /// `[0-9][0-9][0-9]`.
    AsciiDigitTriples,
}

fn run_pass(pass: Pass, chars: &[char], pieces: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(pieces.len() * 2);
    let mut start = 0;
    for &len in pieces {
        let piece = &chars[start..start + len];
        start += len;
        match pass {
            Pass::Gpt2 => split_gpt2(piece, &mut out),
            Pass::Llama3 { max_digits } => split_llama3(piece, max_digits, &mut out),
            Pass::EachNumber => split_class(piece, is_number, false, &mut out),
            Pass::NumberRuns => split_class(piece, is_number, true, &mut out),
            Pass::PunctRuns => split_class(piece, is_punct_or_listed_symbol, true, &mut out),
            Pass::AsciiDigitTriples => split_digit_triples(piece, &mut out),
        }
    }
    out
}

fn is_letter(c: char) -> bool {
    matches!(
        get_general_category(c),
        Gc::UppercaseLetter
            | Gc::LowercaseLetter
            | Gc::TitlecaseLetter
            | Gc::ModifierLetter
            | Gc::OtherLetter
    )
}

fn is_number(c: char) -> bool {
    matches!(
        get_general_category(c),
        Gc::DecimalNumber | Gc::LetterNumber | Gc::OtherNumber
    )
}

fn is_punct_or_listed_symbol(c: char) -> bool {
    matches!(c, '$' | '+' | '<' | '=' | '>' | '^' | '~' | '|')
        || matches!(
            get_general_category(c),
            Gc::ConnectorPunctuation
                | Gc::DashPunctuation
                | Gc::OpenPunctuation
                | Gc::ClosePunctuation
                | Gc::InitialPunctuation
                | Gc::FinalPunctuation
                | Gc::OtherPunctuation
        )
}

/// A view of one piece with llama.cpp's out-of-range convention: positions
/// past the end have no class at all (neither letter, number, space nor
/// "other"), which is what stops every run at the piece boundary.
struct View<'a> {
    c: &'a [char],
}

impl View<'_> {
    fn get(&self, i: usize) -> Option<char> {
        self.c.get(i).copied()
    }
    fn letter(&self, i: usize) -> bool {
        self.get(i).is_some_and(is_letter)
    }
    fn number(&self, i: usize) -> bool {
        self.get(i).is_some_and(is_number)
    }
    fn space(&self, i: usize) -> bool {
        self.get(i).is_some_and(char::is_whitespace)
    }
    /// `[^\s\p{L}\p{N}]` inside the piece.
    fn other(&self, i: usize) -> bool {
        self.get(i)
            .is_some_and(|c| !(c.is_whitespace() || is_letter(c) || is_number(c)))
    }
}

/// Pushes piece lengths as a matcher advances: `cut(end)` closes the piece
/// that started at the previous cut.
struct Cutter<'o> {
    out: &'o mut Vec<usize>,
    prev: usize,
}

impl Cutter<'_> {
    fn cut(&mut self, end: usize) -> usize {
        let len = end.saturating_sub(self.prev);
        if len > 0 {
            self.out.push(len);
        }
        self.prev = end;
        len
    }
}

/// GPT-2's regex, as llama.cpp's `unicode_regex_split_custom_gpt2`.
fn split_gpt2(c: &[char], out: &mut Vec<usize>) {
    let v = View { c };
    let n = c.len();
    let mut k = Cutter { out, prev: 0 };
    let mut pos = 0;
    while pos < n {
        let cpt = c[pos];
        // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive)
        if cpt == '\'' && pos + 1 < n {
            let next = c[pos + 1];
            if matches!(next, 's' | 't' | 'm' | 'd') {
                pos += k.cut(pos + 2);
                continue;
            }
            if pos + 2 < n {
                let nn = c[pos + 2];
                if matches!((next, nn), ('r', 'e') | ('v', 'e') | ('l', 'l')) {
                    pos += k.cut(pos + 3);
                    continue;
                }
            }
        }
        // The optional leading space of the next three alternatives.
        let sp = usize::from(cpt == ' ');
        let first = pos + sp;
        // ' ?\p{L}+'
        if v.letter(first) {
            pos = first;
            while v.letter(pos) {
                pos += 1;
            }
            k.cut(pos);
            continue;
        }
        // ' ?\p{N}+'
        if v.number(first) {
            pos = first;
            while v.number(pos) {
                pos += 1;
            }
            k.cut(pos);
            continue;
        }
        // ' ?[^\s\p{L}\p{N}]+'
        if v.other(first) {
            pos = first;
            while v.other(pos) {
                pos += 1;
            }
            k.cut(pos);
            continue;
        }
        let mut ws = 0;
        while v.space(pos + ws) {
            ws += 1;
        }
        // '\s+(?!\S)': leave the last space to prefix the next word.
        if ws > 1 && pos + ws < n {
            pos += ws - 1;
            k.cut(pos);
            continue;
        }
        // '\s+'
        if ws > 0 {
            pos += ws;
            k.cut(pos);
            continue;
        }
        pos += 1;
        k.cut(pos);
    }
}

/// Llama 3's regex, as llama.cpp's `unicode_regex_split_custom_llama3`:
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
///  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
fn split_llama3(c: &[char], max_digits: usize, out: &mut Vec<usize>) {
    let v = View { c };
    let n = c.len();
    let mut k = Cutter { out, prev: 0 };
    let mut pos = 0;
    let lower = |ch: char| {
        let mut l = ch.to_lowercase();
        match (l.next(), l.next()) {
            (Some(x), None) => x,
            _ => ch,
        }
    };
    while pos < n {
        let cpt = c[pos];
        if cpt == '\'' && pos + 1 < n {
            let next = lower(c[pos + 1]);
            if matches!(next, 's' | 't' | 'm' | 'd') {
                pos += k.cut(pos + 2);
                continue;
            }
            if pos + 2 < n {
                let nn = lower(c[pos + 2]);
                if matches!((next, nn), ('r', 'e') | ('v', 'e') | ('l', 'l')) {
                    pos += k.cut(pos + 3);
                    continue;
                }
            }
        }
        // '[^\r\n\p{L}\p{N}]?\p{L}+'
        if !(cpt == '\r' || cpt == '\n' || is_number(cpt)) && (is_letter(cpt) || v.letter(pos + 1))
        {
            pos += 1;
            while v.letter(pos) {
                pos += 1;
            }
            k.cut(pos);
            continue;
        }
        // '\p{N}{1,3}'
        if is_number(cpt) {
            let mut ini = pos;
            while v.number(pos) {
                pos += 1;
                if pos - ini >= max_digits {
                    k.cut(pos);
                    ini = pos;
                }
            }
            k.cut(pos);
            continue;
        }
        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'. llama.cpp tests the class of the char
        // after an optional space, but "is inside the piece" of the space
        // itself; a space followed by the piece end thus stands alone.
        let first = pos + usize::from(cpt == ' ');
        let first_other_or_end = first >= n || v.other(first);
        if first_other_or_end {
            pos = first;
            while v.other(pos) {
                pos += 1;
            }
            while matches!(v.get(pos), Some('\r' | '\n')) {
                pos += 1;
            }
            k.cut(pos);
            continue;
        }
        let mut ws = 0;
        let mut last_rn_end = 0;
        while v.space(pos + ws) {
            if matches!(c[pos + ws], '\r' | '\n') {
                last_rn_end = pos + ws + 1;
            }
            ws += 1;
        }
        // '\s*[\r\n]+'
        if last_rn_end > 0 {
            pos = last_rn_end;
            k.cut(pos);
            continue;
        }
        // '\s+(?!\S)'
        if ws > 1 && pos + ws < n {
            pos += ws - 1;
            k.cut(pos);
            continue;
        }
        // '\s+'
        if ws > 0 {
            pos += ws;
            k.cut(pos);
            continue;
        }
        pos += 1;
        k.cut(pos);
    }
}

/// A one-class regex (`[class]` or `[class]+`): matches become pieces and so
/// do the gaps between them.
fn split_class(c: &[char], class: fn(char) -> bool, runs: bool, out: &mut Vec<usize>) {
    let mut k = Cutter { out, prev: 0 };
    let mut pos = 0;
    while pos < c.len() {
        if class(c[pos]) {
            k.cut(pos);
            pos += 1;
            while runs && pos < c.len() && class(c[pos]) {
                pos += 1;
            }
            k.cut(pos);
        } else {
            pos += 1;
        }
    }
    k.cut(c.len());
}

/// `[0-9][0-9][0-9]`, leftmost non-overlapping.
fn split_digit_triples(c: &[char], out: &mut Vec<usize>) {
    let mut k = Cutter { out, prev: 0 };
    let mut pos = 0;
    while pos < c.len() {
        if pos + 3 <= c.len() && c[pos..pos + 3].iter().all(char::is_ascii_digit) {
            k.cut(pos);
            pos += 3;
            k.cut(pos);
        } else {
            pos += 1;
        }
    }
    k.cut(c.len());
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn split(p: PreTokenizer, s: &str) -> Vec<&str> {
        p.split(s)
    }

    #[test]
    fn gpt2_words() {
        assert_eq!(
            split(PreTokenizer::Gpt2, "Hello world's  end  \n"),
            ["Hello", " world", "'s", " ", " end", "  \n"]
        );
        assert_eq!(split(PreTokenizer::Gpt2, "a1234 ?!"), ["a", "1234", " ?!"]);
        assert_eq!(split(PreTokenizer::Gpt2, "DON'T"), ["DON", "'", "T"]);
    }

    #[test]
    fn smollm_splits_every_digit() {
        assert_eq!(
            split(PreTokenizer::Smollm, "x 123 y"),
            ["x", " ", "1", "2", "3", " y"]
        );
    }

    #[test]
    fn llama3_words() {
        assert_eq!(
            split(PreTokenizer::Llama3, "DON'T 12345\n\n hi"),
            ["DON", "'T", " ", "123", "45", "\n\n", " hi"]
        );
        assert_eq!(
            split(PreTokenizer::Llama3, "(a) ..\n"),
            ["(a", ")", " ..\n"]
        );
    }

    #[test]
    fn default_passes() {
        assert_eq!(
            split(PreTokenizer::Default, "a+b 12345"),
            ["a", "+", "b", " ", "123", "45"]
        );
    }

    #[test]
    fn covers_all_text() {
        let s = "  mixed\tws \u{3000}日本語 🇫🇷 ½x\r\n";
        for p in [
            PreTokenizer::Gpt2,
            PreTokenizer::Smollm,
            PreTokenizer::Llama3,
            PreTokenizer::Qwen2,
            PreTokenizer::Default,
        ] {
            assert_eq!(p.split(s).concat(), s);
        }
    }
}
