"""A match after approval: accept (both sides), decline, schedule and reschedule, cancel, no-shows, reminders;
history, audit, mail, and who may."""
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from portal.errors import InvalidState, NotAllowed, ValidationFailed
from portal.extensions import db
from portal.models import AuditEvent, Match, MatchEvent, OutboxMessage
from portal.services import match_lifecycle, matches
from portal.services.match_lifecycle import SessionDetails, SessionInvalid
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_request, make_school, make_user

TODAY = date.today()


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def audits(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def events(match: Match) -> list[tuple[str | None, str, str | None]]:
    return [(e.from_status, e.to_status, e.note) for e in db.session.scalars(
        select(MatchEvent).where(MatchEvent.match_id == match.id).order_by(MatchEvent.id))]


def queued(template: str) -> list[str]:
    return sorted(m.recipient for m in db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == template)))


def fresh(obj):
    db.session.refresh(obj)
    return obj


@pytest.fixture
def world(app):
    """Burnley: a school with a careers lead, a provider with a contact and a 10-pupil in-school offer, a
    coordinator; Preston: a school's lead, a provider's contact, a coordinator."""
    burnley, preston = make_area("Burnley"), make_area("Preston")
    school = make_school(burnley, name="Burnley High")
    lead = make_user(Role.CAREERS_LEAD, organisation=school, name="Lee Lead", email="lee@school.example")
    provider = make_provider(burnley, name="Acme Engineering")
    contact = make_user(Role.PROVIDER, organisation=provider, name="Pat Provider", email="pat@acme.example")
    offer = make_offer(provider, title="Engineering talk", sessions=1, per_session=10, starts_in_days=0)
    coordinator = make_user(Role.COORDINATOR, areas=[burnley], name="Bea Burnley", email="bea@burnley.example")
    other_provider = make_user(Role.PROVIDER, organisation=make_provider(preston))
    other_lead = make_user(Role.CAREERS_LEAD, organisation=make_school(preston))
    other_coordinator = make_user(Role.COORDINATOR, areas=[preston])
    db.session.commit()
    return locals()


def approved(world, allocation: int = 4, *, offer=None) -> Match:
    """A match approved by the coordinator (its places taken on the offer); the approval's mail is dropped."""
    offer = offer or world["offer"]
    school_request = make_request(world["school"], pupils=allocation, starts_in_days=0)  # its dates: the offer's
    match = Match(offer=offer, request=school_request, area_id=school_request.area_id, allocation=allocation,
                  status="proposed", origin="school_asked")
    db.session.add(match)
    db.session.commit()
    matches.approve_match(match, by=world["coordinator"])
    db.session.execute(OutboxMessage.__table__.delete())
    db.session.commit()
    return match


def confirmed(world, **kwargs) -> Match:
    match = approved(world, **kwargs)
    match_lifecycle.accept_match(match, by=world["contact"])
    match_lifecycle.accept_match(match, by=world["lead"])
    db.session.execute(OutboxMessage.__table__.delete())
    db.session.commit()
    return match


def in_days(days: int, hour: int = 10) -> datetime:
    return datetime.combine(TODAY + timedelta(days=days), time(hour, 0))


def details(starts_at=None, **values) -> SessionDetails:
    fields = {"starts_at": starts_at or in_days(10), "minutes": 60, "place": "Main hall", "link": None,
              "contact": "Lee, 01234 567890"}
    return SessionDetails(**{**fields, **values})


def scheduled(world, starts_at=None) -> Match:
    match = confirmed(world)
    match_lifecycle.schedule_match(match, details(starts_at), by=world["lead"], now=datetime.now())
    db.session.execute(OutboxMessage.__table__.delete())
    db.session.commit()
    return match


# --- accept --------------------------------------------------------------------------------------------------------

def test_each_side_accepts_and_the_match_is_confirmed_only_after_both(client, login, world, mailbox):
    match = approved(world)
    login(world["contact"])
    page = client.post(f"/matches/{match.id}/accept", follow_redirects=True).get_data(as_text=True)
    assert "The match is confirmed once the other side accepts too." in page
    assert fresh(match).status == "approved" and match.provider_accepted_at and not match.school_accepted_at
    [message] = mailbox()
    assert message["To"] == "lee@school.example" and "Please accept or decline it too." in text_of(message)

    login(world["lead"])
    page = client.post(f"/matches/{match.id}/accept", follow_redirects=True).get_data(as_text=True)
    assert "Accepted: the match is confirmed" in page
    assert fresh(match).status == "confirmed" and match.school_accepted_at
    assert events(match)[1:] == [("approved", "approved", "accepted by the provider"),
                                 ("approved", "approved", "accepted by the school"),
                                 ("approved", "confirmed", "both sides accepted")]
    assert len(audits("match.accept")) == 2


