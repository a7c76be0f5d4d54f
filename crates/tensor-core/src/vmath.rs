//! Vectorisable f32 transcendental kernels: `exp`, `tanh`, `sigmoid` and the
//! standard normal distribution `Φ` / density `φ` behind GELU.
//!
//! Each is a scalar function written only with `+ − × ÷`, comparisons turned into
//! selects and integer bit operations — no math-library call and no branch the
//! compiler cannot turn into a blend — so a loop over a slice compiles to SIMD. The
//! slice loops run under [`pulp::Arch::dispatch`] (pulp is already in the tree
//! through `gemm`), which enables AVX2/AVX-512 at run time when the CPU has them,
//! safely. No `mul_add` and no fast-math: every lane rounds exactly as the scalar
//! code does, so a value does not depend on whether it was in a vector body or a
//! tail, on the vector width, or on the thread count.
//!
//! **Accuracy** (f32, max error in units in the last place against the f64 function
//! rounded to f32, over every 17th f32 bit pattern of the whole range — ≈ 2.5·10⁸
//! inputs, every 67th for Φ and GELU — plus the specials; `tests` below asserts
//! these bounds):
//! - `exp`: ≤ 1 ulp (subnormal results included); `exp(−∞) = 0`, `exp(+∞) = +∞`,
//!   overflow above 88.72 gives +∞, underflow below −103.97 gives 0.
//! - `tanh`: ≤ 2 ulp; `tanh(±∞) = ±1`, large |x| gives exactly ±1, `tanh(±0) = ±0`.
//! - `sigmoid`: ≤ 2 ulp, subnormal results included; σ(+∞) = 1, σ(−∞) = 0.
//! - `normal_cdf` Φ: measured ≤ 7 ulp (relative error ≤ 6·10⁻⁷, the limit of the
//!   erfc fit evaluated in f32; asserted ≤ 10) where Φ(x) is a normal f32; in the
//!   subnormal tail (x < −13.2) within 2⁻¹⁴⁴ absolute. One exponential per element.
//! - `gelu` x·Φ(x): measured ≤ 13 ulp (asserted ≤ 16) where the result is normal,
//!   within 2⁻¹⁴⁴ absolute where it is subnormal. One exponential.
//! - GELU's slope Φ(x) + x·φ(x): measured within 9.3 ulp of the terms' magnitude
//!   (asserted ≤ 12.5; the sum cancels near x ≈ −0.75, so a bound relative to the
//!   result is meaningless there). Two exponentials.
//!
//! NaN propagates through every kernel (as std).

// The polynomial coefficients are written as published (Cephes, Numerical Recipes);
// some carry digits beyond f32, which round to the same f32 value.
#![allow(clippy::excessive_precision)]

/// Runs `f` with the best instruction set this CPU has enabled for the compiler.
#[inline(always)]
pub(crate) fn dispatch<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}

const LOG2E: f32 = std::f32::consts::LOG2_E;
// ln 2 split so that n·LN2_HI is exact for |n| ≤ 2⁸ (Cody–Waite).
const LN2_HI: f32 = 0.693_359_375;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5·2²³: adding it rounds an |x| < 2²² to an integer held in the low mantissa bits.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// `eˣ` in f32, ≤ 1 ulp (see the module's doc).
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    exp_sum_f32(x, 0.0)
}

