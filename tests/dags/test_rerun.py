"""The operators' rerun form, through Airflow itself: `credit_sync_rerun` starts the chosen
department's DAG with the form's values as run parameters."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from credit_sync.config import PROJECT_HOME
from credit_sync.demo.environment import DemoPaths, airflow_env


def test_the_form_starts_the_department_run_with_its_parameters(
    tmp_path: Path, migrated_airflow_db: Callable[..., None]
) -> None:
    paths = DemoPaths(PROJECT_HOME, tmp_path / "airflow", tmp_path / "airflow" / "demo")
    paths.demo.mkdir(parents=True)
    env = airflow_env(paths, {}) | {"CREDIT_SYNC_STAGING_URL": f"sqlite:///{tmp_path / 's.db'}"}
    migrated_airflow_db(paths, env)
    form = {"department": "jtys", "window_start": "2026-11-01T00:00:00+08:00", "reconcile": True}
    result = tmp_path / "result.json"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "credit_sync.demo.airflow_run"),
            *("--logical-date", "2026-11-27T10:00:00+08:00", "--result", str(result)),
            *("--dag-id", "credit_sync_rerun", "--conf", json.dumps(form)),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert json.loads(result.read_text())["credit_sync_rerun"]["state"] == "success"

    with sqlite3.connect(paths.airflow_home / "airflow.db") as db:
        started = db.execute(
            "SELECT dag_id, conf, run_type FROM dag_run WHERE dag_id LIKE 'credit_sync_dept_%'"
        ).fetchall()
    assert len(started) == 1
    dag_id, conf, run_type = started[0]
    assert dag_id == "credit_sync_dept_jtys"
    assert run_type == "operator_triggered"
    assert json.loads(conf) == {  # the form's defaults fill what the operator left alone
        "window_start": "2026-11-01T00:00:00+08:00",
        "window_end": None,
        "full_resync": False,
        "reconcile": True,
    }
