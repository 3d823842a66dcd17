"""Administration: areas and settings, finding people, and changing roles, areas and status."""
import pytest
from sqlalchemy import select

from portal.errors import NotAllowed, ValidationFailed
from portal.extensions import db
from portal.models import Area, AuditEvent, OutboxMessage, User, UserStatus
from portal.services import admin as admin_service
from portal.vocab import Role
from tests.factories import make_area, make_provider, make_school, make_user
from tests.smtp import text_body
from tests.test_audit_log import rows


@pytest.fixture
def admin(app):
    user = make_user(Role.ADMIN, email="admin@example.org", name="Ada Admin")
    db.session.commit()
    return user


@pytest.fixture
def as_admin(client, login, admin):
    """The test client, signed in as the admin."""
    login(admin)
    return client


def audit_events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def reload(obj):
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


def page(response) -> str:
    return response.get_data(as_text=True)


# Who may come in ------------------------------------------------------------------------------

ADMIN_PAGES = [
    ("GET", "/admin/areas"), ("POST", "/admin/areas"),
    ("GET", "/admin/areas/{area}"), ("POST", "/admin/areas/{area}"),
    ("GET", "/admin/users"),
    ("GET", "/admin/users/{user}"), ("POST", "/admin/users/{user}"),
]


@pytest.mark.parametrize("role", [Role.PROVIDER, Role.CAREERS_LEAD, Role.COORDINATOR])
@pytest.mark.parametrize("method, path", ADMIN_PAGES)
def test_only_admins_reach_the_admin_pages(client, login, role, method, path):
    area = make_area()
    target = make_user(Role.PROVIDER)
    user = login(make_user(role, areas=[area] if role == Role.COORDINATOR else []))
    db.session.commit()

    response = client.open(path.format(area=area.id, user=target.id), method=method,
                           data={"name": "Sneaky", "contact_target": "9", "role": "admin", "status": "disabled"})

    assert response.status_code == 403
    assert db.session.scalar(select(Area).where(Area.name == "Sneaky")) is None
    assert reload(area).contact_target == 4
    assert reload(target).role == Role.PROVIDER and reload(target).status == UserStatus.ACTIVE
    assert reload(user).role == role


# Areas ----------------------------------------------------------------------------------------

def test_the_area_list_counts_organisations_and_coordinators(as_admin):
    burnley, preston = make_area("Burnley"), make_area("Preston")
    make_provider(burnley), make_provider(burnley), make_school(burnley)
    make_user(Role.COORDINATOR, areas=[burnley, preston]), make_user(Role.COORDINATOR, areas=[burnley])
    make_area("Wyre")
    db.session.commit()

    response = as_admin.get("/admin/areas")

    assert response.status_code == 200
    assert [row[:3] for row in rows(response)] == [["Burnley", "3", "2"], ["Preston", "0", "1"], ["Wyre", "0", "0"]]


def test_the_area_list_has_an_empty_state(as_admin):
    assert "There are no areas yet." in page(as_admin.get("/admin/areas"))


def test_adding_an_area(as_admin, admin):
    response = as_admin.post("/admin/areas", data={"name": "  Pendle  "})

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/areas"
    area = db.session.scalar(select(Area).where(Area.name == "Pendle"))
    assert area is not None and area.contact_target == 4 and area.distinct_providers is False
    [event] = audit_events("area.create")
    assert (event.actor_id, event.area_id, event.object_id) == (admin.id, area.id, area.id)
    assert event.ip == "127.0.0.1"
    assert "Area Pendle added." in page(as_admin.get("/admin/areas"))


@pytest.mark.parametrize("name, message", [
    ("burnley", "There is already an area called burnley."),
    ("  BURNLEY ", "There is already an area called BURNLEY."),
    ("", "Enter the area’s name."),
    ("x" * 121, "Field cannot be longer than 120 characters."),
])
def test_an_area_name_must_be_given_and_unique(as_admin, name, message):
    make_area("Burnley")
    db.session.commit()

    response = as_admin.post("/admin/areas", data={"name": name})

    assert response.status_code == 200
    assert "There is a problem" in page(response)
    assert message in page(response)
    assert db.session.scalars(select(Area.name)).all() == ["Burnley"]
    assert audit_events("area.create") == []


