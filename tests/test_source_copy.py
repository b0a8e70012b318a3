"""The PostgreSQL COPY reader against the real server: every type it reads gives what the
driver gives, a type it does not read is refused before any row (and the driver reads the
window), the server is held back while the caller is busy, and a reader stopped early
neither waits for the rest nor leaves a connection behind."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import polars as pl
import pytest
import sqlalchemy as sa

from credit_sync.config import Department, KindSource
from credit_sync.engines import database_engine
from credit_sync.extraction import ExtractionError, extract
from credit_sync.normalise import Normaliser
from credit_sync.normalise_frame import normalise_frame
from credit_sync.schema import Kind
from credit_sync.source_copy import _Receiver, copy_frames
from credit_sync.source_frames import ColumnarReadError
from credit_sync.staging.store import open_store

TYPED = """CREATE TABLE typed (
    id integer, big bigint, small smallint, amount numeric(14, 2), ratio numeric,
    f8 double precision, f4 real, label text, name varchar(50), code char(4), flag boolean,
    day date, at timestamp, at_tz timestamptz, token uuid)"""
TEXTS = ["a,b", 'say "hi"', "two\nlines", "back\\slash", "", "  padded  ", "会宁县😀", "\t"]
VALUES = [
    (1, 2**62, -3, Decimal("1234.50"), Decimal("0.0000001"), math.inf, 1.5, TEXTS[0],
     "会宁", "AB", True, "2026-02-28", "2026-11-20 09:00:00", "2026-11-20 09:00:00+08",
     "6f1c0e1a-7d3b-4c1e-9a52-3f1b2c4d5e6f"),
    (2, -(2**63), 0, Decimal("-0.00"), Decimal("12345678901234567890.123456789"), -math.inf,
     -0.0, TEXTS[1], "", "X", False, "0001-01-01", "2026-11-20 09:00:00.123456",
     "1999-12-31 23:59:59.5-05", None),
    (3, None, None, None, None, math.nan, None, None, None, None, None, None, None, None, None),
] + [
    (4 + i, i, i, Decimal(i), Decimal("1e-3"), 0.1 * i, 0.25, text, text[:50], None, None,
     "9999-12-31", "2026-01-01 00:00:00", "2026-01-01 00:00:00+00", None)
    for i, text in enumerate(TEXTS[2:])
]  # fmt: skip


@pytest.fixture
def pg(pg_database: str) -> sa.Engine:
    engine = database_engine(pg_database, streaming=True)
    with engine.begin() as conn:
        conn.execute(sa.text(TYPED))
        conn.exec_driver_sql(
            f"INSERT INTO typed VALUES ({', '.join(['%s'] * len(VALUES[0]))})", VALUES
        )
    yield engine
    engine.dispose()


def _same(copied: object, driven: object) -> bool:
    if isinstance(driven, Decimal):  # COPY keeps numeric as its exact text
        return isinstance(copied, str) and Decimal(copied) == driven
    if isinstance(driven, UUID):  # the driver's object, turned to text by normalisation
        return copied == str(driven)
    if isinstance(driven, float) and math.isnan(driven):
        return isinstance(copied, float) and math.isnan(copied)
    if isinstance(driven, float):  # -0.0 == 0.0: compare the sign too
        return copied == driven and math.copysign(1, copied) == math.copysign(1, driven)
    return copied == driven and type(copied) is type(driven)


def test_every_type_copy_reads_gives_what_the_driver_gives(pg: sa.Engine) -> None:
    query = "SELECT * FROM typed ORDER BY id"
    frames = list(copy_frames(pg, query, chunk_size=4))
    assert [f.height for f in frames] == [4, 4, 1]  # chunks of 4, cut between rows
    copied = pl.concat(frames)
    with pg.connect() as conn:
        result = conn.execute(sa.text(query))
        names = list(result.keys())
        driven = result.all()
    assert copied.columns == [n.upper() for n in names]  # canonical names
    assert copied.schema["AT_TZ"] == pl.Datetime("us", "UTC")
    for row, expected in zip(copied.rows(), driven, strict=True):
        for name, a, b in zip(names, row, expected, strict=True):
            assert _same(a, b), (name, a, b)
    # NULL and the empty string stay apart, and text comes through byte for byte.
    assert copied["LABEL"].to_list()[:3] == [TEXTS[0], TEXTS[1], None]
    assert copied.filter(pl.col("LABEL") == "").height == 1


def test_amounts_read_from_numeric_text_normalise_as_from_the_driver(pg: sa.Engine) -> None:
    """An amount arrives as numeric's text from COPY and as a Decimal from the driver: the
    normalised values (and so payloads and content hashes) are the same."""
    query = "SELECT amount AS CF_NR_FK, ratio AS CF_NR_WFFF FROM typed ORDER BY id"
    copied = pl.concat(copy_frames(pg, query, chunk_size=100))
    with pg.connect() as conn:
        driven = conn.execute(sa.text(query)).all()
    normaliser = Normaliser(Kind.PENALTY)
    values = normalise_frame(normaliser, copied).values
    for i, (fk, wfff) in enumerate(driven):
        expected = normaliser.normalise({"CF_NR_FK": fk, "CF_NR_WFFF": wfff}).payload
        assert values["CF_NR_FK"][i] == expected["CF_NR_FK"]
        assert values["CF_NR_WFFF"][i] == expected["CF_NR_WFFF"]


def test_a_type_copy_does_not_read_is_refused_before_any_row(pg: sa.Engine) -> None:
    with pytest.raises(ColumnarReadError, match=r"DOC \(jsonb\)"):
        next(copy_frames(pg, "SELECT id, '{}'::jsonb AS doc FROM typed", 10))
    with pg.connect() as conn:  # the connection went back to the pool, usable
        assert conn.execute(sa.text("SELECT count(*) FROM typed")).scalar() == len(VALUES)


SELECT_JSON = """
SELECT id AS source_key, at AS updated_at, label AS CF_XDR_MC, jsonb_build_object('n', id) AS BZ
FROM typed WHERE at IS NOT NULL
"""


def test_a_department_whose_sql_copy_cannot_read_is_read_by_the_driver(
    pg: sa.Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "penalty.sql"
    path.write_text(SELECT_JSON, encoding="utf-8")
    source = KindSource(Kind.PENALTY, path, {})
    dept = Department("jsondept", "测试局", "11620422013812340X", "c", {Kind.PENALTY: source})
    store = open_store(f"sqlite:///{tmp_path / 'staging.db'}")
    end = datetime(2027, 1, 1)
    result = extract(dept, Kind.PENALTY, pg, store, logical_date=end, window_end=end)
    assert result.new == len(VALUES) - 1
    assert "fast reader failed before the first chunk (COPY does not read column BZ (jsonb))" in (
        caplog.text
    )


def test_a_failing_query_fails_the_department_and_keeps_the_watermark(
    pg: sa.Engine, tmp_path: Path
) -> None:
    path = tmp_path / "penalty.sql"
    path.write_text(
        "SELECT id AS source_key, at AS updated_at, (100 / (id - 5))::text AS CF_XDR_MC "
        "FROM typed WHERE at IS NOT NULL",
        encoding="utf-8",
    )
    source = KindSource(Kind.PENALTY, path, {})
    dept = Department("divdept", "测试局", "11620422013812340X", "c", {Kind.PENALTY: source})
    store = open_store(f"sqlite:///{tmp_path / 'staging.db'}")
    end = datetime(2027, 1, 1)
    with pytest.raises(ExtractionError, match=r"department divdept .*division by zero"):
        extract(replace(dept, chunk_size=2), Kind.PENALTY, pg, store, logical_date=end,
                window_end=end)  # fmt: skip
    with store.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM watermark")).scalar() == 0


BIG = "SELECT g AS id, repeat('行', 200) AS filler FROM generate_series(1, 200000) g"


def test_the_server_is_held_back_while_the_caller_is_busy(pg: sa.Engine) -> None:
    """Rows are received no further ahead than the bounded queue: a caller that takes
    nothing for a while leaves the server waiting, not the memory growing."""
    raw = pg.raw_connection()
    try:
        columns = [("id", 23), ("filler", 25)]  # int4, text
        receiver = _Receiver(
            raw.dbapi_connection, f"COPY ({BIG}) TO STDOUT WITH (FORMAT csv)", 1000, columns
        )
        deadline = time.monotonic() + 30
        while receiver._chunks.qsize() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # unheld, the whole result would arrive in well under a second
        assert receiver._chunks.qsize() == 1 and len(receiver._rows) < 1000
        assert receiver._thread.is_alive() and not receiver.completed
        assert receiver.next_chunk()["id"].to_list() == list(range(1, 1001))
        receiver.stop()
        assert not receiver._thread.is_alive() and not receiver.completed
    finally:
        raw.invalidate()


def test_a_reader_closed_early_cancels_the_copy_and_leaves_no_connection(pg: sa.Engine) -> None:
    frames = copy_frames(pg, BIG, 1000)
    assert next(frames).height == 1000
    started = time.monotonic()
    frames.close()
    assert time.monotonic() - started < 5
    assert pg.pool.checkedout() == 0
    with pg.connect() as conn:
        running = conn.execute(
            sa.text("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY (SELECT g%'"
                    " AND state = 'active'")
        ).scalar()  # fmt: skip
    assert running == 0


def test_a_full_read_returns_its_connection_to_the_pool_without_session_changes(
    pg: sa.Engine,
) -> None:
    show = "SELECT current_setting('DateStyle'), current_setting('TimeZone'), pg_backend_pid()"
    with pg.connect() as conn:
        before = conn.execute(sa.text(show)).one()
    assert sum(f.height for f in copy_frames(pg, "SELECT * FROM typed", 3)) == len(VALUES)
    assert pg.pool.checkedout() == 0
    with pg.connect() as conn:  # the same pooled connection: SET LOCAL ended with the COPY
        assert conn.execute(sa.text(show)).one() == before


def test_a_connection_lost_midway_is_a_reader_error(pg: sa.Engine) -> None:
    """After the first chunk (too late for the driver to take over): the caller gets a
    reader error it reports as the department's source failure."""
    frames = copy_frames(pg, BIG, 1000)
    assert next(frames).height == 1000
    with pg.connect() as conn:
        conn.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE query LIKE 'COPY (SELECT g%' AND pid <> pg_backend_pid()"
        ))  # fmt: skip
    with pytest.raises(ColumnarReadError):  # libpq's message varies with the moment
        for _ in frames:
            pass
    assert pg.pool.checkedout() == 0


def test_a_server_it_cannot_reach_raises_sqlalchemys_error_at_once(tmp_path: Path) -> None:
    """Not a reader error: no fallback to the driver, which would wait for it again; the
    extraction names the department and the cause."""
    down = database_engine("postgresql+psycopg2://postgres@127.0.0.1:1/nothing", streaming=True)
    with pytest.raises(sa.exc.OperationalError, match="Connection refused"):
        next(copy_frames(down, "SELECT 1", 10))
    path = tmp_path / "penalty.sql"
    path.write_text("SELECT 1 AS source_key, now() AS updated_at", encoding="utf-8")
    source = KindSource(Kind.PENALTY, path, {})
    dept = Department("downdept", "停机局", "11620422013812340X", "c", {Kind.PENALTY: source})
    store = open_store(f"sqlite:///{tmp_path / 'staging.db'}")
    end = datetime(2027, 1, 1)
    with pytest.raises(ExtractionError, match=r"department downdept .*Connection refused"):
        extract(dept, Kind.PENALTY, down, store, logical_date=end, window_end=end)
