"""Organisation profiles: who may see and edit which, version-checked edits, and the coordinators' list."""
import re

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from portal.errors import NotAllowed, StaleEdit
from portal.extensions import db
from portal.models import AuditEvent, Organisation, OrganisationSector
from portal.services import organisations
from portal.vocab import Role
from tests.factories import make_area, make_provider, make_school, make_user
from tests.html import table_rows

STALE = "This organisation was changed by someone else while you were editing."


def rows(response) -> list[list[str]]:
    return table_rows(response)


def hidden_version(response) -> str:
    return re.search(r'id="version" name="version" type="hidden" value="(\d+)"', response.get_data(as_text=True))[1]


def reload(org: Organisation) -> Organisation:
    """The organisation as the database has it (what a failed request left in the session is dropped)."""
    db.session.rollback()
    return db.session.get(Organisation, org.id)


def audit_rows(action: str = "organisation.edit") -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def provider_form(org: Organisation, **changes) -> dict:
    data = {
        "version": str(org.version), "name": org.name, "provider_kind": org.provider_kind,
        "sectors": org.sector_codes, "size_band": org.size_band, "website": org.website or "",
        "safeguarding_contact": org.safeguarding_contact or "", "town": "Burnley",
    }
    if org.levy_payer:
        data["levy_payer"] = "y"
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def school_form(org: Organisation, **changes) -> dict:
    data = {"version": str(org.version), "name": org.name, "phase": org.phase, "town": "Burnley",
            **{f"year_{row.year_group}": str(row.pupils) for row in org.year_sizes}}
    if org.names_opt_in:
        data["names_opt_in"] = "y"
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def world(app):
    """Two areas, each with a provider and a school, their members, a coordinator each and an admin."""
    burnley, preston = make_area("Burnley"), make_area("Preston")
    provider = make_provider(burnley, name="Calder Engineering")
    school = make_school(burnley, name="Burnley High", urn="119001", year_sizes={7: 180, 8: 175, 9: 170})
    other_provider = make_provider(preston, name="Ribble Digital")
    other_school = make_school(preston, name="Preston College", urn="119002", phase="college",
                               year_sizes={12: 400})
    people = {
        "provider": make_user(Role.PROVIDER, organisation=provider, name="Pat Provider"),
        "careers_lead": make_user(Role.CAREERS_LEAD, organisation=school, name="Cara Lead"),
        "coordinator": make_user(Role.COORDINATOR, areas=[burnley], name="Col Coordinator"),
        "other_coordinator": make_user(Role.COORDINATOR, areas=[preston]),
        "admin": make_user(Role.ADMIN),
    }
    db.session.commit()
    return {"burnley": burnley, "preston": preston, "provider": provider, "school": school,
            "other_provider": other_provider, "other_school": other_school, **{f"as_{k}": v for k, v in people.items()}}


# --- who may see and edit what --------------------------------------------------------------------

ACCESS = [
    # (who, organisation, may see and edit)
    ("provider", "provider", True),
    ("provider", "other_provider", False),
    ("provider", "school", False),
    ("careers_lead", "school", True),
    ("careers_lead", "other_school", False),
    ("careers_lead", "provider", False),
    ("coordinator", "provider", True),
    ("coordinator", "school", True),
    ("coordinator", "other_provider", False),
    ("coordinator", "other_school", False),
    ("other_coordinator", "other_school", True),
    ("other_coordinator", "school", False),
    ("admin", "provider", True),
    ("admin", "other_school", True),
]


@pytest.mark.parametrize(("who", "which", "allowed"), ACCESS)
def test_who_may_view_and_edit_which_organisation(client, login, world, who, which, allowed):
    login(world[f"as_{who}"])
    org = world[which]
    expected = 200 if allowed else 403
    assert client.get(f"/organisations/{org.id}").status_code == expected
    assert client.get(f"/organisations/{org.id}/edit").status_code == expected


@pytest.mark.parametrize(("who", "which"), [("provider", "other_provider"), ("careers_lead", "other_school"),
                                            ("coordinator", "other_provider")])
