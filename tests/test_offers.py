"""Offer pages: the list and its counts, creating by kind, the form's messages, viewing, version-checked
editing, duplicating, status buttons, and who may see or change which offer."""
import re
from datetime import date, timedelta
from html import unescape

import pytest
import sqlalchemy as sa
from sqlalchemy import event, select

from portal.extensions import db
from portal.models import AuditEvent, Match, Offer
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_request, make_school, make_user
from tests.html import table_rows

TODAY = date.today()
STALE = "This offer was changed by someone else while you were editing. Your changes are below: check them and " \
        "save again."

DETAILS = {
    "placement_days": "5",
    "mentoring_sessions": "6",
    "virtual_link_note": "Emailed to the school after confirmation",
    "apprenticeship_standard": "Engineering technician",
    "apprenticeship_level": "3",
    "weekly_wage": "250.50",
    "closing_date": (TODAY + timedelta(days=30)).isoformat(),
    "funding_amount": "£9,000",
    "levy_expires_on": (TODAY + timedelta(days=200)).isoformat(),
    "kit_stock": "10",
    "mentor_name": "Morgan Mentor",
}
TYPE_DETAILS = {
    "work_experience": ["placement_days"], "mentoring": ["mentoring_sessions"],
    "virtual_encounter": ["virtual_link_note"],
    "apprenticeship_vacancy": ["apprenticeship_standard", "apprenticeship_level", "weekly_wage", "closing_date"],
    "levy_place": ["funding_amount", "apprenticeship_standard", "apprenticeship_level", "levy_expires_on"],
    "primary_kit": ["kit_stock"],
    "internship_week": ["mentor_name"],
}
PLACES = {"work_experience", "mentoring", "apprenticeship_vacancy", "levy_place", "primary_kit", "enterprise_adviser",
          "internship_week"}


def rows(response) -> list[list[str]]:
    return table_rows(response)


def form_data(type_code: str = "careers_talk", **changes) -> dict:
    """What a browser sends for a valid offer of this kind (checkboxes ticked are 'y')."""
    data = {
        "title": "Meet our engineers", "description": "Apprentices talk about their work.", "sector": "engineering",
        "delivery": "in_school", "starts_on": (TODAY + timedelta(days=14)).isoformat(),
        "ends_on": (TODAY + timedelta(days=74)).isoformat(), "max_travel_miles": "15",
        "year_groups": {"primary_kit": ["1", "2"], "internship_week": None}.get(type_code, ["9", "10"]),
        "supervised_throughout": "y", "risk_assessment_done": "y", "liability_insurance": "y",
        "safeguarding_contact": "Sam Safe 01282 000000",
        **({"capacity": "4"} if type_code in PLACES else {"sessions": "2", "per_session": "30"}),
        **{name: DETAILS[name] for name in TYPE_DETAILS.get(type_code, [])},
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def edit_data(offer: Offer, **changes) -> dict:
    """The edit form as loaded for this offer, with changes."""
    stored = {
        "title": offer.title, "description": offer.description, "sector": offer.sector, "delivery": offer.delivery,
        "starts_on": offer.starts_on.isoformat(), "ends_on": offer.ends_on.isoformat(),
        "max_travel_miles": "" if offer.max_travel_miles is None else str(offer.max_travel_miles),
        "year_groups": [str(y) for y in offer.year_groups] or None,
        "safeguarding_contact": offer.safeguarding_contact or "", "version": str(offer.version),
    }
    if offer.type in PLACES:
        stored["capacity"] = str(offer.capacity)
    else:
        stored.update(sessions=str(offer.sessions), per_session=str(offer.per_session))
    data = form_data(offer.type, **stored)
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def reload(offer: Offer) -> Offer:
    db.session.rollback()
    return db.session.get(Offer, offer.id)


def offers_of(org) -> list[Offer]:
    db.session.rollback()
    return list(db.session.scalars(select(Offer).where(Offer.provider_id == org.id).order_by(Offer.id)))


def audit_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("offer.%"))
                                   .order_by(AuditEvent.id)))


def error_beside(html: str, field: str) -> str:
    """The message shown beside a field (the macro's <div id="<field>-error">)."""
    found = re.search(rf'id="{field}-error" class="invalid-feedback d-block">([^<]*)<', html)
    assert found, f"no error beside {field}"
    return unescape(found[1])


def hidden_version(response) -> str:
    return re.search(r'id="version" name="version" type="hidden" value="(\d+)"', response.get_data(as_text=True))[1]


