"""Writing a chunk's staged_record rows, content hashes made: the new records with one
executemany (one COPY on PostgreSQL), the changed ones with another, in plain driver SQL
with values bound as the store keeps them (SQLAlchemy's per-row type processing cost more
than the insert itself), in the extraction's thread for a first chunk and in the staging
writer's (`staging/writer.py`) for the rest."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from credit_sync.source_frames import sql_literal
from credit_sync.staging.tables import staged_record


@dataclass
class StagedRows:
    """One chunk's staged_record values: of its new records and of its changed ones (a
    frame each, of the `VARYING_COLUMNS` but the content hash, which `write_rows` makes),
    and the values every row shares, by column (department, kind, run times)."""

    inserts: pl.DataFrame = field(default_factory=pl.DataFrame)
    updates: pl.DataFrame = field(default_factory=pl.DataFrame)
    constants: dict[str, Any] = field(default_factory=dict)


def content_hashes(payloads: pl.Series, cleared: Sequence[bool]) -> list[str]:
    """Each record's content hash from its payload (compact JSON text): SHA-256 of
    `[payload, cleared]` in compact JSON, exactly what `stable_hash` would hash, fed to the
    hash in parts (no copy of the payload is made to hash it)."""
    opened = hashlib.sha256(b"[")
    closings = {True: b",true]", False: b",false]"}
    hashes = []
    for payload, flag in zip(payloads.cast(pl.Binary).to_list(), cleared, strict=True):
        digest = opened.copy()
        digest.update(payload)
        digest.update(closings[flag])
        hashes.append(digest.hexdigest())
    return hashes


def write_rows(conn: Connection, rows: StagedRows) -> None:
    """Write a chunk's rows in the caller's transaction. Their content hashes and the
    parameters are made here: in the writer thread when there is one, as the extraction
    thread, which plans the next chunk meanwhile, is a pull's critical path."""
    shared = rows.constants
    if rows.inserts.height:
        first = {
            "first_extracted_for": shared["last_extracted_for"],
            "created_at": shared["updated_at"],
            "late": False,
        }
        inserts = _hashed(rows.inserts)
        if conn.dialect.driver == "psycopg2":
            _copy_in(conn, inserts, shared | first)
        else:
            _executemany(conn, True, shared | first, _parameters(inserts, conn.dialect))
    if rows.updates.height:
        _executemany(conn, False, shared, _parameters(_hashed(rows.updates), conn.dialect))


def _hashed(staged: pl.DataFrame) -> pl.DataFrame:
    """`staged` with each record's content hash (its flag is in bound form: 0/1 or bool)."""
    cleared = staged["public_cleared"].cast(pl.Boolean).to_list()
    return staged.with_columns(
        pl.Series("content_hash", content_hashes(staged["payload"], cleared))
    )


def _copy_in(conn: Connection, staged: pl.DataFrame, constants: dict[str, Any]) -> None:
    """New records into PostgreSQL staging by one COPY, as CSV written by Polars: psycopg2's
    `execute_values` quoted every value in Python, which cost the pull about 30 µs of CPU
    a row (docs/benchmarks.md). A failing row fails the COPY; the caller rolls back the
    chunk."""
    frame = staged.select(VARYING_COLUMNS).with_columns(
        # Wall-clock time, as the store keeps it (a time zone's offset is not stored).
        pl.lit(value.replace(tzinfo=None) if isinstance(value, datetime) else value).alias(name)
        for name, value in constants.items()
    )
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.copy_expert(
            f"COPY staged_record ({', '.join(frame.columns)}) FROM STDIN WITH (FORMAT csv)",
            _CsvParts(frame),
        )
    finally:
        cursor.close()


class _CsvParts:
    """A frame as CSV for COPY, written a part at a time as psycopg2 reads it (a chunk's
    whole CSV held tens of MB more at once). NULL is an unquoted empty field, the empty
    text a quoted one."""

    ROWS = 1000

    def __init__(self, frame: pl.DataFrame) -> None:
        self._frame, self._at = frame, 0

    def read(self, size: int = -1) -> bytes:
        """The next part, whatever `size` asks (psycopg2 sends each part as it comes)."""
        part = self._frame.slice(self._at, self.ROWS)
        self._at += self.ROWS
        return part.write_csv(include_header=False).encode() if part.height else b""


