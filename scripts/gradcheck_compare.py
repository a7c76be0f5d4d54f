#!/usr/bin/env python3
"""The planted gradient bugs of crates/tensor-core/tests/gradcheck_checker.rs, run through
PyTorch's torch.autograd.gradcheck / gradgradcheck and JAX's jax.test_util.check_grads,
the way a user of those tools checks a custom op: one fixed shape, random normal values.

Prints the PyTorch and JAX columns of the table in docs/gradcheck.md (markdown).
Optional: the project never needs Python to build or test.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch "jax[cpu]"
    /tmp/venv/bin/python scripts/gradcheck_compare.py            # both
    /tmp/venv/bin/python scripts/gradcheck_compare.py --only jax # or --only torch

Each bug is a custom op (torch.autograd.Function / jax.custom_vjp) whose backward rule is
written with differentiable ops, as in the Rust test; the "twin" is the correct rule.
"caught" means the checker reported a failure (or raised); "missed" means it passed.
"""

import argparse
import sys
import warnings

import numpy as np

SHAPE = (3, 4)
SEED = 0


def inputs(rng, shape=SHAPE, low=None):
    x = rng.standard_normal(shape)
    if low is not None:  # keep away from a singularity, as a careful user would
        x = np.where(np.abs(x) < low, np.sign(x + 1e-12) * low, x)
    return x


# ----------------------------------------------------------------------------------------
# The cases: name -> (description, builder). A builder gets the framework module and
# returns (f, args, second_order_too).
# ----------------------------------------------------------------------------------------


def cases(rng):
    x = inputs(rng)
    x_away = inputs(rng, low=0.2)
    x40 = rng.uniform(-1.0, 1.0, (40, 40))
    w_bias = rng.standard_normal((4,))
    w_full = rng.standard_normal(SHAPE)
    x_zero = x.copy()
    x_zero[0, 0] = 0.0
    return [
        ("ignores dy (Σx², scalar output)", "sum_sq", (x,), {}),
        ("uses dy² (x², non-scalar output)", "square", (x,), {}),
        ("wrong rule, inputs away from 0 (1/x)", "recip", (x_away,), {}),
        ("any rule at x = 1e-6 (1/x; numeric is inf)", "recip_tiny", (np.array([1e-6]),), {}),
        ("one wrong element of 40×40 (x²)", "square_one_wrong", (x40,), {}),
        ("rule not differentiable (x³, 2nd order)", "cube", (x,), {}),
        ("f32-only op, wrong rule (softsign)", "softsign32", (x.astype(np.float32),), {}),
        ("forgot to record (exp)", "exp_unrecorded", (x,), {}),
        ("wrong where ‖x‖ ≠ 1 (L2 norm)", "l2_norm", (x,), {}),
        ("axis bug: rule uses the last axis (axis −1 tested)", "center", (x,), {"axis": -1}),
        ("axis bug: rule uses the last axis (axis 0 tested)", "center", (x,), {"axis": 0}),
        ("broadcast bug: mean for sum (w of shape [4])", "scale", (x, w_bias), {}),
        ("broadcast bug: mean for sum (w of x's shape)", "scale", (x, w_full), {}),
        ("subgradient at the kink: abs'(0) = 1 (random x)", "abs", (x,), {}),
        ("subgradient at the kink: abs'(0) = 1 (x holds a 0)", "abs", (x_zero,), {}),
        ("rule keeps state: drifts by 1e-9 a call (x²)", "drifting", (x,), {}),
        ("plainly wrong rule (tanh' = 1 − y)", "tanh", (x,), {}),
        ("NaN from the rule (2x, rule dy/(x − x))", "nan_rule", (x,), {}),
    ]


# ----------------------------------------------------------------------------------------
# PyTorch
# ----------------------------------------------------------------------------------------


