"""Run a GX expectation suite over a frame of 双公示 records and report every failing row.

The pipeline calls two functions:

- `load_suite(path)`: read a suite JSON file (GX 1.x `suite.to_json_dict()` format) and
  refuse it if GX dropped any expectation (GX logs and skips unknown types).
- `validate_frame(df, suite, run_name=..., reference_date=...)`: validate with GX and
  turn each unexpected row into a `RowFailure` whose rule code, severity and Chinese
  message come from the expectation's `meta`; optionally build GX Data Docs;
- `write_data_docs(suite, result, ...)`: Data Docs of a result built elsewhere, e.g. row
  slices validated in parallel and joined by `credit_sync.gx.combine`;
- `prepare_frame(df, suite)`: the frame GX sees, for a caller that also reads its
  converted columns (the amounts as numbers) and hands it to `validate_frame`.

GX is called directly (ephemeral context, pandas data source, `batch.validate`), never
through the Airflow provider.
"""

from __future__ import annotations

import copy
import json
import math
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from operator import not_
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from great_expectations import get_context
from great_expectations.core import (
    ExpectationSuite,
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from great_expectations.execution_engine import pandas_execution_engine
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
from great_expectations.expectations.registry import get_expectation_impl
from great_expectations.expectations.row_conditions import (
    AndCondition,
    ComparisonCondition,
    NullityCondition,
    OrCondition,
    PassThroughCondition,
)
from great_expectations.validator.validation_statistics import calc_validation_statistics

# Registers the custom expectation types; without it GX would silently drop them on load.
import credit_sync.gx.expectations
from credit_sync.codes import mask_id
from credit_sync.distinct import factorize

__all__ = [
    "PreparedFrame",
    "RowFailure",
    "SuiteDefinitionError",
    "SuiteExecutionError",
    "SuiteResult",
    "columns_read",
    "load_suite",
    "prepare_frame",
    "validate_frame",
    "write_data_docs",
]

# GX fingerprints each batch frame smaller than HASH_THRESHOLD bytes (hash_pandas_object +
# md5) for batch metadata nothing here reads: a third of GX's time at 1M rows. 0 = never.
pandas_execution_engine.HASH_THRESHOLD = 0

SEVERITIES = ("error", "warning")
GROUP_MIN_ROWS = 20_000  # from this many rows on, one GX batch per column group (faster)
REFERENCE_DATE_PARAMETER = "reference_date"
DOCS_SITE_NAME = "credit_sync"

# COMPLETE returns unexpected_index_list for every failing row (GX caps only the value list,
# at 200). The index *query* is a string repeating that whole list: skip it.
RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "return_unexpected_index_query": False,
    "partial_unexpected_count": 20,
}
# Kept in the Data Docs copy of a result; the full lists stay out of HTML and JSON on disk.
_DOCS_DROPPED_KEYS = ("unexpected_list", "unexpected_index_list", "unexpected_index_query")
_PERSONAL_ID_COLUMN = re.compile(r"_ZJHM$")  # personal ID numbers are masked in Data Docs
_DOCS_MAX_TEXT = 200  # longer values are cut in Data Docs (a 10,000-character name helps nobody)


class SuiteDefinitionError(ValueError):
    """The suite file is unusable: unknown expectation types, missing meta, bad JSON."""


class SuiteExecutionError(RuntimeError):
    """An expectation raised instead of returning rows: a rule or GX bug, not bad data."""


@dataclass(frozen=True)
class RowFailure:
    row: int  # positional index into the validated frame
    field: str
    rule: str
    severity: str  # "error" | "warning"
    message: str  # Chinese, for the clerk who fixes the record
    value: object  # the offending value as it was in the frame (None if missing)


@dataclass
class SuiteResult:
    success: bool  # no failure of severity "error" (warnings do not block delivery)
    failures: list[RowFailure]
    statistics: dict[str, Any] = field(default_factory=dict)
    data_docs_index: Path | None = None
    # GX's own result without the full row lists, personal IDs masked: what Data Docs show.
    summary: ExpectationSuiteValidationResult | None = None


