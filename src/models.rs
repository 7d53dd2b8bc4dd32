//! Known models by name: where they come from and their sha256 (native only).
