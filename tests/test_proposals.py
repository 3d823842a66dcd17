"""Proposed matches made by people: a careers lead requests an offer, a provider offers to meet a request,
and the coordinators' list of proposals."""
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, Match, MatchEvent, OutboxMessage, SchoolRequest, User
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_request, make_school, make_user
from tests.test_browse import parse

TODAY = date.today()


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def audits(action: str = "match.propose") -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


@pytest.fixture
def world(app):
    """Burnley: a school with two careers leads, a provider with two contacts (and a disabled one), a provider
    next door; Preston: a school, a provider; coordinators for each."""
    burnley, preston = make_area("Burnley"), make_area("Preston")
    school = make_school(burnley, name="Burnley High", latitude=53.79, longitude=-2.25)
    lead = make_user(Role.CAREERS_LEAD, organisation=school, name="Lee Lead", email="lee@school.example")
    colead = make_user(Role.CAREERS_LEAD, organisation=school, name="Cora Colead", email="cora@school.example")
    provider = make_provider(burnley, name="Acme Engineering", latitude=53.80, longitude=-2.24)
    contact = make_user(Role.PROVIDER, organisation=provider, name="Pat Provider", email="pat@acme.example")
    second = make_user(Role.PROVIDER, organisation=provider, name="Sol Second", email="sol@acme.example")
    make_user(Role.PROVIDER, organisation=provider, email="gone@acme.example", status="disabled")
    neighbour = make_provider(burnley, name="Neighbour Ltd")
    neighbour_contact = make_user(Role.PROVIDER, organisation=neighbour, email="n@neighbour.example")
    preston_school = make_school(preston, name="Preston Academy")
    preston_provider = make_provider(preston, name="Preston Works")
    coordinator = make_user(Role.COORDINATOR, areas=[burnley])
    preston_coordinator = make_user(Role.COORDINATOR, areas=[preston])
    offer = make_offer(provider, title="Engineering talk", year_groups=(9, 10, 11), sessions=1, per_session=30,
                       starts_on=TODAY + timedelta(days=7), ends_on=TODAY + timedelta(days=67))
    db.session.commit()
    return locals()


# --- a careers lead requests an offer ---------------------------------------------------------------------------

def request_form(**changes) -> dict:
    data = {"pupils": "25", "year_groups": ["9", "10"], "starts_on": str(TODAY + timedelta(days=10)),
            "ends_on": str(TODAY + timedelta(days=20)), "message": "We would love a talk after lunch."}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_the_request_form_offers_the_offers_year_groups_the_school_teaches(client, login, world):
    offer = make_offer(world["provider"], title="Mixed", year_groups=(5, 6, 7, 8))  # a secondary teaches 7-13
    db.session.commit()
    login(world["lead"])
    body = client.get(f"/browse/offers/{offer.id}/request").get_data(as_text=True)
    assert "Year 7" in body and "Year 8" in body and "Year 6" not in body
    assert "Do not write pupils&#39; names" in body
    assert "Up to 60 pupils: the places left." in body