def _parameters(staged: pl.DataFrame, dialect: sa.Dialect) -> list[list]:
    """A rendered chunk's `VARYING_COLUMNS`, each as a list of values as they are bound."""
    as_bytes = _json_as_bytes(dialect)
    return [
        _utf8_buffers(staged[name]) if as_bytes and name in JSON_COLUMNS else staged[name].to_list()
        for name in VARYING_COLUMNS
    ]


def _utf8_buffers(values: pl.Series) -> list[bytearray | None]:
    """Text values as their UTF-8 bytes, in bytearrays: Python's sqlite3 binds a bytearray
    at once, while a bytes value is first looked up among its adapters, which cost more
    than the copy into a bytearray (docs/benchmarks.md)."""
    encoded = values.cast(pl.Binary).to_list()
    if values.null_count():
        return [None if value is None else bytearray(value) for value in encoded]
    return list(map(bytearray, encoded))


class Binder:
    """Values as the staging dialect stores them, prepared column-wise or once per chunk
    instead of by SQLAlchemy's per-row type processing (which cost more than the insert)."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self._time = _processor(dialect, "created_at")
        self._flag = _processor(dialect, "public_cleared")

    def time(self, value: datetime) -> Any:
        return self._time(value) if self._time else value

    def times(self, values: pl.Series) -> pl.Series:
        """`time` of each value: SQLite keeps SQLAlchemy's text form (a test holds the two
        equal), other stores take the datetimes."""
        if self._time is None:
            return values
        return values.dt.strftime(_SQLITE_DATETIME)

    def flag(self, value: bool) -> Any:
        return self._flag(value) if self._flag else value


def _json_as_bytes(dialect: sa.Dialect) -> bool:
    """Whether JSON columns are bound as their UTF-8 bytes, which the INSERT casts back to
    text (`JSON_COLUMNS`): on SQLite, where a kilobyte of Chinese text bound as a Python
    str costs a decode out of Polars and an encode into SQLite, and twice the memory."""
    return dialect.name == "sqlite"


_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S%.6f"  # SQLAlchemy's SQLite DATETIME storage format

# Per record, the values that vary; a chunk's constants (department, kind, run times)
# are bound once per statement (SQLite) or written into it, not bound in every row.
VARYING_COLUMNS = (
    "record_id",
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
)
JSON_COLUMNS = ("payload", "notes", "problems")


def _executemany(
    conn: Connection, inserting: bool, constants: dict[str, Any], columns: list[list]
) -> None:
    """One executemany of the rows in `columns` (`VARYING_COLUMNS`) with the chunk's
    `constants` (column → value): new records (`inserting`) or changed ones (by record id;
    deleted_at cleared). Plain driver SQL: on SQLite one executemany, on psycopg2 its
    `execute_batch` (many statements per round trip; its new records go by `_copy_in`)."""
    if not columns[0]:
        return
    if not inserting:  # the record id (first) goes last, to the WHERE
        columns = [*columns[1:], columns[0]]
    if conn.dialect.name == "sqlite":
        _sqlite_executemany(conn, inserting, constants, columns)
        return
    # Constants written into the SQL once instead of bound in every row.
    literals = {column: sql_literal(value, conn.dialect) for column, value in constants.items()}
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = _statement(inserting, [[mark] * len(VARYING_COLUMNS)], literals)
    rows = list(zip(*columns, strict=True))
    if conn.dialect.driver == "psycopg2":
        from psycopg2.extras import execute_batch

        cursor = conn.connection.dbapi_connection.cursor()
        try:
            execute_batch(cursor, sql, rows, page_size=500)
        finally:
            cursor.close()
        return
    conn.exec_driver_sql(sql, rows)


def _sqlite_executemany(
    conn: Connection, inserting: bool, constants: dict[str, Any], columns: list[list]
) -> None:
    """`_executemany` on SQLite: every value a numbered parameter, the constants after the
    rows' values (bound once per statement), so that a statement's text is the same for
    every chunk. The sqlite3 module keeps each connection's last 128 statements prepared;
    constants written into the text made every chunk's statements new ones, and RSS grew
    by each one's 0.2 MB program over a pull's first 128 chunks (docs/benchmarks.md)."""
    count, width = len(columns[0]), len(columns)
    shared = tuple(_bound(conn.dialect, name, value) for name, value in constants.items())
    names = VARYING_COLUMNS if inserting else (*VARYING_COLUMNS[1:], VARYING_COLUMNS[0])

    def statement(rows: int) -> str:
        marks = [
            [_sqlite_mark(name, row * width + i + 1) for i, name in enumerate(names)]
            for row in range(rows)
        ]
        after = rows * width  # the constants' parameters follow the rows'
        shared_marks = {name: f"?{after + j + 1}" for j, name in enumerate(constants)}
        return _statement(inserting, marks, shared_marks, or_fail=True)

    whole = 0
    if inserting and count >= _ROWS_PER_INSERT:
        # Many rows per INSERT: the sqlite3 module gives up and takes back the GIL once per
        # statement it runs, and the extraction's thread wants it meanwhile. Each
        # statement's parameters are taken from the columns directly, row after row.
        whole = count - count % _ROWS_PER_INSERT
        conn.exec_driver_sql(
            statement(_ROWS_PER_INSERT),
            [
                (
                    *chain.from_iterable(
                        zip(*(c[i : i + _ROWS_PER_INSERT] for c in columns), strict=True)
                    ),
                    *shared,
                )
                for i in range(0, whole, _ROWS_PER_INSERT)
            ],
        )
    if whole < count:
        rest = zip(*(c[whole:] for c in columns), strict=True)
        conn.exec_driver_sql(statement(1), [(*row, *shared) for row in rest])


def _statement(
    inserting: bool, rows: list[list[str]], constants: dict[str, str], *, or_fail: bool = False
) -> str:
    """The INSERT of `rows` (each its values' SQL expressions, in `VARYING_COLUMNS` order)
    or the UPDATE of one row (its record id's expression last), with `constants` (column →
    SQL expression)."""
    if inserting:
        names = ", ".join((*VARYING_COLUMNS, *constants))
        values = ", ".join(f"({', '.join([*row, *constants.values()])})" for row in rows)
        # OR FAIL on SQLite: a failing row fails the statement and the caller rolls back
        # the whole chunk anyway; the default (ABORT) made every many-row INSERT copy each
        # page it touched to a statement journal first, in case it had to undo itself.
        conflict = "OR FAIL " if or_fail else ""
        return f"INSERT {conflict}INTO staged_record ({names}) VALUES {values}"
    (row,) = rows
    assignments = ", ".join(
        [f"{name} = {mark}" for name, mark in zip(VARYING_COLUMNS[1:], row[:-1], strict=True)]
        + [f"{name} = {value}" for name, value in constants.items()]
    )
    return f"UPDATE staged_record SET {assignments}, deleted_at = NULL WHERE record_id = {row[-1]}"


def _sqlite_mark(name: str, number: int) -> str:
    """Parameter `number` as column `name` takes it (JSON columns arrive as UTF-8 bytes)."""
    return f"CAST(?{number} AS TEXT)" if name in JSON_COLUMNS else f"?{number}"


def _bound(dialect: sa.Dialect, name: str, value: Any) -> Any:
    """`value` as staged_record's column `name` is bound on `dialect` by SQLAlchemy."""
    process = _processor(dialect, name)
    return process(value) if process else value


def _processor(dialect: sa.Dialect, name: str) -> Callable[[Any], Any] | None:
    """SQLAlchemy's bind processor of staged_record's column `name` (None: as it is)."""
    return staged_record.c[name].type.dialect_impl(dialect).bind_processor(dialect)


# 557 parameters with a chunk's 7 constants: under SQLite's oldest limit of 999.
_ROWS_PER_INSERT = 50
