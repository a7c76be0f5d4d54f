"""Paired rounds of tapegrad's `model_ops` criterion bench and `torch_model_ops.py`
(issue 16): for each round, ours then PyTorch's, back to back; prints per op the
median µs of each side and the median of the per-round ratios (ours ÷ PyTorch, so
below 1 is faster than PyTorch), as Markdown.

    cargo bench -p tensor-core --bench model_ops --no-run   # build first
    python3 bench/compare_model_ops.py --exe <the model_ops bench executable> --rounds 3

`--target-dir` is where criterion writes its estimates (the cargo target dir).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

OPS = ["tanh", "sigmoid", "exp", "gelu", "square", "softmax", "masked_fill", "layer_norm"]


def ours(exe, target_dir, ops):
    env = dict(os.environ, RAYON_NUM_THREADS="1", CARGO_TARGET_DIR=target_dir)
    out = {}
    for op in ops:
        subprocess.run(
            [exe, "--bench", f"^model_ops/{op}$", "--noplot"], env=env, check=True, stdout=subprocess.DEVNULL
        )
        path = os.path.join(target_dir, "criterion", "model_ops", op, "new", "estimates.json")
        with open(path) as f:
            out[op] = json.load(f)["median"]["point_estimate"] / 1000.0
    return out


def torch_side(script, ops):
    res = subprocess.run(
        [sys.executable, script, "--ops", ",".join(ops)], check=True, capture_output=True, text=True
    )
    return {d["op"]: d["us"] for d in map(json.loads, res.stdout.splitlines())}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--exe", required=True)
    p.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", "target"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--ops", default=",".join(OPS))
    p.add_argument("--torch-script", default=os.path.join(os.path.dirname(__file__), "torch_model_ops.py"))
    args = p.parse_args()
    ops = args.ops.split(",")
    rounds = []
    for r in range(args.rounds):
        a = ours(args.exe, args.target_dir, ops)
        b = torch_side(args.torch_script, ops)
        rounds.append((a, b))
        print(f"round {r + 1}: " + ", ".join(f"{o} {a[o]:.0f}/{b[o]:.0f}" for o in ops), file=sys.stderr)
    print("| op | tapegrad µs | PyTorch µs | ratio (ours ÷ PyTorch), per round |")
    print("|---|---:|---:|---|")
    for o in ops:
        ta = statistics.median(a[o] for a, _ in rounds)
        tb = statistics.median(b[o] for _, b in rounds)
        ratios = [a[o] / b[o] for a, b in rounds]
        each = ", ".join(f"{x:.2f}" for x in ratios)
        print(f"| {o} | {ta:,.0f} | {tb:,.0f} | **{statistics.median(ratios):.2f}×** ({each}) |")


if __name__ == "__main__":
    main()
