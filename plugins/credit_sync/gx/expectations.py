"""Custom Great Expectations (1.x) expectations for 双公示 records.

Each rule GX lacks is a metric (a `ColumnMapMetricProvider`, or `ColumnPairMapMetricProvider`
for rules that read two columns, with a vectorised `_pandas` condition) plus an expectation
that names it in `map_metric`. Defining the class
registers it: GX's `MetaExpectation` metaclass files every non-abstract Expectation
subclass under its snake_case name (`ExpectColumnValuesToBeValidUscc` ->
`expect_column_values_to_be_valid_uscc`), which is the `type` used in suite JSON. A suite
naming a type that is not registered is silently dropped by GX, so whoever loads a suite
must import this module first (`credit_sync.gx.runner` does and also counts).

Conventions shared by every rule here:
- nulls are ignored (GX filters them out before the condition runs); requiredness is a
  separate `expect_column_values_to_not_be_null` rule;
- any other value, whatever its type (int, float, a 10,000-character string, emoji),
  yields True or False and never raises, so garbage rows become failures, not crashes;
- dates are compared as ISO `YYYY-MM-DD` strings, which sort chronologically.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from great_expectations.compatibility import pydantic
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import (
    ColumnMapExpectation,
    ColumnPairMapExpectation,
)
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    ColumnPairMapMetricProvider,
    column_condition_partial,
    column_pair_condition_partial,
)

from credit_sync.codes import resident_id_valid, uscc_valid
from credit_sync.distinct import factorize

# A `{"$PARAMETER": "reference_date"}` placeholder is a plain dict until GX substitutes
# the run's value at validation time, so date parameters accept both.
DateParameter = str | dict


def parse_iso_date(value: object) -> date | None:
    """A real calendar date written exactly `YYYY-MM-DD`, else None."""
    if not isinstance(value, str) or len(value) != 10 or value[4] != "-" or value[7] != "-":
        return None
    if not (value[:4] + value[5:7] + value[8:]).isascii():
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _check_iso_parameter(value: object) -> object:
    # Suite parameters stay dicts until validation; a literal must already be a real date.
    if isinstance(value, str) and parse_iso_date(value) is None:
        raise ValueError(f"not an ISO date (YYYY-MM-DD): {value!r}")
    return value


def _per_unique(column: pd.Series, check: Callable[[Any], bool]) -> pd.Series:
    """Apply a scalar check once per distinct value (codes, categories and dates repeat a lot)."""

    def vector_check(values: pd.Series) -> np.ndarray:
        return np.fromiter((bool(check(v)) for v in values), dtype=bool, count=len(values))

    return _per_category(column, vector_check)


def _per_category(column: pd.Series, vector_check: Callable[[pd.Series], np.ndarray]) -> pd.Series:
    """Run a vectorised check over the distinct values only, then spread it over the rows."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        # The runner hands repetitive text over as categoricals: the categories are the uniques.
        codes = column.cat.codes.to_numpy()
        uniques = pd.Series(column.cat.categories.to_numpy(dtype=object), dtype=object)
    else:
        try:
            codes, unique_values = factorize(column)
        except TypeError:  # unhashable garbage (lists, dicts): check row by row
            return pd.Series(vector_check(column.astype(object)), index=column.index)
        uniques = pd.Series(np.asarray(unique_values, dtype=object), dtype=object)
    ok = np.asarray(vector_check(uniques), dtype=bool)
    result = np.ones(len(column), dtype=bool)  # nulls are not this rule's business
    present = codes >= 0
    result[present] = ok[codes[present]]
    return pd.Series(result, index=column.index)


