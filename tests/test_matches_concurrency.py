"""Approvals at the same moment never over-allocate an offer: real concurrent processes and threads race for the
last places on SQLite (a file database) and on PostgreSQL (a schema of its own), and two coordinators press
Approve through the web for the last place. Also the SQLite write-transaction helper: it takes the write lock
early only for write use cases, and a second writer waits for the first instead of failing."""
import queue as queue_module
import threading
import time

import pytest
import sqlalchemy as sa
from sqlalchemy import event, func, select

from portal.extensions import SQLITE_BUSY_TIMEOUT_MS, db
from portal.models import AuditEvent, Match, MatchEvent, Offer, OutboxMessage, SchoolRequest, User
from portal.vocab import Role
from tests.concurrency import WAIT, Race, World, count, fresh_pg_schema, last_audit_id, run_race, sqlite_file
from tests.factories import make_area, make_offer, make_provider, make_request, make_school, make_user

RACE = Race(processes=2, threads=8, rounds=20)  # 2 processes × 8 threads, 20 rounds
CAPACITY = 3


# --- the race (the harness is tests/concurrency.py) -----------------------------------------------------------------

def _approve(coordinator_id: int, match_id: int, ready) -> str:
    """One contender: load the match as a view would, wait for everyone, approve it."""
    from portal.services import matches

    match = db.session.get(Match, match_id)
    coordinator = db.session.get(User, coordinator_id)
    ready()
    try:
        matches.approve_match(match, by=coordinator)
    except matches.OfferFull:
        return "full"
    return "approved"


def _build_world() -> World:
    """One offer with CAPACITY places; RACE.contenders proposed matches of 1 for as many requests."""
    area = make_area("Burnley")
    provider = make_provider(area, name="Acme Engineering")
    make_user(Role.PROVIDER, organisation=provider)
    school = make_school(area, name="Burnley High")
    make_user(Role.CAREERS_LEAD, organisation=school)
    offer = make_offer(provider, title="Last places", sessions=1, per_session=CAPACITY)
    coordinator = make_user(Role.COORDINATOR, areas=[area])
    match_ids = []
    for _ in range(RACE.contenders):
        school_request = make_request(school, pupils=1)
        match = Match(offer=offer, request=school_request, area_id=area.id, allocation=1, origin="engine")
        db.session.add(match)
        db.session.flush()
        match_ids.append(match.id)
    db.session.commit()
    return World(offer.id, coordinator.id, match_ids)


def _reset(offer_id: int) -> int:
    """Every match back to proposed, the offer empty, no history or mail: the next round starts clean. The audit log
    is append-only: returns its last id so far."""
    db.session.execute(sa.update(Match).values(status="proposed"))
    db.session.execute(sa.update(SchoolRequest).values(status="open"))
    db.session.execute(sa.update(Offer.__table__).where(Offer.__table__.c.id == offer_id).values(allocated=0))
    for model in (MatchEvent, OutboxMessage):
        db.session.execute(sa.delete(model))
    db.session.commit()
    return last_audit_id()


def _check(round_no: int, offer_id: int, outcomes: dict[int, str], last_audit: int) -> None:
    approved = sorted(m for m, outcome in outcomes.items() if outcome == "approved")
    assert len(approved) == CAPACITY, f"round {round_no}: {outcomes}"
    assert list(outcomes.values()).count("full") == RACE.contenders - CAPACITY
    assert db.session.get(Offer, offer_id).allocated == CAPACITY
    assert sorted(db.session.scalars(select(Match.id).where(Match.status == "approved"))) == approved
    assert count(MatchEvent) == CAPACITY
    assert count(AuditEvent, AuditEvent.action == "match.approve", AuditEvent.id > last_audit) == CAPACITY


def _race(overrides: dict) -> None:
    """RACE.rounds rounds of RACE.contenders approvals released together for CAPACITY places."""
    run_race(overrides, RACE, build=_build_world, attempt=_approve, reset=_reset, check=_check)


@pytest.mark.slow
def test_processes_racing_on_sqlite_never_overbook(tmp_path):
    _race(sqlite_file(tmp_path))


@pytest.mark.slow
@pytest.mark.postgres
def test_processes_racing_on_postgresql_never_overbook():
    with fresh_pg_schema() as overrides:
        _race(overrides)


# --- two coordinators press Approve for the last place --------------------------------------------------------------

def _signed_in_client(app, user):
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    return client


