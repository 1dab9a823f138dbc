#!/usr/bin/env bash
# make bench: runs every bench program of the build (CPU benches; the CUDA kernel benches bench_<family>
# where they were built and a GPU is visible) and the PyTorch references on the same machine, and keeps
# the JSON rows in BUILD/bench.json.
set -euo pipefail
build=${1:-build}
out="$build/bench.json"
: > "$out"
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
"$build/bench_cpu" | tee /dev/stderr | grep '^{' >> "$out"
# Face images: decode + cache the UTKFace subset from ../shared/data (prints a skip line without it).
"$build/bench_images" | tee /dev/stderr | grep '^{' >> "$out" || true
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  /usr/bin/python3 tools/bench_torch_cpu.py | tee /dev/stderr | grep '^{' >> "$out"
else
  echo "bench: PyTorch reference skipped (python3-torch is not installed; tools/setup.sh installs it)"
fi

# CUDA kernel benches: each exits 77 without a GPU; nvidia-smi -L saves starting them at all.
gpu_benches=("$build"/bench_*)
gpu_visible=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then gpu_visible=1; fi
ran_gpu=0
for b in "${gpu_benches[@]}"; do
  # bench_epoch takes a model and runs below; bench_scale is timed under mpirun by hand (BENCHMARKS.md).
  case "$(basename "$b")" in bench_cpu | bench_images | bench_epoch | bench_scale) continue ;; esac
  [ -f "$b" ] && [ -x "$b" ] || continue
  if [ "$gpu_visible" = 0 ]; then
    echo "bench: $(basename "$b") skipped (no GPU visible)"
    continue
  fi
  rc=0
  "$b" > "$build/$(basename "$b").log" 2>&1 || rc=$?
  cat "$build/$(basename "$b").log" >&2
  grep '^{' "$build/$(basename "$b").log" >> "$out" || true
  if [ "$rc" = 0 ]; then ran_gpu=1; elif [ "$rc" != 77 ]; then echo "bench: $(basename "$b") failed (exit $rc)"; fi
done
# The PyTorch CUDA references: whichever python3 has torch with CUDA.
if [ "$ran_gpu" = 1 ]; then
  torch_py=""
  for py in python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
      torch_py=$py
      break
    fi
  done
  # Training epochs with the data on the GPU, dru and (below) PyTorch's twin of the same loop.
  for m in allcnn stsb-lstm; do
    [ -x "$build/bench_epoch" ] && "$build/bench_epoch" "$m" --device cuda | tee /dev/stderr | grep '^{' >> "$out" || true
  done
  if [ -n "$torch_py" ]; then
    # Unset: a CUDA library path of the build (another cuDNN) would shadow the cuDNN that torch bundles.
    env -u LD_LIBRARY_PATH "$torch_py" tools/bench_torch_cuda.py | tee /dev/stderr | grep '^{' >> "$out" || true
    for m in allcnn stsb-lstm; do
      env -u LD_LIBRARY_PATH "$torch_py" tools/reference/bench_epoch_torch.py "$m" --device cuda | tee /dev/stderr |
        grep '^{' >> "$out" || true
    done
  else
    echo "bench: PyTorch CUDA references skipped (no python3 with torch and CUDA)"
  fi
fi
echo "== JSON rows in $out"