/// `e^(a + b)` in f32, where `a` is exact and `b` is small next to it, without
/// rounding `a + b` first: the argument reduction subtracts `n·ln2` from `a` (for the
/// `a` this module passes, `a − n·ln2_hi` is exact, see [`exp_neg_half_square_times`])
/// and only then adds `b`. With `b = 0` this is `exp`, ≤ 1 ulp.
#[inline(always)]
fn exp_sum_f32(a: f32, b: f32) -> f32 {
    // Past these limits the result is +∞ or 0; clamping keeps the integer part in
    // range (NaN passes through the comparisons and is restored at the end).
    const HI: f32 = 88.722_84;
    const LO: f32 = -103.972_08;
    let x = a + b;
    let xc = x.clamp(LO, HI);
    let t = xc * LOG2E + ROUND_MAGIC;
    let n = t - ROUND_MAGIC;
    let k = (t.to_bits() as i32).wrapping_sub(ROUND_MAGIC.to_bits() as i32);
    let r = (a - n * LN2_HI) + b - n * LN2_LO;
    // e^r on |r| ≤ ln2/2 (Cephes expf's minimax polynomial).
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1;
    let p = p * r * r + r + 1.0;
    // 2^k in two exact factors, so subnormal results (k < −126) and k = 128 work.
    let k1 = k >> 1;
    let k2 = k - k1;
    let s1 = f32::from_bits(((k1 + 127) << 23) as u32);
    let s2 = f32::from_bits(((k2 + 127) << 23) as u32);
    let y = p * s1 * s2;
    let y = if x > HI { f32::INFINITY } else { y };
    let y = if x < LO { 0.0 } else { y };
    if x.is_nan() { x } else { y }
}

/// `tanh x` in f32, ≤ 2 ulp.
#[inline(always)]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    // Small |x|: an odd polynomial (Cephes tanhf), exact at 0 and keeping −0.
    let z = x * x;
    let small = (((((-5.704_988_7e-3 * z + 2.063_908_9e-2) * z - 5.373_971_6e-2) * z + 1.333_144_2e-1) * z
        - 3.333_328_2e-1)
        * z)
        * x
        + x;
    // Large |x|: 1 − 2/(e^{2|x|} + 1), which is exactly 1 once e^{2|x|} is large.
    let large = (1.0 - 2.0 / (exp_f32(2.0 * a) + 1.0)).copysign(x);
    // ±0 as they came (the polynomial would turn −0 into +0).
    if x == 0.0 {
        x
    } else if a < 0.625 {
        small
    } else {
        large
    }
}

/// σ(x) = 1/(1 + e^−x) in f32, ≤ 2 ulp: `e = e^−|x|` never overflows, and for
/// x < 0 the form `e/(1 + e)` keeps the relative accuracy down to subnormals.
#[inline(always)]
pub(crate) fn sigmoid_f32(x: f32) -> f32 {
    let e = exp_f32(-x.abs());
    let num = if x >= 0.0 { 1.0 } else { e };
    let y = num / (1.0 + e);
    if x.is_nan() { x } else { y }
}

/// `e^{−x²/2 + b}` for x ≥ 0 without the rounding error of `x²` (or of `x/√2`),
/// which would cost ~x² ulp, in **one** exponential: `x = h + l` with `h` holding 12
/// significant bits, so `h²/2` is exact and `x²/2 = h²/2 + l(x + h)/2`; the exact
/// `−h²/2` goes to [`exp_sum_f32`] as its exact part and the small rest (with `b`)
/// as its correction. (`h²` has at most 24 significant bits and `n·ln2_hi` at most 17
/// on a grid at least as coarse, so their difference, below 1 in magnitude where
/// `h ≥ 1`, is exact; for `h < 1` the reduction is exact or `n = 0`.)
#[inline(always)]
fn exp_neg_half_square_times(x: f32, b: f32) -> f32 {
    let h = f32::from_bits(x.to_bits() & 0xffff_f000);
    let l = x - h;
    let y = exp_sum_f32(-0.5 * (h * h), b - 0.5 * (l * (x + h)));
    // e^{−x²/2} is 0 in f32 beyond x ≈ 14.4; this also gives e^{−∞} = 0 where `l`
    // would be ∞ − ∞.
    if x > 14.5 { 0.0 } else { y }
}

/// The polynomial `P(t)` of Numerical Recipes' `erfcc`, `t = 1/(1 + z/2)`.
#[inline(always)]
fn erfc_poly(t: f32) -> f32 {
    -1.265_512_2
        + t * (1.000_023_7
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))))
}

