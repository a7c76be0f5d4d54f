//! Conformance with PyTorch: every case of `grads_torch.json` (output, gradients and
//! Hessian-vector products) recomputed with the engine's ops, to 1e-8 relative.
//! Reads the fixture folder from `TAPEGRAD_FIXTURES` when set (other cases in the
//! same format run through the same code), else the repo's `fixtures`.

use serde_json::Value;
use std::collections::BTreeMap;
use tensor_core::functional::{self, Reduction};
use tensor_core::{BackwardOptions, Error, Tensor};

fn fixtures_dir() -> std::path::PathBuf {
    match std::env::var_os("TAPEGRAD_FIXTURES") {
        Some(dir) => dir.into(),
        None => concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures").into(),
    }
}

fn tensor(v: &Value) -> Tensor<f64> {
    let shape: Vec<usize> =
        v["shape"].as_array().expect("shape").iter().map(|d| d.as_u64().expect("dim") as usize).collect();
    let data: Vec<f64> =
        v["data"].as_array().expect("data").iter().map(|x| x.as_f64().expect("number")).collect();
    Tensor::from_vec(data, &shape).expect("fixture tensor")
}

type Vars = BTreeMap<String, Tensor<f64>>;

/// The named function of the fixtures README, written with the engine's ops.
fn evaluate(name: &str, v: &Vars, labels: &[usize]) -> Result<Tensor<f64>, Error> {
    let g = |k: &str| v.get(k).unwrap_or_else(|| panic!("case {name} lacks input {k}"));
    Ok(match name {
        "mlp_tanh_mse" => {
            let h = g("x").matmul(g("w1"))?.add(g("b1"))?.tanh();
            let y = h.matmul(g("w2"))?.add(g("b2"))?;
            functional::mse(&y, g("t"), Reduction::Mean)?
        }
        "mlp_relu_ce" => {
            let h = g("x").matmul(g("w1"))?.add(g("b1"))?.relu();
            let z = h.matmul(g("w2"))?.add(g("b2"))?;
            functional::cross_entropy(&z, labels, Reduction::Mean)?
        }
        "logistic_bce" => {
            let p = g("x").matmul(g("w"))?.add(g("b"))?.sigmoid();
            functional::bce(&p, g("t"), Reduction::Mean)?
        }
        "bce_with_logits_extreme" => functional::bce_with_logits(g("z"), g("t"), Reduction::Mean)?,
        "cross_entropy_extreme" => functional::cross_entropy(g("z"), labels, Reduction::Mean)?,
        "broadcast_chain" => {
            let (a, b, c) = (g("a"), g("b"), g("c"));
            let first = a.mul(b)?.square().neg().exp().mul(c)?;
            let second = a.sub(c)?.square().add_scalar(1.0).sqrt().div(&b.square().add_scalar(1.0))?;
            first.add(&second)?.sum_all()
        }
        "softmax_logsumexp" => {
            let x = g("x");
            x.softmax(-1)?.mul(g("w"))?.sum_all().add(&x.logsumexp(0, false)?.sum_all())?
        }
        "batched_matmul" => g("a").matmul(g("b"))?.tanh().mul(g("w"))?.sum_all(),
        "reductions_movement" => {
            let x = g("x");
            let first = x.max(1, false)?.mul(g("u"))?.sum_all();
            let second = x.mean([0, 2], false)?.mul(g("v"))?.sum_all();
            let third = x.permute(&[2, 1, 0])?.reshape(&[6, 20])?.mul(g("q"))?.sum_all();
            first.add(&second)?.add(&third)?
        }
        "elementwise_zoo" => {
            let (x, p) = (g("x"), g("p"));
            let a = p.ln().mul(&p.powf(1.5))?;
            let b = x.abs().mul(&x.sigmoid())?;
            let c = x.relu().square().div(&p.add_scalar(1.0))?;
            a.add(&b)?.sub(&c)?.add(&x.softplus())?.sum_all()
        }
        other => panic!("unknown fixture case {other}: add its function here"),
    })
}

#[track_caller]
fn assert_close(what: &str, got: &[f64], want: &[f64], worst: &mut f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let err = (a - b).abs();
        let rel = err / b.abs().max(1e-300);
        if b.abs() > 1e-6 {
            *worst = worst.max(rel);
        }
        assert!(err <= 1e-8 * b.abs() + 1e-12, "{what}[{i}]: got {a:e}, PyTorch {b:e} (error {err:e})");
    }
}

/// A case's integer labels (none for most functions).
fn labels_of(case: &Value) -> Vec<usize> {
    case.get("labels")
        .and_then(Value::as_array)
        .map(|l| l.iter().map(|x| x.as_u64().expect("label") as usize).collect())
        .unwrap_or_default()
}

/// The names of the inputs a case differentiates with respect to.
fn wrt_of(case: &Value) -> Vec<String> {
    case["wrt"].as_array().expect("wrt").iter().map(|s| s.as_str().expect("wrt name").to_string()).collect()
}

