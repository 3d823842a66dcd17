"""Schools' requests: asking, every validation rule, who may see and change which, version-checked edits,
withdrawal with its confirmation, the list's counts (without a query per row), expiry and the status helper."""
import re
from datetime import date, datetime, timedelta
from html import unescape

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from portal.errors import InvalidState, NotAllowed, StaleEdit, ValidationFailed
from portal.extensions import db
from portal.models import AuditEvent, Match, MatchEvent, MatchOrigin, SchoolRequest
from portal.services import school_requests
from portal.services.school_requests import RequestDetails
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_request, make_school, make_user

TODAY = date.today()
STALE = "This request was changed by someone else while you were editing."


@pytest.fixture
def world(app):
    """Burnley (a school with a request, a provider, a coordinator) and Preston (the same), and an admin."""
    burnley, preston = make_area("Burnley"), make_area("Preston")
    school = make_school(burnley, name="Burnley High")
    other_school = make_school(preston, name="Preston Academy")
    provider = make_provider(burnley, name="Calder Engineering")
    world = {
        "burnley": burnley, "preston": preston, "school": school, "other_school": other_school,
        "provider_org": provider,
        "request": make_request(school, title="Year 9 engineering talk"),
        "other_request": make_request(other_school, title="Preston careers fair"),
        "careers_lead": make_user(Role.CAREERS_LEAD, organisation=school, name="Cara Lead"),
        "other_lead": make_user(Role.CAREERS_LEAD, organisation=other_school),
        "provider": make_user(Role.PROVIDER, organisation=provider),
        "coordinator": make_user(Role.COORDINATOR, areas=[burnley], name="Col Coordinator"),
        "other_coordinator": make_user(Role.COORDINATOR, areas=[preston]),
        "admin": make_user(Role.ADMIN),
    }
    db.session.commit()
    return world