@dataclass(frozen=True)
class PreparedFrame:
    """The frame GX validates, built from a caller's frame by `prepare_frame`."""

    frame: pd.DataFrame
    # Each column the suite reads as numbers: as_floats of the caller's column (None when
    # not every value is a number), so a caller reading the same numbers converts nothing.
    floats: dict[str, pd.Series | None]
    seconds: float  # spent preparing


# --- loading ------------------------------------------------------------------------


def load_suite(path: Path) -> ExpectationSuite:
    """Load a suite JSON file; raise if GX did not keep every expectation in it."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SuiteDefinitionError(f"cannot read expectation suite {path}: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("expectations"), list):
        raise SuiteDefinitionError(f"{path}: not a GX suite (no 'expectations' list)")
    declared = raw["expectations"]

    # GX's ExpectationSuite() logs and drops an expectation it cannot build; the counts
    # below catch that, and this names the culprits for the error message.
    unknown = sorted({str(e.get("type")) for e in declared if not _is_registered(e.get("type"))})
    try:
        suite = ExpectationSuite(**raw)
    except Exception as exc:  # e.g. pydantic rejecting kwargs: GX lets that one through
        raise SuiteDefinitionError(f"{path}: GX cannot build the suite: {exc}") from exc
    if len(suite.expectations) != len(declared):
        raise SuiteDefinitionError(
            f"{path}: GX loaded {len(suite.expectations)} of {len(declared)} expectations"
            + (f"; unregistered types: {', '.join(unknown)}" if unknown else "")
        )
    for position, expectation in enumerate(suite.expectations):
        _check_meta(path, position, expectation.meta or {})
    return suite


def _is_registered(expectation_type: object) -> bool:
    if not isinstance(expectation_type, str):
        return False
    try:
        get_expectation_impl(expectation_type)
    except Exception:  # GX raises ExpectationNotFoundError; any failure means unusable
        return False
    return True


def _check_meta(path: Path, position: int, meta: dict[str, Any]) -> None:
    missing = [key for key in ("rule", "severity", "message") if not meta.get(key)]
    if missing:
        raise SuiteDefinitionError(f"{path}: expectation #{position} lacks meta {missing}")
    if meta["severity"] not in SEVERITIES:
        raise SuiteDefinitionError(
            f"{path}: expectation #{position} severity {meta['severity']!r} not in {SEVERITIES}"
        )


# --- validating -----------------------------------------------------------------------


def validate_frame(
    df: pd.DataFrame,
    suite: ExpectationSuite,
    *,
    run_name: str,
    reference_date: date,
    data_docs_dir: Path | None = None,
    prepared: PreparedFrame | None = None,
) -> SuiteResult:
    """Validate `df` against `suite`; every failing (row, expectation) becomes a RowFailure.

    `reference_date` (the DAG run's logical date) is handed to GX as the suite parameter
    `reference_date`, which suites reference as `{"$PARAMETER": "reference_date"}`.
    `df` is not modified; `RowFailure.row` is the row's position in it. `statistics` holds
    GX's counts (evaluated/successful/unsuccessful expectations) plus rows, failures,
    failing_rows, error_rows, failures_by_rule and the seconds spent per phase.

    `prepared` is `prepare_frame(df, suite)` when the caller built it already.

    Raises SuiteExecutionError when an expectation itself fails to run (a broken rule, not
    bad data: bad data only ever produces failures).
    """
    original = _positional(df)
    if prepared is None:
        prepared = prepare_frame(original, suite)
    started = time.perf_counter()

    context = _make_context(None)
    gx_result = _validate_by_column_group(context, prepared.frame, suite, reference_date)
    validated = time.perf_counter()

    failures = _collect_failures(gx_result, original)
    collected = time.perf_counter()

    result = suite_result(
        summarise(gx_result),
        failures,
        rows=len(original),
        run_name=run_name,
        reference_date=reference_date.isoformat(),
        seconds={
            "prepare": round(prepared.seconds, 3),
            "gx_validate": round(validated - started, 3),
            "collect": round(collected - validated, 3),
            "data_docs": 0.0,
        },
    )
    if data_docs_dir is not None:
        write_data_docs(suite, result, Path(data_docs_dir), run_name=run_name)
    return result


def suite_result(
    summary: ExpectationSuiteValidationResult,
    failures: list[RowFailure],
    *,
    rows: int,
    run_name: str,
    reference_date: str,
    seconds: dict[str, float],
) -> SuiteResult:
    """A SuiteResult with its statistics (see validate_frame)."""
    by_rule = Counter(f.rule for f in failures)
    error_rows = {f.row for f in failures if f.severity == "error"}
    statistics: dict[str, Any] = {
        **(summary.statistics or {}),
        "run_name": run_name,
        "reference_date": reference_date,
        "rows": rows,
        "failures": len(failures),
        "failing_rows": len({f.row for f in failures}),
        "error_rows": len(error_rows),
        "failures_by_rule": dict(sorted(by_rule.items())),
        "seconds": seconds,
    }
    return SuiteResult(
        success=not error_rows, failures=failures, statistics=statistics, summary=summary
    )


def _validate_by_column_group(
    context: Any, frame: pd.DataFrame, suite: ExpectationSuite, reference_date: date
) -> ExpectationSuiteValidationResult:
    """One GX batch per column group (a column with the columns its rules' conditions read).

    GX's pandas engine copies the whole batch frame several times per expectation (row
    condition, null filter, unexpected rows) and fingerprints it twice per batch: narrow
    batches make that work proportional to what each rule reads, not to the frame width
    (measured: 1.6x faster at 1M rows). Results are merged back into one suite result.
    """
    definition = (
        context.data_sources.add_pandas("credit_sync")
        .add_dataframe_asset(suite.name)
        .add_batch_definition_whole_dataframe("whole_frame")
    )
    parameters = {REFERENCE_DATE_PARAMETER: reference_date.isoformat()}
    results: list[ExpectationValidationResult] = []
    meta: dict[str, Any] = {}
    if len(frame) >= GROUP_MIN_ROWS:
        groups = _column_groups(suite, list(frame.columns))
    else:  # each batch costs tens of ms of fixed GX work: for small frames one batch is faster
        groups = [(list(frame.columns), list(suite.expectations))]
    for columns, expectations in groups:
        part_suite = ExpectationSuite(
            name=suite.name, expectations=[e.configuration for e in expectations]
        )
        batch = definition.get_batch(batch_parameters={"dataframe": frame[columns]})
        with _configurations_kept(), _row_conditions_kept():
            part = batch.validate(
                part_suite, result_format=RESULT_FORMAT, expectation_parameters=parameters
            )
        results.extend(part.results)
        meta = meta or dict(part.meta or {})
    return suite_validation_result(results, suite.name, meta)


def suite_validation_result(
    results: list[ExpectationValidationResult], suite_name: str, meta: dict[str, Any] | None
) -> ExpectationSuiteValidationResult:
    """One GX suite result over expectation results validated in parts."""
    statistics = calc_validation_statistics(results)
    return ExpectationSuiteValidationResult(
        success=statistics.success,
        results=results,
        suite_name=suite_name,
        statistics={
            "evaluated_expectations": statistics.evaluated_expectations,
            "successful_expectations": statistics.successful_expectations,
            "unsuccessful_expectations": statistics.unsuccessful_expectations,
            "success_percent": statistics.success_percent,
        },
        meta=meta,
    )


@contextmanager
def _configurations_kept() -> Iterator[None]:
    """While a batch validates, each expectation's `configuration` is built once.

    GX rebuilds it (a pydantic `dict()` and a JSON check of its meta) about 68 times per
    expectation per validation: 40% of GX's fixed cost per chunk. Nothing changes an
    expectation during validation. Each caller still gets its own copy with its own
    kwargs dict, because GX swaps a configuration's kwargs when it evaluates parameters.
    """
    built_by_gx = Expectation.configuration
    kept: dict[int, tuple[Expectation, ExpectationConfiguration]] = {}

    def configuration(expectation: Expectation) -> ExpectationConfiguration:
        hit = kept.get(id(expectation))
        if hit is None or hit[0] is not expectation:
            hit = kept[id(expectation)] = (expectation, built_by_gx.fget(expectation))
        clone = copy.copy(hit[1])
        clone._kwargs = dict(hit[1]._kwargs)
        return clone

    Expectation.configuration = property(configuration)  # type: ignore[method-assign]
    try:
        yield
    finally:
        Expectation.configuration = built_by_gx  # type: ignore[method-assign]


@contextmanager
def _row_conditions_kept() -> Iterator[None]:
    """While a batch validates, each row condition filters the batch frame once.

    GX filters it again for every metric of a conditional expectation, about 7 times
    each (a pandas query parsed and evaluated, then a copy of the kept rows): half of
    GX's time at a million rows. GX only reads the filtered frame, never writes to it.
    The key holds the frame itself, so a freed frame's id cannot be mistaken for it.
    """
    engine_class = pandas_execution_engine.PandasExecutionEngine
    filtered_by_gx = engine_class._apply_row_condition_filter
    kept: dict[tuple[int, str, str], tuple[pd.DataFrame, pd.DataFrame]] = {}

    def apply_row_condition_filter(
        engine: Any, data: pd.DataFrame, row_condition: Any, domain_kwargs: dict
    ) -> pd.DataFrame:
        key = (id(data), repr(row_condition), repr(domain_kwargs.get("condition_parser")))
        hit = kept.get(key)
        if hit is None or hit[0] is not data:
            hit = kept[key] = (data, filtered_by_gx(engine, data, row_condition, domain_kwargs))
        return hit[1]

    engine_class._apply_row_condition_filter = apply_row_condition_filter  # type: ignore[method-assign]
    try:
        yield
    finally:
        engine_class._apply_row_condition_filter = filtered_by_gx  # type: ignore[method-assign]


def _column_groups(
    suite: ExpectationSuite, frame_columns: list[str]
) -> list[tuple[list[str], list[Any]]]:
    """(columns, expectations) per primary column, in suite order."""
    groups: dict[str, tuple[dict[str, None], list[Any]]] = {}
    for expectation in suite.expectations:
        own = [getattr(expectation, key, None) for key in ("column", "column_A", "column_B")]
        own += list(getattr(expectation, "column_list", None) or [])
        own = [c for c in own if isinstance(c, str)]
        condition = getattr(expectation, "row_condition", None)
        needed = own + [c for c, _ in _condition_columns(condition)]
        if ALL_COLUMNS in needed or not own:  # query strings, table-level rules: everything
            needed = frame_columns
        columns, members = groups.setdefault(own[0] if own else "", ({}, []))
        columns.update(dict.fromkeys(c for c in needed if c in frame_columns))
        members.append(expectation)
    return [(list(columns), members) for columns, members in groups.values()]


def _positional(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with a positional index, so GX's unexpected_index_list is the row position;
    copying a million-row frame costs seconds, so only when the index is something else."""
    index = df.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return df
    return df.reset_index(drop=True)


def _make_context(data_docs_dir: Path | None) -> Any:
    """A fresh ephemeral context per run: no shared state between DAG tasks or tests."""
    defaults = InMemoryStoreBackendDefaults(init_temp_docs_sites=False)
    if data_docs_dir is not None:
        # Data Docs index what the suite and result stores hold and delete pages they do not:
        # keep both on disk next to the site so earlier runs and other suites stay listed.
        store_root = Path(data_docs_dir).resolve() / ".gx_stores"
        for store_name, sub in (
            (defaults.expectations_store_name, "expectations"),
            (defaults.validation_results_store_name, "validations"),
        ):
            defaults.stores[store_name]["store_backend"] = {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(store_root / sub),
            }
    config = DataContextConfig(
        store_backend_defaults=defaults,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),  # tqdm bars would flood task logs
    )
    return get_context(mode="ephemeral", project_config=config)


