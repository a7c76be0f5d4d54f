"""PyTorch's side of `crates/tensor-core/benches/model_ops.rs` (issue 16).

Forward + backward of each op at the char_gpt shapes (activations [32, 64, 64],
attention scores [32, 4, 64, 64]), f32, one thread: each iteration makes the input a
fresh leaf, runs the op and `y.backward(dy)`. Prints one JSON object per op with the
median µs over `--samples` samples (each the mean of enough iterations to take
~`--sample-ms` ms), as criterion reports its median.

    python3 bench/torch_model_ops.py [--ops tanh,gelu] [--samples 20]
"""

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

ACT = (32, 64, 64)
SCORES = (32, 4, 64, 64)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ops", default="")
    p.add_argument("--samples", type=int, default=20)
    p.add_argument("--sample-ms", type=float, default=100.0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(16)
    act, dact = torch.randn(ACT), torch.randn(ACT)
    scores, dscores = torch.randn(SCORES), torch.randn(SCORES)
    gamma, beta = 1.0 + 0.1 * torch.randn(64), 0.1 * torch.randn(64)
    causal = torch.ones(64, 64, dtype=torch.bool).triu(1)

    def unary(x, dy, f):
        def run():
            xl = x.detach().requires_grad_()
            f(xl).backward(dy)

        return run

    def layer_norm():
        x, g, b = (t.detach().requires_grad_() for t in (act, gamma, beta))
        F.layer_norm(x, (64,), g, b, 1e-5).backward(dact)

    ops = {
        "tanh": unary(act, dact, torch.tanh),
        "sigmoid": unary(act, dact, torch.sigmoid),
        "exp": unary(act, dact, torch.exp),
        "gelu": unary(act, dact, F.gelu),
        "square": unary(act, dact, torch.square),
        "softmax": unary(scores, dscores, lambda x: x.softmax(-1)),
        "masked_fill": unary(scores, dscores, lambda x: x.masked_fill(causal, float("-inf"))),
        "layer_norm": layer_norm,
    }
    wanted = [o for o in args.ops.split(",") if o] or list(ops)
    for name in wanted:
        run = ops[name]
        for _ in range(20):
            run()
        t0 = time.perf_counter()
        n = 0
        while time.perf_counter() - t0 < args.sample_ms / 1000:
            run()
            n += 1
        samples = []
        for _ in range(args.samples):
            t0 = time.perf_counter()
            for _ in range(n):
                run()
            samples.append((time.perf_counter() - t0) / n * 1e6)
        print(json.dumps({"op": name, "us": statistics.median(samples), "threads": args.threads}), flush=True)


if __name__ == "__main__":
    main()
