"""Dates and sizes that must keep agreeing after an edit: an offer's dates keep its scheduled sessions inside them, a
session is scheduled within both the offer's and the school's dates, and a request cut below its proposals' size
resizes them (or is refused when approved matches already hold more)."""
from dataclasses import asdict
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from portal import catalogue
from portal.errors import ValidationFailed
from portal.extensions import db
from portal.models import AuditEvent, Match, MatchEvent, MatchOrigin, Offer
from portal.services import match_lifecycle, matches, offers, school_requests
from portal.services.match_lifecycle import SessionDetails, SessionInvalid
from portal.services.school_requests import RequestDetails
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_request, make_school, make_user
from tests.test_offers import edit_data as offer_edit_data
from tests.test_offers import error_beside
from tests.test_school_requests import form_data as request_form_data

TODAY = date.today()


def day(days: int) -> date:
    return TODAY + timedelta(days=days)


def at(days: int, hour: int = 10) -> datetime:
    return datetime.combine(day(days), time(hour, 0))


def fresh(obj):
    db.session.rollback()
    db.session.refresh(obj)
    return obj


def events(match: Match) -> list[tuple[str | None, str, str | None]]:
    return [(e.from_status, e.to_status, e.note) for e in db.session.scalars(
        select(MatchEvent).where(MatchEvent.match_id == match.id).order_by(MatchEvent.id))]


@pytest.fixture
def world(app):
    """Burnley: a school and its careers lead, a provider and its contact with a 60-pupil talk running from today for
    90 days, a coordinator."""
    burnley = make_area("Burnley")
    school = make_school(burnley, name="Hill School")
    provider = make_provider(burnley, name="Acme Engineering")
    world = {
        "school": school,
        "provider": provider,
        "lead": make_user(Role.CAREERS_LEAD, organisation=school, name="Lee Lead"),
        "contact": make_user(Role.PROVIDER, organisation=provider, name="Pat Provider"),
        "coordinator": make_user(Role.COORDINATOR, areas=[burnley]),
        "offer": make_offer(provider, title="Engineering talk", sessions=2, per_session=30, starts_in_days=0,
                            lasts_days=90),
    }
    db.session.commit()
    return world


def a_match(world, *, status: str, allocation: int = 10, session: datetime | None = None, school_request=None,
            offer=None) -> Match:
    """A match in `status` (its places taken on the offer when it holds them), with a session if given."""
    offer = offer or world["offer"]
    school_request = school_request or make_request(world["school"], pupils=allocation, starts_in_days=0,
                                                    lasts_days=90)
    match = Match(offer=offer, request=school_request, area_id=school_request.area_id, allocation=allocation,
                  status=status, origin=MatchOrigin.SCHOOL_ASKED, session_starts_at=session,
                  session_minutes=60 if session else None)
    db.session.add(match)
    if status in ("approved", "confirmed", "scheduled"):
        offer.allocated += allocation
    db.session.commit()
    return match


# --- 1. an offer's dates keep its scheduled sessions --------------------------------------------------------------

def offer_values(offer: Offer, **changes) -> dict:
    return {**offers.stored_values(offer), **changes}


def test_an_end_date_before_a_scheduled_session_is_refused_naming_it(world):
    offer = world["offer"]
    match = a_match(world, status="scheduled", session=at(60))
    with pytest.raises(offers.OfferInvalid) as caught:
        offers.update_offer(offer, by=world["contact"], expected_version=offer.version,
                            values=offer_values(offer, ends_on=day(30), title="Shorter"))
    message = caught.value.problems["ends_on"]
    assert f"{offers.format_date(day(60))} with Hill School (match {match.id})" in message
    assert f"Keep the end date on or after {offers.format_date(day(60))}" in message
    assert fresh(offer).ends_on == day(90) and offer.title == "Engineering talk"


def test_a_start_date_after_a_scheduled_session_is_refused_beside_the_start_date(world):
    offer = world["offer"]
    match = a_match(world, status="scheduled", session=at(5))
    problems = offers.offer_problems(catalogue.offer_type(offer.type), offer_values(offer, starts_on=day(10)),
                                     original=offer)
    assert f"{offers.format_date(day(5))} with Hill School (match {match.id})" in problems["starts_on"]
    assert "ends_on" not in problems


def test_dates_that_keep_every_session_are_saved_and_other_matches_do_not_count(world):
    offer = world["offer"]
    a_match(world, status="scheduled", session=at(30))
    a_match(world, status="cancelled", session=at(80))  # no longer happening
    a_match(world, status="confirmed")  # no date yet
    offers.update_offer(offer, by=world["contact"], expected_version=offer.version,
                        values=offer_values(offer, ends_on=day(30)))
    assert fresh(offer).ends_on == day(30)


