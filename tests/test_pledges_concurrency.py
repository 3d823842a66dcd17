"""Approvals at the same moment never take a pledge below zero: real concurrent processes and threads race to
approve applications against one pledge whose remaining amount covers only some of them, on SQLite (a file
database) and on PostgreSQL (a schema of its own). Each round exactly as many are approved as the amount covers,
the remaining amount ends at exactly zero, the rest are told the pledge no longer has enough, and nobody meets an
error (no "database is locked"). Also the automatic run racing the pledger's own approval."""
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, OutboxMessage, Pledge, PledgeApplication, User, utcnow
from portal.vocab import Role
from tests.concurrency import WAIT, Race, World, count, fresh_pg_schema, last_audit_id, run_race, sqlite_file
from tests.factories import make_area, make_pledge, make_pledge_application, make_provider, make_user

RACE = Race(processes=2, threads=8, rounds=10)  # 2 processes × 8 threads, 10 rounds
APPLICATION_PENCE = 100_000  # £1,000 each
COVERED = 3  # the pledge has £3,000 left: three applications fit


# --- the race (the harness is tests/concurrency.py) -----------------------------------------------------------------

def _approve(pledger_id: int, application_id: int, ready) -> str:
    """One contender: load the application as a view would, wait for everyone, approve it."""
    from portal.services import pledges

    application = db.session.get(PledgeApplication, application_id)
    pledger = db.session.get(User, pledger_id)
    ready()
    try:
        pledges.approve(application, by=pledger)
    except pledges.NotEnoughLeft as error:
        return "not enough" if "no longer has enough left" in error.message else f"error: {error.message}"
    return "approved"


def _build_world() -> World:
    """One pledge of £5,000 with £3,000 left; RACE.contenders applications of £1,000 from smaller employers."""
    area = make_area("Burnley")
    pledger = make_provider(area, name="Pennine Aerostructures", levy_payer=True)
    pledger_user = make_user(Role.PROVIDER, organisation=pledger)
    pledge = make_pledge(pledger, amount_pence=500_000, remaining_pence=COVERED * APPLICATION_PENCE)
    application_ids = []
    for n in range(RACE.contenders):
        applicant = make_provider(area, name=f"Small Employer {n} Ltd")
        make_user(Role.PROVIDER, organisation=applicant)
        application_ids.append(make_pledge_application(pledge, applicant, amount_pence=APPLICATION_PENCE).id)
    db.session.commit()
    return World(pledge.id, pledger_user.id, application_ids)


def _reset(pledge_id: int) -> int:
    """Every application back to awaiting approval, the pledge back to £3,000 left, no mail: the next round starts
    clean. The audit log is append-only: returns its last id so far."""
    db.session.execute(sa.update(PledgeApplication).values(status="awaiting_approval", decided_at=None,
                                                          decided_by_id=None))
    db.session.execute(sa.update(Pledge.__table__).where(Pledge.__table__.c.id == pledge_id)
                       .values(remaining_pence=COVERED * APPLICATION_PENCE))
    db.session.execute(sa.delete(OutboxMessage))
    db.session.commit()
    return last_audit_id()


def _check(round_no: int, pledge_id: int, outcomes: dict[int, str], last_audit: int) -> None:
    approved = sorted(a for a, outcome in outcomes.items() if outcome == "approved")
    assert len(approved) == COVERED, f"round {round_no}: {outcomes}"
    assert list(outcomes.values()).count("not enough") == RACE.contenders - COVERED
    assert db.session.get(Pledge, pledge_id).remaining_pence == 0
    assert sorted(db.session.scalars(select(PledgeApplication.id).where(
        PledgeApplication.status == "awaiting_acceptance"))) == approved
    assert count(PledgeApplication, PledgeApplication.status == "awaiting_approval") == RACE.contenders - COVERED
    assert count(AuditEvent, AuditEvent.action == "pledge_application.approve",
                 AuditEvent.id > last_audit) == COVERED


def _race(overrides: dict) -> None:
    """RACE.rounds rounds of RACE.contenders approvals released together for COVERED applications' worth."""
    run_race(overrides, RACE, build=_build_world, attempt=_approve, reset=_reset, check=_check)


@pytest.mark.slow
def test_processes_racing_on_sqlite_never_take_a_pledge_below_zero(tmp_path):
    _race(sqlite_file(tmp_path))


@pytest.mark.slow
@pytest.mark.postgres
def test_processes_racing_on_postgresql_never_take_a_pledge_below_zero():
    with fresh_pg_schema() as overrides:
        _race(overrides)


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
