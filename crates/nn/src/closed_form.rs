//! Closed-form linear models (tutorial §9–10): ordinary least squares and ridge regression, solved
//! with a column-pivoted Householder QR factorisation rather than by inverting `XᵀX`.
//!
//! # Why QR and not the tutorial's `β = (XᵀX)⁻¹Xᵀy`
//! Forming `XᵀX` squares the condition number of `X`, so a polynomial design matrix that is merely
//! ill-conditioned becomes numerically singular and an explicit inverse turns rounding error into
//! garbage coefficients. A Householder QR works on `X` itself: `X·P = Q·R`, then `R·β' = Qᵀy` is
//! solved by back substitution. Column pivoting (largest remaining column first) makes the
//! diagonal of `R` non-increasing in magnitude, so it reveals the numerical rank.
//!
//! Ridge is solved as the ordinary least-squares problem on the augmented system
//! `[X; √λ·I]·β ≈ [y; 0]`, whose normal equations are exactly `(XᵀX + λI)·β = Xᵀy`; this keeps the
//! QR's stability and needs no second solver.
//!
//! # Rank deficiency
//! The numerical rank is the number of pivots with `|R_kk| > max(rows, cols)·ε·|R_00|` (the same
//! relative tolerance as NumPy's `matrix_rank`). If it is below the number of columns, least
//! squares has no unique answer and [`least_squares`] returns
//! [`ClosedFormError::RankDeficient`] instead of an arbitrary or NaN-filled solution.
//!
//! # Intercepts
//! With [`Intercept::Fit`] the columns of `X` and `y` are centred on their means, the centred
//! problem is solved, and the intercept is recovered as `ȳ − x̄·β`. For least squares this is the
//! same as appending a column of ones; for ridge it means the intercept is **not penalised**
//! (scikit-learn's `Ridge(fit_intercept=True)` does the same). A consequence: a constant column in
//! `X` (such as the bias column of [`crate::poly::PolynomialFeatures`]) becomes zero after
//! centring, so least squares with [`Intercept::Fit`] reports it as rank deficient — drop the bias
//! column (`include_bias = false`) when fitting an intercept.

use thiserror::Error;

