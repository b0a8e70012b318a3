"""Incremental, chunked pulls from a department database into the staging store.

The department's SELECT (under `sql/`) maps its own columns to canonical names; this
module wraps it in a window on the update-time column, streams it in chunks, normalises
each row and upserts it into staging. The watermark moves only after every chunk is
committed, and the lower bound is inclusive: rows that share the boundary timestamp are
read again and dropped as unchanged instead of being lost.

Per chunk, the work is arranged for throughput (a department may hold millions of rows):
rows stay driver tuples, a cheap fingerprint of each row is compared with the stored one
first, and only new or changed rows are normalised (column by column), serialised once
(the canonical JSON is both the stored payload and the input of the content hash) and
written with one executemany per statement.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from credit_sync.config import Department, Settings
from credit_sync.gc_pause import collector_paused
from credit_sync.normalise import (
    Normaliser,
    canonical_json,
    canonical_json_rows,
)
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
from credit_sync.staging.writer import StagingWriter

log = logging.getLogger(__name__)

# Upper bound of values in one `IN (...)` (SQLite allows 32766 variables per statement).
_IN_BATCH = 5000


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


def canonical_name(column: str) -> str:
    """A result column's name as the pipeline knows it (PostgreSQL lower-cases aliases)."""
    lower = column.lower()
    return lower if lower in (SOURCE_KEY, SOURCE_UPDATED_AT, PUBLIC_CLEARED) else column.upper()


def stream_rows(
    source: Engine, query: sa.TextClause, params: dict[str, Any], chunk_size: int
) -> Iterator[tuple[list[str], Sequence[Sequence[Any]]]]:
    """(canonical column names, rows) per chunk, read with a server-side cursor where the
    driver has one (psycopg2 named cursor, PyMySQL SSCursor): memory stays one chunk."""
    with source.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk_size).execute(
            query, params
        )
        names = [canonical_name(k) for k in result.keys()]
        for part in result.partitions(chunk_size):
            yield names, part


# What reading a department's database can raise: the driver's errors, and text that is
# not in the encoding the connection decodes it with.
SOURCE_ERRORS = (sa.exc.SQLAlchemyError, UnicodeError)


def source_error(dept: Department, kind: Kind, what: str, exc: BaseException) -> ExtractionError:
    """The one-line cause of a source failure, naming the department (never credentials)."""
    orig = getattr(exc, "orig", None) or exc
    first_line = (str(orig).strip().splitlines() or [""])[0]
    hint = ""
    if isinstance(orig, UnicodeError):
        hint = (
            " (the source's text is not in the encoding the connection reads it with: "
            "set the connection's client encoding, see docs/sources.md)"
        )
    return ExtractionError(
        f"department {dept.code} ({dept.name}) {kind.value}: {what}: "
        f"{type(orig).__name__}: {first_line}{hint}"
    )


