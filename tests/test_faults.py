"""Faults injected on purpose: the mail relay flapping under two senders, PostgreSQL connections killed between
and in the middle of requests, a worker process SIGKILLed inside an approval, a read-only SQLite file and a full
disk. Each time: a 503 page (never a 500 or a stack trace), nothing half-written, and recovery without a restart.

SMTP down and back with one sender, an unreachable relay and two senders racing are in tests/test_outbox.py.
"""
import multiprocessing
import os
import signal
import sqlite3
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.pool import NullPool

from portal import create_app
from portal.extensions import db
from portal.models import AuditEvent, Match, MatchEvent, Offer, OutboxMessage, OutboxStatus, User
from portal.vocab import Role
from tests.conftest import PG_URL
from tests.factories import make_area, make_offer, make_provider, make_request, make_school, make_user

WAIT = 20  # seconds: a stuck step fails the test instead of hanging the run
PLACES = 8
POSTGRESQL = pytest.mark.parametrize("database", ["postgresql"], indirect=True)
SQLITE = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


# --- helpers ----------------------------------------------------------------------------------------------------------

@pytest.fixture
def overrides(database) -> dict:
    """The test database's settings; on PostgreSQL the connections carry an application_name of this test's own,
    so the test can kill exactly them (and nobody else's) from an admin connection."""
    config = dict(database)
    options = config.get("SQLALCHEMY_ENGINE_OPTIONS")
    if options:
        name = f"enc_fault_{uuid.uuid4().hex[:10]}"
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **options, "connect_args": {**options["connect_args"], "application_name": name}}
        config["FAULT_APPLICATION_NAME"] = name
    return config


def _build_world(app) -> dict:
    """An offer with PLACES places and PLACES proposed matches of one pupil each, and their coordinator."""
    with app.app_context():
        area = make_area("Burnley")
        provider = make_provider(area, name="Acme Engineering")
        make_user(Role.PROVIDER, organisation=provider)
        offer = make_offer(provider, title="Fault talk", sessions=1, per_session=PLACES)
        school = make_school(area, name="Burnley High")
        make_user(Role.CAREERS_LEAD, organisation=school)
        coordinator = make_user(Role.COORDINATOR, areas=[area])
        match_ids = []
        for _ in range(PLACES):
            match = Match(offer=offer, request=make_request(school, pupils=1), area_id=area.id, allocation=1,
                          origin="engine")
            db.session.add(match)
            db.session.flush()
            match_ids.append(match.id)
        world = {"offer": offer.id, "coordinator": coordinator.id, "coordinator_key": coordinator.get_id(),
                 "matches": match_ids}
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return world


