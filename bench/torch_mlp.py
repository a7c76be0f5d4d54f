#!/usr/bin/env python3
"""PyTorch's side of the tapegrad MLP benchmark (issue 7's protocol).

Synthetic MNIST-shaped data and initial weights come from the same counter-based
generator (SplitMix64) as crates/bench/src/data.rs, so both sides train the same
model on the same data. Prints one JSON line:
{"samples_per_sec": ..., "epoch_samples_per_sec": [...], "peak_rss_bytes": ..., "final_loss": ...}

    python3 bench/torch_mlp.py --model 784-128-10 --batch-size 64 --threads 1
"""
import argparse
import json
import math
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

MASK = (1 << 64) - 1


def splitmix64_int(x):
    z = (x + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def splitmix64(x):
    """Vectorised SplitMix64 over a uint64 array (wrapping arithmetic)."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def stream_base(seed, stream):
    return splitmix64_int((seed * 4 + stream) & MASK)


def units(base, start, count):
    """Uniform [0, 1) float32 numbers start..start+count of a stream (24 bits each)."""
    i = np.arange(start, start + count, dtype=np.uint64) + np.uint64(base)
    return (splitmix64(i) >> np.uint64(40)).astype(np.float32) / np.float32(1 << 24)


def pixels(seed, samples, features):
    base = stream_base(seed, 0)
    out = np.empty(samples * features, dtype=np.float32)
    chunk = 1 << 20  # keeps the generator's temporaries out of the peak RSS
    for start in range(0, out.size, chunk):
        n = min(chunk, out.size - start)
        out[start:start + n] = units(base, start, n)
    return out.reshape(samples, features)


def labels(seed, samples, classes):
    base = stream_base(seed, 1)
    i = np.arange(samples, dtype=np.uint64) + np.uint64(base)
    return (splitmix64(i) % np.uint64(classes)).astype(np.int64)


def layer_init(seed, layer, inputs, outputs):
    base = stream_base(seed, 2 + layer)
    bound = np.float32(1.0 / math.sqrt(inputs))
    values = (np.float32(2.0) * units(base, 0, inputs * outputs + outputs) - np.float32(1.0)) * bound
    w = values[: inputs * outputs].reshape(inputs, outputs)
    return w, values[inputs * outputs:]


def peak_rss_bytes():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="784-128-10")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--samples", type=int, default=60000)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=0.1)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    sizes = [int(s) for s in a.model.split("-")]
    x = torch.from_numpy(pixels(a.seed, a.samples, sizes[0]))
    y = torch.from_numpy(labels(a.seed, a.samples, sizes[-1]))
    layers = []
    for layer, (inputs, outputs) in enumerate(zip(sizes, sizes[1:])):
        lin = torch.nn.Linear(inputs, outputs)
        w, b = layer_init(a.seed, layer, inputs, outputs)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if layer < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr)
    b = a.batch_size
    batches = [(x[i * b:(i + 1) * b], y[i * b:(i + 1) * b]) for i in range(a.samples // b)]

    def step(xb, yb):
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    for i in range(a.warmup):
        step(*batches[i % len(batches)])
    per_epoch = []
    loss = None
    for _ in range(a.epochs):
        start = time.perf_counter()
        for xb, yb in batches:
            loss = step(xb, yb)
        per_epoch.append(len(batches) * b / (time.perf_counter() - start))
    print(json.dumps({
        "samples_per_sec": statistics.median(per_epoch),
        "epoch_samples_per_sec": per_epoch,
        "peak_rss_bytes": peak_rss_bytes(),
        "final_loss": float(loss.item()) if loss is not None else float("nan"),
    }))


if __name__ == "__main__":
    main()
