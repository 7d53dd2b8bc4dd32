//! Reading results back: a generic map helper and the small ring of
//! MAP_READ buffers that carries sampled token ids (4 bytes a token).

use std::sync::Mutex;

use super::Gpu;
use crate::{Error, Result};

/// Maps `buf` for reading and waits for it. Native: polls the device until
/// `after` (the submission that wrote `buf`; the newest when `None`) is done,
/// so later submissions keep running. Browser: yields to the event loop
/// until the callback.
pub(crate) async fn map_read(
    gpu: &Gpu,
    buf: &wgpu::Buffer,
    after: Option<wgpu::SubmissionIndex>,
) -> Result<()> {
    let (tx, rx) = futures_channel::oneshot::channel();
    buf.slice(..).map_async(wgpu::MapMode::Read, move |r| {
        // The receiver only disappears if the caller was dropped; nothing to do then.
        let _ = tx.send(r);
    });
    #[cfg(not(target_arch = "wasm32"))]
    gpu.device
        .poll(wgpu::PollType::Wait {
            submission_index: after,
            timeout: None,
        })
        .map_err(|e| Error::Gpu(format!("poll: {e}")))?;
    #[cfg(target_arch = "wasm32")]
    let _ = after;
    let r = rx
        .await
        .map_err(|_| Error::Gpu("map callback dropped".into()))?;
    gpu.check()?;
    r.map_err(|e| Error::Gpu(format!("map_async: {e}")))
}

/// A ring of tiny MAP_READ buffers, one per in-flight step, so the next step
/// can be submitted before this step's token id is read.
pub struct TokenRing {
    slots: Vec<wgpu::Buffer>,
    /// The submission that last copied into each slot: reading a slot waits
    /// for that one only, not for the step submitted after it.
    writers: Mutex<Vec<Option<wgpu::SubmissionIndex>>>,
}

impl TokenRing {
    /// `n` slots of 4 bytes.
    pub fn new(gpu: &Gpu, n: usize) -> Self {
        let slots = (0..n.max(1))
            .map(|i| {
                gpu.counters.buffer(4);
                gpu.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&format!("token readback {i}")),
                    size: 4,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })
            .collect();
        TokenRing {
            slots,
            writers: Mutex::new(vec![None; n.max(1)]),
        }
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Always false: a ring has at least one slot.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Records a copy of `tokens[index]` into `slot`.
    pub fn encode_copy(
        &self,
        enc: &mut wgpu::CommandEncoder,
        tokens: &wgpu::Buffer,
        index: u32,
        slot: usize,
    ) {
        let dst = &self.slots[slot % self.slots.len()];
        enc.copy_buffer_to_buffer(tokens, u64::from(index) * 4, dst, 0, 4);
    }

    /// Notes that `index` is the submission holding `slot`'s latest copy.
    pub fn submitted(&self, slot: usize, index: wgpu::SubmissionIndex) {
        if let Ok(mut w) = self.writers.lock() {
            let n = w.len();
            w[slot % n] = Some(index);
        }
    }

    /// Waits for `slot`'s copy and returns the token id.
    pub async fn read(&self, gpu: &Gpu, slot: usize) -> Result<u32> {
        let buf = &self.slots[slot % self.slots.len()];
        let after = match self.writers.lock() {
            Ok(mut w) => w[slot % self.slots.len()].take(),
            Err(_) => None,
        };
        map_read(gpu, buf, after).await?;
        gpu.counters.readback(4);
        let id = {
            let view = buf
                .slice(..)
                .get_mapped_range()
                .map_err(|e| Error::Gpu(format!("map: {e}")))?;
            u32::from_le_bytes([view[0], view[1], view[2], view[3]])
        };
        buf.unmap();
        Ok(id)
    }
}
