//! Gradients as one flat buffer: flatten after `backward`, all-reduce, rebuild per parameter.

use tensor_core::{Gradients, Parameter, Tensor};

use crate::{Communicator, Result, all_reduce_sum};

/// The gradients of `params`, concatenated in parameter order into one buffer. A parameter
/// without a gradient (unused in this step, or a rank with an empty shard) contributes zeros,
/// so every rank's buffer has the same layout.
pub fn flatten(params: &[Parameter<f32>], grads: Option<&Gradients<f32>>) -> Vec<f32> {
    let total: usize = params.iter().map(Parameter::numel).sum();
    let mut flat = Vec::with_capacity(total);
    for p in params {
        match grads.and_then(|g| g.get_param(p)) {
            Some(g) => flat.extend_from_slice(&g.to_vec()),
            None => flat.resize(flat.len() + p.numel(), 0.0),
        }
    }
    flat
}

/// Splits a flat buffer (as [`flatten`] lays it out) back into one gradient per parameter.
pub fn unflatten(params: &[Parameter<f32>], flat: &[f32]) -> Result<Vec<Option<Tensor<f32>>>> {
    let total: usize = params.iter().map(Parameter::numel).sum();
    if flat.len() != total {
        return Err(crate::DistributedError::Invalid(format!(
            "unflatten: {} values for parameters holding {total}",
            flat.len()
        )));
    }
    let mut rest = flat;
    params
        .iter()
        .map(|p| {
            let (mine, tail) = rest.split_at(p.numel());
            rest = tail;
            Ok(Some(Tensor::from_slice(mine, p.shape())?))
        })
        .collect()
}

/// The step between `backward` and the optimizer: sums every rank's gradients (one flat
/// buffer, fixed rank order) and returns them per parameter, ready for
/// `optim::StepParams::step_with_grads`. Each rank should have scaled its loss by its
/// [`crate::Shard::loss_scale`], so the sum is the global batch's mean-loss gradient.
/// `extra` values (e.g. the scaled loss, for reporting) ride along in the same message and
/// come back summed.
pub fn all_reduce_gradients<C: Communicator + ?Sized>(
    comm: &C,
    params: &[Parameter<f32>],
    grads: Option<&Gradients<f32>>,
    extra: &mut [f32],
) -> Result<Vec<Option<Tensor<f32>>>> {
    let mut flat = flatten(params, grads);
    let n = flat.len();
    flat.extend_from_slice(extra);
    all_reduce_sum(comm, &mut flat)?;
    extra.copy_from_slice(&flat[n..]);
    unflatten(params, &flat[..n])
}
