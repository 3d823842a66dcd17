"""Auto-approval: an offer opted in approves its proposals that meet every criterion, at once or after the
provider's delay, through the coordinators' capacity-guarded path, unless a coordinator steps in first."""
import re
from datetime import date, timedelta
from html import unescape

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, Match, MatchEvent, Offer, OutboxMessage, utcnow
from portal.services import auto_approval, matches, matching, proposals
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_request, make_school, make_user

TODAY = date.today()


def audits(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def events(match: Match) -> list[tuple[str | None, str, int | None, str | None]]:
    return [(e.from_status, e.to_status, e.actor_id, e.note) for e in db.session.scalars(
        select(MatchEvent).where(MatchEvent.match_id == match.id).order_by(MatchEvent.id))]


def queued(template: str) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.template == template)))


def fresh(obj):
    db.session.refresh(obj)
    return obj


@pytest.fixture
def world(app):
    """Burnley: a school with a careers lead, a provider with a contact and a 10-pupil engineering talk opted in
    to auto-approval at once, an open request for 10 pupils in any sector, a coordinator; Preston's coordinator."""
    burnley, preston = make_area("Burnley"), make_area("Preston")
    school = make_school(burnley, name="Burnley High")
    lead = make_user(Role.CAREERS_LEAD, organisation=school, name="Lee Lead", email="lee@school.example")
    provider = make_provider(burnley, name="Acme Engineering")
    contact = make_user(Role.PROVIDER, organisation=provider, name="Pat Provider", email="pat@acme.example")
    offer = make_offer(provider, title="Engineering talk", sessions=1, per_session=10, auto_approve=True,
                       auto_approve_delay_days=0)
    school_request = make_request(school, pupils=10)
    coordinator = make_user(Role.COORDINATOR, areas=[burnley], name="Bea Burnley", email="bea@burnley.example")
    other_coordinator = make_user(Role.COORDINATOR, areas=[preston])
    db.session.commit()
    return locals()


def propose(world, allocation: int = 10, *, school_request=None, now=None, origin: str = "engine") -> Match:
    """A proposal as the engine stores it, scheduled for auto-approval, committed."""
    school_request = school_request or world["school_request"]
    match = Match(offer=world["offer"], request=school_request, area_id=school_request.area_id,
                  allocation=allocation, status="proposed", origin=origin)
    db.session.add(match)
    auto_approval.schedule(match, now or utcnow())
    db.session.commit()
    return match


# --- the criteria ---------------------------------------------------------------------------------------------------

def test_a_proposal_meeting_every_criterion_is_due_now_plus_the_delay(world):
    now = utcnow()
    match = propose(world, now=now)
    assert match.auto_approve_at == now
    world["offer"].auto_approve_delay_days = 3
    assert auto_approval.due_at(match, world["offer"], now) == now + timedelta(days=3)


def _set(obj, **values):
    for name, value in values.items():
        setattr(obj, name, value)


CRITERIA = {
    "not opted in": lambda w: _set(w["offer"], auto_approve=False),
    "offer not published": lambda w: _set(w["offer"], status="paused"),
    "offer too full": lambda w: _set(w["offer"], allocated=5),
    "offer dates passed": lambda w: _set(w["offer"], starts_on=TODAY - timedelta(days=9),
                                         ends_on=TODAY - timedelta(days=1)),
    "request dates passed": lambda w: _set(w["school_request"], starts_on=TODAY - timedelta(days=9),
                                           ends_on=TODAY - timedelta(days=1)),
    "dates do not overlap": lambda w: _set(w["school_request"], starts_on=TODAY + timedelta(days=200),
                                           ends_on=TODAY + timedelta(days=210)),
    "request withdrawn": lambda w: _set(w["school_request"], status="withdrawn"),
    "provider not verified": lambda w: _set(w["provider"], status="pending"),
    "school not verified": lambda w: _set(w["school"], status="pending"),
    "year groups apart": lambda w: _set(w["school_request"], year_mask=1 << 7),
    "sector not asked for": lambda w: _set(w["school_request"], sectors=["health"]),
}


@pytest.mark.parametrize("criterion", list(CRITERIA))
def test_each_criterion_failing_blocks_auto_approval(world, criterion):
    CRITERIA[criterion](world)
    db.session.commit()
    match = propose(world)
    assert match.auto_approve_at is None
    assert auto_approval.run_due().approved == []
    assert fresh(match).status == "proposed"


def test_a_sector_the_request_asked_for_is_fine(world):
    world["school_request"].sectors = ["health", "engineering"]
    db.session.commit()
    assert propose(world).auto_approve_at is not None