class _ChunkStager:
    """Turns chunks of source rows into staged records (one instance per extraction)."""

    def __init__(
        self,
        dept: Department,
        kind: Kind,
        names: list[str],
        normaliser: Normaliser,
        logical_date: datetime,
    ) -> None:
        self.dept, self.kind, self.normaliser = dept, kind, normaliser
        self.logical_date = logical_date
        position = {name: i for i, name in enumerate(names)}
        self.key_at = position.get(SOURCE_KEY)
        self.updated_at = position.get(SOURCE_UPDATED_AT)
        self.cleared_at = position.get(PUBLIC_CLEARED)
        known = field_map(kind)
        self.fields_at = {name: i for name, i in position.items() if name in known}
        # What the fingerprint covers: the canonical columns and the publication flag.
        self.fingerprint_at = sorted(self.fields_at.values()) + (
            [self.cleared_at] if self.cleared_at is not None else []
        )
        self.keys = key_fields(kind)
        self.id_prefix = record_id(dept.code, kind, "")

    def plan(
        self,
        conn: Connection,
        rows: Sequence[Sequence[Any]],
        result: ExtractResult,
        uncommitted: Mapping[str, str] | None = None,
    ) -> PlannedChunk:
        """What staging one chunk takes: its new and changed rows, normalised. `uncommitted`
        holds the fingerprints of records written by chunks still being committed (by
        the writer process), which the look-up in `conn` may not see yet."""
        picked = self._usable(rows, result)
        if not picked:
            return PlannedChunk(self.dept.code, self.kind.value, self.logical_date)
        newest = max(updated for _, updated in picked.values())
        ids = list(picked)
        stored = stored_fingerprints(conn, ids)
        if uncommitted:
            stored.update((rid, uncommitted[rid]) for rid in ids if rid in uncommitted)
        fingerprints = self._fingerprints([row for row, _ in picked.values()])
        todo = [
            (rid, row, updated, fp)
            for (rid, (row, updated)), fp in zip(picked.items(), fingerprints, strict=True)
            if stored.get(rid) != fp
        ]
        result.unchanged += len(picked) - len(todo)
        planned = PlannedChunk(self.dept.code, self.kind.value, self.logical_date, newest=newest)
        if not todo:
            return planned
        rids, rows, updated, fingerprints = zip(*todo, strict=True)
        columns = list(zip(*rows, strict=True))
        default = self.dept.public_cleared_default
        planned.record_ids = list(rids)
        planned.source_keys = [str(k)[:200] for k in columns[self.key_at]]
        planned.fingerprints = list(fingerprints)
        planned.updated_at = list(updated)
        planned.cleared = (
            [_truthy(v, default) for v in columns[self.cleared_at]]
            if self.cleared_at is not None
            else [default] * len(todo)
        )
        planned.update = [rid in stored for rid in rids]
        normalised = self.normaliser.normalise_chunk(
            {code: columns[i] for code, i in self.fields_at.items()}, len(todo)
        )
        planned.values = normalised.values
        planned.notes = [r.notes for r in normalised.records]
        planned.problems = {
            i: [p.__dict__ for p in r.problems]
            for i, r in enumerate(normalised.records)
            if r.problems
        }
        planned.decision_field = self.keys.decision_number
        planned.authority_field = self.keys.authority_code
        changed = sum(planned.update)
        result.new += len(todo) - changed
        result.changed += changed
        return planned

    def _usable(
        self, rows: Sequence[Sequence[Any]], result: ExtractResult
    ) -> dict[str, tuple[Sequence[Any], datetime]]:
        """Rows by record id (the last one wins within a chunk), skipping unusable ones."""
        picked: dict[str, tuple[Sequence[Any], datetime]] = {}
        for row in rows:
            source_key = row[self.key_at] if self.key_at is not None else None
            updated = as_datetime(row[self.updated_at]) if self.updated_at is not None else None
            if source_key in (None, "") or updated is None:
                result.skipped.append(str(source_key))
                log.warning(
                    "department %s %s: row without %s or a readable %s skipped (source key %r)",
                    self.dept.code,
                    self.kind.value,
                    SOURCE_KEY,
                    SOURCE_UPDATED_AT,
                    source_key,
                )
                continue
            picked[self.id_prefix + str(source_key)] = (row, updated)
        return picked

    def _fingerprints(self, rows: list[Sequence[Any]]) -> list[str]:
        """A hash of what the source sent (canonical columns + publication flag): a change
        at the source changes it. Text goes in as it is and anything else as its repr, a
        NUL before it, so NULL and the text 'None' differ. Values never contain the unit
        separator in practice; if one did, a change could go unnoticed until the next."""
        columns = list(zip(*rows, strict=True))
        as_text = [
            [
                v if type(v) is str else _NULL_TEXT if v is None else _fingerprint_text(v)
                for v in columns[i]
            ]
            for i in self.fingerprint_at
        ]
        sha256 = hashlib.sha256
        return [
            sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
            for parts in zip(*as_text, strict=True)
        ]


