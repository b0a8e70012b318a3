"""Reading a PostgreSQL query through `COPY (query) TO STDOUT` as Polars frames.

Why COPY: it streams one result, and a bounded queue between the thread that receives it
and the caller holds the server back (through the socket) while staging catches up. So a
window of any size is one query, one scan and one sort on the server, and memory stays a
few chunks. (ConnectorX decodes into an unbounded queue: it needed keyset pages, and each
page made the server scan and sort the window again, ten times at a million rows.)

psycopg2 hands each row of a COPY to the sink as one bytes object (PostgreSQL sends one
CopyData message per row), so chunks are cut between rows without parsing. Polars parses
a chunk's CSV, and each column is turned from the text PostgreSQL writes into the type
the driver would give, by the column's type. Types without an exact conversion here
(json, arrays, intervals, times, bytea, ...) are not read by COPY: the reader refuses the
query before any row (`ColumnarReadError`) and the driver reads the window.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import polars as pl
from sqlalchemy.engine import Engine

from credit_sync.source_frames import (
    ColumnarReadError,
    canonical_name,
    reader_message,
    scrubbed,
)

# PostgreSQL type OIDs read by COPY, by the Polars type they become.
_INTEGER = {20, 21, 23, 26}  # int8, int2, int4, oid
_FLOAT = {700, 701}  # float4, float8
_TEXT = {18, 19, 25, 705, 1042, 1043, 1700, 2950}  # "char", name, text, unknown, bpchar,
# varchar, numeric (its exact text: amounts are read from it as from a Decimal), uuid
_BOOLEAN, _DATE, _TIMESTAMP, _TIMESTAMPTZ = 16, 1082, 1114, 1184
_TYPE_NAMES = {114: "json", 3802: "jsonb", 17: "bytea", 1083: "time", 1266: "timetz",
               1186: "interval", 790: "money"}  # fmt: skip

# The session settings the conversions rely on, for the COPY's transaction only: UTF-8
# whatever the database's encoding, ISO dates, timestamptz written in UTC.
_SESSION = (
    "SET LOCAL client_encoding TO 'UTF8'; SET LOCAL DateStyle TO 'ISO, YMD'; "
    "SET LOCAL TimeZone TO 'UTC'"
)
_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S%.f"

# Chunks received and not yet taken by the caller: with the chunk being filled and the
# one the caller holds, at most three chunks of the COPY are in memory.
_QUEUED_CHUNKS = 1
_END = None


def copy_serves(source: Engine) -> bool:
    """Whether the COPY reader reads this database: PostgreSQL (and Kingbase, which
    speaks its protocol) through psycopg2."""
    return source.dialect.name == "postgresql" and source.dialect.driver == "psycopg2"


def copy_frames(source: Engine, query: str, chunk_size: int) -> Iterator[pl.DataFrame]:
    """`query` (parameters written in) as frames of up to `chunk_size` rows, streamed by
    COPY from a connection of `source`. A connection that cannot be opened raises
    SQLAlchemy's error; a query COPY cannot run or read raises ColumnarReadError before
    the first frame."""
    connection = source.connect()  # a server it cannot reach: SQLAlchemy's error, as ever
    raw = connection.connection  # the driver's own connection, from the pool
    password = source.url.password
    receiver: _Receiver | None = None
    try:
        cursor = raw.cursor()
        cursor.execute(_SESSION)
        cursor.execute(f"SELECT * FROM ({query}) copied LIMIT 0")  # names and types only
        columns = [(canonical_name(d.name), d.type_code) for d in cursor.description]
        _refuse_unsupported(columns)
        copy_sql = f"COPY ({query}) TO STDOUT WITH (FORMAT csv)"
        receiver = _Receiver(raw.dbapi_connection, copy_sql, chunk_size, columns)
        while (frame := receiver.next_chunk()) is not _END:
            yield frame
    except ColumnarReadError:
        raise
    except Exception as exc:  # the driver's errors, and psycopg2's own on a lost connection
        raise ColumnarReadError(scrubbed(reader_message(exc), password)) from None
    finally:
        if receiver is not None:
            receiver.stop()
            if not receiver.completed:
                connection.invalidate()  # a COPY stopped midway leaves it unusable
        connection.close()  # back to the pool, rolled back: the SET LOCAL settings end


def _refuse_unsupported(columns: list[tuple[str, int]]) -> None:
    read = _INTEGER | _FLOAT | _TEXT | {_BOOLEAN, _DATE, _TIMESTAMP, _TIMESTAMPTZ}
    unsupported = [
        f"{name} ({_TYPE_NAMES.get(oid, f'type {oid}')})"
        for name, oid in columns
        if oid not in read
    ]
    if unsupported:
        raise ColumnarReadError(f"COPY does not read column {', '.join(unsupported)}")


def _frame(data: bytes, columns: list[tuple[str, int]]) -> pl.DataFrame:
    """One chunk of COPY's CSV, each column as the driver would type it (an unquoted empty
    field is NULL, a quoted one the empty string)."""
    try:
        text = pl.read_csv(
            data,
            has_header=False,
            new_columns=[name for name, _ in columns],
            infer_schema=False,
            quote_char='"',
        )
    except pl.exceptions.PolarsError as exc:
        raise ColumnarReadError(f"COPY output could not be read: {reader_message(exc)}") from None
    return text.with_columns(_typed(pl.col(name), oid) for name, oid in columns)


def _typed(column: pl.Expr, oid: int) -> pl.Expr:
    if oid in _INTEGER:
        return column.cast(pl.Int64)
    if oid in _FLOAT:  # Infinity, -Infinity and NaN included
        return column.cast(pl.Float64)
    if oid == _BOOLEAN:
        return column == "t"
    if oid == _DATE:
        return column.str.to_date("%Y-%m-%d")
    if oid == _TIMESTAMP:
        return column.str.to_datetime(_TIMESTAMP_FORMAT, time_unit="us")
    if oid == _TIMESTAMPTZ:  # written in UTC (the session's time zone): "...+00"
        return (
            column.str.strip_suffix("+00")
            .str.to_datetime(_TIMESTAMP_FORMAT, time_unit="us")
            .dt.replace_time_zone("UTC")
        )
    return column


class _Stopped(Exception):
    """The caller stopped reading: the COPY is abandoned."""


class _Receiver:
    """A thread running the COPY: psycopg2 calls `write` once per row, and every
    `chunk_rows` rows the chunk is parsed (Polars, without the GIL: while the caller
    stages the previous one) and goes to a bounded queue, where the caller takes it. A
    full queue blocks the thread, and the server with it."""

    def __init__(
        self, connection: Any, copy_sql: str, chunk_rows: int, columns: list[tuple[str, int]]
    ) -> None:
        self._connection = connection
        self._rows: list[bytes] = []
        self._chunk_rows = chunk_rows
        self._columns = columns
        self._chunks: queue.Queue[pl.DataFrame | BaseException | None] = queue.Queue(_QUEUED_CHUNKS)
        self._stopping = threading.Event()
        self.completed = False  # the COPY ran to its end: the connection can be reused
        self._thread = threading.Thread(
            target=self._receive, args=(copy_sql,), name="credit-sync-copy", daemon=True
        )
        self._thread.start()

    def _receive(self, copy_sql: str) -> None:
        try:
            with self._connection.cursor() as cursor:
                cursor.copy_expert(copy_sql, self)
            self.completed = True
            if self._rows:
                self._hand_over(_frame(b"".join(self._rows), self._columns))
            self._hand_over(_END)
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the caller, which raises it
            try:
                self._hand_over(exc)
            except _Stopped:
                pass

    def write(self, row: bytes) -> None:
        rows = self._rows
        rows.append(row)
        if len(rows) >= self._chunk_rows:
            self._rows = []
            self._hand_over(_frame(b"".join(rows), self._columns))

    def _hand_over(self, item: pl.DataFrame | BaseException | None) -> None:
        while True:
            if self._stopping.is_set():
                raise _Stopped
            try:
                self._chunks.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def next_chunk(self) -> pl.DataFrame | None:
        item = self._chunks.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def stop(self) -> None:
        """End the thread, cancelling the query if it is still running (a caller that
        stops early must not wait for the server to send the rest)."""
        self._stopping.set()
        if not self.completed and self._thread.is_alive():
            self._connection.cancel()
        self._thread.join()