def test_the_service_refuses_a_duplicate_name_too(app, admin):
    make_area("Burnley")
    with pytest.raises(ValidationFailed) as error:
        admin_service.create_area(" Burnley", by=admin, ip=None)
    assert error.value.field == "name"


def test_area_settings_show_the_current_values(as_admin):
    area = make_area("Burnley")
    db.session.commit()

    response = as_admin.get(f"/admin/areas/{area.id}")

    assert response.status_code == 200
    assert 'name="contact_target" required type="number" value="4"' in page(response)
    assert 'name="proposal_expiry_days" required type="number" value="14"' in page(response)
    assert "Days before undecided proposals expire" in page(response)
    assert "<h1>Settings for Burnley</h1>" in page(response)


def test_changing_area_settings(as_admin, admin):
    area = make_area("Burnley")
    db.session.commit()

    response = as_admin.post(f"/admin/areas/{area.id}", data={"contact_target": "6", "distinct_providers": "y",
                                                              "proposal_expiry_days": "14"})

    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/areas/{area.id}"
    area = reload(area)
    assert (area.contact_target, area.distinct_providers) == (6, True)
    [event] = audit_events("area.update")
    assert event.area_id == area.id and event.actor_id == admin.id
    assert event.detail == "contact_target: 4 → 6; distinct_providers: off → on"

    as_admin.post(f"/admin/areas/{area.id}", data={"contact_target": "6", "proposal_expiry_days": "14"})  # unticked
    assert reload(area).distinct_providers is False
    assert len(audit_events("area.update")) == 2


def test_saving_unchanged_settings_records_nothing(as_admin):
    area = make_area("Burnley")
    db.session.commit()

    response = as_admin.post(f"/admin/areas/{area.id}", data={"contact_target": "4", "proposal_expiry_days": "14"},
                             follow_redirects=True)

    assert "Nothing changed." in page(response)
    assert audit_events("area.update") == []


@pytest.mark.parametrize("value, message", [
    ("0", "The target must be a whole number from 1 to 20."),
    ("21", "The target must be a whole number from 1 to 20."),
    ("", "Enter the target as a whole number."),
    ("four", "Enter the target as a whole number."),
])
def test_the_contact_target_is_between_1_and_20(as_admin, value, message):
    area = make_area("Burnley")
    db.session.commit()

    response = as_admin.post(f"/admin/areas/{area.id}", data={"contact_target": value, "distinct_providers": "y",
                                                              "proposal_expiry_days": "14"})

    assert response.status_code == 200
    assert message in page(response)
    area = reload(area)
    assert (area.contact_target, area.distinct_providers) == (4, False)


def test_changing_how_long_proposals_wait(as_admin, admin):
    area = make_area("Burnley")
    db.session.commit()

    response = as_admin.post(f"/admin/areas/{area.id}", data={"contact_target": "4", "proposal_expiry_days": "21"})

    assert response.status_code == 302
    assert reload(area).proposal_expiry_days == 21
    [event] = audit_events("area.update")
    assert event.area_id == area.id and event.actor_id == admin.id
    assert event.detail == "proposal_expiry_days: 14 → 21"


@pytest.mark.parametrize("value, message", [
    ("0", "The number of days must be a whole number from 1 to 90."),
    ("91", "The number of days must be a whole number from 1 to 90."),
    ("", "Enter the number of days as a whole number."),
])
def test_the_proposal_expiry_days_are_between_1_and_90(as_admin, value, message):
    area = make_area("Burnley")
    db.session.commit()

    response = as_admin.post(f"/admin/areas/{area.id}", data={"contact_target": "6", "proposal_expiry_days": value})

    assert response.status_code == 200
    assert f'<div id="proposal_expiry_days-error" class="invalid-feedback d-block">{message}</div>' in page(response)
    area = reload(area)
    assert (area.contact_target, area.proposal_expiry_days) == (4, 14)
    assert audit_events("area.update") == []


