"""bench_epoch_torch.py — the PyTorch side of tools/bench_epoch.cpp: the same models (this folder's
twins of dru's AllCNN and STS-B LSTM), data sizes and training loop, timed the same way.

One epoch = a fresh permutation, then per batch: index the resident data, forward in train mode, L1
loss, backward, Adam (lr 1e-3, PyTorch's default implementation); batch losses summed on the device
and read once. The first epoch warms up; the median of the others is printed as one JSON row.

    python3 tools/reference/bench_epoch_torch.py allcnn [--epochs 4] [--device cuda] [--profile-epoch K]

--profile-epoch K turns the CUDA profiler's collection on for epoch K only (cudaProfilerStart/Stop),
for a run under `ncu --profile-from-start off`, as tools/bench_epoch.cpp does.
"""
import argparse
import json
import pathlib
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import sequence_models  # noqa: E402
import vision_models  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", choices=["allcnn", "stsb-lstm"])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--profile-epoch", type=int, default=0)
    a = ap.parse_args()
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("bench_epoch_torch: skipped — torch sees no GPU")
        sys.exit(77)
    torch.backends.cuda.matmul.allow_tf32 = False  # dru's default: f32 math, no TF32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    g = torch.Generator(device="cpu").manual_seed(7)
    T, D = 10, 300
    n = a.n or (12208 if a.model == "allcnn" else 5249)
    y = (torch.rand(n, 1, generator=g) * 5).to(dev)
    if a.model == "allcnn":
        model = vision_models.make("allcnn").to(dev)
        xs = [(torch.rand(n, 3, 32, 32, generator=g) * 2 - 1).to(dev)]
    else:
        model = sequence_models.StsbLstm(embed_dim=D).to(dev)
        xs = [(torch.rand(n, T, D, generator=g) * 2 - 1).to(dev) for _ in range(2)]
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = (n + a.batch - 1) // a.batch
    times = []
    loss_mean = 0.0
    for e in range(a.epochs):
        if dev.type == "cuda":
            torch.cuda.synchronize()
            if e + 1 == a.profile_epoch:
                torch.cuda.profiler.start()
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=g).to(dev)
        total = torch.zeros((), device=dev)
        for b in range(steps):
            idx = order[b * a.batch:(b + 1) * a.batch]
            opt.zero_grad(set_to_none=True)
            pred = model(*[x[idx] for x in xs])[0]
            loss = F.l1_loss(pred, y[idx])
            total += loss.detach()
            loss.backward()
            opt.step()
        loss_mean = total.item() / steps
        if dev.type == "cuda" and e + 1 == a.profile_epoch:
            torch.cuda.profiler.stop()
        t = (time.perf_counter() - t0) * 1000
        print(f"bench_epoch_torch {a.model}: epoch {e + 1}  {t:.1f} ms  mean loss {loss_mean:.4f}", file=sys.stderr)
        if e > 0:
            times.append(t)
    times.sort()
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"
    print(json.dumps({"bench": "epoch", "model": a.model, "impl": "pytorch " + torch.__version__, "device": name,
                      "n": n, "batch": a.batch, "steps": steps, "epoch_ms": round(times[len(times) // 2], 2),
                      "loss": round(loss_mean, 5)}))


if __name__ == "__main__":
    main()