def test_no_partial_auto_approval(world):
    match = propose(world, 6)
    assert match.auto_approve_at is None
    reason = auto_approval.unmet(match, world["offer"], world["school_request"], today=TODAY)
    assert reason == "it covers 6 of the 10 the school still needs (no partial auto-approval)"


def test_a_match_no_longer_proposed_is_not_due(world):
    match = propose(world)
    match.status = "rejected"
    assert auto_approval.due_at(match, world["offer"], utcnow()) is None


# --- at once, and after a delay ---------------------------------------------------------------------------------------

def test_a_school_requesting_an_opted_in_offer_is_approved_at_once(world, mailbox):
    offer = world["offer"]
    asked = proposals.OfferRequest(pupils=10, year_groups=[9, 10], starts_on=offer.starts_on,
                                   ends_on=offer.ends_on)
    match = proposals.request_offer(offer, asked, by=world["lead"])
    assert fresh(match).status == "approved" and match.auto_approve_at is None
    assert fresh(offer).allocated == 10
    assert fresh(match.request).status == "matched"
    assert events(match) == [(None, "proposed", world["lead"].id, "requested by the school"),
                             ("proposed", "approved", None, auto_approval.AUTO_NOTE)]
    [event] = audits("match.auto_approved")
    assert event.actor_id is None and event.object_id == match.id and "10 of 10 now allocated" in event.detail
    assert audits("match.approve") == []

    approved = [m for m in mailbox() if m["Subject"] == "Approved: Engineering talk for Burnley High"]
    assert sorted(m["To"] for m in approved) == ["lee@school.example", "pat@acme.example"]
    text = approved[0].get_body(("plain",)).get_content()
    assert "The portal has approved" in text and "met every criterion for auto-approval" in text


def test_a_provider_offering_with_a_delay_waits_for_it(world):
    offer = world["offer"]
    offer.auto_approve_delay_days = 3
    db.session.commit()
    before = utcnow()
    match = proposals.offer_to_meet(world["school_request"], proposals.MeetingOffer(offer=offer, allocation=10),
                                    by=world["contact"])
    assert fresh(match).status == "proposed"
    due = match.auto_approve_at
    assert before + timedelta(days=3) <= due <= utcnow() + timedelta(days=3)

    assert auto_approval.run_due(now=due - timedelta(minutes=1)).approved == []
    assert fresh(match).status == "proposed"
    summary = auto_approval.run_due(now=due)
    assert summary.approved == [match.id] and summary.message == "1 auto-approved"
    assert fresh(match).status == "approved" and fresh(offer).allocated == 10


def test_an_engine_run_approves_its_opted_in_proposals_at_once(world):
    _result, stored = matching.run_matching(world["burnley"], by=world["coordinator"])
    assert stored == 1
    match = db.session.scalars(select(Match).where(Match.origin == "engine")).one()
    assert fresh(match).status == "approved" and match.auto_approve_at is None
    assert events(match)[-1] == ("proposed", "approved", None, auto_approval.AUTO_NOTE)


def test_an_engine_proposal_with_a_delay_shows_on_the_queue(client, login, world):
    world["offer"].auto_approve_delay_days = 2
    db.session.commit()
    matching.run_matching(world["burnley"])
    match = db.session.scalars(select(Match).where(Match.origin == "engine")).one()
    assert fresh(match).status == "proposed"
    login(world["coordinator"])
    page = client.get("/matches").get_data(as_text=True)
    day = match.auto_approve_at.date()
    assert day == TODAY + timedelta(days=2) or day == utcnow().date() + timedelta(days=2)
    assert f"Approves itself on {day.day} {day:%b %Y}" in page
    assert f'action="/matches/{match.id}/hold"' in page
    view = client.get(f"/matches/{match.id}").get_data(as_text=True)
    assert "Approves itself on" in view and "Hold for review" in view


def test_run_twice_approves_once(world):
    match = propose(world)
    assert auto_approval.run_due().approved == [match.id]
    again = auto_approval.run_due()
    assert again.approved == [] and again.stopped == []
    assert fresh(world["offer"]).allocated == 10
    assert len(audits("match.auto_approved")) == 1
    assert len([e for e in events(match) if e[1] == "approved"]) == 1
    assert len(queued("match_approved")) == 2


# --- a coordinator steps in ---------------------------------------------------------------------------------------