@pytest.mark.parametrize("value", [0, 21, None])
def test_the_service_checks_the_contact_target_too(app, admin, value):
    area = make_area()
    with pytest.raises(ValidationFailed) as error:
        admin_service.update_area_settings(area, contact_target=value, distinct_providers=False,
                                           proposal_expiry_days=14, by=admin, ip=None)
    assert error.value.field == "contact_target"


@pytest.mark.parametrize("value", [0, 91, None])
def test_the_service_checks_the_proposal_expiry_days_too(app, admin, value):
    area = make_area()
    with pytest.raises(ValidationFailed) as error:
        admin_service.update_area_settings(area, contact_target=4, distinct_providers=False,
                                           proposal_expiry_days=value, by=admin, ip=None)
    assert error.value.field == "proposal_expiry_days"


def test_an_unknown_area_is_not_found(as_admin):
    assert as_admin.get("/admin/areas/999").status_code == 404
    assert as_admin.get("/admin/users/999").status_code == 404


# Finding people -------------------------------------------------------------------------------

@pytest.fixture
def people(admin):
    area = make_area("Burnley")
    found = {
        "provider": make_user(Role.PROVIDER, email="pat@acme.example", name="Pat Jones"),
        "lead": make_user(Role.CAREERS_LEAD, email="lee@school.example", name="Lee Smith"),
        "coordinator": make_user(Role.COORDINATOR, email="cora@council.example", name="Cora Jones", areas=[area]),
        "disabled": make_user(Role.PROVIDER, email="dan@acme.example", name="Dan Brown", status="disabled"),
        "percent": make_user(Role.PROVIDER, email="per_cent@acme.example", name="100% Person"),
    }
    db.session.commit()
    return found


def emails(response) -> list[str]:
    return [row[1] for row in rows(response)]


@pytest.mark.parametrize("query, expected", [
    ("", ["admin@example.org", "cora@council.example", "dan@acme.example", "lee@school.example",
          "pat@acme.example", "per_cent@acme.example"]),
    ("q=ACME", ["dan@acme.example", "pat@acme.example", "per_cent@acme.example"]),
    ("q=jones", ["cora@council.example", "pat@acme.example"]),
    ("q=100%25", ["per_cent@acme.example"]),
    ("q=pa_@", []),  # _ is a literal underscore, not "any character" (which would find pat@)
    ("role=provider", ["dan@acme.example", "pat@acme.example", "per_cent@acme.example"]),
    ("role=provider&status=disabled", ["dan@acme.example"]),
    ("q=jones&role=coordinator", ["cora@council.example"]),
    ("q=nobody", []),
])
def test_searching_users(as_admin, people, query, expected):
    response = as_admin.get(f"/admin/users?{query}")

    assert response.status_code == 200
    assert emails(response) == expected
    if not expected:
        assert "No users match this search." in page(response)


def test_the_user_list_is_paged(as_admin, admin):
    for n in range(55):
        make_user(Role.PROVIDER, email=f"p{n:02d}@example.net")
    db.session.commit()

    first = as_admin.get("/admin/users?q=example.net")
    second = as_admin.get("/admin/users?q=example.net&page=2")

    assert len(rows(first)) == 50 and len(rows(second)) == 5
    assert "page=2&amp;q=example.net" in page(first)


# Changing someone's account --------------------------------------------------------------------

def edit(client, user, **data):
    form = {"role": user.role, "status": user.status, "areas": [str(a.id) for a in user.areas]}
    form.update(data)
    return client.post(f"/admin/users/{user.id}", data=form)


def test_the_edit_page_shows_the_current_role_areas_and_status(as_admin):
    burnley, preston = make_area("Burnley"), make_area("Preston")
    coordinator = make_user(Role.COORDINATOR, areas=[preston], name="Cora")
    db.session.commit()

    html = page(as_admin.get(f"/admin/users/{coordinator.id}"))

    assert "<h1>Cora</h1>" in html
    assert '<option selected value="coordinator">' in html
    checkbox = '<input {}class="form-check-input" id="areas-{}" name="areas" type="checkbox" value="{}">'
    assert checkbox.format("checked ", 1, preston.id) in html
    assert checkbox.format("", 0, burnley.id) in html
    assert '<option selected value="active">' in html


