#!/usr/bin/env bash
# gpu_check.sh — the one GPU check: build (or reuse a build), run the GPU tests, every kernel bench and
# the epoch benchmarks against PyTorch on the same GPU, and print a short table last. Meant to finish
# in under 8 minutes on one H100.
#
#   tools/gpu_check.sh [--out DIR] [--build DIR]
#
# Logs go to DIR (default: $DRU_GPU_OUT, else ./gpu-check): env.txt, build.log, gpu_tests.log,
# bench.log, bench.json (one JSON row per measurement), experiment*.log (the quick STS-B experiment,
# eager and with CUDA graphs), profile_allcnn.md (one AllCNN step kernel by kernel, from ncu, with the
# raw profile_*.csv) and summary.md (the table printed last).
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

# Our programs find the shared libraries a carried build brings, then cuDNN/cuBLAS from PyTorch's
# wheels where the system has none; Python runs with the environment it came with (its torch loads its
# own cuDNN, which an older one on the path would shadow).
libs="$build/lib"
for pkg in cudnn cublas cuda_runtime; do
  d=$(python3 -c "import nvidia.$pkg, os; print(os.path.join(list(nvidia.$pkg.__path__)[0], 'lib'))" 2>/dev/null) && libs="$libs:$d"
done
ours="LD_LIBRARY_PATH=$libs:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"  # use as: env "$ours" PROGRAM

step "build ($build)"
if [ -x "$build/dru_gpu_tests" ] && env "$ours" "$build/dru_gpu_tests" --list-test-cases >/dev/null 2>&1; then
  echo "reusing $build: its programs run here" | tee "$out/build.log"
else
  if [ -x "$build/dru_gpu_tests" ]; then  # say why a carried build does not run here
    { echo "$build/dru_gpu_tests does not run here:"; env "$ours" "$build/dru_gpu_tests" --list-test-cases 2>&1 | tail -3
      env "$ours" ldd "$build/dru_gpu_tests" | grep "not found"; } | tee "$out/build.log"
  fi
  echo "building $build for sm_80 and sm_90" | tee -a "$out/build.log"
  { cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="80;90" -DDRU_BLAS=OFF &&
    cmake --build "$build" -j"$(nproc)" --target dru_gpu_tests bench_epoch benches dru; } >>"$out/build.log" 2>&1 ||
    { tail -30 "$out/build.log"; echo "gpu_check: the build failed (log: $out/build.log)"; exit 1; }
fi

# One process per test file: a crash or a sticky CUDA error in one file cannot hide the others' results.
step "GPU tests"
: > "$out/gpu_tests.log"
tests_rc=0
for f in tests/gpu/test_gpu_*.cpp; do
  echo "-- $(basename "$f")" | tee -a "$out/gpu_tests.log"
  timeout 120 env "$ours" "$build/dru_gpu_tests" --source-file="*$(basename "$f")" 2>&1 | tee -a "$out/gpu_tests.log"
  rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || { tests_rc=1; echo "-- $(basename "$f"): exit $rc" | tee -a "$out/gpu_tests.log"; }
done

# The convolution and training tests again with cuDNN's algorithms chosen by timing (cudnnFind): if they
# pass, timed choice can become the default (it was faster for AllCNN). Reported, not fatal.
step "GPU tests with DRU_CUDNN_BENCHMARK=1 (conv and train files)"
: > "$out/gpu_tests_find.log"
for f in test_gpu_ops_conv.cpp test_gpu_train.cpp; do
  timeout 90 env "$ours" DRU_CUDNN_BENCHMARK=1 "$build/dru_gpu_tests" --source-file="*$f" > "$out/gpu_tests_find_$f.log" 2>&1
  echo "-- $f under DRU_CUDNN_BENCHMARK=1: exit $? ($(grep -h '^\[doctest\] test cases' "$out/gpu_tests_find_$f.log"))" |
    tee -a "$out/gpu_tests_find.log"
done

: > "$out/bench.json"
have_torch=0
python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null && have_torch=1

step "training epochs (data resident on the GPU)"
for m in allcnn stsb-lstm; do
  timeout 120 env "$ours" "$build/bench_epoch" "$m" --device cuda 2>&1 | tee -a "$out/bench.log" | grep '^{' >> "$out/bench.json"
  # cuDNN algorithms chosen by timing them (cudnnFind) instead of its heuristics: measured faster on AllCNN.
  [ "$m" = allcnn ] && timeout 120 env "$ours" DRU_CUDNN_BENCHMARK=1 "$build/bench_epoch" "$m" --device cuda 2>&1 |
    tee -a "$out/bench.log" | grep '^{' >> "$out/bench.json"
  # Full batches replayed from one CUDA graph (FitConfig::graphs; dropout draws through replay counters).
  timeout 120 env "$ours" "$build/bench_epoch" "$m" --device cuda --graphs 2>&1 |
    tee -a "$out/bench.log" | grep '^{' >> "$out/bench.json"
  [ $have_torch = 1 ] && timeout 180 python3 tools/reference/bench_epoch_torch.py "$m" --device cuda 2>&1 |
    tee -a "$out/bench.log" | grep '^{' >> "$out/bench.json"
