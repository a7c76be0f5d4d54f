//! Saving and loading a module's parameters as a safetensors file: the names are the module's
//! nested parameter names (`layers.0.weight`), the dtype is the module's element type (except for
//! count buffers such as batch norm's `num_batches_tracked`, stored as `I64` as in PyTorch's state
//! dict; see [`Module::own_count_buffers`]), and loading checks every name, shape, dtype and count
//! before changing anything. A count buffer saved as a float of the module's dtype (the format
//! before `I64` support) still loads. The file format and the
//! atomic write are [`crate::weights_file`]'s.
//!
//! ```
//! use nn::{Activation, Mlp, Module, load_module, save_module};
//! use rand::{SeedableRng, rngs::StdRng};
//! let dir = std::env::temp_dir().join(format!("nn-module-io-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("mlp.safetensors");
//!
//! let trained = Mlp::<f32>::new(&[4, 8, 3], Activation::Relu, &mut StdRng::seed_from_u64(1))?;
//! save_module(&path, &trained)?;
//! let fresh = Mlp::<f32>::new(&[4, 8, 3], Activation::Relu, &mut StdRng::seed_from_u64(2))?;
//! load_module(&path, &fresh)?;
//! for ((_, a), (_, b)) in trained.parameters().iter().zip(fresh.parameters().iter()) {
//!     assert!(a.value().data_eq(&b.value()));
//! }
//! // A model of another shape is refused, with every difference listed.
//! let wider = Mlp::<f32>::new(&[4, 16, 3], Activation::Relu, &mut StdRng::seed_from_u64(3))?;
//! let err = load_module(&path, &wider).unwrap_err();
//! assert!(err.to_string().contains("`layers.0.weight` has shape [4, 8], expected [4, 16]"));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), nn::NnError>(())
//! ```

use crate::error::{Result, invalid};
use crate::module::Module;
use crate::weights_file::{self, Dtype, NamedTensor, TensorData, TensorSpec, WeightsError};
use std::collections::HashSet;
use std::path::Path;
use tensor_core::{Element, Tensor};

/// The file dtype of element type `T`.
fn dtype_of<T: Element>() -> Result<Dtype> {
    match T::DTYPE {
        "F32" => Ok(Dtype::F32),
        "F64" => Ok(Dtype::F64),
        other => {
            Err(invalid("module weights", format!("element type {other} has no safetensors dtype here")))
        }
    }
}

/// The largest count that element dtype `dtype` holds exactly, with every smaller whole number:
/// `2^24` for `F32`, `2^53` for `F64` (the significand's width).
fn exact_count_max(dtype: Dtype) -> u64 {
    match dtype {
        Dtype::F32 => 1 << f32::MANTISSA_DIGITS,
        Dtype::F64 | Dtype::I64 => 1 << f64::MANTISSA_DIGITS,
    }
}

/// `value` as a count if it is a whole number from 0 to `max`, else [`WeightsError::NotACount`].
fn float_to_count(name: &str, value: f64, max: u64, target: &'static str) -> Result<u64> {
    // `max` ≤ 2^53, so the comparison in f64 is exact and the cast below is lossless.
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= max as f64 {
        Ok(value as u64)
    } else {
        Err(WeightsError::NotACount { name: name.to_owned(), value: value.to_string(), max, target }.into())
    }
}

/// The module's parameters as named tensors (its state), in `parameters()` order, then its
/// buffers; count buffers ([`Module::count_buffers`]) as `I64`.
///
/// # Errors
/// Two parameters with the same name ([`NnError::InvalidArgument`](crate::NnError::InvalidArgument)),
/// which a file could not tell apart; a count buffer holding something other than a whole number
/// from 0 to 2^53 ([`WeightsError::NotACount`]).
pub fn module_tensors<T: Element, M: Module<T> + ?Sized>(module: &M) -> Result<Vec<NamedTensor>> {
    let dtype = dtype_of::<T>()?;
    let counts: HashSet<String> = module.count_buffers().into_iter().collect();
    let mut params = module.parameters();
    params.extend(module.buffers());
    check_unique(params.iter().map(|(n, _)| n.as_str()))?;
    params
        .into_iter()
        .map(|(name, p)| {
            let value = p.value();
            let values = value.as_slice().iter().map(|v| v.as_f64());
            let data = if counts.contains(&name) {
                let max = exact_count_max(Dtype::I64);
                // Every count is ≤ 2^53 < i64::MAX, so the cast is lossless.
                let counts: Result<Vec<i64>> =
                    values.map(|v| float_to_count(&name, v, max, "I64").map(|c| c as i64)).collect();
                TensorData::I64(counts?)
            } else {
                match dtype {
                    Dtype::F32 => TensorData::F32(values.map(|v| v as f32).collect()),
                    Dtype::F64 | Dtype::I64 => TensorData::F64(values.collect()),
                }
            };
            Ok(NamedTensor::new(name, value.shape().to_vec(), data)?)
        })
        .collect()
}

