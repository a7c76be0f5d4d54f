#!/usr/bin/env python3
"""Safetensors interop between Python and nn::weights_file, both directions.

1. Writes crates/nn/tests/data/from_python.safetensors with Python's `safetensors` package
   (f32 and f64 tensors, a scalar of shape [], a 2-D one, an empty one, metadata) and
   from_python.json with the expected names, dtypes, shapes, values and metadata. The Rust test
   `weights_file::python_file_loads` reads both.
2. Checks crates/nn/tests/data/from_rust.safetensors (written by the Rust test
   `weights_file::rust_file_for_python` with NN_WRITE_INTEROP=1) against from_rust.json: it must
   load with safetensors.numpy.load_file and safe_open, with bit-identical values, the same
   dtypes, shapes and metadata. Exits non-zero on any difference.

Needs: pip install safetensors numpy.   Run from anywhere:  python3 scripts/gen_safetensors_interop.py
  --check-only   skip step 1 (do not rewrite the Python-made files)
"""

import json
import pathlib
import sys

import numpy as np
import safetensors
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

DATA = pathlib.Path(__file__).resolve().parent.parent / "crates" / "nn" / "tests" / "data"
DTYPES = {"F32": np.float32, "F64": np.float64}


def python_tensors():
    # Values chosen to exercise the encoding: signed zero, subnormal and extreme magnitudes, and
    # f32 values that are not exactly representable as short decimals.
    return {
        "encoder.weight": np.array(
            [[0.1, -2.5, 3.0e38], [1.0e-45, -0.0, 7.0]], dtype=np.float32
        ),
        "encoder.bias": np.array([0.5, -0.25, 1.0 / 3.0], dtype=np.float32),
        "temperature": np.array(2.718281828459045, dtype=np.float64),  # shape []
        "head.weight": np.arange(12, dtype=np.float64).reshape(3, 4) / 7.0 - 0.5,
        "head.bias": np.array([1e-300, -1e300, 5e-324], dtype=np.float64),
        "unused.empty": np.zeros((0, 3), dtype=np.float32),
    }


def describe(tensors, metadata):
    return {
        "generator": "scripts/gen_safetensors_interop.py",
        "safetensors_version": safetensors.__version__,
        "numpy_version": np.__version__,
        "metadata": metadata,
        "tensors": [
            {
                "name": name,
                "dtype": "F32" if a.dtype == np.float32 else "F64",
                "shape": list(a.shape),
                # float(np.float32) is exact, and json writes the shortest repr that round-trips.
                "values": [float(v) for v in a.ravel()],
            }
            for name, a in sorted(tensors.items())
        ],
    }


def write_python_side():
    tensors = python_tensors()
    metadata = {"producer": "python safetensors " + safetensors.__version__, "format": "np"}
    save_file(tensors, DATA / "from_python.safetensors", metadata=metadata)
    (DATA / "from_python.json").write_text(json.dumps(describe(tensors, metadata), indent=1) + "\n")
    print(f"wrote from_python.safetensors ({len(tensors)} tensors) and from_python.json")


def check_rust_side():
    path = DATA / "from_rust.safetensors"
    if not path.exists() or not (DATA / "from_rust.json").exists():
        sys.exit(
            "from_rust.safetensors / from_rust.json missing: run "
            "`NN_WRITE_INTEROP=1 cargo test -p nn --test weights_file rust_file_for_python` first"
        )
    expected = json.loads((DATA / "from_rust.json").read_text())
    loaded = load_file(path)
    with safe_open(path, framework="np") as f:
        metadata = f.metadata() or {}
        names = set(f.keys())
    problems = []
    want_names = {t["name"] for t in expected["tensors"]}
    if names != want_names:
        problems.append(f"names differ: file {sorted(names)}, expected {sorted(want_names)}")
    if metadata != expected["metadata"]:
        problems.append(f"metadata differs: file {metadata}, expected {expected['metadata']}")
    for t in expected["tensors"]:
        a = loaded.get(t["name"])
        if a is None:
            continue
        want = np.array(t["values"], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
        if a.dtype != want.dtype or list(a.shape) != t["shape"]:
            problems.append(f"{t['name']}: {a.dtype} {list(a.shape)}, expected {want.dtype} {t['shape']}")
        elif a.tobytes() != want.tobytes():  # bit-identical, so -0.0 and subnormals count
            problems.append(f"{t['name']}: values differ: {a.ravel().tolist()} vs {t['values']}")
    if problems:
        for p in problems:
            print("MISMATCH", p, file=sys.stderr)
        sys.exit(1)
    print(
        f"from_rust.safetensors loads in Python safetensors {safetensors.__version__}: "
        f"{len(loaded)} tensors ({', '.join(f'{k} {v.dtype} {list(v.shape)}' for k, v in sorted(loaded.items()))}), "
        f"metadata {metadata}, all values bit-identical"
    )


def main():
    if "--check-only" not in sys.argv:
        write_python_side()
    check_rust_side()


if __name__ == "__main__":
    main()
