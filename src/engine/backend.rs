//! Where an engine runs its model: the GPU (`Session`) or the CPU path
//! (`cpu::CpuSession`), behind one set of session calls.

use crate::cpu::CpuSession;
use crate::Result;

use super::sampler::SamplerParams;
use super::session::{GenStats, Scores, Session};

/// Which backend `Engine::load` uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendChoice {
    /// The GPU, except in a browser whose only adapter is a software one
    /// (SwiftShader): there the CPU path, which decodes ~6x faster than
    /// SwiftShader's shaders (BENCHMARKS.md); and the CPU path wherever no
    /// adapter or device opens. Natively, the GPU whenever one opens
    /// (lavapipe included: the native tests and benchmarks measure the GPU
    /// path there).
    #[default]
    Auto,
    Gpu,
    Cpu,
}

/// A session on one backend.
// One per engine: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Backend {
    Gpu(Session),
    Cpu(CpuSession),
}

impl Backend {
    /// "gpu" or "cpu".
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Gpu(_) => "gpu",
            Backend::Cpu(_) => "cpu",
        }
    }

    /// The GPU session, when the model runs there.
    pub fn gpu(&mut self) -> Option<&mut Session> {
        match self {
            Backend::Gpu(s) => Some(s),
            Backend::Cpu(_) => None,
        }
    }

    /// The GPU session, read-only.
    pub fn as_gpu(&self) -> Option<&Session> {
        match self {
            Backend::Gpu(s) => Some(s),
            Backend::Cpu(_) => None,
        }
    }

    pub fn history(&self) -> &[u32] {
        match self {
            Backend::Gpu(s) => s.history(),
            Backend::Cpu(s) => s.history(),
        }
    }

    pub fn reset(&mut self) {
        match self {
            Backend::Gpu(s) => s.reset(),
            Backend::Cpu(s) => s.reset(),
        }
    }

    pub fn start(&mut self, prompt: &[u32], sp: &SamplerParams, max_new: usize) -> Result<()> {
        match self {
            Backend::Gpu(s) => s.start(prompt, sp, max_new),
            Backend::Cpu(s) => s.start(prompt, sp, max_new),
        }
    }

    /// Runs a slice of a started generation's prompt where the backend
    /// works in slices (the CPU path); true while more remains. The GPU
    /// runs the whole prompt in `start`.
    pub fn prefill_step(&mut self) -> Result<bool> {
        match self {
            Backend::Gpu(_) => Ok(false),
            Backend::Cpu(s) => s.prefill_step(),
        }
    }

    pub async fn next_token(&mut self) -> Result<Option<u32>> {
        match self {
            Backend::Gpu(s) => s.next_token().await,
            Backend::Cpu(s) => s.next_token().await,
        }
    }

    pub fn cancel(&mut self) -> Result<()> {
        match self {
            Backend::Gpu(s) => s.cancel(),
            Backend::Cpu(s) => s.cancel(),
        }
    }

    pub fn finish(&mut self) -> Result<(Vec<u32>, GenStats)> {
        match self {
            Backend::Gpu(s) => s.finish(),
            Backend::Cpu(s) => s.finish(),
        }
    }

    pub async fn score(&mut self, tokens: &[u32]) -> Result<Scores> {
        match self {
            Backend::Gpu(s) => s.score(tokens).await,
            Backend::Cpu(s) => s.score(tokens).await,
        }
    }
}
