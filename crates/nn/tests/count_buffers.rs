//! Batch norm's `num_batches_tracked` in weight files: saved as `I64` (PyTorch's int64), read from
//! an `I64` file written by the `safetensors` crate directly (as `safetensors.torch.save_file`
//! writes a PyTorch state dict), still read from the older float form, and hostile counts
//! (negative, fractional, beyond what the element type holds exactly) refused naming the tensor.

use nn::module_io::{load_tensors, module_tensors};
use nn::weights_file::{self, Dtype, TensorData, WeightsError};
use nn::{BatchNorm1d, Module, NnError, load_module, save_module};
use safetensors::tensor::{Dtype as StDtype, TensorView};
use tensor_core::{Element, Tensor};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A batch norm over 2 channels after `steps` training batches.
fn trained<T: Element>(steps: usize) -> nn::Result<BatchNorm1d<T>> {
    let bn = BatchNorm1d::<T>::new(2)?;
    for step in 0..steps {
        let data = (0..8).map(|i| T::from_f64((i * (step + 2)) as f64 * 0.25 - 1.0)).collect();
        bn.forward(&Tensor::from_vec(data, &[4, 2])?)?;
    }
    Ok(bn)
}

fn count<T: Element>(bn: &BatchNorm1d<T>) -> f64 {
    bn.num_batches_tracked().value().item().expect("a scalar").as_f64()
}

/// A PyTorch-shaped BatchNorm1d(2) state dict with the count as the given dtype and bytes.
fn state_dict_bytes(count_dtype: StDtype, count_bytes: &[u8]) -> Vec<u8> {
    let f64_bytes = |v: &[f64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let (weight, bias) = (f64_bytes(&[1.5, 0.5]), f64_bytes(&[0.25, -0.25]));
    let (mean, var) = (f64_bytes(&[0.1, 0.2]), f64_bytes(&[0.9, 1.1]));
    let views = [
        ("weight", TensorView::new(StDtype::F64, vec![2], &weight).unwrap()),
        ("bias", TensorView::new(StDtype::F64, vec![2], &bias).unwrap()),
        ("running_mean", TensorView::new(StDtype::F64, vec![2], &mean).unwrap()),
        ("running_var", TensorView::new(StDtype::F64, vec![2], &var).unwrap()),
        ("num_batches_tracked", TensorView::new(count_dtype, vec![], count_bytes).unwrap()),
    ];
    safetensors::serialize(views, None).unwrap()
}

#[track_caller]
fn assert_not_a_count(err: NnError, value: &str) {
    let message = err.to_string();
    match err {
        NnError::Weights(WeightsError::NotACount { name, value: found, .. }) => {
            assert_eq!(name, "num_batches_tracked");
            assert_eq!(found, value);
            assert!(message.contains("`num_batches_tracked`"), "{message}");
        }
        other => panic!("expected NotACount for {value}, got {other:?}"),
    }
}

fn round_trip<T: Element>() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bn.safetensors");
    let bn = trained::<T>(3)?;
    save_module(&path, &bn)?;
    let file = weights_file::load(&path)?;
    let stored = file.iter().find(|t| t.name == "num_batches_tracked").expect("saved");
    assert_eq!(
        (stored.dtype(), &stored.shape, &stored.data),
        (Dtype::I64, &vec![], &TensorData::I64(vec![3]))
    );
    let floats = file.iter().filter(|t| t.name != "num_batches_tracked");
    let float_dtype = if T::DTYPE == "F32" { Dtype::F32 } else { Dtype::F64 };
    assert!(floats.clone().count() == 4 && floats.into_iter().all(|t| t.dtype() == float_dtype));

    let fresh = BatchNorm1d::<T>::new(2)?;
    load_module(&path, &fresh)?;
    assert_eq!(count(&fresh), 3.0);
    for ((_, a), (_, b)) in bn.buffers().iter().zip(fresh.buffers().iter()) {
        assert!(a.value().data_eq(&b.value()));
    }
    // Training continues from the loaded count.
    fresh.forward(&Tensor::from_vec(vec![T::one(); 4], &[2, 2])?)?;
    assert_eq!(count(&fresh), 4.0);
    Ok(())
}

#[test]
fn count_round_trips_as_i64_in_f64() -> TestResult {
    round_trip::<f64>()
}

#[test]
fn count_round_trips_as_i64_in_f32() -> TestResult {
    round_trip::<f32>()
}

#[test]
fn nested_count_buffers_get_their_prefix() -> TestResult {
    let model = nn::Sequential::<f64>::new().push(trained::<f64>(2)?);
    let names = model.count_buffers();
    assert_eq!(names.len(), 1);
    let tensors = module_tensors(&model)?;
    let count = tensors.iter().find(|t| t.name == names[0]).expect("saved under its nested name");
    assert_eq!(count.data, TensorData::I64(vec![2]));
    Ok(())
}