done

# Where one AllCNN training step's GPU time goes, kernel by kernel, for dru (cuDNN's heuristics, then
# cudnnFind) and PyTorch: ncu times every kernel of the third epoch of a one-batch run (the programs
# turn the profiler on for that epoch only), and tools/ncu_summary.py tabulates them.
step "profile: one AllCNN step, kernel by kernel (ncu)"
if command -v ncu >/dev/null; then
  prof() {  # prof NAME COMMAND...: ncu's CSV of the command's profiled epoch into $out/profile_NAME.csv
    local name=$1
    shift
    timeout 100 env "$ours" ncu --clock-control none --profile-from-start off --metrics gpu__time_duration.sum \
      --csv "$@" > "$out/profile_$name.csv" 2> "$out/profile_$name.err" || echo "ncu $name: exit $? (see profile_$name.err)"
  }
  one_step="allcnn --device cuda --n 256 --epochs 3 --profile-epoch 3"
  prof dru "$build/bench_epoch" $one_step
  prof dru-find env DRU_CUDNN_BENCHMARK=1 "$build/bench_epoch" $one_step
  [ $have_torch = 1 ] && prof pytorch python3 tools/reference/bench_epoch_torch.py $one_step
  runs="dru=$out/profile_dru.csv dru-cudnn-find=$out/profile_dru-find.csv"
  [ $have_torch = 1 ] && runs="$runs pytorch=$out/profile_pytorch.csv"
  python3 tools/ncu_summary.py $runs | tee "$out/profile_allcnn.md"
else
  echo "ncu is not installed here: no kernel profile" | tee "$out/profile_allcnn.md"
fi

step "kernel benches"
for b in "$build"/bench_*; do
  case "$(basename "$b")" in bench_cpu|bench_images|bench_epoch) continue ;; esac
  [ -x "$b" ] || continue
  timeout 60 env "$ours" "$b" 2>&1 | tee -a "$out/bench.log" | grep '^{' >> "$out/bench.json"
done

# Then again with CUDA graphs: every metric must be the same (only times differ).
step "the main job on the GPU: dru experiment stsb-lstm --quick --device cuda (eager, then --graphs)"
if [ -x "$build/dru" ]; then
  exp=$(mktemp -d)
  timeout 100 env "$ours" "$build/dru" experiment stsb-lstm --quick --device cuda --out "$exp" 2>&1 |
    tee "$out/experiment.log"
  echo "exit ${PIPESTATUS[0]}" | tee -a "$out/experiment.log"
  gexp=$(mktemp -d)
  timeout 100 env "$ours" "$build/dru" experiment stsb-lstm --quick --device cuda --graphs --out "$gexp" 2>&1 |
    tee "$out/experiment_graphs.log"
  echo "exit ${PIPESTATUS[0]}" | tee -a "$out/experiment_graphs.log"
  python3 - "$exp/results.json" "$gexp/results.json" <<'PY' | tee -a "$out/experiment_graphs.log"