#[test]
fn every_case_matches_pytorch() {
    let path = fixtures_dir().join("grads_torch.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let root: Value = serde_json::from_str(&text).expect("fixture JSON");
    let cases = root["cases"].as_array().expect("cases");
    assert!(!cases.is_empty(), "no cases in {}", path.display());
    let mut worst = 0.0f64;
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let (labels, wrt) = (labels_of(case), wrt_of(case));
        let vars: Vars = case["inputs"]
            .as_object()
            .expect("inputs")
            .iter()
            .map(|(k, t)| {
                let t = tensor(t);
                (k.clone(), if wrt.contains(k) { t.requires_grad_named(k) } else { t })
            })
            .collect();
        let out = evaluate(name, &vars, &labels).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_close(
            &format!("{name} output"),
            &out.to_vec(),
            &[case["output"].as_f64().expect("output")],
            &mut worst,
        );
        let has_hvp = case.get("hvp").is_some();
        let grads = out
            .backward_with(BackwardOptions { create_graph: has_hvp, ..Default::default() })
            .unwrap_or_else(|e| panic!("{name}: backward: {e}"));
        for k in &wrt {
            let want = tensor(&case["grads"][k]);
            let got = grads.wrt(&vars[k]).unwrap_or_else(|e| panic!("{name}: grad {k}: {e}"));
            assert_eq!(got.shape(), want.shape(), "{name}: grad {k} shape");
            assert_close(&format!("{name} grad {k}"), &got.to_vec(), &want.to_vec(), &mut worst);
        }
        if has_hvp {
            // Hessian-vector product: the gradient of Σ ⟨grad_k, v_k⟩.
            let mut dot = Tensor::scalar(0.0);
            for (k, v) in case["hvp_vector"].as_object().expect("hvp_vector") {
                let g = grads.wrt(&vars[k]).unwrap_or_else(|e| panic!("{name}: grad {k}: {e}"));
                dot = dot.add(&g.mul(&tensor(v)).expect("hvp shapes").sum_all()).expect("scalar add");
            }
            let hvp = dot.backward().unwrap_or_else(|e| panic!("{name}: hvp backward: {e}"));
            for (k, want) in case["hvp"].as_object().expect("hvp") {
                let want = tensor(want);
                let got = hvp.get_or_zeros(&vars[k]);
                assert_close(&format!("{name} hvp {k}"), &got.to_vec(), &want.to_vec(), &mut worst);
            }
        }
    }
    eprintln!("grads_torch: {} cases, largest relative deviation {worst:.3e}", cases.len());
}

/// The same cases through the function transforms (`func::grad`, `func::hvp`), as a
/// `torch.func` user would compute them: the inputs are plain data, the transforms
/// make the variables.
#[test]
fn every_case_matches_pytorch_through_func() {
    use tensor_core::func;
    let path = fixtures_dir().join("grads_torch.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let root: Value = serde_json::from_str(&text).expect("fixture JSON");
    let mut worst = 0.0f64;
    for case in root["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let (labels, wrt) = (labels_of(case), wrt_of(case));
        let data: Vars =
            case["inputs"].as_object().expect("inputs").iter().map(|(k, t)| (k.clone(), tensor(t))).collect();
        let points: Vec<Tensor<f64>> = wrt.iter().map(|k| data[k].clone()).collect();
        let f = |xs: &[Tensor<f64>]| {
            let mut v = data.clone();
            for (k, x) in wrt.iter().zip(xs) {
                v.insert(k.clone(), x.clone());
            }
            evaluate(name, &v, &labels)
        };
        let grads = func::grad(f, &points).unwrap_or_else(|e| panic!("{name}: func::grad: {e}"));
        for (k, got) in wrt.iter().zip(&grads) {
            assert!(!got.is_recorded(), "{name}: grads of plain data are plain data");
            assert_close(
                &format!("{name} func::grad {k}"),
                &got.to_vec(),
                &tensor(&case["grads"][k]).to_vec(),
                &mut worst,
            );
        }
        if case.get("hvp").is_some() {
            let vectors: Vec<Tensor<f64>> = wrt
                .iter()
                .map(|k| case["hvp_vector"].get(k).map_or_else(|| data[k].zeros_like(), tensor))
                .collect();
            let (_, hv) =
                func::hvp(f, &points, &vectors).unwrap_or_else(|e| panic!("{name}: func::hvp: {e}"));
            for (k, got) in wrt.iter().zip(&hv) {
                let Some(want) = case["hvp"].get(k) else { continue };
                assert_close(
                    &format!("{name} func::hvp {k}"),
                    &got.to_vec(),
                    &tensor(want).to_vec(),
                    &mut worst,
                );
            }
        }
    }
    eprintln!("grads_torch through func: largest relative deviation {worst:.3e}");
}
