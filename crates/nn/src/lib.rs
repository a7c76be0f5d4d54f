//! Layers, activations, initialisers, losses, regularisation, closed-form least squares and weight files, built as graph expressions on `tensor-core` (issue: nn).

/// Closed-form least squares and ridge regression by pivoted Householder QR, on a small
/// row-major [`closed_form::Matrix`] independent of the tensor engine.
pub mod closed_form;
/// Polynomial feature maps (scikit-learn's term order) for closed-form curve fitting.
pub mod poly;
/// Safetensors weight files of named `f32`/`f64` arrays: atomic save, checked load, spec check.
pub mod weights_file;
