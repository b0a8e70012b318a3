"""Extraction against real department databases: SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from credit_sync.config import Department, KindSource
from credit_sync.extraction import ExtractionError, extract, stored_watermark
from credit_sync.normalise import stable_hash
from credit_sync.schema import Kind
from credit_sync.staging.tables import staged_record

SELECT = """
-- a department's own layout mapped to canonical names
SELECT id AS source_key, modified AS updated_at, 1 AS public_cleared,
       party AS CF_XDR_MC, doc_no AS CF_WSH, decided AS CF_JDRQ, kind_code AS CF_CFLB
FROM punish
"""
DDL = (
    "CREATE TABLE punish (id INTEGER PRIMARY KEY, party VARCHAR(100), doc_no VARCHAR(60), "
    "decided VARCHAR(20), kind_code VARCHAR(10), modified TIMESTAMP NOT NULL)"
)
T0 = datetime(2026, 11, 20, 9, 0, 0)
T1 = datetime(2026, 11, 21, 9, 0, 0)
END = datetime(2026, 11, 27, 0, 0, 0)


@pytest.fixture
def source(source_database: sa.Engine) -> sa.Engine:
    with source_database.begin() as conn:
        conn.execute(sa.text(DDL))
    return source_database


def _dept(tmp_path: Path, sql: str = SELECT) -> Department:
    path = tmp_path / "penalty.sql"
    path.write_text(sql, encoding="utf-8")
    source = KindSource(Kind.PENALTY, path, {"CF_CFLB": {"FK": "罚款"}})
    return Department(
        "testdept", "测试局", "11620422013812340X", "dept_test", {Kind.PENALTY: source}
    )


def _insert(engine: sa.Engine, rows: list[tuple]) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO punish VALUES (:id, :party, :doc, :decided, :kind, :modified)"),
            [
                dict(zip(["id", "party", "doc", "decided", "kind", "modified"], r, strict=True))
                for r in rows
            ],
        )


def _staged(store: sa.Engine) -> dict[str, dict]:
    with store.connect() as conn:
        return {r.source_key: r.payload for r in conn.execute(sa.select(staged_record))}


def test_full_then_incremental_pull_keeps_boundary_rows(
    source: sa.Engine, store: sa.Engine, tmp_path: Path
) -> None:
    dept = _dept(tmp_path)
    _insert(
        source,
        [
            (1, "会宁县甲商店", "会罚〔2026〕1号", "2026-11-19", "FK", T0),
            (2, "会宁县乙公司", "会罚〔2026〕2号", "2026/11/19", "FK", T1),
        ],
    )
    first = extract(dept, Kind.PENALTY, source, store, logical_date=END, window_end=END)
    assert (first.fetched, first.new) == (2, 2)
    assert first.watermark == T1
    staged = _staged(store)
    assert staged["2"]["CF_JDRQ"] == "2026-11-19" and staged["2"]["CF_CFLB"] == "罚款"
    assert staged["1"]["CF_XDR_MC"] == "会宁县甲商店"

    # A row committed later with the same timestamp as the watermark must not be lost,
    # and the boundary row read again must not count as a change.
    _insert(source, [(3, "会宁县丙合作社", "会罚〔2026〕3号", "2026-11-20", "FK", T1)])
    second = extract(dept, Kind.PENALTY, source, store, logical_date=END, window_end=END)
    assert (second.fetched, second.new, second.changed, second.unchanged) == (2, 1, 0, 1)
    assert set(_staged(store)) == {"1", "2", "3"}

    # A change at the source arrives as an update of the same record.
    with source.begin() as conn:
        conn.execute(
            sa.text("UPDATE punish SET party = '会宁县乙有限公司', modified = :m WHERE id = 2"),
            {"m": datetime(2026, 11, 22, 8, 0)},
        )
    third = extract(dept, Kind.PENALTY, source, store, logical_date=END, window_end=END)
    assert (third.new, third.changed) == (0, 1)
    assert _staged(store)["2"]["CF_XDR_MC"] == "会宁县乙有限公司"


def test_window_end_excludes_later_rows_and_rerun_of_past_window_keeps_watermark(
    source: sa.Engine, store: sa.Engine, tmp_path: Path
) -> None:
    dept = _dept(tmp_path)
    _insert(
        source,
        [
            (1, "甲", "1号", "2026-11-19", "FK", T0),
            (2, "乙", "2号", "2026-11-19", "FK", END.replace(day=28)),
        ],
    )
    result = extract(dept, Kind.PENALTY, source, store, logical_date=END, window_end=END)
    assert result.fetched == 1 and result.watermark == T0
    rerun = extract(
        dept,
        Kind.PENALTY,
        source,
        store,
        logical_date=END,
        window_end=T0,
        window_start=datetime(2026, 11, 1),
    )
    assert rerun.fetched == 1 and rerun.unchanged == 1
    with store.connect() as conn:
        assert stored_watermark(conn, "testdept", Kind.PENALTY) == T0


def test_broken_sql_fails_with_department_and_cause(
    source: sa.Engine, store: sa.Engine, tmp_path: Path
) -> None:
    dept = _dept(tmp_path, SELECT.replace("FROM punish", "FROM no_such_table"))
    with pytest.raises(ExtractionError) as err:
        extract(dept, Kind.PENALTY, source, store, logical_date=END, window_end=END)
    assert "department testdept (测试局) penalty: source query failed" in str(err.value)
    with store.connect() as conn:
        assert stored_watermark(conn, "testdept", Kind.PENALTY) is None


def test_a_key_repeated_across_chunks_is_one_record_and_the_last_row_wins(
    source: sa.Engine, store: sa.Engine, tmp_path: Path
) -> None:
    """A SELECT that joins into duplicate keys: within a chunk and across chunks the key
    stays one record (an update, never a second insert) and the last row wins."""
    union = SELECT + "UNION ALL\n" + SELECT.replace("FROM punish", "FROM punish_old")
    dept = replace(_dept(tmp_path, union), chunk_size=2)
    with source.begin() as conn:
        conn.execute(sa.text(DDL.replace("punish", "punish_old")))
    _insert(
        source,
        [(1, "甲旧名", "1号", "2026-11-19", "FK", T0), (2, "乙", "2号", "2026-11-19", "FK", T0)],
    )
    with source.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO punish_old VALUES (1, '甲新名', '1号', '2026-11-19', 'FK', :t)"),
            {"t": T1},
        )
    result = extract(dept, Kind.PENALTY, source, store, logical_date=END, window_end=END)
    assert (result.fetched, result.new, result.changed) == (3, 2, 1)
    assert _staged(store)["1"]["CF_XDR_MC"] == "甲新名"
    assert result.watermark == T1


def _staged_rows(store: sa.Engine) -> list[tuple]:
    c = staged_record.c
    columns = [
        c.record_id, c.source_key, c.business_key, c.authority_code, c.payload, c.raw_hash,
        c.content_hash, c.notes, c.problems, c.public_cleared, c.source_updated_at,
    ]  # fmt: skip
    with store.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(*columns).order_by(c.record_id))]


def _many_rows(count: int, start: int = 1, party: str = "会宁县某商店") -> list[tuple]:
    return [
        (i, f"{party}{i}", f"会罚〔2026〕{i}号", "2026/11/19" if i % 3 else "2026-11-19",
         "FK", T0.replace(minute=i % 60))
        for i in range(start, start + count)
    ]  # fmt: skip


@contextmanager
def _writes_held(store: sa.Engine) -> Iterator[None]:
    """Other connections cannot write staged records meanwhile (they can read them)."""
    with store.connect() as conn:
        if store.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("LOCK TABLE staged_record IN SHARE MODE")
        yield
        conn.rollback()


@pytest.mark.parametrize("staging_url", ["sqlite", "postgresql"], indirect=True)
def test_writer_thread_stages_exactly_what_staging_in_the_callers_thread_does(
    source: sa.Engine, staging_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks after the first are committed by a writer thread: same records, same
    hashes, same counts as staging every chunk in the caller's thread; keys repeated
    across chunks still become one record (also while the chunks that hold them are not
    committed yet), and a full re-read changes nothing else."""
    from credit_sync import extraction
    from credit_sync.staging.store import open_store
    from credit_sync.staging.writer import StagingWriter

    union = SELECT + "UNION ALL\n" + SELECT.replace("FROM punish", "FROM punish_old")
    dept = replace(_dept(tmp_path, union), chunk_size=7)
    with source.begin() as conn:
        conn.execute(sa.text(DDL.replace("punish", "punish_old")))
    _insert(source, _many_rows(40))
    with source.begin() as conn:  # keys 8-12 (chunk 2) again, newer: chunks 3 and 4
        conn.execute(
            sa.text("INSERT INTO punish_old SELECT * FROM punish WHERE id BETWEEN 8 AND 12")
        )
        conn.execute(
            sa.text("UPDATE punish_old SET party = 'newer', modified = :t"),
            {"t": T0.replace(minute=20)},
        )
    outstanding = []  # chunks submitted and not known committed, at each submit
    real_submit, real_writer_for = StagingWriter.submit, extraction._writer_for

    def counting_submit(writer: StagingWriter, rows: object) -> int:
        number = real_submit(writer, rows)
        outstanding.append(number - writer.committed())
        return number

    def held_writer_for(store: sa.Engine) -> StagingWriter | None:
        # From the second chunk on, the writer cannot commit for a second: later chunks
        # are planned while earlier ones wait to be committed.
        held = _writes_held(store)
        held.__enter__()
        threading.Timer(1.0, held.__exit__, (None, None, None)).start()
        return real_writer_for(store)

    monkeypatch.setattr(StagingWriter, "submit", counting_submit)
    monkeypatch.setattr(extraction, "_writer_for", held_writer_for)
    results, staged = {}, {}
    for writer in (False, True):
        monkeypatch.setattr(extraction, "WRITER_THREAD", writer)
        if staging_url.startswith("sqlite"):
            url = staging_url.replace("staging.db", f"staging-{writer}.db")
        else:
            url = staging_url if writer else f"sqlite:///{tmp_path / 'reference.db'}"
        store = open_store(url)
        first = extract(dept, Kind.PENALTY, source, store, logical_date=END, window_end=END)
        again = extract(
            dept, Kind.PENALTY, source, store, logical_date=END, window_end=END, full=True
        )
        results[writer] = (first, again)
        staged[writer] = _staged_rows(store)
        with store.connect() as conn:
            assert stored_watermark(conn, "testdept", Kind.PENALTY) == first.watermark
    assert max(outstanding) >= 2  # the caller planned ahead of the writer's commits
    (first, again), (reference, reference_again) = results[True], results[False]
    assert (first.fetched, first.new, first.changed) == (45, 40, 5)
    assert (first.new, first.changed, first.unchanged) == (
        reference.new, reference.changed, reference.unchanged
    )  # fmt: skip
    assert again.new == 0 and again.unchanged >= 35  # only the repeated keys change twice
    assert (again.changed, again.unchanged) == (reference_again.changed, reference_again.unchanged)
    assert len(staged[True]) == 40
    assert [row[4]["CF_XDR_MC"] for row in staged[True] if row[4]["CF_XDR_MC"] == "newer"] == [
        "newer"
    ] * 5
    # Timestamps come back from either store as datetimes; everything else is text.
    assert staged[True] == staged[False]