def test_two_coordinators_pressing_approve_for_the_last_place(app):
    """One is told it is approved, the other that the offer is full; never an error page."""
    area = make_area("Burnley")
    offer = make_offer(make_provider(area), title="Last place talk", sessions=1, per_session=CAPACITY)
    school = make_school(area, name="Burnley High")
    coordinators = [make_user(Role.COORDINATOR, areas=[area]) for _ in range(2)]
    held = Match(offer=offer, request=make_request(school, pupils=CAPACITY - 1), area_id=area.id,
                 allocation=CAPACITY - 1, origin="engine", status="approved")
    offer.allocated = CAPACITY - 1
    db.session.add(held)
    contenders = []
    for _ in range(2):
        school_request = make_request(school, pupils=1)
        contenders.append(Match(offer=offer, request=school_request, area_id=area.id, allocation=1, origin="engine"))
        db.session.add(contenders[-1])
    db.session.commit()
    clients = [_signed_in_client(app, user) for user in coordinators]
    for attempt in range(3):
        if attempt:
            db.session.execute(sa.update(Match).where(Match.id.in_([m.id for m in contenders]))
                               .values(status="proposed"))
            db.session.execute(sa.update(SchoolRequest).where(SchoolRequest.id.in_([m.request_id for m in contenders]))
                               .values(status="open"))
            db.session.execute(sa.update(Offer.__table__).values(allocated=CAPACITY - 1))
            db.session.commit()
        barrier = threading.Barrier(2)
        answers: queue_module.Queue = queue_module.Queue()

        def press(client, match_id, barrier=barrier, answers=answers):
            barrier.wait(timeout=WAIT)
            response = client.post(f"/matches/{match_id}/approve")
            page = client.get(response.headers.get("Location", "/matches"))
            answers.put((response.status_code, page.status_code, page.get_data(as_text=True)))

        threads = [threading.Thread(target=press, args=(client, match.id))
                   for client, match in zip(clients, contenders, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=WAIT)
        got = [answers.get_nowait() for _ in threads]
        assert [(status, page_status) for status, page_status, _ in got] == [(302, 200), (302, 200)]
        pages = [html for _, _, html in got]
        assert sum("is approved. We have emailed" in html for html in pages) == 1
        assert sum("This offer is full: no pupils left." in html for html in pages) == 1
        db.session.expire_all()
        assert db.session.get(Offer, offer.id).allocated == CAPACITY
        assert count(Match, Match.status == "approved") == 2


def test_two_approvals_for_one_request_at_once_count_its_places_one_after_the_other(app):
    """Two offers for one request approved at the same moment: each sees the other's places (the request's row is
    read under the lock), so the request ends matched and nobody meets a stale-data error."""
    from portal.services import matches

    area = make_area("Burnley")
    provider = make_provider(area)
    offers = [make_offer(provider, sessions=1, per_session=10) for _ in range(2)]
    school_request = make_request(make_school(area), pupils=4)
    coordinator = make_user(Role.COORDINATOR, areas=[area])
    pair = [Match(offer=offer, request=school_request, area_id=area.id, allocation=2, origin="engine")
            for offer in offers]
    db.session.add_all(pair)
    db.session.commit()
    ids, coordinator_id, request_id = [m.id for m in pair], coordinator.id, school_request.id
    for attempt in range(5):
        if attempt:
            db.session.execute(sa.update(Match).values(status="proposed"))
            db.session.execute(sa.update(Offer.__table__).values(allocated=0))
            db.session.execute(sa.update(SchoolRequest.__table__).values(status="open"))
            db.session.commit()
        barrier, outcomes = threading.Barrier(2), queue_module.Queue()

        def approve(match_id, barrier=barrier, outcomes=outcomes):
            with app.app_context():
                match, user = db.session.get(Match, match_id), db.session.get(User, coordinator_id)
                barrier.wait(timeout=WAIT)
                try:
                    matches.approve_match(match, by=user)
                    outcomes.put("approved")
                except Exception as error:
                    outcomes.put(f"{type(error).__name__}: {error}")

        threads = [threading.Thread(target=approve, args=(match_id,)) for match_id in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=WAIT)
        assert [outcomes.get_nowait() for _ in threads] == ["approved", "approved"]
        db.session.expire_all()
        assert db.session.get(SchoolRequest, request_id).status == "matched"


# --- the write-transaction helper (SQLite) ----------------------------------------------------------------------------

def _lock_is_free() -> bool:
    """Whether another connection to the same SQLite file can take the write lock right now."""
    import sqlite3

    other = sqlite3.connect(db.engine.url.database, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as error:
        assert "locked" in str(error)
        return False
    finally:
        other.close()


@pytest.mark.sqlite_only
def test_only_write_use_cases_take_the_write_lock_early(app):
    from portal.services.db_locks import write_transaction

    db.session.scalar(select(func.count()).select_from(Match))
    assert _lock_is_free()  # a read keeps the driver's lazy transaction: no lock
    db.session.commit()
    with write_transaction():
        db.session.scalar(select(func.count()).select_from(Match))
        assert not _lock_is_free()  # taken at the start, before any write
        db.session.commit()
    assert _lock_is_free()
    # The quick retries leave the connection's busy timeout as it was.
    assert db.session.connection().exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
    db.session.rollback()


@pytest.mark.sqlite_only
def test_a_writer_retries_quickly_then_waits_out_the_busy_timeout(app, monkeypatch):
    """While another connection holds the lock, BEGIN IMMEDIATE is retried every millisecond or two for a while, then
    SQLite's busy handler waits out the busy timeout and the use case fails with SQLAlchemy's OperationalError
    (no raw driver error); the lock released, the next writer begins at once."""
    import sqlite3

    from portal.services import db_locks
    from portal.services.db_locks import write_transaction

    tries: list[float] = []
    real = db_locks._try_begin_immediate

    def counting(dbapi_connection):
        class Counted:
            def execute(self, statement):
                if statement == "BEGIN IMMEDIATE":
                    tries.append(time.monotonic())
                return dbapi_connection.execute(statement)
        return real(Counted())

    monkeypatch.setattr(db_locks, "_try_begin_immediate", counting)
    monkeypatch.setattr(db_locks, "_RETRY_FOR_S", 0.05)
    monkeypatch.setattr(db_locks, "SQLITE_BUSY_TIMEOUT_MS", 200)
    holder = sqlite3.connect(db.engine.url.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        db.session.connection().exec_driver_sql("PRAGMA busy_timeout=200")
        db.session.commit()
        started = time.monotonic()
        with pytest.raises(sa.exc.OperationalError, match="locked"), write_transaction():
            pass
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(tries) >= 10  # retried at short intervals (0.5 ms growing to 2 ms), not once
    assert tries[-1] - tries[0] <= 0.05 + 0.02
    assert waited >= 0.05 + 0.15  # then the busy timeout's wait
    tries.clear()
    with write_transaction():
        db.session.commit()
    assert len(tries) == 1


@pytest.mark.sqlite_only
def test_a_second_writer_waits_for_the_first_instead_of_failing(app):
    """busy_timeout makes BEGIN IMMEDIATE wait; the second writer then reads what the first committed."""
    from portal.services.db_locks import write_transaction

    area = make_area("Burnley")
    db.session.commit()
    holding, finished = threading.Event(), {}

    def first():
        with app.app_context(), write_transaction():
            db.session.execute(sa.update(type(area)).values(name="First"))
            holding.set()
            time.sleep(0.4)
            db.session.commit()

    def second():
        holding.wait(timeout=WAIT)
        with app.app_context():
            db.session.get(type(area), area.id)  # a read first, as a view does
            started = time.monotonic()
            with write_transaction():
                name = db.session.scalar(select(type(area).name))
                db.session.execute(sa.update(type(area)).values(name=f"{name}, then second"))
                db.session.commit()
            finished["waited"] = time.monotonic() - started

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT)
    assert finished["waited"] >= 0.2
    db.session.expire_all()
    assert db.session.get(type(area), area.id).name == "First, then second"


def test_write_transaction_keeps_who_acts_and_reloads_the_rest(app):
    """After the read transaction ends, the acting user's id and email need no query (the history and audit rows
    read them under the write lock); their other columns, and every other object, reload as the database has them."""
    from portal.services.db_locks import write_transaction

    area = make_area("Keeping")
    user = make_user(Role.COORDINATOR, email="keeps@example.org", name="Before")
    db.session.commit()
    db.session.get(User, user.id), db.session.get(type(area), area.id)  # loaded in a read transaction, as a view does
    with db.engine.begin() as other:  # someone else renames both meanwhile
        other.execute(sa.update(User).where(User.id == user.id).values(name="After"))
        other.execute(sa.update(type(area)).where(type(area).id == area.id).values(name="Renamed"))
    seen: list[str] = []
    listener = lambda conn, cursor, statement, *args: seen.append(statement)  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        with write_transaction():
            assert (user.id, user.email) == (user.id, "keeps@example.org")
            assert not any("FROM users" in statement for statement in seen)
            assert user.name == "After" and area.name == "Renamed"
            db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert any("FROM users" in statement for statement in seen)


def test_write_transaction_refuses_unsaved_changes(app):
    from portal.services.db_locks import write_transaction

    make_area("Unsaved")
    with pytest.raises(RuntimeError, match="unsaved changes"), write_transaction():
        pass
    db.session.rollback()
