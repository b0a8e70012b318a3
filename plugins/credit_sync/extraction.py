"""Incremental, chunked pulls from a department database into the staging store.

The department's SELECT (under `sql/`) maps its own columns to canonical names; this
module wraps it in a window on the update-time column, streams it in chunks, normalises
each row and upserts it into staging. The watermark moves only after every chunk is
committed, and the lower bound is inclusive: rows that share the boundary timestamp are
read again and dropped as unchanged instead of being lost.

Per chunk, the work is arranged for throughput (a department may hold millions of rows):
a chunk is a Polars frame (`source_copy.py`: PostgreSQL's COPY; `source_frames.py`:
ConnectorX or the driver), a fingerprint of each row is compared with the stored one
first, and only new or changed rows are normalised (`normalise_frame.py`), their
compact JSON written column-wise (it is both the stored payload and the input of the
content hash) and written, hashed, by `staging/records.py`, from a writer thread
(`staging/writer.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from credit_sync.config import Department, Settings
from credit_sync.memory import collector_paused, release_free_memory
from credit_sync.normalise import Normaliser, canonical_json
from credit_sync.normalise_frame import normalise_frame, nulls, payload_json
from credit_sync.schema import (
    PUBLIC_CLEARED,
    SOURCE_KEY,
    SOURCE_UPDATED_AT,
    Kind,
    field_map,
    key_fields,
    record_id,
)
from credit_sync.source_copy import copy_frames, copy_serves
from credit_sync.source_frames import (
    ColumnarRead,
    ColumnarReadError,
    columnar_url,
    driver_frames,
    inline,
    naive_local,
    text_column,
)
from credit_sync.staging.records import Binder, StagedRows, write_rows
from credit_sync.staging.store import utcnow
from credit_sync.staging.tables import watermark
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


def window_query(
    select_sql: str,
    window: Window,
    dialect: str,
    *,
    after: tuple[Any, Any] | None = None,
    limit: int | None = None,
) -> tuple[str, dict]:
    """The department's SELECT restricted to the window, ordered for chunking (SQL text
    with :window_start/:window_end parameters, and their values). `after` and `limit` cut
    one page of it: the rows after (update time, source key) `after`, at most `limit`."""
    sql = select_sql.strip().rstrip(";")
    where = [f"src.{SOURCE_UPDATED_AT} <= :window_end"]
    params: dict[str, Any] = {"window_end": window.end}
    if window.start is not None:
        where.append(f"src.{SOURCE_UPDATED_AT} >= :window_start")
        params["window_start"] = window.start
    if dialect == "sqlite":
        # SQLite keeps timestamps as text: compare with text of the same shape.
        params = {k: v.strftime("%Y-%m-%d %H:%M:%S") for k, v in params.items()}
    if after is not None:
        where.append(
            f"(src.{SOURCE_UPDATED_AT} > :after_at OR "
            f"(src.{SOURCE_UPDATED_AT} = :after_at AND src.{SOURCE_KEY} > :after_key))"
        )
        params["after_at"], params["after_key"] = after
    query = (
        f"SELECT * FROM ({sql}) src WHERE {' AND '.join(where)} "
        f"ORDER BY src.{SOURCE_UPDATED_AT}, src.{SOURCE_KEY}"
    )
    if limit is not None:
        query += f" LIMIT {int(limit)}"
    return query, params


def window_frames(
    dept: Department, kind: Kind, source: Engine, select_sql: str, window: Window
) -> Iterator[pl.DataFrame]:
    """The window's rows in frames of `dept.chunk_size`, by the fastest reader that serves
    the source (unless the department asks for the driver): PostgreSQL's COPY, else the
    columnar reader, else the driver. A COPY or columnar read that fails before its first
    chunk (a type it cannot decode, text it cannot read) is done again by the driver,
    which names the cause if it too fails."""
    dialect = source.dialect.name
    query, params = window_query(select_sql, window, dialect)
    frames: Iterator[pl.DataFrame] | None = None
    if dept.reader == "auto" and copy_serves(source):
        frames = copy_frames(source, inline(query, params, source.dialect), dept.chunk_size)
    elif dept.reader == "auto" and (url := columnar_url(source.url)) is not None:
        frames = _columnar_pages(dept, source, url, select_sql, window)
    if frames is not None:
        try:
            first = next(frames)
        except StopIteration:
            return
        except ColumnarReadError as exc:
            log.warning(
                "department %s %s: fast reader failed before the first chunk (%s); "
                "reading with the driver",
                dept.code,
                kind.value,
                exc,
            )
        else:
            yield first
            yield from frames
            return
    yield from driver_frames(source, sa.text(query), params, dept.chunk_size)


def _columnar_pages(
    dept: Department, source: Engine, url: str, select_sql: str, window: Window
) -> Iterator[pl.DataFrame]:
    """The window read by ConnectorX, one page (whole chunks, see `page_rows`) at a time.
    A page is taken whole as soon as it is read (ConnectorX has decoded it ahead anyway),
    and the next page's query starts then: the server reads it while this page is staged,
    instead of while the pipeline waits (holding the GIL)."""
    page = page_rows(dept, source, select_sql, window)

    def start(after: tuple[Any, Any] | None) -> ColumnarRead:
        query = page_query(select_sql, window, source, after=after, limit=page)
        return ColumnarRead(url, query, dept.chunk_size, source.url.password)

    read: ColumnarRead | None = start(None)
    while read is not None:
        frames = list(read)
        read = None
        if sum(frame.height for frame in frames) == page:
            last = frames[-1]
            read = start((last[SOURCE_UPDATED_AT][-1], last[SOURCE_KEY][-1]))
        while frames:
            yield frames.pop(0)  # a staged chunk's memory goes as the next is taken


# Chunks per page when the server reads a page in order from an index: as fast as larger
# pages, and memory stays that of a few chunks (docs/benchmarks.md).
INDEXED_PAGE_CHUNKS = 2


def page_query(
    select_sql: str,
    window: Window,
    source: Engine,
    *,
    after: tuple[Any, Any] | None,
    limit: int,
) -> str:
    """One keyset page of the window as SQL text for the columnar reader (ConnectorX takes
    no parameters: they are written in)."""
    query, params = window_query(select_sql, window, source.dialect.name, after=after, limit=limit)
    return inline(query, params, source.dialect)


def page_rows(dept: Department, source: Engine, select_sql: str, window: Window) -> int:
    """Rows per keyset page (whole chunks). `INDEXED_PAGE_CHUNKS` chunks where the
    server's plan for the window's first page of that size reads it in order from an
    index: a page then costs what it reads. Otherwise (the server sorts the window, or
    builds it in a temporary table, for every page) `dept.page_rows`: each page costs a
    scan of the window, and fewer pages cost fewer scans."""
    small = min(dept.page_rows, INDEXED_PAGE_CHUNKS * dept.chunk_size)
    first_page = page_query(select_sql, window, source, after=None, limit=small)
    rows = dept.page_rows if _sorts_each_page(source, first_page) else small
    return max(1, rows // dept.chunk_size) * dept.chunk_size


def _sorts_each_page(source: Engine, page_query: str) -> bool:
    """Whether the server's plan for a page sorts the window (PostgreSQL: a Sort node) or
    sorts or materialises it (MySQL/MariaDB: filesort, temporary); a plan it does not give
    (a privilege, say) counts as sorting."""
    try:
        with source.connect() as conn:
            # The driver's own cursor, without parameters: a % in the SQL stays itself.
            cursor = conn.connection.dbapi_connection.cursor()
            try:
                cursor.execute(f"EXPLAIN {page_query}")
                names = [column[0] for column in cursor.description]
                plan = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            finally:
                cursor.close()
    except (sa.exc.SQLAlchemyError, source.dialect.loaded_dbapi.Error) as exc:
        log.info("no plan for the page query (%s): pages sized for a sort", type(exc).__name__)
        return True
    if not plan:
        return True
    if source.dialect.name == "postgresql":  # one line of text per plan node
        return any("Sort" in str(line) for row in plan for line in row.values())
    extras = " ".join(str(row.get("Extra") or "") for row in plan).lower()
    return "filesort" in extras or "temporary" in extras


# What reading a department's database can raise: the driver's errors, and text that is
# not in the encoding the connection decodes it with.
SOURCE_ERRORS = (sa.exc.SQLAlchemyError, UnicodeError, ColumnarReadError)


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
        normaliser: Normaliser,
        logical_date: datetime,
        binder: Binder,
    ) -> None:
        self.dept, self.kind, self.normaliser = dept, kind, normaliser
        self.logical_date = logical_date
        self.binder = binder
        self.known = field_map(kind)
        self.keys = key_fields(kind)
        self.id_prefix = record_id(dept.code, kind, "")
        self.timezone = (normaliser.settings or Settings()).timezone

    def plan(
        self,
        conn: Connection,
        frame: pl.DataFrame,
        result: ExtractResult,
        uncommitted: Mapping[str, str] | None = None,
    ) -> PlannedChunk:
        """What staging one chunk takes: its new and changed rows, normalised and rendered.
        `uncommitted` holds the fingerprints of records written by chunks still being
        committed (by the writer thread), which the look-up in `conn` may not see yet."""
        planned = PlannedChunk()
        usable = self._usable(naive_local(frame, self.timezone), result)
        if not usable.height:
            return planned
        planned.newest = usable[_UPDATED].max()
        ids = usable[_RECORD_ID].to_list()
        stored = stored_fingerprints(conn, ids)
        if uncommitted:
            stored.update((rid, uncommitted[rid]) for rid in ids if rid in uncommitted)
        fingerprints = self._fingerprints(usable)
        differs = [stored.get(rid) != fp for rid, fp in zip(ids, fingerprints, strict=True)]
        todo = usable.with_columns(pl.Series(_FINGERPRINT, fingerprints)).filter(pl.Series(differs))
        result.unchanged += usable.height - todo.height
        if not todo.height:
            return planned
        planned.record_ids = todo[_RECORD_ID].to_list()
        planned.fingerprints = todo[_FINGERPRINT].to_list()
        update = pl.Series([rid in stored for rid in planned.record_ids], dtype=pl.Boolean)
        staged = self._render(todo)
        constants = {
            "department": self.dept.code,
            "kind": self.kind.value,
            "last_extracted_for": self.logical_date,
            "updated_at": utcnow(),
        }
        planned.rows = StagedRows(staged.filter(~update), staged.filter(update), constants)
        changed = int(update.sum())
        result.new += todo.height - changed
        result.changed += changed
        return planned

    def _usable(self, frame: pl.DataFrame, result: ExtractResult) -> pl.DataFrame:
        """The chunk with each row's record id and update time, without the rows lacking
        either (logged and counted as skipped); one row per record id, the last winning."""
        height = frame.height
        keys = (
            text_column(frame[SOURCE_KEY])
            if SOURCE_KEY in frame.columns
            else nulls(height, pl.String)
        )
        updated = (
            _update_times(frame[SOURCE_UPDATED_AT])
            if SOURCE_UPDATED_AT in frame.columns
            else nulls(height, pl.Datetime("us"))
        )
        frame = frame.with_columns(
            keys.alias(_KEY), (self.id_prefix + keys).alias(_RECORD_ID), updated.alias(_UPDATED)
        )
        bad = (keys.is_null() | (keys == "") | updated.is_null()).fill_null(True)
        if bad.any():
            for source_key in (
                frame[SOURCE_KEY].filter(bad).to_list()
                if SOURCE_KEY in frame.columns
                else [None] * int(bad.sum())
            ):
                result.skipped.append(str(source_key))
                log.warning(
                    "department %s %s: row without %s or a readable %s skipped (source key %r)",
                    self.dept.code,
                    self.kind.value,
                    SOURCE_KEY,
                    SOURCE_UPDATED_AT,
                    source_key,
                )
            frame = frame.filter(~bad)
        if frame[_RECORD_ID].is_unique().all():  # the usual case: no copy of the chunk
            return frame
        return frame.unique(subset=_RECORD_ID, keep="last", maintain_order=True)

    def _fingerprints(self, frame: pl.DataFrame) -> list[str]:
        """What the source sent (canonical columns + publication flag), hashed: a change
        at the source changes it. Polars hashes each row's values (their types and
        nulls included) with two seeds: 128 bits.

        Only ever compared with the fingerprint the previous pull stored, to skip
        normalising unchanged rows: Polars' hash may differ in another Polars version,
        which costs one pull that normalises every row again and changes nothing (the
        content hash, what targets receive, is SHA-256 of the canonical payload)."""
        names = sorted(c for c in frame.columns if c in self.known) + (
            [PUBLIC_CLEARED] if PUBLIC_CLEARED in frame.columns else []
        )
        # Columns of Python objects (mixed types) as text; every other type as it is.
        columns = frame.select(
            text_column(frame[name], repr_objects=True)
            if frame[name].dtype in (pl.Object, pl.Null)
            else frame[name]
            for name in names
        )
        if not columns.width:
            columns = pl.DataFrame({"none": pl.repeat("", frame.height, eager=True)})
        first, second = (columns.hash_rows(seed=seed).cast(pl.String) for seed in _SEEDS)
        return (first + "-" + second).to_list()

    def _render(self, todo: pl.DataFrame) -> pl.DataFrame:
        """The staged_record values of a chunk's new and changed records that vary by
        record (`VARYING_COLUMNS` but the content hash, made as they are written)."""
        normalised = normalise_frame(self.normaliser, todo.drop(_INTERNAL))
        values = normalised.values
        payloads = payload_json(values)
        default = self.dept.public_cleared_default
        cleared = (
            [_truthy(v, default) for v in todo[PUBLIC_CLEARED].to_list()]
            if PUBLIC_CLEARED in todo.columns
            else [default] * todo.height
        )
        problems = pl.Series(["[]"] * todo.height, dtype=pl.String)
        if normalised.problems:
            at = sorted(normalised.problems)
            problems = problems.scatter(at, [canonical_json(normalised.problems[i]) for i in at])
        bind = self.binder
        decision = values[self.keys.decision_number]
        authority = values[self.keys.authority_code]
        return pl.DataFrame(
            {
                "record_id": todo[_RECORD_ID],
                "source_key": todo[_KEY].str.slice(0, 200),
                "business_key": decision.cast(pl.String).str.slice(0, 200),
                "authority_code": authority.cast(pl.String).str.slice(0, 64),
                "payload": payloads,
                "raw_hash": todo[_FINGERPRINT],
                "notes": normalised.notes_json,
                "problems": problems,
                "public_cleared": [bind.flag(c) for c in cleared],
                "source_updated_at": bind.times(todo[_UPDATED]),
            },
            strict=False,
        )


# Columns a chunk's frame gains while it is planned.
_KEY, _RECORD_ID, _UPDATED, _FINGERPRINT = "__key", "__record_id", "__updated", "__fingerprint"
_INTERNAL = [_KEY, _RECORD_ID, _UPDATED, _FINGERPRINT]
_SEEDS = (0x63726564, 0x73796E63)  # fixed: fingerprints are compared across runs


def _update_times(column: pl.Series) -> pl.Series:
    """The update-time column as timestamps (None where it cannot be read)."""
    if column.dtype == pl.Datetime:
        return column.cast(pl.Datetime("us"))
    if column.dtype == pl.Date:
        return column.cast(pl.Datetime("us"))
    return pl.Series([as_datetime(v) for v in column.to_list()], dtype=pl.Datetime("us"))


@dataclass
class PlannedChunk:
    """One chunk's new and changed records: their staged_record rows (`write_rows`
    writes them, here or in the writer thread) and what the extraction keeps of them."""

    newest: datetime | None = None  # the newest update time among the chunk's rows
    record_ids: list[str] = field(default_factory=list)
    fingerprints: list[str] = field(default_factory=list)
    rows: StagedRows = field(default_factory=StagedRows)

    @property
    def written(self) -> dict[str, str]:
        """The fingerprints this chunk stores, by record id."""
        return dict(zip(self.record_ids, self.fingerprints, strict=True))


def stored_fingerprints(conn: Connection, record_ids: Sequence[str]) -> dict[str, str]:
    """raw_hash of the staged records among `record_ids` (primary-key look-ups; plain
    driver SQL, as SQLAlchemy's expanding IN cost more than the look-up itself)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    found: dict[str, str] = {}
    for start in range(0, len(record_ids), _IN_BATCH):
        batch = tuple(record_ids[start : start + _IN_BATCH])
        found.update(
            conn.exec_driver_sql(
                "SELECT record_id, raw_hash FROM staged_record "
                f"WHERE record_id IN ({', '.join([mark] * len(batch))})",
                batch,
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


# Chunks after the first are committed by a writer thread (see staging/writer.py) while
# the next is read and prepared; False keeps every write in the caller's thread.
WRITER_THREAD = True


def _writer_for(store: Engine) -> StagingWriter | None:
    """A writer thread on the same store, where a second connection can reach it (not an
    in-memory SQLite database)."""
    url = store.url
    in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
    if not WRITER_THREAD or in_memory:
        return None
    return StagingWriter(store, write_rows)


def stage_rows(
    dept: Department,
    kind: Kind,
    frames: Iterator[pl.DataFrame],
    store: Engine,
    normaliser: Normaliser,
    logical_date: datetime,
    result: ExtractResult,
) -> datetime | None:
    """Stage the source's chunks (`frames`: see source_frames.py), one transaction each;
    counts go to `result`. Returns the newest update time seen, once every chunk is
    committed.

    The first chunk is staged here; later ones (a large pull) are planned here and
    committed by a writer thread, one chunk behind, in order."""
    stager = _ChunkStager(dept, kind, normaliser, logical_date, Binder(store.dialect))
    newest: datetime | None = None
    writer: StagingWriter | None = None
    uncommitted: dict[int, dict[str, str]] = {}  # chunk number → fingerprints it writes
    try:
        for chunk_no, rows in enumerate(_source_chunks(frames, dept, kind), start=1):
            if chunk_no == 2:  # a pull of more than one chunk: commit from a writer thread
                writer = _writer_for(store)
            with collector_paused():
                if writer is None:
                    with store.begin() as conn:
                        planned = stager.plan(conn, rows, result)
                        write_rows(conn, planned.rows)
                else:
                    committed = writer.committed()
                    for number in [n for n in uncommitted if n <= committed]:
                        del uncommitted[number]
                    with store.connect() as conn:
                        planned = stager.plan(conn, rows, result, _merged(uncommitted))
                    if planned.record_ids:
                        uncommitted[writer.submit(planned.rows)] = planned.written
            release_free_memory()
            if planned.newest is not None and (newest is None or planned.newest > newest):
                newest = planned.newest
            result.fetched += rows.height
            log.info(
                "department %s %s: chunk %d %s (%d rows; %d so far: %d new, %d changed)",
                dept.code,
                kind.value,
                chunk_no,
                "staged" if writer is None else "sent to the writer",
                rows.height,
                result.fetched,
                result.new,
                result.changed,
            )
        if writer is not None:
            writer.finish()  # every chunk committed before the caller moves the watermark
    finally:
        frames.close()  # a staging failure must not leave the source cursor open
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
    frames = window_frames(dept, kind, source, select_sql, window)
    newest = stage_rows(dept, kind, frames, store, normaliser, logical_date, result)
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
