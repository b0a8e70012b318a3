"""Validate staged records that changed since their last check, and act on the result.

Row-level failures come from three places: values normalisation could not read
(stored with the record), the Great Expectations suite of the kind, and rules GX does not
hold: those that need the staged history or the calendar (conflicting duplicate decision
numbers, lateness) and amounts that look entered in 元 instead of 万元 (their message
quotes the record's own content). Each failure is one row per record, field and rule in
`validation_failure`; one that no longer occurs is marked resolved. Records without an
error are queued in the outbox in the same transaction.

Large chunks are checked in `Settings.validation_workers` processes, each over a slice
of the rows (see `check_records`).
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import re
import traceback
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from functools import partial
from itertools import accumulate, chain, compress
from multiprocessing.connection import Connection as PipeEnd
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from credit_sync import codes
from credit_sync.config import Department, Settings, Target, expectations_dir
from credit_sync.deadlines import is_working_day, working_days_between
from credit_sync.delivery.outbox import RecordVersion, enqueue
from credit_sync.distinct import factorize
from credit_sync.memory import collector_paused
from credit_sync.normalise import display_value, parse_date
from credit_sync.schema import (
    STATUS_REVOKED,
    Field,
    FieldType,
    Kind,
    field_map,
    key_fields,
)
from credit_sync.staging.store import utcnow
from credit_sync.staging.tables import staged_record, validation_failure, validation_run

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite

    from credit_sync.gx.runner import PreparedFrame, SuiteResult

log = logging.getLogger(__name__)

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Failure:
    record_id: str
    field: str
    rule: str
    severity: str
    message: str
    value: str | None


@dataclass
class ValidationSummary:
    department: str
    kind: str
    checked: int = 0
    valid: int = 0
    invalid: int = 0
    warnings: int = 0
    late: int = 0
    data_docs: str | None = None
    queued: dict[str, int] = field(default_factory=dict)


def reference_date(logical_date: datetime, settings: Settings) -> date:
    """The run's date in the county's time zone: "today" for every date rule."""
    aware = logical_date if logical_date.tzinfo else logical_date.replace(tzinfo=UTC)  # naive = UTC
    return aware.astimezone(ZoneInfo(settings.timezone)).date()


def code_problem(f_type: FieldType, value: Any, today: date) -> codes.CodeProblem | None:
    """For code fields, exactly what is wrong (校验位错误：应为 X，实为 Y) and its rule."""
    if value is None:
        return None
    if f_type is FieldType.USCC:
        return codes.check_uscc(str(value))
    if f_type is FieldType.PERSONAL_ID:
        return codes.check_resident_id(str(value), today)
    return None


def record_frame(rows: Sequence[dict], columns: Sequence[str]) -> pd.DataFrame:
    """The payloads as one object column per field in `columns` (values as staged)."""
    columns = list(columns)
    payloads = [r["payload"] for r in rows]
    try:
        # One (rows, columns) array filled row by row in C, and the frame a view of it:
        # each value is referenced once. pandas' list-of-dicts path references every value
        # twice (a row-major array, then a copy into its column block); at a million rows
        # each reference is a cache miss, and that copy was a third of the cost.
        if len(columns) == 1:  # itemgetter of one key returns the value, not a tuple
            flat: Iterable[Any] = map(itemgetter(columns[0]), payloads)
        else:
            flat = chain.from_iterable(map(itemgetter(*columns), payloads))
        values = np.fromiter(flat, dtype=object, count=len(payloads) * len(columns))
    except (KeyError, TypeError):  # a payload without some field: missing there (NaN)
        return pd.DataFrame(payloads, columns=columns, dtype=object)
    return pd.DataFrame(
        values.reshape(len(payloads), len(columns)), columns=columns, dtype=object, copy=False
    )


def _columns_checked(kind: Kind, suite: ExpectationSuite) -> list[str]:
    """The fields the suite and the python-side rules read (building a column costs)."""
    from credit_sync.gx.runner import columns_read

    read = columns_read(suite)
    ours = {key_fields(kind).decision_date}
    if kind is Kind.PENALTY:
        ours |= {_CONTENT_FIELD, *_AMOUNT_WORDS}
    return [f for f in field_map(kind) if read is None or f in read or f in ours]


def suite_failures(
    frame: pd.DataFrame,
    rows: Sequence[dict],
    kind: Kind,
    suite: ExpectationSuite,
    today: date,
    run_name: str,
    prepared: PreparedFrame | None = None,
) -> tuple[list[Failure], SuiteResult]:
    """The GX suite over `frame` (the payloads of `rows`), as failures of those records;
    `prepared` is GX's frame of it when the caller built it (prepare_frame)."""
    from credit_sync.gx.runner import validate_frame

    fmap = field_map(kind)
    result = validate_frame(
        frame, suite, run_name=run_name, reference_date=today, prepared=prepared
    )
    failures = []
    # Failing values repeat (missing ones, a wrong code copied from record to record): each
    # distinct one is explained once. Only str and None: 1, 1.0 and True are equal keys.
    explained: dict[tuple[str, str, str, str | None], tuple[str, str, str | None]] = {}
    for f in result.failures:
        plain = f.value is None or type(f.value) is str
        key = (f.field, f.rule, f.message, f.value) if plain else None
        hit = explained.get(key) if key is not None else None
        if hit is None:
            hit = _explained(fmap.get(f.field), f.rule, f.message, f.value, today)
            if key is not None:
                explained[key] = hit
        rule, message, value = hit
        failures.append(
            Failure(rows[f.row]["record_id"], f.field, rule, f.severity, message, value)
        )
    return failures, result


