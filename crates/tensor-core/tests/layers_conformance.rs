//! Conformance of the layer ops with PyTorch: every case of `layers_torch.json`
//! (output, gradients, Hessian-vector products, batch-norm running statistics)
//! recomputed with the engine's ops, to 1e-8 relative in f64. The cases are read
//! generically: only the function names of the fixtures README are known here, and
//! every setting comes from the case's `params`. Reads the fixture folder from
//! `TAPEGRAD_FIXTURES` when set (other cases in this format run through the same
//! code), else the repo's `fixtures`.

use serde_json::Value;
use std::collections::BTreeMap;
use tensor_core::functional::{self, Reduction};
use tensor_core::{AttentionMask, BackwardOptions, ConvOptions, Error, Indices, RunningStats, Tensor};

fn fixtures_dir() -> std::path::PathBuf {
    match std::env::var_os("TAPEGRAD_FIXTURES") {
        Some(dir) => dir.into(),
        None => concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures").into(),
    }
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array().expect("array").iter().map(|d| d.as_u64().expect("non-negative integer") as usize).collect()
}

fn tensor(v: &Value) -> Tensor<f64> {
    let data: Vec<f64> =
        v["data"].as_array().expect("data").iter().map(|x| x.as_f64().expect("number")).collect();
    Tensor::from_vec(data, &usizes(&v["shape"])).expect("fixture tensor")
}

/// A per-axis setting: `[h, w]` as given, or one integer for every axis.
fn per_axis<const D: usize>(params: &Value, key: &str, default: usize) -> [usize; D] {
    match params.get(key) {
        None | Some(Value::Null) => [default; D],
        Some(Value::Array(items)) => {
            let v: Vec<usize> = items.iter().map(|x| x.as_u64().expect("setting") as usize).collect();
            v.try_into().unwrap_or_else(|v| panic!("{key}: {v:?} does not have {D} entries"))
        }
        Some(n) => [n.as_u64().expect("setting") as usize; D],
    }
}

fn scalar(params: &Value, key: &str, default: f64) -> f64 {
    params.get(key).and_then(Value::as_f64).unwrap_or(default)
}

fn conv_options<const D: usize>(params: &Value) -> ConvOptions<D> {
    ConvOptions {
        stride: per_axis(params, "stride", 1),
        padding: per_axis(params, "padding", 0),
        dilation: per_axis(params, "dilation", 1),
        groups: params.get("groups").and_then(Value::as_u64).unwrap_or(1) as usize,
    }
}

type Vars = BTreeMap<String, Tensor<f64>>;

/// What a case computes: the scalar loss and any extra tensors (running statistics).
struct Outcome {
    loss: Tensor<f64>,
    extra: BTreeMap<String, Tensor<f64>>,
}

/// `Σ(a·b)`.
fn dot(a: &Tensor<f64>, b: &Tensor<f64>) -> Result<Tensor<f64>, Error> {
    Ok(a.mul(b)?.sum_all())
}

/// `x·wᵀ + b` for a PyTorch-layout weight (out, in).
fn affine_t(x: &Tensor<f64>, w: &Tensor<f64>, b: &Tensor<f64>) -> Result<Tensor<f64>, Error> {
    x.matmul_t(w, false, true)?.add(b)
}

/// Time step `t` of a (steps, batch, features) sequence.
fn step(x: &Tensor<f64>, t: usize) -> Result<Tensor<f64>, Error> {
    x.narrow(0, t, 1)?.squeeze(0)
}

