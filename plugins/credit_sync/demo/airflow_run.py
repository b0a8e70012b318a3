"""Run the credit-sync DAGs through Airflow itself (`dag.test()`), in order: every
department DAG, then the delivery DAG. Invoked by the demo in a child process whose
environment is the embedded Airflow home; writes each run's outcome as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pendulum


def run(
    logical_date: str, dag_ids: list[str] | None, fail_fast: bool, conf: dict | None = None
) -> dict[str, dict]:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.pool import Pool

    from credit_sync.assets import DELIVERY_DAG_ID, SOURCES_POOL, TARGETS_POOL
    from credit_sync.config import PROJECT_HOME, departments

    Pool.create_or_update_pool(SOURCES_POOL, 4, "credit-sync: department databases", False)
    Pool.create_or_update_pool(TARGETS_POOL, 2, "credit-sync: platform uploads", False)
    bag = DagBag(str(PROJECT_HOME / "dags"))
    if bag.import_errors:
        return {"_import_errors": {"state": "failed", "errors": bag.import_errors}}
    order = dag_ids or [d.dag_id for d in departments() if d.enabled] + [DELIVERY_DAG_ID]
    when = pendulum.parse(logical_date)
    outcome: dict[str, dict] = {}
    for dag_id in order:
        dag = bag.get_dag(dag_id)
        if fail_fast:
            for t in dag.tasks:  # one demo pass: report a failure instead of waiting to retry
                t.retries = 0
        dag_run = dag.test(logical_date=when, run_conf=conf)
        tasks = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
        outcome[dag_id] = {"state": str(dag_run.state), "run_id": dag_run.run_id, "tasks": tasks}
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--logical-date", required=True)
    parser.add_argument("--result", required=True, type=Path)
    parser.add_argument("--dag-id", action="append", dest="dag_ids")
    parser.add_argument("--retries", action="store_true", help="keep the DAGs' retries")
    parser.add_argument("--conf", type=json.loads, help="run parameters (JSON) for every run")
    args = parser.parse_args(argv)
    outcome = run(args.logical_date, args.dag_ids, fail_fast=not args.retries, conf=args.conf)
    args.result.write_text(json.dumps(outcome, ensure_ascii=False, indent=2, default=str))
    return 0 if all(o["state"].endswith("success") for o in outcome.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