/// The values of `stored` in element type `T`: floats as they are; for a count buffer, `I64` or
/// floats checked to be counts that `T` holds exactly.
fn stored_values<T: Element>(stored: &NamedTensor, is_count: bool, dtype: Dtype) -> Result<Vec<T>> {
    let name = stored.name.as_str();
    let max = exact_count_max(dtype);
    let target = if dtype == Dtype::F32 { "F32" } else { "F64" };
    let float = |x: f64| -> Result<T> {
        if is_count {
            float_to_count(name, x, max, target)?;
        }
        Ok(T::from_f64(x))
    };
    match &stored.data {
        TensorData::F32(v) => v.iter().map(|&x| float(f64::from(x))).collect(),
        TensorData::F64(v) => v.iter().map(|&x| float(x)).collect(),
        TensorData::I64(v) => v
            .iter()
            .map(|&x| match u64::try_from(x) {
                // A count ≤ 2^53 converts to f64 exactly, and to f32 exactly when ≤ 2^24 = max.
                Ok(count) if count <= max => Ok(T::from_f64(count as f64)),
                _ => {
                    Err(WeightsError::NotACount { name: name.to_owned(), value: x.to_string(), max, target }
                        .into())
                }
            })
            .collect(),
    }
}

fn check_unique<'a>(names: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut seen = HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(invalid("module weights", format!("two parameters are both named `{name}`")));
        }
    }
    Ok(())
}

/// Sets the module's parameters from named tensors, after checking that the names, shapes and
/// dtypes are exactly the module's (no parameter is changed if anything differs). A count buffer
/// ([`Module::count_buffers`]) may be `I64` (PyTorch's dtype, and what [`save_module`] writes) or
/// the module's float dtype (older files); either way each value must be a whole number from 0 to
/// the largest count the module's element type holds exactly (2^53 for f64, 2^24 for f32).
///
/// # Errors
/// [`WeightsError::Mismatch`] (inside
/// [`NnError::Weights`](crate::NnError::Weights)) listing every missing, unexpected, reshaped or
/// retyped tensor; [`WeightsError::NotACount`] naming a count buffer whose value is negative,
/// fractional or too large to convert exactly; duplicate parameter names in the module.
pub fn load_tensors<T: Element, M: Module<T> + ?Sized>(module: &M, tensors: &[NamedTensor]) -> Result<()> {
    let dtype = dtype_of::<T>()?;
    let counts: HashSet<String> = module.count_buffers().into_iter().collect();
    let mut params = module.parameters();
    params.extend(module.buffers());
    check_unique(params.iter().map(|(n, _)| n.as_str()))?;
    let specs: Vec<TensorSpec> = params
        .iter()
        .map(|(name, p)| {
            let found = tensors.iter().find(|t| &t.name == name).map(NamedTensor::dtype);
            // A count is expected as I64, unless the file holds it in the older float form.
            let expected = if counts.contains(name) && found != Some(dtype) { Dtype::I64 } else { dtype };
            TensorSpec::new(name.clone(), p.shape().to_vec(), expected)
        })
        .collect();
    weights_file::check_against(tensors, &specs)?;
    let mut values = Vec::with_capacity(params.len());
    for (name, p) in &params {
        // check_against has confirmed every name is present, so this always finds one.
        let Some(stored) = tensors.iter().find(|t| &t.name == name) else {
            return Err(invalid("module weights", format!("tensor `{name}` vanished after the check")));
        };
        let data: Vec<T> = stored_values(stored, counts.contains(name), dtype)?;
        values.push((p, Tensor::from_vec(data, p.shape())?));
    }
    for (p, value) in values {
        p.set(&value)?;
    }
    Ok(())
}

/// Saves the module's parameters to `path` as safetensors (atomically: a crash leaves the old
/// file whole). Readable by Python's `safetensors` / PyTorch under the same names.
///
/// # Errors
/// Duplicate parameter names; any [`WeightsError`] from
/// writing.
pub fn save_module<T: Element, M: Module<T> + ?Sized>(path: impl AsRef<Path>, module: &M) -> Result<()> {
    Ok(weights_file::save(path, &module_tensors(module)?)?)
}

/// Loads `path` into the module's parameters, checking names, shapes and dtype first.
///
/// # Errors
/// A missing, truncated or damaged file; a file whose tensors differ from the module's
/// (`WeightsError::Mismatch`, listing each difference); nothing is changed on error.
pub fn load_module<T: Element, M: Module<T> + ?Sized>(path: impl AsRef<Path>, module: &M) -> Result<()> {
    load_tensors(module, &weights_file::load(path)?)
}
