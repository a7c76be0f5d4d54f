#!/usr/bin/env python3
"""What PyTorch's autograd keeps for backward: the forward of a 784-512-256-10 MLP
(ReLU, cross-entropy) at batch 256 in f32, counted with
`torch.autograd.graph.saved_tensors_hooks` — the tensors each op's node saves,
deduplicated by storage (a tensor saved by two nodes is held once). The model is the
one `crates/tapegrad/examples/graph_memory.rs` builds (`F.linear` with x·W + b,
weights (in, out) as ours, so addmm saves the same operands).

    python3 bench/torch_saved_tensors.py
"""
import torch
import torch.nn.functional as F

MIB = 1024.0 * 1024.0


def main():
    torch.manual_seed(0)
    sizes = [784, 512, 256, 10]
    layers = [
        (
            (torch.randn(i, o) * 0.05).requires_grad_(),
            (torch.randn(o) * 0.05).requires_grad_(),
        )
        for i, o in zip(sizes, sizes[1:])
    ]
    params = {t.data_ptr() for pair in layers for t in pair}
    x = torch.randn(256, 784)
    labels = torch.arange(256) % 10
    saved = {}

    def pack(t):
        # Keyed by storage: the same buffer saved twice (or as a view) counts once.
        storage = t.untyped_storage()
        saved[storage.data_ptr()] = (storage.nbytes(), tuple(t.shape))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        h = x
        for i, (w, b) in enumerate(layers):
            h = torch.addmm(b, h, w)
            if i + 1 < len(layers):
                h = F.relu(h)
        loss = F.cross_entropy(h, labels)
    total = sum(n for n, _ in saved.values())
    of_params = sum(n for ptr, (n, _) in saved.items() if ptr in params)
    print("784-512-256-10, batch 256, f32: one recorded forward (PyTorch", torch.__version__ + ")")
    print(f"  saved for backward: {total / MIB:.2f} MiB in {len(saved)} buffers "
          f"({of_params / MIB:.2f} MiB of it parameters)")
    for n, shape in sorted(saved.values(), key=lambda v: -v[0]):
        print(f"    {list(shape)}: {n / MIB:.3f} MiB")
    print(f"  activations (saved, excluding parameters): {(total - of_params) / MIB:.2f} MiB")
    loss.backward()


if __name__ == "__main__":
    main()
