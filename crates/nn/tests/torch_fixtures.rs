//! PyTorch conformance through nn: the `grads_torch.json` cases that are models and losses
//! (`mlp_tanh_mse`, `mlp_relu_ce`, `logistic_bce`, `bce_with_logits_extreme`,
//! `cross_entropy_extreme`) are rebuilt from nn's `Linear`, activations and losses, with the
//! layers' parameters set from the fixture's `w`/`b` (stored inputs × outputs, as `Linear`'s
//! weight), and must reproduce PyTorch's loss, gradients and (where given) Hessian-vector
//! products to 1e-8 relative.
//!
//! The folder is `TAPEGRAD_FIXTURES` when set, else the project's `fixtures`. Cases with
//! other names are tensor-core's and are skipped; nothing depends on how many cases there are.

use nn::loss::{self, Reduction};
use nn::{Activation, Linear, Module, Sequential};
use serde_json::Value;
use std::collections::BTreeMap;
use tensor_core::{BackwardOptions, Gradients, Parameter, Tensor};

const RTOL: f64 = 1e-8;
const ATOL: f64 = 1e-12;
const NN_CASES: [&str; 5] =
    ["mlp_tanh_mse", "mlp_relu_ce", "logistic_bce", "bce_with_logits_extreme", "cross_entropy_extreme"];

type Fallible<T> = Result<T, String>;

fn fixtures_dir() -> (std::path::PathBuf, bool) {
    match std::env::var_os("TAPEGRAD_FIXTURES") {
        Some(dir) => (dir.into(), true),
        None => (concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures").into(), false),
    }
}

fn tensor(value: &Value) -> Fallible<Tensor<f64>> {
    let shape: Vec<usize> = value["shape"]
        .as_array()
        .ok_or("tensor without a shape")?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize).ok_or("bad dimension"))
        .collect::<Result<_, _>>()?;
    let data: Vec<f64> = value["data"]
        .as_array()
        .ok_or("tensor without data")?
        .iter()
        .map(|v| v.as_f64().ok_or("non-numeric element"))
        .collect::<Result<_, _>>()?;
    Tensor::from_vec(data, &shape).map_err(|e| e.to_string())
}

fn tensors(case: &Value, key: &str) -> Fallible<BTreeMap<String, Tensor<f64>>> {
    match case.get(key) {
        None => Ok(BTreeMap::new()),
        Some(map) => map
            .as_object()
            .ok_or(format!("`{key}` is not an object"))?
            .iter()
            .map(|(k, v)| Ok((k.clone(), tensor(v)?)))
            .collect(),
    }
}

/// Something the fixture differentiates: a plain variable or a layer's parameter.
enum Var {
    Input(Tensor<f64>),
    Param(Parameter<f64>),
}

impl Var {
    fn grad<'g>(&self, grads: &'g Gradients<f64>) -> Option<&'g Tensor<f64>> {
        match self {
            Var::Input(t) => grads.get(t),
            Var::Param(p) => grads.get_param(p),
        }
    }
}

/// The case written with nn: the loss (as a graph) and the handle of every named input.
struct Built {
    loss: Tensor<f64>,
    vars: BTreeMap<String, Var>,
}

fn input<'a>(inputs: &'a BTreeMap<String, Tensor<f64>>, name: &str) -> Fallible<&'a Tensor<f64>> {
    inputs.get(name).ok_or(format!("missing input `{name}`"))
}

fn linear(inputs: &BTreeMap<String, Tensor<f64>>, w: &str, b: &str) -> Fallible<Linear<f64>> {
    Linear::from_tensors(input(inputs, w)?, Some(input(inputs, b)?)).map_err(|e| e.to_string())
}

fn build(name: &str, inputs: &BTreeMap<String, Tensor<f64>>, labels: &[usize]) -> Fallible<Built> {
    let err = |e: nn::NnError| e.to_string();
    let mut vars = BTreeMap::new();
    let loss = match name {
        "mlp_tanh_mse" | "mlp_relu_ce" => {
            let (l1, l2) = (linear(inputs, "w1", "b1")?, linear(inputs, "w2", "b2")?);
            for (prefix, layer) in [("1", &l1), ("2", &l2)] {
                vars.insert(format!("w{prefix}"), Var::Param(layer.weight().clone()));
                let bias = layer.bias().ok_or("a layer lost its bias")?;
                vars.insert(format!("b{prefix}"), Var::Param(bias.clone()));
            }
            let x = input(inputs, "x")?.requires_grad();
            vars.insert("x".into(), Var::Input(x.clone()));
            let activation = if name == "mlp_tanh_mse" { Activation::Tanh } else { Activation::Relu };
            let model = Sequential::new().push(l1).push(activation).push(l2);
            let y = model.forward(&x).map_err(err)?;
            if name == "mlp_tanh_mse" {
                loss::mse(&y, input(inputs, "t")?, Reduction::Mean).map_err(err)?
            } else {
                loss::cross_entropy(&y, labels, Reduction::Mean).map_err(err)?
            }
        }
        "logistic_bce" => {
            let layer = linear(inputs, "w", "b")?;
            vars.insert("w".into(), Var::Param(layer.weight().clone()));
            vars.insert("b".into(), Var::Param(layer.bias().ok_or("the layer lost its bias")?.clone()));
            let x = input(inputs, "x")?.requires_grad();
            vars.insert("x".into(), Var::Input(x.clone()));
            let model = Sequential::new().push(layer).push(Activation::Sigmoid);
            loss::bce(&model.forward(&x).map_err(err)?, input(inputs, "t")?, Reduction::Mean).map_err(err)?
        }
        "bce_with_logits_extreme" => {
            let z = input(inputs, "z")?.requires_grad();
            vars.insert("z".into(), Var::Input(z.clone()));
            loss::bce_with_logits(&z, input(inputs, "t")?, Reduction::Mean).map_err(err)?
        }
        "cross_entropy_extreme" => {
            let z = input(inputs, "z")?.requires_grad();
            vars.insert("z".into(), Var::Input(z.clone()));
            loss::cross_entropy(&z, labels, Reduction::Mean).map_err(err)?
        }
        other => return Err(format!("no nn version of `{other}`")),
    };
    Ok(Built { loss, vars })
}