def test_requesting_creates_a_request_and_a_proposed_match_mails_the_provider_and_audits(client, login, world,
                                                                                      mailbox):
    lead, offer = world["lead"], world["offer"]
    login(lead)
    response = client.post(f"/browse/offers/{offer.id}/request", data=request_form())
    school_request = db.session.scalar(select(SchoolRequest))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/requests/{school_request.id}")
    assert school_request.title == "Request for: Engineering talk"
    assert school_request.school_id == world["school"].id and school_request.area_id == world["burnley"].id
    assert school_request.wanted_types == ["careers_talk"] and school_request.sectors == ["engineering"]
    assert school_request.deliveries == ["in_school"] and school_request.keep_together is True
    assert school_request.year_groups == [9, 10] and school_request.pupils == 25
    assert (school_request.starts_on, school_request.ends_on) == (TODAY + timedelta(days=10),
                                                                  TODAY + timedelta(days=20))
    assert school_request.status == "open" and school_request.notes is None
    match = db.session.scalar(select(Match))
    assert (match.offer_id, match.request_id, match.allocation) == (offer.id, school_request.id, 25)
    assert (match.status, match.origin, match.area_id) == ("proposed", "school_asked", world["burnley"].id)
    assert match.reasons == "Requested directly by Burnley High"
    assert match.message == "We would love a talk after lunch." and match.created_by_id == lead.id
    [event] = db.session.scalars(select(MatchEvent)).all()
    assert (event.match_id, event.from_status, event.to_status, event.actor_id) == (match.id, None, "proposed",
                                                                                    lead.id)
    [audit] = audits()
    assert audit.actor_id == lead.id and audit.object_id == match.id and audit.area_id == world["burnley"].id
    db.session.refresh(offer)
    assert offer.allocated == 0  # a proposal holds no places until approved (3/6)

    messages = mailbox()
    assert sorted(m["To"] for m in messages) == ["pat@acme.example", "sol@acme.example"]
    text = text_of(messages[0])
    assert "Burnley High has requested" in messages[0]["Subject"]
    assert "Years 9–10" in text and "25 pupils" in text
    assert f"http://localhost/offers/{offer.id}" in text
    assert "after lunch" not in text  # free text a school typed is not mailed out (it may name pupils) ...
    assert "Burnley High (the school) left a message" in text and "/matches/" in text  # ... only where to read it


def test_the_new_request_and_its_proposal_appear_in_the_careers_leads_list(client, login, world):
    login(world["lead"])
    response = client.post(f"/browse/offers/{world['offer'].id}/request", data=request_form(), follow_redirects=True)
    assert response.status_code == 200
    assert "Your request for Engineering talk has been sent to Acme Engineering" in response.get_data(as_text=True)


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"pupils": "31"}, "pupils", "Ask for 1 to 30: this offer has 30 pupils left."),
    ({"pupils": "0"}, "pupils", "Ask for 1 to 30"),
    ({"pupils": ""}, "pupils", "Enter how many pupils would come"),
    ({"pupils": "lots"}, "pupils", "Enter a whole number of pupils"),
    ({"year_groups": None}, "year_groups", "Choose at least one year group."),
    ({"year_groups": ["12"]}, "year_groups", "Choose from the year groups listed."),
    ({"starts_on": str(TODAY - timedelta(days=1))}, "starts_on", "The first date cannot be in the past."),
    ({"starts_on": str(TODAY + timedelta(days=3))}, "starts_on", "Choose a date the offer runs"),
    ({"ends_on": str(TODAY + timedelta(days=90))}, "ends_on", "Choose a date the offer runs"),
    ({"ends_on": str(TODAY + timedelta(days=9))}, "ends_on", "The last date must be on or after the first date."),
    ({"starts_on": "next week"}, "starts_on", "Enter a date as a day, month and year"),
    ({"message": "x" * 1001}, "message", "The message can be at most 1000 characters."),
])
def test_a_request_that_breaks_a_rule_is_explained_and_nothing_is_created(client, login, world, changes, field,
                                                                         message):
    login(world["lead"])
    response = client.post(f"/browse/offers/{world['offer'].id}/request", data=request_form(**changes))
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'id="{field}-error"' in body and message in body.replace("&#39;", "'")
    assert count(SchoolRequest) == count(Match) == count(OutboxMessage) == 0
    if field != "message":
        assert "after lunch" in body  # the rest of the input is kept


def test_the_places_left_take_approved_allocations_into_account(client, login, world):
    offer = world["offer"]
    offer.allocated = 28
    db.session.commit()
    login(world["lead"])
    response = client.post(f"/browse/offers/{offer.id}/request", data=request_form(pupils="3"))
    assert "Ask for 1 to 2: this offer has 2 pupils left." in response.get_data(as_text=True)


@pytest.mark.parametrize("kind", ["other_area", "draft", "paused"])
def test_offers_a_careers_lead_cannot_see_are_refused(client, login, world, kind):
    offer = {
        "other_area": lambda: make_offer(world["preston_provider"]),
        "draft": lambda: make_offer(world["provider"], status="draft"),
        "paused": lambda: make_offer(world["provider"], status="paused"),
    }[kind]()
    db.session.commit()
    login(world["lead"])
    assert client.get(f"/browse/offers/{offer.id}/request").status_code == 403
    assert client.post(f"/browse/offers/{offer.id}/request", data=request_form()).status_code == 403
    assert count(Match) == 0


