"""Committing staged chunks in a second process, so that writing one chunk overlaps
reading and preparing the next.

A staging write is mostly the database's own work (SQLite's B-trees and WAL file,
PostgreSQL's round trips) and Python work of its own (binding every parameter). In a
thread it would fight the preparing thread for the GIL at every row; in a process of its
own it runs on the second core. Chunks are committed in the order they were submitted,
each in one transaction, exactly as they would be in-process; the caller learns which
are committed (`committed`) and waits for all of them (`finish`) before it moves a
watermark.
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Callable
from multiprocessing.connection import Connection as Pipe
from typing import Any

# A write: the staging connection (in a transaction) and the submitted arguments.
Write = Callable[..., None]

_DONE = None


class StagingWriteError(RuntimeError):
    """A chunk could not be committed by the writer process (the message says why)."""


def _serve(url: str, write: Write, pipe: Pipe) -> None:
    """The child: commit each chunk received, answer with its number or the failure."""
    from credit_sync.gc_pause import collector_paused
    from credit_sync.staging.store import new_engine

    engine = new_engine(url)
    try:
        with collector_paused():
            while (message := pipe.recv()) is not _DONE:
                number, args = message
                try:
                    with engine.begin() as conn:
                        write(conn, *args)
                except Exception as exc:  # reported to the parent, which raises it
                    pipe.send(("failed", number, _portable(exc)))
                    return
                pipe.send(("committed", number, None))
    finally:
        engine.dispose()
        pipe.close()


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return StagingWriteError(f"{type(exc).__name__}: {exc}")


class StagingWriter:
    """A child process committing `write(conn, *args)` per submitted chunk, in order.

    At most one chunk is being committed while the next one is sent: `submit` blocks
    until the child takes the chunk, so memory stays a few chunks however long the run.
    """

    def __init__(self, url: str, write: Write) -> None:
        # fork: the child starts at once and imports nothing again; it opens its own
        # engine and never touches the parent's connections.
        context = multiprocessing.get_context("fork")
        self._pipe, child_pipe = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(url, write, child_pipe), name="credit-sync-staging-writer"
        )
        self._process.daemon = True  # never outlives the task
        self._process.start()
        child_pipe.close()
        self._submitted = 0
        self._committed = 0

    def submit(self, *args: Any) -> int:
        """Send one chunk to be committed; returns its number (1, 2, ...)."""
        self._submitted += 1
        try:
            self._pipe.send((self._submitted, args))
        except (BrokenPipeError, ConnectionResetError):
            self._receive(block=True)  # the child stopped: raise what it reported
            raise StagingWriteError("the staging writer stopped") from None
        return self._submitted

    def committed(self) -> int:
        """How many chunks are committed so far (all of 1..n), without waiting."""
        self._receive(block=False)
        return self._committed

    def finish(self) -> None:
        """Wait until every submitted chunk is committed, then stop the child."""
        while self._committed < self._submitted:
            self._receive(block=True)
        self._pipe.send(_DONE)
        self._process.join()

    def close(self) -> None:
        """Stop the child whatever state it is in (after `finish`, or on a failure)."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._pipe.close()

    def _receive(self, block: bool) -> None:
        while block or self._pipe.poll():
            try:
                state, number, error = self._pipe.recv()
            except EOFError:
                raise StagingWriteError(
                    f"the staging writer (pid {self._process.pid}) ended without committing "
                    f"chunk {self._committed + 1} (exit code {self._process.exitcode})"
                ) from None
            if state == "failed":
                raise error
            self._committed = number
            block = False
