//! The GPU device, its limits and features, buffers and the pipeline cache.
