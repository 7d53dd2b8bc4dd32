//! Sessions: KV cache, sampling, stop conditions, token streaming, chat
//! templates.

pub mod template;
