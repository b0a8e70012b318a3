"""Reading a department's windowed query as Polars frames, one per chunk.

Two readers give the same frames (canonical column names, one column per result column)
as the COPY reader of `source_copy.py` (PostgreSQL through psycopg2, which takes
precedence):

- the columnar reader: ConnectorX runs the query and streams Arrow record batches, decoded
  in compiled code (MySQL, MariaDB; PostgreSQL through another driver);
- the driver reader: SQLAlchemy streams the driver's rows (server-side cursors), which
  become a frame column by column. Every other database, and any department configured
  with `reader: driver`.

A driver column whose values Polars cannot hold exactly (mixed types, Decimal, integers
beyond 64 bits, text with lone surrogates) stays a column of the Python objects, which
normalisation hands to the per-value path as they are.
"""

from __future__ import annotations

import ctypes
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credit_sync.schema import PUBLIC_CLEARED, SOURCE_KEY, SOURCE_UPDATED_AT

log = logging.getLogger(__name__)

# ConnectorX's scheme for each SQLAlchemy backend it reads, and the URL query options it
# understands; a URL with any other option is read by the driver.
_COLUMNAR_SCHEMES = {"postgresql": "postgresql", "mysql": "mysql"}
_COLUMNAR_OPTIONS = {"postgresql": {"sslmode"}, "mysql": {"charset"}}


def canonical_name(column: str) -> str:
    """A result column's name as the pipeline knows it (PostgreSQL lower-cases aliases)."""
    lower = column.lower()
    return lower if lower in (SOURCE_KEY, SOURCE_UPDATED_AT, PUBLIC_CLEARED) else column.upper()


def columnar_url(url: sa.URL) -> str | None:
    """The ConnectorX URL of a department's database, or None when the columnar reader
    does not serve it (the driver reader does)."""
    scheme = _COLUMNAR_SCHEMES.get(url.get_backend_name())
    if scheme is None or set(url.query) - _COLUMNAR_OPTIONS[scheme]:
        return None
    query = {k: v for k, v in url.query.items() if k != "charset"}  # ConnectorX: utf8mb4
    return sa.URL.create(
        scheme,
        username=url.username,
        password=url.password,
        host=url.host,
        port=url.port,
        database=url.database,
        query=query,
    ).render_as_string(hide_password=False)


