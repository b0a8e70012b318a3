"""Memory housekeeping around bulk work: pausing Python's cyclic garbage collector, and
handing freed heap memory back to the system between chunks."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused(*, promote_survivors: bool = False) -> Iterator[None]:
    """No cyclic collection inside: staging or checking a chunk allocates tens of thousands
    of short-lived dicts and strings with no cycles (reference counting frees them), yet
    each allocation burst would make the collector walk the whole heap (seconds at a
    million records; in a forked child it would also copy each page it touches).

    With `promote_survivors`, what was allocated inside and is still alive (a chunk's
    results) goes straight to the oldest generation. Otherwise the first collection after
    the pause walks all of it only to find it alive and promote it: 0.27 s for the
    failures of a million records. Cycles left inside wait for the next full collection.
    Skipped when something else froze objects (gc.freeze before a fork): unfreezing would
    hand its objects back to the collector too.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if promote_survivors and not gc.get_freeze_count():
                gc.freeze()  # every generation, young ones included; their counts reset
                gc.unfreeze()  # ... and back, all in the oldest generation
            gc.enable()


def _libc_trim() -> object | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


_malloc_trim = _libc_trim()


def release_free_memory() -> None:
    """Return the C heap's free memory to the system (glibc's malloc_trim).

    A chunk's columns are allocated by the source reader's threads and freed by Polars
    in this one; glibc keeps such freed blocks in its per-thread heaps, and a million-row
    pull then held twice the memory of a 100k-row one. Trimmed after every chunk, peak
    memory stays that of a few chunks. Costs a few milliseconds."""
    if _malloc_trim is not None:
        _malloc_trim(0)