def torch_op(name, bug, **kw):
    import torch

    def fn(fwd, bwd, n_in=1):
        class Op(torch.autograd.Function):
            @staticmethod
            def forward(ctx, *xs):
                y = fwd(*[x.detach() for x in xs])
                ctx.save_for_backward(*xs, y)
                return y

            @staticmethod
            def backward(ctx, dy):
                *xs, y = ctx.saved_tensors
                return bwd(dy, xs, y)

        return Op.apply

    if name == "sum_sq":
        return fn(lambda x: (x * x).sum(), lambda dy, xs, y: (2 * xs[0] if bug else 2 * xs[0] * dy,))
    if name == "square":
        return fn(lambda x: x * x, lambda dy, xs, y: ((dy * dy if bug else dy) * 2 * xs[0],))
    if name in ("recip", "recip_tiny"):
        return fn(lambda x: 1 / x, lambda dy, xs, y: (-dy / (xs[0] if bug else xs[0] * xs[0]),))
    if name == "square_one_wrong":

        def bwd(dy, xs, y):
            g = dy * 2 * xs[0]
            if bug:
                bump = torch.zeros_like(g)
                bump[17, 23] = 0.005
                g = g + dy * bump
            return (g,)

        return fn(lambda x: x * x, bwd)
    if name == "cube":
        local = (lambda x: 3 * x.detach() * x.detach()) if bug else (lambda x: 3 * x * x)
        return fn(lambda x: x**3, lambda dy, xs, y: (dy * local(xs[0]),))
    if name == "softsign32":

        def bwd(dy, xs, y):
            d = 1 + xs[0].abs()
            return (dy / (d if bug else d * d),)

        return fn(lambda x: x / (1 + x.abs()), bwd)
    if name == "exp_unrecorded":
        if bug:
            # The value computed outside autograd: the output has no grad_fn.
            return lambda x: torch.from_numpy(np.exp(x.detach().numpy()))
        return fn(lambda x: x.exp(), lambda dy, xs, y: (dy * y,))
    if name == "l2_norm":
        return fn(lambda x: x.norm(), lambda dy, xs, y: (xs[0] * dy / (y * y if bug else y),))
    if name == "center":
        axis = kw["axis"]
        along = -1 if bug else axis
        return fn(
            lambda x: x - x.mean(axis, keepdim=True),
            lambda dy, xs, y: (dy - dy.mean(along, keepdim=True),),
        )
    if name == "scale":

        def bwd(dy, xs, y):
            x, w = xs
            gw = dy * x
            lead = y.dim() - w.dim()
            for d in range(y.dim()):
                wd = 1 if d < lead else w.shape[d - lead]
                if wd == 1 and y.shape[d] != 1:
                    gw = gw.mean(d, keepdim=True) if bug else gw.sum(d, keepdim=True)
            # PyTorch does not reduce a custom backward's result: finish the reduction.
            gw = gw.reshape(-1, *w.shape).sum(0) if gw.dim() > w.dim() else gw
            return dy * w, gw

        return fn(lambda x, w: x * w, bwd)
    if name == "abs":

        def bwd(dy, xs, y):
            x = xs[0]
            sign = torch.where(x > 0, 1.0, torch.where(x < 0, -1.0, 1.0 if bug else 0.0)).to(x.dtype)
            return (dy * sign,)

        return fn(lambda x: x.abs(), bwd)
    if name == "drifting":
        calls = [0]

        def bwd(dy, xs, y):
            calls[0] += 1
            return (dy * 2 * xs[0] * ((1 + 1e-9 * calls[0]) if bug else 1.0),)

        return fn(lambda x: x * x, bwd)
    if name == "tanh":
        return fn(lambda x: x.tanh(), lambda dy, xs, y: (dy * (1 - (y if bug else y * y)),))
    if name == "nan_rule":
        if bug:
            return fn(lambda x: 2 * x, lambda dy, xs, y: (dy / (xs[0] - xs[0]),))
        return fn(lambda x: 2 * x, lambda dy, xs, y: (2 * dy,))
    raise ValueError(name)


def run_torch(name, args, kw, bug):
    import torch

    dtype = torch.float32 if name == "softsign32" else torch.float64
    xs = tuple(torch.tensor(a, dtype=dtype, requires_grad=True) for a in args)
    f = torch_op(name, bug, **kw)
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, check in (("1st", torch.autograd.gradcheck), ("2nd", torch.autograd.gradgradcheck)):
            if key == "2nd" and name in ("recip_tiny", "square_one_wrong"):
                continue
            try:
                ok = check(f, xs, raise_exception=False)
            except Exception as e:  # noqa: BLE001 - any error is a report
                ok = False
                results[key + "_error"] = type(e).__name__
            results[key] = "pass" if ok else "FAIL"
    return results


# ----------------------------------------------------------------------------------------
# JAX
# ----------------------------------------------------------------------------------------


