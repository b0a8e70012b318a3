"""Extraction against real department databases: SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from credit_sync.config import Department, KindSource
from credit_sync.extraction import ExtractionError, extract, stored_watermark
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


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> sa.Engine:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'dept.db'}"
    elif request.param == "postgresql":
        url = request.getfixturevalue("pg_database")
    else:
        url = request.getfixturevalue("mariadb_database")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(DDL))
    yield engine
    engine.dispose()


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
