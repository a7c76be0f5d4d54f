"""Replays a tapegrad character-model trace in PyTorch and checks the losses agree.

The examples char_gpt and char_lstm, run with `--trace DIR`, train 10 steps in f64 and write

  DIR/init.safetensors   the weights before the first step, under nn's names (nn's Linear
                         stores its weight as (in, out); PyTorch's as (out, in))
  DIR/trace.safetensors  `inputs`, `targets` (steps, batch, block) as float64 token ids,
                         `losses` (steps); metadata: the model's kind and sizes, and the
                         optimizer's hyper-parameters as JSON (optim's HyperParams)

This script builds the same model in PyTorch (float64), loads those weights, runs the same
optimizer on the same batches and compares each step's loss with tapegrad's. It exits 1 when
a loss differs by more than 1e-9 relative (or `--tol`).

  cargo run --release -p tapegrad --example char_gpt -- --trace /tmp/char_gpt
  python3 scripts/char_models_torch.py /tmp/char_gpt

Run by hand; the build and the tests never need Python.
"""
import argparse
import json
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

torch.set_default_dtype(torch.float64)


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
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.ln_2(x))))


class CharGpt(torch.nn.Module):
    def __init__(self, vocab, block, embed, heads, layers):
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
    def __init__(self, vocab, embed, hidden, layers):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab, embed)
        self.lstm = torch.nn.LSTM(embed, hidden, num_layers=layers, batch_first=True)
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, tokens):
        return self.head(self.lstm(self.embedding(tokens))[0])


def build(meta):
    vocab = int(meta["vocab"])
    if meta["model"] == "gpt":
        return CharGpt(vocab, int(meta["block"]), int(meta["embed"]), int(meta["heads"]), int(meta["layers"]))
    if meta["model"] == "lstm":
        return CharLstm(vocab, int(meta["embed"]), int(meta["hidden"]), int(meta["layers"]))
    sys.exit(f"unknown model kind {meta['model']!r}")


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


def optimizer(model, hyper):
    (kind, c), = hyper.items()
    common = dict(lr=c["lr"], betas=(c["beta1"], c["beta2"]), eps=c["eps"],
                  weight_decay=c["weight_decay"], amsgrad=c["amsgrad"])
    if kind == "AdamW":
        return torch.optim.AdamW(model.parameters(), **common)
    if kind == "Adam":
        return torch.optim.Adam(model.parameters(), **common)
    sys.exit(f"this script replays Adam and AdamW, not {kind}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", help="the folder a `--trace DIR` run wrote")
    parser.add_argument("--tol", type=float, default=1e-9, help="largest relative loss difference allowed")
    args = parser.parse_args()

    with safe_open(os.path.join(args.dir, "trace.safetensors"), "pt") as f:
        meta = f.metadata()
        inputs, targets, losses = (f.get_tensor(k) for k in ("inputs", "targets", "losses"))
    torch.manual_seed(0)  # the weights are loaded; nothing here is random after that
    model = build(meta)
    load_weights(model, os.path.join(args.dir, "init.safetensors"))
    opt = optimizer(model, json.loads(meta["optimizer"]))
    print(f"{meta['model']}: {sum(p.numel() for p in model.parameters())} parameters, "
          f"{inputs.shape[0]} steps of {inputs.shape[1]}×{inputs.shape[2]} tokens, {meta['optimizer']}")

    worst = 0.0
    for step in range(inputs.shape[0]):
        x, y = inputs[step].long(), targets[step].long()
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        ours, theirs = losses[step].item(), loss.item()
        rel = abs(ours - theirs) / abs(theirs)
        worst = max(worst, rel)
        print(f"step {step + 1:>2}  tapegrad {ours:.17e}  torch {theirs:.17e}  relative {rel:.2e}")
    verdict = "agree" if worst <= args.tol else "DISAGREE"
    print(f"largest relative deviation {worst:.3e}: the losses {verdict} (tolerance {args.tol:g})")
    return 0 if worst <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
