#!/usr/bin/env python3
"""PyTorch CUDA reference for the fused-kernel benches (kernels/*/*_bench.cu, `make bench`): the same
sizes, timed the same way (CUDA events, median of 20 runs, the L2 cache flushed by writing 256 MiB
before each run), with GB/s and percent of a device-to-device copy measured here. Prints one JSON row
per case, as the bench_* programs do:
  Adam: torch.optim.Adam(fused=True) over 11,169,345 parameters (ResNet-18, small stem), 28 bytes/param
  L1 loss: F.l1_loss forward + backward at n = 256 and 2^20, 12 bytes/element
  LSTM: nn.LSTM forward + backward at the STS-B shapes (I = 300 GloVe, hidden 64; batch 256 of T = 10
        words as the preset trains, and N = 32, T = 30)
  ReduceLROnPlateau: scheduler.step on a validation loss that lives on the GPU, host wall clock (the
        step reads the metric, so it waits for the GPU; bench_plateau's host-roundtrip row does the same)
Exits 77 without a CUDA device."""
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

RUNS = 20
FLUSH = None


def median_ms(fn, runs=RUNS):
    fn()  # warm-up
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for r in range(runs):
        FLUSH.fill_(r & 0xFF)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def copy_gbps():
    nbytes = 256 << 20
    a = torch.ones(nbytes, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    ms = median_ms(lambda: b.copy_(a))
    return 2.0 * nbytes / (ms * 1e6)


def row(bench, version, n, ms, nbytes, copy, **extra):
    gbps = nbytes / (ms * 1e6) if nbytes else 0.0
    r = {"bench": bench, "version": version, "gpu": torch.cuda.get_device_name(), "n": n, "ms": round(ms, 5),
         "gbps": round(gbps, 1), "pct_copy": round(100.0 * gbps / copy, 1)}
    r.update(extra)
    print(json.dumps(r, separators=(",", ":")), flush=True)


def main():
    global FLUSH
    if not torch.cuda.is_available():
        print("bench_torch_cuda: skipped — torch sees no CUDA device")
        return 77
    torch.backends.cuda.matmul.allow_tf32 = False  # f32 math, as dru's benches (cuDNN's LSTM would use TF32)
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    FLUSH = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")
    copy = copy_gbps()

    # Adam, fused, one flat parameter as dru's arena.
    n = 11_169_345
    p = torch.nn.Parameter(torch.randn(n, device="cuda") * 0.05)
    p.grad = torch.randn(n, device="cuda") * 1e-3
    opt = torch.optim.Adam([p], lr=1e-3, weight_decay=1e-4, fused=True)
    row("adam", "torch-fused", n, median_ms(opt.step), 28.0 * n, copy)

    # L1 loss forward + backward (the gradient of pred).
    for n in (256, 1 << 20):
        pred = torch.randn(n, device="cuda", requires_grad=True)
        target = torch.randn(n, device="cuda")

        def l1():
            pred.grad = None
            F.l1_loss(pred, target).backward()

        row("l1_loss", "torch", n, median_ms(l1), 12.0 * n, copy)

    # LSTM forward + backward (cuDNN) at the STS-B shapes; no byte count (compute-bound), gbps 0.
    for N, T in ((256, 10), (32, 30)):
        lstm = nn.LSTM(300, 64, batch_first=True).cuda()
        x = torch.randn(N, T, 300, device="cuda", requires_grad=True)

        def step():
            lstm.zero_grad(set_to_none=True)
            x.grad = None
            out, _ = lstm(x)
            out.sum().backward()

        row("lstm", "torch-cudnn", N * T * 300, median_ms(step), 0, copy, shape=f"N={N},T={T},I=300,H=64")

    # ReduceLROnPlateau on a metric on the GPU: host wall-clock median (what an epoch's end costs the host).
    w = torch.nn.Parameter(torch.zeros(1, device="cuda"))
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(torch.optim.SGD([w], lr=0.01), patience=2, cooldown=1,
                                                       factor=0.5, min_lr=0.002)
    metric = torch.full((), 0.5, device="cuda")
    times = []
    for r in range(RUNS + 1):
        t0 = time.perf_counter()
        sched.step(metric)
        if r:
            times.append((time.perf_counter() - t0) * 1e3)
    row("plateau", "torch", 1, statistics.median(times), 0, copy, clock="host")
    return 0


if __name__ == "__main__":
    sys.exit(main())
