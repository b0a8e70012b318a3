"""Hard deletes at the source: key reconciliation against real department databases.

A row deleted at the source becomes a revocation that the normal validate step picks
up and the outbox turns into a withdrawal (public target) and a status change
(provincial platform); a key that comes back is restored; an empty listing is refused."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from credit_sync.config import Department, KindSource, Settings
from credit_sync.delivery.outbox import ACCEPTED, RecordVersion, enqueue, mark
from credit_sync.extraction import extract
from credit_sync.normalise import stable_hash
from credit_sync.reconciliation import (
    DELETED_AT_SOURCE,
    DELETION_NOTE,
    ReconciliationError,
    reconcile,
)
from credit_sync.schema import Kind
from credit_sync.staging.tables import outbox, staged_record
from credit_sync.validation import validate_pending
from tests.factories import PROVINCIAL, PUBLIC, penalty_row

WHEN = datetime(2026, 11, 27, 2, 0)
MODIFIED = datetime(2026, 11, 26, 9, 0)
CODES = list(penalty_row(1))  # the canonical fields of a valid penalty


def _table_ddl() -> str:
    columns = ", ".join(f"c_{code.lower()} VARCHAR(200)" for code in CODES)
    return f"CREATE TABLE cf (id INTEGER PRIMARY KEY, modified TIMESTAMP NOT NULL, {columns})"


SELECT = (
    "SELECT id AS source_key, modified AS updated_at, 1 AS public_cleared, "
    + ", ".join(f"c_{code.lower()} AS {code}" for code in CODES)
    + " FROM cf"
)


@pytest.fixture
def source(source_database: sa.Engine) -> sa.Engine:
    with source_database.begin() as conn:
        conn.execute(sa.text(_table_ddl()))
    return source_database


@pytest.fixture
def store(tmp_path: Path) -> sa.Engine:
    from credit_sync.staging.store import open_store

    return open_store(f"sqlite:///{tmp_path / 'staging.db'}")


def _insert(source: sa.Engine, *numbers: int) -> None:
    names = ["id", "modified", *(f"c_{c.lower()}" for c in CODES)]
    rows = [
        {
            "id": n,
            "modified": MODIFIED,
            **{f"c_{c.lower()}": str(v) for c, v in penalty_row(n).items()},
        }
        for n in numbers
    ]
    with source.begin() as conn:
        conn.execute(
            sa.text(
                f"INSERT INTO cf ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"
            ),
            rows,
        )


def _dept(tmp_path: Path) -> Department:
    path = tmp_path / "penalty.sql"
    path.write_text(SELECT, encoding="utf-8")
    return Department(
        "recdept",
        "对账测试局",
        "11620422013812340X",
        "dept_recdept",
        {Kind.PENALTY: KindSource(Kind.PENALTY, path)},
        reconcile_days=frozenset({6}),
    )


def _record(store: sa.Engine, key: str) -> dict:
    with store.connect() as conn:
        return dict(
            conn.execute(
                sa.select(staged_record).where(
                    staged_record.c.record_id == f"recdept/penalty/{key}"
                )
            )
            .mappings()
            .one()
        )


def _validate(store: sa.Engine, dept: Department) -> None:
    validate_pending(
        store,
        dept,
        Kind.PENALTY,
        logical_date=WHEN,
        run_id="test",
        targets=[PROVINCIAL, PUBLIC],
        settings=Settings(),
    )


def _outbox(store: sa.Engine, key: str) -> list[tuple[str, str, str]]:
    with store.connect() as conn:
        return [
            (r.target, r.operation, r.content_hash)
            for r in conn.execute(
                sa.select(outbox)
                .where(outbox.c.record_id == f"recdept/penalty/{key}")
                .order_by(outbox.c.id)
            )
        ]


def _deliver_everything(store: sa.Engine) -> None:
    """As if both platforms accepted what was queued (the delivery DAG's job)."""
    with store.begin() as conn:
        ids = [
            i for (i,) in conn.execute(sa.select(outbox.c.id).where(outbox.c.state == "pending"))
        ]
        mark(conn, ids, ACCEPTED)


def test_deleted_row_is_revoked_validated_and_withdrawn_then_restored(
    source: sa.Engine, store: sa.Engine, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # The source-specific part is the listing and the re-read; validation and the outbox
    # are the same whatever the source, so they run once (SQLite) to keep the suite quick.
    full = source.dialect.name == "sqlite"
    dept = _dept(tmp_path)
    _insert(source, 1, 2, 3)
    extract(dept, Kind.PENALTY, source, store, logical_date=WHEN, window_end=WHEN)
    if full:
        _validate(store, dept)
        _deliver_everything(store)
        assert _record(store, "2")["valid"] is True
    before = _record(store, "2")
    assert before["payload"]["CF_ZT"] == "0"

    with source.begin() as conn:
        conn.execute(sa.text("DELETE FROM cf WHERE id = 2"))
    result = reconcile(dept, Kind.PENALTY, source, store, logical_date=WHEN)
    assert (result.listed, result.staged, result.revoked, result.restored) == (2, 3, 1, 0)

    revoked = _record(store, "2")
    assert revoked["payload"]["CF_ZT"] == "1"
    assert {"field": "CF_ZT", "change": DELETION_NOTE} in revoked["notes"]
    assert revoked["raw_hash"] == DELETED_AT_SOURCE
    assert revoked["deleted_at"] is None  # still live: validation must see it
    assert revoked["content_hash"] == stable_hash([revoked["payload"], True])
    assert revoked["content_hash"] != before["content_hash"]
    assert {k: v for k, v in revoked["payload"].items() if k != "CF_ZT"} == {
        k: v for k, v in before["payload"].items() if k != "CF_ZT"
    }
    assert _record(store, "1")["raw_hash"] != DELETED_AT_SOURCE  # others untouched

    if full:
        # The normal validate step re-validates it; the outbox takes it down from the
        # public target and sends the status change to the provincial platform.
        _validate(store, dept)
        assert _outbox(store, "2")[2:] == [
            ("provincial", "upsert", revoked["content_hash"]),
            ("xybaiyin", "withdraw", revoked["content_hash"]),
        ]
        assert _outbox(store, "1")[2:] == []

    # A second reconciliation changes nothing; an incremental run does not resurrect it.
    again = reconcile(dept, Kind.PENALTY, source, store, logical_date=WHEN)
    assert (again.revoked, again.restored) == (0, 0)
    extract(dept, Kind.PENALTY, source, store, logical_date=WHEN, window_end=WHEN)
    assert _record(store, "2")["payload"]["CF_ZT"] == "1"

    # The department restores the row (from a backup: same content, old timestamp).
    _insert(source, 2)
    back = reconcile(dept, Kind.PENALTY, source, store, logical_date=WHEN)
    assert (back.revoked, back.restored) == (0, 1)
    restored = _record(store, "2")
    assert restored["payload"] == before["payload"]
    assert restored["content_hash"] == before["content_hash"]
    assert restored["raw_hash"] == before["raw_hash"]
    assert DELETION_NOTE not in str(restored["notes"])
    assert restored["validated_hash"] != restored["content_hash"]  # validate picks it up


def test_empty_listing_is_refused_and_changes_nothing(
    source: sa.Engine, store: sa.Engine, tmp_path: Path
) -> None:
    dept = _dept(tmp_path)
    _insert(source, 1, 2)
    extract(dept, Kind.PENALTY, source, store, logical_date=WHEN, window_end=WHEN)
    with source.begin() as conn:
        conn.execute(sa.text("DELETE FROM cf"))
    with pytest.raises(ReconciliationError) as err:
        reconcile(dept, Kind.PENALTY, source, store, logical_date=WHEN)
    assert "department recdept (对账测试局) penalty: the source listed no keys" in str(err.value)
    assert _record(store, "1")["payload"]["CF_ZT"] == "0"


def test_broken_select_fails_naming_the_department(store: sa.Engine, tmp_path: Path) -> None:
    dept = _dept(tmp_path)
    dept.kinds[Kind.PENALTY].sql_path.write_text(SELECT.replace("FROM cf", "FROM nope"))
    source = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(Exception) as err:
        reconcile(dept, Kind.PENALTY, source, store, logical_date=WHEN)
    assert "department recdept (对账测试局) penalty: listing the source's keys failed" in str(
        err.value
    )
    assert "no such table: nope" in str(err.value)


def test_due_by_logical_date_in_county_time() -> None:
    dept = Department("d", "局", "x", "c", {}, reconcile_days=frozenset({6}))  # Sundays
    assert dept.reconcile_due(date(2026, 11, 29))
    assert not dept.reconcile_due(date(2026, 11, 30))


def test_restored_record_is_queued_again(store: sa.Engine, tmp_path: Path) -> None:
    """What validation does for the restored record above, without the GX suite."""
    source = sa.create_engine(f"sqlite:///{tmp_path / 'dept.db'}")
    with source.begin() as conn:
        conn.execute(sa.text(_table_ddl()))
    dept = _dept(tmp_path)
    _insert(source, 1)
    extract(dept, Kind.PENALTY, source, store, logical_date=WHEN, window_end=WHEN)
    _queue(store, "1")
    _deliver_everything(store)
    with source.begin() as conn:
        conn.execute(sa.text("DELETE FROM cf"))
    _insert(source, 5)  # another row: an empty listing would be refused
    reconcile(dept, Kind.PENALTY, source, store, logical_date=WHEN)
    _queue(store, "1")
    _deliver_everything(store)
    _insert(source, 1)
    assert reconcile(dept, Kind.PENALTY, source, store, logical_date=WHEN).restored == 1
    _queue(store, "1")
    restored = _record(store, "1")
    assert _outbox(store, "1")[-2:] == [
        ("provincial", "upsert", restored["content_hash"]),
        ("xybaiyin", "upsert", restored["content_hash"]),
    ]


def _queue(store: sa.Engine, key: str) -> None:
    with store.begin() as conn:
        enqueue(conn, [RecordVersion.of(_record(store, key))], [PROVINCIAL, PUBLIC], WHEN.date())


def test_reconcile_task_is_a_no_op_unless_due_or_forced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Due by the run's logical date in county time (never the wall clock); the run
    parameter forces it. A due run opens the department's connection (here: missing)."""
    import pendulum

    from credit_sync import config
    from credit_sync.extraction import ExtractionError
    from credit_sync.operators.department import reconcile_kind

    (tmp_path / "q.sql").write_text(SELECT, encoding="utf-8")
    (tmp_path / "departments.yaml").write_text(
        "departments:\n  - {code: recdept, name: 对账测试局, credit_code: x, conn_id: dept_nowhere,"
        " reconcile: sunday, kinds: {penalty: {sql: q.sql}}}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("CREDIT_SYNC_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("CREDIT_SYNC_SQL_DIR", str(tmp_path))
    config.departments.cache_clear()
    try:
        # Saturday 23:30 UTC is Sunday 07:30 in Asia/Shanghai: due.
        sunday = pendulum.datetime(2026, 11, 28, 23, 30, tz="UTC")
        monday = sunday.add(days=1)

        def context(when: pendulum.DateTime, **params: bool) -> dict:
            return {"logical_date": when, "data_interval_end": when, "params": params}

        assert reconcile_kind("recdept", "penalty", **context(monday)) == {"due": False}
        assert reconcile_kind("recdept", "penalty", **context(monday, reconcile=False)) == {
            "due": False
        }
        for due in (context(sunday), context(monday, reconcile=True)):
            with pytest.raises(ExtractionError, match="cannot open connection 'dept_nowhere'"):
                reconcile_kind("recdept", "penalty", **due)
    finally:
        config.departments.cache_clear()
