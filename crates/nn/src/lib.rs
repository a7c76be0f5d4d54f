//! Layers, activations, initialisers, losses, regularisation, closed-form least squares and weight files, built as graph expressions on `tensor-core` (issue: nn).

/// Closed-form least squares and ridge regression by pivoted Householder QR, on a small
/// row-major [`closed_form::Matrix`] independent of the tensor engine.
pub mod closed_form;
/// Polynomial feature maps (scikit-learn's term order) for closed-form curve fitting.
pub mod poly;
