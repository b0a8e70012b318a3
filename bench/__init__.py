"""Benchmarks: `make bench` (or `python -m bench [name ...] [--quick]`).

Each `bench/bench_<name>.py` exposes `run(quick: bool) -> dict` and measures its target
beside a baseline measured in the same run. Results go to `bench/results/<name>.json`
(ignored by git); `docs/benchmarks.md` records them with the machine's details.
"""
