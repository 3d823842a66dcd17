"""The race harness shared by the concurrency tests: real processes × threads on one shared database (a SQLite file
or a PostgreSQL schema of the test's own) released together at a barrier, round after round.

A test gives four plain functions: `build` (the world, once), `attempt` (one contender's action in a child thread;
module-level, so a spawned process can import it), `reset` (before each round) and `check` (after each round, with
every contender's outcome). The harness owns the processes, the barrier, the queues, the rotation of contenders
between processes, and the two checks every race makes: each outcome belongs to this round and none is an error."""
import contextlib
import multiprocessing
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from portal import create_app
from portal.extensions import db
from tests.conftest import PG_URL, pg_engine_options

WAIT = 60  # seconds: a stuck round fails instead of hanging the run


@dataclass(frozen=True)
class Race:
    """How hard to race: `processes` processes of `threads` threads each, released together, `rounds` times."""
    processes: int
    threads: int  # per process
    rounds: int

    @property
    def contenders(self) -> int:
        return self.processes * self.threads


class World(NamedTuple):
    subject_id: int  # what they race for (an offer, a pledge)
    actor_id: int  # who presses the button in every thread
    contender_ids: list[int]  # one per thread (a match, an application)


# An attempt runs inside the child's app context: load what a view would, call ready() (the barrier), act, and
# return an outcome label. Anything it raises is reported as "error: ...".
Attempt = Callable[[int, int, Callable[[], object]], str]


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def last_audit_id() -> int:
    """The audit log is append-only: its last id so far, to count one round's entries."""
    from portal.models import AuditEvent

    return db.session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0)))


def sqlite_file(tmp_path) -> dict:
    return {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'race.db'}"}


@contextlib.contextmanager
def fresh_pg_schema() -> Iterator[dict]:
    """A PostgreSQL schema of the test's own, dropped afterwards; skips the test when PostgreSQL is unreachable."""
    if PG_URL is None:
        pytest.skip("PostgreSQL is not reachable (set TEST_DATABASE_URL)")
    schema = f"enc_race_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield {"SQLALCHEMY_DATABASE_URI": PG_URL, "SQLALCHEMY_ENGINE_OPTIONS": pg_engine_options(schema)}
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# --- the child processes ---------------------------------------------------------------------------------------------

def _attempt_one(app, attempt: Attempt, actor_id: int, contender_id: int, round_no: int, barrier, results) -> None:
    """One thread: run the attempt in an app context of its own and report what happened."""
    with app.app_context():
        try:
            outcome = attempt(actor_id, contender_id, lambda: barrier.wait(timeout=WAIT))
        except Exception as error:  # anything unexpected is the failure these tests exist to catch
            outcome = f"error: {type(error).__name__}: {error}"
        results.put((round_no, contender_id, outcome))


def _worker(overrides: dict, attempt: Attempt, actor_id: int, tasks, barrier, results) -> None:
    """A process with its own app on the shared database: for each round, a thread per contender it is given."""
    app = create_app("testing", overrides)
    while (job := tasks.get()) is not None:
        round_no, contender_ids = job
        threads = [threading.Thread(target=_attempt_one, args=(app, attempt, actor_id, contender_id, round_no,
                                                                barrier, results)) for contender_id in contender_ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    with app.app_context():
        db.engine.dispose()


# --- the race -------------------------------------------------------------------------------------------------------

def run_race(overrides: dict, race: Race, *, build: Callable[[], World], attempt: Attempt,
             reset: Callable[[int], int], check: Callable[[int, int, dict[int, str], int], None]) -> None:
    """`race.rounds` rounds of all contenders released together. Each round: `reset(subject_id)` returns the last
    audit id so far; the contenders are split between the processes (a different split each round); then
    `check(round_no, subject_id, outcomes, last_audit)` with outcomes {contender id: label}."""
    app = create_app("testing", overrides)
    with app.app_context():
        db.create_all()
        world = build()
    assert len(world.contender_ids) == race.contenders, "one contender per thread, or the barrier never opens"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(race.contenders)
    results = context.Queue()
    tasks = [context.Queue() for _ in range(race.processes)]
    workers = [context.Process(target=_worker, args=(overrides, attempt, world.actor_id, tasks[n], barrier, results),
                               daemon=True) for n in range(race.processes)]
    for worker in workers:
        worker.start()
    try:
        with app.app_context():
            for round_no in range(race.rounds):
                last_audit = reset(world.subject_id)
                ids = world.contender_ids
                order = ids[round_no:] + ids[:round_no]
                for n, task in enumerate(tasks):
                    task.put((round_no, order[n::race.processes]))
                outcomes = {}
                for _ in ids:
                    got_round, contender_id, outcome = results.get(timeout=WAIT)
                    assert got_round == round_no
                    outcomes[contender_id] = outcome
                errors = [outcome for outcome in outcomes.values() if outcome.startswith("error")]
                assert errors == [], f"round {round_no}: {errors[:3]}"
                db.session.expire_all()
                check(round_no, world.subject_id, outcomes, last_audit)
                db.session.commit()
    finally:
        for task in tasks:
            task.put(None)
        for worker in workers:
            worker.join(timeout=WAIT)
            if worker.is_alive():
                worker.terminate()
                worker.join()
        for channel in (*tasks, results):
            channel.close()
            channel.join_thread()
        with app.app_context():
            db.engine.dispose()
    assert [worker.exitcode for worker in workers] == [0] * race.processes
