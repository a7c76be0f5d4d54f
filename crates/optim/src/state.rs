//! Saved optimizer state (what a checkpoint stores to resume training exactly),
//! and the private per-parameter bookkeeping every optimizer shares: lazy
//! allocation of buffers, length checks, and conversion to and from
//! [`OptimizerState`].

use std::collections::BTreeMap;

use num_traits::Float;
use serde::{Deserialize, Serialize};

use crate::adagrad::AdagradConfig;
use crate::adam::{AdamConfig, AdamWConfig};
use crate::error::{OptimError, Result};
use crate::rmsprop::RmspropConfig;
use crate::sgd::SgdConfig;

/// Which optimizer a state or configuration belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OptimizerKind {
    /// [`crate::Sgd`]: plain, momentum or Nesterov gradient descent.
    Sgd,
    /// [`crate::Rmsprop`].
    Rmsprop,
    /// [`crate::Adam`] (L2 weight decay added to the gradient).
    Adam,
    /// [`crate::AdamW`] (decoupled weight decay).
    AdamW,
    /// [`crate::Adagrad`].
    Adagrad,
}

impl OptimizerKind {
    /// The optimizer's conventional name (`"SGD"`, `"RMSprop"`, `"Adam"`, `"AdamW"`, `"Adagrad"`),
    /// as used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "SGD",
            OptimizerKind::Rmsprop => "RMSprop",
            OptimizerKind::Adam => "Adam",
            OptimizerKind::AdamW => "AdamW",
            OptimizerKind::Adagrad => "Adagrad",
        }
    }
}

impl std::fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An optimizer's hyper-parameters, tagged with its kind.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum HyperParams {
    /// SGD's hyper-parameters.
    Sgd(SgdConfig),
    /// RMSprop's hyper-parameters.
    Rmsprop(RmspropConfig),
    /// Adam's hyper-parameters.
    Adam(AdamConfig),
    /// AdamW's hyper-parameters.
    AdamW(AdamWConfig),
    /// Adagrad's hyper-parameters.
    Adagrad(AdagradConfig),
}

impl HyperParams {
    /// The kind of optimizer these hyper-parameters configure.
    pub fn kind(&self) -> OptimizerKind {
        match self {
            HyperParams::Sgd(_) => OptimizerKind::Sgd,
            HyperParams::Rmsprop(_) => OptimizerKind::Rmsprop,
            HyperParams::Adam(_) => OptimizerKind::Adam,
            HyperParams::AdamW(_) => OptimizerKind::AdamW,
            HyperParams::Adagrad(_) => OptimizerKind::Adagrad,
        }
    }

    /// The learning rate currently in force.
    pub fn lr(&self) -> f64 {
        match self {
            HyperParams::Sgd(c) => c.lr,
            HyperParams::Rmsprop(c) => c.lr,
            HyperParams::Adam(c) => c.lr,
            HyperParams::AdamW(c) => c.lr,
            HyperParams::Adagrad(c) => c.lr,
        }
    }
}

/// The saved state of one parameter: how many updates it has had and its buffers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamState {
    /// Number of updates this parameter has received (PyTorch's per-parameter
    /// `step`; Adam's bias correction and Adagrad's `lr_decay` use it).
    pub step: u64,
    /// Number of elements of the parameter.
    pub len: usize,
    /// The buffers by PyTorch's names (`momentum_buffer`, `square_avg`,
    /// `grad_avg`, `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`, `sum`), each of
    /// `len` elements, widened to f64 (exact for f32 and f64 parameters).
    pub buffers: BTreeMap<String, Vec<f64>>,
}

/// Everything an optimizer needs to resume training exactly: its kind and
/// hyper-parameters (including the current learning rate) and each parameter's
/// step count and buffers.
///
/// It derives `serde`'s traits, so a checkpoint can store it in any format.
/// With JSON, enable `serde_json`'s `float_roundtrip` feature: its default
/// float parser can be one ulp off, which would break a bit-exact resume. Non-
/// finite buffer values (after a diverged run) do not survive JSON, which has
/// no NaN or infinity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerState {
    /// The optimizer's kind and hyper-parameters.
    pub hyper: HyperParams,
    /// Number of completed `step_slices` calls.
    pub steps: u64,
    /// Per-parameter state by position; `None` for a parameter that has not
    /// been updated yet (it never had a gradient). Empty before the first step.
    pub params: Vec<Option<ParamState>>,
}

impl OptimizerState {
    /// The kind of optimizer that saved this state.
    pub fn kind(&self) -> OptimizerKind {
        self.hyper.kind()
    }
}

/// One buffer an optimizer keeps per parameter: its saved name and initial value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BufferSpec {
    pub(crate) name: &'static str,
    pub(crate) init: f64,
}

/// The live state of one parameter; `buffers` follow the order of the
/// optimizer's `BufferSpec` list.
#[derive(Debug, Clone)]
pub(crate) struct Slot<T> {
    pub(crate) step: u64,
    pub(crate) len: usize,
    pub(crate) buffers: Vec<Vec<T>>,
}

/// Per-parameter state of an optimizer, allocated lazily on a parameter's first update.
#[derive(Debug, Clone)]
pub(crate) struct Slots<T> {
    steps: u64,
    slots: Vec<Option<Slot<T>>>,
}

