"""ncu_summary.py — where a training step's GPU time goes: reads the CSV that Nsight Compute prints for
`ncu --csv --metrics gpu__time_duration.sum` (one row per kernel launch) and prints, per run, the
total kernel time and the kernels that take most of it, as a markdown table.

    python3 tools/ncu_summary.py NAME=FILE.csv [NAME=FILE.csv ...] [--top 12] [--steps 1]

tools/gpu_check.sh profiles one AllCNN training step of dru (cuDNN heuristics and cudnnFind) and of
the PyTorch reference this way, so the two can be compared kernel by kernel. --steps divides the
totals by the number of training steps the profiled stretch held.
"""
import argparse
import csv
import io
import re
import sys

UNIT_NS = {"nsecond": 1.0, "ns": 1.0, "usecond": 1e3, "us": 1e3, "msecond": 1e6, "ms": 1e6, "second": 1e9, "s": 1e9}


def short_name(name):
    """A kernel's name without return type, namespaces' anonymous parts, template arguments and
    parameter list, at most 70 characters."""
    name = name.replace("(anonymous namespace)::", "")
    if name.startswith("void "):
        name = name[5:]
    name = name.split("(")[0]
    while True:  # drop innermost <...> until none is left
        shorter = re.sub(r"<[^<>]*>", "", name)
        if shorter == name:
            break
        name = shorter
    name = name.strip()
    return name if len(name) <= 70 else name[:67] + "..."


def read_launches(path):
    """[(kernel name, nanoseconds)] of the launches in an ncu CSV; other lines (the program's own
    output, ncu's ==PROF== messages) are skipped."""
    text = open(path, errors="replace").read().splitlines()
    start = next((i for i, line in enumerate(text) if line.startswith('"ID"')), None)
    if start is None:
        return []
    rows = csv.DictReader(io.StringIO("\n".join(text[start:])))
    launches = []
    for r in rows:
        if not (r.get("ID") or "").isdigit() or r.get("Metric Name") != "gpu__time_duration.sum":
            continue
        unit = UNIT_NS.get((r.get("Metric Unit") or "").strip())
        try:
            value = float((r.get("Metric Value") or "").replace(",", ""))
        except ValueError:
            continue
        if unit is None:
            continue
        launches.append((r.get("Kernel Name") or "?", value * unit))
    return launches


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="NAME=FILE.csv")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--steps", type=int, default=1)
    a = ap.parse_args()
    failed = False
    for run in a.runs:
        name, _, path = run.partition("=")
        if not path:
            sys.exit(f"ncu_summary: '{run}' is not NAME=FILE.csv")
        try:
            launches = read_launches(path)
        except OSError as e:
            print(f"ncu_summary: {name}: cannot read {path}: {e}")
            failed = True
            continue
        if not launches:
            print(f"ncu_summary: {name}: no kernel times in {path} (did ncu run, and did the program start the profiler?)")
            failed = True
            continue
        per = {}
        for k, ns in launches:
            n, t = per.get(short_name(k), (0, 0.0))
            per[short_name(k)] = (n + 1, t + ns)
        total = sum(ns for _, ns in launches)
        print(f"\n### {name}: {total / 1e6 / a.steps:.3f} ms of kernels per step, "
              f"{len(launches) / a.steps:.0f} launches per step\n")
        print("| kernel | launches | ms per step | share |")
        print("| --- | ---: | ---: | ---: |")
        for k, (n, t) in sorted(per.items(), key=lambda kv: -kv[1][1])[:a.top]:
            print(f"| `{k}` | {n / a.steps:.0f} | {t / 1e6 / a.steps:.3f} | {100 * t / total:.1f} % |")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
