"""Validate staged records that changed since their last check, and act on the result.

Row-level failures come from three places: values normalisation could not read
(stored with the record), the Great Expectations suite of the kind, and rules that need
the staged history or the calendar (conflicting duplicate decision numbers, lateness).
Each failure is one row per record, field and rule in `validation_failure`; one that no
longer occurs is marked resolved. Records without an error are queued in the outbox in
the same transaction.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from credit_sync import codes
from credit_sync.config import Department, Settings, Target, expectations_dir
from credit_sync.deadlines import working_days_between
from credit_sync.delivery.outbox import RecordVersion, enqueue
from credit_sync.normalise import display_value, parse_date
from credit_sync.schema import FieldType, Kind, field_map, key_fields
from credit_sync.staging.store import utcnow
from credit_sync.staging.tables import staged_record, validation_failure, validation_run

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


def suite_failures(
    rows: Sequence[dict], kind: Kind, today: date, run_name: str, data_docs_dir: Path | None
) -> tuple[list[Failure], str | None]:
    import pandas as pd

    from credit_sync.gx.runner import load_suite, validate_frame

    fmap = field_map(kind)
    frame = pd.DataFrame.from_records([r["payload"] for r in rows], columns=list(fmap)).astype(
        object
    )
    suite = load_suite(expectations_dir() / f"{kind.value}.json")
    result = validate_frame(
        frame, suite, run_name=run_name, reference_date=today, data_docs_dir=data_docs_dir
    )
    failures = []
    for f in result.failures:
        row = rows[f.row]
        spec = fmap.get(f.field)
        rule, message = f.rule, f.message
        problem = code_problem(spec.type, f.value, today) if spec else None
        if problem is not None and spec is not None:
            rule, message = problem.rule, f"{spec.label}：{problem.message}"
        value = display_value(spec, f.value) if spec else str(f.value)
        failures.append(Failure(row["record_id"], f.field, rule, f.severity, message, value))
    docs = str(result.data_docs_index) if result.data_docs_index else None
    return failures, docs


def _problem_failures(rows: Sequence[dict]) -> list[Failure]:
    return [
        Failure(r["record_id"], p["field"], p["rule"], ERROR, p["message"], p.get("value"))
        for r in rows
        for p in r["problems"] or []
    ]


def _late_failures(rows: Sequence[dict], kind: Kind, settings: Settings) -> list[Failure]:
    keys = key_fields(kind)
    out = []
    for r in rows:
        decided = parse_date(r["payload"].get(keys.decision_date))
        if decided is None:
            continue
        first = reference_date(r["first_extracted_for"], settings)
        days = working_days_between(date.fromisoformat(decided), first)
        if days > settings.late_after_working_days:
            out.append(
                Failure(
                    r["record_id"],
                    keys.decision_date,
                    "LATE",
                    WARNING,
                    f"公示超期：{decided}作出决定，{first.isoformat()}才归集，已过{days}个工作日"
                    f"（应在{settings.late_after_working_days}个工作日内公示）",
                    decided,
                )
            )
    return out


def _duplicate_failures(conn: Connection, rows: Sequence[dict], kind: Kind) -> list[Failure]:
    """Same decision number from the same authority with different content: both are
    suspect. An identical re-send under another source key is not a conflict."""
    keys = key_fields(kind)
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
            ).where(
                staged_record.c.kind == kind.value,
                staged_record.c.business_key.in_(numbers[start : start + 500]),
                staged_record.c.deleted_at.is_(None),
            )
        ):
            if (rec.authority_code, rec.business_key) in wanted:
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
    chunk_size: int = 50_000,
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
        failures, docs = suite_failures(rows, kind, today, run_name, data_docs_dir)
        problem_fields = {(f.record_id, f.field) for f in _problem_failures(rows)}
        failures = [f for f in failures if (f.record_id, f.field) not in problem_fields]
        failures += _problem_failures(rows) + _late_failures(rows, kind, settings)
        with store.connect() as conn:
            failures += _duplicate_failures(conn, rows, kind)
        failures = _allow_listed(failures, kind, settings)
        summary.data_docs = docs or summary.data_docs
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
