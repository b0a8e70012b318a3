"""Run the benchmarks and print/save their results (see bench/__init__.py)."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def main(argv: list[str] | None = None) -> int:
    names = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", help=f"default: all of {names}")
    parser.add_argument("--quick", action="store_true", help="small sizes, to check they run")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(names))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {names}")
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    info = machine()
    print(f"machine: {info}", flush=True)
    for name in args.names or names:
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"\n== {name} ==", flush=True)
        result = module.run(quick=args.quick)
        result["machine"] = info
        result["quick"] = args.quick
        (results_dir / f"{name}.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
        print(result.get("text", json.dumps(result, ensure_ascii=False, indent=2)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
