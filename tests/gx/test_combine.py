"""credit_sync.gx.combine: row slices validated apart give the result of the whole frame."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from credit_sync.gx.combine import combine, splits_by_rows
from credit_sync.gx.runner import columns_read, load_suite, validate_frame, write_data_docs

REF = date(2025, 1, 1)
ID_BAD_CHECK = "620422198503151234"
COMPARED = (
    "element_count",
    "unexpected_count",
    "unexpected_percent",
    "missing_count",
    "missing_percent",
    "unexpected_percent_total",
    "unexpected_percent_nonmissing",
    "partial_unexpected_list",
    "partial_unexpected_index_list",
)


def _frame(penalty_row) -> pd.DataFrame:
    rows = []
    for i in range(90):
        changes: dict = {}
        if i % 3 == 0:
            changes["CF_ZT"] = "9"  # 30 failures: past GX's 20-value sample
        if i % 7 == 0:
            changes["CF_FR_ZJHM"] = ID_BAD_CHECK
        if i % 11 == 0:
            changes["CF_NR_FK"] = None  # a warning: FINE_AMOUNT_MISSING
        if i % 13 == 0:
            changes["CF_CFLB"] = None
        rows.append(penalty_row(**changes))
    return pd.DataFrame(rows)


def _halves(frame: pd.DataFrame, suite, at: int):
    return [
        validate_frame(part, suite, run_name="r", reference_date=REF)
        for part in (frame.iloc[:at], frame.iloc[at:])
    ]


@pytest.fixture(scope="module")
def whole(penalty_suite, penalty_row):
    return validate_frame(_frame(penalty_row), penalty_suite, run_name="r", reference_date=REF)


@pytest.mark.parametrize("at", [1, 25])  # 25: each slice's sample is cut, as the whole's is
def test_combined_slices_equal_the_whole_frame(penalty_suite, penalty_row, whole, at) -> None:
    combined = combine(_halves(_frame(penalty_row), penalty_suite, at))

    assert combined.failures == whole.failures
    assert combined.success == whole.success
    without_time = {k: v for k, v in whole.statistics.items() if k != "seconds"}
    assert {k: v for k, v in combined.statistics.items() if k != "seconds"} == without_time
    assert set(combined.statistics["seconds"]) == set(whole.statistics["seconds"])
    assert combined.summary.statistics == whole.summary.statistics
    for got, want in zip(combined.summary.results, whole.summary.results, strict=True):
        assert got.expectation_config == want.expectation_config
        assert got.success == want.success
        for key in COMPARED:
            mine, theirs = got.result.get(key), want.result.get(key)
            if isinstance(theirs, float):
                assert mine == pytest.approx(theirs), key
            else:  # lists of values and (A, B) pairs, NaN among them
                assert repr(mine) == repr(theirs), key


def test_mostly_is_judged_over_all_rows(tmp_path: Path) -> None:
    path = tmp_path / "suite.json"
    path.write_text(
        json.dumps(
            {
                "name": "mostly",
                "expectations": [
                    {
                        "type": "expect_column_values_to_be_in_set",
                        "kwargs": {"column": "A", "value_set": ["ok"], "mostly": 0.5},
                        "meta": {"rule": "R", "severity": "error", "message": "测试"},
                    }
                ],
            }
        ),
        "utf-8",
    )
    suite = load_suite(path)
    frame = pd.DataFrame({"A": ["bad"] * 10 + ["ok"] * 30})
    parts = _halves(frame, suite, 10)
    assert not parts[0].summary.results[0].success  # the first slice alone fails "mostly"
    combined = combine(parts)
    assert combined.summary.results[0].success
    assert combined.summary.results[0].result["unexpected_percent"] == 25.0


def test_combined_result_renders_one_data_docs_page(
    tmp_path: Path, penalty_suite, penalty_row
) -> None:
    combined = combine(_halves(_frame(penalty_row), penalty_suite, 40))
    index = write_data_docs(penalty_suite, combined, tmp_path / "docs", run_name="run-x")
    assert index == combined.data_docs_index and "run-x" in index.read_text("utf-8")
    [page] = (tmp_path / "docs" / "validations").rglob("*.html")
    assert ID_BAD_CHECK not in page.read_text("utf-8")  # masked in every slice's sample


def test_combine_refuses_what_it_cannot_join(tmp_path: Path, whole) -> None:
    with pytest.raises(ValueError):
        combine([])
    assert combine([whole]) is whole
    in_set = {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "A", "value_set": [1]},
    }
    other = validate_frame(
        pd.DataFrame({"A": [1]}), _suite_of(tmp_path, in_set), run_name="r", reference_date=REF
    )
    with pytest.raises(ValueError):
        combine([whole, other])


def _suite_of(tmp_path: Path, *expectations: dict):
    path = tmp_path / "suite.json"
    meta = {"rule": "R", "severity": "error", "message": "测试"}
    body = [{**e, "meta": meta} for e in expectations]
    path.write_text(json.dumps({"name": "t", "expectations": body}), "utf-8")
    return load_suite(path)


def test_only_row_by_row_suites_split(tmp_path: Path, penalty_suite, permit_suite) -> None:
    assert splits_by_rows(penalty_suite) and splits_by_rows(permit_suite)
    unique = {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "A"}}
    row_count = {"type": "expect_table_row_count_to_equal", "kwargs": {"value": 3}}
    in_set = {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "A", "value_set": [1]},
    }
    assert splits_by_rows(_suite_of(tmp_path, in_set))
    assert not splits_by_rows(_suite_of(tmp_path, in_set, unique))
    assert not splits_by_rows(_suite_of(tmp_path, row_count))


def test_columns_read(tmp_path: Path, penalty_suite) -> None:
    read = columns_read(penalty_suite)
    assert {"CF_CFLB", "CF_NR_FK", "CF_NR_ZKDX", "CF_XDR_LB"} <= read
    assert "CF_WFXW" not in read and "BZ" not in read
    query = {
        "type": "expect_column_values_to_not_be_null",
        "kwargs": {
            "column": "A",
            "row_condition": {"type": "pass_through", "pass_through_filter": "B == 1"},
        },
    }
    assert columns_read(_suite_of(tmp_path, query)) is None  # a query may read any column
