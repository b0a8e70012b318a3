"""Run parameters and the extraction window a task derives from the Airflow context."""

from __future__ import annotations

from datetime import datetime

import pendulum
import pytest
from airflow.sdk.exceptions import AirflowFailException

from credit_sync.operators.context import RunParameterError, run_parameters, run_window

TZ = "Asia/Shanghai"


def _context(**params: object) -> dict:
    end = pendulum.datetime(2026, 11, 26, 18, 0, tz="UTC")  # 2026-11-27 02:00 in the county
    return {
        "params": params,
        "logical_date": end,
        "data_interval_end": end,
        "run_id": "scheduled__2026-11-26T18:00:00+00:00",
    }


def test_a_scheduled_run_reads_its_data_interval() -> None:
    window = run_window(_context(), TZ)
    assert window.window_end == datetime(2026, 11, 27, 2, 0)
    assert window.window_start is None and not window.full and not window.reconcile
    assert str(window.day) == "2026-11-27"


def test_the_rerun_form_values_become_the_window() -> None:
    window = run_window(
        _context(
            window_start="2026-11-01T00:00:00+08:00",
            window_end="2026-11-10",
            full_resync="true",
            reconcile=False,
        ),
        TZ,
    )
    assert window.window_start == datetime(2026, 11, 1)
    assert window.window_end == datetime(2026, 11, 10)
    assert window.full is True and window.reconcile is False


def test_a_utc_time_is_read_in_county_time() -> None:
    checked = run_parameters({"window_start": "2026-11-01T00:00:00Z"}, TZ)
    assert checked["window_start"] == datetime(2026, 11, 1, 8, 0)


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"full_resnyc": True}, "unknown run parameter(s) full_resnyc"),
        ({"window_start": "last tuesday"}, "window_start='last tuesday' is not an ISO date"),
        ({"window_end": "P1D"}, "window_end='P1D' is not a date or time"),
        ({"full_resync": "sometimes"}, "full_resync='sometimes' is not true or false"),
        (
            {"window_start": "2026-11-10", "window_end": "2026-11-01"},
            "window_start 2026-11-10 00:00:00 is not before window_end",
        ),
    ],
)
def test_a_bad_run_parameter_fails_the_task_at_once_naming_it(params: dict, says: str) -> None:
    with pytest.raises(RunParameterError) as caught:
        run_window(_context(**params), TZ)
    assert says in str(caught.value)
    assert isinstance(caught.value, AirflowFailException)  # no retries of the same mistake