def _explained(
    spec: Field | None, rule: str, message: str, value: object, today: date
) -> tuple[str, str, str | None]:
    """A GX failure's rule, message and shown value, with code problems made exact."""
    problem = code_problem(spec.type, value, today) if spec else None
    if problem is not None and spec is not None:
        rule, message = problem.rule, f"{spec.label}：{problem.message}"
    return rule, message, display_value(spec, value) if spec else str(value)


def _problem_failures(rows: Sequence[dict]) -> list[Failure]:
    # Few records carry problems: compress (in C) picks them, and only they are visited.
    return [
        Failure(r["record_id"], p["field"], p["rule"], ERROR, p["message"], p.get("value"))
        for r in compress(rows, map(itemgetter("problems"), rows))
        for p in r["problems"]
    ]


def _late_failures(
    frame: pd.DataFrame, rows: Sequence[dict], kind: Kind, settings: Settings
) -> list[Failure]:
    keys = key_fields(kind)
    limit = settings.late_after_working_days
    # Decision dates and first extractions repeat: the work is per distinct pair of them.
    decided_codes, decided_values = _distinct(frame[keys.decision_date])
    first_codes, first_values = pd.factorize(
        np.fromiter(map(itemgetter("first_extracted_for"), rows), dtype=object, count=len(rows))
    )
    decided = [_date_or_none(v) for v in decided_values]
    first = [reference_date(t, settings) for t in first_values]
    # Code -1 (no decision date) picks the trailing False.
    readable = np.array([d is not None for d in decided] + [False])[decided_codes]
    width = len(first)
    # Hashed, not sorted: the pairs' order does not matter, failures follow the rows.
    which, pairs = pd.factorize(
        decided_codes[readable].astype(np.int64) * width + first_codes[readable]
    )
    spans = [(decided[p // width], first[p % width]) for p in pairs.tolist()]
    days = _working_days(spans)
    messages = [
        f"公示超期：{d.isoformat()}作出决定，{f.isoformat()}才归集，已过{n}个工作日"
        f"（应在{limit}个工作日内公示）"
        for (d, f), n in zip(spans, days, strict=True)
    ]
    dates = [d.isoformat() for d, _ in spans]
    late = (np.array(days, dtype=np.int64) > limit)[which]
    rows_late = np.flatnonzero(readable)[late].tolist()
    return [
        Failure(rows[i]["record_id"], keys.decision_date, "LATE", WARNING, messages[k], dates[k])
        for i, k in zip(rows_late, which[late].tolist(), strict=True)
    ]


_CALENDAR_DAYS = 3660  # looked up one by one; a decision older than this is counted alone


def _working_days(spans: list[tuple[date, date]]) -> list[int]:
    """working_days_between(decided, first) of each span, each calendar day looked up once
    (the holiday calendar answers in microseconds, and a chunk holds a million records)."""
    if not spans:
        return []
    end = max(f for _, f in spans)
    start = max(min(d for d, _ in spans), end - timedelta(days=_CALENDAR_DAYS))
    # upto[i]: working days after `start`, up to and including start + i days
    upto = [
        0,
        *accumulate(
            is_working_day(start + timedelta(days=i)) for i in range(1, (end - start).days + 1)
        ),
    ]

    def count(decided: date, first: date) -> int:
        if first <= decided:
            return 0
        if decided < start:
            return working_days_between(decided, first)
        return upto[(first - start).days] - upto[(decided - start).days]

    return [count(d, f) for d, f in spans]


# --- amounts entered in 元 instead of 万元 ------------------------------------------------

# Where the penalty's content states an amount, and the words that introduce it there.
_CONTENT_FIELD = "CF_NR"
_AMOUNT_WORDS = {"CF_NR_FK": "罚款", "CF_NR_WFFF": "没收(?:违法所得|非法财物)"}
# "罚款2000元", "罚款人民币2,000.00元", "罚款：2万元": a few non-digits may come between
# the word and the number, but no clause break.
_STATED = r"(?:{words})[^0-9，,。；;\n]{{0,6}}?(\d[\d,]*(?:\.\d+)?)\s*(万元|元)"


@dataclass(frozen=True)
class _Statement:
    yuan: float  # first amount the content states in 元 (NaN if none)
    yuan_text: str  # how it is written, e.g. 罚款2000元
    wan: float  # first amount it states in 万元 (NaN if none)


_NOTHING_STATED = _Statement(math.nan, "", math.nan)


def _statement(pattern: re.Pattern[str], content: object) -> _Statement:
    if not isinstance(content, str):
        return _NOTHING_STATED
    yuan, yuan_text, wan = math.nan, "", math.nan
    for match in pattern.finditer(content):
        try:
            number = float(match[1].replace(",", ""))
        except ValueError:
            continue
        if match[2] == "元" and math.isnan(yuan):
            yuan, yuan_text = number, match[0]
        elif match[2] == "万元" and math.isnan(wan):
            wan = number
    return _Statement(yuan, yuan_text, wan)


def _amount_failures(
    frame: pd.DataFrame,
    rows: Sequence[dict],
    settings: Settings,
    converted: Mapping[str, pd.Series | None] | None = None,
) -> list[Failure]:
    """AMOUNT_LOOKS_LIKE_YUAN (a warning): the amount (万元) equals what the content states
    in 元 (罚款2000元 with 罚款金额 2000), or it is above `amount_suspect_above_wan` and the
    content does not state it in 万元. `converted` holds as_floats of amount columns that
    the GX side already converted (PreparedFrame.floats)."""
    from credit_sync.gx.expectations import as_floats, is_number

    fmap = field_map(Kind.PENALTY)
    limit = settings.amount_suspect_above_wan
    converted = converted or {}
    out = []
    for code, words in _AMOUNT_WORDS.items():
        column = frame[code]
        floats = converted[code] if code in converted else as_floats(column)
        amounts = (
            floats.to_numpy()
            if floats is not None
            else np.array([_float_or_nan(v, is_number) for v in column], dtype=float)
        )
        rows_with = np.flatnonzero(np.isfinite(amounts) & (amounts > 0))
        if not len(rows_with):
            continue
        # Contents repeat ("罚款2000元"): read each distinct one once.
        content_codes, contents = _distinct(frame[_CONTENT_FIELD].to_numpy()[rows_with])
        pattern = re.compile(_STATED.format(words=words))
        statements = [_statement(pattern, c) for c in contents] + [_NOTHING_STATED]
        stated = np.array([(s.yuan, s.wan) for s in statements], dtype=float)[content_codes]
        amount = amounts[rows_with]
        in_yuan = np.isclose(amount, stated[:, 0], rtol=1e-9, atol=0)
        too_big = (amount > limit) & ~np.isclose(amount, stated[:, 1], rtol=1e-9, atol=0)
        name = fmap[code].label.removesuffix("（万元）")
        for i in np.flatnonzero(in_yuan | too_big).tolist():
            wan, said = _wan(amount[i]), statements[content_codes[i]]
            if in_yuan[i]:
                message = (
                    f"{name}{wan}万元与处罚内容“{said.yuan_text}”不符，疑似按元填报，"
                    f"应为{_wan(said.yuan / 10_000)}万元"
                )
            else:
                message = (
                    f"{name}{wan}万元超过{_wan(limit)}万元，疑似按元填报，请核实"
                    f"（金额单位为万元，如2000元应填0.2）"
                )
            record = rows[int(rows_with[i])]["record_id"]
            out.append(Failure(record, code, "AMOUNT_LOOKS_LIKE_YUAN", WARNING, message, wan))
    return out


def _float_or_nan(value: object, is_number: Callable[[object], bool]) -> float:
    try:
        return float(value) if is_number(value) else math.nan  # type: ignore[arg-type]
    except OverflowError:  # an int no float can hold: the format rule reports it
        return math.nan


def _distinct(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pd.factorize (missing values coded -1), unhashable garbage counted as missing."""
    try:
        return factorize(values)
    except TypeError:
        hashable = [v if isinstance(v, Hashable) else None for v in values]
        return factorize(np.array(hashable, dtype=object))


def _wan(amount: float) -> str:
    """An amount in 万元 as a clerk writes it: 0.2, 2000, 0.0035 (no 2000.0, no 2e+03)."""
    return f"{amount:.6f}".rstrip("0").rstrip(".")


# Records validated per chunk by validate_pending: GX's fixed cost (~0.5 s a chunk, its
# expectation graph) against the memory of the decoded payloads (~4.5 kB a record, so
# ~450 MB; checking adds little). Measured: 47k rec/s at 50,000, 73-79k at 100,000,
# 90-96k at 200,000 (docs/benchmarks.md).
CHUNK_SIZE = 100_000


# --- every rule that needs no staged history, in worker processes for large chunks -------

# Each process pays GX's fixed cost (~1 s: dozens of expectations, a batch per column
# group): measured, a second process only pays off from a few hundred thousand records.
PARALLEL_MIN_ROWS = 200_000


@dataclass
class Checked:
    failures: list[Failure]
    suite: SuiteResult  # the GX side: statistics, and what Data Docs show
    data_docs: str | None = None


def check_records(
    rows: Sequence[dict],
    kind: Kind,
    today: date,
    settings: Settings,
    *,
    run_name: str,
    data_docs_dir: Path | None = None,
    workers: int = 1,
) -> Checked:
    """The GX suite, unreadable values, lateness and amounts over `rows` (staged records).

    With `workers` > 1, a chunk of at least PARALLEL_MIN_ROWS rows is cut into that many
    slices, each checked in its own process (forked: the rows are inherited, not copied,
    and GX, seconds to import, is already loaded). Only suites whose every expectation
    judges each row alone are split; the results are joined into one, so failures,
    statistics and the single Data Docs page do not depend on the number of workers.
    """
    from credit_sync.gx.combine import combine, splits_by_rows
    from credit_sync.gx.runner import load_suite, write_data_docs

    suite = load_suite(expectations_dir() / f"{kind.value}.json")
    split = len(rows) >= PARALLEL_MIN_ROWS and splits_by_rows(suite) and _can_fork()
    n = max(1, min(workers, len(rows))) if split else 1
    bounds = [(len(rows) * i // n, len(rows) * (i + 1) // n) for i in range(n)]
    work = partial(_check_slice, rows, kind, suite, today, settings, run_name)
    with collector_paused(promote_survivors=True):
        parts = _in_processes(work, bounds)
    checked = Checked(
        [f for part in parts for f in part.failures], combine([part.suite for part in parts])
    )
    if data_docs_dir is not None:
        checked.data_docs = str(
            write_data_docs(suite, checked.suite, Path(data_docs_dir), run_name=run_name)
        )
    return checked


def _check_slice(
    all_rows: Sequence[dict],
    kind: Kind,
    suite: ExpectationSuite,
    today: date,
    settings: Settings,
    run_name: str,
    start: int,
    stop: int,
) -> _Slice:
    from credit_sync.gx.runner import prepare_frame

    rows = all_rows[start:stop]
    frame = record_frame(rows, _columns_checked(kind, suite))
    prepared = prepare_frame(frame, suite)  # its amounts as numbers serve both sides
    failures, result = suite_failures(frame, rows, kind, suite, today, run_name, prepared)
    problems = _problem_failures(rows)
    # A value normalisation could not read is reported once, as unreadable.
    unreadable = {(f.record_id, f.field) for f in problems}
    failures = [f for f in failures if (f.record_id, f.field) not in unreadable]
    failures += problems + _late_failures(frame, rows, kind, settings)
    if kind is Kind.PENALTY:
        failures += _amount_failures(frame, rows, settings, prepared.floats)
    return _Slice(failures, result)


_FAILURE_FIELDS = tuple(f.name for f in fields(Failure))


@dataclass(frozen=True)
class _Slice:
    failures: list[Failure]
    suite: SuiteResult

    def __reduce__(self) -> tuple[Any, ...]:
        # Out of a worker process as one list of str per field: pickled and read back 3x
        # faster than Failure objects (a slice can hold a hundred thousand).
        columns = tuple([getattr(f, name) for f in self.failures] for name in _FAILURE_FIELDS)
        return (_unpickle_slice, (columns, self.suite))


def _unpickle_slice(columns: tuple[list[Any], ...], suite: SuiteResult) -> _Slice:
    return _Slice(list(map(Failure, *columns)), suite)


T = TypeVar("T")


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _in_processes(work: Callable[[int, int], T], bounds: list[tuple[int, int]]) -> list[T]:
    """work(start, stop) per slice: the first in this process, each other in a forked child.

    Fork, not spawn or forkserver: a fresh interpreter would spend longer importing GX
    than checking a chunk. A child only computes over inherited memory (no database, no
    network) and leaves with os._exit, so nothing of the task process is touched twice.
    """
    if len(bounds) == 1:
        return [work(*bounds[0])]
    context = multiprocessing.get_context("fork")
    children = []
    try:
        for start, stop in bounds[1:]:
            receiver, sender = context.Pipe(duplex=False)
            child = context.Process(
                target=_child, args=(sender, work, start, stop), name="credit-sync-validate"
            )
            child.start()
            sender.close()
            children.append((child, receiver))
        results = [work(*bounds[0])]
        for child, receiver in children:
            try:
                ok, value = receiver.recv()
            except EOFError:
                child.join()
                raise RuntimeError(
                    f"validation worker {child.pid} ended without a result "
                    f"(exit code {child.exitcode})"
                ) from None
            if not ok:
                raise value
            results.append(value)
        return results
    finally:
        for child, receiver in children:
            receiver.close()
            if child.is_alive():
                child.kill()  # only when this process failed first
            child.join()


def _child(sender: PipeEnd, work: Callable[[int, int], Any], start: int, stop: int) -> None:
    try:
        outcome = (True, work(start, stop))
    except BaseException as exc:  # handed to the parent, which raises it
        exc.add_note(f"in validation worker {os.getpid()}:\n{traceback.format_exc()}")
        outcome = (False, exc)
    sender.send(outcome)
    sender.close()


def _duplicate_failures(conn: Connection, rows: Sequence[dict], kind: Kind) -> list[Failure]:
    """Same decision number from the same authority with different content: both are
    suspect. An identical re-send under another source key is not a conflict, nor is a
    revoked record (状态 撤销: deleted at the source and entered again under a new key)."""
    keys = key_fields(kind)
    rows = [r for r in rows if r["payload"].get(keys.status) != STATUS_REVOKED]
    wanted = {(r["authority_code"], r["business_key"]) for r in rows if r["business_key"]}
    if not wanted:
        return []
    groups: dict[tuple, dict[str, str]] = defaultdict(dict)
    numbers = sorted({b for _, b in wanted})
    for start in range(0, len(numbers), 500):
        for rec in conn.execute(
            sa.select(
                staged_record.c.record_id,
                staged_record.c.authority_code,
                staged_record.c.business_key,
                staged_record.c.content_hash,
                staged_record.c.payload[keys.status].as_string().label("status"),
            ).where(
                staged_record.c.kind == kind.value,
                staged_record.c.business_key.in_(numbers[start : start + 500]),
                staged_record.c.deleted_at.is_(None),
            )
        ):
            if (rec.authority_code, rec.business_key) in wanted and rec.status != STATUS_REVOKED:
                groups[(rec.authority_code, rec.business_key)][rec.record_id] = rec.content_hash
    out = []
    for r in rows:
        group = groups.get((r["authority_code"], r["business_key"]), {})
        others = {
            rid for rid, h in group.items() if rid != r["record_id"] and h != r["content_hash"]
        }
        if others:
            out.append(
                Failure(
                    r["record_id"],
                    keys.decision_number,
                    "DUPLICATE_DECISION",
                    ERROR,
                    f"决定文书号“{r['business_key']}”与其他记录重复且内容不同"
                    f"（{', '.join(sorted(others))[:200]}）",
                    r["business_key"],
                )
            )
    return out


def _allow_listed(failures: list[Failure], kind: Kind, settings: Settings) -> list[Failure]:
    """Codes on the allow-list are reported as warnings, never passed silently."""
    if not settings.uscc_allow_list:
        return failures
    fmap = field_map(kind)
    allowed = set(settings.uscc_allow_list)
    out = []
    for f in failures:
        spec = fmap.get(f.field)
        if spec and spec.type is FieldType.USCC and f.value in allowed and f.severity == ERROR:
            f = Failure(
                f.record_id,
                f.field,
                "USCC_ALLOW_LISTED",
                WARNING,
                f"{spec.label}“{f.value}”未通过校验，但在允许清单中，照常报送",
                f.value,
            )
        out.append(f)
    return out


def save_failures(
    conn: Connection, dept: str, kind: Kind, rows: Sequence[dict], failures: Sequence[Failure]
) -> None:
    """Upsert this run's failures of `rows` and resolve the ones that no longer occur."""
    now = utcnow()
    ids = [r["record_id"] for r in rows]
    business = {r["record_id"]: r["business_key"] for r in rows}
    existing: dict[tuple, tuple[int, Any]] = {}
    for start in range(0, len(ids), 500):
        for rec in conn.execute(
            sa.select(
                validation_failure.c.id,
                validation_failure.c.record_id,
                validation_failure.c.rule,
                validation_failure.c.field,
                validation_failure.c.resolved_at,
            ).where(validation_failure.c.record_id.in_(ids[start : start + 500]))
        ):
            existing[(rec.record_id, rec.rule, rec.field)] = (rec.id, rec.resolved_at)
    current = {(f.record_id, f.rule, f.field): f for f in failures}
    inserts, updates = [], []
    for key, f in current.items():
        values = {
            "severity": f.severity,
            "message": f.message,
            "value": f.value,
            "business_key": business.get(f.record_id),
            "last_seen_at": now,
        }
        if key in existing:
            updates.append({"b_id": existing[key][0], "resolved_at": None, **values})
        else:
            inserts.append(
                {
                    "record_id": f.record_id,
                    "department": dept,
                    "kind": kind.value,
                    "field": f.field,
                    "rule": f.rule,
                    "first_seen_at": now,
                    **values,
                }
            )
    resolved = [fid for key, (fid, done) in existing.items() if key not in current and done is None]
    if inserts:
        conn.execute(validation_failure.insert(), inserts)
    if updates:
        conn.execute(
            validation_failure.update()
            .where(validation_failure.c.id == sa.bindparam("b_id"))
            .values({k: sa.bindparam(k) for k in updates[0] if k != "b_id"}),
            updates,
        )
    for start in range(0, len(resolved), 500):
        conn.execute(
            validation_failure.update()
            .where(validation_failure.c.id.in_(resolved[start : start + 500]))
            .values(resolved_at=now)
        )


def _pending(conn: Connection, dept: str, kind: Kind, limit: int) -> list[dict]:
    return [
        dict(r)
        for r in conn.execute(
            sa.select(staged_record)
            .where(
                staged_record.c.department == dept,
                staged_record.c.kind == kind.value,
                staged_record.c.deleted_at.is_(None),
                sa.or_(
                    staged_record.c.validated_hash.is_(None),
                    staged_record.c.validated_hash != staged_record.c.content_hash,
                ),
            )
            .order_by(staged_record.c.record_id)
            .limit(limit)
        ).mappings()
    ]


def validate_pending(
    store: Engine,
    dept: Department,
    kind: Kind,
    *,
    logical_date: datetime,
    run_id: str,
    targets: Sequence[Target],
    settings: Settings,
    data_docs_dir: Path | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> ValidationSummary:
    kind = Kind(kind)
    today = reference_date(logical_date, settings)
    summary = ValidationSummary(dept.code, kind.value)
    chunk_no = 0
    while True:
        with store.connect() as conn:
            rows = _pending(conn, dept.code, kind, chunk_size)
        if not rows:
            break
        chunk_no += 1
        run_name = f"{dept.code}-{kind.value}-{run_id}-{chunk_no}"
        checked = check_records(
            rows,
            kind,
            today,
            settings,
            run_name=run_name,
            data_docs_dir=data_docs_dir,
            workers=settings.validation_workers,
        )
        failures = checked.failures
        with store.connect() as conn:
            failures += _duplicate_failures(conn, rows, kind)
        failures = _allow_listed(failures, kind, settings)
        summary.data_docs = checked.data_docs or summary.data_docs
        _settle_chunk(store, dept, kind, rows, failures, targets, today, summary)
        log.info(
            "department %s %s: chunk %d validated (%d records: %d valid, %d invalid, %d late)",
            dept.code,
            kind.value,
            chunk_no,
            len(rows),
            summary.valid,
            summary.invalid,
            summary.late,
        )
    with store.begin() as conn:
        conn.execute(
            validation_run.insert().values(
                department=dept.code,
                kind=kind.value,
                run_id=run_id,
                logical_date=logical_date.replace(tzinfo=None),
                checked=summary.checked,
                valid=summary.valid,
                invalid=summary.invalid,
                warnings=summary.warnings,
                data_docs=summary.data_docs,
                created_at=utcnow(),
            )
        )
    if summary.data_docs:
        log.info("department %s %s: Data Docs at %s", dept.code, kind.value, summary.data_docs)
    return summary


def _settle_chunk(
    store: Engine,
    dept: Department,
    kind: Kind,
    rows: Sequence[dict],
    failures: Sequence[Failure],
    targets: Sequence[Target],
    today: date,
    summary: ValidationSummary,
) -> None:
    errors = {f.record_id for f in failures if f.severity == ERROR}
    late = {f.record_id for f in failures if f.rule == "LATE"}
    summary.checked += len(rows)
    summary.invalid += len(errors)
    summary.valid += len(rows) - len(errors)
    summary.warnings += sum(f.severity == WARNING for f in failures)
    summary.late += len(late)
    versions = [
        RecordVersion(
            r["record_id"],
            r["department"],
            r["kind"],
            r["content_hash"],
            r["payload"],
            r["public_cleared"],
            _date_or_none(r["payload"].get("CF_GSJZQ")) if kind is Kind.PENALTY else None,
        )
        for r in rows
        if r["record_id"] not in errors
    ]
    with store.begin() as conn:
        save_failures(conn, dept.code, kind, rows, failures)
        updates = [
            {
                "b_id": r["record_id"],
                "validated_hash": r["content_hash"],
                "valid": r["record_id"] not in errors,
                "late": r["record_id"] in late,
            }
            for r in rows
        ]
        conn.execute(
            staged_record.update()
            .where(staged_record.c.record_id == sa.bindparam("b_id"))
            .values(
                validated_hash=sa.bindparam("validated_hash"),
                valid=sa.bindparam("valid"),
                late=sa.bindparam("late"),
            ),
            updates,
        )
        for target, n in enqueue(conn, versions, targets, today).items():
            summary.queued[target] = summary.queued.get(target, 0) + n


def _date_or_none(value: Any) -> date | None:
    iso = parse_date(value)
    return date.fromisoformat(iso) if iso else None
