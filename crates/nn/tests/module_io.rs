//! Module weight files: a save/load round trip in f32 and f64, names from `parameters()`,
//! and loads that refuse (changing nothing) a file whose names, shapes or dtype differ.

use nn::module_io::{load_tensors, module_tensors};
use nn::weights_file::{self, Dtype, NamedTensor, SpecMismatch, TensorData, TensorSpec, WeightsError};
use nn::{Activation, Mlp, MlpConfig, Module, NnError, load_module, save_module};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tensor_core::{Element, Parameter, Tensor};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn mlp<T: Element>(sizes: &[usize], seed: u64) -> nn::Result<Mlp<T>> {
    MlpConfig::new(sizes, Activation::Tanh).build(&mut StdRng::seed_from_u64(seed))
}

fn same_values<T: Element>(a: &dyn Module<T>, b: &dyn Module<T>) -> bool {
    let (a, b) = (a.parameters(), b.parameters());
    a.len() == b.len()
        && a.iter().zip(&b).all(|((na, pa), (nb, pb))| na == nb && pa.value().data_eq(&pb.value()))
}

fn round_trip<T: Element>() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("model.safetensors");
    let trained = mlp::<T>(&[3, 5, 2], 1)?;
    save_module(&path, &trained)?;
    let fresh = mlp::<T>(&[3, 5, 2], 2)?;
    assert!(!same_values(&trained, &fresh));
    load_module(&path, &fresh)?;
    assert!(same_values(&trained, &fresh));
    // The file holds the module's names, shapes and dtype.
    let stored = weights_file::load(&path)?;
    let mut specs: Vec<TensorSpec> = stored.iter().map(NamedTensor::spec).collect();
    specs.sort_by(|a, b| a.name.cmp(&b.name));
    let dtype = if T::DTYPE == "F32" { Dtype::F32 } else { Dtype::F64 };
    assert_eq!(
        specs,
        [
            TensorSpec::new("layers.0.bias", vec![5], dtype),
            TensorSpec::new("layers.0.weight", vec![3, 5], dtype),
            TensorSpec::new("layers.2.bias", vec![2], dtype),
            TensorSpec::new("layers.2.weight", vec![5, 2], dtype),
        ]
    );
    Ok(())
}

#[test]
fn round_trip_f32() -> TestResult {
    round_trip::<f32>()
}

#[test]
fn round_trip_f64() -> TestResult {
    round_trip::<f64>()
}

#[test]
fn a_mismatching_file_lists_every_difference_and_changes_nothing() -> TestResult {
    let saved = mlp::<f64>(&[3, 5, 2], 1)?;
    let mut tensors = module_tensors(&saved)?;
    // Saved from a wider hidden layer; then drop one tensor and add a stranger.
    tensors.retain(|t| t.name != "layers.2.bias");
    tensors.push(NamedTensor::new("extra", vec![1], TensorData::F64(vec![0.0]))?);
    let target = mlp::<f64>(&[3, 4, 2], 2)?;
    let before: Vec<Tensor<f64>> = target.parameters().iter().map(|(_, p)| p.value()).collect();
    let err = load_tensors(&target, &tensors).unwrap_err();
    let NnError::Weights(WeightsError::Mismatch { problems }) = &err else { panic!("{err}") };
    assert!(problems.contains(&SpecMismatch::Missing(TensorSpec::new("layers.2.bias", vec![2], Dtype::F64))));
    assert!(problems.contains(&SpecMismatch::Unexpected(TensorSpec::new("extra", vec![1], Dtype::F64))));
    assert!(problems.contains(&SpecMismatch::Shape {
        name: "layers.0.weight".into(),
        expected: vec![3, 4],
        found: vec![3, 5]
    }));
    let after: Vec<Tensor<f64>> = target.parameters().iter().map(|(_, p)| p.value()).collect();
    assert!(before.iter().zip(&after).all(|(a, b)| a.data_eq(b)), "nothing loaded on error");
    Ok(())
}

#[test]
fn a_file_of_the_other_dtype_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("f32.safetensors");
    save_module(&path, &mlp::<f32>(&[2, 2], 0)?)?;
    let err = load_module(&path, &mlp::<f64>(&[2, 2], 0)?).unwrap_err();
    let NnError::Weights(WeightsError::Mismatch { problems }) = &err else { panic!("{err}") };
    assert!(
        problems
            .iter()
            .all(|p| matches!(p, SpecMismatch::Dtype { expected: Dtype::F64, found: Dtype::F32, .. }))
    );
    assert_eq!(problems.len(), 2);
    Ok(())
}

#[test]
fn missing_and_damaged_files_are_errors() -> TestResult {
    let dir = tempfile::tempdir()?;
    let model = mlp::<f64>(&[2, 2], 0)?;
    let err = load_module(dir.path().join("absent.safetensors"), &model).unwrap_err();
    assert!(matches!(err, NnError::Weights(WeightsError::Io { .. })), "{err}");
    let path = dir.path().join("cut.safetensors");
    save_module(&path, &model)?;
    let bytes = std::fs::read(&path)?;
    std::fs::write(&path, &bytes[..bytes.len() - 3])?;
    let err = load_module(&path, &model).unwrap_err();
    assert!(matches!(err, NnError::Weights(_)), "{err}");
    Ok(())
}

#[test]
fn duplicate_parameter_names_are_refused() {
    /// A module that (wrongly) names two parameters the same.
    struct Twins(Parameter<f64>, Parameter<f64>);
    impl Module<f64> for Twins {
        fn forward(&self, x: &Tensor<f64>) -> nn::Result<Tensor<f64>> {
            Ok(x.clone())
        }
        fn own_parameters(&self) -> Vec<(String, Parameter<f64>)> {
            vec![("p".into(), self.0.clone()), ("p".into(), self.1.clone())]
        }
    }
    let twins = Twins(
        Parameter::new("p", &Tensor::zeros(&[1]).unwrap()),
        Parameter::new("p", &Tensor::zeros(&[2]).unwrap()),
    );
    let err = module_tensors(&twins).unwrap_err();
    assert!(matches!(err, NnError::InvalidArgument { .. }), "{err}");
    assert!(load_tensors(&twins, &[]).is_err());
}
