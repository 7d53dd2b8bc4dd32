//! Sampler settings. Sampling itself runs on the GPU (shaders/sample.wgsl);
//! this validates the settings and turns them into the step uniform.

use crate::gpu::StepParams;
use crate::{Error, Result};

/// How the next token is chosen. Defaults are greedy.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplerParams {
    /// 0 = greedy (argmax); otherwise the softmax temperature.
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 = off.
    pub top_k: u32,
    /// Keep the smallest set with this much probability; 1 = off.
    pub top_p: f32,
    /// Drop tokens below `min_p` times the top probability; 0 = off.
    pub min_p: f32,
    /// Divide positive (multiply negative) logits of recent tokens; 1 = off.
    pub repetition_penalty: f32,
    /// Window of recent tokens the penalty looks at.
    pub penalty_last_n: u32,
    /// Seed: the same seed and settings give the same tokens.
    pub seed: u32,
}

impl Default for SamplerParams {
    fn default() -> Self {
        SamplerParams {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            penalty_last_n: 64,
            seed: 0,
        }
    }
}

impl SamplerParams {
    /// Rejects settings that have no meaning.
    pub fn validate(&self) -> Result<()> {
        let finite = |name: &str, v: f32| {
            if v.is_finite() {
                Ok(())
            } else {
                Err(Error::option(name, format!("{v} is not a finite number")))
            }
        };
        finite("temperature", self.temperature)?;
        finite("top_p", self.top_p)?;
        finite("min_p", self.min_p)?;
        finite("repetition_penalty", self.repetition_penalty)?;
        if self.temperature < 0.0 {
            return Err(Error::option("temperature", "must be >= 0"));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::option("top_p", "must be in (0, 1]"));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return Err(Error::option("min_p", "must be in [0, 1]"));
        }
        if self.repetition_penalty <= 0.0 {
            return Err(Error::option("repetition_penalty", "must be > 0"));
        }
        Ok(())
    }

    /// The step uniform for a step of `n_tokens` at `pos0`; `counter`
    /// distinguishes draws of one generation.
    pub fn step(&self, n_tokens: u32, pos0: u32, counter: u32) -> StepParams {
        StepParams {
            n_tokens,
            pos0,
            seed: self.seed,
            rep_last_n: self.penalty_last_n,
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            rep_penalty: self.repetition_penalty,
            counter,
            _pad: [0; 2],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_settings() {
        let bad = [
            SamplerParams {
                temperature: -1.0,
                ..Default::default()
            },
            SamplerParams {
                temperature: f32::NAN,
                ..Default::default()
            },
            SamplerParams {
                top_p: 0.0,
                ..Default::default()
            },
            SamplerParams {
                top_p: 1.5,
                ..Default::default()
            },
            SamplerParams {
                min_p: 2.0,
                ..Default::default()
            },
            SamplerParams {
                repetition_penalty: 0.0,
                ..Default::default()
            },
        ];
        for p in bad {
            assert!(
                matches!(p.validate(), Err(Error::InvalidOption { .. })),
                "{p:?}"
            );
        }
        assert!(SamplerParams::default().validate().is_ok());
    }
}
