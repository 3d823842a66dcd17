"""`flask backup` / `flask restore`: the restore drill, on SQLite and PostgreSQL, and the failures.

The drill: a thread keeps writing through the app while the backup runs; the backup is restored into a new
database, which must pass its integrity check, hold exactly the rows the backup file holds (counted in the
file, not in the live database, which kept changing), be at the migrations' head, and serve /healthz.
"""
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from portal import create_app
from portal.extensions import db
from portal.models import AuditEvent
from portal.services import audit
from portal.vocab import Role
from tests import factories
from tests.conftest import PG_URL, pg_engine_options

ROOT = Path(__file__).resolve().parent.parent
NAME = re.compile(r"encounters-\d{8}T\d{6}Z\.(sqlite3|pgdump)$")


@pytest.fixture(params=["sqlite", "postgresql"])
def live(request, tmp_path):
    """A migrated database (so it has alembic_version) with some rows, and where its restore goes."""
    if request.param == "sqlite":
        config = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'live.db'}"}
        target = str(tmp_path / "restored" / "restored.db")
        restored_config = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{target}"}
        yield request.param, config, target, restored_config
        return
    if PG_URL is None:
        pytest.skip("PostgreSQL is not reachable")  # CI=true refuses to start without it (conftest)
    schema, database = f"enc_bk_{uuid.uuid4().hex[:10]}", f"enc_restore_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    target = sa.engine.make_url(PG_URL).set(database=database).render_as_string(hide_password=False)
    config = {"SQLALCHEMY_DATABASE_URI": PG_URL, "SQLALCHEMY_ENGINE_OPTIONS": pg_engine_options(schema)}
    restored_config = {"SQLALCHEMY_DATABASE_URI": target, "SQLALCHEMY_ENGINE_OPTIONS": pg_engine_options(schema)}
    yield request.param, config, target, restored_config
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    admin.dispose()


def _seed() -> None:
    area = factories.make_area()
    school = factories.make_school(area)
    for _ in range(3):
        factories.make_offer(factories.make_provider(area))
    factories.make_user(Role.CAREERS_LEAD, organisation=school)
    for n in range(50):
        audit.record("backup.drill.seed", detail=str(n))
    db.session.commit()


class Writer(threading.Thread):
    """Inserts audit events through the app's own service and session, one commit each, until stopped."""

    def __init__(self, app):
        super().__init__(daemon=True)
        self.app, self.stop, self.committed, self.error = app, threading.Event(), 0, None

    def run(self):
        try:
            with self.app.app_context():
                while not self.stop.is_set():
                    audit.record("backup.drill.write", detail=str(self.committed))
                    db.session.commit()
                    self.committed += 1
                db.session.remove()
        except Exception as error:  # reported by the test, not lost in the thread
            self.error = error

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 30
        while self.committed < count and self.error is None:
            assert time.monotonic() < deadline, "the writer thread made no progress"
            time.sleep(0.01)


def _sqlite_counts(path: Path) -> tuple[dict[str, int], list[str]]:
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}  # noqa: S608
        integrity = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    conn.close()
    return counts, integrity


def _pgdump_counts(path: Path, tables: list[str]) -> dict[str, int]:
    """Rows per table in the dump file itself: the lines of each COPY block (COPY escapes newlines)."""
    sql = subprocess.run(["pg_restore", "--data-only", "--file=-", str(path)],
                         capture_output=True, text=True, check=True).stdout
    counts = dict.fromkeys(tables, 0)
    current = None
    for line in sql.splitlines():
        if current is None:
            copy = re.match(r"^COPY \S+?\.(\S+) \(.*\) FROM stdin;$", line)
            if copy:
                current = copy.group(1).strip('"')
        elif line == "\\.":
            current = None
        else:
            counts[current] += 1
    return counts


