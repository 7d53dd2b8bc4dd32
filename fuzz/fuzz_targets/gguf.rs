//! `cargo +nightly fuzz run gguf` (from the repository root).
//!
//! Parses arbitrary bytes as a whole GGUF file and as a streamed prefix of
//! a file of claimed length; neither may panic, and whatever parses must
//! describe tensor ranges that lie inside the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let full = edge_llm::gguf::parse(data);
    if let Ok(g) = &full {
        for t in &g.tensors {
            assert!(g.tensor_data(data, t).is_ok(), "{} out of range", t.name);
        }
    }
    // The last byte picks a prefix length; a parsed prefix must agree with
    // the whole file.
    if let Some(&b) = data.last() {
        let cut = data.len() * usize::from(b) / 255;
        if let Ok(Some(g)) = edge_llm::gguf::parse_prefix(&data[..cut], data.len() as u64) {
            let whole = full.as_ref().map(|w| format!("{w:?}"));
            assert_eq!(whole.ok(), Some(format!("{g:?}")));
        }
    }
});
