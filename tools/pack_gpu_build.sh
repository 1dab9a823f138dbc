#!/usr/bin/env bash
# pack_gpu_build.sh — builds the programs tools/gpu_check.sh runs into a folder that can be copied to a
# GPU machine without this project's Debian packages: CUDA code for sm_90 only (H100/H200; pass
# ARCHS="80;90" for A100 too), Eigen's own GEMMs instead of OpenBLAS (DRU_BLAS=OFF), no MPI (DRU_MPI=OFF:
# libmpi is not packed; GPU ranks exchange the NCCL id over dru's TCP rendezvous), and the shared
# libraries that such a machine may lack (fmt, stb, libsvm, libgomp) copied into BUILD/lib, where
# gpu_check.sh puts them on the library path. The CUDA libraries themselves are not packed. Only the
# programs and libraries go into the pack folder (a few tens of MB), not the objects:
#
#   tools/pack_gpu_build.sh [PACK]       (default gpu-pack; built in build-gpu)
#   then, on the GPU machine: tools/gpu_check.sh --build PACK
set -euo pipefail
pack=${1:-gpu-pack}
build=build-gpu
archs=${ARCHS:-90}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$archs" -DDRU_BLAS=OFF -DDRU_MPI=OFF >/dev/null
cmake --build "$build" -j"${JOBS:-2}" --target dru_gpu_tests bench_epoch benches dru
rm -rf "$pack"
mkdir -p "$pack/lib"
for b in "$build"/dru "$build"/dru_gpu_tests "$build"/bench_*; do
  [ -x "$b" ] && [ -f "$b" ] || continue
  cp "$b" "$pack/"
  ldd "$b" | awk '/=> \// {print $3}' | grep -E 'lib(fmt|stb|svm|gomp)\.' || true
done | sort -u | while read -r l; do cp -L "$l" "$pack/lib/"; done
strip "$pack"/dru "$pack"/dru_gpu_tests "$pack"/bench_* 2>/dev/null || true
du -sh "$pack"
