//! Layers, activations, initialisers, losses, regularisation, closed-form least squares and weight files, built as graph expressions on `tensor-core` (issue: nn).