/// The named function of the fixtures README, written with the engine's ops.
fn evaluate(name: &str, params: &Value, v: &Vars, indices: Option<&Indices>) -> Result<Outcome, Error> {
    let g = |k: &str| v.get(k).unwrap_or_else(|| panic!("case {name} lacks input {k}"));
    let mut extra = BTreeMap::new();
    let loss = match name {
        "conv2d" => {
            let y = g("x").conv2d(g("w"), v.get("b"), &conv_options(params))?;
            dot(&y.tanh(), g("u"))?
        }
        "conv1d" => {
            let y = g("x").conv1d(g("w"), v.get("b"), &conv_options(params))?;
            y.square().sum_all().mul_scalar(0.5)
        }
        "max_pool2d" => {
            let kernel = per_axis(params, "kernel", 1);
            let stride = params.get("stride").filter(|s| !s.is_null()).map(|_| per_axis(params, "stride", 1));
            let y = g("x").max_pool2d(kernel, stride, per_axis(params, "padding", 0))?;
            dot(&y, g("u"))?
        }
        "avg_pool2d" => {
            let kernel = per_axis(params, "kernel", 1);
            let stride = params.get("stride").filter(|s| !s.is_null()).map(|_| per_axis(params, "stride", 1));
            g("x").avg_pool2d(kernel, stride, per_axis(params, "padding", 0))?.square().sum_all()
        }
        "batch_norm2d_train" => {
            let channels = g("x").shape()[1];
            let (y, stats) = g("x").batch_norm_train(
                Some(g("gamma")),
                Some(g("beta")),
                &RunningStats::new(channels),
                scalar(params, "momentum", 0.1),
                scalar(params, "eps", 1e-5),
            )?;
            extra.insert("running_mean".to_string(), stats.mean);
            extra.insert("running_var".to_string(), stats.var);
            dot(&y.tanh(), g("u"))?
        }
        "layer_norm" => {
            let x = g("x");
            let last = [x.shape()[x.ndim() - 1]];
            let y = x.layer_norm(&last, Some(g("gamma")), Some(g("beta")), scalar(params, "eps", 1e-5))?;
            dot(&y.tanh(), g("u"))?
        }
        "embedding_cross_entropy" => {
            let indices = indices.unwrap_or_else(|| panic!("case {name} lacks indices"));
            let padding = params.get("padding_idx").and_then(Value::as_u64).map(|p| p as usize);
            let rows = g("table").embedding(indices, padding)?;
            let dim = g("table").shape()[1];
            let z = rows.reshape(&[indices.as_slice().len(), dim])?.matmul(g("head"))?;
            functional::cross_entropy(&z, &usizes(&params["targets"]), Reduction::Mean)?
        }
        "lstm_cell_unrolled" => {
            let x = g("x");
            let steps = params.get("steps").and_then(Value::as_u64).map_or(x.shape()[0], |s| s as usize);
            let hidden = g("w_hh").shape()[1];
            let mut h = Tensor::zeros(&[x.shape()[1], hidden])?;
            let mut c = h.clone();
            for t in 0..steps {
                let gates = affine_t(&step(x, t)?, g("w_ih"), g("b_ih"))?.add(&affine_t(
                    &h,
                    g("w_hh"),
                    g("b_hh"),
                )?)?;
                let parts = gates.chunk(4, -1)?;
                let (i, f, cand, o) = (&parts[0], &parts[1], &parts[2], &parts[3]);
                c = f.sigmoid().mul(&c)?.add(&i.sigmoid().mul(&cand.tanh())?)?;
                h = o.sigmoid().mul(&c.tanh())?;
            }
            dot(&h, g("u"))?.add(&dot(&c, g("v"))?)?
        }
        "gru_cell_unrolled" => {
            let x = g("x");
            let steps = params.get("steps").and_then(Value::as_u64).map_or(x.shape()[0], |s| s as usize);
            let hidden = g("w_hh").shape()[1];
            let mut h = Tensor::zeros(&[x.shape()[1], hidden])?;
            for t in 0..steps {
                let gi = affine_t(&step(x, t)?, g("w_ih"), g("b_ih"))?.chunk(3, -1)?;
                let gh = affine_t(&h, g("w_hh"), g("b_hh"))?.chunk(3, -1)?;
                let r = gi[0].add(&gh[0])?.sigmoid();
                let z = gi[1].add(&gh[1])?.sigmoid();
                let n = gi[2].add(&r.mul(&gh[2])?)?.tanh();
                h = z.rsub_scalar(1.0).mul(&n)?.add(&z.mul(&h)?)?;
            }
            dot(&h, g("u"))?
        }
        "causal_self_attention" => {
            let x = g("x");
            let (b, t, c) = (x.shape()[0], x.shape()[1], x.shape()[2]);
            let heads = params.get("heads").and_then(Value::as_u64).unwrap_or(1) as usize;
            let qkv = x.matmul(g("w_qkv"))?.add(g("b_qkv"))?.split(&[c, c, c], -1)?;
            let split_heads = |m: &Tensor<f64>| m.reshape(&[b, t, heads, c / heads])?.permute(&[0, 2, 1, 3]);
            let (q, k, val) = (split_heads(&qkv[0])?, split_heads(&qkv[1])?, split_heads(&qkv[2])?);
            let a = Tensor::scaled_dot_product_attention(&q, &k, &val, AttentionMask::Causal)?;
            let merged = a.permute(&[0, 2, 1, 3])?.reshape(&[b, t, c])?;
            dot(&merged.matmul(g("w_o"))?.add(g("b_o"))?, g("u"))?
        }
        other => panic!("unknown fixture case {other}: add its function here"),
    };
    Ok(Outcome { loss, extra })
}

