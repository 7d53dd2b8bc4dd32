//! Time per decode op kind on the current adapter: a tuning aid that works
//! natively and in the browser (where there is no blocking wait: completion
//! is awaited through a small readback).

use crate::gpu::now_ms;
use crate::Result;

use super::session::Session;

/// Milliseconds per decoded token spent in one kind of op.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OpTime {
    /// e.g. `"ffn_gate_up MatvecQ4_1"`.
    pub kind: String,
    /// How many ops of this kind one token runs.
    pub count: usize,
    pub ms: f64,
}

impl Session {
    /// Times each op of the decode list: every op is recorded `reps` times
    /// in one submit, then awaited. The step uniform is left as the last
    /// step wrote it, so the times are those of a real decode step.
    pub async fn profile_decode(&mut self, reps: u32) -> Result<Vec<OpTime>> {
        let reps = reps.max(1);
        let mut out: Vec<OpTime> = Vec::new();
        let probe = self.model.logits();
        for op in &self.model.decode {
            let t = now_ms();
            let mut enc = self.gpu.device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                for _ in 0..reps {
                    op.dispatch.encode(&mut pass, 1);
                }
            }
            self.gpu.queue.submit([enc.finish()]);
            // A 4-byte readback completes after the submit above.
            self.gpu.read_bytes(probe, 0, 4).await?;
            let ms = (now_ms() - t) / f64::from(reps);
            let kind = format!(
                "{} {:?}",
                op.name.rsplit('.').next().unwrap_or(""),
                op.dispatch.kernel
            );
            match out.iter_mut().find(|o| o.kind == kind) {
                Some(o) => {
                    o.count += 1;
                    o.ms += ms;
                }
                None => out.push(OpTime { kind, count: 1, ms }),
            }
        }
        self.gpu.check()?;
        Ok(out)
    }
}
