//! Saving and loading a module's parameters as a safetensors file: the names are the module's
//! nested parameter names (`layers.0.weight`), the dtype is the module's element type, and
//! loading checks every name, shape and dtype before changing anything. The file format and the
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
use crate::weights_file::{self, Dtype, NamedTensor, TensorData, TensorSpec};
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

/// The module's parameters as named tensors (its state), in `parameters()` order.
///
/// # Errors
/// Two parameters with the same name ([`NnError::InvalidArgument`](crate::NnError::InvalidArgument)),
/// which a file could not tell apart.
pub fn module_tensors<T: Element, M: Module<T> + ?Sized>(module: &M) -> Result<Vec<NamedTensor>> {
    let dtype = dtype_of::<T>()?;
    let mut params = module.parameters();
    params.extend(module.buffers());
    check_unique(params.iter().map(|(n, _)| n.as_str()))?;
    params
        .into_iter()
        .map(|(name, p)| {
            let value = p.value();
            let data = match dtype {
                Dtype::F32 => TensorData::F32(value.as_slice().iter().map(|v| v.as_f64() as f32).collect()),
                Dtype::F64 => TensorData::F64(value.as_slice().iter().map(|v| v.as_f64()).collect()),
            };
            Ok(NamedTensor::new(name, value.shape().to_vec(), data)?)
        })
        .collect()
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
/// dtypes are exactly the module's (no parameter is changed if anything differs).
///
/// # Errors
/// [`WeightsError::Mismatch`](crate::weights_file::WeightsError::Mismatch) (inside
/// [`NnError::Weights`](crate::NnError::Weights)) listing every missing, unexpected, reshaped or
/// retyped tensor; duplicate parameter names in the module.
pub fn load_tensors<T: Element, M: Module<T> + ?Sized>(module: &M, tensors: &[NamedTensor]) -> Result<()> {
    let dtype = dtype_of::<T>()?;
    let mut params = module.parameters();
    params.extend(module.buffers());
    check_unique(params.iter().map(|(n, _)| n.as_str()))?;
    let specs: Vec<TensorSpec> =
        params.iter().map(|(name, p)| TensorSpec::new(name.clone(), p.shape().to_vec(), dtype)).collect();
    weights_file::check_against(tensors, &specs)?;
    let mut values = Vec::with_capacity(params.len());
    for (name, p) in &params {
        // check_against has confirmed every name is present, so this always finds one.
        let Some(stored) = tensors.iter().find(|t| &t.name == name) else {
            return Err(invalid("module weights", format!("tensor `{name}` vanished after the check")));
        };
        let data: Vec<T> = match &stored.data {
            TensorData::F32(v) => v.iter().map(|&x| T::from_f64(f64::from(x))).collect(),
            TensorData::F64(v) => v.iter().map(|&x| T::from_f64(x)).collect(),
        };
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
/// Duplicate parameter names; any [`WeightsError`](crate::weights_file::WeightsError) from
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
