//! The gradcheck table: one row per differentiable op, each checked in f64 against
//! central differences (and second derivatives with gradgradcheck) over proptest
//! shapes — rank 0–4, size-1 dims, broadcast pairs. A tidy test fails when an op
//! recorded on the tape has no row here.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tensor_core::functional::{self, Reduction};
use tensor_core::gradcheck::{GradcheckOptions, gradcheck, gradgradcheck};
use tensor_core::strategies::{broadcast_pair, shape, tensor_in};
use tensor_core::{AttentionMask, ConvOptions, Indices, Result, Tensor};

/// One generated test case: the inputs and the op's non-tensor arguments.
#[derive(Debug, Clone)]
struct Case {
    inputs: Vec<Tensor<f64>>,
    axis: isize,
    axes: Vec<isize>,
    keepdim: bool,
    perm: Vec<usize>,
    picks: Vec<usize>,
    mask: Tensor<f64>,
    index: Option<Indices>,
}

type OpFn = fn(&[Tensor<f64>], &Case) -> Result<Tensor<f64>>;

struct Row {
    /// Ops (as recorded on the tape) this row checks.
    ops: &'static [&'static str],
    strategy: fn() -> BoxedStrategy<Case>,
    f: OpFn,
}

const ANY: (f64, f64) = (-2.0, 2.0);
const POSITIVE: (f64, f64) = (0.3, 2.5);

fn base(min_rank: usize, domain: (f64, f64), n: usize) -> BoxedStrategy<Case> {
    shape(4, 3)
        .prop_filter("rank", move |s| s.len() >= min_rank)
        .prop_flat_map(move |s| {
            let rank = s.len();
            let inputs = prop::collection::vec(tensor_in(s.clone(), domain.0..domain.1), n);
            let perm = Just((0..rank).collect::<Vec<_>>()).prop_shuffle();
            let axes_mask = prop::collection::vec(any::<bool>(), rank);
            let axis =
                if rank == 0 { Just(0isize).boxed() } else { (-(rank as isize)..rank as isize).boxed() };
            (Just(s), inputs, perm, axes_mask, axis, any::<bool>(), prop::collection::vec(0usize..64, 0..5))
        })
        .prop_map(|(s, inputs, perm, axes_mask, axis, keepdim, raw)| {
            let axes = axes_mask.iter().enumerate().filter(|(_, m)| **m).map(|(i, _)| i as isize).collect();
            let dim = if s.is_empty() { 1 } else { s[axis.rem_euclid(s.len() as isize) as usize] };
            let picks = raw.iter().map(|r| r % dim).collect();
            Case { inputs, axis, axes, keepdim, perm, picks, mask: Tensor::scalar(1.0), index: None }
        })
        .boxed()
}

fn unary() -> BoxedStrategy<Case> {
    base(0, ANY, 1)
}
fn unary_positive() -> BoxedStrategy<Case> {
    base(0, POSITIVE, 1)
}
fn unary_rank1() -> BoxedStrategy<Case> {
    base(1, ANY, 1)
}
fn pair_rank1() -> BoxedStrategy<Case> {
    base(1, ANY, 2)
}

fn binary_in(a: (f64, f64), b: (f64, f64)) -> BoxedStrategy<Case> {
    broadcast_pair(4, 3)
        .prop_flat_map(move |(sa, sb)| {
            (tensor_in(sa, a.0..a.1), tensor_in(sb.clone(), b.0..b.1), tensor_in(sb, 0.0..1.0))
        })
        .prop_map(|(x, y, m)| Case {
            inputs: vec![x, y],
            axis: 0,
            axes: vec![],
            keepdim: false,
            perm: vec![],
            picks: vec![],
            mask: m.map(|v| if v > 0.5 { 1.0 } else { 0.0 }),
            index: None,
        })
        .boxed()
}
fn binary() -> BoxedStrategy<Case> {
    binary_in(ANY, ANY)
}
fn binary_divisor() -> BoxedStrategy<Case> {
    binary_in(ANY, POSITIVE)
}
fn binary_pow() -> BoxedStrategy<Case> {
    binary_in(POSITIVE, ANY)
}

/// Matmul operands: batch shapes that broadcast, 1-D vector cases, size-1 dims.
fn matmul_case() -> BoxedStrategy<Case> {
    (broadcast_pair(2, 3), 1usize..=3, 1usize..=3, 1usize..=3, 0u8..4)
        .prop_flat_map(|((ba, bb), m, k, n, kind)| {
            let mut sa = ba.clone();
            let mut sb = bb.clone();
            match kind {
                0 => {
                    sa = vec![k];
                    sb.extend([k, n]);
                }
                1 => {
                    sa.extend([m, k]);
                    sb = vec![k];
                }
                2 => {
                    sa = vec![k];
                    sb = vec![k];
                }
                _ => {
                    sa.extend([m, k]);
                    sb.extend([k, n]);
                }
            }
            (tensor_in(sa, -2.0..2.0), tensor_in(sb, -2.0..2.0), any::<bool>(), any::<bool>())
        })
        .prop_map(|(a, b, ta, tb)| Case {
            inputs: vec![a, b],
            axis: 0,
            axes: vec![],
            keepdim: ta,
            perm: vec![usize::from(tb)],
            picks: vec![],
            mask: Tensor::scalar(1.0),
            index: None,
        })
        .boxed()
}

