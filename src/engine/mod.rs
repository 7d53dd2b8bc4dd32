//! Sessions: KV cache, sampling, stop conditions, token streaming, chat
//! templates.

pub mod sampler;
pub mod session;

pub use sampler::SamplerParams;
pub use session::{Flow, GenStats, Scores, Session};
