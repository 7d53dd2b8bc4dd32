//! Counts of what the engine asks of the GPU (submits, passes, dispatches,
//! bytes read back, buffers / bind groups / pipelines created). Counted where
//! the work is recorded (`Gpu` helpers, `Session::submit`, `TokenRing::read`),
//! so the benchmark reports what the token path really does rather than
//! what the design says it should do.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, owned by `Gpu`.
#[derive(Debug, Default)]
pub struct Counters {
    submits: AtomicU64,
    passes: AtomicU64,
    dispatches: AtomicU64,
    readback_bytes: AtomicU64,
    buffers: AtomicU64,
    buffer_bytes: AtomicU64,
    bind_groups: AtomicU64,
    pipelines: AtomicU64,
}

/// A copy of the counters at one moment; subtract two to count an interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CounterSnapshot {
    pub submits: u64,
    pub passes: u64,
    pub dispatches: u64,
    pub readback_bytes: u64,
    pub buffers: u64,
    /// Bytes of every buffer created. The engine frees nothing while it
    /// lives (only the debug/scoring readback staging buffers are
    /// transient), so this is the peak of GPU buffer memory.
    pub buffer_bytes: u64,
    pub bind_groups: u64,
    pub pipelines: u64,
}

fn add(c: &AtomicU64, n: u64) {
    // Relaxed: these are statistics, never used to order other memory.
    c.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn submit(&self, passes: u64, dispatches: u64) {
        add(&self.submits, 1);
        add(&self.passes, passes);
        add(&self.dispatches, dispatches);
    }

    pub(crate) fn readback(&self, bytes: u64) {
        add(&self.readback_bytes, bytes);
    }

    pub(crate) fn buffer(&self, bytes: u64) {
        add(&self.buffers, 1);
        add(&self.buffer_bytes, bytes);
    }

    pub(crate) fn bind_group(&self) {
        add(&self.bind_groups, 1);
    }

    pub(crate) fn pipeline(&self) {
        add(&self.pipelines, 1);
    }

    /// The current values.
    pub fn snapshot(&self) -> CounterSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CounterSnapshot {
            submits: g(&self.submits),
            passes: g(&self.passes),
            dispatches: g(&self.dispatches),
            readback_bytes: g(&self.readback_bytes),
            buffers: g(&self.buffers),
            buffer_bytes: g(&self.buffer_bytes),
            bind_groups: g(&self.bind_groups),
            pipelines: g(&self.pipelines),
        }
    }
}

impl CounterSnapshot {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &CounterSnapshot) -> CounterSnapshot {
        CounterSnapshot {
            submits: self.submits.saturating_sub(earlier.submits),
            passes: self.passes.saturating_sub(earlier.passes),
            dispatches: self.dispatches.saturating_sub(earlier.dispatches),
            readback_bytes: self.readback_bytes.saturating_sub(earlier.readback_bytes),
            buffers: self.buffers.saturating_sub(earlier.buffers),
            buffer_bytes: self.buffer_bytes.saturating_sub(earlier.buffer_bytes),
            bind_groups: self.bind_groups.saturating_sub(earlier.bind_groups),
            pipelines: self.pipelines.saturating_sub(earlier.pipelines),
        }
    }
}
