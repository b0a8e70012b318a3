"""DAG files import cleanly, fast, and without touching a database or the network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: Airflow is imported first (its own start-up is not ours to
# measure), then every socket connect and every SQLAlchemy engine creation is made to
# fail before the DAG folder is parsed.
PROBE = r"""
import json, socket, sys, time
import sqlalchemy
from airflow.dag_processing.dagbag import DagBag
import airflow.sdk  # noqa: F401

touched = []
def refuse(kind):
    def _raise(*args, **kwargs):
        touched.append(kind)
        raise RuntimeError(f"{kind} at DAG parse time")
    return _raise
socket.socket.connect = refuse("network")
sqlalchemy.create_engine = refuse("database")

started = time.perf_counter()
bag = DagBag(sys.argv[1])
elapsed = time.perf_counter() - started
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()},
                  "dag_ids": sorted(bag.dag_ids), "seconds": elapsed, "touched": touched,
                  "tasks": {d: sorted(t.task_id for t in bag.dags[d].tasks) for d in bag.dag_ids}}))
"""


def _parse(tmp_path: Path) -> dict:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(REPO / "dags")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_dag_files_import_without_errors_database_or_network(tmp_path: Path) -> None:
    result = _parse(tmp_path)
    assert result["errors"] == {}
    assert result["touched"] == []
    assert result["dag_ids"] == [
        "credit_sync_delivery",
        "credit_sync_dept_jtys",
        "credit_sync_dept_scjg",
        "credit_sync_rerun",
    ]
    assert result["tasks"]["credit_sync_dept_scjg"] == [
        "extract_penalty",
        "extract_permit",
        "reconcile_penalty",
        "reconcile_permit",
        "validate_penalty",
        "validate_permit",
    ]
    assert result["tasks"]["credit_sync_delivery"] == [
        "deliver_provincial",
        "deliver_xybaiyin",
        "report",
        "schedule_withdrawals",
        "targets_ok",
    ]
    assert result["seconds"] < 1.0, result["seconds"]
