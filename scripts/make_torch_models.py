"""Builds small PyTorch models, trains each a few steps, and writes what the nn conformance
test (crates/nn/tests/torch_models.rs) needs into crates/nn/tests/data/:

  <model>.safetensors     the state dict, float64, loaded unchanged by nn — except that
                          nn.Linear weights are written transposed, (in, out), nn's Linear
                          layout, and batch norm's int64 num_batches_tracked as a float64
                          (the older form; nn also reads and writes it as I64 now, which
                          tests/count_buffers.rs checks, and keeps reading this form)
  <model>_io.safetensors  `input`, `output` (and `h_n`, `c_n` for recurrent models) and
                          `grad.<param>`: gradients of `loss = Σ output²/2` in PyTorch

Run by hand (`python3 scripts/make_torch_models.py`); the build and tests never need torch.
"""
import os

import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "nn", "tests", "data")
torch.manual_seed(17)
torch.set_default_dtype(torch.float64)


class Cnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.pool = torch.nn.MaxPool2d(2)
        self.fc = torch.nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(torch.relu(self.bn(self.conv(x)))), 1))


class Block(torch.nn.Module):
    """Pre-LayerNorm transformer block, causal, batch-first."""

    def __init__(self, e, heads):
        super().__init__()
        self.ln_1 = torch.nn.LayerNorm(e)
        self.attn = torch.nn.MultiheadAttention(e, heads, batch_first=True)
        self.ln_2 = torch.nn.LayerNorm(e)
        self.fc1 = torch.nn.Linear(e, 4 * e)
        self.fc2 = torch.nn.Linear(4 * e, e)

    def forward(self, x):
        t = x.shape[1]
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.ln_2(x))))


def train(model, make_input, steps=3):
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(steps):
        out = model(make_input())
        out = out[0] if isinstance(out, tuple) else out
        loss = (out - 0.5).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def state(model):
    sd = {}
    linears = {n for n, m in model.named_modules() if type(m) is torch.nn.Linear}
    for name, t in model.state_dict().items():
        t = t.detach().to(torch.float64)
        if name.endswith(".weight") and name[: -len(".weight")] in linears:
            t = t.t()
        sd[name] = t.contiguous()
    return sd


def write(name, model, x, extra_outputs=None):
    save_file(state(model), os.path.join(OUT, f"{name}.safetensors"))
    model.zero_grad()
    out = model(x)
    tensors = {"input": x}
    if isinstance(out, tuple):
        y, states = out
        if isinstance(states, tuple):
            tensors["h_n"], tensors["c_n"] = states
        else:
            tensors["h_n"] = states
        out = y
    tensors["output"] = out
    (out.pow(2).sum() / 2).backward()
    linears = {n for n, m in model.named_modules() if type(m) is torch.nn.Linear}
    for pname, p in model.named_parameters():
        g = p.grad
        if pname.endswith(".weight") and pname[: -len(".weight")] in linears:
            g = g.t()
        tensors[f"grad.{pname}"] = g
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    save_file(tensors, os.path.join(OUT, f"{name}_io.safetensors"))


cnn = Cnn()
train(cnn, lambda: torch.randn(6, 1, 8, 8))
cnn.eval()
write("cnn", cnn, torch.randn(2, 1, 8, 8))

lstm = torch.nn.LSTM(3, 5, num_layers=2, batch_first=True)
train(lstm, lambda: torch.randn(2, 4, 3))
write("lstm", lstm, torch.randn(2, 4, 3))

gru = torch.nn.GRU(3, 4, num_layers=1)
train(gru, lambda: torch.randn(5, 2, 3))
write("gru", gru, torch.randn(5, 2, 3))

block = Block(8, 2)
train(block, lambda: torch.randn(2, 5, 8))
write("transformer_block", block, torch.randn(2, 5, 8))
