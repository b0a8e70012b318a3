"""Check-digit throughput: the vectorised `codes.uscc_valid` and `codes.resident_id_valid`
over 1,000,000 codes each (about 10% defective: wrong check character, lower case, letter O,
wrong length, missing, not a string), beside two baselines in the same run: the scalar
checks in a list comprehension and a naive pandas `Series.apply` of them (on 100,000 codes,
scaled).

Two memory layouts, since the check is bound by reading the strings: every value its own
string object, allocated in row order as when decoded from the staging store's JSON
(`uscc`, `resident_id`: the target applies to these), and repeated codes sharing one
object of a 200,000-code pool, read in random order (`... shared`: slower, cache misses).

Target (issue 3): >= 2,000,000 codes/s for the vectorised functions.

    python -m bench codes [--quick]
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd

from credit_sync import codes

TODAY = date(2026, 11, 27)
TARGET = 2_000_000
_ALPHABET = codes.USCC_ALPHABET


def _uscc(rng: np.random.Generator) -> str:
    head = ("91", "92", "93", "11", "12", "51", "52", "Y1", "A1", "N2")[int(rng.integers(0, 10))]
    body = "".join(_ALPHABET[i] for i in rng.integers(0, 31, 8))
    first17 = head + "620422" + body + codes.org_check_char(body)
    return first17 + codes.uscc_check_char(first17)


def _resident_id(rng: np.random.Generator) -> str:
    birth = date(1940, 1, 1).toordinal() + int(rng.integers(0, 365 * 80))
    first17 = f"620422{date.fromordinal(birth):%Y%m%d}{int(rng.integers(0, 1000)):03d}"
    return first17 + codes.resident_id_check_char(first17)


def _spoil(code: str, how: int) -> object:
    """One defect seen in department data."""
    if how == 0:
        return code[:-1] + ("1" if code[-1] != "1" else "2")  # wrong check character
    if how == 1:
        return code.lower()
    if how == 2:
        return code.replace("0", "O", 1)  # letter O typed for zero
    if how == 3:
        return code[:17]
    if how == 4:
        return None
    return 12345  # not a string at all


def dataset(
    n: int, make: Callable[[np.random.Generator], str], seed: int, *, fresh: bool
) -> pd.Series:
    """`n` codes drawn from 200,000 distinct valid ones, ~10% spoiled.

    `fresh`: every value its own string object, allocated in row order (as decoded from the
    staging store's JSON); else repeated codes are one pooled object, read in random order.
    """
    rng = np.random.default_rng(seed)
    pool = [make(rng) for _ in range(min(n, 200_000))]
    picks = rng.integers(0, len(pool), n)
    spoil = rng.random(n) < 0.10
    how = rng.integers(0, 6, n)
    values = [
        _spoil(pool[p], int(h)) if s else pool[p]
        for p, s, h in zip(picks.tolist(), spoil.tolist(), how.tolist(), strict=True)
    ]
    if fresh:
        values = [v.encode().decode() if isinstance(v, str) else v for v in values]
    return pd.Series(values, dtype=object)


def _uscc_ok(value: object) -> bool:
    return isinstance(value, str) and codes.check_uscc(value) is None


def _id_ok(value: object) -> bool:
    return isinstance(value, str) and codes.check_resident_id(value, TODAY) is None


def _ids_valid(values: pd.Series) -> np.ndarray:
    return codes.resident_id_valid(values, TODAY)


def _timed(fn: Callable[[], object], repeats: int) -> list[float]:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
    return seconds


def _rates(n: int, seconds: list[float]) -> dict:
    return {
        "seconds": [round(s, 4) for s in seconds],
        "best_codes_per_s": round(n / min(seconds)),
        "median_codes_per_s": round(n / statistics.median(seconds)),
    }


def run(quick: bool = False) -> dict:
    n, n_scalar, repeats = (50_000, 5_000, 3) if quick else (1_000_000, 100_000, 7)
    load_before = os.getloadavg()
    checks = {
        "uscc": (dataset(n, _uscc, 1, fresh=True), codes.uscc_valid, _uscc_ok),
        "resident_id": (dataset(n, _resident_id, 2, fresh=True), _ids_valid, _id_ok),
        "uscc shared": (dataset(n, _uscc, 1, fresh=False), codes.uscc_valid, _uscc_ok),
        "id shared": (dataset(n, _resident_id, 2, fresh=False), _ids_valid, _id_ok),
    }
    rows = []
    for name, (values, vectorised, scalar) in checks.items():
        sample = values.iloc[:n_scalar]
        # Same answers before any timing: a fast wrong check is no check.
        expected = np.array([scalar(v) for v in sample], dtype=bool)
        assert (vectorised(sample) == expected).all(), name
        vector = _rates(n, _timed(lambda: vectorised(values), repeats))  # noqa: B023
        loop = _rates(n_scalar, _timed(lambda: [scalar(v) for v in sample], 3))  # noqa: B023
        apply = _rates(n_scalar, _timed(lambda: sample.apply(scalar), 3))  # noqa: B023
        rows.append(
            {
                "check": name,
                "codes": n,
                "defective_share": round(1 - float(vectorised(values).mean()), 3),
                "vectorised": vector,
                "scalar_loop": loop,
                "pandas_apply": apply,
                "target_met": vector["median_codes_per_s"] >= TARGET,
                "layout": "shared objects" if "shared" in name else "fresh objects",
            }
        )
    load = {"before": [round(x, 2) for x in load_before], "after": os.getloadavg()[:3]}
    lines = [
        f"{'check':<12} {'codes':>9} {'vectorised best/median codes/s':>32} "
        f"{'scalar loop':>12} {'pandas apply':>13} {'target':>7}"
    ]
    for r in rows:
        v = r["vectorised"]
        lines.append(
            f"{r['check']:<12} {r['codes']:>9} "
            f"{v['best_codes_per_s']:>15,} / {v['median_codes_per_s']:>14,} "
            f"{r['scalar_loop']['median_codes_per_s']:>12,} "
            f"{r['pandas_apply']['median_codes_per_s']:>13,} "
            f"{'met' if r['target_met'] else 'MISSED':>7}"
        )
    lines.append(f"load average before {load['before']}, after {list(load['after'])}")
    return {
        "name": "codes",
        "target": f">= {TARGET:,} codes/s (vectorised, median of {repeats} runs, fresh objects)",
        "rows": rows,
        "load_average": load,
        "text": "\n".join(lines),
    }
