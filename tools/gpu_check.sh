#!/usr/bin/env bash
# gpu_check.sh — the one GPU check: build (or reuse a build), run the GPU tests, every kernel bench and
# the epoch benchmarks against PyTorch on the same GPU, and print a short table last. Meant to finish
# in under 8 minutes on one H100.
#
#   tools/gpu_check.sh [--out DIR] [--build DIR]
#
# Logs go to DIR (default: $DRU_GPU_OUT, else ./gpu-check): env.txt, build.log, gpu_tests.log,
# bench.log, bench.json (one JSON row per measurement) and summary.md (the table printed last).
# The build folder (default build-gpu) is reused when its programs run on this machine — for example
# one built elsewhere with tools/pack_gpu_build.sh, which also packs the shared libraries a machine
# without the Debian packages lacks into BUILD/lib; otherwise it is configured and built here for
# sm_80 and sm_90 (this needs the packages tools/setup.sh installs).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${DRU_GPU_OUT:-gpu-check}
build=build-gpu
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check: unknown option $1 (see --help)"; exit 2 ;;
  esac
done
cd "$here"
mkdir -p "$out"
out=$(cd "$out" && pwd)
step() { echo "== $(date +%H:%M:%S) $*"; }

step "machine"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  nvcc --version 2>&1 | tail -2
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))' 2>&1
  nproc
} | tee "$out/env.txt"

# Shared libraries a carried build brings, and cuDNN/cuBLAS from PyTorch's wheels where the system has none.
libs="$build/lib"
for pkg in cudnn cublas cuda_runtime; do
  d=$(python3 -c "import nvidia.$pkg, os; print(os.path.join(list(nvidia.$pkg.__path__)[0], 'lib'))" 2>/dev/null) && libs="$libs:$d"
done
export LD_LIBRARY_PATH="$libs:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"

step "build ($build)"
if [ -x "$build/dru_gpu_tests" ] && "$build/dru_gpu_tests" --list-test-cases >/dev/null 2>&1; then
  echo "reusing $build: its programs run here" | tee "$out/build.log"
else
  echo "building $build for sm_80 and sm_90" | tee "$out/build.log"
  { cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="80;90" -DDRU_BLAS=OFF &&
    cmake --build "$build" -j"$(nproc)" --target dru_gpu_tests bench_epoch benches dru; } >>"$out/build.log" 2>&1 ||
    { tail -30 "$out/build.log"; echo "gpu_check: the build failed (log: $out/build.log)"; exit 1; }
fi

step "GPU tests"
timeout 300 "$build/dru_gpu_tests" 2>&1 | tee "$out/gpu_tests.log"
tests_rc=${PIPESTATUS[0]}

step "kernel benches"
: > "$out/bench.json"
for b in "$build"/bench_*; do
  case "$(basename "$b")" in bench_cpu|bench_images|bench_epoch) continue ;; esac
  [ -x "$b" ] || continue
  timeout 60 "$b" 2>&1 | tee -a "$out/bench.log" | grep '^{' >> "$out/bench.json"
done
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  timeout 120 python3 tools/bench_torch_cuda.py 2>&1 | tee -a "$out/bench.log" | grep '^{' >> "$out/bench.json"
fi

step "training epochs (data resident on the GPU)"
for m in allcnn stsb-lstm; do
  timeout 120 "$build/bench_epoch" "$m" --device cuda 2>&1 | tee -a "$out/bench.log" | grep '^{' >> "$out/bench.json"
  timeout 180 python3 tools/reference/bench_epoch_torch.py "$m" --device cuda 2>&1 | tee -a "$out/bench.log" |
    grep '^{' >> "$out/bench.json"
done

step "summary"
python3 - "$out/bench.json" "$out/gpu_tests.log" "$tests_rc" > "$out/summary.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
log = open(sys.argv[2], errors="replace").read().splitlines()
status = [l for l in log if l.startswith("[doctest] test cases") or l.startswith("[doctest] assertions")]
print("| GPU tests | " + ("; ".join(s.replace("[doctest] ", "") for s in status) or "no summary") +
      f" (exit {sys.argv[3]}) |")
print("| --- | --- |")
for r in rows:
    if r.get("bench") == "epoch":
        print(f"| epoch {r['model']} ({r['impl']}) | {r['epoch_ms']:.1f} ms, {r['steps']} steps"
              + (f", {r['syncs_per_step']} host syncs/step" if "syncs_per_step" in r else "") + " |")
    else:
        keys = [k for k in ("version", "impl", "n", "shape") if k in r]
        what = " ".join(str(r[k]) for k in keys)
        perf = ", ".join(f"{k} {r[k]}" for k in ("ms", "gbps", "pct_copy") if k in r)
        print(f"| {r.get('bench')} {what} | {perf} |")
epochs = {(r["model"], r["impl"].startswith("dru")): r["epoch_ms"] for r in rows if r.get("bench") == "epoch"}
for m in ("allcnn", "stsb-lstm"):
    if (m, True) in epochs and (m, False) in epochs:
        print(f"| {m} epoch, dru / PyTorch | {epochs[(m, True)] / epochs[(m, False)]:.2f} |")
PY
cat "$out/summary.md"
exit "$tests_rc"