def test_a_refused_edit_changes_nothing(client, login, world, who, which):
    login(world[f"as_{who}"])
    org = world[which]
    form = (school_form if org.is_school else provider_form)(org, name="Taken over")
    assert client.post(f"/organisations/{org.id}/edit", data=form).status_code == 403
    assert reload(org).name != "Taken over"
    assert audit_rows() == []


def test_a_missing_organisation_is_404(client, login, world):
    login(world["as_admin"])
    assert client.get("/organisations/9999").status_code == 404
    assert client.get("/organisations/9999/edit").status_code == 404


@pytest.mark.parametrize(("who", "which"), [("provider", "provider"), ("careers_lead", "school")])
def test_my_organisation_leads_to_its_profile(client, login, world, who, which):
    login(world[f"as_{who}"])
    response = client.get("/organisation")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/organisations/{world[which].id}"


# --- the profile page -----------------------------------------------------------------------------

def test_a_providers_profile_shows_labels_members_and_an_edit_link(client, login, world):
    org = world["provider"]
    org.sectors.append(OrganisationSector(sector="digital"))
    org.levy_payer, org.website, org.safeguarding_contact = True, "https://calder.example", "Sam Safe 01282 000000"
    db.session.commit()
    login(world["as_coordinator"])
    html = client.get(f"/organisations/{org.id}").get_data(as_text=True)
    assert "<h1>Calder Engineering</h1>" in html
    assert "<title>Calder Engineering – Encounters</title>" in html
    for text in ("Provider (Employer)", "Digital, Engineering and manufacturing", "Medium (50–249 staff)",
                 "Sam Safe 01282 000000", "Verified", "Pat Provider", "Provider contact"):
        assert text in html
    assert '<a href="https://calder.example" rel="noopener noreferrer">' in html
    assert f'href="/organisations/{org.id}/edit"' in html


def test_a_schools_profile_shows_urn_phase_and_pupils_per_year(client, login, world):
    login(world["as_careers_lead"])
    response = client.get(f"/organisations/{world['school'].id}")
    html = response.get_data(as_text=True)
    assert "119001" in html and "Secondary" in html and "Cara Lead" in html
    table = rows(response)
    assert ["Year 7", "180"] in table and ["Year 9", "170"] in table
    assert ["Year 12", "Not given"] in table  # a year of the phase with no figure yet


def test_no_edit_link_when_the_policy_says_no(client, login, world, monkeypatch):
    """The view decides, not the template: a user who may view but not edit sees no Edit link."""
    monkeypatch.setattr("portal.policy.can_edit_organisation", lambda user, org: False)
    login(world["as_provider"])
    org = world["provider"]
    html = client.get(f"/organisations/{org.id}").get_data(as_text=True)
    assert f"/organisations/{org.id}/edit" not in html
    assert client.get(f"/organisations/{org.id}/edit").status_code == 403


def test_a_website_that_is_not_http_is_shown_but_not_linked(client, login, world):
    org = world["provider"]
    org.website = "javascript:alert(1)"
    db.session.commit()
    login(world["as_provider"])
    html = client.get(f"/organisations/{org.id}").get_data(as_text=True)
    assert 'href="javascript:' not in html


# --- editing a provider ---------------------------------------------------------------------------

def test_a_provider_edits_its_own_profile(client, login, world):
    org = world["provider"]
    user = login(world["as_provider"])
    form = provider_form(org, name="Calder Engineering Group", provider_kind="training_provider",
                         sectors=["engineering", "digital"], size_band="large", levy_payer="y",
                         website="https://calder.example/schools", safeguarding_contact="Sam Safe, 01282 000000")
    response = client.post(f"/organisations/{org.id}/edit", data=form)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/organisations/{org.id}"
    org = reload(org)
    assert org.name == "Calder Engineering Group"
    assert org.provider_kind == "training_provider"
    assert org.sector_codes == ["digital", "engineering"]
    assert (org.size_band, org.levy_payer) == ("large", True)
    assert org.website == "https://calder.example/schools"
    assert org.safeguarding_contact == "Sam Safe, 01282 000000"
    assert org.version == 2
    [event] = audit_rows()
    assert (event.actor_id, event.object_type, event.object_id) == (user.id, "organisation", org.id)
    assert event.area_id == world["burnley"].id
    assert "name" in event.detail and "sectors" in event.detail
    assert "changes saved" in client.get(f"/organisations/{org.id}").get_data(as_text=True)


