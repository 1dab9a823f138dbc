#!/usr/bin/env python3
"""PyTorch reference for tools/bench_cpu.cpp: the same AllCNN-sized training step and the same Adam step
over 11.2 M parameters, on the CPU, timed the same way (median after warm-up). Run with Debian's
/usr/bin/python3 (python3-torch). Prints a table and JSON rows."""
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def median_ms(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def allcnn():
    spec = [(3, 96, 3, 1), (96, 96, 3, 1), (96, 192, 3, 2), (192, 192, 3, 1),
            (192, 192, 3, 1), (192, 192, 3, 2), (192, 192, 3, 1), (192, 192, 1, 1)]
    layers = []
    for cin, cout, k, s in spec:
        layers += [nn.Conv2d(cin, cout, k, s, (k - 1) // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    return nn.Sequential(*layers, nn.AvgPool2d(8), nn.Flatten(), nn.Linear(192, 1))


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    # Debian's torch starts with one intra-op thread here; the engine uses every core, so must the reference.
    torch.set_num_threads(os.cpu_count())
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    net = allcnn()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.rand(32, 3, 32, 32) * 2 - 1
    y = torch.rand(32, 1) * 100

    def step():
        opt.zero_grad()
        F.l1_loss(net(x), y).backward()
        opt.step()

    step_ms = median_ms(step, 2, reps)

    # ResNet-18 with the small-image stem: the twin in tools/reference, the same model dru builds.
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
    import vision_models
    torch.manual_seed(0)
    resnet = vision_models.ResNet18(True)
    ropt = torch.optim.Adam(resnet.parameters(), lr=1e-3)
    rx = torch.rand(16, 3, 32, 32) * 2 - 1
    ry = torch.rand(16, 1) * 100

    def resnet_step():
        ropt.zero_grad()
        out = resnet(rx)
        F.l1_loss(out[0] if isinstance(out, tuple) else out, ry).backward()
        ropt.step()

    resnet_ms = median_ms(resnet_step, 2, reps)

    n = 11_200_000
    p = torch.zeros(n, requires_grad=True)
    p.grad = torch.full((n,), 0.01)
    rows = []
    for name, kwargs in [("adam_step_cpu", {}), ("adam_step_cpu_foreach", {"foreach": True})]:
        try:
            big = torch.optim.Adam([p], lr=1e-3, **kwargs)
        except TypeError:
            continue
        ms = median_ms(big.step, 3, max(reps, 20))
        rows.append({"bench": name, "engine": "pytorch " + torch.__version__, "threads": threads, "params": n,
                     "ms": round(ms, 4), "gbs": round(28 * n / (ms * 1e6), 3)})

    print(f"PyTorch {torch.__version__} CPU bench: {threads} threads, median of {reps} repetitions")
    print(f"{'benchmark':34} {'ms':>10} {'GB/s':>10}")
    print(f"{'allcnn step (batch 32, 32x32)':34} {step_ms:10.2f} {'-':>10}")
    print(f"{'resnet18 small-stem step (b16)':34} {resnet_ms:10.2f} {'-':>10}")
    for r in rows:
        print(f"{r['bench']:34} {r['ms']:10.3f} {r['gbs']:10.2f}")
    print(json.dumps({"bench": "allcnn_step_cpu", "engine": "pytorch " + torch.__version__, "threads": threads,
                      "ms": round(step_ms, 3)}))
    print(json.dumps({"bench": "resnet18_small_step_cpu", "engine": "pytorch " + torch.__version__,
                      "threads": threads, "ms": round(resnet_ms, 3)}))
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
