//! The `edge-llm` command line: generate, score, tokenize.
fn main() {}
