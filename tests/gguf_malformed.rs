//! Hostile-input tests for the GGUF reader: a table of handcrafted malformed
//! files (each must give the specific error naming the field, never a
//! panic), a valid round trip, streaming prefixes, and a deterministic
//! mutation fuzz loop.

#![allow(clippy::unwrap_used, clippy::panic)]

use edge_llm::gguf::{self, Array, GgmlType, Gguf, Value};
use edge_llm::Error;

// ---- a tiny GGUF writer --------------------------------------------------

const T_U8: u32 = 0;
const T_I8: u32 = 1;
const T_U16: u32 = 2;
const T_I16: u32 = 3;
const T_U32: u32 = 4;
const T_I32: u32 = 5;
const T_F32: u32 = 6;
const T_BOOL: u32 = 7;
const T_STR: u32 = 8;
const T_ARR: u32 = 9;
const T_U64: u32 = 10;
const T_I64: u32 = 11;
const T_F64: u32 = 12;

/// A GGUF string: u64 length + bytes.
fn s(b: &[u8]) -> Vec<u8> {
    let mut v = (b.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(b);
    v
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A metadata entry with raw key bytes.
fn kv_raw(key: &[u8], ty: u32, payload: &[u8]) -> Vec<u8> {
    cat(&[&s(key), &ty.to_le_bytes(), payload])
}

fn kv(key: &str, ty: u32, payload: &[u8]) -> Vec<u8> {
    kv_raw(key.as_bytes(), ty, payload)
}

/// An array payload: element type, count, encoded elements.
fn arr(elem: u32, n: u64, payload: &[u8]) -> Vec<u8> {
    cat(&[&elem.to_le_bytes(), &n.to_le_bytes(), payload])
}

fn strs(items: &[&[u8]]) -> Vec<u8> {
    items.iter().flat_map(|b| s(b)).collect()
}

/// A tensor info with explicit n_dims (may disagree with `dims.len()`).
fn ti_raw(name: &[u8], n_dims: u32, dims: &[u64], ty: u32, off: u64) -> Vec<u8> {
    let mut v = s(name);
    v.extend(n_dims.to_le_bytes());
    dims.iter().for_each(|d| v.extend(d.to_le_bytes()));
    v.extend(ty.to_le_bytes());
    v.extend(off.to_le_bytes());
    v
}

fn ti(name: &str, dims: &[u64], ty: u32, off: u64) -> Vec<u8> {
    ti_raw(name.as_bytes(), dims.len() as u32, dims, ty, off)
}

/// Header + metadata + tensor infos (no padding, no data).
fn head(version: u32, n_t: u64, n_kv: u64, kvs: &[Vec<u8>], tis: &[Vec<u8>]) -> Vec<u8> {
    let mut f = b"GGUF".to_vec();
    f.extend(version.to_le_bytes());
    f.extend(n_t.to_le_bytes());
    f.extend(n_kv.to_le_bytes());
    kvs.iter().for_each(|k| f.extend(k));
    tis.iter().for_each(|t| f.extend(t));
    f
}

/// A whole file: counts from the slices, padding to `align`, then `data`.
fn file(kvs: &[Vec<u8>], tis: &[Vec<u8>], align: usize, data: &[u8]) -> Vec<u8> {
    let mut f = head(3, tis.len() as u64, kvs.len() as u64, kvs, tis);
    f.resize(f.len().div_ceil(align) * align, 0);
    f.extend_from_slice(data);
    f
}

// ---- the valid base file -------------------------------------------------

fn base_kvs() -> Vec<Vec<u8>> {
    vec![
        kv("general.architecture", T_STR, &s(b"llama")),
        kv("llama.block_count", T_U32, &2u32.to_le_bytes()),
        kv(
            "tokenizer.ggml.tokens",
            T_ARR,
            &arr(T_STR, 3, &strs(&[b"a", "\u{e9}".as_bytes(), b""])),
        ),
        kv(
            "tokenizer.ggml.scores",
            T_ARR,
            &arr(
                T_F32,
                2,
                &cat(&[&0.5f32.to_le_bytes(), &(-1f32).to_le_bytes()]),
            ),
        ),
        kv(
            "tokenizer.ggml.token_type",
            T_ARR,
            &arr(
                T_I32,
                2,
                &cat(&[&1i32.to_le_bytes(), &(-3i32).to_le_bytes()]),
            ),
        ),
        kv("x.bool", T_BOOL, &[1]),
        kv("x.u8", T_U8, &[200]),
        kv("x.i8", T_I8, &[0xFB]),
        kv("x.u16", T_U16, &65535u16.to_le_bytes()),
        kv("x.i16", T_I16, &(-2i16).to_le_bytes()),
        kv("x.i32", T_I32, &(-7i32).to_le_bytes()),
        kv("x.u64", T_U64, &(1u64 << 40).to_le_bytes()),
        kv("x.i64", T_I64, &(-9i64).to_le_bytes()),
        kv("x.f32", T_F32, &1.5f32.to_le_bytes()),
        kv("x.f64", T_F64, &2.25f64.to_le_bytes()),
        kv("x.bools", T_ARR, &arr(T_BOOL, 2, &[1, 0])),
        kv("x.u64s", T_ARR, &arr(T_U64, 1, &7u64.to_le_bytes())),
        kv("x.f64s", T_ARR, &arr(T_F64, 1, &0.5f64.to_le_bytes())),
        kv(
            "x.nested",
            T_ARR,
            &arr(
                T_ARR,
                2,
                &cat(&[&arr(T_U8, 2, &[1, 2]), &arr(T_STR, 1, &s(b"z"))]),
            ),
        ),
    ]
}

/// "a" F32 [4, 2] @0 (32 B), "b" Q8_0 [32, 2] @32 (68 B), "c" Q4_1 [32] @128 (20 B).
fn base_tis() -> Vec<Vec<u8>> {
    vec![
        ti("a", &[4, 2], 0, 0),
        ti("b", &[32, 2], 8, 32),
        ti("c", &[32], 3, 128),
    ]
}

fn base_data() -> Vec<u8> {
    (0..148u32).map(|i| (i * 7) as u8).collect()
}

fn base() -> Vec<u8> {
    file(&base_kvs(), &base_tis(), 32, &base_data())
}

/// Byte length of header + base metadata.
fn meta_end() -> usize {
    head(3, 0, 0, &base_kvs(), &[]).len()
}

// ---- the table -----------------------------------------------------------

#[derive(Debug)]
enum Expect {
    Bad(String),
    Unsupported,
}

fn bad(field: &str) -> Expect {
    Expect::Bad(field.to_owned())
}

/// Base metadata with `extra` appended, base tensors and data.
fn with_kv(extra: Vec<u8>) -> Vec<u8> {
    let mut kvs = base_kvs();
    kvs.push(extra);
    file(&kvs, &base_tis(), 32, &base_data())
}

/// Base metadata, one tensor info, 64 bytes of data.
fn with_ti(t: Vec<u8>) -> Vec<u8> {
    file(&base_kvs(), &[t], 32, &[0; 64])
}

/// Base metadata plus one entry, file ending right after it (no tensors).
fn ends_with_kv(extra: Vec<u8>) -> Vec<u8> {
    let mut kvs = base_kvs();
    kvs.push(extra);
    head(3, 0, kvs.len() as u64, &kvs, &[])
}

fn with_version(v: u32) -> Vec<u8> {
    let mut f = base();
    f[4..8].copy_from_slice(&v.to_le_bytes());
    f
}

fn cases() -> Vec<(&'static str, Vec<u8>, Expect)> {
    let kvs = base_kvs();
    let n_kv = kvs.len() as u64;
    let tis = base_tis();
    let mut deep = arr(T_U8, 0, &[]);
    for _ in 0..10 {
        deep = arr(T_ARR, 1, &deep);
    }
    let mut dup_key = kvs.clone();
    dup_key.insert(1, kv("general.architecture", T_STR, &s(b"x")));
    let mut over_key = kvs.clone();
    over_key.insert(1, kv_raw(&[b'k'; 10], T_U8, &[0]));
    // Patch the declared length of the second key to 128 KiB.
    let over_key_file = {
        let mut f = head(3, 0, n_kv + 1, &over_key, &[]);
        let at = 24 + kvs[0].len();
        f[at..at + 8].copy_from_slice(&(128u64 << 10).to_le_bytes());
        f
    };
    let mut ti_a = head(3, 1, n_kv, &kvs, &[ti("a", &[4, 2], 0, 0)]);
    // Cut inside the first dim: name (9) + n_dims (4) + 4 bytes.
    ti_a.truncate(meta_end() + 9 + 4 + 4);
    let mut short_data = base();
    short_data.pop();

    vec![
        ("empty file", vec![], bad("header.magic")),
        (
            "bad magic",
            cat(&[b"GGUX", &base()[4..]]),
            bad("header.magic"),
        ),
        ("version 1", with_version(1), Expect::Unsupported),
        ("version 99", with_version(99), Expect::Unsupported),
        ("version 0", with_version(0), bad("header.version")),
        ("big-endian", with_version(3 << 24), Expect::Unsupported),
        (
            "truncated header",
            base()[..6].to_vec(),
            bad("header.version"),
        ),
        (
            "truncated counts",
            base()[..16].to_vec(),
            bad("header.kv_count"),
        ),
        (
            "huge tensor count",
            head(3, 1 << 40, n_kv, &kvs, &tis),
            bad("header.tensor_count"),
        ),
        (
            "tensor count past end",
            head(3, 1000, n_kv, &kvs, &tis),
            bad("header.tensor_count"),
        ),
        (
            "huge kv count",
            head(3, 3, 1 << 62, &kvs, &tis),
            bad("header.kv_count"),
        ),
        (
            "kv count past end",
            head(3, 3, 100_000, &kvs, &tis),
            bad("header.kv_count"),
        ),
        ("overlong key", over_key_file, bad("metadata[1].key")),
        (
            "key past end",
            cat(&[
                &head(3, 0, n_kv + 1, &kvs, &[]),
                &1000u64.to_le_bytes(),
                b"abc",
            ]),
            bad(&format!("metadata[{n_kv}].key")),
        ),
        (
            "non-UTF-8 key",
            file(&[kv_raw(b"\xff\xfe", T_U8, &[0])], &[], 32, &[]),
            bad("metadata[0].key"),
        ),
        (
            "duplicate key",
            head(3, 0, n_kv + 1, &dup_key, &[]),
            bad("metadata[1].key"),
        ),
        (
            "overlong string",
            with_kv(kv("general.name", T_STR, &(1u64 << 40).to_le_bytes())),
            bad("general.name"),
        ),
        (
            "string past end",
            ends_with_kv(kv(
                "general.name",
                T_STR,
                &cat(&[&10_000u64.to_le_bytes(), b"ab"]),
            )),
            bad("general.name"),
        ),
        (
            "non-UTF-8 string",
            with_kv(kv("general.name", T_STR, &s(b"ok\xc3("))),
            bad("general.name"),
        ),
        (
            "truncated value",
            ends_with_kv(kv("x.cut", T_U32, &[1, 2])),
            bad("x.cut"),
        ),
        (
            "unknown value type",
            with_kv(kv("x.bad", 13, &[0; 8])),
            bad("x.bad"),
        ),
        (
            "bool value 2",
            with_kv(kv("x.flag", T_BOOL, &[2])),
            bad("x.flag"),
        ),
        (
            "array huge count",
            with_kv(kv("x.arr", T_ARR, &arr(T_U8, 1 << 40, &[1, 2]))),
            bad("x.arr"),
        ),
        (
            "array count past end",
            with_kv(kv(
                "tokenizer.ggml.merges",
                T_ARR,
                &arr(T_STR, 1000, &strs(&[b"a b"])),
            )),
            bad("tokenizer.ggml.merges"),
        ),
        (
            "array unknown element type",
            with_kv(kv("x.arr", T_ARR, &arr(99, 1, &[0; 8]))),
            bad("x.arr"),
        ),
        (
            "non-UTF-8 token",
            with_kv(kv(
                "tokenizer.ggml.added",
                T_ARR,
                &arr(T_STR, 3, &strs(&[b"a", b"\x80", b"c"])),
            )),
            bad("tokenizer.ggml.added[1]"),
        ),
        (
            "bool array element 2",
            with_kv(kv("x.flags", T_ARR, &arr(T_BOOL, 3, &[0, 2, 1]))),
            bad("x.flags[1]"),
        ),
        (
            "u64 array element > i64::MAX",
            with_kv(kv("x.big", T_ARR, &arr(T_U64, 1, &u64::MAX.to_le_bytes()))),
            bad("x.big[0]"),
        ),
        (
            "nested array bomb (deep)",
            with_kv(kv("x.nest", T_ARR, &deep)),
            bad("x.nest[0][0][0]"),
        ),
        (
            "nested array bomb (wide)",
            with_kv(kv(
                "x.nest",
                T_ARR,
                &arr(T_ARR, 1 << 20, &arr(T_U8, 0, &[])),
            )),
            bad("x.nest"),
        ),
        (
            "nested array truncated",
            ends_with_kv(kv(
                "x.nest",
                T_ARR,
                &arr(T_ARR, 2, &arr(T_U8, 20, &[7; 20])),
            )),
            bad("x.nest[1]"),
        ),
        (
            "alignment 48",
            with_kv(kv("general.alignment", T_U32, &48u32.to_le_bytes())),
            bad("general.alignment"),
        ),
        (
            "alignment 0",
            with_kv(kv("general.alignment", T_U32, &0u32.to_le_bytes())),
            bad("general.alignment"),
        ),
        (
            "alignment 2^40",
            with_kv(kv("general.alignment", T_U64, &(1u64 << 40).to_le_bytes())),
            bad("general.alignment"),
        ),
        (
            "alignment string",
            with_kv(kv("general.alignment", T_STR, &s(b"32"))),
            bad("general.alignment"),
        ),
        (
            "unknown tensor type",
            with_ti(ti("a", &[32], 4, 0)),
            bad("tensor a type"),
        ),
        (
            "n_dims 0",
            with_ti(ti_raw(b"a", 0, &[], 0, 0)),
            bad("tensor a dims"),
        ),
        (
            "n_dims 5",
            with_ti(ti("a", &[1, 1, 1, 1, 1], 0, 0)),
            bad("tensor a dims"),
        ),
        (
            "dim 0",
            with_ti(ti("a", &[4, 0], 0, 0)),
            bad("tensor a dims"),
        ),
        (
            "dims product overflow",
            with_ti(ti("a", &[1 << 32, 1 << 32], 0, 0)),
            bad("tensor a dims"),
        ),
        (
            "dims product > i64::MAX",
            with_ti(ti("a", &[1 << 32, 1 << 31], 0, 0)),
            bad("tensor a dims"),
        ),
        (
            "dim 0 not whole blocks",
            with_ti(ti("a", &[33, 2], 8, 0)),
            bad("tensor a dims"),
        ),
        (
            "misaligned offset",
            with_ti(ti("a", &[4], 0, 4)),
            bad("tensor a offset"),
        ),
        (
            "offset past end",
            with_ti(ti("a", &[4], 0, 1 << 20)),
            bad("tensor a data"),
        ),
        (
            "offset + size overflow",
            with_ti(ti("a", &[4], 0, !31u64)),
            bad("tensor a data"),
        ),
        (
            "size past end",
            with_ti(ti("a", &[1 << 20], 0, 0)),
            bad("tensor a data"),
        ),
        ("truncated tensor info", ti_a, bad("tensor a dims")),
        ("truncated data", short_data, bad("tensor c data")),
        (
            "duplicate tensor name",
            file(
                &kvs,
                &[ti("a", &[4], 0, 0), ti("a", &[4], 0, 32)],
                32,
                &[0; 64],
            ),
            bad("tensor a name"),
        ),
        (
            "overlong tensor name",
            cat(&[
                &head(3, 1, n_kv, &kvs, &[]),
                &(1u64 << 20).to_le_bytes(),
                &[0; 64],
            ]),
            bad("tensor[0].name"),
        ),
        (
            "tensor name past end",
            cat(&[
                &head(3, 2, n_kv, &kvs, &[ti("a", &[4], 0, 0)]),
                &40u64.to_le_bytes(),
                &[b'x'; 30],
            ]),
            bad("tensor[1].name"),
        ),
        (
            "non-UTF-8 tensor name",
            with_ti(ti_raw(b"\xc0\xaf", 1, &[4], 0, 0)),
            bad("tensor[0].name"),
        ),
    ]
}

#[test]
fn malformed_files_give_typed_errors() {
    let cases = cases();
    assert!(cases.len() >= 25, "only {} cases", cases.len());
    for (name, bytes, want) in cases {
        let got = gguf::parse(&bytes);
        match (&got, &want) {
            (Err(Error::BadGguf { field, .. }), Expect::Bad(f)) if field == f => {}
            (Err(Error::Unsupported(_)), Expect::Unsupported) => {}
            _ => panic!("case {name:?}: want {want:?}, got {got:?}"),
        }
        // The same bytes streamed in two halves behave the same once whole.
        let half = &bytes[..bytes.len() / 2];
        if let Ok(Some(_)) = gguf::parse_prefix(half, bytes.len() as u64) {
            panic!("case {name:?}: a prefix parsed although the file is bad");
        }
    }
}

// ---- valid files -----------------------------------------------------------

fn check_base(g: &Gguf, f: &[u8]) {
    assert_eq!(g.version, 3);
    assert_eq!(g.metadata.len(), base_kvs().len());
    assert_eq!(g.get_str("general.architecture").unwrap(), Some("llama"));
    assert_eq!(g.get_u64("llama.block_count").unwrap(), Some(2));
    assert_eq!(
        g.get_array("tokenizer.ggml.tokens").unwrap(),
        Some(&Array::String(vec![
            "a".into(),
            "\u{e9}".into(),
            String::new()
        ]))
    );
    assert_eq!(
        g.get("tokenizer.ggml.scores"),
        Some(&Value::Array(Array::F32(vec![0.5, -1.0])))
    );
    assert_eq!(
        g.get("tokenizer.ggml.token_type"),
        Some(&Value::Array(Array::Int(vec![1, -3])))
    );
    assert_eq!(g.get_bool("x.bool").unwrap(), Some(true));
    assert_eq!(g.get("x.u8"), Some(&Value::U8(200)));
    assert_eq!(g.get("x.i8"), Some(&Value::I8(-5)));
    assert_eq!(g.get("x.u16"), Some(&Value::U16(65535)));
    assert_eq!(g.get("x.i16"), Some(&Value::I16(-2)));
    assert_eq!(g.get("x.i32"), Some(&Value::I32(-7)));
    assert_eq!(g.get("x.u64"), Some(&Value::U64(1 << 40)));
    assert_eq!(g.get("x.i64"), Some(&Value::I64(-9)));
    assert_eq!(g.get_f32("x.f32").unwrap(), Some(1.5));
    assert_eq!(g.get("x.f64"), Some(&Value::F64(2.25)));
    assert_eq!(
        g.get("x.bools"),
        Some(&Value::Array(Array::Bool(vec![true, false])))
    );
    assert_eq!(g.get("x.u64s"), Some(&Value::Array(Array::Int(vec![7]))));
    assert_eq!(g.get("x.f64s"), Some(&Value::Array(Array::F64(vec![0.5]))));
    assert_eq!(g.get("x.nested"), Some(&Value::Array(Array::Nested(2))));
    assert_eq!(g.alignment, 32);
    let infos_end = head(3, 3, 19, &base_kvs(), &base_tis()).len() as u64;
    assert_eq!(g.data_offset, infos_end.div_ceil(32) * 32);
    assert_eq!(g.file_len, f.len() as u64);
    let want = [
        ("a", vec![4, 2], GgmlType::F32, 0, 32),
        ("b", vec![32, 2], GgmlType::Q8_0, 32, 68),
        ("c", vec![32], GgmlType::Q4_1, 128, 20),
    ];
    assert_eq!(g.tensors.len(), 3);
    let data = base_data();
    for (t, (name, dims, ty, rel, size)) in g.tensors.iter().zip(want) {
        assert_eq!(
            (t.name.as_str(), &t.dims, t.ty, t.size),
            (name, &dims, ty, size)
        );
        assert_eq!(t.offset, g.data_offset + rel);
        let bytes = g.tensor_data(f, t).unwrap();
        assert_eq!(bytes, &data[rel as usize..(rel + size) as usize]);
    }
    assert_eq!(g.tensor("b").unwrap().rows_cols(), (2, 32));
}

#[test]
fn valid_file_round_trips() {
    let f = base();
    let g = gguf::parse(&f).unwrap();
    check_base(&g, &f);

    // Version 2 has the same layout.
    let mut v2 = f.clone();
    v2[4] = 2;
    assert_eq!(gguf::parse(&v2).unwrap().version, 2);

    // A 64-byte alignment moves the data section and constrains offsets.
    let mut kvs = base_kvs();
    kvs.push(kv("general.alignment", T_U32, &64u32.to_le_bytes()));
    let tis = [ti("a", &[4, 2], 0, 0), ti("b", &[32, 2], 8, 64)];
    let f = file(&kvs, &tis, 64, &[1; 132]);
    let g = gguf::parse(&f).unwrap();
    assert_eq!(g.alignment, 64);
    assert_eq!(g.data_offset % 64, 0);
    assert_eq!(g.tensors[1].offset, g.data_offset + 64);

    // No tensors at all, file ending right after the metadata.
    let f = head(3, 0, 1, &[kv("a", T_U8, &[1])], &[]);
    let g = gguf::parse(&f).unwrap();
    assert!(g.tensors.is_empty());
}

#[test]
fn streaming_prefixes() {
    let f = base();
    let full = gguf::parse(&f).unwrap();
    let infos_end = head(3, 3, 19, &base_kvs(), &base_tis()).len();
    for len in 0..=f.len() {
        match gguf::parse_prefix(&f[..len], f.len() as u64).unwrap() {
            None => assert!(len < infos_end, "prefix {len} should parse"),
            Some(g) => {
                assert!(len >= infos_end, "prefix {len} parsed too early");
                assert_eq!(format!("{g:?}"), format!("{full:?}"));
            }
        }
    }
    // The header alone, claiming a file too short for the data.
    let e = gguf::parse_prefix(&f[..infos_end], infos_end as u64 + 10).unwrap_err();
    assert!(
        matches!(e, Error::BadGguf { ref field, .. } if field == "tensor a data"),
        "{e}"
    );
    // A prefix longer than the file is the caller's mistake.
    let e = gguf::parse_prefix(&f, 10).unwrap_err();
    assert!(matches!(e, Error::InvalidOption { .. }), "{e}");
}

// ---- mutation fuzzing ------------------------------------------------------

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(f: &mut Vec<u8>, rng: &mut Rng) {
    const INTERESTING: [u64; 10] = [
        0,
        1,
        3,
        5,
        32,
        0x7F,
        1 << 31,
        1 << 32,
        i64::MAX as u64,
        u64::MAX,
    ];
    for _ in 0..1 + rng.below(4) {
        if f.is_empty() {
            return;
        }
        let at = rng.below(f.len());
        match rng.below(6) {
            0 => f[at] ^= 1 << rng.below(8),
            1 => f[at] = rng.next() as u8,
            2 => {
                let v = INTERESTING[rng.below(INTERESTING.len())];
                let b = if rng.below(2) == 0 {
                    v.to_le_bytes().to_vec()
                } else {
                    (v as u32).to_le_bytes().to_vec()
                };
                for (i, x) in b.into_iter().enumerate() {
                    if let Some(y) = f.get_mut(at + i) {
                        *y = x;
                    }
                }
            }
            3 => f.truncate(at),
            4 => {
                let end = (at + rng.below(16)).min(f.len());
                f.drain(at..end);
            }
            _ => {
                let end = (at + rng.below(16)).min(f.len());
                let chunk = f[at..end].to_vec();
                let to = rng.below(f.len());
                f.splice(to..to, chunk);
            }
        }
    }
}

#[test]
fn mutation_fuzz_never_panics() {
    let base = base();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut ok = 0;
    for _ in 0..20_000 {
        let mut f = base.clone();
        mutate(&mut f, &mut rng);
        let full = gguf::parse(&f);
        if let Ok(g) = &full {
            ok += 1;
            for t in &g.tensors {
                let d = g.tensor_data(&f, t).unwrap();
                assert_eq!(d.len() as u64, t.size);
            }
        }
        // A prefix that parses must agree with the whole file.
        let cut = rng.below(f.len() + 1);
        match gguf::parse_prefix(&f[..cut], f.len() as u64) {
            Ok(Some(g)) => {
                let whole = full.as_ref().unwrap();
                assert_eq!(format!("{g:?}"), format!("{whole:?}"));
            }
            Ok(None) => {}
            Err(_) => assert!(full.is_err()),
        }
    }
    // The mutations leave some files valid (e.g. flips inside tensor data).
    assert!(ok > 100, "only {ok} mutated files parsed");
}