/// Errors from building matrices, polynomial features and fitting closed-form models.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ClosedFormError {
    /// The data vector does not hold `rows × cols` values.
    #[error("matrix: {rows}×{cols} needs {expected} values, got {actual}")]
    DataLength {
        /// Requested number of rows.
        rows: usize,
        /// Requested number of columns.
        cols: usize,
        /// `rows × cols` (saturating).
        expected: usize,
        /// Length of the data given.
        actual: usize,
    },
    /// Rows of different lengths were given to [`Matrix::from_rows`].
    #[error("matrix from rows: row {row} has {actual} values, row 0 has {expected}")]
    RaggedRows {
        /// Index of the first row whose length differs from row 0.
        row: usize,
        /// Length of row 0.
        expected: usize,
        /// Length of the offending row.
        actual: usize,
    },
    /// An operation got an input with no rows or no columns.
    #[error("{op}: input is empty ({rows} rows × {cols} columns)")]
    Empty {
        /// Operation that refused the input.
        op: &'static str,
        /// Number of rows given.
        rows: usize,
        /// Number of columns given.
        cols: usize,
    },
    /// An input holds NaN or ±inf.
    #[error("{op}: {what}[{row}, {col}] is {value}, not a finite number")]
    NonFinite {
        /// Operation that refused the input.
        op: &'static str,
        /// Which input: `"X"`, `"y"` or `"x"`.
        what: &'static str,
        /// Row of the offending value.
        row: usize,
        /// Column of the offending value (0 for vectors).
        col: usize,
        /// The offending value.
        value: f64,
    },
    /// The number of targets differs from the number of rows of `X`.
    #[error("{op}: X has {x_rows} rows but y has {y_len} values")]
    TargetLength {
        /// Operation that refused the input.
        op: &'static str,
        /// Rows of `X`.
        x_rows: usize,
        /// Length of `y`.
        y_len: usize,
    },
    /// `predict` got a matrix with a different number of columns than the model was fitted on.
    #[error("predict: model was fitted on {expected} columns, X has {actual}")]
    FeatureCount {
        /// Number of coefficients of the model.
        expected: usize,
        /// Columns of the matrix given to `predict`.
        actual: usize,
    },
    /// The ridge penalty is negative, NaN or infinite.
    #[error("ridge: lambda must be finite and >= 0, got {lambda}")]
    InvalidLambda {
        /// The rejected penalty.
        lambda: f64,
    },
    /// The (centred, if fitting an intercept) design matrix has numerical rank below its number of
    /// columns, so the least-squares coefficients are not unique.
    #[error(
        "{op}: design matrix is rank deficient (numerical rank {rank} < {columns} columns); \
         remove duplicate or constant columns, use fewer features than rows, or use ridge with lambda > 0"
    )]
    RankDeficient {
        /// Operation that detected it.
        op: &'static str,
        /// Numerical rank found by the pivoted QR.
        rank: usize,
        /// Number of columns of the design matrix.
        columns: usize,
    },
    /// Polynomial features: degree 0 without the bias column leaves no columns at all.
    #[error("polynomial features: degree 0 without the bias column produces no features")]
    NoFeatures,
    /// Polynomial features: the number of output columns does not fit in `usize`.
    #[error("polynomial features: degree {degree} of {inputs} inputs has too many terms to count")]
    TooManyFeatures {
        /// Requested degree.
        degree: usize,
        /// Number of input columns.
        inputs: usize,
    },
    /// Polynomial features: a power overflowed to ±inf.
    #[error("polynomial features: term {term} ({name}) of row {row} overflows to {value}; scale the inputs")]
    FeatureOverflow {
        /// Row of the input.
        row: usize,
        /// Index of the output column.
        term: usize,
        /// sklearn-style name of the term, e.g. `x0^2 x1`.
        name: String,
        /// The non-finite result.
        value: f64,
    },
    /// A fit produced a non-finite coefficient (only possible when intermediate values overflow).
    #[error("{op}: solution is not finite (coefficient {index} = {value}); scale the inputs")]
    NonFiniteSolution {
        /// Operation that produced it.
        op: &'static str,
        /// Index of the first non-finite coefficient.
        index: usize,
        /// Its value.
        value: f64,
    },
}

/// Result type of this module and of [`crate::poly`].
pub type Result<T> = std::result::Result<T, ClosedFormError>;

