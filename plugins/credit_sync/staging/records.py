"""Writing a chunk's staged_record rows: the new records with one executemany, the
changed ones with another, in plain driver SQL with values bound as the store keeps them
(SQLAlchemy's per-row type processing cost more than the insert itself), in the
extraction's thread for a first chunk and in the staging writer's (`staging/writer.py`)
for the rest."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from credit_sync.source_frames import sql_literal
from credit_sync.staging.tables import staged_record

CLEARED = "__cleared"  # a rendered chunk's publication flag, for its content hash


@dataclass
class StagedRows:
    """One chunk's staged_record values: of its new records and of its changed ones (a
    frame each: the `VARYING_COLUMNS` but the content hash, plus `CLEARED`), and the
    values every row shares, by column (department, kind, run times)."""

    inserts: pl.DataFrame = field(default_factory=pl.DataFrame)
    updates: pl.DataFrame = field(default_factory=pl.DataFrame)
    constants: dict[str, Any] = field(default_factory=dict)


def content_hashes(payloads: Sequence[bytes], cleared: Sequence[bool]) -> list[str]:
    """Each record's content hash from its payload's UTF-8 bytes: SHA-256 of
    `[payload, cleared]` in compact JSON, exactly what `stable_hash` would hash, fed to the
    hash in parts (no copy of the payload is made to hash it)."""
    opened = hashlib.sha256(b"[")
    closings = {True: b",true]", False: b",false]"}
    hashes = []
    for payload, flag in zip(payloads, cleared, strict=True):
        digest = opened.copy()
        digest.update(payload)
        digest.update(closings[flag])
        hashes.append(digest.hexdigest())
    return hashes


def write_rows(conn: Connection, rows: StagedRows) -> None:
    """Write a chunk's rows in the caller's transaction. The content hashes and the
    parameter tuples are made here: in the writer thread when there is one, off the
    thread that reads and normalises the next chunk, the busier of the two."""
    shared = rows.constants
    if rows.inserts.height:
        first = {
            "first_extracted_for": shared["last_extracted_for"],
            "created_at": shared["updated_at"],
            "late": False,
        }
        _executemany(conn, True, shared | first, _parameters(rows.inserts, conn.dialect))
    if rows.updates.height:
        _executemany(conn, False, shared, _parameters(rows.updates, conn.dialect))


def _parameters(staged: pl.DataFrame, dialect: sa.Dialect) -> list[tuple]:
    """A rendered chunk's rows as `VARYING_COLUMNS` tuples, content hash included."""
    bind = Binder(dialect)
    payload_bytes = staged["payload"].cast(pl.Binary).to_list()
    values = {"content_hash": content_hashes(payload_bytes, staged[CLEARED].to_list())}
    if bind.json_as_bytes:
        values["payload"] = payload_bytes  # the bytes it is bound as, made once
    columns = [
        values[name]
        if name in values
        else (bind.json_text(staged[name]) if name in JSON_COLUMNS else staged[name]).to_list()
        for name in VARYING_COLUMNS
    ]
    return list(zip(*columns, strict=True))


class Binder:
    """Values as the staging dialect stores them, prepared column-wise or once per chunk
    instead of by SQLAlchemy's per-row type processing (which cost more than the insert)."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self.dialect = dialect
        self._time = staged_record.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
        self._flag = staged_record.c.public_cleared.type.dialect_impl(dialect).bind_processor(
            dialect
        )

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

    @property
    def json_as_bytes(self) -> bool:
        return _json_as_bytes(self.dialect)

    def json_text(self, values: pl.Series) -> pl.Series:
        """A JSON column's values as they are bound (`json_as_bytes`)."""
        return values.cast(pl.Binary) if self.json_as_bytes else values


def _json_as_bytes(dialect: sa.Dialect) -> bool:
    """Whether JSON columns are bound as their UTF-8 bytes, which the INSERT casts back to
    text (`JSON_COLUMNS`): on SQLite, where a kilobyte of Chinese text bound as a Python
    str costs a decode out of Polars and an encode into SQLite, and twice the memory."""
    return dialect.name == "sqlite"


_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S%.6f"  # SQLAlchemy's SQLite DATETIME storage format

# Per record, the values that vary; a chunk's constants (department, kind, run times)
# are written into the statement once instead of bound in every row.
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
    conn: Connection, inserting: bool, constants: dict[str, Any], rows: list[tuple]
) -> None:
    """One executemany of `rows` (tuples of `VARYING_COLUMNS`), with `constants` (column
    → value in storage form) in the SQL: new records (`inserting`) or changed ones (by
    record id; deleted_at cleared). Plain driver SQL: on SQLite one executemany, on
    psycopg2 its page-wise helpers (many rows per INSERT, many UPDATEs per round trip)."""
    if not rows:
        return
    literals = {column: sql_literal(value, conn.dialect) for column, value in constants.items()}
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    as_text = _json_as_bytes(conn.dialect)
    marks = {
        name: f"CAST({mark} AS TEXT)" if as_text and name in JSON_COLUMNS else mark
        for name in VARYING_COLUMNS
    }
    if inserting:
        columns = ", ".join((*VARYING_COLUMNS, *literals))
        values = ", ".join([*marks.values(), *literals.values()])
        sql = f"INSERT INTO staged_record ({columns}) VALUES ({values})"
    else:  # the record id (first) goes last, to the WHERE
        assignments = ", ".join(
            [f"{name} = {marks[name]}" for name in VARYING_COLUMNS[1:]]
            + [f"{name} = {value}" for name, value in literals.items()]
        )
        sql = f"UPDATE staged_record SET {assignments}, deleted_at = NULL WHERE record_id = {mark}"
        rows = [(*r[1:], r[0]) for r in rows]
    if conn.dialect.driver == "psycopg2":
        from psycopg2.extras import execute_batch, execute_values

        cursor = conn.connection.dbapi_connection.cursor()
        if inserting:
            head, _, template = sql.partition(" VALUES ")
            execute_values(cursor, f"{head} VALUES %s", rows, template=template, page_size=1000)
        else:
            execute_batch(cursor, sql, rows, page_size=500)
        cursor.close()
    else:
        if inserting and len(rows) >= _ROWS_PER_INSERT:
            # Many rows per INSERT: the sqlite3 module gives up and takes back the GIL
            # once per statement it runs, and the extraction's thread wants it meanwhile.
            head, _, template = sql.partition(" VALUES ")
            whole = len(rows) - len(rows) % _ROWS_PER_INSERT
            flat = list(chain.from_iterable(rows[:whole]))
            width = _ROWS_PER_INSERT * len(rows[0])
            conn.exec_driver_sql(
                f"{head} VALUES {', '.join([template] * _ROWS_PER_INSERT)}",
                [tuple(flat[i : i + width]) for i in range(0, len(flat), width)],
            )
            rows = rows[whole:]
        if rows:
            conn.exec_driver_sql(sql, rows)


_ROWS_PER_INSERT = 50  # 550 parameters: under SQLite's oldest limit of 999
