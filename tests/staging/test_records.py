"""Writing a chunk's staged_record rows: every value lands in its own row and column,
however many rows one statement carries."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl
import pytest
import sqlalchemy as sa

from credit_sync.normalise import compact_json, stable_hash
from credit_sync.staging.records import (
    _ROWS_PER_INSERT,
    Binder,
    StagedRows,
    write_rows,
)
from credit_sync.staging.store import open_store
from credit_sync.staging.tables import staged_record


def _rendered(count: int, store: sa.Engine, party: str) -> pl.DataFrame:
    bind = Binder(store.dialect)
    cleared = [i % 3 != 0 for i in range(count)]
    payloads = pl.Series([compact_json({"CF_XDR_MC": f"{party}{i}"}) for i in range(count)])
    return pl.DataFrame(
        {
            "record_id": [f"d:penalty:{i}" for i in range(count)],
            "source_key": [str(i) for i in range(count)],
            "business_key": [f"会罚〔2026〕{i}号" for i in range(count)],
            "authority_code": ["1162042201381234XB"] * count,
            "payload": payloads,
            "raw_hash": [f"raw-{i}" for i in range(count)],
            "notes": ["[]"] * count,
            "problems": [json.dumps([{"field": "CF_JDRQ", "n": i}]) for i in range(count)],
            "public_cleared": [bind.flag(c) for c in cleared],
            "source_updated_at": bind.times(
                pl.Series([datetime(2026, 11, 1, 8, i % 60, i // 60) for i in range(count)])
            ),
        }
    )  # fmt: skip


@pytest.mark.parametrize("count", [1, _ROWS_PER_INSERT, 3 * _ROWS_PER_INSERT + 7])
def test_every_value_lands_in_its_own_row_and_column(staging_url: str, count: int) -> None:
    """Several rows per INSERT (SQLite) and psycopg2's pages: nothing shifted between rows
    or columns, whole statements and the rest alike; then the same records changed."""
    store = open_store(staging_url)
    run = datetime(2026, 11, 2)
    constants = {"department": "d", "kind": "penalty", "last_extracted_for": run,
                 "updated_at": run}  # fmt: skip
    with store.begin() as conn:
        write_rows(conn, StagedRows(_rendered(count, store, "甲"), pl.DataFrame(), constants))
    changed = _rendered(count, store, "乙")
    with store.begin() as conn:
        write_rows(conn, StagedRows(pl.DataFrame(), changed, constants))
    with store.connect() as conn:
        got = conn.execute(sa.select(staged_record).order_by(staged_record.c.created_at)).all()
    assert len(got) == count
    by_key = {row.source_key: row for row in got}
    for i in range(count):
        row = by_key[str(i)]
        assert row.record_id == f"d:penalty:{i}"
        assert row.business_key == f"会罚〔2026〕{i}号"
        assert row.payload == {"CF_XDR_MC": f"乙{i}"}
        assert row.problems == [{"field": "CF_JDRQ", "n": i}]
        assert row.raw_hash == f"raw-{i}"
        assert row.public_cleared is (i % 3 != 0)
        assert row.source_updated_at == datetime(2026, 11, 1, 8, i % 60, i // 60)
        assert row.content_hash == stable_hash([row.payload, row.public_cleared])
        assert (row.department, row.kind, row.first_extracted_for) == ("d", "penalty", run)


def test_a_row_failing_midway_leaves_nothing_of_its_chunk(staging_url: str) -> None:
    """A record already staged, sent again as new in the middle of a many-row INSERT:
    the write fails with the store's error, and the transaction's rollback takes back the
    rows the same statement wrote before it (SQLite inserts OR FAIL, not undoing them)."""
    store = open_store(staging_url)
    run = datetime(2026, 11, 2)
    constants = {"department": "d", "kind": "penalty", "last_extracted_for": run,
                 "updated_at": run}  # fmt: skip
    chunk = _rendered(3 * _ROWS_PER_INSERT, store, "甲")
    clash = _ROWS_PER_INSERT + _ROWS_PER_INSERT // 2  # inside the second statement
    with store.begin() as conn:
        write_rows(conn, StagedRows(chunk.slice(clash, 1), pl.DataFrame(), constants))
    refused = (sa.exc.IntegrityError, store.dialect.dbapi.IntegrityError)  # psycopg2's own cursor
    with pytest.raises(refused), store.begin() as conn:
        write_rows(conn, StagedRows(chunk, pl.DataFrame(), constants))
    with store.connect() as conn:
        staged = conn.execute(sa.select(staged_record.c.source_key)).scalars().all()
    assert staged == [str(clash)]


def test_sqlite_statements_are_the_same_text_for_every_chunk(tmp_path) -> None:
    """Each chunk has its own run times, bound as parameters: the statements' text stays
    the same from chunk to chunk, so the sqlite3 module's cache of prepared statements
    holds a few instead of gaining new ones (and memory) with every chunk."""
    store = open_store(f"sqlite:///{tmp_path / 'staging.db'}")
    texts: list[set[str]] = []

    @sa.event.listens_for(store, "before_cursor_execute")
    def _seen(conn, cursor, statement, parameters, context, executemany) -> None:
        if "staged_record" in statement:
            texts[-1].add(statement)

    first = _rendered(2 * _ROWS_PER_INSERT + 3, store, "甲")
    times = [datetime(2026, 11, 2, 8, minute) for minute in range(3)]
    for chunk, run in enumerate(times):
        texts.append(set())
        constants = {"department": "d", "kind": "penalty", "last_extracted_for": run,
                     "updated_at": run}  # fmt: skip
        if chunk == 0:
            rows = StagedRows(first, pl.DataFrame(), constants)
        else:  # new records, and the first chunk's changed
            rows = StagedRows(
                first.with_columns(pl.col("record_id") + f"-{chunk}"), first, constants
            )
        with store.begin() as conn:
            write_rows(conn, rows)
    assert len(texts[1]) == 3  # many-row INSERT, one-row INSERT, UPDATE
    assert texts[2] == texts[1] and texts[0] < texts[1]
    with store.connect() as conn:
        stamps = {
            row.record_id: row
            for row in conn.execute(
                sa.select(staged_record.c.record_id, staged_record.c.created_at,
                          staged_record.c.updated_at, staged_record.c.last_extracted_for)
            )
        }  # fmt: skip
    assert len(stamps) == 3 * first.height
    for i in range(first.height):
        changed = stamps[f"d:penalty:{i}"]
        assert (changed.created_at, changed.updated_at) == (times[0], times[2])
        for chunk in (1, 2):
            new = stamps[f"d:penalty:{i}-{chunk}"]
            assert new.created_at == new.updated_at == new.last_extracted_for == times[chunk]


def test_awkward_text_nulls_and_zoned_run_times_are_stored_alike(staging_url: str) -> None:
    """Quotes, commas and line breaks in text, a missing value beside an empty one, and
    run times that carry a time zone: stored the same by SQLite's INSERT and by
    PostgreSQL's COPY (CSV, where only an unquoted empty field is NULL)."""
    store = open_store(staging_url)
    rendered = _rendered(3, store, '他说"好",\n然后')
    rendered = rendered.with_columns(
        pl.Series("business_key", [None, "", '会罚,〔2026〕"3"号'], dtype=pl.String),
        pl.Series("authority_code", ["", None, "NULL"], dtype=pl.String),
    )
    run = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
    constants = {"department": "d", "kind": "penalty", "last_extracted_for": run,
                 "updated_at": run}  # fmt: skip
    with store.begin() as conn:
        write_rows(conn, StagedRows(rendered, pl.DataFrame(), constants))
    with store.connect() as conn:
        got = {row.source_key: row for row in conn.execute(sa.select(staged_record))}
    assert [got[k].business_key for k in "012"] == [None, "", '会罚,〔2026〕"3"号']
    assert [got[k].authority_code for k in "012"] == ["", None, "NULL"]
    assert got["1"].payload == {"CF_XDR_MC": '他说"好",\n然后1'}
    assert {(row.created_at, row.last_extracted_for) for row in got.values()} == {
        (datetime(2026, 11, 2, 8, 30), datetime(2026, 11, 2, 8, 30))
    }
    assert all(row.late is False and row.deleted_at is None for row in got.values())