/// Dense-layer operands: an input `[…, in]` of rank 1–3, a weight `[in, out]` and a
/// bias `[out]`, sizes 1–3.
fn linear_case() -> BoxedStrategy<Case> {
    (prop::collection::vec(1usize..=3, 0..=2), 1usize..=3, 1usize..=3)
        .prop_flat_map(|(lead, inputs, outputs)| {
            let mut sx = lead;
            sx.push(inputs);
            (
                tensor_in(sx, -2.0..2.0),
                tensor_in(vec![inputs, outputs], -2.0..2.0),
                tensor_in(vec![outputs], -2.0..2.0),
            )
        })
        .prop_map(|(x, w, b)| Case {
            inputs: vec![x, w, b],
            axis: 0,
            axes: vec![],
            keepdim: false,
            perm: vec![],
            picks: vec![],
            mask: Tensor::scalar(1.0),
            index: None,
        })
        .boxed()
}

/// A tensor and a gather index along a random axis.
fn gather_case() -> BoxedStrategy<Case> {
    base(1, ANY, 1)
        .prop_flat_map(|c| {
            let s = c.inputs[0].shape().to_vec();
            let ax = c.axis.rem_euclid(s.len() as isize) as usize;
            let dim = s[ax];
            (Just(c), 1usize..=3).prop_flat_map(move |(c, k)| {
                let mut shape = s.clone();
                shape[ax] = k;
                let n: usize = shape.iter().product();
                (Just(c), prop::collection::vec(0..dim, n)).prop_map(move |(mut c, data)| {
                    c.index = Some(Indices::new(data, &shape).expect("index shape"));
                    c
                })
            })
        })
        .boxed()
}

fn labels_case() -> BoxedStrategy<Case> {
    (1usize..=4, 1usize..=4)
        .prop_flat_map(|(n, c)| (tensor_in(vec![n, c], -3.0..3.0), prop::collection::vec(0..c, n)))
        .prop_map(|(z, picks)| Case {
            inputs: vec![z],
            axis: 1,
            axes: vec![],
            keepdim: false,
            perm: vec![],
            picks,
            mask: Tensor::scalar(1.0),
            index: None,
        })
        .boxed()
}

fn probabilities_case() -> BoxedStrategy<Case> {
    shape(3, 3)
        .prop_flat_map(|s| (tensor_in(s.clone(), 0.05..0.95), tensor_in(s, 0.0..1.0)))
        .prop_map(|(p, t)| Case {
            inputs: vec![p],
            axis: 0,
            axes: vec![],
            keepdim: false,
            perm: vec![],
            picks: vec![],
            mask: t,
            index: None,
        })
        .boxed()
}

fn same_shape_pair() -> BoxedStrategy<Case> {
    shape(3, 3)
        .prop_flat_map(|s| (tensor_in(s.clone(), -4.0..4.0), tensor_in(s, 0.0..1.0)))
        .prop_map(|(z, t)| Case {
            inputs: vec![z, t],
            axis: 0,
            axes: vec![],
            keepdim: false,
            perm: vec![],
            picks: vec![],
            mask: Tensor::scalar(1.0),
            index: None,
        })
        .boxed()
}

fn axis_of(c: &Case, x: &Tensor<f64>) -> usize {
    c.axis.rem_euclid(x.ndim().max(1) as isize) as usize
}

