#!/usr/bin/python3
"""make_bert_fixture.py — golden answers for dru's "bert-lite" from its PyTorch twin (bert_lite.py),
computed in float64.

No weights are stored: every parameter is set by a closed-form formula that tests/test_models_bert.cpp
implements identically. For the k-th parameter in state_dict order, element i (row-major):
    value = scale * sin(0.37 * i + 0.11 * k),  scale = 1 / sqrt(shape[1]) for matrices, 0.1 for vectors,
    and 1 + 0.1 * sin(0.37 * i + 0.11 * k) for LayerNorm weights (names "...norm*.weight").
Input (N = 3, T = 12; rows 1 and 2 padded to lengths 7 and 10): ids[n, j] = (7 n + 3 j + 1) mod V on tokens,
0 on padding; segment 1 from position len // 2 on (tokens only); mask 1 on tokens. The loss is
L = sum(pred * W), W[i] = cos(0.29 i + 0.3). Dropout p = 0, so train and eval must agree; both are recorded.
The fixture holds pred, each activation's shape, sum, sum of |.| and sampled entries, and each parameter
gradient's sum, sum of |.|, max |.| and sampled entries. Writes tests/fixtures/bert_lite_golden.json:

    /usr/bin/python3 tools/reference/make_bert_fixture.py
"""
import json
import math
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bert_lite import BertLite  # noqa: E402
from fixture_util import summary  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "bert_lite_golden.json"

# Small sizes keep the fixture a few kB; max_positions > T leaves position rows 12..15 unused.
SIZES = {"vocab": 50, "layers": 2, "hidden": 32, "heads": 4, "ffn": 64, "max_positions": 16, "N": 3, "T": 12,
         "lengths": [12, 7, 10]}


def set_formula_parameters(model):
    with torch.no_grad():
        for k, (name, p) in enumerate(model.state_dict().items()):
            i = torch.arange(p.numel(), dtype=torch.float64)
            wave = torch.sin(0.37 * i + 0.11 * k)
            if name.split(".")[-2].startswith("norm") and name.endswith(".weight"):
                value = 1.0 + 0.1 * wave
            else:
                value = (1.0 / math.sqrt(p.shape[1]) if p.dim() == 2 else 0.1) * wave
            p.copy_(value.view(p.shape))


def inputs():
    n, t, v = SIZES["N"], SIZES["T"], SIZES["vocab"]
    ids = torch.zeros(n, t, dtype=torch.int64)
    seg = torch.zeros(n, t, dtype=torch.int64)
    mask = torch.zeros(n, t, dtype=torch.uint8)
    for r, length in enumerate(SIZES["lengths"]):
        for j in range(length):
            ids[r, j] = (7 * r + 3 * j + 1) % v
            seg[r, j] = 1 if j >= length // 2 else 0
            mask[r, j] = 1
    return ids, seg, mask


def run(model, train):
    model.train(train)
    model.zero_grad(set_to_none=True)
    pred, acts = model(*inputs())
    i = torch.arange(pred.numel(), dtype=torch.float64)
    w = torch.cos(0.29 * i + 0.3).view(pred.shape)
    (pred * w).sum().backward()
    return {"pred": {"shape": list(pred.shape), "values": [float(v) for v in pred.detach().reshape(-1)]},
            "activations": [dict(name=n, **summary(a)) for n, a in acts],
            "grads": [dict(name=n, **summary(p.grad, with_max=True)) for n, p in model.named_parameters()]}


def main():
    s = SIZES
    model = BertLite(s["vocab"], s["layers"], s["hidden"], s["heads"], s["ffn"], s["max_positions"], 0.0).double()
    set_formula_parameters(model)
    doc = {"torch_version": torch.__version__, "sizes": s,
           "parameters": sum(p.numel() for p in model.parameters()),
           "default_parameters": sum(p.numel() for p in BertLite().parameters()),
           "train": run(model, True), "eval": run(model, False)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