def test_another_areas_offer_open_to_all_areas_can_be_requested(client, login, world):
    offer = make_offer(world["preston_provider"], open_to_all_areas=True, title="For everyone")
    db.session.commit()
    login(world["lead"])
    response = client.post(f"/browse/offers/{offer.id}/request", data=request_form())
    assert response.status_code == 302
    match = db.session.scalar(select(Match))
    assert match.area_id == world["burnley"].id  # the school's area: its coordinator decides


@pytest.mark.parametrize(("fields", "message"), [
    ({"capacity": 30, "allocated": 30}, "This offer has no places left."),
    ({"starts_on": TODAY - timedelta(days=10), "ends_on": TODAY - timedelta(days=1)}, "dates have passed"),
    ({"year_groups": (3, 4)}, "year groups your school does not teach"),
])
def test_an_offer_that_cannot_be_requested_sends_the_lead_back_with_the_reason(client, login, world, fields,
                                                                              message):
    offer = make_offer(world["provider"], sessions=1, per_session=30, **fields)
    db.session.commit()
    login(world["lead"])
    response = client.post(f"/browse/offers/{offer.id}/request", data=request_form(), follow_redirects=True)
    assert message in response.get_data(as_text=True)
    assert count(Match) == 0


def test_only_careers_leads_request_offers(client, login, world):
    for user in (world["contact"], world["coordinator"]):
        login(user)
        assert client.get(f"/browse/offers/{world['offer'].id}/request").status_code == 403


# --- a provider sees open requests --------------------------------------------------------------------------------

def request_rows(response) -> list[list[str]]:
    return parse(response).rows


def test_open_requests_show_only_what_an_offer_could_serve(client, login, world):
    school, preston_school = world["school"], world["preston_school"]
    make_request(school, title="fits", notes="Ask for Jamie Smith, who uses a wheelchair")  # Years 9-10 talk
    make_request(school, wanted_types=("workplace_visit",))  # a type the provider does not offer
    make_request(school, year_groups=(12, 13))  # year groups the offer does not serve
    make_request(school, starts_in_days=100)  # after the offer ends
    make_request(school, deliveries=("virtual",))  # a delivery the offer does not use
    make_request(school, sectors=("health",))  # another sector
    make_request(school, status="withdrawn")
    make_request(school, status="matched")
    make_request(school, starts_on=TODAY - timedelta(days=20), ends_on=TODAY - timedelta(days=1))  # over
    make_request(preston_school)  # another area
    make_request(school, sectors=("engineering", "digital"), status="partly_matched", pupils=12)
    db.session.commit()
    login(world["contact"])
    response = client.get("/browse/requests")
    rows = request_rows(response)
    assert [row[2] for row in rows] == ["30 pupils", "12 pupils"]
    assert rows[0][:2] == ["Burnley HighBurnley", "Years 9–10"]
    assert rows[0][4:8] == ["Careers talk or assemblyIn school, At the workplace, Virtual", "Any sector",
                            "0.8 miles", "Engineering talk"]
    body = response.get_data(as_text=True)
    assert "Jamie" not in body and "wheelchair" not in body and "fits" not in body  # never notes or titles


def test_an_offer_open_to_all_areas_shows_other_areas_requests(client, login, world):
    make_request(world["preston_school"], pupils=7, wanted_types=("careers_talk", "virtual_encounter"))
    db.session.commit()
    login(world["contact"])
    assert request_rows(client.get("/browse/requests")) == []
    make_offer(world["provider"], title="Virtual for all", type="virtual_encounter", delivery="virtual",
               virtual_link_note="Email", open_to_all_areas=True)
    db.session.commit()
    rows = request_rows(client.get("/browse/requests"))
    assert [(row[0], row[7]) for row in rows] == [("Preston AcademyBurnley", "Virtual for all")]  # name, town