def test_the_edit_page_shows_the_sessions_beside_the_date_and_keeps_the_input(client, login, world):
    offer = world["offer"]
    first = a_match(world, status="scheduled", session=at(60))
    second = a_match(world, status="scheduled", session=at(70))
    login(world["contact"])
    response = client.post(f"/offers/{offer.id}/edit",
                           data=offer_edit_data(offer, title="Kept title", ends_on=day(30).isoformat()))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    message = error_beside(html, "ends_on")
    assert message.startswith("Sessions are already scheduled after this date:")
    assert f"match {first.id}" in message and f"match {second.id}" in message
    assert f"Keep the end date on or after {offers.format_date(day(70))}" in message
    assert 'value="Kept title"' in html and f'value="{day(30).isoformat()}"' in html
    assert fresh(offer).ends_on == day(90)
    response = client.post(f"/offers/{offer.id}/edit", data=offer_edit_data(offer, ends_on=day(70).isoformat()))
    assert response.status_code == 302 and fresh(offer).ends_on == day(70)


# --- 2. a session is scheduled within the offer's and the school's dates -----------------------------------------

def confirmed_for_window(world, starts_in: int, lasts: int) -> Match:
    """A confirmed match whose request asks for days starts_in..starts_in+lasts (the offer runs days 0-90)."""
    school_request = make_request(world["school"], pupils=10, starts_in_days=starts_in, lasts_days=lasts)
    return a_match(world, status="confirmed", school_request=school_request)


def session(starts_at: datetime) -> SessionDetails:
    return SessionDetails(starts_at=starts_at, minutes=60, place="Main hall", link=None, contact="Lee, 01234 567890")


def test_a_session_outside_the_schools_dates_is_refused_beside_the_date(world):
    match = confirmed_for_window(world, 10, 10)
    with pytest.raises(SessionInvalid) as caught:
        match_lifecycle.schedule_match(match, session(at(60)), by=world["lead"])
    window = f"{offers.format_date(day(10))} – {offers.format_date(day(20))}"
    assert caught.value.problems["day"] == (f"The session must be within the school's dates: {window}. "
                                            f"Days that suit both: {window}.")
    assert fresh(match).status == "confirmed" and match.session_starts_at is None


def test_a_session_outside_the_offers_dates_names_the_days_that_suit_both(world):
    match = confirmed_for_window(world, 80, 30)  # the school's dates run past the offer's end (day 90)
    with pytest.raises(SessionInvalid) as caught:
        match_lifecycle.schedule_match(match, session(at(100)), by=world["lead"])
    message = caught.value.problems["day"]
    assert message.startswith("The session must be within the offer's dates:")
    assert message.endswith(f"Days that suit both: {offers.format_date(day(80))} – {offers.format_date(day(90))}.")


def test_dates_that_do_not_overlap_are_said_so(world):
    offer = make_offer(world["provider"], starts_in_days=0, lasts_days=5)
    school_request = make_request(world["school"], pupils=10, starts_in_days=20, lasts_days=5)
    match = a_match(world, status="confirmed", school_request=school_request, offer=offer)
    with pytest.raises(SessionInvalid) as caught:
        match_lifecycle.schedule_match(match, session(at(22)), by=world["lead"])
    assert "do not overlap, so no day suits both" in caught.value.problems["day"]


def test_a_session_within_both_is_scheduled(world):
    match = confirmed_for_window(world, 10, 10)
    match_lifecycle.schedule_match(match, session(at(20, 9)), by=world["lead"])
    assert fresh(match).status == "scheduled" and match.session_starts_at == at(20, 9)


