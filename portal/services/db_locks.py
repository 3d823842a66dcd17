"""Write transactions that queue for the database instead of failing: `with write_transaction(): ...`.

Why: SQLite has one write lock for the whole file. The sqlite3 driver starts a transaction lazily, at the
first INSERT/UPDATE, as BEGIN DEFERRED; two use cases that read first and then write can both hold read
snapshots, and in WAL mode the second to write is refused at once with "database is locked" (the busy timeout
does not help a read transaction that must become a write one). Starting the use case with BEGIN IMMEDIATE
takes the write lock before the first read, so a second writer waits in BEGIN (busy_timeout, set on connect in
portal/extensions.py) and then reads what the first one committed. SQLAlchemy drops FOR UPDATE on SQLite, so
this is the only way to serialise a check-then-write there.

Only use cases wrapped in write_transaction() take the write lock early: every other transaction, and every
read-only page, keeps the driver's usual lazy behaviour, so pages never queue behind writers (WAL lets them
read while one writes).

PostgreSQL needs nothing here: the use cases' conditional UPDATEs lock the rows they change, and READ COMMITTED
re-checks their WHERE after waiting. The helper still gives both databases the same shape: a fresh transaction
for the use case, rolled back if the block raises or leaves anything uncommitted.
"""
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from portal.extensions import db

# A connection execution option: the transaction about to begin on this connection is a write use case.
WRITE_INTENT = "encounters_write_intent"


@event.listens_for(Engine, "begin")
def _begin_immediate(conn: Connection) -> None:
    """SQLite: begin a write use case's transaction with BEGIN IMMEDIATE (take the write lock now, or wait).

    The sqlite3 driver, left in its default (legacy) transaction mode, sees that a transaction is open and does
    not emit its own BEGIN before the first write; COMMIT and ROLLBACK work as usual.
    """
    if conn.dialect.name != "sqlite" or not conn.get_execution_options().get(WRITE_INTENT):
        return
    conn.exec_driver_sql("BEGIN IMMEDIATE")


_WROTE = "encounters_flushed_changes"


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
    reload inside the new transaction. The block commits itself (once, at the end of the use case); anything it
    leaves uncommitted, or an exception, is rolled back, which also releases the write lock at once.
    """
    session = session or db.session()
    if session.in_transaction():
        if session.new or session.dirty or session.deleted or session.info.get(_WROTE):
            raise RuntimeError("write_transaction() started with unsaved changes in the session")
        session.rollback()
    session.connection(execution_options={WRITE_INTENT: True})
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    if session.in_transaction():
        session.rollback()