/// A dense row-major `f64` matrix: row `r` holds samples, columns hold features (tutorial §2's layout).
///
/// Deliberately tiny and independent of the tensor engine: closed-form fitting needs no gradients.
///
/// ```
/// use nn::closed_form::Matrix;
/// let m = Matrix::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0]])?;
/// assert_eq!((m.rows(), m.cols()), (2, 2));
/// assert_eq!(m.get(1, 0), Some(3.0));
/// assert_eq!(m.row(0), Some(&[1.0, 2.0][..]));
/// # Ok::<(), nn::closed_form::ClosedFormError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Matrix {
    /// Builds a `rows × cols` matrix from row-major `data`.
    ///
    /// # Errors
    /// [`ClosedFormError::DataLength`] if `data.len() != rows * cols`.
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Result<Self> {
        let expected = rows.checked_mul(cols);
        if expected != Some(data.len()) {
            return Err(ClosedFormError::DataLength {
                rows,
                cols,
                expected: expected.unwrap_or(usize::MAX),
                actual: data.len(),
            });
        }
        Ok(Self { rows, cols, data })
    }

    /// Builds a matrix from a slice of rows, each of the same length.
    ///
    /// # Errors
    /// [`ClosedFormError::RaggedRows`] if the rows differ in length. No rows gives a `0 × 0` matrix.
    pub fn from_rows<R: AsRef<[f64]>>(rows: &[R]) -> Result<Self> {
        let cols = rows.first().map_or(0, |r| r.as_ref().len());
        let mut data = Vec::with_capacity(rows.len() * cols);
        for (index, row) in rows.iter().enumerate() {
            let row = row.as_ref();
            if row.len() != cols {
                return Err(ClosedFormError::RaggedRows { row: index, expected: cols, actual: row.len() });
            }
            data.extend_from_slice(row);
        }
        Ok(Self { rows: rows.len(), cols, data })
    }

    /// A one-column matrix holding `values` (one sample per row).
    pub fn column_vector(values: &[f64]) -> Self {
        Self { rows: values.len(), cols: 1, data: values.to_vec() }
    }

    /// Number of rows (samples).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (features).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The element at (`row`, `col`), or `None` out of range.
    pub fn get(&self, row: usize, col: usize) -> Option<f64> {
        if row < self.rows && col < self.cols { self.data.get(row * self.cols + col).copied() } else { None }
    }

    /// Row `row` as a slice, or `None` out of range.
    pub fn row(&self, row: usize) -> Option<&[f64]> {
        if row < self.rows { self.data.get(row * self.cols..(row + 1) * self.cols) } else { None }
    }

    /// Iterates over the rows as slices.
    pub fn iter_rows(&self) -> impl Iterator<Item = &[f64]> {
        // `max(1)` keeps `chunks_exact` legal for zero-column matrices, which have no data anyway.
        self.data.chunks_exact(self.cols.max(1)).take(if self.cols == 0 { 0 } else { self.rows })
    }

    /// All values, row-major.
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }

    /// Consumes the matrix and returns its row-major values.
    pub fn into_vec(self) -> Vec<f64> {
        self.data
    }

    /// Index of the first non-finite value, as (row, col, value).
    fn first_non_finite(&self) -> Option<(usize, usize, f64)> {
        self.data.iter().position(|v| !v.is_finite()).map(|i| (i / self.cols, i % self.cols, self.data[i]))
    }
}

/// Whether a fitted model has an (unpenalised) intercept term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Intercept {
    /// Fit an intercept: centre `X` and `y`, solve, recover `b = ȳ − x̄·β`. Ridge does not penalise it.
    #[default]
    Fit,
    /// No intercept: the model is `y = X·β` exactly (include a column of ones yourself if wanted).
    None,
}

/// A fitted linear model `ŷ = X·β + b`, from [`least_squares`] or [`ridge`].
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    coefficients: Vec<f64>,
    intercept: f64,
    lambda: f64,
}

impl LinearModel {
    /// The coefficients `β`, one per column of the design matrix.
    pub fn coefficients(&self) -> &[f64] {
        &self.coefficients
    }

    /// The intercept `b` (0 when fitted with [`Intercept::None`]).
    pub fn intercept(&self) -> f64 {
        self.intercept
    }

    /// The ridge penalty `λ` the model was fitted with (0 for least squares).
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// Predictions `X·β + b`, one per row of `x`.
    ///
    /// # Errors
    /// [`ClosedFormError::FeatureCount`] if `x` has a different number of columns than the
    /// training matrix; [`ClosedFormError::NonFinite`] if `x` holds NaN or ±inf.
    pub fn predict(&self, x: &Matrix) -> Result<Vec<f64>> {
        if x.cols() != self.coefficients.len() {
            return Err(ClosedFormError::FeatureCount {
                expected: self.coefficients.len(),
                actual: x.cols(),
            });
        }
        if let Some((row, col, value)) = x.first_non_finite() {
            return Err(ClosedFormError::NonFinite { op: "predict", what: "X", row, col, value });
        }
        Ok(x.iter_rows().map(|row| dot(row, &self.coefficients) + self.intercept).collect())
    }
}