def _collect_failures(
    gx_result: ExpectationSuiteValidationResult, original: pd.DataFrame
) -> list[RowFailure]:
    failures: list[RowFailure] = []
    value_cache: dict[str, np.ndarray] = {}
    for result in gx_result.results:
        config = result.expectation_config
        _raise_if_exception(result)
        details = result.result or {}
        rows = details.get("unexpected_index_list") or []
        expected_count = details.get("unexpected_count") or 0
        if len(rows) != expected_count:  # never report a sample as if it were everything
            raise SuiteExecutionError(
                f"{config.type} on {_field_of(config.kwargs)}: GX counted {expected_count} "
                f"unexpected rows but listed {len(rows)}"
            )
        if not rows:
            continue
        meta = config.meta or {}
        column = _field_of(config.kwargs)
        if column not in value_cache:
            value_cache[column] = (
                original[column].to_numpy(dtype=object)
                if column in original.columns
                else np.full(len(original), None, dtype=object)
            )
        values = value_cache[column]
        failures.extend(
            RowFailure(
                row=int(row),
                field=column,
                rule=meta["rule"],
                severity=meta["severity"],
                message=meta["message"],
                value=_plain(values[int(row)]),
            )
            for row in rows
        )
    # GX returns results grouped by column; report by row, deterministically.
    failures.sort(key=lambda f: (f.row, f.field, f.rule))
    return failures