@pytest.fixture
def world(app):
    """Burnley: two providers, a school; Preston: a provider and a school. A user for each, coordinators, admin."""
    burnley, preston = make_area("Burnley"), make_area("Preston")
    org = make_provider(burnley, name="Calder Engineering", safeguarding_contact="Sam Safe 01282 000000")
    neighbour = make_provider(burnley, name="Pendle Foods")
    far = make_provider(preston, name="Ribble Digital")
    school = make_school(burnley, name="Burnley High")
    far_school = make_school(preston, name="Preston College")
    people = {
        "provider": make_user(Role.PROVIDER, organisation=org),
        "neighbour": make_user(Role.PROVIDER, organisation=neighbour),
        "careers_lead": make_user(Role.CAREERS_LEAD, organisation=school),
        "far_lead": make_user(Role.CAREERS_LEAD, organisation=far_school),
        "coordinator": make_user(Role.COORDINATOR, areas=[burnley]),
        "other_coordinator": make_user(Role.COORDINATOR, areas=[preston]),
        "admin": make_user(Role.ADMIN),
    }
    db.session.commit()
    return {"burnley": burnley, "preston": preston, "org": org, "neighbour_org": neighbour, "far_org": far,
            "school": school, **people}


# --- creating -------------------------------------------------------------------------------------

def test_a_new_offer_starts_by_choosing_its_kind(client, login, world):
    login(world["provider"])
    response = client.get("/offers/new")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "What kind of offer is it?" in html and "There is a problem" not in html
    assert 'value="levy_place"' in html and "Apprenticeship training paid from a levy payer" in html


def test_continuing_without_a_kind_says_so(client, login, world):
    login(world["provider"])
    html = client.get("/offers/new?chosen=1").get_data(as_text=True)
    assert "Choose the kind of offer." in html


def test_an_unknown_kind_is_asked_again(client, login, world):
    login(world["provider"])
    response = client.get("/offers/new?type=juggling&chosen=1")
    assert response.status_code == 200
    assert "What kind of offer is it?" in response.get_data(as_text=True)


@pytest.mark.parametrize(("type_code", "present", "absent"), [
    ("careers_talk", ["sessions", "per_session", "year_groups"], ["capacity", "kit_stock", "placement_days"]),
    ("work_experience", ["capacity", "placement_days"], ["sessions", "per_session"]),
    ("levy_place", ["funding_amount", "apprenticeship_standard", "apprenticeship_level", "levy_expires_on"],
     ["weekly_wage", "sessions"]),
    ("primary_kit", ["capacity", "kit_stock"], ["placement_days"]),
    ("internship_week", ["capacity"], ["year_groups"]),
])
def test_the_form_shows_the_kinds_fields(client, login, world, type_code, present, absent):
    login(world["provider"])
    html = client.get(f"/offers/new?type={type_code}").get_data(as_text=True)
    for name in present:
        assert f'name="{name}"' in html, name
    for name in absent:
        assert f'name="{name}"' not in html, name
    assert "DBS" in html  # only to say it is never asked for
    assert not re.search(r'name="[^"]*(dbs|criminal)', html, re.IGNORECASE)


def test_the_form_starts_from_the_types_delivery_and_the_providers_contact(client, login, world):
    login(world["provider"])
    html = client.get("/offers/new?type=workplace_visit").get_data(as_text=True)
    assert re.search(r'checked[^>]*value="workplace"|value="workplace"[^>]*checked', html)
    assert 'value="Sam Safe 01282 000000"' in html
    assert "Places" not in re.findall(r'<label[^>]*for="sessions"[^>]*>([^<]*)<', html)


def test_years_offered_are_those_the_kind_suits(client, login, world):
    login(world["provider"])
    html = client.get("/offers/new?type=primary_kit").get_data(as_text=True)
    assert re.findall(r'name="year_groups"[^>]*value="(\d+)"', html) == [str(y) for y in range(7)]


def test_a_provider_saves_a_draft(client, login, world):
    login(world["provider"])
    response = client.post("/offers/new?type=careers_talk", data=form_data())
    [offer] = offers_of(world["org"])
    assert response.status_code == 302
    assert response.headers["Location"] == f"/offers/{offer.id}"
    assert (offer.status, offer.capacity, offer.sessions, offer.per_session) == ("draft", 60, 2, 30)
    assert (offer.area_id, offer.year_groups, offer.max_travel_miles) == (world["burnley"].id, [9, 10], 15)
    assert audit_actions() == ["offer.create"]
    assert "Meet our engineers: saved as a draft." in client.get(f"/offers/{offer.id}").get_data(as_text=True)


def test_save_and_publish_creates_a_published_levy_place_with_pence(client, login, world):
    login(world["provider"])
    data = form_data("levy_place", delivery="workplace", max_travel_miles="", publish="1")
    response = client.post("/offers/new?type=levy_place", data=data)
    assert response.status_code == 302
    [offer] = offers_of(world["org"])
    assert (offer.status, offer.capacity, offer.funding_amount_pence) == ("published", 4, 900_000)
    assert offer.levy_expires_on == TODAY + timedelta(days=200)
    assert (offer.apprenticeship_level, offer.max_travel_miles) == (3, None)
    assert audit_actions() == ["offer.create", "offer.publish"]


def test_a_wage_in_pounds_and_pence_is_stored_in_pence(client, login, world):
    login(world["provider"])
    client.post("/offers/new?type=apprenticeship_vacancy", data=form_data("apprenticeship_vacancy"))
    [offer] = offers_of(world["org"])
    assert offer.weekly_wage_pence == 25_050
    html = client.get(f"/offers/{offer.id}").get_data(as_text=True)
    assert "£250.50" in html
    edit = client.get(f"/offers/{offer.id}/edit").get_data(as_text=True)
    assert 'value="250.50"' in edit