import json, sys
def leaves(x, path=""):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from leaves(v, f"{path}/{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from leaves(v, f"{path}/{i}")
    else:
        yield path, x
try:
    a, b = (dict(leaves(json.load(open(f)))) for f in sys.argv[1:3])
except (OSError, ValueError) as e:
    sys.exit(f"graphs vs eager: cannot compare ({e})")
timing = {"seconds", "speedup"}  # also summary/<method>/seconds/mean and the like
differ = [k for k in sorted(set(a) | set(b)) if not timing & set(k.split("/")) and a.get(k) != b.get(k)]
print(f"graphs vs eager: {len(differ)} metric values differ" + "".join(f"\n  {k}: {a.get(k)} vs {b.get(k)}" for k in differ[:20]))
PY
fi

step "PyTorch kernel baselines"
if [ $have_torch = 1 ]; then
  timeout 90 python3 tools/bench_torch_cuda.py 2>&1 | tee -a "$out/bench.log" | grep '^{' >> "$out/bench.json"
fi

# Data parallel (engine/comm.h): NCCL with one rank always; with several GPUs, one process per GPU
# started with torchrun's variables (the NCCL id travels over dru's TCP rendezvous), then the quick
# experiment over every GPU, whose table should match the one-GPU table above but for the times.
step "data parallel: dru comm-check over NCCL (one rank, then every GPU)"
if [ -x "$build/dru" ]; then
  timeout 60 env "$ours" "$build/dru" comm-check --device cuda --nccl --mib 43 2>&1 | tee "$out/comm.log"
  echo "exit ${PIPESTATUS[0]}" | tee -a "$out/comm.log"
  ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
  if [ "${ngpu:-0}" -gt 1 ]; then
    run_ranks() {  # run_ranks LOG ARGS...: one dru per GPU, waits for all; the exit is non-zero if any failed
      local log=$1 st=0 pids=() r
      shift
      for r in $(seq 0 $((ngpu - 1))); do
        env "$ours" RANK=$r WORLD_SIZE=$ngpu LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=29533 \
          DRU_COMM_TIMEOUT=60 timeout 120 "$build/dru" "$@" >"$log.rank$r" 2>&1 &
        pids+=($!)
      done
      for r in "${pids[@]}"; do wait "$r" || st=1; done
      cat "$log.rank0"
      return $st
    }
    run_ranks "$out/comm.log" comm-check --device cuda --mib 43; echo "exit $? ($ngpu ranks)" | tee -a "$out/comm.log"
    dexp=$(mktemp -d)
    run_ranks "$out/experiment_dp.log" experiment stsb-lstm --quick --device cuda --out "$dexp"
    echo "exit $? ($ngpu ranks; compare with the one-GPU table above)" | tee -a "$out/comm.log"
  fi
fi

step "summary"
python3 - "$out/bench.json" "$out/gpu_tests.log" "$tests_rc" "$out/profile_allcnn.md" > "$out/summary.md" <<'PY'
import json, os, re, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
log = open(sys.argv[2], errors="replace").read().splitlines()
count = {"test cases": [0, 0, 0], "assertions": [0, 0, 0]}
for l in log:
    m = re.match(r"\[doctest\] (test cases|assertions): *(\d+) \| *(\d+) passed \| *(\d+) failed", l)
    if m:
        for i in range(3):
            count[m.group(1)][i] += int(m.group(i + 2))
crashed = [l[3:] for l in log if l.startswith("-- ") and ": exit " in l]
print("| what | result |")
print("| --- | --- |")
for k, (n, ok, bad) in count.items():
    print(f"| GPU {k} | {ok} of {n} passed, {bad} failed |")
for c in crashed:
    print(f"| GPU test file {c} | |")
find_log = os.path.join(os.path.dirname(sys.argv[2]), "gpu_tests_find.log")
if os.path.exists(find_log):
    for l in open(find_log):
        if l.startswith("-- "):
            print(f"| {l[3:].strip().replace('|', '/')} | |")
for r in rows:
    if r.get("bench") == "epoch":
        print(f"| epoch {r['model']} ({r['impl']}) | {r['epoch_ms']:.1f} ms, {r['steps']} steps"
              + (f", {r['syncs_per_step']} host syncs/step" if "syncs_per_step" in r else "") + " |")
    else:
        keys = [k for k in ("version", "impl", "n", "shape") if k in r]
        what = " ".join(str(r[k]) for k in keys)
        perf = ", ".join(f"{k} {r[k]}" for k in ("ms", "gbps", "pct_copy") if k in r)
        print(f"| {r.get('bench')} {what} | {perf} |")
epochs = {(r["model"], r["impl"] == "dru"): r["epoch_ms"] for r in rows
          if r.get("bench") == "epoch" and (r["impl"] == "dru" or r["impl"].startswith("pytorch"))}
for m in ("allcnn", "stsb-lstm"):
    if (m, True) in epochs and (m, False) in epochs:
        print(f"| {m} epoch, dru / PyTorch | {epochs[(m, True)] / epochs[(m, False)]:.2f} |")
if os.path.exists(sys.argv[4]):
    for l in open(sys.argv[4]):
        m = re.match(r"### (\S+): (.*)", l)
        if m:
            print(f"| AllCNN step kernels, {m.group(1)} (ncu) | {m.group(2)} |")
PY
# The quick experiment with CUDA graphs against the eager one, and how many steps the graphs replayed.
grep -h "^graphs vs eager" "$out/experiment_graphs.log" 2>/dev/null | sed 's/^/| quick experiment: /; s/$/ | |/' >> "$out/summary.md"
grep -h "steps replayed from a CUDA graph" "$out/experiment_graphs.log" 2>/dev/null | head -2 |
  sed 's/^fit: /| quick experiment --graphs, a stage: /; s/$/ | |/' >> "$out/summary.md"
cat "$out/summary.md"
exit "$tests_rc"