def test_the_schedule_page_shows_both_windows_and_keeps_the_input_on_error(client, login, world):
    match = confirmed_for_window(world, 10, 10)
    login(world["lead"])
    page = client.get(f"/matches/{match.id}/schedule").get_data(as_text=True)
    assert "School&#39;s dates" in page or "School's dates" in page
    assert f"{offers.format_date(day(10))} – {offers.format_date(day(20))}" in page
    assert f"{offers.format_date(day(0))} – {offers.format_date(day(90))}" in page  # the offer's dates
    response = client.post(f"/matches/{match.id}/schedule", data={
        "day": day(60).isoformat(), "start": "10:00", "minutes": "45", "place": "Sports hall", "contact": "Lee"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert error_beside(html, "day").startswith("The session must be within the school's dates:")
    assert 'value="Sports hall"' in html and 'value="45"' in html and f'value="{day(60).isoformat()}"' in html
    assert fresh(match).status == "confirmed"
    response = client.post(f"/matches/{match.id}/schedule", data={
        "day": day(15).isoformat(), "start": "10:00", "minutes": "45", "place": "Sports hall", "contact": "Lee"})
    assert response.status_code == 302 and fresh(match).status == "scheduled"


# --- 3. a request edited down: its proposals cut to fit, or refused below what is placed ---------------------------

def request_details(school_request, **changes) -> RequestDetails:
    return RequestDetails(**{**asdict(RequestDetails.of(school_request)), **changes})


def test_lowering_the_pupils_cuts_an_oversized_proposal_in_the_same_edit(world):
    school_request = make_request(world["school"], pupils=60, starts_in_days=0, lasts_days=90)
    proposal = a_match(world, status="proposed", allocation=60, school_request=school_request)
    small = a_match(world, status="proposed", allocation=15, school_request=school_request,
                    offer=make_offer(world["provider"], starts_in_days=0))
    school_requests.update_request(school_request, request_details(school_request, pupils=20), by=world["lead"],
                                   expected_version=school_request.version)
    assert fresh(school_request).pupils == 20 and school_request.version == 2
    assert fresh(proposal).allocation == 20 and proposal.status == "proposed"
    assert events(proposal)[-1] == ("proposed", "proposed",
                                    "allocation changed from 60 to 20: the request now asks for 20 pupils")
    assert fresh(small).allocation == 15 and events(small) == []  # it still fits
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "request.update")).one()
    assert audit.detail == "changed: pupils; 1 proposals cut to fit"
    matches.approve_match(proposal, by=world["coordinator"])  # the coordinator no longer meets a refusal
    assert fresh(proposal).status == "approved"


def test_proposals_are_cut_to_what_approved_matches_leave(world):
    school_request = make_request(world["school"], pupils=60, starts_in_days=0, lasts_days=90)
    a_match(world, status="approved", allocation=15, school_request=school_request,
            offer=make_offer(world["provider"], starts_in_days=0))
    proposal = a_match(world, status="proposed", allocation=45, school_request=school_request)
    school_requests.update_request(school_request, request_details(school_request, pupils=25), by=world["lead"],
                                   expected_version=school_request.version)
    assert fresh(proposal).allocation == 10 and fresh(school_request).status == "partly_matched"
    school_requests.update_request(school_request, request_details(school_request, pupils=15), by=world["lead"],
                                   expected_version=school_request.version)
    assert fresh(proposal).status == "cancelled" and proposal.allocation == 10
    assert events(proposal)[-1][1:] == ("cancelled", "cancelled: the request now asks for 15 pupils, all already "
                                                     "placed")
    assert fresh(school_request).status == "matched"


def test_below_what_is_placed_is_refused_and_nothing_changes(world):
    school_request = make_request(world["school"], pupils=60, starts_in_days=0, lasts_days=90)
    a_match(world, status="confirmed", allocation=30, school_request=school_request)
    proposal = a_match(world, status="proposed", allocation=30, school_request=school_request,
                       offer=make_offer(world["provider"], starts_in_days=0))
    with pytest.raises(ValidationFailed) as caught:
        school_requests.update_request(school_request, request_details(school_request, pupils=20), by=world["lead"],
                                       expected_version=school_request.version)
    assert caught.value.field == "pupils"
    assert caught.value.message.startswith("30 places are already held for this request")
    assert fresh(school_request).pupils == 60 and fresh(proposal).allocation == 30 and events(proposal) == []


def test_the_edit_page_refuses_below_what_is_placed_and_keeps_the_input(client, login, world):
    school_request = make_request(world["school"], pupils=60, starts_in_days=0, lasts_days=90, year_groups=(10,))
    a_match(world, status="scheduled", allocation=30, school_request=school_request, session=at(20))
    login(world["lead"])
    data = request_form_data(version=str(school_request.version), pupils="20", title="Kept title",
                             starts_on=school_request.starts_on.isoformat(),
                             ends_on=school_request.ends_on.isoformat())
    response = client.post(f"/requests/{school_request.id}/edit", data=data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert error_beside(html, "pupils").startswith("30 places are already held for this request")
    assert 'value="Kept title"' in html and 'value="20"' in html
    assert fresh(school_request).pupils == 60
    data["pupils"] = "40"
    response = client.post(f"/requests/{school_request.id}/edit", data=data)
    assert response.status_code == 302 and fresh(school_request).pupils == 40