def test_hold_wins_over_auto_approval(client, login, world):
    match = propose(world)
    login(world["coordinator"])
    page = client.get("/matches").get_data(as_text=True)
    assert "Approves itself at once" in page
    response = client.post(f"/matches/{match.id}/hold")
    assert response.status_code == 302
    page = client.get("/matches").get_data(as_text=True)
    assert "Engineering talk for Burnley High is held for your review: it will not approve itself." in page
    assert "Approves itself" not in page
    assert fresh(match).auto_approve_at is None and match.status == "proposed"
    assert events(match) == [("proposed", "proposed", world["coordinator"].id, auto_approval.HOLD_NOTE)]
    [event] = audits("match.hold")
    assert event.actor_id == world["coordinator"].id and event.ip == "127.0.0.1"

    assert auto_approval.run_due(now=utcnow() + timedelta(days=50)).approved == []
    assert fresh(match).status == "proposed"
    # The approval path itself refuses too, should a run have read the match before the hold committed.
    with pytest.raises(matches.NotApprovable) as refused:
        matches.approve_match(match, by=None, due_by=utcnow())
    assert refused.value.short == matches.NOT_DUE
    # Holding again changes nothing and says so.
    page = client.post(f"/matches/{match.id}/hold", follow_redirects=True).get_data(as_text=True)
    assert "was not waiting to approve itself" in page
    assert len(audits("match.hold")) == 1


def test_hold_from_the_match_page_returns_there(client, login, world):
    match = propose(world)
    login(world["coordinator"])
    response = client.post(f"/matches/{match.id}/hold?next=match")
    assert response.headers["Location"].endswith(f"/matches/{match.id}")


def test_another_areas_coordinator_cannot_hold(client, login, world):
    match = propose(world)
    login(world["other_coordinator"])
    assert client.post(f"/matches/{match.id}/hold").status_code == 403
    assert fresh(match).auto_approve_at is not None


def test_a_coordinator_rejecting_before_it_is_due_wins(world):
    world["offer"].auto_approve_delay_days = 1
    db.session.commit()
    match = propose(world)
    matches.reject_match(match, by=world["coordinator"], reason="Not this term, thank you")
    assert fresh(match).status == "rejected" and match.auto_approve_at is None
    assert auto_approval.run_due(now=utcnow() + timedelta(days=2)).approved == []
    assert fresh(world["offer"]).allocated == 0


def test_approving_or_changing_the_allocation_clears_it(world):
    world["offer"].auto_approve_delay_days = 1
    db.session.commit()
    first = propose(world)
    matches.change_allocation(first, 9, by=world["coordinator"])
    assert fresh(first).auto_approve_at is None
    other = make_request(world["school"], pupils=1)
    db.session.commit()
    second = propose(world, 1, school_request=other)
    assert second.auto_approve_at is not None
    matches.approve_match(second, by=world["coordinator"])
    assert fresh(second).status == "approved" and second.auto_approve_at is None
    assert events(second)[-1] == ("proposed", "approved", world["coordinator"].id, None)


# --- when the criteria no longer hold at run time ---------------------------------------------------------------------

def test_a_proposal_whose_offer_filled_up_stays_proposed_and_the_coordinator_is_told(world, mailbox):
    world["offer"].auto_approve_delay_days = 1
    db.session.commit()
    match = propose(world)
    other = make_request(make_school(world["burnley"], name="Abbey School"), pupils=4)
    rival = Match(offer=world["offer"], request=other, area_id=other.area_id, allocation=4, status="proposed",
                  origin="engine")
    db.session.add(rival)
    db.session.commit()
    matches.approve_match(rival, by=world["coordinator"])

    summary = auto_approval.run_due(now=utcnow() + timedelta(days=2))
    assert summary.approved == [] and [match_id for match_id, _ in summary.stopped] == [match.id]
    assert fresh(match).status == "proposed" and match.auto_approve_at is None
    note = "not auto-approved: the offer has only 6 pupils left, and this match is for 10; left for a coordinator"
    assert events(match)[-1] == ("proposed", "proposed", None, note)
    [event] = audits("match.auto_approval_stopped")
    assert event.object_id == match.id and event.actor_id is None
    told = [m for m in mailbox() if m["Subject"] == "Needs your decision: Engineering talk for Burnley High"]
    assert [m["To"] for m in told] == ["bea@burnley.example"]
    assert "the offer has only 6 pupils left" in told[0].get_body(("plain",)).get_content()
    # Nothing more happens on the next run: it waits for the coordinator.
    assert auto_approval.run_due(now=utcnow() + timedelta(days=3)).stopped == []


