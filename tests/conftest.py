"""Fixtures: an app with a fresh database per test (SQLite, and PostgreSQL where it answers),
a client, a CLI runner, log-in helpers and a real SMTP server on loopback.

PostgreSQL is used when TEST_DATABASE_URL is set or a server answers on 127.0.0.1:5432
(user postgres, database test). Browser tests need /usr/bin/chromium. With CI=true both are
required: their absence stops the run with a message instead of skipping.
"""
import os
import shutil
import socket
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import g, has_app_context
from flask.testing import FlaskClient

from portal import create_app
from portal.extensions import db
from tests import smtp

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = Path("/usr/bin/chromium")
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _pg_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        from config import database_url

        return database_url(url)
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            pass
    except OSError:
        return None
    return DEFAULT_PG_URL


PG_URL = _pg_url()
PG_SCHEMA = f"enc_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"


def pytest_configure(config):
    if CI and PG_URL is None:
        pytest.exit("CI=true but PostgreSQL is not reachable: set TEST_DATABASE_URL or start it on 127.0.0.1:5432",
                    returncode=3)
    if CI and not CHROMIUM.exists():
        pytest.exit("CI=true but /usr/bin/chromium is missing: apt-get install -y chromium", returncode=3)


def pytest_collection_modifyitems(config, items):
    """Run `sqlite_only` tests on SQLite alone (deselected, not skipped, for PostgreSQL)."""
    keep, drop = [], []
    for item in items:
        backend = getattr(item, "callspec", None) and item.callspec.params.get("database")
        (drop if "sqlite_only" in item.keywords and backend == "postgresql" else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    if not CHROMIUM.exists():
        skip = pytest.mark.skip(reason="browser tests need /usr/bin/chromium")
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(skip)


def pg_engine_options(schema: str) -> dict:
    """Each test run gets its own PostgreSQL schema, so runs never see each other's rows."""
    return {"pool_pre_ping": True, "connect_args": {"options": f"-csearch_path={schema}"}}


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file with the schema, made once; each test gets a copy (much faster than create_all)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        db.create_all()
        db.session.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        db.engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_schema():
    """Create this run's PostgreSQL schema with every table; drop it at the end."""
    if PG_URL is None:
        pytest.skip("PostgreSQL is not reachable (set TEST_DATABASE_URL)")
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{PG_SCHEMA}"'))
    engine = sa.create_engine(PG_URL, **pg_engine_options(PG_SCHEMA))
    db.metadata.create_all(engine)
    engine.dispose()
    yield PG_SCHEMA
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{PG_SCHEMA}" CASCADE'))
    admin.dispose()


BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def database(request, tmp_path, sqlite_template) -> dict:
    """Config overrides pointing at a fresh, empty database of the parametrised kind."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(sqlite_template, path)
        return {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"}
    schema = request.getfixturevalue("pg_schema")
    engine = sa.create_engine(PG_URL, **pg_engine_options(schema))
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return {"SQLALCHEMY_DATABASE_URI": PG_URL, "SQLALCHEMY_ENGINE_OPTIONS": pg_engine_options(schema)}


@pytest.fixture(scope="session")
def smtp_server():
    """A real SMTP server (aiosmtpd) on a loopback port; it keeps what it receives."""
    server = smtp.SmtpServer()
    server.start()
    yield server
    server.stop()


class PerRequestUserClient(FlaskClient):
    """The `app` fixture holds an app context open, so `g` outlives each request, and Flask-Login caches
    the user in `g`. Forget it before every request, so each one loads its user from its own cookie
    (as in production); otherwise a logged-out or replayed cookie would be judged by a stale user."""

    def open(self, *args, **kwargs):
        if has_app_context():
            g.pop("_login_user", None)
        return super().open(*args, **kwargs)


@pytest.fixture
def app(database, smtp_server):
    """An app on a fresh database, sending mail to the loopback SMTP server."""
    smtp_server.clear()
    app = create_app("testing", {**database, "MAIL_PORT": smtp_server.port, "MAIL_SERVER": "127.0.0.1"})
    app.test_client_class = PerRequestUserClient
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def login(client):
    """Sign a user in on the test client without the form (the sign-in form has its own tests)."""

    def _login(user, *, two_step_setup_required: bool = False):
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
            if two_step_setup_required:
                session["two_step_setup_required"] = True
        return user

    return _login


@pytest.fixture
def mailbox(app, smtp_server):
    """Deliver the outbox through real SMTP and return what the server received."""
    from portal.services import outbox

    def _deliver():
        outbox.send_pending()
        return list(smtp_server.messages)

    return _deliver
