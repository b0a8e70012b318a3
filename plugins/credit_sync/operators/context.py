"""What a task needs from the Airflow context: the run's window and its parameters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pendulum
from airflow.sdk.exceptions import AirflowFailException


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


# The run parameters a department run takes (from the trigger's conf; the rerun DAG's form
# sends them). They are checked here rather than declared as DAG Params: Airflow validates
# every Param of every DAG with jsonschema at each parse, 3 ms per DAG, and copies them
# into every task, which alone broke the 2 s parse budget at 200 departments.
TIME_PARAMETERS = ("window_start", "window_end")
FLAG_PARAMETERS = ("full_resync", "reconcile")


class RunParameterError(AirflowFailException, ValueError):
    """A run parameter this pipeline does not know, or a value it cannot use (the task
    fails at once: a retry would read the same parameters)."""


def _param_time(name: str, value: Any, tz: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = pendulum.parse(str(value), tz=tz)
    except (ValueError, TypeError) as exc:  # pendulum's ParserError is a ValueError
        raise RunParameterError(
            f"run parameter {name}={value!r} is not an ISO date or time "
            "(e.g. 2026-11-01 or 2026-11-01T08:00)"
        ) from exc
    if not isinstance(parsed, datetime):  # a bare duration or time of day
        raise RunParameterError(f"run parameter {name}={value!r} is not a date or time")
    return parsed.in_timezone(tz).naive()


def _param_flag(name: str, value: Any) -> bool:
    if value in (None, ""):
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise RunParameterError(f"run parameter {name}={value!r} is not true or false")


def run_parameters(params: Any, tz: str) -> dict[str, Any]:
    """The run parameters, checked: unknown names and unusable values raise
    RunParameterError naming the parameter (a typo must not silently run the default)."""
    given = dict(params or {})
    unknown = sorted(set(given) - {*TIME_PARAMETERS, *FLAG_PARAMETERS})
    if unknown:
        raise RunParameterError(
            f"unknown run parameter(s) {', '.join(unknown)}; known: "
            f"{', '.join((*TIME_PARAMETERS, *FLAG_PARAMETERS))}"
        )
    checked: dict[str, Any] = {n: _param_time(n, given.get(n), tz) for n in TIME_PARAMETERS}
    checked |= {n: _param_flag(n, given.get(n)) for n in FLAG_PARAMETERS}
    start, end = checked["window_start"], checked["window_end"]
    if start is not None and end is not None and start >= end:
        raise RunParameterError(
            f"run parameter window_start {start} is not before window_end {end}"
        )
    return checked


def run_window(context: dict[str, Any], tz: str) -> RunWindow:
    """The extraction window of this run.

    Upper bound: the data interval's end (for manual and trigger-timetable runs, the
    logical date). Department databases store local wall-clock times, so the bounds are
    converted to the county's time zone. Run parameters `window_start`/`window_end`
    re-extract a past range; `full_resync` re-reads everything; `reconcile` forces the
    key reconciliation (hard deletes) on a day it is not scheduled.
    """
    params = run_parameters(context.get("params"), tz)
    logical = context.get("logical_date") or context["data_interval_end"]
    end = params["window_end"] or _naive_local(context.get("data_interval_end") or logical, tz)
    return RunWindow(
        logical_date=pendulum.instance(logical).in_timezone("UTC").naive().replace(tzinfo=None),
        window_start=params["window_start"],
        window_end=end,
        full=params["full_resync"],
        run_id=str(context.get("run_id", "")),
        day=pendulum.instance(logical).in_timezone(tz).date(),
        reconcile=params["reconcile"],
    )


def as_aware_utc(naive: datetime) -> datetime:
    return naive.replace(tzinfo=UTC)