def _raise_if_exception(result: ExpectationValidationResult) -> None:
    info = result.exception_info or {}
    # Either one {"raised_exception": ...} dict or a dict of them keyed by metric.
    infos = [info] if "raised_exception" in info else [v for v in info.values() if v]
    for item in infos:
        if isinstance(item, dict) and item.get("raised_exception"):
            config = result.expectation_config
            raise SuiteExecutionError(
                f"{config.type} on {_field_of(config.kwargs)} "
                f"({(config.meta or {}).get('rule')}) raised: {item.get('exception_message')}"
            )


def _field_of(kwargs: dict[str, Any]) -> str:
    # Pair rules (有效期至 >= 有效期自) are reported on column_A, the value that is wrong.
    for key in ("column", "column_A"):
        if isinstance(kwargs.get(key), str):
            return kwargs[key]
    if kwargs.get("column_list"):
        return str(kwargs["column_list"][0])
    return ""


def _plain(value: object) -> object:
    """Numpy scalars to Python, NaN/NA/NaT to None; anything else unchanged."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        plain = value.item()
        return None if isinstance(plain, float) and math.isnan(plain) else plain
    return value


# --- preparing the frame ------------------------------------------------------------------


def prepare_frame(df: pd.DataFrame, suite: ExpectationSuite) -> PreparedFrame:
    """The frame GX sees: only the columns the suite reads, each in a shape no rule can
    crash on and that keeps GX's per-metric work (copies, hashing) cheap.

    - "presence" columns (read only by not-null rules): a float marker, 1.0 or NaN; the
      rule needs nothing else, and free text is what makes GX's batch hashing expensive;
    - "numeric" columns (expectations with `numeric_domain`): float64 when every value is
      an int or float (the rules' fast path), else left as they are: the amount rules judge
      mixed content themselves;
    - "ordered" columns (compared or sorted: 有效期至 >= 有效期自, rules this module does not
      know): object str;
    - "text" columns (membership and custom rules only): categorical when values repeat
      (codes are cheap to copy, hash and compare), else object str.
    In every text form ints, floats and other stray types become their str(), so no
    comparison mixes types, and blank strings become missing (a blank required field is a
    missing one). Columns the suite needs but the frame lacks are all missing.
    """
    started = time.perf_counter()
    original = _positional(df)
    roles = _column_roles(suite)
    if roles.pop(ALL_COLUMNS, None):  # a query string may read any column: keep them all
        roles = {**dict.fromkeys(map(str, original.columns), "ordered"), **roles}
    prepared: dict[str, pd.Series] = {}
    floats: dict[str, pd.Series | None] = {}
    for name, role in roles.items():
        if name not in original.columns:
            prepared[name] = pd.Series(None, index=original.index, dtype=object)
        elif role == "numeric":
            floats[name] = credit_sync.gx.expectations.as_floats(original[name])
            prepared[name] = original[name] if floats[name] is None else floats[name]
        elif role == "presence":
            prepared[name] = _presence(original[name])
        else:
            prepared[name] = _as_text(original[name], categorical=role == "text")
    frame = pd.DataFrame(prepared, index=original.index)
    return PreparedFrame(frame, floats, time.perf_counter() - started)


_PRESENCE_TYPES = frozenset({"expect_column_values_to_not_be_null"})
# Built-ins known to work on categorical columns (membership and nullness only); others may
# compare or sort values, which unordered categoricals refuse, so they get plain str.
_CATEGORICAL_SAFE_TYPES = frozenset(
    {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_null",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_in_set",
    }
    | {cls.expectation_type for cls in credit_sync.gx.expectations.CUSTOM_EXPECTATIONS}
)
_EQUALITY_OPERATORS = frozenset({"==", "!=", "IN", "NOT_IN"})
ALL_COLUMNS = "*"  # role key: the suite needs columns it cannot name (pandas query strings)


def columns_read(suite: ExpectationSuite) -> set[str] | None:
    """The columns the suite's rules read; None when a query condition may read any."""
    roles = _column_roles(suite)
    return None if ALL_COLUMNS in roles else set(roles)


def _column_roles(suite: ExpectationSuite) -> dict[str, str]:
    """Column -> "numeric" | "ordered" | "text" | "presence" (see prepare_frame)."""
    uses: dict[str, set[str]] = {}
    for expectation in suite.expectations:
        own = [getattr(expectation, key, None) for key in ("column", "column_A", "column_B")]
        own += list(getattr(expectation, "column_list", None) or [])
        kind = expectation.expectation_type
        if getattr(type(expectation), "numeric_domain", False):
            use = "numeric"
        elif kind in _PRESENCE_TYPES:
            use = "presence"
        elif kind in _CATEGORICAL_SAFE_TYPES:
            use = "text"
        else:
            use = "ordered"  # pair rules and other built-ins may compare values
        for name in own:
            if isinstance(name, str):
                uses.setdefault(name, set()).add(use)
        for name, condition_use in _condition_columns(getattr(expectation, "row_condition", None)):
            uses.setdefault(name, set()).add(condition_use)
    roles = {}
    for name, kinds in uses.items():
        for role in ("numeric", "ordered", "text", "presence"):  # strongest need wins
            if role in kinds:
                roles[name] = role
                break
    return roles


def _condition_columns(condition: object) -> Iterable[tuple[str, str]]:
    if isinstance(condition, (AndCondition, OrCondition)):
        for part in condition.conditions:
            yield from _condition_columns(part)
    elif isinstance(condition, PassThroughCondition):
        yield ALL_COLUMNS, "ordered"
    elif isinstance(condition, ComparisonCondition):
        equality = str(condition.operator) in _EQUALITY_OPERATORS
        yield condition.column.name, "text" if equality else "ordered"
    elif isinstance(condition, NullityCondition):
        yield condition.column.name, "text"


def _presence(series: pd.Series) -> pd.Series:
    values = series.to_numpy(dtype=object)
    missing = _blank_if_all_text(values) if series.dtype == object else None
    if missing is not None:
        return pd.Series(np.where(missing, np.nan, 1.0), index=series.index)
    missing = pd.isna(values)
    if series.dtype == object:
        try:
            missing |= _blank_mask(values, missing)
        except TypeError:  # rare: stray non-text values; any of them counts as present
            text = series.map(_to_text, na_action="ignore").to_numpy(dtype=object)
            missing |= _blank_mask(text, missing)
    return pd.Series(np.where(missing, np.nan, 1.0), index=series.index)


def _blank_if_all_text(values: np.ndarray) -> np.ndarray | None:
    """Which values are blank, in one pass, when every value is a str; else None.

    The usual column (free text, required) has no missing value at all: this reads each
    value once, where finding the missing ones first and then the blank ones reads it
    three times (at a million rows each read is a cache miss). The first non-str value
    stops the pass, and the caller takes the general path.
    """
    try:
        return np.fromiter(map(not_, map(str.strip, values)), dtype=bool, count=len(values))
    except TypeError:  # None, NaN, a number: str.strip refuses anything but a str
        return None


def _blank_mask(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Empty or whitespace-only strings, given str values where `missing` is False.

    Raises TypeError if a present value is not a str (the caller converts and retries).
    """
    blank = np.zeros(len(values), dtype=bool)
    present = ~missing
    # One pass mapped in C (strip returns the same object when there is nothing to strip):
    # each string is a cache miss in a column of distinct text, so passes are what cost.
    text = values[present]
    blank[present] = np.fromiter(map(not_, map(str.strip, text)), dtype=bool, count=len(text))
    return blank


def _as_text(series: pd.Series, *, categorical: bool) -> pd.Series:
    values = series.to_numpy(dtype=object)
    if categorical and series.dtype == object and _repeats(values):
        # The usual column of codes: factorized as it is, and only the distinct values are
        # type-checked (a pass over a million objects is what costs here).
        codes, uniques = factorize(values)
        if all(type(u) is str for u in uniques):
            return _categorical(codes, uniques, series.index)
    missing = None
    if series.dtype == object and not (categorical and _repeats(values)):
        missing = _blank_if_all_text(values)  # distinct text, none of it missing: one pass
    if missing is None:
        if series.dtype != object or pd.api.types.infer_dtype(values, skipna=True) not in (
            "string",
            "empty",
        ):
            # Stray types become text first (1, 1.0 and True would factorize as one value).
            series = series.astype(object).map(_to_text, na_action="ignore")
            values = series.to_numpy(dtype=object)
        if categorical and _repeats(values):
            return _categorical(*factorize(values), series.index)
        missing = pd.isna(values)
        missing |= _blank_mask(values, missing)
    if not missing.any():
        return pd.Series(values, index=series.index, dtype=object)
    values = values.copy()
    values[missing] = None  # NaN, NA and NaT too: one kind of missing for every rule
    return pd.Series(values, index=series.index, dtype=object)


_SAMPLE = 10_000


def _repeats(values: np.ndarray) -> bool:
    """Whether values repeat enough to be worth a categorical, judged on a sample:
    factorizing a column of distinct strings costs more than it saves."""
    try:
        return len(pd.unique(values[:_SAMPLE])) <= _SAMPLE // 2
    except TypeError:  # unhashable garbage (lists, dicts): made text first
        return False


def _categorical(codes: np.ndarray, uniques: Any, index: pd.Index) -> pd.Series:
    uniques = np.asarray(uniques, dtype=object)
    blank = _blank_mask(uniques, np.zeros(len(uniques), dtype=bool))
    if blank.any():  # a blank value is a missing one
        codes = np.where((codes >= 0) & blank[np.maximum(codes, 0)], -1, codes)
    dtype = pd.CategoricalDtype(pd.Index(uniques, dtype=object))
    return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype), index=index)


def _to_text(value: object) -> object:
    if isinstance(value, str):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 1.0 read from a spreadsheet means "1"
    return str(value)


# --- Data Docs ----------------------------------------------------------------------------


def write_data_docs(
    suite: ExpectationSuite, result: SuiteResult, docs_dir: Path, *, run_name: str
) -> Path:
    """Render `result` into a filesystem Data Docs site; return its index.html (also set
    on the result, with the seconds it took).

    Earlier runs and other suites in the same site stay listed. Building is local file
    rendering only (no network); the pages themselves load Bootstrap/jQuery from public
    CDNs when opened, so view them with those reachable.
    """
    if result.summary is None:
        raise ValueError("the result has no GX summary to render")
    started = time.perf_counter()
    docs_dir = Path(docs_dir).resolve()
    docs_dir.mkdir(parents=True, exist_ok=True)
    context = _make_context(docs_dir)
    context.add_data_docs_site(
        site_name=DOCS_SITE_NAME,
        site_config={
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    # A copy, so the caller's suite is not bound to this throwaway context.
    context.suites.add_or_update(ExpectationSuite(**suite.to_json_dict()))

    # The run name becomes a directory: Airflow run ids are safe, a "/" would not be.
    run_id = RunIdentifier(run_name=run_name.replace("/", "_"), run_time=datetime.now(tz=UTC))
    summary = result.summary
    docs_result = ExpectationSuiteValidationResult(
        success=summary.success,
        results=summary.results,
        suite_name=summary.suite_name,
        statistics=summary.statistics,
        meta={**(summary.meta or {}), "run_id": run_id, "validation_time": run_id.run_time},
        batch_id=summary.batch_id,
    )
    result_id = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
        run_id=run_id,
        batch_identifier=summary.batch_id or "whole_frame",
    )
    context.validation_results_store.set(result_id, docs_result)
    context.build_data_docs(site_names=[DOCS_SITE_NAME], resource_identifiers=[result_id])
    result.data_docs_index = docs_dir / "index.html"
    result.statistics.setdefault("seconds", {})["data_docs"] = round(
        time.perf_counter() - started, 3
    )
    return result.data_docs_index


def summarise(gx_result: ExpectationSuiteValidationResult) -> ExpectationSuiteValidationResult:
    """The result without full row lists (huge) and with personal ID numbers masked."""
    results = []
    for result in gx_result.results:
        details = {k: v for k, v in (result.result or {}).items() if k not in _DOCS_DROPPED_KEYS}
        personal = bool(_PERSONAL_ID_COLUMN.search(_field_of(result.expectation_config.kwargs)))
        if "partial_unexpected_list" in details:
            details["partial_unexpected_list"] = [
                _docs_value(v, personal) for v in details["partial_unexpected_list"]
            ]
        if "partial_unexpected_counts" in details:
            details["partial_unexpected_counts"] = [
                {**c, "value": _docs_value(c.get("value"), personal)}
                for c in details["partial_unexpected_counts"]
            ]
        results.append(
            ExpectationValidationResult(
                success=result.success,
                expectation_config=result.expectation_config,
                result=details,
                meta=result.meta,
                exception_info=result.exception_info,
            )
        )
    return ExpectationSuiteValidationResult(
        success=gx_result.success,
        results=results,
        suite_name=gx_result.suite_name,
        statistics=gx_result.statistics,
        meta=dict(gx_result.meta or {}),
        batch_id=gx_result.batch_id,
    )


def _docs_value(value: object, personal: bool) -> object:
    if value is None:
        return None
    if personal:
        return mask_id(str(value))
    if isinstance(value, str) and len(value) > _DOCS_MAX_TEXT:
        return value[:_DOCS_MAX_TEXT] + "…"
    return value
