"""Migrations: an empty database upgrades to head, matches the models exactly, and downgrades to base.

Run on SQLite and on PostgreSQL (a schema of its own), so a model change without a migration fails here.
"""
import uuid

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from portal import create_app
from portal.extensions import db
from portal.models import Match
from tests.conftest import PG_URL, pg_engine_options


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    """Config overrides for a database with no tables at all."""
    if request.param == "sqlite":
        yield {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.db'}"}
        return
    if PG_URL is None:
        pytest.skip("PostgreSQL is not reachable")  # CI=true refuses to start without it (conftest)
    schema = f"enc_mig_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield {"SQLALCHEMY_DATABASE_URI": PG_URL, "SQLALCHEMY_ENGINE_OPTIONS": pg_engine_options(schema)}
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def test_upgrade_to_head_matches_models_and_downgrades_to_base(empty_database):
    app = create_app("testing", empty_database)
    with app.app_context():
        assert _tables() == set()
        flask_migrate.upgrade()
        assert _tables() == set(db.metadata.tables) | {"alembic_version"}

        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
        assert differences == [], f"models and migrations differ: run `flask db migrate`: {differences}"

        # Autogenerate does not compare CHECK constraints: every one the models declare must exist.
        inspector = sa.inspect(db.engine)
        for table in db.metadata.sorted_tables:
            expected = {c.name for c in table.constraints if isinstance(c, sa.CheckConstraint)}
            found = {c["name"] for c in inspector.get_check_constraints(table.name)}
            assert expected <= found, f"{table.name}: CHECK constraints missing from migrations: {expected - found}"

        # Nor does it compare PostgreSQL storage settings: the migrated tables carry the models' (matches: fillfactor).
        if db.engine.dialect.name == "postgresql":
            for table in db.metadata.sorted_tables:
                expected = {f"{k}={v}" for k, v in (table.dialect_options["postgresql"]["with"] or {}).items()}
                found = set(inspector.get_table_options(table.name).get("postgresql_with", {}).items())
                assert expected == {f"{k}={v}" for k, v in found}, f"{table.name}: storage settings differ"
            assert sa.inspect(db.engine).get_table_options("matches")["postgresql_with"] == {"fillfactor": "50"}

        # ... nor partial indexes' conditions: each index the models make partial is partial once migrated.
        partial = {ix.name for t in db.metadata.sorted_tables for ix in t.indexes
                   if ix.dialect_options["sqlite"]["where"] is not None}
        assert "ix_matches_session_starts_at" in partial
        sql = ("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexdef LIKE '%WHERE%'"
               if db.engine.dialect.name == "postgresql"
               else "SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '%WHERE%'")
        with db.engine.connect() as conn:
            assert set(conn.execute(sa.text(sql)).scalars()) & partial == partial

        # Triggers are invisible to the comparison above: check the migrated log is append-only too.
        with db.engine.connect() as conn:
            conn.execute(sa.text("INSERT INTO audit_events (at, action) VALUES (CURRENT_TIMESTAMP, 'x')"))
            conn.commit()
            with pytest.raises(sa.exc.DatabaseError, match="append-only"):
                conn.execute(sa.text("UPDATE audit_events SET action = 'forged'"))
            conn.rollback()

        flask_migrate.downgrade(revision="base")
        assert _tables() <= {"alembic_version"}
        db.engine.dispose()


def test_upgrading_a_database_with_users_keeps_them_and_defaults_new_columns(empty_database):
    """A real installation upgrades with rows in place: 0001 → head must not fail on existing users."""
    app = create_app("testing", empty_database)
    with app.app_context():
        flask_migrate.upgrade(revision="0001")
        with db.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO users (email, name, password_hash, role, status, session_nonce, created_at) "
                "VALUES ('a@example.org', 'A', 'x', 'admin', 'active', 'n', CURRENT_TIMESTAMP)"))
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT weekly_digest FROM users")).scalar_one() in (False, 0)
        flask_migrate.downgrade(revision="base")
        db.engine.dispose()


