"""Approvals at the same moment never take a pledge below zero: real concurrent processes and threads race to
approve applications against one pledge whose remaining amount covers only some of them, on SQLite (a file
database) and on PostgreSQL (a schema of its own). Each round exactly as many are approved as the amount covers,
the remaining amount ends at exactly zero, the rest are told the pledge no longer has enough, and nobody meets an
error (no "database is locked"). Also the automatic run racing the pledger's own approval."""
import multiprocessing
import threading
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from portal import create_app
from portal.extensions import db
from portal.models import AuditEvent, OutboxMessage, Pledge, PledgeApplication, User, utcnow
from portal.vocab import Role
from tests.conftest import PG_URL, pg_engine_options
from tests.factories import make_area, make_pledge, make_pledge_application, make_provider, make_user

PROCESSES = 2
THREADS = 8  # per process
APPLICATION_PENCE = 100_000  # £1,000 each
COVERED = 3  # the pledge has £3,000 left: three applications fit
ROUNDS = 10
WAIT = 60  # seconds: a stuck round fails instead of hanging the run


# --- the child processes ---------------------------------------------------------------------------------------------

def _approve_one(app, pledger_id: int, application_id: int, round_no: int, barrier, results) -> None:
    """One thread: load the application as a view would, wait for everyone, approve it, report what happened."""
    from portal.services import pledges

    with app.app_context():
        try:
            application = db.session.get(PledgeApplication, application_id)
            pledger = db.session.get(User, pledger_id)
            barrier.wait(timeout=WAIT)
            pledges.approve(application, by=pledger)
            outcome = "approved"
        except pledges.NotEnoughLeft as error:
            outcome = "not enough" if "no longer has enough left" in error.message else f"error: {error.message}"
        except Exception as error:  # anything else is the failure this test exists to catch
            outcome = f"error: {type(error).__name__}: {error}"
        results.put((round_no, application_id, outcome))


def _worker(overrides: dict, pledger_id: int, tasks, barrier, results) -> None:
    """A process with its own app on the shared database: for each round, THREADS threads approve one each."""
    app = create_app("testing", overrides)
    while (job := tasks.get()) is not None:
        round_no, application_ids = job
        threads = [threading.Thread(target=_approve_one, args=(app, pledger_id, application_id, round_no, barrier,
                                                                results)) for application_id in application_ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    with app.app_context():
        db.engine.dispose()


# --- the race -------------------------------------------------------------------------------------------------------

def _build_world(app) -> tuple[int, int, list[int]]:
    """One pledge of £5,000 with £3,000 left; PROCESSES × THREADS applications of £1,000 from smaller employers."""
    with app.app_context():
        db.create_all()
        area = make_area("Burnley")
        pledger = make_provider(area, name="Pennine Aerostructures", levy_payer=True)
        pledger_user = make_user(Role.PROVIDER, organisation=pledger)
        pledge = make_pledge(pledger, amount_pence=500_000, remaining_pence=COVERED * APPLICATION_PENCE)
        application_ids = []
        for n in range(PROCESSES * THREADS):
            applicant = make_provider(area, name=f"Small Employer {n} Ltd")
            make_user(Role.PROVIDER, organisation=applicant)
            application_ids.append(make_pledge_application(pledge, applicant, amount_pence=APPLICATION_PENCE).id)
        db.session.commit()
        return pledge.id, pledger_user.id, application_ids


def _reset(pledge_id: int) -> int:
    """Every application back to awaiting approval, the pledge back to £3,000 left, no mail: the next round starts
    clean. The audit log is append-only: returns its last id so far."""
    db.session.execute(sa.update(PledgeApplication).values(status="awaiting_approval", decided_at=None,
                                                          decided_by_id=None))
    db.session.execute(sa.update(Pledge.__table__).where(Pledge.__table__.c.id == pledge_id)
                       .values(remaining_pence=COVERED * APPLICATION_PENCE))
    db.session.execute(sa.delete(OutboxMessage))
    db.session.commit()
    return db.session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0)))


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _race(overrides: dict) -> None:
    """ROUNDS rounds of PROCESSES × THREADS approvals released together for COVERED applications' worth."""
    app = create_app("testing", overrides)
    pledge_id, pledger_id, application_ids = _build_world(app)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES * THREADS)
    results = context.Queue()
    tasks = [context.Queue() for _ in range(PROCESSES)]
    workers = [context.Process(target=_worker, args=(overrides, pledger_id, tasks[n], barrier, results),
                               daemon=True) for n in range(PROCESSES)]
    for worker in workers:
        worker.start()
    try:
        with app.app_context():
            for round_no in range(ROUNDS):
                last_audit = _reset(pledge_id)
                # A different split of the applications between the processes each round.
                order = application_ids[round_no:] + application_ids[:round_no]
                for n, task in enumerate(tasks):
                    task.put((round_no, order[n::PROCESSES]))
                outcomes = {}
                for _ in application_ids:
                    got_round, application_id, outcome = results.get(timeout=WAIT)
                    assert got_round == round_no
                    outcomes[application_id] = outcome
                errors = [outcome for outcome in outcomes.values() if outcome.startswith("error")]
                assert errors == [], f"round {round_no}: {errors[:3]}"
                approved = sorted(a for a, outcome in outcomes.items() if outcome == "approved")
                assert len(approved) == COVERED, f"round {round_no}: {outcomes}"
                assert list(outcomes.values()).count("not enough") == len(application_ids) - COVERED

                db.session.expire_all()
                assert db.session.get(Pledge, pledge_id).remaining_pence == 0
                assert sorted(db.session.scalars(select(PledgeApplication.id).where(
                    PledgeApplication.status == "awaiting_acceptance"))) == approved
                assert _count(PledgeApplication, PledgeApplication.status == "awaiting_approval") == \
                    len(application_ids) - COVERED
                assert _count(AuditEvent, AuditEvent.action == "pledge_application.approve",
                              AuditEvent.id > last_audit) == COVERED
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
    assert [worker.exitcode for worker in workers] == [0] * PROCESSES


