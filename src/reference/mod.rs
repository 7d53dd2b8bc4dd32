//! Plain scalar f32 implementations: the oracle every GPU kernel and the GPU
//! forward pass are tested against.
