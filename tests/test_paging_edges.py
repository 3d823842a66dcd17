"""Paged lists at their edges: a page past the end says there is no such page and links to the last one (filters
kept), on every list alike, never a 404 or a list's empty-state sentence; the empty states only when a list is
truly empty; the progress page's "every pupil has reached" only for a school with pupils, none of them below."""
import re
from datetime import date
from html import unescape

import pyotp
import pytest

from portal.extensions import db
from portal.models import AuditEvent, Match, utcnow
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_pupil, make_request, make_school, make_user

TWO_STEP = {"totp_secret": pyotp.random_base32(), "totp_enabled_at": utcnow()}


@pytest.fixture
def world(app):
    """One area where every paged list has exactly one row for the user who sees it."""
    area = make_area("Burnley")
    school = make_school(area, name="Burnley High")
    provider = make_provider(area, name="Near Works")
    offer = make_offer(provider, title="Engines talk")
    school_request = make_request(school, title="Talks for Year 9")
    db.session.add(Match(offer_id=offer.id, request_id=school_request.id, area_id=area.id, allocation=5,
                         origin="engine"))
    make_pupil(school, reference="PBELOW001", contacts=1)
    make_pupil(school, reference="PLEFT0001", status="left", left_on=date.today())
    make_user(Role.PROVIDER, organisation=make_provider(area, name="Pending Ltd", status="pending"),
              status="pending")
    db.session.add(AuditEvent(action="test.event", actor_email="someone@example.org", area_id=area.id))
    users = {
        "careers_lead": make_user(Role.CAREERS_LEAD, organisation=school),
        "provider": make_user(Role.PROVIDER, organisation=provider),
        "coordinator": make_user(Role.COORDINATOR, areas=[area], **TWO_STEP),
        "admin": make_user(Role.ADMIN, **TWO_STEP),
    }
    db.session.commit()
    return {"users": users, "offer": offer, "school": school, "area": area}


# (who, the list's path, its empty-state sentence: never on a page past the end of a list with rows)
LISTS = [
    ("careers_lead", "/progress", "Every pupil on roll has reached"),
    ("careers_lead", "/destinations", "No leavers yet"),
    ("careers_lead", "/pupils", "There are no pupils on your roster yet"),
    ("careers_lead", "/requests", "There are no requests yet"),
    ("careers_lead", "/browse/offers", "No offers"),
    ("provider", "/offers", "No offers yet"),
    ("provider", "/offers/{offer}", "No matches yet"),
    ("provider", "/browse/requests", "No open requests fit"),
    ("provider", "/matches/mine", "None of your offers has a match yet"),
    ("coordinator", "/matches", "No proposed matches"),
    ("coordinator", "/organisations", "There are no organisations"),
    ("coordinator", "/verification", "Nobody is waiting"),
    ("coordinator", "/audit", "No events yet"),
    ("admin", "/admin/users", "There are no users yet"),
]


def text(response) -> str:
    return unescape(response.get_data(as_text=True))


def _get(client, login, world, who: str, path: str, query: str = ""):
    login(world["users"][who])
    if query and "?" in path:
        query = "&" + query.removeprefix("?")
    return client.get(path.format(offer=world["offer"].id) + query)


@pytest.mark.parametrize(("who", "path", "empty"), LISTS, ids=[path for _who, path, _empty in LISTS])
def test_a_page_past_the_end_says_so_and_links_to_the_last_page(client, login, world, who, path, empty):
    first = _get(client, login, world, who, path)
    assert first.status_code == 200
    assert "There is no page" not in text(first)  # the list has a row, on page 1

    past = _get(client, login, world, who, path, "?page=999")
    assert past.status_code == 200
    html = text(past)
    assert "There is no page 999: this list has 1 page." in html
    assert empty not in html
    last = path.format(offer=world["offer"].id)
    assert re.search(rf'<a href="{re.escape(last)}">Go to the last page</a>', html)


