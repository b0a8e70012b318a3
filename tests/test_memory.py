"""credit_sync.memory: the collector paused around bulk work."""

from __future__ import annotations

import gc

from credit_sync.memory import collector_paused


def test_collector_paused_inside_and_enabled_again() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_collector_left_disabled_when_it_was() -> None:
    gc.disable()
    try:
        with collector_paused(promote_survivors=True):
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_survivors_promoted_without_a_young_collection() -> None:
    with collector_paused(promote_survivors=True):
        survivors = [[i] for i in range(20_000)]  # tracked containers, alive after the pause
    young, middle, _ = gc.get_count()
    assert young < 1_000 and middle == 0  # no walk of the survivors is pending
    assert gc.get_freeze_count() == 0  # promoted, not frozen
    assert gc.is_tracked(survivors[0])


def test_objects_someone_else_froze_stay_frozen() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with collector_paused(promote_survivors=True):
            survivors = [[i] for i in range(1_000)]
        assert gc.get_freeze_count() == frozen
        assert survivors
    finally:
        gc.unfreeze()
