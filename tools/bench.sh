#!/usr/bin/env bash
# make bench: runs every bench program of the build (CPU benches here; the CUDA kernel benches join
# where a GPU exists) and the PyTorch reference on the same machine, and keeps the JSON rows in
# BUILD/bench.json.
set -euo pipefail
build=${1:-build}
out="$build/bench.json"
: > "$out"
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
"$build/bench_cpu" | tee /dev/stderr | grep '^{' >> "$out"
# Face images: decode + cache the UTKFace subset from ../shared/data (prints a skip line without it).
"$build/bench_images" | tee /dev/stderr | grep '^{' >> "$out" || true
for b in "$build"/*_bench; do
  [ -x "$b" ] || continue
  "$b" | tee /dev/stderr | grep '^{' >> "$out" || true
done
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  /usr/bin/python3 tools/bench_torch_cpu.py | tee /dev/stderr | grep '^{' >> "$out"
else
  echo "bench: PyTorch reference skipped (python3-torch is not installed; tools/setup.sh installs it)"
fi
echo "== JSON rows in $out"
