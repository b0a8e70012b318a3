"""What a task needs from the Airflow context: the run's window and its parameters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pendulum


@dataclass(frozen=True)
class RunWindow:
    logical_date: datetime  # naive UTC
    window_start: datetime | None  # naive, in the source's local time (settings.timezone)
    window_end: datetime
    full: bool
    run_id: str
    day: date  # the logical date in the county's time zone: what "today" is for this run
    reconcile: bool = False  # run parameter: list the source's keys even if not due


def _naive_local(value: datetime, tz: str) -> datetime:
    return pendulum.instance(value).in_timezone(tz).naive()


def _param_time(value: Any, tz: str) -> datetime | None:
    if value in (None, ""):
        return None
    parsed = pendulum.parse(str(value), tz=tz)
    return parsed.in_timezone(tz).naive()


def run_window(context: dict[str, Any], tz: str) -> RunWindow:
    """The extraction window of this run.

    Upper bound: the data interval's end (for manual and trigger-timetable runs, the
    logical date). Department databases store local wall-clock times, so the bounds are
    converted to the county's time zone. Run parameters `window_start`/`window_end`
    re-extract a past range; `full_resync` re-reads everything; `reconcile` forces the
    key reconciliation (hard deletes) on a day it is not scheduled.
    """
    params = context.get("params") or {}
    logical = context.get("logical_date") or context["data_interval_end"]
    end = _param_time(params.get("window_end"), tz) or _naive_local(
        context.get("data_interval_end") or logical, tz
    )
    return RunWindow(
        logical_date=pendulum.instance(logical).in_timezone("UTC").naive().replace(tzinfo=None),
        window_start=_param_time(params.get("window_start"), tz),
        window_end=end,
        full=bool(params.get("full_resync", False)),
        run_id=str(context.get("run_id", "")),
        day=pendulum.instance(logical).in_timezone(tz).date(),
        reconcile=bool(params.get("reconcile", False)),
    )


def as_aware_utc(naive: datetime) -> datetime:
    return naive.replace(tzinfo=UTC)
