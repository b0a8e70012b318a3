"""Results of row slices validated apart, joined into the result of the whole frame.

Validation of a large frame can run in several processes, each over a contiguous slice
of rows (`credit_sync.validation`). That is only sound when every expectation judges each
row on its own (`splits_by_rows`); then `combine` gives the same failures, counts and
statistics as one run over the whole frame, and one Data Docs page for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from great_expectations.core import (
    ExpectationSuite,
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.expectations.expectation import (
    ColumnMapExpectation,
    ColumnPairMapExpectation,
    MulticolumnMapExpectation,
)

from credit_sync.gx.runner import (
    RESULT_FORMAT,
    SuiteResult,
    suite_result,
    suite_validation_result,
)

__all__ = ["combine", "splits_by_rows"]

# Map expectations that compare a row with other rows: a slice cannot judge them.
_CROSS_ROW_TYPES = frozenset(
    {
        "expect_column_values_to_be_unique",
        "expect_column_values_to_be_increasing",
        "expect_column_values_to_be_decreasing",
        "expect_compound_columns_to_be_unique",
        "expect_multicolumn_values_to_be_unique",
    }
)
_ROW_LOCAL_BASES = (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation)
_SUMMED_KEYS = ("element_count", "unexpected_count", "missing_count")


def splits_by_rows(suite: ExpectationSuite) -> bool:
    """Whether every expectation judges each row alone (no aggregates, no uniqueness)."""
    return all(
        isinstance(e, _ROW_LOCAL_BASES) and e.expectation_type not in _CROSS_ROW_TYPES
        for e in suite.expectations
    )


def combine(parts: Sequence[SuiteResult]) -> SuiteResult:
    """Join the results of consecutive row slices (in order) of one frame and suite."""
    if not parts:
        raise ValueError("nothing to combine")
    if len(parts) == 1:
        return parts[0]
    offsets, failures = [], []
    rows = 0
    for part in parts:
        offsets.append(rows)
        failures.extend(replace(f, row=f.row + rows) for f in part.failures)
        rows += part.statistics["rows"]
    seconds: Counter[str] = Counter()
    for part in parts:
        seconds.update(part.statistics.get("seconds", {}))
    first = parts[0].statistics
    return suite_result(
        _combine_summaries([_summary_of(p) for p in parts], offsets),
        failures,
        rows=rows,
        run_name=first["run_name"],
        reference_date=first["reference_date"],
        seconds={k: round(v, 3) for k, v in seconds.items()},  # work summed over the slices
    )


def _summary_of(part: SuiteResult) -> ExpectationSuiteValidationResult:
    if part.summary is None:
        raise ValueError("a part without a GX summary cannot be combined")
    return part.summary


def _combine_summaries(
    summaries: list[ExpectationSuiteValidationResult], offsets: list[int]
) -> ExpectationSuiteValidationResult:
    first = summaries[0]
    results = []
    for position, result in enumerate(first.results):
        same = [s.results[position] for s in summaries]
        if any(r.expectation_config != result.expectation_config for r in same):
            raise ValueError("parts were validated against different suites")
        details = _combine_details([r.result or {} for r in same], offsets)
        results.append(
            ExpectationValidationResult(
                success=_success(details, result.expectation_config.kwargs.get("mostly")),
                expectation_config=result.expectation_config,
                result=details,
                meta=result.meta,
                exception_info=result.exception_info,
            )
        )
    return suite_validation_result(results, first.suite_name, first.meta)


def _combine_details(details: list[dict[str, Any]], offsets: list[int]) -> dict[str, Any]:
    """One map expectation's result over all slices: counts summed, percentages
    recomputed, the partial lists (samples for Data Docs) joined and cut as GX cuts them."""
    if any("unexpected_count" not in d for d in details):
        raise ValueError("only map expectations' results can be combined")
    merged = dict(details[0])
    for key in _SUMMED_KEYS:
        if key in merged:
            merged[key] = sum(d.get(key) or 0 for d in details)
    cap = RESULT_FORMAT["partial_unexpected_count"]
    if "partial_unexpected_list" in merged:
        merged["partial_unexpected_list"] = [
            v for d in details for v in d.get("partial_unexpected_list") or []
        ][:cap]
    if "partial_unexpected_index_list" in merged:
        merged["partial_unexpected_index_list"] = [
            i + offset
            for d, offset in zip(details, offsets, strict=True)
            for i in d.get("partial_unexpected_index_list") or []
        ][:cap]
    if "partial_unexpected_counts" in merged:
        merged["partial_unexpected_counts"] = _combine_counts(
            [d.get("partial_unexpected_counts") or [] for d in details]
        )[:cap]
    total, unexpected = merged["element_count"], merged["unexpected_count"]
    if "missing_count" in merged:
        considered = total - merged["missing_count"]
        merged["missing_percent"] = merged["missing_count"] / total * 100 if total else None
        merged["unexpected_percent_total"] = unexpected / total * 100 if total else None
        merged["unexpected_percent_nonmissing"] = (
            unexpected / considered * 100 if considered else None
        )
        merged["unexpected_percent"] = merged["unexpected_percent_nonmissing"]
    else:
        merged["unexpected_percent"] = unexpected / total * 100 if total else None
    return merged


def _combine_counts(lists: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    counts: Counter[str] = Counter()
    values: dict[str, Any] = {}
    for items in lists:
        for item in items:
            key = repr(item.get("value"))  # values may be lists (column pairs): unhashable
            values.setdefault(key, item.get("value"))
            counts[key] += item.get("count") or 0
    return [{"value": values[k], "count": n} for k, n in counts.most_common()]


def _success(details: dict[str, Any], mostly: float | None) -> bool:
    considered = details["element_count"] - (details.get("missing_count") or 0)
    unexpected = details["unexpected_count"]
    if not unexpected or considered <= 0:
        return True
    return (considered - unexpected) / considered >= (1.0 if mostly is None else mostly)
