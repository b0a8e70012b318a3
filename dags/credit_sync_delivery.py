"""Deliver the outbox to every target in config/targets.yaml, one task per target so a
failing platform never holds back the others; runs whenever a department validated."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, task

from credit_sync.alerts import task_defaults
from credit_sync.assets import DELIVERY_DAG_ID, OUTBOX_ASSET_URI, TAGS, TARGETS_POOL
from credit_sync.config import targets
from credit_sync.operators.target import deliver_target, report, schedule_withdrawals, targets_ok


@dag(
    dag_id=DELIVERY_DAG_ID,
    description="双公示 delivery to the provincial platform and 信用白银",
    schedule=[Asset(OUTBOX_ASSET_URI)],
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    # A platform that is down or throttling gets 3 more tries (1, 2, 4 min); the alert
    # fires when they are spent.
    default_args=task_defaults(
        first_retry=timedelta(minutes=1),
        longest_retry=timedelta(minutes=20),
        timeout=timedelta(hours=1),
    ),
    tags=[*TAGS, "delivery"],
    doc_md=__doc__,
)
def credit_sync_delivery() -> None:
    due = task(task_id="schedule_withdrawals")(schedule_withdrawals)()
    deliveries = [
        task(task_id=f"deliver_{t.code}", pool=TARGETS_POOL)(deliver_target)(t.code)
        for t in targets()
        if t.enabled
    ]
    summary = task(task_id="report", trigger_rule="all_done", retries=0)(report)()
    # The report always runs, so it can't carry the outcome: this leaf fails the run
    # (and alerts) whenever a target failed.
    verdict = task(task_id="targets_ok", trigger_rule="all_success", retries=0)(targets_ok)()
    due >> deliveries >> summary
    deliveries >> verdict


credit_sync_delivery()
