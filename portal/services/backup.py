"""Backups and restores of the portal's database (`flask backup`, `flask restore`).

SQLite: the online backup API (sqlite3.Connection.backup) copies a consistent snapshot while the app keeps
writing (WAL: readers never block the writer), into a single file that is then checked with
`PRAGMA integrity_check`. PostgreSQL: `pg_dump --format=custom` of the app's schema (one snapshot, so also safe
under load); `pg_restore` into a new database in one transaction.

Restores go into a NEW database and refuse a target that already holds tables unless `force` is given. Every
failure (unwritable or full disk, unreachable server, not a backup) is a BackupError with a plain message.
"""
import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from portal.errors import PortalError
from portal.extensions import db

SQLITE_SUFFIX = ".sqlite3"
PG_SUFFIX = ".pgdump"
PG_TIMEOUT_SECONDS = 3600


class BackupError(PortalError):
    """A backup or restore could not be made; the message says why and what to check."""


@dataclass
class BackupResult:
    path: Path
    size_bytes: int
    backend: str

    @property
    def message(self) -> str:
        return f"Backup written to {self.path} ({human_size(self.size_bytes)})."


@dataclass
class RestoreResult:
    target: str
    backend: str
    row_counts: dict[str, int] = field(default_factory=dict)
    alembic_version: str | None = None
    alembic_heads: tuple[str, ...] = ()

    @property
    def at_head(self) -> bool:
        return self.alembic_version is not None and self.alembic_version in self.alembic_heads

    @property
    def message(self) -> str:
        rows = sum(self.row_counts.values())
        if self.alembic_version is None:
            version = "no migration version recorded"
        elif self.at_head:
            version = f"migration {self.alembic_version} (head)"
        else:
            version = f"migration {self.alembic_version}, older than the code's head: run `flask db upgrade` on it"
        return f"Restored into {self.target}: {len(self.row_counts)} tables, {rows} rows, {version}."


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover


def _timestamped_path(directory: Path, suffix: str, now: datetime | None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"encounters-{stamp}{suffix}"
    counter = 2
    while path.exists():
        path = directory / f"encounters-{stamp}-{counter}{suffix}"
        counter += 1
    return path


def _prepare_directory(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BackupError(f"Cannot create the backup directory {directory}: {error.strerror or error}.") from error
    if not os.access(directory, os.W_OK | os.X_OK):
        raise BackupError(f"Cannot write to the backup directory {directory}: permission denied.")


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


# --- Backup -----------------------------------------------------------------------------------------------

def backup(directory: Path, *, now: datetime | None = None) -> BackupResult:
    """Back up the app's database into `directory`, as encounters-<UTC timestamp>.<sqlite3|pgdump>."""
    directory = Path(directory)
    url = db.engine.url
    _prepare_directory(directory)
    if url.get_backend_name() == "sqlite":
        return _backup_sqlite(url, directory, now)
    if url.get_backend_name() == "postgresql":
        return _backup_postgresql(directory, now)
    raise BackupError(f"Backups are not supported for {url.get_backend_name()} databases.")


def _sqlite_file(url: sa.engine.URL) -> Path:
    if not url.database or url.database == ":memory:" or url.query.get("mode") == "memory":
        raise BackupError("The database is in memory: there is nothing on disk to back up.")
    return Path(url.database)


def _backup_sqlite(url: sa.engine.URL, directory: Path, now: datetime | None) -> BackupResult:
    source_path = _sqlite_file(url)
    if not source_path.is_file():
        raise BackupError(f"The SQLite database {source_path} does not exist.")
    final = _timestamped_path(directory, SQLITE_SUFFIX, now)
    partial = final.with_name(final.name + ".partial")
    try:
        source = sqlite3.connect(source_path, timeout=30)
        try:
            target = sqlite3.connect(partial)
            try:
                source.backup(target)  # one step: a consistent snapshot, however busy the app is
                target.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
                _check_sqlite_integrity(target, partial)
            finally:
                target.close()
        finally:
            source.close()
        os.replace(partial, final)
    except (sqlite3.Error, OSError) as error:
        _remove_quietly(partial)
        raise BackupError(f"The backup to {directory} failed: {_reason(error)} (is the disk full, or the "
                          f"directory not writable?). Nothing was kept.") from error
    except BackupError:
        _remove_quietly(partial)
        raise
    return BackupResult(path=final, size_bytes=final.stat().st_size, backend="sqlite")


def _reason(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error).rstrip(".") or type(error).__name__


def _check_sqlite_integrity(connection: sqlite3.Connection, path: Path) -> None:
    rows = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    if rows != ["ok"]:
        raise BackupError(f"{path} failed its integrity check: {'; '.join(rows[:5])}.")


def _pg_tool(name: str) -> str:
    tool = shutil.which(name)
    if tool is None:
        raise BackupError(f"{name} is not installed: install the PostgreSQL client (e.g. apt-get install "
                          f"postgresql-client), of the server's major version or newer.")
    return tool


def _libpq(url: sa.engine.URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URL without the password, and the environment that carries the password."""
    plain = sa.engine.URL.create("postgresql", username=url.username, host=url.host, port=url.port,
                                 database=url.database, query=url.query)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True,  # noqa: S603 (fixed argv)
                              timeout=PG_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BackupError(f"{what} failed: {_reason(error)}.") from error
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        detail = "; ".join(lines[:3]) or f"exit status {done.returncode}"
        raise BackupError(f"{what} failed: {detail}")
    return done


def _current_schema() -> str:
    try:
        with db.engine.connect() as conn:
            return conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    except sa.exc.OperationalError as error:
        raise BackupError(f"Cannot reach the database {db.engine.url.render_as_string(hide_password=True)}: "
                          f"{str(error.orig).splitlines()[0] if error.orig else error}") from error


def _backup_postgresql(directory: Path, now: datetime | None) -> BackupResult:
    pg_dump = _pg_tool("pg_dump")
    schema = _current_schema()
    conninfo, env = _libpq(db.engine.url)
    final = _timestamped_path(directory, PG_SUFFIX, now)
    partial = final.with_name(final.name + ".partial")
    try:
        _run([pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--schema={schema}",
              f"--file={partial}", f"--dbname={conninfo}"], env, "pg_dump")
        os.replace(partial, final)
    except OSError as error:
        _remove_quietly(partial)
        raise BackupError(f"The backup to {directory} failed: {_reason(error)}. Nothing was kept.") from error
    except BackupError:
        _remove_quietly(partial)
        raise
    return BackupResult(path=final, size_bytes=final.stat().st_size, backend="postgresql")


# --- Restore ----------------------------------------------------------------------------------------------

def restore(backup_path: Path, target: str, *, force: bool = False) -> RestoreResult:
    """Restore a backup into a new database: a SQLite file path (or sqlite:/// URL) for a .sqlite3 backup,
    a postgresql:// URL for a .pgdump one (the database is created if missing). A target that already holds
    tables is refused unless `force` (then its tables, or the dumped schema, are replaced)."""
    backup_path = Path(backup_path)
    if not backup_path.is_file():
        raise BackupError(f"There is no backup file at {backup_path}.")
    if _is_pg_dump(backup_path):
        if not target.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            raise BackupError("A PostgreSQL backup restores into a PostgreSQL database: give a postgresql:// URL.")
        return _restore_postgresql(backup_path, target, force)
    if target.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        raise BackupError(f"{backup_path} is not a PostgreSQL backup (pg_dump custom format).")
    path = Path(target.removeprefix("sqlite:///")) if target.startswith("sqlite:///") else Path(target)
    return _restore_sqlite(backup_path, path, force)


def _is_pg_dump(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"PGDMP"


def _alembic_heads() -> tuple[str, ...]:
    from alembic.script import ScriptDirectory

    migrate = current_app.extensions["migrate"]
    return tuple(ScriptDirectory.from_config(migrate.migrate.get_config()).get_heads())


def _table_counts(conn, tables: list[str]) -> dict[str, int]:
    preparer = sa.dialects.postgresql.dialect().identifier_preparer
    # The table name is quoted by the dialect's own identifier quoting, not pasted raw.
    return {t: conn.execute(sa.text(f"SELECT count(*) FROM {preparer.quote(t)}")).scalar_one()  # noqa: S608  # nosec B608
            for t in sorted(tables)}


def _alembic_version(conn, tables: list[str]) -> str | None:
    if "alembic_version" not in tables:
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _restore_sqlite(backup_path: Path, path: Path, force: bool) -> RestoreResult:
    try:
        source = sqlite3.connect(f"file:{backup_path}?mode=ro", uri=True)
        try:
            _check_sqlite_integrity(source, backup_path)
        finally:
            source.close()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{backup_path} is not a readable SQLite backup: {_reason(error)}.") from error
    if path.exists() and path.stat().st_size > 0 and not force:
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as existing:
                holds = existing.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
            existing.close()
        except sqlite3.DatabaseError:
            holds = 1  # not even a database: do not touch it
        if holds:
            raise BackupError(f"{path} is not empty: restore into a new file, or give --force to replace it.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(f"file:{backup_path}?mode=ro", uri=True)
        try:
            target = sqlite3.connect(path, timeout=30)
            try:
                source.backup(target)
                _check_sqlite_integrity(target, path)
                tables = [r[0] for r in target.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
                # Names come from the file being restored: double any quote so a crafted name cannot break out.
                counts = {t: target.execute('SELECT count(*) FROM "%s"' % t.replace('"', '""')).fetchone()[0]  # noqa: S608,UP031  # nosec B608
                          for t in sorted(tables)}
                version = (target.execute("SELECT version_num FROM alembic_version").fetchone()
                           if "alembic_version" in tables else None)
            finally:
                target.close()
        finally:
            source.close()
    except (sqlite3.Error, OSError) as error:
        raise BackupError(f"The restore into {path} failed: {_reason(error)}.") from error
    return RestoreResult(target=str(path), backend="sqlite", row_counts=counts,
                         alembic_version=version[0] if version else None, alembic_heads=_alembic_heads())


def _dumped_schemas(pg_restore: str, backup_path: Path) -> tuple[list[str], list[str]]:
    """The schemas a dump holds, and its table of contents without the CREATE SCHEMA entries (we make
    the schema ourselves, so `public`, which every new database already has, restores too)."""
    toc = _run([pg_restore, "--list", str(backup_path)], dict(os.environ), "Reading the backup").stdout
    schemas, lines = [], []
    for line in toc.splitlines():
        entry = re.match(r"^\d+; \d+ \d+ (SCHEMA|COMMENT) - (?:SCHEMA )?(\S+) ", line)
        if entry:
            if entry.group(1) == "SCHEMA":
                schemas.append(entry.group(2))
            continue
        lines.append(line)
    if not schemas:
        raise BackupError(f"{backup_path} holds no schema: it is not a backup made by `flask backup`.")
    return schemas, lines


def _restore_postgresql(backup_path: Path, target: str, force: bool) -> RestoreResult:
    from config import database_url

    pg_restore = _pg_tool("pg_restore")
    url = sa.engine.make_url(database_url(target))
    shown = url.render_as_string(hide_password=True)
    schemas, toc = _dumped_schemas(pg_restore, backup_path)
    _create_database_if_missing(url)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    preparer = engine.dialect.identifier_preparer
    try:
        with engine.begin() as conn:
            for schema in schemas:
                tables = sa.inspect(conn).get_table_names(schema=schema)
                if tables and not force:
                    raise BackupError(f"Schema {schema} of {shown} is not empty: restore into a new database, "
                                      f"or give --force to replace it.")
                if tables:
                    conn.execute(sa.text(f"DROP SCHEMA {preparer.quote(schema)} CASCADE"))
                conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {preparer.quote(schema)}"))
        conninfo, env = _libpq(url)
        with tempfile.NamedTemporaryFile("w", suffix=".list", encoding="utf-8") as listing:
            listing.write("\n".join(toc) + "\n")
            listing.flush()
            _run([pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                  f"--use-list={listing.name}", f"--dbname={conninfo}", str(backup_path)], env, "pg_restore")
        schema = schemas[0]
        with engine.connect() as conn:
            conn.execute(sa.text(f"SET search_path TO {preparer.quote(schema)}"))
            tables = sa.inspect(conn).get_table_names(schema=schema)
            counts = _table_counts(conn, tables)
            version = _alembic_version(conn, tables)
    except sa.exc.OperationalError as error:
        raise BackupError(f"Cannot reach the database {shown}: "
                          f"{str(error.orig).splitlines()[0] if error.orig else error}") from error
    finally:
        engine.dispose()
    return RestoreResult(target=f"{shown} (schema {schema})", backend="postgresql", row_counts=counts,
                         alembic_version=version, alembic_heads=_alembic_heads())


def _create_database_if_missing(url: sa.engine.URL) -> None:
    admin = sa.create_engine(url.set(database="postgres"), poolclass=sa.pool.NullPool,
                             isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                  {"name": url.database}).scalar()
            if not exists:
                conn.execute(sa.text(f"CREATE DATABASE {admin.dialect.identifier_preparer.quote(url.database)}"))
    except sa.exc.OperationalError as error:
        shown = url.render_as_string(hide_password=True)
        raise BackupError(f"Cannot reach the database server of {shown}: "
                          f"{str(error.orig).splitlines()[0] if error.orig else error}") from error
    except sa.exc.ProgrammingError as error:
        raise BackupError(f"Cannot create the database {url.database}: {str(error.orig).splitlines()[0]}. "
                          "Create it yourself (createdb) and restore into it.") from error
    finally:
        admin.dispose()
