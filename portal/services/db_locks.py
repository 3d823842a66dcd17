"""Write transactions that queue for the database instead of failing: `with write_transaction(): ...`.

Why: SQLite has one write lock for the whole file. The sqlite3 driver starts a transaction lazily, at the
first INSERT/UPDATE, as BEGIN DEFERRED; two use cases that read first and then write can both hold read
snapshots, and in WAL mode the second to write is refused at once with "database is locked" (the busy timeout
does not help a read transaction that must become a write one). Starting the use case with BEGIN IMMEDIATE
takes the write lock before the first read, so a second writer waits in BEGIN (retrying every millisecond or two,
then SQLite's busy_timeout, set on connect in portal/extensions.py) and then reads what the first one committed.
SQLAlchemy drops FOR UPDATE on SQLite, so this is the only way to serialise a check-then-write there.

Only use cases wrapped in write_transaction() take the write lock early: every other transaction, and every
read-only page, keeps the driver's usual lazy behaviour, so pages never queue behind writers (WAL lets them
read while one writes).

PostgreSQL needs nothing here for most use cases: their conditional UPDATEs lock the rows they change, and READ
COMMITTED re-checks their WHERE after waiting. The helper still gives both databases the same shape: a fresh
transaction for the use case, rolled back if the block raises or leaves anything uncommitted. The exception is a
matching run, which reads a whole area and writes what it found missing: `hold_matching_runs` keeps two runs of one
area apart there, as the write lock does on SQLite.
"""
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from portal.extensions import SQLITE_BUSY_TIMEOUT_MS, db
from portal.models import User

# A connection execution option: the transaction about to begin on this connection is a write use case.
WRITE_INTENT = "encounters_write_intent"


# How long a writer retries at short intervals before it leaves the rest of the wait to SQLite's busy handler, and
# the intervals: short, so a writer begins soon after the lock is free; growing, so many waiting writers do not take
# the CPU from the one holding it. SQLite's own handler sleeps 1, 2, 5, 10, 15, 20, 25 ms between tries, so a writer
# that finds the lock taken often sleeps on well after it was released (bench/README.md, sessions 12 and 15).
_RETRY_FOR_S = 1.0
_RETRY_FIRST_S, _RETRY_MOST_S = 0.0005, 0.002  # the first interval, growing by half each time up to the most


@event.listens_for(Engine, "begin")
def _begin_immediate(conn: Connection) -> None:
    """SQLite: begin a write use case's transaction with BEGIN IMMEDIATE (take the write lock now, or wait).

    The wait: first tries at intervals of half a millisecond growing to two, for up to a second (with the busy
    timeout off for those tries), then one last BEGIN IMMEDIATE that waits out the usual busy timeout and, if even
    that fails, raises SQLAlchemy's OperationalError as any other statement would.

    The sqlite3 driver, left in its default (legacy) transaction mode, sees that a transaction is open and does
    not emit its own BEGIN before the first write; COMMIT and ROLLBACK work as usual.
    """
    if conn.dialect.name != "sqlite" or not conn.get_execution_options().get(WRITE_INTENT):
        return
    if _try_begin_immediate(conn.connection.dbapi_connection):
        return
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _try_begin_immediate(dbapi_connection) -> bool:
    """BEGIN IMMEDIATE, retried at short intervals while the lock is taken: True once it began, False if the lock
    stayed taken for _RETRY_FOR_S or another error came. The connection's busy timeout is as it was afterwards."""
    deadline, interval = time.monotonic() + _RETRY_FOR_S, _RETRY_FIRST_S
    dbapi_connection.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return True
            except sqlite3.OperationalError as error:
                if "locked" not in str(error):
                    return False  # another error: the BEGIN through SQLAlchemy raises it, wrapped as usual
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)
            interval = min(interval * 1.5, _RETRY_MOST_S)
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


# The first key of the transaction-level advisory locks a matching run holds on PostgreSQL, one per area (the
# second key): "ENC" and 1, so they do not meet any other advisory lock on the same database.
MATCHING_RUN_LOCK = 0x454E4301


def hold_matching_runs(area_ids) -> None:
    """Inside a write transaction, before a matching run reads its areas: on PostgreSQL wait until no other
    transaction runs matching for any of them, and keep others out until this one ends (pg_advisory_xact_lock,
    taken in id order so two runs of overlapping areas never wait for each other in a circle). Without it, two
    runs of one area at once (the nightly `flask match run --all` and a coordinator's queued run) each read the
    area before the other had stored anything, and both stored the same proposals: every pairing twice in the
    queue. On SQLite the write transaction's lock already serialises them."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        return
    for area_id in sorted(set(area_ids)):
        connection.execute(text("SELECT pg_advisory_xact_lock(:run, :area)"), {"run": MATCHING_RUN_LOCK,
                                                                                "area": area_id})


_WROTE = "encounters_flushed_changes"
_WHO = ("id", "email")  # what history and audit rows read of the user who acts (see write_transaction)


@event.listens_for(Session, "after_flush")
def _note_flushed(session: Session, flush_context) -> None:
    session.info[_WROTE] = True


@event.listens_for(Session, "after_transaction_end")
def _forget_flushed(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_WROTE, None)


@contextmanager
def write_transaction(session: Session | None = None) -> Iterator[Session]:
    """Run a write use case in a transaction of its own that starts as a writer (BEGIN IMMEDIATE on SQLite).

    A read-only transaction already open on the session (a view loading the object it acts on) is ended first:
    a SQLite read snapshot cannot become a write transaction safely. Objects stay in the session, expired, and
    reload inside the new transaction, except who acts: a user's id and email stay as the request read them (the
    history and audit rows name the user signed in when it began), so writing those rows does not reload the user
    while the write lock is held. The block commits itself (once, at the end of the use case); anything it
    leaves uncommitted, or an exception, is rolled back, which also releases the write lock at once.
    """
    session = session or db.session()
    if session.in_transaction():
        if session.new or session.dirty or session.deleted or session.info.get(_WROTE):
            raise RuntimeError("write_transaction() started with unsaved changes in the session")
        who = [(user, {key: user.__dict__[key] for key in _WHO if key in user.__dict__})
               for user in session.identity_map.values() if isinstance(user, User)]
        session.rollback()
        for user, values in who:
            for key, value in values.items():
                set_committed_value(user, key, value)
    session.connection(execution_options={WRITE_INTENT: True})
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    if session.in_transaction():
        session.rollback()