@pytest.mark.slow
def test_processes_racing_on_sqlite_never_take_a_pledge_below_zero(tmp_path):
    _race({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'race.db'}"})


@pytest.fixture
def fresh_pg_schema():
    """A PostgreSQL schema of this test's own, dropped afterwards."""
    if PG_URL is None:
        pytest.skip("PostgreSQL is not reachable (set TEST_DATABASE_URL)")
    schema = f"enc_race_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield {"SQLALCHEMY_DATABASE_URI": PG_URL, "SQLALCHEMY_ENGINE_OPTIONS": pg_engine_options(schema)}
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_processes_racing_on_postgresql_never_take_a_pledge_below_zero(fresh_pg_schema):
    _race(fresh_pg_schema)


# --- the automatic run and the pledger at the same moment ------------------------------------------------------------

def test_the_auto_approval_run_and_the_pledgers_approval_at_once_reserve_once(app):
    """Both reach for the same due application: it is approved once, its amount reserved once."""
    from portal.services import pledges

    area = make_area("Burnley")
    pledger = make_provider(area, levy_payer=True)
    pledger_user = make_user(Role.PROVIDER, organisation=pledger)
    pledge = make_pledge(pledger, amount_pence=300_000, auto_approve=True, auto_approve_delay_days=0)
    applicant = make_provider(area)
    application = make_pledge_application(pledge, applicant, amount_pence=APPLICATION_PENCE,
                                          auto_approve_at=utcnow())
    db.session.commit()
    ids = (application.id, pledger_user.id, pledge.id)
    for attempt in range(5):
        if attempt:
            db.session.execute(sa.update(PledgeApplication).values(status="awaiting_approval",
                                                                  auto_approve_at=utcnow()))
            db.session.execute(sa.update(Pledge.__table__).values(remaining_pence=300_000))
            db.session.commit()
        barrier, outcomes = threading.Barrier(2), []

        def by_pledger(barrier=barrier, outcomes=outcomes):
            with app.app_context():
                target, user = db.session.get(PledgeApplication, ids[0]), db.session.get(User, ids[1])
                barrier.wait(timeout=WAIT)
                try:
                    outcomes.append("already" if pledges.approve(target, by=user).already else "approved")
                except Exception as error:
                    outcomes.append(f"{type(error).__name__}: {error}")

        def by_run(barrier=barrier, outcomes=outcomes):
            with app.app_context():
                barrier.wait(timeout=WAIT)
                try:
                    summary = pledges.run_due()
                    outcomes.append("approved" if summary.approved else "skipped")
                except Exception as error:
                    outcomes.append(f"{type(error).__name__}: {error}")

        threads = [threading.Thread(target=by_pledger), threading.Thread(target=by_run)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=WAIT)
        assert sorted(outcomes) in (["approved", "skipped"], ["already", "approved"]), outcomes
        db.session.expire_all()
        assert db.session.get(Pledge, ids[2]).remaining_pence == 200_000
        assert db.session.get(PledgeApplication, ids[0]).status == "awaiting_acceptance"
