"""Incremental, chunked pulls from a department database into the staging store.

The department's SELECT (under `sql/`) maps its own columns to canonical names; this
module wraps it in a window on the update-time column, streams it in chunks, normalises
each row and upserts it into staging. The watermark moves only after every chunk is
committed, and the lower bound is inclusive: rows that share the boundary timestamp are
read again and dropped as unchanged instead of being lost.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from credit_sync.config import Department, Settings
from credit_sync.normalise import Normaliser, stable_hash
from credit_sync.schema import (
    PUBLIC_CLEARED,
    SOURCE_KEY,
    SOURCE_UPDATED_AT,
    Kind,
    field_map,
    key_fields,
    record_id,
)
from credit_sync.staging.store import utcnow
from credit_sync.staging.tables import staged_record, watermark

log = logging.getLogger(__name__)


class ExtractionError(RuntimeError):
    """A department's extraction failed; the message names the department and the cause."""


@dataclass(frozen=True)
class Window:
    """Rows whose update time lies in [start, end]; start None means from the beginning."""

    start: datetime | None
    end: datetime


@dataclass
class ExtractResult:
    department: str
    kind: str
    fetched: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)  # rows without a usable key or timestamp
    watermark: datetime | None = None


def as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    text = str(value).strip().replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _truthy(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().upper() in {"1", "Y", "YES", "TRUE", "T", "是"}
    return bool(value)


def stored_watermark(conn: Connection, department: str, kind: Kind) -> datetime | None:
    return conn.execute(
        sa.select(watermark.c.value).where(
            watermark.c.department == department, watermark.c.kind == kind.value
        )
    ).scalar()


def window_query(select_sql: str, window: Window, dialect: str) -> tuple[sa.TextClause, dict]:
    """The department's SELECT restricted to the window, ordered for chunking."""
    sql = select_sql.strip().rstrip(";")
    where = [f"src.{SOURCE_UPDATED_AT} <= :window_end"]
    params: dict[str, Any] = {"window_end": window.end}
    if window.start is not None:
        where.append(f"src.{SOURCE_UPDATED_AT} >= :window_start")
        params["window_start"] = window.start
    if dialect == "sqlite":
        # SQLite keeps timestamps as text: compare with text of the same shape.
        params = {k: v.strftime("%Y-%m-%d %H:%M:%S") for k, v in params.items()}
    query = (
        f"SELECT * FROM ({sql}) src WHERE {' AND '.join(where)} "
        f"ORDER BY src.{SOURCE_UPDATED_AT}, src.{SOURCE_KEY}"
    )
    return sa.text(query), params


def stream_rows(
    source: Engine, select_sql: str, window: Window, chunk_size: int
) -> Iterator[list[dict[str, Any]]]:
    """Chunks of rows, with column names folded to canonical case (PostgreSQL lower-cases)."""
    query, params = window_query(select_sql, window, source.dialect.name)
    with source.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk_size).execute(
            query, params
        )
        names = [_canonical_name(k) for k in result.keys()]
        for part in result.partitions(chunk_size):
            yield [dict(zip(names, row, strict=True)) for row in part]


def _canonical_name(column: str) -> str:
    lower = column.lower()
    return lower if lower in (SOURCE_KEY, SOURCE_UPDATED_AT, PUBLIC_CLEARED) else column.upper()


