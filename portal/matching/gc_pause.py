"""Python's cyclic garbage collector paused while a batch builds many small objects that form no cycles.

Why: the engine (and a matching run around it) creates hundreds of thousands of tuples, dataclasses and strings
in a few seconds. Every 700 allocations the collector runs, and each full collection walks every object alive,
the instance and the growing result included: on England's batch that cost 1.5-3 s of 17 (bench/README.md,
session 13). Those objects hold no reference cycles, so reference counting frees them as usual without the
collector; anything cyclic made meanwhile is collected as soon as the collector runs again.

The pause is process-wide (the collector is), so it is counted: nested or concurrent pauses (threads of one
server) end when the last one does, and the collector is switched back on only if it was on when the first began.
A process forked inside a pause (run_areas' solver workers) keeps its parent's count, so the pause, and gets a
fresh lock (another thread may have held it at the fork).
"""
import gc
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic collector for the block (reference counting still frees memory at once)."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at the fork


os.register_at_fork(after_in_child=_after_fork_in_child)