def test_changing_only_the_sectors_still_bumps_the_version(app, world):
    """Sectors live in their own table; the organisation's version must move anyway, or a second editor
    of the sectors would not be told."""
    org = world["provider"]
    organisations.update_organisation(org, by=world["as_provider"], expected_version=1, changes={},
                                      sectors=["health"])
    org = reload(org)
    assert (org.sector_codes, org.version) == (["health"], 2)


def test_saving_without_changes_writes_nothing(app, world):
    org = world["school"]
    organisations.update_organisation(org, by=world["as_careers_lead"], expected_version=1,
                                      changes={"name": org.name}, year_sizes={7: 180, 8: 175})
    assert reload(org).version == 1
    assert audit_rows() == []


@pytest.mark.parametrize(("changes", "message"), [
    ({"sectors": []}, "Choose at least one sector."),
    ({"sectors": ["astrology"]}, "not a valid choice"),
    ({"name": "  "}, "Enter the organisation&#39;s name."),
    ({"size_band": ""}, "Choose the size of your organisation."),
    ({"website": "javascript:alert(1)"}, "Enter a web address starting with http:// or https://"),
    ({"website": "ftp://calder.example"}, "Enter a web address starting with http:// or https://"),
    ({"provider_kind": "charity"}, "Not a valid choice"),
])
def test_a_providers_profile_is_validated(client, login, world, changes, message):
    org = world["provider"]
    login(world["as_provider"])
    response = client.post(f"/organisations/{org.id}/edit", data=provider_form(org, **changes))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "There is a problem" in html
    assert message in html
    assert reload(org).version == 1
    assert audit_rows() == []


def test_a_coordinator_edits_a_provider_in_their_area(client, login, world):
    org = world["provider"]
    login(world["as_coordinator"])
    response = client.post(f"/organisations/{org.id}/edit", data=provider_form(org, name="Calder Eng"))
    assert response.status_code == 302
    assert reload(org).name == "Calder Eng"
    [event] = audit_rows()
    assert event.actor_id == world["as_coordinator"].id


def test_only_an_admin_moves_an_organisation_to_another_area(client, login, world):
    org = world["provider"]
    preston = world["preston"].id
    login(world["as_coordinator"])
    assert 'name="area_id"' not in client.get(f"/organisations/{org.id}/edit").get_data(as_text=True)
    client.post(f"/organisations/{org.id}/edit", data=provider_form(org, area_id=str(preston)))
    assert reload(org).area_id == world["burnley"].id


def test_an_admin_moves_an_organisation_and_the_audit_row_names_the_new_area(client, login, world):
    org = world["provider"]
    preston = world["preston"].id
    login(world["as_admin"])
    assert 'name="area_id"' in client.get(f"/organisations/{org.id}/edit").get_data(as_text=True)
    response = client.post(f"/organisations/{org.id}/edit", data=provider_form(org, area_id=str(preston)))
    assert response.status_code == 302
    assert reload(org).area_id == preston
    [event] = audit_rows()
    assert event.area_id == preston


# --- editing a school -----------------------------------------------------------------------------

def test_a_careers_lead_edits_year_sizes_and_names_opt_in(client, login, world):
    school = world["school"]
    login(world["as_careers_lead"])
    form = school_form(school, year_7="185", year_8="", year_12="90", names_opt_in="y")
    response = client.post(f"/organisations/{school.id}/edit", data=form)
    assert response.status_code == 302
    school = reload(school)
    assert {row.year_group: row.pupils for row in school.year_sizes} == {7: 185, 9: 170, 12: 90}
    assert school.names_opt_in is True
    [event] = audit_rows()
    assert "pupils per year group" in event.detail and "names_opt_in" in event.detail


def test_a_careers_lead_sees_the_urn_but_cannot_change_it(client, login, world):
    school = world["school"]
    login(world["as_careers_lead"])
    html = client.get(f"/organisations/{school.id}/edit").get_data(as_text=True)
    assert "119001" in html
    assert 'name="urn"' not in html
    response = client.post(f"/organisations/{school.id}/edit", data=school_form(school, urn="654321", name="BHS"))
    assert response.status_code == 302
    school = reload(school)
    assert (school.urn, school.name) == ("119001", "BHS")