_REFUSE_KEY_7 = {
    "sqlite": [
        "CREATE TRIGGER refuse_7 BEFORE INSERT ON staged_record WHEN NEW.source_key = '7' "
        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_7() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.source_key = '7' THEN RAISE EXCEPTION 'refused by the test'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER refuse_7 BEFORE INSERT ON staged_record FOR EACH ROW "
        "EXECUTE FUNCTION refuse_7()",
    ],
}


def test_a_failed_write_in_the_writer_thread_fails_the_extract_and_keeps_the_watermark(
    store: sa.Engine, tmp_path: Path
) -> None:
    """The writer's own error (here a trigger refusing record 7, in the writer's second
    chunk) reaches the caller; nothing moves the watermark; a rerun stages everything."""
    source = sa.create_engine(f"sqlite:///{tmp_path / 'dept.db'}")
    with source.begin() as conn:
        conn.execute(sa.text(DDL))
    _insert(source, _many_rows(10))
    with store.begin() as conn:
        for statement in _REFUSE_KEY_7[store.dialect.name]:
            conn.exec_driver_sql(statement)
    dept = replace(_dept(tmp_path), chunk_size=3)  # chunks 1-3, 4-6 (writer), 7-9, 10
    # SQLAlchemy's error, or on PostgreSQL psycopg2's own (its batch helpers run the SQL)
    with pytest.raises((sa.exc.DBAPIError, store.dialect.dbapi.Error), match="refused by the"):
        extract(dept, Kind.PENALTY, source, store, logical_date=END, window_end=END)
    with store.begin() as conn:
        assert stored_watermark(conn, "testdept", Kind.PENALTY) is None
        assert len(_staged(store)) == 6  # chunks 1 and 2, committed before the failure
        conn.exec_driver_sql(
            "DROP TRIGGER refuse_7"
            + (" ON staged_record" if store.dialect.name == "postgresql" else "")
        )
    rerun = extract(dept, Kind.PENALTY, source, store, logical_date=END, window_end=END)
    assert rerun.fetched == 10 and rerun.new == 4 and rerun.unchanged == 6
    assert len(_staged(store)) == 10