def rows_frame(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> pl.DataFrame:
    """A chunk of driver rows as a frame; a column Polars cannot hold exactly stays the
    driver's Python objects."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return pl.DataFrame(
        [_series(name, list(values)) for name, values in zip(names, columns, strict=True)]
    )


def _series(name: str, values: list[Any]) -> pl.Series:
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if len(kinds) <= 1 and kinds <= _EXACT:
        try:
            series = pl.Series(name, values, strict=True)
        except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
            pass
        else:
            if series.dtype != pl.Object and series.dtype != pl.Null:
                return series
            if series.dtype == pl.Null:
                return series.cast(pl.String)
    return pl.Series(name, values, dtype=pl.Object)


# Python types a Polars column holds and gives back unchanged, one type per column:
# Decimal is not among them (Polars gives every value of a column the same scale).
_EXACT = {str, int, float, bool, date, datetime, bytes}


def inline(query: str, params: dict[str, Any], dialect: sa.Dialect) -> str:
    """`query` with its :name parameters written in as literals of `dialect` (ConnectorX
    takes no parameters; the values are window bounds and a page's last key)."""
    for name in sorted(params, key=len, reverse=True):  # :after_at before :after
        query = query.replace(f":{name}", sql_literal(params[name], dialect))
    return query


def sql_literal(value: Any, dialect: sa.Dialect) -> str:
    """`value` written as an SQL literal of `dialect` (quoted and escaped by SQLAlchemy)."""
    # A datetime subclass (Airflow's pendulum times) is not looked up by its type.
    kind = sa.DateTime(timezone=value.tzinfo is not None) if isinstance(value, datetime) else None
    literal = sa.literal(value, type_=kind)
    return str(literal.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def scrubbed(message: str, password: str | None) -> str:
    """A reader's error message without the password, whatever the reader printed."""
    if password:
        message = message.replace(password, "***")
    return _PASSWORD_IN_URL.sub(r"\1***@", message)


class ColumnarReadError(RuntimeError):
    """A compiled reader (ConnectorX, COPY) could not run the query or decode its rows
    (the message is the reader's own, without the password)."""


class ColumnarRead:
    """A query started in ConnectorX's own threads at once (it runs while the caller does
    other work); iterating gives its rows as frames of up to `chunk_size` rows. It reads
    ahead without limit: callers bound memory by the query (extraction's pages).

    ConnectorX's Python wrapper hands record batches over through pyarrow, and pyarrow's
    libstdc++ TLS use stops MySQL Connector/Python's C extension from loading in the same
    process. So its Rust reader is called directly, and each column is handed to Polars
    through the Arrow PyCapsule interface (Polars moves the data out; the struct stays
    ConnectorX's to free). Waiting for a batch holds the GIL."""

    def __init__(self, url: str, query: str, chunk_size: int, password: str | None = None):
        from connectorx.connectorx import read_sql

        self._password = password
        with self._errors_named():
            self._batches = read_sql(
                url,
                "arrow_stream",
                queries=[query],
                protocol=None,
                partition_query=None,
                pre_execution_queries=None,
                batch_size=chunk_size,
            )

    def __iter__(self) -> Iterator[pl.DataFrame]:
        with self._errors_named():
            names, _ = self._batches.schema_ptr()
            for batch in self._batches:
                columns = batch.to_ptrs()
                frame = pl.DataFrame(
                    [
                        pl.Series(_ArrowColumn(array, schema)).alias(name)
                        for name, (array, schema) in zip(names, columns, strict=True)
                    ]
                )
                del batch, columns
                if frame.height:
                    yield _canonical(frame)

    @contextmanager
    def _errors_named(self) -> Iterator[None]:
        try:
            yield
        except BaseException as exc:
            # ConnectorX reports a failure as an exception or as a Rust panic
            # (PanicException derives from BaseException); an interrupt or a generator's
            # close is no failure.
            if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
                raise
            raise ColumnarReadError(scrubbed(reader_message(exc), self._password)) from None


def reader_message(exc: BaseException) -> str:
    """A reader's error in one short line: the database's own message where ConnectorX
    quotes one, else the first line (a driver's message)."""
    text = str(exc).strip()
    quoted = re.search(r'message: "((?:[^"\\]|\\.)*)"', text)
    if quoted:
        return quoted.group(1).replace('\\"', '"')
    return (text.splitlines() or [type(exc).__name__])[0][:500]


_capsule = ctypes.pythonapi.PyCapsule_New
_capsule.restype = ctypes.py_object
_capsule.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]


class _ArrowColumn:
    """One column of a ConnectorX record batch (raw ArrowArray/ArrowSchema pointers) as
    an object of the Arrow PyCapsule interface. The capsules have no destructor: the
    structs belong to ConnectorX, and Polars moves the array's contents out."""

    __slots__ = ("array", "schema")

    def __init__(self, array: int, schema: int) -> None:
        self.array, self.schema = array, schema

    def __arrow_c_array__(self, requested_schema: object = None) -> tuple[object, object]:
        return _capsule(self.schema, b"arrow_schema", None), _capsule(
            self.array, b"arrow_array", None
        )


def driver_frames(
    source: Engine, query: sa.TextClause, params: dict[str, Any], chunk_size: int
) -> Iterator[pl.DataFrame]:
    """The query's rows as frames, read with a server-side cursor where the driver has
    one (psycopg2 named cursor, MySQL unbuffered): memory stays one chunk."""
    with source.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk_size).execute(
            query, params
        )
        names = [canonical_name(k) for k in result.keys()]
        for part in result.partitions(chunk_size):
            yield rows_frame(names, part)


def naive_local(frame: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """Time-zone-aware timestamps as naive local time in `timezone` (the county's), which
    is what windows, watermarks and dates mean."""
    aware = [
        pl.col(name).dt.convert_time_zone(timezone).dt.replace_time_zone(None)
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    ]
    return frame.with_columns(aware) if aware else frame


def text_column(column: pl.Series, repr_objects: bool = False) -> pl.Series:
    """A column's values as text (nulls stay null). Values held as Python objects (and
    bytes) are turned to text by Python: `str`, or with `repr_objects`, a NUL and their
    repr, so that the text of a non-text value never equals a text value."""
    if column.dtype == pl.String:
        return column
    if column.dtype == pl.Object or column.dtype == pl.Binary:
        render = _object_text if repr_objects else str
        return pl.Series(
            column.name,
            [None if v is None else v if type(v) is str else render(v) for v in column.to_list()],
            dtype=pl.String,
        )
    return column.cast(pl.String)


def _object_text(value: object) -> str:
    if isinstance(value, memoryview):  # PostgreSQL bytea: its repr is an address
        value = bytes(value)
    return f"\0{value!r}"


def _canonical(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.rename({name: canonical_name(name) for name in frame.columns})
