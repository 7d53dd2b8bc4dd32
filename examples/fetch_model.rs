//! Fetches (or finds in the cache) a known model and prints its path.
//! `cargo run --example fetch_model -- [NAME]`; `cargo xtask test` uses it.
//! The cache is `$EDGE_LLM_MODEL_DIR` (default `$HOME/.cache/edge-llm`).

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    let default = edge_llm::models::KNOWN
        .first()
        .map_or("smollm2-135m", |m| m.name);
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| default.to_string());
    match edge_llm::models::resolve(&name) {
        Ok(path) => {
            println!("{}", path.display());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fetch_model {name}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}