def jax_op(name, bug, **kw):
    import jax
    import jax.numpy as jnp

    def fn(fwd, bwd, n_in=1):
        @jax.custom_vjp
        def op(*xs):
            return fwd(*xs)

        def op_fwd(*xs):
            y = fwd(*xs)
            return y, (xs, y)

        def op_bwd(res, dy):
            xs, y = res
            return tuple(bwd(dy, xs, y))

        op.defvjp(op_fwd, op_bwd)
        return op

    sg = jax.lax.stop_gradient
    if name == "sum_sq":
        return fn(lambda x: (x * x).sum(), lambda dy, xs, y: (2 * xs[0] if bug else 2 * xs[0] * dy,))
    if name == "square":
        return fn(lambda x: x * x, lambda dy, xs, y: ((dy * dy if bug else dy) * 2 * xs[0],))
    if name in ("recip", "recip_tiny"):
        return fn(lambda x: 1 / x, lambda dy, xs, y: (-dy / (xs[0] if bug else xs[0] * xs[0]),))
    if name == "square_one_wrong":

        def bwd(dy, xs, y):
            g = dy * 2 * xs[0]
            if bug:
                g = g + dy * jnp.zeros_like(g).at[17, 23].set(0.005)
            return (g,)

        return fn(lambda x: x * x, bwd)
    if name == "cube":
        local = (lambda x: 3 * sg(x) * sg(x)) if bug else (lambda x: 3 * x * x)
        return fn(lambda x: x**3, lambda dy, xs, y: (dy * local(xs[0]),))
    if name == "softsign32":

        def bwd(dy, xs, y):
            d = 1 + jnp.abs(xs[0])
            return (dy / (d if bug else d * d),)

        return fn(lambda x: x / (1 + jnp.abs(x)), bwd)
    if name == "exp_unrecorded":
        if bug:
            # JAX traces everything; the analogue of a missing record is a value cut
            # from the graph.
            return lambda x: sg(jnp.exp(x))
        return fn(jnp.exp, lambda dy, xs, y: (dy * y,))
    if name == "l2_norm":
        return fn(lambda x: jnp.sqrt((x * x).sum()), lambda dy, xs, y: (xs[0] * dy / (y * y if bug else y),))
    if name == "center":
        axis = kw["axis"]
        along = -1 if bug else axis
        return fn(
            lambda x: x - x.mean(axis, keepdims=True),
            lambda dy, xs, y: (dy - dy.mean(along, keepdims=True),),
        )
    if name == "scale":

        def bwd(dy, xs, y):
            x, w = xs
            gw = dy * x
            lead = y.ndim - w.ndim
            for d in range(y.ndim):
                wd = 1 if d < lead else w.shape[d - lead]
                if wd == 1 and y.shape[d] != 1:
                    gw = gw.mean(d, keepdims=True) if bug else gw.sum(d, keepdims=True)
            gw = gw.reshape(-1, *w.shape).sum(0) if gw.ndim > w.ndim else gw
            return dy * w, gw

        return fn(lambda x, w: x * w, bwd)
    if name == "abs":

        def bwd(dy, xs, y):
            x = xs[0]
            sign = jnp.where(x > 0, 1.0, jnp.where(x < 0, -1.0, 1.0 if bug else 0.0))
            return (dy * sign,)

        return fn(jnp.abs, bwd)
    if name == "drifting":
        calls = [0]

        def bwd(dy, xs, y):
            # Python state in a traced rule: counts traces, as a stateful rule would.
            calls[0] += 1
            return (dy * 2 * xs[0] * ((1 + 1e-9 * calls[0]) if bug else 1.0),)

        return fn(lambda x: x * x, bwd)
    if name == "tanh":
        return fn(jnp.tanh, lambda dy, xs, y: (dy * (1 - (y if bug else y * y)),))
    if name == "nan_rule":
        if bug:
            return fn(lambda x: 2 * x, lambda dy, xs, y: (dy / (xs[0] - xs[0]),))
        return fn(lambda x: 2 * x, lambda dy, xs, y: (2 * dy,))
    raise ValueError(name)


def run_jax(name, args, kw, bug):
    import jax
    import jax.numpy as jnp
    from jax.test_util import check_grads

    dtype = jnp.float32 if name == "softsign32" else jnp.float64
    xs = tuple(jnp.asarray(a, dtype=dtype) for a in args)
    f = jax_op(name, bug, **kw)
    results = {}
    for key, order in (("1st", 1), ("2nd", 2)):
        if key == "2nd" and name in ("recip_tiny", "square_one_wrong"):
            continue
        try:
            # Reverse mode only: custom_vjp has no forward mode.
            check_grads(f, xs, order=order, modes=["rev"])
            results[key] = "pass"
        except AssertionError:
            results[key] = "FAIL"
        except Exception as e:  # noqa: BLE001
            results[key] = "FAIL"
            results[key + "_error"] = type(e).__name__
    del jax
    return results


def verdict(bug_result, twin_result):
    """caught / missed for the bug, and whether the correct twin passed."""
    caught = any(bug_result.get(k) == "FAIL" for k in ("1st", "2nd"))
    twin_ok = all(v == "pass" for k, v in twin_result.items() if not k.endswith("_error"))
    text = "caught" if caught else "missed"
    detail = "/".join(f"{k}:{bug_result[k]}" for k in ("1st", "2nd") if k in bug_result)
    if not twin_ok:
        failing = ", ".join(k for k in ("1st", "2nd") if twin_result.get(k) == "FAIL")
        text += f" (correct twin FAILS too: {failing})"
    return f"{text} [{detail}]"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["torch", "jax"])
    a = parser.parse_args()
    frameworks = []
    if a.only in (None, "torch"):
        import torch

        frameworks.append(("PyTorch " + torch.__version__, run_torch))
    if a.only in (None, "jax"):
        import jax

        jax.config.update("jax_enable_x64", True)
        frameworks.append(("JAX " + jax.__version__, run_jax))
    rng = np.random.default_rng(SEED)
    rows = cases(rng)
    print("| planted bug | " + " | ".join(n for n, _ in frameworks) + " |")
    print("|---|" + "---|" * len(frameworks))
    for desc, name, args, kw in rows:
        cells = []
        for _, run in frameworks:
            bug = run(name, args, kw, True)
            twin = run(name, args, kw, False)
            cells.append(verdict(bug, twin))
        print(f"| {desc} | " + " | ".join(cells) + " |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
