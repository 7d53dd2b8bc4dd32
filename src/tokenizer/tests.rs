//! Tokenizer unit tests on small hand-built vocabularies (the real-model
//! parity test is tests/tokenizer_parity.rs).

use super::*;

/// A SentencePiece vocabulary: `<unk>`, `<s>`, `</s>`, 256 byte tokens, then
/// `(text, score)` pieces.
fn spm(pieces: &[(&str, f32)]) -> TokenizerData {
    let mut tokens = vec!["<unk>".to_string(), "<s>".into(), "</s>".into()];
    let mut types = vec![2, 3, 3];
    let mut scores = vec![0.0, 0.0, 0.0];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
        scores.push(0.0);
    }
    for (t, s) in pieces {
        tokens.push((*t).to_string());
        types.push(1);
        scores.push(*s);
    }
    TokenizerData {
        model: "llama".into(),
        tokens,
        scores: Some(scores),
        token_types: Some(types),
        ..Default::default()
    }
}

fn hello_spm() -> Tokenizer {
    let d = spm(&[
        ("▁", -1.0),
        ("h", -2.0),
        ("e", -2.0),
        ("l", -2.0),
        ("o", -2.0),
        ("w", -2.0),
        ("r", -2.0),
        ("d", -2.0),
        ("he", -3.0),
        ("ll", -3.0),
        ("llo", -4.0),
        ("▁he", -5.0),
        ("▁hello", -6.0),
        ("or", -3.0),
        ("▁w", -4.0),
        ("▁wor", -5.0),
        ("ld", -3.0),
        ("▁world", -6.0),
        ("a", -2.0),
        ("b", -2.0),
        ("c", -2.0),
        ("ab", -1.0),
        ("bc", -0.5),
    ]);
    Tokenizer::from_data(&d).unwrap()
}

fn ids(t: &Tokenizer, names: &[&str]) -> Vec<u32> {
    names.iter().map(|n| t.token_id(n).unwrap()).collect()
}

#[test]
fn spm_merges_by_score_with_bos_and_space_prefix() {
    let t = hello_spm();
    assert_eq!(t.bos(), Some(1));
    assert_eq!(t.eos(), Some(2));
    assert!(t.adds_bos());
    let got = t.encode("hello world", true, false).unwrap();
    let mut want = vec![1];
    want.extend(ids(&t, &["▁hello", "▁world"]));
    assert_eq!(got, want);
    assert_eq!(t.decode(&got[1..]).unwrap(), "hello world");
    assert_eq!(t.decode(&got).unwrap(), "<s> hello world");
}

#[test]
fn spm_prefers_higher_score_pair() {
    let t = hello_spm();
    // "▁abc": "bc" (-0.5) beats "ab" (-1.0); no "▁a" piece, so "▁" stays.
    let got = t.encode("abc", false, false).unwrap();
    assert_eq!(got, ids(&t, &["▁", "a", "bc"]));
}

#[test]
fn spm_byte_fallback() {
    let t = hello_spm();
    let got = t.encode("hé", false, false).unwrap();
    assert_eq!(got, ids(&t, &["▁", "h", "<0xC3>", "<0xA9>"]));
    assert_eq!(t.decode(&got).unwrap(), "hé");
}

#[test]
fn spm_special_tokens_and_prefix_after_them() {
    let t = hello_spm();
    let got = t.encode("</s>hello", false, true).unwrap();
    assert_eq!(got, ids(&t, &["</s>", "▁hello"]));
    // Not parsed without parse_special: the text is tokenized as text.
    let raw = t.encode("</s>", false, false).unwrap();
    assert!(!raw.contains(&2));
    assert!(t.is_eog(2));
}

#[test]
fn spm_empty_text() {
    let t = hello_spm();
    assert_eq!(t.encode("", true, true).unwrap(), vec![1]);
    assert!(t.encode("", false, true).unwrap().is_empty());
}

