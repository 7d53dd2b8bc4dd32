//! The one error type of the crate. Every fallible library path returns
//! `Result<T>`; the wasm layer maps `Error::code()` to a JS `Error.code`.

/// Everything that can go wrong, with enough context to name the culprit.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The GGUF bytes are malformed; `field` names what was being read.
    #[error("bad GGUF: {field}: {reason}")]
    BadGguf { field: String, reason: String },
    /// Valid input that this build cannot run (architecture, quant type, ...).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A caller-supplied option is out of range or inconsistent.
    #[error("invalid option `{name}`: {reason}")]
    InvalidOption { name: String, reason: String },
    /// A tensor or buffer does not have the shape an op or model expects.
    #[error("shape mismatch in {what}: {detail}")]
    Shape { what: String, detail: String },
    /// The tokenizer metadata is inconsistent or a token id is out of range.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The chat template failed to render (or exceeded its limits).
    #[error("chat template: {0}")]
    Template(String),
    /// The prompt plus generation would not fit the context window.
    #[error("context overflow: {needed} tokens needed, context holds {capacity}")]
    ContextOverflow { needed: usize, capacity: usize },
    /// No WebGPU / Vulkan / Metal adapter could be found.
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    /// The GPU ran out of memory.
    #[error("GPU out of memory: {0}")]
    OutOfMemory(String),
    /// The GPU device was lost; the engine must be reloaded.
    #[error("GPU device lost: {0}")]
    DeviceLost(String),
    /// Any other GPU failure (validation, limits, mapping).
    #[error("GPU error: {0}")]
    Gpu(String),
    /// Downloaded or supplied bytes do not match the expected hash.
    #[error("integrity check failed: {0}")]
    Integrity(String),
    /// File system or network failure.
    #[error("I/O: {0}")]
    Io(String),
    /// The caller aborted the operation.
    #[error("aborted")]
    Aborted,
}

/// Crate-wide result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Stable machine-readable code, shared with the JS API.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadGguf { .. } => "bad_gguf",
            Error::Unsupported(_) => "unsupported",
            Error::InvalidOption { .. } => "invalid_option",
            Error::Shape { .. } => "shape",
            Error::Tokenizer(_) => "tokenizer",
            Error::Template(_) => "template",
            Error::ContextOverflow { .. } => "context_overflow",
            Error::NoAdapter(_) => "no_webgpu",
            Error::OutOfMemory(_) => "out_of_memory",
            Error::DeviceLost(_) => "device_lost",
            Error::Gpu(_) => "gpu",
            Error::Integrity(_) => "integrity",
            Error::Io(_) => "io",
            Error::Aborted => "aborted",
        }
    }

    /// Shorthand for a GGUF error naming `field`.
    pub fn bad_gguf(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::BadGguf {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for an option error.
    pub fn option(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidOption {
            name: name.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for a shape error.
    pub fn shape(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Shape {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}
