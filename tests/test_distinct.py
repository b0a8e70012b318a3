"""Distinct values exactly as Python tells them apart, NUL characters included."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import example, given, settings
from hypothesis import strategies as st

from credit_sync.distinct import factorize

TEXT = st.text(alphabet=st.sampled_from(["\x00", "a", "b", "会", " "]), max_size=4)


def _python_factorize(values: list) -> tuple[list[int], list]:
    seen: dict = {}
    codes = [-1 if v is None else seen.setdefault(v, len(seen)) for v in values]
    return codes, list(seen)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(TEXT, st.none()), max_size=30), st.booleans())
@example(["", "\x00"], False)
@example(["a", "a\x00b", "a\x00c", "a"], True)
def test_factorize_tells_apart_what_python_tells_apart(values: list, as_series: bool) -> None:
    array = np.array(values, dtype=object)
    codes, uniques = factorize(pd.Series(array) if as_series else array)
    want_codes, want_uniques = _python_factorize(values)
    assert list(codes) == want_codes
    assert list(uniques) == want_uniques


def test_numbers_and_dates_are_pandas_own() -> None:
    codes, uniques = factorize(np.array([2.0, np.nan, 2.0, 3.0]))
    assert list(codes) == [0, -1, 0, 1] and list(uniques) == [2.0, 3.0]
    dates = pd.Series(pd.to_datetime(["2026-01-01", None, "2026-01-01"]))
    codes, uniques = factorize(dates)
    assert list(codes) == [0, -1, 0] and len(uniques) == 1