_NULL_TEXT = "\0None"  # what `_fingerprint_text(None)` gives, without the call


def _fingerprint_text(value: object) -> str:
    if isinstance(value, memoryview):  # PostgreSQL bytea: its repr is an address
        value = bytes(value)
    return f"\0{value!r}"


@dataclass
class PlannedChunk:
    """One chunk's new and changed rows, normalised; `write_chunk` renders and writes
    them (in this process or in the writer process, which is why it is plain data)."""

    department: str
    kind: str
    logical_date: datetime
    newest: datetime | None = None  # the newest update time among the chunk's rows
    record_ids: list[str] = field(default_factory=list)
    source_keys: list[str] = field(default_factory=list)
    fingerprints: list[str] = field(default_factory=list)
    updated_at: list[datetime] = field(default_factory=list)
    cleared: list[bool] = field(default_factory=list)
    update: list[bool] = field(default_factory=list)  # a staged record changed, not a new one
    # The normalised rows: values by field, notes per row, problems of the rows with any
    # (lists and dicts only: the chunk is pickled to the writer process).
    values: dict[str, list[Any]] = field(default_factory=dict)
    notes: list[list[dict[str, str]]] = field(default_factory=list)
    problems: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    decision_field: str = ""
    authority_field: str = ""

    @property
    def written(self) -> dict[str, str]:
        """The fingerprints this chunk stores, by record id."""
        return dict(zip(self.record_ids, self.fingerprints, strict=True))


def write_chunk(conn: Connection, planned: PlannedChunk) -> None:
    """Write a planned chunk (in the caller's transaction): one executemany for the new
    records, one for the changed ones."""
    if not planned.record_ids:
        return
    inserts, updates = _staged_rows(planned, _Binder(conn.dialect))
    _executemany(conn, _INSERT, _INSERTED_COLUMNS, inserts)
    _executemany(conn, _UPDATE, _UPDATE_PARAMETERS, updates)


def _staged_rows(planned: PlannedChunk, bind: _Binder) -> tuple[list[tuple], list[tuple]]:
    """Parameters of the INSERTs and UPDATEs, computed column by column: each payload
    serialised once (the canonical JSON is both the stored payload and the input of the
    content hash) and hashed."""
    payloads = canonical_json_rows(planned.values)
    sha256 = hashlib.sha256
    # `[payload, cleared]` in canonical JSON: exactly what `stable_hash` would hash.
    content_hashes = [
        sha256(f"[{p}, {'true' if c else 'false'}]".encode()).hexdigest()
        for p, c in zip(payloads, planned.cleared, strict=True)
    ]
    decisions = planned.values[planned.decision_field]
    authorities = planned.values[planned.authority_field]
    note_texts: dict[int, str] = {}  # by note object: the chunk keeps every note alive

    def notes_json(notes: list[dict[str, str]]) -> str:
        if not notes:
            return "[]"
        texts = []
        for note in notes:
            text = note_texts.get(id(note))
            if text is None:
                text = note_texts[id(note)] = canonical_json(note)
            texts.append(text)
        return f"[{', '.join(texts)}]"

    now, logical = bind.time(utcnow()), bind.time(planned.logical_date)
    inserts, updates = [], []
    problems = planned.problems
    for i, notes in enumerate(planned.notes):
        decision, authority = decisions[i], authorities[i]
        values = (
            planned.record_ids[i],
            planned.department,
            planned.kind,
            planned.source_keys[i],
            str(decision)[:200] if decision else None,
            str(authority)[:64] if authority else None,
            payloads[i],
            planned.fingerprints[i],
            content_hashes[i],
            notes_json(notes),
            canonical_json(problems[i]) if i in problems else "[]",
            bind.flag(planned.cleared[i]),
            bind.time(planned.updated_at[i]),
            logical,
            now,
        )
        if planned.update[i]:
            updates.append(values)
        else:
            inserts.append((*values, logical, now, bind.flag(False)))
    return inserts, updates


