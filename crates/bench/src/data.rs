//! Synthetic MNIST-shaped data and initial weights from a counter-based generator
//! (SplitMix64), so `bench/torch_mlp.py` rebuilds bit-identical inputs, labels and
//! weights with NumPy and both sides train exactly the same model on the same data.

/// Pixels per sample in the protocol, as MNIST's 28 × 28 images.
pub const FEATURES: usize = 784;
/// Number of classes in the protocol, as MNIST's digits.
pub const CLASSES: usize = 10;

/// One step of SplitMix64: a well-mixed 64-bit hash of `x`.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The base key of one stream of random numbers (pixels, labels, a layer's weights).
fn stream_base(seed: u64, stream: u64) -> u64 {
    splitmix64(seed.wrapping_mul(4).wrapping_add(stream))
}

/// The `i`-th uniform number in `[0, 1)` of a stream: 24 random bits, exact in f32.
fn unit(base: u64, i: u64) -> f32 {
    (splitmix64(base.wrapping_add(i)) >> 40) as f32 / (1u32 << 24) as f32
}

/// `samples × features` pixels, uniform in `[0, 1)`, row-major.
pub fn pixels(seed: u64, samples: usize, features: usize) -> Vec<f32> {
    pixel_rows(seed, 0, samples, features)
}

/// Rows `first..first + rows` of [`pixels`]: how batches are built one by one, so
/// the whole data set is never held twice.
pub fn pixel_rows(seed: u64, first: usize, rows: usize, features: usize) -> Vec<f32> {
    let base = stream_base(seed, 0);
    ((first * features) as u64..((first + rows) * features) as u64).map(|i| unit(base, i)).collect()
}

/// One label in `0..classes` per sample.
pub fn labels(seed: u64, samples: usize, classes: usize) -> Vec<usize> {
    let base = stream_base(seed, 1);
    (0..samples as u64).map(|i| (splitmix64(base.wrapping_add(i)) % classes as u64) as usize).collect()
}

/// Layer `layer`'s weights (`inputs × outputs`, row-major, so `y = x·W + b`) and bias,
/// uniform in `±1/√inputs` as PyTorch's `nn.Linear` default range.
pub fn layer_init(seed: u64, layer: usize, inputs: usize, outputs: usize) -> (Vec<f32>, Vec<f32>) {
    let base = stream_base(seed, 2 + layer as u64);
    let bound = (1.0 / (inputs as f64).sqrt()) as f32;
    let value = |i: usize| (2.0 * unit(base, i as u64) - 1.0) * bound;
    let weights = (0..inputs * outputs).map(value).collect();
    let bias = (inputs * outputs..inputs * outputs + outputs).map(value).collect();
    (weights, bias)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // SplitMix64 seeded with 0 (Vigna's reference): the generator adds the golden
        // gamma before mixing, so the first output is splitmix64(0).
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn data_is_in_range_and_deterministic() {
        let x = pixels(7, 3, FEATURES);
        assert_eq!(x.len(), 3 * FEATURES);
        assert!(x.iter().all(|&v| (0.0..1.0).contains(&v)));
        assert_eq!(x, pixels(7, 3, FEATURES));
        assert_ne!(x, pixels(8, 3, FEATURES));
        assert_eq!(pixel_rows(7, 1, 2, FEATURES), x[FEATURES..]);
        let y = labels(7, 1000, CLASSES);
        assert!(y.iter().all(|&l| l < CLASSES));
        assert!((0..CLASSES).all(|c| y.contains(&c)), "every class appears");
        let (w, b) = layer_init(7, 0, 16, 4);
        assert_eq!((w.len(), b.len()), (64, 4));
        assert!(w.iter().chain(&b).all(|v| v.abs() <= 0.25));
    }
}