def test_a_provider_can_narrow_open_requests_to_one_offer(client, login, world):
    make_offer(world["provider"], title="Site visit", type="workplace_visit", delivery="workplace")
    make_request(world["school"], pupils=11)
    make_request(world["school"], wanted_types=("workplace_visit",), pupils=22)
    db.session.commit()
    login(world["contact"])
    assert len(request_rows(client.get("/browse/requests"))) == 2
    only = request_rows(client.get(f"/browse/requests?offer_id={world['offer'].id}"))
    assert [row[2] for row in only] == ["11 pupils"]
    neighbours_offer = make_offer(world["neighbour"])
    db.session.commit()
    response = client.get(f"/browse/requests?offer_id={neighbours_offer.id}")
    assert "Choose one of your published offers." in response.get_data(as_text=True)
    assert len(request_rows(response)) == 2  # the bad choice is ignored, not obeyed


def test_a_provider_without_published_offers_is_told_how_requests_appear(client, login, world):
    make_request(world["school"])
    db.session.commit()
    login(world["neighbour_contact"])
    body = client.get("/browse/requests").get_data(as_text=True)
    assert "You have no published offer with places left" in body


# --- a provider offers to meet a request --------------------------------------------------------------------------

def test_offering_to_meet_creates_a_proposed_match_and_mails_the_schools_careers_leads(client, login, world,
                                                                                     mailbox):
    school_request = make_request(world["school"], pupils=40)
    db.session.commit()
    login(world["contact"])
    page = client.get(f"/browse/requests/{school_request.id}/offer")
    assert page.status_code == 200 and "Engineering talk (30 pupils left)" in page.get_data(as_text=True)
    response = client.post(f"/browse/requests/{school_request.id}/offer",
                           data={"offer_id": world["offer"].id, "allocation": "30", "message": "Tuesdays suit us."})
    assert response.status_code == 302 and response.headers["Location"].endswith("/browse/requests")
    match = db.session.scalar(select(Match))
    assert (match.offer_id, match.request_id, match.allocation) == (world["offer"].id, school_request.id, 30)
    assert (match.status, match.origin, match.area_id) == ("proposed", "provider_offered", world["burnley"].id)
    assert match.message == "Tuesdays suit us." and "Offered by Acme Engineering" in match.reasons
    [event] = match.events
    assert (event.from_status, event.to_status, event.actor_id) == (None, "proposed", world["contact"].id)
    [audit] = audits()
    assert audit.actor_id == world["contact"].id and audit.object_id == match.id
    messages = mailbox()
    assert sorted(m["To"] for m in messages) == ["cora@school.example", "lee@school.example"]
    text = text_of(messages[0])
    assert "Acme Engineering has offered" in text and "30 pupils" in text and "Tuesdays suit us." in text
    assert f"http://localhost/requests/{school_request.id}" in text


@pytest.mark.parametrize(("allocation", "message"), [
    ("31", "Offer 1 to 30: the school still needs 40 and your offer has 30 pupils left."),
    ("0", "Offer 1 to 30"),
    ("", "Enter how many pupils you could take"),
])
def test_the_allocation_is_at_most_the_places_left_and_the_pupils_still_needed(client, login, world, allocation,
                                                                               message):
    school_request = make_request(world["school"], pupils=40)
    db.session.commit()
    login(world["contact"])
    response = client.post(f"/browse/requests/{school_request.id}/offer",
                           data={"offer_id": world["offer"].id, "allocation": allocation})
    assert response.status_code == 200 and message in response.get_data(as_text=True)
    assert count(Match) == 0


def test_the_same_offer_cannot_be_proposed_twice_for_a_request(client, login, world):
    school_request = make_request(world["school"], pupils=10)
    db.session.commit()
    login(world["contact"])
    data = {"offer_id": world["offer"].id, "allocation": "10"}
    assert client.post(f"/browse/requests/{school_request.id}/offer", data=data).status_code == 302
    response = client.post(f"/browse/requests/{school_request.id}/offer", data=data)
    assert "already proposed for this request" in response.get_data(as_text=True)
    assert count(Match) == 1