def test_accepting_twice_is_idempotent(world):
    match = approved(world)
    assert match_lifecycle.accept_match(match, by=world["contact"]).already is False
    assert match_lifecycle.accept_match(match, by=world["contact"]).already is True
    assert fresh(match).status == "approved" and len(events(match)) == 2 and len(audits("match.accept")) == 1


def test_a_coordinator_cannot_accept_for_either_side(client, login, world):
    match = approved(world)
    with pytest.raises(NotAllowed):
        match_lifecycle.accept_match(match, by=world["coordinator"])
    login(world["coordinator"])
    assert client.post(f"/matches/{match.id}/accept").status_code == 403
    assert fresh(match).provider_accepted_at is None and match.school_accepted_at is None


def test_a_proposed_match_cannot_be_accepted(world):
    school_request = make_request(world["school"], pupils=3)
    match = Match(offer=world["offer"], request=school_request, area_id=school_request.area_id, allocation=3,
                  origin="engine")
    db.session.add(match)
    db.session.commit()
    with pytest.raises(InvalidState):
        match_lifecycle.accept_match(match, by=world["lead"])


# --- decline -------------------------------------------------------------------------------------------------------

def test_declining_frees_the_places_and_mails_the_reason(client, login, world, mailbox):
    match = approved(world, 4)
    assert fresh(world["offer"]).allocated == 4
    login(world["lead"])
    assert "Reason" in client.get(f"/matches/{match.id}/decline").get_data(as_text=True)
    response = client.post(f"/matches/{match.id}/decline", data={"reason": "Exams moved to that week."})
    assert response.status_code == 302
    assert fresh(match).status == "declined" and fresh(world["offer"]).allocated == 0
    assert fresh(match.request).status == "open"
    assert events(match)[-1] == ("approved", "declined", "declined by the school: Exams moved to that week.")
    assert "school: Exams moved" in audits("match.decline")[0].detail
    messages = mailbox()
    assert sorted(m["To"] for m in messages) == ["bea@burnley.example", "pat@acme.example"]
    assert all("Exams moved to that week." in text_of(m) for m in messages)


def test_declining_needs_a_reason(client, login, world):
    match = approved(world)
    login(world["contact"])
    page = client.post(f"/matches/{match.id}/decline", data={"reason": "no"}).get_data(as_text=True)
    assert "Give a reason of 5 to 1000 characters." in page
    with pytest.raises(ValidationFailed):
        match_lifecycle.decline_match(match, by=world["contact"], reason=" ")
    assert fresh(match).status == "approved" and fresh(world["offer"]).allocated == 4


# --- schedule ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("values", "field", "message"), [
    ({"starts_at": in_days(-1)}, "day", "must start in the future"),
    ({"starts_at": in_days(200)}, "day", "within the offer's dates"),
    ({"minutes": 5}, "minutes", "10 to 600 minutes"),
    ({"minutes": 601}, "minutes", "10 to 600 minutes"),
    ({"place": ""}, "place", "where the session takes place"),
    ({"contact": ""}, "contact", "who to ask for"),
])
def test_schedule_rules(world, values, field, message):
    match = confirmed(world)
    with pytest.raises(SessionInvalid) as caught:
        match_lifecycle.schedule_match(match, details(**values), by=world["lead"])
    assert message in caught.value.problems[field]
    assert fresh(match).status == "confirmed" and match.session_starts_at is None


@pytest.mark.parametrize(("link", "ok"), [(None, False), ("http://meet.example/x", False),
                                          ("javascript:alert(1)", False), ("https://meet.example/x", True)])
def test_a_virtual_session_needs_an_https_link(world, link, ok):
    offer = make_offer(world["provider"], delivery="virtual", sessions=1, per_session=10, starts_in_days=0)
    db.session.commit()
    match = confirmed(world, offer=offer)
    if ok:
        match_lifecycle.schedule_match(match, details(link=link, place=None), by=world["contact"])
        assert fresh(match).session_link == link and match.session_place is None
    else:
        with pytest.raises(SessionInvalid) as caught:
            match_lifecycle.schedule_match(match, details(link=link, place="Hall"), by=world["contact"])
        assert "https://" in caught.value.problems["link"] or "video link" in caught.value.problems["link"]