def test_the_service_refuses_a_urn_change_by_a_careers_lead(app, world):
    school = world["school"]
    with pytest.raises(NotAllowed):
        organisations.update_organisation(school, by=world["as_careers_lead"], expected_version=school.version,
                                          changes={"urn": "654321"})
    assert reload(school).urn == "119001"


@pytest.mark.parametrize(("urn", "message"), [
    ("12345", "A URN is 6 digits"),
    ("1234567", "A URN is 6 digits"),
    ("12a456", "A URN is 6 digits"),
    ("", "Enter the school&#39;s URN."),
    ("119002", "Another school already has this URN."),
])
def test_a_coordinator_changes_a_urn_only_to_a_valid_unused_one(client, login, world, urn, message):
    school = world["school"]
    login(world["as_coordinator"])
    response = client.post(f"/organisations/{school.id}/edit", data=school_form(school, urn=urn))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in html
    assert 'href="#urn"' in html
    assert reload(school).urn == "119001"


def test_a_coordinator_corrects_a_urn(client, login, world):
    school = world["school"]
    login(world["as_coordinator"])
    response = client.post(f"/organisations/{school.id}/edit", data=school_form(school, urn=" 119876 "))
    assert response.status_code == 302
    assert reload(school).urn == "119876"


@pytest.mark.parametrize("pupils", ["-1", "2001", "many"])
def test_pupils_per_year_must_be_a_whole_number_up_to_2000(client, login, world, pupils):
    school = world["school"]
    login(world["as_careers_lead"])
    response = client.post(f"/organisations/{school.id}/edit", data=school_form(school, year_7=pupils))
    assert response.status_code == 200
    assert 'href="#year_7"' in response.get_data(as_text=True)
    assert reload(school).year_sizes[0].pupils == 180


def test_the_year_groups_offered_are_the_phases(client, login, world):
    login(world["as_admin"])
    html = client.get(f"/organisations/{world['other_school'].id}/edit").get_data(as_text=True)
    assert re.findall(r'name="year_(\d+)"', html) == ["12", "13", "14"]  # a college


def test_changing_phase_drops_year_groups_the_new_phase_does_not_teach(app, world):
    school = world["school"]
    organisations.update_organisation(school, by=world["as_careers_lead"], expected_version=1,
                                      changes={"phase": "primary"}, year_sizes={7: 180, 8: 175, 9: 170})
    school = reload(school)
    assert (school.phase, school.year_sizes) == ("primary", [])


# --- two editors ----------------------------------------------------------------------------------

def test_a_stale_edit_is_refused_with_the_users_input_kept(client, login, world):
    org = world["provider"]
    login(world["as_provider"])
    loaded = client.get(f"/organisations/{org.id}/edit")
    assert hidden_version(loaded) == "1"

    # Meanwhile the coordinator saves a change.
    organisations.update_organisation(org, by=world["as_coordinator"], expected_version=1,
                                      changes={"name": "Calder Engineering Ltd"})
    assert reload(org).version == 2

    form = provider_form(org, version="1", name="My new name", safeguarding_contact="Sam Safe")
    response = client.post(f"/organisations/{org.id}/edit", data=form)
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert STALE in html and "Your changes are below: check them and save again." in html
    assert 'value="My new name"' in html and 'value="Sam Safe"' in html
    assert hidden_version(response) == "2"
    org = reload(org)
    assert (org.name, org.safeguarding_contact, org.version) == ("Calder Engineering Ltd", None, 2)
    assert [e.actor_id for e in audit_rows()] == [world["as_coordinator"].id]

    # Saving again, now against the version the page was re-shown with, goes through.
    response = client.post(f"/organisations/{org.id}/edit", data={**form, "version": "2"})
    assert response.status_code == 302
    assert reload(org).name == "My new name"


def test_the_service_refuses_an_edit_loaded_at_an_older_version(app, world):
    org = world["provider"]
    with pytest.raises(StaleEdit):
        organisations.update_organisation(org, by=world["as_provider"], expected_version=0,
                                          changes={"name": "Old news"})
    assert reload(org).name == "Calder Engineering"