def test_another_providers_offer_is_refused(client, login, world):
    school_request = make_request(world["school"])
    neighbours_offer = make_offer(world["neighbour"])
    db.session.commit()
    login(world["contact"])
    response = client.post(f"/browse/requests/{school_request.id}/offer",
                           data={"offer_id": neighbours_offer.id, "allocation": "5"})
    assert response.status_code == 403
    assert count(Match) == 0


@pytest.mark.parametrize("kind", ["other_area", "withdrawn", "not_servable"])
def test_a_request_the_provider_may_not_see_is_refused(client, login, world, kind):
    school_request = {
        "other_area": lambda: make_request(world["preston_school"]),
        "withdrawn": lambda: make_request(world["school"], status="withdrawn"),
        "not_servable": lambda: make_request(world["school"], wanted_types=("mentoring",)),
    }[kind]()
    db.session.commit()
    login(world["contact"])
    assert client.get(f"/browse/requests/{school_request.id}/offer").status_code == 403
    response = client.post(f"/browse/requests/{school_request.id}/offer",
                           data={"offer_id": world["offer"].id, "allocation": "5"})
    assert response.status_code == 403
    assert count(Match) == 0


def test_only_providers_offer_to_meet(client, login, world):
    school_request = make_request(world["school"])
    db.session.commit()
    for user in (world["lead"], world["coordinator"]):
        login(user)
        assert client.get(f"/browse/requests/{school_request.id}/offer").status_code == 403


# --- the coordinators' list ---------------------------------------------------------------------------------------

def _propose(world, school, offer, allocation: int) -> Match:
    from portal.services import proposals

    lead = db.session.scalar(select(User).where(User.organisation_id == school.id))
    return proposals.request_offer(offer, proposals.OfferRequest(
        pupils=allocation, year_groups=[9], starts_on=offer.starts_on, ends_on=offer.ends_on), by=lead)


def test_coordinators_see_the_proposals_of_their_areas_only(client, login, world):
    make_user(Role.CAREERS_LEAD, organisation=world["preston_school"])
    preston_offer = make_offer(world["preston_provider"], title="Preston talk")
    db.session.commit()
    _propose(world, world["school"], world["offer"], 12)
    _propose(world, world["preston_school"], preston_offer, 7)
    declined = _propose(world, world["school"], world["offer"], 3)
    declined.status = "declined"
    db.session.commit()

    login(world["coordinator"])
    rows = parse(client.get("/matches")).rows
    assert [row[:6] for row in rows] == [["Engineering talk", "Acme Engineering", "Burnley High", "12 pupils",
                     "School requested the offer", f"{TODAY.day} {TODAY:%b %Y}"]]
    login(world["preston_coordinator"])
    assert [row[2] for row in parse(client.get("/matches")).rows] == ["Preston Academy"]
    login(make_user(Role.ADMIN))
    assert {row[2] for row in parse(client.get("/matches")).rows} == {"Burnley High", "Preston Academy"}


def test_the_proposals_list_sorts_by_date_and_pages(client, login, world):
    from portal.models import utcnow

    matches = [_propose(world, world["school"], world["offer"], n) for n in range(1, 23)]
    for n, match in enumerate(matches):
        match.created_at = utcnow() - timedelta(days=30 - n)
    db.session.commit()
    login(world["coordinator"])
    newest = parse(client.get("/matches"))
    assert [row[3] for row in newest.rows][:2] == ["22 pupils", "21 pupils"] and len(newest.rows) == 20
    oldest = parse(client.get("/matches?sort=oldest"))
    assert [row[3] for row in oldest.rows][:2] == ["1 pupil", "2 pupils"]
    assert any("page=2" in link and "sort=oldest" in link for link in oldest.links)
    assert [row[3] for row in parse(client.get("/matches?sort=oldest&page=2")).rows] == ["21 pupils", "22 pupils"]
    assert parse(client.get("/matches?sort=sideways")).rows[0][3] == "22 pupils"


def test_no_proposals_says_so(client, login, world):
    login(world["coordinator"])
    assert "No proposed matches in your areas" in client.get("/matches").get_data(as_text=True)