/// Checks `got` against PyTorch to 1e-8 relative (1e-12 absolute near zero) and
/// tracks the largest relative deviation among values not near zero.
#[track_caller]
fn assert_close(what: &str, got: &[f64], want: &[f64], worst: &mut f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let err = (a - b).abs();
        if b.abs() > 1e-6 {
            *worst = worst.max(err / b.abs());
        }
        assert!(err <= 1e-8 * b.abs() + 1e-12, "{what}[{i}]: got {a:e}, PyTorch {b:e} (error {err:e})");
    }
}

#[test]
fn every_layer_case_matches_pytorch() {
    let path = fixtures_dir().join("layers_torch.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let root: Value = serde_json::from_str(&text).expect("fixture JSON");
    let cases = root["cases"].as_array().expect("cases");
    assert!(!cases.is_empty(), "no cases in {}", path.display());
    let mut worst_per_family: BTreeMap<String, f64> = BTreeMap::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let worst = worst_per_family.entry(name.to_string()).or_insert(0.0);
        let params = case.get("params").cloned().unwrap_or(Value::Null);
        let wrt: Vec<String> = case["wrt"]
            .as_array()
            .expect("wrt")
            .iter()
            .map(|s| s.as_str().expect("wrt name").to_string())
            .collect();
        let vars: Vars = case["inputs"]
            .as_object()
            .expect("inputs")
            .iter()
            .map(|(k, t)| {
                let t = tensor(t);
                (k.clone(), if wrt.contains(k) { t.requires_grad_named(k) } else { t })
            })
            .collect();
        let indices = case
            .get("indices")
            .map(|i| Indices::new(usizes(&i["data"]), &usizes(&i["shape"])).expect("fixture indices"));
        let out = evaluate(name, &params, &vars, indices.as_ref()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want_out = case["output"].as_f64().expect("output");
        assert_close(&format!("{name} output"), &out.loss.to_vec(), &[want_out], worst);
        for (k, want) in case.get("extra").and_then(Value::as_object).into_iter().flatten() {
            let got = out.extra.get(k).unwrap_or_else(|| panic!("{name}: no extra {k} computed"));
            assert_close(&format!("{name} extra {k}"), &got.to_vec(), &tensor(want).to_vec(), worst);
        }
        let has_hvp = case.get("hvp").is_some();
        let grads = out
            .loss
            .backward_with(BackwardOptions { create_graph: has_hvp, ..Default::default() })
            .unwrap_or_else(|e| panic!("{name}: backward: {e}"));
        for k in &wrt {
            let want = tensor(&case["grads"][k]);
            let got = grads.get_or_zeros(&vars[k]);
            assert_eq!(got.shape(), want.shape(), "{name}: grad {k} shape");
            assert_close(&format!("{name} grad {k}"), &got.to_vec(), &want.to_vec(), worst);
        }
        if has_hvp {
            // Hessian-vector product: the gradient of Σ ⟨grad_k, v_k⟩.
            let mut inner = Tensor::scalar(0.0);
            for (k, v) in case["hvp_vector"].as_object().expect("hvp_vector") {
                let grad = grads.get_or_zeros(&vars[k]);
                inner = inner.add(&dot(&grad, &tensor(v)).expect("hvp shapes")).expect("scalar add");
            }
            let hvp = inner.backward().unwrap_or_else(|e| panic!("{name}: hvp backward: {e}"));
            for (k, want) in case["hvp"].as_object().expect("hvp") {
                let got = hvp.get_or_zeros(&vars[k]);
                assert_close(&format!("{name} hvp {k}"), &got.to_vec(), &tensor(want).to_vec(), worst);
            }
        }
    }
    for (family, worst) in &worst_per_family {
        eprintln!("layers_torch {family}: largest relative deviation {worst:.3e}");
    }
    eprintln!("layers_torch: {} cases", cases.len());
}
