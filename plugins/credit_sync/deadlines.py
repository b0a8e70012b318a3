"""Dates the policy attaches to a decision: the 7-working-day publication deadline and
the end of a penalty's publicity period."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from functools import cache

from credit_sync.config import Settings

log = logging.getLogger(__name__)


@cache
def _warned_year(year: int) -> None:
    log.warning(
        "no Chinese holiday data for %d (chinesecalendar too old): counting Monday-Friday "
        "as working days; upgrade chinesecalendar",
        year,
    )


def is_working_day(day: date) -> bool:
    """State Council calendar, 调休 make-up days included; weekdays where it has no data."""
    import chinese_calendar

    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        _warned_year(day.year)
        return day.weekday() < 5


def working_days_between(decided: date, published: date) -> int:
    """Working days after the decision day, up to and including the publication day."""
    days = 0
    day = decided + timedelta(days=1)
    while day <= published:
        days += is_working_day(day)
        day += timedelta(days=1)
    return days


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def publicity_end(decided: date, categories: list[str], settings: Settings) -> date:
    """End of publicity when the source leaves CF_GSJZQ empty: the longest period among
    the grades of the record's penalty categories, counted from the decision date."""
    grades = [settings.penalty_grades.get(c, settings.default_grade) for c in categories]
    months = max(
        (settings.publicity_months.get(g, 0) for g in grades or [settings.default_grade]),
        default=0,
    )
    return add_months(decided, months)