def _client(app, world):
    """A signed-in coordinator. No app context is held open around requests, so each request has its own session and
    gives its connection back to the pool at the end, as in production."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = world["coordinator_key"]
        session["_fresh"] = True
    return client


def _state(app, world, match_id: int) -> tuple:
    """(offer allocated, match status, history rows, approval audit rows, queued mails), read afresh."""
    with app.app_context():
        try:
            return (db.session.scalar(select(Offer.allocated).where(Offer.id == world["offer"])),
                    db.session.scalar(select(Match.status).where(Match.id == match_id)),
                    _count(MatchEvent),
                    _count(AuditEvent, AuditEvent.action == "match.approve"),
                    _count(OutboxMessage))
        finally:
            db.session.remove()


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _assert_clean_503(response) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code == 503, body[:500]
    assert "The service is unavailable" in body
    assert "Traceback" not in body and "OperationalError" not in body and "psycopg" not in body


def _admin_engine():
    return sa.create_engine(PG_URL, poolclass=NullPool)


def _backends(admin, name: str, state: str | None = None) -> int:
    with admin.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name "
                                    "AND (CAST(:state AS text) IS NULL OR state = :state)"),
                            {"name": name, "state": state}).scalar_one()


def _kill_backends(name: str) -> int:
    """Terminate every server connection of this test (by its application_name); wait until they are gone."""
    admin = _admin_engine()
    try:
        with admin.begin() as conn:
            killed = conn.execute(sa.text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                          "WHERE application_name = :name AND pid <> pg_backend_pid()"),
                                  {"name": name}).scalar_one()
        deadline = time.monotonic() + WAIT
        while _backends(admin, name):
            assert time.monotonic() < deadline, "the killed connections did not go away"
            time.sleep(0.05)
    finally:
        admin.dispose()
    return killed


def _integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def _sqlite_path(overrides: dict) -> Path:
    return Path(overrides["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))


# --- SMTP flapping under two senders ----------------------------------------------------------------------------------

def test_two_senders_while_the_relay_flaps_deliver_everything_exactly_once(app, smtp_server, monkeypatch):
    from portal.services import outbox
    from portal.services.mail import queue_mail

    app.config["OUTBOX_MAX_ATTEMPTS"] = 10_000
    monkeypatch.setattr(outbox, "retry_delay", lambda attempts: timedelta(0))  # retry at once, on the real clock
    recipients = []
    for i in range(20):
        user = make_user(name=f"Person {i}")
        queue_mail(user.email, "Your Encounters account has been disabled", "account_disabled", user=user)
        recipients.append(user.email)
    db.session.commit()
    db.session.remove()

    stop = threading.Event()
    failures, errors = [], []

    def flapper():
        while not stop.is_set():
            smtp_server.refuse = not smtp_server.refuse
            time.sleep(0.003)

    def sender():
        try:
            with app.app_context():
                for _ in range(400):
                    result = outbox.send_pending(limit=5)
                    failures.append(result.failed)
                    if _count(OutboxMessage, OutboxMessage.status == OutboxStatus.PENDING) == 0:
                        break
                db.session.remove()
        except Exception as error:  # surfaced below: an exception in a thread would pass silently
            errors.append(error)

    threads = [threading.Thread(target=flapper)] + [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads[1:]:
        thread.join(timeout=60)
    stop.set()
    threads[0].join(timeout=5)
    smtp_server.refuse = False
    outbox.send_pending()  # anything left after the last flap

    assert errors == []
    assert sum(failures) > 0  # the relay really was down some of the time
    received = sorted(m["To"] for m in smtp_server.messages)
    assert received == sorted(recipients)  # everything once, nothing twice
    db.session.expire_all()
    assert set(db.session.scalars(select(OutboxMessage.status))) == {OutboxStatus.SENT}


# --- PostgreSQL connections killed --------------------------------------------------------------------------------

@POSTGRESQL
def test_killed_idle_connections_are_replaced_by_pre_ping(overrides):
    app = create_app("testing", overrides)
    world = _build_world(app)
    client = _client(app, world)
    for _ in range(3):
        assert client.get("/matches").status_code == 200

    assert _kill_backends(overrides["FAULT_APPLICATION_NAME"]) >= 1

    assert client.get("/matches").status_code == 200
    assert client.post(f"/matches/{world['matches'][0]}/approve").status_code == 302
    assert _state(app, world, world["matches"][0])[:3] == (1, "approved", 1)
    with app.app_context():
        db.engine.dispose()


@POSTGRESQL
def test_without_pre_ping_a_killed_connection_gives_a_503_and_the_next_request_recovers(overrides):
    overrides["SQLALCHEMY_ENGINE_OPTIONS"] = {**overrides["SQLALCHEMY_ENGINE_OPTIONS"], "pool_pre_ping": False}
    app = create_app("testing", overrides)
    world = _build_world(app)
    client = _client(app, world)
    assert client.get("/matches").status_code == 200

    assert _kill_backends(overrides["FAULT_APPLICATION_NAME"]) >= 1

    _assert_clean_503(client.get("/matches"))
    assert client.get("/matches").status_code == 200  # the pool was invalidated: a new connection, no restart
    assert client.post(f"/matches/{world['matches'][0]}/approve").status_code == 302
    with app.app_context():
        db.engine.dispose()


@POSTGRESQL
@pytest.mark.parametrize("path", ["/no-such-page", "/matches/999999999"])
def test_a_signed_in_error_page_with_the_database_gone_is_a_clean_503(overrides, path):
    """A 404 draws the signed-in user's navigation: with the database gone it must not become a bare 500."""
    overrides["SQLALCHEMY_ENGINE_OPTIONS"] = {**overrides["SQLALCHEMY_ENGINE_OPTIONS"], "pool_pre_ping": False}
    app = create_app("testing", overrides)
    world = _build_world(app)
    client = _client(app, world)
    assert client.get(path).status_code == 404

    assert _kill_backends(overrides["FAULT_APPLICATION_NAME"]) >= 1

    _assert_clean_503(client.get(path))
    assert client.get(path).status_code == 404  # recovered without a restart
    with app.app_context():
        db.engine.dispose()


@POSTGRESQL
def test_a_connection_killed_in_the_middle_of_an_approval_gives_a_503_and_writes_nothing(overrides, monkeypatch):
    from portal.services import matches

    app = create_app("testing", overrides)
    world = _build_world(app)
    match_id = world["matches"][0]
    client = _client(app, world)
    assert client.get("/matches").status_code == 200
    paused, resume = threading.Event(), threading.Event()
    take_places = matches._take_places

    def take_places_then_pause(offer, allocation):
        take_places(offer, allocation)  # the capacity UPDATE has run, inside the approval's transaction
        paused.set()
        assert resume.wait(WAIT)

    monkeypatch.setattr(matches, "_take_places", take_places_then_pause)
    responses = []
    request = threading.Thread(target=lambda: responses.append(client.post(f"/matches/{match_id}/approve")))
    request.start()
    assert paused.wait(WAIT)
    assert _kill_backends(overrides["FAULT_APPLICATION_NAME"]) >= 1
    resume.set()
    request.join(WAIT)

    [response] = responses
    _assert_clean_503(response)
    assert _state(app, world, match_id) == (0, "proposed", 0, 0, 0)

    monkeypatch.setattr(matches, "_take_places", take_places)
    assert client.post(f"/matches/{match_id}/approve").status_code == 302
    assert _state(app, world, match_id) == (1, "approved", 1, 1, 2)
    with app.app_context():
        db.engine.dispose()


