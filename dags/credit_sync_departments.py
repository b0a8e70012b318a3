"""One DAG per configured department (config/departments.yaml): for each record kind,
extract from the department's database into staging, reconcile its keys (hard deletes at
the source; a no-op on days the department's `reconcile:` does not name), then validate.
Operators see, pause and rerun each department on its own; a department that fails fails
alone. A run for a chosen date range, or a full re-sync, is started from the
credit_sync_rerun form (or by triggering with that conf: window_start, window_end,
full_resync, reconcile)."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, task

from credit_sync.alerts import task_defaults
from credit_sync.assets import OUTBOX_ASSET_URI, SOURCES_POOL, TAGS
from credit_sync.config import Department, departments
from credit_sync.operators.department import extract_kind, reconcile_kind, validate_kind
from credit_sync.schema import Kind

# A department database that is down for maintenance or a network blip gets 3 more tries
# over about 14 minutes (2, 4, 8 min, capped at 30); a wrong SQL file or password fails
# the same way every time, and the task log names the department and the cause.
# Every task is safe to retry: upserts by record id, a watermark that never goes back.
DEFAULT_ARGS = task_defaults(
    first_retry=timedelta(minutes=2),
    longest_retry=timedelta(minutes=30),
    timeout=timedelta(hours=2),
)


# Each step of each kind is decorated once and called in every department's DAG:
# building a task decorator costs about as much as the task it makes.
STEPS = {
    kind: (
        task(task_id=f"extract_{kind.value}", pool=SOURCES_POOL)(extract_kind),
        task(task_id=f"reconcile_{kind.value}", pool=SOURCES_POOL)(reconcile_kind),
        task(task_id=f"validate_{kind.value}", outlets=[Asset(OUTBOX_ASSET_URI)])(validate_kind),
    )
    for kind in Kind
}


def department_dag(dept: Department) -> None:
    @dag(
        dag_id=dept.dag_id,
        description=f"{dept.name}: 双公示 extraction and validation",
        schedule=dept.schedule,
        start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=[*TAGS, "department", dept.code],
        is_paused_upon_creation=not dept.enabled,
        doc_md=__doc__,
    )
    def wiring() -> None:
        for kind in dept.kinds:
            extract, reconcile, validate = STEPS[kind]
            (
                extract(dept.code, kind.value)
                >> reconcile(dept.code, kind.value)
                >> validate(dept.code, kind.value)
            )

    wiring()


for _dept in departments():
    department_dag(_dept)
