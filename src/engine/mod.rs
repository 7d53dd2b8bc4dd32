//! Sessions: KV cache, sampling, stop conditions, token streaming, chat
//! templates.

pub mod backend;
mod llm;
pub mod profile;
pub mod sampler;
pub mod session;
pub mod stop;
pub mod template;

pub use backend::{Backend, BackendChoice};
pub use llm::{
    Chunk, Engine, EngineLoader, FinishReason, GenerateOptions, Generation, LoadOptions, ModelInfo,
};
pub use profile::OpTime;
pub use sampler::SamplerParams;
pub use session::{Flow, GenStats, Scores, Session};
pub use template::ChatMessage;