def test_upgrading_keeps_proposals_a_coordinator_changed_or_held_before_as_theirs(empty_database):
    """0017 finds, by their history rows, the waiting proposals a coordinator changed or held before it existed, so
    the next matching run leaves those as they are too; a proposal only a matching run resized stays the run's."""
    from portal.models import MatchEvent
    from portal.services import auto_approval, matching
    from portal.services import matches as matches_service
    from tests.factories import make_area, make_offer, make_provider, make_request, make_school, make_user

    app = create_app("testing", empty_database)
    with app.app_context():
        flask_migrate.upgrade()
        area = make_area("Burnley")
        make_offer(make_provider(area), sessions=4, auto_approve=True, auto_approve_delay_days=7)
        requests = [make_request(make_school(area)) for _ in range(4)]
        coordinator = make_user("coordinator", areas=[area])
        db.session.commit()
        matching.run_matching(area)
        changed, held, resized, untouched = (
            db.session.scalar(sa.select(Match).where(Match.request_id == r.id)) for r in requests)
        matches_service.change_allocation(changed, 12, by=coordinator)
        assert auto_approval.hold(held, by=coordinator)
        requests[2].pupils = 20  # the next run resizes this one itself
        db.session.commit()
        matching.run_matching(area)
        ids = [m.id for m in (changed, held, resized, untouched)]
        events_before = db.session.scalar(sa.select(sa.func.count()).select_from(MatchEvent))
        db.session.remove()
        flask_migrate.downgrade(revision="0016")  # as it was before: no adjusted_at
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            adjusted = dict(conn.execute(sa.select(Match.id, Match.adjusted_at).where(Match.id.in_(ids))).all())
            events = conn.scalar(sa.select(sa.func.count()).select_from(MatchEvent.__table__))
        assert [adjusted[id_] is not None for id_ in ids] == [True, True, False, False]
        assert events == events_before  # the matches' history is still there
        db.engine.dispose()  # the fixture drops the database (its audit rows are append-only: no downgrade to base)


def test_a_downgrade_on_sqlite_that_copies_a_table_loses_no_rows_that_point_at_it(empty_database):
    """On SQLite a batch migration copies the table and drops the old one; with foreign keys on, that drop would
    delete or null every row pointing at it (a coordinator's areas, who did what in a match's history). So
    migrations run with foreign keys off there, checked at the end (migrations/env.py)."""
    from portal.models import MatchEvent, coordinator_areas
    from portal.services import matches as matches_service
    from portal.services import matching
    from tests.factories import make_area, make_offer, make_provider, make_request, make_school, make_user

    app = create_app("testing", empty_database)
    with app.app_context():
        flask_migrate.upgrade()
        area = make_area("Burnley")
        make_offer(make_provider(area), sessions=4)
        make_request(make_school(area))
        coordinator = make_user("coordinator", areas=[area])
        db.session.commit()
        matching.run_matching(area, by=coordinator)
        proposal = db.session.scalar(sa.select(Match))
        matches_service.change_allocation(proposal, 12, by=coordinator)

        def kept():
            with db.engine.connect() as conn:
                return (conn.scalar(sa.select(sa.func.count()).select_from(coordinator_areas)),
                        conn.scalar(sa.select(sa.func.count()).select_from(MatchEvent.__table__)
                                    .where(MatchEvent.actor_id == coordinator.id)),
                        conn.scalar(sa.select(sa.func.count()).select_from(Match.__table__)))

        before = kept()
        assert before == (1, 2, 1)
        db.session.remove()
        flask_migrate.downgrade(revision="0011")  # 0012's downgrade copies `users` on SQLite
        flask_migrate.upgrade()
        assert kept() == before
        with db.engine.connect() as conn:
            if conn.dialect.name == "sqlite":  # the pool's connections have their foreign keys back on
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        db.engine.dispose()
