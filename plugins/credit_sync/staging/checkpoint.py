"""Checkpointing a SQLite store's write-ahead log from a thread of its own during a pull.

SQLite copies the WAL into the database file (a checkpoint) from whichever connection's
commit takes the WAL past 1,000 pages, and with `synchronous=NORMAL` that commit then
waits for two fsyncs. In a large pull the staging writer was that connection after
every other chunk: about a third of its time went to copying and syncing, while the
extraction thread waited for it (docs/benchmarks.md). The writer's connection turns its
automatic checkpoints off and asks this thread for one after each commit instead. The
sqlite3 module releases the GIL for the whole checkpoint, so it overlaps the next
chunk's write; durability is unchanged (the same checkpoints, the same fsyncs).

A PASSIVE checkpoint never waits for the writer or for readers; what it cannot copy yet
the next one copies. The log is restarted from its beginning only by a write that
begins after a checkpoint has copied all of it: a writer that is the pipeline's
bottleneck always begins its next chunk before, so it waits for a whole checkpoint
whenever the log has grown past `MAX_WAL_BYTES` (`keep_up`).
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

# How long the log may grow while the writer outruns the checkpoints before it waits for
# one to catch up (`keep_up`).
MAX_WAL_BYTES = 64 * 2**20

# SQLite's default `wal_autocheckpoint`, put back on the writer's connection afterwards
# (it goes back to the engine's pool).
DEFAULT_AUTOCHECKPOINT = 1000


def set_autocheckpoint(conn: Connection, pages: int) -> None:
    """This connection's automatic checkpoint threshold (0: none), outside a transaction."""
    conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={int(pages)}")
    conn.commit()


class WalCheckpointer:
    """A thread running `PRAGMA wal_checkpoint(PASSIVE)` on its own connection each time
    it is asked (`request`), once for any number of requests made while it was busy;
    `stop` runs a last one and ends the thread. A failure (no connection, an I/O error)
    is logged and ends the thread; the writer then turns SQLite's own checkpoints back
    on (`running`), and its writes, which would meet the same fault, report it."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._changed = threading.Condition()
        self._requested = 0  # requests made, numbered 1, 2, ...
        self._served = 0  # every request up to this one is served by a finished checkpoint
        self._running = True
        self._stopping = False
        self.checkpoints = 0  # done so far
        self.log_bytes = 0  # the log's length at the last one
        self._thread = threading.Thread(
            target=self._serve, name="credit-sync-wal-checkpointer", daemon=True
        )
        self._thread.start()

    @property
    def running(self) -> bool:
        """False once the thread has ended (after `stop`, or on a failure)."""
        with self._changed:
            return self._running

    def request(self) -> None:
        """Ask for a checkpoint of everything committed so far."""
        with self._changed:
            self._requested += 1
            self._changed.notify_all()

    def keep_up(self) -> None:
        """Before a write: wait until at most the last request is outstanding, so that
        the log's length, known from the last checkpoint, is at most two commits old;
        past `MAX_WAL_BYTES`, wait for all of them, so that the write restarts the log."""
        with self._changed:
            latest = self._requested
            self._wait_for(latest - 1)
            if self.log_bytes > MAX_WAL_BYTES:
                self._wait_for(latest)

    def _wait_for(self, number: int) -> None:
        """Wait (holding `_changed`) until a checkpoint begun after request `number` has
        finished, or the thread has stopped."""
        self._changed.wait_for(lambda: self._served >= number or not self._running)

    def stop(self) -> None:
        """A last checkpoint, then the thread ends."""
        with self._changed:
            self._stopping = True
            self._requested += 1
            self._changed.notify_all()
        self._thread.join()

    def _serve(self) -> None:
        try:
            with self._engine.connect() as conn:
                page_size = conn.exec_driver_sql("PRAGMA page_size").scalar() or 0
                conn.commit()
                while True:
                    with self._changed:
                        self._changed.wait_for(lambda: self._requested > self._served)
                        wanted, stopping = self._requested, self._stopping
                    _busy, logged, copied = conn.exec_driver_sql(
                        "PRAGMA wal_checkpoint(PASSIVE)"
                    ).one()
                    conn.commit()
                    log.debug("staging WAL checkpoint: %s of %s pages copied", copied, logged)
                    with self._changed:
                        self.checkpoints += 1
                        self.log_bytes = logged * page_size
                        self._served = wanted
                        self._changed.notify_all()
                    if stopping:
                        return
        except Exception as exc:  # logged: the store checkpoints itself later
            log.warning(
                "staging WAL checkpoints stopped (%s: %s); the staging writer's commits "
                "checkpoint again",
                type(exc).__name__,
                exc,
            )
        finally:
            with self._changed:
                self._running = False
                self._changed.notify_all()