def test_a_concurrent_update_between_load_and_save_is_a_stale_edit(app, world):
    """The row changed after we read it (another process): SQLAlchemy's version check catches it."""
    org = world["provider"]
    assert org.version == 1  # loaded in this session
    with db.engine.begin() as other:
        other.execute(sa.text("UPDATE organisations SET name = 'Theirs', version = version + 1 WHERE id = :id"),
                      {"id": org.id})
    with pytest.raises(StaleEdit):
        organisations.update_organisation(org, by=world["as_provider"], expected_version=1,
                                          changes={"name": "Ours"})
    org = reload(org)
    assert (org.name, org.version) == ("Theirs", 2)
    assert audit_rows() == []


# --- the coordinators' list -----------------------------------------------------------------------

def names(response) -> list[str]:
    return [row[0] for row in rows(response)]


def test_a_coordinator_lists_only_their_areas_organisations(client, login, world):
    login(world["as_coordinator"])
    response = client.get("/organisations")
    assert response.status_code == 200
    assert rows(response) == [
        ["Burnley High", "School or college (Secondary)", "Burnley", "Verified", "Burnley"],
        ["Calder Engineering", "Provider (Employer)", "Burnley", "Verified", "Burnley"],
    ]


def test_an_admin_lists_every_area(client, login, world):
    login(world["as_admin"])
    assert names(client.get("/organisations")) == [
        "Burnley High", "Calder Engineering", "Preston College", "Ribble Digital"]


@pytest.mark.parametrize(("query", "expected"), [
    ("kind=school", ["Burnley High", "Preston College"]),
    ("kind=provider&status=pending", ["Pendle Makers"]),
    ("status=verified&kind=provider", ["100% Digital", "Calder Engineering", "Ribble Digital"]),
    ("q=CALDER", ["Calder Engineering"]),
    ("q=high", ["Burnley High"]),
    ("q=100%25", ["100% Digital"]),  # a literal %, not a wildcard
    ("q=_", []),
    ("area={preston}", ["100% Digital", "Preston College", "Ribble Digital"]),
    ("kind=bogus", ["100% Digital", "Burnley High", "Calder Engineering", "Pendle Makers", "Preston College",
                    "Ribble Digital"]),
])
def test_the_list_filters(client, login, world, query, expected):
    make_provider(world["burnley"], name="Pendle Makers", status="pending")
    make_provider(world["preston"], name="100% Digital")
    db.session.commit()
    login(world["as_admin"])
    response = client.get("/organisations?" + query.format(preston=world["preston"].id))
    assert response.status_code == 200
    assert names(response) == expected


def test_a_coordinator_cannot_filter_their_way_into_another_area(client, login, world):
    login(world["as_coordinator"])
    response = client.get(f"/organisations?area={world['preston'].id}")
    assert response.status_code == 200
    assert names(response) == ["Burnley High", "Calder Engineering"]


def test_the_list_is_paged_25_at_a_time_by_name_and_pages_keep_the_filters(client, login, world):
    burnley = world["burnley"]
    for n in range(15):  # lower and upper case: sorted as people read them, not by character code
        make_provider(burnley, name=f"Beta {n:02d}")
        make_provider(burnley, name=f"alpha {n:02d}")
    db.session.commit()
    login(world["as_coordinator"])
    first = client.get("/organisations?kind=provider")
    assert names(first) == [f"alpha {n:02d}" for n in range(15)] + [f"Beta {n:02d}" for n in range(10)]
    html = first.get_data(as_text=True)
    assert "31 organisations, page 1 of 2." in html
    assert "/organisations?page=2&amp;kind=provider" in html
    second = names(client.get("/organisations?kind=provider&page=2"))
    assert second == [f"Beta {n:02d}" for n in range(10, 15)] + ["Calder Engineering"]


def test_an_empty_list_says_so(client, login, world):
    empty = make_area("Pendle")
    login(make_user(Role.COORDINATOR, areas=[empty]))
    db.session.commit()
    html = client.get("/organisations").get_data(as_text=True)
    assert "There are no organisations in your areas yet." in html


def test_a_filter_matching_nothing_says_so(client, login, world):
    login(world["as_coordinator"])
    html = client.get("/organisations?q=zzz").get_data(as_text=True)
    assert "No organisations match these filters." in html
