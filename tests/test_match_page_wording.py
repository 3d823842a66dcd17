"""The match page says what is true for the match's state: what scheduling waits for, a history without
"Approved → Approved", and the coordinator's Approve/Reject on a proposed match."""
import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Match, MatchEvent
from portal.services import demo, match_lifecycle, match_transitions
from portal.vocab import Role
from tests import test_match_lifecycle as lifecycle
from tests.factories import make_request

# Burnley (a school and its careers lead, a provider and its contact with a 10-pupil offer, a coordinator) and
# Preston (another area's coordinator), and a match approved by the Burnley coordinator.
world, approved = lifecycle.world, lifecycle.approved


def proposed(world, allocation: int = 4) -> Match:
    school_request = make_request(world["school"], pupils=allocation, starts_in_days=0)
    match = Match(offer=world["offer"], request=school_request, area_id=school_request.area_id,
                  allocation=allocation, status="proposed", origin="school_asked")
    db.session.add(match)
    db.session.commit()
    return match


def page_of(client, match: Match) -> str:
    response = client.get(f"/matches/{match.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def session_section(page: str) -> str:
    return re.search(r'id="session-heading".*?</section>', page, re.S).group(0)


# --- what scheduling waits for -------------------------------------------------------------------------------------

def test_a_proposed_match_waits_for_the_coordinator(client, login, world):
    match = proposed(world)
    login(world["lead"])
    section = session_section(page_of(client, match))
    assert "waits for the coordinator&#39;s approval" in section
    assert "once both sides have accepted" not in section


def test_an_approved_match_names_the_sides_still_to_accept(client, login, world):
    match = approved(world)
    login(world["lead"])
    assert "it waits for the provider and the school to accept it" in session_section(page_of(client, match))
    match_lifecycle.accept_match(match, by=world["contact"])
    section = session_section(page_of(client, match))
    assert "it waits for the school to accept it" in section and "the provider and" not in section


def test_a_confirmed_match_says_either_side_can_schedule_it(client, login, world):
    match = approved(world)
    match_lifecycle.accept_match(match, by=world["contact"])
    match_lifecycle.accept_match(match, by=world["lead"])
    login(world["contact"])
    section = session_section(page_of(client, match))
    assert "Both sides have accepted: either side can now schedule it." in section
    assert "Not scheduled yet" not in section


# --- the history ---------------------------------------------------------------------------------------------------

def history_rows(page: str) -> list[list[str]]:
    body = re.search(r'id="history-heading".*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_the_acceptance_flow_reads_clearly_with_no_approved_to_approved_row(client, login, world):
    match = approved(world)
    match_lifecycle.accept_match(match, by=world["lead"])
    match_lifecycle.accept_match(match, by=world["contact"])
    login(world["coordinator"])
    page = page_of(client, match)
    assert "Approved → Approved" not in page
    assert [row[1:] for row in history_rows(page)] == [
        ["Bea Burnley", "Proposed → Approved", ""],
        ["Lee Lead", "Accepted by the school", ""],
        ["Pat Provider", "Accepted by the provider", ""],
        ["Pat Provider", "Approved → Confirmed", "both sides accepted"],
    ]


def test_an_event_that_leaves_the_status_needs_a_note(app, world):
    match = proposed(world)
    with pytest.raises(ValueError):
        match_transitions.record_event(match, "approved", "approved", by=world["lead"], note=None)


def test_the_demo_approvals_name_a_coordinator(app):
    demo.seed_demo()
    approvals = list(db.session.scalars(select(MatchEvent).where(MatchEvent.from_status == "proposed",
                                                                 MatchEvent.to_status == "approved")))
    assert approvals
    assert all(event.actor is not None and event.actor.role == Role.COORDINATOR for event in approvals)
    assert not any(event.note == "approved by the coordinator" for event in approvals)
    accepts = list(db.session.scalars(select(MatchEvent).where(MatchEvent.from_status == "approved",
                                                               MatchEvent.to_status == "approved")))
    assert {event.note for event in accepts} == {"accepted by the school", "accepted by the provider"}
    assert all(event.actor.role == Role.CAREERS_LEAD for event in accepts if event.note == "accepted by the school")


# --- the coordinator decides from the match page -------------------------------------------------------------------

def test_the_coordinator_approves_a_proposed_match_from_its_page_and_lands_back_on_it(client, login, world):
    match = proposed(world)
    login(world["coordinator"])
    page = page_of(client, match)
    approve = f'action="/matches/{match.id}/approve?next=match"'
    assert approve in page and ">Approve<" in page
    assert f'href="/matches/{match.id}/reject"' in page and ">Reject<" in page
    response = client.post(f"/matches/{match.id}/approve?next=match")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/matches/{match.id}")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "is approved. We have emailed the provider and the school." in page
    db.session.refresh(match)
    assert match.status == "approved"
    assert ">Approve<" not in page and ">Reject<" not in page
    assert "it waits for the provider and the school to accept it" in page


def test_approving_from_the_queue_still_goes_back_to_the_queue(client, login, world):
    match = proposed(world)
    login(world["coordinator"])
    response = client.post(f"/matches/{match.id}/approve")
    assert response.status_code == 302 and response.headers["Location"].endswith("/matches")


@pytest.mark.parametrize("who", ["lead", "contact"])
def test_the_provider_and_the_careers_lead_see_no_approve_or_reject(client, login, world, who):
    match = proposed(world)
    login(world[who])
    page = page_of(client, match)
    assert ">Approve<" not in page and ">Reject<" not in page and "/approve" not in page
    assert client.post(f"/matches/{match.id}/approve?next=match").status_code == 403
    db.session.refresh(match)
    assert match.status == "proposed"


def test_another_areas_coordinator_gets_no_access(client, login, world):
    match = proposed(world)
    login(world["other_coordinator"])
    assert client.get(f"/matches/{match.id}").status_code == 403
    assert client.post(f"/matches/{match.id}/approve?next=match").status_code == 403
    assert client.get(f"/matches/{match.id}/reject").status_code == 403
    db.session.refresh(match)
    assert match.status == "proposed"