def _stage_chunk(
    store: Connection,
    dept: Department,
    kind: Kind,
    rows: Sequence[dict[str, Any]],
    normaliser: Normaliser,
    logical_date: datetime,
    result: ExtractResult,
) -> datetime | None:
    keys = key_fields(kind)
    now = utcnow()
    staged: dict[str, dict[str, Any]] = {}
    newest: datetime | None = None
    for row in rows:
        source_key = row.get(SOURCE_KEY)
        updated = as_datetime(row.get(SOURCE_UPDATED_AT))
        if source_key in (None, "") or updated is None:
            result.skipped.append(str(source_key))
            log.warning(
                "department %s %s: row without %s or a readable %s skipped (source key %r)",
                dept.code,
                kind.value,
                SOURCE_KEY,
                SOURCE_UPDATED_AT,
                source_key,
            )
            continue
        newest = updated if newest is None or updated > newest else newest
        rid = record_id(dept.code, kind, str(source_key))
        known = set(field_map(kind))
        raw = {k: v for k, v in row.items() if k in known}
        raw_hash = stable_hash([raw, row.get(PUBLIC_CLEARED)])
        normalised = normaliser.normalise(raw)
        cleared = _truthy(row.get(PUBLIC_CLEARED), dept.public_cleared_default)
        payload = normalised.payload
        staged[rid] = {
            "record_id": rid,
            "department": dept.code,
            "kind": kind.value,
            "source_key": str(source_key)[:200],
            "business_key": (payload.get(keys.decision_number) or "")[:200] or None,
            "authority_code": (payload.get(keys.authority_code) or "")[:64] or None,
            "payload": payload,
            "raw_hash": raw_hash,
            "content_hash": stable_hash([payload, cleared]),
            "notes": normalised.notes,
            "problems": [p.__dict__ for p in normalised.problems],
            "public_cleared": cleared,
            "source_updated_at": updated,
            "updated_at": now,
        }
    if not staged:
        return newest
    existing = dict(
        store.execute(
            sa.select(staged_record.c.record_id, staged_record.c.raw_hash).where(
                staged_record.c.record_id.in_(list(staged))
            )
        ).all()
    )
    inserts = [
        {
            **r,
            "first_extracted_for": logical_date,
            "last_extracted_for": logical_date,
            "created_at": now,
            "late": False,
        }
        for rid, r in staged.items()
        if rid not in existing
    ]
    updates = [
        {**r, "b_record_id": rid, "last_extracted_for": logical_date}
        for rid, r in staged.items()
        if rid in existing and existing[rid] != r["raw_hash"]
    ]
    if inserts:
        store.execute(staged_record.insert(), inserts)
    if updates:
        columns = [c for c in updates[0] if c not in ("b_record_id", "record_id")]
        store.execute(
            staged_record.update()
            .where(staged_record.c.record_id == sa.bindparam("b_record_id"))
            .values({c: sa.bindparam(c) for c in columns} | {"deleted_at": None}),
            updates,
        )
    result.new += len(inserts)
    result.changed += len(updates)
    result.unchanged += len(staged) - len(inserts) - len(updates)
    return newest


def extract(
    dept: Department,
    kind: Kind,
    source: Engine,
    store: Engine,
    *,
    logical_date: datetime,
    window_end: datetime,
    window_start: datetime | None = None,
    full: bool = False,
    settings: Settings | None = None,
) -> ExtractResult:
    """Pull one kind of one department into staging.

    Without an explicit start the window opens at the stored watermark (inclusive).
    `full` re-reads everything up to `window_end`. An explicit or full window never
    moves the watermark backwards.
    """
    kind = Kind(kind)
    source_cfg = dept.kinds[kind]
    select_sql = source_cfg.read_sql()
    with store.connect() as conn:
        mark = stored_watermark(conn, dept.code, kind)
    start = None if full else (window_start or mark)
    window = Window(start, window_end)
    result = ExtractResult(dept.code, kind.value)
    normaliser = Normaliser(kind, source_cfg.mappings, settings)
    log.info(
        "department %s %s: extracting window %s .. %s (watermark %s)",
        dept.code,
        kind.value,
        window.start or "beginning",
        window.end,
        mark,
    )
    newest: datetime | None = None
    try:
        for chunk_no, rows in enumerate(stream_rows(source, select_sql, window, dept.chunk_size)):
            with store.begin() as conn:
                chunk_newest = _stage_chunk(
                    conn, dept, kind, rows, normaliser, logical_date, result
                )
            result.fetched += len(rows)
            if chunk_newest and (newest is None or chunk_newest > newest):
                newest = chunk_newest
            log.info(
                "department %s %s: chunk %d staged (%d rows; %d so far: %d new, %d changed)",
                dept.code,
                kind.value,
                chunk_no + 1,
                len(rows),
                result.fetched,
                result.new,
                result.changed,
            )
    except sa.exc.SQLAlchemyError as exc:
        raise ExtractionError(
            f"department {dept.code} ({dept.name}) {kind.value}: source query failed: "
            f"{type(exc.orig or exc).__name__}: {str(exc.orig or exc).splitlines()[0]}"
        ) from exc
    if newest is not None:
        with store.begin() as conn:
            advance_watermark(conn, dept.code, kind, newest)
        result.watermark = newest if mark is None or newest > mark else mark
    else:
        result.watermark = mark
    log.info(
        "department %s %s: extracted %d rows (%d new, %d changed, %d unchanged, %d skipped); "
        "watermark %s",
        dept.code,
        kind.value,
        result.fetched,
        result.new,
        result.changed,
        result.unchanged,
        len(result.skipped),
        result.watermark,
    )
    return result


def advance_watermark(conn: Connection, department: str, kind: Kind, value: datetime) -> None:
    current = stored_watermark(conn, department, kind)
    if current is None:
        conn.execute(
            watermark.insert().values(
                department=department, kind=kind.value, value=value, updated_at=utcnow()
            )
        )
    elif value > current:
        conn.execute(
            watermark.update()
            .where(watermark.c.department == department, watermark.c.kind == kind.value)
            .values(value=value, updated_at=utcnow())
        )