/// A tiny byte-level BPE: the 256 byte chars, then merged tokens.
fn tiny_bpe(pre: &str) -> Tokenizer {
    let map = bpe::ByteMap::new();
    let mut tokens: Vec<String> = vec!["<|endoftext|>".into(), "<|im_end|>".into()];
    for b in 0..=255u8 {
        tokens.push(map.encode(std::str::from_utf8(&[b]).unwrap_or("?")));
    }
    // Non-ASCII single bytes cannot be made from &str above; add their chars.
    tokens.truncate(2 + 128);
    for b in 128..=255u8 {
        let mut s = String::new();
        let mut out = Vec::new();
        for c in (0u32..0x200).filter_map(char::from_u32) {
            out.clear();
            map.decode(&c.to_string(), &mut out);
            if out == [b] {
                s.push(c);
                break;
            }
        }
        tokens.push(s);
    }
    let merges = [
        "h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "Ġwor l", "Ġworl d",
    ];
    for m in merges {
        tokens.push(m.replace(' ', ""));
    }
    let mut types = vec![1i64; tokens.len()];
    types[0] = 3;
    types[1] = 3;
    let d = TokenizerData {
        model: "gpt2".into(),
        pre: Some(pre.into()),
        tokens,
        token_types: Some(types),
        merges: merges.iter().map(|s| s.to_string()).collect(),
        bos: Some(0),
        eos: Some(0),
        ..Default::default()
    };
    Tokenizer::from_data(&d).unwrap()
}

#[test]
fn bpe_merges_by_rank() {
    let t = tiny_bpe("smollm");
    let got = t.encode("hello world!", true, false).unwrap();
    assert_eq!(got, ids(&t, &["hello", "Ġworld", "!"]));
    assert_eq!(t.decode(&got).unwrap(), "hello world!");
    assert!(!t.adds_bos());
    assert!(t.is_eog(0) && t.is_eog(1));
}

#[test]
fn bpe_round_trips_any_text() {
    let t = tiny_bpe("gpt-2");
    for s in ["", " ", "héllo 👨‍👩‍👧 wörld\n\t 12345", "<|im_end|> x"] {
        let got = t.encode(s, false, false).unwrap();
        assert_eq!(t.decode(&got).unwrap(), s);
    }
    let got = t.encode("a<|im_end|>b", false, true).unwrap();
    assert_eq!(got, ids(&t, &["a", "<|im_end|>", "b"]));
}

#[test]
fn llama3_defaults_add_bos() {
    let mut t = tiny_bpe("llama-bpe");
    assert!(t.adds_bos());
    assert_eq!(t.encode("hello", true, false).unwrap()[0], 0);
    t.add_bos = false;
    assert_eq!(t.encode("hello", true, false).unwrap(), ids(&t, &["hello"]));
}

#[test]
fn unknown_model_or_pre_is_unsupported() {
    let mut d = spm(&[]);
    d.model = "t5".into();
    let e = Tokenizer::from_data(&d).err().unwrap();
    assert!(
        matches!(&e, Error::Unsupported(m) if m.contains("t5")),
        "{e}"
    );
    let mut d = spm(&[]);
    d.model = "gpt2".into();
    d.pre = Some("deepseek-coder".into());
    d.merges = vec!["a b".into()];
    let e = Tokenizer::from_data(&d).err().unwrap();
    assert!(
        matches!(&e, Error::Unsupported(m) if m.contains("deepseek-coder")),
        "{e}"
    );
}

#[test]
fn out_of_range_ids_are_errors() {
    let t = hello_spm();
    assert!(matches!(t.decode(&[99_999]), Err(Error::Tokenizer(_))));
    assert!(t.token_bytes(99_999).is_err());
}

#[test]
fn stream_decoder_holds_back_partial_utf8() {
    let t = hello_spm();
    // "é" as two byte tokens, then "😀" as four.
    let e = ids(&t, &["<0xC3>", "<0xA9>"]);
    let mut s = StreamDecoder::new();
    assert_eq!(s.push(&t, e[0]).unwrap(), "");
    assert_eq!(s.pending_len(), 1);
    assert_eq!(s.push(&t, e[1]).unwrap(), "é");
    let smile: Vec<u32> = "😀"
        .bytes()
        .map(|b| t.token_id(&format!("<0x{b:02X}>")).unwrap())
        .collect();
    let mut got = String::new();
    for (i, &id) in smile.iter().enumerate() {
        let chunk = s.push(&t, id).unwrap();
        if i < 3 {
            assert_eq!(chunk, "");
        }
        got.push_str(&chunk);
    }
    assert_eq!(got, "😀");
    // An invalid byte is replaced right away; a dangling lead byte at the end
    // is flushed by finish().
    let ff = t.token_id("<0xFF>").unwrap();
    assert_eq!(s.push(&t, ff).unwrap(), "\u{FFFD}");
    let lead = t.token_id("<0xE2>").unwrap();
    assert_eq!(s.push(&t, lead).unwrap(), "");
    assert_eq!(s.finish(), "\u{FFFD}");
    assert_eq!(s.pending_len(), 0);
}