/// Ordinary least squares: `β = argmin ‖X·β + b − y‖²`, by column-pivoted Householder QR.
///
/// ```
/// use nn::closed_form::{least_squares, Intercept, Matrix};
/// // y = 1 + 2x exactly.
/// let x = Matrix::column_vector(&[0.0, 1.0, 2.0, 3.0]);
/// let model = least_squares(&x, &[1.0, 3.0, 5.0, 7.0], Intercept::Fit)?;
/// assert!((model.coefficients()[0] - 2.0).abs() < 1e-12);
/// assert!((model.intercept() - 1.0).abs() < 1e-12);
/// assert!((model.predict(&Matrix::column_vector(&[10.0]))?[0] - 21.0).abs() < 1e-12);
/// # Ok::<(), nn::closed_form::ClosedFormError>(())
/// ```
///
/// # Errors
/// [`ClosedFormError::Empty`], [`ClosedFormError::TargetLength`], [`ClosedFormError::NonFinite`]
/// for bad input; [`ClosedFormError::RankDeficient`] when the coefficients are not unique (see the
/// module docs for the tolerance and for why a bias column plus [`Intercept::Fit`] triggers it).
pub fn least_squares(x: &Matrix, y: &[f64], intercept: Intercept) -> Result<LinearModel> {
    fit("least squares", x, y, 0.0, intercept)
}

/// Ridge regression: `β = argmin ‖X·β + b − y‖² + λ‖β‖²` with `λ ≥ 0`; the intercept `b` is not
/// penalised. `λ = 0` is ordinary least squares (and can be rank deficient); any `λ > 0` that is
/// not negligible next to `‖X‖²` gives a unique answer even for duplicate columns.
///
/// ```
/// use nn::closed_form::{ridge, Intercept, Matrix};
/// // Two identical columns: least squares is rank deficient, ridge splits the weight evenly.
/// let x = Matrix::from_rows(&[[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])?;
/// let model = ridge(&x, &[2.0, 4.0, 6.0], 0.1, Intercept::None)?;
/// let [a, b] = model.coefficients() else { unreachable!() };
/// assert!((a - b).abs() < 1e-12 && (a + b - 2.0).abs() < 0.01);
/// # Ok::<(), nn::closed_form::ClosedFormError>(())
/// ```
///
/// # Errors
/// As [`least_squares`], plus [`ClosedFormError::InvalidLambda`] for `λ < 0`, NaN or ±inf.
pub fn ridge(x: &Matrix, y: &[f64], lambda: f64, intercept: Intercept) -> Result<LinearModel> {
    if !(lambda.is_finite() && lambda >= 0.0) {
        return Err(ClosedFormError::InvalidLambda { lambda });
    }
    fit("ridge", x, y, lambda, intercept)
}

fn fit(op: &'static str, x: &Matrix, y: &[f64], lambda: f64, intercept: Intercept) -> Result<LinearModel> {
    let (rows, cols) = (x.rows(), x.cols());
    if rows == 0 || cols == 0 {
        return Err(ClosedFormError::Empty { op, rows, cols });
    }
    if y.len() != rows {
        return Err(ClosedFormError::TargetLength { op, x_rows: rows, y_len: y.len() });
    }
    if let Some((row, col, value)) = x.first_non_finite() {
        return Err(ClosedFormError::NonFinite { op, what: "X", row, col, value });
    }
    if let Some(row) = y.iter().position(|v| !v.is_finite()) {
        return Err(ClosedFormError::NonFinite { op, what: "y", row, col: 0, value: y[row] });
    }

    let (x_means, y_mean) = match intercept {
        Intercept::Fit => (column_means(x), y.iter().sum::<f64>() / rows as f64),
        Intercept::None => (vec![0.0; cols], 0.0),
    };

    // The augmented system [X − x̄; √λ·I]·β ≈ [y − ȳ; 0] carries the ridge penalty as extra rows.
    let penalty_rows = if lambda > 0.0 { cols } else { 0 };
    let total_rows = rows + penalty_rows;
    let mut a = Vec::with_capacity(total_rows * cols);
    for row in x.iter_rows() {
        a.extend(row.iter().zip(&x_means).map(|(v, m)| v - m));
    }
    let sqrt_lambda = lambda.sqrt();
    for k in 0..penalty_rows {
        a.extend((0..cols).map(|j| if j == k { sqrt_lambda } else { 0.0 }));
    }
    let mut b: Vec<f64> = y.iter().map(|v| v - y_mean).collect();
    b.resize(total_rows, 0.0);

    let coefficients = solve_pivoted_qr(op, &mut a, total_rows, cols, &mut b)?;
    if let Some(index) = coefficients.iter().position(|v| !v.is_finite()) {
        return Err(ClosedFormError::NonFiniteSolution { op, index, value: coefficients[index] });
    }
    let intercept_value = y_mean - dot(&x_means, &coefficients);
    Ok(LinearModel { coefficients, intercept: intercept_value, lambda })
}

