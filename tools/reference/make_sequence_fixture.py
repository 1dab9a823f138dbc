#!/usr/bin/python3
"""make_sequence_fixture.py — golden answers for dru's "stsb-lstm" and "electricity-lstm", from their
PyTorch twins (sequence_models.py), computed in float64.

No weights are stored: every parameter is set by a closed-form formula that tests/test_models_sequence.cpp
implements identically. For the k-th parameter in state_dict order, element i (row-major):
    value = scale * sin(0.37 * i + 0.11 * k),  scale = 1 / sqrt(shape[1]) for matrices, 0.1 for vectors.
Inputs are formulas too (see stsb_inputs and electricity_inputs); the loss is L = sum(pred * W) with
W[i] = cos(0.29 * i + 0.3) over pred's flat index. Dropout p = 0, so train and eval modes must agree;
both are recorded. The fixture holds pred, each activation's shape, sum, sum of |.| and sampled entries,
and each parameter gradient's sum, sum of |.|, max |.| and sampled entries. Writes
tests/fixtures/stsb_lstm_golden.json and tests/fixtures/electricity_lstm_golden.json:

    /usr/bin/python3 tools/reference/make_sequence_fixture.py
"""
import json
import math
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from sequence_models import ElectricityLstm, StsbLstm  # noqa: E402
from fixture_util import summary  # noqa: E402

OUT_DIR = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures"

# Small sizes: the fixture stays a few kB and the test fast. The counts at full size are tested separately.
STSB = {"N": 3, "T": 5, "D": 8}
ELECTRICITY = {"N": 3, "T": 12, "customers": 5, "horizon": 4}


def set_formula_parameters(model):
    with torch.no_grad():
        for k, (name, p) in enumerate(model.state_dict().items()):
            scale = 1.0 / math.sqrt(p.shape[1]) if p.dim() == 2 else 0.1
            i = torch.arange(p.numel(), dtype=torch.float64)
            p.copy_((scale * torch.sin(0.37 * i + 0.11 * k)).view(p.shape))


def formula(shape, f):
    n = math.prod(shape)
    return f(torch.arange(n, dtype=torch.float64)).view(*shape)


def stsb_inputs():
    s = (STSB["N"], STSB["T"], STSB["D"])
    return (formula(s, lambda i: 0.8 * torch.sin(0.13 * i + 0.7)), formula(s, lambda i: 0.8 * torch.cos(0.17 * i + 0.2)))


def electricity_inputs():
    n, t = ELECTRICITY["N"], ELECTRICITY["T"]
    x = formula((n, t, 3), lambda i: torch.sin(0.21 * i + 0.3))
    ids = torch.tensor([(3 * j + 1) % ELECTRICITY["customers"] for j in range(n)], dtype=torch.int64)
    return x, ids


def run(model, inputs, train):
    model.train(train)
    model.zero_grad(set_to_none=True)
    pred, acts = model(*inputs)
    w = formula(tuple(pred.shape), lambda i: torch.cos(0.29 * i + 0.3))
    (pred * w).sum().backward()
    return {"pred": {"shape": list(pred.shape), "values": [float(v) for v in pred.detach().reshape(-1)]},
            "activations": [dict(name=n, **summary(a)) for n, a in acts],
            "grads": [dict(name=n, **summary(p.grad, with_max=True)) for n, p in model.named_parameters()]}


def fixture(model, inputs, sizes):
    model = model.double()
    set_formula_parameters(model)
    return {"torch_version": torch.__version__, "sizes": sizes,
            "parameters": sum(p.numel() for p in model.parameters()),
            "train": run(model, inputs, True), "eval": run(model, inputs, False)}


def main():
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    docs = {
        "stsb_lstm_golden.json": fixture(StsbLstm(STSB["D"], dropout=0.0), stsb_inputs(), STSB),
        "electricity_lstm_golden.json": fixture(
            ElectricityLstm(ELECTRICITY["customers"], ELECTRICITY["horizon"], dropout=0.0), electricity_inputs(),
            ELECTRICITY),
    }
    for name, doc in docs.items():
        path = OUT_DIR / name
        path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
