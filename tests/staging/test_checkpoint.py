"""The staging writer's SQLite checkpoints, run by a thread of their own."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from credit_sync.staging import checkpoint
from credit_sync.staging.checkpoint import WalCheckpointer, set_autocheckpoint
from credit_sync.staging.store import new_engine
from credit_sync.staging.writer import StagingWriter

CHUNKS, ROWS, TEXT = 24, 400, "行政处罚决定书" * 100  # about 2 kB a row, 20 MB in all


def _store(tmp_path: Path) -> sa.Engine:
    engine = new_engine(f"sqlite:///{tmp_path / 'staging.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE chunk_row (chunk INTEGER, n INTEGER, body TEXT)")
    return engine


def test_the_writers_commits_leave_checkpoints_to_their_own_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer's connection does not checkpoint (its threshold is 0 while it writes),
    yet the log stays near its bound, even with the writer always busy, because the
    checkpointer copies it after each commit and the writer waits for a checkpoint
    once the log is past the bound; afterwards the connection goes back to the pool
    with SQLite's threshold."""
    monkeypatch.setattr(checkpoint, "MAX_WAL_BYTES", 2 * 2**20)  # two chunks
    store = _store(tmp_path)
    wal = Path(f"{store.url.database}-wal")
    thresholds, wal_sizes, connections = set(), [], set()
    writers = set()

    def write(conn: Connection, chunk: int) -> None:
        thresholds.add(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar())
        connections.add(conn.connection.dbapi_connection)
        writers.add(threading.current_thread().name)
        conn.exec_driver_sql(
            "INSERT INTO chunk_row VALUES (?, ?, ?)",
            [(chunk, n, TEXT) for n in range(ROWS)],
        )
        wal_sizes.append(os.path.getsize(wal) if wal.exists() else 0)

    writer = StagingWriter(store, write)
    for chunk in range(CHUNKS):
        writer.submit(chunk)
    writer.finish()

    with store.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM chunk_row").scalar() == CHUNKS * ROWS
    assert thresholds == {0}
    assert writers == {"credit-sync-staging-writer"}
    written = CHUNKS * ROWS * len(TEXT.encode())
    # The log file's size is its longest: the bound and two chunks (a chunk is 30 pages
    # of 32 kB), where with no checkpoint at all it would hold every chunk.
    assert max(wal_sizes) < 2 * 2**20 + 3 * 2**20 < written / 3
    (connection,) = connections  # one connection for the writer's whole life
    assert connection.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)


def test_without_the_checkpointer_the_log_would_hold_every_chunk(tmp_path: Path) -> None:
    """What the test above guards against: the same writes with automatic checkpoints
    off and nobody checkpointing grow the log by every chunk."""
    store = _store(tmp_path)
    wal = Path(f"{store.url.database}-wal")
    with store.connect() as conn:
        set_autocheckpoint(conn, 0)
        for chunk in range(CHUNKS):
            with conn.begin():
                conn.exec_driver_sql(
                    "INSERT INTO chunk_row VALUES (?, ?, ?)",
                    [(chunk, n, TEXT) for n in range(ROWS)],
                )
        assert os.path.getsize(wal) > CHUNKS * ROWS * len(TEXT.encode())
        set_autocheckpoint(conn, 1000)


def test_a_checkpointer_that_cannot_run_logs_why_and_stops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No store where the checkpointer looks: a warning naming the cause, no exception
    into the writer, and `stop` returns."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'staging.db'}")
    with caplog.at_level(logging.WARNING, logger="credit_sync.staging.checkpoint"):
        checkpointer = WalCheckpointer(engine)
        checkpointer.request()
        checkpointer.stop()
    assert checkpointer.checkpoints == 0
    assert "staging WAL checkpoints stopped (OperationalError" in caplog.text


def test_stop_runs_a_last_checkpoint(tmp_path: Path) -> None:
    """`stop` alone, with no request before it, still checkpoints once."""
    store = _store(tmp_path)
    with store.connect() as conn:
        set_autocheckpoint(conn, 0)
        checkpointer = WalCheckpointer(store)
        with conn.begin():
            conn.exec_driver_sql("INSERT INTO chunk_row VALUES (1, 1, 'x')")
        checkpointer.stop()
        assert checkpointer.checkpoints == 1
        set_autocheckpoint(conn, 1000)


def test_a_failed_checkpointer_gives_the_writer_its_own_checkpoints_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The checkpointer cannot get a connection (refused at checkout): a warning says
    so, and the writer's next chunks run with SQLite's own threshold again, so the log
    does not grow for the rest of the pull."""
    store = _store(tmp_path)

    @sa.event.listens_for(store, "checkout")
    def refuse_the_checkpointer(*_args: object) -> None:
        if threading.current_thread().name == "credit-sync-wal-checkpointer":
            raise sqlite3.OperationalError("refused by the test")

    thresholds = []

    def write(conn: Connection, chunk: int) -> None:
        thresholds.append(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar())
        conn.exec_driver_sql("INSERT INTO chunk_row VALUES (?, 0, 'x')", (chunk,))

    with caplog.at_level(logging.WARNING, logger="credit_sync.staging.checkpoint"):
        writer = StagingWriter(store, write)
        writer.submit(1)
        while writer.committed() < 1:  # the checkpointer has failed by the second chunk
            time.sleep(0.01)
        time.sleep(0.2)
        for chunk in range(2, 6):
            writer.submit(chunk)
        writer.finish()
    assert "staging WAL checkpoints stopped (OperationalError" in caplog.text
    assert "refused by the test" in caplog.text
    assert thresholds[1:] == [1000] * 4
    with store.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM chunk_row").scalar() == 5
