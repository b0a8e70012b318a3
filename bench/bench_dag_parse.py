"""The operator's view: how long Airflow takes to parse the DAG folder with 200 configured
departments (target: under 2 s), beside the same parse with an empty and a one-department
configuration, measured in the same run.

Each parse runs in a fresh interpreter, as the dag-processor would: Airflow is imported
first (its own start-up is not ours), then `DagBag(dags/)` is timed. Configurations are
generated in a temporary directory (CREDIT_SYNC_CONFIG_DIR / CREDIT_SYNC_SQL_DIR), each
department with a permit and a penalty SELECT of realistic size.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIZES, QUICK_SIZES = (0, 1, 200), (0, 1, 20)
REPEAT, QUICK_REPEAT = 5, 2

PROBE = r"""
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
import airflow.sdk  # noqa: F401

started = time.perf_counter()
bag = DagBag(sys.argv[1])
elapsed = time.perf_counter() - started
tasks = sum(len(d.tasks) for d in bag.dags.values())
print(json.dumps({"seconds": elapsed, "dags": len(bag.dag_ids), "tasks": tasks,
                  "errors": {k: str(v)[:300] for k, v in bag.import_errors.items()}}))
"""


def write_config(root: Path, departments: int) -> tuple[Path, Path]:
    """A configuration of `departments` departments, each like the shipped scjg."""
    config_dir, sql_dir = root / "config", root / "sql"
    config_dir.mkdir(parents=True)
    for name in ("targets.yaml", "settings.yaml"):
        shutil.copy(REPO / "config" / name, config_dir / name)
    shipped = {
        kind: (REPO / "sql" / "departments" / "scjg" / f"{kind}.sql").read_text(encoding="utf-8")
        for kind in ("permit", "penalty")
    }
    entries = []
    for i in range(departments):
        code = f"dept{i:03d}"
        for kind, sql in shipped.items():
            path = sql_dir / "departments" / code / f"{kind}.sql"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(sql, encoding="utf-8")
        entries.append(
            f"  - code: {code}\n"
            f"    name: 会宁县第{i}局\n"
            f"    credit_code: 11620422013812340X\n"
            f"    conn_id: dept_{code}\n"
            f'    schedule: "{i % 60} 2 * * *"\n'
            f"    reconcile: weekly\n"
            f"    kinds:\n"
            f"      permit:\n"
            f"        sql: departments/{code}/permit.sql\n"
            f"        mappings:\n"
            f'          XK_XDR_LB: {{"1": 法人及非法人组织, "2": 个体工商户, "3": 自然人}}\n'
            f"      penalty:\n"
            f"        sql: departments/{code}/penalty.sql\n"
            f"        mappings:\n"
            f'          CF_CFLB: {{"0": 警告, "1": 罚款, "6": 其他}}\n'
        )
    (config_dir / "departments.yaml").write_text(
        "departments:\n" + "".join(entries) if entries else "departments: []\n", encoding="utf-8"
    )
    return config_dir, sql_dir


def parse_once(root: Path, config_dir: Path, sql_dir: Path) -> dict:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "CREDIT_SYNC_CONFIG_DIR": str(config_dir),
        "CREDIT_SYNC_SQL_DIR": str(sql_dir),
        "PYTHONWARNINGS": "ignore",
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(REPO / "dags")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> dict:
    sizes, repeat = (QUICK_SIZES, QUICK_REPEAT) if quick else (SIZES, REPEAT)
    results = []
    with tempfile.TemporaryDirectory(prefix="cs-dagparse-") as tmp:
        for n in sizes:
            root = Path(tmp) / f"n{n}"
            config_dir, sql_dir = write_config(root, n)
            runs = [parse_once(root, config_dir, sql_dir) for _ in range(repeat)]
            if runs[0]["errors"]:
                raise RuntimeError(f"{n} departments: import errors {runs[0]['errors']}")
            seconds = [r["seconds"] for r in runs]
            results.append(
                {
                    "departments": n,
                    "dags": runs[0]["dags"],
                    "tasks": runs[0]["tasks"],
                    "median_s": round(statistics.median(seconds), 3),
                    "min_s": round(min(seconds), 3),
                    "max_s": round(max(seconds), 3),
                }
            )
            print(f"  {results[-1]}", flush=True)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    lines = [
        f"DAG folder parse (DagBag, fresh interpreter, median of {repeat}); load average {load}",
        "",
        f"{'departments':>12}{'DAGs':>6}{'tasks':>7}{'median s':>10}{'min s':>8}{'max s':>8}",
    ]
    lines += [
        f"{r['departments']:>12}{r['dags']:>6}{r['tasks']:>7}{r['median_s']:>10}"
        f"{r['min_s']:>8}{r['max_s']:>8}"
        for r in results
    ]
    largest = results[-1]
    verdict = "meets" if largest["median_s"] < 2.0 else "MISSES"
    lines += [
        "",
        f"{largest['departments']} departments: {largest['median_s']} s "
        f"({verdict} the 2 s target; baseline with 1 department {results[1]['median_s']} s, "
        f"empty {results[0]['median_s']} s)",
    ]
    return {"results": results, "load_average": load, "text": "\n".join(lines)}