/// `t = 1/(1 + z/2)` for `z = |x|/√2`, the variable of [`erfc_poly`].
#[inline(always)]
fn erfc_t(a: f32) -> f32 {
    1.0 / (1.0 + 0.5 * (a * FRAC_1_SQRT_2))
}

/// erfc(|x|/√2) (Numerical Recipes' `erfcc`, a Chebyshev fit with fractional error
/// < 1.2·10⁻⁷ everywhere): `t·e^{−z² + P(t)}`, `z = |x|/√2`, evaluated as
/// `t·e^{−x²/2 + P(t)}` with the large `x²/2` split off exactly — one exponential
/// (there were three: `e^{−h²/2}`, `e^{−l(x+h)/2}` and `e^{P(t)}`, multiplied).
#[inline(always)]
fn erfc_half(a: f32) -> f32 {
    let t = erfc_t(a);
    t * exp_neg_half_square_times(a, erfc_poly(t))
}

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1/√(2π).
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// Φ(x) = ½·erfc(−x/√2), the standard normal distribution: accurate in relative
/// terms in the lower tail, where `½(1 + erf)` would cancel.
#[inline(always)]
pub(crate) fn normal_cdf_f32(x: f32) -> f32 {
    let c = erfc_half(x.abs());
    let y = if x <= 0.0 { 0.5 * c } else { 1.0 - 0.5 * c };
    if x.is_nan() { x } else { y }
}

/// GELU, `x·Φ(x)`.
#[inline(always)]
pub(crate) fn gelu_f32(x: f32) -> f32 {
    // The limit at −∞ is −0 (where −∞·0 would be NaN).
    if x == f32::NEG_INFINITY { -0.0 } else { x * normal_cdf_f32(x) }
}

