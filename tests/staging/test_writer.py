"""The staging writer thread on its own (its use by extraction: tests/test_extraction.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from credit_sync.staging.writer import StagingWriter


def test_a_store_the_writer_cannot_open_fails_the_caller_with_the_cause(tmp_path: Path) -> None:
    """No connection at all: the caller gets the driver's error, not a count of chunks
    left uncommitted, nor a wait for a thread that is gone."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'staging.db'}")
    written: list[int] = []

    def write(conn: Connection, chunk: int) -> None:
        written.append(chunk)

    writer = StagingWriter(engine, write)
    with pytest.raises(sa.exc.OperationalError, match="unable to open database file"):
        writer.submit(1)  # raises here if the thread has failed already
        writer.finish()
    writer.close()
    assert written == []


def test_threads_take_short_turns_on_the_gil_while_writers_run(tmp_path: Path) -> None:
    """The switch interval is `SWITCH_INTERVAL` from a writer's start until the last
    running writer stops, then what it was before, also when a writer fails (the
    interpreter keeps it in whole microseconds: compared approximately)."""
    import sys
    import threading

    from credit_sync.staging.writer import SWITCH_INTERVAL

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'staging.db'}")
    before = sys.getswitchinterval()
    assert before > SWITCH_INTERVAL
    inside: list[float] = []
    writing, release = threading.Event(), threading.Event()

    def write(conn: Connection, chunk: int) -> None:
        inside.append(sys.getswitchinterval())
        if chunk == 1:
            writing.set()
            release.wait(10)

    first = StagingWriter(engine, write)
    first.submit(1)
    assert writing.wait(10)
    second = StagingWriter(engine, write)
    second.submit(2)
    second.finish()
    second.close()
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)  # the first still writes
    release.set()
    first.finish()
    first.close()
    assert inside == pytest.approx([SWITCH_INTERVAL, SWITCH_INTERVAL])
    assert sys.getswitchinterval() == before

    failing = StagingWriter(sa.create_engine(f"sqlite:///{tmp_path / 'no' / 'x.db'}"), write)
    with pytest.raises(sa.exc.OperationalError):
        failing.submit(3)
        failing.finish()
    failing.close()
    assert sys.getswitchinterval() == before
