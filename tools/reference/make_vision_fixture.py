#!/usr/bin/python3
"""make_vision_fixture.py — known answers for dru's AllCNN and ResNet-18, computed once with PyTorch.

The weights are not stored: every parameter and buffer is set by a closed-form formula that
tests/test_models_vision.cpp implements identically, and so are the input and the gradient weights.
hash_uniform(key, i) is SplitMix64's finaliser applied to (key << 32) + i, its top 53 bits mapped to
[-1, 1): exact integer arithmetic, so both languages get the same bits, and unlike a sinusoid it has no
structure a convolution could resonate with or cancel. With u = hash_uniform(k, i) for element i
(row-major) of the k-th parameter in state_dict order:
    4-D conv weight (O, C, kh, kw)   u sqrt(6 / (C kh kw))   (variance 2 / fan_in, He's)
    2-D linear weight (O, I)         u sqrt(3 / I)
    1-D "...weight" (batch norm)     1 + 0.2 u
    1-D bias                         0.1 u
and with u = hash_uniform(1000 + b, i) for the b-th buffer: running_mean 0.1 u, running_var 1 + 0.5 u,
num_batches_tracked 0. The input x (N, 3, S, S) is hash_uniform(2000, j) and the gradients are of
L = sum(pred * W), W_j = hash_uniform(3000, j).

The models run in float64, once in train mode (batch statistics; the running buffers are updated)
and once in eval mode, each on a fresh formula-initialised model. Per mode the fixture holds the
predictions; for each activation, each parameter's gradient and (train) each running buffer after the
update: the sum, the sum of absolute values and a few sampled entries (flat index, value) at indices
(t * 104729 + 7) % numel, t = 0..2. Writes tests/fixtures/allcnn_golden.json and resnet18_golden.json
(standard stem, and the small-stem variant). Images are 32x32; the batch is 2, except 8 for ResNet-18's
standard stem: its layer4 map is 1x1 there, so with 2 images each layer4 batch norm in train mode
normalises just two values, an ill-conditioned map in which PyTorch's own float32 misses its float64
prediction by about 4 %; with 8 images they agree to about 1e-5, and the float32 check means something.
Run from anywhere with Debian's python3-torch:

    /usr/bin/python3 tools/reference/make_vision_fixture.py
"""
import json
import math
import pathlib
import sys

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import vision_models  # noqa: E402

OUT_DIR = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures"
SAMPLES = 3


MASK = (1 << 64) - 1


def hash_uniform(key, n):
    """n values in [-1, 1) from SplitMix64's finaliser on (key << 32) + i, i = 0..n-1."""
    z = (np.arange(n, dtype=np.uint64) + np.uint64(((key << 32) + 0x9E3779B97F4A7C15) & MASK))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return torch.from_numpy(2.0 * u - 1.0)


def set_formula(model):
    with torch.no_grad():
        for k, (name, p) in enumerate(model.named_parameters()):
            u = hash_uniform(k, p.numel()).reshape(p.shape)
            if p.dim() == 4:
                v = u * math.sqrt(6.0 / (p.shape[1] * p.shape[2] * p.shape[3]))
            elif p.dim() == 2:
                v = u * math.sqrt(3.0 / p.shape[1])
            elif name.endswith("weight"):
                v = 1.0 + 0.2 * u
            else:
                v = 0.1 * u
            p.copy_(v)
        for b, (name, t) in enumerate(model.named_buffers()):
            u = hash_uniform(1000 + b, t.numel()).reshape(t.shape)
            if name.endswith("running_mean"):
                t.copy_(0.1 * u)
            elif name.endswith("running_var"):
                t.copy_(1.0 + 0.5 * u)
            else:
                t.zero_()


def formula_input(n, size):
    return hash_uniform(2000, n * 3 * size * size).reshape(n, 3, size, size)


def formula_w(n):
    return hash_uniform(3000, n).reshape(n, 1)


def num(v):
    return float(f"{v:.12g}")  # rounding 5e-12: 200x below the float64 check's tolerance, a shorter file


def digest(name, t):
    flat = t.detach().reshape(-1)
    idx = [(s * 104729 + 7) % flat.numel() for s in range(SAMPLES)]
    return {"name": name, "shape": list(t.shape), "sum": num(flat.sum()), "abs_sum": num(flat.abs().sum()),
            "samples": [[i, num(flat[i])] for i in idx]}


def run_mode(make_model, x, train):
    model = make_model().double()
    set_formula(model)
    model.train(train)
    pred, acts = model(x)
    (pred * formula_w(x.shape[0])).sum().backward()
    out = {"pred": [num(v) for v in pred.reshape(-1)],
           "activations": [digest(n, a) for n, a in acts],
           "grads": [digest(n, p.grad) for n, p in model.named_parameters()]}
    if train:
        out["buffers"] = [digest(n, t) for n, t in model.named_buffers() if not n.endswith("num_batches_tracked")]
        counts = {int(t) for n, t in model.named_buffers() if n.endswith("num_batches_tracked")}
        assert len(counts) == 1, counts
        out["num_batches_tracked"] = counts.pop()
    return out


def fixture(make_model, n, size):
    model = make_model()
    x = formula_input(n, size)
    return {"batch": n, "image_size": size,
            "parameters": [[name, list(p.shape)] for name, p in model.named_parameters()],
            "buffers": [[name, list(t.shape)] for name, t in model.named_buffers()],
            "num_parameters": sum(p.numel() for p in model.parameters()),
            "train": run_mode(make_model, x, True), "eval": run_mode(make_model, x, False)}


def dumps(obj, indent=""):
    """JSON with one line per small object (a digest, a name), so the file stays short and diffs read well."""
    flat = json.dumps(obj, separators=(", ", ": "))
    if len(flat) <= 160 or not isinstance(obj, (dict, list)):
        return flat
    inner = indent + " "
    if isinstance(obj, dict):
        items = [f"{inner}{json.dumps(k)}: {dumps(v, inner)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    return "[\n" + ",\n".join(inner + dumps(v, inner) for v in obj) + "\n" + indent + "]"


def main():
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)  # only the unused default init draws from it
    doc = {"torch_version": torch.__version__, "allcnn": fixture(vision_models.AllCNN, 2, 32)}
    (OUT_DIR / "allcnn_golden.json").write_text(dumps(doc) + "\n")
    doc = {"torch_version": torch.__version__,
           "resnet18": fixture(lambda: vision_models.ResNet18(False), 8, 32),  # batch 8: see the top
           "resnet18_small_stem": fixture(lambda: vision_models.ResNet18(True), 2, 32)}
    (OUT_DIR / "resnet18_golden.json").write_text(dumps(doc) + "\n")
    for f in ("allcnn_golden.json", "resnet18_golden.json"):
        print(f"wrote {OUT_DIR / f} ({(OUT_DIR / f).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
