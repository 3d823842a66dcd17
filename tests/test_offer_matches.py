"""An offer's page lists its matches: every one for its provider, the coordinators' areas' ones for coordinators,
only their own school's for a careers lead; newest first, a page at a time."""
import re
from datetime import datetime, timedelta

import pytest

from portal.extensions import db
from portal.models import Match, MatchOrigin, MatchStatus, utcnow
from portal.services import offer_matches
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_request, make_school, make_user


def page(response) -> str:
    return response.get_data(as_text=True)


def add_match(offer, school, *, allocation=10, status=MatchStatus.APPROVED, minutes_ago=0, starts_at=None):
    school_request = make_request(school)
    match = Match(offer_id=offer.id, request_id=school_request.id, area_id=school.area_id, allocation=allocation,
                  status=status, origin=MatchOrigin.SCHOOL_ASKED, created_at=utcnow() - timedelta(minutes=minutes_ago),
                  session_starts_at=starts_at)
    db.session.add(match)
    db.session.flush()
    return match


def listed_schools(body: str) -> list[str]:
    section = body.split('id="matches-heading"', 1)[1]
    return re.findall(r'<th scope="row">([^<]+)</th>', section)


@pytest.fixture
def world(app):
    burnley, preston = make_area("Burnley"), make_area("Preston")
    provider = make_provider(burnley, name="Acme Engineering")
    offer = make_offer(provider, title="Bridge building", open_to_all_areas=True)
    hill = make_school(burnley, name="Hill High")
    vale = make_school(burnley, name="Vale Academy")
    river = make_school(preston, name="River School")
    old = add_match(offer, hill, allocation=12, status=MatchStatus.SCHEDULED, minutes_ago=30,
                    starts_at=datetime(2030, 3, 4, 9, 30))
    middle = add_match(offer, river, allocation=8, status=MatchStatus.PROPOSED, minutes_ago=20)
    new = add_match(offer, vale, allocation=1, status=MatchStatus.DECLINED, minutes_ago=10)
    db.session.commit()
    return {"burnley": burnley, "preston": preston, "provider": provider, "offer": offer, "hill": hill,
            "vale": vale, "river": river, "old": old, "middle": middle, "new": new}


def test_the_provider_sees_every_match_of_its_offer_newest_first(client, login, world):
    login(make_user(Role.PROVIDER, organisation=world["provider"]))
    db.session.commit()

    body = page(client.get(f"/offers/{world['offer'].id}"))

    assert "<h2 class=\"h4\" id=\"matches-heading\">Matches for this offer</h2>" in body
    assert listed_schools(body) == ["Vale Academy", "River School", "Hill High"]
    assert "3 matches, newest first" in body
    assert "<td>12 pupils</td>" in body and "<td>1 pupil</td>" in body
    assert "<td>Scheduled</td>" in body and "<td>Proposed</td>" in body and "<td>Declined</td>" in body
    assert "<td>Mon 4 Mar 2030, 09:30</td>" in body
    assert body.count("<td>Not scheduled</td>") == 2
    for match in (world["old"], world["middle"], world["new"]):
        assert f'href="/matches/{match.id}"' in body


def test_coordinators_see_the_matches_of_their_areas_only(client, login, world):
    login(make_user(Role.COORDINATOR, areas=[world["burnley"]]))
    db.session.commit()

    body = page(client.get(f"/offers/{world['offer'].id}"))

    assert listed_schools(body) == ["Vale Academy", "Hill High"]
    assert "River School" not in body and f'href="/matches/{world["middle"].id}"' not in body


def test_admins_see_every_match(client, login, world):
    login(make_user(Role.ADMIN))
    db.session.commit()

    assert listed_schools(page(client.get(f"/offers/{world['offer'].id}"))) == [
        "Vale Academy", "River School", "Hill High"]


def test_a_careers_lead_sees_only_their_own_schools_matches(client, login, world):
    login(make_user(Role.CAREERS_LEAD, organisation=world["hill"]))
    db.session.commit()

    body = page(client.get(f"/offers/{world['offer'].id}"))

    assert "Your school’s matches for this offer" in body
    assert listed_schools(body) == ["Hill High"]
    assert "Vale Academy" not in body and "River School" not in body
    assert f'href="/matches/{world["new"].id}"' not in body and f'href="/matches/{world["middle"].id}"' not in body


def test_a_careers_lead_without_matches_sees_no_list_at_all(client, login, world):
    other = make_school(world["burnley"], name="Quiet School")
    login(make_user(Role.CAREERS_LEAD, organisation=other))
    db.session.commit()

    response = client.get(f"/offers/{world['offer'].id}")

    body = page(response)
    assert response.status_code == 200
    assert 'id="matches-heading"' not in body
    assert "Hill High" not in body and "Vale Academy" not in body and "River School" not in body


def test_an_offer_without_matches_says_so(client, login, app):
    provider = make_provider()
    offer = make_offer(provider)
    login(make_user(Role.PROVIDER, organisation=provider))
    db.session.commit()

    body = page(client.get(f"/offers/{offer.id}"))

    assert "Matches for this offer" in body
    assert "No matches yet." in body
    assert "<table" not in body.split('id="matches-heading"', 1)[1]


def test_another_provider_is_refused_the_page_and_the_service_lists_nothing_for_them(client, login, world):
    stranger = login(make_user(Role.PROVIDER, organisation=make_provider(world["burnley"])))
    db.session.commit()

    assert client.get(f"/offers/{world['offer'].id}").status_code == 403
    assert offer_matches.for_offer(stranger, world["offer"]).rows == []


def test_many_matches_are_paged(client, login, app):
    provider = make_provider()
    offer = make_offer(provider, sessions=10)
    school = make_school(provider.area, name="Busy School")
    for i in range(offer_matches.PER_PAGE + 3):
        add_match(offer, school, allocation=i + 1, minutes_ago=100 - i)
    login(make_user(Role.PROVIDER, organisation=provider))
    db.session.commit()

    first = page(client.get(f"/offers/{offer.id}"))
    second = page(client.get(f"/offers/{offer.id}?page=2"))

    assert len(listed_schools(first)) == offer_matches.PER_PAGE
    assert f"{offer_matches.PER_PAGE + 3} matches, newest first, page 1 of 2" in first
    assert f'<td>{offer_matches.PER_PAGE + 3} pupils</td>' in first  # the newest
    assert f'href="/offers/{offer.id}?page=2"' in first
    assert len(listed_schools(second)) == 3
    assert "<td>1 pupil</td>" in second  # the oldest, last
    assert "page 2 of 2" in second
    assert len(listed_schools(page(client.get(f"/offers/{offer.id}?page=9")))) == 0