def is_number(value: object) -> bool:
    """An int or float (numpy's too); bool is an int subclass but never an amount."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


_NUMBER_KINDS = frozenset({"floating", "integer", "mixed-integer-float", "empty"})


def as_floats(column: pd.Series) -> pd.Series | None:
    """The column as float64 (missing values NaN) when every value is a number, else None."""
    if pd.api.types.is_bool_dtype(column.dtype):
        return None
    if pd.api.types.is_numeric_dtype(column.dtype):
        return column.astype(float)
    if pd.api.types.infer_dtype(column, skipna=True) not in _NUMBER_KINDS:
        return None
    try:
        return column.astype(float)
    except OverflowError:  # an int beyond float range
        return None


# --- 统一社会信用代码 ---------------------------------------------------------------


class ColumnValuesValidUscc(ColumnMapMetricProvider):
    condition_metric_name = "column_values.credit_sync_valid_uscc"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        if isinstance(column.dtype, pd.CategoricalDtype):
            return _per_category(column, uscc_valid)  # e.g. 20 authorities over 1M rows
        return pd.Series(uscc_valid(column), index=column.index)


class ExpectColumnValuesToBeValidUscc(ColumnMapExpectation):
    """Each non-null value is a valid 统一社会信用代码 (GB 32100-2015, both check characters)."""

    map_metric: ClassVar[str] = "column_values.credit_sync_valid_uscc"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)


# --- 居民身份证号码 -----------------------------------------------------------------


class ColumnValuesValidResidentId(ColumnMapMetricProvider):
    condition_metric_name = "column_values.credit_sync_valid_resident_id"
    condition_value_keys = ("reference_date",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, reference_date: str, **kwargs: Any) -> pd.Series:
        today = parse_iso_date(reference_date)
        if today is None:  # an unsubstituted parameter must not silently become "today"
            raise ValueError(f"reference_date must be YYYY-MM-DD, got {reference_date!r}")
        if isinstance(column.dtype, pd.CategoricalDtype):
            return _per_category(column, lambda values: resident_id_valid(values, today))
        return pd.Series(resident_id_valid(column, today), index=column.index)


class ExpectColumnValuesToBeValidResidentId(ColumnMapExpectation):
    """Each non-null value is a valid 18-character resident ID number (GB 11643-1999).

    `reference_date` (ISO string, normally `{"$PARAMETER": "reference_date"}`) is "today"
    for the birth-date-not-in-future check: the run's logical date, never the wall clock.
    """

    reference_date: DateParameter
    map_metric: ClassVar[str] = "column_values.credit_sync_valid_resident_id"
    success_keys: ClassVar[tuple[str, ...]] = ("reference_date", "mostly")

    _check_reference_date = pydantic.validator("reference_date", allow_reuse=True)(
        _check_iso_parameter
    )


# --- dates ----------------------------------------------------------------------------


class ColumnValuesIsoDate(ColumnMapMetricProvider):
    condition_metric_name = "column_values.credit_sync_iso_date"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return _per_unique(column, lambda v: parse_iso_date(v) is not None)


class ExpectColumnValuesToBeIsoDates(ColumnMapExpectation):
    """Each non-null value is a real calendar date written `YYYY-MM-DD` (no 2023-02-29)."""

    map_metric: ClassVar[str] = "column_values.credit_sync_iso_date"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)


class ColumnValuesDateNotAfter(ColumnMapMetricProvider):
    condition_metric_name = "column_values.credit_sync_date_not_after"
    condition_value_keys = ("max_date",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, max_date: str, **kwargs: Any) -> pd.Series:
        if parse_iso_date(max_date) is None:
            raise ValueError(f"max_date must be YYYY-MM-DD, got {max_date!r}")
        # Values that are not ISO dates are the date-format rule's business, not this one's.
        return _per_unique(column, lambda v: parse_iso_date(v) is None or v <= max_date)


class ExpectColumnValuesToBeDatesNotAfter(ColumnMapExpectation):
    """Each non-null ISO date is on or before `max_date` (ISO string or suite parameter)."""

    max_date: DateParameter
    map_metric: ClassVar[str] = "column_values.credit_sync_date_not_after"
    success_keys: ClassVar[tuple[str, ...]] = ("max_date", "mostly")

    _check_max_date = pydantic.validator("max_date", allow_reuse=True)(_check_iso_parameter)


# --- amounts ----------------------------------------------------------------------------


class ColumnValuesFiniteNumber(ColumnMapMetricProvider):
    condition_metric_name = "column_values.credit_sync_finite_number"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        if pd.api.types.is_bool_dtype(column.dtype):
            return pd.Series(False, index=column.index)
        if pd.api.types.is_numeric_dtype(column.dtype):  # fast path: a clean float column
            return pd.Series(np.isfinite(column.to_numpy(dtype=float)), index=column.index)
        return _per_unique(column, _finite_number)


def _finite_number(value: object) -> bool:
    try:
        return is_number(value) and math.isfinite(value)  # type: ignore[arg-type]
    except OverflowError:  # an int no float can hold
        return False


class ExpectColumnValuesToBeFiniteNumbers(ColumnMapExpectation):
    """Each non-null value is a finite int or float (a numeric string is not an amount)."""

    map_metric: ClassVar[str] = "column_values.credit_sync_finite_number"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)
    numeric_domain: ClassVar[bool] = True  # the runner leaves this column's dtype alone


class ColumnValuesNotNegative(ColumnMapMetricProvider):
    condition_metric_name = "column_values.credit_sync_not_negative"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
            column.dtype
        ):
            return pd.Series(~(column.to_numpy(dtype=float) < 0), index=column.index)
        # Non-numbers are the number-format rule's business, not this one's.
        return _per_unique(column, lambda v: not (is_number(v) and v < 0))


class ExpectColumnValuesToNotBeNegative(ColumnMapExpectation):
    """No non-null numeric value is below zero (built-in `between` raises on mixed types)."""

    map_metric: ClassVar[str] = "column_values.credit_sync_not_negative"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)
    numeric_domain: ClassVar[bool] = True


# --- multi-valued enumerations --------------------------------------------------------------


class ColumnValuesInSetOrMultiSet(ColumnMapMetricProvider):
    condition_metric_name = "column_values.credit_sync_in_set_or_multi_set"
    condition_value_keys = ("value_set", "separator")

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(
        cls, column: pd.Series, value_set: list[str], separator: str = ";", **kwargs: Any
    ) -> pd.Series:
        allowed = frozenset(value_set)

        def ok(value: object) -> bool:
            # Surrounding spaces are trimmed; an empty element ("罚款;") is not a category.
            return isinstance(value, str) and all(
                part.strip() in allowed for part in value.split(separator)
            )

        return _per_unique(column, ok)


class ExpectColumnValuesToBeInSetOrMultiSet(ColumnMapExpectation):
    """Each non-null value is one element of `value_set` or several joined by `separator`.

    For 处罚类别 (`罚款;没收违法所得`): every element must be an allowed category.
    """

    value_set: list[str] = pydantic.Field(min_items=1)
    separator: str = pydantic.Field(default=";", min_length=1)
    map_metric: ClassVar[str] = "column_values.credit_sync_in_set_or_multi_set"
    success_keys: ClassVar[tuple[str, ...]] = ("value_set", "separator", "mostly")


def _contains_any(value_set: list[str], separator: str) -> Callable[[Any], bool]:
    wanted = frozenset(value_set)

    def contains(value: object) -> bool:
        return isinstance(value, str) and any(
            part.strip() in wanted for part in value.split(separator)
        )

    return contains


# --- a field another field's categories call for ------------------------------------------


class ColumnPairValuesAPresentWhenBContains(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.credit_sync_a_present_when_b_contains"
    condition_value_keys = ("value_set", "separator")

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(
        cls,
        column_A: pd.Series,
        column_B: pd.Series,
        value_set: list[str],
        separator: str = ";",
        **kwargs: Any,
    ) -> pd.Series:
        contains = _contains_any(value_set, separator)
        # _per_unique passes nulls, so asking "calls for nothing?" lets a null B call for nothing.
        calls_for_nothing = _per_unique(column_B, lambda v: not contains(v))
        return column_A.notna() | calls_for_nothing


class ExpectColumnPairValuesAToBePresentWhenBContains(ColumnPairMapExpectation):
    """column_A is not null where column_B (one value or several joined by `separator`)
    contains any element of `value_set`.

    For 罚款金额 when 罚款 is among the 处罚类别 (`罚款;没收违法所得`), and the licence
    details when a 暂扣/吊销 category applies. Rows missing both are skipped (GX's default
    `ignore_row_if`): without a category there is nothing to call for.
    """

    value_set: list[str] = pydantic.Field(min_items=1)
    separator: str = pydantic.Field(default=";", min_length=1)
    ignore_row_if: Literal["both_values_are_missing", "either_value_is_missing", "neither"] = (
        "both_values_are_missing"
    )
    map_metric: ClassVar[str] = "column_pair_values.credit_sync_a_present_when_b_contains"
    success_keys: ClassVar[tuple[str, ...]] = (
        "value_set",
        "separator",
        "ignore_row_if",
        "mostly",
    )


CUSTOM_EXPECTATIONS: tuple[type[ColumnMapExpectation | ColumnPairMapExpectation], ...] = (
    ExpectColumnValuesToBeValidUscc,
    ExpectColumnValuesToBeValidResidentId,
    ExpectColumnValuesToBeIsoDates,
    ExpectColumnValuesToBeDatesNotAfter,
    ExpectColumnValuesToBeFiniteNumbers,
    ExpectColumnValuesToNotBeNegative,
    ExpectColumnValuesToBeInSetOrMultiSet,
    ExpectColumnPairValuesAToBePresentWhenBContains,
)
