"""A provider's and a careers lead's own matches (/matches/mine) and what their home pages say needs them; the
coordinator's home counting the proposals in their queue."""
from datetime import datetime, timedelta

import pytest

from portal.extensions import db
from portal.models import Match
from portal.services import home, match_lifecycle, my_matches
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_request, make_school, make_user

NOW = datetime.now().replace(microsecond=0)


@pytest.fixture
def world(app):
    """Burnley: Acme (a contact, a talk offer) and Brun Valley High (a careers lead, a request), a second provider and
    school of the same area, a coordinator; Preston: a coordinator."""
    burnley, preston = make_area("Burnley"), make_area("Preston")
    acme = make_provider(burnley, name="Acme Engineering")
    contact = make_user(Role.PROVIDER, organisation=acme)
    school = make_school(burnley, name="Brun Valley High")
    lead = make_user(Role.CAREERS_LEAD, organisation=school)
    offer = make_offer(acme, title="Engineering talk")
    school_request = make_request(school, title="Year 9 talks")
    rival = make_provider(burnley, name="Rival Robotics")
    rival_contact = make_user(Role.PROVIDER, organisation=rival)
    rival_offer = make_offer(rival, title="Robot workshop")
    other_school = make_school(burnley, name="Pendle Academy")
    other_lead = make_user(Role.CAREERS_LEAD, organisation=other_school)
    other_request = make_request(other_school, title="Pendle talks")
    coordinator = make_user(Role.COORDINATOR, areas=[burnley])
    preston_coordinator = make_user(Role.COORDINATOR, areas=[preston])
    db.session.commit()
    return locals()


_clock = iter(range(10_000))


def match(offer, school_request, status="approved", *, session_in_days=None, **fields) -> Match:
    """A match in this status; each one made later has later activity (updated_at) unless told."""
    starts = NOW + timedelta(days=session_in_days) if session_in_days is not None else None
    made = Match(offer_id=offer.id, request_id=school_request.id, area_id=school_request.area_id,
                 allocation=fields.pop("allocation", 5), origin=fields.pop("origin", "school_asked"), status=status,
                 session_starts_at=starts, session_minutes=60 if starts else None,
                 updated_at=fields.pop("updated_at", NOW - timedelta(days=1) + timedelta(seconds=next(_clock))),
                 **fields)
    db.session.add(made)
    db.session.commit()
    return made


def ids(listing) -> list[int]:
    return [row.match_id for row in listing.rows]


def test_provider_sees_its_offers_matches_with_the_school_and_next_step(client, login, world):
    waiting = match(world["offer"], world["school_request"], "approved", allocation=12)
    other_school = match(world["offer"], world["other_request"], "scheduled", session_in_days=5)
    rival = match(world["rival_offer"], world["school_request"], "approved")
    login(world["contact"])
    page = client.get("/matches/mine").get_data(as_text=True)
    listing = my_matches.page_for(world["contact"])
    assert ids(listing) == [other_school.id, waiting.id]  # newest activity first; the rival's never
    row = listing.rows[1]
    assert (row.offer_title, row.other_side, row.allocation, row.status, row.next_step, row.to_do) == \
        ("Engineering talk", "Brun Valley High", "12 pupils", "Approved", "Accept", True)
    assert listing.rows[0].session and listing.rows[0].other_side == "Pendle Academy"
    assert f"/matches/{waiting.id}" in page and "Brun Valley High" in page and "12 pupils" in page
    assert "Robot workshop" not in page and f"/matches/{rival.id}\"" not in page


def test_careers_lead_sees_its_requests_matches_with_the_provider(client, login, world):
    mine = match(world["rival_offer"], world["school_request"], "confirmed")
    theirs = match(world["offer"], world["other_request"], "confirmed")
    login(world["lead"])
    page = client.get("/matches/mine").get_data(as_text=True)
    listing = my_matches.page_for(world["lead"])
    assert ids(listing) == [mine.id]
    assert (listing.rows[0].other_side, listing.rows[0].next_step) == ("Rival Robotics", "Schedule the session")
    assert "Rival Robotics" in page and "Pendle" not in page and f"/matches/{theirs.id}\"" not in page


