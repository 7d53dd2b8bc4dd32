//! A bounds-checked little-endian cursor over a (possibly partial) file.
//!
//! The cursor knows two ends: the bytes it holds (`buf`, a prefix of the
//! file) and the length of the whole file (`file_len`). Running past the
//! file is an error ([`Stop::Eof`], turned into a `BadGguf` naming the field
//! by [`At::at`]); running past the prefix only means the caller must supply
//! more bytes ([`Stop::More`]). All arithmetic is on `u64` and checked, so a
//! 32-bit `usize` (wasm32) never truncates a length.

use crate::Error;

/// Why reading stopped.
#[derive(Debug)]
pub(super) enum Stop {
    /// The prefix ends before the bytes asked for, the file does not.
    More,
    /// The file itself ends before the bytes asked for; no field named yet.
    Eof,
    /// A definite error.
    Bad(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Bad(e)
    }
}

/// Result of the internal readers.
pub(super) type R<T> = std::result::Result<T, Stop>;

/// Names the field of an end-of-file stop.
pub(super) trait At<T> {
    fn at(self, field: impl FnOnce() -> String) -> R<T>;
}

impl<T> At<T> for R<T> {
    fn at(self, field: impl FnOnce() -> String) -> R<T> {
        match self {
            Err(Stop::Eof) => Err(Stop::Bad(Error::bad_gguf(
                field(),
                "unexpected end of file",
            ))),
            other => other,
        }
    }
}

/// Shorthand for a definite `BadGguf` stop.
pub(super) fn bad<T>(field: impl Into<String>, reason: impl Into<String>) -> R<T> {
    Err(Stop::Bad(Error::bad_gguf(field, reason)))
}

pub(super) struct Cursor<'a> {
    /// The bytes held: a prefix of the file, `buf.len() <= file_len`.
    buf: &'a [u8],
    /// Read position in `buf`, `pos <= buf.len()`.
    pos: usize,
    file_len: u64,
}

impl<'a> Cursor<'a> {
    /// `buf` must not be longer than `file_len` (checked by the caller).
    pub(super) fn new(buf: &'a [u8], file_len: u64) -> Self {
        Cursor {
            buf,
            pos: 0,
            file_len,
        }
    }

    /// Offset of the next byte from the start of the file.
    pub(super) fn pos(&self) -> u64 {
        self.pos as u64
    }

    /// Bytes left in the whole file.
    pub(super) fn left_in_file(&self) -> u64 {
        self.file_len.saturating_sub(self.pos())
    }

    /// Bytes left in the prefix held.
    pub(super) fn left_in_prefix(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    /// Consumes `n` bytes.
    pub(super) fn take(&mut self, n: u64) -> R<&'a [u8]> {
        if n > self.left_in_file() {
            return Err(Stop::Eof);
        }
        if n > self.left_in_prefix() {
            return Err(Stop::More);
        }
        // n <= buf.len() - pos, so it fits usize and the slice is in range.
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.pos.checked_add(n))
            .ok_or(Stop::More)?;
        let out = self.buf.get(self.pos..end).ok_or(Stop::More)?;
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> R<[u8; N]> {
        let b = self.take(N as u64)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    pub(super) fn u8(&mut self) -> R<u8> {
        Ok(self.array::<1>()?[0])
    }
    pub(super) fn u16(&mut self) -> R<u16> {
        self.array().map(u16::from_le_bytes)
    }
    pub(super) fn u32(&mut self) -> R<u32> {
        self.array().map(u32::from_le_bytes)
    }
    pub(super) fn u64(&mut self) -> R<u64> {
        self.array().map(u64::from_le_bytes)
    }
    pub(super) fn f32(&mut self) -> R<f32> {
        self.array().map(f32::from_le_bytes)
    }
    pub(super) fn f64(&mut self) -> R<f64> {
        self.array().map(f64::from_le_bytes)
    }

    /// A GGUF bool: one byte, 0 or 1.
    pub(super) fn bool(&mut self, field: impl Fn() -> String) -> R<bool> {
        match self.u8().at(&field)? {
            0 => Ok(false),
            1 => Ok(true),
            b => bad(field(), format!("bool value {b} (must be 0 or 1)")),
        }
    }

    /// A GGUF string: u64 byte length, then UTF-8 bytes (no terminator).
    /// The length is checked against `cap` and the file before anything is
    /// allocated.
    pub(super) fn string(&mut self, cap: u64, field: impl Fn() -> String) -> R<String> {
        let len = self.u64().at(&field)?;
        if len > cap {
            return bad(
                field(),
                format!("string length {len} exceeds the limit of {cap} bytes"),
            );
        }
        if len > self.left_in_file() {
            return bad(
                field(),
                format!(
                    "string length {len} runs past the end of the file ({} bytes left)",
                    self.left_in_file()
                ),
            );
        }
        let bytes = self.take(len).at(&field)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => bad(field(), format!("not valid UTF-8 ({e})")),
        }
    }
}
