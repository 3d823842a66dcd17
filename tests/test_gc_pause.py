"""The collector pause around matching runs (portal/matching/gc_pause.py): off inside, back as it was after,
whatever nests, overlaps in threads, fails or forks."""
import gc
import os
import signal
import threading

import pytest

from portal.matching import engine, gc_pause
from portal.matching.gc_pause import gc_paused
from tests.test_matching_engine import instance


@pytest.fixture(autouse=True)
def collector_on():
    gc.enable()
    yield
    gc.enable()


def test_paused_inside_and_back_on_after():
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_back_on_after_an_exception():
    with pytest.raises(ValueError), gc_paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_nested_pauses_end_with_the_outermost():
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off():
    gc.disable()
    with gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_overlapping_pauses_in_threads_end_with_the_last():
    a_in, b_in, a_may_leave, b_may_leave = (threading.Event() for _ in range(4))
    seen = {}

    def first():
        with gc_paused():
            a_in.set()
            a_may_leave.wait(5)
        seen["after_first"] = gc.isenabled()
        b_may_leave.set()

    def second():
        a_in.wait(5)
        with gc_paused():
            b_in.set()
            b_may_leave.wait(5)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    b_in.wait(5)
    a_may_leave.set()  # the first ends while the second is still inside
    for thread in threads:
        thread.join(5)
    assert seen["after_first"] is False
    assert gc.isenabled()


def test_a_process_forked_while_the_lock_is_held_can_pause():
    gc_pause._lock.acquire()  # another thread inside gc_paused() at the moment of the fork
    try:
        pid = os.fork()
        if pid == 0:  # the child: would wait forever on the copied lock without the reset
            signal.alarm(5)
            with gc_paused():
                pass
            os._exit(0)
    finally:
        gc_pause._lock.release()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_process_forked_inside_a_pause_stays_paused_after_its_own():
    with gc_paused():
        pid = os.fork()
        if pid == 0:  # the child (a solver worker): its own pause ends, its parent's goes on
            signal.alarm(5)
            with gc_paused():
                pass
            os._exit(0 if not gc.isenabled() else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert gc.isenabled()


def test_the_engine_solves_with_the_collector_paused(monkeypatch):
    seen = []
    real = engine._solve

    def spy(net, n_pairs):
        seen.append(gc.isenabled())
        return real(net, n_pairs)

    monkeypatch.setattr(engine, "_solve", spy)
    result = engine.solve(instance())
    assert result.proposals  # the flow ran
    assert seen and not any(seen)
    assert gc.isenabled()
