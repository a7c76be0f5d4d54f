//! Polynomial feature maps for closed-form curve fitting (tutorial §9): `x → [1, x, x², …, x^d]` for
//! one input, and every monomial of total degree ≤ d for several inputs.
//!
//! # Which terms, in which order
//! For several inputs the map has **full interaction terms**, exactly as scikit-learn's
//! `PolynomialFeatures(degree, include_bias)`: all monomials `x0^a0 · x1^a1 ⋯` with
//! `a0 + a1 + ⋯ ≤ degree`, grouped by total degree (0, 1, 2, …) and, within a degree, in the
//! order of `itertools.combinations_with_replacement(range(n_inputs), degree)`. For two inputs
//! and degree 2 that is `1, x0, x1, x0^2, x0 x1, x1^2`. [`PolynomialFeatures::feature_names`]
//! spells the terms the way scikit-learn's `get_feature_names_out` does, so a column can be
//! matched to its term by name. A map of `n` inputs to degree `d` has `C(n + d, d)` columns
//! (one fewer without the bias), so the count grows quickly with `n`.
//!
//! # Degree 0
//! Degree 0 with the bias column is the constant model (one column of ones), the left end of a
//! capacity sweep; degree 0 without the bias has no columns and is an error.

use crate::closed_form::{ClosedFormError, Matrix, Result};

/// A polynomial feature map: degree and whether to emit the constant (bias) column.
///
/// ```
/// use nn::closed_form::Matrix;
/// use nn::poly::PolynomialFeatures;
/// let map = PolynomialFeatures::new(2, true)?;
/// let x = Matrix::from_rows(&[[2.0, 3.0]])?;
/// assert_eq!(map.feature_names(2), ["1", "x0", "x1", "x0^2", "x0 x1", "x1^2"]);
/// assert_eq!(map.transform(&x)?.as_slice(), &[1.0, 2.0, 3.0, 4.0, 6.0, 9.0]);
/// # Ok::<(), nn::closed_form::ClosedFormError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolynomialFeatures {
    degree: usize,
    include_bias: bool,
}

impl PolynomialFeatures {
    /// A map to all monomials of total degree ≤ `degree`, with the constant column first when
    /// `include_bias` is true.
    ///
    /// # Errors
    /// [`ClosedFormError::NoFeatures`] for degree 0 without the bias column.
    pub fn new(degree: usize, include_bias: bool) -> Result<Self> {
        if degree == 0 && !include_bias {
            return Err(ClosedFormError::NoFeatures);
        }
        Ok(Self { degree, include_bias })
    }

    /// The highest total degree.
    pub fn degree(&self) -> usize {
        self.degree
    }

    /// Whether the constant column is emitted.
    pub fn include_bias(&self) -> bool {
        self.include_bias
    }

    /// Number of output columns for `inputs` input columns: `C(inputs + degree, degree)`, minus 1
    /// without the bias.
    ///
    /// # Errors
    /// [`ClosedFormError::TooManyFeatures`] if the count does not fit in `usize`.
    pub fn output_count(&self, inputs: usize) -> Result<usize> {
        let too_many = ClosedFormError::TooManyFeatures { degree: self.degree, inputs };
        // Terms of exact degree k number C(inputs + k − 1, k); each follows from the previous by
        // an exact integer step, so checked arithmetic is enough to catch overflow.
        let mut of_degree: u128 = 1;
        let mut total: u128 = u128::from(self.include_bias);
        for k in 1..=self.degree {
            of_degree =
                of_degree.checked_mul((inputs + k - 1) as u128).ok_or_else(|| too_many.clone())? / k as u128;
            total = total.checked_add(of_degree).ok_or_else(|| too_many.clone())?;
        }
        usize::try_from(total).map_err(|_| too_many)
    }

    /// The exponent vector of every output column, in output order: `exponents(2)[4] == [1, 1]`
    /// is the term `x0 x1` for degree 2 with bias.
    ///
    /// # Errors
    /// [`ClosedFormError::TooManyFeatures`] as [`Self::output_count`].
    pub fn exponents(&self, inputs: usize) -> Result<Vec<Vec<usize>>> {
        let mut out = Vec::with_capacity(self.output_count(inputs)?);
        for combination in self.index_combinations(inputs) {
            let mut powers = vec![0; inputs];
            for index in combination {
                powers[index] += 1;
            }
            out.push(powers);
        }
        Ok(out)
    }

    /// scikit-learn-style names of the output columns for inputs called `x0, x1, …`:
    /// `"1"`, `"x0"`, `"x0^2"`, `"x0 x1"`.
    pub fn feature_names(&self, inputs: usize) -> Vec<String> {
        let names: Vec<String> = (0..inputs).map(|i| format!("x{i}")).collect();
        self.index_combinations(inputs).map(|combination| term_name(&combination, &names)).collect()
    }