def test_pages_of_the_columnar_reader_lose_and_repeat_nothing(
    source: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The columnar reader (MariaDB) reads a window in keyset pages (memory bounded by the
    page): rows that share a timestamp across a page boundary are all staged, once.
    PostgreSQL's COPY reads it as one query; SQLite's driver too. All give the same."""
    from credit_sync import extraction, source_copy, source_frames

    pages, copies = [], []
    real_pages, real_copy = source_frames.ColumnarRead, source_copy.copy_frames

    def spy_pages(*args, **kwargs):
        pages.append(args[1])
        return real_pages(*args, **kwargs)

    def spy_copy(*args, **kwargs):
        copies.append(args[1])
        return real_copy(*args, **kwargs)

    monkeypatch.setattr(extraction, "ColumnarRead", spy_pages)
    monkeypatch.setattr(extraction, "copy_frames", spy_copy)
    # 25 rows, four to a timestamp: every page boundary falls inside a group.
    _insert(source, [(*r[:5], T0.replace(minute=r[0] // 4)) for r in _many_rows(25)])
    dept = replace(_dept(tmp_path), chunk_size=3, page_rows=6)
    store = open_store_at(tmp_path)
    result = extract(dept, Kind.PENALTY, source, store, logical_date=END, window_end=END)
    assert (result.fetched, result.new, result.skipped) == (25, 25, [])
    assert sorted(int(k) for k in _staged(store)) == list(range(1, 26))
    if source.dialect.name == "mysql":
        assert (len(pages), copies) == (5, [])  # pages of 6 rows (two chunks of 3): 6, 6, 6, 6, 1
        assert all("LIMIT 6" in query for query in pages)
        # The next page's query runs while a page is staged: started with its first chunk.
        pages.clear()
        window = extraction.Window(None, END)
        frames = extraction.window_frames(dept, Kind.PENALTY, source, SELECT, window)
        assert next(frames).height == 3 and len(pages) == 2
        frames.close()
    elif source.dialect.name == "postgresql":
        assert (pages, len(copies)) == ([], 1)
        assert "LIMIT" not in copies[0]
    else:
        assert (pages, copies) == ([], [])  # SQLite sources are read by the driver


@pytest.mark.parametrize("driver", ["mysql", "pymysql", "postgresql"])
def test_pages_are_small_where_an_index_gives_the_order_and_large_where_the_server_sorts(
    request: pytest.FixtureRequest, tmp_path: Path, driver: str
) -> None:
    """The columnar reader reads a window page by page: where each page is a sort of the
    whole window, pages are `page_rows` (fewer sorts); where an index on (update time,
    key) gives the order, pages are a few chunks (memory stays a few chunks). The plan is
    the server's EXPLAIN of a page; a % in the department's SQL is not a parameter."""
    from credit_sync.engines import SCHEMES, database_engine
    from credit_sync.extraction import INDEXED_PAGE_CHUNKS, Window, page_rows

    if driver == "postgresql":
        url = sa.make_url(request.getfixturevalue("pg_database"))
    else:
        url = sa.make_url(request.getfixturevalue("mariadb_database"))
        if driver == "mysql":
            url = url.set(drivername=SCHEMES["mysql"])
    source = database_engine(url)
    with source.begin() as conn:
        conn.execute(sa.text(DDL))
    _insert(source, _many_rows(5000))
    sql = SELECT.replace("FROM punish", "FROM punish WHERE party LIKE '%商店%'")
    dept = replace(_dept(tmp_path, sql), chunk_size=10, page_rows=3000)
    window = Window(None, END)
    assert page_rows(dept, source, sql, window) == 3000  # no index: a sort per page
    with source.begin() as conn:
        conn.execute(sa.text("CREATE INDEX ix_punish_modified ON punish (modified, id)"))
        conn.execute(sa.text("ANALYZE" + (" TABLE" if driver != "postgresql" else "") + " punish"))
    assert page_rows(dept, source, sql, window) == INDEXED_PAGE_CHUNKS * 10
    assert page_rows(replace(dept, chunk_size=7), source, sql, window) == INDEXED_PAGE_CHUNKS * 7
    source.dispose()


def open_store_at(tmp_path: Path) -> sa.Engine:
    from credit_sync.staging.store import open_store

    return open_store(f"sqlite:///{tmp_path / 'paged-staging.db'}")


def test_a_department_can_ask_for_the_driver_reader(
    source: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from credit_sync import extraction

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the columnar reader was used")

    monkeypatch.setattr(extraction, "ColumnarRead", refuse)
    monkeypatch.setattr(extraction, "copy_frames", refuse)
    _insert(source, _many_rows(5))
    dept = replace(_dept(tmp_path), reader="driver")
    result = extract(dept, Kind.PENALTY, source, open_store_at(tmp_path), logical_date=END,
                     window_end=END)  # fmt: skip
    assert result.new == 5


def test_reader_errors_never_show_the_password() -> None:
    from credit_sync.source_frames import scrubbed

    message = "error connecting to postgresql://credit_ro:s3cr3t@10.1.2.3:5432/scjg: refused"
    assert "s3cr3t" not in scrubbed(message, "s3cr3t")
    assert "s3cr3t" not in scrubbed(message, None)  # a URL's password, even unknown
    assert "credit_ro:***@10.1.2.3" in scrubbed(message, None)


def test_timestamps_written_column_wise_are_sqlalchemys_own(tmp_path: Path) -> None:
    import polars as pl

    from credit_sync.staging.records import Binder

    store = open_store_at(tmp_path)
    bind = Binder(store.dialect)
    times = [datetime(2026, 11, 28, 5, 1, 2, 345), datetime(999, 1, 1), T0]
    assert bind.times(pl.Series(times)).to_list() == [bind.time(t) for t in times]


def test_json_columns_bound_as_bytes_are_stored_as_text_in_sqlite(
    source: sa.Engine, tmp_path: Path
) -> None:
    """SQLite staging receives the JSON columns as UTF-8 bytes cast in SQL: stored as text
    (JSON functions and readers see text, never a blob), inserted and updated alike."""
    _insert(source, _many_rows(4, party="会宁县“某”商店"))
    store = open_store_at(tmp_path)
    dept = _dept(tmp_path)
    extract(dept, Kind.PENALTY, source, store, logical_date=END, window_end=END)
    with source.begin() as conn:
        conn.execute(
            sa.text("UPDATE punish SET party = 'x', modified = :t WHERE id = 1"), {"t": T1}
        )
    assert extract(dept, Kind.PENALTY, source, store, logical_date=END, window_end=END).changed == 1
    with store.connect() as conn:
        kinds = conn.exec_driver_sql(
            "SELECT DISTINCT typeof(payload), typeof(notes), typeof(problems), json_valid(payload) "
            "FROM staged_record"
        ).all()
    assert kinds == [("text", "text", "text", 1)]
    assert _staged(store)["2"]["CF_XDR_MC"] == "会宁县“某”商店2"
    with store.connect() as conn:  # the content hash, made at write time, is stable_hash's
        rows = conn.execute(
            sa.select(staged_record.c.payload, staged_record.c.public_cleared,
                      staged_record.c.content_hash)
        ).all()  # fmt: skip
    assert len(rows) == 4
    assert all(h == stable_hash([payload, cleared]) for payload, cleared, h in rows)