fn close(what: &str, actual: &[f64], expected: &[f64]) -> Fallible<()> {
    if actual.len() != expected.len() {
        return Err(format!("{what}: {} values, expected {}", actual.len(), expected.len()));
    }
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let error = (a - e).abs();
        if error.is_nan() || error > ATOL + RTOL * e.abs() {
            return Err(format!("{what}[{i}]: got {a:e}, PyTorch {e:e}"));
        }
    }
    Ok(())
}

fn run_case(case: &Value) -> Fallible<()> {
    let name = case["name"].as_str().unwrap_or_default();
    let inputs = tensors(case, "inputs")?;
    let labels: Vec<usize> = case
        .get("labels")
        .and_then(Value::as_array)
        .map(|l| l.iter().map(|v| v.as_u64().map(|v| v as usize).ok_or("bad label")).collect())
        .transpose()?
        .unwrap_or_default();
    let wrt: Vec<String> = case["wrt"]
        .as_array()
        .ok_or("no `wrt`")?
        .iter()
        .map(|v| v.as_str().map(String::from).ok_or("bad `wrt` entry"))
        .collect::<Result<_, _>>()?;
    let expected_grads = tensors(case, "grads")?;
    let hvp_vector = tensors(case, "hvp_vector")?;
    let expected_hvp = tensors(case, "hvp")?;
    let output = case["output"].as_f64().ok_or("no `output`")?;

    let built = build(name, &inputs, &labels)?;
    close("loss", &[built.loss.item().map_err(|e| e.to_string())?], &[output])?;
    let grads = built
        .loss
        .backward_with(BackwardOptions { create_graph: !expected_hvp.is_empty(), ..Default::default() })
        .map_err(|e| e.to_string())?;
    let var = |v: &str| built.vars.get(v).ok_or(format!("the fixture differentiates unknown `{v}`"));
    for v in &wrt {
        let expected = expected_grads.get(v).ok_or(format!("no expected gradient for `{v}`"))?;
        let g = var(v)?.grad(&grads).ok_or(format!("no gradient for `{v}`"))?;
        if g.shape() != expected.shape() {
            return Err(format!(
                "gradient of `{v}` has shape {:?}, expected {:?}",
                g.shape(),
                expected.shape()
            ));
        }
        close(&format!("d loss/d {v}"), g.as_slice(), expected.as_slice())?;
    }
    if expected_hvp.is_empty() {
        return Ok(());
    }
    // Hessian-vector product: the gradient of Σ_v ⟨∂loss/∂v, u_v⟩ with respect to each v.
    let mut dot: Option<Tensor<f64>> = None;
    for (v, u) in &hvp_vector {
        let g = var(v)?.grad(&grads).ok_or(format!("no gradient for `{v}`"))?;
        let term = g.mul(u).map_err(|e| e.to_string())?.sum_all();
        dot = Some(match dot {
            Some(d) => d.add(&term).map_err(|e| e.to_string())?,
            None => term,
        });
    }
    let second = dot.ok_or("empty hvp_vector")?.backward().map_err(|e| e.to_string())?;
    for (v, expected) in &expected_hvp {
        let h = var(v)?.grad(&second).cloned().unwrap_or_else(|| Tensor::zeros(expected.shape()).unwrap());
        close(&format!("hvp {v}"), h.as_slice(), expected.as_slice())?;
    }
    Ok(())
}

#[test]
fn pytorch_model_and_loss_cases_through_nn() {
    let (dir, external) = fixtures_dir();
    let path = dir.join("grads_torch.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let json: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    let cases = json["cases"].as_array().unwrap_or_else(|| panic!("{} has no `cases` array", path.display()));
    let mut ran = 0;
    let mut failures = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let name = case["name"].as_str().unwrap_or_default();
        if !NN_CASES.contains(&name) {
            continue;
        }
        ran += 1;
        if let Err(e) = run_case(case) {
            failures.push(format!("case {index} `{name}`: {e}"));
        }
    }
    println!("{ran} nn cases from {}", path.display());
    assert!(failures.is_empty(), "{} of {ran} cases failed:\n{}", failures.len(), failures.join("\n"));
    // The project's own copy holds nn cases; none running would mean they were silently lost.
    assert!(external || ran > 0, "no nn case found in {}", path.display());
}