# The queue's page goes straight from portal/matches/views.py to services/matches.queue_page, which does not clamp it
# yet (paging.clamp): SQLite cannot take the offset of page 10**30 (a 500), PostgreSQL refuses it (a 400).
@pytest.mark.parametrize(("who", "path", "empty"), LISTS, ids=[path for _who, path, _empty in LISTS])
def test_absurd_page_numbers_are_page_one_or_past_the_end_never_an_error(client, login, world, who, path, empty):
    for page in ("0", "-5", "abc", "1e3", str(10**30), "99999999999999999999"):
        response = _get(client, login, world, who, path, f"?page={page}")
        assert response.status_code == 200, page
        assert empty not in text(response), page


@pytest.mark.parametrize(("who", "path", "query"), [
    ("careers_lead", "/pupils", "year=9"),
    ("careers_lead", "/requests", "status=open"),
    ("coordinator", "/organisations", "kind=school"),
    ("coordinator", "/audit", "action=test.event"),
    ("admin", "/admin/users", "role=admin"),
])
def test_the_link_to_the_last_page_keeps_the_filters(client, login, world, who, path, query):
    html = text(_get(client, login, world, who, path, f"?{query}&page=7"))
    assert "There is no page 7: this list has 1 page." in html
    assert re.search(rf'<a href="{re.escape(path)}\?{re.escape(query)}">Go to the last page</a>', html)


def test_a_list_of_several_pages_links_to_its_last_page_by_number(client, login, world):
    school = world["school"]
    for n in range(60):  # pupils.PER_PAGE is 50: two pages
        make_pupil(school, reference=f"PMANY{n:04d}")
    db.session.commit()
    html = text(_get(client, login, world, "careers_lead", "/pupils", "?page=3"))
    assert "There is no page 3: this list has 2 pages." in html
    assert '<a href="/pupils?page=2">Go to the last page</a>' in html


def test_requests_past_the_end_was_a_404_and_is_now_the_same_page_as_every_list(client, login, world):
    response = _get(client, login, world, "careers_lead", "/requests", "?page=5")
    assert response.status_code == 200
    assert "There is no page 5: this list has 1 page." in text(response)


# --- the empty states: only for a list with no rows -----------------------------------------------------------

def test_empty_lists_say_they_are_empty_on_any_page(client, login, app):
    school = make_school(make_area(), name="Empty High")
    lead = make_user(Role.CAREERS_LEAD, organisation=school)
    db.session.commit()
    login(lead)
    for query in ("", "?page=999"):
        pupils = text(client.get(f"/pupils{query}"))
        assert "There are no pupils on your roster yet" in pupils and "There is no page" not in pupils
        requests = client.get(f"/requests{query}")
        assert requests.status_code == 200 and "There are no requests yet" in text(requests)


def test_a_school_with_no_pupils_is_not_told_every_pupil_has_reached_the_target(client, login, app):
    # A secondary school with an empty roster (a primary school's /progress is another page: the target does not
    # apply to it, tests/test_primary_and_target_texts.py).
    school = make_school(make_area(), name="Empty Fields High", year_sizes={})
    login(make_user(Role.CAREERS_LEAD, organisation=school))
    db.session.commit()
    for query in ("", "?page=999"):
        html = text(client.get(f"/progress{query}"))
        assert "No pupils on roll yet" in html
        assert "Every pupil on roll has reached" not in html
        assert "There is no page" not in html


def test_every_pupil_has_reached_the_target_only_when_true(client, login, app):
    school = make_school(make_area(), name="Top School")
    make_pupil(school, contacts=4)
    make_pupil(school, contacts=7)
    login(make_user(Role.CAREERS_LEAD, organisation=school))
    db.session.commit()
    html = text(client.get("/progress"))
    assert "Every pupil on roll has reached 4." in html
    assert "No pupils on roll yet" not in html
    html = text(client.get("/progress?page=999"))
    assert "Every pupil on roll has reached 4." in html  # true on any page: there are no rows to page through


def test_progress_past_the_end_keeps_the_chosen_year(client, login, world):
    from portal.services import counting

    last_year = counting.current_academic_year(date.today()) - 1
    html = text(_get(client, login, world, "careers_lead", "/progress", f"?year={last_year}&page=999"))
    assert "There is no page 999: this list has 1 page." in html
    assert f'<a href="/progress?year={last_year}">Go to the last page</a>' in html