def test_restore_drill_backup_under_writes_restores_complete_and_serves(live, tmp_path):
    backend, config, target, restored_config = live
    app = create_app("testing", config)
    with app.app_context():
        flask_migrate.upgrade()
        _seed()
        tables = sorted(sa.inspect(db.engine).get_table_names())
        heads = set(ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config()).get_heads())
        runner = app.test_cli_runner()

        writer = Writer(app)
        writer.start()
        try:
            writer.wait_for(20)
            before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
            started = time.monotonic()
            result = runner.invoke(args=["backup", "--dir", str(tmp_path / "backups")])
            backup_seconds = time.monotonic() - started
            after = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
            writer.wait_for(writer.committed + 20)  # writes carry on after the backup too
        finally:
            writer.stop.set()
            writer.join(timeout=30)
        assert writer.error is None, writer.error
        db.session.remove()
        live_final = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
        db.session.remove()
        db.engine.dispose()

    assert result.exit_code == 0, result.output
    files = list((tmp_path / "backups").iterdir())
    assert len(files) == 1 and NAME.search(files[0].name), files
    backup_file = files[0]
    assert f"Backup written to {backup_file} (" in result.output
    assert re.search(r"\(\d+(\.\d)? (bytes|KB|MB)\)", result.output)
    print(f"{backend}: backup of {backup_file.stat().st_size} bytes in {backup_seconds:.2f}s")

    if backend == "sqlite":
        in_backup, integrity = _sqlite_counts(backup_file)
        assert integrity == ["ok"]
    else:
        in_backup = _pgdump_counts(backup_file, tables)
    assert set(in_backup) == set(tables)
    # A snapshot taken during the writes: at least what was committed before, no more than after,
    # and the live database went on past it.
    assert before <= in_backup["audit_events"] <= after < live_final
    assert in_backup["organisations"] >= 4 and in_backup["offers"] == 3 and in_backup["users"] == 1

    app = create_app("testing", config)
    with app.app_context():
        runner = app.test_cli_runner()
        restored = runner.invoke(args=["restore", str(backup_file), "--to", target])
        assert restored.exit_code == 0, restored.output
        assert "Restored into" in restored.output and "(head)" in restored.output
        assert f"{len(tables)} tables, {sum(in_backup.values())} rows" in restored.output

        again = runner.invoke(args=["restore", str(backup_file), "--to", target])
        assert again.exit_code == 1 and "not empty" in again.output and "Traceback" not in again.output
        forced = runner.invoke(args=["restore", str(backup_file), "--to", target, "--force"])
        assert forced.exit_code == 0, forced.output
        db.engine.dispose()

    if backend == "sqlite":
        restored_counts, integrity = _sqlite_counts(Path(target))
        assert integrity == ["ok"]
        assert restored_counts == in_backup

    restored_app = create_app("testing", restored_config)
    with restored_app.app_context():
        inspector_tables = sorted(sa.inspect(db.engine).get_table_names())
        assert inspector_tables == tables
        with db.engine.connect() as conn:
            counts = {t: conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one()  # noqa: S608
                      for t in tables}
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
        assert counts == in_backup
        assert version in heads
        response = restored_app.test_client().get("/healthz")
        assert response.status_code == 200 and response.get_json() == {"status": "ok", "database": "ok"}
        db.session.remove()
        db.engine.dispose()


def _fresh_sqlite_app(tmp_path):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'live.db'}"})
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    return app


def test_backup_into_an_unwritable_place_fails_cleanly(tmp_path):
    app = _fresh_sqlite_app(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["backup", "--dir", str(blocker / "backups")])
    assert result.exit_code == 1
    assert "Cannot create the backup directory" in result.output and "not a directory" in result.output.lower()
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_backup_on_a_full_disk_fails_cleanly_and_keeps_nothing(tmp_path):
    """A real write failure: the `flask backup` process may not write files bigger than 16 KB."""
    live_db = tmp_path / "live.db"
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{live_db}"})
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()
    assert live_db.stat().st_size > 64 * 1024
    out = tmp_path / "backups"

    def limit_file_size():
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))

    env = {**os.environ, "PORTAL_ENV": "development", "DATABASE_URL": f"sqlite:///{live_db}"}
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "backup", "--dir", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                          preexec_fn=limit_file_size, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Error: The backup to" in done.stderr and "Nothing was kept." in done.stderr
    assert "Traceback" not in done.stderr
    assert list(out.iterdir()) == []  # no partial file left behind
    with sqlite3.connect(live_db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_backup_of_an_unreachable_postgresql_fails_cleanly(tmp_path):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://enc:secret@127.0.0.1:1/enc"})
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["backup", "--dir", str(tmp_path)])
        db.engine.dispose()
    assert result.exit_code == 1
    assert "Cannot reach the database postgresql+psycopg://enc:***@127.0.0.1:1/enc" in result.output
    assert "secret" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_restore_refuses_what_is_not_a_backup(tmp_path):
    app = _fresh_sqlite_app(tmp_path)
    junk = tmp_path / "junk.sqlite3"
    junk.write_text("hello, not a database " * 100)
    with app.app_context():
        runner = app.test_cli_runner()
        not_db = runner.invoke(args=["restore", str(junk), "--to", str(tmp_path / "new.db")])
        missing = runner.invoke(args=["restore", str(tmp_path / "nope.sqlite3"), "--to", str(tmp_path / "x.db")])
        wrong_kind = runner.invoke(args=["restore", str(tmp_path / "live.db"), "--to", "postgresql://u@h/db"])
    assert not_db.exit_code == 1 and "is not a readable SQLite backup" in not_db.output
    assert not (tmp_path / "new.db").exists()
    assert missing.exit_code == 1 and "There is no backup file" in missing.output
    assert wrong_kind.exit_code == 1 and "is not a PostgreSQL backup" in wrong_kind.output
