"""`make demo`: the main job on the embedded default, end to end.

Seeds the demo department databases (once), starts the two platform stand-ins on
loopback, runs every DAG through Airflow (`dag.test()` in a child process), prints what
was extracted, validated and delivered, and stops what it started. Exits non-zero when
any task failed. Everything persists under `.airflow/`, so a second run delivers only
what changed at the sources.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from credit_sync.demo.environment import (
    DemoPaths,
    airflow_env,
    demo_connections,
    department_connections,
    standin_processes,
)
from credit_sync.demo.seed import seed
from credit_sync.standins.process import StandinProcess


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def ensure_airflow_db(paths: DemoPaths, env: dict[str, str], log: Path) -> None:
    """`airflow db migrate` once per Airflow version (it takes a while on every call)."""
    import airflow

    marker = paths.airflow_home / f".migrated-{airflow.__version__}"
    if marker.exists():
        return
    _say("initialising the Airflow metadata database (SQLite, first run only)")
    with log.open("ab") as out:
        subprocess.run(
            [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )
    marker.touch()


def _held(standin: StandinProcess) -> dict[str, int]:
    """What a stand-in holds now (read endpoint), per kind: to show nothing was lost."""
    from credit_sync.hooks.platform import PlatformClient

    client = PlatformClient(
        standin.base_url, standin.app_key, standin.app_secret, auth=standin.auth
    )
    held = {}
    for kind in ("permit", "penalty"):
        resp = client.request("GET", f"/api/v1/current?kind={kind}")
        held[kind] = resp.json()["total"] if resp.ok else -1
    client.session.close()
    return held


def run_demo(paths: DemoPaths | None = None, logical_date: datetime | None = None) -> int:
    from credit_sync.reporting import render_text, status
    from credit_sync.staging.store import open_store

    paths = paths or DemoPaths.default()
    paths.demo.mkdir(parents=True, exist_ok=True)
    (paths.airflow_home / "logs").mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # A manual trigger: the logical date is the moment of triggering, like in the UI.
    logical_date = logical_date or datetime.now(UTC).replace(microsecond=0)
    anchor = logical_date.astimezone(ZoneInfo("Asia/Shanghai")).date()
    databases = seed(paths.demo, anchor)
    log = paths.airflow_home / "logs" / f"demo-{logical_date:%Y%m%dT%H%M%S}.log"
    base_env = airflow_env(paths, department_connections(databases))
    ensure_airflow_db(paths, base_env, log)

    store = open_store(paths.staging_url)
    before = status(store)
    standins = standin_processes(paths)
    try:
        for name, standin in standins.items():
            standin.start()
            _say(f"stand-in {name} ({standin.profile}, {standin.auth} auth) on {standin.base_url}")
        connections = demo_connections(databases, standins)
        env = airflow_env(paths, connections)
        result_file = paths.airflow_home / "logs" / "demo-result.json"
        result_file.unlink(missing_ok=True)
        _say(
            f"running the DAGs through Airflow for logical date {logical_date.isoformat()} "
            f"(log: {_short(log, paths.home)})"
        )
        with log.open("ab") as out:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "credit_sync.demo.airflow_run",
                    "--logical-date",
                    logical_date.isoformat(),
                    "--result",
                    str(result_file),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        outcome = json.loads(result_file.read_text()) if result_file.exists() else {}
        held = {name: _held(s) for name, s in standins.items()}
    finally:
        for standin in standins.values():
            standin.stop()
        _say("stand-ins stopped")

    after = status(store)
    print()
    print(render_summary(before, after, outcome, held))
    print()
    print(render_text(after))
    _say(f"finished in {time.monotonic() - started:.0f}s")
    failed = [dag for dag, o in outcome.items() if not str(o.get("state")).endswith("success")]
    if proc.returncode != 0 or failed or not outcome:
        _say(f"FAILED: {', '.join(failed) or 'the Airflow run'}; see {log}")
        return 1
    return 0


def _short(path: Path, base: Path) -> Path:
    return path.relative_to(base) if path.is_relative_to(base) else path


def _delivered(report: dict[str, Any]) -> dict[tuple, int]:
    return {
        (t["target"], t["department"], t["kind"]): t["delivered"] + t["withdrawn"]
        for t in report["targets"]
    }


def render_summary(
    before: dict[str, Any], after: dict[str, Any], outcome: dict[str, dict], held: dict
) -> str:
    """Per department and kind: extracted, valid, failed; delivered per target this run."""
    was, now = _delivered(before), _delivered(after)
    targets = sorted({key[0] for key in now})
    lines = ["credit-sync demo summary", ""]
    header = f"{'department':<12}{'kind':<9}{'extracted':>10}{'valid':>7}{'failed':>8}"
    header += "".join(f"{'new → ' + t:>18}" for t in targets)
    lines.append(header)
    for d in after["departments"]:
        row = f"{d['department']:<12}{d['kind']:<9}{d['extracted']:>10}{d['valid']:>7}{d['failed']:>8}"
        for t in targets:
            key = (t, d["department"], d["kind"])
            row += f"{now.get(key, 0) - was.get(key, 0):>18}"
        lines.append(row)
    total_new = sum(now.values()) - sum(was.values())
    lines += ["", f"records delivered in this run: {total_new}"]
    for name, kinds in held.items():
        lines.append(
            f"stand-in {name} now shows: " + ", ".join(f"{k} {n}" for k, n in kinds.items())
        )
    lines.append("")
    for dag_id, o in outcome.items():
        bad = [t for t, s in o.get("tasks", {}).items() if not s.endswith("success")]
        lines.append(
            f"{dag_id:<34}{o.get('state')}" + (f"  (not successful: {bad})" if bad else "")
        )
    return "\n".join(lines)


def main() -> int:
    return run_demo()


if __name__ == "__main__":
    sys.exit(main())