def test_each_side_is_told_what_the_match_waits_for(world):
    proposed = match(world["offer"], world["school_request"], "proposed")
    accepted = match(world["offer"], world["school_request"], "approved", provider_accepted_at=NOW)
    steps = {row.match_id: (row.next_step, row.to_do) for row in my_matches.page_for(world["contact"]).rows}
    assert steps[proposed.id] == ("Waiting for the coordinator's approval", False)
    assert steps[accepted.id] == ("Waiting for the school to accept", False)
    steps = {row.match_id: (row.next_step, row.to_do) for row in my_matches.page_for(world["lead"]).rows}
    assert steps[accepted.id] == ("Accept", True)


def _every_state(world) -> dict[str, Match]:
    offer, request = world["offer"], world["school_request"]
    return {
        "proposed": match(offer, request, "proposed"),
        "approved": match(offer, request, "approved"),
        "approved_by_provider": match(offer, request, "approved", provider_accepted_at=NOW),
        "approved_by_school": match(offer, request, "approved", school_accepted_at=NOW),
        "confirmed": match(offer, request, "confirmed", provider_accepted_at=NOW, school_accepted_at=NOW),
        "scheduled_soon": match(offer, request, "scheduled", session_in_days=3),
        "scheduled_past": match(offer, request, "scheduled", session_in_days=-2),
        "delivered_confirmed": match(offer, request, "delivered", session_in_days=-3, delivery_confirmed_at=NOW),
        "recorded": match(offer, request, "recorded", session_in_days=-9),
        "recorded_confirmed": match(offer, request, "recorded", session_in_days=-9, delivery_confirmed_at=NOW),
        "declined": match(offer, request, "declined"),
        "cancelled": match(offer, request, "cancelled", session_in_days=4),
        "no_show": match(offer, request, "no_show", session_in_days=-1),
    }


EXPECTED = {
    "contact": {
        "action": {"approved", "approved_by_school", "confirmed", "scheduled_past", "recorded"},
        "upcoming": {"proposed", "approved", "approved_by_provider", "approved_by_school", "confirmed",
                     "scheduled_soon"},
    },
    "lead": {
        "action": {"approved", "approved_by_provider", "confirmed", "scheduled_past", "delivered_confirmed"},
        "upcoming": {"proposed", "approved", "approved_by_provider", "approved_by_school", "confirmed",
                     "scheduled_soon"},
    },
}


@pytest.mark.parametrize("who", ["contact", "lead"])
def test_the_groups_filter_by_status(client, login, world, who):
    made = _every_state(world)
    names = {m.id: name for name, m in made.items()}
    user = world[who]

    def group(key):
        return {names[i] for i in ids(my_matches.page_for(user, group=key, now=NOW))}

    assert group("action") == EXPECTED[who]["action"]
    assert group("upcoming") == EXPECTED[who]["upcoming"]
    assert group("past") == set(made) - EXPECTED[who]["upcoming"]
    assert group("all") == set(made)
    assert group("nonsense") == set(made)  # an unknown group is all of them
    login(user)
    page = client.get("/matches/mine?show=action").get_data(as_text=True)
    assert f"{len(EXPECTED[who]['action'])} matches: needs your action" in page
    assert 'aria-current="page" href="/matches/mine?show=action"' in page


@pytest.mark.parametrize("who", ["contact", "lead"])
def test_needs_action_is_exactly_the_rows_whose_next_step_is_theirs(world, who):
    """The SQL filter and the match page's actions (match_lifecycle.actions_for) must not drift apart."""
    _every_state(world)
    user = world[who]
    to_do = {row.match_id for row in my_matches.page_for(user, group="all", now=NOW).rows if row.to_do}
    assert to_do == set(ids(my_matches.page_for(user, group="action", now=NOW)))
    for row in my_matches.page_for(user, group="action", now=NOW).rows:
        found = db.session.get(Match, row.match_id)
        assert row.next_step in [a.label for a in match_lifecycle.actions_for(user, found, now=NOW)]


def test_pages_of_twenty_newest_activity_first_keeping_the_filter(client, login, world):
    made = [match(world["offer"], world["school_request"], "approved") for _ in range(23)]
    made[0].updated_at = NOW  # the oldest made, but the latest to change
    db.session.commit()
    first = my_matches.page_for(world["contact"], group="action")
    second = my_matches.page_for(world["contact"], group="action", page=2)
    assert first.page.total == 23 and len(first.rows) == 20 and len(second.rows) == 3
    assert ids(first)[0] == made[0].id
    assert ids(first) + ids(second) == [made[0].id] + [m.id for m in reversed(made[1:])]
    login(world["contact"])
    page = client.get("/matches/mine?show=action").get_data(as_text=True)
    assert "/matches/mine?page=2&amp;show=action" in page or "/matches/mine?show=action&amp;page=2" in page
    assert "page 2 of 2" in client.get("/matches/mine?show=action&page=2").get_data(as_text=True)
    assert "There is no page 9" in client.get("/matches/mine?page=9").get_data(as_text=True)


