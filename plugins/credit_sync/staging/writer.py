"""Committing staged chunks in a writer thread, so that writing one chunk overlaps reading
and preparing the next.

Preparing a chunk is mostly compiled work that releases the GIL (the source reader's
decoding, Polars' normalisation and JSON writing), and so is most of a write: the SQLite
library inserts and commits without the GIL, psycopg2 waits on the network without it.
A thread therefore runs on the second core without copying the chunk anywhere, and it is
safe where a forked process is not (Polars' thread pool does not survive a fork). A
writer process was tried three times: pickling each chunk cost as much as writing it;
handing it over as an Arrow file or stream cost little, but the pipeline stayed as fast
as with this thread (the machine's two cores were the limit, not the GIL), even when it
wrote through ADBC's SQLite driver without Python in the loop, while the second
interpreter held another 240-370 MB (docs/benchmarks.md).

Chunks are committed in the order they were submitted, each in one transaction on the
writer's own connection, exactly as they would be in the caller's thread; the caller
learns which are committed (`committed`) and waits for all of them (`finish`) before it
moves a watermark. On SQLite the write-ahead log is checkpointed by a thread of its own
(`staging/checkpoint.py`), not by the writer's commits.

While a writer runs, Python's threads take turns on the GIL every `SWITCH_INTERVAL`
instead of every 5 ms: the extraction's thread, back from a Polars call that released
the GIL, otherwise waited up to 5 ms for the writer to finish a stretch of Python (its
content hashes, its parameters), many times a chunk (docs/benchmarks.md).
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection, Engine

from credit_sync.staging.checkpoint import (
    DEFAULT_AUTOCHECKPOINT,
    WalCheckpointer,
    set_autocheckpoint,
)

# A write: the staging connection (in a transaction) and the submitted arguments.
Write = Callable[..., None]

SWITCH_INTERVAL = 0.0005  # seconds; Python's default is 0.005


class _GilTurns:
    """The interpreter's switch interval at most `SWITCH_INTERVAL` while any writer runs
    (a process-wide setting: the value before the first writer comes back after the
    last)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._writers = 0
        self._before = 0.0  # the interval the first running writer found

    def begin(self) -> None:
        with self._lock:
            if not self._writers:
                self._before = sys.getswitchinterval()
                sys.setswitchinterval(min(self._before, SWITCH_INTERVAL))
            self._writers += 1

    def end(self) -> None:
        with self._lock:
            self._writers -= 1
            if not self._writers:
                sys.setswitchinterval(self._before)


_gil_turns = _GilTurns()

_DONE = None


class StagingWriteError(RuntimeError):
    """The staging writer stopped without committing a chunk (the message says why)."""


class StagingWriter:
    """A thread committing `write(conn, *args)` per submitted chunk, in order.

    At most one chunk waits while another is being committed: `submit` blocks until the
    writer takes the waiting one, so memory stays a few chunks however long the run. A
    failed write stops the writer; the caller gets the write's own exception from its
    next `submit`, `committed` or `finish`.
    """

    def __init__(self, engine: Engine, write: Write) -> None:
        self._engine, self._write = engine, write
        self._chunks: queue.Queue[tuple[int, tuple[Any, ...]] | None] = queue.Queue(maxsize=1)
        self._lock = threading.Lock()
        self._submitted = 0
        self._committed = 0
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._serve, name="credit-sync-staging-writer", daemon=True
        )
        self._thread.start()

    def _serve(self) -> None:
        _gil_turns.begin()
        try:
            with self._engine.connect() as conn:
                checkpointer = None
                if conn.dialect.name == "sqlite":  # checkpoints off this thread's path
                    set_autocheckpoint(conn, 0)
                    checkpointer = WalCheckpointer(self._engine)
                try:
                    self._commit_chunks(conn, checkpointer)
                finally:
                    if checkpointer is not None:
                        checkpointer.stop()
                        _restore_autocheckpoint(conn)
        except BaseException as exc:  # handed to the caller, which raises it
            with self._lock:
                self._error = exc
        finally:
            _gil_turns.end()

    def _commit_chunks(self, conn: Connection, checkpointer: WalCheckpointer | None) -> None:
        """Commit chunks until told to stop; a failed write ends it with its exception."""
        while (message := self._chunks.get()) is not _DONE:
            number, args = message
            if checkpointer is not None:
                if checkpointer.running:
                    checkpointer.keep_up()
                else:  # it failed: SQLite checkpoints from this connection's commits again
                    set_autocheckpoint(conn, DEFAULT_AUTOCHECKPOINT)
                    checkpointer = None
            with conn.begin():
                self._write(conn, *args)
            with self._lock:
                self._committed = number
            if checkpointer is not None:
                checkpointer.request()

    def submit(self, *args: Any) -> int:
        """Hand one chunk over to be committed; returns its number (1, 2, ...)."""
        self._raise_failure()
        self._submitted += 1
        while True:
            try:
                self._chunks.put((self._submitted, args), timeout=0.5)
                return self._submitted
            except queue.Full:
                self._raise_failure()  # a writer that failed takes nothing more

    def committed(self) -> int:
        """How many chunks are committed so far (all of 1..n), without waiting."""
        self._raise_failure()
        with self._lock:
            return self._committed

    def finish(self) -> None:
        """Wait until every submitted chunk is committed, then stop the thread."""
        self._stop()
        self._raise_failure()
        if self._committed < self._submitted:
            raise StagingWriteError(
                f"the staging writer ended after committing {self._committed} of "
                f"{self._submitted} chunks"
            )

    def close(self) -> None:
        """Stop the thread whatever state it is in (after `finish`, or on a failure).
        A chunk being written is finished or rolled back, never left half-written."""
        self._stop()

    def _stop(self) -> None:
        if not self._thread.is_alive():
            return
        while True:
            try:
                self._chunks.put(_DONE, timeout=0.5)
                break
            except queue.Full:
                if not self._thread.is_alive():
                    return
        self._thread.join()

    def _raise_failure(self) -> None:
        with self._lock:
            error = self._error
        if error is not None:
            raise error


def _restore_autocheckpoint(conn: Connection) -> None:
    """SQLite's own checkpoints back on the writer's connection before the pool takes it
    again; a connection where that fails is not pooled again."""
    try:
        if conn.in_transaction():
            conn.rollback()
        set_autocheckpoint(conn, DEFAULT_AUTOCHECKPOINT)
    except Exception:
        conn.invalidate()