    /// Applies the map to each row of `x` (rows = samples, columns = inputs).
    ///
    /// # Errors
    /// [`ClosedFormError::Empty`] if `x` has no rows or no columns; [`ClosedFormError::NonFinite`]
    /// for NaN or ±inf inputs; [`ClosedFormError::FeatureOverflow`] if a power overflows;
    /// [`ClosedFormError::TooManyFeatures`] if the output would not fit in memory's address space.
    pub fn transform(&self, x: &Matrix) -> Result<Matrix> {
        const OP: &str = "polynomial features";
        let (rows, inputs) = (x.rows(), x.cols());
        if rows == 0 || inputs == 0 {
            return Err(ClosedFormError::Empty { op: OP, rows, cols: inputs });
        }
        for (row, values) in x.iter_rows().enumerate() {
            if let Some(col) = values.iter().position(|v| !v.is_finite()) {
                return Err(ClosedFormError::NonFinite { op: OP, what: "x", row, col, value: values[col] });
            }
        }
        let terms = self.output_count(inputs)?;
        let len = rows
            .checked_mul(terms)
            .ok_or(ClosedFormError::TooManyFeatures { degree: self.degree, inputs })?;
        let combinations: Vec<Vec<usize>> = self.index_combinations(inputs).collect();
        let mut data = Vec::with_capacity(len);
        for (row, values) in x.iter_rows().enumerate() {
            for (term, combination) in combinations.iter().enumerate() {
                // Multiplying left to right (x0·x0·x1) matches NumPy's `prod` over the same
                // columns bit for bit.
                let value: f64 = combination.iter().map(|&i| values[i]).product();
                if !value.is_finite() {
                    let names: Vec<String> = (0..inputs).map(|i| format!("x{i}")).collect();
                    return Err(ClosedFormError::FeatureOverflow {
                        row,
                        term,
                        name: term_name(combination, &names),
                        value,
                    });
                }
                data.push(value);
            }
        }
        Matrix::new(rows, terms, data)
    }

    /// The input-index multiset of every output term, in output order (see the module docs).
    fn index_combinations(&self, inputs: usize) -> impl Iterator<Item = Vec<usize>> {
        let first_degree = if self.include_bias { 0 } else { 1 };
        (first_degree..=self.degree).flat_map(move |degree| CombinationsWithReplacement::new(inputs, degree))
    }
}

/// `x → [1, x, x², …, x^degree]` for a single input: one row per value of `x`
/// (`include_bias = false` drops the leading 1).
///
/// ```
/// let m = nn::poly::powers(&[2.0, -1.0], 3, true)?;
/// assert_eq!(m.as_slice(), &[1.0, 2.0, 4.0, 8.0, 1.0, -1.0, 1.0, -1.0]);
/// # Ok::<(), nn::closed_form::ClosedFormError>(())
/// ```
///
/// # Errors
/// As [`PolynomialFeatures::new`] and [`PolynomialFeatures::transform`].
pub fn powers(x: &[f64], degree: usize, include_bias: bool) -> Result<Matrix> {
    PolynomialFeatures::new(degree, include_bias)?.transform(&Matrix::column_vector(x))
}

fn term_name(combination: &[usize], names: &[String]) -> String {
    if combination.is_empty() {
        return "1".to_owned();
    }
    let mut parts = Vec::new();
    let mut i = 0;
    while i < combination.len() {
        let index = combination[i];
        let run = combination[i..].iter().take_while(|&&j| j == index).count();
        parts.push(if run == 1 { names[index].clone() } else { format!("{}^{run}", names[index]) });
        i += run;
    }
    parts.join(" ")
}

/// Non-decreasing index tuples of length `length` over `0..n`, in lexicographic order: the order of
/// Python's `itertools.combinations_with_replacement(range(n), length)`.
struct CombinationsWithReplacement {
    n: usize,
    current: Option<Vec<usize>>,
}

impl CombinationsWithReplacement {
    fn new(n: usize, length: usize) -> Self {
        let current = if n == 0 && length > 0 { None } else { Some(vec![0; length]) };
        Self { n, current }
    }
}

impl Iterator for CombinationsWithReplacement {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        let result = self.current.take()?;
        // Advance: bump the rightmost position that is not yet at n − 1 and reset everything to
        // its right to the same value, which keeps the tuple non-decreasing.
        let mut next = result.clone();
        if let Some(position) = next.iter().rposition(|&v| v + 1 < self.n) {
            let value = next[position] + 1;
            next[position..].iter_mut().for_each(|v| *v = value);
            self.current = Some(next);
        }
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_follow_itertools_order() {
        let all: Vec<Vec<usize>> = CombinationsWithReplacement::new(3, 2).collect();
        let expected = [[0, 0], [0, 1], [0, 2], [1, 1], [1, 2], [2, 2]];
        assert_eq!(all, expected.map(|c| c.to_vec()));
        assert_eq!(CombinationsWithReplacement::new(4, 0).count(), 1);
        assert_eq!(CombinationsWithReplacement::new(0, 1).count(), 0);
    }

    #[test]
    fn output_count_matches_enumeration() {
        for inputs in 1..5 {
            for degree in 0..5 {
                for bias in [true, false] {
                    let Ok(map) = PolynomialFeatures::new(degree, bias) else {
                        continue;
                    };
                    assert_eq!(
                        map.output_count(inputs).unwrap(),
                        map.index_combinations(inputs).count(),
                        "inputs {inputs}, degree {degree}, bias {bias}"
                    );
                }
            }
        }
    }
}