def test_making_a_provider_contact_a_coordinator(as_admin, admin):
    burnley, preston = make_area("Burnley"), make_area("Preston")
    user = make_user(Role.PROVIDER)
    nonce = user.session_nonce
    db.session.commit()

    response = edit(as_admin, user, role="coordinator", areas=[str(burnley.id), str(preston.id)])

    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/users/{user.id}"
    user = reload(user)
    assert user.role == Role.COORDINATOR
    assert user.area_ids == {burnley.id, preston.id}
    assert user.session_nonce != nonce  # new powers start with a fresh sign-in (and two-step set-up)
    [role_change] = audit_events("role.change")
    assert role_change.actor_id == admin.id and role_change.object_id == user.id
    assert role_change.detail == f"{user.email}: Provider contact → Coordinator"
    area_events = audit_events("coordinator.areas_change")
    assert {(e.area_id, e.detail) for e in area_events} == {
        (burnley.id, f"{user.email}: added Burnley"), (preston.id, f"{user.email}: added Preston"),
    }


def test_changing_a_coordinators_areas(as_admin):
    burnley, preston = make_area("Burnley"), make_area("Preston")
    user = make_user(Role.COORDINATOR, areas=[burnley])
    db.session.commit()

    edit(as_admin, user, areas=[str(preston.id)])

    assert reload(user).area_ids == {preston.id}
    assert {(e.area_id, e.detail.split(": ")[1]) for e in audit_events("coordinator.areas_change")} == {
        (preston.id, "added Preston"), (burnley.id, "removed Burnley"),
    }
    assert audit_events("role.change") == []


def test_a_coordinator_needs_at_least_one_area(as_admin):
    make_area("Burnley")
    user = make_user(Role.PROVIDER)
    db.session.commit()

    response = edit(as_admin, user, role="coordinator", areas=[])

    assert response.status_code == 200
    assert "Choose at least one area for a coordinator." in page(response)
    assert 'href="#areas"' in page(response)
    assert reload(user).role == Role.PROVIDER


def test_a_coordinator_who_becomes_an_admin_leaves_their_areas(as_admin):
    burnley = make_area("Burnley")
    user = make_user(Role.COORDINATOR, areas=[burnley])
    db.session.commit()

    edit(as_admin, user, role="admin", areas=[str(burnley.id)])

    user = reload(user)
    assert user.role == Role.ADMIN and user.areas == []
    assert [e.detail.split(": ")[1] for e in audit_events("coordinator.areas_change")] == ["removed Burnley"]


@pytest.mark.parametrize("start, organisation, new_role, message", [
    (Role.COORDINATOR, None, "provider", "A provider contact must belong to an organisation"),
    (Role.ADMIN, None, "careers_lead", "A careers lead must belong to an organisation"),
    (Role.PROVIDER, "provider", "careers_lead", "A careers lead belongs to a school"),
    (Role.CAREERS_LEAD, "school", "provider", "A provider contact belongs to a provider"),
])
def test_providers_and_careers_leads_need_an_organisation_of_their_kind(as_admin, start, organisation, new_role,
                                                                        message):
    area = make_area()
    org = {"provider": make_provider, "school": make_school}[organisation](area) if organisation else None
    user = make_user(start, organisation=org, areas=[area] if start == Role.COORDINATOR else [])
    db.session.commit()

    response = edit(as_admin, user, role=new_role)

    assert response.status_code == 200
    assert message in page(response)
    assert 'href="#role"' in page(response)  # the summary links to the field
    assert reload(user).role == start
    assert audit_events("role.change") == []


def test_an_unknown_role_or_area_is_refused(as_admin):
    user = make_user(Role.PROVIDER)
    db.session.commit()

    assert "Not a valid choice." in page(edit(as_admin, user, role="superuser"))
    assert "&#39;999&#39; is not a valid choice" in page(edit(as_admin, user, role="coordinator", areas=["999"]))
    assert reload(user).role == Role.PROVIDER


def test_an_admin_cannot_demote_themselves(as_admin, admin):
    area = make_area()
    db.session.commit()

    response = edit(as_admin, admin, role="coordinator", areas=[str(area.id)])

    assert response.status_code == 200
    assert "You cannot remove your own administrator role." in page(response)
    assert reload(admin).role == Role.ADMIN


