"""A form for operators: rerun one department for a date range, re-read everything, or
look for hard deletes now. It starts that department's own DAG with these run
parameters, so the work is watched, retried and alerted on under the department."""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag

from credit_sync.assets import DEPARTMENT_DAG_PREFIX, RERUN_DAG_ID, TAGS
from credit_sync.config import departments

_DEPARTMENTS = {dept.code: f"{dept.code} {dept.name}" for dept in departments()}


@dag(
    dag_id=RERUN_DAG_ID,
    description="Rerun a department for a date range, or a full re-sync",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    # Params render as native values, so an empty time stays None and a flag stays a bool.
    render_template_as_native_obj=True,
    params={
        "department": Param(
            next(iter(_DEPARTMENTS), ""),
            type="string",
            enum=list(_DEPARTMENTS) or [""],
            values_display=_DEPARTMENTS,
            description="The department to rerun",
        ),
        "window_start": Param(
            None,
            type=["null", "string"],
            format="date-time",
            description="Re-extract records updated from this time (county local time)",
        ),
        "window_end": Param(
            None,
            type=["null", "string"],
            format="date-time",
            description="... up to this time (empty: now)",
        ),
        "full_resync": Param(
            False, type="boolean", description="Re-read every row, ignoring the watermark"
        ),
        "reconcile": Param(
            False, type="boolean", description="List the source's keys now to find hard deletes"
        ),
    },
    tags=[*TAGS, "operations"],
    doc_md=__doc__,
)
def credit_sync_rerun() -> None:
    TriggerDagRunOperator(
        task_id="start_department_run",
        trigger_dag_id=DEPARTMENT_DAG_PREFIX + "{{ params.department }}",
        conf={
            "window_start": "{{ params.window_start }}",
            "window_end": "{{ params.window_end }}",
            "full_resync": "{{ params.full_resync }}",
            "reconcile": "{{ params.reconcile }}",
        },
        fail_when_dag_is_paused=True,
        note="{{ 'Rerun requested from ' ~ dag.dag_id }}",
    )


credit_sync_rerun()