def test_an_offer_that_fills_up_between_the_check_and_the_approval_is_left_for_a_coordinator(world, monkeypatch):
    match = propose(world)
    world["offer"].allocated = 5  # filled meanwhile, yet the criteria check is told all is well
    db.session.commit()
    monkeypatch.setattr(auto_approval, "unmet", lambda *args, **kwargs: None)
    summary = auto_approval.run_due()
    assert summary.approved == [] and len(summary.stopped) == 1
    assert fresh(match).status == "proposed" and match.auto_approve_at is None
    assert fresh(world["offer"]).allocated == 5
    assert events(match)[-1][3].startswith("not auto-approved: this offer is full")


def test_a_provider_opting_out_stops_waiting_proposals(world):
    world["offer"].auto_approve_delay_days = 1
    db.session.commit()
    match = propose(world)
    world["offer"].auto_approve = False
    db.session.commit()
    summary = auto_approval.run_due(now=utcnow() + timedelta(days=2))
    assert summary.approved == [] and fresh(match).auto_approve_at is None
    assert "the offer is not opted in" in events(match)[-1][3]


# --- the offer form and page ------------------------------------------------------------------------------------------

def edit_data(offer: Offer, **changes) -> dict:
    data = {
        "title": offer.title, "description": offer.description, "sector": offer.sector, "delivery": offer.delivery,
        "starts_on": offer.starts_on.isoformat(), "ends_on": offer.ends_on.isoformat(),
        "max_travel_miles": str(offer.max_travel_miles), "year_groups": [str(y) for y in offer.year_groups],
        "sessions": str(offer.sessions), "per_session": str(offer.per_session),
        "supervised_throughout": "y", "risk_assessment_done": "y", "liability_insurance": "y",
        "safeguarding_contact": offer.safeguarding_contact, "version": str(offer.version),
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def error_beside(html: str, field: str) -> str:
    found = re.search(rf'id="{field}-error" class="invalid-feedback d-block">([^<]*)<', html)
    assert found, f"no error beside {field}"
    return unescape(found[1])


def test_the_provider_opts_an_offer_in_with_a_delay(client, login, world):
    offer = world["offer"]
    offer.auto_approve = False
    db.session.commit()
    login(world["contact"])
    form = client.get(f"/offers/{offer.id}/edit").get_data(as_text=True)
    assert "Approve proposals for this offer automatically when they meet every criterion" in form
    assert "After how many days (0 = at once)" in form
    response = client.post(f"/offers/{offer.id}/edit",
                           data=edit_data(offer, auto_approve="y", auto_approve_delay_days="5"))
    assert response.status_code == 302
    assert fresh(offer).auto_approve is True and offer.auto_approve_delay_days == 5
    page = client.get(f"/offers/{offer.id}").get_data(as_text=True)
    assert "Yes: proposals that meet every criterion are approved 5 days after they are made" in page


@pytest.mark.parametrize("value, message", [
    ("43", "Enter a number of days from 0 (at once) to 42."),
    ("-1", "Enter a number of days from 0 (at once) to 42."),
    ("", "Enter how many days to wait, from 0 (at once) to 42."),
    ("soon", "Enter a whole number, e.g. 30."),
])
def test_a_bad_delay_is_shown_beside_the_field_and_the_input_kept(client, login, world, value, message):
    offer = world["offer"]
    offer.auto_approve = False
    db.session.commit()
    login(world["contact"])
    response = client.post(f"/offers/{offer.id}/edit", data=edit_data(
        offer, title="A better title", auto_approve="y", auto_approve_delay_days=value))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert error_beside(html, "auto_approve_delay_days") == message
    assert 'value="A better title"' in html and f'value="{value}"' in html
    assert fresh(offer).auto_approve is False and offer.title == "Engineering talk"


def test_a_blank_delay_is_fine_when_not_opted_in(client, login, world):
    offer = world["offer"]
    login(world["contact"])
    response = client.post(f"/offers/{offer.id}/edit", data=edit_data(offer, auto_approve_delay_days=""))
    assert response.status_code == 302
    assert fresh(offer).auto_approve is False and offer.auto_approve_delay_days == 0


# --- the command --------------------------------------------------------------------------------------------------

def test_the_command_approves_what_is_due(runner, world):
    world["offer"].auto_approve_delay_days = 2
    db.session.commit()
    match = propose(world)
    result = runner.invoke(args=["match", "auto-approve"])
    assert result.exit_code == 0 and result.output == "0 auto-approved.\n"
    later = (utcnow() + timedelta(days=3)).isoformat(timespec="minutes")
    result = runner.invoke(args=["match", "auto-approve", "--now", later])
    assert result.exit_code == 0 and result.output == "1 auto-approved.\n"
    assert fresh(match).status == "approved"
    result = runner.invoke(args=["match", "auto-approve", "--now", "soon"])
    assert result.exit_code == 2 and "Give a date and time such as 2026-03-01T09:00." in result.output