fn column_means(x: &Matrix) -> Vec<f64> {
    let mut sums = vec![0.0; x.cols()];
    for row in x.iter_rows() {
        for (s, v) in sums.iter_mut().zip(row) {
            *s += v;
        }
    }
    let n = x.rows() as f64;
    sums.iter_mut().for_each(|s| *s /= n);
    sums
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Numerical rank of `x` by column-pivoted Householder QR, with the tolerance described in the
/// module docs. An empty matrix has rank 0.
///
/// ```
/// use nn::closed_form::{rank, Matrix};
/// let x = Matrix::from_rows(&[[1.0, 2.0, 3.0], [2.0, 4.0, 6.5], [3.0, 6.0, 9.0]])?;
/// assert_eq!(rank(&x), 2); // the second column is twice the first
/// # Ok::<(), nn::closed_form::ClosedFormError>(())
/// ```
pub fn rank(x: &Matrix) -> usize {
    let mut a = x.as_slice().to_vec();
    let (rows, cols) = (x.rows(), x.cols());
    if rows == 0 || cols == 0 || x.first_non_finite().is_some() {
        return 0;
    }
    let mut b = vec![0.0; rows];
    let mut permutation = Vec::new();
    householder_qr(&mut a, rows, cols, &mut b, &mut permutation)
}

/// Solves `min ‖A·β − b‖` for row-major `a` (`rows × cols`), overwriting `a` and `b`.
fn solve_pivoted_qr(
    op: &'static str,
    a: &mut [f64],
    rows: usize,
    cols: usize,
    b: &mut [f64],
) -> Result<Vec<f64>> {
    let mut permutation = Vec::new();
    let rank = householder_qr(a, rows, cols, b, &mut permutation);
    if rank < cols {
        return Err(ClosedFormError::RankDeficient { op, rank, columns: cols });
    }
    // Back substitution on the upper-triangular R (top `cols` rows of `a`), giving β in pivoted order.
    let mut permuted = vec![0.0; cols];
    for k in (0..cols).rev() {
        let tail: f64 = (k + 1..cols).map(|j| a[k * cols + j] * permuted[j]).sum();
        permuted[k] = (b[k] - tail) / a[k * cols + k];
    }
    let mut beta = vec![0.0; cols];
    for (k, &column) in permutation.iter().enumerate() {
        beta[column] = permuted[k];
    }
    Ok(beta)
}

/// In-place column-pivoted Householder QR of row-major `a`, applying `Qᵀ` to `b` as it goes.
///
/// Afterwards the upper triangle of the first `rank` rows of `a` holds `R` (for the columns in the
/// order given by `permutation`, where `permutation[k]` is the original index of column `k`), and
/// `b` holds `Qᵀb`. Returns the numerical rank; stops factorising once the remaining columns are
/// negligible.
fn householder_qr(
    a: &mut [f64],
    rows: usize,
    cols: usize,
    b: &mut [f64],
    permutation: &mut Vec<usize>,
) -> usize {
    permutation.clear();
    permutation.extend(0..cols);
    let steps = rows.min(cols);
    let tolerance_factor = rows.max(cols) as f64 * f64::EPSILON;
    let mut largest_pivot = 0.0_f64;

    for k in 0..steps {
        // Pick the remaining column with the largest norm below row k. Norms are recomputed each
        // step instead of downdated: downdating loses accuracy exactly when columns are nearly
        // dependent, which is the case rank detection must get right. The cost stays O(rows·cols²).
        let (mut best, mut best_norm) = (k, -1.0);
        for j in k..cols {
            let norm = hypot_column(a, rows, cols, j, k);
            if norm > best_norm {
                (best, best_norm) = (j, norm);
            }
        }
        if k == 0 {
            largest_pivot = best_norm;
        }
        if best_norm <= tolerance_factor * largest_pivot || best_norm == 0.0 {
            return k;
        }
        if best != k {
            for i in 0..rows {
                a.swap(i * cols + k, i * cols + best);
            }
            permutation.swap(k, best);
        }

        // Householder reflector H = I − τ·v·vᵀ with v[k] = 1 mapping a[k.., k] to (α, 0, …, 0).
        // α takes the sign opposite to a[k][k] so that v[k] = a[k][k] − α never cancels.
        let head = a[k * cols + k];
        let alpha = if head >= 0.0 { -best_norm } else { best_norm };
        let v_head = head - alpha;
        let tau = -v_head / alpha;
        for i in k + 1..rows {
            a[i * cols + k] /= v_head;
        }
        a[k * cols + k] = alpha;

        for j in k + 1..cols {
            let mut s = a[k * cols + j];
            for i in k + 1..rows {
                s += a[i * cols + k] * a[i * cols + j];
            }
            s *= tau;
            a[k * cols + j] -= s;
            for i in k + 1..rows {
                a[i * cols + j] -= s * a[i * cols + k];
            }
        }
        let mut s = b[k];
        for i in k + 1..rows {
            s += a[i * cols + k] * b[i];
        }
        s *= tau;
        b[k] -= s;
        for i in k + 1..rows {
            b[i] -= s * a[i * cols + k];
        }
    }
    steps
}

/// Euclidean norm of column `j` from row `from` down, scaled to avoid overflow and underflow.
fn hypot_column(a: &[f64], rows: usize, cols: usize, j: usize, from: usize) -> f64 {
    let scale = (from..rows).fold(0.0_f64, |m, i| m.max(a[i * cols + j].abs()));
    if scale == 0.0 {
        return 0.0;
    }
    let sum: f64 = (from..rows)
        .map(|i| {
            let v = a[i * cols + j] / scale;
            v * v
        })
        .sum();
    scale * sum.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn householder_reflector_reproduces_a_hand_solved_fit() {
        // Points (0,1), (1,2), (2,2): normal equations [[3,3],[3,5]]·[b,m] = [5,6] give
        // m = 1/2, b = 7/6.
        let x = Matrix::from_rows(&[[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]]).unwrap();
        let model = least_squares(&x, &[1.0, 2.0, 2.0], Intercept::None).unwrap();
        assert!((model.coefficients()[0] - 7.0 / 6.0).abs() < 1e-14);
        assert!((model.coefficients()[1] - 0.5).abs() < 1e-14);
    }

    #[test]
    fn rank_of_wide_and_zero_matrices() {
        let wide = Matrix::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 7.0]]).unwrap();
        assert_eq!(rank(&wide), 2);
        assert_eq!(rank(&Matrix::new(3, 2, vec![0.0; 6]).unwrap()), 0);
        assert_eq!(rank(&Matrix::new(0, 2, Vec::new()).unwrap()), 0);
    }
}