def test_a_type_detail_of_another_kind_is_not_kept(client, login, world):
    login(world["provider"])
    client.post("/offers/new?type=careers_talk", data=form_data(kit_stock="12", placement_days="3"))
    [offer] = offers_of(world["org"])
    assert (offer.kit_stock, offer.placement_days) == (None, None)


# --- the form's messages, beside each field -------------------------------------------------------

FORM_RULES = [
    # (type, changes, field shown, message)
    ("careers_talk", {"title": ""}, "title", "Enter a title."),
    ("careers_talk", {"title": "x" * 161}, "title", "Keep the title to 160 characters or fewer."),
    ("careers_talk", {"description": "x" * 5001}, "description", "5,000 characters or fewer"),
    ("careers_talk", {"sector": ""}, "sector", "Choose a sector from the list."),
    ("careers_talk", {"sector": "astrology"}, "sector", "Choose a sector from the list."),
    ("careers_talk", {"delivery": None}, "delivery", "Choose how the offer is delivered."),
    ("careers_talk", {"delivery": "teleport"}, "delivery", "Choose how the offer is delivered."),
    ("careers_talk", {"sessions": "0"}, "sessions", "Enter the number of sessions, 1 or more."),
    ("careers_talk", {"sessions": "two"}, "sessions", "Enter a whole number, e.g. 30."),
    ("careers_talk", {"per_session": ""}, "per_session", "Enter the number of pupils per session, 1 or more."),
    ("careers_talk", {"per_session": "10001"}, "per_session", "Enter at most 10,000 pupils per session."),
    ("careers_talk", {"sessions": "100", "per_session": "101"}, "per_session", "at most 10,000 pupils"),
    ("work_experience", {"capacity": "0"}, "capacity", "Enter the number of places, 1 or more."),
    ("primary_kit", {"capacity": ""}, "capacity", "Enter the number of classes, 1 or more."),
    ("careers_talk", {"starts_on": ""}, "starts_on", "Enter the first date the offer can run."),
    ("careers_talk", {"starts_on": "31/02/2030"}, "starts_on", "Enter a real date, e.g. 14/03/2026."),
    ("careers_talk", {"starts_on": (TODAY - timedelta(days=1)).isoformat()}, "starts_on",
     "The start date cannot be in the past."),
    ("careers_talk", {"ends_on": (TODAY + timedelta(days=13)).isoformat()}, "ends_on",
     "The end date must be the same as or after the start date."),
    ("careers_talk", {"year_groups": None}, "year_groups", "Choose at least one year group."),
    ("work_experience", {"year_groups": ["3", "9"]}, "year_groups",
     "Year 3 does not suit a work experience placement: choose from Years 7–14."),
    ("primary_kit", {"year_groups": ["9"]}, "year_groups", "Year 9 does not suit a primary resource kit"),
    ("careers_talk", {"max_travel_miles": ""}, "max_travel_miles",
     "Enter how far you will travel to schools, in miles."),
    ("careers_talk", {"max_travel_miles": "0"}, "max_travel_miles", "Enter a distance from 1 to 1,000 miles."),
    ("work_experience", {"placement_days": "21"}, "placement_days",
     "Enter the number of days per placement, from 1 to 20."),
    ("mentoring", {"mentoring_sessions": "0"}, "mentoring_sessions", "from 1 to 50"),
    ("apprenticeship_vacancy", {"apprenticeship_level": "8"}, "apprenticeship_level", "from 2 to 7"),
    ("apprenticeship_vacancy", {"weekly_wage": "-1"}, "weekly_wage", "Enter a weekly wage from £0 to £10,000."),
    ("apprenticeship_vacancy", {"weekly_wage": "lots"}, "weekly_wage", "Enter an amount in pounds"),
    ("apprenticeship_vacancy", {"closing_date": (TODAY - timedelta(days=1)).isoformat()}, "closing_date",
     "The closing date cannot be in the past."),
    ("levy_place", {"funding_amount": "0"}, "funding_amount", "more than £0"),
    ("levy_place", {"levy_expires_on": ""}, "levy_expires_on", "Enter the date the levy funds expire."),
    ("levy_place", {"apprenticeship_standard": ""}, "apprenticeship_standard", "Enter the apprenticeship standard"),
    ("primary_kit", {"kit_stock": "0"}, "kit_stock", "from 1 to 10,000"),
    ("virtual_encounter", {"virtual_link_note": ""}, "virtual_link_note", "how the joining link will be shared"),
]


@pytest.mark.parametrize(("type_code", "changes", "field", "message"), FORM_RULES,
                         ids=[f"{t}-{f}-{i}" for i, (t, _c, f, _m) in enumerate(FORM_RULES)])