/// GELU's slope `Φ(x) + x·φ(x)`, in two exponentials: `E = e^{−x²/2}` (shared by φ
/// and Φ) and `e^{P(t)}`, where Φ and φ apart would take three.
#[inline(always)]
pub(crate) fn gelu_slope_f32(x: f32) -> f32 {
    let a = x.abs();
    let t = erfc_t(a);
    let e = exp_neg_half_square_times(a, 0.0);
    let c = t * e * exp_f32(erfc_poly(t));
    let cdf = if x <= 0.0 { 0.5 * c } else { 1.0 - 0.5 * c };
    let cdf = if x.is_nan() { x } else { cdf };
    // At ±∞ the slope is Φ(±∞) (where ±∞·φ = ±∞·0 would be NaN).
    if x.is_infinite() { cdf } else { cdf + x * (e * FRAC_1_SQRT_2PI) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The distance in representable f32 values between `a` and `b` (0 when equal,
    /// both NaN counts as equal).
    fn ulps(a: f32, b: f32) -> u64 {
        if a.is_nan() && b.is_nan() {
            return 0;
        }
        let key = |v: f32| {
            let bits = v.to_bits() as i64;
            if bits < 0x8000_0000 { bits } else { 0x8000_0000 - bits }
        };
        (key(a) - key(b)).unsigned_abs()
    }

    /// Largest ulp error of `f` against the f64 `reference` rounded to f32 over
    /// every `step`-th bit pattern (both signs), skipping inputs where `skip` says
    /// so; also the worst input, for the failure message.
    fn worst(
        step: usize,
        f: impl Fn(f32) -> f32,
        reference: impl Fn(f64) -> f64,
        skip: impl Fn(f32, f64) -> bool,
    ) -> (u64, f32) {
        let mut max = (0, 0.0);
        for bits in (0..=u32::MAX).step_by(step) {
            let x = f32::from_bits(bits);
            let r = reference(x as f64);
            if x.is_nan() || skip(x, r) {
                continue;
            }
            let e = ulps(f(x), r as f32);
            if e > max.0 {
                max = (e, x);
            }
        }
        max
    }

    const STEP: usize = 17;
    /// Sampling for Φ and GELU (slower to check than one exponential).
    const CDF_STEP: usize = 67;

    #[test]
    fn exp_is_within_one_ulp_over_the_whole_range() {
        let (e, x) = worst(STEP, exp_f32, f64::exp, |_, _| false);
        assert!(e <= 1, "exp: {e} ulp at {x:e}");
    }

    #[test]
    fn tanh_is_within_two_ulp_over_the_whole_range() {
        let (e, x) = worst(STEP, tanh_f32, f64::tanh, |_, _| false);
        assert!(e <= 2, "tanh: {e} ulp at {x:e}");
    }

    #[test]
    fn sigmoid_is_within_two_ulp_over_the_whole_range() {
        let (e, x) = worst(STEP, sigmoid_f32, |v| 1.0 / (1.0 + (-v).exp()), |_, _| false);
        assert!(e <= 2, "sigmoid: {e} ulp at {x:e}");
    }

    /// The f64 reference Φ(x) = ½·erfc(−x/√2).
    fn cdf64(x: f64) -> f64 {
        0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
    }

    #[test]
    fn normal_cdf_and_gelu_are_within_their_stated_ulp_where_normal() {
        let normal = f32::MIN_POSITIVE as f64;
        let (e, x) = worst(CDF_STEP, normal_cdf_f32, cdf64, |_, r| r < normal);
        assert!(e <= 10, "normal_cdf: {e} ulp at {x:e}");
        let (e, x) = worst(CDF_STEP, gelu_f32, |v| v * cdf64(v), |_, r| r.abs() < normal);
        assert!(e <= 16, "gelu: {e} ulp at {x:e}");
        // Subnormal tails: small absolute error.
        for bits in (0..=u32::MAX).step_by(CDF_STEP) {
            let x = f32::from_bits(bits);
            let r = x as f64 * cdf64(x as f64);
            if !x.is_nan() && r.abs() < normal {
                assert!((gelu_f32(x) as f64 - r).abs() <= 2f64.powi(-144), "gelu tail at {x:e}");
            }
        }
    }

    #[test]
    fn gelu_slope_is_within_a_few_ulp_of_its_terms() {
        // Φ(x) + x·φ(x) cancels near x ≈ −0.75, so the bound is relative to the
        // terms' magnitude, not to the result.
        let pdf = |v: f64| (-0.5 * v * v).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let mut worst: f64 = 0.0;
        for i in -20_000..=20_000 {
            let x = i as f32 * 0.001;
            let (c, p) = (cdf64(x as f64), x as f64 * pdf(x as f64));
            let scale = (c.abs() + p.abs()).max(f32::MIN_POSITIVE as f64) * f32::EPSILON as f64;
            worst = worst.max((gelu_slope_f32(x) as f64 - (c + p)).abs() / scale);
        }
        assert!(worst <= 12.5, "gelu slope: {worst} ulp of its terms");
    }

    #[test]
    fn specials_behave_as_std() {
        let (inf, nan) = (f32::INFINITY, f32::NAN);
        assert_eq!(exp_f32(-inf), 0.0);
        assert_eq!(exp_f32(inf), inf);
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(89.0), inf);
        assert_eq!(exp_f32(-110.0), 0.0);
        assert_eq!(tanh_f32(inf), 1.0);
        assert_eq!(tanh_f32(-inf), -1.0);
        assert_eq!(tanh_f32(20.0), 1.0);
        assert_eq!(tanh_f32(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(sigmoid_f32(inf), 1.0);
        assert_eq!(sigmoid_f32(-inf), 0.0);
        assert_eq!(sigmoid_f32(0.0), 0.5);
        assert_eq!(normal_cdf_f32(inf), 1.0);
        assert_eq!(normal_cdf_f32(-inf), 0.0);
        assert_eq!(gelu_f32(inf), inf);
        assert_eq!(gelu_f32(-inf), 0.0);
        assert_eq!(gelu_slope_f32(inf), 1.0);
        assert_eq!(gelu_slope_f32(-inf), 0.0);
        for f in [exp_f32, tanh_f32, sigmoid_f32, normal_cdf_f32, gelu_f32, gelu_slope_f32] {
            assert!(f(nan).is_nan());
        }
    }
}