def test_an_admin_cannot_disable_themselves(as_admin, admin):
    response = edit(as_admin, admin, status="disabled")

    assert response.status_code == 200
    assert "You cannot disable your own account." in page(response)
    assert reload(admin).status == UserStatus.ACTIVE
    assert db.session.scalars(select(OutboxMessage)).all() == []


def test_the_self_rules_hold_in_the_service(app, admin):
    with pytest.raises(NotAllowed):
        admin_service.update_user(admin, role="provider", area_ids=[], status="active", by=admin, ip=None)
    with pytest.raises(NotAllowed):
        admin_service.update_user(admin, role="admin", area_ids=[], status="disabled", by=admin, ip=None)


def test_another_admin_can_be_demoted(as_admin):
    other = make_user(Role.ADMIN)
    area = make_area()
    db.session.commit()

    edit(as_admin, other, role="coordinator", areas=[str(area.id)])

    assert reload(other).role == Role.COORDINATOR


def test_disabling_someone_ends_their_session_mails_them_and_is_audited(app, as_admin, admin, mailbox):
    user = make_user(Role.PROVIDER, name="Pat Jones", email="pat@acme.example")
    db.session.commit()
    theirs = app.test_client()
    with theirs.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    assert "Welcome, Pat Jones" in page(theirs.get("/"))

    response = edit(as_admin, user, status="disabled")

    assert response.status_code == 302
    assert reload(user).status == UserStatus.DISABLED
    after = page(theirs.get("/"))
    assert "Welcome, Pat Jones" not in after
    assert "Sign in" in after
    [event] = audit_events("user.disable")
    assert event.actor_id == admin.id and event.object_id == user.id and event.area_id == user.organisation.area_id
    [message] = mailbox()
    assert message["To"] == "pat@acme.example"
    assert "has been disabled" in text_body(message)

    edit(as_admin, reload(user), status="active")  # enabling again does not bring the old session back
    assert reload(user).status == UserStatus.ACTIVE
    assert "Welcome, Pat Jones" not in page(theirs.get("/"))


def test_enabling_a_disabled_account(as_admin, admin):
    user = make_user(Role.PROVIDER, status="disabled")
    db.session.commit()

    edit(as_admin, user, status="active")

    assert reload(user).status == UserStatus.ACTIVE
    [event] = audit_events("user.enable")
    assert event.actor_id == admin.id
    assert db.session.scalars(select(OutboxMessage)).all() == []


def test_a_pending_account_is_not_activated_here(as_admin):
    user = make_user(Role.PROVIDER, status="pending")
    db.session.commit()

    page_html = page(as_admin.get(f"/admin/users/{user.id}"))
    response = edit(as_admin, user, status="active")

    assert '<option selected value="pending">Pending verification</option>' in page_html
    assert "approve or reject it from the verification queue" in page(response)
    assert reload(user).status == UserStatus.PENDING


def test_a_pending_account_can_be_disabled(as_admin):
    user = make_user(Role.PROVIDER, status="pending")
    db.session.commit()

    edit(as_admin, user, status="disabled")

    assert reload(user).status == UserStatus.DISABLED


def test_saving_without_changes_records_nothing(as_admin):
    user = make_user(Role.PROVIDER)
    nonce = user.session_nonce
    db.session.commit()

    response = edit(as_admin, user)

    assert response.status_code == 302
    assert reload(user).session_nonce == nonce
    assert db.session.scalars(select(AuditEvent)).all() == []
    assert "Nothing changed." in page(as_admin.get(f"/admin/users/{user.id}"))


def test_a_rule_broken_anywhere_saves_nothing(as_admin):
    """Role, areas and status are one decision: a refused role keeps the valid status change out too."""
    user = make_user(Role.COORDINATOR, areas=[make_area()])
    db.session.commit()

    edit(as_admin, user, role="provider", status="disabled")

    user = reload(user)
    assert (user.role, user.status) == (Role.COORDINATOR, UserStatus.ACTIVE)
    assert db.session.scalars(select(AuditEvent)).all() == []
    assert db.session.scalars(select(User).where(User.status == UserStatus.DISABLED)).all() == []
