"""The custom GX expectations in credit_sync.gx.expectations, one by one."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from credit_sync.distinct import factorize
from credit_sync.gx import expectations as ce
from credit_sync.gx.runner import validate_frame

REF = date(2025, 1, 1)
USCC_A = "91620100719023721L"
USCC_B = "91620105224521729E"
ID_VALID = "11010519491231002X"


def _suite(*expectations: Any):
    import great_expectations as gx

    for i, expectation in enumerate(expectations):
        expectation.meta = {"rule": f"R{i}", "severity": "error", "message": "测试"}
    return gx.ExpectationSuite(name="unit", expectations=list(expectations))


def failing_rows(expectation: Any, reference_date: date = REF, **columns: list) -> list[int]:
    """Rows the expectation flags in a frame built from `columns`."""
    frame = pd.DataFrame(
        {name: pd.Series(values, dtype=object) for name, values in columns.items()}
    )
    result = validate_frame(frame, _suite(expectation), run_name="t", reference_date=reference_date)
    return [f.row for f in result.failures]


GARBAGE = [12345, 3.5, True, ["x"], {"k": 1}, b"\x00", "💥" * 3000, pd.Timestamp("2024-01-01")]


# --- registration and serialisation ----------------------------------------------------------


@pytest.mark.parametrize("cls", ce.CUSTOM_EXPECTATIONS, ids=lambda c: c.__name__)
def test_custom_types_are_registered_under_snake_case(cls: type) -> None:
    from great_expectations.expectations.registry import get_expectation_impl

    assert get_expectation_impl(cls.expectation_type) is cls
    assert cls.expectation_type.startswith(
        ("expect_column_values_to_", "expect_column_pair_values_a_to_")
    )


def _examples() -> list[Any]:
    from great_expectations.expectations.row_conditions import Column

    return [
        ce.ExpectColumnValuesToBeValidUscc(column="A"),
        ce.ExpectColumnValuesToBeValidResidentId(
            column="A",
            reference_date={"$PARAMETER": "reference_date"},
            row_condition=Column("T") == "身份证",
        ),
        ce.ExpectColumnValuesToBeValidResidentId(column="A", reference_date="2024-12-31"),
        ce.ExpectColumnValuesToBeIsoDates(column="A", mostly=0.9),
        ce.ExpectColumnValuesToBeDatesNotAfter(column="A", max_date={"$PARAMETER": "d"}),
        ce.ExpectColumnValuesToBeFiniteNumbers(column="A"),
        ce.ExpectColumnValuesToNotBeNegative(column="A"),
        ce.ExpectColumnValuesToBeInSetOrMultiSet(column="A", value_set=["罚款", "警告"]),
        ce.ExpectColumnPairValuesAToBePresentWhenBContains(
            column_A="A", column_B="B", value_set=["罚款"], separator="|"
        ),
    ]


def test_suite_json_round_trip_keeps_every_custom_expectation() -> None:
    import json

    import great_expectations as gx

    suite = _suite(*_examples())
    data = json.loads(json.dumps(suite.to_json_dict(), ensure_ascii=False))
    loaded = gx.ExpectationSuite(**data)
    assert len(loaded.expectations) == len(suite.expectations)
    assert [e.configuration for e in loaded.expectations] == [
        e.configuration for e in suite.expectations
    ]
    # The structured row condition survives as a condition, not as a string.
    condition = loaded.expectations[1].row_condition
    assert (condition.column.name, condition.parameter) == ("T", "身份证")
    assert data["expectations"][2]["kwargs"]["reference_date"] == "2024-12-31"


@pytest.mark.parametrize("bad", ["2025-02-30", "2025/01/01", "20250101", "today", ""])
def test_literal_dates_must_be_iso(bad: str) -> None:
    with pytest.raises(ValueError):
        ce.ExpectColumnValuesToBeValidResidentId(column="A", reference_date=bad)
    with pytest.raises(ValueError):
        ce.ExpectColumnValuesToBeDatesNotAfter(column="A", max_date=bad)


def test_multi_set_needs_a_value_set() -> None:
    with pytest.raises(ValueError):
        ce.ExpectColumnValuesToBeInSetOrMultiSet(column="A", value_set=[])
    with pytest.raises(ValueError):
        ce.ExpectColumnPairValuesAToBePresentWhenBContains(column_A="A", column_B="B", value_set=[])


# --- each expectation: passing and failing values -------------------------------------------------


def test_valid_uscc() -> None:
    exp = ce.ExpectColumnValuesToBeValidUscc(column="A")
    values = [USCC_A, None, "91620100719023721M", USCC_B, USCC_A.lower(), "", *GARBAGE]
    # nulls pass (requiredness is another rule); lower case is not normalised here
    assert failing_rows(exp, A=values) == [2, 4, 6, 7, 8, 9, 10, 11, 12, 13]


def test_valid_uscc_on_repeated_values_matches_scalar_check() -> None:
    # The runner hands repetitive columns over as categoricals: same answers either way.
    exp = ce.ExpectColumnValuesToBeValidUscc(column="A")
    values = [USCC_A, "91620100719023721M", USCC_B] * 500
    assert failing_rows(exp, A=values) == list(range(1, 1500, 3))


def test_valid_resident_id_uses_reference_date_parameter() -> None:
    born_2025_06_01 = "620422202506011235"
    exp = ce.ExpectColumnValuesToBeValidResidentId(
        column="A", reference_date={"$PARAMETER": "reference_date"}
    )
    values = [ID_VALID, born_2025_06_01, "11010519491231002x", "110105194912310021", None, *GARBAGE]
    assert failing_rows(exp, A=values) == [1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12]
    assert failing_rows(exp, date(2025, 6, 1), A=values)[:1] == [2]  # born on "today": fine


def test_valid_resident_id_only_where_condition_holds() -> None:
    from great_expectations.expectations.row_conditions import Column

    exp = ce.ExpectColumnValuesToBeValidResidentId(
        column="A",
        reference_date={"$PARAMETER": "reference_date"},
        row_condition=Column("T") == "身份证",
    )
    rows = failing_rows(
        exp,
        A=["E12345678", "E12345678", ID_VALID, "bad", "bad"],
        T=["护照", "身份证", "身份证", None, "身份证"],
    )
    assert rows == [1, 4]


def test_iso_dates() -> None:
    exp = ce.ExpectColumnValuesToBeIsoDates(column="A")
    values = ["2024-02-29", "2023-02-29", "2024/01/01", "2024-1-1", "2024-01-01 10:00", None]
    values += ["２０２４-０１-０１", *GARBAGE]
    assert failing_rows(exp, A=values) == [1, 2, 3, 4, *range(6, 15)]


def test_dates_not_after() -> None:
    exp = ce.ExpectColumnValuesToBeDatesNotAfter(
        column="A", max_date={"$PARAMETER": "reference_date"}
    )
    values = ["2024-12-31", "2025-01-01", "2025-01-02", "2099-12-31", None, "not a date", 20250102]
    # Values that are not ISO dates are the format rule's to report, not this one's.
    assert failing_rows(exp, A=values) == [2, 3]
    literal = ce.ExpectColumnValuesToBeDatesNotAfter(column="A", max_date="2099-12-31")
    assert failing_rows(literal, A=values) == []


def test_finite_numbers() -> None:
    exp = ce.ExpectColumnValuesToBeFiniteNumbers(column="A")
    values = [0.2, 0, 3, np.float64(1.5), np.int64(7), None, math.nan, -1.0]
    values += [math.inf, "0.2", "abc", True, ["x"], 10**400]  # no float holds 10**400
    assert failing_rows(exp, A=values) == [8, 9, 10, 11, 12, 13]


def test_finite_numbers_on_a_clean_float_column() -> None:
    exp = ce.ExpectColumnValuesToBeFiniteNumbers(column="A")
    frame = pd.DataFrame({"A": [0.2, np.nan, np.inf, -np.inf, 1.0]})
    result = validate_frame(frame, _suite(exp), run_name="t", reference_date=REF)
    assert [f.row for f in result.failures] == [2, 3]


def test_not_negative() -> None:
    exp = ce.ExpectColumnValuesToNotBeNegative(column="A")
    values = [0.0, 0.2, -0.01, -5, None, "-3", "abc", -math.inf, np.int64(-2), False]
    # "-3" is not a number (the format rule reports it); bool is never an amount
    assert failing_rows(exp, A=values) == [2, 3, 7, 8]
    frame = pd.DataFrame({"A": [1.0, -1.0, np.nan]})
    result = validate_frame(frame, _suite(exp), run_name="t", reference_date=REF)
    assert [f.row for f in result.failures] == [1]


def test_in_set_or_multi_set() -> None:
    exp = ce.ExpectColumnValuesToBeInSetOrMultiSet(column="A", value_set=["罚款", "警告", "其他"])
    values = ["罚款", "罚款;警告", " 警告 ;罚款", "罚款;", "罚款；警告", "吊销", ";", "", None]
    values += GARBAGE
    # "" is blank, so missing: not this rule's business
    assert failing_rows(exp, A=values) == [3, 4, 5, 6, *range(9, 17)]
    other_separator = ce.ExpectColumnValuesToBeInSetOrMultiSet(
        column="A", value_set=["罚款", "警告"], separator="|"
    )
    assert failing_rows(other_separator, A=["罚款|警告", "罚款;警告"]) == [1]


def test_a_present_when_b_contains() -> None:
    exp = ce.ExpectColumnPairValuesAToBePresentWhenBContains(
        column_A="A", column_B="B", value_set=["罚款", "吊销许可证件"]
    )
    a = [0.2, None, None, None, None, None, None, None, 0, "x", None, None]
    b = [
        "罚款",
        "罚款",
        "警告;罚款",
        " 罚款 ",
        "警告",
        None,
        "罚款款",
        "吊销许可证件",
        "罚款",
        None,
    ]
    b += [["罚款"], 12345]  # garbage categories call for nothing (the enum rule reports them)
    # rows 5 (both missing) and 9 (no category) are not this rule's business
    assert failing_rows(exp, A=a, B=b) == [1, 2, 3, 7]
    assert failing_rows(exp, A=[None] * 300, B=["警告", "罚款", "吊销许可证件"] * 100) == [
        i for i in range(300) if i % 3
    ]  # repeated categories take the categorical path
    piped = ce.ExpectColumnPairValuesAToBePresentWhenBContains(
        column_A="A", column_B="B", value_set=["罚款"], separator="|"
    )
    assert failing_rows(piped, A=[None, None], B=["警告|罚款", "警告;罚款"]) == [0]


def test_mostly_still_reports_every_unexpected_row() -> None:
    exp = ce.ExpectColumnValuesToBeIsoDates(column="A", mostly=0.5)
    assert failing_rows(exp, A=["2024-01-01", "x", "2024-01-02", "2024-01-03"]) == [1]


# --- helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-02-29", date(2024, 2, 29)),
        ("2023-02-29", None),
        ("2024-13-01", None),
        ("20240101", None),
        ("2024-01-01T00:00", None),
        ("２０２４-０１-０１", None),
        (None, None),
        (20240101, None),
    ],
)
def test_parse_iso_date(text: object, expected: date | None) -> None:
    assert ce.parse_iso_date(text) == expected


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", " ", "c;d"]), st.text()), max_size=40)
)
@example(["", "\x00"])  # pandas' own factorize took these for one value
@example(["ab", "ab\x00c"])
def test_per_unique_is_the_same_for_objects_and_categoricals(values: list) -> None:
    def check(v: object) -> bool:
        return isinstance(v, str) and v.strip() != "" and len(v) < 3

    column = pd.Series(values, dtype=object)
    expected = [True if v is None else check(v) for v in values]  # nulls pass
    assert list(ce._per_unique(column, check)) == expected
    # From exact codes, as the runner makes them (astype("category") merges "" and "\x00").
    codes, uniques = factorize(column)
    categories = pd.CategoricalDtype(pd.Index(uniques, dtype=object))
    categorical = pd.Series(pd.Categorical.from_codes(codes, dtype=categories))
    assert list(ce._per_unique(categorical, check)) == expected