#[test]
fn an_i64_state_dict_written_by_the_safetensors_crate_loads_unchanged() -> TestResult {
    let bytes = state_dict_bytes(StDtype::I64, &7i64.to_le_bytes());
    let bn = BatchNorm1d::<f64>::new(2)?;
    load_tensors(&bn, &weights_file::from_bytes(&bytes)?.tensors)?;
    assert_eq!(count(&bn), 7.0);
    assert_eq!(bn.running_var().value().to_vec(), [0.9, 1.1]);
    // And tapegrad writes back the same names, shapes and dtypes.
    let again =
        weights_file::from_bytes(&weights_file::to_bytes(&module_tensors(&bn)?, &Default::default())?)?;
    let original = weights_file::from_bytes(&bytes)?;
    let mut written = again.tensors;
    let mut read = original.tensors;
    written.sort_by(|a, b| a.name.cmp(&b.name));
    read.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(written, read, "same names, shapes, dtypes and values");
    Ok(())
}

#[test]
fn an_old_file_with_a_float_count_still_loads() -> TestResult {
    let bytes = state_dict_bytes(StDtype::F64, &5.0f64.to_le_bytes());
    let bn = BatchNorm1d::<f64>::new(2)?;
    load_tensors(&bn, &weights_file::from_bytes(&bytes)?.tensors)?;
    assert_eq!(count(&bn), 5.0);
    // A float count of another dtype than the module's is still a dtype mismatch, as before.
    let bn32 = BatchNorm1d::<f32>::new(2)?;
    let err = load_tensors(&bn32, &weights_file::from_bytes(&bytes)?.tensors).unwrap_err();
    assert!(matches!(err, NnError::Weights(WeightsError::Mismatch { .. })), "{err}");
    Ok(())
}

#[test]
fn hostile_counts_are_errors_naming_the_tensor_and_change_nothing() -> TestResult {
    let two_53 = 1i64 << 53;
    for (value, text) in [(-1i64, "-1"), (two_53 + 1, "9007199254740993"), (i64::MAX, "9223372036854775807")]
    {
        let bytes = state_dict_bytes(StDtype::I64, &value.to_le_bytes());
        let bn = BatchNorm1d::<f64>::new(2)?;
        assert_not_a_count(load_tensors(&bn, &weights_file::from_bytes(&bytes)?.tensors).unwrap_err(), text);
        assert_eq!(count(&bn), 0.0);
        assert_eq!(bn.running_var().value().to_vec(), [1.0, 1.0], "nothing changed");
    }
    // 2^53 itself is exact in f64 and loads.
    let bytes = state_dict_bytes(StDtype::I64, &two_53.to_le_bytes());
    let bn = BatchNorm1d::<f64>::new(2)?;
    load_tensors(&bn, &weights_file::from_bytes(&bytes)?.tensors)?;
    assert_eq!(count(&bn), 2f64.powi(53));

    // An f32 layer holds counts exactly only up to 2^24.
    let f32_state = |count: i64| {
        let f32_bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let stats = f32_bytes(&[0.0, 1.0]);
        let count = count.to_le_bytes();
        let views = [
            ("weight", TensorView::new(StDtype::F32, vec![2], &stats).unwrap()),
            ("bias", TensorView::new(StDtype::F32, vec![2], &stats).unwrap()),
            ("running_mean", TensorView::new(StDtype::F32, vec![2], &stats).unwrap()),
            ("running_var", TensorView::new(StDtype::F32, vec![2], &stats).unwrap()),
            ("num_batches_tracked", TensorView::new(StDtype::I64, vec![], &count).unwrap()),
        ];
        safetensors::serialize(views, None).unwrap()
    };
    let bn32 = BatchNorm1d::<f32>::new(2)?;
    load_tensors(&bn32, &weights_file::from_bytes(&f32_state(1 << 24))?.tensors)?;
    let err = load_tensors(&bn32, &weights_file::from_bytes(&f32_state((1 << 24) + 1))?.tensors).unwrap_err();
    assert_not_a_count(err, "16777217");

    // Old float files: negative or fractional counts are refused too.
    for (value, text) in [(-1.0f64, "-1"), (2.5, "2.5"), (f64::NAN, "NaN")] {
        let bytes = state_dict_bytes(StDtype::F64, &value.to_le_bytes());
        let bn = BatchNorm1d::<f64>::new(2)?;
        assert_not_a_count(load_tensors(&bn, &weights_file::from_bytes(&bytes)?.tensors).unwrap_err(), text);
    }
    Ok(())
}

#[test]
fn saving_a_count_that_is_not_a_whole_number_is_an_error() -> TestResult {
    let bn = BatchNorm1d::<f64>::new(2)?;
    bn.num_batches_tracked().set(&Tensor::scalar(-3.0))?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bn.safetensors");
    assert_not_a_count(save_module(&path, &bn).unwrap_err(), "-3");
    assert!(!path.exists(), "nothing written");
    Ok(())
}
