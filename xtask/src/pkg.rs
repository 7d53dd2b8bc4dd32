//! `cargo xtask pkg`: the npm package `edge-llm` in pkg/.
//!
//! wasm32 release build of the library -> wasm-bindgen (`--target web`, the
//! CLI pinned to Cargo.lock's `wasm-bindgen` version, since the two must match
//! exactly) -> pkg-config/ files (package.json gets Cargo.toml's version).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cargo, output, root, run, step, succeeds, Res};

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Placeholder in pkg-config/package.json and engine.js.
const VERSION_SLOT: &str = "__CARGO_VERSION__";

pub fn pkg() -> Res {
    step("pkg: rustup target wasm32-unknown-unknown", ensure_target)?;
    let want = lock_version("wasm-bindgen")?;
    let bindgen = step(&format!("pkg: wasm-bindgen-cli {want}"), || {
        ensure_wasm_bindgen(&want)
    })
    .map(|()| wasm_bindgen_bin())?;
    step(
        "pkg: cargo build --lib --profile wasm-release --target wasm32-unknown-unknown",
        || {
            run(cargo().args([
                "build",
                "--package",
                "edge-llm",
                "--lib",
                "--profile",
                "wasm-release",
                "--target",
                WASM_TARGET,
            ]))
        },
    )?;
    let out = root().join("pkg");
    step("pkg: wasm-bindgen --target web --out-dir pkg/", || {
        let wasm = target_dir()
            .join(WASM_TARGET)
            .join("wasm-release/edge_llm.wasm");
        if !wasm.is_file() {
            return Err(format!("{} not built", wasm.display()));
        }
        // A clean directory: no stale files from an older layout get published.
        if out.exists() {
            fs::remove_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        }
        run(Command::new(&bindgen)
            .args(["--target", "web", "--out-dir"])
            .arg(&out)
            .arg(&wasm))
    })?;
    step("pkg: copy pkg-config/ into pkg/", || assemble(&out))?;
    report_size(&out.join("edge_llm_bg.wasm"))
}

fn ensure_target() -> Res {
    if !succeeds(Command::new("rustup").arg("--version")) {
        println!("rustup not found: assuming the toolchain has wasm32-unknown-unknown");
        return Ok(());
    }
    let targets = output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if targets.lines().any(|l| l.trim() == WASM_TARGET) {
        println!("installed");
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", WASM_TARGET]))
}

/// Version of the package `name` in Cargo.lock (the first entry of that name).
fn lock_version(name: &str) -> Res<String> {
    let path = root().join("Cargo.lock");
    let lock = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = lock.lines();
    let want = format!("name = \"{name}\"");
    while let Some(l) = lines.next() {
        if l.trim() == want {
            if let Some(v) = lines.next().and_then(|l| quoted_value(l, "version")) {
                return Ok(v);
            }
        }
    }
    Err(format!(
        "no `{name}` entry with a version in {}",
        path.display()
    ))
}

/// `value` of a `key = "value"` line.
fn quoted_value(line: &str, key: &str) -> Option<String> {
    let rest = line
        .trim()
        .strip_prefix(key)?
        .trim_start()
        .strip_prefix('=')?;
    Some(rest.trim().trim_matches('"').to_string())
}

/// The crate version from Cargo.toml's [package] section.
fn crate_version() -> Res<String> {
    let path = root().join("Cargo.toml");
    let toml = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut in_package = false;
    for l in toml.lines() {
        let t = l.trim();
        if t.starts_with('[') {
            in_package = t == "[package]";
        } else if in_package {
            if let Some(v) = quoted_value(t, "version") {
                return Ok(v);
            }
        }
    }
    Err(format!("no [package] version in {}", path.display()))
}

/// `$CARGO_HOME/bin/wasm-bindgen` when there (cargo install puts it there,
/// and that directory may not be on PATH), else whatever PATH finds.
fn wasm_bindgen_bin() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    match home.map(|h| h.join("bin/wasm-bindgen")) {
        Some(p) if p.is_file() => p,
        _ => PathBuf::from("wasm-bindgen"),
    }
}

fn ensure_wasm_bindgen(want: &str) -> Res {
    // `wasm-bindgen --version` prints "wasm-bindgen 0.2.130".
    let have = output(Command::new(wasm_bindgen_bin()).arg("--version")).unwrap_or_default();
    if have.split_whitespace().nth(1) == Some(want) {
        println!("{} present", have.trim());
        return Ok(());
    }
    println!(
        "have {:?}, want {want}: cargo install wasm-bindgen-cli (several minutes)",
        have.trim()
    );
    let install = |locked: bool| {
        let mut c = cargo();
        c.args(["install", "wasm-bindgen-cli", "--version", want]);
        if locked {
            c.arg("--locked");
        }
        // Its own build dir: not our target dir's lock and artifacts.
        c.env_remove("CARGO_TARGET_DIR");
        run(&mut c)
    };
    // --locked can fail on a registry mirror that lacks one of the CLI's
    // locked dependency versions; the unlocked resolution then still builds
    // the same CLI version.
    install(true).or_else(|e| {
        println!("{e}\n--locked install failed; retrying without --locked");
        install(false)
    })
}

/// Copies pkg-config/* into `out`, stamping package.json with the crate version.
fn assemble(out: &Path) -> Res {
    let src = root().join("pkg-config");
    let version = crate_version()?;
    let entries = fs::read_dir(&src).map_err(|e| format!("{}: {e}", src.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", src.display()))?;
        let from = entry.path();
        if !from.is_file() {
            continue;
        }
        let to = out.join(entry.file_name());
        if entry.file_name() == "package.json" || entry.file_name() == "engine.js" {
            let text = fs::read_to_string(&from).map_err(|e| format!("{}: {e}", from.display()))?;
            if !text.contains(VERSION_SLOT) {
                return Err(format!("{} lacks {VERSION_SLOT}", from.display()));
            }
            fs::write(&to, text.replace(VERSION_SLOT, &version))
        } else {
            fs::copy(&from, &to).map(|_| ())
        }
        .map_err(|e| format!("{} -> {}: {e}", from.display(), to.display()))?;
    }
    // Everything package.json lists must exist, or `npm publish` ships a hole.
    for f in [
        "index.js",
        "index.d.ts",
        "engine.js",
        "chat.js",
        "source.js",
        "store.js",
        "errors.js",
        "wasm.js",
        "worker.js",
        "worker-client.js",
        "edge_llm.js",
        "edge_llm_bg.wasm",
        "README.md",
    ] {
        if !out.join(f).is_file() {
            return Err(format!("pkg/{f} missing after assembly"));
        }
    }
    println!("pkg/: edge-llm@{version}");
    Ok(())
}

/// Prints the .wasm size, raw and gzip -9 (what a server would send).
fn report_size(wasm: &Path) -> Res {
    let raw = fs::metadata(wasm)
        .map_err(|e| format!("{}: {e}", wasm.display()))?
        .len();
    let gz = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(wasm)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| o.stdout.len());
    let kib = |n: u64| n as f64 / 1024.0;
    match gz {
        Some(gz) => println!(
            "pkg/edge_llm_bg.wasm: {:.0} KiB raw, {:.0} KiB gzip -9",
            kib(raw),
            kib(gz as u64)
        ),
        None => println!("pkg/edge_llm_bg.wasm: {:.0} KiB raw", kib(raw)),
    }
    Ok(())
}

/// `$CARGO_TARGET_DIR` (relative to the repository root) or target/.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(d) => root().join(d),
        None => root().join("target"),
    }
}
