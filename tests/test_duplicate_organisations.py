"""One provider of a name per area: sign-up and profile edits refuse a name already registered there.

Names are the same ignoring case, spaces at the ends or repeated between words, and a closing Ltd/Ltd./Limited
(services.organisations.name_key). Another area, or a school, may use a provider's name.
"""
import html
import re

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Organisation, OrgStatus, User
from portal.services import organisations
from tests.factories import make_area, make_provider, make_school
from tests.test_organisations import provider_form as edit_form
from tests.test_organisations import reload, world  # noqa: F401 (a fixture)
from tests.test_signup import provider_form

TAKEN = "Pennine Aerostructures Ltd is already registered in Burnley."


def field_error(response, field: str) -> str | None:
    """The error shown beside a field (templates/_macros/forms.html), unescaped."""
    found = re.search(rf'<div id="{field}-error" class="invalid-feedback d-block">(.*?)</div>',
                      response.get_data(as_text=True), re.S)
    return html.unescape(found[1]) if found else None


def providers_named(text: str) -> int:
    return db.session.scalar(select(func.count()).select_from(Organisation)
                             .where(func.lower(Organisation.name).like(f"%{text.lower()}%")))


@pytest.fixture
def burnley(app):
    area = make_area("Burnley")
    make_provider(area, name="Pennine Aerostructures Ltd", status=OrgStatus.VERIFIED)
    db.session.commit()
    return area


@pytest.mark.parametrize("name", [
    "pennine aerostructures ltd",
    "PENNINE AEROSTRUCTURES LTD",
    "  Pennine   Aerostructures  Ltd ",
    "Pennine Aerostructures",
    "Pennine Aerostructures Ltd.",
    "Pennine Aerostructures Limited",
])
def test_signup_refuses_a_provider_already_registered_in_the_area(client, burnley, name):
    response = client.post("/signup/provider", data=provider_form(burnley, org_name=name))
    assert response.status_code == 200
    error = field_error(response, "org_name")
    assert error is not None and error.startswith(TAKEN)
    assert "Join an organisation already on Encounters" in error
    assert b"There is a problem" in response.data
    # The rest of what was typed is kept.
    assert b'value="ann@acme.example"' in response.data and b'value="Sam Safe"' in response.data
    assert providers_named("aerostructures") == 1
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_a_pending_duplicate_says_it_cannot_be_joined_yet(client, app):
    area = make_area("Burnley")
    make_provider(area, name="Pennine Aerostructures Ltd", status=OrgStatus.PENDING)
    db.session.commit()
    response = client.post("/signup/provider", data=provider_form(area, org_name="pennine aerostructures ltd"))
    error = field_error(response, "org_name")
    assert error.startswith(TAKEN) and "cannot be joined yet" in error
    assert providers_named("aerostructures") == 1


def test_the_same_name_in_another_area_or_as_a_school_is_accepted(client, burnley):
    preston = make_area("Preston")
    make_school(burnley, name="Padiham Academy", urn="119777")
    db.session.commit()
    response = client.post("/signup/provider", data=provider_form(preston, org_name="Pennine Aerostructures Ltd"))
    assert response.status_code == 302
    assert providers_named("aerostructures") == 2

    response = client.post("/signup/provider", data=provider_form(
        burnley, org_name="Padiham Academy", email="bo@padiham.example"))
    assert response.status_code == 302
    assert providers_named("padiham academy") == 2

    school = {"name": "Cal Lead", "email": "cal@school.example", "password": "plum lantern orbit 42",
              "confirm": "plum lantern orbit 42", "school_name": "Pennine Aerostructures Ltd", "urn": "119888",
              "phase": "secondary", "area_id": str(burnley.id), "town": "Burnley"}
    assert client.post("/signup/careers-lead", data=school).status_code == 302
    assert providers_named("aerostructures") == 3


def test_a_different_name_is_accepted(client, burnley):
    response = client.post("/signup/provider", data=provider_form(burnley, org_name="Pennine Aerospace Ltd"))
    assert response.status_code == 302


def test_a_rename_to_a_name_taken_in_the_area_is_refused(client, login, world):  # noqa: F811
    make_provider(world["burnley"], name="Pennine Aerostructures Ltd")
    db.session.commit()
    org = world["provider"]
    login(world["as_coordinator"])
    response = client.post(f"/organisations/{org.id}/edit",
                           data=edit_form(org, name="pennine  aerostructures", website="https://kept.example"))
    assert response.status_code == 200
    assert field_error(response, "name") == f"{TAKEN} Choose a different name."
    assert b'value="https://kept.example"' in response.data
    assert reload(org).name == "Calder Engineering"


def test_a_rename_of_case_only_and_a_name_used_elsewhere_are_accepted(client, login, world):  # noqa: F811
    org = world["provider"]
    login(world["as_provider"])
    response = client.post(f"/organisations/{org.id}/edit", data=edit_form(org, name="CALDER ENGINEERING"))
    assert response.status_code == 302
    org = reload(org)
    response = client.post(f"/organisations/{org.id}/edit", data=edit_form(org, name="Ribble Digital Ltd"))
    assert response.status_code == 302  # Ribble Digital is in Preston
    assert reload(org).name == "Ribble Digital Ltd"


def test_an_admin_cannot_move_a_provider_into_an_area_where_its_name_is_taken(client, login, world):  # noqa: F811
    make_provider(world["preston"], name="Calder Engineering Limited")
    db.session.commit()
    org = world["provider"]
    login(world["as_admin"])
    response = client.post(f"/organisations/{org.id}/edit", data=edit_form(org, area_id=str(world["preston"].id)))
    assert response.status_code == 200
    assert field_error(response, "area_id").startswith("Calder Engineering Limited is already registered in Preston.")
    assert reload(org).area_id == world["burnley"].id


@pytest.mark.parametrize(("a", "b"), [
    ("Pennine Aerostructures Ltd", " pennine  aerostructures LIMITED "),
    ("Acme Ltd.", "acme"),
])
def test_name_key(a, b):
    assert organisations.name_key(a) == organisations.name_key(b)
    assert organisations.name_key("Acme Holdings") != organisations.name_key("Acme")