def test_empty_states_say_what_to_do(client, login, world):
    login(world["contact"])
    page = client.get("/matches/mine").get_data(as_text=True)
    assert "None of your offers has a match yet" in page and "/browse/requests" in page
    match(world["offer"], world["school_request"], "recorded", session_in_days=-5, delivery_confirmed_at=NOW)
    assert "Nothing waits on you" in client.get("/matches/mine?show=action").get_data(as_text=True)
    assert "No upcoming matches" in client.get("/matches/mine?show=upcoming").get_data(as_text=True)
    login(world["lead"])
    page = client.get("/matches/mine?show=action").get_data(as_text=True)
    assert "Nothing waits on you" in page and "attendance" in page


def test_only_providers_and_careers_leads_have_the_page_and_its_menu_item(client, login, world):
    for who in ("contact", "lead"):
        login(world[who])
        assert 'href="/matches/mine"' in client.get("/").get_data(as_text=True)
    login(world["coordinator"])
    assert client.get("/matches/mine").status_code == 403
    assert 'href="/matches/mine"' not in client.get("/matches").get_data(as_text=True)


# --- the home page ---------------------------------------------------------------------------------------------------

def texts(user) -> list[str]:
    return [item.text for item in home.summary_for(user).items]


def test_home_counts_what_waits_on_the_provider(client, login, world):
    assert texts(world["contact"]) == []
    offer = world["offer"]
    for school_request in (world["school_request"], world["other_request"]):
        match(offer, school_request, "approved")
    match(offer, world["school_request"], "approved", provider_accepted_at=NOW)  # waits on the school only
    match(offer, world["school_request"], "confirmed")
    match(offer, world["school_request"], "scheduled", session_in_days=-1)
    match(world["rival_offer"], world["school_request"], "confirmed")  # another provider's
    assert texts(world["contact"]) == ["2 matches waiting for your acceptance",
                                       "1 accepted match waiting to be scheduled",
                                       "1 session waiting for you to confirm delivery"]
    login(world["contact"])
    page = client.get("/").get_data(as_text=True)
    assert '<a href="/matches/mine?show=action">2 matches waiting for your acceptance</a>' in page
    assert "Nothing needs your attention" not in page


def test_home_counts_what_waits_on_the_careers_lead(world):
    request = world["school_request"]
    match(world["offer"], request, "approved", provider_accepted_at=NOW)
    match(world["offer"], request, "confirmed")
    match(world["rival_offer"], request, "confirmed")
    match(world["offer"], request, "scheduled", session_in_days=-1)
    match(world["offer"], request, "delivered", session_in_days=-2, delivery_confirmed_at=NOW)
    match(world["offer"], request, "scheduled", session_in_days=2)  # not yet
    match(world["offer"], request, "recorded", session_in_days=-3)  # done
    match(world["offer"], world["other_request"], "approved")  # another school's
    assert texts(world["lead"]) == ["1 match waiting for your acceptance",
                                    "2 accepted matches waiting to be scheduled",
                                    "2 past sessions waiting for attendance to be recorded"]
    assert texts(world["other_lead"]) == ["1 match waiting for your acceptance"]


def test_home_counts_the_proposals_in_the_coordinators_queue(client, login, world):
    preston_school = make_school(make_area("Preston West"), name="Far School")
    for _ in range(3):
        match(world["offer"], world["school_request"], "proposed")
    match(world["offer"], world["school_request"], "approved")
    match(world["offer"], make_request(preston_school), "proposed")  # another area's
    world["preston_coordinator"].areas = [preston_school.area]
    db.session.commit()
    assert texts(world["coordinator"])[0] == "3 proposals waiting for your decision"
    assert texts(world["preston_coordinator"])[0] == "1 proposal waiting for your decision"
    assert home.summary_for(world["coordinator"]).items[0].endpoint == "matches.index"
    login(world["coordinator"], two_step_setup_required=False)
    world["coordinator"].totp_enabled_at = NOW
    db.session.commit()
    assert '<a href="/matches">3 proposals waiting for your decision</a>' in client.get("/").get_data(as_text=True)