class _Binder:
    """Values as the staging dialect stores them, prepared once per value instead of by
    SQLAlchemy's per-row type processing (which cost more than the insert itself)."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self._time = staged_record.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
        self._flag = staged_record.c.public_cleared.type.dialect_impl(dialect).bind_processor(
            dialect
        )

    def time(self, value: datetime) -> Any:
        return self._time(value) if self._time else value

    def flag(self, value: bool) -> Any:
        return self._flag(value) if self._flag else value


# The same table without column types: parameters arrive already in storage form (JSON
# text, dialect timestamps), so nothing is converted twice. Each chunk's rows are tuples
# in these orders.
_UNTYPED = sa.table("staged_record", *(sa.column(c.name) for c in staged_record.columns))
_UPDATED_COLUMNS = (
    "record_id",
    "department",
    "kind",
    "source_key",
    "business_key",
    "authority_code",
    "payload",
    "raw_hash",
    "content_hash",
    "notes",
    "problems",
    "public_cleared",
    "source_updated_at",
    "last_extracted_for",
    "updated_at",
)
_INSERTED_COLUMNS = (*_UPDATED_COLUMNS, "first_extracted_for", "created_at", "late")
_INSERT = _UNTYPED.insert()
_UPDATE_PARAMETERS = ("b_record_id", *_UPDATED_COLUMNS[1:])
_UPDATE = (
    _UNTYPED.update()
    .where(_UNTYPED.c.record_id == sa.bindparam("b_record_id"))
    .values({c: sa.bindparam(c) for c in _UPDATED_COLUMNS[1:]} | {"deleted_at": sa.null()})
)


def _executemany(
    conn: Connection, statement: sa.Insert | sa.Update, names: tuple[str, ...], rows: list[tuple]
) -> None:
    """One executemany of `rows` (tuples of the parameters `names`), without SQLAlchemy's
    per-row parameter handling where the driver allows: on SQLite the statement's SQL goes
    to the driver as it is; on psycopg2, its page-wise helpers (`execute_values`: many
    rows per INSERT; `execute_batch`: many UPDATEs per round trip) take the tuples."""
    if not rows:
        return
    if conn.dialect.positional:
        compiled = statement.compile(dialect=conn.dialect, column_keys=list(names))
        where = {name: i for i, name in enumerate(names)}
        order = [where[name] for name in compiled.positiontup]
        if order == list(range(len(names))):
            conn.exec_driver_sql(str(compiled), rows)
        else:
            pick = itemgetter(*order)
            conn.exec_driver_sql(str(compiled), [pick(r) for r in rows])
    elif conn.dialect.driver == "psycopg2":
        from psycopg2.extras import execute_batch, execute_values

        cursor = conn.connection.dbapi_connection.cursor()
        table = statement.table.name
        if isinstance(statement, sa.Insert):
            sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES %s"
            execute_values(cursor, sql, rows, page_size=1000)
        else:  # the record id (first) goes last, to the WHERE
            assignments = ", ".join(f"{name} = %s" for name in names[1:])
            sql = f"UPDATE {table} SET {assignments}, deleted_at = NULL WHERE record_id = %s"
            execute_batch(cursor, sql, [(*r[1:], r[0]) for r in rows], page_size=500)
        cursor.close()
    else:
        conn.execute(statement, [dict(zip(names, r, strict=True)) for r in rows])


def stored_fingerprints(conn: Connection, record_ids: Sequence[str]) -> dict[str, str]:
    """raw_hash of the staged records among `record_ids` (primary-key look-ups)."""
    found: dict[str, str] = {}
    for start in range(0, len(record_ids), _IN_BATCH):
        found.update(
            conn.execute(
                sa.select(staged_record.c.record_id, staged_record.c.raw_hash).where(
                    staged_record.c.record_id.in_(record_ids[start : start + _IN_BATCH])
                )
            ).all()
        )
    return found


def _source_chunks(chunks: Iterator, dept: Department, kind: Kind) -> Iterator:
    """The source's chunks, its failures named as the department's (staging errors, raised
    by the caller between chunks, stay what they are)."""
    while True:
        try:
            yield next(chunks)
        except StopIteration:
            return
        except SOURCE_ERRORS as exc:
            raise source_error(dept, kind, "source query failed", exc) from exc


# Chunks after the first are committed by a writer process (see staging/writer.py) while
# the next is read and prepared; False keeps every write in this process.
WRITER_PROCESS = True


def _writer_for(store: Engine) -> StagingWriter | None:
    """A writer process on the same store, where a second process can reach it (not an
    in-memory SQLite database)."""
    url = store.url
    in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
    if not WRITER_PROCESS or in_memory:
        return None
    try:
        return StagingWriter(url.render_as_string(hide_password=False), write_chunk)
    except (AssertionError, OSError) as exc:  # e.g. inside a daemonic worker process
        log.warning("no staging writer process (%s); staging every chunk in this one", exc)
        return None


def stage_rows(
    dept: Department,
    kind: Kind,
    source: Engine,
    store: Engine,
    query: sa.TextClause,
    params: dict[str, Any],
    normaliser: Normaliser,
    logical_date: datetime,
    result: ExtractResult,
) -> datetime | None:
    """Stream `query` from the source into staging, chunk by chunk (one transaction each);
    counts go to `result`. Returns the newest update time seen, once every chunk is
    committed.

    The first chunk is staged here; later ones (a large pull) are planned here and
    committed by a writer process, one chunk behind, in order."""
    stager: _ChunkStager | None = None
    newest: datetime | None = None
    writer: StagingWriter | None = None
    uncommitted: dict[int, dict[str, str]] = {}  # chunk number → fingerprints it writes
    chunks = stream_rows(source, query, params, dept.chunk_size)
    try:
        for chunk_no, (names, rows) in enumerate(_source_chunks(chunks, dept, kind), start=1):
            if stager is None:
                stager = _ChunkStager(dept, kind, names, normaliser, logical_date)
            if chunk_no == 2:  # a pull of more than one chunk: commit from a writer process
                writer = _writer_for(store)
            with collector_paused():
                if writer is None:
                    with store.begin() as conn:
                        planned = stager.plan(conn, rows, result)
                        write_chunk(conn, planned)
                else:
                    committed = writer.committed()
                    for number in [n for n in uncommitted if n <= committed]:
                        del uncommitted[number]
                    with store.connect() as conn:
                        planned = stager.plan(conn, rows, result, _merged(uncommitted))
                    if planned.record_ids:
                        uncommitted[writer.submit(planned)] = planned.written
            if planned.newest is not None and (newest is None or planned.newest > newest):
                newest = planned.newest
            result.fetched += len(rows)
            log.info(
                "department %s %s: chunk %d %s (%d rows; %d so far: %d new, %d changed)",
                dept.code,
                kind.value,
                chunk_no,
                "staged" if writer is None else "sent to the writer",
                len(rows),
                result.fetched,
                result.new,
                result.changed,
            )
        if writer is not None:
            writer.finish()  # every chunk committed before the caller moves the watermark
    finally:
        chunks.close()  # a staging failure must not leave the source cursor open
        if writer is not None:
            writer.close()
    return newest


def _merged(uncommitted: dict[int, dict[str, str]]) -> dict[str, str]:
    """Fingerprints of the chunks not known committed, a later chunk's winning."""
    if len(uncommitted) == 1:
        return next(iter(uncommitted.values()))
    merged: dict[str, str] = {}
    for number in sorted(uncommitted):
        merged.update(uncommitted[number])
    return merged


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
    query, params = window_query(select_sql, window, source.dialect.name)
    newest = stage_rows(dept, kind, source, store, query, params, normaliser, logical_date, result)
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