def test_scheduling_through_the_page_mails_both_sides(client, login, world, mailbox):
    match = confirmed(world)
    login(world["contact"])
    day = TODAY + timedelta(days=12)
    bad = client.post(f"/matches/{match.id}/schedule", data={
        "day": (TODAY - timedelta(days=1)).isoformat(), "start": "10:00", "minutes": "60", "place": "Hall",
        "contact": "Pat"}).get_data(as_text=True)
    assert "The session must start in the future." in bad and 'value="Hall"' in bad
    response = client.post(f"/matches/{match.id}/schedule", data={
        "day": day.isoformat(), "start": "09:30", "minutes": "90", "place": "Main hall", "contact": "Pat, 0123"})
    assert response.status_code == 302
    fresh(match)
    assert match.status == "scheduled" and match.session_starts_at == datetime.combine(day, time(9, 30))
    assert match.session_minutes == 90 and match.session_place == "Main hall"
    assert events(match)[-1] == ("confirmed", "scheduled", None)
    assert len(audits("match.schedule")) == 1
    messages = mailbox()
    assert sorted(m["To"] for m in messages) == ["lee@school.example", "pat@acme.example"]
    assert all("Main hall" in text_of(m) and f"/matches/{match.id}" in text_of(m) for m in messages)
    page = client.get(f"/matches/{match.id}").get_data(as_text=True)
    assert "Main hall" in page and "Change the session" in page


def test_rescheduling_clears_the_reminders(world):
    match = scheduled(world, in_days(3))
    assert match_lifecycle.send_reminders(now=datetime.now()) == 1
    assert fresh(match).reminded_week_at is not None
    match_lifecycle.schedule_match(match, details(in_days(20)), by=world["coordinator"])
    fresh(match)
    assert match.reminded_week_at is None and match.reminded_day_at is None
    assert match.session_starts_at == in_days(20)
    assert events(match)[-1] == ("scheduled", "scheduled", "rescheduled")


def test_an_approved_match_cannot_be_scheduled_yet(world):
    match = approved(world)
    with pytest.raises(InvalidState):
        match_lifecycle.schedule_match(match, details(), by=world["lead"])


# --- cancel --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stage", ["approved", "confirmed", "scheduled"])
def test_cancelling_frees_the_places_from_each_stage(client, login, world, mailbox, stage):
    match = {"approved": approved, "confirmed": confirmed, "scheduled": scheduled}[stage](world)
    assert fresh(world["offer"]).allocated == 4
    login(world["coordinator"])
    assert "Cancel match" in client.get(f"/matches/{match.id}/cancel").get_data(as_text=True)
    client.post(f"/matches/{match.id}/cancel", data={"reason": "The school closed for the day."})
    assert fresh(match).status == "cancelled" and fresh(world["offer"]).allocated == 0
    assert events(match)[-1] == (stage, "cancelled", "The school closed for the day.")
    assert audits("match.cancel")[0].detail == f"from {stage}: The school closed for the day."
    assert sorted(m["To"] for m in mailbox()) == ["bea@burnley.example", "lee@school.example", "pat@acme.example"]


@pytest.mark.parametrize("status", ["proposed", "declined"])
def test_cancelling_is_refused_from_proposed_and_declined(world, status):
    school_request = make_request(world["school"], pupils=3)
    match = Match(offer=world["offer"], request=school_request, area_id=school_request.area_id, allocation=3,
                  origin="engine", status=status)
    db.session.add(match)
    db.session.commit()
    with pytest.raises(InvalidState):
        match_lifecycle.cancel_match(match, by=world["lead"], reason="Not needed now.")
    assert fresh(match).status == status and fresh(world["offer"]).allocated == 0


# --- no-shows ------------------------------------------------------------------------------------------------------

def test_no_show_only_after_the_start_and_only_by_the_other_side_or_the_coordinator(client, login, world):
    match = scheduled(world, in_days(2))
    with pytest.raises(InvalidState):
        match_lifecycle.record_no_show(match, "provider", by=world["lead"])
    after = in_days(2, hour=12)
    with pytest.raises(NotAllowed):
        match_lifecycle.record_no_show(match, "provider", by=world["contact"], now=after)
    with pytest.raises(NotAllowed):
        match_lifecycle.record_no_show(match, "school", by=world["lead"], now=after)
    match_lifecycle.record_no_show(match, "provider", by=world["lead"], now=after)
    fresh(match)
    assert match.status == "no_show" and match.no_show_side == "provider"
    assert fresh(world["offer"]).allocated == 4  # kept: the session's time has passed
    assert events(match)[-1] == ("scheduled", "no_show", "the provider did not turn up")
    assert audits("match.no_show")[0].detail == "provider"

    login(world["coordinator"])
    page = client.get("/matches").get_data(as_text=True)
    assert "No-shows in your areas" in page and "Engineering talk for Burnley High" in page
    login(world["other_coordinator"])
    assert "No no-shows in the last 90 days." in client.get("/matches").get_data(as_text=True)


