#!/usr/bin/env python3
"""PyTorch's side of the tapegrad benchmark's named models (issue 16).

The models are those of crates/bench/src/models.rs under the same parameter names
(the char models as in scripts/char_models_torch.py); the harness writes tapegrad's
initial weights to a safetensors file (--init) and this script loads them, so both
sides start from the same weights. Data come from the same SplitMix64 generator as
torch_mlp.py: images from the pixel stream, labels and characters from the label
stream, a few batches built before timing and cycled in the same order. Protocol:
--warmup steps, then --epochs timed runs of --steps steps; prints one JSON line:
{"samples_per_sec": ..., "epoch_samples_per_sec": [...], "peak_rss_bytes": ..., "final_loss": ...}

    python3 bench/torch_models.py --model cnn-mnist --threads 1 --init /tmp/init.safetensors
"""
import argparse
import itertools
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from torch_mlp import labels, peak_rss_bytes, pixels

DATA_BATCHES = 8
VOCAB = 65
BATCH = {"cnn-mnist": 64, "conv2d-320": 2, "lstm-char": 32, "gpt-char": 32}


class CnnMnist(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = torch.nn.Linear(64 * 7 * 7, 128)
        self.fc2 = torch.nn.Linear(128, 10)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        return self.fc2(F.relu(self.fc1(h.flatten(1))))


class OneConv(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 16, 3, padding=1)


class Block(torch.nn.Module):
    """nn's TransformerBlock: pre-LayerNorm, causal, batch-first, GELU (erf) MLP of 4E."""

    def __init__(self, e, heads):
        super().__init__()
        self.ln_1 = torch.nn.LayerNorm(e)
        self.attn = torch.nn.MultiheadAttention(e, heads, batch_first=True)
        self.ln_2 = torch.nn.LayerNorm(e)
        self.fc1 = torch.nn.Linear(e, 4 * e)
        self.fc2 = torch.nn.Linear(4 * e, e)

    def forward(self, x):
        t = x.shape[1]
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)  # True = may not attend
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.fc2(F.gelu(self.fc1(self.ln_2(x))))


class CharGpt(torch.nn.Module):
    def __init__(self, vocab=VOCAB, block=64, embed=64, heads=4, layers=2):
        super().__init__()
        self.tok_emb = torch.nn.Embedding(vocab, embed)
        self.pos_emb = torch.nn.Embedding(block, embed)
        self.blocks = torch.nn.ModuleList(Block(embed, heads) for _ in range(layers))
        self.ln_f = torch.nn.LayerNorm(embed)
        self.head = torch.nn.Linear(embed, vocab)

    def forward(self, tokens):
        x = self.tok_emb(tokens) + self.pos_emb(torch.arange(tokens.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


class CharLstm(torch.nn.Module):
    def __init__(self, vocab=VOCAB, embed=64, hidden=128):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab, embed)
        self.lstm = torch.nn.LSTM(embed, hidden, num_layers=1, batch_first=True)
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, tokens):
        return self.head(self.lstm(self.embedding(tokens))[0])


def load_weights(model, path):
    """nn's names are PyTorch's; only nn.Linear weights need transposing back to (out, in)."""
    state = load_file(path)
    linears = {n for n, m in model.named_modules() if type(m) is torch.nn.Linear}
    for name in list(state):
        if name.endswith(".weight") and name[: -len(".weight")] in linears:
            state[name] = state[name].t().contiguous()
    expected = set(model.state_dict())
    if set(state) != expected:
        sys.exit(f"weight names differ: only in the file {sorted(set(state) - expected)}, "
                 f"only in the model {sorted(expected - set(state))}")
    model.load_state_dict(state)


def batches(model, seed):
    """The batches of crates/bench/src/models.rs, bit for bit."""
    b = BATCH[model]
    if model == "cnn-mnist":
        x = torch.from_numpy(pixels(seed, DATA_BATCHES * b, 784)).reshape(-1, 1, 28, 28)
        y = torch.from_numpy(labels(seed, DATA_BATCHES * b, 10))
        return [(x[i * b:(i + 1) * b], y[i * b:(i + 1) * b]) for i in range(DATA_BATCHES)]
    if model == "conv2d-320":
        return [(torch.from_numpy(pixels(seed, b, 3 * 320 * 320)).reshape(b, 3, 320, 320), None)]
    seq = 32 if model == "lstm-char" else 64
    chars = torch.from_numpy(labels(seed, DATA_BATCHES * b * (seq + 1), VOCAB)).reshape(DATA_BATCHES, b, seq + 1)
    return [(c[:, :seq].contiguous(), c[:, 1:].reshape(-1)) for c in chars]


def build(model):
    """The module, its optimizer (None: no update) and its loss of a batch."""
    if model == "cnn-mnist":
        m = CnnMnist()
        return m, torch.optim.SGD(m.parameters(), lr=0.05), lambda x, y: F.cross_entropy(m(x), y)
    if model == "conv2d-320":
        m = OneConv()
        return m, None, lambda x, y: m.conv(x).sum()
    if model == "lstm-char":
        m = CharLstm()
        opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    elif model == "gpt-char":
        m = CharGpt()
        opt = torch.optim.AdamW(m.parameters(), lr=2e-3, betas=(0.9, 0.99), weight_decay=0.01)
    else:
        sys.exit(f"unknown model {model!r}")
    return m, opt, lambda x, y: F.cross_entropy(m(x).reshape(-1, VOCAB), y)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, choices=sorted(BATCH))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", help="tapegrad's initial weights (safetensors); default: PyTorch's own init")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model, opt, loss_of = build(a.model)
    if a.init:
        load_weights(model, a.init)
    data = batches(a.model, a.seed)

    def step(x, y):
        if opt is not None:
            opt.zero_grad(set_to_none=True)
        else:
            model.zero_grad(set_to_none=True)
        loss = loss_of(x, y)
        loss.backward()
        if opt is not None:
            opt.step()
        return loss

    cycle = itertools.cycle(data)
    for xb, yb in itertools.islice(cycle, a.warmup):
        step(xb, yb)
    per_epoch = []
    loss = None
    for _ in range(a.epochs):
        start = time.perf_counter()
        for xb, yb in itertools.islice(cycle, a.steps):
            loss = step(xb, yb)
        per_epoch.append(a.steps * BATCH[a.model] / (time.perf_counter() - start))
    print(json.dumps({
        "samples_per_sec": statistics.median(per_epoch),
        "epoch_samples_per_sec": per_epoch,
        "peak_rss_bytes": peak_rss_bytes(),
        "final_loss": float(loss.item()) if loss is not None else float("nan"),
    }))


if __name__ == "__main__":
    main()
