"""One DAG per configured department (config/departments.yaml): for each record kind,
extract from the department's database into staging, then validate. Operators see,
pause and rerun each department on its own; a department that fails fails alone."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, dag, task

from credit_sync.assets import OUTBOX_ASSET_URI, SOURCES_POOL, TAGS
from credit_sync.config import Department, departments
from credit_sync.operators.department import extract_kind, validate_kind

DEFAULT_ARGS = {
    "retries": 3,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(hours=2),
}
PARAMS = {
    "window_start": Param(
        None, type=["null", "string"], description="Re-extract from (ISO time, county local)"
    ),
    "window_end": Param(None, type=["null", "string"], description="Re-extract up to (ISO time)"),
    "full_resync": Param(
        False, type="boolean", description="Re-read every row, ignore the watermark"
    ),
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
        params=PARAMS,
        tags=[*TAGS, "department", dept.code],
        is_paused_upon_creation=not dept.enabled,
        doc_md=__doc__,
    )
    def wiring() -> None:
        for kind in dept.kinds:
            extract = task(task_id=f"extract_{kind.value}", pool=SOURCES_POOL)(extract_kind)
            validate = task(task_id=f"validate_{kind.value}", outlets=[Asset(OUTBOX_ASSET_URI)])(
                validate_kind
            )
            extract(dept.code, kind.value) >> validate(dept.code, kind.value)

    wiring()


for _dept in departments():
    department_dag(_dept)
