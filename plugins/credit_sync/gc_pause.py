"""Pausing Python's cyclic garbage collector around bulk work on plain data."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside: staging or checking a chunk allocates tens of thousands
    of short-lived dicts and strings with no cycles (reference counting frees them), yet
    each allocation burst would make the collector walk the whole heap (seconds at a
    million records; in a forked child it would also copy each page it touches)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
