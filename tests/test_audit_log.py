"""The audit log page: area scoping, filters, paging, and the append-only guard."""
from datetime import datetime

import pytest

from portal.extensions import db
from portal.models import AuditEvent
from portal.models.audit import AuditLogIsAppendOnly
from portal.services import audit
from portal.vocab import Role
from tests.factories import make_area, make_user
from tests.html import table_rows


def rows(response) -> list[list[str]]:
    return table_rows(response, cells=("td",))


def details(response) -> list[str]:
    """The Detail column, in page order."""
    return [row[6] for row in rows(response)]


@pytest.fixture
def world(app):
    burnley, preston = make_area("Burnley"), make_area("Preston")
    admin = make_user(Role.ADMIN, email="admin@example.org")
    coordinator = make_user(Role.COORDINATOR, areas=[burnley], email="coord@example.org")

    def event(action, area, detail, at, actor=admin, ip="203.0.113.7"):
        e = audit.record(action, actor=actor, ip=ip, target=coordinator, area_id=area.id if area else None,
                         detail=detail)
        e.at = at
        return e

    event("login.success", burnley, "in burnley", datetime(2024, 3, 1, 9, 30))
    event("verify.approve", burnley, "approved in burnley", datetime(2024, 3, 5, 14, 0), actor=coordinator)
    event("verify.only_preston", preston, "in preston", datetime(2024, 3, 2, 10, 0))
    event("area.create", None, "no area", datetime(2024, 3, 3, 11, 0))
    db.session.commit()
    return {"burnley": burnley, "preston": preston, "admin": admin, "coordinator": coordinator}


def test_a_coordinator_sees_only_their_areas_events(client, login, world):
    login(world["coordinator"])

    response = client.get("/audit")

    assert response.status_code == 200
    assert details(response) == ["approved in burnley", "in burnley"]  # newest first
    page = response.get_data(as_text=True)
    assert "verify.only_preston" not in page  # not even among the action choices
    assert "in preston" not in page and "no area" not in page


def test_an_admin_sees_every_event(client, login, world):
    login(world["admin"])

    response = client.get("/audit")

    assert details(response) == ["approved in burnley", "no area", "in preston", "in burnley"]


def test_columns_show_time_actor_action_object_area_and_ip(client, login, world):
    login(world["admin"])

    [first, *_] = rows(client.get("/audit"))

    assert first == ["2024-03-05 14:00:00", "coord@example.org", "verify.approve",
                     f"user #{world['coordinator'].id}", "Burnley", "203.0.113.7", "approved in burnley"]


@pytest.mark.parametrize("role", [Role.PROVIDER, Role.CAREERS_LEAD])
def test_providers_and_careers_leads_are_refused(client, login, world, role):
    login(make_user(role))
    db.session.commit()

    assert client.get("/audit").status_code == 403


def test_a_coordinator_without_areas_sees_nothing(client, login, world):
    login(make_user(Role.COORDINATOR))
    db.session.commit()

    response = client.get("/audit")

    assert rows(response) == []
    assert "No events yet." in response.get_data(as_text=True)


@pytest.mark.parametrize("query, expected", [
    ("action=login.success", ["in burnley"]),
    ("actor=COORD@", ["approved in burnley"]),
    ("actor=example.org", ["approved in burnley", "no area", "in preston", "in burnley"]),
    ("actor=nobody", []),
    ("actor=%25", []),  # a literal %, not a wildcard
    ("date_from=2024-03-02&date_to=2024-03-03", ["no area", "in preston"]),
    ("date_from=2024-03-05", ["approved in burnley"]),
    ("date_to=2024-03-01", ["in burnley"]),
    ("action=verify.approve&actor=admin", []),
])
def test_filters(client, login, world, query, expected):
    login(world["admin"])

    response = client.get(f"/audit?{query}")

    assert response.status_code == 200
    assert details(response) == expected
    if not expected:
        assert "No events match these filters." in response.get_data(as_text=True)


def test_dates_the_wrong_way_round_are_reported(client, login, world):
    login(world["admin"])

    response = client.get("/audit?date_from=2024-03-05&date_to=2024-03-01")

    page = response.get_data(as_text=True)
    assert "There is a problem" in page
    assert "must be the same as or after" in page
    assert details(response) == ["approved in burnley"]  # the invalid 'to' date is not applied; 'from' still is


def test_the_log_is_paged_fifty_at_a_time_and_pages_keep_the_filters(client, login, world):
    for n in range(55):
        audit.record("bulk.event", actor=world["admin"], area_id=world["burnley"].id, detail=f"bulk {n}")
    db.session.commit()
    login(world["coordinator"])

    first = client.get("/audit?action=bulk.event")
    second = client.get("/audit?action=bulk.event&page=2")

    assert len(rows(first)) == 50
    assert len(rows(second)) == 5
    assert "/audit?page=2&amp;action=bulk.event" in first.get_data(as_text=True)
    assert set(details(first)).isdisjoint(details(second))


def test_audit_events_cannot_be_changed(app, world):
    event = db.session.scalars(db.select(AuditEvent).limit(1)).one()
    event.detail = "rewritten"

    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEvent, event.id).detail != "rewritten"


def test_audit_events_cannot_be_deleted(app, world):
    event = db.session.scalars(db.select(AuditEvent).limit(1)).one()
    db.session.delete(event)

    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEvent, event.id) is not None


@pytest.mark.parametrize("statement", ["UPDATE audit_events SET action = 'forged'", "DELETE FROM audit_events"])
def test_the_database_itself_refuses_to_rewrite_the_log(app, world, statement):
    """Even raw SQL, bypassing the ORM guard, cannot change or remove an audit event."""
    import sqlalchemy as sa

    from portal.extensions import db
    from portal.models import AuditEvent

    before = db.session.scalar(sa.select(sa.func.count(AuditEvent.id)))
    assert before > 0
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        db.session.execute(sa.text(statement))
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id))) == before
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "forged")) == 0


def test_an_overlong_client_address_is_cut_to_the_column_not_a_server_error(app):
    from portal.extensions import db
    from portal.models import AuditEvent
    from portal.services import audit

    audit.record("test.long_ip", ip="1" * 300)
    db.session.commit()
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "test.long_ip"))
    assert event.ip == "1" * 45