/// Converts a hyper-parameter or saved value to the element type. `NumCast`
/// between floats never fails (out-of-range values become infinities), so the
/// NaN fallback is unreachable for f32 and f64.
pub(crate) fn cast<T: Float>(x: f64) -> T {
    T::from(x).unwrap_or_else(T::nan)
}

impl<T: Float> Slots<T> {
    pub(crate) fn new() -> Self {
        Slots { steps: 0, slots: Vec::new() }
    }

    /// Validates every parameter/gradient pair first, so that an error leaves
    /// all parameters and state untouched; then runs `update(step, buffers,
    /// param, grad)` on each parameter that has a gradient, with `step` counted
    /// from 1 including this update.
    pub(crate) fn step<F>(
        &mut self,
        optimizer: &'static str,
        specs: &[BufferSpec],
        params: &mut [&mut [T]],
        grads: &[Option<&[T]>],
        mut update: F,
    ) -> Result<()>
    where
        F: FnMut(u64, &mut [Vec<T>], &mut [T], &[T]),
    {
        if params.len() != grads.len() {
            return Err(OptimError::ParamGradCountMismatch {
                optimizer,
                params: params.len(),
                grads: grads.len(),
            });
        }
        if !self.slots.is_empty() && self.slots.len() != params.len() {
            return Err(OptimError::ParamCountChanged {
                optimizer,
                expected: self.slots.len(),
                got: params.len(),
            });
        }
        for (index, (param, grad)) in params.iter().zip(grads).enumerate() {
            let Some(grad) = grad else { continue };
            if grad.len() != param.len() {
                return Err(OptimError::ParamGradLengthMismatch {
                    optimizer,
                    index,
                    param_len: param.len(),
                    grad_len: grad.len(),
                });
            }
            if let Some(Some(slot)) = self.slots.get(index)
                && slot.len != param.len()
            {
                return Err(OptimError::StateLengthMismatch {
                    optimizer,
                    index,
                    param_len: param.len(),
                    state_len: slot.len,
                });
            }
        }
        if self.slots.is_empty() {
            self.slots.resize_with(params.len(), || None);
        }
        for ((param, grad), slot) in params.iter_mut().zip(grads).zip(&mut self.slots) {
            let Some(grad) = grad else { continue };
            let slot = slot.get_or_insert_with(|| Slot {
                step: 0,
                len: param.len(),
                buffers: specs.iter().map(|spec| vec![cast::<T>(spec.init); param.len()]).collect(),
            });
            slot.step += 1;
            update(slot.step, &mut slot.buffers, param, grad);
        }
        self.steps += 1;
        Ok(())
    }

    /// Drops all per-parameter state, as for a freshly built optimizer.
    pub(crate) fn clear(&mut self) {
        self.steps = 0;
        self.slots.clear();
    }

    pub(crate) fn to_state(&self, hyper: HyperParams, specs: &[BufferSpec]) -> OptimizerState {
        let params = self
            .slots
            .iter()
            .map(|slot| {
                slot.as_ref().map(|slot| ParamState {
                    step: slot.step,
                    len: slot.len,
                    buffers: specs
                        .iter()
                        .zip(&slot.buffers)
                        .map(|(spec, buffer)| {
                            let wide = buffer.iter().map(|x| x.to_f64().unwrap_or(f64::NAN)).collect();
                            (spec.name.to_string(), wide)
                        })
                        .collect(),
                })
            })
            .collect();
        OptimizerState { hyper, steps: self.steps, params }
    }

    /// Rebuilds the live state from a saved one, checking that each parameter
    /// has exactly the buffers `specs` names, each of its declared length.
    pub(crate) fn from_state(
        optimizer: &'static str,
        state: &OptimizerState,
        specs: &[BufferSpec],
    ) -> Result<Self> {
        let invalid = |index: usize, reason: String| OptimError::InvalidState { optimizer, index, reason };
        let mut slots = Vec::with_capacity(state.params.len());
        for (index, saved) in state.params.iter().enumerate() {
            let Some(saved) = saved else {
                slots.push(None);
                continue;
            };
            if saved.step == 0 {
                return Err(invalid(
                    index,
                    "step is 0 but a parameter's state exists only after its first update".into(),
                ));
            }
            if let Some(unknown) =
                saved.buffers.keys().find(|name| !specs.iter().any(|spec| spec.name == name.as_str()))
            {
                let expected: Vec<&str> = specs.iter().map(|spec| spec.name).collect();
                return Err(invalid(
                    index,
                    format!("unexpected buffer {unknown:?}; this configuration keeps {expected:?}"),
                ));
            }
            let mut buffers = Vec::with_capacity(specs.len());
            for spec in specs {
                let Some(values) = saved.buffers.get(spec.name) else {
                    return Err(invalid(index, format!("missing buffer {:?}", spec.name)));
                };
                if values.len() != saved.len {
                    return Err(invalid(
                        index,
                        format!(
                            "buffer {:?} has {} elements but the parameter has {}",
                            spec.name,
                            values.len(),
                            saved.len
                        ),
                    ));
                }
                buffers.push(values.iter().map(|&x| cast::<T>(x)).collect());
            }
            slots.push(Some(Slot { step: saved.step, len: saved.len, buffers }));
        }
        Ok(Slots { steps: state.steps, slots })
    }
}