def test_no_show_through_the_page(client, login, world):
    match = scheduled(world, in_days(1))
    db.session.execute(Match.__table__.update().where(Match.__table__.c.id == match.id)
                       .values(session_starts_at=datetime.now() - timedelta(hours=2)))
    db.session.commit()
    login(world["contact"])
    page = client.get(f"/matches/{match.id}").get_data(as_text=True)
    assert "Record that the school did not turn up" in page
    assert "Record that the provider did not turn up" not in page
    client.post(f"/matches/{match.id}/no-show", data={"side": "school"})
    assert fresh(match).status == "no_show" and match.no_show_side == "school"
    assert client.post(f"/matches/{match.id}/no-show", data={"side": "provider"}).status_code == 403


# --- reminders -----------------------------------------------------------------------------------------------------

def test_reminders_a_week_and_a_day_before_each_once(runner, world, mailbox):
    match = scheduled(world, in_days(10))
    start = match.session_starts_at

    def run(moment: datetime) -> str:
        return runner.invoke(args=["reminders", "send", "--now", moment.isoformat()]).output

    assert run(start - timedelta(days=8)) == "Sent 0 reminders.\n"
    assert run(start - timedelta(days=6)) == "Sent 1 reminder.\n"
    assert run(start - timedelta(days=5)) == "Sent 0 reminders.\n"
    [week] = [m for m in mailbox() if m["To"] == "lee@school.example"]
    assert "in a week" in text_of(week)
    assert run(start - timedelta(hours=20)) == "Sent 1 reminder.\n"
    assert run(start - timedelta(hours=19)) == "Sent 0 reminders.\n"
    messages = mailbox()
    assert len(messages) == 4 and sum("tomorrow" in text_of(m) for m in messages) == 2
    assert fresh(match).reminded_day_at is not None


def test_a_late_scheduled_session_gets_one_reminder_not_two(runner, world):
    match = scheduled(world, datetime.now() + timedelta(hours=5))
    assert runner.invoke(args=["reminders", "send"]).output == "Sent 1 reminder.\n"
    assert queued("session_reminder") == ["lee@school.example", "pat@acme.example"]
    fresh(match)
    assert match.reminded_week_at is not None and match.reminded_day_at is not None
    assert runner.invoke(args=["reminders", "send"]).output == "Sent 0 reminders.\n"


def test_reminders_refuse_a_bad_now(runner, world):
    result = runner.invoke(args=["reminders", "send", "--now", "soon"])
    assert result.exit_code != 0 and "--now" in result.output


# --- the page and who may ------------------------------------------------------------------------------------------

def test_the_page_shows_history_acceptance_and_the_user_actions(client, login, world):
    match = approved(world)
    match_lifecycle.accept_match(match, by=world["contact"])
    login(world["contact"])
    page = client.get(f"/matches/{match.id}").get_data(as_text=True)
    assert "Approved → Approved" not in page and "Accepted by the provider" in page and "Bea Burnley" in page
    assert "Not yet accepted" in page and ">Accept<" not in page and "Decline" in page
    login(world["lead"])
    page = client.get(f"/matches/{match.id}").get_data(as_text=True)
    assert ">Accept<" in page
    login(world["coordinator"])
    page = client.get(f"/matches/{match.id}").get_data(as_text=True)
    assert ">Accept<" not in page and "Decline" not in page and "Cancel" in page


@pytest.mark.parametrize("who", ["other_provider", "other_lead", "other_coordinator"])
def test_others_are_refused_everywhere(client, login, world, who):
    match = scheduled(world, in_days(5))
    login(world[who])
    for method, path, data in [
        ("GET", f"/matches/{match.id}", None),
        ("POST", f"/matches/{match.id}/accept", None),
        ("GET", f"/matches/{match.id}/decline", None),
        ("POST", f"/matches/{match.id}/decline", {"reason": "Not for us."}),
        ("GET", f"/matches/{match.id}/schedule", None),
        ("POST", f"/matches/{match.id}/schedule", {"day": "2030-01-01"}),
        ("GET", f"/matches/{match.id}/cancel", None),
        ("POST", f"/matches/{match.id}/cancel", {"reason": "Not for us."}),
        ("POST", f"/matches/{match.id}/no-show", {"side": "school"}),
    ]:
        assert client.open(path, method=method, data=data).status_code == 403, (method, path)
    assert fresh(match).status == "scheduled"