def form_data(**changes) -> dict:
    """A valid request form; a value of None leaves the field out (an unticked box)."""
    data = {
        "title": "Year 10 engineering talk",
        "wanted_types": ["careers_talk", "workplace_visit"],
        "sectors": ["engineering"],
        "year_groups": ["10"],
        "pupils": "60",
        "starts_on": (TODAY + timedelta(days=14)).isoformat(),
        "ends_on": (TODAY + timedelta(days=90)).isoformat(),
        "deliveries": ["in_school", "workplace"],
        "max_travel_miles": "12",
        "keep_together": "y",
        "priority": "at_risk",
        "notes": "Step-free access needed.",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def edit_data(school_request: SchoolRequest, **changes) -> dict:
    return form_data(**{"version": str(school_request.version), **changes})


def details(**changes) -> RequestDetails:
    values = dict(title="Talk", wanted_types=["careers_talk"], year_groups=[9], pupils=30,
                  starts_on=TODAY + timedelta(days=7), ends_on=TODAY + timedelta(days=30), deliveries=["in_school"])
    values.update(changes)
    return RequestDetails(**values)


def make_match(school_request, *, status="proposed", allocation=10, offer=None) -> Match:
    offer = offer or make_offer(make_provider(make_area()))
    match = Match(offer=offer, request=school_request, area_id=school_request.area_id, allocation=allocation,
                  status=status, origin=MatchOrigin.SCHOOL_ASKED, reasons="Same sector · 3 miles away")
    db.session.add(match)
    db.session.flush()
    return match


def reload(school_request: SchoolRequest) -> SchoolRequest:
    db.session.rollback()
    return db.session.get(SchoolRequest, school_request.id)


def audit_rows(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def requests_of(school) -> list[SchoolRequest]:
    return list(db.session.scalars(select(SchoolRequest).where(SchoolRequest.school_id == school.id)
                                   .order_by(SchoolRequest.id)))


def hidden_version(response) -> str:
    return re.search(r'id="version" name="version" type="hidden" value="(\d+)"', response.get_data(as_text=True))[1]


def text(response) -> str:
    return unescape(response.get_data(as_text=True))


def table_rows(response) -> list[list[str]]:
    """The text of each cell of each row of the page's table body (tags removed, spaces squeezed)."""
    body = re.search(r"<tbody>(.*?)</tbody>", response.get_data(as_text=True), re.S)
    if body is None:
        return []
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body[1], re.S):
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
        rows.append([" ".join(unescape(re.sub(r"<[^>]+>", "", c)).split()) for c in cells])
    return rows


# --- asking ---------------------------------------------------------------------------------------

def test_a_careers_lead_asks_for_an_encounter(client, login, world):
    school = world["school"]
    user = login(world["careers_lead"])
    page = client.get("/requests/new")
    assert page.status_code == 200
    assert "<h1>Ask for an encounter</h1>" in page.get_data(as_text=True)

    response = client.post(f"/requests/new?school_id={school.id}", data=form_data())
    assert response.status_code == 302
    created = requests_of(school)[-1]
    assert response.headers["Location"] == f"/requests/{created.id}"
    assert created.title == "Year 10 engineering talk"
    assert created.wanted_types == ["careers_talk", "workplace_visit"]
    assert created.sectors == ["engineering"]
    assert (created.year_groups, created.pupils) == ([10], 60)
    assert (created.starts_on, created.ends_on) == (TODAY + timedelta(days=14), TODAY + timedelta(days=90))
    assert created.deliveries == ["in_school", "workplace"]
    assert (created.max_travel_miles, created.keep_together, created.priority) == (12, True, "at_risk")
    assert created.notes == "Step-free access needed."
    assert (created.status, created.area_id, created.created_by_id) == ("open", world["burnley"].id, user.id)
    [event] = audit_rows("request.create")
    assert (event.actor_id, event.object_id, event.area_id) == (user.id, created.id, world["burnley"].id)
    assert "is posted" in text(client.get(response.headers["Location"]))


def test_no_sector_ticked_means_any_and_travel_is_only_kept_for_workplace_delivery(client, login, world):
    login(world["careers_lead"])
    response = client.post("/requests/new", data=form_data(sectors=None, deliveries=["virtual"],
                                                           max_travel_miles=None, keep_together=None))
    assert response.status_code == 302
    created = requests_of(world["school"])[-1]
    assert (created.sectors, created.deliveries, created.max_travel_miles) == ([], ["virtual"], None)
    assert created.keep_together is False
    assert "Any sector" in text(client.get(f"/requests/{created.id}"))


def test_the_form_offers_the_schools_year_groups_and_the_schools_types(client, login, world):
    primary = make_school(world["burnley"], phase="primary", year_sizes={})
    lead = make_user(Role.CAREERS_LEAD, organisation=primary)
    db.session.commit()
    login(lead)
    html = client.get("/requests/new").get_data(as_text=True)
    assert re.findall(r'name="year_groups"[^>]*value="(\d+)"', html) == [str(y) for y in range(0, 7)]
    assert 'value="primary_kit"' in html
    assert 'value="internship_week"' not in html  # for young people not at school
    assert "Never write pupils&#39; names or personal details here." in html
    assert "Otherwise it may be split across providers." in html
    assert "Leave them all unticked if any sector will do." in html


def test_a_coordinator_asks_on_behalf_of_a_school_in_their_area(client, login, world):
    school = world["school"]
    user = login(world["coordinator"])
    assert client.get(f"/requests/new?school_id={school.id}").status_code == 200
    response = client.post(f"/requests/new?school_id={school.id}", data=form_data())
    assert response.status_code == 302
    created = requests_of(school)[-1]
    assert (created.area_id, created.created_by_id) == (world["burnley"].id, user.id)


def test_a_coordinator_without_a_school_first_chooses_one_of_their_areas(client, login, world):
    login(world["coordinator"])
    html = client.get("/requests/new").get_data(as_text=True)
    assert "Burnley High" in html and "Preston Academy" not in html
    assert 'method="get"' in html
    assert requests_of(world["school"]) == [world["request"]]


@pytest.mark.parametrize(("who", "which", "expected"), [
    ("coordinator", "other_school", 403),
    ("other_coordinator", "school", 403),
    ("coordinator", "provider_org", 403),  # not a school
    ("careers_lead", "other_school", 403),
    ("admin", "other_school", 200),
])
def test_asking_for_another_school_is_refused(client, login, world, who, which, expected):
    login(world[who])
    url = f"/requests/new?school_id={world[which].id}"
    assert client.get(url).status_code == expected
    if expected == 403:
        assert client.post(url, data=form_data()).status_code == 403
        assert requests_of(world[which])[1:] == []
        assert audit_rows("request.create") == []


@pytest.mark.parametrize("school_id", ["9999", "abc"])
def test_asking_for_a_school_that_does_not_exist_is_404(client, login, world, school_id):
    login(world["admin"])
    assert client.get(f"/requests/new?school_id={school_id}").status_code == 404


def test_the_service_refuses_a_careers_lead_asking_for_another_school(app, world):
    with pytest.raises(NotAllowed):
        school_requests.create_request(world["other_school"], details(), by=world["careers_lead"])


# --- every validation rule ------------------------------------------------------------------------

LONG_AGO = (TODAY - timedelta(days=1)).isoformat()
RULES = [
    ({"title": ""}, "title", "Enter a title, e.g. Year 10 engineering talk."),
    ({"title": "x" * 161}, "title", "The title can be at most 160 characters."),
    ({"wanted_types": None}, "wanted_types", "Choose at least one type of encounter."),
    ({"wanted_types": ["internship_week"]}, "wanted_types", "Choose types of encounter from the list."),
    ({"wanted_types": ["astrology"]}, "wanted_types", "Choose types of encounter from the list."),
    ({"sectors": ["astrology"]}, "sectors", "Choose sectors from the list."),
    ({"year_groups": None}, "year_groups", "Choose at least one year group."),
    ({"year_groups": ["3"]}, "year_groups", "Choose year groups your school teaches (Years 7–13)."),
    ({"year_groups": ["10", "14"]}, "year_groups", "Choose year groups your school teaches (Years 7–13)."),
    ({"year_groups": ["ten"]}, "year_groups", "Choose year groups from the list."),
    ({"pupils": ""}, "pupils", "Enter the number of pupils, e.g. 30."),
    ({"pupils": "0"}, "pupils", "Enter a number of pupils from 1 to 2000."),
    ({"pupils": "2001"}, "pupils", "Enter a number of pupils from 1 to 2000."),
    ({"pupils": "many"}, "pupils", "Enter a whole number of pupils, e.g. 30."),
    ({"starts_on": ""}, "starts_on", "Enter the first date the encounter could happen."),
    ({"starts_on": "14/03/2025"}, "starts_on", "Enter the first date as a date"),
    ({"starts_on": LONG_AGO}, "starts_on", "The first date cannot be in the past."),
    ({"ends_on": ""}, "ends_on", "Enter the last date the encounter could happen."),
    ({"ends_on": "soon"}, "ends_on", "Enter the last date as a date"),
    ({"ends_on": (TODAY + timedelta(days=13)).isoformat()}, "ends_on",
     "The last date must be on or after the first date."),
    ({"ends_on": (TODAY + timedelta(days=14 + 367)).isoformat()}, "ends_on", "The dates can span at most one year."),
    ({"deliveries": None}, "deliveries", "Choose at least one way the encounter can be delivered."),
    ({"deliveries": ["teleport"]}, "deliveries", "Choose ways of delivery from the list."),
    ({"max_travel_miles": ""}, "max_travel_miles", "Enter how far pupils can travel to a workplace, in miles."),
    ({"max_travel_miles": "201"}, "max_travel_miles", "Enter a distance from 0 to 200 miles."),
    ({"max_travel_miles": "-1"}, "max_travel_miles", "Enter a distance from 0 to 200 miles."),
    ({"max_travel_miles": "far"}, "max_travel_miles", "Enter a whole number of miles, e.g. 10."),
    ({"priority": "vip"}, "priority", "Choose a priority cohort from the list."),
    ({"notes": "x" * 2001}, "notes", "Notes can be at most 2000 characters."),
]


@pytest.mark.parametrize(("changes", "field", "message"), RULES, ids=[f"{r[1]}-{i}" for i, r in enumerate(RULES)])
def test_each_rule_is_shown_beside_its_field_and_the_input_is_kept(client, login, world, changes, field, message):
    login(world["careers_lead"])
    response = client.post("/requests/new", data=form_data(**changes))
    html = text(response)
    assert response.status_code == 200
    assert "There is a problem" in html
    assert f'<div id="{field}-error" class="invalid-feedback d-block">{message}' in html
    assert f'href="#{field}"' in html
    if field != "title":
        assert 'value="Year 10 engineering talk"' in html  # the rest of the input is kept
    assert requests_of(world["school"]) == [world["request"]]
    assert audit_rows("request.create") == []


def test_every_broken_rule_is_shown_at_once(client, login, world):
    login(world["careers_lead"])
    response = client.post("/requests/new", data=form_data(title="", pupils="0", deliveries=None))
    html = response.get_data(as_text=True)
    for field in ("title", "pupils", "deliveries"):
        assert f'id="{field}-error"' in html


@pytest.mark.parametrize(("starts", "ends"), [(0, 0), (14, 14 + 365)])
def test_the_window_may_start_today_and_span_a_whole_year(client, login, world, starts, ends):
    login(world["careers_lead"])
    response = client.post("/requests/new", data=form_data(starts_on=(TODAY + timedelta(days=starts)).isoformat(),
                                                           ends_on=(TODAY + timedelta(days=ends)).isoformat()))
    assert response.status_code == 302


def test_travel_may_be_zero_miles(client, login, world):
    login(world["careers_lead"])
    assert client.post("/requests/new", data=form_data(max_travel_miles="0")).status_code == 302
    assert requests_of(world["school"])[-1].max_travel_miles == 0


@pytest.mark.parametrize(("changes", "field"), [
    ({"year_groups": [3]}, "year_groups"),
    ({"wanted_types": ["internship_week"]}, "wanted_types"),
    ({"starts_on": date(2030, 1, 1), "ends_on": date(2031, 1, 2)}, "ends_on"),
    ({"deliveries": ["workplace"], "max_travel_miles": None}, "max_travel_miles"),
    ({"priority": "vip"}, "priority"),
])
def test_the_service_has_the_last_word(app, world, changes, field):
    with pytest.raises(ValidationFailed) as caught:
        school_requests.create_request(world["school"], details(**changes), by=world["careers_lead"])
    assert caught.value.field == field
    assert requests_of(world["school"]) == [world["request"]]


def test_the_past_is_judged_against_an_injectable_today(app, world):
    with pytest.raises(ValidationFailed) as caught:
        school_requests.create_request(world["school"], details(), by=world["careers_lead"],
                                       today=TODAY + timedelta(days=8))
    assert caught.value.field == "starts_on"
    created = school_requests.create_request(world["school"], details(starts_on=TODAY - timedelta(days=3)),
                                             by=world["careers_lead"], today=TODAY - timedelta(days=3))
    assert created.status == "open"


# --- who may see and change which -----------------------------------------------------------------

ACCESS = [
    ("careers_lead", "request", True),
    ("careers_lead", "other_request", False),
    ("other_lead", "request", False),
    ("coordinator", "request", True),
    ("coordinator", "other_request", False),
    ("other_coordinator", "other_request", True),
    ("other_coordinator", "request", False),
    ("admin", "other_request", True),
    ("provider", "request", False),
]


@pytest.mark.parametrize(("who", "which", "allowed"), ACCESS)
def test_who_may_see_edit_and_withdraw_which_request(client, login, world, who, which, allowed):
    login(world[who])
    school_request = world[which]
    expected = 200 if allowed else 403
    for path in ("", "/edit", "/withdraw"):
        assert client.get(f"/requests/{school_request.id}{path}").status_code == expected, path


@pytest.mark.parametrize(("who", "which"), [("careers_lead", "other_request"), ("coordinator", "other_request"),
                                            ("provider", "request"), ("other_lead", "request")])
def test_a_refused_edit_or_withdrawal_changes_nothing(client, login, world, who, which):
    login(world[who])
    school_request = world[which]
    assert client.post(f"/requests/{school_request.id}/edit",
                       data=edit_data(school_request, title="Taken over")).status_code == 403
    assert client.post(f"/requests/{school_request.id}/withdraw").status_code == 403
    school_request = reload(school_request)
    assert (school_request.title, school_request.status, school_request.version) == (world_title(which), "open", 1)
    assert audit_rows("request.update") == audit_rows("request.withdraw") == []


def world_title(which: str) -> str:
    return {"request": "Year 9 engineering talk", "other_request": "Preston careers fair"}[which]


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/requests"), ("GET", "/requests/new"), ("POST", "/requests/new"), ("GET", "/requests/{id}"),
    ("GET", "/requests/{id}/edit"), ("POST", "/requests/{id}/edit"), ("GET", "/requests/{id}/withdraw"),
    ("POST", "/requests/{id}/withdraw"),
])
def test_providers_are_refused_every_request_page(client, login, world, method, path):
    login(world["provider"])
    response = client.open(path.format(id=world["request"].id), method=method, data=form_data())
    assert response.status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(client, world):
    response = client.get(f"/requests/{world['request'].id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_service_refuses_an_edit_and_a_withdrawal_by_someone_else(app, world):
    school_request = world["request"]
    with pytest.raises(NotAllowed):
        school_requests.update_request(school_request, details(), by=world["other_lead"], expected_version=1)
    with pytest.raises(NotAllowed):
        school_requests.withdraw_request(school_request, by=world["other_coordinator"])
    assert reload(school_request).status == "open"


def test_a_missing_request_is_404(client, login, world):
    login(world["admin"])
    for path in ("", "/edit", "/withdraw"):
        assert client.get(f"/requests/9999{path}").status_code == 404


# --- the request's page ---------------------------------------------------------------------------

def test_the_page_shows_the_request_and_its_matches(client, login, world):
    school_request = world["request"]
    school_request.sectors, school_request.notes = ["engineering", "digital"], "Bring hard hats."
    offer = make_offer(world["provider_org"], title="Bridges and tunnels")
    make_match(school_request, offer=offer, allocation=25, status="approved")
    db.session.commit()
    login(world["careers_lead"])
    response = client.get(f"/requests/{school_request.id}")
    html = text(response)
    assert "<h1>Year 9 engineering talk</h1>" in html
    assert "<title>Year 9 engineering talk – Encounters</title>" in html
    for fact in ("Burnley High", "Careers talk or assembly", "Engineering and manufacturing, Digital", "Years 9–10",
                 "May be split across providers",
                 "No particular cohort", "Bring hard hats.", "up to 15 miles"):
        assert fact in html, fact
    assert table_rows(response) == [["Bridges and tunnels", "Calder Engineering", "25", "Approved",
                                     "Same sector · 3 miles away"]]
    assert f'href="/offers/{offer.id}"' in html
    assert f'href="/requests/{school_request.id}/edit"' in html
    assert f'href="/requests/{school_request.id}/withdraw"' in html


def test_an_offer_the_careers_lead_may_not_see_is_named_but_not_linked(client, login, world):
    school_request = world["request"]
    paused = make_offer(world["provider_org"], title="Paused visit", status="paused")
    make_match(school_request, offer=paused, status="confirmed")
    db.session.commit()
    login(world["careers_lead"])
    html = client.get(f"/requests/{school_request.id}").get_data(as_text=True)
    assert "Paused visit" in html and f'href="/offers/{paused.id}"' not in html
    login(world["coordinator"])  # who manages the provider's offers, paused or not
    assert f'href="/offers/{paused.id}"' in client.get(f"/requests/{school_request.id}").get_data(as_text=True)


def test_a_request_without_matches_says_so(client, login, world):
    login(world["coordinator"])
    assert "No offers have been proposed for this request yet." in text(client.get(f"/requests/{world['request'].id}"))


def test_a_withdrawn_request_offers_no_edit_or_withdraw(client, login, world):
    school_request = world["request"]
    school_request.status = "withdrawn"
    db.session.commit()
    login(world["careers_lead"])
    html = client.get(f"/requests/{school_request.id}").get_data(as_text=True)
    assert "/edit" not in html and "/withdraw" not in html
    assert "Withdrawn" in html


# --- editing ---------------------------------------------------------------------------------------

def test_a_careers_lead_edits_a_request(client, login, world):
    school_request = world["request"]
    user = login(world["careers_lead"])
    page = client.get(f"/requests/{school_request.id}/edit")
    assert 'value="Year 9 engineering talk"' in page.get_data(as_text=True)
    assert hidden_version(page) == "1"
    response = client.post(f"/requests/{school_request.id}/edit",
                           data=edit_data(school_request, title="Year 10 robotics talk", pupils="45"))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/requests/{school_request.id}"
    school_request = reload(school_request)
    assert (school_request.title, school_request.pupils, school_request.version) == ("Year 10 robotics talk", 45, 2)
    [event] = audit_rows("request.update")
    assert (event.actor_id, event.area_id) == (user.id, world["burnley"].id)
    assert "title" in event.detail and "pupils" in event.detail
    assert "changes saved" in text(client.get(f"/requests/{school_request.id}"))


def test_an_edit_is_validated_like_a_new_request(client, login, world):
    school_request = world["request"]
    login(world["coordinator"])
    response = client.post(f"/requests/{school_request.id}/edit", data=edit_data(school_request, year_groups=["5"]))
    assert response.status_code == 200
    assert "Choose year groups your school teaches" in text(response)
    assert reload(school_request).version == 1


def test_a_request_that_has_begun_keeps_its_first_date_but_cannot_move_it_into_the_past(client, login, world):
    school_request = world["request"]
    began = TODAY - timedelta(days=5)
    school_request.starts_on = began
    db.session.commit()
    login(world["careers_lead"])
    kept = edit_data(school_request, starts_on=began.isoformat(), title="Still on")
    assert client.post(f"/requests/{school_request.id}/edit", data=kept).status_code == 302
    school_request = reload(school_request)
    moved = edit_data(school_request, starts_on=(TODAY - timedelta(days=6)).isoformat())
    response = client.post(f"/requests/{school_request.id}/edit", data=moved)
    assert "The first date cannot be in the past." in text(response)
    assert reload(school_request).starts_on == began


def test_pupils_cannot_drop_below_the_places_already_held(app, world):
    school_request = world["request"]
    make_match(school_request, status="confirmed", allocation=20)
    db.session.commit()
    with pytest.raises(ValidationFailed, match="20 places are already held") as caught:
        school_requests.update_request(school_request, details(pupils=19, year_groups=[9]), by=world["careers_lead"],
                                       expected_version=1)
    assert caught.value.field == "pupils"


def test_an_edit_updates_the_status_from_the_places_held(app, world):
    school_request = world["request"]  # 30 pupils
    make_match(school_request, status="approved", allocation=20)
    school_requests.refresh_request_status(school_request)
    db.session.commit()
    assert school_request.status == "partly_matched"
    school_requests.update_request(school_request, details(pupils=20), by=world["careers_lead"],
                                   expected_version=school_request.version)
    assert reload(school_request).status == "matched"


def test_a_stale_edit_is_refused_with_the_users_input_kept(client, login, world):
    school_request = world["request"]
    login(world["careers_lead"])
    assert hidden_version(client.get(f"/requests/{school_request.id}/edit")) == "1"

    # Meanwhile the coordinator saves a change.
    school_requests.update_request(school_request, details(title="Coordinator's title"), by=world["coordinator"],
                                   expected_version=1)
    assert reload(school_request).version == 2

    form = edit_data(school_request, version="1", title="My new title", notes="Lift needed.")
    response = client.post(f"/requests/{school_request.id}/edit", data=form)
    html = text(response)
    assert response.status_code == 409
    assert STALE in html and "Your changes are below: check them and save again." in html
    assert 'value="My new title"' in html and "Lift needed." in html
    assert hidden_version(response) == "2"
    assert reload(school_request).title == "Coordinator's title"
    assert [e.actor_id for e in audit_rows("request.update")] == [world["coordinator"].id]

    response = client.post(f"/requests/{school_request.id}/edit", data={**form, "version": "2"})
    assert response.status_code == 302
    assert reload(school_request).title == "My new title"


def test_a_concurrent_update_between_load_and_save_is_a_stale_edit(app, world):
    school_request = world["request"]
    assert school_request.version == 1
    with db.engine.begin() as other:
        other.execute(sa.text("UPDATE school_requests SET title = 'Theirs', version = version + 1 WHERE id = :id"),
                      {"id": school_request.id})
    with pytest.raises(StaleEdit):
        school_requests.update_request(school_request, details(title="Ours"), by=world["careers_lead"],
                                       expected_version=1)
    school_request = reload(school_request)
    assert (school_request.title, school_request.version) == ("Theirs", 2)
    assert audit_rows("request.update") == []


@pytest.mark.parametrize("status", ["withdrawn", "expired", "matched", "fulfilled"])
def test_only_open_or_partly_matched_requests_can_be_edited(client, login, world, status):
    school_request = world["request"]
    school_request.status = status
    db.session.commit()
    login(world["careers_lead"])
    for response in (client.get(f"/requests/{school_request.id}/edit"),
                     client.post(f"/requests/{school_request.id}/edit", data=edit_data(school_request, title="Late"))):
        assert response.status_code == 302
        assert response.headers["Location"] == f"/requests/{school_request.id}"
    assert "it can no longer be changed" in text(client.get(f"/requests/{school_request.id}"))
    assert reload(school_request).title == "Year 9 engineering talk"
    with pytest.raises(InvalidState):
        school_requests.update_request(school_request, details(), by=world["careers_lead"],
                                       expected_version=school_request.version)


def test_edit_is_refused_after_withdrawing(client, login, world):
    school_request = world["request"]
    login(world["careers_lead"])
    assert client.post(f"/requests/{school_request.id}/withdraw").status_code == 302
    response = client.post(f"/requests/{school_request.id}/edit", data=edit_data(reload(school_request), title="Back"))
    assert response.status_code == 302
    assert reload(school_request).title == "Year 9 engineering talk"


# --- withdrawing ----------------------------------------------------------------------------------

def test_withdrawing_asks_first_then_cancels_the_proposals_waiting_on_it(client, login, world):
    school_request = world["request"]
    proposed = [make_match(school_request), make_match(school_request)]
    approved = make_match(school_request, status="approved")
    declined = make_match(school_request, status="declined")
    db.session.commit()
    user = login(world["careers_lead"])

    page = client.get(f"/requests/{school_request.id}/withdraw")
    html = text(page)
    assert page.status_code == 200
    assert "<h1>Withdraw this request?</h1>" in html
    assert "Proposals waiting on it will be withdrawn too." in html
    assert "2 proposals are waiting now." in html
    assert "1 match already approved or agreed stays in place for now" in html
    assert f'action="/requests/{school_request.id}/withdraw"' in html and 'method="post"' in html
    assert reload(school_request).status == "open"  # looking is not withdrawing

    response = client.post(f"/requests/{school_request.id}/withdraw")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/requests/{school_request.id}"
    assert reload(school_request).status == "withdrawn"
    statuses = {m.id: db.session.get(Match, m.id).status for m in (*proposed, approved, declined)}
    assert statuses == {proposed[0].id: "cancelled", proposed[1].id: "cancelled", approved.id: "approved",
                        declined.id: "declined"}
    events = list(db.session.scalars(select(MatchEvent).order_by(MatchEvent.id)))
    assert [(e.match_id, e.from_status, e.to_status, e.actor_id, e.note) for e in events] == [
        (m.id, "proposed", "cancelled", user.id, "request withdrawn") for m in proposed]
    [event] = audit_rows("request.withdraw")
    assert (event.actor_id, event.object_id, event.area_id) == (user.id, school_request.id, world["burnley"].id)
    assert "2 proposals waiting on it were withdrawn too." in text(client.get(response.headers["Location"]))


def test_the_confirmation_mentions_approved_matches_only_when_there_are_some(client, login, world):
    school_request = world["request"]
    make_match(school_request, status="cancelled")
    make_match(school_request, status="delivered")
    db.session.commit()
    login(world["coordinator"])
    html = text(client.get(f"/requests/{school_request.id}/withdraw"))
    assert "already approved" not in html and "waiting now" not in html


def test_a_coordinator_withdraws_a_matched_request_in_their_area(client, login, world):
    school_request = world["request"]
    school_request.status = "matched"
    db.session.commit()
    login(world["coordinator"])
    assert client.post(f"/requests/{school_request.id}/withdraw").status_code == 302
    assert reload(school_request).status == "withdrawn"


@pytest.mark.parametrize("status", ["withdrawn", "expired", "fulfilled"])
def test_a_request_that_is_over_cannot_be_withdrawn(client, login, world, status):
    school_request = world["request"]
    school_request.status = status
    db.session.commit()
    login(world["careers_lead"])
    for method in ("GET", "POST"):
        response = client.open(f"/requests/{school_request.id}/withdraw", method=method)
        assert response.status_code == 302
    assert "there is nothing to withdraw" in text(client.get(f"/requests/{school_request.id}"))
    assert audit_rows("request.withdraw") == []
    with pytest.raises(InvalidState):
        school_requests.withdraw_request(school_request, by=world["careers_lead"])


# --- the list --------------------------------------------------------------------------------------

def titles(response) -> list[str]:
    return [row[0] for row in table_rows(response)]


def test_a_careers_lead_sees_only_their_schools_requests(client, login, world):
    login(world["careers_lead"])
    response = client.get("/requests")
    assert titles(response) == ["Year 9 engineering talk"]
    assert 'name="school"' not in response.get_data(as_text=True)


@pytest.mark.parametrize(("who", "expected"), [
    ("coordinator", ["Year 9 engineering talk"]),
    ("other_coordinator", ["Preston careers fair"]),
    ("admin", ["Preston careers fair", "Year 9 engineering talk"]),
])
def test_staff_see_the_requests_of_their_areas(client, login, world, who, expected):
    login(world[who])
    assert titles(client.get("/requests")) == expected


def test_staff_filter_by_school_and_status_but_not_into_another_area(client, login, world):
    make_request(world["school"], title="Old fair", status="withdrawn")
    db.session.commit()
    login(world["coordinator"])
    assert titles(client.get("/requests?status=withdrawn")) == ["Old fair"]
    assert titles(client.get(f"/requests?school={world['school'].id}&status=open")) == ["Year 9 engineering talk"]
    # Another area's school is not a choice: the filter is ignored, and the list stays in the coordinator's areas.
    assert titles(client.get(f"/requests?school={world['other_school'].id}")) == ["Old fair",
                                                                                  "Year 9 engineering talk"]
    assert titles(client.get("/requests?status=bogus")) == ["Old fair", "Year 9 engineering talk"]
    html = client.get(f"/requests?school={world['school'].id}").get_data(as_text=True)
    assert f'href="/requests/new?school_id={world["school"].id}"' in html


def test_the_list_marks_and_filters_the_requests_matching_could_not_place(client, login, world):
    """The latest run's unplaced requests (still waiting) are marked in the list and can be listed alone, by their
    school and by the area's coordinator; a withdrawn one with reasons left over is neither."""
    waiting = make_request(world["school"], title="Unplaced visit")
    gone = make_request(world["school"], title="Withdrawn visit", status="withdrawn")
    elsewhere = make_request(world["other_school"], title="Preston unplaced")
    for school_request in (waiting, gone, elsewhere):
        school_request.unplaced_reasons = "no offer of that type (Workplace visit) in the area or open to all areas"
        school_request.unplaced_at = datetime(2026, 11, 20, 2, 0)
    db.session.commit()
    marker = "Not placed by matching"
    for who in ("careers_lead", "coordinator"):
        login(world[who])
        rows = {row[0]: row for row in table_rows(client.get("/requests"))}
        assert set(rows) == {"Unplaced visit", "Withdrawn visit", "Year 9 engineering talk"}
        assert [title for title, row in rows.items() if any(marker in cell for cell in row)] == ["Unplaced visit"]
        response = client.get("/requests?unplaced=y")
        assert titles(response) == ["Unplaced visit"]
        html = response.get_data(as_text=True)
        assert '<input checked class="form-check-input" id="unplaced" name="unplaced"' in html
        assert titles(client.get("/requests?unplaced=y&status=withdrawn")) == []
    login(world["other_coordinator"])
    assert titles(client.get("/requests?unplaced=y")) == ["Preston unplaced"]


def test_the_list_shows_labels_and_counts(client, login, world):
    school_request = world["request"]  # 30 pupils, Years 9-10
    school_request.wanted_types = ["careers_talk", "workplace_visit"]
    for status, allocation in [("proposed", 5), ("proposed", 5), ("approved", 8), ("confirmed", 10),
                               ("scheduled", 5), ("cancelled", 30), ("declined", 3)]:
        make_match(school_request, status=status, allocation=allocation)
    school_requests.refresh_request_status(school_request)
    db.session.commit()
    login(world["careers_lead"])
    starts, ends = school_request.starts_on, school_request.ends_on
    dates = f"{starts.day} {starts:%b %Y} – {ends.day} {ends:%b %Y}"
    assert table_rows(client.get("/requests")) == [[
        "Year 9 engineering talk", "Careers talk or assembly, Workplace visit", "Years 9–10", "30", dates,
        "Partly matched", "2", "2 (15 of 30)",
    ]]


def test_an_empty_list_invites_asking(client, login, world):
    school = make_school(world["burnley"])
    login(make_user(Role.CAREERS_LEAD, organisation=school))
    db.session.commit()
    response = client.get("/requests")
    html = response.get_data(as_text=True)
    assert "There are no requests yet." in html
    assert 'href="/requests/new">Ask for an encounter</a>' in html


@pytest.mark.parametrize("query, on_page_2", [("status=open", 2), ("unplaced=y", 1)])
def test_the_list_is_paged_25_at_a_time_keeping_its_filters(client, login, world, query, on_page_2):
    for n in range(26):
        school_request = make_request(world["school"], title=f"Request {n:02d}")
        school_request.unplaced_reasons = "every suitable offer is full"
        school_request.unplaced_at = datetime(2026, 1, 1)
    db.session.commit()
    login(world["careers_lead"])
    first = client.get(f"/requests?{query}")
    assert len(table_rows(first)) == 25
    assert f"/requests?page=2&amp;{query}" in first.get_data(as_text=True)
    assert len(table_rows(client.get(f"/requests?{query}&page=2"))) == on_page_2


def _statements_for_list_page(client, count: int, school) -> int:
    for _ in range(count):
        school_request = make_request(school)
        make_match(school_request, status="proposed")
        make_match(school_request, status="confirmed")
    db.session.commit()
    statements = []

    def _count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", _count)
    try:
        response = client.get("/requests")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", _count)
    assert len(table_rows(response)) == count
    return len(statements)


def test_the_list_makes_the_same_number_of_queries_for_5_and_25_requests(client, login, app):
    small, large = make_school(make_area()), make_school(make_area())
    small_lead = make_user(Role.CAREERS_LEAD, organisation=small)
    large_lead = make_user(Role.CAREERS_LEAD, organisation=large)
    db.session.commit()
    login(small_lead)
    five = _statements_for_list_page(client, 5, small)
    login(large_lead)
    twenty_five = _statements_for_list_page(client, 25, large)
    assert five == twenty_five


# --- refreshing the status ------------------------------------------------------------------------

@pytest.mark.parametrize(("matches", "expected"), [
    ([], "open"),
    ([("proposed", 30)], "open"),  # a proposal holds nothing yet
    ([("cancelled", 30), ("declined", 30), ("expired", 30), ("rejected", 30), ("no_show", 30)], "open"),
    ([("approved", 1)], "partly_matched"),
    ([("approved", 10), ("confirmed", 19)], "partly_matched"),
    ([("approved", 10), ("confirmed", 20)], "matched"),
    ([("scheduled", 15), ("delivered", 10), ("recorded", 5)], "matched"),
    ([("approved", 45)], "matched"),
])
def test_refresh_request_status_compares_places_held_with_pupils(app, world, matches, expected):
    school_request = world["request"]  # 30 pupils
    for status, allocation in matches:
        make_match(school_request, status=status, allocation=allocation)
    assert school_requests.refresh_request_status(school_request) == expected
    assert school_request.status == expected


def test_refresh_goes_back_to_open_when_holds_are_released(app, world):
    school_request = world["request"]
    match = make_match(school_request, status="approved", allocation=30)
    assert school_requests.refresh_request_status(school_request) == "matched"
    match.status = "cancelled"
    assert school_requests.refresh_request_status(school_request) == "open"


@pytest.mark.parametrize("status", ["withdrawn", "expired", "fulfilled"])
def test_refresh_leaves_finished_requests_alone(app, world, status):
    school_request = world["request"]
    school_request.status = status
    make_match(school_request, status="approved", allocation=30)
    assert school_requests.refresh_request_status(school_request) == status


def test_refresh_only_flushes_the_callers_transaction_commits(app, world):
    school_request = world["request"]
    make_match(school_request, status="approved", allocation=30)
    school_requests.refresh_request_status(school_request)
    db.session.rollback()
    assert reload(school_request).status == "open"


# --- expiry ----------------------------------------------------------------------------------------

def test_expire_requests_with_a_moved_clock(app, world):
    school = world["school"]
    later = TODAY + timedelta(days=30)
    ended = make_request(school, title="Ended", starts_in_days=1, lasts_days=20)  # ends before `later`
    partly = make_request(school, title="Partly", starts_in_days=1, lasts_days=28, status="partly_matched")
    last_day = make_request(school, title="Last day", starts_in_days=1, lasts_days=29)  # ends on `later`
    matched = make_request(school, title="Matched", starts_in_days=1, lasts_days=2, status="matched")
    withdrawn = make_request(school, title="Withdrawn", starts_in_days=1, lasts_days=2, status="withdrawn")
    waiting, held = make_match(ended), make_match(partly, status="approved")
    db.session.commit()

    assert school_requests.expire_requests(today=later) == 2
    assert {r.title: reload(r).status for r in (ended, partly, last_day, matched, withdrawn)} == {
        "Ended": "expired", "Partly": "expired", "Last day": "open", "Matched": "matched", "Withdrawn": "withdrawn"}
    assert (db.session.get(Match, waiting.id).status, db.session.get(Match, held.id).status) == ("expired", "approved")
    [event] = db.session.scalars(select(MatchEvent))
    assert (event.match_id, event.from_status, event.to_status, event.actor_id) == (waiting.id, "proposed",
                                                                                    "expired", None)
    audits = audit_rows("request.expire")
    assert [(a.object_id, a.actor_id, a.area_id) for a in audits] == [
        (ended.id, None, world["burnley"].id), (partly.id, None, world["burnley"].id)]
    assert school_requests.expire_requests(today=later) == 0  # nothing twice


def test_nothing_expires_today_by_default(app, world):
    assert school_requests.expire_requests() == 0
    assert reload(world["request"]).status == "open"


def test_the_expire_command(runner, world):
    for title in ("Summer fair", "Spring talk"):
        make_request(world["school"], title=title, starts_on=TODAY - timedelta(days=30),
                     ends_on=TODAY - timedelta(days=1))
    db.session.commit()
    result = runner.invoke(args=["requests", "expire"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Expired 2 requests."
    assert [r.status for r in requests_of(world["school"])] == ["open", "expired", "expired"]
    assert runner.invoke(args=["requests", "expire"]).output.strip() == "Expired 0 requests."
    assert "once a day" in runner.invoke(args=["requests", "expire", "--help"]).output


@pytest.mark.parametrize("use_case", ["withdraw", "expire"])
def test_a_match_approved_meanwhile_is_never_overwritten(app, use_case):
    """A coordinator approves a proposal (another connection) after this session loaded it as proposed:
    withdrawing or expiring the request must leave it approved, its places still held, not cancel it blindly."""
    area = make_area()
    school = make_school(area)
    lead = make_user(Role.CAREERS_LEAD, organisation=school)
    offer = make_offer(make_provider(area))
    school_request = make_request(school, starts_in_days=-30, lasts_days=20) if use_case == "expire" \
        else make_request(school)
    match = Match(offer_id=offer.id, request_id=school_request.id, area_id=area.id, allocation=5,
                  origin=MatchOrigin.SCHOOL_ASKED)
    db.session.add(match)
    db.session.commit()
    assert [m.status for m in school_request.matches] == ["proposed"]  # loaded into this session

    with db.engine.begin() as other:
        other.execute(sa.text("UPDATE matches SET status = 'approved' WHERE id = :id"), {"id": match.id})

    if use_case == "withdraw":
        school_requests.withdraw_request(school_request, by=lead)
    else:
        assert school_requests.expire_requests() == 1
    db.session.expire_all()
    assert db.session.get(Match, match.id).status == "approved"
    assert db.session.scalars(select(MatchEvent).where(MatchEvent.match_id == match.id)).all() == []


def test_the_request_page_links_each_match_to_its_own_page(app, client, login):
    """From the request, the careers lead reaches each match's page (accept, schedule, cancel happen there)."""
    area = make_area()
    school = make_school(area)
    lead = make_user(Role.CAREERS_LEAD, organisation=school)
    offer = make_offer(make_provider(area))
    school_request = make_request(school)
    match = Match(offer_id=offer.id, request_id=school_request.id, area_id=area.id, allocation=5,
                  origin=MatchOrigin.SCHOOL_ASKED)
    db.session.add(match)
    db.session.commit()
    login(lead)
    page = client.get(f"/requests/{school_request.id}").get_data(as_text=True)
    assert f'href="/matches/{match.id}"' in page
    assert client.get(f"/matches/{match.id}").status_code == 200