/// One place per op: `name => Row { .. }` makes the row and its two tests,
/// `first_order::name` and `second_order::name`.
macro_rules! rows {
    ($($name:ident => $row:expr),* $(,)?) => {
        /// Every row, with the name of its tests.
        const ROWS: &[(&str, Row)] = &[$((stringify!($name), $row)),*];
        mod first_order {
            $(#[test] fn $name() { super::check_row(stringify!($name), false) })*
        }
        mod second_order {
            $(#[test] fn $name() { super::check_row(stringify!($name), true) })*
        }
    };
}

rows! {
    add => Row { ops: &["add"], strategy: binary, f: |x, _| x[0].add(&x[1]) },
    sub => Row { ops: &["sub"], strategy: binary, f: |x, _| x[0].sub(&x[1]) },
    mul => Row { ops: &["mul"], strategy: binary, f: |x, _| x[0].mul(&x[1]) },
    div => Row { ops: &["div"], strategy: binary_divisor, f: |x, _| x[0].div(&x[1]) },
    pow => Row { ops: &["pow"], strategy: binary_pow, f: |x, _| x[0].pow(&x[1]) },
    maximum => Row { ops: &["maximum"], strategy: binary, f: |x, _| x[0].maximum(&x[1]) },
    minimum => Row { ops: &["minimum"], strategy: binary, f: |x, _| x[0].minimum(&x[1]) },
    where_cond => Row { ops: &["where"], strategy: binary, f: |x, c| Tensor::where_cond(&c.mask, &x[0], &x[1]) },
    add_scalar => Row { ops: &["add_scalar"], strategy: unary, f: |x, _| Ok(x[0].add_scalar(0.7)) },
    mul_scalar => Row { ops: &["mul_scalar"], strategy: unary, f: |x, _| Ok(x[0].mul_scalar(-1.3)) },
    neg => Row { ops: &["neg"], strategy: unary, f: |x, _| Ok(x[0].neg()) },
    exp => Row { ops: &["exp"], strategy: unary, f: |x, _| Ok(x[0].exp()) },
    ln => Row { ops: &["ln"], strategy: unary_positive, f: |x, _| Ok(x[0].ln()) },
    sqrt => Row { ops: &["sqrt"], strategy: unary_positive, f: |x, _| Ok(x[0].sqrt()) },
    abs => Row { ops: &["abs"], strategy: unary, f: |x, _| Ok(x[0].abs()) },
    powf => Row { ops: &["powf"], strategy: unary_positive, f: |x, _| Ok(x[0].powf(1.7)) },
    powi => Row { ops: &["powi"], strategy: unary, f: |x, _| Ok(x[0].powi(3)) },
    sigmoid => Row { ops: &["sigmoid"], strategy: unary, f: |x, _| Ok(x[0].sigmoid()) },
    tanh => Row { ops: &["tanh"], strategy: unary, f: |x, _| Ok(x[0].tanh()) },
    sigmoid_backward => Row { ops: &["sigmoid_backward"], strategy: binary, f: |x, _| Tensor::sigmoid_backward(&x[0], &x[1]) },
    tanh_backward => Row { ops: &["tanh_backward"], strategy: binary, f: |x, _| Tensor::tanh_backward(&x[0], &x[1]) },
    gelu => Row { ops: &["gelu"], strategy: unary, f: |x, _| Ok(x[0].gelu()) },
    gelu_backward => Row { ops: &["gelu_backward"], strategy: binary, f: |x, _| Tensor::gelu_backward(&x[0], &x[1]) },
    relu => Row { ops: &["relu"], strategy: unary, f: |x, _| Ok(x[0].relu()) },
    leaky_relu => Row { ops: &["leaky_relu"], strategy: unary, f: |x, _| Ok(x[0].leaky_relu(0.1)) },
    softplus => Row { ops: &["softplus"], strategy: unary, f: |x, _| Ok(x[0].softplus()) },
    clamp => Row { ops: &["clamp"], strategy: unary, f: |x, _| Ok(x[0].clamp(-1.0, 1.2)) },
    sum => Row { ops: &["sum"], strategy: unary, f: |x, c| x[0].sum(c.axes.as_slice(), c.keepdim) },
    mean => Row {
        ops: &["mean (sum, mul_scalar)"],
        strategy: unary,
        f: |x, c| x[0].mean(c.axes.as_slice(), c.keepdim),
    },
    max => Row { ops: &["max"], strategy: unary, f: |x, c| x[0].max(c.axes.as_slice(), c.keepdim) },
    min => Row { ops: &["min"], strategy: unary, f: |x, c| x[0].min(c.axes.as_slice(), c.keepdim) },
    logsumexp => Row { ops: &["logsumexp"], strategy: unary, f: |x, c| x[0].logsumexp(c.axes.as_slice(), c.keepdim) },
    var => Row { ops: &["var (composite)"], strategy: unary_rank1, f: |x, c| x[0].var(c.axis, c.keepdim, 0) },
    matmul => Row {
        ops: &["matmul"],
        strategy: matmul_case,
        f: |x, c| {
            let (ta, tb) = (c.keepdim, c.perm == [1]);
            if x[0].ndim() >= 2 && x[1].ndim() >= 2 {
                // Transposed operands: exercise the stride path of matmul_t.
                let a = if ta { x[0].t()? } else { x[0].clone() };
                let b = if tb { x[1].t()? } else { x[1].clone() };
                a.matmul_t(&b, ta, tb)
            } else {
                x[0].matmul(&x[1])
            }
        },
    },
    linear => Row { ops: &["linear"], strategy: linear_case, f: |x, _| x[0].linear(&x[1], &x[2]) },
    reshape => Row { ops: &["reshape"], strategy: unary, f: |x, _| x[0].reshape(&[x[0].numel()]) },
    permute => Row { ops: &["permute"], strategy: unary, f: |x, c| x[0].permute(&c.perm) },
    broadcast_to => Row {
        ops: &["broadcast_to"],
        strategy: unary,
        f: |x, _| {
            let mut target = vec![2];
            target.extend(x[0].shape().iter().map(|&d| if d == 1 { 3 } else { d }));
            x[0].broadcast_to(&target)
        },
    },
    sum_to => Row {
        ops: &["sum_to"],
        strategy: unary_rank1,
        f: |x, c| {
            let keep: Vec<usize> = x[0]
                .shape()
                .iter()
                .enumerate()
                .map(|(i, &d)| if i == axis_of(c, &x[0]) { 1 } else { d })
                .collect();
            x[0].sum_to(&keep[1.min(keep.len() - 1)..])
        },
    },
    narrow => Row {
        ops: &["narrow"],
        strategy: unary_rank1,
        f: |x, c| {
            let dim = x[0].shape()[axis_of(c, &x[0])];
            let start = c.picks.first().copied().unwrap_or(0);
            x[0].narrow(c.axis, start, dim - start)
        },
    },
    pad_axis => Row { ops: &["pad_axis"], strategy: unary_rank1, f: |x, c| x[0].pad_axis(c.axis, 1, 2) },
    concat => Row { ops: &["concat"], strategy: pair_rank1, f: |x, c| Tensor::concat(&[&x[0], &x[1]], c.axis) },
    stack => Row {
        ops: &["stack (unsqueeze, concat)"],
        strategy: pair_rank1,
        f: |x, c| Tensor::stack(&[&x[0], &x[1]], c.axis),
    },
    index_select => Row { ops: &["index_select"], strategy: unary_rank1, f: |x, c| x[0].index_select(c.axis, &c.picks) },
    index_add => Row {
        ops: &["index_add"],
        strategy: unary_rank1,
        f: |x, c| {
            let n = x[0].shape()[axis_of(c, &x[0])];
            let targets: Vec<usize> = (0..n).map(|i| (i * 7 + c.picks.len()) % 3).collect();
            x[0].index_add(c.axis, &targets, 3)
        },
    },
    gather => Row {
        ops: &["gather"],
        strategy: gather_case,
        f: |x, c| x[0].gather(c.axis, c.index.as_ref().expect("index")),
    },
    scatter_add => Row {
        ops: &["scatter_add"],
        strategy: gather_case,
        f: |x, c| {
            let index = c.index.as_ref().expect("index");
            let dim = x[0].shape()[axis_of(c, &x[0])];
            x[0].gather(c.axis, index)?.mul_scalar(1.5).scatter_add(c.axis, index, dim)
        },
    },
    softmax => Row { ops: &["softmax"], strategy: unary_rank1, f: |x, c| x[0].softmax(c.axis) },
    log_softmax => Row { ops: &["log_softmax"], strategy: unary_rank1, f: |x, c| x[0].log_softmax(c.axis) },
    cross_entropy => Row {
        ops: &["cross_entropy"],
        strategy: labels_case,
        f: |x, c| functional::cross_entropy(&x[0], &c.picks, Reduction::None),
    },
    bce => Row {
        ops: &["bce"],
        strategy: probabilities_case,
        f: |x, c| functional::bce(&x[0], &c.mask, Reduction::None),
    },
    bce_with_logits => Row {
        ops: &["bce_with_logits"],
        strategy: same_shape_pair,
        f: |x, _| functional::bce_with_logits(&x[0], &x[1], Reduction::None),
    },
    // Layers (issue 17). Settings travel in `picks`; see each strategy.
    conv2d => Row {
        ops: &["conv2d (fused; im2col, matmul, permute, col2im in second order)", "im2col", "col2im"],
        strategy: conv2d_case,
        f: conv2d_row,
    },
    conv1d => Row { ops: &["conv1d (conv2d of height 1)"], strategy: conv1d_case, f: conv1d_row },
    max_pool2d => Row { ops: &["max_pool2d (scatter_add in second order)"], strategy: pool_case, f: max_pool_row },
    avg_pool2d => Row { ops: &["avg_pool2d (depthwise conv)"], strategy: pool_case, f: avg_pool_row },
    global_avg_pool => Row { ops: &["global_avg_pool (mean)"], strategy: spatial_case, f: |x, _| x[0].global_avg_pool() },
    batch_norm_train => Row { ops: &["batch_norm_train (composite)"], strategy: batch_norm_case, f: batch_norm_train_row },
    batch_norm_eval => Row { ops: &["batch_norm_eval (composite)"], strategy: batch_norm_case, f: batch_norm_eval_row },
    layer_norm => Row { ops: &["layer_norm"], strategy: layer_norm_case, f: layer_norm_row },
    layer_norm_no_affine => Row {
        ops: &["layer_norm (without γ and β)"],
        strategy: layer_norm_case,
        f: |x, c| x[0].layer_norm(&x[0].shape()[x[0].ndim() - c.picks[0]..], None, None, 1e-5),
    },
    lstm_sequence => Row { ops: &["lstm_sequence"], strategy: lstm_case, f: |x, _| Tensor::lstm_sequence(&x[0], &x[1], &x[2], &x[3]) },
    embedding => Row { ops: &["embedding (index_select)"], strategy: embedding_case, f: embedding_row },
    split => Row { ops: &["split (narrow)"], strategy: unary_rank1, f: split_row },
    chunk => Row { ops: &["chunk (narrow)"], strategy: unary_rank1, f: chunk_row },
    masked_fill => Row { ops: &["masked_fill"], strategy: masked_case, f: |x, c| x[0].masked_fill(&c.mask, -0.5) },
    attention => Row {
        ops: &["scaled_dot_product_attention (fused; matmul_t, masked_fill, softmax with a tensor mask and in second order)"],
        strategy: attention_case,
        f: attention_row,
    },
    multi_head_self_attention => Row {
        ops: &["multi_head_self_attention (fused; chunk, permute, attention in second order)"],
        strategy: packed_attention_case,
        f: packed_attention_row,
    },
    cast => Row { ops: &["cast"], strategy: binary, f: cast_row },
    checkpoint => Row {
        ops: &["checkpoint (a recomputed mul, tanh)"],
        strategy: binary,
        f: |x, _| tensor_core::func::checkpoint(|xs| Ok(xs[0].mul(&xs[1])?.tanh()), x),
    },
}

/// A product taken in f32 between two casts, beside an f64 path from the same input
/// (a diamond across the dtype boundary). Quadratic, so its central differences are
/// exact for any step: the row runs with a large one (see [`options`]), where f32's
/// rounding (~1e-7) is small against the step.
fn cast_row(x: &[Tensor<f64>], _: &Case) -> Result<Tensor<f64>> {
    x[0].cast::<f32>().mul(&x[1].cast::<f32>())?.cast::<f64>().add(&x[0])
}

/// The checker's options for a row: the defaults (ε = 1e-6), except for `cast`,
/// whose f32 forward cannot resolve a step of 1e-6 (its rounding alone would be a
/// 10% error); its quadratic row is checked at ε = 0.1, where that rounding is
/// ~1e-6 of the derivative and the difference quotient has no truncation error.
fn options(name: &str) -> GradcheckOptions {
    match name {
        "cast" => GradcheckOptions { eps: 0.1, ..GradcheckOptions::default() },
        _ => GradcheckOptions::default(),
    }
}

/// Cases per row: enough to cover ranks 0–4 and broadcast patterns, cheap for CI.
const CASES: u32 = 24;

fn check_row(name: &str, second_order: bool) {
    let row = row(name);
    let mut runner = TestRunner::new(Config { cases: CASES, failure_persistence: None, ..Config::default() });
    let opts = options(name);
    let result = runner.run(&(row.strategy)(), |case| {
        let f = |xs: &[Tensor<f64>]| (row.f)(xs, &case);
        let report = if second_order {
            gradgradcheck(f, &case.inputs, &opts)
        } else {
            gradcheck(f, &case.inputs, &opts)
        };
        let report = report.map_err(|e| TestCaseError::fail(format!("error: {e}")))?;
        prop_assert!(report.passed, "{:?}: {report}", row.ops);
        // The gradient has each input's shape, including inputs that were broadcast.
        let vars: Vec<Tensor<f64>> = case.inputs.iter().map(|t| t.requires_grad()).collect();
        let y = (row.f)(&vars, &case).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if y.is_recorded() && y.numel() > 0 {
            let g = y.sum_all().backward().map_err(|e| TestCaseError::fail(e.to_string()))?;
            for v in &vars {
                let grad = g.get_or_zeros(v);
                prop_assert_eq!(grad.shape(), v.shape());
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{:?}: {e}", row.ops);
    }
}

fn row(name: &str) -> &'static Row {
    ROWS.iter().find(|(n, _)| *n == name).map(|(_, r)| r).unwrap_or_else(|| panic!("no row named {name}"))
}

/// Tidy: every op the library records (the registry each op file declares, which
/// recording checks in debug builds) has a row that names it — as the row's op or in
/// the list of ops a composite row exercises, e.g. `conv2d (im2col, …)`.
#[test]
fn every_recorded_op_has_a_gradcheck_row() {
    let named = |description: &str| -> Vec<String> {
        description
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    };
    let covered: Vec<String> = ROWS.iter().flat_map(|(_, r)| r.ops.iter().flat_map(|o| named(o))).collect();
    let registered: Vec<&str> = tensor_core::builtin_ops().collect();
    assert!(registered.len() > 40, "the registry lists too few ops: {registered:?}");
    let missing: Vec<&&str> = registered.iter().filter(|op| !covered.iter().any(|c| c == *op)).collect();
    assert!(missing.is_empty(), "ops recorded without a gradcheck row: {missing:?}");
}

// ---- Layers (issue 17): strategies and row functions. ----

/// A case with only inputs and settings (`picks`); the other fields at rest.
fn layer_case(inputs: Vec<Tensor<f64>>, picks: Vec<usize>) -> Case {
    Case {
        inputs,
        axis: 0,
        axes: vec![],
        keepdim: false,
        perm: vec![],
        picks,
        mask: Tensor::scalar(1.0),
        index: None,
    }
}

/// One spatial axis of a convolution: (input size, kernel, stride, padding,
/// dilation), the input at least as large as the dilated kernel minus the padding
/// (so the output has at least one position), size-1 inputs and kernels included.
fn conv_axis() -> impl Strategy<Value = (usize, usize, usize, usize, usize)> {
    (1usize..=3, 1usize..=2, 0usize..=2, 1usize..=2, 0usize..=2).prop_map(|(k, s, p, d, extra)| {
        let span = d * (k - 1) + 1;
        (span.saturating_sub(2 * p).max(1) + extra, k, s, p, d)
    })
}

/// Convolution operands over `spatial` axes (1 or 2): x (N, G·cg, …), weight
/// (G·og, cg, k…), an optional bias; `picks` = [stride…, padding…, dilation…, groups]
/// for two axes (a 1-D case has height 1, kernel 1 and unit settings in front).
fn conv_case_in(spatial: usize) -> BoxedStrategy<Case> {
    let axes = prop::collection::vec(conv_axis(), spatial);
    (1usize..=2, 1usize..=2, 1usize..=2, 1usize..=2, axes, any::<bool>())
        .prop_flat_map(move |(n, groups, cg, og, axes, bias)| {
            let mut geo = vec![(1, 1, 1, 0, 1); 2 - spatial];
            geo.extend(axes);
            let mut sx = vec![n, groups * cg];
            let mut sw = vec![groups * og, cg];
            sx.extend(geo[2 - spatial..].iter().map(|a| a.0));
            sw.extend(geo[2 - spatial..].iter().map(|a| a.1));
            let mut picks: Vec<usize> = geo.iter().map(|a| a.2).collect();
            picks.extend(geo.iter().map(|a| a.3));
            picks.extend(geo.iter().map(|a| a.4));
            picks.push(groups);
            let b = if bias { 1 } else { 0 };
            (
                tensor_in(sx, -2.0..2.0),
                tensor_in(sw, -2.0..2.0),
                prop::collection::vec(tensor_in(vec![groups * og], -2.0..2.0), b),
                Just(picks),
            )
        })
        .prop_map(|(x, w, b, picks)| layer_case([vec![x, w], b].concat(), picks))
        .boxed()
}
fn conv2d_case() -> BoxedStrategy<Case> {
    conv_case_in(2)
}
fn conv1d_case() -> BoxedStrategy<Case> {
    conv_case_in(1)
}

fn conv2d_row(x: &[Tensor<f64>], c: &Case) -> Result<Tensor<f64>> {
    let p = &c.picks;
    let opts =
        ConvOptions { stride: [p[0], p[1]], padding: [p[2], p[3]], dilation: [p[4], p[5]], groups: p[6] };
    x[0].conv2d(&x[1], x.get(2), &opts)
}

fn conv1d_row(x: &[Tensor<f64>], c: &Case) -> Result<Tensor<f64>> {
    let p = &c.picks;
    let opts = ConvOptions { stride: [p[1]], padding: [p[3]], dilation: [p[5]], groups: p[6] };
    x[0].conv1d(&x[1], x.get(2), &opts)
}

/// Pooling input (N, C, H, W) and settings `picks` = [kh, kw, sh, sw, ph, pw,
/// default stride?], padding at most half the kernel, the image at least the kernel
/// minus the padding.
fn pool_case() -> BoxedStrategy<Case> {
    let axis = (1usize..=3, 1usize..=3, 0usize..=1, 0usize..=2)
        .prop_map(|(k, s, p, extra)| (k, s, p.min(k / 2), extra))
        .prop_map(|(k, s, p, extra)| ((k - 2 * p).max(1) + extra, k, s, p));
    (1usize..=2, 1usize..=2, axis.clone(), axis, any::<bool>())
        .prop_flat_map(|(n, c, (h, kh, sh, ph), (w, kw, sw, pw), default_stride)| {
            let picks = vec![kh, kw, sh, sw, ph, pw, usize::from(default_stride)];
            (tensor_in(vec![n, c, h, w], -2.0..2.0), Just(picks))
        })
        .prop_map(|(x, picks)| layer_case(vec![x], picks))
        .boxed()
}

type PoolSettings = ([usize; 2], Option<[usize; 2]>, [usize; 2]);

fn pool_settings(c: &Case) -> PoolSettings {
    let p = &c.picks;
    let stride = if p[6] == 1 { None } else { Some([p[2], p[3]]) };
    ([p[0], p[1]], stride, [p[4], p[5]])
}

fn max_pool_row(x: &[Tensor<f64>], c: &Case) -> Result<Tensor<f64>> {
    let (kernel, stride, padding) = pool_settings(c);
    x[0].max_pool2d(kernel, stride, padding)
}

fn avg_pool_row(x: &[Tensor<f64>], c: &Case) -> Result<Tensor<f64>> {
    let (kernel, stride, padding) = pool_settings(c);
    x[0].avg_pool2d(kernel, stride, padding)
}

/// A tensor of rank 3 or 4 (batch, channels, spatial…), size-1 dims included.
fn spatial_case() -> BoxedStrategy<Case> {
    prop::collection::vec(1usize..=3, 3..=4)
        .prop_flat_map(|s| tensor_in(s, -2.0..2.0))
        .prop_map(|x| layer_case(vec![x], vec![]))
        .boxed()
}

/// Batch-norm operands: x (N, C, …) of rank 2–4 with at least two values per
/// channel, γ and β (C).
fn batch_norm_case() -> BoxedStrategy<Case> {
    (1usize..=3, 1usize..=3, prop::collection::vec(1usize..=3, 0..=2))
        .prop_filter("two values per channel", |(n, _, rest)| n * rest.iter().product::<usize>() >= 2)
        .prop_flat_map(|(n, c, rest)| {
            let shape = [vec![n, c], rest].concat();
            (tensor_in(shape, -2.0..2.0), tensor_in(vec![c], 0.5..2.0), tensor_in(vec![c], -1.0..1.0))
        })
        .prop_map(|(x, g, b)| layer_case(vec![x, g, b], vec![]))
        .boxed()
}

fn batch_norm_train_row(x: &[Tensor<f64>], _: &Case) -> Result<Tensor<f64>> {
    let stats = tensor_core::RunningStats::new(x[0].shape()[1]);
    Ok(x[0].batch_norm_train(Some(&x[1]), Some(&x[2]), &stats, 0.1, 1e-5)?.0)
}

fn batch_norm_eval_row(x: &[Tensor<f64>], _: &Case) -> Result<Tensor<f64>> {
    let c = x[0].shape()[1];
    let stats = tensor_core::RunningStats {
        mean: Tensor::from_vec((0..c).map(|i| 0.1 * i as f64).collect(), &[c])?,
        var: Tensor::from_vec((0..c).map(|i| 0.5 + 0.3 * i as f64).collect(), &[c])?,
    };
    x[0].batch_norm_eval(Some(&x[1]), Some(&x[2]), &stats, 1e-5)
}

/// Layer-norm operands: x of rank 1–3, normalised over its last `picks[0]` axes, with
/// γ and β of that trailing shape.
fn layer_norm_case() -> BoxedStrategy<Case> {
    prop::collection::vec(prop_oneof![1 => Just(1usize), 3 => 2usize..=4], 1..=3)
        .prop_flat_map(|s| (Just(s.clone()), 1..=s.len()))
        .prop_flat_map(|(s, k)| {
            let trailing = s[s.len() - k..].to_vec();
            (
                tensor_in(s, -2.0..2.0),
                tensor_in(trailing.clone(), 0.5..2.0),
                tensor_in(trailing, -1.0..1.0),
                Just(k),
            )
        })
        .prop_map(|(x, g, b, k)| layer_case(vec![x, g, b], vec![k]))
        .boxed()
}

fn layer_norm_row(x: &[Tensor<f64>], c: &Case) -> Result<Tensor<f64>> {
    let trailing = x[0].shape()[x[0].ndim() - c.picks[0]..].to_vec();
    x[0].layer_norm(&trailing, Some(&x[1]), Some(&x[2]), 1e-5)
}

/// One LSTM layer's operands: input gates (T, N, 4H), W_hh (4H, H), h0 and c0 (N, H),
/// sizes 1–3 (steps, batch and hidden of 1 included).
fn lstm_case() -> BoxedStrategy<Case> {
    (1usize..=3, 1usize..=3, 1usize..=3)
        .prop_flat_map(|(t, n, h)| {
            (
                tensor_in(vec![t, n, 4 * h], -2.0..2.0),
                tensor_in(vec![4 * h, h], -1.0..1.0),
                tensor_in(vec![n, h], -1.0..1.0),
                tensor_in(vec![n, h], -2.0..2.0),
            )
        })
        .prop_map(|(xg, w, h0, c0)| layer_case(vec![xg, w, h0, c0], vec![]))
        .boxed()
}

/// An embedding table (V, D) and indices of rank 1–2 (repeats likely). No padding
/// index here: its zero gradient is by design not the derivative (`tests/layers.rs`
/// checks it).
fn embedding_case() -> BoxedStrategy<Case> {
    (1usize..=4, 1usize..=3, prop::collection::vec(1usize..=3, 1..=2))
        .prop_flat_map(|(v, d, ishape)| {
            let n: usize = ishape.iter().product();
            (tensor_in(vec![v, d], -2.0..2.0), prop::collection::vec(0..v, n), Just(ishape))
        })
        .prop_map(|(table, data, ishape)| {
            let mut c = layer_case(vec![table], vec![]);
            c.index = Some(Indices::new(data, &ishape).expect("index shape"));
            c
        })
        .boxed()
}

fn embedding_row(x: &[Tensor<f64>], c: &Case) -> Result<Tensor<f64>> {
    x[0].embedding(c.index.as_ref().expect("index"), None)
}

/// Splits `axis` in two at the first pick and weights the pieces differently before
/// joining them again, so each piece's gradient is told apart.
fn split_row(x: &[Tensor<f64>], c: &Case) -> Result<Tensor<f64>> {
    let dim = x[0].shape()[axis_of(c, &x[0])];
    let at = c.picks.first().copied().unwrap_or(0);
    let pieces = x[0].split(&[at, dim - at], c.axis)?;
    Tensor::concat(&[&pieces[1].mul_scalar(2.0), &pieces[0].exp()], c.axis)
}

fn chunk_row(x: &[Tensor<f64>], c: &Case) -> Result<Tensor<f64>> {
    let pieces = x[0].chunk(2, c.axis)?;
    let weighted: Vec<Tensor<f64>> =
        pieces.iter().enumerate().map(|(i, p)| p.mul_scalar(1.0 + i as f64)).collect();
    let refs: Vec<&Tensor<f64>> = weighted.iter().rev().collect();
    Tensor::concat(&refs, c.axis)
}

/// A tensor and a 0/1 mask of its shape.
/// x of any shape and a 0/1 mask that broadcasts to it: x's shape with some leading
/// axes dropped and some axes set to 1 (the fast path takes a trailing-shape mask as
/// it is and broadcasts any other).
fn masked_case() -> BoxedStrategy<Case> {
    shape(4, 3)
        .prop_flat_map(|s| {
            let n = s.len();
            (Just(s), 0..=n, prop::collection::vec(any::<bool>(), n))
        })
        .prop_flat_map(|(s, drop, ones)| {
            let ms: Vec<usize> =
                s[drop..].iter().zip(&ones[drop..]).map(|(&d, &one)| if one { 1 } else { d }).collect();
            (tensor_in(s, -2.0..2.0), tensor_in(ms, 0.0..1.0))
        })
        .prop_map(|(x, m)| {
            let mut c = layer_case(vec![x], vec![]);
            c.mask = m.map(|v| if v > 0.5 { 1.0 } else { 0.0 });
            c
        })
        .boxed()
}

/// Attention operands q (…, Tq, d), k (…, Tk, d), v (…, Tk, dv) with an optional
/// batch axis (broadcast when q's is 1), and `picks[0]` the mask: 0 none, 1 causal,
/// 2 a random allow-mask (`mask`) whose first key is always allowed.
fn attention_case() -> BoxedStrategy<Case> {
    (prop::collection::vec(1usize..=2, 0..=1), 1usize..=3, 1usize..=3, 1usize..=3, 1usize..=2, 0usize..3)
        .prop_flat_map(|(batch, tq, tk, d, dv, kind)| {
            let with = |tail: [usize; 2]| [batch.clone(), tail.to_vec()].concat();
            (
                tensor_in(with([tq, d]), -1.5..1.5),
                tensor_in(with([tk, d]), -1.5..1.5),
                tensor_in(with([tk, dv]), -2.0..2.0),
                tensor_in(vec![tq, tk], 0.0..1.0),
                Just(kind),
            )
        })
        .prop_map(|(q, k, v, m, kind)| {
            let mut c = layer_case(vec![q, k, v], vec![kind]);
            let keys = m.shape()[1];
            let allow: Vec<f64> =
                m.as_slice().iter().enumerate().map(|(i, &u)| f64::from(i % keys == 0 || u > 0.4)).collect();
            c.mask = Tensor::from_vec(allow, m.shape()).expect("mask shape");
            c
        })
        .boxed()
}

/// A packed projection (N, T, 3·H·d) for `multi_head_self_attention`; `picks` =
/// [heads, mask kind] (none, causal, a (T, T) tensor mask that keeps key 0 open).
fn packed_attention_case() -> BoxedStrategy<Case> {
    (1usize..=2, 1usize..=3, 1usize..=2, 1usize..=2, 0usize..3)
        .prop_flat_map(|(n, t, heads, d, kind)| {
            (
                tensor_in(vec![n, t, 3 * heads * d], -1.5..1.5),
                tensor_in(vec![t, t], 0.0..1.0),
                Just((heads, kind)),
            )
        })
        .prop_map(|(qkv, m, (heads, kind))| {
            let mut c = layer_case(vec![qkv], vec![heads, kind]);
            let keys = m.shape()[1];
            let allow: Vec<f64> =
                m.as_slice().iter().enumerate().map(|(i, &u)| f64::from(i % keys == 0 || u > 0.4)).collect();
            c.mask = Tensor::from_vec(allow, m.shape()).expect("mask shape");
            c
        })
        .boxed()
}

fn packed_attention_row(x: &[Tensor<f64>], c: &Case) -> Result<Tensor<f64>> {
    let mask = match c.picks[1] {
        0 => AttentionMask::None,
        1 => AttentionMask::Causal,
        _ => AttentionMask::Allow(&c.mask),
    };
    x[0].multi_head_self_attention(c.picks[0], mask)
}

fn attention_row(x: &[Tensor<f64>], c: &Case) -> Result<Tensor<f64>> {
    let mask = match c.picks[0] {
        0 => AttentionMask::None,
        1 => AttentionMask::Causal,
        _ => AttentionMask::Allow(&c.mask),
    };
    Tensor::scaled_dot_product_attention(&x[0], &x[1], &x[2], mask)
}