# --- a worker process killed in the middle of an approval -------------------------------------------------------------

def _approve_and_hang(overrides: dict, coordinator_id: int, match_id: int, signal_path: str) -> None:
    """The child: approve a match, but stop for good after the capacity UPDATE, before the commit."""
    from portal.services import matches

    app = create_app("testing", overrides)
    take_places = matches._take_places

    def take_places_then_hang(offer, allocation):
        take_places(offer, allocation)
        Path(signal_path).write_text("in the transaction")
        time.sleep(120)  # SIGKILLed long before this ends

    matches._take_places = take_places_then_hang
    with app.app_context():
        matches.approve_match(db.session.get(Match, match_id), by=db.session.get(User, coordinator_id))


def test_a_worker_killed_in_the_middle_of_an_approval_leaves_nothing_and_capacity_right(overrides, tmp_path):
    app = create_app("testing", overrides)
    world = _build_world(app)
    match_id = world["matches"][0]
    signal_path = tmp_path / "paused"
    child = multiprocessing.get_context("spawn").Process(
        target=_approve_and_hang, args=(overrides, world["coordinator"], match_id, str(signal_path)), daemon=True)
    child.start()
    try:
        deadline = time.monotonic() + WAIT
        while not signal_path.exists():
            assert child.is_alive() and time.monotonic() < deadline, "the child never reached the pause"
            time.sleep(0.02)
        # The child really is inside its write transaction.
        if "FAULT_APPLICATION_NAME" in overrides:
            admin = _admin_engine()
            assert _backends(admin, overrides["FAULT_APPLICATION_NAME"], "idle in transaction") == 1
            admin.dispose()
        else:
            probe = sqlite3.connect(_sqlite_path(overrides), timeout=0)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                probe.execute("BEGIN IMMEDIATE")
            probe.close()
        os.kill(child.pid, signal.SIGKILL)
        child.join(WAIT)
    finally:
        if child.is_alive():
            child.kill()
            child.join()
    assert child.exitcode == -signal.SIGKILL

    assert _state(app, world, match_id) == (0, "proposed", 0, 0, 0)
    if "FAULT_APPLICATION_NAME" not in overrides:
        assert _integrity(_sqlite_path(overrides)) == "ok"

    from portal.services import matches

    with app.app_context():
        started = time.monotonic()
        matches.approve_match(db.session.get(Match, match_id), by=db.session.get(User, world["coordinator"]))
        assert time.monotonic() - started < 5  # the dead worker's lock was released, nobody waited for it
        db.session.remove()
    assert _state(app, world, match_id) == (1, "approved", 1, 1, 2)
    with app.app_context():
        db.engine.dispose()


# --- SQLite read-only and full -------------------------------------------------------------------------------------

@SQLITE
def test_a_read_only_sqlite_file_answers_writes_with_a_503_and_reads_still_work(overrides):
    path = _sqlite_path(overrides)
    world = _build_world(create_app("testing", overrides))
    # Opened read-only by SQLite itself: chmod would not stop a test run as root.
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///file:{path}?mode=ro&uri=true"})
    client = _client(app, world)

    assert client.get("/matches").status_code == 200
    response = client.post(f"/matches/{world['matches'][0]}/approve")
    _assert_clean_503(response)
    assert "cannot save" in response.get_data(as_text=True).lower()
    assert client.get("/matches").status_code == 200
    with app.app_context():
        db.engine.dispose()

    assert _integrity(path) == "ok"
    assert _state(create_app("testing", overrides), world, world["matches"][0]) == (0, "proposed", 0, 0, 0)


def _approve_on_a_full_disk(overrides: dict, world: dict, limit: int, results) -> None:
    """The child: may not write files beyond `limit` bytes; approves match after match until a request fails."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG instead of killing us
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    app = create_app("testing", overrides)
    client = _client(app, world)
    statuses, body = [], ""
    for match_id in world["matches"]:
        response = client.post(f"/matches/{match_id}/approve")
        statuses.append(response.status_code)
        if response.status_code != 302:
            body = response.get_data(as_text=True)
            break
    after = client.get("/matches").status_code
    results.put((statuses, body, after))


@SQLITE
def test_a_full_disk_gives_a_503_keeps_what_was_committed_and_no_corruption(overrides):
    path = _sqlite_path(overrides)
    app = create_app("testing", overrides)
    world = _build_world(app)
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_approve_on_a_full_disk, args=(overrides, world, 80 * 1024, results))
    child.start()
    statuses, body, after = results.get(timeout=60)
    child.join(WAIT)
    assert child.exitcode == 0

    assert 302 in statuses and statuses[-1] == 503, statuses
    assert set(statuses[:-1]) == {302}
    assert "cannot save" in body.lower() and "Traceback" not in body
    assert after == 200  # reading still works
    assert _integrity(path) == "ok"
    approved = len(statuses) - 1
    with app.app_context():
        assert db.session.get(Offer, world["offer"]).allocated == approved
        assert _count(Match, Match.status == "approved") == approved
        assert _count(MatchEvent) == approved
        db.session.remove()
        db.engine.dispose()
