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