def test_each_rule_shows_its_message_beside_the_field(client, login, world, type_code, changes, field, message):
    login(world["provider"])
    data = form_data(type_code, **changes)
    response = client.post(f"/offers/new?type={type_code}", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "There is a problem" in html and f'href="#{field}"' in html
    assert message in error_beside(html, field)
    assert offers_of(world["org"]) == []
    if "title" in data and data["title"] and len(data["title"]) <= 160:
        assert f'value="{data["title"]}"' in html  # the rest of the input is kept


def test_every_problem_is_shown_at_once(client, login, world):
    login(world["provider"])
    html = client.post("/offers/new?type=workplace_visit", data=form_data(
        "workplace_visit", title="", sessions="x", supervised_throughout=None, liability_insurance=None,
        publish="1")).get_data(as_text=True)
    assert error_beside(html, "title") == "Enter a title."
    assert error_beside(html, "sessions") == "Enter a whole number, e.g. 30."
    assert "supervised by school staff" in error_beside(html, "supervised_throughout")
    assert "liability insurance" in error_beside(html, "liability_insurance")


@pytest.mark.parametrize("type_code", ["workplace_visit", "work_experience"])
def test_visits_and_placements_are_not_published_without_safeguarding_but_a_draft_is_saved(
        client, login, world, type_code):
    login(world["provider"])
    data = form_data(type_code, delivery="workplace", supervised_throughout=None, risk_assessment_done=None,
                     liability_insurance=None, safeguarding_contact="")
    response = client.post(f"/offers/new?type={type_code}", data={**data, "publish": "1"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for name in ("supervised_throughout", "risk_assessment_done", "liability_insurance", "safeguarding_contact"):
        assert "cannot be published until you" in error_beside(html, name)
    assert offers_of(world["org"]) == []
    assert client.post(f"/offers/new?type={type_code}", data=data).status_code == 302
    [offer] = offers_of(world["org"])
    assert offer.status == "draft" and not offer.safeguarding_complete


def test_a_careers_talk_is_published_without_safeguarding(client, login, world):
    login(world["provider"])
    data = form_data(supervised_throughout=None, risk_assessment_done=None, liability_insurance=None,
                     safeguarding_contact="", publish="1")
    assert client.post("/offers/new?type=careers_talk", data=data).status_code == 302
    [offer] = offers_of(world["org"])
    assert offer.status == "published"


def test_open_to_all_areas_is_saved(client, login, world):
    login(world["provider"])
    client.post("/offers/new?type=virtual_encounter",
                data=form_data("virtual_encounter", delivery="virtual", open_to_all_areas="y"))
    [offer] = offers_of(world["org"])
    assert offer.open_to_all_areas is True and offer.virtual_link_note.startswith("Emailed")


def test_an_internship_week_takes_no_year_groups(client, login, world):
    login(world["provider"])
    assert client.post("/offers/new?type=internship_week",
                       data=form_data("internship_week", delivery="workplace")).status_code == 302
    [offer] = offers_of(world["org"])
    assert offer.year_groups == []


# --- coordinators on a provider's behalf ----------------------------------------------------------

def test_a_coordinator_chooses_a_provider_of_their_area_first(client, login, world):
    make_provider(world["burnley"], name="Not Yet Verified", status="pending")
    db.session.commit()
    login(world["coordinator"])
    html = client.get("/offers/new").get_data(as_text=True)
    names = re.findall(r'<option value="\d+">([^<]*)</option>', html)
    assert names == ["Calder Engineering", "Pendle Foods"]


def test_a_coordinator_creates_an_offer_for_a_provider_in_their_area(client, login, world):
    org = world["org"]
    login(world["coordinator"])
    page = client.get(f"/offers/new?provider_id={org.id}").get_data(as_text=True)
    assert f"Create an offer for {org.name}" in page
    assert f'name="provider_id" type="hidden" value="{org.id}"' in page
    response = client.post(f"/offers/new?type=careers_talk&provider_id={org.id}", data=form_data())
    assert response.status_code == 302
    [offer] = offers_of(org)
    assert offer.created_by_id == world["coordinator"].id and offer.area_id == world["burnley"].id


@pytest.mark.parametrize(("who", "which", "status"), [
    ("coordinator", "far_org", 403),
    ("other_coordinator", "org", 403),
    ("coordinator", "school", 404),
])
def test_a_coordinator_cannot_create_for_a_provider_outside_their_area(client, login, world, who, which, status):
    login(world[who])
    target = world[which]
    assert client.get(f"/offers/new?provider_id={target.id}").status_code == status
    assert client.post(f"/offers/new?type=careers_talk&provider_id={target.id}",
                       data=form_data()).status_code == status
    assert offers_of(target) == []


def test_a_coordinator_cannot_create_for_an_unverified_provider(client, login, world):
    pending = make_provider(world["burnley"], status="pending")
    db.session.commit()
    login(world["coordinator"])
    assert client.get(f"/offers/new?provider_id={pending.id}&type=careers_talk").status_code == 403
    assert client.get("/offers/new?provider_id=99999").status_code == 404


def test_a_provider_always_creates_for_its_own_organisation(client, login, world):
    login(world["provider"])
    client.post(f"/offers/new?type=careers_talk&provider_id={world['neighbour_org'].id}", data=form_data())
    assert len(offers_of(world["org"])) == 1
    assert offers_of(world["neighbour_org"]) == []


# --- viewing --------------------------------------------------------------------------------------

def test_the_offer_page_shows_everything(client, login, world):
    offer = make_offer(world["org"], type="work_experience", status="published", title="Week at Calder",
                       placement_days=5, sessions=1, per_session=6, allocated=2, year_groups=(10, 11),
                       delivery="workplace", accessibility_notes="Step-free access")
    db.session.commit()
    login(world["provider"])
    html = client.get(f"/offers/{offer.id}").get_data(as_text=True)
    assert "<h1>Week at Calder</h1>" in html and "<title>Week at Calder – Encounters</title>" in html
    for text in ("Work experience placement", "Published", "Years 10–11", "6 places", "4 places",
                 "At the workplace", "Up to 20 miles", "Step-free access", "Days per placement",
                 "Volunteers supervised by school staff throughout", "Sam Safe", "Schools in Burnley",
                 "Requests waiting"):
        assert text in html, text


def test_managers_get_the_buttons_that_fit_the_status(client, login, world):
    offers = {status: make_offer(world["org"], status=status) for status in ("draft", "published", "paused",
                                                                            "closed")}
    db.session.commit()
    login(world["provider"])
    expected = {"draft": {"publish"}, "published": {"pause", "close"}, "paused": {"reopen", "close"},
                "closed": set()}
    for status, offer in offers.items():
        html = client.get(f"/offers/{offer.id}").get_data(as_text=True)
        assert set(re.findall(r'name="action" value="(\w+)"', html)) == expected[status], status
        assert (f'href="/offers/{offer.id}/edit"' in html) == (status != "closed")
        assert f'action="/offers/{offer.id}/duplicate"' in html


def test_a_careers_lead_sees_a_request_link_and_no_manager_buttons(app, client, login, world):
    if "browse.request_offer" not in app.view_functions:  # built by another blueprint; stand in for it
        app.add_url_rule("/browse/offers/<int:offer_id>/request", "browse.request_offer", lambda offer_id: "")
    offer = make_offer(world["org"], status="published")
    full = make_offer(world["org"], status="published", sessions=1, per_session=5, allocated=5)
    db.session.commit()
    login(world["careers_lead"])
    html = client.get(f"/offers/{offer.id}").get_data(as_text=True)
    with app.test_request_context():
        from flask import url_for

        link = url_for("browse.request_offer", offer_id=offer.id)
    assert f'href="{link}"' in html and "Request this offer" in html
    assert 'name="action"' not in html and "/edit" not in html and "Requests waiting" not in html
    assert "Request this offer" not in client.get(f"/offers/{full.id}").get_data(as_text=True)


def test_no_request_link_for_a_provider(app, client, login, world):
    offer = make_offer(world["org"], status="published")
    db.session.commit()
    login(world["provider"])
    assert "Request this offer" not in client.get(f"/offers/{offer.id}").get_data(as_text=True)


SEE = [
    # (who, offer status, offer's provider, open to all areas, may see)
    ("provider", "draft", "org", False, True),
    ("neighbour", "draft", "org", False, False),
    ("neighbour", "published", "org", False, False),  # another provider's offer, even published
    ("careers_lead", "published", "org", False, True),
    ("careers_lead", "draft", "org", False, False),
    ("careers_lead", "paused", "org", False, False),
    ("careers_lead", "closed", "org", False, False),
    ("careers_lead", "published", "far_org", False, False),
    ("careers_lead", "published", "far_org", True, True),
    ("careers_lead", "draft", "far_org", True, False),
    ("far_lead", "published", "org", False, False),
    ("coordinator", "draft", "org", False, True),
    ("coordinator", "published", "far_org", False, False),
    ("coordinator", "published", "far_org", True, False),  # open to all areas is for schools, not other areas' staff
    ("other_coordinator", "draft", "far_org", False, True),
    ("admin", "draft", "far_org", False, True),
]


@pytest.mark.parametrize(("who", "status", "owner", "open_to_all", "allowed"), SEE)
def test_who_may_see_which_offer(client, login, world, who, status, owner, open_to_all, allowed):
    offer = make_offer(world[owner], status=status, open_to_all_areas=open_to_all)
    db.session.commit()
    login(world[who])
    assert client.get(f"/offers/{offer.id}").status_code == (200 if allowed else 403)


def test_a_missing_offer_is_404(client, login, world):
    login(world["admin"])
    for method, path in (("GET", "/offers/999"), ("GET", "/offers/999/edit"), ("POST", "/offers/999/duplicate"),
                         ("POST", "/offers/999/status")):
        assert client.open(path, method=method, data={"action": "pause"}).status_code == 404


@pytest.mark.parametrize("who", ["neighbour", "careers_lead", "other_coordinator"])
@pytest.mark.parametrize("status", ["draft", "published"])
def test_others_can_never_change_an_offer(client, login, world, who, status):
    offer = make_offer(world["org"], status=status, title="Calder's own")
    db.session.commit()
    login(world[who])
    assert client.get(f"/offers/{offer.id}/edit").status_code == 403
    assert client.post(f"/offers/{offer.id}/edit", data=edit_data(offer, title="Taken")).status_code == 403
    assert client.post(f"/offers/{offer.id}/duplicate").status_code == 403
    for action in ("publish", "pause", "close"):
        assert client.post(f"/offers/{offer.id}/status", data={"action": action, "confirm": "1"}).status_code == 403
    offer = reload(offer)
    assert (offer.title, offer.status, len(offers_of(world["org"]))) == ("Calder's own", status, 1)
    assert audit_actions() == []


# --- editing --------------------------------------------------------------------------------------

def test_a_provider_edits_its_offer(client, login, world):
    offer = make_offer(world["org"], status="draft")
    db.session.commit()
    login(world["provider"])
    page = client.get(f"/offers/{offer.id}/edit")
    assert page.status_code == 200 and hidden_version(page) == "1"
    html = page.get_data(as_text=True)
    assert f'value="{offer.title}"' in html and 'value="30"' in html and "Save and publish" in html
    response = client.post(f"/offers/{offer.id}/edit", data=edit_data(offer, title="Engineers", sessions="3"))
    assert response.status_code == 302 and response.headers["Location"] == f"/offers/{offer.id}"
    offer = reload(offer)
    assert (offer.title, offer.capacity, offer.version, offer.status) == ("Engineers", 90, 2, "draft")
    assert audit_actions() == ["offer.update"]


def test_editing_a_draft_may_publish_it(client, login, world):
    offer = make_offer(world["org"], status="draft")
    db.session.commit()
    login(world["provider"])
    client.post(f"/offers/{offer.id}/edit", data=edit_data(offer, publish="1"))
    assert reload(offer).status == "published"
    assert audit_actions() == ["offer.publish"]


def test_editing_a_published_offer_keeps_it_published_and_rechecks_safeguarding(client, login, world):
    offer = make_offer(world["org"], type="workplace_visit", status="published", delivery="workplace")
    db.session.commit()
    login(world["provider"])
    html = client.get(f"/offers/{offer.id}/edit").get_data(as_text=True)
    assert "Save changes" in html and "Save and publish" not in html
    response = client.post(f"/offers/{offer.id}/edit",
                           data=edit_data(offer, delivery="workplace", risk_assessment_done=None))
    assert response.status_code == 200
    assert "cannot be published until you" in error_beside(response.get_data(as_text=True), "risk_assessment_done")
    assert reload(offer).risk_assessment_done is True
    response = client.post(f"/offers/{offer.id}/edit", data=edit_data(offer, delivery="workplace", title="New"))
    assert response.status_code == 302
    offer = reload(offer)
    assert (offer.title, offer.status) == ("New", "published")


def test_a_past_start_date_may_stay_but_not_be_moved_into_the_past(client, login, world):
    offer = make_offer(world["org"], starts_on=TODAY - timedelta(days=10), ends_on=TODAY + timedelta(days=30))
    db.session.commit()
    login(world["provider"])
    assert client.post(f"/offers/{offer.id}/edit", data=edit_data(offer, title="Still on")).status_code == 302
    offer = reload(offer)
    response = client.post(f"/offers/{offer.id}/edit",
                           data=edit_data(offer, starts_on=(TODAY - timedelta(days=5)).isoformat()))
    assert error_beside(response.get_data(as_text=True), "starts_on") == "The start date cannot be in the past."


def test_capacity_below_what_is_allocated_is_refused(client, login, world):
    offer = make_offer(world["org"], type="work_experience", sessions=1, per_session=6, allocated=4,
                       placement_days=5)
    db.session.commit()
    login(world["provider"])
    response = client.post(f"/offers/{offer.id}/edit", data=edit_data(offer, capacity="3"))
    assert response.status_code == 200
    assert error_beside(response.get_data(as_text=True), "capacity") == (
        "4 places already allocated on this offer: the capacity cannot go below 4.")
    assert reload(offer).capacity == 6
    assert client.post(f"/offers/{offer.id}/edit", data=edit_data(offer, capacity="4")).status_code == 302
    assert reload(offer).capacity == 4


def test_two_edits_from_the_same_version_the_second_is_told_and_the_first_kept(client, login, world):
    offer = make_offer(world["org"], status="published")
    db.session.commit()
    login(world["provider"])
    assert hidden_version(client.get(f"/offers/{offer.id}/edit")) == "1"
    login(world["coordinator"])
    assert hidden_version(client.get(f"/offers/{offer.id}/edit")) == "1"
    assert client.post(f"/offers/{offer.id}/edit", data=edit_data(offer, title="Coordinator's")).status_code == 302

    login(world["provider"])
    response = client.post(f"/offers/{offer.id}/edit",
                           data=edit_data(offer, version="1", title="Provider's", per_session="25"))
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert STALE.replace("'", "&#39;") in html or STALE in unescape(html)
    assert 'value="Provider&#39;s"' in html and 'value="25"' in html  # their input, kept
    assert hidden_version(response) == "2"
    offer = reload(offer)
    assert (offer.title, offer.per_session, offer.version) == ("Coordinator's", 30, 2)

    # Saving again against the version the page now carries goes through.
    response = client.post(f"/offers/{offer.id}/edit", data=edit_data(offer, version="2", title="Provider's"))
    assert response.status_code == 302
    assert reload(offer).title == "Provider's"


def test_a_closed_offer_is_not_edited(client, login, world):
    offer = make_offer(world["org"], status="closed")
    db.session.commit()
    login(world["provider"])
    response = client.get(f"/offers/{offer.id}/edit")
    assert response.status_code == 302 and response.headers["Location"] == f"/offers/{offer.id}"
    client.post(f"/offers/{offer.id}/edit", data=edit_data(offer, title="Back"))
    assert reload(offer).title != "Back"


def test_the_type_cannot_be_changed_by_an_edit(client, login, world):
    offer = make_offer(world["org"], status="draft")
    db.session.commit()
    login(world["provider"])
    client.post(f"/offers/{offer.id}/edit", data=edit_data(offer, type="levy_place"))
    assert reload(offer).type == "careers_talk"


# --- duplicate and status -------------------------------------------------------------------------

def test_duplicate_opens_the_draft_copy(client, login, world):
    offer = make_offer(world["org"], status="published", title="Talk", allocated=10)
    db.session.commit()
    login(world["coordinator"])
    response = client.post(f"/offers/{offer.id}/duplicate")
    _original, copy = offers_of(world["org"])
    assert response.status_code == 302 and response.headers["Location"] == f"/offers/{copy.id}/edit"
    assert (copy.title, copy.status, copy.allocated, copy.capacity) == ("Copy of Talk", "draft", 0, 60)
    assert audit_actions() == ["offer.duplicate"]


@pytest.mark.parametrize(("start", "action", "end", "flash"), [
    ("draft", "publish", "published", "is published."),
    ("published", "pause", "paused", "is paused."),
    ("paused", "reopen", "published", "is reopened."),
    ("published", "close", "closed", "is closed."),
    ("paused", "close", "closed", "is closed."),
])
def test_status_buttons(client, login, world, start, action, end, flash):
    offer = make_offer(world["org"], status=start, title="Talk")
    db.session.commit()
    login(world["provider"])
    response = client.post(f"/offers/{offer.id}/status", data={"action": action, "confirm": "1"})
    assert response.status_code == 302 and response.headers["Location"] == f"/offers/{offer.id}"
    assert reload(offer).status == end
    assert audit_actions() == [f"offer.{action}"]
    assert f"Talk {flash}" in client.get(f"/offers/{offer.id}").get_data(as_text=True)


@pytest.mark.parametrize(("start", "action"), [("draft", "pause"), ("draft", "close"), ("published", "publish"),
                                               ("paused", "pause"), ("closed", "reopen"), ("closed", "publish"),
                                               ("published", "delete")])
def test_invalid_status_changes_are_refused_with_a_message(client, login, world, start, action):
    offer = make_offer(world["org"], status=start)
    db.session.commit()
    login(world["provider"])
    response = client.post(f"/offers/{offer.id}/status", data={"action": action, "confirm": "1"},
                           follow_redirects=True)
    assert response.status_code == 200
    assert "alert-danger" in response.get_data(as_text=True)
    assert reload(offer).status == start
    assert audit_actions() == []


def test_closing_asks_for_confirmation_first(client, login, world):
    offer = make_offer(world["org"], status="published", title="Talk")
    db.session.commit()
    login(world["provider"])
    response = client.post(f"/offers/{offer.id}/status", data={"action": "close"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Are you sure you want to close “Talk”?" in html
    assert 'name="confirm" value="1"' in html and 'name="action" value="close"' in html
    assert reload(offer).status == "published"
    client.post(f"/offers/{offer.id}/status", data={"action": "close", "confirm": "1"})
    assert reload(offer).status == "closed"


def test_publishing_from_the_page_without_safeguarding_says_what_is_missing(client, login, world):
    offer = make_offer(world["org"], type="workplace_visit", status="draft", delivery="workplace")
    offer.liability_insurance = False
    db.session.commit()
    login(world["provider"])
    html = client.post(f"/offers/{offer.id}/status", data={"action": "publish"},
                       follow_redirects=True).get_data(as_text=True)
    assert "This offer cannot be published yet." in html
    assert "employers&#39; liability insurance" in html
    assert reload(offer).status == "draft"


# --- the list -------------------------------------------------------------------------------------

def add_match(offer, status):
    school_request = make_request(make_school(offer.provider.area))
    db.session.add(Match(offer=offer, request=school_request, area_id=school_request.area_id, allocation=5,
                         status=status, origin="school_asked"))
    db.session.flush()


def test_a_provider_lists_only_its_own_offers_with_counts(client, login, world):
    talk = make_offer(world["org"], title="Talk", sessions=2, per_session=30, allocated=10,
                      starts_on=date(2030, 3, 1), ends_on=date(2030, 4, 30))
    make_offer(world["org"], type="work_experience", title="Week", status="draft", sessions=1, per_session=4,
               placement_days=5, starts_on=date(2030, 3, 1), ends_on=date(2030, 3, 1))
    make_offer(world["neighbour_org"], title="Pendle's")
    for status in ("proposed", "proposed", "scheduled", "approved", "declined"):
        add_match(talk, status)
    db.session.commit()
    login(world["provider"])
    response = client.get("/offers")
    assert response.status_code == 200
    assert rows(response) == [
        ["Week", "Work experience placement", "Draft", "1 Mar 2030", "4 places", "4", "0", "0"],
        ["Talk", "Careers talk or assembly", "Published", "1 Mar 2030 to 30 Apr 2030", "60 pupils", "50", "2", "1"],
    ]
    html = response.get_data(as_text=True)
    assert "<caption>" in html and '<th scope="col">Places left</th>' in html.replace(' class="text-end"', "")


def test_a_coordinator_lists_their_areas_offers_and_filters_by_provider_and_status(client, login, world):
    make_offer(world["org"], title="Calder talk")
    make_offer(world["org"], title="Calder draft", status="draft")
    make_offer(world["neighbour_org"], title="Pendle talk")
    make_offer(world["far_org"], title="Ribble talk")
    db.session.commit()
    login(world["coordinator"])

    def titles(query=""):
        return sorted(row[0] for row in rows(client.get("/offers" + query)))

    assert titles() == ["Calder draft", "Calder talk", "Pendle talk"]
    assert titles(f"?provider_id={world['org'].id}") == ["Calder draft", "Calder talk"]
    assert titles("?status=draft") == ["Calder draft"]
    assert titles(f"?provider_id={world['far_org'].id}") == ["Calder draft", "Calder talk", "Pendle talk"]
    assert titles("?status=bogus") == ["Calder draft", "Calder talk", "Pendle talk"]
    html = client.get(f"/offers?provider_id={world['org'].id}").get_data(as_text=True)
    assert f'href="/offers/new?provider_id={world["org"].id}"' in html


def test_a_provider_cannot_list_another_providers_offers(client, login, world):
    make_offer(world["neighbour_org"], title="Pendle talk")
    db.session.commit()
    login(world["provider"])
    assert rows(client.get(f"/offers?provider_id={world['neighbour_org'].id}")) == []


def test_an_empty_list_invites_a_first_offer(client, login, world):
    login(world["provider"])
    html = client.get("/offers").get_data(as_text=True)
    assert "No offers yet" in html and 'href="/offers/new">Create an offer' in html


def test_the_list_is_paged_25_at_a_time(client, login, world):
    for n in range(27):
        make_offer(world["org"], title=f"Offer {n:02d}", starts_on=TODAY + timedelta(days=n + 1))
    db.session.commit()
    login(world["provider"])
    first = client.get("/offers")
    assert [row[0] for row in rows(first)] == [f"Offer {n:02d}" for n in range(25)]
    assert "/offers?page=2" in first.get_data(as_text=True)
    assert [row[0] for row in rows(client.get("/offers?page=2"))] == ["Offer 25", "Offer 26"]


def count_statements(client, path: str) -> tuple[object, int]:
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        response = client.get(path)
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
    return response, len(statements)


@pytest.mark.parametrize("who", ["provider", "coordinator"])
def test_the_list_runs_the_same_number_of_queries_for_5_or_25_offers(client, login, world, who):
    """The counts come from one grouped query per page, not one query per row."""

    def add_offers(count):
        for _ in range(count):
            offer = make_offer(world["org"])
            add_match(offer, "proposed")
            add_match(offer, "scheduled")
        db.session.commit()

    login(world[who])
    add_offers(5)
    few, few_queries = count_statements(client, "/offers")
    add_offers(20)
    many, many_queries = count_statements(client, "/offers")
    assert (len(rows(few)), len(rows(many))) == (5, 25)
    assert all(row[-2:] == ["1", "1"] for row in rows(many))
    assert few_queries == many_queries


def test_careers_leads_have_no_offers_list(client, login, world):
    login(world["careers_lead"])
    assert client.get("/offers").status_code == 403
    assert client.get("/offers/new").status_code == 403


def test_the_forms_never_store_criminal_record_data():
    """No DBS or criminal-record column exists on an offer."""
    columns = {c.name for c in sa.inspect(Offer).columns}
    assert not {c for c in columns if "dbs" in c or "criminal" in c}


def test_money_fields_accept_a_pound_sign_and_commas_in_the_browser(app, client, login):
    """A number input would refuse '£15,000' before the server saw it: money is a text input."""
    provider = make_provider()
    login(make_user(Role.PROVIDER, organisation=provider))
    db.session.commit()
    page = client.get("/offers/new?type=levy_place").get_data(as_text=True)
    field = re.search(r'<input[^>]*name="funding_amount"[^>]*>', page).group(0)
    assert 'type="text"' in field
    assert 'inputmode="decimal"' in field
